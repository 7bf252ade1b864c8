//! `eventsearch-jsonl`: an event searcher over the JSONL file that
//! `notifier-jsonl` writes, answering SFTPGo's three searches, so the
//! events pages and the `/api/v2/events/...` REST API of SFTPGo (and
//! `Engine::search_*` in Plexus) work without a database.
//!
//! ```text
//! eventsearch-jsonl --file PATH
//! ```
//!
//! The file is parsed once and kept in memory; before each search only what
//! was appended since is read (a replaced or truncated file is read again).
//! A record's id is its line number. See `plexus_examples::search` for the
//! filters and the JSON answer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use plexus_examples::search::{search_fs, search_log, search_provider, Record, Store};
use plexus_sdk::eventsearcher::{
    FsEventsFilter, LogEventsFilter, ProviderEventsFilter, SearchResponse, Searcher, SearcherServer,
};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};

const NAME: &str = "eventsearch-jsonl";

#[derive(Debug, Parser)]
#[command(
    name = NAME,
    version,
    about = "An SFTPGo/Plexus event searcher over a notifier-jsonl file",
    long_about = "An SFTPGo/Plexus event searcher over a notifier-jsonl file.\n\n\
        Started by the host (it refuses to run by hand). It answers \
        SearchFsEvents, SearchProviderEvents and SearchLogEvents from the JSONL \
        file notifier-jsonl appends to, with SFTPGo's filters: time range \
        (start/end_timestamp, ns), actions or events, username, ip, role, \
        protocols, statuses, ssh_cmd, fs_provider (-1 = any), bucket, endpoint, \
        object types and name, order (DESC by default, ASC), limit (1..1000, \
        else INVALID_ARGUMENT) and paging with from_id. The answer is a JSON \
        array of objects with id (the line number, a string), timestamp and the \
        event's fields, empty ones omitted; provider object_data is base64 \
        unless omit_object_data is set.",
    after_help = "In the host's plugins config, next to the notifier writing the file:\n  \
        {\"type\": \"notifier\", \"cmd\": \"/usr/local/bin/notifier-jsonl\",\n   \
        \"args\": [\"--out\", \"/var/lib/sftpgo/events.jsonl\"], ...},\n  \
        {\"type\": \"eventsearcher\", \"cmd\": \"/usr/local/bin/eventsearch-jsonl\",\n   \
        \"args\": [\"--file\", \"/var/lib/sftpgo/events.jsonl\"], \"auto_mtls\": true}\n\
        A missing file is an empty store until the notifier creates it."
)]
struct Args {
    /// The JSONL file notifier-jsonl writes (its `--out`).
    #[arg(long, value_name = "PATH")]
    file: PathBuf,
}

struct JsonlSearcher {
    file: PathBuf,
    store: Arc<Mutex<Store>>,
}

impl JsonlSearcher {
    /// Brings the store up to date and runs `search` on it, off the async
    /// threads (reading and parsing is blocking work).
    async fn run<F>(&self, search: F) -> Result<Response<SearchResponse>, Status>
    where
        F: FnOnce(&[Record]) -> Result<serde_json::Value, String> + Send + 'static,
    {
        let store = self.store.clone();
        let file = self.file.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut store = store
                .lock()
                .map_err(|_| Status::internal("the event store is unavailable"))?;
            match store.refresh(&file) {
                Ok(0) => {}
                Ok(unreadable) => {
                    tracing::warn!(unreadable, file = %file.display(), "lines of the event file could not be read")
                }
                Err(err) => {
                    return Err(Status::unavailable(format!(
                        "cannot read {}: {err}",
                        file.display()
                    )))
                }
            }
            let value = search(store.records()).map_err(Status::invalid_argument)?;
            Ok(value.to_string().into_bytes())
        })
        .await
        .map_err(|err| Status::internal(format!("the search failed: {err}")))??;
        Ok(Response::new(SearchResponse { data: answer }))
    }
}

#[async_trait]
impl Searcher for JsonlSearcher {
    async fn search_fs_events(
        &self,
        request: Request<FsEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        let filter = request.into_inner();
        self.run(move |records| search_fs(records, &filter)).await
    }

    async fn search_provider_events(
        &self,
        request: Request<ProviderEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        let filter = request.into_inner();
        self.run(move |records| search_provider(records, &filter))
            .await
    }

    async fn search_log_events(
        &self,
        request: Request<LogEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        let filter = request.into_inner();
        self.run(move |records| search_log(records, &filter)).await
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::EventSearcher) {
        err.report(PluginKind::EventSearcher);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    tracing::info!(file = %args.file.display(), "eventsearcher plugin starting");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("[ERROR] {NAME}: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let searcher = JsonlSearcher {
        file: args.file,
        store: Arc::new(Mutex::new(Store::default())),
    };
    // Read what is there now, next to the handshake (a big file must not
    // delay it), so the first search finds the store warm.
    let (store, file) = (searcher.store.clone(), searcher.file.clone());
    runtime.spawn_blocking(move || {
        let Ok(mut store) = store.lock() else { return };
        match store.refresh(&file) {
            Ok(unreadable) => tracing::info!(
                records = store.records().len(),
                unreadable,
                "event file read"
            ),
            Err(err) => {
                tracing::warn!(file = %file.display(), error = %err, "cannot read the event file")
            }
        }
    });
    runtime.block_on(PluginServer::new(SearcherServer::new(searcher)).run())
}
