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

    // Changed args restart that plugin alone, and it keeps delivering.
    std::fs::write(
        &config_path,
        config(&["upload"], &["--fail-while", "/nonexistent"]).to_string(),
    )
    .unwrap();
    let (ok, stdout, stderr) = plexus(&["reload"], &socket);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "reloaded");
    let restarted = pid();
    assert_ne!(restarted, before, "the plugin runs with its new args");
    emit();
    let out_path = out.clone();
    eventually("uploads after the restart", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() == 10
    })
    .await;

    // Settings the plugin cannot start with: the running process stays.
    std::fs::write(
        &config_path,
        config(&["upload"], &["--no-such-flag"]).to_string(),
    )
    .unwrap();
    let (ok, _, stderr) = plexus(&["reload"], &socket);
    assert!(!ok);
    assert!(
        stderr.contains("plugins[0] (") && stderr.contains("the old one keeps running"),
        "{stderr}"
    );
    assert_eq!(pid(), restarted);
    emit();
    let out_path = out.clone();
    eventually("uploads still delivered", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() == 15
    })
    .await;

    // Adding a plugin is refused whole.
    let mut two = config(&["upload"], &["--fail-while", "/nonexistent"]);
    let second = two["plugins"][0].clone();
    two["plugins"].as_array_mut().unwrap().push(second);
    std::fs::write(&config_path, two.to_string()).unwrap();
    let (ok, _, stderr) = plexus(&["reload"], &socket);
    assert!(!ok);
    assert!(
        stderr.contains("adding or removing a plugin needs a restart"),
        "{stderr}"
    );
    assert_eq!(pid(), restarted);
    daemon.stop().await;
}

/// A plugin restarted by a reload while events stream in loses none of
/// them: the old process stops only once its calls in flight ended. With
/// `retry_max_time` 0 a cut call would drop its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_by_reload_loses_no_event_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = data.join("plexus.sock");
    let out = dir.path().join("events.jsonl");
    let config_path = dir.path().join("plexus.json");
    let config = |args_extra: &[&str]| {
        let mut args = vec!["--out".to_owned(), out.display().to_string()];
        args.extend(args_extra.iter().map(|a| a.to_string()));
        serde_json::json!({
            "engine": {"data_dir": data},
            "plugins": [{"type": "notifier", "cmd": workspace_bin("notifier-jsonl"), "args": args,
                "notifier_options": {"fs_events": ["upload"], "retry_max_time": 0}}]
        })
    };
    std::fs::write(&config_path, config(&[]).to_string()).unwrap();
    let daemon = ServeDaemon::start_file(&config_path, &[], &socket).await;
    const EVENTS: usize = 20_000;
    let emitter = Command::new(workspace_bin("plexus"))
        .args(["emit", "-n", &EVENTS.to_string(), "--quiet", "--socket"])
        .arg(&socket)
        .spawn()
        .unwrap();
    let out_path = out.clone();
    eventually("deliveries under way", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() >= 500
    })
    .await;
    std::fs::write(
        &config_path,
        config(&["--fail-while", "/nonexistent"]).to_string(),
    )
    .unwrap();
    let (ok, stdout, stderr) = plexus(&["reload"], &socket);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "reloaded");
    let delivered_at_reload = read_jsonl(&out).len();
    let emitted = tokio::task::spawn_blocking(move || emitter.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(emitted.status.success());
    assert!(
        delivered_at_reload < EVENTS,
        "the reload came after the stream ended ({delivered_at_reload} delivered)"
    );
    let out_path = out.clone();
    eventually("every event delivered", Duration::from_secs(60), || {
        read_jsonl(&out_path).len() >= EVENTS
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
    assert_eq!(read_jsonl(&out).len(), EVENTS);
    daemon.stop().await;
}

/// `plexus queue drop` on a live daemon empties the retry queue through
/// the admin API; `status` shows the queue, its oldest event's age and the
/// last error first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_drop_and_the_last_error_on_a_live_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = data.join("plexus.sock");
    let out = dir.path().join("events.jsonl");
    let fail = dir.path().join("fail");
    std::fs::write(&fail, "").unwrap();
    let config = serde_json::json!({
        "engine": {"data_dir": data, "retry_interval": 1},
        "plugins": [{"type": "notifier", "cmd": workspace_bin("notifier-jsonl"),
            "args": ["--out", out, "--fail-while", fail],
            "notifier_options": {"fs_events": ["upload"], "retry_max_time": 3600}}]
    });
    let daemon = ServeDaemon::start(dir.path(), config, &[], &socket).await;
    let emit = Command::new(workspace_bin("plexus"))
        .args(["emit", "-n", "7", "--quiet", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(emit.status.success());
    let status_line = || {
        let (ok, stdout, stderr) = plexus(&["status"], &socket);
        assert!(ok, "{stderr}");
        stdout
    };
    let mut stdout = String::new();
    for _ in 0..100 {
        stdout = status_line();
        if stdout.contains("notifier.notifier-jsonl") {
            let line = stdout.lines().find(|l| l.starts_with("notifier")).unwrap();
            if line.split_whitespace().nth(7) == Some("7") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("notifier"))
        .expect(&stdout);
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[7], "7", "7 events in the retry queue: {line}");
    assert!(
        columns[10].parse::<u64>().is_ok(),
        "the oldest event's age: {line}"
    );
    assert!(stdout.contains("last error"), "{stdout}");

    let drop = Command::new(workspace_bin("plexus"))
        .args([
            "queue",
            "drop",
            "--plugin",
            "notifier.notifier-jsonl",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let drop_out = String::from_utf8_lossy(&drop.stdout);
    assert!(
        drop.status.success(),
        "{}",
        String::from_utf8_lossy(&drop.stderr)
    );
    assert!(
        drop_out.contains("dropped 7 events of notifier.notifier-jsonl (7 from the retry queue"),
        "{drop_out}"
    );
    let stdout = status_line();
    let line = stdout.lines().find(|l| l.starts_with("notifier")).unwrap();
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[7], "0", "the retry queue is empty: {line}");
    assert_eq!(columns[6], "7", "counted as dropped: {line}");

    // An unknown name is refused with the names there are.
    let drop = Command::new(workspace_bin("plexus"))
        .args(["queue", "drop", "--plugin", "nope", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!drop.status.success());
    let stderr = String::from_utf8_lossy(&drop.stderr);
    assert!(stderr.contains("no notifier named \"nope\""), "{stderr}");
    assert!(stderr.contains("notifier.notifier-jsonl"), "{stderr}");

    // The events are gone for good: nothing arrives once the plugin heals
    // (re-drives run every second here).
    std::fs::remove_file(&fail).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(read_jsonl(&out).len(), 0);
    daemon.stop().await;
}
