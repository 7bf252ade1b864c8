//! The durable queue as the actors see it.
//!
//! A small trait over `plexus-storage` (its log queues) so another store could serve
//! and so unit tests can use [`MemoryQueue`]. Only the delivery ledger
//! ([`crate::delivery::ledger`]) calls them. Every method may block on disk:
//! they run on blocking threads, never on an arbiter, except
//! [`RecordQueue::append`], which only applies the write (no flush) and is
//! cheap enough for the router's overflow path, and
//! [`RecordQueue::sync_async`], which waits for durability without blocking.

use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A queue failure, described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue {queue}: {message}")]
pub struct QueueError {
    pub queue: String,
    pub message: String,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub seq: u64,
    pub event_ts_ns: i64,
    pub payload: Vec<u8>,
}

/// The oldest records, and how many unreadable ones were discarded on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peeked {
    pub records: Vec<StoredRecord>,
    pub corrupt_discarded: u64,
}

/// A FIFO of byte records, ordered by sequence.
pub trait RecordQueue: Send + Sync + 'static {
    /// Applies one append; durable only after a later [`RecordQueue::sync`].
    fn append(&self, event_ts_ns: i64, payload: &[u8]) -> Result<u64, QueueError>;
    /// Blocks until every append made before the call is durable. Concurrent
    /// callers share one flush (group commit).
    fn sync(&self) -> Result<(), QueueError>;
    /// [`RecordQueue::sync`] without blocking a thread: the returned future
    /// resolves once every write made before the call is durable. Neither
    /// the call nor polling blocks on disk, so async code (the router, the
    /// delivery lane) awaits it where it runs.
    fn sync_async(&self) -> BoxFuture<'static, Result<(), QueueError>>;
    /// Up to `n` records with a sequence number of at least `from`, in order.
    fn peek_from(&self, from: u64, n: usize) -> Result<Peeked, QueueError>;
    /// Removes records; missing ones are ignored.
    fn remove(&self, seqs: &[u64]) -> Result<(), QueueError>;
    /// Number of records (O(1)).
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An in-memory queue for unit tests and benchmarks: not durable.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    next: u64,
    records: BTreeMap<u64, (i64, Vec<u8>)>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl RecordQueue for MemoryQueue {
    fn append(&self, event_ts_ns: i64, payload: &[u8]) -> Result<u64, QueueError> {
        let mut inner = self.lock();
        let seq = inner.next;
        inner.next += 1;
        inner.records.insert(seq, (event_ts_ns, payload.to_vec()));
        Ok(seq)
    }

    fn sync(&self) -> Result<(), QueueError> {
        Ok(())
    }

    fn sync_async(&self) -> BoxFuture<'static, Result<(), QueueError>> {
        futures::future::ready(Ok(())).boxed()
    }

    fn peek_from(&self, from: u64, n: usize) -> Result<Peeked, QueueError> {
        let inner = self.lock();
        let records = inner
            .records
            .range(from..)
            .take(n)
            .map(|(seq, (ts, payload))| StoredRecord {
                seq: *seq,
                event_ts_ns: *ts,
                payload: payload.clone(),
            })
            .collect();
        Ok(Peeked {
            records,
            corrupt_discarded: 0,
        })
    }

    fn remove(&self, seqs: &[u64]) -> Result<(), QueueError> {
        let mut inner = self.lock();
        for seq in seqs {
            inner.records.remove(seq);
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.lock().records.len() as u64
    }
}
