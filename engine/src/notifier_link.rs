//! The notifier transports the actors use in production: SFTPGo's unary
//! `proto.Notifier` RPCs, and Plexus's batch extension for plugins that
//! serve it.

use crate::clients::reply_too_large;
use crate::host::transport::Dialer;
use crate::unary::UnaryNotifier;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::transport::{batch_outcomes, DeliveryError, NotifierTransport};
use plexus_proto::plexus::v1::notifier_batch_client::NotifierBatchClient;
use plexus_proto::plexus::v1::NotifierBatchRequest;
use plexus_proto::sftpgo::notifier_client::NotifierClient;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

/// SFTPGo's unary `proto.Notifier`: one event per call.
///
/// The deadline travels as `grpc-timeout`, and tonic's connection enforces
/// the same deadline locally (its timeout layer reads that header), so a
/// plugin that never answers fails the call after `timeout`. The actor
/// keeps fewer calls in flight than the channel's buffer holds, so no call
/// waits unbounded before it reaches the connection.
pub struct GrpcNotifier {
    client: NotifierClient<Channel>,
    timeout: Duration,
    max_reply_bytes: usize,
}

impl GrpcNotifier {
    /// Replies above `max_reply_bytes` (`engine.max_reply_bytes`) fail the call.
    pub fn new(channel: Channel, timeout: Duration, max_reply_bytes: usize) -> Self {
        GrpcNotifier {
            client: NotifierClient::new(channel)
                .max_decoding_message_size(max_reply_bytes)
                .max_encoding_message_size(usize::MAX),
            timeout,
            max_reply_bytes,
        }
    }
}

fn request<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

impl NotifierTransport for GrpcNotifier {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        let mut client = self.client.clone();
        let timeout = self.timeout;
        let max_reply_bytes = self.max_reply_bytes;
        async move {
            let result = match &*event {
                Event::Fs(e) => client.send_fs_event(request(e.clone(), timeout)).await,
                Event::Provider(e) => {
                    client
                        .send_provider_event(request(e.clone(), timeout))
                        .await
                }
                Event::Log(e) => client.send_log_event(request(e.clone(), timeout)).await,
            };
            result
                .map(|_| ())
                .map_err(|status| DeliveryError::from(reply_too_large(status, max_reply_bytes)))
        }
        .boxed()
    }
}

/// The most events one batch carries.
pub const MAX_BATCH: usize = 256;
/// Batch calls worth having in flight at once per plugin: enough to keep
/// the plugin busy while the next batch fills.
const BATCHES_IN_FLIGHT: usize = 4;

/// Delivers through Plexus's batch extension (`plexus.v1.NotifierBatch`):
/// the actor's delivery lane hands it the events that arrived while earlier
/// batches were in flight (bounded in count and bytes), and each event still
/// gets its own outcome. An event too large for a batch goes alone on
/// SFTPGo's unary service.
pub struct BatchNotifier {
    client: NotifierBatchClient<tonic::transport::Channel>,
    unary: GrpcNotifier,
    timeout: Duration,
    max_reply_bytes: usize,
}

impl BatchNotifier {
    /// Replies above `max_reply_bytes` (`engine.max_reply_bytes`) fail the call.
    pub fn new(
        channel: tonic::transport::Channel,
        timeout: Duration,
        max_reply_bytes: usize,
    ) -> Self {
        BatchNotifier {
            client: NotifierBatchClient::new(channel.clone())
                .max_decoding_message_size(max_reply_bytes)
                .max_encoding_message_size(usize::MAX),
            unary: GrpcNotifier::new(channel, timeout, max_reply_bytes),
            timeout,
            max_reply_bytes,
        }
    }
}

impl NotifierTransport for BatchNotifier {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        self.unary.deliver(event)
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn calls_in_flight(&self) -> Option<usize> {
        Some(BATCHES_IN_FLIGHT)
    }

    fn deliver_batch(
        &self,
        events: Vec<Arc<Event>>,
    ) -> BoxFuture<'static, Vec<Result<(), DeliveryError>>> {
        let mut client = self.client.clone();
        let timeout = self.timeout;
        let max_reply_bytes = self.max_reply_bytes;
        async move {
            let count = events.len();
            let wire = events.iter().map(|event| wire_event(event)).collect();
            let mut request = tonic::Request::new(NotifierBatchRequest { events: wire });
            // tonic's connection enforces the deadline it sends (grpc-timeout).
            request.set_timeout(timeout);
            match client.send_events(request).await {
                Ok(reply) => batch_outcomes(reply.into_inner().results, count),
                Err(status) => {
                    let error = DeliveryError::from(reply_too_large(status, max_reply_bytes));
                    vec![Err(error); count]
                }
            }
        }
        .boxed()
    }
}

fn wire_event(event: &Event) -> plexus_proto::plexus::v1::Event {
    use plexus_proto::plexus::v1::event::Kind;
    let kind = match event {
        Event::Fs(e) => Kind::Fs(e.clone()),
        Event::Provider(e) => Kind::Provider(e.clone()),
        Event::Log(e) => Kind::Log(e.clone()),
    };
    plexus_proto::plexus::v1::Event { kind: Some(kind) }
}

/// The best transport a plugin offers: the batch extension when it answers
/// an empty probe batch, SFTPGo's unary service otherwise (Go plugins answer
/// Unimplemented), on a delivery connection of its own
/// ([`UnaryNotifier`](crate::unary::UnaryNotifier)). The flag says whether
/// it batches.
pub async fn notifier_transport(
    name: &str,
    channel: tonic::transport::Channel,
    dialer: Dialer,
    timeout: Duration,
    max_reply_bytes: usize,
    batching: bool,
) -> (Arc<dyn NotifierTransport>, bool) {
    if batching {
        let mut probe =
            NotifierBatchClient::new(channel.clone()).max_decoding_message_size(max_reply_bytes);
        let answer = crate::clients::with_deadline(
            Duration::from_secs(5).min(timeout),
            probe.send_events(NotifierBatchRequest { events: Vec::new() }),
        )
        .await;
        match answer {
            Ok(_) => {
                tracing::debug!(
                    plugin = name,
                    "[{name}] delivering in batches (plexus.v1.NotifierBatch)"
                );
                return (
                    Arc::new(BatchNotifier::new(channel, timeout, max_reply_bytes)),
                    true,
                );
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {}
            Err(status) => tracing::debug!(
                plugin = name,
                "[{name}] batch probe failed ({status}); delivering one event per call"
            ),
        }
    }
    let unary = UnaryNotifier::new(name, dialer, timeout, max_reply_bytes);
    // Opened now so the first events do not wait for the TLS handshake; a
    // failure here is retried at the first call.
    if let Err(err) = unary.connect().await {
        tracing::debug!(
            plugin = name,
            "[{name}] delivery connection not open yet: {err}"
        );
    }
    (Arc::new(unary), false)
}
