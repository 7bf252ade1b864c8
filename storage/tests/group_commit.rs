//! Group commit: concurrent pushers share flushes.

mod common;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use plexus_storage::{Store, StoreOptions};

#[test]
fn concurrent_pushers_share_flushes() {
    const THREADS: usize = 8;
    const PUSHES: usize = 40;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(
        dir.path(),
        StoreOptions::default().max_flush_delay(Duration::from_millis(2)),
    )
    .expect("open");
    let q = store.queue("gc").expect("queue");
    let flushes_before = store.flush_count();
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let q = q.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..PUSHES)
                    .map(|i| {
                        q.push(i as i64, format!("{t}-{i}").as_bytes())
                            .expect("push")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("pusher"))
        .collect();
    let pushes = THREADS * PUSHES;
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), pushes, "every push got its own sequence number");
    assert_eq!(q.len(), pushes as u64);

    let flushes = store.flush_count() - flushes_before;
    eprintln!("{pushes} waiting pushes from {THREADS} threads took {flushes} flushes");
    assert!(flushes >= 1);
    assert!(
        (flushes as usize) * 4 <= pushes,
        "{flushes} flushes for {pushes} pushes: not grouped"
    );
}

#[test]
fn deferred_pushes_are_flushed_without_a_waiter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let q = store.queue("deferred").expect("queue");
    let before = store.flush_count();
    for i in 0..100 {
        q.push_nowait(i, b"d").expect("push");
    }
    // Poll with a deadline: the flusher picks them up on its own.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while store.flush_count() == before {
        assert!(std::time::Instant::now() < until, "no flush happened");
        std::thread::sleep(Duration::from_millis(1));
    }
    q.flush().expect("flush");
    store.flush().expect("store flush");
    assert!(store.flush_count() - before < 100);
}

#[test]
fn zero_delay_flushes_at_once_and_still_works() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(
        dir.path(),
        StoreOptions::default().max_flush_delay(Duration::ZERO),
    )
    .expect("open");
    let q = store.queue("z").expect("queue");
    for i in 0..20 {
        q.push(i, b"z").expect("push");
    }
    assert!(store.flush_count() >= 1);
    assert_eq!(q.len(), 20);
}

#[test]
fn many_flush_async_waiters_on_one_thread_share_one_flush() {
    const WRITERS: usize = 4;
    const PUSHES: usize = 25;
    const WAITERS: usize = 50;
    let dir = tempfile::tempdir().expect("temp dir");
    // A long gathering delay: with deferred pushes only, nothing is flushed
    // until somebody waits.
    let store = Store::open(
        dir.path(),
        StoreOptions::default().max_flush_delay(Duration::from_secs(60)),
    )
    .expect("open");
    let q = store.queue("async").expect("queue");
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..PUSHES {
                    q.push_nowait(i as i64, format!("{t}-{i}").as_bytes())
                        .expect("push");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let before = store.flush_count();
    let started = std::time::Instant::now();
    let waits: Vec<_> = (0..WAITERS)
        .map(|i| {
            if i % 2 == 0 {
                futures::future::Either::Left(q.flush_async())
            } else {
                futures::future::Either::Right(store.flush_async())
            }
        })
        .collect();
    let results = futures::executor::block_on(futures::future::join_all(waits));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The first waiter ended the gathering: no 60 s wait, one flush for all.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(store.flush_count() - before, 1);
    assert_eq!(q.len(), (WRITERS * PUSHES) as u64);
}

#[test]
fn flush_async_does_not_keep_the_store_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(
        dir.path(),
        StoreOptions::default().max_flush_delay(Duration::from_secs(60)),
    )
    .expect("open");
    let q = store.queue("async").expect("queue");
    q.push_nowait(1, b"pending").expect("push");
    let wait = q.flush_async();
    drop(q);
    drop(store);
    // Closed (its final flush made), so it can be opened again at once.
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    futures::executor::block_on(wait).expect("decided by the final flush");
    assert_eq!(store.queue("async").expect("queue").len(), 1);
}
