//! The in-memory state of a write-ahead log: the unsettled records, the
//! bookkeeping of every segment (live events, which older segments its
//! settle records point into) and the bytes queued for the flusher. It
//! decides which segments are dead and queues the records that must be
//! written before one is deleted; it does no I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::format::{encode_settled, encode_settled_ranges, SETTLE_CHUNK};
use super::index::Index;
use crate::record::Seq;

/// One segment's bookkeeping.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    /// Its events not yet settled.
    pub(super) live: u64,
    /// The smallest segment name that an event settled by one of its settle
    /// records lived in (`u64::MAX`: none). Deleting this segment would
    /// bring those events back if such a segment survived.
    pub(super) settles_into: u64,
}

impl Segment {
    pub(super) const fn new() -> Self {
        Self {
            live: 0,
            settles_into: u64::MAX,
        }
    }
}

/// Bytes queued for one segment.
pub(super) struct Chunk {
    pub(super) segment: u64,
    pub(super) bytes: Vec<u8>,
}

pub(super) struct State {
    pub(super) next_seq: Seq,
    /// The unsettled records (in memory, or where they are on disk).
    pub(super) index: Index,
    /// Every segment on disk (or about to be created), by name.
    pub(super) segments: BTreeMap<u64, Segment>,
    /// The segment appended to.
    pub(super) current: u64,
    /// Its size, written and queued.
    pub(super) current_bytes: u64,
    /// Bytes not yet handed to the flusher, in log order.
    pub(super) pending: Vec<Chunk>,
    /// Their total size: bounded by [`super::LogOptions::max_unwritten_bytes`]
    /// for appends, so a disk that keeps failing cannot make them grow
    /// without bound.
    pub(super) pending_bytes: u64,
    /// Why the last write failed, while no write has succeeded since.
    pub(super) write_error: Option<String>,
    /// An emptied buffer to reuse.
    pub(super) spare: Vec<u8>,
    /// A failed flush put bytes back: the next write must request a flush
    /// even though `pending` is not empty.
    pub(super) needs_request: bool,
    /// Some segment may have become deletable.
    pub(super) maybe_dead: bool,
    /// Segments taken off `segments` whose deletion has not happened yet
    /// (a failed flush, or a failed unlink).
    pub(super) doomed: Vec<u64>,
}

impl State {
    /// The segment `seq`'s event is in (its segment is present while the
    /// event is unsettled).
    pub(super) fn segment_of(&self, seq: Seq) -> Option<u64> {
        self.segments.range(..=seq).next_back().map(|(&id, _)| id)
    }

    /// Queues `bytes` writer-side for the current segment. Returns whether
    /// a flush must be requested (nothing was queued, so no flush round is
    /// pending for these bytes).
    pub(super) fn queue_bytes(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> bool {
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
        let added = (chunk.bytes.len() - before) as u64;
        self.current_bytes += added;
        self.pending_bytes += added;
        must_request
    }

    /// Settles the present ones of `seqs` (sorted, unique): takes them off
    /// the index and the segments' live counts, and queues one settle record
    /// for them. Returns (how many, whether a flush must be requested).
    pub(super) fn settle(&mut self, seqs: &[Seq]) -> (usize, bool) {
        let mut settled = Vec::with_capacity(seqs.len());
        let mut min_segment = u64::MAX;
        for &seq in seqs {
            if !self.index.remove(seq) {
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
    pub(super) fn take_deletable(&mut self) -> Vec<u64> {
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
        for &id in &dead {
            let next = self.segments.range(id + 1..).next().map(|(&next, _)| next);
            self.index.forget_segment(id, next);
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
    pub(super) fn carry_settled(&mut self, from: u64) {
        let ranges = self.index.gaps_in(from, self.current);
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
pub(super) struct Shared {
    pub(super) dir: PathBuf,
    pub(super) state: Mutex<State>,
    pub(super) len: AtomicU64,
    /// Flushes whose write (or sync) failed.
    pub(super) write_failures: AtomicU64,
    /// Dead segments whose unlink failed (each retried by a later flush).
    pub(super) delete_failures: AtomicU64,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before any
        // call that could panic, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
