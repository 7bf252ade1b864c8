//! Typed clients for SFTPGo's plugin services, with the host's per-call
//! deadline (SFTPGo uses 20 s for every call of every plugin type).
//!
//! Each call carries the deadline both ways: as gRPC's `grpc-timeout` so the
//! plugin can give up too, and as a local timeout so a plugin that never
//! answers cannot hold a caller forever.
//!
//! Every client also bounds the size of a plugin's reply
//! (`engine.max_reply_bytes`, 64 MiB by default): a plugin is a separate,
//! possibly faulty program, and without a bound one oversized answer makes
//! the host allocate whatever the plugin claims. A reply above the bound
//! fails the call with an error naming the setting.

use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use std::future::Future;
use std::time::Duration;
use tonic::transport::Channel;

/// SFTPGo's deadline for every plugin call.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest plugin reply the host accepts by default: 64 MiB.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

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

/// Runs one unary call under `timeout` and names `engine.max_reply_bytes`
/// when the reply was refused for its size.
async fn bounded<T, F>(
    timeout: Duration,
    max_reply_bytes: usize,
    call: F,
) -> Result<T, tonic::Status>
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    with_deadline(timeout, call)
        .await
        .map_err(|status| reply_too_large(status, max_reply_bytes))
}

/// What a call whose reply is above `engine.max_reply_bytes` fails with.
pub fn reply_too_large_message(max_reply_bytes: usize, detail: &str) -> String {
    format!("the plugin's reply is larger than engine.max_reply_bytes ({max_reply_bytes} bytes): {detail}")
}

/// tonic refuses a reply over the client's decoding limit with
/// `OutOfRange` and a message about "decoded message length"; this turns
/// it into an error that says which setting bounds it. Other statuses pass
/// unchanged.
pub fn reply_too_large(status: tonic::Status, max_reply_bytes: usize) -> tonic::Status {
    if status.code() == tonic::Code::OutOfRange
        && status
            .message()
            .contains("decoded message length too large")
    {
        tonic::Status::out_of_range(reply_too_large_message(max_reply_bytes, status.message()))
    } else {
        status
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
    max_reply_bytes: usize,
}

impl Notifier {
    /// A client with the default reply bound ([`DEFAULT_MAX_REPLY_BYTES`]).
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        Self::with_reply_limit(channel, timeout, DEFAULT_MAX_REPLY_BYTES)
    }

    /// A client that refuses replies above `max_reply_bytes`.
    pub fn with_reply_limit(channel: Channel, timeout: Duration, max_reply_bytes: usize) -> Self {
        Notifier {
            client: NotifierClient::new(channel)
                .max_decoding_message_size(max_reply_bytes)
                .max_encoding_message_size(usize::MAX),
            timeout,
            max_reply_bytes,
        }
    }

    pub async fn send_fs_event(&self, event: FsEvent) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.send_fs_event(request(event, self.timeout)),
        )
        .await
    }

    pub async fn send_provider_event(&self, event: ProviderEvent) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.send_provider_event(request(event, self.timeout)),
        )
        .await
    }

    pub async fn send_log_event(&self, event: LogEvent) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.send_log_event(request(event, self.timeout)),
        )
        .await
    }
}

/// A KMS plugin: `proto.KMS`.
#[derive(Debug, Clone)]
pub struct Kms {
    client: plexus_proto::sftpgo::kms_client::KmsClient<Channel>,
    timeout: Duration,
    max_reply_bytes: usize,
}

impl Kms {
    /// A client with the default reply bound ([`DEFAULT_MAX_REPLY_BYTES`]).
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        Self::with_reply_limit(channel, timeout, DEFAULT_MAX_REPLY_BYTES)
    }

    /// A client that refuses replies above `max_reply_bytes`.
    pub fn with_reply_limit(channel: Channel, timeout: Duration, max_reply_bytes: usize) -> Self {
        Kms {
            client: plexus_proto::sftpgo::kms_client::KmsClient::new(channel)
                .max_decoding_message_size(max_reply_bytes)
                .max_encoding_message_size(usize::MAX),
            timeout,
            max_reply_bytes,
        }
    }

    pub async fn encrypt(
        &self,
        request: plexus_proto::sftpgo::EncryptRequest,
    ) -> Result<plexus_proto::sftpgo::EncryptResponse, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.encrypt(self::request(request, self.timeout)),
        )
        .await
    }

    pub async fn decrypt(
        &self,
        request: plexus_proto::sftpgo::DecryptRequest,
    ) -> Result<plexus_proto::sftpgo::DecryptResponse, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.decrypt(self::request(request, self.timeout)),
        )
        .await
    }
}

/// An IP filter plugin: `proto.IPFilter`. An error from `check_ip` denies.
#[derive(Debug, Clone)]
pub struct IpFilter {
    client: plexus_proto::sftpgo::ip_filter_client::IpFilterClient<Channel>,
    timeout: Duration,
    max_reply_bytes: usize,
}

impl IpFilter {
    /// A client with the default reply bound ([`DEFAULT_MAX_REPLY_BYTES`]).
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        Self::with_reply_limit(channel, timeout, DEFAULT_MAX_REPLY_BYTES)
    }

    /// A client that refuses replies above `max_reply_bytes`.
    pub fn with_reply_limit(channel: Channel, timeout: Duration, max_reply_bytes: usize) -> Self {
        IpFilter {
            client: plexus_proto::sftpgo::ip_filter_client::IpFilterClient::new(channel)
                .max_decoding_message_size(max_reply_bytes)
                .max_encoding_message_size(usize::MAX),
            timeout,
            max_reply_bytes,
        }
    }

    pub async fn check_ip(&self, ip: &str, protocol: &str) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        let message = plexus_proto::sftpgo::CheckIpRequest {
            ip: ip.to_owned(),
            protocol: protocol.to_owned(),
        };
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.check_ip(request(message, self.timeout)),
        )
        .await
    }

    pub async fn reload(&self) -> Result<(), tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.reload(request((), self.timeout)),
        )
        .await
    }
}

/// An event searcher plugin: `proto.Searcher`. Answers are JSON documents.
#[derive(Debug, Clone)]
pub struct Searcher {
    client: plexus_proto::sftpgo::searcher_client::SearcherClient<Channel>,
    timeout: Duration,
    max_reply_bytes: usize,
}

impl Searcher {
    /// A client with the default reply bound ([`DEFAULT_MAX_REPLY_BYTES`]).
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        Self::with_reply_limit(channel, timeout, DEFAULT_MAX_REPLY_BYTES)
    }

    /// A client that refuses replies above `max_reply_bytes`.
    pub fn with_reply_limit(channel: Channel, timeout: Duration, max_reply_bytes: usize) -> Self {
        Searcher {
            client: plexus_proto::sftpgo::searcher_client::SearcherClient::new(channel)
                .max_decoding_message_size(max_reply_bytes)
                .max_encoding_message_size(usize::MAX),
            timeout,
            max_reply_bytes,
        }
    }

    pub async fn search_fs_events(
        &self,
        filter: plexus_proto::sftpgo::FsEventsFilter,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.search_fs_events(request(filter, self.timeout)),
        )
        .await
        .map(|response| response.data)
    }

    pub async fn search_provider_events(
        &self,
        filter: plexus_proto::sftpgo::ProviderEventsFilter,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.search_provider_events(request(filter, self.timeout)),
        )
        .await
        .map(|response| response.data)
    }

    pub async fn search_log_events(
        &self,
        filter: plexus_proto::sftpgo::LogEventsFilter,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.search_log_events(request(filter, self.timeout)),
        )
        .await
        .map(|response| response.data)
    }
}

/// An external authentication plugin: `proto.Auth`. Answers carry the
/// SFTPGo user as JSON; an empty answer means "authenticated, no change".
#[derive(Debug, Clone)]
pub struct Auth {
    client: plexus_proto::sftpgo::auth_client::AuthClient<Channel>,
    timeout: Duration,
    max_reply_bytes: usize,
}

impl Auth {
    /// A client with the default reply bound ([`DEFAULT_MAX_REPLY_BYTES`]).
    pub fn new(channel: Channel, timeout: Duration) -> Self {
        Self::with_reply_limit(channel, timeout, DEFAULT_MAX_REPLY_BYTES)
    }

    /// A client that refuses replies above `max_reply_bytes`.
    pub fn with_reply_limit(channel: Channel, timeout: Duration, max_reply_bytes: usize) -> Self {
        Auth {
            client: plexus_proto::sftpgo::auth_client::AuthClient::new(channel)
                .max_decoding_message_size(max_reply_bytes)
                .max_encoding_message_size(usize::MAX),
            timeout,
            max_reply_bytes,
        }
    }

    pub async fn check_user_and_pass(
        &self,
        message: plexus_proto::sftpgo::CheckUserAndPassRequest,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.check_user_and_pass(request(message, self.timeout)),
        )
        .await
        .map(|response| response.user)
    }

    pub async fn check_user_and_tls_cert(
        &self,
        message: plexus_proto::sftpgo::CheckUserAndTlsCertRequest,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.check_user_and_tls_cert(request(message, self.timeout)),
        )
        .await
        .map(|response| response.user)
    }

    pub async fn check_user_and_public_key(
        &self,
        message: plexus_proto::sftpgo::CheckUserAndPublicKeyRequest,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.check_user_and_public_key(request(message, self.timeout)),
        )
        .await
        .map(|response| response.user)
    }

    pub async fn check_user_and_keyboard_interactive(
        &self,
        message: plexus_proto::sftpgo::CheckUserAndKeyboardInteractiveRequest,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.check_user_and_keyboard_interactive(request(message, self.timeout)),
        )
        .await
        .map(|response| response.user)
    }

    pub async fn send_keyboard_auth_request(
        &self,
        message: plexus_proto::sftpgo::KeyboardAuthRequest,
    ) -> Result<plexus_proto::sftpgo::KeyboardAuthResponse, tonic::Status> {
        let mut client = self.client.clone();
        bounded(
            self.timeout,
            self.max_reply_bytes,
            client.send_keyboard_auth_request(request(message, self.timeout)),
        )
        .await
    }
}
