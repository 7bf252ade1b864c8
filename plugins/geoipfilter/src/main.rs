//! `plexus-geoipfilter serve`: checks the flags, opens the database (a
//! failure stops the start, as in the Go plugin), and serves
//! `proto.IPFilter` until the host stops it.

use std::process::ExitCode;

use clap::Parser;
use plexus_geoipfilter::cli::{Cli, Command};
use plexus_geoipfilter::filter::GeoFilter;
use plexus_geoipfilter::NAME;
use plexus_sdk::ipfilter::IpFilterServer;
use plexus_sdk::{PluginKind, PluginServer};

fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::IpFilter) {
        err.report(PluginKind::IpFilter);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(err) => return fatal(&err),
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        allowed = ?sorted(&settings.policy.allowed),
        denied = ?sorted(&settings.policy.denied),
        deny_on_lookup_error = settings.policy.deny_on_lookup_error,
        deny_unknown_country = settings.policy.deny_unknown_country,
        "starting {NAME}"
    );
    let filter = match GeoFilter::open(settings.db_file, settings.db_type, settings.policy) {
        Ok(filter) => filter,
        Err(err) => return fatal(&format!("unable to load the database: {err}")),
    };
    let db = filter.database();
    tracing::info!(path = %db.path().display(), database_type = db.database_type(), "database loaded");
    drop(db);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(PluginServer::new(IpFilterServer::new(filter)).run())
}

fn sorted(set: &std::collections::HashSet<String>) -> Vec<&str> {
    let mut list: Vec<&str> = set.iter().map(String::as_str).collect();
    list.sort_unstable();
    list
}

/// One `[ERROR]` line on stderr (a go-plugin host maps the prefix), exit 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}
