//! The command line, flag for flag and env var for env var the Go
//! `sftpgo-plugin-eventstore`'s, so an SFTPGo config written for it works
//! unchanged; SQLite is added as a driver (and is the default).

use clap::{Args, Parser, Subcommand};

/// Stores SFTPGo/Plexus events in SQLite, PostgreSQL or MySQL/MariaDB.
#[derive(Debug, Parser)]
#[command(
    name = "plexus-eventstore",
    version,
    about = "An SFTPGo/Plexus notifier plugin storing every event in a database",
    after_help = "In the host's plugins config:\n  \
        {\"type\": \"notifier\", \"cmd\": \"/usr/local/bin/plexus-eventstore\",\n   \
        \"args\": [\"serve\", \"--driver\", \"sqlite\", \"--dsn\", \"/var/lib/sftpgo/events.db\"],\n   \
        \"notifier_options\": {\"fs_events\": [\"upload\", \"download\"], \"log_events\": [1, 2, 5]},\n   \
        \"auto_mtls\": true}"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a plugin (must be started by SFTPGo or Plexus).
    Serve(ServeArgs),
    /// Create or upgrade the schema, then exit.
    Migrate(DbArgs),
    /// Drop every event table and the migrations table (asks first).
    Reset(ResetArgs),
}

/// Which database to use.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// sqlite, postgres or mysql.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_EVENTSTORE_DRIVER",
        default_value = "sqlite"
    )]
    pub driver: String,
    /// SQLite: a file path or sqlite: URL; PostgreSQL: a postgres:// URL;
    /// MySQL: a mysql:// URL or a Go DSN (user:pass@tcp(host:port)/db).
    #[arg(long, env = "SFTPGO_PLUGIN_EVENTSTORE_DSN", hide_env_values = true)]
    pub dsn: String,
    /// Maximum open connections (0: the driver's default).
    #[arg(long, env = "SFTPGO_PLUGIN_EVENTSTORE_POOL_SIZE", default_value_t = 0)]
    pub pool_size: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Stored in every row, to tell the nodes of a cluster apart.
    #[arg(long, env = "SFTPGO_PLUGIN_EVENTSTORE_INSTANCE_ID", default_value = "")]
    pub instance_id: String,
    /// Derive each row's id from the event's content and skip an event
    /// whose id is stored already, so an event delivered twice (a host or
    /// broker redelivery after a crash) is stored once. Off: a fresh xid
    /// per insert, as the Go plugin.
    #[arg(long, env = "SFTPGO_PLUGIN_EVENTSTORE_IDEMPOTENT")]
    pub idempotent: bool,
    /// Delete events older than this many hours, checked every hour (0: keep
    /// forever; at most 876000, 100 years).
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_EVENTSTORE_RETENTION",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::retention::MAX_HOURS))
    )]
    pub retention: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(retention: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from([
            "plexus-eventstore",
            "serve",
            "--dsn",
            "events.db",
            "--retention",
            retention,
        ])
    }

    #[test]
    fn retention_is_refused_past_its_range_naming_the_flag() {
        let err = serve("4000000").unwrap_err().to_string();
        assert!(err.contains("--retention"), "{err}");
        assert!(err.contains("0..=876000"), "{err}");
        let Command::Serve(args) = serve("876000").unwrap().command else {
            panic!("expected serve");
        };
        assert_eq!(args.retention, 876_000);
    }
}
