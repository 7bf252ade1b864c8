//! Row 3 of the scaling table: a host killed with N accepted, undelivered
//! events in `write_ahead` mode (1 M in the issue), and the next host's
//! start: how long until it is up, how long until the backlog is
//! delivered, and its RSS.
//!
//! A child process hosts one `notifier-jsonl` with `write_ahead`
//! durability and reports its plugin's pid; this process stops the plugin
//! (`SIGSTOP`: a hung plugin), and the child publishes N events with
//! `Engine::notify_many` (each call returns once its events are written
//! ahead). The child's health check is set to one hour, or the supervisor
//! would rightly kill and restart the hung plugin during the fill. When
//! the child has reported all N accepted, it is killed with `SIGKILL`
//! (and so is the stopped plugin). Nothing was delivered.
//!
//! Where the N events are at the kill: each is written ahead to the log;
//! the ones that find the plugin's mailbox full (all but about
//! `mailbox_capacity` + `max_in_flight`) are moved to the spill queue on
//! disk and settled in the log. So the recovering host reads a short log
//! and a long spill queue; this is the engine's design, not a choice of the
//! bench, and the report gives both sizes.

use super::backlog::{self, Drained};
use super::child::{self, Filler};
use super::{jsonl_plugin, Mix};
use crate::error::{Context, Error, Result};
use plexus_actors::supervisor::HealthCheck;
use plexus_actors::Durability;
use plexus_engine::{Engine, EngineSettings};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn record(dir: &Path) -> PathBuf {
    dir.join("record.jsonl")
}

fn go_flag(dir: &Path) -> PathBuf {
    dir.join("go")
}

/// The child's side (`plexus-scaling fill-write-ahead`).
pub async fn fill(plugin: &Path, dir: &Path, events: u64) -> Result<()> {
    let settings = EngineSettings {
        data_dir: dir.join("data"),
        durability: Durability::WriteAhead,
        retry_interval: Duration::from_secs(3600),
        health_check: HealthCheck {
            interval: Duration::from_secs(3600),
            ..HealthCheck::default()
        },
        ..EngineSettings::default()
    };
    let config = jsonl_plugin(plugin, &record(dir), Mix::All, true, &[]);
    let engine = Engine::start(vec![config], settings)
        .await
        .context("starting the filling engine")?;
    let pid = engine.stats().first().map(|s| s.counters.pid).unwrap_or(0);
    child::report("plugin-pid", pid);
    let go = go_flag(dir);
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let begin = Instant::now();
    super::redrive::publish(&engine, events, |_| {}).await?;
    child::report(
        "fill-seconds",
        format!("{:.2}", begin.elapsed().as_secs_f64()),
    );
    child::report("accepted", events);
    // Wait to be killed; never stop gracefully.
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// What the row reports.
#[derive(Debug, Clone)]
pub struct RecoveryResult {
    pub events: u64,
    pub fill: Duration,
    /// Bytes of the write-ahead log directory and of the whole data
    /// directory at the kill.
    pub wal_bytes: u64,
    pub data_bytes: u64,
    pub drained: Drained,
}

/// The parent's side.
pub async fn run(
    plugin: &Path,
    dir: &Path,
    events: u64,
    sample_every: Duration,
    timeout: Duration,
) -> Result<RecoveryResult> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut filler = Filler::spawn(&[
        "fill-write-ahead".to_owned(),
        "--plugin".to_owned(),
        plugin.to_string_lossy().into_owned(),
        "--dir".to_owned(),
        dir.to_string_lossy().into_owned(),
        "--events".to_owned(),
        events.to_string(),
    ])?;
    let pid = filler.expect_number("plugin-pid")?;
    if !child::signal(pid, libc::SIGSTOP) {
        let _ = filler.kill();
        return Err(Error::new(format!("cannot stop the plugin process {pid}")));
    }
    let go = go_flag(dir);
    std::fs::write(&go, b"").with_context(|| format!("creating {}", go.display()))?;
    let filled = filler
        .expect("fill-seconds")
        .and_then(|s| s.trim().parse::<f64>().context("the child's fill time"));
    let accepted = filled.and_then(|f| Ok((f, filler.expect_number("accepted")?)));
    filler.kill()?;
    child::signal(pid, libc::SIGKILL);
    let (fill_seconds, accepted) = accepted?;
    if accepted != events {
        return Err(Error::new(format!(
            "the child accepted {accepted} events, expected {events}"
        )));
    }
    let lines = super::count_lines(&record(dir))?;
    if lines != 0 {
        return Err(Error::new(format!(
            "{lines} events were delivered before the kill; the plugin was not stalled"
        )));
    }
    let data = dir.join("data");
    let wal_bytes = super::dir_size(&data.join("wal"));
    let data_bytes = super::dir_size(&data);

    let config = jsonl_plugin(plugin, &record(dir), Mix::All, true, &[]);
    let settings = EngineSettings {
        data_dir: data,
        durability: Durability::WriteAhead,
        ..EngineSettings::default()
    };
    let (drained, engine) = backlog::drain(config, settings, events, sample_every, timeout).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    let lines = super::count_lines(&record(dir))?;
    if lines < events {
        return Err(Error::new(format!(
            "the plugin recorded {lines} events after the restart, expected {events}"
        )));
    }
    Ok(RecoveryResult {
        events,
        fill: Duration::from_secs_f64(fill_seconds.max(0.0)),
        wal_bytes,
        data_bytes,
        drained,
    })
}
