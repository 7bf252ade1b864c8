//! The go-plugin process host: everything between a plugin's config entry
//! and a healthy gRPC channel to its process, and back down again.
//!
//! The path is: resolve `cmd` once and, with a `sha256sum`, open and hash
//! it ([`executable`], [`checksum`]) -> build the child's environment
//! ([`environment`]) -> spawn without a shell, stdin null, executing the
//! very file that was hashed ([`process`]) -> read and check the handshake
//! line under a start timeout ([`handshake`]) -> connect over a unix socket
//! or TCP, with pinned mTLS when `auto_mtls` ([`transport`]) -> health check
//! and stdio ([`start`]) -> mirror the plugin's output into `tracing`, its
//! control characters escaped ([`logs`], [`sanitize`]). Every failure on
//! the way is a [`HostError`] that names the plugin and the [`Step`].

pub mod checksum;
pub mod environment;
mod error;
pub mod executable;
pub mod handshake;
pub mod logs;
pub mod pid_records;
pub mod process;
pub mod sanitize;
pub mod start;
pub mod transport;

pub use error::{HostError, Step};
pub use process::ExitInfo;
pub use start::check_health;
pub use start::{default_label, HostOptions, LaunchSpec, PluginHandle};
