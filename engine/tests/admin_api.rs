//! The admin API of a running `plexus serve`, as an operator uses it:
//! `plexus status`, `plexus reload`, and `plexus queue stats` while the
//! daemon holds the data directory.

use plexus_interop::daemon::ServeDaemon;
use plexus_interop::{eventually, read_jsonl, workspace_bin};
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
async fn status_reload_and_live_queue_stats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = data.join("plexus.sock");
    let out = dir.path().join("events.jsonl");
    let config = serde_json::json!({
        "engine": {"data_dir": data},
        "plugins": [
            {"type": "notifier", "cmd": workspace_bin("notifier-jsonl"), "args": ["--out", out],
             "notifier_options": {"fs_events": ["upload"], "retry_max_time": 60}},
            {"type": "ipfilter", "cmd": workspace_bin("ipfilter-cidr"), "args": ["--allow", "10.0.0.0/8"]}
        ]
    });
    let daemon = ServeDaemon::start(dir.path(), config, &[], &socket).await;

    let emit = Command::new(workspace_bin("plexus"))
        .args(["emit", "-n", "10", "--quiet", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(emit.status.success());
    let out_path = out.clone();
    eventually("10 events delivered", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() == 10
    })
    .await;

    let (ok, stdout, stderr) = plexus(&["status"], &socket);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(", 2 plugins"), "{stdout}");
    let notifier = stdout
        .lines()
        .find(|line| line.starts_with("notifier"))
        .expect(&stdout);
    let columns: Vec<&str> = notifier.split_whitespace().collect();
    assert_eq!(columns[1], "up", "{notifier}");
    assert_ne!(columns[2], "0", "a pid: {notifier}");
    assert_eq!(columns[4], "10", "delivered: {notifier}");
    assert!(stdout
        .lines()
        .any(|line| line.starts_with("ipfilter") && line.contains(" up ")));

    let (ok, stdout, stderr) = plexus(&["reload"], &socket);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "reloaded");

    let stats = Command::new(workspace_bin("plexus"))
        .args(["queue", "stats", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&stats.stdout);
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    assert!(
        stdout.contains("held by a running plexus serve"),
        "{stdout}"
    );
    assert!(
        stdout.contains("notifier-jsonl.retry\t0 events"),
        "{stdout}"
    );

    daemon.stop().await;
    let (ok, _, stderr) = plexus(&["status"], &socket);
    assert!(!ok);
    assert!(stderr.contains("cannot reach plexus serve"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_new_filters_and_retry_settings_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = data.join("plexus.sock");
    let out = dir.path().join("events.jsonl");
    let config_path = dir.path().join("plexus.json");
    let config = |fs_events: &[&str], args_extra: &[&str]| {
        let mut args = vec!["--out".to_owned(), out.display().to_string()];
        args.extend(args_extra.iter().map(|a| a.to_string()));
        serde_json::json!({
            "engine": {"data_dir": data},
            "plugins": [{"type": "notifier", "cmd": workspace_bin("notifier-jsonl"), "args": args,
                "notifier_options": {"fs_events": fs_events, "retry_max_time": 60}}]
        })
    };
    std::fs::write(&config_path, config(&["download"], &[]).to_string()).unwrap();
    let daemon = ServeDaemon::start_file(&config_path, &[], &socket).await;
    let emit = || {
        let output = Command::new(workspace_bin("plexus"))
            .args(["emit", "-n", "5", "--quiet", "--socket"])
            .arg(&socket)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let pid = || {
        let (ok, stdout, stderr) = plexus(&["status"], &socket);
        assert!(ok, "{stderr}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with("notifier"))
            .unwrap()
            .to_owned();
        line.split_whitespace().nth(2).unwrap().to_owned()
    };
    // Uploads do not match a download-only filter.
    emit();
    let before = pid();

    std::fs::write(&config_path, config(&["upload"], &[]).to_string()).unwrap();
    let (ok, stdout, stderr) = plexus(&["reload"], &socket);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "reloaded");
    emit();
    let out_path = out.clone();
    eventually(
        "the 5 uploads after the reload",
        Duration::from_secs(20),
        || read_jsonl(&out_path).len() == 5,
    )
    .await;
    assert_eq!(pid(), before, "the plugin was not restarted");

    // A change that needs the plugin started anew is refused whole.
    std::fs::write(
        &config_path,
        config(&["download"], &["--fail-while", "/nonexistent"]).to_string(),
    )
    .unwrap();
    let (ok, _, stderr) = plexus(&["reload"], &socket);
    assert!(!ok);
    assert!(stderr.contains("plugins[0].args changed"), "{stderr}");
    emit();
    let out_path = out.clone();
    eventually("uploads still delivered", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() == 10
    })
    .await;
    daemon.stop().await;
}
