//! One comparison run through the Plexus engine: start the engine with one
//! notifier plugin, hand it every event with `Engine::notify`, and time each
//! event from the call to its line in the plugin's record file.
//!
//! To compare like with like, the producer behaves as the Go host does: at
//! most `window` events are in flight (handed over, not yet recorded), and
//! handing over never waits for an earlier event's acceptance (each
//! `notify` is its own future, as each event is its own goroutine in
//! SFTPGo). The engine runs with its defaults; only the data directory and
//! the durability mode are set (and `max_in_flight`, `max_calls_in_flight` when asked). CPU is counted from just before the engine
//! starts until its plugin has exited: the whole harness process (minus the
//! tail thread) as the host, the reaped plugin process as the plugin.

use crate::cpu;
use crate::error::{Context, Error, Result};
use crate::latency::Percentiles;
use crate::report::{CpuUse, Host, Mode, RunResult, Target};
use crate::tail::{RecordTail, UNSEEN};
use crate::{verify, workload};
use futures::stream::{FuturesUnordered, StreamExt};
use plexus_actors::Durability;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_proto::Event;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Everything one Plexus run needs.
#[derive(Debug, Clone)]
pub struct PlexusRun<'a> {
    pub target: Target,
    /// The plugin executable.
    pub plugin: &'a Path,
    pub events: &'a [Event],
    pub base_ts: i64,
    pub window: usize,
    pub auto_mtls: bool,
    pub durability: Durability,
    /// `EngineSettings::max_in_flight`; `None`: the engine's default.
    pub max_in_flight: Option<usize>,
    /// `EngineSettings::max_calls_in_flight`; `None`: the engine's default.
    pub max_calls_in_flight: Option<usize>,
    /// A fresh directory for this run.
    pub run_dir: PathBuf,
    /// Where the Go plugin records (the `PLEXUS_RECORD_FILE` of this process).
    pub go_record: &'a Path,
    pub poll: Duration,
    pub timeout: Duration,
}

impl PlexusRun<'_> {
    fn record_path(&self) -> PathBuf {
        match self.target {
            Target::GoPlugin => self.go_record.to_owned(),
            Target::RustPlugin => self.run_dir.join("record.jsonl"),
        }
    }

    fn plugin_config(&self, record: &Path) -> PluginConfig {
        let (args, env_vars) = match self.target {
            // The Go plugin reads its record path from the environment; the
            // engine passes on exactly the variables named here.
            Target::GoPlugin => (Vec::new(), vec!["PLEXUS_RECORD_FILE".to_owned()]),
            Target::RustPlugin => (
                vec!["--out".to_owned(), record.to_string_lossy().into_owned()],
                Vec::new(),
            ),
        };
        PluginConfig {
            kind: "notifier".into(),
            cmd: self.plugin.to_string_lossy().into_owned(),
            args,
            auto_mtls: self.auto_mtls,
            env_prefix: "none".into(),
            env_vars,
            notifier_options: workload::notifier_options(),
            ..Default::default()
        }
    }

    fn settings(&self) -> EngineSettings {
        let defaults = EngineSettings::default();
        EngineSettings {
            data_dir: self.run_dir.join("data"),
            durability: self.durability,
            max_in_flight: self.max_in_flight.unwrap_or(defaults.max_in_flight),
            max_calls_in_flight: self
                .max_calls_in_flight
                .unwrap_or(defaults.max_calls_in_flight),
            ..defaults
        }
    }
}

/// What the producer measured before the engine stops.
struct Delivered {
    notified_ns: Vec<u64>,
    notes: Vec<String>,
    plugin_pid: u32,
}

/// Runs one round; `round` is only recorded.
pub async fn run(spec: &PlexusRun<'_>, round: usize) -> Result<RunResult> {
    std::fs::create_dir_all(&spec.run_dir)
        .with_context(|| format!("creating {}", spec.run_dir.display()))?;
    let record = spec.record_path();
    std::fs::write(&record, "")
        .with_context(|| format!("creating the record file {}", record.display()))?;
    let events: Vec<Event> = spec.events.to_vec();
    let n = events.len();

    let self_before = cpu::self_cpu();
    let children_before = cpu::children_cpu();
    let engine = Engine::start(vec![spec.plugin_config(&record)], spec.settings())
        .await
        .with_context(|| format!("starting the Plexus engine with {}", spec.plugin.display()))?;

    let window = Arc::new(Semaphore::new(spec.window.max(1)));
    let epoch = Instant::now();
    let tail = RecordTail::start(&record, spec.base_ts, n, epoch, window.clone(), spec.poll)?;
    let produced = tokio::time::timeout(
        spec.timeout,
        produce(&engine, events, &window, epoch, spec.window),
    )
    .await;
    let outcome = match produced {
        Ok(Ok(delivered)) => Ok(delivered),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(Error::new(format!(
            "not every event was delivered within {:?} ({})",
            spec.timeout,
            counters_note(&engine)
        ))),
    };
    let tail = tail.finish();
    engine.shutdown(Duration::from_secs(10)).await;
    let delivered = outcome?;
    let tail = tail?;
    wait_gone(delivered.plugin_pid, Duration::from_secs(5)).await;
    let host_ns = cpu::self_cpu()
        .saturating_sub(self_before)
        .saturating_sub(tail.cpu);
    let plugin_ns = cpu::children_cpu().saturating_sub(children_before);

    let check = verify::check(&record, spec.events, spec.base_ts)?;
    let mut notes = delivered.notes;
    notes.push(format!(
        "record tail {:.1} µs/event (not counted)",
        tail.cpu.as_nanos() as f64 / 1e3 / n.max(1) as f64
    ));
    let mut latencies: Vec<u64> = delivered
        .notified_ns
        .iter()
        .zip(&tail.seen_ns)
        .filter(|(_, &seen)| seen != UNSEEN)
        .map(|(&notified, &seen)| seen.saturating_sub(notified))
        .collect();
    let first = delivered.notified_ns.first().copied().unwrap_or(0);
    let last = tail
        .seen_ns
        .iter()
        .filter(|&&seen| seen != UNSEEN)
        .max()
        .copied()
        .unwrap_or(first);
    let elapsed_ns = last.saturating_sub(first).max(1);
    let total_cpu = (host_ns + plugin_ns).as_nanos() as f64;
    Ok(RunResult {
        mode: Some(Mode::Engine),
        host: Host::Plexus,
        target: spec.target,
        round,
        events: n,
        elapsed_ns,
        events_per_sec: n as f64 / (elapsed_ns as f64 / 1e9),
        latency_ns: Percentiles::of(&mut latencies),
        cpu: CpuUse {
            host_ns: host_ns.as_nanos() as u64,
            plugin_ns: plugin_ns.as_nanos() as u64,
            ingest_ns: 0,
            per_event_ns: total_cpu / n.max(1) as f64,
        },
        check,
        notes,
    })
}

/// Hands every event to the engine, at most `window` in flight, and waits
/// until the tail has seen them all.
async fn produce(
    engine: &Engine,
    events: Vec<Event>,
    window: &Arc<Semaphore>,
    epoch: Instant,
    window_size: usize,
) -> Result<Delivered> {
    let mut notified_ns = Vec::with_capacity(events.len());
    let mut pending = FuturesUnordered::new();
    for event in events {
        // Wait for a free slot while the earlier notifies make progress.
        let permit = loop {
            tokio::select! {
                biased;
                Some(accepted) = pending.next(), if !pending.is_empty() => accepted?,
                permit = window.acquire() => break permit,
            }
        };
        permit.context("the window semaphore closed")?.forget();
        notified_ns.push(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX));
        pending.push(accept(engine, event));
    }
    while let Some(accepted) = pending.next().await {
        accepted?;
    }
    // Every permit back: every event recorded.
    let all = u32::try_from(window_size.max(1)).unwrap_or(u32::MAX);
    window
        .acquire_many(all)
        .await
        .context("the window semaphore closed")?
        .forget();
    let stats = engine.stats();
    let counters = stats
        .first()
        .map(|s| s.counters)
        .ok_or_else(|| Error::new("the engine reports no notifier"))?;
    let mut notes = vec![if counters.batched == 1 {
        "batched".to_owned()
    } else {
        "unary".to_owned()
    }];
    if counters.overflowed > 0 || counters.failed > 0 || counters.queued > 0 {
        notes.push(format!(
            "{} overflowed, {} failed, {} queued",
            counters.overflowed, counters.failed, counters.queued
        ));
    }
    Ok(Delivered {
        notified_ns,
        notes,
        plugin_pid: u32::try_from(counters.pid).unwrap_or(0),
    })
}

async fn accept(engine: &Engine, event: Event) -> Result<()> {
    engine
        .notify(event)
        .await
        .map(|_| ())
        .context("the engine did not accept an event")
}

fn counters_note(engine: &Engine) -> String {
    match engine.stats().first() {
        Some(stats) => format!(
            "delivered {}, failed {}, queued {}, overflowed {}",
            stats.counters.delivered,
            stats.counters.failed,
            stats.counters.queued,
            stats.counters.overflowed
        ),
        None => "no notifier".into(),
    }
}

/// Waits until the plugin process is reaped, so its CPU is in the children's figure.
async fn wait_gone(pid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while pid != 0 && !cpu::is_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
