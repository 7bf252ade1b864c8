//! Why a plugin could not start or stopped with an error.
//!
//! Every failure on the way to the handshake line is one variant here, with a
//! message that is a complete sentence naming the variable, path or step, so
//! that the host (which shows a plugin's stderr when it exits before the
//! handshake) and a person running the binary by hand both see what to fix.

use std::io;
use std::path::PathBuf;

use plexus_proto::mtls::MtlsError;
use plexus_proto::PluginKind;

/// go-plugin's message for a binary started without its magic cookie, verbatim.
pub const NOT_LAUNCHED_BY_HOST: &str = "This binary is a plugin. These are not meant to be executed directly. Please execute the program that consumes these plugins, which will load any plugins automatically";

/// Why `serve` failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The magic cookie is missing or wrong: not started by a go-plugin host.
    #[error("{NOT_LAUNCHED_BY_HOST}")]
    NotLaunchedByHost { kind: PluginKind },

    /// `PLUGIN_PROTOCOL_VERSIONS` names no version this plugin speaks.
    #[error("the host offers app protocol versions {offered:?} (PLUGIN_PROTOCOL_VERSIONS) but this {kind} plugin speaks only version {supported}; upgrade the plugin or the host")]
    NoCommonVersion {
        kind: PluginKind,
        offered: String,
        supported: u32,
    },

    /// An environment variable holds a value the SDK cannot use.
    #[error("environment variable {name} is invalid: {reason}")]
    InvalidVariable { name: &'static str, reason: String },

    /// `PLUGIN_CLIENT_CERT` could not be read, or the plugin's own certificate not made.
    #[error("AutoMTLS setup failed: {0}")]
    Mtls(#[from] MtlsError),

    /// The private socket directory could not be created.
    #[error("cannot create a private socket directory under {base}: {source}")]
    SocketDir {
        base: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Binding the unix socket failed.
    #[error("cannot listen on unix socket {path}: {source}")]
    ListenUnix {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// No port of the range could be bound.
    #[error("cannot bind a TCP listener on 127.0.0.1 in ports {min}..={max} (PLUGIN_MIN_PORT..PLUGIN_MAX_PORT): {last_error}")]
    ListenTcp {
        min: u16,
        max: u16,
        last_error: String,
    },

    /// Installing the SIGINT/SIGTERM handlers failed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] io::Error),

    /// The handshake line could not be written to stdout.
    #[error("cannot write the handshake line to stdout: {0}")]
    Handshake(#[source] io::Error),

    /// The gRPC server failed.
    #[error("the gRPC server failed: {0}")]
    Server(#[from] tonic::transport::Error),
}

impl ServeError {
    /// The process exit status for this error: 1, as go-plugin servers exit.
    pub fn exit_code(&self) -> std::process::ExitCode {
        std::process::ExitCode::FAILURE
    }

    /// Prints the error to stderr the way a host understands it: go-plugin's
    /// exact message for a missing cookie, otherwise one `[ERROR]` line (a
    /// go-plugin host maps that prefix to its error level).
    pub fn report(&self, kind: PluginKind) {
        match self {
            ServeError::NotLaunchedByHost { .. } => eprintln!("{NOT_LAUNCHED_BY_HOST}"),
            other => eprintln!("[ERROR] {kind} plugin: {other}"),
        }
    }
}
