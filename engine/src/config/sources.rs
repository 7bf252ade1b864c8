//! `engine.sources`: where `plexus serve` pulls events from besides its
//! ingestion API. One type exists, `nats_jetstream`: a durable pull
//! consumer on a JetStream stream that `plexus-pubsub` (with
//! `jetstream=1`) publishes to from other machines.
//!
//! The list is read like the rest of the config (keys case-insensitive,
//! unknown keys warnings, values decoded weakly) and validated in full:
//! every problem names its path (`engine.sources[0].stream: ...`). A
//! source acknowledges a message once the engine holds the event durably,
//! which only `durability: write_ahead` does, so a source is refused
//! without it. No secret is read from the config file: a password or a
//! token comes from an environment variable or an owner-only file the
//! entry names.

use super::weak::{self, Shape};
use std::path::PathBuf;
use std::time::Duration;

/// The fields of one `engine.sources` entry.
const SOURCE: &[(&str, Shape)] = &[
    ("type", Shape::Text),
    ("servers", Shape::TextList),
    ("stream", Shape::Text),
    ("durable", Shape::Text),
    ("filter_subject", Shape::Text),
    ("batch_size", Shape::Integer),
    ("max_ack_pending", Shape::Integer),
    ("ack_wait", Shape::Number),
    ("dead_letter_subject", Shape::Text),
    ("user", Shape::Text),
    ("password_env", Shape::Text),
    ("password_file", Shape::Text),
    ("token_env", Shape::Text),
    ("token_file", Shape::Text),
    ("tls_ca_file", Shape::Text),
    ("tls_cert_file", Shape::Text),
    ("tls_key_file", Shape::Text),
    ("tls_required", Shape::Bool),
];

/// Messages pulled per request, by default.
pub const DEFAULT_BATCH_SIZE: usize = 256;
/// Messages delivered and not yet acknowledged, by default.
pub const DEFAULT_MAX_ACK_PENDING: usize = 1024;
/// How long JetStream waits for an acknowledgement before redelivering.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// The largest pull: far above what a flush amortises.
pub const MAX_BATCH_SIZE: usize = 10_000;
/// The largest `max_ack_pending` taken.
pub const MAX_ACK_PENDING: usize = 1_000_000;
/// The longest `ack_wait` taken, in seconds (one hour).
pub const MAX_ACK_WAIT_SECONDS: f64 = 3600.0;

/// One validated source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    NatsJetStream(JetStreamSource),
}

/// Where a secret is read from, at each connection; never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// An environment variable of the daemon.
    Env(String),
    /// An owner-only file (surrounding whitespace is trimmed).
    File(PathBuf),
}

impl Secret {
    /// Reads the secret; the error names where it was looked for.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Secret::Env(variable) => std::env::var(variable)
                .ok()
                .filter(|value| !value.is_empty())
                .ok_or_else(|| format!("the environment variable {variable} is not set")),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim().to_owned())
                .map_err(|err| format!("cannot read {}: {err}", path.display())),
        }
    }
}

/// How the source authenticates to NATS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NatsAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: Secret,
    },
    Token(Secret),
}

/// TLS towards the servers; files are PEM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NatsTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Refuse a server that does not offer TLS (also implied by a
    /// `tls://` URL or any of the files).
    pub required: bool,
}

/// A `nats_jetstream` source.
#[derive(Debug, Clone, PartialEq)]
pub struct JetStreamSource {
    /// `engine.sources[i]`, to name the source in logs and metrics.
    pub path: String,
    /// Server URLs (`nats://host:4222`, `tls://...`); no credentials in them.
    pub servers: Vec<String>,
    pub stream: String,
    /// The durable consumer's name; created on the stream if missing.
    pub durable: String,
    /// Only messages on these subjects (default: the whole stream).
    pub filter_subject: Option<String>,
    /// Messages pulled per request at most.
    pub batch_size: usize,
    /// Messages delivered and not yet acknowledged, at most.
    pub max_ack_pending: usize,
    /// How long JetStream waits for an acknowledgement before redelivering.
    pub ack_wait: Duration,
    /// Where malformed messages are published before they are terminated
    /// (default: terminated only, after a log line).
    pub dead_letter_subject: Option<String>,
    pub auth: NatsAuth,
    pub tls: NatsTls,
}

/// An entry as written, after the weak decoding.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(rename = "type")]
    kind: Option<String>,
    servers: Option<Vec<String>>,
    stream: Option<String>,
    durable: Option<String>,
    filter_subject: Option<String>,
    batch_size: Option<i64>,
    max_ack_pending: Option<i64>,
    ack_wait: Option<f64>,
    dead_letter_subject: Option<String>,
    user: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    token_env: Option<String>,
    token_file: Option<String>,
    tls_ca_file: Option<String>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
    tls_required: Option<bool>,
}

/// Removes `sources` from the `engine` section (any spelling), so the
/// section's own decoding never sees it.
pub fn take(engine: &mut serde_json::Value) -> Option<serde_json::Value> {
    super::take_key(engine.as_object_mut()?, "sources")
}

/// Reads and validates the `sources` value; problems and warnings are
/// named by path. `write_ahead` says whether the engine runs with
/// `durability: write_ahead`; `env` is where the named variables are
/// looked up.
pub fn parse(
    value: Option<serde_json::Value>,
    write_ahead: bool,
    env: &[(String, String)],
    warnings: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Vec<SourceConfig> {
    let entries = match value {
        None | Some(serde_json::Value::Null) => return Vec::new(),
        Some(serde_json::Value::Array(entries)) => entries,
        Some(_) => {
            problems.push("engine.sources: expected a list of sources".into());
            return Vec::new();
        }
    };
    if !entries.is_empty() && !write_ahead {
        problems.push(
            "engine.sources: needs engine.durability: write_ahead (a source acknowledges a \
             message once the engine holds the event on disk, which on_failure does not do)"
                .into(),
        );
    }
    let mut sources = Vec::new();
    for (index, mut entry) in entries.into_iter().enumerate() {
        let path = format!("engine.sources[{index}]");
        if !entry.is_object() {
            problems.push(format!("{path}: expected an object"));
            continue;
        }
        weak::normalize_object(&mut entry, SOURCE, &path, warnings);
        let raw: RawSource = match serde_path_to_error::deserialize(entry) {
            Ok(raw) => raw,
            Err(err) => {
                let at = err.path().to_string();
                problems.push(format!("{path}.{at}: {}", err.into_inner()));
                continue;
            }
        };
        if let Some(source) = validate(raw, path, env, problems) {
            sources.push(source);
        }
    }
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for source in &sources {
        let SourceConfig::NatsJetStream(s) = source;
        let first_server = s.servers.first().map(String::as_str).unwrap_or_default();
        if seen.contains(&(first_server, &s.stream, &s.durable)) {
            problems.push(format!(
                "{}.durable: {:?} on stream {:?} is used by another source too; two pullers of one \
                 durable consumer share its messages",
                s.path, s.durable, s.stream
            ));
        }
        seen.push((first_server, &s.stream, &s.durable));
    }
    sources
}

fn validate(
    raw: RawSource,
    path: String,
    env: &[(String, String)],
    problems: &mut Vec<String>,
) -> Option<SourceConfig> {
    let before = problems.len();
    let auth = auth(&raw, &path, env, problems);
    match raw.kind.as_deref().map(str::trim) {
        Some("nats_jetstream") => {}
        None | Some("") => problems.push(format!(
            "{path}.type: missing (the only source type is nats_jetstream)"
        )),
        Some(other) => problems.push(format!(
            "{path}.type: unknown source type {other:?} (the only one is nats_jetstream)"
        )),
    }
    let servers: Vec<String> = raw
        .servers
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if servers.is_empty() {
        problems.push(format!(
            "{path}.servers: at least one NATS server URL is needed (nats://host:4222)"
        ));
    }
    let mut tls_url = false;
    for (n, server) in servers.iter().enumerate() {
        match server.parse::<async_nats::ServerAddr>() {
            Ok(addr) if addr.password().is_some() => problems.push(format!(
                "{path}.servers[{n}]: a password in the URL would sit in the config file; \
                 give user and password_env instead"
            )),
            Ok(addr) if addr.has_user_pass() => problems.push(format!(
                "{path}.servers[{n}]: a user or token in the URL would sit in the config file; \
                 give user and password_env, or token_env, instead"
            )),
            Ok(addr) => tls_url |= addr.tls_required(),
            // The parser's message may quote the URL; it holds no password
            // (those are refused above only once parsed, so do not echo).
            Err(_) => problems.push(format!(
                "{path}.servers[{n}]: not a NATS server URL (nats://host:4222, tls://host:4222)"
            )),
        }
    }
    let stream = name(raw.stream, &format!("{path}.stream"), problems);
    let durable = name(raw.durable, &format!("{path}.durable"), problems);
    let filter_subject = subject(
        raw.filter_subject,
        &format!("{path}.filter_subject"),
        true,
        problems,
    );
    let dead_letter_subject = subject(
        raw.dead_letter_subject,
        &format!("{path}.dead_letter_subject"),
        false,
        problems,
    );
    let batch_size = count(
        raw.batch_size,
        DEFAULT_BATCH_SIZE,
        MAX_BATCH_SIZE,
        &format!("{path}.batch_size"),
        problems,
    );
    let max_ack_pending = count(
        raw.max_ack_pending,
        DEFAULT_MAX_ACK_PENDING.max(batch_size),
        MAX_ACK_PENDING,
        &format!("{path}.max_ack_pending"),
        problems,
    );
    if max_ack_pending < batch_size {
        problems.push(format!(
            "{path}.max_ack_pending: {max_ack_pending} is below batch_size ({batch_size}); \
             a pull could never be filled"
        ));
    }
    let ack_wait = match raw.ack_wait {
        None => DEFAULT_ACK_WAIT,
        Some(seconds) if seconds.is_finite() && (1.0..=MAX_ACK_WAIT_SECONDS).contains(&seconds) => {
            Duration::from_secs_f64(seconds)
        }
        Some(seconds) => {
            problems.push(format!(
                "{path}.ack_wait: {seconds} is out of range (1 to {MAX_ACK_WAIT_SECONDS} seconds)"
            ));
            DEFAULT_ACK_WAIT
        }
    };
    let tls = NatsTls {
        ca_file: file(
            raw.tls_ca_file,
            &format!("{path}.tls_ca_file"),
            false,
            problems,
        ),
        cert_file: file(
            raw.tls_cert_file,
            &format!("{path}.tls_cert_file"),
            false,
            problems,
        ),
        key_file: file(
            raw.tls_key_file,
            &format!("{path}.tls_key_file"),
            true,
            problems,
        ),
        required: raw.tls_required.unwrap_or(false) || tls_url,
    };
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        problems.push(format!(
            "{path}: tls_cert_file and tls_key_file go together (a client certificate needs its key)"
        ));
    }
    let tls = NatsTls {
        required: tls.required || tls.ca_file.is_some() || tls.cert_file.is_some(),
        ..tls
    };
    if problems.len() > before {
        return None;
    }
    Some(SourceConfig::NatsJetStream(JetStreamSource {
        path,
        servers,
        stream,
        durable,
        filter_subject,
        batch_size,
        max_ack_pending,
        ack_wait,
        dead_letter_subject,
        auth,
        tls,
    }))
}

/// A stream or consumer name: JetStream refuses spaces, `.`, `*`, `>`,
/// path separators and control characters in them.
fn name(value: Option<String>, path: &str, problems: &mut Vec<String>) -> String {
    let text = value.unwrap_or_default().trim().to_owned();
    if text.is_empty() {
        problems.push(format!("{path}: missing"));
    } else if let Some(bad) = text
        .chars()
        .find(|c| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control())
    {
        problems.push(format!(
            "{path}: {text:?} holds {bad:?}, which JetStream refuses in a name"
        ));
    }
    text
}

/// A NATS subject: dot-separated non-empty tokens without whitespace;
/// `*` and a final `>` only where `wildcards` are allowed.
fn subject(
    value: Option<String>,
    path: &str,
    wildcards: bool,
    problems: &mut Vec<String>,
) -> Option<String> {
    let text = value?.trim().to_owned();
    if text.is_empty() {
        return None;
    }
    let tokens: Vec<&str> = text.split('.').collect();
    for (n, token) in tokens.iter().enumerate() {
        let wildcard = *token == "*" || (*token == ">" && n + 1 == tokens.len());
        let bad = token.is_empty()
            || token.chars().any(|c| c.is_whitespace() || c.is_control())
            || (!wildcard && (token.contains('*') || token.contains('>')))
            || (wildcard && !wildcards);
        if bad {
            problems.push(format!(
                "{path}: {text:?} is not a NATS subject{}",
                if wildcards {
                    " (dot-separated tokens; * for one token, > last for the rest)"
                } else {
                    " to publish to (dot-separated tokens, no wildcards)"
                }
            ));
            break;
        }
    }
    Some(text)
}

fn count(
    value: Option<i64>,
    default: usize,
    max: usize,
    path: &str,
    problems: &mut Vec<String>,
) -> usize {
    match value {
        None => default,
        Some(n) if n >= 1 && (n as u64) <= max as u64 => n as usize,
        Some(n) => {
            problems.push(format!("{path}: {n} is out of range (1 to {max})"));
            default
        }
    }
}

/// An existing regular file; `secret` ones must be owner-only.
fn file(
    value: Option<String>,
    path: &str,
    secret: bool,
    problems: &mut Vec<String>,
) -> Option<PathBuf> {
    let text = value?.trim().to_owned();
    if text.is_empty() {
        return None;
    }
    let file = PathBuf::from(&text);
    match std::fs::metadata(&file) {
        Ok(meta) if !meta.is_file() => {
            problems.push(format!("{path}: {text} is not a regular file"));
        }
        Ok(meta) => {
            use std::os::unix::fs::PermissionsExt;
            if secret && meta.permissions().mode() & 0o077 != 0 {
                problems.push(format!(
                    "{path}: {text} holds a secret but group or others may read it \
                     (mode {:o}); chmod 600 it",
                    meta.permissions().mode() & 0o777
                ));
            }
        }
        Err(err) => problems.push(format!("{path}: cannot read {text}: {err}")),
    }
    Some(file)
}

/// A secret given by variable name or by file, not both.
fn secret(
    variable: Option<String>,
    file_path: Option<String>,
    what: &str,
    path: &str,
    env: &[(String, String)],
    problems: &mut Vec<String>,
) -> Option<Secret> {
    match (variable, file_path) {
        (Some(_), Some(_)) => {
            problems.push(format!("{path}: give {what}_env or {what}_file, not both"));
            None
        }
        (Some(variable), None) => {
            let set = env
                .iter()
                .any(|(key, value)| *key == variable && !value.is_empty());
            if !set {
                problems.push(format!(
                    "{path}.{what}_env: the environment variable {variable} is not set or empty"
                ));
            }
            Some(Secret::Env(variable))
        }
        (None, Some(text)) => {
            file(Some(text), &format!("{path}.{what}_file"), true, problems).map(Secret::File)
        }
        (None, None) => None,
    }
}

fn auth(
    raw: &RawSource,
    path: &str,
    env: &[(String, String)],
    problems: &mut Vec<String>,
) -> NatsAuth {
    let given = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let user = given(&raw.user);
    let password = secret(
        given(&raw.password_env),
        given(&raw.password_file),
        "password",
        path,
        env,
        problems,
    );
    let token = secret(
        given(&raw.token_env),
        given(&raw.token_file),
        "token",
        path,
        env,
        problems,
    );
    match (user, password, token) {
        (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => {
            problems.push(format!(
                "{path}: give a user and its password, or a token, not both"
            ));
            NatsAuth::None
        }
        (Some(user), Some(password), None) => NatsAuth::UserPassword { user, password },
        (Some(_), None, None) => {
            problems.push(format!("{path}.user: needs password_env or password_file"));
            NatsAuth::None
        }
        (None, Some(_), None) => {
            problems.push(format!("{path}.user: needed with a password"));
            NatsAuth::None
        }
        (None, None, Some(token)) => NatsAuth::Token(token),
        (None, None, None) => NatsAuth::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(
        value: serde_json::Value,
        write_ahead: bool,
        env: &[(&str, &str)],
    ) -> (Vec<SourceConfig>, Vec<String>, Vec<String>) {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (mut warnings, mut problems) = (Vec::new(), Vec::new());
        let sources = parse(Some(value), write_ahead, &env, &mut warnings, &mut problems);
        (sources, warnings, problems)
    }

    #[test]
    fn a_minimal_entry_gets_the_defaults() {
        let (sources, warnings, problems) = run(
            json!([{"Type": "nats_jetstream", "servers": "nats://127.0.0.1:4222",
                    "stream": "EVENTS", "durable": "central", "colour": 1}]),
            true,
            &[],
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(warnings, ["engine.sources[0].colour: unknown key, ignored"]);
        let [SourceConfig::NatsJetStream(s)] = sources.as_slice() else {
            panic!("one source expected: {sources:?}");
        };
        assert_eq!(s.path, "engine.sources[0]");
        assert_eq!(s.servers, ["nats://127.0.0.1:4222"]);
        assert_eq!(s.batch_size, DEFAULT_BATCH_SIZE);
        assert_eq!(s.max_ack_pending, DEFAULT_MAX_ACK_PENDING);
        assert_eq!(s.ack_wait, DEFAULT_ACK_WAIT);
        assert_eq!(s.auth, NatsAuth::None);
        assert!(!s.tls.required);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let (_, _, problems) = run(
            json!([
                {"type": "kafka"},
                {"type": "nats_jetstream", "servers": ["nats://u:secret@h:4222", "http://x"],
                 "stream": "A.B", "durable": "", "filter_subject": "a..b",
                 "dead_letter_subject": "dead.*", "batch_size": "0", "max_ack_pending": 5,
                 "ack_wait": 0, "user": "u", "token_env": "T", "tls_cert_file": "/nonexistent"}
            ]),
            false,
            &[],
        );
        let all = problems.join("\n");
        for expected in [
            "engine.sources: needs engine.durability: write_ahead",
            "engine.sources[0].type: unknown source type \"kafka\"",
            "engine.sources[0].servers: at least one",
            "engine.sources[0].stream: missing",
            "engine.sources[1].servers[0]: a password in the URL",
            "engine.sources[1].servers[1]: not a NATS server URL",
            "engine.sources[1].stream: \"A.B\" holds '.'",
            "engine.sources[1].durable: missing",
            "engine.sources[1].filter_subject: \"a..b\" is not a NATS subject",
            "engine.sources[1].dead_letter_subject: \"dead.*\" is not a NATS subject to publish to",
            "engine.sources[1].batch_size: 0 is out of range",
            "engine.sources[1].ack_wait: 0 is out of range",
            "engine.sources[1]: give a user and its password, or a token, not both",
            "engine.sources[1].tls_cert_file: cannot read /nonexistent",
            "engine.sources[1]: tls_cert_file and tls_key_file go together",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        assert!(!all.contains("secret"), "a password is echoed: {all}");
    }

    #[test]
    fn credentials_come_from_named_variables_and_owner_only_files() {
        let entry = |extra: serde_json::Value| {
            let mut base = json!({"type": "nats_jetstream", "servers": ["tls://h:4222"],
                                  "stream": "S", "durable": "d"});
            if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
                base.extend(extra.clone());
            }
            json!([base])
        };
        let (sources, _, problems) = run(
            entry(json!({"user": "central", "password_env": "NATS_PW"})),
            true,
            &[("NATS_PW", "s3cret")],
        );
        assert!(problems.is_empty(), "{problems:?}");
        let SourceConfig::NatsJetStream(s) = &sources[0];
        assert!(s.tls.required, "tls:// implies TLS");
        assert_eq!(
            s.auth,
            NatsAuth::UserPassword {
                user: "central".into(),
                password: Secret::Env("NATS_PW".into())
            }
        );
        assert!(!format!("{sources:?}").contains("s3cret"));

        let (_, _, problems) = run(entry(json!({"token_env": "NATS_TOKEN"})), true, &[]);
        assert_eq!(
            problems,
            ["engine.sources[0].token_env: the environment variable NATS_TOKEN is not set or empty"]
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let token = dir.path().join("token");
        std::fs::write(&token, "t0ken\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let given = entry(json!({"token_file": token.display().to_string()}));
        let (_, _, problems) = run(given.clone(), true, &[]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("engine.sources[0].token_file:")
                && problems[0].contains("chmod 600"),
            "{problems:?}"
        );
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let (sources, _, problems) = run(given, true, &[]);
        assert!(problems.is_empty(), "{problems:?}");
        let SourceConfig::NatsJetStream(s) = &sources[0];
        let NatsAuth::Token(secret) = &s.auth else {
            panic!("a token: {:?}", s.auth);
        };
        assert_eq!(secret.read().as_deref(), Ok("t0ken"));
    }

    #[test]
    fn read_with_the_rest_of_the_config_in_any_format() {
        let yaml = "engine:\n  Durability: write_ahead\n  SOURCES:\n    - type: nats_jetstream\n      \
                    servers: nats://127.0.0.1:4222\n      stream: EVENTS\n      durable: central\n      \
                    batch_size: \"64\"\nplugins: []\n";
        let file = crate::PluginsFile::parse(yaml, "plexus.yaml").expect("valid");
        let [SourceConfig::NatsJetStream(s)] = file.engine.sources.as_slice() else {
            panic!("one source: {:?}", file.engine.sources);
        };
        assert_eq!((s.stream.as_str(), s.batch_size), ("EVENTS", 64));

        let toml = "plugins = []\n[engine]\n[[engine.sources]]\ntype = \"nats_jetstream\"\n";
        let Err(crate::ConfigError::Invalid { problems, .. }) =
            crate::PluginsFile::parse(toml, "plexus.toml")
        else {
            panic!("a source without write_ahead, servers, stream or durable is invalid");
        };
        let all = problems.join("\n");
        for expected in [
            "engine.sources: needs engine.durability: write_ahead",
            "engine.sources[0].servers:",
            "engine.sources[0].stream: missing",
            "engine.sources[0].durable: missing",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn one_durable_consumer_per_source() {
        let entry = json!({"type": "nats_jetstream", "servers": ["nats://h:4222"],
                           "stream": "S", "durable": "d"});
        let (_, _, problems) = run(json!([entry.clone(), entry]), true, &[]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("engine.sources[1].durable:"));
    }
}
