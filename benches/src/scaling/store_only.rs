//! The baseline of the re-drive row: the same retry queue drained by the
//! storage layer alone, without engine or plugin, so the host's RSS during a
//! re-drive can be split into what the queue store costs and what the
//! engine adds.
//!
//! It opens the one `*.retry` queue a `fill-retry` child left under
//! `<dir>/data/backlog/` with the engine's options (records on disk; the
//! open reads every segment, as the engine's does), and removes the records
//! oldest first, 256 at a time as a re-drive pass reads them, flushing every
//! 256 removals, while RSS is sampled.

use crate::error::{Context, Error, Result};
use crate::rss::{self, Sample};
use plexus_storage::LogQueue;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the storage-only drain measured.
#[derive(Debug, Clone)]
pub struct StoreDrain {
    pub records: u64,
    pub rss_before: u64,
    /// Opening the store and the queue (with its count).
    pub opened: Duration,
    pub rss_opened: u64,
    pub drained: Duration,
    pub peak: Option<u64>,
    pub samples: Vec<Sample>,
}

/// Drains the retry queue under `dir` (blocking).
pub fn drain(dir: &Path, sample_every: Duration) -> Result<StoreDrain> {
    let peak_reset = rss::reset_peak();
    let rss_before = rss::current().unwrap_or(0);
    let begin = Instant::now();
    let path = dir.join("data").join(plexus_engine::BACKLOG_DIR);
    let logs = plexus_engine::backlog_logs(&path);
    let (name, log_dir) = logs
        .iter()
        .find(|(name, _)| name.ends_with(".retry"))
        .ok_or_else(|| Error::new(format!("no retry queue in {}: {logs:?}", path.display())))?;
    let queue = LogQueue::open(
        log_dir,
        plexus_engine::backlog_options(Duration::from_millis(2), false),
    )
    .with_context(|| format!("opening the queue {name}"))?;
    let records = queue.len();
    let opened = begin.elapsed();
    let rss_opened = rss::current().unwrap_or(0);
    let mut samples = Vec::new();
    let mut next_sample = Instant::now();
    loop {
        if Instant::now() >= next_sample {
            samples.push(Sample {
                at: begin.elapsed(),
                rss: rss::current().unwrap_or(0),
                queued: queue.len(),
            });
            next_sample += sample_every;
        }
        let peeked = queue.peek_oldest(256).context("reading the queue")?;
        if peeked.records.is_empty() {
            break;
        }
        let seqs: Vec<u64> = peeked.records.iter().map(|r| r.seq).collect();
        queue.remove(&seqs).context("removing records")?;
        queue.flush().context("flushing the queue")?;
    }
    let drained = begin.elapsed();
    samples.push(Sample {
        at: drained,
        rss: rss::current().unwrap_or(0),
        queued: 0,
    });
    let peak = if peak_reset { rss::peak() } else { None };
    Ok(StoreDrain {
        records,
        rss_before,
        opened,
        rss_opened,
        drained,
        peak,
        samples,
    })
}
