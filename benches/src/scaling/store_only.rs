//! The baseline of the re-drive row: the same retry queue drained by the
//! storage layer alone, without engine or plugin, so the host's RSS during a
//! re-drive can be split into what the queue store (sled) costs and what the
//! engine adds.
//!
//! It opens the store a `fill-retry` child left (`<dir>/data/queue`), opens
//! its one `*.retry` queue (the first open counts the records, as the
//! engine's does), and removes the records oldest first, 256 at a time as
//! a re-drive pass reads them, flushing every 256 removals, while RSS is
//! sampled.

use crate::error::{Context, Error, Result};
use crate::rss::{self, Sample};
use plexus_storage::{Store, StoreOptions};
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
    let path = dir.join("data").join("queue");
    let store = Store::open(&path, StoreOptions::default())
        .with_context(|| format!("opening the queue store {}", path.display()))?;
    let names = store.names().context("listing the queues")?;
    let name = names
        .iter()
        .find(|name| name.ends_with(".retry"))
        .ok_or_else(|| Error::new(format!("no retry queue in {}: {names:?}", path.display())))?;
    let queue = store
        .queue(name)
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
