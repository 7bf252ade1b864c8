//! A write-ahead queue whose per-record cost is an append to a log.
//!
//! Exists because the sled-backed [`crate::Queue`] costs one B-tree insert
//! and one B-tree remove per record (about 15 µs of CPU per event on a small
//! machine), which caps write-ahead delivery far below the non-durable path.
//! A [`LogQueue`] instead appends a small record to an in-memory buffer that
//! one flusher thread writes to a segment file with a single `write(2)` per
//! group commit, and settles (removes) records by appending one more record
//! that lists their sequence numbers. By default reads never touch the
//! disk: the unsettled records are kept in memory. With
//! [`LogOptions::records_on_disk`] only where they are is kept, and reads
//! go to the segments: the engine's retry and spill queues, which may hold
//! millions of records, are such logs.
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
//! By default every unsettled record (payload included) stays in memory
//! until settled, so the memory used is bounded only by what the caller
//! keeps in flight: the engine's per-plugin in-flight limits bound it in
//! write-ahead mode.
//!
//! With [`LogOptions::records_on_disk`] (see `index.rs`) the memory is:
//! one entry per *run* of consecutive unsettled seqs (a FIFO that is
//! appended at one end and settled at the other is one run, whatever its
//! length; each record settled between two unsettled ones adds one), one
//! mark (seq and offset, about 16 bytes plus the map's overhead) per 256
//! events of each segment still on disk, and per segment its bookkeeping
//! and oldest event timestamp. 2 M records of 300 bytes are one run and
//! about 7 800 marks. [`LogQueue::peek_from`] then flushes what was
//! appended (so it is in the files) and reads forward from the mark at or
//! below the first wanted seq, at most 255 events before it, skipping
//! settled records; a record that cannot be read back (damaged or missing
//! after the open) is settled and returned in [`PeekResult::corrupt`], and
//! the read goes on from the next mark. [`LogQueue::drop_older_than`] reads
//! only the segments whose oldest timestamp is below the cutoff. Appends,
//! removals and [`LogQueue::len`] stay in memory, as by default.
//!
//! # On disk
//!
//! The directory (`0700`) holds `LOCK` (the `flock`ed lock file) and
//! segments (`0600`, like the lock file) named
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
//! earlier segment ends that segment too (the rest of it is unreadable;
//! reported in [`LogRecovery::corrupt`]): its bytes from there on are moved
//! aside to `<name>.damaged`, so a later open reads exactly what this one
//! did. An event is damage too when its seq lies outside its segment's
//! range (from the segment's name up to the next segment's name), which the
//! writer never produces. Both count in [`LogQueue::corrupt_skipped`];
//! nothing panics, and a second open recovers what the first did (the
//! `log_recovery` fuzz target checks it). The unsettled records are
//! the events minus the settled sequence numbers; the next sequence number
//! is one above the largest seen, and at least the newest segment's name —
//! the current segment is never deleted, so its name keeps the sequence
//! from going back even when every record was settled. No sequence number
//! above [`crate::MAX_SEQ`] is ever assigned: a segment named above it is
//! moved aside unread (`<name>.quarantined`), and a record naming such a
//! seq is skipped; both are reported, so crafted or corrupt data can never
//! push the next sequence number to overflow (see `recovery.rs`).
//!
//! # Layout of this module
//!
//! As Vector's `disk_v2` buffer, one concern per file, each testable alone:
//! `format.rs` (the bytes of a record and of a segment's name), `index.rs`
//! (the unsettled records, in memory or as runs and marks), `state.rs`
//! (the index, the segments' bookkeeping and the bytes queued for the
//! flusher), `writer.rs` (the flusher: writes, syncs, deletes dead
//! segments), `reader.rs` (reading records back from a segment) and
//! `recovery.rs` (rebuilding the state from the segments at open). This
//! file holds the public API.

pub(crate) mod format;
mod index;
mod reader;
mod recovery;
mod state;
mod writer;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dir_lock::{DirLock, LockError};
use crate::error::{CorruptRecord, Result, StorageError};
use crate::group_commit::{FlushFn, GroupCommit};
use crate::queue::PeekResult;
use crate::record::{DecodeError, Record, Seq, MAX_SEQ};

use format::{encode_event, segment_path, EVENT_FIXED, FRAME_HEADER};
use index::NewEvent;
use reader::{in_order, SegmentReader, Step};
use recovery::recover;
use state::{Segment, Shared, State};
use writer::{create_segment, Writer};

/// The first sequence number of a new queue.
const FIRST_SEQ: Seq = 1;

/// How a [`LogQueue`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// The current segment rotates once it holds this many bytes (default
    /// 8 MiB). Smaller segments free disk sooner.
    pub segment_bytes: u64,
    /// Keep only where the unsettled records are, not the records, in
    /// memory, and read them back from the segments (default `false`: every
    /// unsettled record is kept in memory and reads never touch the disk).
    /// For a backlog that may grow to millions of records: see "Memory" in
    /// the module docs.
    pub records_on_disk: bool,
    /// Also `fdatasync` the written segments on every flush (default
    /// `false`: a flush is a `write(2)`, which survives a process crash but
    /// not a power loss).
    pub fsync: bool,
    /// The longest the flusher waits after the first unflushed write for
    /// more writes to share its flush (default 1 ms; it does not wait when
    /// every waiting caller has arrived, see `group_commit.rs`).
    pub max_flush_delay: Duration,
    /// The most bytes of appended records held in memory waiting to be
    /// written (default 64 MiB). Past it, [`LogQueue::append`] fails with
    /// [`StorageError::LogBacklogFull`] instead of buffering more: when the
    /// disk is full or failing, every failed write keeps its bytes for the
    /// next attempt, and without a bound they would grow with every append.
    pub max_unwritten_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 8 * 1024 * 1024,
            records_on_disk: false,
            fsync: false,
            max_flush_delay: Duration::from_millis(1),
            max_unwritten_bytes: 64 * 1024 * 1024,
        }
    }
}

impl LogOptions {
    /// These options with another segment size (at least 1 byte).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(1);
        self
    }

    /// These options with the unsettled records kept on disk (only their
    /// positions in memory), or in memory.
    pub fn records_on_disk(mut self, on_disk: bool) -> Self {
        self.records_on_disk = on_disk;
        self
    }

    /// These options with `fdatasync` on every flush, or without.
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// These options with another bound on unwritten bytes (at least 1).
    pub fn max_unwritten_bytes(mut self, bytes: u64) -> Self {
        self.max_unwritten_bytes = bytes.max(1);
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
    /// Segments named above [`crate::MAX_SEQ`], renamed aside
    /// (`<name>.quarantined`) unread; each is also a line of `corrupt`.
    pub quarantined_segments: usize,
}

/// What a read of one segment found.
struct SegmentScan {
    records: Vec<Record>,
    /// The last damage met, if any.
    damage: Option<String>,
}

struct Inner {
    // Declared first: dropped first, so the last flush runs while the
    // directory is still locked.
    commit: GroupCommit,
    shared: Arc<Shared>,
    corrupt_skipped: u64,
    /// Records settled because they could not be read back.
    lost: AtomicU64,
    recovery: LogRecovery,
    segment_bytes: u64,
    max_unwritten_bytes: u64,
    _lock: DirLock,
}

/// A write-ahead queue of byte records in a directory of log segments (see
/// the module docs). Cheap to clone; clones share the queue.
///
/// `append`, `remove` and `len` never touch the disk (they take an
/// in-memory lock); nor do `drop_older_than` and `peek_oldest` unless
/// [`LogOptions::records_on_disk`] is set, when they flush and read the
/// segments. `flush` blocks until the flusher wrote; `flush_async` never
/// blocks.
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
        crate::private::create_private_dir(&dir).map_err(io("create the directory (0700)"))?;
        let lock = DirLock::acquire(&dir).map_err(|e| match e {
            LockError::Busy => StorageError::LogLocked { path: dir.clone() },
            LockError::Io(source) => StorageError::LogIo {
                path: dir.clone(),
                op: "lock the directory",
                source,
            },
        })?;
        let segment_bytes = options.segment_bytes.max(1);
        crate::private::narrow_tree(&dir).map_err(io("make the segments owner-only (0600)"))?;
        let mut recovered = recover(&dir, options.records_on_disk)?;
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
        let len = recovered.index.len();
        let mut state = State {
            next_seq: recovered.next_seq,
            index: recovered.index,
            segments: recovered.segments,
            current,
            current_bytes,
            pending: Vec::new(),
            pending_bytes: 0,
            write_error: None,
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
            write_failures: AtomicU64::new(0),
            delete_failures: AtomicU64::new(0),
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
                lost: AtomicU64::new(0),
                recovery: report,
                segment_bytes,
                max_unwritten_bytes: options.max_unwritten_bytes.max(1),
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
        if state.next_seq > MAX_SEQ {
            return Err(StorageError::SequenceExhausted {
                path: self.inner.shared.dir.clone(),
                queue: "log queue".into(),
            });
        }
        let record_bytes = (FRAME_HEADER + EVENT_FIXED + payload.len()) as u64;
        if state.pending_bytes > 0
            && state.pending_bytes + record_bytes > self.inner.max_unwritten_bytes
        {
            return Err(StorageError::LogBacklogFull {
                path: self.inner.shared.dir.clone(),
                unwritten: state.pending_bytes,
                max: self.inner.max_unwritten_bytes,
                last_write_error: state.write_error.clone(),
            });
        }
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
        // At most MAX_SEQ (checked above), so this cannot overflow.
        state.next_seq = seq + 1;
        let offset = state.current_bytes;
        let must_request = state.queue_bytes(|buf| {
            encode_event(buf, seq, enqueued_at_ms, event_ts_ns, payload);
        });
        let current = state.current;
        if let Some(segment) = state.segments.get_mut(&current) {
            segment.live += 1;
        }
        state.index.insert(NewEvent {
            seq,
            segment: current,
            offset,
            enqueued_at_ms,
            event_ts_ns,
            payload,
        });
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
    /// in-memory index, or, with [`LogOptions::records_on_disk`], reads the
    /// segments that may hold such a record; durability as for
    /// [`LogQueue::remove`].
    pub fn drop_older_than(&self, cutoff_ns: i64) -> Result<usize> {
        let mut state = self.inner.shared.lock();
        let old: Vec<Seq> = match state.index.memory() {
            Some(map) => map
                .iter()
                .filter(|(_, entry)| entry.event_ts_ns < cutoff_ns)
                .map(|(&seq, _)| seq)
                .collect(),
            None => {
                drop(state);
                self.flush()?;
                state = self.inner.shared.lock();
                self.old_on_disk(&mut state, cutoff_ns)?
            }
        };
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

    /// The unsettled records older than `cutoff_ns`, read from the segments
    /// whose oldest indexed timestamp is below it (each segment's bound is
    /// tightened on the way, so later calls skip it). A segment that cannot
    /// be read whole is left for `peek_from`, which reports what it lost.
    fn old_on_disk(&self, state: &mut State, cutoff_ns: i64) -> Result<Vec<Seq>> {
        let mut old = Vec::new();
        let ids: Vec<(u64, Option<u64>)> = state
            .segments
            .keys()
            .map(|&id| {
                let next = state.segments.range(id + 1..).next().map(|(&n, _)| n);
                (id, next)
            })
            .collect();
        for (id, next) in ids {
            let Some(disk) = state.index.disk() else {
                break;
            };
            if disk.oldest_ts(id).is_none_or(|ts| ts >= cutoff_ns) {
                continue;
            }
            let path = segment_path(&self.inner.shared.dir, id);
            let io = |source| StorageError::LogIo {
                path: path.clone(),
                op: "read a segment",
                source,
            };
            let Some(mut reader) = SegmentReader::open(&path, 0).map_err(io)? else {
                continue;
            };
            let mut oldest_left: Option<i64> = None;
            let mut last = None;
            let mut whole = true;
            loop {
                match reader.next_step().map_err(io)? {
                    Step::Event(event) => {
                        let in_segment = event.seq >= id && next.is_none_or(|n| event.seq < n);
                        if !in_order(&mut last, event.seq)
                            || !in_segment
                            || !state.index.contains(event.seq)
                        {
                            continue;
                        }
                        if event.event_ts_ns < cutoff_ns {
                            old.push(event.seq);
                        } else {
                            oldest_left = Some(
                                oldest_left.map_or(event.event_ts_ns, |t| t.min(event.event_ts_ns)),
                            );
                        }
                    }
                    Step::Other => {}
                    Step::End => break,
                    Step::Damaged { .. } => {
                        whole = false;
                        break;
                    }
                }
            }
            if whole {
                if let Some(disk) = state.index.disk_mut() {
                    disk.set_oldest_ts(id, oldest_left);
                }
            }
        }
        Ok(old)
    }

    /// Up to `n` oldest unsettled records, in sequence order, without
    /// settling them. `corrupt` is always empty: damage is found (and
    /// reported) at open, see [`LogQueue::recovery`].
    pub fn peek_oldest(&self, n: usize) -> Result<PeekResult> {
        self.peek_from(0, n)
    }

    /// Up to `n` unsettled records with a sequence number of at least
    /// `from`, in sequence order, without settling them.
    ///
    /// With [`LogOptions::records_on_disk`] it first waits for the records
    /// appended so far to be written (a flush, which fails as
    /// [`LogQueue::flush`] does), then reads them from the segments. A
    /// record that cannot be read back (the segment was damaged or cut
    /// after it was written) is settled and reported in
    /// [`PeekResult::corrupt`], once.
    pub fn peek_from(&self, from: Seq, n: usize) -> Result<PeekResult> {
        let state = self.inner.shared.lock();
        let Some(map) = state.index.memory() else {
            drop(state);
            return self.peek_on_disk(from, n);
        };
        let records = map
            .range(from..)
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

    /// [`LogQueue::peek_from`] for records kept on disk: segment by
    /// segment, from the mark nearest below the first wanted seq, forward.
    fn peek_on_disk(&self, from: Seq, n: usize) -> Result<PeekResult> {
        // Every record appended before the flush is in its segment file
        // after it; later ones may not be yet, and are not lost if unread.
        let written_below = self.inner.shared.lock().next_seq;
        self.flush()?;
        let mut state = self.inner.shared.lock();
        let mut records = Vec::new();
        let mut lost = Vec::new();
        let mut damage = Vec::new();
        let mut cursor = from;
        while records.len() < n {
            let Some(disk) = state.index.disk() else {
                break;
            };
            let Some(first) = disk.first_live_from(cursor) else {
                break;
            };
            let Some(segment) = state.segment_of(first) else {
                // An unsettled seq with no segment: the writer never makes
                // one; settle it rather than loop.
                lost.push(first);
                cursor = first + 1;
                continue;
            };
            let end = state
                .segments
                .range(segment + 1..)
                .next()
                .map_or(Seq::MAX, |(&next, _)| next);
            let scan = self.read_segment(&state, segment, first, end, n - records.len())?;
            let complete = scan.records.len() < n - records.len();
            let mut found = scan.records.iter().map(|r| r.seq).peekable();
            if complete {
                // The whole segment was read: what was written and not found
                // is lost.
                let written_end = end.min(written_below);
                if let Some(disk) = state.index.disk() {
                    for seq in disk.live_runs(first, written_end).flat_map(|(a, b)| a..b) {
                        while found.next_if(|&f| f < seq).is_some() {}
                        if found.next_if_eq(&seq).is_none() {
                            lost.push(seq);
                        }
                    }
                }
                if let Some(reason) = scan.damage {
                    damage.push((segment, reason));
                }
            }
            records.extend(scan.records);
            cursor = end;
            if end == Seq::MAX {
                break;
            }
        }
        let mut corrupt = Vec::new();
        if !lost.is_empty() {
            let why = damage
                .iter()
                .map(|(segment, reason)| {
                    format!(
                        "{}: {reason}",
                        segment_path(&self.inner.shared.dir, *segment).display()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let why = if why.is_empty() {
                "its record is missing from its segment".to_owned()
            } else {
                why
            };
            for &seq in &lost {
                corrupt.push(CorruptRecord {
                    queue: self.inner.shared.dir.display().to_string(),
                    seq: Some(seq),
                    key: seq.to_be_bytes().to_vec(),
                    stored_len: 0,
                    reason: DecodeError::Unreadable {
                        reason: why.clone(),
                    },
                });
            }
            let (settled, must_request) = state.settle(&lost);
            self.inner
                .shared
                .len
                .fetch_sub(settled as u64, Ordering::Release);
            self.inner.lost.fetch_add(settled as u64, Ordering::Relaxed);
            if must_request {
                self.inner.commit.request();
            }
        }
        Ok(PeekResult { records, corrupt })
    }

    /// Reads up to `n` unsettled records of `segment` with a seq in
    /// `[first, end)`. On damage it goes on from the next mark past it, so
    /// one bad record costs the records up to that mark, not the segment.
    fn read_segment(
        &self,
        state: &State,
        segment: u64,
        first: Seq,
        end: Seq,
        n: usize,
    ) -> Result<SegmentScan> {
        let mut scan = SegmentScan {
            records: Vec::new(),
            damage: None,
        };
        let Some(disk) = state.index.disk() else {
            return Ok(scan);
        };
        let path = segment_path(&self.inner.shared.dir, segment);
        let io = |source| StorageError::LogIo {
            path: path.clone(),
            op: "read a segment",
            source,
        };
        let Some(mut reader) =
            SegmentReader::open(&path, disk.start_offset(segment, first)).map_err(io)?
        else {
            scan.damage = Some("the segment file is missing".to_owned());
            return Ok(scan);
        };
        let mut last: Option<Seq> = None;
        while scan.records.len() < n {
            match reader.next_step().map_err(io)? {
                Step::Event(event) => {
                    let seq = event.seq;
                    if !in_order(&mut last, seq) {
                        continue;
                    }
                    if seq < first || seq >= end || !state.index.contains(seq) {
                        continue;
                    }
                    scan.records.push(Record {
                        seq,
                        enqueued_at_ms: event.enqueued_at_ms,
                        event_ts_ns: event.event_ts_ns,
                        payload: event.payload.to_vec(),
                    });
                }
                Step::Other => {}
                Step::End => break,
                Step::Damaged { offset, reason } => {
                    scan.damage = Some(format!("damaged record at offset {offset}: {reason}"));
                    // Resume at the first mark past the damage.
                    let resume = disk
                        .marks_after(segment, offset, end)
                        .filter(|&(seq, _)| last.is_none_or(|l| seq > l));
                    match resume {
                        Some((seq, at)) => {
                            last = seq.checked_sub(1);
                            reader.seek(at).map_err(io)?;
                        }
                        None => break,
                    }
                }
            }
        }
        Ok(scan)
    }

    /// Blocks until everything appended or settled before the call has
    /// been written to the OS (and synced, with [`LogOptions::fsync`]).
    /// Concurrent callers share one write. Fails with
    /// [`StorageError::FlushFailed`] if the write covering it failed; the
    /// bytes of a failed write are kept (the segment is cut back to its
    /// last good length) and written again by the next flush round, which
    /// the next append or removal starts.
    pub fn flush(&self) -> Result<()> {
        let ticket = self.flush_ticket();
        self.inner.commit.wait(ticket)
    }

    /// The flush round a flush waits for: the latest one, or a new one when
    /// a failed write left bytes that no round is pending for yet (so a
    /// flush after a failure tries the write again).
    fn flush_ticket(&self) -> crate::group_commit::Ticket {
        let mut state = self.inner.shared.lock();
        if state.needs_request {
            state.needs_request = false;
            return self.inner.commit.request();
        }
        self.inner.commit.current()
    }

    /// [`LogQueue::flush`] without blocking: covers what was appended or
    /// settled before this call; the future resolves once the flusher wrote
    /// it, with the result `flush` would have returned. Neither the call nor
    /// polling blocks (the flusher wakes the task), so it may be awaited on
    /// an async executor's worker. Dropping it early is harmless.
    pub fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + Unpin + 'static {
        let ticket = self.flush_ticket();
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

    /// Damaged regions skipped at open (torn tails truncated plus segments
    /// whose reading stopped at a damaged record; details in
    /// [`LogQueue::recovery`]), plus records that a read of a log with
    /// [`LogOptions::records_on_disk`] could not read back since.
    pub fn corrupt_skipped(&self) -> u64 {
        self.inner.corrupt_skipped + self.inner.lost.load(Ordering::Relaxed)
    }

    /// Entries the queue's index holds in memory: one per unsettled record
    /// (payload included), or, with [`LogOptions::records_on_disk`], one
    /// per run of consecutive unsettled records plus one per 256 records
    /// appended to a segment still on disk. For tests and diagnostics.
    pub fn resident_entries(&self) -> u64 {
        self.inner.shared.lock().index.resident_entries()
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

    /// Flushes whose write or sync failed (a full or failing disk). Their
    /// bytes are kept and written again by a later flush.
    pub fn write_failures(&self) -> u64 {
        self.inner.shared.write_failures.load(Ordering::Relaxed)
    }

    /// Why the last write failed, while no write has succeeded since.
    pub fn last_write_error(&self) -> Option<String> {
        self.inner.shared.lock().write_error.clone()
    }

    /// Bytes of records and settle marks waiting to be written (bounded by
    /// [`LogOptions::max_unwritten_bytes`] for appends).
    pub fn unwritten_bytes(&self) -> u64 {
        self.inner.shared.lock().pending_bytes
    }

    /// Flushes at which deleting a dead segment failed (retried later).
    pub fn delete_failures(&self) -> u64 {
        self.inner.shared.delete_failures.load(Ordering::Relaxed)
    }

    /// How many flushes the flusher performed.
    pub fn flush_count(&self) -> u64 {
        self.inner.commit.flush_count()
    }

    fn segment_limit(&self) -> u64 {
        self.inner.segment_bytes
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
