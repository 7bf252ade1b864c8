//! The real implementations of the actors' plugin traits: a notifier
//! transport over the tonic client, and a launcher that starts the plugin
//! process through the process host.

use crate::clients::Notifier;
use crate::host::{HostOptions, LaunchSpec, PluginHandle};
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::supervisor::{Launcher, PluginProcess};
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use std::sync::Arc;
use std::time::Duration;

/// Delivers events with SFTPGo's unary `proto.Notifier` RPCs.
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

/// A running notifier process for the supervisor.
pub struct NotifierProcess {
    handle: PluginHandle,
    transport: Arc<GrpcNotifier>,
}

impl NotifierProcess {
    pub fn new(handle: PluginHandle, rpc_timeout: Duration) -> Self {
        let transport = Arc::new(GrpcNotifier::new(&handle, rpc_timeout));
        NotifierProcess { handle, transport }
    }

    pub fn handle(&self) -> &PluginHandle {
        &self.handle
    }
}

impl PluginProcess for NotifierProcess {
    fn pid(&self) -> u32 {
        self.handle.pid()
    }

    fn transport(&self) -> Arc<dyn NotifierTransport> {
        self.transport.clone()
    }

    fn exited(&self) -> BoxFuture<'static, String> {
        let mut exit = self.handle.exit_watch();
        async move {
            match exit.wait_for(Option::is_some).await {
                Ok(info) => info.map(|i| i.to_string()).unwrap_or_default(),
                Err(_) => "exit status unknown".to_owned(),
            }
        }
        .boxed()
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        async move {
            let name = self.handle.name().to_owned();
            let exit = self.handle.shutdown().await;
            tracing::debug!(plugin = %name, "[{name}] stopped ({exit})");
        }
        .boxed()
    }
}

/// Starts a notifier plugin on the host's runtime, re-verifying its checksum.
pub struct NotifierLauncher {
    pub spec: LaunchSpec,
    pub options: HostOptions,
    pub rpc_timeout: Duration,
    /// Plugin processes are driven by the embedding program's runtime, not
    /// by an actor's arbiter.
    pub runtime: tokio::runtime::Handle,
}

impl Launcher for NotifierLauncher {
    fn launch(&self) -> BoxFuture<'static, Result<Box<dyn PluginProcess>, String>> {
        let spec = self.spec.clone();
        let options = self.options.clone();
        let timeout = self.rpc_timeout;
        let task = self
            .runtime
            .spawn(async move { PluginHandle::start(&spec, &options).await });
        async move {
            let handle = task
                .await
                .map_err(|err| format!("start task failed: {err}"))?
                .map_err(|err| err.to_string())?;
            Ok(Box::new(NotifierProcess::new(handle, timeout)) as Box<dyn PluginProcess>)
        }
        .boxed()
    }
}
