//! A plugin process lives exactly as long as the host that owns it: a
//! dropped handle kills its process, and plugins orphaned by a host crash
//! (`plexus serve` SIGKILLed) are stopped by the next start, which finds
//! them by pid and start time in the data directory, never by path, so two
//! entries with the same `cmd` and different args coexist.

use plexus_engine::host::pid_records::start_time;
use plexus_engine::host::{HostOptions, PluginHandle};
use plexus_engine::PluginConfig;
use plexus_interop::{eventually, read_jsonl, workspace_bin};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Whether `pid` is a live process (neither gone nor a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_handle_kills_its_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let config = PluginConfig {
        kind: "notifier".into(),
        cmd: workspace_bin("notifier-jsonl")
            .to_string_lossy()
            .into_owned(),
        args: vec![
            "--out".into(),
            dir.path().join("out.jsonl").to_string_lossy().into_owned(),
        ],
        auto_mtls: true,
        ..Default::default()
    };
    let handle = PluginHandle::start(&config.launch_spec().unwrap(), &HostOptions::default())
        .await
        .unwrap();
    let pid = handle.pid();
    assert!(alive(pid));
    drop(handle);
    eventually(
        "the plugin killed with its handle",
        Duration::from_secs(10),
        || !alive(pid),
    )
    .await;
}

/// Pids recorded in `<data>/plugins`.
fn recorded(data: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir(data.join("plugins"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".plugin")?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// A `plexus serve` child, SIGTERMed if the test ends early.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: sending a signal has no memory-safety preconditions.
            unsafe {
                libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
            }
            let _ = self.0.wait();
        }
    }
}

fn serve(config: &Path) -> Daemon {
    Daemon(
        Command::new(workspace_bin("plexus"))
            .args(["--log", "warn", "serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn emit(socket: &Path, n: u32) {
    let emit = Command::new(workspace_bin("plexus"))
        .args([
            "emit",
            "-n",
            &n.to_string(),
            "--kind",
            "fs",
            "--quiet",
            "--socket",
        ])
        .arg(socket)
        .output()
        .unwrap();
    assert!(
        emit.status.success(),
        "{}",
        String::from_utf8_lossy(&emit.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_of_a_crashed_host_are_stopped_and_same_cmd_entries_coexist() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("plexus.sock");
    let (out_a, out_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let entry = |out: &Path| {
        serde_json::json!({
            "type": "notifier",
            "cmd": workspace_bin("notifier-jsonl"),
            "args": ["--out", out],
            "auto_mtls": true,
            "notifier_options": {"fs_events": ["upload"], "retry_max_time": 60}
        })
    };
    let config = dir.path().join("plexus.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "engine": {"data_dir": data, "ingest_unix": socket, "retry_interval": 1},
            "plugins": [entry(&out_a), entry(&out_b)]
        })
        .to_string(),
    )
    .unwrap();
    // `plexus emit --kind fs` sends uploads among other actions.
    let delivered = |path: &Path| read_jsonl(path).len();

    // First host: both entries (same cmd, other args) run and deliver.
    let mut first = serve(&config);
    eventually("both plugins recorded", Duration::from_secs(30), || {
        socket.exists() && recorded(&data).len() == 2
    })
    .await;
    let old = recorded(&data);
    assert!(old.iter().all(|pid| alive(*pid)), "{old:?}");
    let old_starts: Vec<Option<u64>> = old.iter().map(|pid| start_time(*pid)).collect();
    emit(&socket, 60);
    eventually("both plugins deliver", Duration::from_secs(20), || {
        delivered(&out_a) > 0 && delivered(&out_a) == delivered(&out_b)
    })
    .await;

    // The host crashes: its plugins are left behind.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let orphans: Vec<u32> = old.iter().copied().filter(|pid| alive(*pid)).collect();
    assert!(
        !orphans.is_empty(),
        "no plugin outlived the crash: nothing to test"
    );
    let _ = std::fs::remove_file(&socket);

    // The next host stops them (same pid, same start time) and starts its own.
    let mut second = serve(&config);
    eventually("the new plugins recorded", Duration::from_secs(30), || {
        let now = recorded(&data);
        socket.exists() && now.len() == 2 && now.iter().all(|pid| !old.contains(pid))
    })
    .await;
    for (pid, start) in old.iter().zip(&old_starts) {
        // A pid reused since would have another start time.
        assert!(
            !alive(*pid) || start_time(*pid) != *start,
            "orphan {pid} still running"
        );
    }
    let new = recorded(&data);
    assert!(new.iter().all(|pid| alive(*pid)), "{new:?}");
    let before = (delivered(&out_a), delivered(&out_b));
    emit(&socket, 60);
    eventually("both new plugins deliver", Duration::from_secs(20), || {
        let now = (delivered(&out_a), delivered(&out_b));
        now.0 > before.0 && now.0 - before.0 == now.1 - before.1
    })
    .await;

    // A clean stop leaves no record and no process.
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe {
        libc::kill(second.0.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = second.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(recorded(&data), Vec::<u32>::new());
    assert!(new.iter().all(|pid| !alive(*pid)), "{new:?}");
    eprintln!("orphans left by the crash and stopped at the next start: {orphans:?}");
}
