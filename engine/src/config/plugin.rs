//! One entry of the `plugins` list: every field SFTPGo accepts, with its
//! defaults, and the checks SFTPGo makes on it (plus a few it should).

use crate::host::start::LaunchSpec;
use plexus_proto::PluginKind;
use serde::{Deserialize, Serialize};

/// One plugin, as SFTPGo's config describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// `notifier`, `kms`, `auth`, `eventsearcher` or `ipfilter`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub notifier_options: NotifierOptions,
    #[serde(default)]
    pub kms_options: KmsOptions,
    #[serde(default)]
    pub auth_options: AuthOptions,
    /// Path of the plugin executable.
    #[serde(default)]
    pub cmd: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Hex sha256 of the executable; empty disables the check.
    #[serde(default)]
    pub sha256sum: String,
    #[serde(default)]
    pub auto_mtls: bool,
    /// Which host variables the plugin inherits: a prefix, `none` or `*`;
    /// empty derives the prefix from the executable's name.
    #[serde(default)]
    pub env_prefix: String,
    /// Host variable names passed as well.
    #[serde(default)]
    pub env_vars: Vec<String>,
}

/// Which events a notifier receives, and how failed deliveries are retried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierOptions {
    #[serde(default)]
    pub fs_events: Vec<String>,
    #[serde(default)]
    pub provider_events: Vec<String>,
    #[serde(default)]
    pub provider_objects: Vec<String>,
    #[serde(default)]
    pub log_events: Vec<i32>,
    /// Seconds a failed event may wait for a retry; 0 disables retries.
    #[serde(default)]
    pub retry_max_time: i64,
    /// Most events queued for retry; 0 means no limit.
    #[serde(default)]
    pub retry_queue_max_size: i64,
}

impl NotifierOptions {
    /// SFTPGo refuses a notifier that would receive nothing.
    pub fn has_actions(&self) -> bool {
        !self.fs_events.is_empty()
            || (!self.provider_events.is_empty() && !self.provider_objects.is_empty())
            || !self.log_events.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsOptions {
    #[serde(default)]
    pub scheme: String,
    #[serde(default)]
    pub encrypted_status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthOptions {
    /// Bitmask: 1 password, 2 public key, 4 keyboard-interactive, 8 TLS certificate.
    #[serde(default)]
    pub scope: i32,
}

impl PluginConfig {
    /// The plugin kind, once validated.
    pub fn plugin_kind(&self) -> Result<PluginKind, String> {
        self.kind
            .parse::<PluginKind>()
            .map_err(|err| err.to_string())
    }

    /// Problems with this entry, each prefixed with `at` (e.g. `plugins[2]`).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let kind = match self.plugin_kind() {
            Ok(kind) => Some(kind),
            Err(err) => {
                problems.push(format!("{at}.type: {err}"));
                None
            }
        };
        if self.cmd.trim().is_empty() {
            problems.push(format!("{at}.cmd: must not be empty"));
        }
        if !self.sha256sum.is_empty() {
            if let Err(err) = crate::host::checksum::parse_expected(&self.sha256sum) {
                problems.push(format!("{at}.sha256sum: {err}"));
            }
        }
        match kind {
            Some(PluginKind::Notifier) if !self.notifier_options.has_actions() => {
                problems.push(format!(
                    "{at}.notifier_options: no actions defined for the notifier plugin {:?} (set fs_events, provider_events with provider_objects, or log_events)",
                    self.cmd
                ));
            }
            Some(PluginKind::Auth)
                if self.auth_options.scope <= 0 || self.auth_options.scope > 15 =>
            {
                problems.push(format!(
                    "{at}.auth_options.scope: invalid auth scope {} (a bitmask within 1-15: 1 password, 2 public key, 4 keyboard-interactive, 8 TLS certificate)",
                    self.auth_options.scope
                ));
            }
            _ => {}
        }
        problems
    }

    /// What the process host needs to start this plugin.
    pub fn launch_spec(&self) -> Result<LaunchSpec, String> {
        Ok(LaunchSpec {
            kind: self.plugin_kind()?,
            cmd: self.cmd.clone(),
            args: self.args.clone(),
            sha256sum: (!self.sha256sum.is_empty()).then(|| self.sha256sum.clone()),
            auto_mtls: self.auto_mtls,
            env_prefix: self.env_prefix.clone(),
            env_vars: self.env_vars.clone(),
            label: String::new(),
        })
    }
}

/// Each plugin's short label for structured logs and metrics:
/// `<type>.<basename>` (SFTPGo's logger name without `plugins.`), with
/// `.<index>` (its place in `plugins`) when two entries would share one.
pub fn plugin_labels(plugins: &[PluginConfig]) -> Vec<String> {
    let base: Vec<String> = plugins
        .iter()
        .map(|plugin| match plugin.plugin_kind() {
            Ok(kind) => crate::host::default_label(kind, &plugin.cmd),
            Err(_) => format!("{}.{}", plugin.kind, plugin.cmd),
        })
        .collect();
    base.iter()
        .enumerate()
        .map(|(index, label)| {
            if base.iter().filter(|other| *other == label).count() > 1 {
                format!("{label}.{index}")
            } else {
                label.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod label_tests {
    use super::*;

    fn plugin(kind: &str, cmd: &str) -> PluginConfig {
        PluginConfig {
            kind: kind.to_owned(),
            cmd: cmd.to_owned(),
            ..PluginConfig::default()
        }
    }

    #[test]
    fn labels_are_type_and_basename_with_the_index_only_when_shared() {
        let plugins = [
            plugin("notifier", "/usr/bin/sftpgo-plugin-pubsub"),
            plugin("notifier", "/opt/a/eventstore"),
            plugin("notifier", "/opt/b/eventstore"),
            plugin("auth", "/usr/bin/eventstore"),
        ];
        assert_eq!(
            plugin_labels(&plugins),
            [
                "notifier.sftpgo-plugin-pubsub",
                "notifier.eventstore.1",
                "notifier.eventstore.2",
                "auth.eventstore",
            ]
        );
    }
}
