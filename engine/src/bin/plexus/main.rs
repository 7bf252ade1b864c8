//! The `plexus` command line.

use clap::{Parser, Subcommand};
use plexus_engine::host::transport::Address;
use plexus_engine::PluginsFile;
use std::path::PathBuf;
use std::process::ExitCode;

mod admin;
mod call;
mod emit;
mod probe;
mod queue;
mod serve;

/// Plexus hosts go-plugin plugins (SFTPGo's notifier, kms, auth,
/// eventsearcher and ipfilter) and delivers events to them.
///
/// The config is SFTPGo's `plugins` array: a file holding the array, or any
/// object with a `plugins` key (a whole sftpgo.json, .yaml or .toml works,
/// read as SFTPGo reads it), optionally with
/// Plexus's `engine` section next to it. SFTPGO_PLUGINS__<i>__<FIELD> and
/// PLEXUS_<FIELD> environment variables override the file.
///
/// First steps: `plexus validate plexus.json`, then `plexus probe --config
/// plexus.json` to start each plugin once, then `plexus serve --config
/// plexus.json` and, from another terminal, `plexus emit -n 100`.
#[derive(Debug, Parser)]
#[command(name = "plexus", version, about, long_about)]
struct Cli {
    /// Log filter, as RUST_LOG (e.g. `info`, `plexus=debug`); default: the
    /// config's `engine.log_level`, else `info`.
    #[arg(long, global = true, env = "PLEXUS_LOG")]
    log: Option<String>,
    /// Log format: `text` (colours only when stderr is a terminal) or
    /// `json` (one object per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "PLEXUS_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine as a daemon.
    ///
    /// Starts every plugin, then accepts events on the ingestion API
    /// (`plexus.v1.EventBus`, gRPC) on a unix socket (default
    /// `<data_dir>/plexus.sock`) and/or loopback TCP (`engine.ingest_tcp`),
    /// and serves per-plugin counters in Prometheus format on
    /// `engine.metrics_tcp` (`GET /metrics`). SIGHUP reloads the IP filter
    /// plugins and the notifiers' filters and retry settings from the
    /// config file; SIGTERM or SIGINT stops gracefully: no new events, in-flight
    /// deliveries finish or wait in the durable queue, plugins are stopped.
    Serve {
        /// The config file (JSON, YAML or TOML, by its extension).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Start every configured plugin once, check it, and stop it.
    ///
    /// For each plugin: verify its checksum, start it, perform the go-plugin
    /// handshake, health-check it and, for a notifier, send one fs, one
    /// provider and one log event. Prints one line per plugin with the
    /// outcome and the time it took; exits non-zero if any failed.
    Probe {
        /// The config file (JSON, YAML or TOML, by its extension).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Make one request to a request/response plugin and print the answer.
    ///
    /// With `--config`, starts the configured plugins of that kind (auth,
    /// kms, ipfilter or eventsearcher), asks through the engine, so the
    /// plugin is chosen as SFTPGo chooses it, and stops them; with
    /// `--socket`, asks the plugins of a running `plexus serve` through its
    /// admin API instead. Exits 0 on success, 1 on a denial or an error
    /// (with the plugin's message), 2 if nothing can be asked. Examples:
    /// `plexus call -c sftpgo.json auth password --user alice --password
    /// secret`, `plexus call -c sftpgo.json ipfilter --ip 10.0.0.1
    /// --protocol SSH`, `plexus call --socket .plexus/plexus.sock search fs
    /// --username alice`.
    Call {
        /// The config file (JSON, YAML or TOML, by its extension).
        #[arg(
            long,
            short,
            required_unless_present = "socket",
            conflicts_with = "socket"
        )]
        config: Option<PathBuf>,
        /// A running daemon's socket: ask its plugins.
        #[arg(long)]
        socket: Option<PathBuf>,
        #[command(subcommand)]
        call: call::CallCommand,
    },
    /// What a running `plexus serve` is doing: each plugin, its process,
    /// restarts, deliveries and queues (the admin API on its socket).
    Status {
        /// The daemon's ingestion socket.
        #[arg(long, default_value = ".plexus/plexus.sock")]
        socket: PathBuf,
    },
    /// Make a running `plexus serve` reload its IP filters (as SIGHUP does).
    Reload {
        /// The daemon's ingestion socket.
        #[arg(long, default_value = ".plexus/plexus.sock")]
        socket: PathBuf,
    },
    /// Check a config file and print every problem, then every warning,
    /// each with its path. Exits 1 on problems; on warnings only with
    /// `--strict`.
    Validate {
        /// The config file (JSON, YAML or TOML, by its extension).
        file: PathBuf,
        /// Warnings (unknown keys, filter names SFTPGo never sends) fail too.
        #[arg(long)]
        strict: bool,
    },
    /// Publish test events to a running `plexus serve`: generated ones, or
    /// those of a JSONL file (`--events`).
    Emit {
        /// How many events.
        #[arg(short = 'n', long, default_value_t = 100)]
        count: u64,
        /// Publish the events of this JSONL file (one event object per line,
        /// the interop format) instead of generated ones; it is read in full
        /// first, so a bad line publishes nothing.
        #[arg(long, conflicts_with_all = ["count", "kind"])]
        events: Option<PathBuf>,
        /// Events per second; 0 = as fast as the daemon accepts them.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Events per publish call.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// fs, provider, log or mixed.
        #[arg(long, default_value = "fs")]
        kind: String,
        /// The daemon's unix socket (default: .plexus/plexus.sock).
        #[arg(long, conflicts_with = "tcp")]
        socket: Option<PathBuf>,
        /// The daemon's loopback TCP address instead (e.g. 127.0.0.1:7400).
        #[arg(long)]
        tcp: Option<std::net::SocketAddr>,
        /// With --tcp: a file holding the daemon's ingestion token
        /// (PLEXUS_INGEST_TOKEN, if set, is used instead).
        #[arg(long, requires = "tcp")]
        token_file: Option<PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Inspect or clear the durable queues of a data directory (through the
    /// running daemon's admin API when one holds the directory).
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Print a file's sha256, to paste into a plugin's `sha256sum`.
    Checksum { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Every queue and how many events it holds.
    Stats {
        /// The engine's data directory.
        #[arg(long, default_value = ".plexus")]
        data_dir: PathBuf,
        /// A running daemon's socket, asked when it holds the directory
        /// (default `<data_dir>/plexus.sock`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Drop a plugin's queues (the events in them are lost).
    Drop {
        /// A queue name as `queue stats` prints it, or the part before
        /// `.retry`/`.ahead`; on a live daemon also a plugin's label or path.
        #[arg(long)]
        plugin: String,
        #[arg(long, default_value = ".plexus")]
        data_dir: PathBuf,
        /// A running daemon's socket, used when it holds the directory
        /// (default `<data_dir>/plexus.sock`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The config is read first so its log level applies.
    let config = match &cli.command {
        Command::Serve { config }
        | Command::Probe { config }
        | Command::Call {
            config: Some(config),
            ..
        } => match PluginsFile::load(config) {
            Ok(file) => Some(file),
            Err(err) => {
                eprintln!("plexus: {err}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let level = cli
        .log
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.engine.log_level.clone()))
        .unwrap_or_else(|| "info".into());
    init_logging(&level, cli.log_format);
    for warning in config.iter().flat_map(|file| &file.warnings) {
        tracing::warn!("config: {warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("plexus: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match (cli.command, config) {
            (Command::Serve { config }, Some(file)) => serve::run(file, config).await,
            (Command::Probe { .. }, Some(file)) => probe::run(file).await,
            (Command::Call { call, .. }, Some(file)) => {
                call::run(call::Target::Config(Box::new(file)), call).await
            }
            (
                Command::Call {
                    call,
                    socket: Some(socket),
                    ..
                },
                None,
            ) => call::run(call::Target::Daemon(socket), call).await,
            (Command::Validate { file, strict }, _) => validate(&file, strict),
            (
                Command::Emit {
                    count,
                    events,
                    rate,
                    batch,
                    kind,
                    socket,
                    tcp,
                    token_file,
                    quiet,
                },
                _,
            ) => {
                let token = if tcp.is_some() {
                    match plexus_engine::ingest_token::IngestToken::load(
                        std::env::var(plexus_engine::ingest_token::TOKEN_ENV)
                            .ok()
                            .as_deref(),
                        token_file.as_deref(),
                    ) {
                        Ok(token) => token,
                        Err(err) => {
                            eprintln!("plexus emit: {err}");
                            return ExitCode::from(2);
                        }
                    }
                } else {
                    None
                };
                let address = match tcp {
                    Some(addr) => Address::Tcp(addr),
                    None => Address::Unix(
                        socket.unwrap_or_else(|| serve::default_socket(&PathBuf::from(".plexus"))),
                    ),
                };
                let source = match events {
                    Some(path) => emit::Source::File(path),
                    None => emit::Source::Generated { count, kind },
                };
                emit::run(emit::EmitOptions {
                    address,
                    source,
                    rate,
                    batch,
                    quiet,
                    token,
                })
                .await
            }
            (
                Command::Queue {
                    command: QueueCommand::Stats { data_dir, socket },
                },
                _,
            ) => queue::stats(&data_dir, socket.as_deref()).await,
            (Command::Status { socket }, _) => admin::status(&socket).await,
            (Command::Reload { socket }, _) => admin::reload(&socket).await,
            (
                Command::Queue {
                    command:
                        QueueCommand::Drop {
                            plugin,
                            data_dir,
                            socket,
                        },
                },
                _,
            ) => queue::drop(&data_dir, &plugin, socket.as_deref()).await,
            (Command::Checksum { file }, _) => checksum(&file),
            (Command::Serve { .. } | Command::Probe { .. } | Command::Call { .. }, None) => {
                ExitCode::FAILURE
            }
        }
    })
}

fn validate(path: &std::path::Path, strict: bool) -> ExitCode {
    match PluginsFile::load(path) {
        Ok(file) => {
            for warning in &file.warnings {
                eprintln!("warning: {warning}");
            }
            if strict && !file.warnings.is_empty() {
                eprintln!(
                    "{}: {} warnings, which --strict makes errors",
                    path.display(),
                    file.warnings.len()
                );
                return ExitCode::FAILURE;
            }
            let kinds: Vec<&str> = file.plugins.iter().map(|p| p.kind.as_str()).collect();
            println!(
                "{}: OK, {} plugins ({})",
                path.display(),
                kinds.len(),
                kinds.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(plexus_engine::ConfigError::Invalid {
            path: origin,
            problems,
            warnings,
        }) => {
            eprintln!("config {origin} is invalid:");
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn checksum(path: &std::path::Path) -> ExitCode {
    match plexus_engine::host::checksum::sha256_file(path) {
        Ok(digest) => {
            println!(
                "{}  {}",
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("plexus checksum: cannot read {}: {err}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: text with colours only on a terminal (a file or a pipe
/// gets plain text), or JSON lines whose fields carry the plugin's label
/// and the level.
fn init_logging(filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
