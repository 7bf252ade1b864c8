//! Events/s through the Router to 4 in-process fake notifier actors with
//! mixed filters (events match 0, 1 or 4 plugins), published one at a time
//! and in batches. Prints figures, asserts nothing (the benchmarks in
//! `benches/` compare against a raw crossbeam baseline).
//!
//! `cargo run --release -p plexus-actors --example router_throughput`

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::delivery::PluginQueues;
use plexus_actors::event::Event;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::{NotifierActor, NotifierSettings};
use plexus_actors::queue::MemoryQueue;
use plexus_actors::router::{Publish, PublishBatch, Router, Target};
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_actors::{PluginCounters, RetryPolicy};
use plexus_proto::sftpgo::FsEvent;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Ack;

impl NotifierTransport for Ack {
    fn deliver(&self, _: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        async { Ok(()) }.boxed()
    }
}

fn event(i: u64) -> Event {
    // upload: all four plugins; download: one; mkdir: none.
    let action = ["upload", "download", "mkdir"][(i % 3) as usize];
    Event::Fs(FsEvent {
        action: action.into(),
        timestamp: i as i64,
        ..Default::default()
    })
}

#[actix::main]
async fn main() {
    let filters: Vec<NotifierFilter> = (0..4)
        .map(|i| NotifierFilter {
            fs_events: if i == 0 {
                vec!["upload".into(), "download".into()]
            } else {
                vec!["upload".into()]
            },
            ..Default::default()
        })
        .collect();
    let mut targets = Vec::new();
    let mut handles = Vec::new();
    let counters: Vec<Arc<PluginCounters>> = (0..4).map(|_| Arc::default()).collect();
    for (i, counters) in counters.iter().enumerate() {
        let queues = PluginQueues {
            retry: Arc::new(MemoryQueue::new()),
            spill: Arc::new(MemoryQueue::new()),
            write_ahead: Arc::new(MemoryQueue::new()),
        };
        let settings = NotifierSettings::new(format!("fake-{i}"), RetryPolicy::from_sftpgo(60, 0));
        let actor = NotifierActor::new(settings, Some(Arc::new(Ack)), queues, counters.clone());
        let handle = actor.handle();
        targets.push(Target {
            addr: actor.start(),
            handle: handle.clone(),
        });
        handles.push(handle);
    }
    let router = Router::new(
        RoutingTable::compile(&filters),
        targets,
        1024,
        plexus_actors::router::DEFAULT_OVERFLOW_WAIT,
    )
    .start();
    const N: u64 = 300_000;

    let began = Instant::now();
    for i in 0..N {
        let _ = router.send(Publish(event(i))).await;
    }
    for handle in &handles {
        handle.drain(Duration::from_secs(60)).await;
    }
    let one = began.elapsed();
    let began = Instant::now();
    let mut i = 0;
    while i < N {
        let batch: Vec<Event> = (i..(i + 256).min(N)).map(event).collect();
        let _ = router.send(PublishBatch(batch)).await;
        i += 256;
    }
    for handle in &handles {
        handle.drain(Duration::from_secs(60)).await;
    }
    let batched = began.elapsed();
    let deliveries: u64 = counters.iter().map(|c| c.snapshot(0, 0).delivered).sum();
    let overflow: u64 = counters.iter().map(|c| c.snapshot(0, 0).overflowed).sum();
    println!("{N} events (1/3 to 4 plugins, 1/3 to 1, 1/3 to none), 4 fake actors");
    println!(
        "publish one at a time: {:>9.0} events/s",
        N as f64 / one.as_secs_f64()
    );
    println!(
        "publish in batches of 256: {:>9.0} events/s",
        N as f64 / batched.as_secs_f64()
    );
    println!("deliveries {deliveries}, spilled to disk {overflow}");
    System::current().stop();
}
