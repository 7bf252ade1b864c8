//! What happens to an event whose delivery failed, and how durable an
//! accepted event is.

use std::time::Duration;

/// How durable an accepted event is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Only failed (or overflowing) deliveries are persisted, as SFTPGo
    /// does in memory; a host crash loses events still in flight.
    #[default]
    OnFailure,
    /// Every accepted event is appended to its targets' queues before
    /// fan-out and removed on success: a host crash loses nothing, and
    /// events in flight at the crash may be delivered twice.
    WriteAhead,
}

/// A notifier's retry settings (`retry_max_time`, `retry_queue_max_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long after its own timestamp a failed event may still be
    /// delivered; `None` (SFTPGo's 0) disables retries.
    pub max_age: Option<Duration>,
    /// Most events the retry queue holds; `None` (SFTPGo's 0) is no limit.
    pub max_queue: Option<u64>,
}

impl RetryPolicy {
    /// From SFTPGo's numbers: seconds (<= 0 disables) and a size (<= 0 is no limit).
    pub fn from_sftpgo(retry_max_time: i64, retry_queue_max_size: i64) -> RetryPolicy {
        RetryPolicy {
            max_age: (retry_max_time > 0).then(|| Duration::from_secs(retry_max_time as u64)),
            max_queue: (retry_queue_max_size > 0).then_some(retry_queue_max_size as u64),
        }
    }

    /// The oldest event timestamp (ns) still eligible at `now_ns`; `None` when
    /// retries are off.
    pub fn cutoff_ns(&self, now_ns: i64) -> Option<i64> {
        self.max_age
            .map(|age| now_ns.saturating_sub(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX)))
    }
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

    #[test]
    fn sftpgo_zero_means_off_and_unbounded() {
        let policy = RetryPolicy::from_sftpgo(0, 0);
        assert_eq!(policy.max_age, None);
        assert_eq!(policy.max_queue, None);
        assert_eq!(policy.cutoff_ns(1_000), None);
        let policy = RetryPolicy::from_sftpgo(-5, -1);
        assert_eq!(policy.max_age, None);
        assert_eq!(policy.max_queue, None);
        let policy = RetryPolicy::from_sftpgo(2, 10);
        assert_eq!(policy.cutoff_ns(5_000_000_000), Some(3_000_000_000));
        assert_eq!(policy.max_queue, Some(10));
    }
}
