//! A reload that restarts a Go plugin (go-plugin's `Shutdown` stops its
//! gRPC server at once, cutting calls in flight) while events stream in:
//! the old process must only be stopped once its calls ended, or events
//! are lost. `retry_max_time` 0 makes any cut call drop its event.

use plexus_interop::daemon::ServeDaemon;
use plexus_interop::{eventually, go_fixtures, read_jsonl, workspace_bin};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn plexus(args: &[&str], socket: &Path) -> (bool, String, String) {
    let output = Command::new(workspace_bin("plexus"))
        .args(args)
        .arg("--socket")
        .arg(socket)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_plugin_restarted_by_a_reload_loses_no_event_in_flight() {
    let go = go_fixtures();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = data.join("plexus.sock");
    let record = dir.path().join("events.jsonl");
    let config_path = dir.path().join("plexus.json");
    let config = |env_vars: &[&str]| {
        serde_json::json!({
            "engine": {"data_dir": data},
            "plugins": [{"type": "notifier", "cmd": go.plugin, "env_prefix": "none",
                "env_vars": env_vars,
                "notifier_options": {"fs_events": ["upload"], "retry_max_time": 0}}]
        })
    };
    std::fs::write(
        &config_path,
        config(&["PLEXUS_RECORD_FILE", "PLEXUS_DELAY_MS"]).to_string(),
    )
    .unwrap();
    let record_file = record.display().to_string();
    // Each call takes 20 ms: hundreds are in flight at any moment.
    let env = [
        ("PLEXUS_RECORD_FILE", record_file.as_str()),
        ("PLEXUS_DELAY_MS", "20"),
    ];
    let daemon = ServeDaemon::start_file(&config_path, &env, &socket).await;
    const EVENTS: usize = 20_000;
    let emitter = Command::new(workspace_bin("plexus"))
        .args(["emit", "-n", &EVENTS.to_string(), "--quiet", "--socket"])
        .arg(&socket)
        .spawn()
        .unwrap();
    let record_path = record.clone();
    eventually("deliveries under way", Duration::from_secs(30), || {
        read_jsonl(&record_path).len() >= 500
    })
    .await;

    // Another variable passed: a new process, started while calls run.
    std::fs::write(
        &config_path,
        config(&["PLEXUS_RECORD_FILE", "PLEXUS_DELAY_MS", "PLEXUS_MARK"]).to_string(),
    )
    .unwrap();
    let (ok, stdout, stderr) = plexus(&["reload"], &socket);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "reloaded");
    let recorded_at_reload = read_jsonl(&record).len();
    assert!(
        recorded_at_reload < EVENTS,
        "the reload came after the stream ended ({recorded_at_reload} recorded)"
    );
    let emitted = tokio::task::spawn_blocking(move || emitter.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(emitted.status.success());
    let record_path = record.clone();
    eventually("every event recorded", Duration::from_secs(90), || {
        read_jsonl(&record_path).len() >= EVENTS
    })
    .await;

    let (ok, stdout, stderr) = plexus(&["status"], &socket);
    assert!(ok, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("notifier"))
        .unwrap()
        .to_owned();
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[5], "0", "no failed delivery: {line}");
    assert_eq!(columns[6], "0", "nothing dropped: {line}");
    assert_eq!(read_jsonl(&record).len(), EVENTS);
    daemon.stop().await;
}
