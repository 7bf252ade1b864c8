//! `plexus-eventsearch`: an eventsearcher plugin answering SFTPGo's three
//! event searches (the WebAdmin events pages, `/api/v2/events/...`,
//! `Engine::search_*` in Plexus) from the database `plexus-eventstore` or
//! the Go `sftpgo-plugin-eventstore` writes. It only reads: no migrations.

use std::process::ExitCode;

use clap::Parser;
use plexus_eventdb::{search_fs, search_log, search_provider, Database, DbError, Driver};
use plexus_sdk::eventsearcher::{
    FsEventsFilter, LogEventsFilter, ProviderEventsFilter, SearchResponse, Searcher, SearcherServer,
};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};

const NAME: &str = "plexus-eventsearch";

/// The Go plugin's flags and env vars; SQLite added (and the default).
#[derive(Debug, Parser)]
#[command(
    name = NAME,
    version,
    about = "An SFTPGo/Plexus eventsearcher plugin over the plexus-eventstore database",
    after_help = "In the host's plugins config:\n  \
        {\"type\": \"eventsearcher\", \"cmd\": \"/usr/local/bin/plexus-eventsearch\",\n   \
        \"args\": [\"serve\", \"--driver\", \"sqlite\", \"--dsn\", \"/var/lib/sftpgo/events.db\"],\n   \
        \"auto_mtls\": true}"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run as a plugin (must be started by SFTPGo or Plexus).
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// sqlite, postgres or mysql.
    #[arg(
        long,
        env = "SFTPGO_PLUGIN_EVENTSEARCH_DRIVER",
        default_value = "sqlite"
    )]
    driver: String,
    /// The eventstore's database: SQLite file path or sqlite: URL,
    /// postgres:// URL, mysql:// URL or Go DSN (user:pass@tcp(host:port)/db).
    #[arg(long, env = "SFTPGO_PLUGIN_EVENTSEARCH_DSN", hide_env_values = true)]
    dsn: String,
    /// Maximum open connections (0: the driver's default).
    #[arg(long, env = "SFTPGO_PLUGIN_EVENTSEARCH_POOL_SIZE", default_value_t = 0)]
    pool_size: u32,
}

fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::EventSearcher) {
        err.report(PluginKind::EventSearcher);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(async {
        let driver: Driver = match args.driver.parse() {
            Ok(driver) => driver,
            Err(err) => return fatal(&err.to_string()),
        };
        let db = match Database::connect(driver, &args.dsn, args.pool_size).await {
            Ok(db) => db,
            Err(err) => return fatal(&format!("cannot connect to the {driver} database: {err}")),
        };
        tracing::info!(%driver, "eventsearch plugin starting");
        let code = PluginServer::new(SearcherServer::new(DbSearcher { db: db.clone() }))
            .run()
            .await;
        db.close().await;
        code
    })
}

/// One `[ERROR]` line on stderr (a go-plugin host maps the prefix), exit 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}

struct DbSearcher {
    db: Database,
}

fn answer(result: Result<Vec<u8>, DbError>) -> Result<Response<SearchResponse>, Status> {
    match result {
        Ok(data) => Ok(Response::new(SearchResponse { data })),
        Err(DbError::InvalidArgument(message)) => Err(Status::invalid_argument(message)),
        Err(err) => {
            tracing::warn!(error = %err, "search failed");
            Err(Status::unavailable(format!("the search failed: {err}")))
        }
    }
}

#[async_trait]
impl Searcher for DbSearcher {
    async fn search_fs_events(
        &self,
        request: Request<FsEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        answer(search_fs(&self.db, request.get_ref()).await)
    }

    async fn search_provider_events(
        &self,
        request: Request<ProviderEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        answer(search_provider(&self.db, request.get_ref()).await)
    }

    async fn search_log_events(
        &self,
        request: Request<LogEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        answer(search_log(&self.db, request.get_ref()).await)
    }
}
