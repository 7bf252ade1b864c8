//! The durable queue: `push_batch` with group commit, and drain (peek the
//! oldest + remove), against raw sled doing the same with the same bytes.
//!
//! Why: every overflowing, failed or write-ahead event goes through this
//! queue, so its cost over sled itself (record framing with a CRC, the
//! length/age bookkeeping, the group-commit thread) must stay small. The
//! baseline inserts the same 256-byte payloads under big-endian u64 keys
//! and flushes once per batch, which is what a push_batch's durability
//! wait amounts to; its drain reads the first batch and removes it in one
//! sled `Batch`, then flushes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use plexus_storage::{Store, StoreOptions};
use std::time::{Duration, Instant};

const PAYLOAD: usize = 256;
const BATCH: usize = 1000;
const EVENTS: usize = 20 * BATCH;

fn payload() -> Vec<u8> {
    (0..PAYLOAD).map(|i| (i % 251) as u8).collect()
}

fn bench_push(c: &mut Criterion) {
    let bytes = payload();
    let mut group = c.benchmark_group("queue_push_batch_1000x256B");
    group
        .throughput(Throughput::Elements(EVENTS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
    let queue = store.queue("bench").expect("queue");
    group.bench_function("plexus_push_batch_group_commit", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                for _ in 0..EVENTS / BATCH {
                    queue
                        .push_batch((0..BATCH).map(|i| (i as i64, bytes.as_slice())))
                        .expect("push_batch");
                }
            }
            let elapsed = started.elapsed();
            queue.clear().expect("clear");
            elapsed
        })
    });

    let raw_dir = tempfile::tempdir().expect("temp dir");
    let db = sled::open(raw_dir.path()).expect("open sled");
    let tree = db.open_tree("bench").expect("tree");
    let mut next: u64 = 0;
    group.bench_function("baseline_sled_insert_flush", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                for _ in 0..EVENTS / BATCH {
                    for _ in 0..BATCH {
                        tree.insert(next.to_be_bytes(), bytes.as_slice())
                            .expect("insert");
                        next += 1;
                    }
                    tree.flush().expect("flush");
                }
            }
            let elapsed = started.elapsed();
            tree.clear().expect("clear");
            elapsed
        })
    });
    group.finish();
}

fn bench_drain(c: &mut Criterion) {
    let bytes = payload();
    let mut group = c.benchmark_group("queue_drain_peek_remove_1000");
    group
        .throughput(Throughput::Elements(EVENTS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
    let queue = store.queue("bench").expect("queue");
    group.bench_function("plexus_peek_oldest_remove", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..EVENTS / BATCH {
                    queue
                        .push_batch((0..BATCH).map(|i| (i as i64, bytes.as_slice())))
                        .expect("push_batch");
                }
                let started = Instant::now();
                loop {
                    let peeked = queue.peek_oldest(BATCH).expect("peek");
                    if peeked.records.is_empty() {
                        break;
                    }
                    let seqs: Vec<_> = peeked.records.iter().map(|r| r.seq).collect();
                    queue.remove(&seqs).expect("remove");
                }
                queue.flush().expect("flush");
                elapsed += started.elapsed();
            }
            elapsed
        })
    });

    let raw_dir = tempfile::tempdir().expect("temp dir");
    let db = sled::open(raw_dir.path()).expect("open sled");
    let tree = db.open_tree("bench").expect("tree");
    let mut next: u64 = 0;
    group.bench_function("baseline_sled_scan_remove_flush", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..EVENTS / BATCH {
                    for _ in 0..BATCH {
                        tree.insert(next.to_be_bytes(), bytes.as_slice())
                            .expect("insert");
                        next += 1;
                    }
                    tree.flush().expect("flush");
                }
                let started = Instant::now();
                loop {
                    let mut batch = sled::Batch::default();
                    let mut n = 0;
                    for item in tree.iter().take(BATCH) {
                        let (key, value) = item.expect("scan");
                        std::hint::black_box(&value);
                        batch.remove(key);
                        n += 1;
                    }
                    if n == 0 {
                        break;
                    }
                    tree.apply_batch(batch).expect("remove");
                }
                tree.flush().expect("flush");
                elapsed += started.elapsed();
            }
            elapsed
        })
    });
    group.finish();
}

criterion_group!(benches, bench_push, bench_drain);
criterion_main!(benches);
