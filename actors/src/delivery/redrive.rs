//! Re-driving the retry queue: when (every retry interval, and at once
//! after the plugin connects) and how (every queued event, oldest first).
//!
//! This is SFTPGo's `sendQueuedEvents`, made durable: each pass sends
//! *every* event that was queued when it began, through the delivery lane
//! (so batched and pipelined within the in-flight bounds), and each one that
//! fails again goes through the same retry rule as a first failure. No event
//! is dropped for its age before it has been tried in the pass, and one
//! event's failure does not stop the others. Only a lost connection ends a
//! pass early; the events not tried yet keep their place and are not
//! counted as failures. A pass asked for while one runs follows it at once.

use super::feed::Feeder;
use super::ledger::Backlog;
use super::Source;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Records read from the queue at a time.
const READ_CHUNK: usize = 256;

/// When to re-drive: the interval, and the wake-ups in between.
pub(crate) struct Schedule {
    pub(crate) interval: Duration,
    /// A pass at once: the queue held events when the plugin's actor was
    /// made (a restarted host delivers what it left behind).
    pub(crate) at_start: bool,
    /// Notified for an immediate pass (a plugin (re)start, an operator).
    pub(crate) now: Arc<Notify>,
}

/// Runs passes every interval and whenever asked, until the host closes.
pub(crate) async fn run(feeder: Feeder, schedule: Schedule) {
    let mut connected = feeder.connected.clone();
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + schedule.interval,
        schedule.interval,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if schedule.at_start {
        schedule.now.notify_one();
    }
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = schedule.now.notified() => {}
            changed = connected.changed() => {
                if changed.is_err() {
                    return; // the actor is gone
                }
                if !*connected.borrow_and_update() {
                    continue;
                }
                // Connected again: a pass at once.
            }
        }
        if feeder.ledger.closing() {
            return;
        }
        // SFTPGo does not re-drive a plugin that has exited.
        if feeder.connected() && feeder.ledger.retry_len() > 0 {
            pass(&feeder).await;
        }
    }
}

/// One pass over every record queued when it begins.
async fn pass(feeder: &Feeder) {
    let ledger = &feeder.ledger;
    let total = ledger.retry_len();
    ledger.begin_pass(total);
    // Records tried, or unreadable and discarded: decided by this loop.
    let mut read = 0u64;
    let mut from = 0u64;
    'pass: while read < total {
        let want = usize::try_from(total - read)
            .unwrap_or(usize::MAX)
            .min(READ_CHUNK);
        let chunk = match feeder.read(Backlog::Retry, from, want).await {
            Ok(chunk) => chunk,
            Err(err) => {
                tracing::warn!(
                    plugin = &**ledger.name(),
                    "[{}] re-drive stopped: {err}",
                    ledger.name()
                );
                break;
            }
        };
        if chunk.events.is_empty() && chunk.discarded == 0 {
            break;
        }
        from = chunk.next;
        ledger.finish_pass_records(chunk.discarded);
        read += chunk.discarded;
        for (seq, event) in chunk.events {
            if !feeder.connected() || ledger.closing() {
                break 'pass; // the rest keep their place
            }
            if !feeder.feed(event, Source::Queued(seq)).await {
                break 'pass;
            }
            read += 1;
        }
    }
    // Records not tried keep their place; they leave the pass's count.
    ledger.finish_pass_records(total.saturating_sub(read));
    ledger.pass_settled().await;
}
