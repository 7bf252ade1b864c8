//! Small records packed into groups (`group.rs`): far fewer sled keys than
//! records, and every operation (peek from anywhere, removal of any subset,
//! the age bound, clear, reopen) behaves exactly as if each record had its
//! own key, checked against a model over thousands of random operations.

mod common;

use std::collections::BTreeMap;

use plexus_storage::{DecodeError, Queue, Store, StoreOptions};

/// sled keys at or after the first record key: the records' and groups'.
fn record_keys(dir: &std::path::Path, queue: &str) -> Vec<Vec<u8>> {
    let db = common::raw_sled(dir);
    let tree = db.open_tree(queue).expect("tree");
    tree.range([0u8; 8]..)
        .keys()
        .map(|key| key.expect("key").to_vec())
        .collect()
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut p = format!("record-{i}-").into_bytes();
    p.resize(len.max(p.len()), b'a' + (i % 26) as u8);
    p
}

#[test]
fn small_records_share_keys_and_read_back_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seqs: Vec<u64> = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        let mut seqs = Vec::new();
        for i in 0..2000u64 {
            seqs.push(q.push_nowait(i as i64, &payload(i, 300)).expect("push"));
        }
        q.flush().expect("flush");
        seqs
    };
    let keys = record_keys(dir.path(), "q");
    // 300-byte payloads: 13 records a group, so about 154 keys for 2000.
    assert!(
        keys.len() <= 200,
        "{} sled keys for 2000 records: small records are not grouped",
        keys.len()
    );
    assert!(keys.iter().any(|key| key.len() == 12), "no group key");

    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    assert_eq!(q.len(), 2000);
    let peeked = q.peek_oldest(5000).expect("peek");
    assert!(peeked.corrupt.is_empty(), "{:?}", peeked.corrupt);
    let read: Vec<u64> = peeked.records.iter().map(|r| r.seq).collect();
    assert_eq!(read, seqs);
    for (i, record) in peeked.records.iter().enumerate() {
        assert_eq!(record.payload, payload(i as u64, 300), "record {i}");
        assert_eq!(record.event_ts_ns, i as i64);
    }
    // Removing all but the last record of the first group rewrites it.
    let first_group = 13;
    assert_eq!(q.remove(&seqs[..first_group - 1]).expect("remove"), 12);
    let head = q.peek_oldest(2).expect("peek").records;
    assert_eq!(head[0].seq, seqs[first_group - 1]);
    assert_eq!(head[1].seq, seqs[first_group]);
    assert_eq!(q.len(), 2000 - 12);
}

#[test]
fn large_records_keep_their_own_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        for i in 0..40u64 {
            q.push_nowait(0, &payload(i, 3000)).expect("push");
        }
        q.flush().expect("flush");
    }
    let keys = record_keys(dir.path(), "q");
    assert_eq!(keys.len(), 40);
    assert!(keys.iter().all(|key| key.len() == 8));
}

#[test]
fn a_corrupt_group_is_reported_once_with_all_its_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        for i in 0..100u64 {
            q.push_nowait(0, &payload(i, 300)).expect("push");
        }
        q.flush().expect("flush");
    }
    // Flip one byte in the second group's value.
    let (first, count) = {
        let db = common::raw_sled(dir.path());
        let tree = db.open_tree("q").expect("tree");
        let (key, value) = tree
            .range([0u8; 8]..)
            .map(|item| item.expect("item"))
            .filter(|(key, _)| key.len() == 12)
            .nth(1)
            .expect("a second group");
        let mut damaged = value.to_vec();
        damaged[40] ^= 0x04;
        tree.insert(&key, damaged).expect("insert");
        db.flush().expect("flush");
        let first = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
        let count = u32::from_be_bytes(key[8..].try_into().expect("4 bytes"));
        (first, u64::from(count))
    };
    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    assert_eq!(q.len(), 100);
    let peeked = q
        .peek_oldest(1000)
        .expect("peek never fails on corrupt data");
    assert_eq!(peeked.corrupt.len(), 1, "{:?}", peeked.corrupt);
    let corrupt = &peeked.corrupt[0];
    assert_eq!((corrupt.seq, corrupt.records), (Some(first), count));
    assert!(matches!(
        corrupt.reason,
        DecodeError::ChecksumMismatch { .. }
    ));
    let line = corrupt.to_string();
    assert!(
        line.contains(&format!("group of {count} records"))
            && line.contains(&format!("seq {first} onwards")),
        "{line}"
    );
    assert_eq!(peeked.records.len() as u64, 100 - count);
    assert!(peeked
        .records
        .iter()
        .all(|r| r.seq < first || r.seq >= first + count));
    assert_eq!(q.len(), 100 - count);
    assert_eq!(q.corrupt_skipped(), count);
    assert!(
        q.peek_oldest(1000).expect("peek").corrupt.is_empty(),
        "reported once"
    );
}

/// xorshift64*: a fixed sequence of operations, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn payload_len(&mut self) -> usize {
        match self.below(20) {
            0 => 2049 + self.below(3000) as usize, // never grouped
            1 => 0,
            _ => self.below(600) as usize,
        }
    }
}

type Model = BTreeMap<u64, (i64, Vec<u8>)>;

fn check_all(q: &Queue, model: &Model, step: usize) {
    assert_eq!(q.len(), model.len() as u64, "len at step {step}");
    let peeked = q.peek_oldest(model.len() + 10).expect("peek");
    assert!(
        peeked.corrupt.is_empty(),
        "step {step}: {:?}",
        peeked.corrupt
    );
    let got: Vec<(u64, i64, &[u8])> = peeked
        .records
        .iter()
        .map(|r| (r.seq, r.event_ts_ns, &r.payload[..]))
        .collect();
    let want: Vec<(u64, i64, &[u8])> = model
        .iter()
        .map(|(seq, (ts, p))| (*seq, *ts, &p[..]))
        .collect();
    assert_eq!(got, want, "contents at step {step}");
}

#[test]
fn every_operation_matches_a_model_of_the_queue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut model = Model::new();
    let mut store = Some(Store::open(dir.path(), StoreOptions::default()).expect("open"));
    let mut q = store.as_ref().expect("store").queue("m").expect("queue");
    let mut next_ts = 0i64;
    let mut last_seq = 0u64;
    for step in 0..4000 {
        match rng.below(100) {
            // Single pushes, mostly.
            0..=49 => {
                let len = rng.payload_len();
                let p = payload(step as u64, len);
                next_ts += 1;
                let seq = q.push_nowait(next_ts, &p).expect("push");
                assert!(seq > last_seq, "step {step}: seq {seq} after {last_seq}");
                last_seq = seq;
                model.insert(seq, (next_ts, p));
            }
            // A batch.
            50..=57 => {
                let items: Vec<(i64, Vec<u8>)> = (0..1 + rng.below(40))
                    .map(|k| {
                        next_ts += 1;
                        (next_ts, payload(step as u64 * 100 + k, rng.payload_len()))
                    })
                    .collect();
                let seqs = q
                    .push_batch_with(items.clone(), plexus_storage::Durability::Deferred)
                    .expect("batch");
                assert!(seqs[0] > last_seq);
                last_seq = *seqs.last().expect("one");
                model.extend(seqs.into_iter().zip(items));
            }
            // Remove a random subset, with some seqs that are not there.
            58..=77 => {
                let mut chosen: Vec<u64> = model
                    .keys()
                    .copied()
                    .filter(|_| rng.below(4) == 0)
                    .collect();
                chosen.push(last_seq + 1 + rng.below(5));
                if let Some(&first) = model.keys().next() {
                    chosen.push(first.saturating_sub(1 + rng.below(3)));
                }
                let present = chosen.iter().filter(|s| model.contains_key(s)).count();
                assert_eq!(q.remove(&chosen).expect("remove"), present, "step {step}");
                for seq in &chosen {
                    model.remove(seq);
                }
            }
            // The oldest few, as a re-drive removes them.
            78..=84 => {
                let n = 1 + rng.below(30) as usize;
                let oldest = q.peek_oldest(n).expect("peek").records;
                let seqs: Vec<u64> = oldest.iter().map(|r| r.seq).collect();
                let want: Vec<u64> = model.keys().take(n).copied().collect();
                assert_eq!(seqs, want, "oldest at step {step}");
                q.remove(&seqs).expect("remove");
                for seq in &seqs {
                    model.remove(seq);
                }
            }
            // Peek from anywhere, inside groups too.
            85..=92 => {
                let from = rng.below(last_seq + 3);
                let n = rng.below(50) as usize;
                let got: Vec<u64> = q
                    .peek_from(from, n)
                    .expect("peek")
                    .records
                    .iter()
                    .map(|r| r.seq)
                    .collect();
                let want: Vec<u64> = model.range(from..).take(n).map(|(s, _)| *s).collect();
                assert_eq!(got, want, "peek_from({from}, {n}) at step {step}");
            }
            // The age bound.
            93..=95 => {
                let cutoff = next_ts - rng.below(400) as i64;
                let want = model.values().filter(|(ts, _)| *ts < cutoff).count();
                assert_eq!(
                    q.drop_older_than(cutoff).expect("drop"),
                    want,
                    "step {step}"
                );
                model.retain(|_, (ts, _)| *ts >= cutoff);
            }
            // Reopen: the open run starts anew, the sequence continues.
            96..=98 => {
                drop(q);
                drop(store.take());
                store = Some(Store::open(dir.path(), StoreOptions::default()).expect("reopen"));
                q = store.as_ref().expect("store").queue("m").expect("queue");
                check_all(&q, &model, step);
            }
            _ => {
                assert_eq!(q.clear().expect("clear"), model.len(), "step {step}");
                model.clear();
            }
        }
        assert_eq!(q.len(), model.len() as u64, "len at step {step}");
        if step % 250 == 0 {
            check_all(&q, &model, step);
        }
    }
    check_all(&q, &model, 4000);
}
