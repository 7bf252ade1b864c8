//! Wiring an engine at start: validate the config, open the queues, start
//! every plugin process at once, then one actor per plugin (with its
//! supervisor launcher), the router over the notifiers' filters.

use super::{Engine, EngineError, NotifierEntry, ServiceEntry};
use crate::actor_thread::ActorThread;
use crate::clients;
use crate::config::{self, PluginConfig};
use crate::host::PluginHandle;
use crate::hosted::{AttachFn, HostedPlugin, ReleasedFn};
use crate::notifier_link::notifier_transport;
use crate::queues::QueueStore;
use crate::restarter::{Connections, Restarter};
use crate::settings::EngineSettings;
use actix::prelude::*;
use futures::FutureExt;
use plexus_actors::delivery::PluginQueues;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::NotifierActor;
use plexus_actors::router::{Router, Target};
use plexus_actors::service::{ServiceActor, SetClient};
use plexus_actors::supervisor::{PluginProcess, Supervise, Supervisor};
use plexus_actors::{PluginCounters, RetryPolicy};
use plexus_proto::PluginKind;
use std::sync::Arc;
use std::time::Duration;

/// A started plugin before its actor exists.
struct Started {
    index: usize,
    kind: PluginKind,
    handle: PluginHandle,
}

impl Engine {
    /// Validates the config, opens the queues, starts every plugin (one that
    /// fails to start fails the engine, as in SFTPGo, and the others are
    /// stopped again) and the actors.
    pub async fn start(
        plugins: Vec<PluginConfig>,
        mut settings: EngineSettings,
    ) -> Result<Engine, EngineError> {
        let problems = config::validate_plugins(&plugins);
        if !problems.is_empty() {
            return Err(EngineError::Config(problems));
        }
        let store = QueueStore::open(
            &settings.data_dir,
            settings.max_flush_delay,
            settings.write_ahead_fsync,
        )
        .await?;
        tokio::spawn(crate::storage_watch::watch(
            store.stall_watch(),
            store.path().to_owned(),
        ));
        // The store holds the data directory: plugins recorded there belong
        // to a host that is gone.
        settings.host.pid_records = Some(stop_orphans(&settings.data_dir)?);
        let labels = config::plugin_labels(&plugins);
        let started = start_plugins(&plugins, &labels, &settings).await?;
        let actors = ActorThread::start().await.map_err(EngineError::System)?;
        let runtime = tokio::runtime::Handle::current();
        let supervisor = actors
            .start_actor(
                Supervisor::new(settings.restart_backoff).with_health_check(settings.health_check),
            )
            .await
            .map_err(EngineError::System)?;

        let notifier_configs: Vec<&PluginConfig> = started
            .iter()
            .filter(|s| s.kind == PluginKind::Notifier)
            .map(|s| &plugins[s.index])
            .collect();
        let queue_names = queue_names(&notifier_configs);
        warn_unclaimed_queues(&store, &queue_names).await;
        let mut builder = Builder {
            settings: &settings,
            actors: &actors,
            runtime,
            supervisor: &supervisor,
            targets: Vec::new(),
            filters: Vec::new(),
            notifiers: Vec::new(),
            auth: Vec::new(),
            kms: Vec::new(),
            ipfilters: Vec::new(),
            searcher: None,
        };
        let mut queue_names = queue_names.into_iter();
        for started in started {
            let config = plugins[started.index].clone();
            let label = labels[started.index].clone();
            match started.kind {
                PluginKind::Notifier => {
                    let queue_name = queue_names.next().unwrap_or_default();
                    let queues = store
                        .plugin_queues(
                            &queue_name,
                            settings.durability == plexus_actors::Durability::WriteAhead,
                        )
                        .await?;
                    builder
                        .add_notifier(
                            started.index,
                            config,
                            label,
                            queue_name,
                            started.handle,
                            queues,
                        )
                        .await?;
                }
                PluginKind::Auth => {
                    let entry = builder
                        .add_service(
                            started.index,
                            config,
                            label,
                            started.handle,
                            clients::Auth::with_reply_limit,
                        )
                        .await?;
                    builder.auth.push(entry);
                }
                PluginKind::Kms => {
                    let entry = builder
                        .add_service(
                            started.index,
                            config,
                            label,
                            started.handle,
                            clients::Kms::with_reply_limit,
                        )
                        .await?;
                    builder.kms.push(entry);
                }
                PluginKind::IpFilter => {
                    let entry = builder
                        .add_service(
                            started.index,
                            config,
                            label,
                            started.handle,
                            clients::IpFilter::with_reply_limit,
                        )
                        .await?;
                    builder.ipfilters.push(entry);
                }
                PluginKind::EventSearcher => {
                    let entry = builder
                        .add_service(
                            started.index,
                            config,
                            label,
                            started.handle,
                            clients::Searcher::with_reply_limit,
                        )
                        .await?;
                    builder.searcher = Some(entry);
                }
            }
        }
        let Builder {
            targets,
            filters,
            notifiers,
            auth,
            kms,
            ipfilters,
            searcher,
            ..
        } = builder;
        let router = actors
            .start_actor(Router::new(
                RoutingTable::compile(&filters),
                targets,
                settings.router_mailbox,
                settings.overflow_wait,
            ))
            .await
            .map_err(EngineError::System)?;
        Ok(Engine {
            settings,
            router,
            notifiers,
            auth,
            kms,
            ipfilters,
            searcher,
            supervisor,
            actors,
            store,
            ingest: Default::default(),
        })
    }
}

/// Events left in queues no configured notifier will deliver are not lost
/// silently: the log says where they are and what to do.
async fn warn_unclaimed_queues(store: &QueueStore, claimed: &[String]) {
    match store.unclaimed(claimed).await {
        Ok(unclaimed) => {
            for (queue, events) in unclaimed {
                tracing::warn!(
                    "queue {queue} holds {events} events that no configured notifier will deliver (its entry was removed, or its cmd or args changed); restore the entry to deliver them, or `plexus queue drop --plugin {queue}` to discard them"
                );
            }
        }
        Err(err) => tracing::warn!("cannot look for unclaimed queues: {err}"),
    }
}

/// Opens `<data_dir>/plugins` and kills the plugins a crashed host left
/// running there (see [`crate::host::pid_records`]).
fn stop_orphans(
    data_dir: &std::path::Path,
) -> Result<Arc<crate::host::pid_records::PidRecords>, EngineError> {
    let dir = data_dir.join("plugins");
    let problem = |err: std::io::Error| EngineError::PidRecords {
        dir: dir.clone(),
        source: err,
    };
    let records = crate::host::pid_records::PidRecords::open(&dir).map_err(problem)?;
    for orphan in records.stop_orphans().map_err(problem)? {
        tracing::warn!(
            "[{}] killed plugin process {} left running by a previous host",
            crate::host::sanitize::escape_controls(&orphan.cmd),
            orphan.pid
        );
    }
    Ok(Arc::new(records))
}

/// Starts every plugin at once; if one fails, stops the others and reports
/// the first failure in config order.
async fn start_plugins(
    plugins: &[PluginConfig],
    labels: &[String],
    settings: &EngineSettings,
) -> Result<Vec<Started>, EngineError> {
    let mut specs = Vec::new();
    for ((index, plugin), label) in plugins.iter().enumerate().zip(labels) {
        let mut spec = plugin
            .launch_spec()
            .map_err(|err| EngineError::Config(vec![format!("plugins[{index}]: {err}")]))?;
        spec.label = label.clone();
        specs.push((index, spec));
    }
    let starts = specs.iter().map(|(index, spec)| async move {
        (
            *index,
            spec.kind,
            PluginHandle::start(spec, &settings.host).await,
        )
    });
    let results = futures::future::join_all(starts).await;
    let mut started = Vec::new();
    let mut first_error = None;
    for (index, kind, result) in results {
        match result {
            Ok(handle) => started.push(Started {
                index,
                kind,
                handle,
            }),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        for plugin in started {
            let _ = plugin.handle.shutdown().await;
        }
        return Err(err.into());
    }
    Ok(started)
}

/// Collects actors while the engine starts.
struct Builder<'a> {
    settings: &'a EngineSettings,
    actors: &'a ActorThread,
    runtime: tokio::runtime::Handle,
    supervisor: &'a Addr<Supervisor>,
    targets: Vec<Target>,
    filters: Vec<NotifierFilter>,
    notifiers: Vec<NotifierEntry>,
    auth: Vec<ServiceEntry<clients::Auth>>,
    kms: Vec<ServiceEntry<clients::Kms>>,
    ipfilters: Vec<ServiceEntry<clients::IpFilter>>,
    searcher: Option<ServiceEntry<clients::Searcher>>,
}

impl Builder<'_> {
    async fn supervise(
        &self,
        config: &PluginConfig,
        label: &str,
        handle: PluginHandle,
        counters: &Arc<PluginCounters>,
        attach: AttachFn,
        released: Option<ReleasedFn>,
    ) -> Result<Restarter, EngineError> {
        let mut spec = config
            .launch_spec()
            .map_err(|err| EngineError::Config(vec![err]))?;
        spec.label = label.to_owned();
        // Known from now on, not only once the supervisor's task runs.
        counters.pid.store(
            u64::from(handle.pid()),
            std::sync::atomic::Ordering::Relaxed,
        );
        let restarter = Restarter {
            control: None,
            options: self.settings.host.clone(),
            runtime: self.runtime.clone(),
            attach,
            released,
            label: label.to_owned(),
        };
        let launcher = restarter.launcher(spec);
        let control = self
            .supervisor
            .send(Supervise {
                name: Arc::from(config.cmd.as_str()),
                launcher,
                process: Box::new(HostedPlugin { handle }) as Box<dyn PluginProcess>,
                counters: counters.clone(),
            })
            .await
            .map_err(|source| EngineError::Mailbox {
                actor: "the supervisor",
                source,
            })?;
        Ok(Restarter {
            control: Some(control),
            ..restarter
        })
    }

    async fn add_notifier(
        &mut self,
        index: usize,
        config: PluginConfig,
        label: String,
        queue_name: String,
        handle: PluginHandle,
        queues: PluginQueues,
    ) -> Result<(), EngineError> {
        let options = &config.notifier_options;
        let policy = RetryPolicy::from_sftpgo(options.retry_max_time, options.retry_queue_max_size);
        let mut settings = self.settings.notifier(&config.cmd, policy);
        // Calls are polled on the runtime that drives their connection.
        settings.lane_runtime = Some(self.runtime.clone());
        let counters: Arc<PluginCounters> = Arc::default();
        let rpc_timeout = self.settings.rpc_timeout;
        let max_reply_bytes = self.settings.max_reply_bytes;
        let batching = self.settings.batch_deliveries;
        let (transport, batched) = notifier_transport(
            handle.name(),
            handle.channel(),
            handle.dialer(),
            rpc_timeout,
            max_reply_bytes,
            batching,
        )
        .await;
        counters
            .batched
            .store(u64::from(batched), std::sync::atomic::Ordering::Relaxed);
        let connections = Arc::new(Connections::default());
        connections.attached(&transport);
        let actor = NotifierActor::new(settings, Some(transport), queues, counters.clone());
        let notifier = actor.handle();
        // What a stopped host left written ahead is delivered first.
        let ledger = notifier.ledger.clone();
        let moved = tokio::task::spawn_blocking(move || ledger.recover())
            .await
            .map_err(|source| EngineError::Task {
                task: "write-ahead recovery",
                source,
            })?
            .map_err(|err| {
                EngineError::Queue(crate::queues::QueueStoreError::Recovery {
                    plugin: config.cmd.clone(),
                    source: err,
                })
            })?;
        if moved > 0 {
            tracing::info!(
                "[{}] {moved} events accepted before the last stop will be delivered again",
                config.cmd
            );
        }
        let actor = self
            .actors
            .start_actor(actor)
            .await
            .map_err(EngineError::System)?;
        let attach_to = notifier.clone();
        let plugin_counters = counters.clone();
        let tracked = connections.clone();
        let attach: AttachFn = Arc::new(move |handle: Option<&PluginHandle>| {
            let notifier = attach_to.clone();
            let Some(handle) = handle else {
                tracked.detached();
                notifier.connect(None);
                return futures::future::ready(()).boxed();
            };
            let (name, channel, dialer) =
                (handle.name().to_owned(), handle.channel(), handle.dialer());
            let counters = plugin_counters.clone();
            let tracked = tracked.clone();
            async move {
                let (transport, batched) = notifier_transport(
                    &name,
                    channel,
                    dialer,
                    rpc_timeout,
                    max_reply_bytes,
                    batching,
                )
                .await;
                counters
                    .batched
                    .store(u64::from(batched), std::sync::atomic::Ordering::Relaxed);
                tracked.attached(&transport);
                notifier.connect(Some(transport));
            }
            .boxed()
        });
        // Calls on a replaced connection may take up to the RPC deadline.
        let deadline = rpc_timeout + Duration::from_secs(1);
        let released: ReleasedFn = Arc::new(move || {
            let connections = connections.clone();
            async move { connections.previous_released(deadline).await }.boxed()
        });
        let restarter = self
            .supervise(&config, &label, handle, &counters, attach, Some(released))
            .await?;
        self.filters.push(NotifierFilter {
            fs_events: options.fs_events.clone(),
            provider_events: options.provider_events.clone(),
            provider_objects: options.provider_objects.clone(),
            log_events: options.log_events.clone(),
        });
        self.targets.push(Target {
            addr: actor,
            handle: notifier.clone(),
        });
        self.notifiers.push(NotifierEntry {
            index,
            handle: notifier,
            label,
            queue_name,
            restarter,
            config: std::sync::Mutex::new(config),
        });
        Ok(())
    }

    async fn add_service<C>(
        &mut self,
        index: usize,
        config: PluginConfig,
        label: String,
        handle: PluginHandle,
        make_client: fn(tonic::transport::Channel, Duration, usize) -> C,
    ) -> Result<ServiceEntry<C>, EngineError>
    where
        C: Clone + Unpin + Send + 'static,
    {
        let timeout = self.settings.rpc_timeout;
        let max_reply_bytes = self.settings.max_reply_bytes;
        let client = make_client(handle.channel(), timeout, max_reply_bytes);
        let actor = self
            .actors
            .start_actor(ServiceActor::new(
                &config.cmd,
                Some(client),
                self.settings.mailbox_capacity,
                self.settings.max_in_flight,
            ))
            .await
            .map_err(EngineError::System)?;
        let counters: Arc<PluginCounters> = Arc::default();
        let attach_to = actor.clone();
        let attach: AttachFn = Arc::new(move |handle: Option<&PluginHandle>| {
            let client = handle.map(|h| make_client(h.channel(), timeout, max_reply_bytes));
            let actor = attach_to.clone();
            async move {
                let _ = actor.send(SetClient(client)).await;
            }
            .boxed()
        });
        let restarter = self
            .supervise(&config, &label, handle, &counters, attach, None)
            .await?;
        Ok(ServiceEntry {
            index,
            name: Arc::from(config.cmd.as_str()),
            label,
            restarter,
            actor,
            counters,
            running: std::sync::Mutex::new(config.clone()),
            config,
        })
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
