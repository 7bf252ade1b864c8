//! `plexus queue stats` and `plexus queue drop` on a stopped daemon's data
//! directory: they see the retry and spill queues under `backlog/`, the
//! write-ahead logs under `wal/` and what an earlier version left in the
//! sled store, and drop exactly the named notifier's.

use plexus_interop::workspace_bin;
use plexus_storage::{LogOptions, LogQueue, Store, StoreOptions};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn plexus_queue(args: &[&str], data: &Path) -> (bool, String, String) {
    let output = Command::new(workspace_bin("plexus"))
        .arg("queue")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("plexus runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn fill(dir: &Path, options: LogOptions, events: u64) {
    let log = LogQueue::open(dir, options).expect("a log");
    for i in 0..events {
        log.append(i as i64, b"event").expect("an append");
    }
    log.flush().expect("flushed");
}

#[test]
fn stats_and_drop_see_every_kind_of_queue() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let backlog = data.join(plexus_engine::BACKLOG_DIR);
    let on_disk = plexus_engine::backlog_options(Duration::from_millis(1), false);
    {
        let store = Store::open(data.join("queue"), StoreOptions::default()).expect("sled");
        let left = store.queue("gone.1.retry").expect("a sled queue");
        left.push(1, b"left by an earlier version").expect("a push");
        store.flush().expect("flushed");
    }
    fill(&backlog.join("keep.1.retry"), on_disk, 2);
    fill(&backlog.join("drop.1.retry"), on_disk, 3);
    fill(&backlog.join("drop.1.spill"), on_disk, 4);
    fill(&data.join("wal").join("drop.1"), LogOptions::default(), 1);

    let (ok, stats, stderr) = plexus_queue(&["stats"], &data);
    assert!(ok, "{stderr}");
    for line in [
        "keep.1.retry\t2 events",
        "drop.1.retry\t3 events",
        "drop.1.spill\t4 events",
        "drop.1.ahead\t1 events",
        "gone.1.retry\t1 events",
    ] {
        assert!(stats.lines().any(|l| l == line), "{line:?} in {stats}");
    }

    let (ok, dropped, stderr) = plexus_queue(&["drop", "--plugin", "drop.1"], &data);
    assert!(ok, "{stderr}");
    for line in [
        "dropped drop.1.retry (3 events)",
        "dropped drop.1.spill (4 events)",
        "dropped drop.1.ahead (1 events)",
    ] {
        assert!(dropped.lines().any(|l| l == line), "{line:?} in {dropped}");
    }
    assert!(!backlog.join("drop.1.retry").exists());
    assert!(!data.join("wal").join("drop.1").exists());
    let (_, stats, _) = plexus_queue(&["stats"], &data);
    assert!(stats.contains("keep.1.retry\t2 events"), "{stats}");
    assert!(!stats.contains("drop.1"), "{stats}");

    // The sled leftover goes by its full name, the others stay.
    let (ok, dropped, stderr) = plexus_queue(&["drop", "--plugin", "gone.1.retry"], &data);
    assert!(ok, "{stderr}");
    assert!(
        dropped.contains("dropped gone.1.retry (1 events)"),
        "{dropped}"
    );
    let (ok, _, stderr) = plexus_queue(&["drop", "--plugin", "nope"], &data);
    assert!(!ok);
    assert!(stderr.contains("no queue named \"nope\""), "{stderr}");
}
