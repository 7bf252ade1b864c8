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

/// A test CA and a server certificate it signed, as PEM files in a
/// temporary directory (kept alive by the struct).
pub struct TestPki {
    pub dir: tempfile::TempDir,
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl TestPki {
    /// A CA and a server certificate for `names` (DNS names or IPs).
    pub fn new(names: &[&str]) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
        let server_key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let server_cert = CertificateParams::new(names)
            .expect("server params")
            .signed_by(&server_key, &ca)
            .expect("server certificate");
        let pki = TestPki {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server-key.pem"),
            dir,
        };
        std::fs::write(&pki.ca, ca.pem()).expect("write CA");
        std::fs::write(&pki.cert, server_cert.pem()).expect("write cert");
        std::fs::write(&pki.key, server_key.serialize_pem()).expect("write key");
        pki
    }

    /// A rustls server configuration with this server certificate.
    pub fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        let certs = rustls_pemfile::certs(&mut std::fs::read(&self.cert).unwrap().as_slice())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pemfile::private_key(&mut std::fs::read(&self.key).unwrap().as_slice())
            .unwrap()
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        std::sync::Arc::new(config)
    }

    pub fn ca_path(&self) -> String {
        self.ca.display().to_string()
    }
}
