//! The `Engine`: the embedding API. It starts every configured plugin, one
//! actor per plugin, the router, the supervisor and the durable queues; it
//! takes events and requests in, and stops it all again.
//!
//! The actors run on their own actix system thread; plugin processes and
//! their gRPC channels are driven by the caller's tokio runtime. The parts:
//! [`build`] wires it all up at start, [`notify`] is the notifier API (the
//! event bus), [`services`] the request/response plugin types (auth, kms,
//! ipfilter, eventsearcher), and [`error`] says what went wrong.

mod build;
mod error;
mod notify;
mod reload;
mod room;
mod services;

pub use error::EngineError;

use crate::actor_thread::ActorThread;
use crate::clients;
use crate::config::PluginConfig;
use crate::queues::QueueStore;
use crate::settings::EngineSettings;
use actix::prelude::*;
use futures::future::BoxFuture;
use plexus_actors::histogram::HistogramSnapshot;
use plexus_actors::notifier::NotifierHandle;
use plexus_actors::router::Router;
use plexus_actors::service::{Call, ServiceActor};
use plexus_actors::supervisor::{StopAll, Supervisor};
use plexus_actors::{CounterSnapshot, PluginCounters};
use plexus_proto::PluginKind;
use std::sync::Arc;
use std::time::Duration;

/// One plugin's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginStats {
    /// The plugin's path (its `cmd`), as log lines are prefixed.
    pub name: String,
    /// The short, stable label of metrics and structured logs:
    /// `<type>.<basename>`, with `.<index>` when two entries share one.
    pub label: String,
    pub kind: PluginKind,
    /// Notifiers: events handed to the plugin and not answered yet.
    pub in_flight: u64,
    /// Notifiers: how old the oldest event in the retry queue is.
    pub oldest_retry_age: Option<Duration>,
    /// The last failure seen (a delivery error, a process exit).
    pub last_error: Option<plexus_actors::counters::LastError>,
    /// Delivery counters (notifiers) and restarts/pid (every kind).
    pub counters: CounterSnapshot,
    /// Notifiers: how long delivery calls took, and events per call.
    pub call_latency: Option<HistogramSnapshot>,
    pub batch_size: Option<HistogramSnapshot>,
}

struct NotifierEntry {
    /// Its place in the config's `plugins`.
    index: usize,
    handle: NotifierHandle,
    label: String,
    /// The name of its queues in the data directory.
    queue_name: String,
    restarter: crate::restarter::Restarter,
    /// The config entry in force; a reload replaces its filters and retry
    /// settings.
    config: std::sync::Mutex<PluginConfig>,
}

impl NotifierEntry {
    fn stats(&self) -> PluginStats {
        let ledger = &self.handle.ledger;
        let oldest_retry_age = match ledger.oldest_retry_event_ns() {
            Ok(oldest) => oldest.map(|event_ns| {
                let now_ns = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                Duration::from_nanos(now_ns.saturating_sub(event_ns).max(0) as u64)
            }),
            Err(err) => {
                tracing::debug!("[{}] reading the oldest queued event: {err}", ledger.name());
                None
            }
        };
        PluginStats {
            name: ledger.name().to_string(),
            label: self.label.clone(),
            kind: PluginKind::Notifier,
            in_flight: self.handle.in_flight(),
            oldest_retry_age,
            last_error: ledger.counters().last_error(),
            counters: ledger
                .counters()
                .snapshot(ledger.retry_len(), ledger.spill_len()),
            call_latency: Some(ledger.counters().call_latency.0.snapshot()),
            batch_size: Some(ledger.counters().batch_size.0.snapshot()),
        }
    }
}

struct ServiceEntry<C: Unpin + 'static> {
    /// Its place in the config's `plugins`.
    index: usize,
    name: Arc<str>,
    label: String,
    restarter: crate::restarter::Restarter,
    actor: Addr<ServiceActor<C>>,
    counters: Arc<PluginCounters>,
    /// The config entry the engine started with: what routes calls
    /// (`auth_options`, `kms_options`), which a reload never changes.
    config: PluginConfig,
    /// The entry the running process was started from; a reload that
    /// restarts the plugin replaces it.
    running: std::sync::Mutex<PluginConfig>,
}

impl<C: Clone + Unpin + Send + 'static> ServiceEntry<C> {
    async fn call<R: Send + 'static>(
        &self,
        call: impl FnOnce(C) -> BoxFuture<'static, Result<R, tonic::Status>> + Send + 'static,
    ) -> Result<R, EngineError> {
        self.actor
            .send(Call::new(call))
            .await
            .map_err(|_| EngineError::Stopped)?
            .map_err(EngineError::from)
    }

    fn stats(&self, kind: PluginKind) -> PluginStats {
        PluginStats {
            name: self.name.to_string(),
            label: self.label.clone(),
            kind,
            in_flight: 0,
            oldest_retry_age: None,
            last_error: self.counters.last_error(),
            counters: self.counters.snapshot(0, 0),
            call_latency: None,
            batch_size: None,
        }
    }
}

/// A running Plexus engine.
pub struct Engine {
    settings: EngineSettings,
    router: Addr<Router>,
    notifiers: Vec<NotifierEntry>,
    auth: Vec<ServiceEntry<clients::Auth>>,
    kms: Vec<ServiceEntry<clients::Kms>>,
    ipfilters: Vec<ServiceEntry<clients::IpFilter>>,
    searcher: Option<ServiceEntry<clients::Searcher>>,
    supervisor: Addr<Supervisor>,
    actors: ActorThread,
    store: QueueStore,
    /// Requests to the ingestion API by result (`plexus serve`).
    ingest: std::sync::Arc<crate::ingest::counters::IngestCounters>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("notifiers", &self.notifiers.len())
            .field("auth", &self.auth.len())
            .field("kms", &self.kms.len())
            .field("ipfilters", &self.ipfilters.len())
            .field("searcher", &self.searcher.is_some())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// The settings the engine runs with.
    /// The ingestion API's requests by result.
    pub fn ingest_counters(&self) -> &std::sync::Arc<crate::ingest::counters::IngestCounters> {
        &self.ingest
    }

    /// How long the queue store's writes and flushes have been in
    /// progress with none finishing (`None`: none in progress). Minutes
    /// mean sled has stopped (see `storage_watch.rs`).
    pub fn storage_stalled_for(&self) -> Option<std::time::Duration> {
        self.store.stall_watch().stalled_for()
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Counters of every plugin, in config order by kind.
    pub fn stats(&self) -> Vec<PluginStats> {
        let mut stats: Vec<PluginStats> = self.notifiers.iter().map(NotifierEntry::stats).collect();
        stats.extend(self.auth.iter().map(|e| e.stats(PluginKind::Auth)));
        stats.extend(self.kms.iter().map(|e| e.stats(PluginKind::Kms)));
        stats.extend(self.ipfilters.iter().map(|e| e.stats(PluginKind::IpFilter)));
        stats.extend(
            self.searcher
                .iter()
                .map(|e| e.stats(PluginKind::EventSearcher)),
        );
        stats
    }

    /// Drops the events waiting in the retry and spill queues of the
    /// notifiers `plugin` names (a label, a path or a queue name); returns
    /// `(label, from the retry queue, from the spill queue)` for each.
    pub async fn drop_queued(&self, plugin: &str) -> Result<Vec<(String, u64, u64)>, EngineError> {
        let matching: Vec<&NotifierEntry> = self
            .notifiers
            .iter()
            .filter(|entry| {
                entry.label == plugin
                    || &**entry.handle.ledger.name() == plugin
                    || entry.queue_name == plugin
            })
            .collect();
        if matching.is_empty() {
            let known: Vec<&str> = self.notifiers.iter().map(|e| e.label.as_str()).collect();
            return Err(EngineError::NoPlugin(format!(
                "no notifier named {plugin:?} (the notifiers: {})",
                known.join(", ")
            )));
        }
        let mut dropped = Vec::new();
        for entry in matching {
            // A re-drive pass in progress ends within the RPC deadline.
            let deadline = tokio::time::Instant::now() + self.settings.rpc_timeout * 2;
            loop {
                let ledger = entry.handle.ledger.clone();
                let outcome = tokio::task::spawn_blocking(move || ledger.drop_queued())
                    .await
                    .map_err(|source| EngineError::Task {
                        task: "dropping queued events",
                        source,
                    })?
                    .map_err(|err| {
                        EngineError::Queue(crate::queues::QueueStoreError::Queue(err))
                    })?;
                if let Some((retry, spill)) = outcome {
                    dropped.push((entry.label.clone(), retry, spill));
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(EngineError::Queue(crate::queues::QueueStoreError::Queue(
                        plexus_actors::queue::QueueError {
                            queue: entry.label.clone(),
                            message: "a re-drive pass kept the queue busy; try again".to_owned(),
                        },
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(dropped)
    }

    /// Stops the engine without losing an accepted event: deliveries in
    /// flight get until `deadline` to finish; whatever is not delivered by
    /// then (in flight, in a mailbox) is kept in its plugin's spill queue
    /// for the next start, in both durability modes. Then every plugin is
    /// stopped gracefully, the actors stop and the queues are flushed. The
    /// closing log line says how many events stayed queued.
    pub async fn shutdown(self, deadline: Duration) {
        if !self.drain(deadline).await {
            tracing::info!(
                "shutdown: deliveries still in flight after {deadline:?}; keeping them for the next start"
            );
        }
        for notifier in &self.notifiers {
            if !notifier.handle.close(Duration::from_secs(5)).await {
                tracing::warn!(
                    "shutdown: [{}] events still unsettled after the close",
                    notifier.handle.ledger.name()
                );
            }
        }
        let _ = self.supervisor.send(StopAll).await;
        let (mut retry, mut spill) = (0, 0);
        for notifier in &self.notifiers {
            retry += notifier.handle.ledger.retry_len();
            spill += notifier.handle.ledger.spill_len();
        }
        self.actors.stop().await;
        if let Err(err) = self.store.flush().await {
            tracing::warn!("shutdown: final queue flush failed: {err}");
        }
        tracing::info!(
            "shutdown: {} events stay queued for the next start ({retry} to retry, {spill} not yet delivered)",
            retry + spill
        );
    }
}
