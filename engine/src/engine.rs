//! The `Engine`: the embedding API. It starts every configured plugin, one
//! actor per plugin, the router, the retry driver, the supervisor and the
//! durable queues; it takes events and requests in, and stops it all again.
//!
//! The actors run on their own actix system thread; plugin processes and
//! their gRPC channels are driven by the caller's tokio runtime. Producers
//! talk to the router through its bounded mailbox: `notify_*` returns once
//! the event is accepted (routed, and with `write_ahead`, durable).
//! Request/response plugins are called through their actors' mailboxes with
//! the policies SFTPGo applies (see each method).

use crate::actor_thread::ActorThread;
use crate::clients;
use crate::config::{self, PluginConfig};
use crate::host::{HostError, PluginHandle};
use crate::hosted::{AttachFn, HostedLauncher, HostedPlugin};
use crate::notifier_link::notifier_transport;
use crate::queues::QueueStore;
use crate::settings::EngineSettings;
use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::{Connect, Drain, NotifierActor, PluginQueues};
use plexus_actors::retry::{RedriveAll, RetryDriver};
use plexus_actors::router::{Publish, PublishBatch, PublishReceipt, Router, Target};
use plexus_actors::service::{Call, CallError, ServiceActor, SetClient};
use plexus_actors::supervisor::{PluginProcess, StopAll, Supervise, Supervisor};
use plexus_actors::{CounterSnapshot, PluginCounters, RetryPolicy};
use plexus_proto::sftpgo::{
    CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest, CheckUserAndPublicKeyRequest,
    CheckUserAndTlsCertRequest, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse,
    FsEvent, FsEventsFilter, KeyboardAuthRequest, KeyboardAuthResponse, LogEvent, LogEventsFilter,
    ProviderEvent, ProviderEventsFilter,
};
use plexus_proto::PluginKind;
use std::sync::Arc;
use std::time::Duration;

/// Why the engine could not start, or could not answer.
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
    #[error("event not accepted: {0}")]
    Rejected(String),
    #[error("actor system: {0}")]
    System(String),
    /// No configured plugin serves this request (SFTPGo's wording).
    #[error("{0}")]
    NoPlugin(String),
    /// The plugin could not be called or answered with an error.
    #[error(transparent)]
    Call(#[from] CallError),
    /// An IP filter denied the address.
    #[error("ip {ip} denied by {plugin}: {reason}")]
    Denied {
        ip: String,
        plugin: String,
        reason: String,
    },
}

/// One plugin's statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStats {
    pub name: String,
    pub kind: PluginKind,
    /// Delivery counters (notifiers) and restarts/pid (every kind).
    pub counters: CounterSnapshot,
}

struct NotifierEntry {
    name: Arc<str>,
    actor: Addr<NotifierActor>,
    counters: Arc<PluginCounters>,
    queues: PluginQueues,
}

struct ServiceEntry<C: Unpin + 'static> {
    name: Arc<str>,
    actor: Addr<ServiceActor<C>>,
    counters: Arc<PluginCounters>,
    config: PluginConfig,
}

impl<C: Clone + Unpin + Send + 'static> ServiceEntry<C> {
    async fn call<R: Send + 'static>(
        &self,
        call: impl FnOnce(C) -> BoxFuture<'static, Result<R, tonic::Status>> + Send + 'static,
    ) -> Result<R, EngineError> {
        self.actor
            .send(Call::new(call))
            .await
            .map_err(|_| EngineError::Stopped)?
            .map_err(EngineError::from)
    }
}

/// A running Plexus engine.
pub struct Engine {
    settings: EngineSettings,
    router: Addr<Router>,
    notifiers: Vec<NotifierEntry>,
    auth: Vec<ServiceEntry<clients::Auth>>,
    kms: Vec<ServiceEntry<clients::Kms>>,
    ipfilters: Vec<ServiceEntry<clients::IpFilter>>,
    searcher: Option<ServiceEntry<clients::Searcher>>,
    retry_driver: Addr<RetryDriver>,
    supervisor: Addr<Supervisor>,
    actors: ActorThread,
    store: QueueStore,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("notifiers", &self.notifiers.len())
            .field("auth", &self.auth.len())
            .field("kms", &self.kms.len())
            .field("ipfilters", &self.ipfilters.len())
            .field("searcher", &self.searcher.is_some())
            .finish_non_exhaustive()
    }
}

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
        settings: EngineSettings,
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
        .await
        .map_err(EngineError::Queue)?;
        let started = start_plugins(&plugins, &settings).await?;
        let actors = ActorThread::start().await.map_err(EngineError::System)?;
        let runtime = tokio::runtime::Handle::current();
        let supervisor = actors
            .start_actor(Supervisor::new(settings.restart_backoff))
            .await
            .map_err(EngineError::System)?;

        let notifier_configs: Vec<&PluginConfig> = started
            .iter()
            .filter(|s| s.kind == PluginKind::Notifier)
            .map(|s| &plugins[s.index])
            .collect();
        let queue_names = queue_names(&notifier_configs);
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
            match started.kind {
                PluginKind::Notifier => {
                    let queue_name = queue_names.next().unwrap_or_default();
                    let queues = store
                        .plugin_queues(
                            &queue_name,
                            settings.durability == plexus_actors::Durability::WriteAhead,
                        )
                        .await
                        .map_err(EngineError::Queue)?;
                    builder.add_notifier(config, started.handle, queues).await?;
                }
                PluginKind::Auth => {
                    let entry = builder
                        .add_service(config, started.handle, clients::Auth::new)
                        .await?;
                    builder.auth.push(entry);
                }
                PluginKind::Kms => {
                    let entry = builder
                        .add_service(config, started.handle, clients::Kms::new)
                        .await?;
                    builder.kms.push(entry);
                }
                PluginKind::IpFilter => {
                    let entry = builder
                        .add_service(config, started.handle, clients::IpFilter::new)
                        .await?;
                    builder.ipfilters.push(entry);
                }
                PluginKind::EventSearcher => {
                    let entry = builder
                        .add_service(config, started.handle, clients::Searcher::new)
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
            ))
            .await
            .map_err(EngineError::System)?;
        let retry_targets: Vec<Addr<NotifierActor>> =
            notifiers.iter().map(|n| n.actor.clone()).collect();
        let retry_driver = actors
            .start_actor(RetryDriver::new(retry_targets, settings.retry_interval))
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
            retry_driver,
            supervisor,
            actors,
            store,
        })
    }

    // ----- notifiers -------------------------------------------------------

    /// Publishes one event to every notifier whose filter matches it.
    pub async fn notify(&self, event: Event) -> Result<PublishReceipt, EngineError> {
        self.router
            .send(Publish(event))
            .await
            .map_err(|_| EngineError::Stopped)?
            .map_err(|err| EngineError::Rejected(err.0))
    }

    /// Publishes events in order; their durable appends share one flush.
    /// Returns a receipt per accepted event; on an error, how many were
    /// accepted before it.
    pub async fn notify_many(
        &self,
        events: Vec<Event>,
    ) -> Result<Vec<PublishReceipt>, (usize, EngineError)> {
        match self.router.send(PublishBatch(events)).await {
            Ok(Ok(receipts)) => Ok(receipts),
            Ok(Err(err)) => Err((err.accepted, EngineError::Rejected(err.error.0))),
            Err(_) => Err((0, EngineError::Stopped)),
        }
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

    // ----- auth ------------------------------------------------------------

    /// The first auth plugin (in config order) whose scope has `bit`, as SFTPGo picks.
    fn auth_for(&self, bit: i32, what: &str) -> Result<&ServiceEntry<clients::Auth>, EngineError> {
        self.auth
            .iter()
            .find(|entry| entry.config.auth_options.scope & bit != 0)
            .ok_or_else(|| EngineError::NoPlugin(format!("no auth plugin configured for {what}")))
    }

    /// Password authentication: the SFTPGo user JSON, empty for "no change".
    pub async fn check_user_and_pass(
        &self,
        request: CheckUserAndPassRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(1, "password checking")?
            .call(move |c| async move { c.check_user_and_pass(request).await }.boxed())
            .await
    }

    pub async fn check_user_and_public_key(
        &self,
        request: CheckUserAndPublicKeyRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(2, "public key checking")?
            .call(move |c| async move { c.check_user_and_public_key(request).await }.boxed())
            .await
    }

    pub async fn check_user_and_keyboard_interactive(
        &self,
        request: CheckUserAndKeyboardInteractiveRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(4, "keyboard interactive authentication")?
            .call(move |c| {
                async move { c.check_user_and_keyboard_interactive(request).await }.boxed()
            })
            .await
    }

    /// One keyboard-interactive step. SFTPGo picks the plugin by the
    /// password bit here (a long-standing quirk); Plexus picks it by the
    /// keyboard-interactive bit, as for the first call.
    pub async fn send_keyboard_auth_request(
        &self,
        request: KeyboardAuthRequest,
    ) -> Result<KeyboardAuthResponse, EngineError> {
        self.auth_for(4, "keyboard interactive authentication step")?
            .call(move |c| async move { c.send_keyboard_auth_request(request).await }.boxed())
            .await
    }

    pub async fn check_user_and_tls_cert(
        &self,
        request: CheckUserAndTlsCertRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.auth_for(8, "TLS certificate checking")?
            .call(move |c| async move { c.check_user_and_tls_cert(request).await }.boxed())
            .await
    }

    // ----- ip filters --------------------------------------------------------

    /// Asks every IP filter plugin; any error denies. A plugin that is not
    /// running allows (with a warning), as SFTPGo does, unless the engine is
    /// configured with `ipfilter_fail_closed`.
    pub async fn check_ip(&self, ip: &str, protocol: &str) -> Result<(), EngineError> {
        let checks = self.ipfilters.iter().map(|entry| {
            let (ip, protocol) = (ip.to_owned(), protocol.to_owned());
            async move {
                let result = entry
                    .call(move |c| async move { c.check_ip(&ip, &protocol).await }.boxed())
                    .await;
                (entry, result)
            }
        });
        for (entry, result) in futures::future::join_all(checks).await {
            match result {
                Ok(()) => {}
                Err(EngineError::Call(CallError::Down { plugin }))
                    if !self.settings.ipfilter_fail_closed =>
                {
                    tracing::warn!(plugin = %plugin, "ip filter plugin {plugin} is not active, cannot check ip {ip}: allowing it");
                }
                Err(EngineError::Call(CallError::Status { plugin, status })) => {
                    return Err(EngineError::Denied {
                        ip: ip.to_owned(),
                        plugin,
                        reason: status.message().to_owned(),
                    })
                }
                Err(other) => {
                    return Err(EngineError::Denied {
                        ip: ip.to_owned(),
                        plugin: entry.name.to_string(),
                        reason: other.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Asks every IP filter plugin to reload its rules (SFTPGo does it on
    /// SIGHUP). Returns the errors, one per plugin that failed.
    pub async fn reload_ip_filters(&self) -> Vec<EngineError> {
        let mut errors = Vec::new();
        for entry in &self.ipfilters {
            if let Err(err) = entry
                .call(|c| async move { c.reload().await }.boxed())
                .await
            {
                tracing::warn!("unable to reload IP filter plugin {}: {err}", entry.name);
                errors.push(err);
            }
        }
        errors
    }

    // ----- kms -------------------------------------------------------------

    /// Encrypts with the KMS plugin whose `scheme` is a prefix of the
    /// request's secrets URL (first in config order). Returns the answer and
    /// the status the secret gets (`encrypted_status`).
    pub async fn kms_encrypt(
        &self,
        request: EncryptRequest,
    ) -> Result<(EncryptResponse, String), EngineError> {
        let entry = self
            .kms
            .iter()
            .find(|entry| request.url.starts_with(&entry.config.kms_options.scheme))
            .ok_or_else(|| {
                EngineError::NoPlugin(format!(
                    "no KMS plugin is registered for the URL {:?}",
                    request.url
                ))
            })?;
        let status = entry.config.kms_options.encrypted_status.clone();
        let response = entry
            .call(move |c| async move { c.encrypt(request).await }.boxed())
            .await?;
        Ok((response, status))
    }

    /// Decrypts with the KMS plugin whose `encrypted_status` is the secret's status.
    pub async fn kms_decrypt(
        &self,
        status: &str,
        request: DecryptRequest,
    ) -> Result<DecryptResponse, EngineError> {
        let entry = self
            .kms
            .iter()
            .find(|entry| entry.config.kms_options.encrypted_status == status)
            .ok_or_else(|| {
                EngineError::NoPlugin(format!(
                    "no KMS plugin handles secrets with status {status:?}"
                ))
            })?;
        entry
            .call(move |c| async move { c.decrypt(request).await }.boxed())
            .await
    }

    // ----- search ----------------------------------------------------------

    fn searcher(&self) -> Result<&ServiceEntry<clients::Searcher>, EngineError> {
        self.searcher
            .as_ref()
            .ok_or_else(|| EngineError::NoPlugin("no events searcher plugin defined".into()))
    }

    /// The plugin's JSON answer, verbatim.
    pub async fn search_fs_events(&self, filter: FsEventsFilter) -> Result<Vec<u8>, EngineError> {
        self.searcher()?
            .call(move |c| async move { c.search_fs_events(filter).await }.boxed())
            .await
    }

    pub async fn search_provider_events(
        &self,
        filter: ProviderEventsFilter,
    ) -> Result<Vec<u8>, EngineError> {
        self.searcher()?
            .call(move |c| async move { c.search_provider_events(filter).await }.boxed())
            .await
    }

    pub async fn search_log_events(&self, filter: LogEventsFilter) -> Result<Vec<u8>, EngineError> {
        self.searcher()?
            .call(move |c| async move { c.search_log_events(filter).await }.boxed())
            .await
    }

    // ----- all -------------------------------------------------------------

    /// Counters of every plugin, in config order by kind.
    pub fn stats(&self) -> Vec<PluginStats> {
        let mut stats: Vec<PluginStats> = self
            .notifiers
            .iter()
            .map(|n| PluginStats {
                name: n.name.to_string(),
                kind: PluginKind::Notifier,
                counters: n.counters.snapshot(n.queues.retry.len()),
            })
            .collect();
        let service = |name: &Arc<str>, kind, counters: &Arc<PluginCounters>| PluginStats {
            name: name.to_string(),
            kind,
            counters: counters.snapshot(0),
        };
        stats.extend(
            self.auth
                .iter()
                .map(|e| service(&e.name, PluginKind::Auth, &e.counters)),
        );
        stats.extend(
            self.kms
                .iter()
                .map(|e| service(&e.name, PluginKind::Kms, &e.counters)),
        );
        stats.extend(
            self.ipfilters
                .iter()
                .map(|e| service(&e.name, PluginKind::IpFilter, &e.counters)),
        );
        stats.extend(
            self.searcher
                .iter()
                .map(|e| service(&e.name, PluginKind::EventSearcher, &e.counters)),
        );
        stats
    }

    /// Drains in-flight deliveries within `deadline`, stops every plugin
    /// gracefully, stops the actors and flushes the queues. Events that
    /// could not be delivered in time wait in their durable queue.
    pub async fn shutdown(self, deadline: Duration) {
        if !self.drain(deadline).await {
            tracing::warn!("shutdown: deliveries still in flight after {deadline:?}; they are queued for retry where the policy allows");
        }
        let _ = self.supervisor.send(StopAll).await;
        // Deliveries cut short by the stop settle into the queues now.
        let _ = self.drain(Duration::from_secs(5)).await;
        self.actors.stop().await;
        if let Err(err) = self.store.flush().await {
            tracing::warn!("shutdown: final queue flush failed: {err}");
        }
    }
}

/// Starts every plugin at once; if one fails, stops the others and reports
/// the first failure in config order.
async fn start_plugins(
    plugins: &[PluginConfig],
    settings: &EngineSettings,
) -> Result<Vec<Started>, EngineError> {
    let mut specs = Vec::new();
    for (index, plugin) in plugins.iter().enumerate() {
        let spec = plugin
            .launch_spec()
            .map_err(|err| EngineError::Config(vec![format!("plugins[{index}]: {err}")]))?;
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
        handle: PluginHandle,
        counters: &Arc<PluginCounters>,
        attach: AttachFn,
    ) -> Result<(), EngineError> {
        let spec = config
            .launch_spec()
            .map_err(|err| EngineError::Config(vec![err]))?;
        // Known from now on, not only once the supervisor's task runs.
        counters.pid.store(
            u64::from(handle.pid()),
            std::sync::atomic::Ordering::Relaxed,
        );
        let launcher = Arc::new(HostedLauncher {
            spec,
            options: self.settings.host.clone(),
            runtime: self.runtime.clone(),
            attach,
        });
        self.supervisor
            .send(Supervise {
                name: Arc::from(config.cmd.as_str()),
                launcher,
                process: Box::new(HostedPlugin { handle }) as Box<dyn PluginProcess>,
                counters: counters.clone(),
            })
            .await
            .map_err(|err| EngineError::System(err.to_string()))
    }

    async fn add_notifier(
        &mut self,
        config: PluginConfig,
        handle: PluginHandle,
        queues: PluginQueues,
    ) -> Result<(), EngineError> {
        let recovery = queues.clone();
        let moved = tokio::task::spawn_blocking(move || recovery.recover_write_ahead())
            .await
            .map_err(|err| EngineError::Queue(err.to_string()))?
            .map_err(|err| EngineError::Queue(err.to_string()))?;
        if moved > 0 {
            tracing::info!(
                "[{}] {moved} events accepted before the last stop will be delivered again",
                config.cmd
            );
        }
        let options = &config.notifier_options;
        let policy = RetryPolicy::from_sftpgo(options.retry_max_time, options.retry_queue_max_size);
        let mut settings = self.settings.notifier(&config.cmd, policy);
        // Calls are polled on the runtime that drives their connection.
        settings.lane_runtime = Some(self.runtime.clone());
        let durability = settings.durability;
        let counters: Arc<PluginCounters> = Arc::default();
        let rpc_timeout = self.settings.rpc_timeout;
        let batching = self.settings.batch_deliveries;
        let (transport, batched) =
            notifier_transport(handle.name(), handle.channel(), rpc_timeout, batching).await;
        counters
            .batched
            .store(u64::from(batched), std::sync::atomic::Ordering::Relaxed);
        let actor = self
            .actors
            .start_actor(NotifierActor::new(
                settings,
                Some(transport),
                queues.clone(),
                counters.clone(),
            ))
            .await
            .map_err(EngineError::System)?;
        let attach_to = actor.clone();
        let plugin_counters = counters.clone();
        let attach: AttachFn = Arc::new(move |handle: Option<&PluginHandle>| {
            let actor = attach_to.clone();
            let Some(handle) = handle else {
                return async move {
                    let _ = actor.send(Connect(None)).await;
                }
                .boxed();
            };
            let (name, channel) = (handle.name().to_owned(), handle.channel());
            let counters = plugin_counters.clone();
            async move {
                let (transport, batched) =
                    notifier_transport(&name, channel, rpc_timeout, batching).await;
                counters
                    .batched
                    .store(u64::from(batched), std::sync::atomic::Ordering::Relaxed);
                let _ = actor.send(Connect(Some(transport))).await;
            }
            .boxed()
        });
        self.supervise(&config, handle, &counters, attach).await?;
        let name: Arc<str> = Arc::from(config.cmd.as_str());
        self.filters.push(NotifierFilter {
            fs_events: options.fs_events.clone(),
            provider_events: options.provider_events.clone(),
            provider_objects: options.provider_objects.clone(),
            log_events: options.log_events.clone(),
        });
        self.targets.push(Target {
            name: name.clone(),
            addr: actor.clone(),
            queues: queues.clone(),
            counters: counters.clone(),
            durability,
        });
        self.notifiers.push(NotifierEntry {
            name,
            actor,
            counters,
            queues,
        });
        Ok(())
    }

    async fn add_service<C>(
        &mut self,
        config: PluginConfig,
        handle: PluginHandle,
        make_client: fn(tonic::transport::Channel, Duration) -> C,
    ) -> Result<ServiceEntry<C>, EngineError>
    where
        C: Clone + Unpin + Send + 'static,
    {
        let timeout = self.settings.rpc_timeout;
        let client = make_client(handle.channel(), timeout);
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
            let client = handle.map(|h| make_client(h.channel(), timeout));
            let actor = attach_to.clone();
            async move {
                let _ = actor.send(SetClient(client)).await;
            }
            .boxed()
        });
        self.supervise(&config, handle, &counters, attach).await?;
        Ok(ServiceEntry {
            name: Arc::from(config.cmd.as_str()),
            actor,
            counters,
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
