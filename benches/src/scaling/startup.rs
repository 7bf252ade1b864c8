//! Row 4 of the scaling table: how long `Engine::start` takes with N
//! plugins (16 in the issue) and AutoMTLS on.
//!
//! `Engine::start` returns when the engine is ready: the queues are open
//! and every plugin has been spawned, has printed its handshake line, has
//! been connected over its unix socket with mutual TLS pinned to its own
//! certificate, and answered its health check `SERVING` (the engine starts
//! the plugins at once, not one after the other). Each run uses a fresh
//! data directory; the shutdown after it is not timed.

use super::{jsonl_plugin, Mix};
use crate::error::{Context, Result};
use plexus_engine::{Engine, EngineSettings};
use std::path::Path;
use std::time::{Duration, Instant};

/// Times `runs` starts of `plugins` plugins under `dir`.
pub async fn run(
    plugin: &Path,
    dir: &Path,
    plugins: usize,
    runs: usize,
    auto_mtls: bool,
) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let run_dir = dir.join(format!("startup-{plugins}-{run}"));
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let configs = (0..plugins)
            .map(|i| {
                let record = run_dir.join(format!("record-{i}.jsonl"));
                jsonl_plugin(plugin, &record, Mix::nth(i), auto_mtls, &[])
            })
            .collect();
        let settings = EngineSettings {
            data_dir: run_dir.join("data"),
            ..EngineSettings::default()
        };
        let begin = Instant::now();
        let engine = Engine::start(configs, settings)
            .await
            .with_context(|| format!("starting the engine with {plugins} plugins"))?;
        times.push(begin.elapsed());
        engine.shutdown(Duration::from_secs(10)).await;
    }
    Ok(times)
}
