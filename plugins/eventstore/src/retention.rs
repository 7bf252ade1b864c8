//! The retention loop: once an hour (the first time one hour after start,
//! as the Go plugin) delete the events older than the retention period.
//! Failures are logged and retried at the next tick.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plexus_eventdb::{purge_older_than, Database};

const EVERY: Duration = Duration::from_secs(3600);

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
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0);
            let cutoff = now - i64::from(hours) * 3600 * 1_000_000_000;
            match purge_older_than(&db, cutoff).await {
                Ok(deleted) => tracing::info!(deleted, cutoff, "retention cleanup done"),
                Err(err) => tracing::warn!(error = %err, "retention cleanup failed"),
            }
        }
    });
}
