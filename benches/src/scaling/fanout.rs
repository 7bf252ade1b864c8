//! Row 1 of the scaling table: events/s and CPU per event as the number of
//! notifier plugins grows (1, 4, 16), each plugin with its own filter.
//!
//! One engine (defaults, AutoMTLS, `on_failure`) hosts N `notifier-jsonl`
//! processes whose filters cycle through all / fs / provider / log (see
//! [`Mix`]), so an event of the workload's mix goes to 1.6 plugins on
//! average at N = 4 and 6.4 at N = 16. The producer keeps `window`
//! `Engine::notify` calls outstanding, as `plexus-compare` does. The timed
//! span runs from the first `notify` of the measured events to the moment
//! every plugin's delivered counter has its share (the plugin writes its
//! line before it answers, so this is "every record has its share"). CPU is
//! counted over the same span: this process (producer + engine) from
//! `getrusage`, each plugin from `/proc/<pid>/stat` (10 ms ticks).

use super::{counters_note, jsonl_plugin, wait_until, Mix};
use crate::cpu;
use crate::error::{Context, Error, Result};
use crate::workload;
use futures::stream::{FuturesUnordered, StreamExt};
use plexus_engine::{Engine, EngineSettings};
use plexus_proto::Event;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Events sent before the timed span, to warm connections and allocators.
const WARM_UP: usize = 5_000;

#[derive(Debug, Clone)]
pub struct FanoutRun {
    pub plugin: PathBuf,
    pub plugins: usize,
    pub events: usize,
    pub window: usize,
    pub auto_mtls: bool,
    pub run_dir: PathBuf,
    pub timeout: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct FanoutResult {
    pub plugins: usize,
    pub events: usize,
    /// Deliveries in the timed span (an event to k plugins counts k).
    pub deliveries: u64,
    pub elapsed: Duration,
    pub host_cpu: Duration,
    pub plugins_cpu: Duration,
    pub overflowed: u64,
}

impl FanoutResult {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn deliveries_per_sec(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Host + plugins CPU per event, µs.
    pub fn cpu_per_event_us(&self) -> f64 {
        (self.host_cpu + self.plugins_cpu).as_secs_f64() * 1e6 / self.events.max(1) as f64
    }

    pub fn host_cpu_per_event_us(&self) -> f64 {
        self.host_cpu.as_secs_f64() * 1e6 / self.events.max(1) as f64
    }

    pub fn plugins_cpu_per_event_us(&self) -> f64 {
        self.plugins_cpu.as_secs_f64() * 1e6 / self.events.max(1) as f64
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs once: start, warm up, time the events, stop, check every record.
pub async fn run(spec: &FanoutRun) -> Result<FanoutResult> {
    std::fs::create_dir_all(&spec.run_dir)
        .with_context(|| format!("creating {}", spec.run_dir.display()))?;
    let mixes: Vec<Mix> = (0..spec.plugins).map(Mix::nth).collect();
    let records: Vec<PathBuf> = (0..spec.plugins)
        .map(|i| spec.run_dir.join(format!("record-{i}.jsonl")))
        .collect();
    let configs = mixes
        .iter()
        .zip(&records)
        .map(|(&mix, record)| jsonl_plugin(&spec.plugin, record, mix, spec.auto_mtls, &[]))
        .collect();
    let settings = EngineSettings {
        data_dir: spec.run_dir.join("data"),
        ..EngineSettings::default()
    };
    let engine = Engine::start(configs, settings)
        .await
        .with_context(|| format!("starting the engine with {} plugins", spec.plugins))?;
    let outcome = measure(&engine, spec, &mixes).await;
    engine.shutdown(Duration::from_secs(10)).await;
    let result = outcome?;
    check_records(&records, &mixes, spec.events)?;
    Ok(result)
}

async fn measure(engine: &Engine, spec: &FanoutRun, mixes: &[Mix]) -> Result<FanoutResult> {
    let warm = workload::mixed(WARM_UP, now_ns());
    let mut expected = shares(&warm, mixes);
    produce(engine, warm, spec.window).await?;
    wait_delivered(engine, &expected, spec.timeout).await?;

    let events = workload::mixed(spec.events, now_ns());
    let measured = shares(&events, mixes);
    let deliveries: u64 = measured.iter().sum();
    for (total, more) in expected.iter_mut().zip(&measured) {
        *total += more;
    }
    let pids: Vec<u32> = engine
        .stats()
        .iter()
        .map(|s| u32::try_from(s.counters.pid).unwrap_or(0))
        .collect();
    let plugins_before = plugins_cpu(&pids)?;
    let self_before = cpu::self_cpu();
    let start = Instant::now();
    produce(engine, events, spec.window).await?;
    wait_delivered(engine, &expected, spec.timeout).await?;
    let elapsed = start.elapsed();
    let host_cpu = cpu::self_cpu().saturating_sub(self_before);
    let plugins_cpu = plugins_cpu(&pids)?.saturating_sub(plugins_before);
    let stats = engine.stats();
    let failed: u64 = stats.iter().map(|s| s.counters.failed).sum();
    if failed > 0 {
        return Err(Error::new(format!(
            "{failed} deliveries failed: {}",
            counters_note(engine)
        )));
    }
    Ok(FanoutResult {
        plugins: spec.plugins,
        events: spec.events,
        deliveries,
        elapsed,
        host_cpu,
        plugins_cpu,
        overflowed: stats.iter().map(|s| s.counters.overflowed).sum(),
    })
}

/// How many of `events` each plugin's filter selects.
fn shares(events: &[Event], mixes: &[Mix]) -> Vec<u64> {
    mixes
        .iter()
        .map(|&mix| events.iter().filter(|e| mix.selects(e)).count() as u64)
        .collect()
}

/// Hands every event over, `window` acceptances outstanding at most.
async fn produce(engine: &Engine, events: Vec<Event>, window: usize) -> Result<()> {
    let mut pending = FuturesUnordered::new();
    for event in events {
        while pending.len() >= window.max(1) {
            if let Some(accepted) = pending.next().await {
                accepted?;
            }
        }
        pending.push(async move {
            engine
                .notify(event)
                .await
                .map(|_| ())
                .context("the engine did not accept an event")
        });
    }
    while let Some(accepted) = pending.next().await {
        accepted?;
    }
    Ok(())
}

/// Waits until plugin i has delivered `expected[i]` events.
async fn wait_delivered(engine: &Engine, expected: &[u64], timeout: Duration) -> Result<()> {
    wait_until(
        "every plugin's share delivered",
        timeout,
        Duration::from_millis(5),
        || {
            engine
                .stats()
                .iter()
                .zip(expected)
                .all(|(s, &want)| s.counters.delivered >= want)
        },
        || counters_note(engine),
    )
    .await
}

fn plugins_cpu(pids: &[u32]) -> Result<Duration> {
    pids.iter()
        .map(|&pid| {
            cpu::pid_cpu(pid)
                .ok_or_else(|| Error::new(format!("plugin process {pid} is gone during the run")))
        })
        .sum()
}

/// Every record holds exactly its share of the warm-up and measured events.
fn check_records(records: &[PathBuf], mixes: &[Mix], events: usize) -> Result<()> {
    let all = workload::mixed(WARM_UP, 0)
        .into_iter()
        .chain(workload::mixed(events, 0))
        .collect::<Vec<_>>();
    for ((record, &mix), want) in records.iter().zip(mixes).zip(shares(&all, mixes)) {
        let lines = super::count_lines(record)?;
        if lines != want {
            return Err(Error::new(format!(
                "{} ({} filter) holds {lines} lines, expected {want}",
                record.display(),
                mix.name()
            )));
        }
    }
    Ok(())
}

/// The run directory of `plugins` plugins, round `round`, under `work`.
pub fn run_dir(work: &Path, plugins: usize, round: usize) -> PathBuf {
    work.join(format!("fanout-{plugins}-r{round}"))
}
