//! The pipeline with real plugin processes (`notifier-jsonl`) and the sled
//! queue: plugin crashes under load, and a plugin that hangs (SIGSTOP)
//! under load. (A host crash in `write_ahead` mode:
//! `delivery_rules.rs`.)

use plexus_actors::supervisor::{Backoff, HealthCheck};
use plexus_actors::Durability;
use plexus_engine::config::NotifierOptions;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_interop::{eventually, kill9, read_jsonl, workspace_bin};
use plexus_proto::sftpgo::FsEvent;
use std::collections::BTreeMap;
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
        timestamp: plexus_actors::delivery::policy::now_ns(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_plugin_is_restarted_within_the_threshold_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let health = HealthCheck {
        interval: Duration::from_millis(200),
        failure_threshold: 3,
    };
    let engine = Engine::start(
        vec![jsonl_notifier(&out, 120)],
        EngineSettings {
            health_check: health,
            rpc_timeout: Duration::from_secs(2),
            ..settings(&dir.path().join("data"), Durability::OnFailure, 64)
        },
    )
    .await
    .unwrap();

    // About 1 000 events/s for 2 s; the plugin is stopped (not killed)
    // after the first 500 and never continued.
    const EVENTS: u64 = 2000;
    let first_pid = engine.stats()[0].counters.pid;
    let mut stopped_at = None;
    let mut restarted_after = None;
    for id in 0..EVENTS {
        engine.notify_fs(upload(id)).await.unwrap();
        if id % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if id == 500 {
            // SAFETY: sending a signal has no memory-safety preconditions.
            unsafe {
                libc::kill(first_pid as libc::pid_t, libc::SIGSTOP);
            }
            stopped_at = Some(std::time::Instant::now());
        }
        let pid = engine.stats()[0].counters.pid;
        if let (Some(at), None) = (stopped_at, restarted_after) {
            if pid != 0 && pid != first_pid {
                restarted_after = Some(at.elapsed());
            }
        }
    }
    let stopped_at = stopped_at.unwrap();
    eventually("the hung plugin restarted", Duration::from_secs(20), || {
        let pid = engine.stats()[0].counters.pid;
        pid != 0 && pid != first_pid
    })
    .await;
    let restarted_after = restarted_after.unwrap_or_else(|| stopped_at.elapsed());
    eprintln!("restarted {restarted_after:?} after SIGSTOP");
    // Detection takes `failure_threshold` intervals (one more at worst for
    // the phase of the first check), then a kill and a fresh start.
    let bound = health.interval * (health.failure_threshold + 1) + Duration::from_secs(2);
    assert!(
        restarted_after <= bound,
        "restarted after {restarted_after:?}, more than {bound:?}"
    );

    eventually(
        "every event delivered and the queue empty",
        Duration::from_secs(60),
        || {
            let seen = delivered_session_ids(&out);
            seen.len() as u64 == EVENTS
                && engine.stats()[0].counters.queue_len == 0
                && engine.stats()[0].counters.spill_len == 0
        },
    )
    .await;
    let stats = engine.stats()[0].counters;
    assert_eq!(stats.hung_restarts, 1, "{stats:?}");
    assert_eq!(stats.restarts, 1, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    // The stopped process is gone, not left behind.
    assert!(
        !Path::new(&format!("/proc/{first_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{first_pid}/stat"))
                .map(|stat| stat.contains(") Z "))
                .unwrap_or(true),
        "the hung process {first_pid} is still alive"
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
