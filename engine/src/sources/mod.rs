//! Sources: where `plexus serve` pulls events from, next to its ingestion
//! API (`engine.sources`, read and validated in `config::sources`).
//!
//! With a `nats_jetstream` source, edge daemons on many SFTPGo nodes
//! publish through `plexus-pubsub` (`jetstream=1`) and a central daemon
//! feeds its own notifiers (an event store) from the stream. Each source
//! runs as one task; [`Sources::stop`] ends them between two pulls, so a
//! pulled message is either handed to the engine and acknowledged, or left
//! to JetStream's redelivery.

pub mod counters;
pub mod decode;
pub mod gob;
pub mod jetstream;

use crate::config::sources::SourceConfig;
use crate::engine::Engine;
use counters::SourceCounters;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The sources of a daemon: counters from the start (the metrics
/// endpoint shows them), tasks once [`Sources::run`] starts them.
pub struct Sources {
    configs: Vec<SourceConfig>,
    tasks: Vec<JoinHandle<()>>,
    counters: Vec<Arc<SourceCounters>>,
    stop: watch::Sender<bool>,
}

impl Sources {
    /// The sources of `configs`, not running yet.
    pub fn new(configs: &[SourceConfig]) -> Sources {
        let counters = configs
            .iter()
            .map(|config| match config {
                SourceConfig::NatsJetStream(c) => Arc::new(SourceCounters::new(c.path.clone())),
            })
            .collect();
        Sources {
            configs: configs.to_vec(),
            tasks: Vec::new(),
            counters,
            stop: watch::channel(false).0,
        }
    }

    /// Starts one task per source on the current runtime.
    pub fn run(&mut self, engine: &Arc<Engine>) {
        for (config, counters) in self.configs.iter().zip(&self.counters) {
            match config {
                SourceConfig::NatsJetStream(config) => {
                    self.tasks.push(tokio::spawn(jetstream::run(
                        config.clone(),
                        engine.clone(),
                        counters.clone(),
                        self.stop.subscribe(),
                    )));
                }
            }
        }
    }

    /// Each source's counters, for the metrics endpoint.
    pub fn counters(&self) -> Vec<Arc<SourceCounters>> {
        self.counters.clone()
    }

    /// How many sources there are.
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Stops every source and waits for them: what they pulled and handed
    /// to the engine is acknowledged first.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::error!("a source task ended abnormally: {err}");
            }
        }
    }
}
