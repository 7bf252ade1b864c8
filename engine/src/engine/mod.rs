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
    pub name: String,
    pub kind: PluginKind,
    /// Delivery counters (notifiers) and restarts/pid (every kind).
    pub counters: CounterSnapshot,
    /// Notifiers: how long delivery calls took, and events per call.
    pub call_latency: Option<HistogramSnapshot>,
    pub batch_size: Option<HistogramSnapshot>,
}

struct NotifierEntry {
    handle: NotifierHandle,
    /// The config entry in force; a reload replaces its filters and retry
    /// settings.
    config: std::sync::Mutex<PluginConfig>,
}

impl NotifierEntry {
    fn stats(&self) -> PluginStats {
        let ledger = &self.handle.ledger;
        PluginStats {
            name: ledger.name().to_string(),
            kind: PluginKind::Notifier,
            counters: ledger
                .counters()
                .snapshot(ledger.retry_len(), ledger.spill_len()),
            call_latency: Some(ledger.counters().call_latency.0.snapshot()),
            batch_size: Some(ledger.counters().batch_size.0.snapshot()),
        }
    }
}

struct ServiceEntry<C: Unpin + 'static> {
    name: Arc<str>,
    actor: Addr<ServiceActor<C>>,
    counters: Arc<PluginCounters>,
    config: PluginConfig,
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
            kind,
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
