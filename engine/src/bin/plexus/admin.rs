//! `plexus status` and `plexus reload`: the admin API of a running
//! `plexus serve`, over its unix socket; `plexus queue stats` uses it too
//! when the daemon holds the data directory.

use plexus_engine::host::transport::{connect, Address};
use plexus_proto::plexus::v1::admin_client::AdminClient;
use plexus_proto::plexus::v1::{ReloadRequest, StatusReply, StatusRequest};
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
                "{:<13} {:<5} {:>8} {:>8} {:>10} {:>8} {:>8} {:>7} {:>7}  name",
                "kind",
                "state",
                "pid",
                "restarts",
                "delivered",
                "failed",
                "dropped",
                "retry",
                "spill"
            );
            for plugin in &reply.plugins {
                println!(
                    "{:<13} {:<5} {:>8} {:>8} {:>10} {:>8} {:>8} {:>7} {:>7}  {}",
                    plugin.kind,
                    if plugin.up { "up" } else { "down" },
                    plugin.pid,
                    plugin.restarts + plugin.hung_restarts,
                    plugin.delivered,
                    plugin.failed,
                    plugin.dropped,
                    plugin.retry_queue,
                    plugin.spill_queue,
                    plugin.name
                );
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
