//! Row 2 of the scaling table: re-driving a retry queue of N events (1 M in
//! the issue), the time to drain it and the host's RSS meanwhile.
//!
//! The queue is made as a user's would be: a child process hosts
//! `notifier-jsonl --fail-while FILE` with FILE present, so every delivery
//! fails with `UNAVAILABLE` and goes to the retry queue (`retry_max_time`
//! one day, no size limit; `retry_interval` one hour, so no pass runs while
//! it fills). Once the retry queue holds all N, the child stops the engine
//! gracefully: the queue stays on disk. Then this process starts a host on
//! the same data directory with the plugin no longer failing, and the
//! engine re-drives the whole queue at once, as it does whenever a plugin's
//! actor starts with a non-empty retry queue (the same pass the 30 s
//! interval and `Engine::redrive_now` run). See [`super::backlog`] for what
//! is timed.

use super::backlog::{self, Drained};
use super::child::{self, Filler};
use super::{counters_note, jsonl_plugin, wait_until, Mix};
use crate::error::{Context, Error, Result};
use crate::workload;
use plexus_engine::{Engine, EngineSettings};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Events per `notify_many` while filling.
pub const FILL_CHUNK: usize = 200;

/// The file whose presence makes the plugin fail.
fn failing_flag(dir: &Path) -> PathBuf {
    dir.join("failing")
}

fn record(dir: &Path) -> PathBuf {
    dir.join("record.jsonl")
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Publishes `events` events of the workload's mix in chunks.
pub async fn publish(engine: &Engine, events: u64, mut progress: impl FnMut(u64)) -> Result<()> {
    let base = now_ns();
    let mut sent = 0u64;
    while sent < events {
        let n = usize::try_from(events - sent)
            .unwrap_or(FILL_CHUNK)
            .min(FILL_CHUNK);
        let offset = i64::try_from(sent).unwrap_or(i64::MAX);
        let chunk = workload::mixed(n, base.saturating_add(offset));
        engine.notify_many(chunk).await.map_err(|(accepted, err)| {
            Error::new(format!(
                "the engine accepted {} of {events} events, then: {err}",
                sent + accepted as u64
            ))
        })?;
        sent += n as u64;
        progress(sent);
    }
    Ok(())
}

/// The child's side (`plexus-scaling fill-retry`): fill the retry queue
/// under `dir`, stop gracefully, report `queued N`.
pub async fn fill(plugin: &Path, dir: &Path, events: u64, timeout: Duration) -> Result<()> {
    let flag = failing_flag(dir);
    std::fs::write(&flag, b"").with_context(|| format!("creating {}", flag.display()))?;
    let extra = vec![
        "--fail-while".to_owned(),
        flag.to_string_lossy().into_owned(),
    ];
    let settings = EngineSettings {
        data_dir: dir.join("data"),
        retry_interval: Duration::from_secs(3600),
        ..EngineSettings::default()
    };
    let config = jsonl_plugin(plugin, &record(dir), Mix::All, true, &extra);
    let engine = Engine::start(vec![config], settings)
        .await
        .context("starting the filling engine")?;
    let begin = Instant::now();
    let outcome = async {
        publish(&engine, events, |_| {}).await?;
        wait_until(
            "every event in the retry queue",
            timeout,
            Duration::from_millis(20),
            || {
                engine
                    .stats()
                    .first()
                    .is_some_and(|s| s.counters.queue_len >= events && s.counters.spill_len == 0)
            },
            || counters_note(&engine),
        )
        .await
    }
    .await;
    let filled = begin.elapsed();
    let queued = engine
        .stats()
        .first()
        .map(|s| s.counters.queue_len)
        .unwrap_or(0);
    engine.shutdown(Duration::from_secs(30)).await;
    outcome?;
    child::report("fill-seconds", format!("{:.2}", filled.as_secs_f64()));
    child::report("queued", queued);
    Ok(())
}

/// What the row reports.
#[derive(Debug, Clone)]
pub struct RedriveResult {
    pub events: u64,
    pub fill: Duration,
    /// Bytes of the data directory with the queue in it.
    pub on_disk: u64,
    pub drained: Drained,
}

/// Fills a retry queue of `events` under `dir` in a child process
/// (`fill-retry`) and removes the failure switch; returns the fill time.
pub fn fill_in_child(
    plugin: &Path,
    dir: &Path,
    events: u64,
    timeout: Duration,
) -> Result<Duration> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut filler = Filler::spawn(&[
        "fill-retry".to_owned(),
        "--plugin".to_owned(),
        plugin.to_string_lossy().into_owned(),
        "--dir".to_owned(),
        dir.to_string_lossy().into_owned(),
        "--events".to_owned(),
        events.to_string(),
        "--timeout-secs".to_owned(),
        timeout.as_secs().to_string(),
    ])?;
    let fill_seconds: f64 = filler
        .expect("fill-seconds")?
        .trim()
        .parse()
        .context("the child's fill time")?;
    let queued = filler.expect_number("queued")?;
    filler.wait_success()?;
    if queued != events {
        return Err(Error::new(format!(
            "the retry queue holds {queued} events, expected {events}"
        )));
    }
    let flag = failing_flag(dir);
    std::fs::remove_file(&flag).with_context(|| format!("removing {}", flag.display()))?;
    Ok(Duration::from_secs_f64(fill_seconds.max(0.0)))
}

/// The parent's side: fill in a child, then drain here.
pub async fn run(
    plugin: &Path,
    dir: &Path,
    events: u64,
    sample_every: Duration,
    timeout: Duration,
) -> Result<RedriveResult> {
    let fill = fill_in_child(plugin, dir, events, timeout)?;
    let flag = failing_flag(dir);
    let on_disk = super::dir_size(&dir.join("data"));

    // The plugin keeps its `--fail-while` argument: the flag is gone, so
    // it succeeds, and the queue's owner (named after the entry) is the same.
    let extra = vec![
        "--fail-while".to_owned(),
        flag.to_string_lossy().into_owned(),
    ];
    let config = jsonl_plugin(plugin, &record(dir), Mix::All, true, &extra);
    let settings = EngineSettings {
        data_dir: dir.join("data"),
        ..EngineSettings::default()
    };
    let (drained, engine) = backlog::drain(config, settings, events, sample_every, timeout).await?;
    engine.shutdown(Duration::from_secs(10)).await;
    let lines = super::count_lines(&record(dir))?;
    if lines != events {
        return Err(Error::new(format!(
            "the plugin recorded {lines} events, expected {events}"
        )));
    }
    Ok(RedriveResult {
        events,
        fill,
        on_disk,
        drained,
    })
}
