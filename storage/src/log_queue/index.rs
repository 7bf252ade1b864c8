//! Which records of a log are unsettled, and where their bytes are.
//!
//! A log keeps its unsettled records in one of two ways
//! ([`super::LogOptions::records_on_disk`]):
//!
//! - **In memory** ([`Index::Memory`]): every unsettled record, payload
//!   included, in a map. Reads never touch the disk. For the write-ahead
//!   queue, whose records are settled within moments and whose size the
//!   in-flight limits bound.
//! - **On disk** ([`Index::Disk`]): only the *runs* of unsettled sequence
//!   numbers (`[lo, hi)` intervals) and, every [`MARK_EVERY`] events, a mark
//!   (the event's seq and its offset in its segment). A read seeks to the
//!   nearest mark and reads forward. For backlogs that can grow to millions
//!   of records (retry and spill queues): the memory is one run per stretch
//!   of consecutive unsettled records plus 16 bytes per `MARK_EVERY`
//!   records, instead of every payload.
//!
//! Pure bookkeeping, no I/O: the reads are in `reader.rs`.

use std::collections::BTreeMap;

use crate::record::Seq;

/// A mark is kept for one event in this many (and for the first event of
/// every segment): a read from any seq parses at most this many events
/// before reaching it.
pub(super) const MARK_EVERY: u64 = 256;

/// One unsettled record held in memory.
pub(super) struct Entry {
    pub(super) enqueued_at_ms: u64,
    pub(super) event_ts_ns: i64,
    pub(super) payload: Box<[u8]>,
}

/// An event being indexed: what an append or the recovery knows of it.
pub(super) struct NewEvent<'a> {
    pub(super) seq: Seq,
    /// The segment it is in, and its offset there.
    pub(super) segment: u64,
    pub(super) offset: u64,
    pub(super) enqueued_at_ms: u64,
    pub(super) event_ts_ns: i64,
    pub(super) payload: &'a [u8],
}

/// The unsettled records (see the module docs).
pub(super) enum Index {
    Memory(BTreeMap<Seq, Entry>),
    Disk(DiskIndex),
}

/// The on-disk residency's bookkeeping.
#[derive(Default)]
pub(super) struct DiskIndex {
    /// Runs of unsettled seqs: `lo -> hi`, `[lo, hi)`, disjoint and not
    /// adjacent (adjacent runs are merged).
    runs: BTreeMap<Seq, Seq>,
    /// Seqs in `runs`.
    len: u64,
    /// Event seq -> its offset in its segment (the segment is the one
    /// named at or below the seq).
    marks: BTreeMap<Seq, u64>,
    /// Per segment: the oldest event timestamp among the events indexed in
    /// it (a lower bound once some are settled), for the age bound.
    oldest_ts: BTreeMap<u64, i64>,
}

impl Index {
    pub(super) fn new(on_disk: bool) -> Self {
        if on_disk {
            Index::Disk(DiskIndex::default())
        } else {
            Index::Memory(BTreeMap::new())
        }
    }

    /// Indexes an event. Returns `false` if its seq was already unsettled
    /// (nothing changes then).
    pub(super) fn insert(&mut self, event: NewEvent<'_>) -> bool {
        match self {
            Index::Memory(map) => {
                if map.contains_key(&event.seq) {
                    return false;
                }
                map.insert(
                    event.seq,
                    Entry {
                        enqueued_at_ms: event.enqueued_at_ms,
                        event_ts_ns: event.event_ts_ns,
                        payload: event.payload.into(),
                    },
                );
                true
            }
            Index::Disk(disk) => disk.insert(&event),
        }
    }

    /// Settles `seq`. Returns whether it was unsettled.
    pub(super) fn remove(&mut self, seq: Seq) -> bool {
        match self {
            Index::Memory(map) => map.remove(&seq).is_some(),
            Index::Disk(disk) => disk.remove(seq),
        }
    }

    pub(super) fn contains(&self, seq: Seq) -> bool {
        match self {
            Index::Memory(map) => map.contains_key(&seq),
            Index::Disk(disk) => disk.contains(seq),
        }
    }

    /// The unsettled seqs in `[lo, hi)`, in order.
    pub(super) fn live_in(&self, lo: Seq, hi: Seq) -> Vec<Seq> {
        if hi <= lo {
            return Vec::new();
        }
        match self {
            Index::Memory(map) => map.range(lo..hi).map(|(&seq, _)| seq).collect(),
            Index::Disk(disk) => disk.live_runs(lo, hi).flat_map(|(a, b)| a..b).collect(),
        }
    }

    /// The settled stretches of `[lo, hi)` (its gaps between unsettled
    /// seqs), as `[a, b)` ranges, in order. Proportional to the runs, not
    /// to the seqs.
    pub(super) fn gaps_in(&self, lo: Seq, hi: Seq) -> Vec<(Seq, Seq)> {
        let mut gaps = Vec::new();
        let mut at = lo;
        let mut live = |a: Seq, b: Seq| {
            if a > at {
                gaps.push((at, a));
            }
            at = at.max(b);
        };
        match self {
            Index::Memory(map) => {
                for (&seq, _) in map.range(lo..hi.max(lo)) {
                    live(seq, seq.saturating_add(1));
                }
            }
            Index::Disk(disk) => {
                for (a, b) in disk.live_runs(lo, hi) {
                    live(a, b);
                }
            }
        }
        if at < hi {
            gaps.push((at, hi));
        }
        gaps
    }

    /// Unsettled records (O(1)).
    pub(super) fn len(&self) -> u64 {
        match self {
            Index::Memory(map) => map.len() as u64,
            Index::Disk(disk) => disk.len,
        }
    }

    /// Drops the marks and timestamps of a segment that is being deleted
    /// (`[id, next)`; it has no unsettled event left).
    pub(super) fn forget_segment(&mut self, id: u64, next: Option<u64>) {
        if let Index::Disk(disk) = self {
            let keys: Vec<Seq> = match next {
                Some(next) => disk.marks.range(id..next).map(|(&s, _)| s).collect(),
                None => disk.marks.range(id..).map(|(&s, _)| s).collect(),
            };
            for key in keys {
                disk.marks.remove(&key);
            }
            disk.oldest_ts.remove(&id);
        }
    }

    /// Entries held in memory: records, or runs plus marks.
    pub(super) fn resident_entries(&self) -> u64 {
        match self {
            Index::Memory(map) => map.len() as u64,
            Index::Disk(disk) => {
                let (runs, marks) = disk.footprint();
                (runs + marks) as u64
            }
        }
    }

    /// The disk index, when the records are on disk.
    pub(super) fn disk(&self) -> Option<&DiskIndex> {
        match self {
            Index::Disk(disk) => Some(disk),
            Index::Memory(_) => None,
        }
    }

    pub(super) fn disk_mut(&mut self) -> Option<&mut DiskIndex> {
        match self {
            Index::Disk(disk) => Some(disk),
            Index::Memory(_) => None,
        }
    }

    /// The in-memory records, when they are in memory.
    pub(super) fn memory(&self) -> Option<&BTreeMap<Seq, Entry>> {
        match self {
            Index::Memory(map) => Some(map),
            Index::Disk(_) => None,
        }
    }
}

impl DiskIndex {
    fn insert(&mut self, event: &NewEvent<'_>) -> bool {
        let seq = event.seq;
        // The common case, an append: the newest run ends right below it.
        let extended = match self.runs.last_entry() {
            Some(mut newest) if *newest.get() == seq => {
                *newest.get_mut() = seq.saturating_add(1);
                true
            }
            _ => false,
        };
        if extended {
            self.len += 1;
            self.note(event);
            return true;
        }
        if self.contains(seq) {
            return false;
        }
        // Merge with the run ending at `seq` and the one starting after it.
        let before = self
            .runs
            .range(..seq)
            .next_back()
            .filter(|(_, &hi)| hi == seq)
            .map(|(&lo, _)| lo);
        let after_hi = seq
            .checked_add(1)
            .and_then(|next| self.runs.get(&next).copied().map(|hi| (next, hi)));
        let lo = before.unwrap_or(seq);
        let hi = match after_hi {
            Some((next, hi)) => {
                self.runs.remove(&next);
                hi
            }
            None => seq.saturating_add(1),
        };
        self.runs.insert(lo, hi);
        self.len += 1;
        self.note(event);
        true
    }

    /// Records an indexed event's mark (one in [`MARK_EVERY`]) and
    /// timestamp.
    fn note(&mut self, event: &NewEvent<'_>) {
        let seq = event.seq;
        let last_mark = self
            .marks
            .range(event.segment..)
            .next_back()
            .map(|(&s, _)| s);
        if last_mark.is_none_or(|mark| seq >= mark.saturating_add(MARK_EVERY)) {
            self.marks.insert(seq, event.offset);
        }
        let oldest = self.oldest_ts.entry(event.segment).or_insert(i64::MAX);
        *oldest = (*oldest).min(event.event_ts_ns);
    }

    fn remove(&mut self, seq: Seq) -> bool {
        let Some((&lo, &hi)) = self.runs.range(..=seq).next_back() else {
            return false;
        };
        if seq >= hi {
            return false;
        }
        self.runs.remove(&lo);
        if lo < seq {
            self.runs.insert(lo, seq);
        }
        if seq + 1 < hi {
            self.runs.insert(seq + 1, hi);
        }
        self.len -= 1;
        true
    }

    fn contains(&self, seq: Seq) -> bool {
        self.runs
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, &hi)| seq < hi)
    }

    /// The unsettled runs clipped to `[lo, hi)`, in order.
    pub(super) fn live_runs(&self, lo: Seq, hi: Seq) -> impl Iterator<Item = (Seq, Seq)> + '_ {
        let first = self
            .runs
            .range(..lo)
            .next_back()
            .filter(|(_, &end)| end > lo)
            .map(|(&a, &b)| (a, b));
        first
            .into_iter()
            .chain(self.runs.range(lo..hi.max(lo)).map(|(&a, &b)| (a, b)))
            .map(move |(a, b)| (a.max(lo), b.min(hi)))
            .filter(|(a, b)| a < b)
    }

    /// The first unsettled seq at or after `from`.
    pub(super) fn first_live_from(&self, from: Seq) -> Option<Seq> {
        self.live_runs(from, Seq::MAX).next().map(|(a, _)| a)
    }

    /// Where to start reading segment `segment` to find `seq`: the offset
    /// of the nearest mark at or below it in that segment, else 0.
    pub(super) fn start_offset(&self, segment: u64, seq: Seq) -> u64 {
        self.marks
            .range(segment..=seq)
            .next_back()
            .map_or(0, |(_, &offset)| offset)
    }

    /// The first mark of `segment` (whose seqs end below `end`) at an
    /// offset above `offset`: where a read goes on after damage there.
    pub(super) fn marks_after(&self, segment: u64, offset: u64, end: Seq) -> Option<(Seq, u64)> {
        self.marks
            .range(segment..end.max(segment))
            .map(|(&seq, &at)| (seq, at))
            .find(|&(_, at)| at > offset)
    }

    /// The oldest timestamp indexed in `segment` (a lower bound).
    pub(super) fn oldest_ts(&self, segment: u64) -> Option<i64> {
        self.oldest_ts.get(&segment).copied()
    }

    /// After a scan of `segment` found the oldest timestamp among its
    /// unsettled events (`None`: none left).
    pub(super) fn set_oldest_ts(&mut self, segment: u64, oldest: Option<i64>) {
        match oldest {
            Some(ts) => {
                self.oldest_ts.insert(segment, ts);
            }
            None => {
                self.oldest_ts.remove(&segment);
            }
        }
    }

    /// How many runs and marks are held.
    pub(super) fn footprint(&self) -> (usize, usize) {
        (self.runs.len(), self.marks.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn event(seq: Seq, segment: u64, offset: u64) -> NewEvent<'static> {
        NewEvent {
            seq,
            segment,
            offset,
            enqueued_at_ms: 0,
            event_ts_ns: seq as i64,
            payload: b"",
        }
    }

    /// The disk index against a `BTreeSet` model, under random inserts and
    /// removals: same membership, same length, same live seqs and gaps.
    #[test]
    fn runs_match_a_set_under_random_operations() {
        let mut index = Index::new(true);
        let mut model = BTreeSet::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let seq = next() % 600;
            if next() % 3 == 0 {
                assert_eq!(index.remove(seq), model.remove(&seq), "remove {seq}");
            } else {
                assert_eq!(
                    index.insert(event(seq, 0, seq * 10)),
                    model.insert(seq),
                    "insert {seq}"
                );
            }
            assert_eq!(index.len(), model.len() as u64);
        }
        for seq in 0..610 {
            assert_eq!(index.contains(seq), model.contains(&seq), "seq {seq}");
        }
        let (lo, hi) = (37, 512);
        let live: Vec<Seq> = model.range(lo..hi).copied().collect();
        assert_eq!(index.live_in(lo, hi), live);
        let mut covered: Vec<Seq> = live.clone();
        for (a, b) in index.gaps_in(lo, hi) {
            covered.extend(a..b);
        }
        covered.sort_unstable();
        assert_eq!(covered, (lo..hi).collect::<Vec<_>>(), "gaps + live = range");
        let disk = index.disk().expect("disk index");
        let (runs, _) = disk.footprint();
        let model_runs = model
            .iter()
            .filter(|&&seq| seq == 0 || !model.contains(&(seq - 1)))
            .count();
        assert_eq!(runs, model_runs, "adjacent runs are merged");
        assert_eq!(
            disk.first_live_from(lo),
            model.range(lo..).next().copied(),
            "first live"
        );
    }

    #[test]
    fn a_long_fifo_costs_one_run_and_a_mark_per_256_events() {
        let mut index = Index::new(true);
        for seq in 1..=100_000u64 {
            index.insert(event(seq, 1, seq * 100));
        }
        for seq in 1..=50_000u64 {
            index.remove(seq);
        }
        let disk = index.disk().expect("disk index");
        assert_eq!(disk.footprint(), (1, 391));
        assert_eq!(index.len(), 50_000);
        // The mark at or below 60 000 in segment 1: seq 59 905.
        assert_eq!(disk.start_offset(1, 60_000), 5_990_500);
        assert_eq!(disk.start_offset(70_001, 70_001), 0, "another segment");
    }
}
