//! Per-plugin delivery counters.
//!
//! Atomics shared between a plugin's actor, its queue work and whoever asks
//! for statistics, so reading them never needs a message round trip.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one plugin.
#[derive(Debug, Default)]
pub struct PluginCounters {
    /// Events the plugin acknowledged (first try or re-drive).
    pub delivered: AtomicU64,
    /// Delivery attempts that failed (error status, timeout, plugin down).
    pub failed: AtomicU64,
    /// Failed events written to the retry queue (the retry rule kept them).
    pub queued: AtomicU64,
    /// Events written to the spill queue: the mailbox stayed full past the
    /// producer's wait, or a shutdown cut their delivery short.
    pub overflowed: AtomicU64,
    /// Queued events delivered by a re-drive.
    pub redriven: AtomicU64,
    /// Events dropped because they were older than `retry_max_time`.
    pub dropped_too_old: AtomicU64,
    /// Events dropped because the queue held `retry_queue_max_size` events.
    pub dropped_queue_full: AtomicU64,
    /// Failed events dropped because retries are off (`retry_max_time` 0).
    pub dropped_no_retry: AtomicU64,
    /// Queue records that could not be read back and were discarded.
    pub corrupt: AtomicU64,
    /// Queue operations that failed (disk errors): the event was dropped.
    pub queue_errors: AtomicU64,
    /// Queued events an operator dropped (`plexus queue drop` on a live
    /// daemon).
    pub dropped_by_operator: AtomicU64,
    /// Queue flushes that failed after their events were accepted: those
    /// events were not durable until a later flush.
    pub flush_errors: AtomicU64,
    /// Plugin process restarts.
    pub restarts: AtomicU64,
    /// Of those, restarts of a process that stopped answering its health
    /// checks without exiting.
    pub hung_restarts: AtomicU64,
    /// The plugin's current process id; 0 while it is down.
    pub pid: AtomicU64,
    /// 1 when deliveries go through the batch extension, 0 for one event per call.
    pub batched: AtomicU64,
    /// How long each delivery call took, from send to answer.
    pub call_latency: crate::histogram::LatencyHistogram,
    /// Events per delivery call.
    pub batch_size: crate::histogram::BatchSizeHistogram,
    /// The last failure seen (a delivery error, a process exit), for an
    /// operator asking why a plugin is unhealthy.
    last_error: std::sync::Mutex<Option<LastError>>,
}

/// A plugin's most recent failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// Milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    pub message: String,
}

/// A point-in-time copy of a plugin's counters and queue length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub delivered: u64,
    pub failed: u64,
    pub queued: u64,
    pub overflowed: u64,
    pub redriven: u64,
    pub dropped_too_old: u64,
    pub dropped_queue_full: u64,
    pub dropped_no_retry: u64,
    pub corrupt: u64,
    pub queue_errors: u64,
    pub dropped_by_operator: u64,
    pub flush_errors: u64,
    pub restarts: u64,
    pub hung_restarts: u64,
    pub pid: u64,
    pub batched: u64,
    /// Events in the retry queue now.
    pub queue_len: u64,
    /// Events in the spill queue now.
    pub spill_len: u64,
}

impl CounterSnapshot {
    /// Every event dropped, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_too_old
            + self.dropped_queue_full
            + self.dropped_no_retry
            + self.queue_errors
            + self.dropped_by_operator
    }
}

impl PluginCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Remembers `message` as the plugin's last failure (the previous one
    /// is replaced).
    pub fn record_error(&self, message: impl Into<String>) {
        let at_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastError {
            at_unix_ms,
            message: message.into(),
        });
    }

    /// The plugin's last failure, if any.
    pub fn last_error(&self) -> Option<LastError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn snapshot(&self, queue_len: u64, spill_len: u64) -> CounterSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CounterSnapshot {
            delivered: get(&self.delivered),
            failed: get(&self.failed),
            queued: get(&self.queued),
            overflowed: get(&self.overflowed),
            redriven: get(&self.redriven),
            dropped_too_old: get(&self.dropped_too_old),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_no_retry: get(&self.dropped_no_retry),
            corrupt: get(&self.corrupt),
            queue_errors: get(&self.queue_errors),
            dropped_by_operator: get(&self.dropped_by_operator),
            flush_errors: get(&self.flush_errors),
            restarts: get(&self.restarts),
            hung_restarts: get(&self.hung_restarts),
            pid: get(&self.pid),
            batched: get(&self.batched),
            queue_len,
            spill_len,
        }
    }
}
