//! Helpers shared by the engine's process tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A binary of this workspace, built next to the test executable
/// (`scripts/test` builds every binary first).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps layout");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, as scripts/test does)",
        path.display()
    );
    path
}

/// Polls `condition` until it holds or `timeout` passes.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The JSON lines a notifier-jsonl plugin wrote; a torn last line (the
/// plugin killed mid-write, never acknowledged) is skipped.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// How many times each fs event's `session_id` was delivered.
pub fn delivered_session_ids(path: &Path) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for line in read_jsonl(path) {
        if let Some(id) = line["session_id"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
        {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

pub fn kill9(pid: u64) {
    if pid > 0 {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}
