//! The Plexus host.
//!
//! `plexus-engine` turns an SFTPGo-style plugin configuration into running
//! plugin processes and typed gRPC clients: [`config`] reads and validates
//! the configuration, [`host`] is the go-plugin client side (checksum,
//! environment, spawn, handshake, mTLS channel, log mirroring, shutdown), and
//! [`clients`] wraps the SFTPGo services with the host's timeouts;
//! [`unary`] is the purpose-built client that delivers events to plugins
//! speaking SFTPGo's unary notifier service.

mod actor_thread;
mod blocking;
pub mod clients;
pub mod config;
mod engine;
pub mod host;
mod hosted;
pub mod ingest;
pub mod ingest_token;
pub mod jsonl;
pub mod metrics;
mod notifier_link;
mod queues;
mod restarter;
mod settings;
pub mod sources;
mod storage_watch;
pub mod systemd;
pub mod unary;
pub mod unix_socket;

pub use blocking::{BlockingEngine, Bus};
pub use config::{ConfigError, PluginConfig, PluginsFile};
pub use engine::{Engine, EngineError, PluginStats};
pub use host::{HostError, HostOptions, LaunchSpec, PluginHandle, Step};
pub use queues::{
    backlog_logs, backlog_options, queue_dirs, queue_owner, QueueStoreError, BACKLOG_DIR,
};
pub use settings::EngineSettings;
