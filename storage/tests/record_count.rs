//! The record count a queue keeps in its tree: what opening a queue reads
//! instead of walking every record (which, for a long queue, pulls all of
//! its pages into memory), kept by every push and removal, and rebuilt once
//! for a tree written before it existed.

mod common;

use plexus_storage::{Store, StoreOptions};

/// The metadata key of the record count (see `queue.rs`).
const COUNT_KEY: &[u8] = &[0, 0];

fn stored_count(dir: &std::path::Path, queue: &str) -> Option<u64> {
    let db = common::raw_sled(dir);
    let tree = db.open_tree(queue).expect("tree");
    tree.get(COUNT_KEY)
        .expect("get")
        .map(|bytes| u64::from_be_bytes(bytes[..].try_into().expect("8 bytes")))
}

#[test]
fn every_mutation_keeps_the_stored_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        let seqs = q.push_batch((0..10).map(|i| (i, b"x"))).expect("batch");
        q.push(10, b"y").expect("push");
        q.push_nowait(11, b"z").expect("push_nowait");
        assert_eq!(q.remove(&seqs[..3]).expect("remove"), 3);
        assert_eq!(q.drop_older_than(5).expect("drop by age"), 2);
        q.flush().expect("flush");
        assert_eq!(q.len(), 7);
    }
    assert_eq!(stored_count(dir.path(), "q"), Some(7));
    {
        let store = common::reopen_after_raw(dir.path());
        let q = store.queue("q").expect("queue");
        assert_eq!(q.len(), 7);
        assert_eq!(q.peek_oldest(100).expect("peek").records.len(), 7);
        assert_eq!(q.clear().expect("clear"), 7);
        q.flush().expect("flush");
    }
    assert_eq!(stored_count(dir.path(), "q"), Some(0));
}

/// Opening trusts the stored count: proven by a count changed behind the
/// store's back, which a walk of the records would have ignored.
#[test]
fn opening_reads_the_stored_count_instead_of_walking_the_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        q.push_batch((0..3).map(|i| (i, b"x"))).expect("batch");
    }
    {
        let db = common::raw_sled(dir.path());
        let tree = db.open_tree("q").expect("tree");
        tree.insert(COUNT_KEY, &5u64.to_be_bytes()).expect("insert");
        db.flush().expect("flush");
    }
    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    assert_eq!(q.len(), 5, "the stored count, not a walk of the 3 records");
}

/// A tree from before the count existed (or whose count entry is damaged)
/// is counted once at open, and the count written for the next open.
#[test]
fn a_tree_without_a_count_is_counted_once_and_the_count_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seqs = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("q").expect("queue");
        q.push_batch((0..4).map(|i| (i, b"x"))).expect("batch")
    };
    {
        let db = common::raw_sled(dir.path());
        let tree = db.open_tree("q").expect("tree");
        tree.remove(COUNT_KEY).expect("remove the count");
        db.flush().expect("flush");
    }
    {
        let store = common::reopen_after_raw(dir.path());
        let q = store.queue("q").expect("queue");
        assert_eq!(q.len(), 4);
        let next = q.push(9, b"after").expect("push");
        assert_eq!(next, seqs[3] + 1, "the sequence continues");
        q.flush().expect("flush");
    }
    assert_eq!(stored_count(dir.path(), "q"), Some(5));

    // A damaged count entry (not 8 bytes) is rebuilt the same way.
    {
        let db = common::raw_sled(dir.path());
        let tree = db.open_tree("q").expect("tree");
        tree.insert(COUNT_KEY, &b"bad"[..]).expect("insert");
        db.flush().expect("flush");
    }
    let store = common::reopen_after_raw(dir.path());
    let q = store.queue("q").expect("queue");
    assert_eq!(q.len(), 5);
}
