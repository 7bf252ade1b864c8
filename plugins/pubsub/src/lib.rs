//! `plexus-pubsub`: publishes SFTPGo/Plexus events to a message broker, a
//! drop-in for `sftpgo-plugin-pubsub` (same arguments, environment and
//! message bytes) that reconnects instead of panicking and reports each
//! event's outcome. The binary is `src/main.rs`; the library exposes the
//! pieces for tests and benchmarks.

pub mod aws_config;
pub mod backoff;
pub mod brokers;
pub mod cli;
pub mod config;
pub mod gob;
pub mod gojson;
pub mod message;
pub mod notifier;
pub mod rfc3339;
pub mod sarama;
pub mod tls;

pub use brokers::Publisher;
pub use config::Broker;
pub use message::{Encoder, Message};
pub use notifier::PubSubNotifier;
