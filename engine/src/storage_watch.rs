//! Says so, loudly, when the queue store has stopped: its sled writes and
//! flushes have been in progress for [`REPORT_AFTER`] with none finishing.
//!
//! Exists because sled 0.34.7 can stop every write of a process for good (a
//! deadlock between its log truncation and its I/O thread pool; see
//! `storage/src/progress.rs`). Nothing inside the process can undo it, and
//! while it lasts nothing reaches the retry queues and no re-drive makes
//! progress. An operator must learn it from the log and the metrics
//! (`plexus_storage_stalled_seconds`), not from a silence: a restart keeps
//! everything that was acknowledged.

use std::path::PathBuf;
use std::time::Duration;

use plexus_storage::StallWatch;

/// How long writes may be stuck before the error is logged: a flush takes
/// milliseconds, a slow disk seconds.
pub(crate) const REPORT_AFTER: Duration = Duration::from_secs(30);
/// How often the store is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// What a reading of the store means for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// Stuck for this long: log an error (once per stall).
    Stalled(Duration),
    /// A reported stall ended.
    Recovered,
}

/// Turns successive readings into at most one error per stall and one line
/// when it ends.
#[derive(Debug, Default)]
pub(crate) struct StallReporter {
    reported: bool,
}

impl StallReporter {
    pub(crate) fn observe(&mut self, stalled_for: Option<Duration>) -> Option<Report> {
        let stalled = stalled_for.filter(|&d| d >= REPORT_AFTER);
        match (stalled, self.reported) {
            (Some(d), false) => {
                self.reported = true;
                Some(Report::Stalled(d))
            }
            (None, true) => {
                self.reported = false;
                Some(Report::Recovered)
            }
            _ => None,
        }
    }
}

/// Watches the store at `path` until it is closed.
pub(crate) async fn watch(store: StallWatch, path: PathBuf) {
    let mut reporter = StallReporter::default();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if store.store_closed() {
            return;
        }
        match reporter.observe(store.stalled_for()) {
            Some(Report::Stalled(stuck)) => tracing::error!(
                "queue store {}: no write or flush has completed for {} s; events cannot be queued \
                 or re-driven until it moves. sled 0.34 can stop like this for good (a deadlock \
                 between its log truncation and its I/O threads): if it does not recover, restart \
                 the process; every acknowledged event is on disk",
                path.display(),
                stuck.as_secs()
            ),
            Some(Report::Recovered) => tracing::info!(
                "queue store {}: writes and flushes complete again",
                path.display()
            ),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_error_per_stall_and_one_line_when_it_ends() {
        let mut reporter = StallReporter::default();
        let short = Some(Duration::from_millis(40));
        let long = Some(REPORT_AFTER + Duration::from_secs(1));
        assert_eq!(reporter.observe(None), None);
        assert_eq!(reporter.observe(short), None, "a slow flush is no stall");
        assert_eq!(
            reporter.observe(long),
            Some(Report::Stalled(REPORT_AFTER + Duration::from_secs(1)))
        );
        assert_eq!(reporter.observe(long), None, "reported once");
        assert_eq!(reporter.observe(Some(REPORT_AFTER * 3)), None);
        assert_eq!(reporter.observe(None), Some(Report::Recovered));
        assert_eq!(reporter.observe(None), None);
        assert!(matches!(reporter.observe(long), Some(Report::Stalled(_))));
        // Progress resumed though writes are again in progress: recovered.
        assert_eq!(reporter.observe(short), Some(Report::Recovered));
    }
}
