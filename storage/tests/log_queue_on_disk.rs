//! The same cases as `log_queue.rs` for a log queue whose unsettled records
//! stay on disk and are read back from the segments (the engine's retry and
//! spill queues), plus what only that residency has: bounded memory, reads
//! from a mark, records lost to damage after open.

mod common;

fn base_options() -> plexus_storage::LogOptions {
    plexus_storage::LogOptions::default().records_on_disk(true)
}

include!("cases/log_queue.rs");

/// A tiny deterministic generator (xorshift64), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Random operations against a model, with small segments (rotation and
/// deletion all the time, one mark each).
#[test]
fn random_operations_match_a_model_small_segments() {
    run_model(3_000, 0x9e37_79b9_7f4a_7c15, 6_000);
}

/// Random operations against a model, with segments of many marks each (a
/// read starts from a mark in the middle of a segment).
#[test]
fn random_operations_match_a_model_large_segments() {
    run_model(200_000, 0x2545_f491_4f6c_dd1d, 8_000);
}

/// Random appends, removals (from the front, from the middle, by age),
/// peeks from random seqs and reopens, against a `BTreeMap` model: every
/// peek returns exactly the model's records from that seq on.
fn run_model(segment_bytes: u64, seed: u64, steps: u64) {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().expect("temp dir");
    let options = base_options().segment_bytes(segment_bytes);
    let mut q = LogQueue::open(dir.path(), options).expect("open");
    let mut model: BTreeMap<u64, (i64, Vec<u8>)> = BTreeMap::new();
    let mut rng = Rng(seed);
    for step in 0..steps {
        match rng.below(100) {
            0..=44 => {
                let i = rng.below(1_000_000);
                let seq = q.append(ts(i), &payload(i)).expect("append");
                model.insert(seq, (ts(i), payload(i)));
            }
            45..=59 => {
                // Settle a run from the front, as a drain does.
                let n = rng.below(8) as usize;
                let seqs: Vec<u64> = model.keys().take(n).copied().collect();
                assert_eq!(q.remove(&seqs).expect("remove"), seqs.len());
                for seq in seqs {
                    model.remove(&seq);
                }
            }
            60..=74 => {
                // Settle scattered records, as failed retries leave holes.
                let seqs: Vec<u64> = model
                    .keys()
                    .copied()
                    .filter(|_| rng.below(5) == 0)
                    .take(6)
                    .collect();
                assert_eq!(q.remove(&seqs).expect("remove"), seqs.len());
                for seq in seqs {
                    model.remove(&seq);
                }
            }
            75..=94 => {
                let top = model.keys().next_back().copied().unwrap_or(1) + 2;
                let from = rng.below(top);
                let n = 1 + rng.below(40) as usize;
                let peeked = q.peek_from(from, n).expect("peek");
                assert!(
                    peeked.corrupt.is_empty(),
                    "step {step}: {:?}",
                    peeked.corrupt
                );
                let got: Vec<(u64, i64, Vec<u8>)> = peeked
                    .records
                    .into_iter()
                    .map(|r| (r.seq, r.event_ts_ns, r.payload))
                    .collect();
                let want: Vec<(u64, i64, Vec<u8>)> = model
                    .range(from..)
                    .take(n)
                    .map(|(&seq, (ts, p))| (seq, *ts, p.clone()))
                    .collect();
                assert_eq!(got, want, "step {step}: peek_from({from}, {n})");
            }
            95..=97 => {
                let cutoff = ts(rng.below(60_000));
                let want: Vec<u64> = model
                    .iter()
                    .filter(|(_, (t, _))| *t < cutoff)
                    .map(|(&seq, _)| seq)
                    .collect();
                assert_eq!(
                    q.drop_older_than(cutoff).expect("drop_older_than"),
                    want.len(),
                    "step {step}"
                );
                for seq in want {
                    model.remove(&seq);
                }
            }
            _ => {
                q.flush().expect("flush");
                drop(q);
                q = LogQueue::open(dir.path(), options).expect("reopen");
                assert!(
                    q.recovery().corrupt.is_empty(),
                    "{:?}",
                    q.recovery().corrupt
                );
            }
        }
        assert_eq!(q.len(), model.len() as u64, "step {step}");
    }
    let all: Vec<u64> = contents(&q).into_iter().map(|(seq, _, _)| seq).collect();
    assert_eq!(all, model.keys().copied().collect::<Vec<_>>());
}

/// What stays in memory does not grow with the queue: 200 000 records
/// appended (and half of them settled from the front) are one run plus a
/// mark per 256 records, and a read from the middle finds its record.
#[test]
fn memory_is_runs_and_marks_not_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open(dir.path());
    let total = 200_000u64;
    for i in 1..=total {
        q.append(ts(i), &payload(i)).expect("append");
    }
    q.flush().expect("flush");
    let resident = q.resident_entries();
    assert!(
        resident <= 1 + total / 256 + 16,
        "{resident} entries for {total} records"
    );
    let half: Vec<u64> = (1..=total / 2).collect();
    q.remove(&half).expect("remove");
    assert!(q.resident_entries() <= resident, "settling adds nothing");
    let peeked = q.peek_from(150_001, 3).expect("peek");
    let seqs: Vec<u64> = peeked.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![150_001, 150_002, 150_003]);
    assert_eq!(peeked.records[0].payload, payload(150_001));
    drop(q);
    let q = open(dir.path());
    assert_eq!(q.len(), total / 2);
    assert!(
        q.resident_entries() <= 1 + total / 256 + 16,
        "{} entries after reopening",
        q.resident_entries()
    );
}

/// Bytes damaged after the open (bit rot, a foreign write): the records a
/// read cannot get back are settled and reported once each, with the
/// segment and the reason; the read goes on from the next mark, so the
/// records after it are still delivered.
#[test]
fn records_damaged_after_open_are_reported_once_and_the_rest_still_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open(dir.path());
    let total = 1_000u64;
    let mut offsets = vec![0u64];
    for i in 1..=total {
        q.append(ts(i), &payload(i)).expect("append");
        // Frame (8) + fixed event fields (25) + payload.
        let last = *offsets.last().expect("an offset");
        offsets.push(last + 33 + payload(i).len() as u64);
    }
    q.flush().expect("flush");
    // Flip a payload byte of record 300 (seq 300 starts at offsets[299]).
    let segment = segment_files(dir.path()).pop().expect("a segment");
    let mut bytes = std::fs::read(&segment).expect("read");
    let at = offsets[299] as usize + 40;
    bytes[at] ^= 0x20;
    std::fs::write(&segment, &bytes).expect("write");

    let peeked = q.peek_oldest(usize::MAX).expect("peek");
    let seqs: Vec<u64> = peeked.records.iter().map(|r| r.seq).collect();
    // Marks at 1, 257, 513, ...: the damage at 300 costs 300..=512.
    let lost: Vec<u64> = (300..513).collect();
    let want: Vec<u64> = (1..=total).filter(|s| !lost.contains(s)).collect();
    assert_eq!(seqs, want);
    let reported: Vec<u64> = peeked.corrupt.iter().filter_map(|c| c.seq).collect();
    assert_eq!(reported, lost);
    let message = peeked.corrupt[0].to_string();
    assert!(
        message.contains("checksum") && message.contains(".log"),
        "{message}"
    );
    assert_eq!(q.len(), total - lost.len() as u64);
    assert_eq!(q.corrupt_skipped(), lost.len() as u64);
    let again = q.peek_oldest(usize::MAX).expect("peek");
    assert!(again.corrupt.is_empty(), "reported once");
    assert_eq!(again.records.len(), want.len());
}

/// A segment file removed behind the queue's back: its records are
/// reported lost, not looped over or returned.
#[test]
fn a_missing_segment_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open_small(dir.path(), 2_000);
    for i in 1..=100u64 {
        q.append(ts(i), &payload(i)).expect("append");
    }
    q.flush().expect("flush");
    let first = segment_files(dir.path()).remove(0);
    std::fs::remove_file(&first).expect("remove");
    let peeked = q.peek_oldest(usize::MAX).expect("peek");
    assert!(!peeked.corrupt.is_empty());
    assert!(
        peeked.corrupt[0].to_string().contains("missing"),
        "{}",
        peeked.corrupt[0]
    );
    assert_eq!(
        peeked.records.len() + peeked.corrupt.len(),
        100,
        "every record is either read or reported"
    );
    assert_eq!(q.len(), peeked.records.len() as u64);
}
