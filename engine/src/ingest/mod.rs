//! The ingestion API, `plexus.v1.EventBus`: how other programs publish
//! events to a running engine (what `plexus serve` listens on).
//!
//! A client cannot make the daemon allocate without bound: a request larger
//! than `ingest_max_message_bytes` is refused by the gRPC layer with
//! `RESOURCE_EXHAUSTED` before it is decoded, a batch of more than
//! `ingest_max_batch` events with `INVALID_ARGUMENT`, and a call is answered
//! only once its events are accepted, so a client publishing faster than the
//! plugins take events waits (backpressure) instead of piling them up.
//!
//! Next to the API, the server answers the admin API ([`admin`]) and gRPC
//! server reflection (v1 and
//! v1alpha, listing `plexus.v1.EventBus` and `plexus.v1.Admin`), so tools such as `grpcurl`
//! need no .proto files. Over TCP, reflection needs the token too.

pub mod admin;
pub mod authority;
pub mod counters;
pub mod plugin_call;
mod size_limit;
pub mod unix_connection;

use crate::engine::{Engine, EngineError};
use crate::ingest_token::IngestToken;
use counters::IngestResult;
use plexus_proto::plexus::v1::event_bus_server::EventBus;
use plexus_proto::plexus::v1::{
    event, Event as WireEvent, PublishBatchReply, PublishBatchRequest, PublishReply, PublishRequest,
};
use plexus_proto::Event;
use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_stream::Stream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

const EVENT_BUS_SERVICE: &str = "plexus.v1.EventBus";
const ADMIN_SERVICE: &str = "plexus.v1.Admin";
const REFLECTION_V1_SERVICE: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA_SERVICE: &str = "grpc.reflection.v1alpha.ServerReflection";

/// Why the ingestion server stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(String),
    #[error(transparent)]
    Transport(tonic::transport::Error),
}

/// Serves `plexus.v1.EventBus` over an engine.
pub struct IngestService {
    engine: Arc<Engine>,
    max_batch: usize,
    max_message_bytes: usize,
    reloader: Option<admin::Reloader>,
}

impl IngestService {
    pub fn new(engine: Arc<Engine>) -> Self {
        let settings = engine.settings();
        IngestService {
            max_batch: settings.ingest_max_batch,
            max_message_bytes: settings.ingest_max_message_bytes,
            engine,
            reloader: None,
        }
    }

    /// What the admin API's `Reload` runs (the daemon's SIGHUP handling);
    /// without one, it reloads the IP filters only.
    pub fn with_reloader(mut self, reloader: admin::Reloader) -> Self {
        self.reloader = Some(reloader);
        self
    }

    /// Serves the API on `incoming` until `shutdown` completes. With a
    /// `token` (TCP), every request must carry it as
    /// `authorization: Bearer <token>` (see [`crate::ingest_token`]).
    pub async fn serve<I, IO, IE>(
        mut self,
        incoming: I,
        token: Option<IngestToken>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError>
    where
        I: Stream<Item = Result<IO, IE>>,
        IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
        IE: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limit = self.max_message_bytes;
        let counters = self.engine.ingest_counters().clone();
        let admin = plexus_proto::plexus::v1::admin_server::AdminServer::new(
            admin::AdminService::new(self.engine.clone(), self.reloader.take()),
        );
        let server = plexus_proto::plexus::v1::event_bus_server::EventBusServer::new(self)
            .max_decoding_message_size(limit);
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(plexus_proto::plexus::FILE_DESCRIPTOR_SET)
                .with_service_name(EVENT_BUS_SERVICE)
                .with_service_name(ADMIN_SERVICE)
                .with_service_name(REFLECTION_V1_SERVICE)
                .with_service_name(REFLECTION_V1ALPHA_SERVICE)
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|err| ServeError::Reflection(err.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|err| ServeError::Reflection(err.to_string()))?;
        let mut builder = tonic::transport::Server::builder()
            .layer(size_limit::SizeLimitLayer { limit, counters });
        let router = match token {
            Some(token) => {
                let check = move |request| token.check(request);
                builder
                    .add_service(InterceptedService::new(server, check.clone()))
                    .add_service(InterceptedService::new(admin, check.clone()))
                    .add_service(InterceptedService::new(reflection_v1, check.clone()))
                    .add_service(InterceptedService::new(reflection_v1alpha, check))
            }
            None => builder
                .add_service(server)
                .add_service(admin)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha),
        };
        router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(ServeError::Transport)
    }
}

/// The event a request carries, as the ingestion API accepts it: one of
/// `fs`, `provider` or `log`, an empty one refused with `INVALID_ARGUMENT`.
/// Public (hidden) for the ingestion fuzz target only.
#[doc(hidden)]
pub fn event_of(wire: Option<WireEvent>) -> Result<Event, Status> {
    match wire.and_then(|w| w.kind) {
        Some(event::Kind::Fs(e)) => Ok(Event::Fs(e)),
        Some(event::Kind::Provider(e)) => Ok(Event::Provider(e)),
        Some(event::Kind::Log(e)) => Ok(Event::Log(e)),
        None => Err(Status::invalid_argument(
            "the event is empty: set fs, provider or log",
        )),
    }
}

fn status_of(err: EngineError) -> Status {
    match err {
        EngineError::Stopped => Status::unavailable(err.to_string()),
        other => Status::internal(other.to_string()),
    }
}

#[tonic::async_trait]
impl EventBus for IngestService {
    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishReply>, Status> {
        let counters = self.engine.ingest_counters();
        let event = event_of(request.into_inner().event).inspect_err(|_| {
            counters.count(IngestResult::Invalid);
        })?;
        let receipt = self.engine.notify(event).await.map_err(|err| {
            counters.count(IngestResult::Failed);
            status_of(err)
        })?;
        counters.count(IngestResult::Accepted);
        Ok(Response::new(PublishReply {
            targets: u32::try_from(receipt.targets).unwrap_or(u32::MAX),
            overflowed: u32::try_from(receipt.overflowed.len()).unwrap_or(u32::MAX),
        }))
    }

    async fn publish_batch(
        &self,
        request: Request<PublishBatchRequest>,
    ) -> Result<Response<PublishBatchReply>, Status> {
        let counters = self.engine.ingest_counters();
        let wire = request.into_inner().events;
        if wire.len() > self.max_batch {
            counters.count(IngestResult::Invalid);
            return Err(Status::invalid_argument(format!(
                "the batch holds {} events; at most {} are accepted in one PublishBatch (split it, or raise engine.ingest_max_batch)",
                wire.len(),
                self.max_batch
            )));
        }
        let mut events = Vec::with_capacity(wire.len());
        let mut invalid = None;
        for (index, event) in wire.into_iter().enumerate() {
            match event_of(Some(event)) {
                Ok(event) => events.push(event),
                Err(status) => {
                    invalid = Some(format!("event {index}: {}", status.message()));
                    break;
                }
            }
        }
        let valid = events.len();
        let (accepted, error) = match self.engine.notify_many(events).await {
            Ok(_) => (valid, invalid.unwrap_or_default()),
            Err((accepted, err)) => (accepted, format!("event {accepted}: {err}")),
        };
        counters.count(if error.is_empty() {
            IngestResult::Accepted
        } else {
            IngestResult::Partial
        });
        Ok(Response::new(PublishBatchReply {
            accepted: accepted as u32,
            error,
        }))
    }
}
