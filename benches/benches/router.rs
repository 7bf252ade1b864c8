//! Router fan-out: events through the Router to 4 in-process fake notifier
//! actors with mixed filters (a third of the events match all 4 plugins, a
//! third match 1, a third match none), against a baseline that fans the same
//! events out over raw crossbeam channels to 4 consumer threads.
//!
//! Both sides decide the targets with the same compiled `RoutingTable` and
//! share each event as one `Arc`, so the difference is what the actors
//! cost: mailboxes, the in-flight semaphore, the delivery lane and the
//! producer's round trip to the router. The fake plugin acknowledges at
//! once. An iteration ends when every delivery has finished (a `Drain` of
//! each actor; a flush marker through each channel).
//!
//! `cargo bench -p plexus-benches --bench router`

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_channel::{bounded, Sender};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use plexus_actors::delivery::PluginQueues;
use plexus_actors::event::Event;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::{NotifierActor, NotifierHandle, NotifierSettings};
use plexus_actors::queue::MemoryQueue;
use plexus_actors::router::{Publish, PublishBatch, Router, Target};
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_actors::{PluginCounters, RetryPolicy};
use plexus_proto::sftpgo::FsEvent;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events per iteration: 1 000 of each kind of match.
const EVENTS: u64 = 3_000;
/// Deliveries per iteration: 1 000 × 4 + 1 000 × 1 + 1 000 × 0.
const DELIVERIES: u64 = 5_000;
const PLUGINS: usize = 4;

/// upload: all four plugins; download: plugin 0 only; mkdir: none.
fn filters() -> Vec<NotifierFilter> {
    (0..PLUGINS)
        .map(|i| NotifierFilter {
            fs_events: if i == 0 {
                vec!["upload".into(), "download".into()]
            } else {
                vec!["upload".into()]
            },
            provider_events: vec!["add".into()],
            provider_objects: vec!["user".into()],
            log_events: vec![1],
        })
        .collect()
}

fn event(i: u64) -> Event {
    let action = ["upload", "download", "mkdir"][(i % 3) as usize];
    Event::Fs(FsEvent {
        timestamp: 1_764_000_000_000_000_000 + i as i64,
        action: action.into(),
        username: "user7".into(),
        fs_path: "/srv/sftpgo/data/user7/projects/report.pdf".into(),
        virtual_path: "/projects/report.pdf".into(),
        protocol: "SFTP".into(),
        status: 1,
        ip: "192.0.2.7".into(),
        session_id: "0123456789abcdef".into(),
        file_size: 123_456,
        ..Default::default()
    })
}

/// A plugin that acknowledges every event at once.
struct Ack;

impl NotifierTransport for Ack {
    fn deliver(&self, _: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        async { Ok(()) }.boxed()
    }
}

struct Pipeline {
    router: Addr<Router>,
    handles: Vec<NotifierHandle>,
    counters: Vec<Arc<PluginCounters>>,
}

fn pipeline() -> Pipeline {
    let mut targets = Vec::new();
    let mut handles = Vec::new();
    let mut counters = Vec::new();
    for i in 0..PLUGINS {
        let queues = PluginQueues {
            retry: Arc::new(MemoryQueue::new()),
            spill: Arc::new(MemoryQueue::new()),
            write_ahead: Arc::new(MemoryQueue::new()),
        };
        let plugin_counters: Arc<PluginCounters> = Arc::default();
        let settings = NotifierSettings::new(format!("fake-{i}"), RetryPolicy::from_sftpgo(60, 0));
        let actor = NotifierActor::new(
            settings,
            Some(Arc::new(Ack)),
            queues,
            plugin_counters.clone(),
        );
        let handle = actor.handle();
        targets.push(Target {
            addr: actor.start(),
            handle: handle.clone(),
        });
        handles.push(handle);
        counters.push(plugin_counters);
    }
    let router = Router::new(
        RoutingTable::compile(&filters()),
        targets,
        1024,
        plexus_actors::router::DEFAULT_OVERFLOW_WAIT,
    )
    .start();
    Pipeline {
        router,
        handles,
        counters,
    }
}

impl Pipeline {
    async fn drain(&self) {
        for handle in &self.handles {
            let drained = handle.drain(Duration::from_secs(30)).await;
            assert!(drained, "the fake actors drain");
        }
    }

    fn totals(&self) -> (u64, u64) {
        self.counters.iter().fold((0, 0), |(d, o), c| {
            let s = c.snapshot(0, 0);
            (d + s.delivered, o + s.overflowed)
        })
    }
}

enum Message {
    Event(Arc<Event>),
    Flush(Sender<()>),
}

/// 4 consumer threads behind bounded(1024) channels: the raw baseline.
struct Channels {
    senders: Vec<Sender<Message>>,
    received: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn channels() -> Channels {
    let received = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..PLUGINS {
        let (tx, rx) = bounded::<Message>(1024);
        let received = received.clone();
        threads.push(std::thread::spawn(move || {
            for message in rx {
                match message {
                    Message::Event(event) => {
                        std::hint::black_box(&event);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Message::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        }));
        senders.push(tx);
    }
    Channels {
        senders,
        received,
        threads,
    }
}

fn fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_fanout");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(EVENTS));

    let system = System::new();
    let plexus = system.block_on(async { pipeline() });
    group.bench_function("plexus_router_publish", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let began = Instant::now();
                for _ in 0..iters {
                    for i in 0..EVENTS {
                        let receipt = plexus.router.send(Publish(event(i))).await;
                        assert!(matches!(receipt, Ok(Ok(_))), "published");
                    }
                    plexus.drain().await;
                }
                began.elapsed()
            })
        })
    });
    // Several producers at once (e.g. many SFTP sessions): up to 64
    // `Publish` round trips outstanding instead of one.
    group.bench_function("plexus_router_publish_64_outstanding", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let began = Instant::now();
                for _ in 0..iters {
                    let mut outstanding = FuturesUnordered::new();
                    for i in 0..EVENTS {
                        if outstanding.len() >= 64 {
                            let receipt = outstanding.next().await;
                            assert!(matches!(receipt, Some(Ok(Ok(_)))), "published");
                        }
                        outstanding.push(plexus.router.send(Publish(event(i))));
                    }
                    while let Some(receipt) = outstanding.next().await {
                        assert!(matches!(receipt, Ok(Ok(_))), "published");
                    }
                    plexus.drain().await;
                }
                began.elapsed()
            })
        })
    });
    group.bench_function("plexus_router_publish_batch_256", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let began = Instant::now();
                for _ in 0..iters {
                    let mut i = 0;
                    while i < EVENTS {
                        let end = (i + 256).min(EVENTS);
                        let batch: Vec<Event> = (i..end).map(event).collect();
                        let receipts = plexus.router.send(PublishBatch(batch)).await;
                        assert!(matches!(receipts, Ok(Ok(_))), "published");
                        i = end;
                    }
                    plexus.drain().await;
                }
                began.elapsed()
            })
        })
    });
    let (delivered, overflowed) = plexus.totals();
    assert_eq!(
        delivered % DELIVERIES,
        0,
        "every matching delivery happened"
    );
    eprintln!("router: {delivered} deliveries, {overflowed} overflowed to the queue");

    let table = RoutingTable::compile(&filters());
    let raw = channels();
    group.bench_function("crossbeam_baseline", |b| {
        b.iter_custom(|iters| {
            let before = raw.received.load(Ordering::Relaxed);
            let began = Instant::now();
            for _ in 0..iters {
                for i in 0..EVENTS {
                    let event = Arc::new(event(i));
                    for &target in table.targets(&event) {
                        let sent = raw.senders[target].send(Message::Event(event.clone()));
                        assert!(sent.is_ok(), "consumer alive");
                    }
                }
                let (done_tx, done_rx) = bounded(PLUGINS);
                for sender in &raw.senders {
                    let sent = sender.send(Message::Flush(done_tx.clone()));
                    assert!(sent.is_ok(), "consumer alive");
                }
                for _ in 0..PLUGINS {
                    assert!(done_rx.recv().is_ok(), "consumer flushed");
                }
            }
            let elapsed = began.elapsed();
            let received = raw.received.load(Ordering::Relaxed) - before;
            assert_eq!(received, iters * DELIVERIES, "every delivery happened");
            elapsed
        })
    });
    group.finish();
    let Channels {
        senders, threads, ..
    } = raw;
    drop(senders);
    for thread in threads {
        let _ = thread.join();
    }
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
