//! Typed clients for SFTPGo's plugin services, with the host's per-call
//! deadline (SFTPGo uses 20 s for every call of every plugin type).
//!
//! Each call carries the deadline both ways: as gRPC's `grpc-timeout` so the
//! plugin can give up too, and as a local timeout so a plugin that never
//! answers cannot hold a caller forever.

use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use std::future::Future;
use std::time::Duration;
use tonic::transport::Channel;

/// SFTPGo's deadline for every plugin call.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs one unary call under `timeout`.
pub async fn with_deadline<T, F>(timeout: Duration, call: F) -> Result<T, tonic::Status>
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "no answer within {timeout:?}"
        ))),
    }
}

fn request<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

/// A notifier plugin: `proto.Notifier`.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: NotifierClient<Channel>,
    timeout: Duration,
}

impl Notifier {
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        Notifier {
            client: NotifierClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX),
            timeout,
        }
    }

    pub async fn send_fs_event(&self, event: FsEvent) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        with_deadline(
            self.timeout,
            client.send_fs_event(request(event, self.timeout)),
        )
        .await
    }

    pub async fn send_provider_event(&self, event: ProviderEvent) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        with_deadline(
            self.timeout,
            client.send_provider_event(request(event, self.timeout)),
        )
        .await
    }

    pub async fn send_log_event(&self, event: LogEvent) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        with_deadline(
            self.timeout,
            client.send_log_event(request(event, self.timeout)),
        )
        .await
    }
}
