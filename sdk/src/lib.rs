//! Write SFTPGo plugins in Rust that any go-plugin host can run.
//!
//! A plugin is an executable the host starts; it serves one of SFTPGo's five
//! gRPC services (notifier, kms, auth, eventsearcher, ipfilter) exactly as a
//! hashicorp/go-plugin server does, so the same binary runs under Plexus and
//! under SFTPGo. This crate does the go-plugin part: magic cookie, protocol
//! version, unix socket or TCP listener, AutoMTLS, the health, controller,
//! broker and stdio services, the handshake line on stdout, SIGINT/SIGTERM,
//! graceful shutdown, and hclog-formatted logs on stderr. The plugin author
//! implements one generated trait; everything needed is re-exported here.
//!
//! ```no_run
//! use plexus_sdk::notifier::{FsEvent, LogEvent, Notifier, ProviderEvent};
//! use plexus_sdk::{async_trait, Request, Response, Status};
//!
//! struct Printer;
//!
//! #[async_trait]
//! impl Notifier for Printer {
//!     async fn send_fs_event(&self, event: Request<FsEvent>) -> Result<Response<()>, Status> {
//!         plexus_sdk::tracing::info!(action = %event.get_ref().action, "fs event");
//!         Ok(Response::new(()))
//!     }
//!     async fn send_provider_event(&self, _: Request<ProviderEvent>) -> Result<Response<()>, Status> {
//!         Ok(Response::new(()))
//!     }
//!     async fn send_log_event(&self, _: Request<LogEvent>) -> Result<Response<()>, Status> {
//!         Ok(Response::new(()))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     plexus_sdk::logging::init("printer");
//!     plexus_sdk::serve_notifier(Printer).await
//! }
//! ```
//!
//! [`PluginServer`] is the builder behind the `serve_*` functions: choose the
//! transport, the shutdown grace period, get a [`ShutdownHandle`], or get a
//! `Result` instead of an exit status.
//!
//! # The environment a plugin reads
//!
//! | Variable | Effect |
//! | --- | --- |
//! | the kind's cookie, e.g. `SFTPGO_PLUGIN_NOTIFIER` | must hold the kind's value, else go-plugin's "This binary is a plugin..." on stderr and exit 1 |
//! | `PLUGIN_PROTOCOL_VERSIONS` | versions the host speaks; the plugin speaks 1; none in common: error, exit 1; unset: 1 |
//! | `PLUGIN_CLIENT_CERT` | host certificate (PEM): AutoMTLS on, pinned to it |
//! | `PLUGIN_UNIX_SOCKET_DIR`, else `TMPDIR`, else `/tmp` | where the private socket directory is made |
//! | `PLUGIN_MIN_PORT`, `PLUGIN_MAX_PORT` | the TCP port range (TCP transport only) |
//! | `PLEXUS_PLUGIN_TRANSPORT` | `unix` (default) or `tcp`; wins over [`PluginServer::transport`] |
//! | `PLUGIN_MULTIPLEX_GRPC` | when set, the handshake line's 7th field says `false` (no broker multiplexing) |
//! | `RUST_LOG` | log filter for [`logging::init`] (default `info`) |
//!
//! # Output
//!
//! stdout carries exactly one line, the handshake
//! (`1|1|unix|/tmp/pluginXXXX/plugin.sock|grpc|<cert>`); logs go to stderr
//! as hclog JSON. `plugin.GRPCStdio` is served but sends nothing: every
//! go-plugin host reads the plugin's stderr directly, so logs arrive once.

mod batch;
mod cookie_check;
mod env;
mod error;
mod host_watch;
mod incoming;
mod kinds;
mod listener;
pub mod logging;
mod serve;
mod services;
mod shutdown;
mod tls;
mod version;

use std::process::ExitCode;

pub use cookie_check::check_cookie;
pub use env::TRANSPORT_VAR;
pub use error::{ServeError, NOT_LAUNCHED_BY_HOST};
pub use kinds::{PluginService, MAX_RECEIVE_BYTES};
pub use listener::{Transport, SOCKET_FILE};
pub use plexus_proto::PluginKind;
pub use serve::{PluginServer, DEFAULT_SHUTDOWN_GRACE};
pub use services::HEALTH_SERVICE;
pub use shutdown::ShutdownHandle;
pub use tonic::{async_trait, Code, Request, Response, Status};
pub use tracing;

/// The notifier kind: receives filesystem, provider and log events.
pub mod notifier {
    pub use crate::batch::{NotifierPlugin, MAX_BATCH};
    pub use plexus_proto::sftpgo::notifier_server::{Notifier, NotifierServer};
    pub use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
}

/// The KMS kind: encrypts and decrypts secrets.
pub mod kms {
    pub use plexus_proto::sftpgo::kms_server::{Kms, KmsServer};
    pub use plexus_proto::sftpgo::{
        DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse,
    };
}

/// The auth kind: checks credentials and returns the user.
pub mod auth {
    pub use plexus_proto::sftpgo::auth_server::{Auth, AuthServer};
    pub use plexus_proto::sftpgo::{
        AuthResponse, CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest,
        CheckUserAndPublicKeyRequest, CheckUserAndTlsCertRequest, KeyboardAuthRequest,
        KeyboardAuthResponse,
    };
}

/// The eventsearcher kind: answers event searches with a JSON document.
pub mod eventsearcher {
    pub use plexus_proto::sftpgo::searcher_server::{Searcher, SearcherServer};
    pub use plexus_proto::sftpgo::{
        fs_events_filter, log_events_filter, provider_events_filter, FsEventsFilter,
        LogEventsFilter, ProviderEventsFilter, SearchResponse,
    };
}

/// The ipfilter kind: allows or denies a client IP (an error denies).
pub mod ipfilter {
    pub use plexus_proto::sftpgo::ip_filter_server::{IpFilter, IpFilterServer};
    pub use plexus_proto::sftpgo::CheckIpRequest;
}

/// Serves a notifier until the host stops it; returns the exit status.
///
/// Serves SFTPGo's `proto.Notifier` and Plexus's batch extension
/// `plexus.v1.NotifierBatch` (see [`notifier::NotifierPlugin`]).
pub async fn serve_notifier<T: notifier::Notifier>(plugin: T) -> ExitCode {
    PluginServer::new(notifier::NotifierPlugin::new(plugin))
        .run()
        .await
}

/// Serves a KMS until the host stops it; returns the exit status.
pub async fn serve_kms<T: kms::Kms>(plugin: T) -> ExitCode {
    PluginServer::new(kms::KmsServer::new(plugin)).run().await
}

/// Serves an auth plugin until the host stops it; returns the exit status.
pub async fn serve_auth<T: auth::Auth>(plugin: T) -> ExitCode {
    PluginServer::new(auth::AuthServer::new(plugin)).run().await
}

/// Serves an eventsearcher until the host stops it; returns the exit status.
pub async fn serve_eventsearcher<T: eventsearcher::Searcher>(plugin: T) -> ExitCode {
    PluginServer::new(eventsearcher::SearcherServer::new(plugin))
        .run()
        .await
}

/// Serves an IP filter until the host stops it; returns the exit status.
pub async fn serve_ipfilter<T: ipfilter::IpFilter>(plugin: T) -> ExitCode {
    PluginServer::new(ipfilter::IpFilterServer::new(plugin))
        .run()
        .await
}
