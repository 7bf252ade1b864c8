//! `plexus probe`: start each configured plugin once and report.

use plexus_engine::clients::{Notifier, DEFAULT_RPC_TIMEOUT};
use plexus_engine::{HostOptions, PluginHandle, PluginsFile};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::PluginKind;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub async fn run(file: PluginsFile) -> ExitCode {
    if file.plugins.is_empty() {
        eprintln!("plexus probe: the config lists no plugins");
        return ExitCode::from(2);
    }
    let options = HostOptions::default();
    let mut failures = 0;
    for (index, plugin) in file.plugins.iter().enumerate() {
        let began = Instant::now();
        let outcome = probe_one(plugin, &options).await;
        let elapsed = began.elapsed();
        match outcome {
            Ok(detail) => println!(
                "OK   plugins[{index}] {} {} ({detail}) in {:.1} ms",
                plugin.kind,
                plugin.cmd,
                elapsed.as_secs_f64() * 1e3
            ),
            Err(err) => {
                failures += 1;
                println!(
                    "FAIL plugins[{index}] {} {}: {err} (after {:.1} ms)",
                    plugin.kind,
                    plugin.cmd,
                    elapsed.as_secs_f64() * 1e3
                );
            }
        }
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn probe_one(
    plugin: &plexus_engine::PluginConfig,
    options: &HostOptions,
) -> Result<String, String> {
    let spec = plugin.launch_spec()?;
    let handle = PluginHandle::start(&spec, options)
        .await
        .map_err(|err| err.to_string())?;
    let mut detail = format!(
        "pid {}, {}{}, started in {:.1} ms",
        handle.pid(),
        handle.handshake().network.as_str(),
        if spec.auto_mtls { ", mTLS" } else { "" },
        handle.started_in().as_secs_f64() * 1e3
    );
    let delivered = if spec.kind == PluginKind::Notifier {
        send_probe_events(&handle).await.map(|()| {
            detail.push_str(", 3 events delivered");
        })
    } else {
        Ok(())
    };
    let exit = handle.shutdown().await;
    delivered?;
    if !exit.success() {
        detail.push_str(&format!(", stopped with {exit}"));
    }
    Ok(detail)
}

async fn send_probe_events(handle: &PluginHandle) -> Result<(), String> {
    let notifier = Notifier::new(handle.channel(), DEFAULT_RPC_TIMEOUT);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default();
    notifier
        .send_fs_event(FsEvent {
            timestamp: now,
            action: "upload".into(),
            username: "plexus-probe".into(),
            fs_path: "/tmp/plexus-probe.txt".into(),
            virtual_path: "/plexus-probe.txt".into(),
            protocol: "SFTP".into(),
            status: 1,
            ip: "127.0.0.1".into(),
            file_size: 42,
            session_id: "probe".into(),
            ..Default::default()
        })
        .await
        .map_err(|status| format!("fs event: {}: {}", status.code(), status.message()))?;
    notifier
        .send_provider_event(ProviderEvent {
            timestamp: now,
            action: "add".into(),
            object_type: "user".into(),
            username: "admin".into(),
            ip: "127.0.0.1".into(),
            object_name: "plexus-probe".into(),
            object_data: br#"{"username":"plexus-probe"}"#.to_vec(),
            ..Default::default()
        })
        .await
        .map_err(|status| format!("provider event: {}: {}", status.code(), status.message()))?;
    notifier
        .send_log_event(LogEvent {
            timestamp: now,
            event: 5,
            username: "plexus-probe".into(),
            protocol: "SSH".into(),
            ip: "127.0.0.1".into(),
            message: "probe login".into(),
            ..Default::default()
        })
        .await
        .map_err(|status| format!("log event: {}: {}", status.code(), status.message()))?;
    Ok(())
}
