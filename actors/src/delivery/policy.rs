//! The one rule that decides whether an undelivered event waits in the
//! durable queue or is dropped, and how durable an accepted event is.
//!
//! SFTPGo's `canQueueEvent` (`internal/plugin/notifier.go`): a failed
//! delivery is queued if retries are on (`retry_max_time > 0`), the event is
//! not older than `retry_max_time` (measured from its own timestamp, not
//! from the failure), and the queue holds fewer than `retry_queue_max_size`
//! events (0: no limit); otherwise the newest event is dropped. The age is
//! checked only when a send fails, never while an event waits in the queue.
//!
//! Plexus adds one cause SFTPGo does not have: an event that overflowed a
//! stalled plugin's mailbox and waits on disk for its *first* delivery. It
//! has not failed, so only the size bound applies to it.

use std::time::Duration;

/// How durable an accepted event is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Only failed (or overflowing) deliveries are persisted, as SFTPGo
    /// does in memory; a host crash loses events still in flight.
    #[default]
    OnFailure,
    /// Every accepted event is appended to its targets' write-ahead logs
    /// before fan-out and settled on success: a host crash loses nothing,
    /// and events in flight at the crash may be delivered twice.
    WriteAhead,
}

/// A notifier's retry settings (`retry_max_time`, `retry_queue_max_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long after its own timestamp a failed event may still be
    /// queued; `None` (SFTPGo's 0) disables retries.
    pub max_age: Option<Duration>,
    /// Most events the plugin's queues hold together; `None` (SFTPGo's 0)
    /// is no limit.
    pub max_queue: Option<u64>,
}

/// Why an event is up for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A delivery attempt failed (error status, deadline, plugin down).
    Failed,
    /// The plugin's mailbox stayed full: the event has not been tried yet.
    Overflow,
}

/// What happens to an undelivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Queue,
    Drop(DropReason),
}

/// Why an event was dropped; each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Retries are off (`retry_max_time` is 0).
    RetriesOff,
    /// The event is older than `retry_max_time`.
    TooOld,
    /// The queues hold `retry_queue_max_size` events.
    QueueFull,
}

impl DropReason {
    /// The reason as the drop warning says it.
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::RetriesOff => "retries are off (retry_max_time is 0)",
            DropReason::TooOld => "it is older than retry_max_time",
            DropReason::QueueFull => "the queue is full (retry_queue_max_size)",
        }
    }
}

impl RetryPolicy {
    /// From SFTPGo's numbers: seconds (<= 0 disables) and a size (<= 0 is no limit).
    pub fn from_sftpgo(retry_max_time: i64, retry_queue_max_size: i64) -> RetryPolicy {
        RetryPolicy {
            max_age: u64::try_from(retry_max_time)
                .ok()
                .filter(|&secs| secs > 0)
                .map(Duration::from_secs),
            max_queue: u64::try_from(retry_queue_max_size)
                .ok()
                .filter(|&size| size > 0),
        }
    }

    /// The rule. `queued` is how many events the plugin's queues hold now,
    /// not counting this one.
    pub fn decide(&self, cause: Cause, event_ts_ns: i64, now_ns: i64, queued: u64) -> Decision {
        if cause == Cause::Failed {
            let Some(max_age) = self.max_age else {
                return Decision::Drop(DropReason::RetriesOff);
            };
            // SFTPGo: drop when now > timestamp + retry_max_time.
            let max_age_ns = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
            if now_ns.saturating_sub(event_ts_ns) > max_age_ns {
                return Decision::Drop(DropReason::TooOld);
            }
        }
        if self.max_queue.is_some_and(|max| queued >= max) {
            return Decision::Drop(DropReason::QueueFull);
        }
        Decision::Queue
    }
}

/// Where "now" comes from: the system clock, or a test's hand.
pub type Clock = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    std::sync::Arc::new(now_ns)
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn sftpgo_zero_means_off_and_unbounded() {
        let policy = RetryPolicy::from_sftpgo(0, 0);
        assert_eq!(policy.max_age, None);
        assert_eq!(policy.max_queue, None);
        let policy = RetryPolicy::from_sftpgo(-5, -1);
        assert_eq!((policy.max_age, policy.max_queue), (None, None));
        let policy = RetryPolicy::from_sftpgo(2, 10);
        assert_eq!(policy.max_age, Some(Duration::from_secs(2)));
        assert_eq!(policy.max_queue, Some(10));
    }

    #[test]
    fn a_failure_is_queued_only_with_retries_on_young_enough_and_room() {
        let policy = RetryPolicy::from_sftpgo(10, 3);
        let now = 100 * SECOND;
        let decide = |ts, queued| policy.decide(Cause::Failed, ts, now, queued);
        assert_eq!(
            decide(now - 10 * SECOND, 0),
            Decision::Queue,
            "exactly max age"
        );
        assert_eq!(
            decide(now - 10 * SECOND - 1, 0),
            Decision::Drop(DropReason::TooOld)
        );
        assert_eq!(decide(now, 2), Decision::Queue);
        assert_eq!(decide(now, 3), Decision::Drop(DropReason::QueueFull));
        // Age is checked before size, as SFTPGo does.
        assert_eq!(decide(0, 3), Decision::Drop(DropReason::TooOld));
        let off = RetryPolicy::from_sftpgo(0, 0);
        assert_eq!(
            off.decide(Cause::Failed, now, now, 0),
            Decision::Drop(DropReason::RetriesOff)
        );
        // A timestamp in the future is young, not an overflow.
        assert_eq!(
            policy.decide(Cause::Failed, i64::MAX, i64::MIN, 0),
            Decision::Queue
        );
        assert_eq!(
            policy.decide(Cause::Failed, i64::MIN, i64::MAX, 0),
            Decision::Drop(DropReason::TooOld)
        );
    }

    #[test]
    fn an_overflow_is_bound_only_by_the_queue_size() {
        let off = RetryPolicy::from_sftpgo(0, 2);
        assert_eq!(off.decide(Cause::Overflow, 0, i64::MAX, 1), Decision::Queue);
        assert_eq!(
            off.decide(Cause::Overflow, 0, i64::MAX, 2),
            Decision::Drop(DropReason::QueueFull)
        );
        let unbounded = RetryPolicy::from_sftpgo(0, 0);
        assert_eq!(
            unbounded.decide(Cause::Overflow, 0, 0, u64::MAX),
            Decision::Queue
        );
    }
}
