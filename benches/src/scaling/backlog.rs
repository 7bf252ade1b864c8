//! Starting a host on a data directory that holds a backlog, and timing
//! until the backlog is delivered, with this process's RSS sampled along
//! the way. The re-drive row and the recovery row both end this way; they
//! differ in how the backlog was made (and so which queue holds it).
//!
//! Timed from just before `Engine::start`: `started` is when it returned
//! (the queues are open, any write-ahead log recovered, every plugin
//! ready), `drained` when every queue of the plugin is empty and its
//! delivered counter has reached the backlog. RSS is sampled every
//! `sample_every`, together with the events still queued, and the kernel's
//! peak (`VmHWM`) is reset before the start so the peak is exact.

use super::{counters_note, wait_until};
use crate::error::{Context, Result};
use crate::rss::{self, Sample};
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use std::time::{Duration, Instant};

/// What one drain measured.
#[derive(Debug, Clone)]
pub struct Drained {
    pub backlog: u64,
    /// RSS just before `Engine::start`.
    pub rss_before: u64,
    /// `Engine::start` duration.
    pub started: Duration,
    /// RSS when `Engine::start` returned.
    pub rss_started: u64,
    /// The retry and spill queues' lengths when `Engine::start` returned.
    pub queued_at_start: (u64, u64),
    /// From just before `Engine::start` to the last delivery.
    pub drained: Duration,
    /// The kernel's peak over the whole span (`None` if it could not be
    /// reset; then see the samples).
    pub peak: Option<u64>,
    pub samples: Vec<Sample>,
}

impl Drained {
    /// Events per second over the delivery (after `Engine::start` returned).
    pub fn drain_rate(&self) -> f64 {
        let span = self.drained.saturating_sub(self.started);
        self.backlog as f64 / span.as_secs_f64().max(1e-9)
    }

    /// The exact peak if the kernel gave one, else the sampled one.
    pub fn peak_rss(&self) -> u64 {
        self.peak
            .unwrap_or_else(|| rss::sampled_peak(&self.samples))
            .max(rss::sampled_peak(&self.samples))
    }
}

/// Starts `plugin` alone on `settings.data_dir` and waits until `backlog`
/// events are delivered and its queues are empty.
pub async fn drain(
    plugin: PluginConfig,
    settings: EngineSettings,
    backlog: u64,
    sample_every: Duration,
    timeout: Duration,
) -> Result<(Drained, Engine)> {
    let peak_reset = rss::reset_peak();
    let rss_before = rss::current().unwrap_or(0);
    let begin = Instant::now();
    let engine = Engine::start(vec![plugin], settings)
        .await
        .context("starting the engine on the backlog")?;
    let started = begin.elapsed();
    let rss_started = rss::current().unwrap_or(0);
    let counters = |engine: &Engine| {
        engine
            .stats()
            .first()
            .map(|s| s.counters)
            .unwrap_or_default()
    };
    let at_start = counters(&engine);
    let mut samples = Vec::new();
    let mut next_sample = Instant::now();
    let outcome = wait_until(
        "the backlog delivered",
        timeout,
        Duration::from_millis(5),
        || {
            let c = counters(&engine);
            if Instant::now() >= next_sample {
                samples.push(Sample {
                    at: begin.elapsed(),
                    rss: rss::current().unwrap_or(0),
                    queued: c.queue_len + c.spill_len,
                });
                next_sample += sample_every;
            }
            c.delivered >= backlog && c.queue_len == 0 && c.spill_len == 0
        },
        || counters_note(&engine),
    )
    .await;
    let drained = begin.elapsed();
    samples.push(Sample {
        at: drained,
        rss: rss::current().unwrap_or(0),
        queued: 0,
    });
    if let Err(err) = outcome {
        engine.shutdown(Duration::from_secs(5)).await;
        return Err(err);
    }
    let peak = if peak_reset { rss::peak() } else { None };
    Ok((
        Drained {
            backlog,
            rss_before,
            started,
            rss_started,
            queued_at_start: (at_start.queue_len, at_start.spill_len),
            drained,
            peak,
            samples,
        },
        engine,
    ))
}
