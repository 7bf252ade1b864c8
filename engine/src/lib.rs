//! The Plexus host.
//!
//! `plexus-engine` turns an SFTPGo-style plugin configuration into running
//! plugin processes and typed gRPC clients: [`config`] reads and validates
//! the configuration, [`host`] is the go-plugin client side (checksum,
//! environment, spawn, handshake, mTLS channel, log mirroring, shutdown), and
//! [`clients`] wraps the SFTPGo services with the host's timeouts.

pub mod actor_thread;
pub mod blocking;
pub mod clients;
pub mod config;
pub mod engine;
pub mod host;
pub mod hosted;
pub mod ingest;
pub mod metrics;
pub mod notifier_link;
pub mod queues;
pub mod settings;

pub use blocking::{BlockingEngine, Bus};
pub use config::{ConfigError, PluginConfig, PluginsFile};
pub use engine::{Engine, EngineError, PluginStats};
pub use host::{HostError, HostOptions, LaunchSpec, PluginHandle, Step};
pub use settings::EngineSettings;
