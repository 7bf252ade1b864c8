//! `plexus serve`: the engine as a daemon, with the ingestion API, the
//! metrics endpoint, and SFTPGo's signals (SIGHUP reloads the IP filters,
//! SIGTERM/SIGINT stop gracefully).

use plexus_engine::ingest::IngestService;
use plexus_engine::{metrics, Engine, PluginsFile};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How long a stop waits for in-flight deliveries before stopping plugins.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

pub async fn run(file: PluginsFile) -> ExitCode {
    let settings = file.engine_settings();
    let serve = file.serve_settings();
    let plugin_count = file.plugins.len();
    if let Err(err) = std::fs::create_dir_all(&settings.data_dir) {
        eprintln!(
            "plexus serve: cannot create the data directory {}: {err}",
            settings.data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let engine = match Engine::start(file.plugins, settings).await {
        Ok(engine) => Arc::new(engine),
        Err(err) => {
            eprintln!("plexus serve: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut listening = Vec::new();

    if let Some(path) = &serve.ingest_unix {
        match bind_unix(path) {
            Ok(listener) => {
                listening.push(format!("unix:{}", path.display()));
                let service = IngestService::new(engine.clone()).into_server();
                let stop = stopped(stop_rx.clone());
                tasks.push(tokio::spawn(async move {
                    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
                    if let Err(err) = tonic::transport::Server::builder()
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                    {
                        tracing::error!("ingestion API (unix socket) stopped: {err}");
                    }
                }));
            }
            Err(err) => return fail(engine, &err).await,
        }
    }
    if let Some(addr) = serve.ingest_tcp {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                listening.push(format!("tcp:{addr}"));
                let service = IngestService::new(engine.clone()).into_server();
                let stop = stopped(stop_rx.clone());
                tasks.push(tokio::spawn(async move {
                    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                    if let Err(err) = tonic::transport::Server::builder()
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                    {
                        tracing::error!("ingestion API (tcp) stopped: {err}");
                    }
                }));
            }
            Err(err) => return fail(engine, &format!("cannot listen on {addr}: {err}")).await,
        }
    }
    if let Some(addr) = serve.metrics_tcp {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                listening.push(format!("metrics http://{addr}/metrics"));
                tasks.push(tokio::spawn(metrics::serve(
                    listener,
                    engine.clone(),
                    stopped(stop_rx.clone()),
                )));
            }
            Err(err) => return fail(engine, &format!("cannot listen on {addr}: {err}")).await,
        }
    }
    tracing::info!(
        "plexus is serving {plugin_count} plugins; listening on {}",
        listening.join(", ")
    );

    let (mut hangup, mut terminate, mut interrupt) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => return fail(engine, "cannot install signal handlers").await,
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading the IP filters");
                let errors = engine.reload_ip_filters().await;
                if errors.is_empty() {
                    tracing::info!("IP filters reloaded");
                }
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping: no new events are accepted; delivering what is in flight");
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    if let Some(path) = &serve.ingest_unix {
        let _ = std::fs::remove_file(path);
    }
    shutdown(engine).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Binds the unix socket, replacing a stale socket file a crashed daemon
/// left, but never one a running daemon listens on.
fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, String> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{} is in use: is another plexus serving this data directory?",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|err| format!("cannot remove the stale socket {}: {err}", path.display()))?;
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|err| format!("cannot listen on {}: {err}", path.display()))?;
    // Only this user may publish events.
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Ok(listener)
}

async fn fail(engine: Arc<Engine>, message: &str) -> ExitCode {
    eprintln!("plexus serve: {message}");
    shutdown(engine).await;
    ExitCode::FAILURE
}

async fn shutdown(engine: Arc<Engine>) {
    // Every server task has ended, so this is the last reference.
    match Arc::try_unwrap(engine) {
        Ok(engine) => engine.shutdown(SHUTDOWN_DEADLINE).await,
        Err(_) => tracing::error!(
            "engine still in use at shutdown; plugins are stopped when the process exits"
        ),
    }
}

/// The default socket path, for `emit`.
pub fn default_socket(data_dir: &Path) -> PathBuf {
    data_dir.join("plexus.sock")
}
