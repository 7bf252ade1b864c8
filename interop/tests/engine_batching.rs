//! The engine delivers in batches to a plugin that serves Plexus's batch
//! extension (the SDK's notifier-jsonl) and one event per call to a plugin
//! that does not (a Go go-plugin plugin), and both receive every field.

use plexus_engine::config::NotifierOptions;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_examples::jsonl::parse_event_lines;
use plexus_interop::{go_fixtures, sample_events, workspace_bin};
use std::path::Path;
use std::time::Duration;

fn every_event() -> NotifierOptions {
    NotifierOptions {
        fs_events: vec!["upload".into(), "pre-delete".into()],
        provider_events: vec!["update".into()],
        provider_objects: vec!["user".into()],
        log_events: vec![i32::MIN],
        retry_max_time: 60,
        ..Default::default()
    }
}

fn recorded(path: &Path) -> Vec<plexus_proto::Event> {
    parse_event_lines(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_to_sdk_plugins_and_unary_calls_to_go_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let go_record = dir.path().join("go.jsonl");
    let rust_record = dir.path().join("rust.jsonl");
    // Only this test process sets it.
    std::env::set_var("PLEXUS_RECORD_FILE", &go_record);
    let plugins = vec![
        PluginConfig {
            kind: "notifier".into(),
            cmd: go_fixtures().plugin.to_string_lossy().into_owned(),
            auto_mtls: true,
            env_vars: vec!["PLEXUS_RECORD_FILE".into()],
            notifier_options: every_event(),
            ..Default::default()
        },
        PluginConfig {
            kind: "notifier".into(),
            cmd: workspace_bin("notifier-jsonl")
                .to_string_lossy()
                .into_owned(),
            args: vec!["--out".into(), rust_record.to_string_lossy().into_owned()],
            auto_mtls: true,
            notifier_options: every_event(),
            ..Default::default()
        },
    ];
    let settings = EngineSettings {
        data_dir: dir.path().join("data"),
        max_in_flight: 1,
        ..EngineSettings::default()
    };
    let engine = Engine::start(plugins, settings).await.unwrap();
    let stats = engine.stats();
    assert_eq!(
        stats[0].counters.batched, 0,
        "the Go plugin has no batch service"
    );
    assert_eq!(
        stats[1].counters.batched, 1,
        "the SDK plugin serves the batch extension"
    );

    // One in flight at a time, so both plugins see the events in order.
    let events = sample_events();
    for event in &events {
        let receipt = engine.notify(event.clone()).await.unwrap();
        assert_eq!(receipt.targets, 2);
    }
    assert!(engine.drain(Duration::from_secs(10)).await);
    assert_eq!(recorded(&go_record), events);
    assert_eq!(recorded(&rust_record), events);
    for plugin in engine.stats() {
        assert_eq!(
            plugin.counters.delivered,
            events.len() as u64,
            "{}",
            plugin.name
        );
    }
    engine.shutdown(Duration::from_secs(5)).await;
}
