//! The pipeline's behaviour with in-process fake plugins: routing, the
//! retry rule, backpressure and the spill queue, re-drives, byte-bounded
//! batches, shutdown and recovery. (The same behaviour with real plugin
//! processes and the sled queue is tested in the engine crate.)

mod support;

use plexus_actors::delivery::policy::now_ns;
use plexus_actors::event::Event;
use plexus_actors::filter::NotifierFilter;
use plexus_actors::notifier::NotifierSettings;
use plexus_actors::router::{Publish, PublishBatch};
use plexus_actors::RetryPolicy;
use plexus_proto::sftpgo::{FsEvent, ProviderEvent};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const SECOND: i64 = 1_000_000_000;

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
    let h = Harness::start(
        vec![
            everything_fs,
            add_user,
            update_folder_and_logs,
            matches_nothing,
        ],
        RetryPolicy::from_sftpgo(0, 0),
        Duration::from_secs(5),
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
        events.push(log(id, now_ns()));
    }
    for event in &events {
        h.router
            .send(Publish(event.clone()))
            .await
            .unwrap()
            .unwrap();
    }
    h.drained().await;

    let got: Vec<Vec<Event>> = h.plugins.iter().map(|p| p.fake.received()).collect();
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

async fn publish(h: &Harness, event: Event) {
    h.router.send(Publish(event)).await.unwrap().unwrap();
}

#[actix::test]
async fn failed_deliveries_are_queued_then_redriven_in_order() {
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(60, 0),
        Duration::from_secs(5),
        |s| s.max_in_flight = 1,
    );
    let plugin = &h.plugins[0];
    plugin.fake.set(Mode::Fail);
    for i in 0..20 {
        publish(&h, upload(i, now_ns())).await;
    }
    h.drained().await;
    let stats = plugin.stats();
    assert_eq!(
        (stats.failed, stats.queued, stats.delivered, stats.queue_len),
        (20, 20, 0, 20)
    );

    plugin.fake.set(Mode::Ok);
    plugin.handle.redrive_now();
    let queue = plugin.queues.retry.clone();
    eventually("queue drained", || queue.is_empty()).await;
    assert_eq!(
        plugin.fake.received_ids(),
        (0..20).collect::<Vec<_>>(),
        "oldest first"
    );
    let stats = plugin.stats();
    assert_eq!((stats.redriven, stats.delivered), (20, 20));
}

#[actix::test]
async fn one_failure_in_a_redrive_does_not_stop_the_others() {
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(60, 0),
        Duration::from_secs(5),
        |_| {},
    );
    let plugin = &h.plugins[0];
    plugin.fake.set(Mode::Fail);
    for i in 0..30 {
        publish(&h, upload(i, now_ns())).await;
    }
    h.drained().await;
    plugin.fake.set(Mode::Ok);
    plugin.fake.refuse(3);
    plugin.fake.refuse(17);
    plugin.handle.redrive_now();
    let fake = plugin.fake.clone();
    eventually("every other event delivered", || fake.count() == 28).await;
    h.drained().await;
    let queue = plugin.queues.retry.clone();
    eventually("the two refused stay queued", || queue.len() == 2).await;
    let expected: Vec<i64> = (0..30).filter(|i| *i != 3 && *i != 17).collect();
    assert_eq!(plugin.fake.received_ids(), expected);
}

#[actix::test]
async fn queue_full_drops_are_counted_exactly() {
    let h = Harness::start(
        vec![NotifierFilter {
            log_events: vec![1],
            ..Default::default()
        }],
        RetryPolicy::from_sftpgo(60, 7),
        Duration::from_secs(5),
        |_| {},
    );
    h.plugins[0].fake.set(Mode::Fail);
    for _ in 0..25 {
        publish(&h, log(1, now_ns())).await;
    }
    h.drained().await;
    let stats = h.plugins[0].stats();
    assert_eq!(stats.queue_len, 7);
    assert_eq!(stats.queued, 7);
    assert_eq!(stats.dropped_queue_full, 18);
    assert_eq!(stats.failed, 25);
}

#[actix::test]
async fn queued_events_are_retried_whatever_their_age_and_dropped_only_when_they_fail_again() {
    let clock = TestClock::at(1_000 * SECOND);
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(10, 0),
        Duration::from_secs(5),
        |s| s.clock = clock.clock(),
    );
    let plugin = &h.plugins[0];
    plugin.fake.set(Mode::Fail);
    // Too old already at the first failure: dropped at once.
    for i in 0..3 {
        publish(&h, upload(i, clock.now() - 11 * SECOND)).await;
    }
    // Young at the failure: queued.
    for i in 3..10 {
        publish(&h, upload(i, clock.now() - 2 * SECOND)).await;
    }
    h.drained().await;
    assert_eq!(plugin.stats().dropped_too_old, 3);
    assert_eq!(plugin.queues.retry.len(), 7);

    // The outage outlasts retry_max_time; the plugin recovers. SFTPGo sends
    // every queued event again and checks the age only on a new failure:
    // all are delivered.
    clock.advance(30 * SECOND);
    plugin.fake.set(Mode::Ok);
    plugin.fake.refuse(9);
    plugin.handle.redrive_now();
    let fake = plugin.fake.clone();
    eventually("the six delivered", || fake.count() == 6).await;
    h.drained().await;
    let queue = plugin.queues.retry.clone();
    eventually("the refused one dropped as too old", || queue.is_empty()).await;
    let stats = plugin.stats();
    assert_eq!(stats.redriven, 6);
    assert_eq!(stats.dropped_too_old, 4);
    assert_eq!(plugin.fake.received_ids(), vec![3, 4, 5, 6, 7, 8]);
}

#[actix::test]
async fn without_retries_failures_are_dropped_and_counted() {
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(0, 0),
        Duration::from_secs(5),
        |_| {},
    );
    h.plugins[0].fake.set(Mode::Fail);
    for i in 0..5 {
        publish(&h, upload(i, now_ns())).await;
    }
    h.drained().await;
    let stats = h.plugins[0].stats();
    assert_eq!((stats.dropped_no_retry, stats.queue_len), (5, 0));
}

#[actix::test]
async fn a_burst_larger_than_the_mailbox_waits_for_room_and_spills_nothing() {
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(0, 0),
        Duration::from_secs(30),
        |s| {
            s.max_in_flight = 4;
            s.max_calls_in_flight = 1;
            s.mailbox_capacity = 8;
        },
    );
    let plugin = &h.plugins[0];
    // The plugin is stalled while the burst starts: producers wait.
    plugin.fake.set(Mode::Stall);
    let router = h.router.clone();
    let burst = actix::spawn(async move {
        for i in 0..500 {
            router
                .send(Publish(upload(i, now_ns())))
                .await
                .unwrap()
                .unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !burst.is_finished(),
        "the producer waits while the plugin is full"
    );
    plugin.fake.set(Mode::Ok);
    burst.await.unwrap();
    h.drained().await;
    assert_eq!(plugin.fake.received_ids(), (0..500).collect::<Vec<_>>());
    let stats = plugin.stats();
    assert_eq!(
        (stats.overflowed, stats.spill_len, stats.delivered),
        (0, 0, 500)
    );
}

#[actix::test]
async fn a_stalled_plugin_spills_after_the_wait_and_drains_as_soon_as_it_has_room() {
    let h = Harness::start(
        vec![uploads(), uploads()],
        RetryPolicy::from_sftpgo(0, 0),
        Duration::from_millis(50),
        |s| {
            s.max_in_flight = 4;
            s.max_calls_in_flight = 1;
            s.mailbox_capacity = 8;
        },
    );
    let (stalled, healthy) = (&h.plugins[0], &h.plugins[1]);
    stalled.fake.set(Mode::Stall);
    for i in 0..200 {
        publish(&h, upload(i, now_ns())).await;
    }
    let fake = healthy.fake.clone();
    eventually("the healthy plugin got everything", || fake.count() == 200).await;
    let stats = stalled.stats();
    assert!(stats.overflowed >= 200 - 4 - 8 - 2, "spilled: {stats:?}");
    assert_eq!(stats.spill_len, stats.overflowed);
    assert_eq!(healthy.stats().overflowed, 0);

    // No re-drive, no timer (the retry interval is an hour): room is enough.
    stalled.fake.set(Mode::Ok);
    let fake = stalled.fake.clone();
    eventually("the stalled plugin caught up", || fake.count() == 200).await;
    assert_eq!(
        stalled.fake.received_ids(),
        (0..200).collect::<Vec<_>>(),
        "in order"
    );
    stalled.drained().await;
    let spill = stalled.queues.spill.clone();
    eventually("the spill queue emptied", || spill.is_empty()).await;
    assert_eq!(stalled.stats().redriven, 0);
}

#[actix::test]
async fn spilled_events_count_against_the_queue_size() {
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(60, 10),
        Duration::from_millis(20),
        |s| {
            s.max_in_flight = 1;
            s.mailbox_capacity = 1;
        },
    );
    let plugin = &h.plugins[0];
    plugin.fake.set(Mode::Stall);
    for i in 0..30 {
        publish(&h, upload(i, now_ns())).await;
    }
    let stats = plugin.stats();
    assert_eq!(stats.spill_len, 10, "{stats:?}");
    assert_eq!(stats.dropped_queue_full, 30 - 10 - 2, "{stats:?}");
}

#[actix::test]
async fn a_published_batch_is_routed_in_order_with_a_receipt_per_event() {
    let h = Harness::start(
        vec![
            uploads(),
            NotifierFilter {
                fs_events: vec!["upload".into(), "delete".into()],
                ..Default::default()
            },
        ],
        RetryPolicy::from_sftpgo(60, 0),
        Duration::from_secs(5),
        |s| {
            s.max_in_flight = 1;
            s.mailbox_capacity = 4;
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
        .all(|(i, r)| r.targets == if i % 2 == 0 { 2 } else { 1 } && r.overflowed.is_empty()));
    h.drained().await;
    assert_eq!(h.plugins[1].fake.received(), events, "in order");
    assert_eq!(h.plugins[0].fake.received().len(), 25);
    for plugin in &h.plugins {
        assert!(
            plugin.queues.write_ahead.is_empty(),
            "settled records removed"
        );
    }
}

#[actix::test]
async fn a_shutdown_keeps_every_undelivered_event_even_without_retries() {
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(0, 0),
        Duration::from_secs(5),
        |s| {
            s.max_in_flight = 4;
            s.mailbox_capacity = 8;
        },
    );
    let plugin = &h.plugins[0];
    plugin.fake.set(Mode::Stall);
    for i in 0..12 {
        publish(&h, upload(i, now_ns())).await;
    }
    assert!(
        plugin.handle.close(Duration::from_secs(5)).await,
        "closed in time"
    );
    let stats = plugin.stats();
    assert_eq!(stats.spill_len, 12, "{stats:?}");
    assert_eq!(stats.dropped(), 0);
    assert_eq!(stats.failed, 0, "a shutdown is not a failure");
}

#[actix::test]
async fn write_ahead_leftovers_are_recovered_and_delivered_first() {
    let queues = memory_queues();
    for i in 0..5 {
        let payload = plexus_actors::event::encode(
            &upload(i, now_ns()),
            plexus_actors::event::Origin::WriteAhead,
        );
        queues.write_ahead.append(now_ns(), &payload).unwrap();
    }
    let mut settings = NotifierSettings::new("recovering", RetryPolicy::from_sftpgo(0, 0));
    settings.durability = plexus_actors::Durability::WriteAhead;
    let plugin = Plugin::start(settings, queues, 1);
    assert_eq!(plugin.handle.ledger.recover().unwrap(), 5);
    let fake = plugin.fake.clone();
    eventually("the recovered events delivered", || fake.count() == 5).await;
    assert_eq!(plugin.fake.received_ids(), (0..5).collect::<Vec<_>>());
    plugin.drained().await;
    assert!(plugin.queues.write_ahead.is_empty());
    let spill = plugin.queues.spill.clone();
    eventually("the spill queue emptied", || spill.is_empty()).await;
}

#[actix::test]
async fn a_plugin_restart_redrives_at_once_and_a_lost_connection_ends_the_pass() {
    let h = Harness::start(
        vec![uploads()],
        RetryPolicy::from_sftpgo(60, 0),
        Duration::from_secs(5),
        |_| {},
    );
    let plugin = &h.plugins[0];
    plugin.connect(false).await;
    for i in 0..40 {
        publish(&h, upload(i, now_ns())).await;
    }
    h.drained().await;
    assert_eq!(plugin.stats().queue_len, 40);
    assert_eq!(plugin.fake.count(), 0);
    // The process comes back: the queue is sent again without waiting for
    // the (hour-long) retry interval.
    plugin.connect(true).await;
    let fake = plugin.fake.clone();
    eventually("re-driven after the restart", || fake.count() == 40).await;
    assert_eq!(plugin.fake.received_ids(), (0..40).collect::<Vec<_>>());
}

#[actix::test]
async fn batches_are_bounded_in_bytes_and_an_oversized_event_goes_alone() {
    let queues = memory_queues();
    let mut settings = NotifierSettings::new("bytes", RetryPolicy::from_sftpgo(60, 0));
    settings.max_batch_bytes = 100_000;
    settings.max_calls_in_flight = 1;
    let plugin = Plugin::start(settings, queues, 256);
    plugin.fake.set(Mode::Stall);
    let big = |id: i64, size: usize| {
        Arc::new(Event::Fs(FsEvent {
            timestamp: now_ns(),
            action: "upload".into(),
            file_size: id,
            virtual_path: "x".repeat(size),
            ..Default::default()
        }))
    };
    // 20 events of 20 kB: at most four share a 100 kB call.
    for i in 0..20 {
        plugin
            .addr
            .send(plexus_actors::delivery::Deliver::new(big(i, 20_000)))
            .await
            .unwrap();
    }
    plugin
        .addr
        .send(plexus_actors::delivery::Deliver::new(big(20, 150_000)))
        .await
        .unwrap();
    plugin.fake.set(Mode::Ok);
    plugin.drained().await;
    assert_eq!(plugin.fake.received_ids(), (0..21).collect::<Vec<_>>());
    let calls = plugin.fake.calls.lock().unwrap().clone();
    for (unary, ids) in &calls {
        if ids.contains(&20) {
            assert!(
                *unary && ids.len() == 1,
                "the oversized event goes alone: {calls:?}"
            );
        } else {
            assert!(
                !*unary && ids.len() <= 4,
                "at most 100 kB a call: {calls:?}"
            );
        }
    }
    assert!(
        calls.iter().any(|(_, ids)| ids.len() == 4),
        "batches fill up: {calls:?}"
    );
}

#[actix::test]
async fn try_publish_never_waits_and_names_the_full_plugins() {
    use plexus_actors::router::TryPublish;
    let h = Harness::start(
        vec![uploads(), uploads()],
        RetryPolicy::from_sftpgo(0, 0),
        Duration::from_secs(3600),
        |s| {
            s.max_in_flight = 1;
            s.mailbox_capacity = 1;
        },
    );
    h.plugins[0].fake.set(Mode::Stall);
    let mut full = Vec::new();
    for i in 0..10 {
        let (reply, answer) = tokio::sync::oneshot::channel();
        h.router
            .try_send(TryPublish {
                event: upload(i, now_ns()),
                reply,
            })
            .expect("the router has room");
        // An hour-long overflow wait would show here: try never waits.
        let receipt = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .expect("answered without waiting")
            .unwrap()
            .unwrap();
        full.push(
            receipt
                .overflowed
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        );
    }
    assert!(full
        .iter()
        .all(|names| !names.contains(&"fake-1".to_owned())));
    assert!(
        full[3..]
            .iter()
            .all(|names| names == &["fake-0".to_owned()]),
        "{full:?}"
    );
    h.plugins[0].fake.set(Mode::Ok);
    let fake = h.plugins[0].fake.clone();
    eventually("the stalled plugin gets every event", || fake.count() == 10).await;
}

/// Two write-ahead plugins, the second one's write-ahead log failing as
/// asked; a router over both.
fn two_write_ahead_plugins() -> (
    actix::Addr<plexus_actors::router::Router>,
    Vec<Plugin>,
    Arc<FailingQueue>,
) {
    use actix::Actor;
    let failing = Arc::new(FailingQueue::default());
    let mut plugins = Vec::new();
    for index in 0..2 {
        let mut queues = memory_queues();
        if index == 1 {
            queues.write_ahead = failing.clone();
        }
        let mut settings =
            NotifierSettings::new(format!("wal-{index}"), RetryPolicy::from_sftpgo(60, 0));
        settings.durability = plexus_actors::Durability::WriteAhead;
        plugins.push(Plugin::start(settings, queues, 1));
    }
    let targets = plugins
        .iter()
        .map(|p| plexus_actors::router::Target {
            addr: p.addr.clone(),
            handle: p.handle.clone(),
        })
        .collect();
    let router = plexus_actors::router::Router::new(
        plexus_actors::RoutingTable::compile(&[uploads(), uploads()]),
        targets,
        64,
        Duration::from_secs(5),
    )
    .start();
    (router, plugins, failing)
}

#[actix::test]
async fn a_refused_write_ahead_append_reaches_no_plugin() {
    let (router, plugins, failing) = two_write_ahead_plugins();
    failing
        .fail_append
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = router.send(Publish(upload(1, now_ns()))).await.unwrap();
    assert!(refused.is_err(), "the publish reports the failed append");
    tokio::time::sleep(Duration::from_millis(50)).await;
    for plugin in &plugins {
        assert_eq!(plugin.fake.count(), 0, "no plugin saw the refused event");
        assert!(
            plugin.queues.write_ahead.is_empty(),
            "its record is taken back"
        );
    }
}

#[actix::test]
async fn a_failed_flush_after_the_hand_off_is_counted_not_reported_as_a_refusal() {
    let (router, plugins, failing) = two_write_ahead_plugins();
    failing
        .fail_sync
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let receipt = router.send(Publish(upload(1, now_ns()))).await.unwrap();
    assert!(receipt.is_ok(), "handed on, so accepted: {receipt:?}");
    for plugin in &plugins {
        let fake = plugin.fake.clone();
        eventually("delivered", || fake.count() == 1).await;
    }
    assert_eq!(plugins[1].stats().flush_errors, 1);
}
