//! A plugin process as the supervisor sees it, and the launcher that
//! (re)starts it and connects it to its actor: the bridge between the
//! process host and the actors.

use crate::host::{HostOptions, LaunchSpec, PluginHandle};
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::supervisor::{Launcher, PluginProcess};
use std::sync::Arc;

/// A running plugin process.
pub struct HostedPlugin {
    pub handle: PluginHandle,
}

impl PluginProcess for HostedPlugin {
    fn pid(&self) -> u32 {
        self.handle.pid()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
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

    fn check_health(&self, timeout: std::time::Duration) -> BoxFuture<'static, Result<(), String>> {
        crate::host::check_health(self.handle.channel(), timeout).boxed()
    }

    fn kill(self: Box<Self>) -> BoxFuture<'static, String> {
        async move {
            // SIGKILL ends a stopped or deadlocked process too; dropping the
            // handle afterwards closes its channel.
            self.handle.kill();
            self.handle.wait_exit().await.to_string()
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

/// Connects a started process to the actor that uses it.
pub type AttachFn = Arc<dyn Fn(Option<&PluginHandle>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Resolves once nothing uses the connection an attach replaced.
pub type ReleasedFn = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Starts a plugin on the embedding program's runtime, re-verifying its
/// checksum each time, and hands each new connection to its actor.
pub struct HostedLauncher {
    pub spec: LaunchSpec,
    pub options: HostOptions,
    /// Plugin processes and their channels are driven by the embedding
    /// program's runtime, not by the actors' thread.
    pub runtime: tokio::runtime::Handle,
    pub attach: AttachFn,
    /// How to know the connection a replacement took over from is unused;
    /// `None`: at once.
    pub released: Option<ReleasedFn>,
}

impl Launcher for HostedLauncher {
    fn launch(&self) -> BoxFuture<'static, Result<Box<dyn PluginProcess>, String>> {
        let spec = self.spec.clone();
        let options = self.options.clone();
        let task = self
            .runtime
            .spawn(async move { PluginHandle::start(&spec, &options).await });
        async move {
            let handle = task
                .await
                .map_err(|err| format!("start task failed: {err}"))?
                .map_err(|err| err.to_string())?;
            Ok(Box::new(HostedPlugin { handle }) as Box<dyn PluginProcess>)
        }
        .boxed()
    }

    fn attach(&self, process: &dyn PluginProcess) -> BoxFuture<'static, ()> {
        match process.as_any().downcast_ref::<HostedPlugin>() {
            Some(hosted) => (self.attach)(Some(&hosted.handle)),
            None => async {}.boxed(),
        }
    }

    fn detach(&self) -> BoxFuture<'static, ()> {
        (self.attach)(None)
    }

    fn previous_released(&self) -> BoxFuture<'static, ()> {
        match &self.released {
            Some(released) => released(),
            None => async {}.boxed(),
        }
    }
}
