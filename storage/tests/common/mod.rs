//! Helpers shared by the integration tests: temporary stores and child
//! processes (the test binary re-executing one of its own tests).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use plexus_storage::{Store, StoreOptions};

/// Selects the child role when the test binary re-executes itself.
pub const CHILD_MODE_ENV: &str = "PLEXUS_STORAGE_TEST_CHILD";
/// The data directory the child uses.
pub const CHILD_DIR_ENV: &str = "PLEXUS_STORAGE_TEST_DIR";

/// A store in a fresh temporary directory (kept alive by the returned guard).
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
    (dir, store)
}

/// sled 0.34's background threads may hold `<dir>/db`'s lock for a moment
/// after a raw `sled::Db` is dropped (the store itself waits for that on
/// close; a raw handle does not). The longest the helpers below wait.
const RAW_RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Opens the data directory with sled directly, to write behind the
/// store's back, waiting for an earlier raw handle's lock to go.
pub fn raw_sled(dir: &Path) -> sled::Db {
    let until = Instant::now() + RAW_RELEASE_WAIT;
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
            Err(err) => panic!("raw sled open of {}: {err}", dir.display()),
        }
    }
}

/// Opens the store after a raw `sled::Db` of the same directory was
/// dropped, waiting for that handle's lock to go.
pub fn reopen_after_raw(dir: &Path) -> Store {
    let until = Instant::now() + RAW_RELEASE_WAIT;
    loop {
        match Store::open(dir, StoreOptions::default()) {
            Ok(store) => return store,
            Err(plexus_storage::StorageError::Locked { .. }) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(err) => panic!("reopen {}: {err}", dir.display()),
        }
    }
}

/// If this process is a child started by [`spawn_child`] in `mode`, the
/// data directory it must use.
pub fn child_dir(mode: &str) -> Option<std::path::PathBuf> {
    match std::env::var(CHILD_MODE_ENV) {
        Ok(m) if m == mode => std::env::var_os(CHILD_DIR_ENV).map(Into::into),
        _ => None,
    }
}

/// Re-executes this test binary running only `test_name`, in child `mode`,
/// with stdin and stdout piped.
pub fn spawn_child(test_name: &str, mode: &str, dir: &Path) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    Command::new(exe)
        .args([
            test_name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MODE_ENV, mode)
        .env(CHILD_DIR_ENV, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test process")
}

/// The child's stdout lines, read on a thread so the parent can wait with a
/// deadline.
pub struct Lines {
    rx: Receiver<String>,
}

impl Lines {
    pub fn new(stdout: ChildStdout) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { rx }
    }

    /// The next line, or `None` at end of output; panics after `deadline`.
    pub fn next_before(&self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("child produced no line before the deadline"),
        }
    }

    /// Every remaining line until end of output (the child has exited).
    pub fn rest(self, deadline: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(line) = self.next_before(deadline) {
            out.push(line);
        }
        out
    }
}

/// A deadline `secs` seconds from now.
pub fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}
