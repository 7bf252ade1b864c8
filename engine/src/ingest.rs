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
        let wire = request.into_inner().events;
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
        Ok(Response::new(PublishBatchReply {
            accepted: accepted as u32,
            error,
        }))
    }
}
