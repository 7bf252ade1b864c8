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
    /// Events written to the retry queue (after a failure or a full mailbox).
    pub queued: AtomicU64,
    /// Of those, events queued because the mailbox was full.
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
    /// Plugin process restarts.
    pub restarts: AtomicU64,
    /// The plugin's current process id; 0 while it is down.
    pub pid: AtomicU64,
    /// 1 when deliveries go through the batch extension, 0 for one event per call.
    pub batched: AtomicU64,
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
    pub restarts: u64,
    pub pid: u64,
    pub batched: u64,
    pub queue_len: u64,
}

impl CounterSnapshot {
    /// Every event dropped, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_too_old + self.dropped_queue_full + self.dropped_no_retry + self.queue_errors
    }
}

impl PluginCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, queue_len: u64) -> CounterSnapshot {
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
            restarts: get(&self.restarts),
            pid: get(&self.pid),
            batched: get(&self.batched),
            queue_len,
        }
    }
}
