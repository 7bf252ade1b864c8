//! One named durable FIFO queue: push, peek the oldest, remove, bound.
//!
//! Exists to turn a sled tree into a queue with the invariants callers rely
//! on: sequence numbers that only grow (across restarts too), an O(1) length,
//! a count bound checked atomically with the write, all-or-nothing batches,
//! corrupt records skipped and reported instead of returned or panicked on,
//! and pushes that return only once durable (see [`Durability`]).
//!
//! Concurrency: every mutation of a queue takes the queue's write lock, so
//! sequence assignment, the bound check and the length counter stay
//! consistent; reads (peek, the age scan) take it shared. Waiting for a flush
//! happens after the lock is released, which is what lets concurrent pushers
//! share one flush.
//!
//! Every method may block on disk I/O except [`Queue::flush_async`], which
//! never does: it only takes a ticket and returns a future the group-commit
//! flusher wakes, so async code can wait for durability without holding a
//! blocking-pool thread.
//!
//! Besides the records, the tree holds two metadata entries under keys that
//! sort before every 8-byte record key (prefixes of the smallest one):
//! - `[0]`, the next sequence number, written in the same batch as every
//!   removal, so that emptying a queue and restarting does not reuse
//!   sequence numbers;
//! - `[0, 0]`, the number of record keys, written in the same batch as every
//!   push and removal, so that opening a queue reads one entry instead of
//!   walking every record. Walking a queue of a million records pulls all of
//!   its pages into sled's cache at start (about 100 MiB for 1 M records of
//!   300 bytes), and the process keeps that memory. A tree written before
//!   the count existed is walked once and the count written. The count
//!   covers the 8-byte keys the queue writes; a key of another length
//!   (never written by the queue, only by damage or another writer) is not
//!   counted, and removing it as corrupt does not uncount anything.

use std::future::Future;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{CorruptRecord, Result, StorageError};
use crate::record::{self, key_of, seq_of, Record, Seq, MAX_SEQ};
use crate::store::StoreInner;

/// The key of the metadata entry (next sequence number, big-endian u64).
const META_NEXT_SEQ_KEY: &[u8] = &[0];
/// The key of the record count (number of 8-byte keys, big-endian u64).
/// Like `[0]`, a prefix of the smallest record key, so it sorts before
/// every record.
const META_COUNT_KEY: &[u8] = &[0, 0];
/// The smallest record key: record keys are 8 bytes, all `>=` this.
const FIRST_RECORD_KEY: [u8; 8] = [0; 8];
/// The first sequence number of a new queue.
const FIRST_SEQ: Seq = 1;
/// Records visited per locked step of a long scan or removal.
const SCAN_CHUNK: usize = 4096;

/// What a push waits for before returning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Return after a group flush covering the write completed: from then on
    /// a process crash (`kill -9`) cannot lose it. (A power loss within
    /// about the next 500 ms still can: see the crate docs.)
    #[default]
    Flushed,
    /// Return once the write is applied; a flush covering it is already
    /// scheduled and completes within about `max_flush_delay` plus one flush
    /// time. A crash before that may lose it. [`Queue::flush`] waits for it.
    Deferred,
}

/// The result of [`Queue::peek_oldest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeekResult {
    /// Up to `n` oldest valid records, in sequence order.
    pub records: Vec<Record>,
    /// Corrupt records met on the way: each was removed from the queue and
    /// counted in [`Queue::corrupt_skipped`] by this call (each is reported
    /// exactly once). The crate does not log: log each at warning level;
    /// its `Display` is the whole message.
    pub corrupt: Vec<CorruptRecord>,
}

/// The in-memory state shared by every handle to one queue.
pub(crate) struct QueueShared {
    name: String,
    tree: sled::Tree,
    state: RwLock<QueueState>,
    /// Record keys in the tree (valid records or not): kept by every
    /// mutation, and persisted with it under [`META_COUNT_KEY`].
    len: AtomicU64,
    max_len: AtomicU64,
    corrupt_skipped: AtomicU64,
}

struct QueueState {
    next_seq: Seq,
    /// Set by [`crate::Store::drop_queue`]: the tree is gone.
    dropped: bool,
}

/// Held by `drop_queue` while sled drops the tree: no operation of this
/// queue runs meanwhile, and none after.
pub(crate) struct Retired<'a> {
    _state: RwLockWriteGuard<'a, QueueState>,
}

impl QueueShared {
    /// Loads a queue's state from its tree: reads the record count (or
    /// counts the records once, for a tree written before the count was
    /// kept) and finds the next sequence number from the last record key.
    /// Neither walks the records of a tree that has its count.
    pub(crate) fn load(name: &str, tree: sled::Tree, path: &std::path::Path) -> Result<Self> {
        let err = |op, source| StorageError::Queue {
            path: path.to_path_buf(),
            queue: name.to_owned(),
            op,
            source,
        };
        // The last valid sequence number: keys that are no sequence number
        // sort anywhere and are skipped (they are reported when a peek meets
        // them).
        let mut last_seq: Option<Seq> = None;
        for key in tree.range(FIRST_RECORD_KEY..).keys().rev() {
            let key = key.map_err(|e| err("find the last record", e))?;
            if let Ok(seq) = seq_of(&key) {
                last_seq = Some(seq);
                break;
            }
        }
        let stored_count = tree
            .get(META_COUNT_KEY)
            .map_err(|e| err("read the record count", e))?
            .and_then(|bytes| <[u8; 8]>::try_from(&bytes[..]).ok())
            .map(u64::from_be_bytes);
        let len = match stored_count {
            Some(count) => count,
            None => {
                let mut count = 0u64;
                for key in tree.range(FIRST_RECORD_KEY..).keys() {
                    let key = key.map_err(|e| err("count records", e))?;
                    if is_record_key(&key) {
                        count += 1;
                    }
                }
                tree.insert(META_COUNT_KEY, &count.to_be_bytes())
                    .map_err(|e| err("write the record count", e))?;
                count
            }
        };
        let meta_next = match tree
            .get(META_NEXT_SEQ_KEY)
            .map_err(|e| err("read metadata", e))?
        {
            // The next sequence number may be one above the last assignable
            // one; anything larger is corrupt and ignored.
            Some(bytes) => <[u8; 8]>::try_from(&bytes[..])
                .map(u64::from_be_bytes)
                .ok()
                .filter(|&next| next <= MAX_SEQ + 1)
                .unwrap_or(FIRST_SEQ),
            None => FIRST_SEQ,
        };
        let after_last = last_seq.map_or(FIRST_SEQ, |s| s.saturating_add(1));
        Ok(Self {
            name: name.to_owned(),
            tree,
            state: RwLock::new(QueueState {
                next_seq: meta_next.max(after_last).max(FIRST_SEQ),
                dropped: false,
            }),
            len: AtomicU64::new(len),
            max_len: AtomicU64::new(0),
            corrupt_skipped: AtomicU64::new(0),
        })
    }

    pub(crate) fn set_max_len(&self, max_len: u64) {
        self.max_len.store(max_len, Ordering::Relaxed);
    }

    /// Marks the queue dropped and keeps every operation out while the
    /// returned guard lives.
    pub(crate) fn retire(&self) -> Retired<'_> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.dropped = true;
        self.len.store(0, Ordering::Release);
        Retired { _state: state }
    }
}

/// A handle to one queue. Cheap to clone; all clones (and all handles
/// obtained for the same name from the same [`crate::Store`]) share state.
///
/// Every method except [`Queue::flush_async`] may block on disk I/O (and the
/// pushing ones on a flush): call them from a dedicated thread or
/// `spawn_blocking`, never from an async executor's worker.
#[derive(Clone)]
pub struct Queue {
    shared: Arc<QueueShared>,
    store: Arc<StoreInner>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.shared.name)
            .field("path", &self.store.path)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Queue {
    pub(crate) fn new(shared: Arc<QueueShared>, store: Arc<StoreInner>) -> Self {
        Self { shared, store }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Appends one record and returns once a flush covering it completed
    /// ([`Durability::Flushed`]).
    ///
    /// Fails with [`StorageError::QueueFull`] if the queue holds `max_len`
    /// records. If the flush itself fails ([`StorageError::FlushFailed`]),
    /// the record is in the queue but may not survive a crash.
    pub fn push(&self, event_ts_ns: i64, payload: &[u8]) -> Result<Seq> {
        self.push_with(event_ts_ns, payload, Durability::Flushed)
    }

    /// Appends one record without waiting for its flush
    /// ([`Durability::Deferred`]).
    pub fn push_nowait(&self, event_ts_ns: i64, payload: &[u8]) -> Result<Seq> {
        self.push_with(event_ts_ns, payload, Durability::Deferred)
    }

    /// Appends one record with the given durability.
    pub fn push_with(
        &self,
        event_ts_ns: i64,
        payload: &[u8],
        durability: Durability,
    ) -> Result<Seq> {
        let value = self.encode(now_ms(), event_ts_ns, payload)?;
        let seq = {
            let mut state = self.write()?;
            self.check_bound(1)?;
            let seq = state.next_seq;
            state.next_seq = self.advance(seq, 1)?;
            let mut batch = sled::Batch::default();
            batch.insert(&key_of(seq), value);
            self.apply_counted(batch, 1, 0, "push")?;
            seq
        };
        self.commit(durability)?;
        Ok(seq)
    }

    /// Appends records atomically (one sled batch: after a crash either all
    /// or none are there) and returns their sequence numbers, in order, once
    /// a flush covering them completed.
    ///
    /// The count bound is all-or-nothing too: if the batch does not fit,
    /// nothing is written and [`StorageError::QueueFull`] says how many
    /// records would have fit (`fits`), so the caller can push that many and
    /// drop (and count) the rest. An empty batch returns at once.
    pub fn push_batch<I, P>(&self, items: I) -> Result<Vec<Seq>>
    where
        I: IntoIterator<Item = (i64, P)>,
        P: AsRef<[u8]>,
    {
        self.push_batch_with(items, Durability::Flushed)
    }

    /// [`Queue::push_batch`] with the given durability.
    pub fn push_batch_with<I, P>(&self, items: I, durability: Durability) -> Result<Vec<Seq>>
    where
        I: IntoIterator<Item = (i64, P)>,
        P: AsRef<[u8]>,
    {
        let at = now_ms();
        let values = items
            .into_iter()
            .map(|(ts, payload)| self.encode(at, ts, payload.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let count = values.len() as u64;
        let seqs = {
            let mut state = self.write()?;
            self.check_bound(count)?;
            let first = state.next_seq;
            state.next_seq = self.advance(first, count)?;
            let mut batch = sled::Batch::default();
            for (seq, value) in (first..).zip(values) {
                batch.insert(&key_of(seq), value);
            }
            self.apply_counted(batch, count, 0, "push batch")?;
            (first..first + count).collect::<Vec<_>>()
        };
        self.commit(durability)?;
        Ok(seqs)
    }

    /// Up to `n` oldest records, in sequence order, without removing them.
    ///
    /// Corrupt records met on the way are removed, counted and returned in
    /// [`PeekResult::corrupt`]; they do not count towards `n`.
    pub fn peek_oldest(&self, n: usize) -> Result<PeekResult> {
        self.peek_from(0, n)
    }

    /// Up to `n` records with a sequence number of at least `from`, in
    /// sequence order, without removing them; corrupt records as for
    /// [`Queue::peek_oldest`]. A reader that remembers the last sequence it
    /// saw walks the queue without reading any record twice.
    pub fn peek_from(&self, from: Seq, n: usize) -> Result<PeekResult> {
        let mut result = PeekResult::default();
        if n == 0 {
            return Ok(result);
        }
        {
            let _state = self.read()?;
            for item in self.shared.tree.range(key_of(from)..) {
                let (key, value) = item.map_err(|e| self.error("peek", e))?;
                let decoded =
                    seq_of(&key).and_then(|seq| record::decode(&value).map(|d| d.into_record(seq)));
                match decoded {
                    Ok(record) => {
                        result.records.push(record);
                        if result.records.len() >= n {
                            break;
                        }
                    }
                    Err(reason) => result.corrupt.push(CorruptRecord {
                        queue: self.shared.name.clone(),
                        seq: seq_of(&key).ok(),
                        key: key.to_vec(),
                        stored_len: value.len(),
                        reason,
                    }),
                }
            }
        }
        if !result.corrupt.is_empty() {
            result.corrupt = self.discard_corrupt(result.corrupt)?;
        }
        Ok(result)
    }

    /// Removes the records with these sequence numbers, atomically (one sled
    /// batch). Missing ones are ignored. Returns how many were removed.
    ///
    /// Durability is deferred: the removal is flushed within about
    /// `max_flush_delay`; a crash before that brings the records back (a
    /// redelivery, never a loss). [`Queue::flush`] waits for it.
    pub fn remove(&self, seqs: &[Seq]) -> Result<usize> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let mut seqs = seqs.to_vec();
        seqs.sort_unstable();
        seqs.dedup();
        let keys = seqs.into_iter().map(|seq| key_of(seq).to_vec()).collect();
        let removed = self.remove_keys(keys, "remove")?;
        if removed > 0 {
            self.store.commit.request();
        }
        Ok(removed as usize)
    }

    /// Removes every record whose event timestamp is older than `cutoff_ns`
    /// (strictly: `event_ts_ns < cutoff_ns`), wherever it is in the queue.
    /// Returns how many were removed. Scans the whole queue, in steps that
    /// release the lock between them. Corrupt records are left for
    /// [`Queue::peek_oldest`] to report. Durability as for [`Queue::remove`].
    pub fn drop_older_than(&self, cutoff_ns: i64) -> Result<usize> {
        let mut total = 0u64;
        let mut from = Bound::Included(FIRST_RECORD_KEY.to_vec());
        loop {
            let mut victims = Vec::new();
            let mut last_key = None;
            let mut visited = 0usize;
            {
                let _state = self.read()?;
                let range = self
                    .shared
                    .tree
                    .range::<Vec<u8>, _>((from, Bound::Unbounded));
                for item in range {
                    let (key, value) = item.map_err(|e| self.error("scan by age", e))?;
                    if let (Ok(_), Ok(decoded)) = (seq_of(&key), record::decode(&value)) {
                        if decoded.event_ts_ns < cutoff_ns {
                            victims.push(key.to_vec());
                        }
                    }
                    last_key = Some(key.to_vec());
                    visited += 1;
                    if visited >= SCAN_CHUNK {
                        break;
                    }
                }
            }
            if !victims.is_empty() {
                total += self.remove_keys(victims, "drop by age")?;
            }
            match last_key {
                Some(key) if visited >= SCAN_CHUNK => from = Bound::Excluded(key),
                _ => break,
            }
        }
        if total > 0 {
            self.store.commit.request();
        }
        Ok(total as usize)
    }

    /// Removes every record. Returns how many there were. Not atomic as a
    /// whole (it removes in steps); the sequence keeps growing afterwards.
    /// Durability as for [`Queue::remove`].
    pub fn clear(&self) -> Result<usize> {
        let mut removed = 0u64;
        {
            let state = self.write()?;
            // Record the next sequence first: a crash in the middle of the
            // clear must not let sequence numbers be reused.
            self.shared
                .tree
                .insert(META_NEXT_SEQ_KEY, &state.next_seq.to_be_bytes())
                .map_err(|e| self.error("clear", e))?;
            loop {
                let mut batch = sled::Batch::default();
                let mut in_batch = 0u64;
                let mut counted = 0u64;
                for key in self
                    .shared
                    .tree
                    .range(FIRST_RECORD_KEY..)
                    .keys()
                    .take(SCAN_CHUNK)
                {
                    let key = key.map_err(|e| self.error("clear", e))?;
                    counted += u64::from(is_record_key(&key));
                    batch.remove(key);
                    in_batch += 1;
                }
                if in_batch == 0 {
                    break;
                }
                self.apply_counted(batch, 0, counted, "clear")?;
                removed += in_batch;
            }
            // Records added behind the store's back are gone too.
            self.shared.len.store(0, Ordering::Release);
            self.shared
                .tree
                .insert(META_COUNT_KEY, &0u64.to_be_bytes())
                .map_err(|e| self.error("clear", e))?;
        }
        self.store.commit.request();
        Ok(removed as usize)
    }

    /// Blocks until every write made through this queue's store so far
    /// (pushes, deferred pushes, removals) is flushed. Shares the flush with
    /// concurrent writers.
    pub fn flush(&self) -> Result<()> {
        let ticket = self.store.commit.current();
        self.store.commit.wait(ticket)
    }

    /// [`Queue::flush`] without blocking: the writes covered are those made
    /// through this queue's store before this call (not before the first
    /// poll); the returned future resolves once a flush covering them
    /// completed, with the same result `flush` would have returned (the
    /// flush is shared with concurrent writers, and fails with
    /// [`StorageError::FlushFailed`] the same way).
    ///
    /// Unlike every other method, neither this call nor polling the future
    /// blocks on I/O (they take a lock held only for a few assignments), so
    /// it may be awaited on an async executor's worker or an actix arbiter:
    /// the flusher thread wakes the task. Dropping the future before it
    /// resolves is harmless (the writes are still flushed). It does not keep
    /// the store open; if the store is dropped meanwhile, its final flush
    /// still decides the result.
    ///
    /// A typical use: [`Queue::push_nowait`] (or
    /// [`Durability::Deferred`] batches) in `spawn_blocking`, then await
    /// this on the worker.
    pub fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + Unpin + 'static {
        let ticket = self.store.commit.current();
        self.store.commit.wait_async(ticket)
    }

    /// How many records the queue holds (O(1)). Includes corrupt records not
    /// yet met by [`Queue::peek_oldest`].
    pub fn len(&self) -> u64 {
        self.shared.len.load(Ordering::Acquire)
    }

    /// Whether the queue holds no record (O(1)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The count bound (0: unbounded).
    pub fn max_len(&self) -> u64 {
        self.shared.max_len.load(Ordering::Relaxed)
    }

    /// Changes the count bound (0: unbounded) for every handle of this queue.
    /// Lowering it below the current length removes nothing; pushes fail
    /// until the queue shrinks.
    pub fn set_max_len(&self, max_len: u64) {
        self.shared.set_max_len(max_len);
    }

    /// How many corrupt records this queue has skipped and removed since
    /// the store was opened.
    pub fn corrupt_skipped(&self) -> u64 {
        self.shared.corrupt_skipped.load(Ordering::Relaxed)
    }

    /// The data directory of the store the queue lives in.
    pub fn path(&self) -> &std::path::Path {
        &self.store.path
    }

    fn encode(&self, at_ms: u64, event_ts_ns: i64, payload: &[u8]) -> Result<Vec<u8>> {
        record::encode(at_ms, event_ts_ns, payload).map_err(|too_large| {
            StorageError::PayloadTooLarge {
                queue: self.shared.name.clone(),
                len: too_large.len,
            }
        })
    }

    /// The next sequence number once `count` are assigned from `next`;
    /// fails, writing nothing, if that would pass [`MAX_SEQ`].
    fn advance(&self, next: Seq, count: u64) -> Result<Seq> {
        next.checked_add(count)
            .filter(|&end| end <= MAX_SEQ + 1)
            .ok_or_else(|| StorageError::SequenceExhausted {
                path: self.store.path.clone(),
                queue: format!("queue {:?}", self.shared.name),
            })
    }

    /// Fails if `count` more records would exceed the bound. Called with the
    /// write lock held, so the length cannot change meanwhile.
    fn check_bound(&self, count: u64) -> Result<()> {
        let max_len = self.max_len();
        let len = self.len();
        if max_len > 0 && len.saturating_add(count) > max_len {
            return Err(StorageError::QueueFull {
                queue: self.shared.name.clone(),
                max_len,
                len,
                requested: count,
                fits: max_len.saturating_sub(len),
            });
        }
        Ok(())
    }

    /// Applies `batch` with the record count changed by `added` and
    /// `removed` record keys, written in the same batch (so a crash keeps
    /// the two consistent). Call with the write lock held.
    fn apply_counted(
        &self,
        mut batch: sled::Batch,
        added: u64,
        removed: u64,
        op: &'static str,
    ) -> Result<()> {
        let len = self
            .shared
            .len
            .load(Ordering::Acquire)
            .saturating_add(added)
            .saturating_sub(removed);
        batch.insert(META_COUNT_KEY, &len.to_be_bytes());
        self.store
            .progress
            .watch(|| self.shared.tree.apply_batch(batch))
            .map_err(|e| self.error(op, e))?;
        self.shared.len.store(len, Ordering::Release);
        Ok(())
    }

    /// Registers the write just applied and, for `Flushed`, waits for it.
    fn commit(&self, durability: Durability) -> Result<()> {
        let ticket = self.store.commit.request();
        match durability {
            Durability::Flushed => self.store.commit.wait(ticket),
            Durability::Deferred => Ok(()),
        }
    }

    /// Removes those of `keys` that exist, in one batch that also records the
    /// next sequence number; returns how many existed.
    fn remove_keys(&self, keys: Vec<Vec<u8>>, op: &'static str) -> Result<u64> {
        let state = self.write()?;
        let mut batch = sled::Batch::default();
        let mut removed = 0u64;
        let mut counted = 0u64;
        for key in keys {
            if self
                .shared
                .tree
                .contains_key(&key)
                .map_err(|e| self.error(op, e))?
            {
                counted += u64::from(is_record_key(&key));
                batch.remove(key);
                removed += 1;
            }
        }
        if removed > 0 {
            batch.insert(META_NEXT_SEQ_KEY, &state.next_seq.to_be_bytes());
            self.apply_counted(batch, 0, counted, op)?;
        }
        Ok(removed)
    }

    /// Removes the corrupt records still present; returns those this call
    /// removed (a concurrent peek may have removed some first).
    fn discard_corrupt(&self, found: Vec<CorruptRecord>) -> Result<Vec<CorruptRecord>> {
        let state = self.write()?;
        let mut batch = sled::Batch::default();
        let mut removed = Vec::with_capacity(found.len());
        let mut counted = 0u64;
        for corrupt in found {
            let present = self
                .shared
                .tree
                .contains_key(&corrupt.key)
                .map_err(|e| self.error("remove corrupt record", e))?;
            if present {
                counted += u64::from(is_record_key(&corrupt.key));
                batch.remove(corrupt.key.clone());
                removed.push(corrupt);
            }
        }
        if !removed.is_empty() {
            batch.insert(META_NEXT_SEQ_KEY, &state.next_seq.to_be_bytes());
            self.apply_counted(batch, 0, counted, "remove corrupt record")?;
            let count = removed.len() as u64;
            self.shared
                .corrupt_skipped
                .fetch_add(count, Ordering::Relaxed);
            drop(state);
            self.store.commit.request();
        }
        Ok(removed)
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, QueueState>> {
        let state = self
            .shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if state.dropped {
            return Err(self.dropped());
        }
        Ok(state)
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, QueueState>> {
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if state.dropped {
            return Err(self.dropped());
        }
        Ok(state)
    }

    fn dropped(&self) -> StorageError {
        StorageError::QueueDropped {
            path: self.store.path.clone(),
            queue: self.shared.name.clone(),
        }
    }

    fn error(&self, op: &'static str, source: sled::Error) -> StorageError {
        StorageError::Queue {
            path: PathBuf::from(&self.store.path),
            queue: self.shared.name.clone(),
            op,
            source,
        }
    }
}

/// Whether `key` has the shape of the keys the queue writes (8 bytes), the
/// ones the record count covers.
fn is_record_key(key: &[u8]) -> bool {
    key.len() == FIRST_RECORD_KEY.len()
}

/// Now, unix milliseconds (0 if the clock is before 1970).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
