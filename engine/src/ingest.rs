//! The ingestion API, `plexus.v1.EventBus`: how other programs publish
//! events to a running engine (what `plexus serve` listens on).

use crate::engine::{Engine, EngineError};
use plexus_proto::plexus::v1::event_bus_server::EventBus;
use plexus_proto::plexus::v1::{
    event, Event as WireEvent, PublishBatchReply, PublishBatchRequest, PublishReply, PublishRequest,
};
use plexus_proto::Event;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Serves `plexus.v1.EventBus` over an engine.
pub struct IngestService {
    engine: Arc<Engine>,
}

impl IngestService {
    pub fn new(engine: Arc<Engine>) -> Self {
        IngestService { engine }
    }

    pub fn into_server(self) -> plexus_proto::plexus::v1::event_bus_server::EventBusServer<Self> {
        plexus_proto::plexus::v1::event_bus_server::EventBusServer::new(self)
    }
}

fn event_of(wire: Option<WireEvent>) -> Result<Event, Status> {
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
        let event = event_of(request.into_inner().event)?;
        let receipt = self.engine.notify(event).await.map_err(status_of)?;
        Ok(Response::new(PublishReply {
            targets: receipt.targets as u32,
            overflowed: receipt.overflowed as u32,
        }))
    }

    async fn publish_batch(
        &self,
        request: Request<PublishBatchRequest>,
    ) -> Result<Response<PublishBatchReply>, Status> {
        let mut accepted = 0u32;
        for (index, wire) in request.into_inner().events.into_iter().enumerate() {
            let outcome = match event_of(Some(wire)) {
                Ok(event) => self
                    .engine
                    .notify(event)
                    .await
                    .map_err(|err| err.to_string()),
                Err(status) => Err(status.message().to_owned()),
            };
            if let Err(error) = outcome {
                return Ok(Response::new(PublishBatchReply {
                    accepted,
                    error: format!("event {index}: {error}"),
                }));
            }
            accepted += 1;
        }
        Ok(Response::new(PublishBatchReply {
            accepted,
            error: String::new(),
        }))
    }
}
