//! Embedding the engine: the blocking handle and its bus, shutdown with
//! events in flight, and the durable queue across a host restart.

use plexus_engine::config::NotifierOptions;
use plexus_engine::{BlockingEngine, Engine, EngineSettings, PluginConfig};
use plexus_interop::{read_jsonl, workspace_bin};
use plexus_proto::sftpgo::FsEvent;
use plexus_proto::Event;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

fn notifier(out: &Path, extra_args: &[&str]) -> PluginConfig {
    let mut args = vec!["--out".to_owned(), out.to_string_lossy().into_owned()];
    args.extend(extra_args.iter().map(|s| s.to_string()));
    PluginConfig {
        kind: "notifier".into(),
        cmd: workspace_bin("notifier-jsonl")
            .to_string_lossy()
            .into_owned(),
        args,
        notifier_options: NotifierOptions {
            fs_events: vec!["upload".into()],
            retry_max_time: 300,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn settings(dir: &Path) -> EngineSettings {
    EngineSettings {
        data_dir: dir.join("data"),
        retry_interval: Duration::from_millis(200),
        ..EngineSettings::default()
    }
}

fn upload(id: u64) -> FsEvent {
    FsEvent {
        timestamp: plexus_actors::delivery::policy::now_ns(),
        action: "upload".into(),
        session_id: id.to_string(),
        ..Default::default()
    }
}

fn delivered_ids(out: &Path) -> BTreeSet<u64> {
    read_jsonl(out)
        .iter()
        .filter_map(|l| l["session_id"].as_str().and_then(|s| s.parse().ok()))
        .collect()
}

#[test]
fn blocking_engine_takes_events_from_many_threads_through_the_bus() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let mut engine =
        BlockingEngine::start(vec![notifier(&out, &[])], settings(dir.path())).unwrap();
    let bus = engine.bus(16).unwrap();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..500u64 {
                    bus.send(Event::Fs(upload(p * 1000 + i))).unwrap();
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(bus.rejected(), 0);
    engine.shutdown(Duration::from_secs(10));
    assert_eq!(
        delivered_ids(&out).len(),
        1000,
        "shutdown forwards and delivers what the bus holds"
    );
    assert!(
        bus.send(Event::Fs(upload(0))).is_err(),
        "a shut-down engine's bus refuses events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_events_in_flight_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let engine = Engine::start(vec![notifier(&out, &[])], settings(dir.path()))
        .await
        .unwrap();
    for id in 0..2000 {
        engine.notify_fs(upload(id)).await.unwrap();
    }
    // Straight away: most of these are still in mailboxes or in flight, and
    // what overflowed the mailbox waits in the durable queue.
    engine.shutdown(Duration::from_secs(20)).await;
    let delivered = delivered_ids(&out).len();
    // Nothing lost: the next engine on the same data directory delivers the rest.
    let engine = Engine::start(vec![notifier(&out, &[])], settings(dir.path()))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while delivered_ids(&out).len() < 2000 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 2000 delivered",
            delivered_ids(&out).len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "delivered before the shutdown returned: {delivered}; the rest from the durable queue"
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_events_survive_a_host_restart_in_the_durable_queue() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let fail = dir.path().join("failing");
    std::fs::write(&fail, b"").unwrap();
    let failing = notifier(&out, &["--fail-while", &fail.to_string_lossy()]);
    // No timer during the test: the second host re-drives because it starts
    // with a non-empty queue.
    let settings = EngineSettings {
        retry_interval: Duration::from_secs(3600),
        ..settings(dir.path())
    };

    let engine = Engine::start(vec![failing.clone()], settings.clone())
        .await
        .unwrap();
    for id in 0..300 {
        engine.notify_fs(upload(id)).await.unwrap();
    }
    assert!(engine.drain(Duration::from_secs(10)).await);
    let stats = engine.stats()[0].counters;
    assert_eq!(
        (stats.queued, stats.queue_len, stats.delivered),
        (300, 300, 0)
    );
    engine.shutdown(Duration::from_secs(5)).await;

    // A new host on the same data directory, the plugin healthy again.
    std::fs::remove_file(&fail).unwrap();
    let engine = Engine::start(vec![failing], settings).await.unwrap();
    // The plugin writes an event before the host has its answer: wait for
    // the host's side too (the re-drive counted, the queue emptied).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stats = engine.stats()[0].counters;
        if delivered_ids(&out).len() >= 300 && stats.redriven == 300 && stats.queue_len == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queued events not re-driven after the restart: {} written, {stats:?}",
            delivered_ids(&out).len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(delivered_ids(&out).len(), 300);
    engine.shutdown(Duration::from_secs(5)).await;
}
