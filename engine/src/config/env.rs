//! SFTPGo's environment overrides of the `plugins` list:
//! `SFTPGO_PLUGINS__<i>__<FIELD>` (i in 0..=9), with SFTPGo's rules
//! (`getPluginsFromEnv` in its `internal/config/config.go`): strings are
//! used as given, untrimmed; lists are split on `,`, items trimmed, empty
//! items dropped (so a set but empty variable clears the list); numbers and
//! booleans are trimmed, and ignored when they do not parse (the file's
//! value stays); non-numeric `LOG_EVENTS` items are dropped, and a list
//! with none left is ignored. Only a variable SFTPGo recognises, with a
//! value it accepts, counts: such a variable past the end of the file's
//! list appends an entry, any other variable changes nothing.

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
        let mut set = false;
        for (field, value) in fields {
            set |= apply_field(&mut plugin, field, value);
        }
        if !set {
            continue;
        }
        if index < plugins.len() {
            plugins[index] = plugin;
        } else {
            plugins.push(plugin);
        }
    }
}

/// Applies one variable; whether SFTPGo would count it as set.
fn apply_field(plugin: &mut PluginConfig, field: &str, value: &str) -> bool {
    let notifier = &mut plugin.notifier_options;
    let text = |target: &mut String| {
        *target = value.to_owned();
        true
    };
    let number = |target: &mut i64| match int(value) {
        Some(n) => {
            *target = n;
            true
        }
        None => false,
    };
    match field {
        "TYPE" => text(&mut plugin.kind),
        "CMD" => text(&mut plugin.cmd),
        "ARGS" => {
            plugin.args = list(value);
            true
        }
        "SHA256SUM" => text(&mut plugin.sha256sum),
        "AUTO_MTLS" => match parse_bool(value.trim()) {
            Some(flag) => {
                plugin.auto_mtls = flag;
                true
            }
            None => false,
        },
        "ENV_PREFIX" => text(&mut plugin.env_prefix),
        "ENV_VARS" => {
            plugin.env_vars = list(value);
            true
        }
        "NOTIFIER_OPTIONS__FS_EVENTS" => {
            notifier.fs_events = list(value);
            true
        }
        "NOTIFIER_OPTIONS__PROVIDER_EVENTS" => {
            notifier.provider_events = list(value);
            true
        }
        "NOTIFIER_OPTIONS__PROVIDER_OBJECTS" => {
            notifier.provider_objects = list(value);
            true
        }
        "NOTIFIER_OPTIONS__LOG_EVENTS" => {
            let ids: Vec<i32> = list(value)
                .iter()
                .filter_map(|item| item.parse().ok())
                .collect();
            if ids.is_empty() {
                return false;
            }
            notifier.log_events = ids;
            true
        }
        "NOTIFIER_OPTIONS__RETRY_MAX_TIME" => number(&mut notifier.retry_max_time),
        "NOTIFIER_OPTIONS__RETRY_QUEUE_MAX_SIZE" => number(&mut notifier.retry_queue_max_size),
        "KMS_OPTIONS__SCHEME" => text(&mut plugin.kms_options.scheme),
        "KMS_OPTIONS__ENCRYPTED_STATUS" => text(&mut plugin.kms_options.encrypted_status),
        "AUTH_OPTIONS__SCOPE" => match int(value) {
            Some(n) => {
                plugin.auth_options.scope = n as i32;
                true
            }
            None => false,
        },
        _ => false,
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
                ("SFTPGO_PLUGINS__0__CMD", "/env/cmd "),
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
                // Not a variable SFTPGo reads, and one it rejects: neither
                // creates an entry.
                ("SFTPGO_PLUGINS__3__COLOUR", "blue"),
                ("SFTPGO_PLUGINS__4__AUTH_OPTIONS__SCOPE", "five"),
                ("SFTPGO_PLUGINS__5__NOTIFIER_OPTIONS__LOG_EVENTS", "x,y"),
            ]),
        );
        let first = &plugins[0];
        assert_eq!(first.cmd, "/env/cmd ", "strings are used as given");
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
