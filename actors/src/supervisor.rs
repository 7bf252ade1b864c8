//! The supervisor: restarts plugins whose process exits or hangs.
//!
//! For each plugin it waits for the process to exit, has the launcher tell
//! the plugin's actor the connection is gone (a notifier's deliveries then
//! fail fast into its retry queue), and starts the plugin again with
//! exponential backoff, capped, each start re-verifying the checksum (the
//! launcher's job). The launcher hands the new connection to the actor (a
//! notifier re-drives its queue at once). Every restart is logged with the
//! exit status and counted. It works for every plugin kind: what a
//! connection is, and who uses it, is the launcher's business.
//!
//! A process that stops answering without exiting (SIGSTOP, a deadlock)
//! would otherwise hold its plugin down for ever: every call times out and
//! nothing restarts it. So the supervisor also asks each process for its
//! health every [`HealthCheck::interval`]; after
//! [`HealthCheck::failure_threshold`] checks in a row without a healthy
//! answer it kills the process and restarts it the same way, counting the
//! restart in `restarts` and in `hung_restarts`.
//!
//! A config reload that changes how a plugin is started (`cmd`, `args`,
//! environment...) replaces its process through the [`PluginControl`]
//! [`Supervise`] returns: the new process starts first (the old one keeps
//! serving if it cannot), takes over the plugin's actor, and the old one
//! stops once the calls it had in flight ended.

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
    /// Asks the process whether it serves, within `timeout`. The default
    /// answers yes: a process type without a health service is only
    /// watched for its exit.
    fn check_health(&self, timeout: Duration) -> BoxFuture<'static, Result<(), String>> {
        let _ = timeout;
        Box::pin(async { Ok(()) })
    }
    /// Kills the process at once (it does not answer, so a graceful stop
    /// would only wait) and resolves with how it exited.
    fn kill(self: Box<Self>) -> BoxFuture<'static, String> {
        let exited = self.exited();
        Box::pin(async move {
            self.stop().await;
            exited.await
        })
    }
}

/// How often a plugin is asked for its health, and after how many failed
/// checks in a row it is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between checks; also the time one check may take.
    pub interval: Duration,
    /// Failed checks in a row that make the supervisor restart the plugin.
    pub failure_threshold: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            interval: Duration::from_secs(10),
            failure_threshold: 3,
        }
    }
}

/// Starts a plugin process (verifying its checksum, handshaking, connecting)
/// and connects it to the actor that uses it.
pub trait Launcher: Send + Sync + 'static {
    fn launch(&self) -> BoxFuture<'static, Result<Box<dyn PluginProcess>, String>>;
    /// Hands a (re)started process's connection to the plugin's actor.
    fn attach(&self, process: &dyn PluginProcess) -> BoxFuture<'static, ()>;
    /// Tells the plugin's actor the process is gone.
    fn detach(&self) -> BoxFuture<'static, ()>;
    /// After [`Launcher::attach`] handed the actor a new process while an
    /// old one still ran: resolves once nothing uses the old process's
    /// connection any more (calls in flight on it ended), or at the
    /// launcher's deadline. The default resolves at once.
    fn previous_released(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
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

/// Watch this plugin from now on; the answer replaces its process later.
#[derive(Message)]
#[rtype(result = "PluginControl")]
pub struct Supervise {
    pub name: Arc<str>,
    pub launcher: Arc<dyn Launcher>,
    pub process: Box<dyn PluginProcess>,
    pub counters: Arc<PluginCounters>,
}

/// A request to replace a supervised plugin's process.
struct Replace {
    launcher: Arc<dyn Launcher>,
    answer: tokio::sync::oneshot::Sender<Result<u32, String>>,
}

/// Replaces one supervised plugin's process (a config reload).
#[derive(Clone)]
pub struct PluginControl {
    requests: tokio::sync::mpsc::Sender<Replace>,
}

impl PluginControl {
    /// Starts the plugin with `launcher` (from now on also its restarts),
    /// hands the new process to the plugin's actor, then stops the old one
    /// once its calls in flight ended. Resolves with the new process id;
    /// if the new process cannot start, the old one keeps running and the
    /// error says why.
    pub async fn replace(&self, launcher: Arc<dyn Launcher>) -> Result<u32, String> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.requests
            .send(Replace { launcher, answer })
            .await
            .map_err(|_| {
                "the plugin is no longer supervised (the engine is stopping)".to_owned()
            })?;
        answered
            .await
            .map_err(|_| "the supervisor stopped before the plugin was replaced".to_owned())?
    }
}

/// Stop restarting and stop every plugin gracefully.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

pub struct Supervisor {
    backoff: Backoff,
    health: HealthCheck,
    stop: watch::Sender<bool>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Supervisor {
    /// A supervisor with the default health check ([`HealthCheck::default`]).
    pub fn new(backoff: Backoff) -> Self {
        Supervisor {
            backoff,
            health: HealthCheck::default(),
            stop: watch::channel(false).0,
            loops: Vec::new(),
        }
    }

    /// Checks each plugin's health as `health` says.
    pub fn with_health_check(mut self, health: HealthCheck) -> Self {
        self.health = health;
        self
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;
}

impl Handler<Supervise> for Supervisor {
    type Result = MessageResult<Supervise>;

    fn handle(&mut self, msg: Supervise, _: &mut Context<Self>) -> Self::Result {
        let stop = self.stop.subscribe();
        let (backoff, health) = (self.backoff, self.health);
        let (requests, replacements) = tokio::sync::mpsc::channel(1);
        self.loops.push(actix::spawn(watch_plugin(
            msg,
            backoff,
            health,
            stop,
            replacements,
        )));
        MessageResult(PluginControl { requests })
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

/// Resolves once `health.failure_threshold` checks in a row failed, with
/// the last failure.
async fn hung(process: &dyn PluginProcess, health: HealthCheck, name: &str) -> String {
    let threshold = health.failure_threshold.max(1);
    let mut failures = 0u32;
    // Checks start on a fixed beat, so a check that times out (it may take
    // a whole interval) does not push the next one back: a hung plugin is
    // detected after about `threshold + 1` intervals.
    let mut beat = tokio::time::interval_at(
        tokio::time::Instant::now() + health.interval,
        health.interval,
    );
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        beat.tick().await;
        let answer = tokio::time::timeout(health.interval, process.check_health(health.interval))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer to the health check within {:?}",
                    health.interval
                ))
            });
        match answer {
            Ok(()) => failures = 0,
            Err(err) => {
                failures += 1;
                tracing::warn!(
                    plugin = name,
                    "[{name}] health check {failures} of {threshold} failed: {err}"
                );
                if failures >= threshold {
                    return err;
                }
            }
        }
    }
}

/// What ended the wait on a running process.
enum Woke {
    Exited(String),
    Hung(String),
    Replace(Replace),
    Stop,
}

/// Starts the replacement, hands it to the actor and stops `old` once its
/// calls ended; on failure gives `old` back.
async fn replace_process(
    name: &str,
    old: Box<dyn PluginProcess>,
    launcher: &Arc<dyn Launcher>,
) -> Result<Box<dyn PluginProcess>, (Box<dyn PluginProcess>, String)> {
    let new = match launcher.launch().await {
        Ok(new) => new,
        Err(err) => return Err((old, err)),
    };
    launcher.attach(&*new).await;
    launcher.previous_released().await;
    let old_pid = old.pid();
    old.stop().await;
    tracing::info!(
        plugin = name,
        "[{name}] plugin replaced after a config change (process {old_pid} stopped, {} started)",
        new.pid()
    );
    Ok(new)
}

async fn watch_plugin(
    msg: Supervise,
    backoff: Backoff,
    health: HealthCheck,
    mut stop: watch::Receiver<bool>,
    mut replacements: tokio::sync::mpsc::Receiver<Replace>,
) {
    let Supervise {
        name,
        mut launcher,
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
        let woke = tokio::select! {
            status = exited => Woke::Exited(status),
            last = hung(&*process, health, &name) => Woke::Hung(last),
            Some(replace) = replacements.recv() => Woke::Replace(replace),
            () = stopped(&mut stop) => Woke::Stop,
        };
        let status = match woke {
            Woke::Replace(Replace {
                launcher: replacement,
                answer,
            }) => {
                let outcome = match replace_process(&name, process, &replacement).await {
                    Ok(new) => {
                        process = new;
                        launcher = replacement;
                        started = Instant::now();
                        delay = backoff.initial;
                        counters.pid.store(
                            u64::from(process.pid()),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        Ok(process.pid())
                    }
                    Err((old, err)) => {
                        process = old;
                        Err(err)
                    }
                };
                let _ = answer.send(outcome);
                continue;
            }
            Woke::Exited(status) => status,
            Woke::Hung(last) => {
                tracing::error!(
                    plugin = &*name,
                    "[{name}] plugin does not answer ({} health checks failed, the last: {last}); killing it",
                    health.failure_threshold.max(1)
                );
                PluginCounters::incr(&counters.hung_restarts);
                let status = process.kill().await;
                format!("killed, hung: {status}")
            }
            Woke::Stop => {
                process.stop().await;
                return;
            }
        };
        counters.pid.store(0, std::sync::atomic::Ordering::Relaxed);
        counters.record_error(format!("plugin process exited: {status}"));
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
