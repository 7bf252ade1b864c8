//! `plexus queue stats|drop`: look at and clear the durable queues of a
//! data directory while the daemon is stopped.

use plexus_storage::{Store, StoreOptions};
use std::path::Path;
use std::process::ExitCode;

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

pub fn stats(data_dir: &Path) -> ExitCode {
    let store = match open(data_dir) {
        Ok(store) => store,
        Err(err) => {
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
    if names.is_empty() {
        println!("no queues in {}", data_dir.display());
    }
    for name in names {
        match store.queue(&name) {
            Ok(queue) => println!("{name}\t{} events", queue.len()),
            Err(err) => println!("{name}\tunreadable: {err}"),
        }
    }
    ExitCode::SUCCESS
}

/// Drops the queues of one plugin: `NAME` is a queue name as `stats` prints
/// it, or the part before `.retry`/`.ahead`.
pub fn drop(data_dir: &Path, plugin: &str) -> ExitCode {
    let store = match open(data_dir) {
        Ok(store) => store,
        Err(err) => {
            eprintln!("plexus queue drop: {err}");
            return ExitCode::FAILURE;
        }
    };
    let names = store.names().unwrap_or_default();
    let matching: Vec<String> = names
        .into_iter()
        .filter(|name| {
            name == plugin
                || name.strip_suffix(".retry").or(name.strip_suffix(".ahead")) == Some(plugin)
        })
        .collect();
    if matching.is_empty() {
        eprintln!("plexus queue drop: no queue named {plugin:?} (see `plexus queue stats`)");
        return ExitCode::FAILURE;
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
