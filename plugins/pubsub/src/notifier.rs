//! The notifier service: each event becomes a message (`message.rs`) and is
//! published with a 30 s deadline, as the Go plugin does. Unlike the Go
//! plugin, a failed publish does not panic the process: the call fails
//! with UNAVAILABLE (DEADLINE_EXCEEDED on the deadline), so the host's
//! retry queue keeps the event while the publisher reconnects. Under a
//! Plexus host, the SDK's batch extension calls these methods for all the
//! events of a batch at once, so their publishes and confirms overlap.

use crate::brokers::Publisher;
use crate::message::{Encoder, Message};
use plexus_sdk::notifier::{FsEvent, LogEvent, Notifier, ProviderEvent};
use plexus_sdk::{async_trait, Request, Response, Status};
use std::sync::Arc;
use std::time::Duration;

/// The Go plugin's per-publish deadline.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

pub struct PubSubNotifier {
    publisher: Arc<Publisher>,
    encoder: Encoder,
    timeout: Duration,
}

impl PubSubNotifier {
    pub fn new(publisher: Arc<Publisher>, encoder: Encoder) -> Self {
        PubSubNotifier {
            publisher,
            encoder,
            timeout: PUBLISH_TIMEOUT,
        }
    }

    async fn send(&self, message: Message, what: &str) -> Result<Response<()>, Status> {
        match tokio::time::timeout(self.timeout, self.publisher.publish(&message)).await {
            Ok(Ok(())) => Ok(Response::new(())),
            Ok(Err(err)) => {
                tracing::warn!(event = what, error = %err, "unable to publish the event");
                Err(Status::unavailable(format!(
                    "unable to publish the {what} event: {err}"
                )))
            }
            Err(_) => {
                tracing::warn!(event = what, "publish timed out");
                Err(Status::deadline_exceeded(format!(
                    "the {what} event was not confirmed within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }
}

#[async_trait]
impl Notifier for PubSubNotifier {
    async fn send_fs_event(&self, request: Request<FsEvent>) -> Result<Response<()>, Status> {
        let message = self.encoder.fs(request.get_ref());
        self.send(message, "fs").await
    }

    async fn send_provider_event(
        &self,
        request: Request<ProviderEvent>,
    ) -> Result<Response<()>, Status> {
        let message = self.encoder.provider(request.get_ref());
        self.send(message, "provider").await
    }

    async fn send_log_event(&self, request: Request<LogEvent>) -> Result<Response<()>, Status> {
        let message = self.encoder.log(request.get_ref());
        self.send(message, "log").await
    }
}
