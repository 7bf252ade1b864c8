//! Queue behaviour against a real sled database in a temporary directory.

mod common;

use common::temp_store;
use plexus_storage::{Durability, QueueOptions, StorageError, Store, StoreOptions};

fn payload(i: u64) -> Vec<u8> {
    format!("payload-{i}").into_bytes()
}

#[test]
fn fifo_order_and_record_fields() {
    let (_dir, store) = temp_store();
    let q = store.queue("fifo").expect("queue");
    assert!(q.is_empty());
    let before_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let mut seqs = Vec::new();
    for i in 0..10u64 {
        seqs.push(q.push(1_000 + i as i64, &payload(i)).expect("push"));
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(q.len(), 10);

    let peeked = q.peek_oldest(4).expect("peek");
    assert!(peeked.corrupt.is_empty());
    let got: Vec<_> = peeked.records.iter().map(|r| r.seq).collect();
    assert_eq!(got, seqs[..4]);
    for (i, r) in peeked.records.iter().enumerate() {
        assert_eq!(r.payload, payload(i as u64));
        assert_eq!(r.event_ts_ns, 1_000 + i as i64);
        assert!(r.enqueued_at_ms >= before_ms);
    }
    // Peeking does not remove.
    assert_eq!(q.len(), 10);
    assert_eq!(q.peek_oldest(0).expect("peek 0").records.len(), 0);
    assert_eq!(q.peek_oldest(100).expect("peek all").records.len(), 10);

    // Remove the oldest two: the next peek starts at the third.
    assert_eq!(q.remove(&seqs[..2]).expect("remove"), 2);
    let next = q.peek_oldest(1).expect("peek").records;
    assert_eq!(next[0].seq, seqs[2]);
    assert_eq!(next[0].payload, payload(2));
}

#[test]
fn push_batch_is_ordered_and_mixes_with_single_pushes() {
    let (_dir, store) = temp_store();
    let q = store.queue("batch").expect("queue");
    let a = q.push(1, b"a").expect("push");
    let batch = q
        .push_batch((0..5).map(|i| (i as i64, payload(i))))
        .expect("batch");
    let b = q.push_nowait(2, b"b").expect("push nowait");
    assert_eq!(batch.len(), 5);
    assert!(a < batch[0] && batch.windows(2).all(|w| w[1] == w[0] + 1) && batch[4] < b);
    assert!(q
        .push_batch(Vec::<(i64, Vec<u8>)>::new())
        .expect("empty")
        .is_empty());
    q.flush().expect("flush");
    let all = q.peek_oldest(100).expect("peek").records;
    let payloads: Vec<_> = all.iter().map(|r| r.payload.clone()).collect();
    let mut expected = vec![b"a".to_vec()];
    expected.extend((0..5).map(payload));
    expected.push(b"b".to_vec());
    assert_eq!(payloads, expected);
    assert_eq!(q.len(), 7);
}

#[test]
fn sequence_and_len_survive_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let last = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("persist").expect("queue");
        let seqs = q
            .push_batch((0..20).map(|i| (i as i64, payload(i))))
            .expect("batch");
        assert_eq!(q.remove(&seqs[..5]).expect("remove"), 5);
        *seqs.last().expect("non-empty")
    };
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    let q = store.queue("persist").expect("queue");
    assert_eq!(q.len(), 15);
    let records = q.peek_oldest(100).expect("peek").records;
    assert_eq!(records.len(), 15);
    assert_eq!(records[0].payload, payload(5));
    assert_eq!(records[14].seq, last);
    let next = q.push(0, b"after").expect("push");
    assert_eq!(next, last + 1);
    assert_eq!(q.len(), 16);
}

#[test]
fn sequence_is_not_reused_after_emptying_and_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let last = {
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        let q = store.queue("empty-me").expect("queue");
        let seqs = q.push_batch((0..3).map(|i| (i, b"x"))).expect("batch");
        q.remove(&seqs).expect("remove");
        assert!(q.is_empty());
        let more = q.push(0, b"y").expect("push");
        q.clear().expect("clear");
        assert!(q.is_empty());
        more
    };
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    let q = store.queue("empty-me").expect("queue");
    assert!(q.is_empty());
    assert_eq!(q.push(0, b"z").expect("push"), last + 1);
}

#[test]
fn count_bound_accepts_exactly_max_len() {
    let (_dir, store) = temp_store();
    let q = store
        .queue_with("bounded", QueueOptions::max_len(10))
        .expect("queue");
    assert_eq!(q.max_len(), 10);
    q.push_batch((0..7).map(|i| (i, payload(i as u64))))
        .expect("7 fit");
    // A batch of 5 does not fit: nothing is written, and the error says 3 fit.
    match q.push_batch((0..5).map(|i| (i, payload(i as u64)))) {
        Err(StorageError::QueueFull {
            max_len: 10,
            len: 7,
            requested: 5,
            fits: 3,
            ref queue,
        }) => assert_eq!(queue, "bounded"),
        other => panic!("expected QueueFull with fits 3, got {other:?}"),
    }
    assert_eq!(q.len(), 7);
    let mut accepted = 0;
    for i in 0..10 {
        match q.push(i, b"more") {
            Ok(_) => accepted += 1,
            Err(StorageError::QueueFull { fits: 0, .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(accepted, 3);
    assert_eq!(q.len(), 10);
    assert_eq!(q.peek_oldest(100).expect("peek").records.len(), 10);
    let err = q.push_nowait(0, b"x").expect_err("full");
    let msg = err.to_string();
    assert!(msg.contains("\"bounded\"") && msg.contains("full"), "{msg}");

    // Room again after a removal; a second handle shares the bound and length.
    let oldest = q.peek_oldest(1).expect("peek").records[0].seq;
    q.remove(&[oldest]).expect("remove");
    let q2 = store.queue("bounded").expect("same queue");
    assert_eq!((q2.len(), q2.max_len()), (9, 10));
    q2.push(0, b"fits").expect("one fits");
    assert!(matches!(
        q.push(0, b"no"),
        Err(StorageError::QueueFull { .. })
    ));
    // Unbounding it.
    q2.set_max_len(0);
    q.push(0, b"unbounded now").expect("push");
    assert_eq!(q.len(), 11);
}

#[test]
fn age_bound_drops_exactly_the_older_records() {
    let (_dir, store) = temp_store();
    let q = store.queue("aged").expect("queue");
    // Timestamps not in push order: the age bound scans the whole queue.
    let stamps: [i64; 10] = [50, 10, 70, 20, 90, 30, 60, 40, 80, 0];
    q.push_batch(stamps.iter().map(|&ts| (ts, ts.to_string())))
        .expect("batch");
    assert_eq!(q.drop_older_than(0).expect("nothing older than 0"), 0);
    assert_eq!(q.drop_older_than(45).expect("drop"), 5); // 10 20 30 40 0
    assert_eq!(q.len(), 5);
    let left: Vec<i64> = q
        .peek_oldest(100)
        .expect("peek")
        .records
        .iter()
        .map(|r| r.event_ts_ns)
        .collect();
    assert_eq!(left, vec![50, 70, 90, 60, 80]);
    // The cutoff is strict: a record exactly at the cutoff stays.
    assert_eq!(q.drop_older_than(60).expect("drop"), 1); // 50
    assert_eq!(q.len(), 4);
    assert_eq!(q.drop_older_than(i64::MAX).expect("drop all"), 4);
    assert!(q.is_empty());
}

#[test]
fn age_bound_spans_many_scan_steps() {
    let (_dir, store) = temp_store();
    let q = store.queue("aged-big").expect("queue");
    // More than one scan step (4096 records); every third record is old.
    let n = 10_000i64;
    q.push_batch_with(
        (0..n).map(|i| (if i % 3 == 0 { 1 } else { 100 }, [0u8; 8])),
        Durability::Deferred,
    )
    .expect("batch");
    let expected = (0..n).filter(|i| i % 3 == 0).count();
    assert_eq!(q.drop_older_than(50).expect("drop"), expected);
    assert_eq!(q.len(), (n as usize - expected) as u64);
    assert_eq!(q.clear().expect("clear"), n as usize - expected);
    assert!(q.is_empty());
    assert!(q.peek_oldest(10).expect("peek").records.is_empty());
}

#[test]
fn remove_counts_only_present_records() {
    let (_dir, store) = temp_store();
    let q = store.queue("rm").expect("queue");
    let seqs = q.push_batch((0..5).map(|i| (i, b"r"))).expect("batch");
    assert_eq!(q.remove(&[]).expect("nothing"), 0);
    // Duplicates and a missing sequence are fine.
    assert_eq!(
        q.remove(&[seqs[1], seqs[1], seqs[3], 999_999])
            .expect("remove"),
        2
    );
    assert_eq!(q.remove(&[seqs[1]]).expect("already gone"), 0);
    assert_eq!(q.len(), 3);
    let left: Vec<_> = q
        .peek_oldest(10)
        .expect("peek")
        .records
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(left, vec![seqs[0], seqs[2], seqs[4]]);
}

#[test]
fn clear_empties_and_queue_keeps_working() {
    let (_dir, store) = temp_store();
    let q = store.queue("clr").expect("queue");
    let seqs = q.push_batch((0..8).map(|i| (i, b"c"))).expect("batch");
    assert_eq!(q.clear().expect("clear"), 8);
    assert!(q.is_empty());
    assert!(q.peek_oldest(10).expect("peek").records.is_empty());
    let next = q.push(0, b"again").expect("push");
    assert!(next > seqs[7]);
    assert_eq!(q.len(), 1);
}

#[test]
fn names_and_drop_queue() {
    let (_dir, store) = temp_store();
    assert!(store.names().expect("names").is_empty());
    let a = store.queue("alpha").expect("a");
    let b = store.queue("beta").expect("b");
    a.push(0, b"1").expect("push");
    b.push(0, b"2").expect("push");
    assert_eq!(store.names().expect("names"), vec!["alpha", "beta"]);

    assert!(store.drop_queue("alpha").expect("drop"));
    assert!(!store.drop_queue("alpha").expect("drop again"));
    assert_eq!(store.names().expect("names"), vec!["beta"]);
    // The old handle is dead, with a clear error.
    let err = a.push(0, b"x").expect_err("dropped");
    assert!(matches!(err, StorageError::QueueDropped { .. }), "{err}");
    assert!(err.to_string().contains("\"alpha\""), "{err}");
    assert!(a.peek_oldest(1).is_err());
    // Opening it again gives a new, empty queue.
    let a2 = store.queue("alpha").expect("a again");
    assert!(a2.is_empty());
    a2.push(0, b"new").expect("push");
    assert_eq!(b.len(), 1);
}

#[test]
fn queues_are_independent_and_handles_share_state() {
    let (_dir, store) = temp_store();
    let a = store.queue("a").expect("a");
    let b = store.queue("b").expect("b");
    a.push(0, b"a").expect("push");
    assert_eq!((a.len(), b.len()), (1, 0));
    let a2 = store.queue("a").expect("a again");
    let s = a2.push(0, b"a2").expect("push");
    assert_eq!(a.len(), 2);
    assert_eq!(a.peek_oldest(5).expect("peek").records[1].seq, s);
    // Handles are Send + Sync + Clone.
    fn assert_traits<T: Send + Sync + Clone>() {}
    assert_traits::<plexus_storage::Queue>();
    assert_traits::<plexus_storage::Store>();
}

#[test]
fn invalid_queue_names_are_rejected() {
    let (_dir, store) = temp_store();
    for name in ["", "__sled__default", "bad\nname"] {
        let err = store.queue(name).expect_err("invalid");
        assert!(
            matches!(err, StorageError::InvalidQueueName { .. }),
            "{err}"
        );
    }
    let long = "x".repeat(256);
    assert!(store.queue(&long).is_err());
    assert!(store.queue(&"x".repeat(255)).is_ok());
}

#[test]
fn open_failure_names_the_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"plain file").expect("write");
    let err = Store::open(&file, StoreOptions::default()).expect_err("a file is no directory");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn reopen_right_after_close_is_never_locked() {
    // sled's background threads can hold the directory lock for a moment
    // after close; dropping the last handle waits for them.
    let dir = tempfile::tempdir().expect("temp dir");
    for round in 0..20u64 {
        let store = Store::open(dir.path(), StoreOptions::default())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let q = store.queue("again").expect("queue");
        q.push_batch((0..10).map(|i| (i, b"r"))).expect("batch");
        assert_eq!(q.len(), 10 * (round + 1));
    }
}

#[test]
fn a_stall_watch_sees_moving_writes_and_does_not_keep_the_store_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let watch = store.stall_watch();
    let q = store.queue("q").expect("queue");
    for i in 0..50u64 {
        q.push(i as i64, &payload(i)).expect("push");
    }
    assert_eq!(watch.stalled_for(), None, "no write is in progress");
    assert!(!watch.store_closed());
    drop(q);
    drop(store);
    assert!(watch.store_closed());
    assert_eq!(watch.stalled_for(), None);
    // The watch does not hold the directory.
    let again = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(again.queue("q").expect("queue").len(), 50);
}
