//! Applying a changed config to a running engine. SFTPGo needs a restart
//! for any of it.
//!
//! - The notifiers' filters (`fs_events`, `provider_events`,
//!   `provider_objects`, `log_events`) and retry settings
//!   (`retry_max_time`, `retry_queue_max_size`) apply in place: no plugin
//!   restarts, events already routed keep their targets, queued events stay
//!   queued, and the new retry rules decide from the next failure on.
//! - A plugin whose process settings changed (`cmd`, `args`, `sha256sum`,
//!   `auto_mtls`, `env_prefix`, `env_vars`) is restarted alone: its new
//!   process starts first (if it cannot, the old one keeps running and the
//!   reload says why), takes over, and the old one stops once the calls it
//!   had in flight ended. A notifier keeps its queues and its label.
//! - A change the engine cannot apply live (a plugin added, removed or
//!   moved to another kind; `auth_options` or `kms_options`, which route
//!   calls) is refused whole, naming the entry, before anything changes, so
//!   the engine never runs half of a config.

use super::{Engine, EngineError};
use crate::config::{self, PluginConfig};
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::router::ReplaceRoutingTable;
use plexus_actors::RetryPolicy;
use plexus_proto::PluginKind;

/// One running plugin as a reload compares it.
struct Running<'a> {
    kind: PluginKind,
    config: PluginConfig,
    restarter: &'a crate::restarter::Restarter,
    running: &'a std::sync::Mutex<PluginConfig>,
}

impl Engine {
    /// Applies `plugins` (a whole config's list, the same plugins in the
    /// same order as the engine was started with); returns one line per
    /// change made. Errors are refusals (nothing changed) or, for a plugin
    /// that could not be restarted, what happened to it (the other
    /// changes were made).
    pub async fn reload_plugins(
        &self,
        plugins: &[PluginConfig],
    ) -> Result<Vec<String>, EngineError> {
        let problems = config::validate_plugins(plugins);
        if !problems.is_empty() {
            return Err(EngineError::Config(problems));
        }
        let running = self.running_plugins();
        let refusals = refusals(plugins, &running);
        if !refusals.is_empty() {
            return Err(EngineError::Config(refusals));
        }

        let mut changes = Vec::new();
        let mut failures = Vec::new();
        for (index, (new, old)) in plugins.iter().zip(&running).enumerate() {
            let Some(field) = process_change(&old.config, new) else {
                continue;
            };
            match old.restarter.replace(new).await {
                Ok(pid) => {
                    set_process(
                        &mut old.running.lock().unwrap_or_else(|p| p.into_inner()),
                        new,
                    );
                    changes.push(format!(
                        "plugins[{index}] ({}): {field} changed; restarted as process {pid}",
                        new.cmd
                    ));
                }
                Err(err) => failures.push(format!(
                    "plugins[{index}] ({}): {field} changed, but the new process did not start, so the old one keeps running: {err}",
                    new.cmd
                )),
            }
        }
        changes.extend(self.reload_notifier_settings(plugins).await?);
        if failures.is_empty() {
            Ok(changes)
        } else {
            for change in changes {
                tracing::info!("reloaded: {change}");
            }
            Err(EngineError::Reload(failures))
        }
    }

    /// Every plugin as running now, in config order (plugins keep the
    /// order of the config the engine started with, kind by kind).
    fn running_plugins(&self) -> Vec<Running<'_>> {
        let mut running: Vec<(usize, Running<'_>)> = Vec::new();
        let snapshot = |m: &std::sync::Mutex<PluginConfig>| {
            m.lock().unwrap_or_else(|p| p.into_inner()).clone()
        };
        for entry in &self.notifiers {
            running.push((
                entry.index,
                Running {
                    kind: PluginKind::Notifier,
                    config: snapshot(&entry.config),
                    restarter: &entry.restarter,
                    running: &entry.config,
                },
            ));
        }
        macro_rules! services {
            ($entries:expr, $kind:expr) => {
                for entry in $entries {
                    running.push((
                        entry.index,
                        Running {
                            kind: $kind,
                            config: snapshot(&entry.running),
                            restarter: &entry.restarter,
                            running: &entry.running,
                        },
                    ));
                }
            };
        }
        services!(&self.auth, PluginKind::Auth);
        services!(&self.kms, PluginKind::Kms);
        services!(&self.ipfilters, PluginKind::IpFilter);
        services!(self.searcher.iter(), PluginKind::EventSearcher);
        running.sort_by_key(|(index, _)| *index);
        running.into_iter().map(|(_, plugin)| plugin).collect()
    }

    /// Filters and retry settings, applied in place.
    async fn reload_notifier_settings(
        &self,
        plugins: &[PluginConfig],
    ) -> Result<Vec<String>, EngineError> {
        let wanted: Vec<(usize, &PluginConfig)> = plugins
            .iter()
            .enumerate()
            .filter(|(_, plugin)| plugin.kind == "notifier")
            .collect();
        let mut changes = Vec::new();
        let filters: Vec<NotifierFilter> =
            wanted.iter().map(|(_, plugin)| filter_of(plugin)).collect();
        let filters_changed = wanted.iter().zip(&self.notifiers).any(|((_, new), entry)| {
            filter_of(new) != filter_of(&entry.config.lock().unwrap_or_else(|p| p.into_inner()))
        });
        if filters_changed {
            self.router
                .send(ReplaceRoutingTable(RoutingTable::compile(&filters)))
                .await
                .map_err(|source| EngineError::Mailbox {
                    actor: "the router",
                    source,
                })?;
        }
        for ((index, new), entry) in wanted.iter().zip(&self.notifiers) {
            let mut config = entry.config.lock().unwrap_or_else(|p| p.into_inner());
            if filter_of(new) != filter_of(&config) {
                changes.push(format!("plugins[{index}] ({}): filters replaced", new.cmd));
            }
            let (new_options, old_options) = (&new.notifier_options, &config.notifier_options);
            if (new_options.retry_max_time, new_options.retry_queue_max_size)
                != (old_options.retry_max_time, old_options.retry_queue_max_size)
            {
                entry.handle.ledger.set_policy(RetryPolicy::from_sftpgo(
                    new_options.retry_max_time,
                    new_options.retry_queue_max_size,
                ));
                changes.push(format!(
                    "plugins[{index}] ({}): retry_max_time {} -> {}, retry_queue_max_size {} -> {}",
                    new.cmd,
                    old_options.retry_max_time,
                    new_options.retry_max_time,
                    old_options.retry_queue_max_size,
                    new_options.retry_queue_max_size
                ));
            }
            // The process settings stay those of the process running now
            // (a restart that failed left the old ones).
            let mut updated = (*new).clone();
            set_process(&mut updated, &config);
            *config = updated;
        }
        Ok(changes)
    }
}

/// What in `plugins` cannot be applied to the running engine.
fn refusals(plugins: &[PluginConfig], running: &[Running<'_>]) -> Vec<String> {
    let mut refusals = Vec::new();
    if plugins.len() != running.len() {
        refusals.push(format!(
            "the config has {} plugins, the running engine {}: adding or removing a plugin needs a restart",
            plugins.len(),
            running.len()
        ));
        return refusals;
    }
    for (index, (new, old)) in plugins.iter().zip(running).enumerate() {
        let kind = new.plugin_kind().ok();
        if kind != Some(old.kind) {
            refusals.push(format!(
                "plugins[{index}].type changed from {} to {:?}: adding, removing or reordering plugins needs a restart",
                old.kind.as_str(),
                new.kind
            ));
            continue;
        }
        let moved_from = running
            .iter()
            .position(|other| (&other.config.cmd, &other.config.args) == (&new.cmd, &new.args));
        if let Some(other) = moved_from.filter(|other| *other != index) {
            refusals.push(format!(
                "plugins[{index}] now holds what plugins[{other}] held ({}): reordering plugins needs a restart",
                new.cmd
            ));
        }
        if new.auth_options != old.config.auth_options {
            refusals.push(format!(
                "plugins[{index}].auth_options changed: it routes logins, so it needs a restart"
            ));
        }
        if new.kms_options != old.config.kms_options {
            refusals.push(format!(
                "plugins[{index}].kms_options changed: it routes secrets, so it needs a restart"
            ));
        }
    }
    refusals
}

fn filter_of(plugin: &PluginConfig) -> NotifierFilter {
    let options = &plugin.notifier_options;
    NotifierFilter {
        fs_events: options.fs_events.clone(),
        provider_events: options.provider_events.clone(),
        provider_objects: options.provider_objects.clone(),
        log_events: options.log_events.clone(),
    }
}

/// Copies the settings that define a plugin's process from `from`.
fn set_process(config: &mut PluginConfig, from: &PluginConfig) {
    config.cmd = from.cmd.clone();
    config.args = from.args.clone();
    config.sha256sum = from.sha256sum.clone();
    config.auto_mtls = from.auto_mtls;
    config.env_prefix = from.env_prefix.clone();
    config.env_vars = from.env_vars.clone();
}

/// The first setting that defines the plugin's process and differs.
fn process_change(old: &PluginConfig, new: &PluginConfig) -> Option<&'static str> {
    if old.cmd != new.cmd {
        Some("cmd")
    } else if old.args != new.args {
        Some("args")
    } else if old.sha256sum != new.sha256sum {
        Some("sha256sum")
    } else if old.auto_mtls != new.auto_mtls {
        Some("auto_mtls")
    } else if old.env_prefix != new.env_prefix {
        Some("env_prefix")
    } else if old.env_vars != new.env_vars {
        Some("env_vars")
    } else {
        None
    }
}
