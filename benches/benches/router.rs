//! Router fan-out: events through the actix `Router` to 4 in-process fake
//! notifier actors with mixed filters, against the same fan-out over raw
//! crossbeam channels to 4 consumer threads.
//!
//! Why: the router is the one hop every event takes; this shows what the
//! actor machinery (mailboxes, `Arc<Event>`, per-target bookkeeping) costs
//! over the cheapest possible fan-out. Both sides route with the same
//! compiled `RoutingTable`, so the filter work is equal. The event mix is a
//! third each of events matching 4, 1 and 0 plugins (5 deliveries per 3
//! events); throughput is counted in published events.

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::{Drain, NotifierActor, NotifierSettings, PluginQueues};
use plexus_actors::queue::MemoryQueue;
use plexus_actors::router::{PublishBatch, Router, Target};
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_actors::{PluginCounters, RetryPolicy};
use plexus_proto::sftpgo::FsEvent;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EVENTS: usize = 3 * 2048;
const BATCH: usize = 256;
const PLUGINS: usize = 4;

/// Acknowledges at once and counts.
struct CountingTransport(Arc<AtomicU64>);

impl NotifierTransport for CountingTransport {
    fn deliver(&self, _event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        futures::future::ready(Ok(())).boxed()
    }
}

fn filters() -> Vec<NotifierFilter> {
    let fs = |actions: &[&str]| NotifierFilter {
        fs_events: actions.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    vec![
        fs(&["upload", "download"]),
        fs(&["upload"]),
        fs(&["upload"]),
        fs(&["upload"]),
    ]
}

/// Matching 4, 1 and 0 plugins in turn.
fn events() -> Vec<Event> {
    (0..EVENTS)
        .map(|i| {
            let action = ["upload", "download", "mkdir"][i % 3];
            Event::Fs(FsEvent {
                timestamp: plexus_actors::policy::now_ns(),
                action: action.into(),
                session_id: i.to_string(),
                ..Default::default()
            })
        })
        .collect()
}

fn expected_deliveries(table: &RoutingTable, events: &[Event]) -> u64 {
    events.iter().map(|e| table.targets(e).len() as u64).sum()
}

struct ActorSide {
    router: Addr<Router>,
    actors: Vec<Addr<NotifierActor>>,
    delivered: Arc<AtomicU64>,
    counters: Vec<Arc<PluginCounters>>,
}

fn start_actors() -> ActorSide {
    let delivered = Arc::new(AtomicU64::new(0));
    let mut targets = Vec::new();
    let mut actors = Vec::new();
    let mut counters = Vec::new();
    for index in 0..PLUGINS {
        let queues = PluginQueues {
            retry: Arc::new(MemoryQueue::new()),
            write_ahead: Arc::new(MemoryQueue::new()),
        };
        let plugin_counters = Arc::new(PluginCounters::default());
        let mut settings =
            NotifierSettings::new(format!("fake-{index}"), RetryPolicy::from_sftpgo(0, 0));
        // Room for a whole iteration: the bench measures routing, not overflow.
        settings.mailbox_capacity = EVENTS * 2;
        let actor = NotifierActor::new(
            settings.clone(),
            Some(Arc::new(CountingTransport(delivered.clone()))),
            queues.clone(),
            plugin_counters.clone(),
        )
        .start();
        targets.push(Target {
            name: Arc::from(settings.name.as_str()),
            addr: actor.clone(),
            queues,
            counters: plugin_counters.clone(),
            durability: settings.durability,
        });
        actors.push(actor);
        counters.push(plugin_counters);
    }
    let router = Router::new(RoutingTable::compile(&filters()), targets, 1024).start();
    ActorSide {
        router,
        actors,
        delivered,
        counters,
    }
}

fn bench(c: &mut Criterion) {
    let table = RoutingTable::compile(&filters());
    let events = events();
    let expected = expected_deliveries(&table, &events);
    let mut group = c.benchmark_group("router_fanout_4_mixed");
    group
        .throughput(Throughput::Elements(EVENTS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    let system = System::new();
    let side = system.block_on(async { start_actors() });
    group.bench_function("plexus_router_actors", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let target = side.delivered.load(Ordering::Relaxed) + expected;
                    for chunk in events.chunks(BATCH) {
                        side.router
                            .send(PublishBatch(chunk.to_vec()))
                            .await
                            .expect("router alive")
                            .expect("published");
                    }
                    for actor in &side.actors {
                        let drained = actor
                            .send(Drain {
                                timeout: Duration::from_secs(10),
                            })
                            .await
                            .expect("actor alive");
                        assert!(drained, "drained in time");
                    }
                    assert_eq!(side.delivered.load(Ordering::Relaxed), target);
                }
                started.elapsed()
            })
        })
    });
    let overflowed: u64 = side
        .counters
        .iter()
        .map(|c| c.overflowed.load(Ordering::Relaxed))
        .sum();
    assert_eq!(overflowed, 0, "no event overflowed to the queue");

    group.bench_function("baseline_crossbeam_4_threads", |b| {
        b.iter_custom(|iters| {
            let consumed = Arc::new(AtomicU64::new(0));
            let (senders, consumers): (Vec<_>, Vec<_>) = (0..PLUGINS)
                .map(|_| {
                    let (tx, rx) = crossbeam_channel::bounded::<Arc<Event>>(1024);
                    let consumed = consumed.clone();
                    let handle = std::thread::spawn(move || {
                        for event in rx {
                            std::hint::black_box(&event);
                            consumed.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                    (tx, handle)
                })
                .unzip();
            let started = Instant::now();
            for round in 1..=iters {
                for event in &events {
                    let event = Arc::new(event.clone());
                    for &index in table.targets(&event) {
                        senders[index].send(event.clone()).expect("consumer alive");
                    }
                }
                while consumed.load(Ordering::Relaxed) < expected * round {
                    std::hint::spin_loop();
                }
            }
            let elapsed = started.elapsed();
            drop(senders);
            for consumer in consumers {
                consumer.join().expect("consumer thread");
            }
            elapsed
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
