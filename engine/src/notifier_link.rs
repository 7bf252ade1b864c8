//! The notifier transport the actors use in production: SFTPGo's unary
//! `proto.Notifier` RPCs over the plugin's channel.

use crate::clients::Notifier;
use crate::host::PluginHandle;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use std::sync::Arc;
use std::time::Duration;

pub struct GrpcNotifier {
    client: Notifier,
}

impl GrpcNotifier {
    pub fn new(handle: &PluginHandle, timeout: Duration) -> Self {
        GrpcNotifier {
            client: Notifier::new(handle.channel(), timeout),
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
