//! The supervisor: restarts notifier plugins whose process exits.
//!
//! For each plugin it waits for the process to exit, has the launcher tell
//! the plugin's actor the connection is gone (a notifier's deliveries then
//! fail fast into its retry queue), and starts the plugin again with
//! exponential backoff, capped, each start re-verifying the checksum (the
//! launcher's job). The launcher hands the new connection to the actor (a
//! notifier re-drives its queue at once). Every restart is logged with the
//! exit status and counted. It works for every plugin kind: what a
//! connection is, and who uses it, is the launcher's business.

use crate::counters::PluginCounters;
use actix::prelude::*;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A running plugin process, as the supervisor needs it.
pub trait PluginProcess: Send + Sync + 'static {
    fn pid(&self) -> u32;
    /// For the launcher, to reach its own process type.
    fn as_any(&self) -> &dyn std::any::Any;
    /// Resolves when the process exits, with a description of how.
    fn exited(&self) -> BoxFuture<'static, String>;
    /// Stops the process gracefully.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Starts a plugin process (verifying its checksum, handshaking, connecting)
/// and connects it to the actor that uses it.
pub trait Launcher: Send + Sync + 'static {
    fn launch(&self) -> BoxFuture<'static, Result<Box<dyn PluginProcess>, String>>;
    /// Hands a (re)started process's connection to the plugin's actor.
    fn attach(&self, process: &dyn PluginProcess) -> BoxFuture<'static, ()>;
    /// Tells the plugin's actor the process is gone.
    fn detach(&self) -> BoxFuture<'static, ()>;
}

/// Restart timing.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// A process that ran at least this long restarts after `initial` again.
    pub stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        }
    }
}

/// Watch this plugin from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Supervise {
    pub name: Arc<str>,
    pub launcher: Arc<dyn Launcher>,
    pub process: Box<dyn PluginProcess>,
    pub counters: Arc<PluginCounters>,
}

/// Stop restarting and stop every plugin gracefully.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

pub struct Supervisor {
    backoff: Backoff,
    stop: watch::Sender<bool>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Supervisor {
    pub fn new(backoff: Backoff) -> Self {
        Supervisor {
            backoff,
            stop: watch::channel(false).0,
            loops: Vec::new(),
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;
}

impl Handler<Supervise> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: Supervise, _: &mut Context<Self>) {
        let stop = self.stop.subscribe();
        let backoff = self.backoff;
        self.loops
            .push(actix::spawn(watch_plugin(msg, backoff, stop)));
    }
}

impl Handler<StopAll> for Supervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: StopAll, _: &mut Context<Self>) -> Self::Result {
        let _ = self.stop.send(true);
        let loops = std::mem::take(&mut self.loops);
        Box::pin(async move {
            for task in loops {
                let _ = task.await;
            }
        })
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the supervisor is gone: stop too.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

async fn watch_plugin(msg: Supervise, backoff: Backoff, mut stop: watch::Receiver<bool>) {
    let Supervise {
        name,
        launcher,
        process,
        counters,
    } = msg;
    let mut process = process;
    counters.pid.store(
        u64::from(process.pid()),
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut started = Instant::now();
    let mut delay = backoff.initial;
    loop {
        let exited = process.exited();
        let status = tokio::select! {
            status = exited => status,
            () = stopped(&mut stop) => {
                process.stop().await;
                return;
            }
        };
        counters.pid.store(0, std::sync::atomic::Ordering::Relaxed);
        launcher.detach().await;
        if started.elapsed() >= backoff.stable_after {
            delay = backoff.initial;
        }
        tracing::warn!(
            plugin = &*name,
            "[{name}] plugin exited ({status}); restarting in {delay:?}"
        );
        process = loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(&mut stop) => return,
            }
            delay = (delay * 2).min(backoff.max);
            match launcher.launch().await {
                Ok(process) => break process,
                Err(err) => {
                    tracing::error!(
                        plugin = &*name,
                        "[{name}] unable to restart the plugin: {err}; next try in {delay:?}"
                    );
                }
            }
        };
        started = Instant::now();
        PluginCounters::incr(&counters.restarts);
        counters.pid.store(
            u64::from(process.pid()),
            std::sync::atomic::Ordering::Relaxed,
        );
        tracing::info!(plugin = &*name, "[{name}] plugin restarted");
        launcher.attach(&*process).await;
    }
}
