//! Both plugins started by the Plexus engine from a plugins config (SQLite):
//! events published with `Engine::notify_*` are found with
//! `Engine::search_*`.

use std::time::Duration;

use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_proto::sftpgo::{
    FsEvent, FsEventsFilter, LogEvent, LogEventsFilter, ProviderEvent, ProviderEventsFilter,
};
use serde_json::{json, Value};

fn count(data: &[u8]) -> usize {
    serde_json::from_slice::<Vec<Value>>(data)
        .map(|v| v.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_stores_and_finds_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dsn = dir.path().join("events.db").display().to_string();
    let store = plexus_interop::workspace_bin("plexus-eventstore")
        .display()
        .to_string();
    let search = plexus_interop::workspace_bin("plexus-eventsearch")
        .display()
        .to_string();
    let plugins: Vec<PluginConfig> = serde_json::from_value(json!([
        {"type": "notifier", "cmd": store, "auto_mtls": true,
         "args": ["serve", "--driver", "sqlite", "--dsn", dsn, "--instance-id", "plexus-1"],
         "notifier_options": {"fs_events": ["upload"], "provider_events": ["add"],
                              "provider_objects": ["user"], "log_events": [1]}},
        {"type": "eventsearcher", "cmd": search, "auto_mtls": true,
         "args": ["serve", "--driver", "sqlite", "--dsn", dsn]}
    ]))
    .expect("plugins config");
    let settings = EngineSettings {
        data_dir: dir.path().join("plexus"),
        ..EngineSettings::default()
    };
    let engine = Engine::start(plugins, settings)
        .await
        .expect("engine starts");
    engine
        .notify_fs(FsEvent {
            timestamp: 1,
            action: "upload".into(),
            username: "alice".into(),
            protocol: "SFTP".into(),
            ..Default::default()
        })
        .await
        .expect("notify fs");
    engine
        .notify_provider(ProviderEvent {
            timestamp: 2,
            action: "add".into(),
            object_type: "user".into(),
            object_name: "bob".into(),
            username: "admin".into(),
            ..Default::default()
        })
        .await
        .expect("notify provider");
    engine
        .notify_log(LogEvent {
            timestamp: 3,
            event: 1,
            username: "eve".into(),
            ..Default::default()
        })
        .await
        .expect("notify log");

    let running = &engine;
    plexus_interop::eventually_async("all three events searchable", Duration::from_secs(20), || async move {
        let engine = running;
        let fs = engine.search_fs_events(FsEventsFilter { limit: 10, fs_provider: -1, username: "alice".into(), ..Default::default() }).await;
        let provider = engine.search_provider_events(ProviderEventsFilter { limit: 10, object_name: "bob".into(), ..Default::default() }).await;
        let log = engine.search_log_events(LogEventsFilter { limit: 10, instance_ids: vec!["plexus-1".into()], ..Default::default() }).await;
        matches!((fs, provider, log), (Ok(f), Ok(p), Ok(l)) if count(&f) == 1 && count(&p) == 1 && count(&l) == 1)
    })
    .await;
    engine.shutdown(Duration::from_secs(5)).await;
}
