//! The plugin's environment, built from scratch as SFTPGo builds it.
//!
//! The host's own environment is not inherited (go-plugin's `SkipHostEnv`).
//! A plugin gets only the host variables its `env_prefix` allows (default: a
//! prefix derived from the executable's name; `none`: nothing; `*`: all),
//! the names listed in `env_vars`, and go-plugin's variables: the magic
//! cookie, the protocol versions, the TCP port range and, with AutoMTLS, the
//! host's certificate. `PLEXUS_INGEST_TOKEN`, the host's own secret, is
//! never passed on.

use plexus_proto::PluginKind;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What the plugin may inherit from the host's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvPolicy {
    /// Variables whose `NAME=value` text starts with this prefix.
    Prefix(String),
    /// Nothing by prefix (`env_prefix: "none"`).
    Nothing,
    /// Everything (`env_prefix: "*"`); `env_vars` is then redundant.
    Everything,
}

impl EnvPolicy {
    /// Resolves a configured `env_prefix` for the executable at `cmd`.
    pub fn resolve(env_prefix: &str, cmd: &str) -> EnvPolicy {
        match env_prefix {
            "none" => EnvPolicy::Nothing,
            "*" => EnvPolicy::Everything,
            "" => EnvPolicy::Prefix(default_prefix(cmd)),
            other => EnvPolicy::Prefix(other.to_owned()),
        }
    }
}

/// The default prefix: the executable's base name without its extension,
/// upper-cased, `-` replaced by `_`, with `_` appended
/// (`/usr/bin/sftpgo-plugin-eventsearch` -> `SFTPGO_PLUGIN_EVENTSEARCH_`).
pub fn default_prefix(cmd: &str) -> String {
    let path = Path::new(cmd);
    let stem = match path.extension() {
        Some(_) => path.file_stem(),
        None => path.file_name(),
    };
    let stem = stem.map(OsStr::to_string_lossy).unwrap_or_default();
    format!("{}_", stem.to_uppercase()).replace('-', "_")
}

/// go-plugin's variables for one start.
#[derive(Debug, Clone)]
pub struct GoPluginVars {
    pub kind: PluginKind,
    pub min_port: u16,
    pub max_port: u16,
    /// PEM of the host's certificate, with AutoMTLS.
    pub client_cert_pem: Option<String>,
}

/// The complete child environment, in the order the variables are set
/// (a later duplicate wins, as with Go's exec).
pub fn build(
    policy: &EnvPolicy,
    env_vars: &[String],
    host_env: impl IntoIterator<Item = (OsString, OsString)>,
    go_plugin: &GoPluginVars,
) -> Vec<(OsString, OsString)> {
    // The ingestion token is the host's secret, never a plugin's, whatever
    // `env_prefix` or `env_vars` ask for.
    let host_env: Vec<(OsString, OsString)> = host_env
        .into_iter()
        .filter(|(key, _)| key.as_bytes() != crate::ingest_token::TOKEN_ENV.as_bytes())
        .collect();
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    match policy {
        EnvPolicy::Everything => env.extend(host_env.iter().cloned()),
        EnvPolicy::Nothing => {}
        EnvPolicy::Prefix(prefix) => {
            env.extend(
                host_env
                    .iter()
                    .filter(|(key, value)| entry_starts_with(key, value, prefix.as_bytes()))
                    .cloned(),
            );
        }
    }
    if *policy != EnvPolicy::Everything {
        for name in env_vars {
            let value = host_env
                .iter()
                .find(|(key, _)| key.as_bytes() == name.as_bytes())
                .map(|(_, value)| value.clone())
                .unwrap_or_default();
            env.push((OsString::from(name), value));
        }
    }
    let cookie = go_plugin.kind.cookie();
    env.push((cookie.key.into(), cookie.value.into()));
    env.push((
        "PLUGIN_MIN_PORT".into(),
        go_plugin.min_port.to_string().into(),
    ));
    env.push((
        "PLUGIN_MAX_PORT".into(),
        go_plugin.max_port.to_string().into(),
    ));
    env.push(("PLUGIN_PROTOCOL_VERSIONS".into(), "1".into()));
    if let Some(pem) = &go_plugin.client_cert_pem {
        env.push(("PLUGIN_CLIENT_CERT".into(), pem.into()));
    }
    env
}

/// Whether `KEY=VALUE` starts with `prefix`, as SFTPGo matches (on the whole entry).
fn entry_starts_with(key: &OsStr, value: &OsStr, prefix: &[u8]) -> bool {
    let key = key.as_bytes();
    if prefix.len() <= key.len() {
        return key.starts_with(prefix);
    }
    // The prefix reaches past the name into `=value`.
    let mut entry = Vec::with_capacity(key.len() + 1 + value.len());
    entry.extend_from_slice(key);
    entry.push(b'=');
    entry.extend_from_slice(value.as_bytes());
    entry.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin"),
            ("SECRET", "hunter2"),
            ("SFTPGO_PLUGIN_EVENTSTORE_DSN", "postgres://x"),
            ("SFTPGO_PLUGIN_EVENTSTORE_DRIVER", "postgres"),
            ("RABBIT_SERVER_URL", "amqp://"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn vars(cert: Option<&str>) -> GoPluginVars {
        GoPluginVars {
            kind: PluginKind::Notifier,
            min_port: 10000,
            max_port: 25000,
            client_cert_pem: cert.map(str::to_owned),
        }
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_ingestion_token_never_reaches_a_plugin() {
        let mut host_env = host();
        host_env.push((
            "PLEXUS_INGEST_TOKEN".into(),
            "the-hosts-secret-token".into(),
        ));
        host_env.push(("PLEXUS_DATA_DIR".into(), "/var/lib/plexus".into()));
        for (prefix, env_vars) in [
            ("*", vec![]),
            ("PLEXUS_", vec!["PLEXUS_INGEST_TOKEN".to_owned()]),
        ] {
            let env = build(
                &EnvPolicy::resolve(prefix, "/p"),
                &env_vars,
                host_env.clone(),
                &vars(None),
            );
            assert!(
                env.iter()
                    .all(|(_, value)| value != "the-hosts-secret-token"),
                "{prefix}: {:?}",
                names(&env)
            );
            assert!(
                names(&env).contains(&"PLEXUS_DATA_DIR".to_owned()),
                "{prefix}"
            );
        }
    }

    #[test]
    fn default_prefix_follows_sftpgo() {
        assert_eq!(
            default_prefix("/usr/bin/sftpgo-plugin-eventsearch"),
            "SFTPGO_PLUGIN_EVENTSEARCH_"
        );
        assert_eq!(default_prefix("C:/bin/my-plugin.exe"), "MY_PLUGIN_");
        assert_eq!(default_prefix("plugin.v2"), "PLUGIN_");
        assert_eq!(default_prefix("./notifier-jsonl"), "NOTIFIER_JSONL_");
    }

    #[test]
    fn prefix_passes_only_matching_variables_then_env_vars_then_go_plugin() {
        let policy = EnvPolicy::resolve("", "/usr/bin/sftpgo-plugin-eventstore");
        let env = build(
            &policy,
            &["RABBIT_SERVER_URL".into(), "UNSET_ONE".into()],
            host(),
            &vars(None),
        );
        assert_eq!(
            names(&env),
            [
                "SFTPGO_PLUGIN_EVENTSTORE_DSN",
                "SFTPGO_PLUGIN_EVENTSTORE_DRIVER",
                "RABBIT_SERVER_URL",
                "UNSET_ONE",
                "SFTPGO_PLUGIN_NOTIFIER",
                "PLUGIN_MIN_PORT",
                "PLUGIN_MAX_PORT",
                "PLUGIN_PROTOCOL_VERSIONS",
            ]
        );
        assert_eq!(env[3].1, OsString::new(), "unset env_vars entry is empty");
        assert_eq!(
            env[4].1,
            OsString::from("c499b98b-cd59-4df2-92b3-6268817f4d80")
        );
    }

    #[test]
    fn none_and_everything() {
        let env = build(&EnvPolicy::resolve("none", "/x"), &[], host(), &vars(None));
        assert!(!names(&env).iter().any(|n| n == "PATH" || n == "SECRET"));
        let env = build(
            &EnvPolicy::resolve("*", "/x"),
            &["IGNORED".into()],
            host(),
            &vars(Some("PEM")),
        );
        let names = names(&env);
        assert!(names.contains(&"SECRET".to_owned()));
        assert!(!names.contains(&"IGNORED".to_owned()));
        assert_eq!(names.last().map(String::as_str), Some("PLUGIN_CLIENT_CERT"));
    }

    #[test]
    fn prefix_may_reach_into_the_value() {
        let env = build(
            &EnvPolicy::Prefix("SECRET=hun".into()),
            &[],
            host(),
            &vars(None),
        );
        assert!(names(&env).contains(&"SECRET".to_owned()));
        let env = build(
            &EnvPolicy::Prefix("SECRET=x".into()),
            &[],
            host(),
            &vars(None),
        );
        assert!(!names(&env).contains(&"SECRET".to_owned()));
    }
}
