//! From the topic URL and the environment to a validated broker config.
//!
//! The URL forms and query parameters are Go CDK v0.46's (`nats://SUBJECT`
//! with `natsv2`, `rabbit://EXCHANGE` and `kafka://TOPIC` with `key_name`),
//! plus Plexus's
//! extensions (`jetstream` on NATS, `mqtt://TOPIC`, `redis://STREAM` with
//! `maxlen`). An unknown query parameter is refused, as the Go drivers
//! refuse it, and so is a scheme this build does not carry. Server URLs
//! come from `SFTPGO_PLUGIN_PUBSUB_<NAME>` or, as a fallback, the Go CDK
//! name (`NATS_SERVER_URL`, `RABBIT_SERVER_URL`, ...). Everything is checked
//! here, before any connection, so a bad setting stops the start with a
//! message naming it. Server URLs may carry passwords: [`redact`] is the
//! only form ever logged.

use std::path::PathBuf;
use url::Url;

/// The prefix of the plugin's own environment variables (plugin 1.2.0).
pub const ENV_PREFIX: &str = "SFTPGO_PLUGIN_PUBSUB_";
/// The same variables under this binary's name: the prefix a host derives
/// from `plexus-pubsub` and passes on by default.
pub const PLEXUS_ENV_PREFIX: &str = "PLEXUS_PUBSUB_";

/// A plugin variable: `SFTPGO_PLUGIN_PUBSUB_<name>`, else
/// `PLEXUS_PUBSUB_<name>`; blank counts as unset. Returns the name found.
fn prefixed(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<(String, String)> {
    [ENV_PREFIX, PLEXUS_ENV_PREFIX].iter().find_map(|prefix| {
        let key = format!("{prefix}{name}");
        env(&key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(|v| (key, v))
    })
}

/// Schemes of Go CDK drivers this build refuses at start.
pub const UNSUPPORTED_SCHEMES: [&str; 2] = ["gcppubsub", "azuresb"];

/// The schemes this build serves, for error messages.
const SUPPORTED: &str = "nats, rabbit, kafka, awssns, awssqs, mqtt, redis";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broker {
    Nats(NatsConfig),
    Rabbit(RabbitConfig),
    Mqtt(MqttConfig),
    Redis(RedisConfig),
    Kafka(KafkaConfig),
    Aws(crate::aws_config::AwsConfig),
}

impl Broker {
    /// The broker's name, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Broker::Nats(c) if c.jetstream => "NATS JetStream",
            Broker::Nats(_) => "NATS",
            Broker::Rabbit(_) => "RabbitMQ",
            Broker::Mqtt(_) => "MQTT",
            Broker::Redis(_) => "Redis",
            Broker::Kafka(_) => "Kafka",
            Broker::Aws(c) => match c.target {
                crate::aws_config::AwsTarget::Sns { .. } => "AWS SNS",
                crate::aws_config::AwsTarget::Sqs { .. } => "AWS SQS",
            },
        }
    }

    /// The server URL, redacted.
    pub fn server(&self) -> String {
        match self {
            Broker::Nats(c) => redact_list(&c.server_url),
            Broker::Rabbit(c) => redact(&c.server_url),
            Broker::Mqtt(c) => redact(&c.server_url),
            Broker::Redis(c) => redact(&c.server_url),
            Broker::Kafka(c) => c.brokers.join(","),
            Broker::Aws(c) => redact(c.endpoint.as_str()),
        }
    }
}

/// The TLS settings of plugin 1.2.0, from `SFTPGO_PLUGIN_PUBSUB_TLS_*`:
/// PEM file paths (never their contents), a server name override and the
/// diagnostics-only skip of certificate verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// A CA added to the system's trusted roots.
    pub root_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The host name expected in the server's certificate, instead of the
    /// one the client dials.
    pub server_name: Option<String>,
    /// Accept any server certificate (diagnostics only).
    pub skip_verify: bool,
}

impl TlsSettings {
    /// No TLS variable is set.
    pub fn is_empty(&self) -> bool {
        self.root_cert.is_none()
            && self.client_cert.is_none()
            && self.client_key.is_none()
            && self.server_name.is_none()
            && !self.skip_verify
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// One URL or a comma-separated list, as `NATS_SERVER_URL` holds it.
    pub server_url: String,
    pub subject: String,
    /// `natsv2`: metadata as NATS headers instead of a gob stream.
    pub v2: bool,
    /// `jetstream` (Plexus): publish to a stream and wait for its ack.
    pub jetstream: bool,
    pub tls: TlsSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RabbitConfig {
    pub server_url: String,
    pub exchange: String,
    /// `key_name`: this metadata key's value becomes the routing key.
    pub key_name: Option<String>,
    /// The CA and client certificate files, with an `amqps://` URL.
    pub tls: TlsSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `host:port` entries of `KAFKA_BROKERS`, trimmed.
    pub brokers: Vec<String>,
    pub topic: String,
    /// `key_name`: this metadata key's value becomes the message key.
    pub key_name: Option<String>,
    /// TLS, when `KAFKA_TLS` is true or any TLS variable is set.
    pub tls: Option<TlsSettings>,
    pub sasl: Option<KafkaSasl>,
    /// How long a request is retried (reconnecting between attempts)
    /// before it fails: the start, or one event. Not a variable; 10 s, as
    /// sarama's producer timeout.
    pub retry_deadline: std::time::Duration,
}

/// The default [`KafkaConfig::retry_deadline`].
pub const KAFKA_RETRY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The SASL mechanisms `KAFKA_SASL_MECHANISM` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// SASL credentials; `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for KafkaSasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    pub server_url: String,
    pub topic: String,
    /// TLS, with an `mqtts://` (or `ssl://`) server URL.
    pub tls: Option<TlsSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub server_url: String,
    pub stream: String,
    /// `maxlen`: `XADD ... MAXLEN N` keeps the stream at N entries at most.
    pub maxlen: Option<u64>,
    /// TLS, with a `rediss://` server URL.
    pub tls: Option<TlsSettings>,
}

/// Reads a server URL: the prefixed names first, then the Go CDK name.
fn server_url(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    if let Some((_, value)) = prefixed(env, name) {
        return Ok(value);
    }
    if let Some(value) = env(name).map(|v| v.trim().to_owned()) {
        if !value.is_empty() {
            return Ok(value);
        }
    }
    Err(format!(
        "{name} environment variable not set (set {ENV_PREFIX}{name}, {PLEXUS_ENV_PREFIX}{name} or {name})"
    ))
}

/// Go's `strconv.ParseBool`, after trimming spaces as plugin 1.2.0 does.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn env_bool(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<bool, String> {
    match prefixed(env, name) {
        None => Ok(false),
        Some((key, v)) => parse_bool(&v)
            .ok_or_else(|| format!("{key}: {v:?} is not a boolean (use true, false, 1 or 0)")),
    }
}

fn tls_settings(env: &dyn Fn(&str) -> Option<String>) -> Result<TlsSettings, String> {
    let path = |name: &str| prefixed(env, name).map(|(_, v)| PathBuf::from(v));
    let settings = TlsSettings {
        root_cert: path("TLS_ROOT_CERT"),
        client_cert: path("TLS_CLIENT_CERT"),
        client_key: path("TLS_CLIENT_KEY"),
        server_name: prefixed(env, "TLS_SERVER_NAME").map(|(_, v)| v),
        skip_verify: env_bool(env, "TLS_SKIP_VERIFY")?,
    };
    if settings.client_cert.is_some() != settings.client_key.is_some() {
        return Err(format!(
            "{ENV_PREFIX}TLS_CLIENT_CERT and {ENV_PREFIX}TLS_CLIENT_KEY must be set together"
        ));
    }
    if let Some(name) = &settings.server_name {
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            return Err(format!(
                "{ENV_PREFIX}TLS_SERVER_NAME: {name:?} is not a valid host name or IP address"
            ));
        }
    }
    Ok(settings)
}

/// RabbitMQ's client (lapin) takes a CA and a client certificate; it has
/// no hook for the server name or the skip settings.
fn rabbit_tls(
    env: &dyn Fn(&str) -> Option<String>,
    server_url: &str,
) -> Result<TlsSettings, String> {
    let settings = tls_settings(env)?;
    let amqps = server_url.trim_start().starts_with("amqps:");
    if !settings.is_empty() && !amqps {
        return Err(format!(
            "{ENV_PREFIX}TLS_* for RabbitMQ need an amqps:// RABBIT_SERVER_URL (it is {})",
            redact(server_url)
        ));
    }
    for (set, name) in [
        (settings.server_name.is_some(), "TLS_SERVER_NAME"),
        (settings.skip_verify, "TLS_SKIP_VERIFY"),
    ] {
        if set {
            return Err(format!(
                "{ENV_PREFIX}{name} for RabbitMQ is not supported by this build of plexus-pubsub"
            ));
        }
    }
    Ok(settings)
}

/// `KAFKA_BROKERS` as plugin 1.2.0 reads it: a comma list of `host:port`,
/// each entry trimmed; an empty entry (leading, trailing or doubled comma)
/// is an error rather than silently dropped.
pub fn kafka_brokers(name: &str, value: &str) -> Result<Vec<String>, String> {
    let mut brokers = Vec::new();
    for (index, entry) in value.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(format!(
                "{name}: entry {} of the broker list is empty (write host:port,host:port)",
                index + 1
            ));
        }
        let port_ok = entry
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!("{name}: {:?} is not host:port", redact(entry)));
        }
        brokers.push(entry.to_owned());
    }
    Ok(brokers)
}

/// `KAFKA_SASL_MECHANISM`, `_USERNAME` and `_PASSWORD`: all or none.
fn kafka_sasl(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<KafkaSasl>, String> {
    let mechanism = prefixed(env, "KAFKA_SASL_MECHANISM");
    let username = prefixed(env, "KAFKA_SASL_USERNAME").map(|(_, v)| v);
    // A password is taken as given, spaces included.
    let password = [ENV_PREFIX, PLEXUS_ENV_PREFIX]
        .iter()
        .find_map(|prefix| env(&format!("{prefix}KAFKA_SASL_PASSWORD")).filter(|v| !v.is_empty()));
    let Some((key, mechanism)) = mechanism else {
        if username.is_some() || password.is_some() {
            return Err(format!(
                "{ENV_PREFIX}KAFKA_SASL_USERNAME and _PASSWORD need {ENV_PREFIX}KAFKA_SASL_MECHANISM \
                 (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            ));
        }
        return Ok(None);
    };
    let mechanism = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => SaslMechanism::Plain,
        "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
        "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
        _ => {
            return Err(format!(
                "{key}: {mechanism:?} is not a supported mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            ))
        }
    };
    let (Some(username), Some(password)) = (username, password) else {
        return Err(format!(
            "{key}={}: set {ENV_PREFIX}KAFKA_SASL_USERNAME and {ENV_PREFIX}KAFKA_SASL_PASSWORD too",
            mechanism.name()
        ));
    };
    Ok(Some(KafkaSasl {
        mechanism,
        username,
        password,
    }))
}

/// Go's `path.Join(u.Host, u.Path)`: the non-empty parts joined by `/`,
/// then cleaned (no empty, `.` or `..` segments, no trailing slash).
fn join_host_path(host: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined = format!("{host}/{path}");
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The query parameters, each name with every value it was given.
fn query(url: &Url) -> Vec<(String, Vec<String>)> {
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in url.query_pairs() {
        match params.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v.into_owned()),
            None => params.push((k.into_owned(), vec![v.into_owned()])),
        }
    }
    params
}

/// A boolean query parameter: present with no value or an empty value is
/// true, else Go's `ParseBool`; more than one value is an error.
fn query_bool(name: &str, values: &[String]) -> Result<bool, String> {
    match values {
        [] => Ok(true),
        [one] if one.is_empty() => Ok(true),
        [one] => parse_bool(one).ok_or_else(|| {
            format!("invalid query parameter {name} - value either needs to be parsable as a boolean or empty")
        }),
        _ => Err(format!(
            "invalid query parameter {name} - multiple values provided"
        )),
    }
}

/// Validates the topic URL against the environment.
pub fn parse(topic_url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Broker, String> {
    let url = Url::parse(topic_url.trim())
        .map_err(|err| format!("invalid topic url {topic_url:?}: {err}"))?;
    let scheme = url.scheme().to_owned();
    if UNSUPPORTED_SCHEMES.contains(&scheme.as_str()) {
        return Err(format!(
            "the {scheme}:// scheme is not supported by this build of plexus-pubsub \
             (supported: {SUPPORTED})"
        ));
    }
    let name = join_host_path(url.host_str().unwrap_or(""), url.path());
    let params = query(&url);
    let refuse = |param: &str| format!("open topic {topic_url}: invalid query parameter {param:?}");
    let need_name = |what: &str| {
        if name.is_empty() {
            Err(format!(
                "open topic {topic_url}: the URL names no {what} (write {scheme}://NAME)"
            ))
        } else {
            Ok(name.clone())
        }
    };
    match scheme.as_str() {
        "nats" => {
            let mut v2 = false;
            let mut jetstream = false;
            for (param, values) in &params {
                if param == "natsv2" {
                    v2 = query_bool(param, values)
                        .map_err(|e| format!("open topic {topic_url}: {e}"))?;
                } else if param == "jetstream" {
                    jetstream = query_bool(param, values)
                        .map_err(|e| format!("open topic {topic_url}: {e}"))?;
                } else {
                    return Err(refuse(param));
                }
            }
            Ok(Broker::Nats(NatsConfig {
                server_url: server_url(env, "NATS_SERVER_URL")?,
                subject: need_name("subject")?,
                v2,
                jetstream,
                tls: tls_settings(env)?,
            }))
        }
        "rabbit" => {
            let mut key_name = None;
            for (param, values) in &params {
                match (param.as_str(), values.as_slice()) {
                    ("key_name", [one]) if !one.is_empty() => key_name = Some(one.clone()),
                    _ => return Err(refuse(param)),
                }
            }
            let server_url = server_url(env, "RABBIT_SERVER_URL")?;
            let tls = rabbit_tls(env, &server_url)?;
            Ok(Broker::Rabbit(RabbitConfig {
                server_url,
                exchange: need_name("exchange")?,
                key_name,
                tls,
            }))
        }
        "mqtt" => {
            if let Some((param, _)) = params.first() {
                return Err(refuse(param));
            }
            let server_url = server_url(env, "MQTT_SERVER_URL")?;
            let parsed = Url::parse(&server_url)
                .ok()
                .filter(|u| matches!(u.scheme(), "mqtt" | "tcp" | "mqtts" | "ssl"))
                .filter(|u| u.host_str().is_some())
                .ok_or_else(|| {
                    format!(
                        "MQTT_SERVER_URL {} is not a mqtt[s]://[user:password@]host[:port] URL",
                        redact(&server_url)
                    )
                })?;
            let settings = tls_settings(env)?;
            let tls = if matches!(parsed.scheme(), "mqtts" | "ssl") {
                Some(settings)
            } else if settings.is_empty() {
                None
            } else {
                return Err(format!(
                    "{ENV_PREFIX}TLS_* for MQTT need an mqtts:// MQTT_SERVER_URL (it is {})",
                    redact(&server_url)
                ));
            };
            Ok(Broker::Mqtt(MqttConfig {
                server_url,
                topic: need_name("topic")?,
                tls,
            }))
        }
        "redis" => {
            let mut maxlen = None;
            for (param, values) in &params {
                match (param.as_str(), values.as_slice()) {
                    ("maxlen", [one]) => match one.parse::<u64>() {
                        Ok(n) if n > 0 => maxlen = Some(n),
                        _ => {
                            return Err(format!(
                                "open topic {topic_url}: maxlen must be a positive integer, not {one:?}"
                            ))
                        }
                    },
                    _ => return Err(refuse(param)),
                }
            }
            let server_url = server_url(env, "REDIS_SERVER_URL")?;
            let settings = tls_settings(env)?;
            let tls = if server_url.trim_start().starts_with("rediss:") {
                if settings.server_name.is_some() {
                    return Err(format!(
                        "{ENV_PREFIX}TLS_SERVER_NAME for Redis is not supported by this build of plexus-pubsub"
                    ));
                }
                Some(settings)
            } else if settings.is_empty() {
                None
            } else {
                return Err(format!(
                    "{ENV_PREFIX}TLS_* for Redis need a rediss:// REDIS_SERVER_URL (it is {})",
                    redact(&server_url)
                ));
            };
            Ok(Broker::Redis(RedisConfig {
                server_url,
                tls,
                stream: need_name("stream")?,
                maxlen,
            }))
        }
        "kafka" => {
            let mut key_name = None;
            for (param, values) in &params {
                match (param.as_str(), values.as_slice()) {
                    ("key_name", [one]) if !one.is_empty() => key_name = Some(one.clone()),
                    _ => return Err(refuse(param)),
                }
            }
            let value = server_url(env, "KAFKA_BROKERS")?;
            let brokers = kafka_brokers("KAFKA_BROKERS", &value)?;
            let tls = tls_settings(env)?;
            let tls = if env_bool(env, "KAFKA_TLS")? || !tls.is_empty() {
                Some(tls)
            } else {
                None
            };
            Ok(Broker::Kafka(KafkaConfig {
                brokers,
                topic: need_name("topic")?,
                key_name,
                tls,
                sasl: kafka_sasl(env)?,
                retry_deadline: KAFKA_RETRY_DEADLINE,
            }))
        }
        "awssns" | "awssqs" => Ok(Broker::Aws(crate::aws_config::parse(&url, &name, env)?)),
        other => Err(format!(
            "open topic {topic_url}: no driver for the {other}:// scheme (supported: {SUPPORTED})"
        )),
    }
}

/// A server URL fit for a log line: scheme, host and port only, so a
/// password or token in it never reaches a log.
pub fn redact(server_url: &str) -> String {
    let server_url = server_url.trim();
    if let Ok(url) = Url::parse(server_url) {
        if let Some(host) = url.host_str() {
            return match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            };
        }
    }
    // `host:port` without a scheme: credentials only come before an `@`.
    match server_url.rsplit_once('@') {
        Some((_, rest)) => format!("***@{rest}"),
        None => server_url.to_owned(),
    }
}

/// The topic URL without any user or password in it, for the start line.
pub fn redact_topic(topic_url: &str) -> String {
    match Url::parse(topic_url.trim()) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => topic_url.to_owned(),
    }
}

/// [`redact`] for a comma-separated list.
pub fn redact_list(urls: &str) -> String {
    urls.split(',')
        .map(|u| redact(u.trim()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const NATS: (&str, &str) = ("NATS_SERVER_URL", "nats://127.0.0.1:4222");

    #[test]
    fn nats_urls() {
        let env = env_of(&[NATS]);
        let Broker::Nats(c) = parse("nats://Example.MySubject", &env).unwrap() else {
            panic!("not nats")
        };
        assert_eq!(c.subject, "Example.MySubject");
        assert!(!c.v2 && !c.jetstream);
        let Broker::Nats(c) = parse("nats://a.b?natsv2", &env).unwrap() else {
            panic!()
        };
        assert!(c.v2);
        let Broker::Nats(c) = parse("nats://a.b?natsv2=false&jetstream=1", &env).unwrap() else {
            panic!()
        };
        assert!(!c.v2 && c.jetstream);
        assert!(parse("nats://a?natsv2=maybe", &env)
            .unwrap_err()
            .contains("parsable as a boolean"));
        assert!(parse("nats://a?natsv2=1&natsv2=0", &env)
            .unwrap_err()
            .contains("multiple values"));
        assert!(parse("nats://a?queue=x", &env)
            .unwrap_err()
            .contains("invalid query parameter \"queue\""));
        assert!(parse("nats://", &env).unwrap_err().contains("no subject"));
        assert!(parse("nats://a", &env_of(&[]))
            .unwrap_err()
            .contains("NATS_SERVER_URL environment variable not set"));
        let env = env_of(&[("PLEXUS_PUBSUB_NATS_SERVER_URL", "nats://h:1")]);
        let Broker::Nats(c) = parse("nats://a/b/../c/", &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.subject, "a/c");
        assert_eq!(c.server_url, "nats://h:1");
    }

    #[test]
    fn prefixed_variables_win() {
        let env = env_of(&[
            ("RABBIT_SERVER_URL", "amqp://a:b@old:5672/"),
            (
                "SFTPGO_PLUGIN_PUBSUB_RABBIT_SERVER_URL",
                " amqp://guest:guest@new:5672/ ",
            ),
        ]);
        let Broker::Rabbit(c) = parse("rabbit://ex?key_name=action", &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.server_url, "amqp://guest:guest@new:5672/");
        assert_eq!(c.exchange, "ex");
        assert_eq!(c.key_name.as_deref(), Some("action"));
        assert!(parse("rabbit://ex?key_name=", &env).is_err());
        assert!(parse("rabbit://ex?key_name=a&key_name=b", &env).is_err());
        assert!(parse("rabbit://ex?prefetch=1", &env).is_err());
    }

    #[test]
    fn unsupported_and_unknown_schemes() {
        let env = env_of(&[NATS]);
        for url in ["gcppubsub://p/t", "azuresb://t"] {
            let err = parse(url, &env).unwrap_err();
            assert!(
                err.contains("not supported by this build of plexus-pubsub"),
                "{err}"
            );
        }
        assert!(parse("ftp://x", &env).unwrap_err().contains("no driver"));
        assert!(parse("not a url", &env).is_err());
    }

    #[test]
    fn mqtt_and_redis() {
        let env = env_of(&[
            ("MQTT_SERVER_URL", "mqtt://127.0.0.1:1883"),
            ("REDIS_SERVER_URL", "redis://127.0.0.1:6379/0"),
        ]);
        assert_eq!(
            parse("mqtt://sftpgo/events", &env).unwrap(),
            Broker::Mqtt(MqttConfig {
                server_url: "mqtt://127.0.0.1:1883".into(),
                topic: "sftpgo/events".into(),
                tls: None,
            })
        );
        assert!(parse("mqtt://t?qos=2", &env).is_err());
        assert_eq!(
            parse("redis://events?maxlen=1000", &env).unwrap(),
            Broker::Redis(RedisConfig {
                server_url: "redis://127.0.0.1:6379/0".into(),
                stream: "events".into(),
                maxlen: Some(1000),
                tls: None,
            })
        );
        assert!(parse("redis://events?maxlen=0", &env).is_err());
        assert!(parse("redis://events?maxlen=x", &env).is_err());
        let bad = env_of(&[("MQTT_SERVER_URL", "http://u:secret@h")]);
        let err = parse("mqtt://t", &bad).unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn tls_variables() {
        let env = env_of(&[
            NATS,
            ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", "/ca.pem"),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_CLIENT_CERT", "/c.pem"),
        ]);
        assert!(parse("nats://a", &env)
            .unwrap_err()
            .contains("set together"));
        let env = env_of(&[NATS, ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", "/ca.pem")]);
        let Broker::Nats(c) = parse("nats://a", &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.tls.root_cert, Some(PathBuf::from("/ca.pem")));
        let env = env_of(&[NATS, ("SFTPGO_PLUGIN_PUBSUB_TLS_SKIP_VERIFY", " TRUE ")]);
        let Broker::Nats(c) = parse("nats://a", &env).unwrap() else {
            panic!()
        };
        assert!(c.tls.skip_verify);
        let env = env_of(&[NATS, ("SFTPGO_PLUGIN_PUBSUB_TLS_SKIP_VERIFY", "yes")]);
        assert!(parse("nats://a", &env)
            .unwrap_err()
            .contains("not a boolean"));
        let env = env_of(&[NATS, ("SFTPGO_PLUGIN_PUBSUB_TLS_SKIP_VERIFY", "false")]);
        assert!(parse("nats://a", &env).is_ok());
    }

    #[test]
    fn tls_per_broker() {
        let ca = ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", "/ca.pem");
        // RabbitMQ: the files need amqps://; no server name or skip.
        let env = env_of(&[("RABBIT_SERVER_URL", "amqp://h/"), ca]);
        assert!(parse("rabbit://x", &env)
            .unwrap_err()
            .contains("need an amqps://"));
        let env = env_of(&[("RABBIT_SERVER_URL", "amqps://u:s3cret@h/"), ca]);
        let Broker::Rabbit(c) = parse("rabbit://x", &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.tls.root_cert, Some(PathBuf::from("/ca.pem")));
        let env = env_of(&[
            ("RABBIT_SERVER_URL", "amqps://h/"),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SERVER_NAME", "rabbit.internal"),
        ]);
        assert!(parse("rabbit://x", &env)
            .unwrap_err()
            .contains("not supported"));
        // MQTT: mqtts:// turns TLS on; the files need it.
        let env = env_of(&[("MQTT_SERVER_URL", "mqtts://h:8883"), ca]);
        let Broker::Mqtt(c) = parse("mqtt://t", &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.tls.unwrap().root_cert, Some(PathBuf::from("/ca.pem")));
        let env = env_of(&[("MQTT_SERVER_URL", "mqtt://u:s3cret@h"), ca]);
        let err = parse("mqtt://t", &env).unwrap_err();
        assert!(
            err.contains("need an mqtts://") && !err.contains("s3cret"),
            "{err}"
        );
        // Redis: rediss:// turns TLS on; the files need it; no server name.
        let env = env_of(&[("REDIS_SERVER_URL", "rediss://h:6380"), ca]);
        let Broker::Redis(c) = parse("redis://s", &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.tls.unwrap().root_cert, Some(PathBuf::from("/ca.pem")));
        let env = env_of(&[("REDIS_SERVER_URL", "redis://h"), ca]);
        assert!(parse("redis://s", &env)
            .unwrap_err()
            .contains("need a rediss://"));
        let env = env_of(&[
            ("REDIS_SERVER_URL", "rediss://h"),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SERVER_NAME", "redis.internal"),
        ]);
        assert!(parse("redis://s", &env)
            .unwrap_err()
            .contains("not supported"));
    }

    #[test]
    fn kafka_broker_lists_as_plugin_1_2_0() {
        let ok = |v: &str| kafka_brokers("KAFKA_BROKERS", v);
        assert_eq!(ok("broker:9092").unwrap(), vec!["broker:9092"]);
        assert_eq!(
            ok(" broker-a:9092, broker-b:9093 ").unwrap(),
            vec!["broker-a:9092", "broker-b:9093"]
        );
        for bad in [
            ",broker:9092",
            "broker:9092,",
            "broker-a:9092,,broker-b:9092",
            "  ",
        ] {
            assert!(ok(bad).unwrap_err().contains("is empty"), "{bad:?}");
        }
        assert!(ok("broker").unwrap_err().contains("not host:port"));
        assert!(ok("broker:x").is_err());
        assert!(parse("kafka://t", &env_of(&[]))
            .unwrap_err()
            .contains("KAFKA_BROKERS environment variable not set"));
        assert!(parse("kafka://t", &env_of(&[("KAFKA_BROKERS", "  ")]))
            .unwrap_err()
            .contains("KAFKA_BROKERS environment variable not set"));
    }

    #[test]
    fn kafka_urls_tls_and_sasl() {
        let env = env_of(&[("SFTPGO_PLUGIN_PUBSUB_KAFKA_BROKERS", "k1:9092,k2:9092")]);
        let Broker::Kafka(c) = parse("kafka://sftpgo-events?key_name=action", &env).unwrap() else {
            panic!("not kafka")
        };
        assert_eq!(c.brokers, vec!["k1:9092", "k2:9092"]);
        assert_eq!(c.topic, "sftpgo-events");
        assert_eq!(c.key_name.as_deref(), Some("action"));
        assert!(c.tls.is_none() && c.sasl.is_none());
        assert!(parse("kafka://t?key_name=", &env).is_err());
        assert!(parse("kafka://t?partition=1", &env)
            .unwrap_err()
            .contains("invalid query parameter \"partition\""));
        assert!(parse("kafka://", &env).unwrap_err().contains("no topic"));

        // KAFKA_TLS, or any TLS variable, turns TLS on.
        let env = env_of(&[
            ("KAFKA_BROKERS", "k:9093"),
            ("PLEXUS_PUBSUB_KAFKA_TLS", "1"),
        ]);
        let Broker::Kafka(c) = parse("kafka://t", &env).unwrap() else {
            panic!()
        };
        assert_eq!(c.tls, Some(TlsSettings::default()));
        let env = env_of(&[
            ("KAFKA_BROKERS", "k:9093"),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SERVER_NAME", "kafka.internal"),
        ]);
        let Broker::Kafka(c) = parse("kafka://t", &env).unwrap() else {
            panic!()
        };
        assert_eq!(
            c.tls.unwrap().server_name.as_deref(),
            Some("kafka.internal")
        );
        let env = env_of(&[
            ("KAFKA_BROKERS", "k:9093"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_TLS", "on"),
        ]);
        assert!(parse("kafka://t", &env)
            .unwrap_err()
            .contains("not a boolean"));

        let env = env_of(&[
            ("KAFKA_BROKERS", "k:9093"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_MECHANISM", "scram-sha-512"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_USERNAME", "sftpgo"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_PASSWORD", " s3cret "),
        ]);
        let Broker::Kafka(c) = parse("kafka://t", &env).unwrap() else {
            panic!()
        };
        let sasl = c.sasl.unwrap();
        assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
        assert_eq!(sasl.password, " s3cret ");
        assert!(!format!("{sasl:?}").contains("s3cret"));
        let env = env_of(&[
            ("KAFKA_BROKERS", "k:9093"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_MECHANISM", "GSSAPI"),
        ]);
        assert!(parse("kafka://t", &env)
            .unwrap_err()
            .contains("not a supported mechanism"));
        let env = env_of(&[
            ("KAFKA_BROKERS", "k:9093"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_MECHANISM", "PLAIN"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_USERNAME", "u"),
        ]);
        assert!(parse("kafka://t", &env)
            .unwrap_err()
            .contains("_PASSWORD too"));
        let env = env_of(&[
            ("KAFKA_BROKERS", "k:9093"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_PASSWORD", "s3cret"),
        ]);
        let err = parse("kafka://t", &env).unwrap_err();
        assert!(
            err.contains("KAFKA_SASL_MECHANISM") && !err.contains("s3cret"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("amqp://guest:s3cret@127.0.0.1:5672/vhost"),
            "amqp://127.0.0.1:5672"
        );
        assert_eq!(
            redact_list("nats://u:p@a:4222, nats://tok@b:4223"),
            "nats://a:4222,nats://b:4223"
        );
        assert_eq!(redact("user:pw@host:4222"), "***@host:4222");
        assert_eq!(redact("127.0.0.1:4222"), "127.0.0.1:4222");
        assert_eq!(
            redact_topic("rabbit://u:pw@ex?key_name=a"),
            "rabbit://ex?key_name=a"
        );
        assert_eq!(redact_topic("nats://subject"), "nats://subject");
    }
}
