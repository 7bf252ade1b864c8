//! Shared by the broker tests: the local servers they need (a test fails
//! loudly when one is down, it is never skipped), unique names so tests
//! and runs never share a subject, exchange, topic or stream, and sample
//! events.

#![allow(dead_code)]

use plexus_pubsub::{config, Publisher};
use plexus_sdk::notifier::{FsEvent, LogEvent, ProviderEvent};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const NATS_URL: &str = "nats://127.0.0.1:4222";
pub const RABBIT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const MQTT_URL: &str = "mqtt://127.0.0.1:1883";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// Panics with a clear message when the server on `port` is not reachable.
pub fn require(port: u16, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(err) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        panic!(
            "{what} is not reachable on 127.0.0.1:{port} ({err}). The plexus-pubsub tests run \
             against the real local server and are never skipped: start it (see the README, Testing)."
        );
    }
}

/// A name no other test or run uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An environment of these pairs only.
pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

/// Validates `topic_url` with `pairs` as the environment and connects.
pub async fn connect(topic_url: &str, pairs: &[(&str, &str)]) -> Result<Publisher, String> {
    let broker = config::parse(topic_url, &env_of(pairs))?;
    Publisher::connect(&broker).await
}

pub fn fs_event(n: i64) -> FsEvent {
    FsEvent {
        timestamp: 1_700_000_000_000_000_000 + n,
        action: "upload".into(),
        username: "alice".into(),
        fs_path: format!("/srv/data/file-{n}.bin"),
        virtual_path: format!("/file-{n}.bin"),
        file_size: 4096,
        protocol: "SFTP".into(),
        status: 1,
        ip: "192.0.2.1".into(),
        session_id: "s1".into(),
        elapsed: 12,
        ..Default::default()
    }
}

pub fn provider_event(action: &str, object_type: &str) -> ProviderEvent {
    ProviderEvent {
        timestamp: 1_700_000_000_000_000_000,
        action: action.into(),
        object_type: object_type.into(),
        username: "admin".into(),
        ip: "127.0.0.1".into(),
        object_name: "bob".into(),
        object_data: br#"{"username":"bob"}"#.to_vec(),
        role: String::new(),
    }
}

pub fn log_event() -> LogEvent {
    LogEvent {
        timestamp: 1_700_000_000_000_000_000,
        event: 1,
        username: "mallory".into(),
        protocol: "SSH".into(),
        ip: "203.0.113.9".into(),
        message: "login failed".into(),
        role: String::new(),
    }
}
