//! The pipeline's behaviour with in-process fake plugins: routing, failure
//! policy, overflow, re-drive and isolation between plugins. (The same
//! behaviour with real plugin processes and the sled queue is tested in the
//! engine crate.)

mod support;

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::{Drain, NotifierActor, NotifierSettings, PluginQueues};
use plexus_actors::policy::{now_ns, RetryPolicy};
use plexus_actors::queue::MemoryQueue;
use plexus_actors::retry::{RedriveAll, RetryDriver};
use plexus_actors::router::{Publish, Router, Target};
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_actors::PluginCounters;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::eventually;

const OK: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

/// An in-process notifier that records what it receives.
#[derive(Default)]
struct FakePlugin {
    mode: AtomicU8,
    received: Mutex<Vec<Event>>,
}

impl FakePlugin {
    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Event> {
        self.received.lock().unwrap().clone()
    }
}

struct FakeTransport(Arc<FakePlugin>);

impl NotifierTransport for FakeTransport {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        let plugin = self.0.clone();
        async move {
            match plugin.mode.load(Ordering::SeqCst) {
                OK => {
                    plugin.received.lock().unwrap().push((*event).clone());
                    Ok(())
                }
                FAIL => Err(DeliveryError::Unavailable("fake failure".into())),
                _ => futures::future::pending().await,
            }
        }
        .boxed()
    }
}

struct Harness {
    router: Addr<Router>,
    plugins: Vec<Arc<FakePlugin>>,
    actors: Vec<Addr<NotifierActor>>,
    counters: Vec<Arc<PluginCounters>>,
    queues: Vec<PluginQueues>,
}

fn harness(
    filters: Vec<NotifierFilter>,
    policy: RetryPolicy,
    tune: impl Fn(&mut NotifierSettings),
) -> Harness {
    let mut targets = Vec::new();
    let mut plugins = Vec::new();
    let mut actors = Vec::new();
    let mut counters = Vec::new();
    let mut all_queues = Vec::new();
    for index in 0..filters.len() {
        let plugin = Arc::new(FakePlugin::default());
        let queues = PluginQueues {
            retry: Arc::new(MemoryQueue::new()),
            write_ahead: Arc::new(MemoryQueue::new()),
        };
        let plugin_counters = Arc::new(PluginCounters::default());
        let mut settings = NotifierSettings::new(format!("fake-{index}"), policy);
        tune(&mut settings);
        let actor = NotifierActor::new(
            settings.clone(),
            Some(Arc::new(FakeTransport(plugin.clone()))),
            queues.clone(),
            plugin_counters.clone(),
        )
        .start();
        targets.push(Target {
            name: Arc::from(settings.name.as_str()),
            addr: actor.clone(),
            queues: queues.clone(),
            counters: plugin_counters.clone(),
            durability: settings.durability,
        });
        plugins.push(plugin);
        actors.push(actor);
        counters.push(plugin_counters);
        all_queues.push(queues);
    }
    let router = Router::new(RoutingTable::compile(&filters), targets, 1024).start();
    Harness {
        router,
        plugins,
        actors,
        counters,
        queues: all_queues,
    }
}

fn fs(action: &str) -> Event {
    Event::Fs(FsEvent {
        timestamp: now_ns(),
        action: action.into(),
        ..Default::default()
    })
}

fn provider(action: &str, object: &str) -> Event {
    Event::Provider(ProviderEvent {
        timestamp: now_ns(),
        action: action.into(),
        object_type: object.into(),
        ..Default::default()
    })
}

fn log(id: i32) -> Event {
    Event::Log(LogEvent {
        timestamp: now_ns(),
        event: id,
        ..Default::default()
    })
}

async fn drain(actors: &[Addr<NotifierActor>]) {
    for actor in actors {
        assert!(
            actor
                .send(Drain {
                    timeout: Duration::from_secs(5)
                })
                .await
                .unwrap(),
            "drained in time"
        );
    }
}

const FS_ACTIONS: [&str; 13] = [
    "upload",
    "download",
    "first-upload",
    "first-download",
    "delete",
    "rename",
    "mkdir",
    "rmdir",
    "copy",
    "ssh_cmd",
    "pre-upload",
    "pre-download",
    "pre-delete",
];

#[actix::test]
async fn filter_matrix_routes_every_event_to_exactly_the_matching_plugins() {
    let everything_fs = NotifierFilter {
        fs_events: FS_ACTIONS.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let add_user = NotifierFilter {
        provider_events: vec!["add".into()],
        provider_objects: vec!["user".into()],
        ..Default::default()
    };
    let update_folder_and_logs = NotifierFilter {
        provider_events: vec!["update".into()],
        provider_objects: vec!["folder".into(), "group".into()],
        log_events: vec![1, 2, 3, 4, 5],
        ..Default::default()
    };
    let matches_nothing = NotifierFilter {
        fs_events: vec!["no-such-action".into()],
        ..Default::default()
    };
    let h = harness(
        vec![
            everything_fs,
            add_user,
            update_folder_and_logs,
            matches_nothing,
        ],
        RetryPolicy::from_sftpgo(0, 0),
        |_| {},
    );
    let mut events = Vec::new();
    for action in FS_ACTIONS {
        events.push(fs(action));
    }
    for action in ["add", "update", "delete"] {
        for object in ["user", "folder", "group", "admin", "api_key", "share"] {
            events.push(provider(action, object));
        }
    }
    for id in 1..=6 {
        events.push(log(id));
    }
    for event in &events {
        h.router
            .send(Publish(event.clone()))
            .await
            .unwrap()
            .unwrap();
    }
    drain(&h.actors).await;

    let got: Vec<Vec<Event>> = h.plugins.iter().map(|p| p.received()).collect();
    assert_eq!(got[0].len(), FS_ACTIONS.len());
    assert!(got[0].iter().all(|e| matches!(e, Event::Fs(_))));
    assert_eq!(got[1], vec![provider_like(&events, "add", "user")]);
    let kinds: Vec<String> = got[2]
        .iter()
        .map(|e| match e {
            Event::Provider(p) => format!("{}:{}", p.action, p.object_type),
            Event::Log(l) => format!("log:{}", l.event),
            Event::Fs(f) => format!("fs:{}", f.action),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "update:folder",
            "update:group",
            "log:1",
            "log:2",
            "log:3",
            "log:4",
            "log:5"
        ]
    );
    assert!(
        got[3].is_empty(),
        "a plugin with no matching filter receives nothing"
    );
}

fn provider_like(events: &[Event], action: &str, object: &str) -> Event {
    events
        .iter()
        .find(|e| matches!(e, Event::Provider(p) if p.action == action && p.object_type == object))
        .cloned()
        .unwrap()
}

#[actix::test]
async fn failed_deliveries_are_queued_then_redriven_in_order() {
    let h = harness(
        vec![NotifierFilter {
            fs_events: vec!["upload".into()],
            ..Default::default()
        }],
        RetryPolicy::from_sftpgo(60, 0),
        |s| s.max_in_flight = 1,
    );
    h.plugins[0].set(FAIL);
    for i in 0..20 {
        let mut event = fs("upload");
        if let Event::Fs(e) = &mut event {
            e.file_size = i;
        }
        h.router.send(Publish(event)).await.unwrap().unwrap();
    }
    drain(&h.actors).await;
    assert_eq!(h.queues[0].retry.len(), 20);
    let stats = h.counters[0].snapshot(20);
    assert_eq!((stats.failed, stats.queued, stats.delivered), (20, 20, 0));

    h.plugins[0].set(OK);
    let driver = RetryDriver::new(h.actors.clone(), Duration::from_secs(3600)).start();
    driver.send(RedriveAll).await.unwrap();
    let queue = h.queues[0].retry.clone();
    eventually("queue drained", || queue.is_empty()).await;
    let sizes: Vec<i64> = h.plugins[0]
        .received()
        .iter()
        .map(|e| match e {
            Event::Fs(f) => f.file_size,
            _ => -1,
        })
        .collect();
    assert_eq!(sizes, (0..20).collect::<Vec<_>>(), "oldest first");
    let stats = h.counters[0].snapshot(0);
    assert_eq!((stats.redriven, stats.delivered), (20, 20));
}

#[actix::test]
async fn queue_full_drops_are_counted_exactly() {
    let h = harness(
        vec![NotifierFilter {
            log_events: vec![1],
            ..Default::default()
        }],
        RetryPolicy::from_sftpgo(60, 7),
        |_| {},
    );
    h.plugins[0].set(FAIL);
    for _ in 0..25 {
        h.router.send(Publish(log(1))).await.unwrap().unwrap();
    }
    drain(&h.actors).await;
    let stats = h.counters[0].snapshot(h.queues[0].retry.len());
    assert_eq!(stats.queue_len, 7);
    assert_eq!(stats.queued, 7);
    assert_eq!(stats.dropped_queue_full, 18);
    assert_eq!(stats.failed, 25);
}

#[actix::test]
async fn too_old_events_are_dropped_on_failure_and_at_redrive_counted_exactly() {
    let h = harness(
        vec![NotifierFilter {
            log_events: vec![1],
            ..Default::default()
        }],
        RetryPolicy::from_sftpgo(2, 0),
        |_| {},
    );
    h.plugins[0].set(FAIL);
    let old = Event::Log(LogEvent {
        timestamp: now_ns() - 10_000_000_000,
        event: 1,
        ..Default::default()
    });
    for _ in 0..3 {
        h.router.send(Publish(old.clone())).await.unwrap().unwrap();
    }
    // Young enough now; too old by the time of the re-drive below.
    let aging = Event::Log(LogEvent {
        timestamp: now_ns() - 1_500_000_000,
        event: 1,
        ..Default::default()
    });
    for _ in 0..4 {
        h.router
            .send(Publish(aging.clone()))
            .await
            .unwrap()
            .unwrap();
    }
    drain(&h.actors).await;
    assert_eq!(h.counters[0].snapshot(0).dropped_too_old, 3);
    assert_eq!(h.queues[0].retry.len(), 4);
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.plugins[0].set(OK);
    let driver = RetryDriver::new(h.actors.clone(), Duration::from_secs(3600)).start();
    driver.send(RedriveAll).await.unwrap();
    let queue = h.queues[0].retry.clone();
    eventually("too-old records discarded", || queue.is_empty()).await;
    let stats = h.counters[0].snapshot(0);
    assert_eq!(stats.dropped_too_old, 7);
    assert_eq!(stats.redriven, 0);
    assert!(h.plugins[0].received().is_empty());
}

#[actix::test]
async fn without_retries_failures_are_dropped_and_counted() {
    let h = harness(
        vec![NotifierFilter {
            log_events: vec![1],
            ..Default::default()
        }],
        RetryPolicy::from_sftpgo(0, 0),
        |_| {},
    );
    h.plugins[0].set(FAIL);
    for _ in 0..5 {
        h.router.send(Publish(log(1))).await.unwrap().unwrap();
    }
    drain(&h.actors).await;
    let stats = h.counters[0].snapshot(h.queues[0].retry.len());
    assert_eq!((stats.dropped_no_retry, stats.queue_len), (5, 0));
}

#[actix::test]
async fn a_hanging_plugin_does_not_block_the_others() {
    let h = harness(
        vec![
            NotifierFilter {
                fs_events: vec!["upload".into()],
                ..Default::default()
            },
            NotifierFilter {
                fs_events: vec!["upload".into()],
                ..Default::default()
            },
        ],
        RetryPolicy::from_sftpgo(60, 0),
        |s| {
            s.max_in_flight = 4;
            s.mailbox_capacity = 8;
        },
    );
    h.plugins[0].set(HANG);
    for _ in 0..200 {
        h.router.send(Publish(fs("upload"))).await.unwrap().unwrap();
    }
    let healthy = h.plugins[1].clone();
    eventually("the healthy plugin got everything", || {
        healthy.received().len() == 200
    })
    .await;
    // The hanging plugin holds 4 in flight and a full mailbox; the rest overflowed to its queue.
    let stats = h.counters[0].snapshot(h.queues[0].retry.len());
    assert!(stats.overflowed >= 200 - 4 - 8 - 2, "overflow: {stats:?}");
    assert_eq!(stats.queue_len, stats.overflowed);
    assert_eq!(h.counters[1].snapshot(0).overflowed, 0);
}

#[actix::test]
async fn a_published_batch_is_routed_in_order_with_a_receipt_per_event() {
    use plexus_actors::router::PublishBatch;
    let h = harness(
        vec![
            NotifierFilter {
                fs_events: vec!["upload".into()],
                ..Default::default()
            },
            NotifierFilter {
                fs_events: vec!["upload".into(), "delete".into()],
                ..Default::default()
            },
        ],
        RetryPolicy::from_sftpgo(60, 0),
        |s| {
            s.max_in_flight = 1;
            s.durability = plexus_actors::Durability::WriteAhead;
        },
    );
    let events: Vec<Event> = (0..50)
        .map(|i| fs(if i % 2 == 0 { "upload" } else { "delete" }))
        .collect();
    let receipts = h
        .router
        .send(PublishBatch(events.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipts.len(), 50);
    assert!(receipts
        .iter()
        .enumerate()
        .all(|(i, r)| r.targets == if i % 2 == 0 { 2 } else { 1 }));
    drain(&h.actors).await;
    assert_eq!(h.plugins[1].received(), events, "in order");
    assert_eq!(h.plugins[0].received().len(), 25);
    // Write-ahead records are removed once delivered.
    let queues = h.queues.clone();
    eventually("write-ahead queues emptied", || {
        queues.iter().all(|q| q.write_ahead.is_empty())
    })
    .await;
}
