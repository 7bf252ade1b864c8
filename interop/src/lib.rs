//! Support for Plexus's process-level tests: locating the workspace's
//! binaries, building the Go fixtures (real go-plugin peers, from Debian's
//! packages, by `build-go.sh`), reading what a recording plugin wrote, and
//! polling for a condition with a deadline instead of sleeping.
//!
//! The interop tests themselves live in `tests/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The target directory of the running test (`target/<profile>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps layout")
        .to_owned()
}

/// A binary of this workspace, built next to the test executable
/// (`scripts/test` builds every binary first).
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, as scripts/test does)",
        path.display()
    );
    path
}

/// The Go fixtures, built once per test process.
#[derive(Debug, Clone)]
pub struct GoFixtures {
    /// A go-plugin notifier that records every event (`PLEXUS_RECORD_FILE`).
    pub plugin: PathBuf,
    /// An SFTPGo-style go-plugin host.
    pub host: PathBuf,
}

/// Builds the Go fixtures with `interop/build-go.sh` (offline, GOPATH mode,
/// Debian's go-plugin). Panics with the script's output if Go is missing:
/// these tests must never be skipped.
pub fn go_fixtures() -> &'static GoFixtures {
    static FIXTURES: OnceLock<GoFixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let interop = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = target_dir().join("go-fixtures");
        let output = std::process::Command::new("bash")
            .arg(interop.join("build-go.sh"))
            .arg(&out)
            .output()
            .expect("run interop/build-go.sh");
        assert!(
            output.status.success(),
            "building the Go fixtures failed (install the Go packages: .ci/run does):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        GoFixtures {
            plugin: out.join("bin/plexus-goplugin-notifier"),
            host: out.join("bin/plexus-gohost"),
        }
    })
}

/// Polls `condition` until it holds; panics naming `what` after `timeout`.
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

/// The JSON lines of a recording file; a torn last line (a plugin killed
/// mid-write, so never acknowledged) is skipped.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Sends SIGKILL to a process id (0 is ignored).
pub fn kill9(pid: u64) {
    if pid > 0 {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}
