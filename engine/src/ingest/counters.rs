//! Ingestion requests by result, for the metrics endpoint
//! (`plexus_ingest_requests_total{result=...}`): what producers sent and
//! what became of it, counted where each answer is made.

use std::sync::atomic::{AtomicU64, Ordering};

/// How an ingestion request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestResult {
    /// Every event of the request was accepted.
    Accepted,
    /// A batch of which only the first events were accepted.
    Partial,
    /// Refused as malformed: an empty event, more than `ingest_max_batch`.
    Invalid,
    /// Refused before decoding: over `ingest_max_message_bytes`.
    TooLarge,
    /// The engine could not take it (stopping, or an internal error).
    Failed,
}

impl IngestResult {
    pub const ALL: [IngestResult; 5] = [
        IngestResult::Accepted,
        IngestResult::Partial,
        IngestResult::Invalid,
        IngestResult::TooLarge,
        IngestResult::Failed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            IngestResult::Accepted => "accepted",
            IngestResult::Partial => "partial",
            IngestResult::Invalid => "invalid",
            IngestResult::TooLarge => "too_large",
            IngestResult::Failed => "failed",
        }
    }
}

/// Live counts, one per [`IngestResult`].
#[derive(Debug, Default)]
pub struct IngestCounters {
    counts: [AtomicU64; 5],
}

impl IngestCounters {
    pub fn count(&self, result: IngestResult) {
        self.counts[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, result: IngestResult) -> u64 {
        self.counts[result as usize].load(Ordering::Relaxed)
    }
}
