//! The notifier batch extension, plugin side.
//!
//! A notifier served with [`NotifierPlugin`] (what `serve_notifier` does)
//! answers SFTPGo's unary `proto.Notifier` *and* Plexus's
//! `plexus.v1.NotifierBatch`, both backed by the same implementation: a
//! batch is delivered by calling the plugin's own unary methods, all at
//! once, and each event's outcome is reported. SFTPGo never calls the batch
//! service, so the same binary behaves exactly as before under SFTPGo; a
//! Plexus host saves a round trip per event.

use crate::kinds::{sealed, PluginService, MAX_RECEIVE_BYTES};
use futures::future::join_all;
use plexus_proto::plexus::v1::event::Kind;
use plexus_proto::plexus::v1::notifier_batch_server::{NotifierBatch, NotifierBatchServer};
use plexus_proto::plexus::v1::{DeliveryResult, NotifierBatchReply, NotifierBatchRequest};
use plexus_proto::sftpgo::notifier_server::{Notifier, NotifierServer};
use plexus_proto::PluginKind;
use std::sync::Arc;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};

/// The most events one batch may carry; a larger batch is refused whole.
pub const MAX_BATCH: usize = 4096;

/// A notifier served with SFTPGo's unary service and Plexus's batch service.
pub struct NotifierPlugin<T> {
    plugin: Arc<T>,
}

impl<T: Notifier> NotifierPlugin<T> {
    pub fn new(plugin: T) -> Self {
        NotifierPlugin {
            plugin: Arc::new(plugin),
        }
    }
}

impl<T: Notifier> sealed::Sealed for NotifierPlugin<T> {}

impl<T: Notifier> PluginService for NotifierPlugin<T> {
    const KIND: PluginKind = PluginKind::Notifier;

    fn add_to(self, routes: Routes) -> Routes {
        routes
            .add_service(
                NotifierServer::from_arc(self.plugin.clone())
                    .max_decoding_message_size(MAX_RECEIVE_BYTES),
            )
            .add_service(
                NotifierBatchServer::new(BatchService {
                    plugin: self.plugin,
                })
                .max_decoding_message_size(MAX_RECEIVE_BYTES),
            )
    }
}

struct BatchService<T> {
    plugin: Arc<T>,
}

#[tonic::async_trait]
impl<T: Notifier> NotifierBatch for BatchService<T> {
    async fn send_events(
        &self,
        request: Request<NotifierBatchRequest>,
    ) -> Result<Response<NotifierBatchReply>, Status> {
        let events = request.into_inner().events;
        if events.len() > MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "a batch holds at most {MAX_BATCH} events, not {}",
                events.len()
            )));
        }
        let deliveries = events.into_iter().map(|event| {
            let plugin = self.plugin.clone();
            async move {
                let outcome = match event.kind {
                    Some(Kind::Fs(e)) => plugin.send_fs_event(Request::new(e)).await.map(drop),
                    Some(Kind::Provider(e)) => {
                        plugin.send_provider_event(Request::new(e)).await.map(drop)
                    }
                    Some(Kind::Log(e)) => plugin.send_log_event(Request::new(e)).await.map(drop),
                    None => Err(Status::invalid_argument("empty event")),
                };
                match outcome {
                    Ok(()) => DeliveryResult {
                        code: Code::Ok as i32,
                        message: String::new(),
                    },
                    Err(status) => DeliveryResult {
                        code: status.code() as i32,
                        message: status.message().to_owned(),
                    },
                }
            }
        });
        let results = join_all(deliveries).await;
        Ok(Response::new(NotifierBatchReply { results }))
    }
}
