//! What happens to an event whose delivery failed: SFTPGo's retry policy.
//!
//! A failed event goes to the plugin's retry queue if retries are on, the
//! event is young enough and the queue has room; otherwise it is dropped,
//! counted and logged once per burst. The queue work blocks on disk, so it
//! runs on blocking threads, never on an arbiter or the delivery lane.

use crate::counters::PluginCounters;
use crate::event::{self, Event, Origin};
use crate::notifier::{Deliver, PluginQueues};
use crate::policy::{now_ns, RetryPolicy};
use crate::queue::QueueError;
use crate::transport::DeliveryError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

/// Applies the retry policy to failed deliveries, on blocking threads.
pub(crate) struct FailureHandler {
    pub(crate) name: Arc<str>,
    pub(crate) policy: RetryPolicy,
    pub(crate) queues: PluginQueues,
    pub(crate) counters: Arc<PluginCounters>,
    /// Makes "check the queue length, then append" one step, so the size
    /// bound is exact under concurrent failures.
    pub(crate) admission: Mutex<()>,
    pub(crate) drops: BurstLog,
}

/// What happens to one failed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Queue,
    DropNoRetry,
    DropTooOld,
    DropQueueFull,
}

impl FailureHandler {
    /// Handles a failure off the arbiter; the permit is held until the
    /// event is queued or dropped, so a drain waits for it.
    pub(crate) fn spawn(
        self: Arc<Self>,
        msg: Deliver,
        err: DeliveryError,
        permit: OwnedSemaphorePermit,
    ) {
        PluginCounters::incr(&self.counters.failed);
        tokio::task::spawn_blocking(move || {
            self.handle(&msg, &err);
            drop(permit);
        });
    }

    /// Handles the failures of one call (a batch) in one blocking task.
    pub(crate) fn spawn_many(
        self: Arc<Self>,
        failed: Vec<(Deliver, DeliveryError, OwnedSemaphorePermit)>,
    ) {
        if failed.is_empty() {
            return;
        }
        PluginCounters::add(&self.counters.failed, failed.len() as u64);
        tokio::task::spawn_blocking(move || {
            for (msg, err, permit) in failed {
                self.handle(&msg, &err);
                drop(permit);
            }
        });
    }

    fn handle(&self, msg: &Deliver, err: &DeliveryError) {
        let result = self.admit(msg);
        let verdict = match result {
            Ok(verdict) => verdict,
            Err(queue_err) => {
                PluginCounters::incr(&self.counters.queue_errors);
                self.drops.warn(
                    &self.name,
                    &format!(
                        "delivery failed ({err}) and the event could not be queued: {queue_err}"
                    ),
                );
                return;
            }
        };
        let reason = match verdict {
            Verdict::Queue => return,
            Verdict::DropNoRetry => {
                PluginCounters::incr(&self.counters.dropped_no_retry);
                "retries are off (retry_max_time is 0)"
            }
            Verdict::DropTooOld => {
                PluginCounters::incr(&self.counters.dropped_too_old);
                "it is older than retry_max_time"
            }
            Verdict::DropQueueFull => {
                PluginCounters::incr(&self.counters.dropped_queue_full);
                "the retry queue is full (retry_queue_max_size)"
            }
        };
        self.drops.warn(
            &self.name,
            &format!(
                "dropping a {} event: delivery failed ({err}) and {reason}",
                msg.event.kind()
            ),
        );
    }

    fn admit(&self, msg: &Deliver) -> Result<Verdict, QueueError> {
        let verdict = self.verdict(&msg.event);
        if verdict == Verdict::Queue {
            let _guard = self.admission.lock().unwrap_or_else(|p| p.into_inner());
            if self
                .policy
                .max_queue
                .is_some_and(|max| self.queues.retry.len() >= max)
            {
                self.forget_ahead(msg)?;
                return Ok(Verdict::DropQueueFull);
            }
            let payload = event::encode(&msg.event, Origin::Failed);
            self.queues
                .retry
                .append(msg.event.timestamp_ns(), &payload)?;
            PluginCounters::incr(&self.counters.queued);
            drop(_guard);
            self.queues.retry.sync()?;
            self.forget_ahead(msg)?;
            return Ok(Verdict::Queue);
        }
        self.forget_ahead(msg)?;
        Ok(verdict)
    }

    fn verdict(&self, event: &Event) -> Verdict {
        match self.policy.cutoff_ns(now_ns()) {
            None => Verdict::DropNoRetry,
            Some(cutoff) if event.timestamp_ns() < cutoff => Verdict::DropTooOld,
            Some(_) => Verdict::Queue,
        }
    }

    /// The event's write-ahead record is settled elsewhere: remove it.
    fn forget_ahead(&self, msg: &Deliver) -> Result<(), QueueError> {
        match msg.ahead_seq {
            Some(seq) => self.queues.write_ahead.remove(&[seq]),
            None => Ok(()),
        }
    }
}

/// Logs a warning at most once per interval, counting what it held back.
#[derive(Debug, Default)]
pub(crate) struct BurstLog {
    state: Mutex<BurstState>,
}

#[derive(Debug, Default)]
struct BurstState {
    last: Option<Instant>,
    suppressed: u64,
}

impl BurstLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    pub(crate) fn warn(&self, name: &str, message: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = state
            .last
            .is_none_or(|last| last.elapsed() >= Self::INTERVAL);
        if !due {
            state.suppressed += 1;
            return;
        }
        let held_back = std::mem::take(&mut state.suppressed);
        state.last = Some(Instant::now());
        drop(state);
        if held_back > 0 {
            tracing::warn!(
                plugin = name,
                "[{name}] {message} ({held_back} similar messages suppressed)"
            );
        } else {
            tracing::warn!(plugin = name, "[{name}] {message}");
        }
    }
}
