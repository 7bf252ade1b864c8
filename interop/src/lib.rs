//! Support for Plexus's process-level tests: locating the workspace's
//! binaries, building the Go fixtures (real go-plugin peers, from Debian's
//! packages, by `build-go.sh`), reading what a recording plugin wrote, and
//! polling for a condition with a deadline instead of sleeping.
//!
//! The interop tests themselves live in `tests/`.

pub mod daemon;

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

impl GoFixtures {
    /// A client of the ingestion API on Go's grpc, built next to the others.
    pub fn publish_client(&self) -> PathBuf {
        self.plugin.with_file_name("plexus-publish")
    }
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

/// Events that exercise every field: a metadata map, non-ASCII text, control
/// characters, binary object data, and the extremes of every integer type.
pub fn sample_events() -> Vec<plexus_proto::Event> {
    use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
    use plexus_proto::Event;
    vec![
        Event::Fs(FsEvent {
            timestamp: i64::MAX,
            action: "upload".into(),
            username: "jörg 用户".into(),
            fs_path: "/srv/données/ファイル.txt".into(),
            fs_target_path: "/srv/target\twith\ttabs".into(),
            ssh_cmd: "scp".into(),
            file_size: i64::MIN,
            protocol: "SFTP".into(),
            status: i32::MAX,
            ip: "::1".into(),
            virtual_path: "/données/ファイル.txt".into(),
            virtual_target_path: "/quote\"and\\backslash".into(),
            session_id: "session-1".into(),
            fs_provider: i32::MIN,
            bucket: "bucket 🪣".into(),
            endpoint: "https://s3.example.invalid".into(),
            open_flags: -1,
            role: "admins".into(),
            elapsed: i64::MAX,
            metadata: [
                (
                    "content-type".to_owned(),
                    "text/plain; charset=utf-8".to_owned(),
                ),
                ("ключ".to_owned(), "значение\nна двух строках".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
            .into(),
        }),
        Event::Fs(FsEvent {
            timestamp: 0,
            action: "pre-delete".into(),
            ..Default::default()
        }),
        Event::Provider(ProviderEvent {
            timestamp: i64::MIN,
            action: "update".into(),
            object_type: "user".into(),
            username: "admin".into(),
            ip: "127.0.0.1".into(),
            object_name: "ユーザー".into(),
            object_data: (0..=255u8).collect(),
            role: "".into(),
        }),
        Event::Log(LogEvent {
            timestamp: 1_764_000_000_123_456_789,
            event: i32::MIN,
            username: "mallory".into(),
            protocol: "SSH".into(),
            ip: "192.0.2.1".into(),
            message: "login failed: <script>&\u{1}\u{7f}".into(),
            role: "ops".into(),
        }),
    ]
}

/// Like [`eventually`], for a condition that must be awaited.
pub async fn eventually_async<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
