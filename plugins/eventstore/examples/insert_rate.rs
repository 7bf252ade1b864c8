//! A quick insert-rate measurement: starts `plexus-eventstore` as the
//! Plexus host does and sends fs events over gRPC from many concurrent
//! callers (as SFTPGo does), printing events per second. No assertions.
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release -p plexus-eventstore --example insert_rate -- DRIVER DSN [EVENTS] [CONCURRENCY]
//! ```

use std::time::Instant;

use plexus_engine::{HostOptions, LaunchSpec, PluginHandle};
use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::FsEvent;
use plexus_proto::PluginKind;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(driver), Some(dsn)) = (args.get(1), args.get(2)) else {
        return Err("usage: insert_rate DRIVER DSN [EVENTS] [CONCURRENCY]".into());
    };
    let events: usize = args
        .get(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let concurrency: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let spec = LaunchSpec {
        kind: PluginKind::Notifier,
        cmd: plexus_interop::workspace_bin("plexus-eventstore")
            .display()
            .to_string(),
        args: ["serve", "--driver", driver, "--dsn", dsn]
            .map(String::from)
            .to_vec(),
        sha256sum: None,
        auto_mtls: false,
        env_prefix: "none".into(),
        env_vars: Vec::new(),
        label: String::new(),
    };
    let plugin = PluginHandle::start(&spec, &HostOptions::default()).await?;
    let client = NotifierClient::new(plugin.channel());
    let began = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = client.clone();
        let share = events / concurrency + usize::from(worker < events % concurrency);
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                let event = FsEvent {
                    timestamp: (worker * 1_000_000 + i) as i64,
                    action: "upload".into(),
                    username: format!("user{worker}"),
                    fs_path: format!("/srv/user{worker}/file{i}"),
                    virtual_path: format!("/file{i}"),
                    protocol: "SFTP".into(),
                    status: 1,
                    file_size: 4096,
                    session_id: "session".into(),
                    ip: "192.0.2.1".into(),
                    ..Default::default()
                };
                client.send_fs_event(event).await?;
            }
            Ok::<_, tonic::Status>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = began.elapsed();
    println!(
        "{driver}: {events} events, {concurrency} concurrent callers, {:.2?}: {:.0} events/s",
        elapsed,
        events as f64 / elapsed.as_secs_f64()
    );
    plugin.shutdown().await;
    Ok(())
}
