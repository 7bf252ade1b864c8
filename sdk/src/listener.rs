//! Where the plugin listens: a unix socket in a private directory, or TCP on
//! 127.0.0.1 inside the host's port range.
//!
//! go-plugin servers listen on a unix socket on Unix. Plexus does the same by
//! default, but the socket lives in a fresh directory of its own (mode 0700,
//! created under `PLUGIN_UNIX_SOCKET_DIR`, else `TMPDIR`, else `/tmp`), so no
//! other user can even reach the socket file, and the whole directory is
//! removed when the plugin stops. The socket is `<dir>/plugin.sock`.
//!
//! TCP is chosen with [`Transport::Tcp`] on the builder, or by the operator
//! with `PLEXUS_PLUGIN_TRANSPORT=tcp` (which wins over the builder; `unix`
//! forces the socket). The plugin then binds the first free port from
//! `PLUGIN_MIN_PORT` to `PLUGIN_MAX_PORT` on 127.0.0.1, as go-plugin does;
//! with neither variable set it takes any free port.

use std::fs::Permissions;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use plexus_proto::Network;
use tempfile::TempDir;
use tokio::net::{TcpListener, UnixListener};

use crate::env::{HostEnv, Var, TRANSPORT_VAR};
use crate::error::ServeError;

/// The file name of the socket inside the private directory.
pub const SOCKET_FILE: &str = "plugin.sock";

/// How the plugin listens for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// A unix socket in a private temporary directory (the default).
    #[default]
    Unix,
    /// TCP on 127.0.0.1, a port within `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT`.
    Tcp,
}

/// The transport to use: `PLEXUS_PLUGIN_TRANSPORT` if set, else the builder's, else unix.
pub(crate) fn resolve_transport(
    chosen: Option<Transport>,
    env: &Var,
) -> Result<Transport, ServeError> {
    match env {
        Var::Unset => Ok(chosen.unwrap_or_default()),
        Var::NotUnicode => Err(ServeError::InvalidVariable {
            name: TRANSPORT_VAR,
            reason: "the value is not valid UTF-8".into(),
        }),
        Var::Set(value) => match value.trim().to_ascii_lowercase().as_str() {
            "" => Ok(chosen.unwrap_or_default()),
            "unix" => Ok(Transport::Unix),
            "tcp" => Ok(Transport::Tcp),
            _ => Err(ServeError::InvalidVariable {
                name: TRANSPORT_VAR,
                reason: format!("{value:?} is neither \"unix\" nor \"tcp\""),
            }),
        },
    }
}

/// A bound listener and what the handshake line says about it.
#[derive(Debug)]
pub(crate) enum Bound {
    Unix {
        listener: UnixListener,
        path: PathBuf,
        /// Removed (with the socket) when dropped.
        dir: TempDir,
    },
    Tcp {
        listener: TcpListener,
        addr: SocketAddr,
    },
}

impl Bound {
    pub(crate) fn network(&self) -> Network {
        match self {
            Bound::Unix { .. } => Network::Unix,
            Bound::Tcp { .. } => Network::Tcp,
        }
    }

    pub(crate) fn address(&self) -> String {
        match self {
            Bound::Unix { path, .. } => path.display().to_string(),
            Bound::Tcp { addr, .. } => addr.to_string(),
        }
    }
}

/// Binds the listener the transport asks for. Must run inside a tokio runtime.
pub(crate) fn bind(transport: Transport, env: &HostEnv) -> Result<Bound, ServeError> {
    match transport {
        Transport::Unix => bind_unix(&socket_base_dir(env)?),
        Transport::Tcp => {
            let (min, max) = port_range(&env.min_port, &env.max_port)?;
            bind_tcp(min, max)
        }
    }
}

/// Where the private socket directory is created.
pub(crate) fn socket_base_dir(env: &HostEnv) -> Result<PathBuf, ServeError> {
    match &env.unix_socket_dir {
        Var::NotUnicode => {
            return Err(ServeError::InvalidVariable {
                name: "PLUGIN_UNIX_SOCKET_DIR",
                reason: "the value is not valid UTF-8".into(),
            })
        }
        other => {
            if let Some(dir) = other.non_empty() {
                return Ok(PathBuf::from(dir));
            }
        }
    }
    Ok(env
        .tmpdir
        .non_empty()
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from))
}

/// Creates `<base>/plugin<random>/` with mode 0700 and binds `plugin.sock` in it.
pub(crate) fn bind_unix(base: &Path) -> Result<Bound, ServeError> {
    let private = Permissions::from_mode(0o700);
    let dir_err = |source| ServeError::SocketDir {
        base: base.to_owned(),
        source,
    };
    let dir = tempfile::Builder::new()
        .prefix("plugin")
        .permissions(private.clone())
        .tempdir_in(base)
        .map_err(dir_err)?;
    // mkdir's mode is filtered by the umask; make it exactly 0700.
    std::fs::set_permissions(dir.path(), private).map_err(dir_err)?;
    let path = dir.path().join(SOCKET_FILE);
    let listener = UnixListener::bind(&path).map_err(|source| ServeError::ListenUnix {
        path: path.clone(),
        source,
    })?;
    Ok(Bound::Unix {
        listener,
        path,
        dir,
    })
}

/// Reads `PLUGIN_MIN_PORT` / `PLUGIN_MAX_PORT`; both unset means any port (0, 0).
pub(crate) fn port_range(min: &Var, max: &Var) -> Result<(u16, u16), ServeError> {
    let parse = |name: &'static str, var: &Var| -> Result<u16, ServeError> {
        match var {
            Var::Unset => Ok(0),
            Var::NotUnicode => Err(ServeError::InvalidVariable {
                name,
                reason: "the value is not valid UTF-8".into(),
            }),
            Var::Set(text) if text.trim().is_empty() => Ok(0),
            Var::Set(text) => text
                .trim()
                .parse::<u16>()
                .map_err(|_| ServeError::InvalidVariable {
                    name,
                    reason: format!("{text:?} is not a port number (0-65535)"),
                }),
        }
    };
    let min_port = parse("PLUGIN_MIN_PORT", min)?;
    let max_port = parse("PLUGIN_MAX_PORT", max)?;
    if min_port > max_port {
        return Err(ServeError::InvalidVariable {
            name: "PLUGIN_MIN_PORT",
            reason: format!("{min_port} is greater than PLUGIN_MAX_PORT {max_port}"),
        });
    }
    Ok((min_port, max_port))
}

/// Binds the first free port of `min..=max` on 127.0.0.1 (any port for 0, 0).
pub(crate) fn bind_tcp(min: u16, max: u16) -> Result<Bound, ServeError> {
    let try_bind = |port: u16| -> std::io::Result<Bound> {
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        Ok(Bound::Tcp { listener, addr })
    };
    if min == 0 && max == 0 {
        return try_bind(0).map_err(|err| ServeError::ListenTcp {
            min,
            max,
            last_error: err.to_string(),
        });
    }
    let mut last_error = String::from("no port tried");
    // Port 0 would mean "any port", which may lie outside the range.
    for port in min.max(1)..=max {
        match try_bind(port) {
            Ok(bound) => return Ok(bound),
            Err(err) => last_error = format!("port {port}: {err}"),
        }
    }
    Err(ServeError::ListenTcp {
        min,
        max,
        last_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn transport_env_wins_and_is_validated() {
        assert_eq!(
            resolve_transport(None, &Var::Unset).unwrap(),
            Transport::Unix
        );
        assert_eq!(
            resolve_transport(Some(Transport::Tcp), &Var::Unset).unwrap(),
            Transport::Tcp
        );
        assert_eq!(
            resolve_transport(Some(Transport::Tcp), &Var::from(" UNIX ")).unwrap(),
            Transport::Unix
        );
        assert_eq!(
            resolve_transport(None, &Var::from("tcp")).unwrap(),
            Transport::Tcp
        );
        let err = resolve_transport(None, &Var::from("udp")).unwrap_err();
        assert!(err.to_string().contains(TRANSPORT_VAR), "{err}");
    }

    #[test]
    fn port_range_parsing() {
        assert_eq!(port_range(&Var::Unset, &Var::Unset).unwrap(), (0, 0));
        assert_eq!(
            port_range(&Var::from("10000"), &Var::from(" 25000 ")).unwrap(),
            (10000, 25000)
        );
        let err = port_range(&Var::from("x"), &Var::from("2")).unwrap_err();
        assert!(err.to_string().contains("PLUGIN_MIN_PORT"), "{err}");
        let err = port_range(&Var::from("1"), &Var::from("70000")).unwrap_err();
        assert!(err.to_string().contains("PLUGIN_MAX_PORT"), "{err}");
        let err = port_range(&Var::from("30"), &Var::from("20")).unwrap_err();
        assert!(err.to_string().contains("greater"), "{err}");
    }

    #[test]
    fn socket_dir_precedence() {
        let mut env = HostEnv::default();
        assert_eq!(socket_base_dir(&env).unwrap(), PathBuf::from("/tmp"));
        env.tmpdir = Var::from("/var/tmp");
        assert_eq!(socket_base_dir(&env).unwrap(), PathBuf::from("/var/tmp"));
        env.unix_socket_dir = Var::from("/run/plugins");
        assert_eq!(
            socket_base_dir(&env).unwrap(),
            PathBuf::from("/run/plugins")
        );
    }

    #[tokio::test]
    async fn unix_socket_dir_is_private_and_removed_on_drop() {
        let base = tempfile::tempdir().unwrap();
        let bound = bind_unix(base.path()).unwrap();
        let Bound::Unix { path, dir, .. } = &bound else {
            panic!("not unix")
        };
        assert_eq!(path.file_name().unwrap(), SOCKET_FILE);
        assert_eq!(std::fs::metadata(dir.path()).unwrap().mode() & 0o777, 0o700);
        assert!(path.exists());
        let dir_path = dir.path().to_owned();
        drop(bound);
        assert!(!dir_path.exists());
    }

    #[tokio::test]
    async fn missing_base_dir_is_named() {
        let err = bind_unix(Path::new("/nonexistent/plexus")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/plexus"), "{err}");
    }

    #[tokio::test]
    async fn tcp_binds_inside_the_range_and_skips_busy_ports() {
        let first = bind_tcp(0, 0).unwrap();
        let Bound::Tcp { addr, .. } = &first else {
            panic!("not tcp")
        };
        let busy = addr.port();
        if busy < u16::MAX {
            let next = bind_tcp(busy, busy.saturating_add(50)).unwrap();
            let Bound::Tcp { addr: got, .. } = &next else {
                panic!("not tcp")
            };
            assert!(got.port() > busy && got.port() <= busy.saturating_add(50));
            assert_eq!(next.address(), format!("127.0.0.1:{}", got.port()));
        }
        let err = bind_tcp(busy, busy).unwrap_err();
        assert!(err.to_string().contains(&busy.to_string()), "{err}");
    }
}
