//! `plexus emit`: publish test events to a running `plexus serve`.

use indicatif::{ProgressBar, ProgressStyle};
use plexus_engine::host::transport::{connect, Address};
use plexus_proto::plexus::v1::event_bus_client::EventBusClient;
use plexus_proto::plexus::v1::{event, Event as WireEvent, PublishBatchRequest};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct EmitOptions {
    pub address: Address,
    pub count: u64,
    /// Events per second; 0 = as fast as the daemon accepts them.
    pub rate: u64,
    pub batch: usize,
    pub kind: String,
    pub quiet: bool,
    /// Sent as `authorization: Bearer <token>` (the daemon's TCP listener needs it).
    pub token: Option<plexus_engine::ingest_token::IngestToken>,
}

fn make_event(kind: &str, n: u64) -> WireEvent {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default();
    let pick = match kind {
        "mixed" => ["fs", "provider", "log"][(n % 3) as usize],
        other => other,
    };
    let kind = match pick {
        "provider" => event::Kind::Provider(ProviderEvent {
            timestamp,
            action: "update".into(),
            object_type: "user".into(),
            username: "plexus-emit".into(),
            ip: "127.0.0.1".into(),
            object_name: format!("user-{n}"),
            object_data: format!("{{\"username\":\"user-{n}\"}}").into_bytes(),
            role: String::new(),
        }),
        "log" => event::Kind::Log(LogEvent {
            timestamp,
            event: 5,
            username: "plexus-emit".into(),
            protocol: "SSH".into(),
            ip: "127.0.0.1".into(),
            message: format!("emitted login {n}"),
            role: String::new(),
        }),
        _ => event::Kind::Fs(FsEvent {
            timestamp,
            action: "upload".into(),
            username: "plexus-emit".into(),
            fs_path: format!("/srv/plexus-emit/file-{n}.bin"),
            virtual_path: format!("/file-{n}.bin"),
            protocol: "SFTP".into(),
            status: 1,
            ip: "127.0.0.1".into(),
            file_size: n as i64,
            session_id: n.to_string(),
            ..Default::default()
        }),
    };
    WireEvent { kind: Some(kind) }
}

pub async fn run(options: EmitOptions) -> ExitCode {
    if !["fs", "provider", "log", "mixed"].contains(&options.kind.as_str()) {
        eprintln!(
            "plexus emit: --kind must be fs, provider, log or mixed, not {:?}",
            options.kind
        );
        return ExitCode::from(2);
    }
    let channel = match connect(&options.address, None, Duration::from_secs(5)).await {
        Ok(channel) => channel,
        Err((_, detail)) => {
            eprintln!(
                "plexus emit: cannot reach the daemon: {detail} (is `plexus serve` running?)"
            );
            return ExitCode::FAILURE;
        }
    };
    let header = match options.token.as_ref().map(|t| t.header_value()).transpose() {
        Ok(header) => header,
        Err(err) => {
            eprintln!("plexus emit: {err}");
            return ExitCode::from(2);
        }
    };
    let mut client =
        EventBusClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            if let Some(value) = &header {
                request
                    .metadata_mut()
                    .insert("authorization", value.clone());
            }
            Ok(request)
        });
    let progress = if options.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(options.count)
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {eta}") {
        progress.set_style(style);
    }
    let began = Instant::now();
    let batch = options.batch.max(1) as u64;
    let mut sent = 0u64;
    while sent < options.count {
        let size = batch.min(options.count - sent);
        let events = (sent..sent + size)
            .map(|n| make_event(&options.kind, n))
            .collect();
        match client.publish_batch(PublishBatchRequest { events }).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                sent += u64::from(reply.accepted);
                progress.set_position(sent);
                if !reply.error.is_empty() {
                    progress.abandon();
                    eprintln!(
                        "plexus emit: the daemon stopped accepting after {sent} events: {}",
                        reply.error
                    );
                    return ExitCode::FAILURE;
                }
            }
            Err(status) => {
                progress.abandon();
                eprintln!(
                    "plexus emit: publish failed after {sent} events: {}: {}",
                    status.code(),
                    status.message()
                );
                return ExitCode::FAILURE;
            }
        }
        if options.rate > 0 {
            let due = began + Duration::from_secs_f64(sent as f64 / options.rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
    }
    progress.finish();
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "published {sent} events in {elapsed:.2} s ({:.0} events/s)",
        sent as f64 / elapsed.max(1e-9)
    );
    ExitCode::SUCCESS
}
