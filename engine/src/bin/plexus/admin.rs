//! `plexus status` and `plexus reload`: the admin API of a running
//! `plexus serve`, over its unix socket; `plexus queue stats` uses it too
//! when the daemon holds the data directory.

use plexus_engine::host::transport::{connect, Address};
use plexus_proto::plexus::v1::admin_client::AdminClient;
use plexus_proto::plexus::v1::{
    DropQueueReply, DropQueueRequest, ReloadRequest, StatusReply, StatusRequest,
};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// The daemon's status, asked over the socket at `socket`.
pub async fn fetch_status(socket: &Path) -> Result<StatusReply, String> {
    let mut client = client(socket).await?;
    client
        .status(StatusRequest {})
        .await
        .map(|reply| reply.into_inner())
        .map_err(|status| format!("status: {}", status.message()))
}

/// Empties a notifier's retry and spill queues in the daemon at `socket`.
pub async fn drop_queue(socket: &Path, plugin: &str) -> Result<DropQueueReply, String> {
    let mut client = client(socket).await?;
    client
        .drop_queue(DropQueueRequest {
            plugin: plugin.to_owned(),
        })
        .await
        .map(|reply| reply.into_inner())
        .map_err(|status| status.message().to_owned())
}

async fn client(socket: &Path) -> Result<AdminClient<tonic::transport::Channel>, String> {
    let address = Address::Unix(socket.to_owned());
    let channel = connect(&address, None, Duration::from_secs(5))
        .await
        .map_err(|(_, err)| {
            format!(
                "cannot reach plexus serve at {}: {err} (is it running? --socket names its socket)",
                socket.display()
            )
        })?;
    Ok(AdminClient::new(channel))
}

pub async fn status(socket: &Path) -> ExitCode {
    match fetch_status(socket).await {
        Ok(reply) => {
            println!(
                "plexus {} up {} s, {} plugins",
                reply.version,
                reply.uptime_seconds,
                reply.plugins.len()
            );
            println!(
                "{:<13} {:<5} {:>8} {:>8} {:>10} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}  plugin (path)",
                "kind",
                "state",
                "pid",
                "restarts",
                "delivered",
                "failed",
                "dropped",
                "retry",
                "spill",
                "in flight",
                "oldest"
            );
            for plugin in &reply.plugins {
                let oldest = if plugin.retry_queue > 0 {
                    format!("{:.0} s", plugin.oldest_retry_age_seconds)
                } else {
                    "-".to_owned()
                };
                println!(
                    "{:<13} {:<5} {:>8} {:>8} {:>10} {:>8} {:>8} {:>7} {:>7} {:>9} {:>8}  {} ({})",
                    plugin.kind,
                    if plugin.up { "up" } else { "down" },
                    plugin.pid,
                    plugin.restarts + plugin.hung_restarts,
                    plugin.delivered,
                    plugin.failed,
                    plugin.dropped,
                    plugin.retry_queue,
                    plugin.spill_queue,
                    plugin.in_flight,
                    oldest,
                    plugin.label,
                    plugin.name
                );
                if !plugin.last_error.is_empty() {
                    println!(
                        "{:<13} last error, {} s ago: {}",
                        "",
                        seconds_ago(plugin.last_error_unix_ms),
                        plugin.last_error
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("plexus status: {err}");
            ExitCode::FAILURE
        }
    }
}

pub async fn reload(socket: &Path) -> ExitCode {
    let result = match client(socket).await {
        Ok(mut client) => client
            .reload(ReloadRequest {})
            .await
            .map(|reply| reply.into_inner())
            .map_err(|status| status.message().to_owned()),
        Err(err) => Err(err),
    };
    match result {
        Ok(reply) if reply.errors.is_empty() => {
            println!("reloaded");
            ExitCode::SUCCESS
        }
        Ok(reply) => {
            for error in reply.errors {
                eprintln!("plexus reload: {error}");
            }
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("plexus reload: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Seconds from `unix_ms` to now.
fn seconds_ago(unix_ms: u64) -> u64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    now_ms.saturating_sub(unix_ms) / 1000
}
