//! The admin API, `plexus.v1.Admin`: what a running daemon is doing (its
//! plugins, their processes, restarts and queues) and the reload SIGHUP
//! does, for `plexus status`, `plexus reload` and `plexus queue stats` while
//! the daemon holds the data directory, `plexus queue drop` on the live
//! queues, and `plexus call --socket` on the daemon's own request/response
//! plugins. It is served next to the ingestion
//! API, on the same sockets, under the same access rules.

use crate::engine::Engine;
use futures::future::BoxFuture;
use plexus_proto::plexus::v1::admin_server::Admin;
use plexus_proto::plexus::v1::{
    CallReply, CallRequest, DropQueueReply, DropQueueRequest, DroppedQueue, PluginStatus,
    ReloadReply, ReloadRequest, StatusReply, StatusRequest,
};
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

/// A reload as the daemon does it on SIGHUP: the errors, one per line.
pub type Reloader = Arc<dyn Fn() -> BoxFuture<'static, Vec<String>> + Send + Sync>;

/// Serves `plexus.v1.Admin` over an engine.
pub struct AdminService {
    engine: Arc<Engine>,
    reloader: Option<Reloader>,
    started: Instant,
}

impl AdminService {
    /// `reloader` is what `Reload` runs; without one, it reloads the IP
    /// filters only.
    pub fn new(engine: Arc<Engine>, reloader: Option<Reloader>) -> AdminService {
        AdminService {
            engine,
            reloader,
            started: Instant::now(),
        }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusReply>, Status> {
        let plugins = self
            .engine
            .stats()
            .into_iter()
            .map(|stats| {
                let counters = stats.counters;
                let last_error =
                    stats
                        .last_error
                        .unwrap_or_else(|| plexus_actors::counters::LastError {
                            at_unix_ms: 0,
                            message: String::new(),
                        });
                PluginStatus {
                    name: stats.name,
                    label: stats.label,
                    in_flight: stats.in_flight,
                    last_error: last_error.message,
                    last_error_unix_ms: last_error.at_unix_ms,
                    oldest_retry_age_seconds: stats
                        .oldest_retry_age
                        .unwrap_or_default()
                        .as_secs_f64(),
                    kind: stats.kind.as_str().to_owned(),
                    up: counters.pid != 0,
                    pid: counters.pid,
                    restarts: counters.restarts,
                    hung_restarts: counters.hung_restarts,
                    delivered: counters.delivered,
                    failed: counters.failed,
                    dropped: counters.dropped(),
                    retry_queue: counters.queue_len,
                    spill_queue: counters.spill_len,
                    redriven: counters.redriven,
                }
            })
            .collect();
        Ok(Response::new(StatusReply {
            plugins,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_seconds: self.started.elapsed().as_secs(),
        }))
    }

    async fn reload(&self, _: Request<ReloadRequest>) -> Result<Response<ReloadReply>, Status> {
        tracing::info!("admin API: reload asked");
        let errors = match &self.reloader {
            Some(reload) => reload().await,
            None => self
                .engine
                .reload_ip_filters()
                .await
                .into_iter()
                .map(|err| err.to_string())
                .collect(),
        };
        Ok(Response::new(ReloadReply { errors }))
    }

    async fn drop_queue(
        &self,
        request: Request<DropQueueRequest>,
    ) -> Result<Response<DropQueueReply>, Status> {
        let plugin = request.into_inner().plugin;
        tracing::info!("admin API: dropping the queued events of {plugin:?}");
        match self.engine.drop_queued(&plugin).await {
            Ok(dropped) => Ok(Response::new(DropQueueReply {
                dropped: dropped
                    .into_iter()
                    .map(|(plugin, retry, spill)| DroppedQueue {
                        plugin,
                        retry,
                        spill,
                    })
                    .collect(),
            })),
            Err(crate::engine::EngineError::NoPlugin(message)) => Err(Status::not_found(message)),
            Err(err) => Err(Status::unavailable(err.to_string())),
        }
    }

    async fn call(&self, request: Request<CallRequest>) -> Result<Response<CallReply>, Status> {
        super::plugin_call::dispatch(&self.engine, request.into_inner())
            .await
            .map(Response::new)
            .map_err(super::plugin_call::status_of)
    }
}
