//! Plexus's own `engine` section, next to `plugins` in a config file:
//! where data lives, how events are delivered and retried, the limits that
//! bound memory, and where the daemon listens. Every field is optional and
//! has a default a newcomer can run with; `PLEXUS_<FIELD>` environment
//! variables override the file.

use crate::settings::EngineSettings;
use plexus_actors::Durability;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The `engine` section as written (durations in seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Directory of the durable queues (default `.plexus`).
    pub data_dir: Option<String>,
    /// Seconds between re-drives of the retry queues (default 30).
    pub retry_interval: Option<f64>,
    /// `on_failure` (default) or `write_ahead`.
    pub durability: Option<String>,
    /// Seconds every plugin call may take (default 20).
    pub rpc_timeout: Option<f64>,
    /// Seconds from a plugin's start to its handshake line (default 60).
    pub start_timeout: Option<f64>,
    /// Seconds a plugin has to exit after Shutdown before SIGKILL (default 2).
    pub shutdown_grace: Option<f64>,
    /// Seconds between health checks of each plugin (default 10).
    pub health_interval: Option<f64>,
    /// Failed health checks in a row after which a plugin is restarted (default 3; 1 to 1000).
    pub health_failure_threshold: Option<usize>,
    /// Per-plugin mailbox size (default 1024).
    pub mailbox_capacity: Option<usize>,
    /// Seconds a producer waits for room in a full mailbox before the event
    /// is spilled to disk for that plugin (default 2).
    pub overflow_wait: Option<f64>,
    /// Bytes one batch call carries at most (default 3.75 MiB).
    pub max_batch_bytes: Option<usize>,
    /// Largest plugin reply accepted, in bytes (default 64 MiB; 64 KiB to 2 GiB).
    pub max_reply_bytes: Option<usize>,
    /// Ingestion API: most events in one PublishBatch (default 10000).
    pub ingest_max_batch: Option<usize>,
    /// Ingestion API: largest request, in bytes (default 16 MiB).
    pub ingest_max_message_bytes: Option<usize>,
    /// Per-plugin events in flight at most (default 1024).
    pub max_in_flight: Option<usize>,
    /// Per-plugin calls in flight at most (default 128).
    pub max_calls_in_flight: Option<usize>,
    /// Publishes waiting for the router at most (default 1024).
    pub router_mailbox: Option<usize>,
    /// Milliseconds a queue write waits to share a flush (default 2).
    pub max_flush_delay_ms: Option<u64>,
    /// Deny connections while an IP filter plugin is down (default false, as SFTPGo).
    pub ipfilter_fail_closed: Option<bool>,
    /// Also fdatasync the write-ahead logs at every group commit (default
    /// false): `write_ahead` events then survive a power loss too.
    pub write_ahead_fsync: Option<bool>,
    /// Log filter, as RUST_LOG (default `info`).
    pub log_level: Option<String>,
    /// `plexus serve`: unix socket of the ingestion API (default `<data_dir>/plexus.sock`; `""` disables).
    pub ingest_unix: Option<String>,
    /// `plexus serve`: a group (name or gid) whose members may connect to
    /// the ingestion socket too (mode 0660). Default none: owner only.
    pub ingest_unix_group: Option<String>,
    /// `plexus serve`: loopback TCP address of the ingestion API (default
    /// none). Needs a token: `PLEXUS_INGEST_TOKEN` or `ingest_token_file`.
    pub ingest_tcp: Option<String>,
    /// `plexus serve`: a file (mode 0600) holding the bearer token TCP
    /// clients of the ingestion API must send. The token itself is never
    /// read from the config file.
    pub ingest_token_file: Option<String>,
    /// `plexus serve`: loopback TCP address of the metrics endpoint (default none).
    pub metrics_tcp: Option<String>,
    /// `plexus serve`: where else events come from (`sources.rs`); read
    /// and validated apart from the other keys.
    #[serde(skip)]
    pub sources: Vec<super::sources::SourceConfig>,
}

/// Where `plexus serve` listens and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    pub log_level: String,
    pub ingest_unix: Option<PathBuf>,
    /// Who besides the owner may connect to `ingest_unix`.
    pub ingest_unix_access: crate::unix_socket::SocketAccess,
    pub ingest_tcp: Option<std::net::SocketAddr>,
    /// Where the TCP ingestion token is read from, unless `PLEXUS_INGEST_TOKEN` is set.
    pub ingest_token_file: Option<PathBuf>,
    pub metrics_tcp: Option<std::net::SocketAddr>,
}

impl EngineSection {
    /// Applies `PLEXUS_<FIELD>` variables; a value that does not parse is an
    /// error naming the variable (unlike SFTPGo's silent ignore, since a
    /// daemon running with a setting other than the one asked for surprises).
    pub fn apply_env(&mut self, env: &[(String, String)], problems: &mut Vec<String>) {
        for (key, value) in env {
            let Some(field) = key.strip_prefix("PLEXUS_") else {
                continue;
            };
            let value = value.trim();
            let number = |problems: &mut Vec<String>| -> Option<f64> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .or_else(|| {
                        problems.push(format!("{key}: {value:?} is not a non-negative number"));
                        None
                    })
            };
            let count = |problems: &mut Vec<String>| -> Option<usize> {
                value.parse::<usize>().ok().or_else(|| {
                    problems.push(format!("{key}: {value:?} is not a whole number"));
                    None
                })
            };
            match field {
                "DATA_DIR" => self.data_dir = Some(value.to_owned()),
                "RETRY_INTERVAL" => self.retry_interval = number(problems).or(self.retry_interval),
                "DURABILITY" => self.durability = Some(value.to_owned()),
                "RPC_TIMEOUT" => self.rpc_timeout = number(problems).or(self.rpc_timeout),
                "START_TIMEOUT" => self.start_timeout = number(problems).or(self.start_timeout),
                "SHUTDOWN_GRACE" => self.shutdown_grace = number(problems).or(self.shutdown_grace),
                "HEALTH_INTERVAL" => {
                    self.health_interval = number(problems).or(self.health_interval)
                }
                "HEALTH_FAILURE_THRESHOLD" => {
                    self.health_failure_threshold =
                        count(problems).or(self.health_failure_threshold)
                }
                "MAILBOX_CAPACITY" => {
                    self.mailbox_capacity = count(problems).or(self.mailbox_capacity)
                }
                "OVERFLOW_WAIT" => self.overflow_wait = number(problems).or(self.overflow_wait),
                "MAX_BATCH_BYTES" => {
                    self.max_batch_bytes = count(problems).or(self.max_batch_bytes)
                }
                "MAX_REPLY_BYTES" => {
                    self.max_reply_bytes = count(problems).or(self.max_reply_bytes)
                }
                "INGEST_MAX_BATCH" => {
                    self.ingest_max_batch = count(problems).or(self.ingest_max_batch)
                }
                "INGEST_MAX_MESSAGE_BYTES" => {
                    self.ingest_max_message_bytes =
                        count(problems).or(self.ingest_max_message_bytes)
                }
                "MAX_IN_FLIGHT" => self.max_in_flight = count(problems).or(self.max_in_flight),
                "MAX_CALLS_IN_FLIGHT" => {
                    self.max_calls_in_flight = count(problems).or(self.max_calls_in_flight)
                }
                "ROUTER_MAILBOX" => self.router_mailbox = count(problems).or(self.router_mailbox),
                "MAX_FLUSH_DELAY_MS" => {
                    self.max_flush_delay_ms = count(problems)
                        .map(|n| n as u64)
                        .or(self.max_flush_delay_ms)
                }
                "IPFILTER_FAIL_CLOSED" => match parse_bool(value) {
                    Some(flag) => self.ipfilter_fail_closed = Some(flag),
                    None => problems.push(format!("{key}: {value:?} is not true or false")),
                },
                "WRITE_AHEAD_FSYNC" => match parse_bool(value) {
                    Some(flag) => self.write_ahead_fsync = Some(flag),
                    None => problems.push(format!("{key}: {value:?} is not true or false")),
                },
                "LOG_LEVEL" => self.log_level = Some(value.to_owned()),
                "INGEST_UNIX" => self.ingest_unix = Some(value.to_owned()),
                "INGEST_UNIX_GROUP" => self.ingest_unix_group = Some(value.to_owned()),
                "INGEST_TCP" => self.ingest_tcp = Some(value.to_owned()),
                "INGEST_TOKEN_FILE" => self.ingest_token_file = Some(value.to_owned()),
                "METRICS_TCP" => self.metrics_tcp = Some(value.to_owned()),
                _ => {}
            }
        }
    }

    /// The engine settings this section asks for; problems named by path.
    pub fn settings(&self, problems: &mut Vec<String>) -> EngineSettings {
        let mut settings = EngineSettings::default();
        if let Some(dir) = &self.data_dir {
            if dir.trim().is_empty() {
                problems.push("engine.data_dir: must not be empty".into());
            } else {
                settings.data_dir = PathBuf::from(dir);
            }
        }
        let seconds = |value: Option<f64>,
                       field: &str,
                       problems: &mut Vec<String>|
         -> Option<Duration> {
            let value = value?;
            if value.is_finite() && value > 0.0 && value <= MAX_SECONDS {
                Some(Duration::from_secs_f64(value))
            } else {
                problems.push(format!(
                        "engine.{field}: {value} must be a positive number of seconds, at most {MAX_SECONDS} (one year)"
                    ));
                None
            }
        };
        if let Some(d) = seconds(self.retry_interval, "retry_interval", problems) {
            settings.retry_interval = d;
        }
        if let Some(d) = seconds(self.overflow_wait, "overflow_wait", problems) {
            settings.overflow_wait = d;
        }
        if let Some(d) = seconds(self.rpc_timeout, "rpc_timeout", problems) {
            settings.rpc_timeout = d;
        }
        if let Some(d) = seconds(self.start_timeout, "start_timeout", problems) {
            settings.host.start_timeout = d;
        }
        if let Some(d) = seconds(self.shutdown_grace, "shutdown_grace", problems) {
            settings.host.shutdown_grace = d;
        }
        if let Some(d) = seconds(self.health_interval, "health_interval", problems) {
            settings.health_check.interval = d;
        }
        if let Some(n) = within(
            self.health_failure_threshold,
            "health_failure_threshold",
            1,
            1000,
            problems,
        ) {
            // At most 1000: fits.
            settings.health_check.failure_threshold = n as u32;
        }
        match self.durability.as_deref() {
            None | Some("on_failure") => {}
            Some("write_ahead") => settings.durability = Durability::WriteAhead,
            Some(other) => problems.push(format!(
                "engine.durability: unknown mode {other:?} (expected on_failure or write_ahead)"
            )),
        }
        let positive = |value: Option<usize>,
                        field: &str,
                        problems: &mut Vec<String>|
         -> Option<usize> { within(value, field, 1, MAX_COUNT, problems) };
        if let Some(n) = positive(self.mailbox_capacity, "mailbox_capacity", problems) {
            settings.mailbox_capacity = n;
        }
        if let Some(n) = positive(self.max_in_flight, "max_in_flight", problems) {
            settings.max_in_flight = n;
        }
        if let Some(n) = positive(self.max_calls_in_flight, "max_calls_in_flight", problems) {
            settings.max_calls_in_flight = n;
        }
        if let Some(n) = positive(self.router_mailbox, "router_mailbox", problems) {
            settings.router_mailbox = n;
        }
        if let Some(n) = within(
            self.max_batch_bytes,
            "max_batch_bytes",
            64 * 1024,
            MAX_MESSAGE_BYTES,
            problems,
        ) {
            settings.max_batch_bytes = n;
        }
        if let Some(n) = within(
            self.max_reply_bytes,
            "max_reply_bytes",
            64 * 1024,
            MAX_REPLY_BYTES,
            problems,
        ) {
            settings.max_reply_bytes = n;
        }
        if let Some(n) = positive(self.ingest_max_batch, "ingest_max_batch", problems) {
            settings.ingest_max_batch = n;
        }
        if let Some(n) = within(
            self.ingest_max_message_bytes,
            "ingest_max_message_bytes",
            64 * 1024,
            MAX_MESSAGE_BYTES,
            problems,
        ) {
            settings.ingest_max_message_bytes = n;
        }
        // A group commit longer than a second would hold every producer
        // that waits for durability that long.
        if let Some(ms) = within(
            self.max_flush_delay_ms
                .map(|ms| usize::try_from(ms).unwrap_or(usize::MAX)),
            "max_flush_delay_ms",
            0,
            MAX_FLUSH_DELAY_MS,
            problems,
        ) {
            settings.max_flush_delay = Duration::from_millis(ms as u64);
        }
        if let Some(flag) = self.write_ahead_fsync {
            settings.write_ahead_fsync = flag;
        }
        if let Some(flag) = self.ipfilter_fail_closed {
            settings.ipfilter_fail_closed = flag;
        }
        settings
    }

    /// Where `plexus serve` listens; addresses must be loopback.
    pub fn serve_settings(
        &self,
        data_dir: &std::path::Path,
        problems: &mut Vec<String>,
    ) -> ServeSettings {
        let loopback = |value: &Option<String>, field: &str, problems: &mut Vec<String>| {
            let text = value.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
            match text.parse::<std::net::SocketAddr>() {
                Ok(addr) if addr.ip().is_loopback() => Some(addr),
                Ok(addr) => {
                    problems.push(format!("engine.{field}: {addr} is not a loopback address"));
                    None
                }
                Err(err) => {
                    problems.push(format!(
                        "engine.{field}: {text:?} is not an address like 127.0.0.1:7000 ({err})"
                    ));
                    None
                }
            }
        };
        ServeSettings {
            log_level: self.log_level.clone().unwrap_or_else(|| "info".into()),
            ingest_unix: match self.ingest_unix.as_deref() {
                None => Some(data_dir.join("plexus.sock")),
                Some("") => None,
                Some(path) => Some(PathBuf::from(path)),
            },
            ingest_unix_access: match self.ingest_unix_group.as_deref().map(str::trim) {
                None | Some("") => crate::unix_socket::SocketAccess::OwnerOnly,
                Some(group) => match crate::unix_socket::resolve_group(group) {
                    Ok(gid) => crate::unix_socket::SocketAccess::Group(gid),
                    Err(err) => {
                        problems.push(format!("engine.ingest_unix_group: {err}"));
                        crate::unix_socket::SocketAccess::OwnerOnly
                    }
                },
            },
            ingest_tcp: loopback(&self.ingest_tcp, "ingest_tcp", problems),
            ingest_token_file: self
                .ingest_token_file
                .as_deref()
                .map(str::trim)
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            metrics_tcp: loopback(&self.metrics_tcp, "metrics_tcp", problems),
        }
    }
}

/// The longest duration any setting takes: one year, in seconds.
pub const MAX_SECONDS: f64 = 31_536_000.0;
/// The largest count (mailboxes, in-flight bounds, batch sizes): far above
/// any sane value, far below what a semaphore or an allocation refuses.
pub const MAX_COUNT: usize = 1 << 24;
/// The largest message size a setting takes: 1 GiB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// The largest plugin reply a setting allows: 2 GiB, SFTPGo's own bound.
pub const MAX_REPLY_BYTES: usize = 1 << 31;

/// The longest group-commit wait, in milliseconds.
pub const MAX_FLUSH_DELAY_MS: usize = 1000;

/// `value` if it lies in `min..=max`; otherwise a problem naming the field.
fn within(
    value: Option<usize>,
    field: &str,
    min: usize,
    max: usize,
    problems: &mut Vec<String>,
) -> Option<usize> {
    let value = value?;
    if (min..=max).contains(&value) {
        Some(value)
    } else {
        problems.push(format!(
            "engine.{field}: {value} is out of range ({min} to {max})"
        ));
        None
    }
}

/// Go's strconv.ParseBool, as SFTPGo reads booleans from the environment.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
