//! A write-ahead queue whose per-record cost is an append to a log.
//!
//! Exists because the sled-backed [`crate::Queue`] costs one B-tree insert
//! and one B-tree remove per record (about 15 µs of CPU per event on a small
//! machine), which caps write-ahead delivery far below the non-durable path.
//! A [`LogQueue`] instead appends a small record to an in-memory buffer that
//! one flusher thread writes to a segment file with a single `write(2)` per
//! group commit, and settles (removes) records by appending one more record
//! that lists their sequence numbers. Reads never touch the disk: the
//! unsettled records are kept in memory.
//!
//! # Semantics (those of [`crate::Queue`] as the engine uses it)
//!
//! - One directory per queue, locked against other openers
//!   ([`StorageError::LogLocked`], naming the directory).
//! - [`LogQueue::append`] assigns the next sequence number (strictly
//!   increasing, across restarts too), keeps the record in memory and queues
//!   its bytes for the flusher; it does not write or wait.
//! - [`LogQueue::remove`] / [`LogQueue::drop_older_than`] settle records:
//!   they leave the in-memory index at once and a "settled" record is
//!   queued for the flusher.
//! - [`LogQueue::peek_oldest`] returns the oldest unsettled records, in
//!   sequence order; [`LogQueue::len`] is O(1).
//!
//! # Durability, exactly
//!
//! [`LogQueue::flush`] (blocking) and [`LogQueue::flush_async`] (a future
//! the flusher wakes, never blocking) resolve once everything appended or
//! settled before the call has been handed to the operating system with
//! `write(2)`. From then on a **process crash (`kill -9`, panic, OOM kill)
//! loses nothing**, because the data is in the kernel's page cache. It is
//! **not** on the disk: a **power loss or kernel crash may lose it**, exactly
//! as with sled's `flush`. [`LogOptions::fsync`] (default off) adds an
//! `fdatasync` of the written segments (and of the directory when a segment
//! was created) to every flush, making acknowledged writes survive power
//! loss at the cost of a disk round trip per group commit.
//!
//! Settling is deferred the same way: a crash before the settle record was
//! written brings the records back (a redelivery), never loses one.
//!
//! # Memory
//!
//! Every unsettled record (payload included) stays in memory until settled,
//! so the memory used is bounded only by what the caller keeps in flight:
//! the engine's per-plugin in-flight limits bound it in write-ahead mode.
//! This is not a store for a large backlog; the sled [`crate::Queue`] is.
//!
//! # On disk
//!
//! The directory holds `LOCK` (the `flock`ed lock file) and segments named
//! `<first seq, 16 lowercase hex digits>.log`. A segment's name is the next
//! sequence number at the moment it was created, so every event in it has a
//! sequence number at least its name. Segments are sequences of records
//! (integers little-endian):
//!
//! | offset | size | field                                               |
//! |--------|------|-----------------------------------------------------|
//! | 0      | 4    | CRC-32 (IEEE) of bytes `4 .. 8 + len`               |
//! | 4      | 4    | `len`: the body's length (u32)                      |
//! | 8      | len  | body: a kind byte, then the kind's fields           |
//!
//! - kind 1, event: seq (u64), enqueued at unix ms (u64), event timestamp
//!   unix ns (i64), payload (the rest): `len = 25 + payload length`.
//! - kind 2, settled: one or more seqs (u64 each): `len = 1 + 8 k`.
//! - kind 3, settled ranges: one or more `[lo, hi)` pairs (u64 each): every
//!   event with a seq in a range is settled; `len = 1 + 16 k`.
//!
//! The current segment (the one appended to) rotates, at the next append,
//! once it holds [`LogOptions::segment_bytes`] (settle records alone never
//! rotate it). A segment that is not the current one is deleted once none
//! of its events is unsettled. If it holds settle records for events of an
//! older segment that is still there (it has a live event), deleting it
//! would bring those back; so first a kind 3 record re-stating every
//! settled seq from that older segment on (the gaps between live seqs) is
//! written to the current segment. The disk therefore holds the segments
//! that have an unsettled event, plus the current one. Order of operations,
//! which is the crash-safety argument: the dead segments are chosen, and
//! the kind 3 record queued, under the lock that hands the queued bytes to
//! the flusher, so every settle record that made a segment dead, every byte
//! of it and that kind 3 record are in the bytes written by this flush or
//! an earlier one; the segments are unlinked (oldest first) only after this
//! flush's write (and `fdatasync`, with [`LogOptions::fsync`]) succeeded. A
//! crash at any point finds either a segment with everything it had, or
//! the records that made it unnecessary. A failed write puts its bytes back
//! (the file is cut back to its last good length) and the deletions wait.
//!
//! # Recovery
//!
//! [`LogQueue::open`] reads the segments in order and checks each record's
//! length and CRC. A damaged or torn record in the **last** segment ends it:
//! the file is truncated there (a write cut short by a crash; its bytes are
//! counted in [`LogRecovery::torn_tail_bytes`]). A damaged record in an
//! earlier segment stops the reading of that segment (the rest of it is
//! unreadable; reported in [`LogRecovery::corrupt`]). Both count in
//! [`LogQueue::corrupt_skipped`]; nothing panics. The unsettled records are
//! the events minus the settled sequence numbers; the next sequence number
//! is one above the largest seen, and at least the newest segment's name —
//! the current segment is never deleted, so its name keeps the sequence
//! from going back even when every record was settled.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::crc32::crc32;
use crate::dir_lock::{DirLock, LockError};
use crate::error::{Result, StorageError};
use crate::group_commit::{FlushFn, GroupCommit};
use crate::queue::PeekResult;
use crate::record::{Record, Seq};

/// The first sequence number of a new queue.
const FIRST_SEQ: Seq = 1;
/// Bytes before a record's body: CRC and length.
const FRAME_HEADER: usize = 8;
/// An event body's bytes before the payload: kind, seq, enqueued-at, ts.
const EVENT_FIXED: usize = 1 + 8 + 8 + 8;
const KIND_EVENT: u8 = 1;
const KIND_SETTLED: u8 = 2;
const KIND_SETTLED_RANGES: u8 = 3;
/// Seqs per settle record at most (keeps a body far below 4 GiB).
const SETTLE_CHUNK: usize = 1 << 20;
/// A segment file's name: 16 hex digits and this suffix.
const SEGMENT_SUFFIX: &str = ".log";

/// How a [`LogQueue`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// The current segment rotates once it holds this many bytes (default
    /// 8 MiB). Smaller segments free disk sooner; the in-memory index, not
    /// the segments, serves reads.
    pub segment_bytes: u64,
    /// Also `fdatasync` the written segments on every flush (default
    /// `false`: a flush is a `write(2)`, which survives a process crash but
    /// not a power loss).
    pub fsync: bool,
    /// The longest the flusher waits after the first unflushed write for
    /// more writes to share its flush (default 1 ms; it does not wait when
    /// every waiting caller has arrived, see `group_commit.rs`).
    pub max_flush_delay: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 8 * 1024 * 1024,
            fsync: false,
            max_flush_delay: Duration::from_millis(1),
        }
    }
}

impl LogOptions {
    /// These options with another segment size (at least 1 byte).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(1);
        self
    }

    /// These options with `fdatasync` on every flush, or without.
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// These options with another gathering delay.
    pub fn max_flush_delay(mut self, delay: Duration) -> Self {
        self.max_flush_delay = delay;
        self
    }
}

/// What [`LogQueue::open`] found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRecovery {
    /// Segment files read.
    pub segments: usize,
    /// Event records read (valid ones).
    pub events: u64,
    /// Events that a settle record read had settled.
    pub settled: u64,
    /// Bytes cut off the end of the last segment (a torn or damaged tail).
    pub torn_tail_bytes: u64,
    /// Damage found, one line each (torn tail included), for the caller's
    /// log.
    pub corrupt: Vec<String>,
    /// Dead segments found at open (the first flush, started at once,
    /// deletes them).
    pub deleted_segments: usize,
}

/// One segment's bookkeeping.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Its events not yet settled.
    live: u64,
    /// The smallest segment name that an event settled by one of its settle
    /// records lived in (`u64::MAX`: none). Deleting this segment would
    /// bring those events back if such a segment survived.
    settles_into: u64,
}

impl Segment {
    const fn new() -> Self {
        Self {
            live: 0,
            settles_into: u64::MAX,
        }
    }
}

/// Bytes queued for one segment.
struct Chunk {
    segment: u64,
    bytes: Vec<u8>,
}

/// One unsettled record.
struct Entry {
    enqueued_at_ms: u64,
    event_ts_ns: i64,
    payload: Box<[u8]>,
}

struct State {
    next_seq: Seq,
    /// The unsettled records.
    index: BTreeMap<Seq, Entry>,
    /// Every segment on disk (or about to be created), by name.
    segments: BTreeMap<u64, Segment>,
    /// The segment appended to.
    current: u64,
    /// Its size, written and queued.
    current_bytes: u64,
    /// Bytes not yet handed to the flusher, in log order.
    pending: Vec<Chunk>,
    /// An emptied buffer to reuse.
    spare: Vec<u8>,
    /// A failed flush put bytes back: the next write must request a flush
    /// even though `pending` is not empty.
    needs_request: bool,
    /// Some segment may have become deletable.
    maybe_dead: bool,
    /// Segments taken off `segments` whose deletion has not happened yet
    /// (a failed flush, or a failed unlink).
    doomed: Vec<u64>,
}

impl State {
    /// The segment `seq`'s event is in (its segment is present while the
    /// event is unsettled).
    fn segment_of(&self, seq: Seq) -> Option<u64> {
        self.segments.range(..=seq).next_back().map(|(&id, _)| id)
    }

    /// Queues `bytes` writer-side for the current segment. Returns whether
    /// a flush must be requested (nothing was queued, so no flush round is
    /// pending for these bytes).
    fn queue_bytes(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> bool {
        let must_request = self.pending.is_empty() || self.needs_request;
        self.needs_request = false;
        let current = self.current;
        if self.pending.last().map(|c| c.segment) != Some(current) {
            let bytes = std::mem::take(&mut self.spare);
            self.pending.push(Chunk {
                segment: current,
                bytes,
            });
        }
        let chunk = match self.pending.last_mut() {
            Some(chunk) => chunk,
            None => unreachable!("a chunk was just pushed"),
        };
        let before = chunk.bytes.len();
        encode(&mut chunk.bytes);
        self.current_bytes += (chunk.bytes.len() - before) as u64;
        must_request
    }

    /// Settles the present ones of `seqs` (sorted, unique): takes them off
    /// the index and the segments' live counts, and queues one settle record
    /// for them. Returns (how many, whether a flush must be requested).
    fn settle(&mut self, seqs: &[Seq]) -> (usize, bool) {
        let mut settled = Vec::with_capacity(seqs.len());
        let mut min_segment = u64::MAX;
        for &seq in seqs {
            if self.index.remove(&seq).is_none() {
                continue;
            }
            settled.push(seq);
            if let Some(id) = self.segment_of(seq) {
                min_segment = min_segment.min(id);
                if let Some(segment) = self.segments.get_mut(&id) {
                    segment.live = segment.live.saturating_sub(1);
                    if segment.live == 0 {
                        self.maybe_dead = true;
                    }
                }
            }
        }
        if settled.is_empty() {
            return (0, false);
        }
        let current = self.current;
        if let Some(segment) = self.segments.get_mut(&current) {
            segment.settles_into = segment.settles_into.min(min_segment);
        }
        let mut must_request = false;
        for part in settled.chunks(SETTLE_CHUNK) {
            must_request |= self.queue_bytes(|buf| encode_settled(buf, part));
        }
        (settled.len(), must_request)
    }

    /// Takes the dead segments off `segments` (not the current one, no
    /// unsettled event) and returns them, oldest first, for deletion once
    /// the bytes queued now are written.
    ///
    /// A dead segment may hold settle records for events of an older
    /// segment that survives (it has a live event): deleting it alone would
    /// bring those settled events back at the next open. For those, this
    /// queues (to be written before the deletion) one "settled ranges"
    /// record in the current segment that re-states, as ranges, every
    /// settled seq from the oldest such surviving segment up to the current
    /// segment: every seq in `[from, current)` that is not in the index
    /// (live seqs are the gaps). Its size is proportional to the live
    /// records, not to the settled ones, and it lets dead segments go
    /// without waiting for the oldest live record, so the disk holds the
    /// segments with live records plus the current one.
    fn take_deletable(&mut self) -> Vec<u64> {
        if !self.maybe_dead {
            return Vec::new();
        }
        self.maybe_dead = false;
        let mut newest_surviving: Option<u64> = None;
        let mut carry_from: Option<u64> = None;
        let mut dead = Vec::new();
        for (&id, segment) in &self.segments {
            if id != self.current && segment.live == 0 {
                if newest_surviving.is_some_and(|s| s >= segment.settles_into) {
                    let into = segment.settles_into;
                    carry_from = Some(carry_from.map_or(into, |c| c.min(into)));
                }
                dead.push(id);
            } else {
                newest_surviving = Some(id);
            }
        }
        for id in &dead {
            self.segments.remove(id);
        }
        if let Some(from) = carry_from {
            self.carry_settled(from);
        }
        dead
    }

    /// Queues a settled-ranges record for every seq in `[from, current)`
    /// not in the index (see [`State::take_deletable`]).
    fn carry_settled(&mut self, from: u64) {
        let to = self.current;
        let mut ranges = Vec::new();
        let mut lo = from;
        for &seq in self.index.range(from..to).map(|(seq, _)| seq) {
            if seq > lo {
                ranges.push((lo, seq));
            }
            lo = seq.saturating_add(1);
        }
        if lo < to {
            ranges.push((lo, to));
        }
        if ranges.is_empty() {
            return;
        }
        for part in ranges.chunks(SETTLE_CHUNK / 2) {
            // Written by the flush taking the bytes now: no request needed.
            self.queue_bytes(|buf| encode_settled_ranges(buf, part));
        }
        let current = self.current;
        if let Some(segment) = self.segments.get_mut(&current) {
            segment.settles_into = segment.settles_into.min(from);
        }
    }
}

/// What the flusher shares with writers.
struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    len: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before any
        // call that could panic, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Inner {
    // Declared first: dropped first, so the last flush runs while the
    // directory is still locked.
    commit: GroupCommit,
    shared: Arc<Shared>,
    corrupt_skipped: u64,
    recovery: LogRecovery,
    segment_bytes: u64,
    _lock: DirLock,
}

/// A write-ahead queue of byte records in a directory of log segments (see
/// the module docs). Cheap to clone; clones share the queue.
///
/// `append`, `remove`, `drop_older_than`, `peek_oldest` and `len` never
/// touch the disk (they take an in-memory lock). `flush` blocks until the
/// flusher wrote; `flush_async` never blocks.
#[derive(Clone)]
pub struct LogQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LogQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogQueue")
            .field("path", &self.inner.shared.dir)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl LogQueue {
    /// Opens (creating if needed) the queue in `dir`, recovers its
    /// unsettled records and starts its flusher thread.
    ///
    /// Fails with [`StorageError::LogLocked`] if another process or another
    /// open `LogQueue` holds the directory.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<LogQueue> {
        let dir = dir.as_ref().to_path_buf();
        let io = |op: &'static str| {
            let path = dir.clone();
            move |source| StorageError::LogIo { path, op, source }
        };
        std::fs::create_dir_all(&dir).map_err(io("create the directory"))?;
        let lock = DirLock::acquire(&dir).map_err(|e| match e {
            LockError::Busy => StorageError::LogLocked { path: dir.clone() },
            LockError::Io(source) => StorageError::LogIo {
                path: dir.clone(),
                op: "lock the directory",
                source,
            },
        })?;
        let segment_bytes = options.segment_bytes.max(1);
        let mut recovered = recover(&dir)?;
        // Continue the newest segment if it has room; otherwise start one
        // named after the next sequence number (never an existing name).
        let (current, current_bytes) = match recovered.segments.iter().next_back() {
            Some((&id, _)) if recovered.last_len < segment_bytes || id == recovered.next_seq => {
                (id, recovered.last_len)
            }
            _ => {
                let id = recovered.next_seq;
                create_segment(&dir, id, options.fsync)?;
                recovered.segments.insert(id, Segment::new());
                (id, 0)
            }
        };
        let len = recovered.index.len() as u64;
        let mut state = State {
            next_seq: recovered.next_seq,
            index: recovered.index,
            segments: recovered.segments,
            current,
            current_bytes,
            pending: Vec::new(),
            spare: Vec::new(),
            needs_request: false,
            maybe_dead: true,
            doomed: Vec::new(),
        };
        let mut report = recovered.report;
        // Dead segments found now are deleted by the first flush, right
        // after the flusher starts: with the same order of operations as
        // at run time (a settled-ranges record they need is written first).
        state.maybe_dead = true;
        state.doomed = state.take_deletable();
        report.deleted_segments = state.doomed.len();
        let flush_now = !state.doomed.is_empty() || !state.pending.is_empty();
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            state: Mutex::new(state),
            len: AtomicU64::new(len),
        });
        let mut writer = Writer {
            shared: Arc::clone(&shared),
            fsync: options.fsync,
            file: None,
            broken: false,
        };
        let flush: FlushFn = Box::new(move || writer.flush());
        let commit = GroupCommit::start(dir, options.max_flush_delay, flush)?;
        if flush_now {
            commit.request();
        }
        Ok(LogQueue {
            inner: Arc::new(Inner {
                commit,
                shared,
                corrupt_skipped: report.corrupt.len() as u64,
                recovery: report,
                segment_bytes,
                _lock: lock,
            }),
        })
    }

    /// Appends one record and returns its sequence number. Does not write
    /// or wait: the record is durable after a later [`LogQueue::flush`] (or
    /// `flush_async`), which covers it; the flusher writes it within about
    /// [`LogOptions::max_flush_delay`] anyway.
    pub fn append(&self, event_ts_ns: i64, payload: &[u8]) -> Result<Seq> {
        if payload.len() > u32::MAX as usize - EVENT_FIXED {
            return Err(StorageError::PayloadTooLarge {
                queue: self.inner.shared.dir.display().to_string(),
                len: payload.len(),
            });
        }
        let enqueued_at_ms = now_ms();
        let mut state = self.inner.shared.lock();
        if state.current_bytes >= self.segment_limit() && state.next_seq > state.current {
            // Rotate: the new segment's name is the seq about to be
            // assigned, so it is above every event of the old one.
            let id = state.next_seq;
            state.segments.insert(id, Segment::new());
            state.current = id;
            state.current_bytes = 0;
            state.maybe_dead = true;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let must_request = state.queue_bytes(|buf| {
            encode_event(buf, seq, enqueued_at_ms, event_ts_ns, payload);
        });
        let current = state.current;
        if let Some(segment) = state.segments.get_mut(&current) {
            segment.live += 1;
        }
        state.index.insert(
            seq,
            Entry {
                enqueued_at_ms,
                event_ts_ns,
                payload: payload.into(),
            },
        );
        self.inner.shared.len.fetch_add(1, Ordering::Release);
        if must_request {
            // Inside the lock: whoever later finds `pending` non-empty and
            // skips the request is covered by this one's flush round.
            self.inner.commit.request();
        }
        Ok(seq)
    }

    /// Settles the records with these sequence numbers: they leave the
    /// queue at once and one settle record listing them is queued for the
    /// flusher. Missing ones are ignored. Returns how many were settled.
    ///
    /// Durability is deferred: a crash before the next flush brings them
    /// back (a redelivery, never a loss).
    pub fn remove(&self, seqs: &[Seq]) -> Result<usize> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut state = self.inner.shared.lock();
        let (settled, must_request) = state.settle(&sorted);
        self.inner
            .shared
            .len
            .fetch_sub(settled as u64, Ordering::Release);
        if must_request {
            self.inner.commit.request();
        }
        Ok(settled)
    }

    /// Settles every record whose event timestamp is older than `cutoff_ns`
    /// (strictly: `event_ts_ns < cutoff_ns`). Returns how many. Scans the
    /// in-memory index; durability as for [`LogQueue::remove`].
    pub fn drop_older_than(&self, cutoff_ns: i64) -> Result<usize> {
        let mut state = self.inner.shared.lock();
        let old: Vec<Seq> = state
            .index
            .iter()
            .filter(|(_, entry)| entry.event_ts_ns < cutoff_ns)
            .map(|(&seq, _)| seq)
            .collect();
        if old.is_empty() {
            return Ok(0);
        }
        let (settled, must_request) = state.settle(&old);
        self.inner
            .shared
            .len
            .fetch_sub(settled as u64, Ordering::Release);
        if must_request {
            self.inner.commit.request();
        }
        Ok(settled)
    }

    /// Up to `n` oldest unsettled records, in sequence order, without
    /// settling them. `corrupt` is always empty: damage is found (and
    /// reported) at open, see [`LogQueue::recovery`].
    pub fn peek_oldest(&self, n: usize) -> Result<PeekResult> {
        let state = self.inner.shared.lock();
        let records = state
            .index
            .iter()
            .take(n)
            .map(|(&seq, entry)| Record {
                seq,
                enqueued_at_ms: entry.enqueued_at_ms,
                event_ts_ns: entry.event_ts_ns,
                payload: entry.payload.to_vec(),
            })
            .collect();
        Ok(PeekResult {
            records,
            corrupt: Vec::new(),
        })
    }

    /// Blocks until everything appended or settled before the call has
    /// been written to the OS (and synced, with [`LogOptions::fsync`]).
    /// Concurrent callers share one write. Fails with
    /// [`StorageError::FlushFailed`] if the write covering it failed; the
    /// bytes of a failed write are kept (the segment is cut back to its
    /// last good length) and written again by the next flush round, which
    /// the next append or removal starts.
    pub fn flush(&self) -> Result<()> {
        let ticket = self.inner.commit.current();
        self.inner.commit.wait(ticket)
    }

    /// [`LogQueue::flush`] without blocking: covers what was appended or
    /// settled before this call; the future resolves once the flusher wrote
    /// it, with the result `flush` would have returned. Neither the call nor
    /// polling blocks (the flusher wakes the task), so it may be awaited on
    /// an async executor's worker. Dropping it early is harmless.
    pub fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + Unpin + 'static {
        let ticket = self.inner.commit.current();
        self.inner.commit.wait_async(ticket)
    }

    /// How many records are unsettled (O(1)).
    pub fn len(&self) -> u64 {
        self.inner.shared.len.load(Ordering::Acquire)
    }

    /// Whether no record is unsettled (O(1)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Damaged regions skipped at open: torn tails truncated plus segments
    /// whose reading stopped at a damaged record. Details in
    /// [`LogQueue::recovery`].
    pub fn corrupt_skipped(&self) -> u64 {
        self.inner.corrupt_skipped
    }

    /// What the open found on disk.
    pub fn recovery(&self) -> &LogRecovery {
        &self.inner.recovery
    }

    /// The queue's directory.
    pub fn path(&self) -> &Path {
        &self.inner.shared.dir
    }

    /// The segments on disk (or about to be created), by name, oldest
    /// first. For tests and diagnostics.
    pub fn segments(&self) -> Vec<u64> {
        self.inner.shared.lock().segments.keys().copied().collect()
    }

    /// How many flushes the flusher performed.
    pub fn flush_count(&self) -> u64 {
        self.inner.commit.flush_count()
    }

    fn segment_limit(&self) -> u64 {
        self.inner.segment_bytes
    }
}

/// The open segment file the flusher appends to.
struct OpenSegment {
    id: u64,
    file: File,
    /// Its length as far as the flusher knows it is good.
    len: u64,
}

/// The flusher's side: owns the segment files' handles.
struct Writer {
    shared: Arc<Shared>,
    fsync: bool,
    file: Option<OpenSegment>,
    /// A write to the open file failed and truncating its tail back failed
    /// too: truncate before writing to it again.
    broken: bool,
}

impl Writer {
    /// The group-commit flush: takes every queued byte, writes it to its
    /// segments (one `write(2)` per segment touched), syncs if asked, then
    /// deletes the segments that were dead when the bytes were taken.
    ///
    /// Order, which is the crash-safety argument: a segment is deletable
    /// only if it is not the current one (no byte will ever be queued for
    /// it again) and has no unsettled event. Deletable segments are chosen
    /// under the same lock that takes the queued bytes (and the settled
    /// ranges record `take_deletable` may queue is taken with them), so
    /// every settle record that made one dead, and every byte of it, is in
    /// the bytes taken or written before; they are unlinked, oldest first,
    /// only after those bytes were written (and synced). A crash at any
    /// point therefore finds either the segment (with everything it had) or
    /// the records that made it unnecessary, and never a settled record
    /// without the record that settled it.
    fn flush(&mut self) -> Result<(), String> {
        let (chunks, doomed) = {
            let mut state = self.shared.lock();
            let mut doomed = std::mem::take(&mut state.doomed);
            // First: it may queue a settled-ranges record, which must be in
            // the bytes taken now.
            doomed.extend(state.take_deletable());
            let chunks = std::mem::take(&mut state.pending);
            (chunks, doomed)
        };
        let mut chunks = chunks.into_iter();
        let mut last_buffer = None;
        while let Some(chunk) = chunks.next() {
            if let Err(message) = self.write_chunk(&chunk) {
                // Nothing of this chunk counts as written (the file was cut
                // back to its good length): put it and the rest back first
                // in line, ahead of anything queued meanwhile.
                let mut state = self.shared.lock();
                let mut back: Vec<Chunk> = std::iter::once(chunk).chain(chunks).collect();
                back.append(&mut state.pending);
                state.pending = back;
                state.needs_request = true;
                state.doomed.extend(doomed);
                return Err(message);
            }
            last_buffer = Some(chunk.bytes);
        }
        if self.fsync {
            if let Some(open) = &self.file {
                // Written already: a failed sync is reported, not retried
                // by writing again; the dead segments wait for a good flush.
                if let Err(e) = open.file.sync_data() {
                    let message = format!("fdatasync of {}: {e}", self.path_of(open.id).display());
                    self.shared.lock().doomed.extend(doomed);
                    return Err(message);
                }
            }
        }
        let mut not_deleted = Vec::new();
        let mut failure = None;
        let mut doomed = doomed;
        // Oldest first: a crash between two unlinks never leaves a newer
        // dead segment's settled events' segment without its settles.
        doomed.sort_unstable();
        for id in doomed {
            if self.file.as_ref().map(|f| f.id) == Some(id) {
                self.file = None;
            }
            let path = self.path_of(id);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // After a failed unlink keep the newer ones too: their
                // settle records may be what keeps this one's events
                // settled.
                Err(e) if failure.is_none() => {
                    failure = Some(format!("deleting {}: {e}", path.display()));
                    not_deleted.push(id);
                }
                Err(_) => not_deleted.push(id),
            }
        }
        let mut state = self.shared.lock();
        state.doomed.extend(not_deleted);
        if let Some(mut buffer) = last_buffer {
            if state.spare.capacity() == 0 && buffer.capacity() <= 16 * 1024 * 1024 {
                buffer.clear();
                state.spare = buffer;
            }
        }
        drop(state);
        // The records are written; a failed unlink only leaks a dead file
        // (retried on the next flush, and found dead again at open).
        let _ = failure;
        Ok(())
    }

    fn path_of(&self, id: u64) -> PathBuf {
        segment_path(&self.shared.dir, id)
    }

    /// Writes one chunk to its segment; on failure cuts the file back to
    /// its good length so that no partial record stays in the middle.
    fn write_chunk(&mut self, chunk: &Chunk) -> Result<(), String> {
        if self.file.as_ref().map(|f| f.id) != Some(chunk.segment) {
            if let (true, Some(open)) = (self.fsync, &self.file) {
                open.file.sync_data().map_err(|e| {
                    format!("fdatasync of {}: {e}", self.path_of(open.id).display())
                })?;
            }
            self.file = None;
            self.broken = false;
            let path = self.path_of(chunk.segment);
            let existed = path.exists();
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("opening {}: {e}", path.display()))?;
            let len = file
                .metadata()
                .map_err(|e| format!("stat of {}: {e}", path.display()))?
                .len();
            if self.fsync && !existed {
                sync_dir(&self.shared.dir)
                    .map_err(|e| format!("fsync of {}: {e}", self.shared.dir.display()))?;
            }
            self.file = Some(OpenSegment {
                id: chunk.segment,
                file,
                len,
            });
        }
        let path = self.path_of(chunk.segment);
        let Some(open) = self.file.as_mut() else {
            return Err(format!("{}: segment not open", path.display()));
        };
        if self.broken {
            open.file
                .set_len(open.len)
                .map_err(|e| format!("truncating {}: {e}", path.display()))?;
            self.broken = false;
        }
        match open.file.write_all(&chunk.bytes) {
            Ok(()) => {
                open.len += chunk.bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                if open.file.set_len(open.len).is_err() {
                    self.broken = true;
                }
                Err(format!("writing {}: {e}", path.display()))
            }
        }
    }
}

/// What [`recover`] rebuilt.
struct Recovered {
    index: BTreeMap<Seq, Entry>,
    segments: BTreeMap<u64, Segment>,
    next_seq: Seq,
    /// The newest segment's length after any truncation.
    last_len: u64,
    report: LogRecovery,
}

/// One record read back.
enum Parsed<'a> {
    Event {
        seq: Seq,
        enqueued_at_ms: u64,
        event_ts_ns: i64,
        payload: &'a [u8],
    },
    /// The raw seqs, 8 bytes each.
    Settled(&'a [u8]),
    /// The raw ranges, `[lo, hi)` as two u64s each.
    SettledRanges(&'a [u8]),
}

/// Reads every segment of `dir` in order and rebuilds the state (see the
/// module docs, "Recovery").
fn recover(dir: &Path) -> Result<Recovered> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StorageError::LogIo { path, op, source }
    };
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("list the directory", dir))? {
        let entry = entry.map_err(io("list the directory", dir))?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_segment_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    let mut out = Recovered {
        index: BTreeMap::new(),
        segments: BTreeMap::new(),
        next_seq: FIRST_SEQ,
        last_len: 0,
        report: LogRecovery {
            segments: ids.len(),
            ..LogRecovery::default()
        },
    };
    for (i, &id) in ids.iter().enumerate() {
        let is_last = i + 1 == ids.len();
        let path = segment_path(dir, id);
        let data = std::fs::read(&path).map_err(io("read a segment", &path))?;
        out.next_seq = out.next_seq.max(id);
        out.segments.insert(id, Segment::new());
        let mut offset = 0usize;
        let mut damage = None;
        while offset < data.len() {
            let rest = data.get(offset..).unwrap_or_default();
            match parse_record(rest) {
                Ok((record, used)) => {
                    if let Err(reason) = apply(&mut out, id, record) {
                        damage = Some(reason);
                        break;
                    }
                    offset += used;
                }
                Err(reason) => {
                    damage = Some(reason);
                    break;
                }
            }
        }
        if let Some(reason) = damage {
            let skipped = (data.len() - offset) as u64;
            if is_last {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io("open the last segment to truncate it", &path))?;
                file.set_len(offset as u64)
                    .map_err(io("truncate the torn tail of the last segment", &path))?;
                out.report.torn_tail_bytes += skipped;
                out.report.corrupt.push(format!(
                    "log queue {}: truncated a torn or damaged tail of {skipped} bytes at offset \
                     {offset} of the last segment: {reason}",
                    path.display()
                ));
            } else {
                out.report.corrupt.push(format!(
                    "log queue {}: damaged record at offset {offset}: {reason}; the remaining \
                     {skipped} bytes of this segment were skipped",
                    path.display()
                ));
            }
        }
        if is_last {
            out.last_len = offset as u64;
        }
    }
    Ok(out)
}

/// Applies one record read from segment `id`.
fn apply(out: &mut Recovered, id: u64, record: Parsed<'_>) -> Result<(), String> {
    match record {
        Parsed::Event {
            seq,
            enqueued_at_ms,
            event_ts_ns,
            payload,
        } => {
            if seq < id {
                return Err(format!(
                    "event seq {seq} is below its segment's first seq {id}"
                ));
            }
            out.next_seq = out.next_seq.max(seq.saturating_add(1));
            out.report.events += 1;
            let entry = Entry {
                enqueued_at_ms,
                event_ts_ns,
                payload: payload.into(),
            };
            if out.index.insert(seq, entry).is_none() {
                if let Some(segment) = out.segments.get_mut(&id) {
                    segment.live += 1;
                }
            }
        }
        Parsed::Settled(raw) => {
            let seqs = raw.chunks_exact(8).filter_map(|bytes| le_u64(bytes, 0));
            settle_recovered(out, id, seqs);
        }
        Parsed::SettledRanges(raw) => {
            let mut seqs = Vec::new();
            for pair in raw.chunks_exact(16) {
                let (Some(lo), Some(hi)) = (le_u64(pair, 0), le_u64(pair, 8)) else {
                    continue;
                };
                seqs.extend(out.index.range(lo..hi.max(lo)).map(|(&seq, _)| seq));
            }
            settle_recovered(out, id, seqs.into_iter());
        }
    }
    Ok(())
}

/// Applies the seqs a settle record read from segment `id` lists.
fn settle_recovered(out: &mut Recovered, id: u64, seqs: impl Iterator<Item = Seq>) {
    let mut min_segment = u64::MAX;
    for seq in seqs {
        out.next_seq = out.next_seq.max(seq.saturating_add(1));
        if out.index.remove(&seq).is_none() {
            continue;
        }
        out.report.settled += 1;
        let Some(owner) = out.segments.range(..=seq).next_back().map(|(&s, _)| s) else {
            continue;
        };
        min_segment = min_segment.min(owner);
        if let Some(segment) = out.segments.get_mut(&owner) {
            segment.live = segment.live.saturating_sub(1);
        }
    }
    if let Some(segment) = out.segments.get_mut(&id) {
        segment.settles_into = segment.settles_into.min(min_segment);
    }
}

/// Decodes the record at the start of `buf`: the record and its size, or
/// why it is not a valid one.
fn parse_record(buf: &[u8]) -> Result<(Parsed<'_>, usize), String> {
    if buf.len() < FRAME_HEADER {
        return Err(format!(
            "torn record header ({} of {FRAME_HEADER} bytes)",
            buf.len()
        ));
    }
    let stored = le_u32(buf, 0).ok_or("unreadable crc")?;
    let len = le_u32(buf, 4).ok_or("unreadable length")? as usize;
    let end = FRAME_HEADER
        .checked_add(len)
        .filter(|&end| end <= buf.len())
        .ok_or_else(|| {
            format!(
                "record body of {len} bytes runs past the end of the file ({} bytes left)",
                buf.len() - FRAME_HEADER
            )
        })?;
    let covered = buf.get(4..end).ok_or("record out of bounds")?;
    let computed = crc32(covered);
    if stored != computed {
        return Err(format!(
            "checksum mismatch: stored crc32 {stored:#010x}, computed {computed:#010x}"
        ));
    }
    let body = buf.get(FRAME_HEADER..end).ok_or("record out of bounds")?;
    let parsed = match body.first() {
        Some(&KIND_EVENT) if body.len() >= EVENT_FIXED => Parsed::Event {
            seq: le_u64(body, 1).ok_or("unreadable seq")?,
            enqueued_at_ms: le_u64(body, 9).ok_or("unreadable enqueue time")?,
            event_ts_ns: le_u64(body, 17).ok_or("unreadable timestamp")? as i64,
            payload: body.get(EVENT_FIXED..).unwrap_or_default(),
        },
        Some(&KIND_SETTLED) if body.len() > 1 && (body.len() - 1) % 8 == 0 => {
            Parsed::Settled(body.get(1..).unwrap_or_default())
        }
        Some(&KIND_SETTLED_RANGES) if body.len() > 1 && (body.len() - 1) % 16 == 0 => {
            Parsed::SettledRanges(body.get(1..).unwrap_or_default())
        }
        Some(kind) => {
            return Err(format!(
                "record of kind {kind} with a body of {} bytes is not valid",
                body.len()
            ))
        }
        None => return Err("empty record body".to_owned()),
    };
    Ok((parsed, end))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let array: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(array))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let array: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(array))
}

/// Appends an event record to `buf`.
fn encode_event(buf: &mut Vec<u8>, seq: Seq, enqueued_at_ms: u64, ts: i64, payload: &[u8]) {
    let start = buf.len();
    // The caller checked that the payload fits.
    let len = (EVENT_FIXED + payload.len()) as u32;
    buf.reserve(FRAME_HEADER + EVENT_FIXED + payload.len());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.push(KIND_EVENT);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&enqueued_at_ms.to_le_bytes());
    buf.extend_from_slice(&ts.to_le_bytes());
    buf.extend_from_slice(payload);
    seal(buf, start);
}

/// Appends a settle record for `seqs` (at most [`SETTLE_CHUNK`]) to `buf`.
fn encode_settled(buf: &mut Vec<u8>, seqs: &[Seq]) {
    let start = buf.len();
    let len = (1 + 8 * seqs.len()) as u32;
    buf.reserve(FRAME_HEADER + len as usize);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.push(KIND_SETTLED);
    for seq in seqs {
        buf.extend_from_slice(&seq.to_le_bytes());
    }
    seal(buf, start);
}

/// Appends a settled-ranges record for `ranges` (`[lo, hi)` each, at most
/// [`SETTLE_CHUNK`] / 2 of them) to `buf`.
fn encode_settled_ranges(buf: &mut Vec<u8>, ranges: &[(Seq, Seq)]) {
    let start = buf.len();
    let len = (1 + 16 * ranges.len()) as u32;
    buf.reserve(FRAME_HEADER + len as usize);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.push(KIND_SETTLED_RANGES);
    for (lo, hi) in ranges {
        buf.extend_from_slice(&lo.to_le_bytes());
        buf.extend_from_slice(&hi.to_le_bytes());
    }
    seal(buf, start);
}

/// Writes the CRC of the record starting at `start` into its first bytes.
fn seal(buf: &mut [u8], start: usize) {
    let crc = crc32(buf.get(start + 4..).unwrap_or_default());
    if let Some(slot) = buf.get_mut(start..start + 4) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}{SEGMENT_SUFFIX}"))
}

/// The first seq a segment file's name encodes, if it is one.
fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
    if stem.len() != 16 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(stem, 16).ok()
}

fn create_segment(dir: &Path, id: u64, fsync: bool) -> Result<()> {
    let path = segment_path(dir, id);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| StorageError::LogIo {
            path: path.clone(),
            op: "create a segment",
            source,
        })?;
    if fsync {
        sync_dir(dir).map_err(|source| StorageError::LogIo {
            path: dir.to_path_buf(),
            op: "fsync the directory",
            source,
        })?;
    }
    Ok(())
}

/// Makes a directory's entries (a created segment) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Vec<u8> {
        let mut buf = Vec::new();
        encode_event(&mut buf, 42, 1_700_000_000_000, -7, b"payload bytes");
        buf
    }

    #[test]
    fn records_round_trip() {
        let mut buf = event();
        encode_settled(&mut buf, &[1, 42, u64::MAX]);
        let (first, used) = parse_record(&buf).expect("event");
        match first {
            Parsed::Event {
                seq,
                enqueued_at_ms,
                event_ts_ns,
                payload,
            } => assert_eq!(
                (seq, enqueued_at_ms, event_ts_ns, payload),
                (42, 1_700_000_000_000, -7, &b"payload bytes"[..])
            ),
            _ => panic!("expected an event"),
        }
        let (second, used2) = parse_record(&buf[used..]).expect("settled");
        assert_eq!(used + used2, buf.len());
        match second {
            Parsed::Settled(raw) => {
                let seqs: Vec<u64> = raw.chunks_exact(8).filter_map(|b| le_u64(b, 0)).collect();
                assert_eq!(seqs, vec![1, 42, u64::MAX]);
            }
            _ => panic!("expected a settle record"),
        }
        let mut ranges = Vec::new();
        encode_settled_ranges(&mut ranges, &[(1, 5), (7, 1 << 40)]);
        match parse_record(&ranges).expect("ranges") {
            (Parsed::SettledRanges(raw), used) => {
                assert_eq!(used, ranges.len());
                let values: Vec<u64> = raw.chunks_exact(8).filter_map(|b| le_u64(b, 0)).collect();
                assert_eq!(values, vec![1, 5, 7, 1 << 40]);
            }
            _ => panic!("expected a settled-ranges record"),
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected_without_panic() {
        let good = event();
        for len in 0..good.len() {
            assert!(parse_record(&good[..len]).is_err(), "length {len}");
        }
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                // A flipped length may still frame a shorter valid-looking
                // region only if its CRC matches, which it does not.
                assert!(parse_record(&bad).is_err(), "byte {i} bit {bit:#x}");
            }
        }
        assert!(parse_record(&[0xff; 64]).is_err());
    }

    #[test]
    fn segment_names() {
        assert_eq!(parse_segment_name("000000000000002a.log"), Some(42));
        assert_eq!(parse_segment_name("2a.log"), None);
        assert_eq!(parse_segment_name("000000000000002a.tmp"), None);
        assert_eq!(parse_segment_name("LOCK"), None);
        assert_eq!(
            segment_path(Path::new("/q"), 42),
            PathBuf::from("/q/000000000000002a.log")
        );
    }
}
