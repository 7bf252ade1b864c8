//! Embedding Plexus in a Rust program: start the engine with the
//! `notifier-jsonl` plugin, send events, print the counters, stop.
//!
//! ```text
//! cargo build --workspace --bins
//! cargo run -p plexus-examples --example embed
//! ```

use plexus_engine::config::NotifierOptions;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_proto::sftpgo::{FsEvent, LogEvent};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::temp_dir().join("plexus-embed-events.jsonl");
    let notifier = PluginConfig {
        kind: "notifier".into(),
        cmd: "target/debug/notifier-jsonl".into(),
        args: vec!["--out".into(), out.display().to_string()],
        auto_mtls: true,
        notifier_options: NotifierOptions {
            fs_events: vec!["upload".into(), "download".into()],
            log_events: vec![1, 5],
            retry_max_time: 60,
            ..Default::default()
        },
        ..Default::default()
    };
    let settings = EngineSettings {
        data_dir: std::env::temp_dir().join("plexus-embed-data"),
        ..EngineSettings::default()
    };
    let engine = Engine::start(vec![notifier], settings).await?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    for i in 0..100 {
        engine
            .notify_fs(FsEvent {
                timestamp: now,
                action: if i % 2 == 0 { "upload" } else { "download" }.into(),
                username: "alice".into(),
                virtual_path: format!("/reports/{i}.pdf"),
                protocol: "SFTP".into(),
                status: 1,
                ..Default::default()
            })
            .await?;
    }
    engine
        .notify_log(LogEvent {
            timestamp: now,
            event: 5,
            username: "alice".into(),
            ..Default::default()
        })
        .await?;

    engine.drain(Duration::from_secs(10)).await;
    for plugin in engine.stats() {
        let c = plugin.counters;
        println!(
            "{} {}: delivered {}, failed {}, queued {}, queue length {}, batched {}",
            plugin.kind,
            plugin.name,
            c.delivered,
            c.failed,
            c.queued,
            c.queue_len,
            c.batched == 1
        );
    }
    println!("events written to {}", out.display());
    engine.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
