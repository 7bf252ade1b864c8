//! `plexus serve`: the engine as a daemon, with the ingestion API, the
//! metrics endpoint, and SFTPGo's signals (SIGHUP reloads the IP filters,
//! SIGTERM/SIGINT stop gracefully).

use plexus_engine::ingest::admin::Reloader;
use plexus_engine::ingest::unix_connection::UnixConnection;
use plexus_engine::ingest::IngestService;
use plexus_engine::ingest_token::{IngestToken, TOKEN_ENV};
use plexus_engine::sources::Sources;
use plexus_engine::{metrics, Engine, PluginsFile};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio_stream::StreamExt;

/// How long a stop waits for in-flight deliveries before stopping plugins.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

pub async fn run(file: PluginsFile, config_path: PathBuf) -> ExitCode {
    let settings = file.engine_settings();
    let serve = file.serve_settings();
    let plugin_count = file.plugins.len();
    // Checked before any plugin starts: TCP ingestion without a token would
    // let every local user publish forged audit events.
    let token = match IngestToken::load(
        std::env::var(TOKEN_ENV).ok().as_deref(),
        serve.ingest_token_file.as_deref(),
    ) {
        Ok(token) => token,
        Err(err) => {
            eprintln!("plexus serve: {err}");
            return ExitCode::FAILURE;
        }
    };
    let tcp_token = match (serve.ingest_tcp, token) {
        (Some(addr), None) => {
            eprintln!(
                "plexus serve: engine.ingest_tcp ({addr}) needs a token: set {TOKEN_ENV} or engine.ingest_token_file"
            );
            return ExitCode::FAILURE;
        }
        (_, token) => token,
    };
    if let Err(err) = plexus_storage::create_private_dir(&settings.data_dir) {
        eprintln!(
            "plexus serve: cannot create the data directory {} owner-only (0700): {err}",
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
    let mut sources = Sources::new(&file.engine.sources);
    // A weak reference: the shutdown below needs the last strong one.
    let reloader: Reloader = {
        let engine = Arc::downgrade(&engine);
        let config_path = config_path.clone();
        Arc::new(move || {
            let engine = engine.upgrade();
            let config_path = config_path.clone();
            Box::pin(async move {
                match engine {
                    Some(engine) => reload(&engine, &config_path).await,
                    None => vec!["the engine is stopping".to_owned()],
                }
            })
        })
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut listening = Vec::new();

    if let Some(path) = &serve.ingest_unix {
        match bind_unix(path, serve.ingest_unix_access) {
            Ok(listener) => {
                listening.push(format!("unix:{}", path.display()));
                let service = IngestService::new(engine.clone()).with_reloader(reloader.clone());
                let stop = stopped(stop_rx.clone());
                tasks.push(tokio::spawn(async move {
                    // Connections go through the `:authority` fix that
                    // gRPC C-core and grpc-java clients need.
                    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener)
                        .map(|accepted| accepted.map(UnixConnection::new));
                    if let Err(err) = service.serve(incoming, None, stop).await {
                        tracing::error!("ingestion API (unix socket) stopped: {err}");
                    }
                }));
            }
            Err(err) => return fail(engine, &err).await,
        }
    }
    if let (Some(addr), Some(token)) = (serve.ingest_tcp, tcp_token) {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                listening.push(format!("tcp:{addr} (bearer token)"));
                let service = IngestService::new(engine.clone()).with_reloader(reloader.clone());
                let stop = stopped(stop_rx.clone());
                tasks.push(tokio::spawn(async move {
                    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                    if let Err(err) = service.serve(incoming, Some(token), stop).await {
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
                    sources.counters(),
                    stopped(stop_rx.clone()),
                )));
            }
            Err(err) => return fail(engine, &format!("cannot listen on {addr}: {err}")).await,
        }
    }
    if !sources.is_empty() {
        listening.push(format!("{} sources", sources.len()));
    }
    tracing::info!(
        "plexus is serving {plugin_count} plugins; listening on {}",
        listening.join(", ")
    );
    notify_systemd(&format!(
        "READY=1\nSTATUS=serving {plugin_count} plugins; listening on {}",
        listening.join(", ")
    ));

    let (mut hangup, mut terminate, mut interrupt) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => return fail(engine, "cannot install signal handlers").await,
    };
    sources.run(&engine);
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading");
                reloader().await;
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping: no new events are accepted; delivering what is in flight");
    notify_systemd("STOPPING=1");
    let _ = stop_tx.send(true);
    sources.stop().await;
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

/// What SIGHUP (and the admin API's `Reload`) does: the IP filter plugins
/// reload their rules, and the config file is read again for the
/// notifiers' filters and retry settings, applied without restarting any
/// plugin. Returns the errors; each is logged too.
async fn reload(engine: &Engine, config_path: &Path) -> Vec<String> {
    let mut errors: Vec<String> = engine
        .reload_ip_filters()
        .await
        .into_iter()
        .map(|err| err.to_string())
        .collect();
    match PluginsFile::load(config_path) {
        Ok(file) => {
            for warning in &file.warnings {
                tracing::warn!("config: {warning}");
            }
            match engine.reload_plugins(&file.plugins).await {
                Ok(changes) if changes.is_empty() => {
                    tracing::info!("reloaded; the plugins' settings are unchanged")
                }
                Ok(changes) => {
                    for change in changes {
                        tracing::info!("reloaded: {change}");
                    }
                }
                Err(err) => errors.push(format!("plugins not reloaded: {err}")),
            }
        }
        Err(err) => errors.push(format!("config not reloaded: {err}")),
    }
    for error in &errors {
        tracing::error!("reload: {error}");
    }
    errors
}

/// Tells systemd (a `Type=notify` unit) about the daemon's state.
fn notify_systemd(state: &str) {
    if let Err(err) = plexus_engine::systemd::notify(state) {
        tracing::warn!("cannot notify systemd ({state:?}): {err}");
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Binds the unix socket owner-only, or for a group too (see
/// `plexus_engine::unix_socket`).
fn bind_unix(
    path: &Path,
    access: plexus_engine::unix_socket::SocketAccess,
) -> Result<tokio::net::UnixListener, String> {
    plexus_engine::unix_socket::bind_with_access(path, access).map_err(|err| err.to_string())
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
