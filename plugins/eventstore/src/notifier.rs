//! The notifier service: every RPC hands its event to the single writer and
//! answers once it is committed; a failed insert is a gRPC error, so the
//! host queues the event and retries it.

use plexus_eventdb::{DbError, NewEvent, Writer};
use plexus_sdk::notifier::{FsEvent, LogEvent, Notifier, ProviderEvent};
use plexus_sdk::{async_trait, Request, Response, Status};

pub struct StoreNotifier {
    pub writer: Writer,
}

impl StoreNotifier {
    async fn store(&self, event: NewEvent) -> Result<Response<()>, Status> {
        match self.writer.insert(event).await {
            Ok(()) => Ok(Response::new(())),
            Err(DbError::InvalidArgument(message)) => Err(Status::invalid_argument(message)),
            Err(err) => Err(Status::unavailable(format!(
                "cannot store the event: {err}"
            ))),
        }
    }
}

#[async_trait]
impl Notifier for StoreNotifier {
    async fn send_fs_event(&self, request: Request<FsEvent>) -> Result<Response<()>, Status> {
        self.store(NewEvent::Fs(Box::new(request.into_inner())))
            .await
    }

    async fn send_provider_event(
        &self,
        request: Request<ProviderEvent>,
    ) -> Result<Response<()>, Status> {
        self.store(NewEvent::Provider(request.into_inner())).await
    }

    async fn send_log_event(&self, request: Request<LogEvent>) -> Result<Response<()>, Status> {
        self.store(NewEvent::Log(request.into_inner())).await
    }
}
