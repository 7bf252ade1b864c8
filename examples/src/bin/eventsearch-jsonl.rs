//! `eventsearch-jsonl`: an event searcher over the JSONL file that
//! `notifier-jsonl` writes, answering SFTPGo's three searches.
//!
//! ```text
//! eventsearch-jsonl --file PATH
//! ```
//!
//! The file is read on every search (fine for the small files it is made
//! for); a record's id is its line number. See `plexus_examples::search`
//! for the filters and the JSON answer.

use clap::Parser;
use plexus_examples::search::{load, search_fs, search_log, search_provider, Record};
use plexus_sdk::eventsearcher::{
    FsEventsFilter, LogEventsFilter, ProviderEventsFilter, SearchResponse, Searcher, SearcherServer,
};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "eventsearch-jsonl",
    version,
    about = "An SFTPGo/Plexus event searcher over a notifier-jsonl file"
)]
struct Args {
    /// The JSONL file notifier-jsonl writes (`--out`).
    #[arg(long, value_name = "PATH")]
    file: PathBuf,
}

struct JsonlSearcher {
    file: PathBuf,
}

impl JsonlSearcher {
    fn records(&self) -> Result<Vec<Record>, Status> {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(Status::unavailable(format!(
                    "cannot read {}: {err}",
                    self.file.display()
                )))
            }
        };
        let (records, unreadable) = load(&text);
        if unreadable > 0 {
            tracing::warn!(unreadable, "lines of the event file could not be read");
        }
        Ok(records)
    }
}

fn answer(result: Result<serde_json::Value, String>) -> Result<Response<SearchResponse>, Status> {
    let value = result.map_err(Status::invalid_argument)?;
    Ok(Response::new(SearchResponse {
        data: value.to_string().into_bytes(),
    }))
}

#[async_trait]
impl Searcher for JsonlSearcher {
    async fn search_fs_events(
        &self,
        request: Request<FsEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        answer(search_fs(&self.records()?, &request.into_inner()))
    }

    async fn search_provider_events(
        &self,
        request: Request<ProviderEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        answer(search_provider(&self.records()?, &request.into_inner()))
    }

    async fn search_log_events(
        &self,
        request: Request<LogEventsFilter>,
    ) -> Result<Response<SearchResponse>, Status> {
        answer(search_log(&self.records()?, &request.into_inner()))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::EventSearcher) {
        err.report(PluginKind::EventSearcher);
        return err.exit_code();
    }
    plexus_sdk::logging::init("eventsearch-jsonl");
    tracing::info!(file = %args.file.display(), "eventsearcher plugin starting");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("[ERROR] eventsearch-jsonl: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime
        .block_on(PluginServer::new(SearcherServer::new(JsonlSearcher { file: args.file })).run())
}
