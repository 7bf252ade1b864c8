//! `plexus queue stats|drop`: look at and clear the durable queues of a
//! data directory while the daemon is stopped: the retry and spill queues
//! under `backlog/<name>.retry|.spill/`, the write-ahead logs under
//! `wal/<name>/` (shown as `<name>.ahead`), and what an earlier version left
//! in the sled database under `queue/`. While a daemon holds the directory, both go
//! through its admin API instead (on `<data_dir>/plexus.sock`, or the
//! socket given): `stats` shows the live queues, `drop` empties a
//! notifier's retry and spill queues without stopping anything.

use plexus_engine::{backlog_logs, backlog_options, queue_dirs, queue_owner, BACKLOG_DIR};
use plexus_storage::{LogOptions, LogQueue, Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The retry and spill queues of a data directory, by queue name.
fn backlogs(data_dir: &Path) -> Vec<(String, PathBuf)> {
    backlog_logs(&data_dir.join(BACKLOG_DIR))
}

/// How this command opens a retry or spill queue: as the engine does, but
/// without syncing (it only counts or deletes).
fn backlog_read_options() -> LogOptions {
    backlog_options(Duration::from_millis(1), false)
}

/// The write-ahead log directories of a data directory, by plugin queue name.
fn write_ahead_logs(data_dir: &Path) -> Vec<(String, PathBuf)> {
    queue_dirs(&data_dir.join("wal"))
}

fn open(data_dir: &Path) -> Result<Store, String> {
    let dir = data_dir.join("queue");
    if !dir.exists() {
        return Err(format!(
            "{} holds no queue (no such directory {})",
            data_dir.display(),
            dir.display()
        ));
    }
    Store::open(&dir, StoreOptions::default()).map_err(|err| err.to_string())
}

/// The socket of the daemon that may hold `data_dir`.
fn daemon_socket(data_dir: &Path, socket: Option<&Path>) -> PathBuf {
    socket
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join("plexus.sock"))
}

pub async fn stats(data_dir: &Path, socket: Option<&Path>) -> ExitCode {
    let store = match open(data_dir) {
        Ok(store) => store,
        Err(err) => {
            let socket = daemon_socket(data_dir, socket);
            if socket.exists() {
                return live_stats(data_dir, &socket, &err).await;
            }
            eprintln!("plexus queue stats: {err}");
            return ExitCode::FAILURE;
        }
    };
    let names = match store.names() {
        Ok(names) => names,
        Err(err) => {
            eprintln!("plexus queue stats: {err}");
            return ExitCode::FAILURE;
        }
    };
    let logs = write_ahead_logs(data_dir);
    let backlogs = backlogs(data_dir);
    if names.is_empty() && logs.is_empty() && backlogs.is_empty() {
        println!("no queues in {}", data_dir.display());
    }
    for (name, dir) in backlogs {
        match LogQueue::open(&dir, backlog_read_options()) {
            Ok(log) => println!("{name}\t{} events", log.len()),
            Err(err) => println!("{name}\tunreadable: {err}"),
        }
    }
    for name in names {
        match store.queue(&name) {
            Ok(queue) => println!("{name}\t{} events", queue.len()),
            Err(err) => println!("{name}\tunreadable: {err}"),
        }
    }
    for (name, dir) in logs {
        match LogQueue::open(&dir, LogOptions::default()) {
            Ok(log) => println!("{name}.ahead\t{} events", log.len()),
            Err(err) => println!("{name}.ahead\tunreadable: {err}"),
        }
    }
    ExitCode::SUCCESS
}

/// The queue lengths a running daemon reports.
async fn live_stats(data_dir: &Path, socket: &Path, open_error: &str) -> ExitCode {
    match crate::admin::fetch_status(socket).await {
        Ok(reply) => {
            println!(
                "{} is held by a running plexus serve; its live queues (via {}):",
                data_dir.display(),
                socket.display()
            );
            for plugin in reply.plugins.iter().filter(|p| p.kind == "notifier") {
                println!("{}.retry\t{} events", plugin.label, plugin.retry_queue);
                println!("{}.spill\t{} events", plugin.label, plugin.spill_queue);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("plexus queue stats: {open_error}; and asking the daemon failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Empties a notifier's queues in a running daemon.
async fn live_drop(plugin: &str, socket: &Path, open_error: &str) -> ExitCode {
    match crate::admin::drop_queue(socket, plugin).await {
        Ok(reply) => {
            for dropped in reply.dropped {
                println!(
                    "dropped {} events of {} ({} from the retry queue, {} from the spill queue) in the running daemon",
                    dropped.retry + dropped.spill,
                    dropped.plugin,
                    dropped.retry,
                    dropped.spill
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("plexus queue drop: {open_error}; and asking the daemon failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Drops the queues of one plugin: `NAME` is a queue name as `stats` prints
/// it, or the part before `.retry`/`.spill`/`.ahead`.
pub async fn drop(data_dir: &Path, plugin: &str, socket: Option<&Path>) -> ExitCode {
    let store = match open(data_dir) {
        Ok(store) => store,
        Err(err) => {
            let socket = daemon_socket(data_dir, socket);
            if socket.exists() {
                return live_drop(plugin, &socket, &err).await;
            }
            eprintln!("plexus queue drop: {err}");
            return ExitCode::FAILURE;
        }
    };
    let names = store.names().unwrap_or_default();
    let matching: Vec<String> = names
        .into_iter()
        .filter(|name| name == plugin || queue_owner(name) == plugin)
        .collect();
    // Every log to drop, with the name it is shown under and how it opens.
    let mut matching_logs: Vec<(String, PathBuf, LogOptions)> = write_ahead_logs(data_dir)
        .into_iter()
        .filter(|(name, _)| name == plugin || format!("{name}.ahead") == plugin)
        .map(|(name, dir)| (format!("{name}.ahead"), dir, LogOptions::default()))
        .collect();
    matching_logs.extend(
        backlogs(data_dir)
            .into_iter()
            .filter(|(name, _)| name == plugin || queue_owner(name) == plugin)
            .map(|(name, dir)| (name, dir, backlog_read_options())),
    );
    if matching.is_empty() && matching_logs.is_empty() {
        eprintln!("plexus queue drop: no queue named {plugin:?} (see `plexus queue stats`)");
        return ExitCode::FAILURE;
    }
    for (name, dir, options) in matching_logs {
        // Opening takes the log's lock: a running daemon makes this fail.
        let len = match LogQueue::open(&dir, options) {
            Ok(log) => log.len(),
            Err(err) => {
                eprintln!("plexus queue drop: {name}: {err}");
                return ExitCode::FAILURE;
            }
        };
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => println!("dropped {name} ({len} events)"),
            Err(err) => {
                eprintln!("plexus queue drop: removing {}: {err}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    for name in matching {
        let len = store.queue(&name).map(|q| q.len()).unwrap_or_default();
        match store.drop_queue(&name) {
            Ok(_) => println!("dropped {name} ({len} events)"),
            Err(err) => {
                eprintln!("plexus queue drop: {name}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(err) = store.flush() {
        eprintln!("plexus queue drop: flushing: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
