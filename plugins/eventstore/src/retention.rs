//! The retention loop: once an hour (the first time one hour after start,
//! as the Go plugin) delete the events older than the retention period.
//! Failures are logged and retried at the next tick.
//!
//! The cutoff is computed with checked arithmetic: a period so long that
//! `now - period` does not fit in an `i64` of nanoseconds would otherwise
//! wrap into the future and delete every row (or panic in a debug build).
//! The command line refuses such a period ([`MAX_HOURS`]); the check here
//! makes the loop skip a purge rather than delete anything if a value past
//! that bound ever reaches it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plexus_eventdb::{purge_older_than, Database};

const EVERY: Duration = Duration::from_secs(3600);
const NANOS_PER_HOUR: i64 = 3600 * 1_000_000_000;

/// The longest retention accepted, in hours: 100 years. Far inside what the
/// cutoff arithmetic can represent (about 292 years of nanoseconds).
pub const MAX_HOURS: u32 = 876_000;

/// The purge cutoff, `now_ns - hours`, in unix nanoseconds; `None` when it
/// cannot be represented.
pub fn cutoff_ns(now_ns: i64, hours: u32) -> Option<i64> {
    i64::from(hours)
        .checked_mul(NANOS_PER_HOUR)
        .and_then(|period| now_ns.checked_sub(period))
}

pub fn spawn(db: Database, hours: u32) {
    if hours == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
        loop {
            ticker.tick().await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_nanos()).ok());
            let Some(cutoff) = now.and_then(|now| cutoff_ns(now, hours)) else {
                tracing::warn!(
                    retention_hours = hours,
                    "retention cleanup skipped: the cutoff time cannot be represented"
                );
                continue;
            };
            match purge_older_than(&db, cutoff).await {
                Ok(deleted) => tracing::info!(deleted, cutoff, "retention cleanup done"),
                Err(err) => tracing::warn!(error = %err, "retention cleanup failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000_000_000;

    #[test]
    fn cutoff_is_now_minus_the_period() {
        assert_eq!(cutoff_ns(NOW, 1), Some(NOW - NANOS_PER_HOUR));
        assert_eq!(
            cutoff_ns(NOW, MAX_HOURS),
            Some(NOW - i64::from(MAX_HOURS) * NANOS_PER_HOUR)
        );
    }

    #[test]
    fn a_period_past_the_representable_range_gives_no_cutoff() {
        // 4 000 000 h * 3.6e12 ns wraps an i64: the cutoff would land in the
        // future and every row would be deleted.
        assert_eq!(cutoff_ns(NOW, 4_000_000), None);
        assert_eq!(cutoff_ns(NOW, u32::MAX), None);
        // The product fits, the subtraction does not.
        assert_eq!(cutoff_ns(i64::MIN + 1, 1), None);
    }
}
