//! Applying a changed config to a running engine without restarting its
//! plugins: the notifiers' filters (`fs_events`, `provider_events`,
//! `provider_objects`, `log_events`) and retry settings (`retry_max_time`,
//! `retry_queue_max_size`). SFTPGo needs a restart for either.
//!
//! Nothing in flight is touched: events already routed keep their targets,
//! queued events stay queued, and the new retry rules decide from the next
//! failure on. A change that would need a plugin started or stopped (a new,
//! removed or reordered notifier, another `cmd`, `args`, `sha256sum`,
//! `auto_mtls` or environment) is refused whole, naming the entry, so the
//! engine never runs half of a config.

use super::{Engine, EngineError};
use crate::config::PluginConfig;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::router::ReplaceRoutingTable;
use plexus_actors::RetryPolicy;

impl Engine {
    /// Applies the notifier settings of `plugins` (a whole config's list,
    /// as the engine was started with); returns one line per change made.
    pub async fn reload_notifiers(
        &self,
        plugins: &[PluginConfig],
    ) -> Result<Vec<String>, EngineError> {
        let wanted: Vec<(usize, &PluginConfig)> = plugins
            .iter()
            .enumerate()
            .filter(|(_, plugin)| plugin.kind == "notifier")
            .collect();
        let running: Vec<PluginConfig> = self
            .notifiers
            .iter()
            .map(|entry| {
                entry
                    .config
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
            .collect();
        let mut refusals = Vec::new();
        if wanted.len() != running.len() {
            refusals.push(format!(
                "the config has {} notifiers, the running engine {}: adding or removing a notifier needs a restart",
                wanted.len(),
                running.len()
            ));
        }
        for ((index, new), old) in wanted.iter().zip(&running) {
            if let Some(field) = process_change(old, new) {
                refusals.push(format!(
                    "plugins[{index}].{field} changed: starting the plugin anew needs a restart"
                ));
            }
        }
        if !refusals.is_empty() {
            return Err(EngineError::Config(refusals));
        }

        let mut changes = Vec::new();
        let filters: Vec<NotifierFilter> =
            wanted.iter().map(|(_, plugin)| filter_of(plugin)).collect();
        let filters_changed = wanted
            .iter()
            .zip(&running)
            .any(|((_, new), old)| filter_of(new) != filter_of(old));
        if filters_changed {
            self.router
                .send(ReplaceRoutingTable(RoutingTable::compile(&filters)))
                .await
                .map_err(|source| EngineError::Mailbox {
                    actor: "the router",
                    source,
                })?;
        }
        for (((index, new), old), entry) in wanted.iter().zip(&running).zip(&self.notifiers) {
            if filter_of(new) != filter_of(old) {
                changes.push(format!("plugins[{index}] ({}): filters replaced", new.cmd));
            }
            let (new_options, old_options) = (&new.notifier_options, &old.notifier_options);
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
            *entry.config.lock().unwrap_or_else(|p| p.into_inner()) = (*new).clone();
        }
        Ok(changes)
    }
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
