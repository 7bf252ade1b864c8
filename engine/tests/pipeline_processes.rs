//! The pipeline with real plugin processes (`notifier-jsonl`) and the sled
//! queue: plugin crashes under load, and a host crash in `write_ahead` mode.

use plexus_actors::supervisor::Backoff;
use plexus_actors::Durability;
use plexus_engine::config::NotifierOptions;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_interop::{eventually, kill9, read_jsonl, workspace_bin};
use plexus_proto::sftpgo::FsEvent;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

fn jsonl_notifier(out: &Path, retry_max_time: i64) -> PluginConfig {
    PluginConfig {
        kind: "notifier".into(),
        cmd: workspace_bin("notifier-jsonl")
            .to_string_lossy()
            .into_owned(),
        args: vec!["--out".into(), out.to_string_lossy().into_owned()],
        auto_mtls: true,
        notifier_options: NotifierOptions {
            fs_events: vec!["upload".into()],
            retry_max_time,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn settings(data_dir: &Path, durability: Durability, max_in_flight: usize) -> EngineSettings {
    EngineSettings {
        data_dir: data_dir.to_owned(),
        retry_interval: Duration::from_millis(200),
        durability,
        max_in_flight,
        restart_backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
            stable_after: Duration::from_secs(60),
        },
        ..EngineSettings::default()
    }
}

fn upload(id: u64) -> FsEvent {
    FsEvent {
        timestamp: plexus_actors::policy::now_ns(),
        action: "upload".into(),
        username: "load".into(),
        session_id: id.to_string(),
        virtual_path: format!("/file-{id}"),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_killed_repeatedly_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let engine = Engine::start(
        vec![jsonl_notifier(&out, 120)],
        settings(&dir.path().join("data"), Durability::OnFailure, 64),
    )
    .await
    .unwrap();

    // A steady load of about 2 000 events/s for 1.5 s, with the plugin
    // killed every 250 ms while it is up.
    const EVENTS: u64 = 3000;
    let mut kills = 0;
    let mut last_kill = std::time::Instant::now();
    for id in 0..EVENTS {
        engine.notify_fs(upload(id)).await.unwrap();
        if id % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let pid = engine.stats()[0].counters.pid;
        if pid != 0 && last_kill.elapsed() >= Duration::from_millis(250) {
            kill9(pid);
            kills += 1;
            last_kill = std::time::Instant::now();
        }
    }
    assert!(kills >= 3, "the plugin was killed {kills} times");

    eventually(
        "every event delivered and the queue empty",
        Duration::from_secs(60),
        || {
            let seen = delivered_session_ids(&out);
            seen.len() as u64 == EVENTS && engine.stats()[0].counters.queue_len == 0
        },
    )
    .await;
    let stats = engine.stats()[0].counters;
    assert!(
        stats.restarts >= kills,
        "restarts {} < kills {kills}",
        stats.restarts
    );
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert!(
        stats.queued > 0 && stats.redriven > 0,
        "the outages were covered by the queue: {stats:?}"
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

/// Run by `host_killed_in_write_ahead_mode_loses_nothing` as a child
/// process: starts an engine and publishes events until it is killed.
#[tokio::test]
#[ignore = "child process of host_killed_in_write_ahead_mode_loses_nothing"]
async fn write_ahead_child() {
    let dir = std::path::PathBuf::from(
        std::env::var("PLEXUS_WAL_CHILD_DIR").expect("PLEXUS_WAL_CHILD_DIR"),
    );
    let engine = Engine::start(
        vec![jsonl_notifier(&dir.join("out.jsonl"), 0)],
        settings(&dir.join("data"), Durability::WriteAhead, WAL_IN_FLIGHT),
    )
    .await
    .unwrap();
    println!("plugin-pid {}", engine.stats()[0].counters.pid);
    for id in 0..1_000_000u64 {
        engine.notify_fs(upload(id)).await.unwrap();
        println!("accepted {id}");
    }
}

const WAL_IN_FLIGHT: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_killed_in_write_ahead_mode_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "write_ahead_child",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("PLEXUS_WAL_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut plugin_pid = 0u64;
    let mut accepted = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest may print "test write_ahead_child ... " on the same line first.
        if let Some((_, pid)) = line.split_once("plugin-pid ") {
            plugin_pid = pid.parse().unwrap();
        } else if let Some(id) = line.strip_prefix("accepted ") {
            accepted.push(id.parse::<u64>().unwrap());
            if accepted.len() == 2000 {
                break;
            }
        }
    }
    // The host dies mid-load; its SDK plugin notices and stops by itself.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        accepted.len(),
        2000,
        "the child accepted events before it was killed"
    );
    assert_ne!(plugin_pid, 0, "the child reported its plugin's pid");
    eventually(
        "the orphaned plugin stops by itself",
        Duration::from_secs(10),
        || {
            // SAFETY: probing a pid with signal 0 has no preconditions.
            unsafe { libc::kill(plugin_pid as libc::pid_t, 0) != 0 }
        },
    )
    .await;

    // A new host on the same data directory delivers what the old one accepted.
    let out = dir.path().join("out.jsonl");
    let engine = Engine::start(
        vec![jsonl_notifier(&out, 0)],
        settings(
            &dir.path().join("data"),
            Durability::WriteAhead,
            WAL_IN_FLIGHT,
        ),
    )
    .await
    .unwrap();
    eventually(
        "every accepted event delivered",
        Duration::from_secs(60),
        || {
            let seen = delivered_session_ids(&out);
            accepted.iter().all(|id| seen.contains_key(id))
        },
    )
    .await;
    let seen = delivered_session_ids(&out);
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= WAL_IN_FLIGHT,
        "{duplicates} duplicates exceed the in-flight bound {WAL_IN_FLIGHT}"
    );
    eprintln!(
        "write-ahead crash: {} accepted, {} delivered at least once, {duplicates} duplicates",
        accepted.len(),
        seen.len()
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

/// How many times each fs event's `session_id` was delivered.
fn delivered_session_ids(path: &Path) -> BTreeMap<u64, usize> {
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
