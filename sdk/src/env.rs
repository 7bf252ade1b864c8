//! The go-plugin variables a host puts in a plugin's environment, read once.
//!
//! Every decision the SDK takes before the handshake (cookie, protocol
//! version, transport, port range, AutoMTLS, socket directory) depends on a
//! handful of environment variables. They are read here, in one place, into a
//! plain struct, so the deciding code is pure and unit-tested without touching
//! the real process environment. A value that is not valid UTF-8 is kept as an
//! error and reported by whichever step needs it, naming the variable.

use std::ffi::OsString;

/// Selects the transport: `unix` (default) or `tcp`. A Plexus extension:
/// go-plugin servers choose by platform, SFTPGo never sets it.
pub const TRANSPORT_VAR: &str = "PLEXUS_PLUGIN_TRANSPORT";

/// One environment variable: absent, valid UTF-8, or present but not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Var {
    #[default]
    Unset,
    Set(String),
    NotUnicode,
}

impl Var {
    pub(crate) fn from_os(value: Option<OsString>) -> Var {
        match value {
            None => Var::Unset,
            Some(os) => match os.into_string() {
                Ok(text) => Var::Set(text),
                Err(_) => Var::NotUnicode,
            },
        }
    }

    /// The value when it is set, valid UTF-8 and not blank.
    pub(crate) fn non_empty(&self) -> Option<&str> {
        match self {
            Var::Set(text) if !text.trim().is_empty() => Some(text.as_str()),
            _ => None,
        }
    }
}

impl From<&str> for Var {
    fn from(text: &str) -> Var {
        Var::Set(text.to_owned())
    }
}

/// The variables the SDK reads, as the process received them.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostEnv {
    /// The value of this plugin kind's magic-cookie variable.
    pub cookie: Var,
    pub protocol_versions: Var,
    pub min_port: Var,
    pub max_port: Var,
    pub client_cert: Var,
    pub unix_socket_dir: Var,
    pub unix_socket_group: Var,
    pub multiplex_grpc: Var,
    pub tmpdir: Var,
    pub transport: Var,
}

impl HostEnv {
    /// Reads the real process environment; `cookie_key` is the kind's cookie variable.
    pub(crate) fn from_process(cookie_key: &str) -> HostEnv {
        let var = |name: &str| Var::from_os(std::env::var_os(name));
        HostEnv {
            cookie: var(cookie_key),
            protocol_versions: var("PLUGIN_PROTOCOL_VERSIONS"),
            min_port: var("PLUGIN_MIN_PORT"),
            max_port: var("PLUGIN_MAX_PORT"),
            client_cert: var("PLUGIN_CLIENT_CERT"),
            unix_socket_dir: var("PLUGIN_UNIX_SOCKET_DIR"),
            unix_socket_group: var("PLUGIN_UNIX_SOCKET_GROUP"),
            multiplex_grpc: var("PLUGIN_MULTIPLEX_GRPC"),
            tmpdir: var("TMPDIR"),
            transport: var(TRANSPORT_VAR),
        }
    }
}
