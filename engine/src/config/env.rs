//! SFTPGo's environment overrides of the `plugins` list:
//! `SFTPGO_PLUGINS__<i>__<FIELD>` (i in 0..=9), with SFTPGo's rules: lists
//! are split on `,`, items trimmed, empty items dropped (so a set but empty
//! variable clears the list); numbers and booleans that do not parse are
//! ignored (the file's value stays); non-numeric `LOG_EVENTS` items are
//! dropped; an index past the end of the file's list appends an entry.

use super::engine_section::parse_bool;
use super::PluginConfig;

const MAX_ENV_PLUGINS: usize = 10;

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn int(value: &str) -> Option<i64> {
    value.trim().parse::<i32>().ok().map(i64::from)
}

/// Applies the overrides found in `env` to `plugins`.
pub fn apply_plugin_overrides(plugins: &mut Vec<PluginConfig>, env: &[(String, String)]) {
    for index in 0..MAX_ENV_PLUGINS {
        let prefix = format!("SFTPGO_PLUGINS__{index}__");
        let fields: Vec<(&str, &str)> = env
            .iter()
            .filter_map(|(key, value)| {
                key.strip_prefix(&prefix)
                    .map(|field| (field, value.as_str()))
            })
            .collect();
        if fields.is_empty() {
            continue;
        }
        let mut plugin = plugins.get(index).cloned().unwrap_or_default();
        for (field, value) in fields {
            apply_field(&mut plugin, field, value);
        }
        if index < plugins.len() {
            plugins[index] = plugin;
        } else {
            plugins.push(plugin);
        }
    }
}

fn apply_field(plugin: &mut PluginConfig, field: &str, value: &str) {
    let notifier = &mut plugin.notifier_options;
    match field {
        "TYPE" => plugin.kind = value.trim().to_owned(),
        "CMD" => plugin.cmd = value.trim().to_owned(),
        "ARGS" => plugin.args = list(value),
        "SHA256SUM" => plugin.sha256sum = value.trim().to_owned(),
        "AUTO_MTLS" => {
            if let Some(flag) = parse_bool(value.trim()) {
                plugin.auto_mtls = flag;
            }
        }
        "ENV_PREFIX" => plugin.env_prefix = value.trim().to_owned(),
        "ENV_VARS" => plugin.env_vars = list(value),
        "NOTIFIER_OPTIONS__FS_EVENTS" => notifier.fs_events = list(value),
        "NOTIFIER_OPTIONS__PROVIDER_EVENTS" => notifier.provider_events = list(value),
        "NOTIFIER_OPTIONS__PROVIDER_OBJECTS" => notifier.provider_objects = list(value),
        "NOTIFIER_OPTIONS__LOG_EVENTS" => {
            let ids: Vec<i32> = list(value)
                .iter()
                .filter_map(|item| item.parse().ok())
                .collect();
            if !ids.is_empty() {
                notifier.log_events = ids;
            }
        }
        "NOTIFIER_OPTIONS__RETRY_MAX_TIME" => {
            if let Some(n) = int(value) {
                notifier.retry_max_time = n;
            }
        }
        "NOTIFIER_OPTIONS__RETRY_QUEUE_MAX_SIZE" => {
            if let Some(n) = int(value) {
                notifier.retry_queue_max_size = n;
            }
        }
        "KMS_OPTIONS__SCHEME" => plugin.kms_options.scheme = value.trim().to_owned(),
        "KMS_OPTIONS__ENCRYPTED_STATUS" => {
            plugin.kms_options.encrypted_status = value.trim().to_owned()
        }
        "AUTH_OPTIONS__SCOPE" => {
            if let Some(n) = int(value) {
                plugin.auth_options.scope = n as i32;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_follow_sftpgo_rules() {
        let mut plugins = vec![PluginConfig {
            kind: "notifier".into(),
            cmd: "/file/cmd".into(),
            notifier_options: super::super::NotifierOptions {
                fs_events: vec!["upload".into()],
                retry_max_time: 5,
                ..Default::default()
            },
            ..Default::default()
        }];
        apply_plugin_overrides(
            &mut plugins,
            &env(&[
                ("SFTPGO_PLUGINS__0__CMD", " /env/cmd "),
                ("SFTPGO_PLUGINS__0__ARGS", "serve, --driver ,,postgres"),
                ("SFTPGO_PLUGINS__0__NOTIFIER_OPTIONS__LOG_EVENTS", "a,1,2"),
                (
                    "SFTPGO_PLUGINS__0__NOTIFIER_OPTIONS__RETRY_MAX_TIME",
                    "not-a-number",
                ),
                ("SFTPGO_PLUGINS__0__NOTIFIER_OPTIONS__FS_EVENTS", ""),
                ("SFTPGO_PLUGINS__0__AUTO_MTLS", "1"),
                ("SFTPGO_PLUGINS__2__TYPE", "auth"),
                ("SFTPGO_PLUGINS__2__AUTH_OPTIONS__SCOPE", "5"),
                ("SFTPGO_PLUGINS__10__TYPE", "kms"),
            ]),
        );
        let first = &plugins[0];
        assert_eq!(first.cmd, "/env/cmd");
        assert_eq!(first.args, ["serve", "--driver", "postgres"]);
        assert_eq!(first.notifier_options.log_events, [1, 2]);
        assert_eq!(
            first.notifier_options.retry_max_time, 5,
            "an invalid number keeps the file's value"
        );
        assert!(
            first.notifier_options.fs_events.is_empty(),
            "a set but empty list clears it"
        );
        assert!(first.auto_mtls);
        assert_eq!(
            plugins.len(),
            2,
            "index 2 appends; index 10 is out of range"
        );
        assert_eq!(plugins[1].kind, "auth");
        assert_eq!(plugins[1].auth_options.scope, 5);
    }
}
