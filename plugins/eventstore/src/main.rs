//! `plexus-eventstore`: a notifier plugin that stores every SFTPGo/Plexus
//! event in SQLite, PostgreSQL or MySQL/MariaDB, in the tables of SFTPGo's
//! `sftpgo-plugin-eventstore`, so `plexus-eventsearch` (or the Go
//! eventsearch plugin) can answer SFTPGo's event searches from them.
//!
//! `serve` runs the plugin; `migrate` and `reset` manage the schema by hand.
//! See the README for flags, env vars and configuration.

mod cli;
mod notifier;
mod retention;

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command, DbArgs, ResetArgs, ServeArgs};
use plexus_eventdb::{migrate, reset, Database, Driver, Ids, Writer};
use plexus_sdk::PluginKind;

const NAME: &str = "plexus-eventstore";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Serve(_) = cli.command {
        // Before any side effect: a binary run by hand must not touch the DB.
        if let Err(err) = plexus_sdk::check_cookie(PluginKind::Notifier) {
            err.report(PluginKind::Notifier);
            return err.exit_code();
        }
        plexus_sdk::logging::init(NAME);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Migrate(args) => run_migrate(args).await,
            Command::Reset(args) => run_reset(args).await,
        }
    })
}

/// One `[ERROR]` line on stderr (a go-plugin host maps the prefix), exit 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}

async fn connect(args: &DbArgs) -> Result<Database, String> {
    let driver: Driver = args.driver.parse().map_err(|err| format!("{err}"))?;
    Database::connect(driver, &args.dsn, args.pool_size)
        .await
        .map_err(|err| format!("cannot connect to the {driver} database: {err}"))
}

async fn serve(args: ServeArgs) -> ExitCode {
    let db = match connect(&args.db).await {
        Ok(db) => db,
        Err(message) => return fatal(&message),
    };
    if let Err(err) = migrate(&db).await {
        return fatal(&format!("cannot migrate the database: {err}"));
    }
    retention::spawn(db.clone(), args.retention);
    tracing::info!(driver = %db.driver(), instance_id = %args.instance_id, retention_hours = args.retention, idempotent = args.idempotent, "eventstore plugin starting");
    let ids = if args.idempotent {
        Ids::FromContent
    } else {
        Ids::Generated
    };
    let writer = Writer::start(db.clone(), args.instance_id, ids);
    let code = plexus_sdk::serve_notifier(notifier::StoreNotifier { writer }).await;
    db.close().await;
    code
}

async fn run_migrate(args: DbArgs) -> ExitCode {
    let db = match connect(&args).await {
        Ok(db) => db,
        Err(message) => return fatal(&message),
    };
    let result = migrate(&db).await;
    db.close().await;
    match result {
        Ok(()) => {
            println!("the {} database is migrated", args.driver);
            ExitCode::SUCCESS
        }
        Err(err) => fatal(&format!("cannot migrate the database: {err}")),
    }
}

async fn run_reset(args: ResetArgs) -> ExitCode {
    if !args.yes {
        print!(
            "This drops every event table of the {} database {:?}. Continue? [y/N] ",
            args.db.driver, args.db.dsn
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err()
            || !matches!(answer.trim(), "y" | "Y")
        {
            println!("aborted");
            return ExitCode::FAILURE;
        }
    }
    let db = match connect(&args.db).await {
        Ok(db) => db,
        Err(message) => return fatal(&message),
    };
    let result = reset(&db).await;
    db.close().await;
    match result {
        Ok(()) => {
            println!("the event tables are dropped");
            ExitCode::SUCCESS
        }
        Err(err) => fatal(&format!("cannot reset the database: {err}")),
    }
}
