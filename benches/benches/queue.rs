//! The durable queue (`plexus-storage`, sled with group commit) against raw
//! sled doing the same work with the same bytes.
//!
//! - `durable_queue_push`: `push_batch` of 256 and of 4 096 records,
//!   returning once a flush covers them, from one thread, and 4 threads
//!   pushing 64 each at once (their flushes are shared: group commit),
//!   against raw sled inserting the same payloads and calling `flush` once
//!   per batch, and raw sled inserting without any flush (the storage
//!   engine's own ceiling). The queue adds a header
//!   and CRC per record, its count bound, its sequence counter and atomic
//!   batches; the raw baseline has none of that.
//! - `durable_queue_drain`: empty a queue of 25 600 records, 256 at a time
//!   (`peek_oldest` + `remove`), then wait for the removals to be flushed,
//!   against raw sled scanning 256 keys, removing them in one batch, and one
//!   flush at the end.
//! - `write_ahead_cycle`: what write-ahead durability costs per event:
//!   append N records, wait until they are durable, remove them, wait
//!   again; the log-structured `LogQueue` (an append to an in-memory buffer
//!   per event, one `write(2)` per flush, one settle record per removal)
//!   against the sled `Queue` (`push_nowait` per event, `flush`, `remove`,
//!   `flush`), for N = 256 and 4 096.
//!
//! Payloads are real queue records: the durable encoding of an SFTPGo
//! upload event (≈ 150 bytes).
//!
//! `cargo bench -p plexus-benches --bench queue` (one group: add its name,
//! e.g. `-- write_ahead_cycle`)

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use plexus_actors::event::{encode, Origin};
use plexus_proto::sftpgo::FsEvent;
use plexus_proto::Event;
use plexus_storage::{Durability, LogOptions, LogQueue, Queue, Store, StoreOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 256;
/// A batch as large as a busy re-drive or a burst of overflow writes.
const BIG_BATCH: usize = 4096;
const WRITERS: usize = 4;
const DRAIN_RECORDS: usize = 25_600;
/// Clear the stores between measurements once they hold this many records,
/// so both sides always work on a store of similar size.
const CLEAR_ABOVE: u64 = 200_000;
const TIMESTAMP: i64 = 1_764_000_000_000_000_000;

fn payload() -> Vec<u8> {
    encode(
        &Event::Fs(FsEvent {
            timestamp: TIMESTAMP,
            action: "upload".into(),
            username: "user7".into(),
            fs_path: "/srv/sftpgo/data/user7/projects/dir3/report-1234.pdf".into(),
            virtual_path: "/projects/dir3/report-1234.pdf".into(),
            protocol: "SFTP".into(),
            status: 1,
            ip: "192.0.2.7".into(),
            session_id: "00000000000000b0".into(),
            file_size: 9_772_046,
            open_flags: 577,
            elapsed: 437,
            ..Default::default()
        }),
        Origin::Failed,
    )
}

fn open_queue(dir: &std::path::Path) -> (Store, Queue) {
    let store = Store::open(dir, StoreOptions::default()).expect("open the store");
    let queue = store.queue("bench").expect("open the queue");
    (store, queue)
}

fn open_sled(dir: &std::path::Path) -> (sled::Db, sled::Tree) {
    // sled's settings as plexus-storage opens it: 64 MiB cache, fsync every 500 ms.
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(64 * 1024 * 1024)
        .flush_every_ms(Some(500))
        .open()
        .expect("open sled");
    let tree = db.open_tree("bench").expect("open the tree");
    (db, tree)
}

/// Raw sled: insert a batch under increasing keys, then flush.
fn sled_insert_flush(
    tree: &sled::Tree,
    next: &std::sync::atomic::AtomicU64,
    payload: &[u8],
    n: usize,
) {
    let first = next.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    for key in first..first + n as u64 {
        tree.insert(key.to_be_bytes(), payload)
            .expect("sled insert");
    }
    tree.flush().expect("sled flush");
}

fn push(c: &mut Criterion) {
    let payload = Arc::new(payload());
    let mut group = c.benchmark_group("durable_queue_push");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let dir = tempfile::tempdir().expect("temp dir");
    let (_store, queue) = open_queue(&dir.path().join("plexus"));
    let (_db, tree) = open_sled(&dir.path().join("sled"));
    let next_key = Arc::new(std::sync::atomic::AtomicU64::new(0));

    for batch in [BATCH, BIG_BATCH] {
        let parameter = format!("1 writer x {batch}");
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("plexus_push_batch", &parameter), |b| {
            b.iter_custom(|iters| {
                if queue.len() > CLEAR_ABOVE {
                    queue.clear().expect("clear");
                    queue.flush().expect("flush");
                }
                let began = Instant::now();
                for _ in 0..iters {
                    queue
                        .push_batch((0..batch).map(|_| (TIMESTAMP, payload.as_slice())))
                        .expect("push_batch");
                }
                began.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("sled_insert_flush", &parameter), |b| {
            b.iter_custom(|iters| {
                if tree.len() as u64 > CLEAR_ABOVE {
                    tree.clear().expect("clear");
                    tree.flush().expect("flush");
                }
                let began = Instant::now();
                for _ in 0..iters {
                    sled_insert_flush(&tree, &next_key, &payload, batch);
                }
                began.elapsed()
            })
        });
    }

    // The ceiling of the storage engine itself: the same inserts, never flushed.
    group.throughput(Throughput::Elements(BIG_BATCH as u64));
    group.bench_function(
        BenchmarkId::new(
            "sled_insert_without_flush",
            format!("1 writer x {BIG_BATCH}"),
        ),
        |b| {
            b.iter_custom(|iters| {
                if tree.len() as u64 > CLEAR_ABOVE {
                    tree.clear().expect("clear");
                    tree.flush().expect("flush");
                }
                let began = Instant::now();
                for _ in 0..iters {
                    let first =
                        next_key.fetch_add(BIG_BATCH as u64, std::sync::atomic::Ordering::Relaxed);
                    for key in first..first + BIG_BATCH as u64 {
                        tree.insert(key.to_be_bytes(), payload.as_slice())
                            .expect("sled insert");
                    }
                }
                began.elapsed()
            })
        },
    );

    // 4 writers at once, 64 records each per iteration: 256 per iteration.
    group.throughput(Throughput::Elements(BATCH as u64));
    let per_writer = BATCH / WRITERS;
    group.bench_function(
        BenchmarkId::new("plexus_push_batch", "4 writers x 64"),
        |b| {
            b.iter_custom(|iters| {
                if queue.len() > CLEAR_ABOVE {
                    queue.clear().expect("clear");
                    queue.flush().expect("flush");
                }
                let began = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..WRITERS {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                queue
                                    .push_batch(
                                        (0..per_writer).map(|_| (TIMESTAMP, payload.as_slice())),
                                    )
                                    .expect("push_batch");
                            }
                        });
                    }
                });
                began.elapsed()
            })
        },
    );
    group.bench_function(
        BenchmarkId::new("sled_insert_flush", "4 writers x 64"),
        |b| {
            b.iter_custom(|iters| {
                if tree.len() as u64 > CLEAR_ABOVE {
                    tree.clear().expect("clear");
                    tree.flush().expect("flush");
                }
                let began = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..WRITERS {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                sled_insert_flush(&tree, &next_key, &payload, per_writer);
                            }
                        });
                    }
                });
                began.elapsed()
            })
        },
    );
    group.finish();
}

fn drain(c: &mut Criterion) {
    let payload = payload();
    let mut group = c.benchmark_group("durable_queue_drain");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(DRAIN_RECORDS as u64));

    let dir = tempfile::tempdir().expect("temp dir");
    let (_store, queue) = open_queue(&dir.path().join("plexus"));
    let (_db, tree) = open_sled(&dir.path().join("sled"));
    let next_key = std::sync::atomic::AtomicU64::new(0);

    group.bench_function("plexus_peek_remove", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..DRAIN_RECORDS / BATCH {
                    queue
                        .push_batch_with(
                            (0..BATCH).map(|_| (TIMESTAMP, payload.as_slice())),
                            Durability::Deferred,
                        )
                        .expect("fill");
                }
                queue.flush().expect("flush");
                let began = Instant::now();
                let mut drained = 0;
                loop {
                    let peeked = queue.peek_oldest(BATCH).expect("peek");
                    if peeked.records.is_empty() {
                        break;
                    }
                    let seqs: Vec<u64> = peeked.records.iter().map(|r| r.seq).collect();
                    drained += queue.remove(&seqs).expect("remove");
                }
                queue.flush().expect("flush");
                total += began.elapsed();
                assert_eq!(drained, DRAIN_RECORDS, "drained everything");
            }
            total
        })
    });
    group.bench_function("sled_scan_remove", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..DRAIN_RECORDS / BATCH {
                    let first =
                        next_key.fetch_add(BATCH as u64, std::sync::atomic::Ordering::Relaxed);
                    let mut batch = sled::Batch::default();
                    for key in first..first + BATCH as u64 {
                        batch.insert(&key.to_be_bytes(), payload.as_slice());
                    }
                    tree.apply_batch(batch).expect("fill");
                }
                tree.flush().expect("flush");
                let began = Instant::now();
                let mut drained = 0;
                loop {
                    let mut keys = Vec::with_capacity(BATCH);
                    for item in tree.iter().take(BATCH) {
                        let (key, value) = item.expect("scan");
                        std::hint::black_box(&value);
                        keys.push(key);
                    }
                    if keys.is_empty() {
                        break;
                    }
                    drained += keys.len();
                    let mut batch = sled::Batch::default();
                    for key in keys {
                        batch.remove(key);
                    }
                    tree.apply_batch(batch).expect("remove");
                }
                tree.flush().expect("flush");
                total += began.elapsed();
                assert_eq!(drained, DRAIN_RECORDS, "drained everything");
            }
            total
        })
    });
    group.finish();
}

fn write_ahead_cycle(c: &mut Criterion) {
    let payload = payload();
    let mut group = c.benchmark_group("write_ahead_cycle");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let dir = tempfile::tempdir().expect("temp dir");
    let log = LogQueue::open(dir.path().join("log"), LogOptions::default()).expect("open log");
    let (_store, queue) = open_queue(&dir.path().join("plexus"));

    for n in [BATCH, BIG_BATCH] {
        let parameter = format!("{n} events");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("log_queue", &parameter), |b| {
            b.iter_custom(|iters| {
                let mut seqs = Vec::with_capacity(n);
                let began = Instant::now();
                for _ in 0..iters {
                    seqs.clear();
                    for _ in 0..n {
                        seqs.push(log.append(TIMESTAMP, &payload).expect("append"));
                    }
                    log.flush().expect("flush appends");
                    log.remove(&seqs).expect("remove");
                    log.flush().expect("flush removals");
                }
                began.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("sled_queue", &parameter), |b| {
            b.iter_custom(|iters| {
                let mut seqs = Vec::with_capacity(n);
                let began = Instant::now();
                for _ in 0..iters {
                    seqs.clear();
                    for _ in 0..n {
                        seqs.push(queue.push_nowait(TIMESTAMP, &payload).expect("push"));
                    }
                    queue.flush().expect("flush pushes");
                    queue.remove(&seqs).expect("remove");
                    queue.flush().expect("flush removals");
                }
                began.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, push, drain, write_ahead_cycle);
criterion_main!(benches);
