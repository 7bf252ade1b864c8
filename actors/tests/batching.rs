//! The delivery lane with a transport that batches: events that wait while
//! calls are busy travel together, no more calls than allowed are in
//! flight, every event gets its own outcome, and a call that answers too
//! few outcomes loses nothing. (With real plugin processes: the engine's
//! and interop crates' tests.)

mod support;

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::delivery::policy::{now_ns, RetryPolicy};
use plexus_actors::delivery::{Deliver, PluginQueues};
use plexus_actors::event::Event;
use plexus_actors::notifier::{NotifierActor, NotifierHandle, NotifierSettings};
use plexus_actors::queue::{MemoryQueue, RecordQueue};
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_actors::PluginCounters;
use plexus_proto::sftpgo::FsEvent;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::eventually;
use tokio::sync::Notify;

const MAX_BATCH: usize = 8;
const CALLS: usize = 2;

/// A batching plugin: records each call's size, fails events whose action is
/// "fail", may answer one outcome short, and holds calls while gated.
#[derive(Default)]
struct BatchPlugin {
    gated: AtomicBool,
    gate: Notify,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    batch_sizes: Mutex<Vec<usize>>,
    delivered: Mutex<Vec<i64>>,
    answer_one_short: AtomicBool,
}

struct BatchTransport(Arc<BatchPlugin>);

impl NotifierTransport for BatchTransport {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        self.deliver_batch(vec![event])
            .map(|mut outcomes| {
                outcomes
                    .pop()
                    .unwrap_or(Err(DeliveryError::Unavailable("no outcome".into())))
            })
            .boxed()
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn calls_in_flight(&self) -> Option<usize> {
        Some(CALLS)
    }

    fn deliver_batch(
        &self,
        events: Vec<Arc<Event>>,
    ) -> BoxFuture<'static, Vec<Result<(), DeliveryError>>> {
        let plugin = self.0.clone();
        async move {
            let now = plugin.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            plugin.most_in_flight.fetch_max(now, Ordering::SeqCst);
            plugin.batch_sizes.lock().unwrap().push(events.len());
            while plugin.gated.load(Ordering::SeqCst) {
                let released = plugin.gate.notified();
                if !plugin.gated.load(Ordering::SeqCst) {
                    break;
                }
                released.await;
            }
            let mut outcomes: Vec<_> = events
                .iter()
                .map(|event| match &**event {
                    Event::Fs(fs) if fs.action == "fail" => Err(DeliveryError::Status {
                        code: "Internal".into(),
                        message: "refused".into(),
                    }),
                    other => {
                        plugin.delivered.lock().unwrap().push(other.timestamp_ns());
                        Ok(())
                    }
                })
                .collect();
            if plugin.answer_one_short.load(Ordering::SeqCst) {
                if let Some(Ok(())) = outcomes.pop() {
                    // The plugin did not say it took the last one.
                    plugin.delivered.lock().unwrap().pop();
                }
            }
            plugin.in_flight.fetch_sub(1, Ordering::SeqCst);
            outcomes
        }
        .boxed()
    }
}

struct Setup {
    plugin: Arc<BatchPlugin>,
    actor: Addr<NotifierActor>,
    handle: NotifierHandle,
    counters: Arc<PluginCounters>,
    retry: Arc<MemoryQueue>,
}

fn setup() -> Setup {
    let plugin = Arc::new(BatchPlugin::default());
    let retry = Arc::new(MemoryQueue::new());
    let queues = PluginQueues {
        retry: retry.clone(),
        spill: Arc::new(MemoryQueue::new()),
        write_ahead: Arc::new(MemoryQueue::new()),
    };
    let counters = Arc::new(PluginCounters::default());
    let settings = NotifierSettings::new("batch-plugin", RetryPolicy::from_sftpgo(60, 0));
    let actor = NotifierActor::new(
        settings,
        Some(Arc::new(BatchTransport(plugin.clone()))),
        queues,
        counters.clone(),
    );
    let handle = actor.handle();
    Setup {
        plugin,
        actor: actor.start(),
        handle,
        counters,
        retry,
    }
}

fn event(i: i64, action: &str) -> Arc<Event> {
    Arc::new(Event::Fs(FsEvent {
        timestamp: now_ns() - 1_000_000 + i,
        action: action.into(),
        ..Default::default()
    }))
}

async fn deliver_all(actor: &Addr<NotifierActor>, events: &[Arc<Event>]) {
    for event in events {
        actor
            .send(Deliver::new(event.clone()))
            .await
            .expect("the actor is running");
    }
}

async fn drained(handle: &NotifierHandle) {
    let done = handle.drain(Duration::from_secs(5)).await;
    assert!(done, "every delivery settled in time");
}

#[actix::test]
async fn waiting_events_share_calls_within_the_call_and_batch_bounds() {
    let s = setup();
    s.plugin.gated.store(true, Ordering::SeqCst);
    let events: Vec<_> = (0..100).map(|i| event(i, "upload")).collect();
    deliver_all(&s.actor, &events).await;
    // Two calls started at once (one event each: nothing was waiting yet);
    // the other 98 wait for a free call.
    eventually("two calls in flight", || {
        s.plugin.in_flight.load(Ordering::SeqCst) == CALLS
    })
    .await;
    s.plugin.gated.store(false, Ordering::SeqCst);
    s.plugin.gate.notify_waiters();
    drained(&s.handle).await;

    let sizes = s.plugin.batch_sizes.lock().unwrap().clone();
    assert!(s.plugin.most_in_flight.load(Ordering::SeqCst) <= CALLS);
    assert!(
        sizes.iter().all(|&n| (1..=MAX_BATCH).contains(&n)),
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    assert!(
        sizes.iter().filter(|&&n| n == MAX_BATCH).count() >= 10,
        "waiting events went out in full batches: {sizes:?}"
    );
    let mut delivered = s.plugin.delivered.lock().unwrap().clone();
    delivered.sort_unstable();
    let mut sent: Vec<i64> = events.iter().map(|e| e.timestamp_ns()).collect();
    sent.sort_unstable();
    assert_eq!(delivered, sent, "every event exactly once");
    assert_eq!(s.counters.snapshot(0, 0).delivered, 100);
}

#[actix::test]
async fn each_event_of_a_batch_gets_its_own_outcome() {
    let s = setup();
    s.plugin.gated.store(true, Ordering::SeqCst);
    let events: Vec<_> = (0..40)
        .map(|i| event(i, if i % 5 == 0 { "fail" } else { "upload" }))
        .collect();
    deliver_all(&s.actor, &events).await;
    s.plugin.gated.store(false, Ordering::SeqCst);
    s.plugin.gate.notify_waiters();
    drained(&s.handle).await;

    let snapshot = s.counters.snapshot(s.retry.len(), 0);
    assert_eq!(snapshot.delivered, 32);
    assert_eq!(snapshot.failed, 8);
    assert_eq!(snapshot.queued, 8, "the refused events wait for a re-drive");
    assert_eq!(s.retry.len(), 8);
}

#[actix::test]
async fn a_call_answering_too_few_outcomes_loses_nothing() {
    let s = setup();
    s.plugin.answer_one_short.store(true, Ordering::SeqCst);
    s.plugin.gated.store(true, Ordering::SeqCst);
    let events: Vec<_> = (0..30).map(|i| event(i, "upload")).collect();
    deliver_all(&s.actor, &events).await;
    s.plugin.gated.store(false, Ordering::SeqCst);
    s.plugin.gate.notify_waiters();
    drained(&s.handle).await;

    let calls = s.plugin.batch_sizes.lock().unwrap().len() as u64;
    let snapshot = s.counters.snapshot(s.retry.len(), 0);
    assert_eq!(snapshot.failed, calls, "one unanswered event per call");
    assert_eq!(snapshot.delivered + snapshot.queued, 30);

    // The re-drive sends the queued ones again, now answered in full.
    s.plugin.answer_one_short.store(false, Ordering::SeqCst);
    s.handle.redrive_now();
    eventually("the queue is re-driven", || s.retry.is_empty()).await;
    let mut delivered = s.plugin.delivered.lock().unwrap().clone();
    delivered.sort_unstable();
    delivered.dedup();
    assert_eq!(delivered.len(), 30, "every event delivered in the end");
}
