//! The notifier transports the actors use in production: SFTPGo's unary
//! `proto.Notifier` RPCs, and Plexus's batch extension for plugins that
//! serve it.

use crate::clients::Notifier;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_proto::plexus::v1::notifier_batch_client::NotifierBatchClient;
use plexus_proto::plexus::v1::NotifierBatchRequest;
use std::sync::Arc;
use std::time::Duration;

pub struct GrpcNotifier {
    client: Notifier,
}

impl GrpcNotifier {
    pub fn new(channel: tonic::transport::Channel, timeout: Duration) -> Self {
        GrpcNotifier {
            client: Notifier::new(channel, timeout),
        }
    }
}

impl NotifierTransport for GrpcNotifier {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        let client = self.client.clone();
        async move {
            let result = match &*event {
                Event::Fs(e) => client.send_fs_event(e.clone()).await,
                Event::Provider(e) => client.send_provider_event(e.clone()).await,
                Event::Log(e) => client.send_log_event(e.clone()).await,
            };
            result.map_err(DeliveryError::from)
        }
        .boxed()
    }
}

/// The most events one batch carries.
pub const MAX_BATCH: usize = 256;
/// Batch RPCs in flight at once per plugin.
const BATCHES_IN_FLIGHT: usize = 4;

type Pending = (
    Arc<Event>,
    tokio::sync::oneshot::Sender<Result<(), DeliveryError>>,
);

/// Delivers through Plexus's batch extension (`plexus.v1.NotifierBatch`):
/// events handed over while earlier batches are in flight travel together
/// in the next one, so under load many events share one round trip, and a
/// lone event goes out at once. Each event still gets its own outcome.
pub struct BatchNotifier {
    pending: tokio::sync::mpsc::Sender<Pending>,
}

impl BatchNotifier {
    /// Starts the batching task on `runtime`.
    pub fn start(
        channel: tonic::transport::Channel,
        timeout: Duration,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let (pending, receiver) = tokio::sync::mpsc::channel(MAX_BATCH * BATCHES_IN_FLIGHT);
        runtime.spawn(run_batches(
            NotifierBatchClient::new(channel),
            timeout,
            receiver,
        ));
        BatchNotifier { pending }
    }
}

impl NotifierTransport for BatchNotifier {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        let pending = self.pending.clone();
        async move {
            let (done, outcome) = tokio::sync::oneshot::channel();
            pending
                .send((event, done))
                .await
                .map_err(|_| DeliveryError::Unavailable("the batch sender stopped".into()))?;
            outcome.await.unwrap_or_else(|_| {
                Err(DeliveryError::Unavailable("the batch was abandoned".into()))
            })
        }
        .boxed()
    }
}

async fn run_batches(
    client: NotifierBatchClient<tonic::transport::Channel>,
    timeout: Duration,
    mut receiver: tokio::sync::mpsc::Receiver<Pending>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(BATCHES_IN_FLIGHT));
    while let Some(first) = receiver.recv().await {
        // Wait for a free slot first: what arrives meanwhile joins this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut client = client.clone();
        tokio::spawn(async move {
            let events = batch.iter().map(|(event, _)| wire_event(event)).collect();
            let mut request = tonic::Request::new(NotifierBatchRequest { events });
            request.set_timeout(timeout);
            let answer = crate::clients::with_deadline(timeout, client.send_events(request)).await;
            match answer {
                Ok(reply) => {
                    let mut results = reply.results.into_iter();
                    for (_, done) in batch {
                        let outcome = match results.next() {
                            Some(result) if result.code == 0 => Ok(()),
                            Some(result) => Err(DeliveryError::Status {
                                code: format!("{:?}", tonic::Code::from_i32(result.code)),
                                message: result.message,
                            }),
                            None => Err(DeliveryError::Status {
                                code: "Internal".into(),
                                message: "the plugin answered fewer results than events".into(),
                            }),
                        };
                        let _ = done.send(outcome);
                    }
                }
                Err(status) => {
                    let error = DeliveryError::from(status);
                    for (_, done) in batch {
                        let _ = done.send(Err(error.clone()));
                    }
                }
            }
            drop(slot);
        });
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
/// Unimplemented). The flag says whether it batches.
pub async fn notifier_transport(
    name: &str,
    channel: tonic::transport::Channel,
    timeout: Duration,
    batching: bool,
    runtime: &tokio::runtime::Handle,
) -> (Arc<dyn NotifierTransport>, bool) {
    if batching {
        let mut probe = NotifierBatchClient::new(channel.clone());
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
                    Arc::new(BatchNotifier::start(channel, timeout, runtime)),
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
    (Arc::new(GrpcNotifier::new(channel, timeout)), false)
}
