//! The `Engine`: the embedding API. It starts every configured plugin, the
//! actors and the durable queues, takes events in, and stops it all again.
//!
//! The actors run on their own actix system thread; plugin processes and
//! their gRPC channels are driven by the caller's tokio runtime. Producers
//! talk to the router through its bounded mailbox: `notify_*` returns once
//! the event is accepted (routed, and with `write_ahead`, durable).

use crate::config::PluginConfig;
use crate::host::{HostError, PluginHandle};
use crate::notifier_link::{NotifierLauncher, NotifierProcess};
use crate::queues::QueueStore;
use crate::settings::EngineSettings;
use actix::prelude::*;
use plexus_actors::event::Event;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::{Drain, NotifierActor, PluginQueues};
use plexus_actors::retry::{RedriveAll, RetryDriver};
use plexus_actors::router::{Publish, PublishReceipt, Router, Target};
use plexus_actors::supervisor::{PluginProcess, StopAll, Supervise, Supervisor};
use plexus_actors::{CounterSnapshot, PluginCounters, RetryPolicy};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::PluginKind;
use std::sync::Arc;
use std::time::Duration;

/// Why the engine could not start or take an event.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Config(Vec<String>),
    #[error(transparent)]
    Plugin(#[from] HostError),
    #[error("queue: {0}")]
    Queue(String),
    #[error("the engine is shutting down")]
    Stopped,
    #[error("{0}")]
    Rejected(String),
    #[error("actor system: {0}")]
    System(String),
}

/// A notifier's statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStats {
    pub name: String,
    pub kind: PluginKind,
    pub counters: CounterSnapshot,
}

struct NotifierEntry {
    name: Arc<str>,
    actor: Addr<NotifierActor>,
    counters: Arc<PluginCounters>,
    queues: PluginQueues,
}

/// A running Plexus engine.
pub struct Engine {
    router: Addr<Router>,
    notifiers: Vec<NotifierEntry>,
    retry_driver: Addr<RetryDriver>,
    supervisor: Addr<Supervisor>,
    system: actix::System,
    system_thread: Option<std::thread::JoinHandle<()>>,
    store: QueueStore,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("notifiers", &self.notifiers.len())
            .finish_non_exhaustive()
    }
}

/// What the actor thread hands back once its actors are up.
struct Started {
    router: Addr<Router>,
    actors: Vec<Addr<NotifierActor>>,
    retry_driver: Addr<RetryDriver>,
    supervisor: Addr<Supervisor>,
    system: actix::System,
}

impl Engine {
    /// Validates the config, opens the queues, starts every plugin (a plugin
    /// that fails to start fails the engine, as in SFTPGo) and the actors.
    pub async fn start(
        plugins: Vec<PluginConfig>,
        settings: EngineSettings,
    ) -> Result<Engine, EngineError> {
        let problems: Vec<String> = plugins
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.problems(&format!("plugins[{i}]")))
            .collect();
        if !problems.is_empty() {
            return Err(EngineError::Config(problems));
        }
        let notifier_configs: Vec<&PluginConfig> = plugins
            .iter()
            .filter(|p| p.plugin_kind() == Ok(PluginKind::Notifier))
            .collect();

        let store = QueueStore::open(&settings.data_dir.join("queue"), settings.max_flush_delay)
            .await
            .map_err(EngineError::Queue)?;
        let names = queue_names(&notifier_configs);
        let mut queues = Vec::new();
        for name in &names {
            let plugin_queues = store
                .plugin_queues(name)
                .await
                .map_err(EngineError::Queue)?;
            let recovery = plugin_queues.clone();
            let moved = tokio::task::spawn_blocking(move || recovery.recover_write_ahead())
                .await
                .map_err(|err| EngineError::Queue(err.to_string()))?
                .map_err(|err| EngineError::Queue(err.to_string()))?;
            if moved > 0 {
                tracing::info!("queue {name}: {moved} events accepted before the last stop will be delivered again");
            }
            queues.push(plugin_queues);
        }

        let mut processes = Vec::new();
        for config in &notifier_configs {
            let spec = config
                .launch_spec()
                .map_err(|e| EngineError::Config(vec![e]))?;
            match PluginHandle::start(&spec, &settings.host).await {
                Ok(handle) => {
                    processes.push((spec, NotifierProcess::new(handle, settings.rpc_timeout)))
                }
                Err(err) => {
                    for (_, process) in processes {
                        let boxed: Box<dyn PluginProcess> = Box::new(process);
                        boxed.stop().await;
                    }
                    return Err(err.into());
                }
            }
        }

        let counters: Vec<Arc<PluginCounters>> =
            notifier_configs.iter().map(|_| Arc::default()).collect();
        let filters: Vec<NotifierFilter> = notifier_configs
            .iter()
            .map(|c| NotifierFilter {
                fs_events: c.notifier_options.fs_events.clone(),
                provider_events: c.notifier_options.provider_events.clone(),
                provider_objects: c.notifier_options.provider_objects.clone(),
                log_events: c.notifier_options.log_events.clone(),
            })
            .collect();
        let actor_settings: Vec<_> = notifier_configs
            .iter()
            .map(|c| {
                let policy = RetryPolicy::from_sftpgo(
                    c.notifier_options.retry_max_time,
                    c.notifier_options.retry_queue_max_size,
                );
                settings.notifier(&c.cmd, policy)
            })
            .collect();
        let transports: Vec<_> = processes.iter().map(|(_, p)| p.transport()).collect();

        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let thread_queues = queues.clone();
        let thread_counters = counters.clone();
        let retry_interval = settings.retry_interval;
        let router_mailbox = settings.router_mailbox;
        let backoff = settings.restart_backoff;
        let system_thread = std::thread::Builder::new()
            .name("plexus-actors".into())
            .spawn(move || {
                let system = actix::System::new();
                system.block_on(async move {
                    let mut actors = Vec::new();
                    let mut targets = Vec::new();
                    for (((settings, transport), queues), counters) in actor_settings
                        .into_iter()
                        .zip(transports)
                        .zip(thread_queues)
                        .zip(thread_counters)
                    {
                        let durability = settings.durability;
                        let name: Arc<str> = Arc::from(settings.name.as_str());
                        let actor = NotifierActor::new(
                            settings,
                            Some(transport),
                            queues.clone(),
                            counters.clone(),
                        )
                        .start();
                        targets.push(Target {
                            name,
                            addr: actor.clone(),
                            queues,
                            counters,
                            durability,
                        });
                        actors.push(actor);
                    }
                    let router =
                        Router::new(RoutingTable::compile(&filters), targets, router_mailbox)
                            .start();
                    let retry_driver = RetryDriver::new(actors.clone(), retry_interval).start();
                    let supervisor = Supervisor::new(backoff).start();
                    let _ = started_tx.send(Started {
                        router,
                        actors,
                        retry_driver,
                        supervisor,
                        system: actix::System::current(),
                    });
                });
                if let Err(err) = system.run() {
                    tracing::error!("actor system stopped with an error: {err}");
                }
            })
            .map_err(|err| EngineError::System(err.to_string()))?;
        let started = started_rx
            .await
            .map_err(|_| EngineError::System("the actor thread did not start".into()))?;

        let runtime = tokio::runtime::Handle::current();
        let mut notifiers = Vec::new();
        for ((((spec, process), actor), counters), queues) in processes
            .into_iter()
            .zip(started.actors)
            .zip(counters)
            .zip(queues)
        {
            let name: Arc<str> = Arc::from(spec.cmd.as_str());
            let launcher = Arc::new(NotifierLauncher {
                spec,
                options: settings.host.clone(),
                rpc_timeout: settings.rpc_timeout,
                runtime: runtime.clone(),
            });
            started
                .supervisor
                .send(Supervise {
                    name: name.clone(),
                    launcher,
                    process: Box::new(process),
                    actor: actor.clone(),
                    counters: counters.clone(),
                })
                .await
                .map_err(|err| EngineError::System(err.to_string()))?;
            notifiers.push(NotifierEntry {
                name,
                actor,
                counters,
                queues,
            });
        }

        Ok(Engine {
            router: started.router,
            notifiers,
            retry_driver: started.retry_driver,
            supervisor: started.supervisor,
            system: started.system,
            system_thread: Some(system_thread),
            store,
        })
    }

    /// Publishes one event to every notifier whose filter matches it.
    pub async fn notify(&self, event: Event) -> Result<PublishReceipt, EngineError> {
        self.router
            .send(Publish(event))
            .await
            .map_err(|_| EngineError::Stopped)?
            .map_err(|err| EngineError::Rejected(err.to_string()))
    }

    pub async fn notify_fs(&self, event: FsEvent) -> Result<PublishReceipt, EngineError> {
        self.notify(Event::Fs(event)).await
    }

    pub async fn notify_provider(
        &self,
        event: ProviderEvent,
    ) -> Result<PublishReceipt, EngineError> {
        self.notify(Event::Provider(event)).await
    }

    pub async fn notify_log(&self, event: LogEvent) -> Result<PublishReceipt, EngineError> {
        self.notify(Event::Log(event)).await
    }

    /// Counters and queue length of every notifier.
    pub fn stats(&self) -> Vec<PluginStats> {
        self.notifiers
            .iter()
            .map(|n| PluginStats {
                name: n.name.to_string(),
                kind: PluginKind::Notifier,
                counters: n.counters.snapshot(n.queues.retry.len()),
            })
            .collect()
    }

    /// Re-drives every retry queue now instead of at the next tick.
    pub async fn redrive_now(&self) {
        let _ = self.retry_driver.send(RedriveAll).await;
    }

    /// Waits until every event accepted so far is delivered, queued or
    /// dropped; `false` if `timeout` passed first.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let mut all = true;
        for notifier in &self.notifiers {
            all &= notifier
                .actor
                .send(Drain { timeout })
                .await
                .unwrap_or(false);
        }
        all
    }

    /// Drains in-flight work within `deadline`, stops every plugin
    /// gracefully, stops the actors and flushes the queues.
    pub async fn shutdown(mut self, deadline: Duration) {
        if !self.drain(deadline).await {
            tracing::warn!("shutdown: deliveries still in flight after {deadline:?}; they are queued for retry where the policy allows");
        }
        let _ = self.supervisor.send(StopAll).await;
        // Deliveries cut short by the stop settle into the queue now.
        let _ = self.drain(Duration::from_secs(5)).await;
        self.system.stop();
        if let Some(thread) = self.system_thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Err(err) = self.store.flush().await {
            tracing::warn!("shutdown: final queue flush failed: {err}");
        }
    }
}

/// Stable queue names: the executable's name and a digest of cmd and args,
/// so reordering the config keeps each plugin's queue.
fn queue_names(configs: &[&PluginConfig]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut names: Vec<String> = Vec::new();
    for config in configs {
        let mut hasher = Sha256::new();
        hasher.update(config.cmd.as_bytes());
        for arg in &config.args {
            hasher.update([0u8]);
            hasher.update(arg.as_bytes());
        }
        let digest = hex::encode(&hasher.finalize()[..4]);
        let base = std::path::Path::new(&config.cmd)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let mut name = format!("{base}.{digest}");
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}.{digest}.{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}
