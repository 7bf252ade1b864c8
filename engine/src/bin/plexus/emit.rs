//! `plexus emit`: publish test events to a running `plexus serve`:
//! generated ones, or the events of a JSONL file (`--events`, the interop
//! format of `plexus_engine::jsonl`), read in full before the first is
//! published so that a bad line publishes nothing.

use indicatif::{ProgressBar, ProgressStyle};
use plexus_engine::host::transport::{connect, Address};
use plexus_proto::plexus::v1::event_bus_client::EventBusClient;
use plexus_proto::plexus::v1::{event, Event as WireEvent, PublishBatchRequest};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::Event;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Which events to publish.
pub enum Source {
    /// `count` generated events of `kind` (fs, provider, log or mixed).
    Generated { count: u64, kind: String },
    /// Every event of a JSONL file, in order.
    File(PathBuf),
}

pub struct EmitOptions {
    pub address: Address,
    pub source: Source,
    /// Events per second; 0 = as fast as the daemon accepts them.
    pub rate: u64,
    pub batch: usize,
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

/// The events to publish, in order, made on demand.
enum Events {
    Generated { count: u64, kind: String },
    Loaded(std::vec::IntoIter<WireEvent>),
}

impl Events {
    fn count(&self) -> u64 {
        match self {
            Events::Generated { count, .. } => *count,
            Events::Loaded(events) => events.len() as u64,
        }
    }

    /// The events `first..first + size`: made, or taken from the file's.
    fn take(&mut self, first: u64, size: u64) -> Vec<WireEvent> {
        match self {
            Events::Generated { kind, .. } => {
                (first..first + size).map(|n| make_event(kind, n)).collect()
            }
            Events::Loaded(events) => events.by_ref().take(size as usize).collect(),
        }
    }
}

fn wire(event: Event) -> WireEvent {
    let kind = match event {
        Event::Fs(e) => event::Kind::Fs(e),
        Event::Provider(e) => event::Kind::Provider(e),
        Event::Log(e) => event::Kind::Log(e),
    };
    WireEvent { kind: Some(kind) }
}

pub async fn run(options: EmitOptions) -> ExitCode {
    let mut events = match options.source {
        Source::Generated { count, kind } => {
            if !["fs", "provider", "log", "mixed"].contains(&kind.as_str()) {
                eprintln!("plexus emit: --kind must be fs, provider, log or mixed, not {kind:?}");
                return ExitCode::from(2);
            }
            Events::Generated { count, kind }
        }
        Source::File(path) => match plexus_engine::jsonl::read_file(&path) {
            Ok(loaded) => {
                Events::Loaded(loaded.into_iter().map(wire).collect::<Vec<_>>().into_iter())
            }
            Err(err) => {
                eprintln!("plexus emit: {err}");
                return ExitCode::from(2);
            }
        },
    };
    let count = events.count();
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
        ProgressBar::new(count)
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {eta}") {
        progress.set_style(style);
    }
    let began = Instant::now();
    let batch = options.batch.max(1) as u64;
    let mut sent = 0u64;
    while sent < count {
        let size = batch.min(count - sent);
        let next = events.take(sent, size);
        match client
            .publish_batch(PublishBatchRequest { events: next })
            .await
        {
            Ok(reply) => {
                let reply = reply.into_inner();
                sent += u64::from(reply.accepted);
                progress.set_position(sent);
                if reply.error.is_empty() && u64::from(reply.accepted) != size {
                    progress.abandon();
                    eprintln!(
                        "plexus emit: the daemon accepted {} of a batch of {size} events without an error, after {sent} events",
                        reply.accepted
                    );
                    return ExitCode::FAILURE;
                }
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
