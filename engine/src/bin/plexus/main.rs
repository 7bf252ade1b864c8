//! The `plexus` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod probe;

/// Plexus hosts go-plugin plugins (SFTPGo's notifier, kms, auth,
/// eventsearcher and ipfilter) and delivers events to them.
///
/// The config is SFTPGo's `plugins` array: a file holding the array itself,
/// or any object with a `plugins` key (a whole sftpgo.json works).
#[derive(Debug, Parser)]
#[command(name = "plexus", version, about, long_about)]
struct Cli {
    /// Log filter, as RUST_LOG (e.g. `info`, `plexus=debug`).
    #[arg(long, global = true, env = "PLEXUS_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start every configured plugin once, check it, and stop it.
    ///
    /// For each plugin: verify its checksum, start it, perform the go-plugin
    /// handshake, health-check it and, for a notifier, send one fs, one
    /// provider and one log event. Prints one line per plugin with the
    /// outcome and the time it took; exits non-zero if any failed.
    Probe {
        /// The plugins config file (JSON).
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
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
    runtime.block_on(async {
        match cli.command {
            Command::Probe { config } => probe::run(&config).await,
        }
    })
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
