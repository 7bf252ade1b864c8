//! Corrupt records written into the sled tree behind the store's back are
//! skipped, removed, counted and reported; the queue keeps working.

mod common;

use plexus_storage::{DecodeError, Store, StoreOptions};

#[test]
fn corrupt_records_are_skipped_counted_and_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seqs = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        q.push_batch((0..6).map(|i| (i, format!("good-{i}"))))
            .expect("batch")
    };

    // Damage records directly in sled while the store is closed.
    {
        let db = common::raw_sled(dir.path());
        let tree = db.open_tree("q").expect("tree");
        let key = |seq: u64| seq.to_be_bytes();
        // 1: one payload byte flipped.
        let mut flipped = tree
            .get(key(seqs[1]))
            .expect("get")
            .expect("present")
            .to_vec();
        let at = flipped.len() - 6;
        flipped[at] ^= 0x01;
        tree.insert(key(seqs[1]), flipped).expect("insert");
        // 2: truncated.
        let whole = tree
            .get(key(seqs[2]))
            .expect("get")
            .expect("present")
            .to_vec();
        tree.insert(key(seqs[2]), &whole[..whole.len() - 3])
            .expect("insert");
        // 4: an unknown format version.
        let mut versioned = tree
            .get(key(seqs[4]))
            .expect("get")
            .expect("present")
            .to_vec();
        versioned[0] = 9;
        tree.insert(key(seqs[4]), versioned).expect("insert");
        // A stray key that is no sequence number, between records 4 and 5.
        let mut stray = key(seqs[4]).to_vec();
        stray.push(7);
        tree.insert(stray, &b"garbage"[..]).expect("insert");
        db.flush().expect("flush");
    }

    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    // The queue counts the keys it writes; the stray one is met (and
    // reported) by the peek, not counted at open.
    assert_eq!(q.len(), 6, "6 records; the stray key is not counted");
    assert_eq!(q.corrupt_skipped(), 0);

    let peeked = q.peek_oldest(10).expect("peek never fails on corrupt data");
    let good: Vec<_> = peeked.records.iter().map(|r| r.seq).collect();
    assert_eq!(good, vec![seqs[0], seqs[3], seqs[5]]);
    assert_eq!(peeked.records[1].payload, b"good-3");

    let bad: Vec<_> = peeked
        .corrupt
        .iter()
        .map(|c| (c.seq, c.reason.clone()))
        .collect();
    assert_eq!(bad.len(), 4, "{bad:?}");
    assert!(matches!(bad[0], (Some(s), DecodeError::ChecksumMismatch { .. }) if s == seqs[1]));
    assert!(matches!(bad[1], (Some(s), DecodeError::LengthMismatch { .. }) if s == seqs[2]));
    assert!(
        matches!(bad[2], (Some(s), DecodeError::UnsupportedVersion { found: 9 }) if s == seqs[4])
    );
    assert!(matches!(bad[3], (None, DecodeError::BadKey { len: 9 })));
    let line = peeked.corrupt[0].to_string();
    assert!(
        line.contains("\"q\"")
            && line.contains(&format!("seq {}", seqs[1]))
            && line.contains("checksum"),
        "{line}"
    );

    assert_eq!(q.corrupt_skipped(), 4);
    assert_eq!(q.len(), 3);

    // Reported once: the corrupt records are gone.
    let again = q.peek_oldest(10).expect("peek");
    assert!(again.corrupt.is_empty());
    assert_eq!(again.records.len(), 3);
    assert_eq!(q.corrupt_skipped(), 4);

    // The queue keeps working, and the sequence keeps growing.
    let next = q.push(0, b"after").expect("push");
    assert_eq!(next, seqs[5] + 1);
    assert_eq!(q.remove(&[seqs[0], seqs[3], seqs[5]]).expect("remove"), 3);
    let last = q.peek_oldest(10).expect("peek").records;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].payload, b"after");
    drop(q);
    drop(store);

    // And it stays consistent across another reopen.
    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    assert_eq!(q.len(), 1);
}

#[test]
fn drop_older_than_leaves_corrupt_records_for_peek_to_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seqs = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        q.push_batch((0..3).map(|i| (i, b"x"))).expect("batch")
    };
    {
        let db = common::raw_sled(dir.path());
        let tree = db.open_tree("q").expect("tree");
        tree.insert(seqs[0].to_be_bytes(), &b"\x01junk"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    assert_eq!(q.drop_older_than(i64::MAX).expect("drop"), 2);
    assert_eq!(q.len(), 1);
    let peeked = q.peek_oldest(5).expect("peek");
    assert!(peeked.records.is_empty());
    assert_eq!(peeked.corrupt.len(), 1);
    assert!(matches!(
        peeked.corrupt[0].reason,
        DecodeError::Truncated { .. }
    ));
    assert!(q.is_empty());
}

/// A key of eight 0xff bytes (sequence u64::MAX) and a next-sequence
/// record of the same value, written behind the store's back: the queue
/// must neither take its next sequence number from them (it would
/// overflow) nor return the record; it reports and removes it.
#[test]
fn a_sequence_at_the_top_of_the_key_space_is_reported_not_used() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        q.push(1, b"good").expect("push")
    };
    let crafted = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        q.push(2, b"template").expect("push")
    };
    {
        let db = common::raw_sled(dir.path());
        let tree = db.open_tree("q").expect("tree");
        let value = tree
            .remove(crafted.to_be_bytes())
            .expect("remove")
            .expect("present");
        tree.insert(u64::MAX.to_be_bytes(), value).expect("insert");
        tree.insert([0u8], &u64::MAX.to_be_bytes()[..])
            .expect("insert next seq");
        db.flush().expect("flush");
    }

    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    let next = q.push(3, b"after").expect("push after the crafted key");
    assert!(
        next > first && next <= plexus_storage::MAX_SEQ,
        "next seq {next}"
    );
    let peeked = q.peek_oldest(10).expect("peek");
    let good: Vec<_> = peeked.records.iter().map(|r| r.seq).collect();
    assert_eq!(good, vec![first, next]);
    assert_eq!(peeked.corrupt.len(), 1, "{:?}", peeked.corrupt);
    assert_eq!(
        peeked.corrupt[0].reason,
        DecodeError::SeqOutOfRange { seq: u64::MAX }
    );
    let line = peeked.corrupt[0].to_string();
    assert!(
        line.contains("above the largest one ever assigned"),
        "{line}"
    );
    assert_eq!(q.len(), 2, "the crafted record was removed");
}
