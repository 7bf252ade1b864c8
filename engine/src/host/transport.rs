//! The gRPC channel to a plugin: unix socket or loopback TCP, plain or with
//! pinned mutual TLS.
//!
//! tonic refuses a TLS configuration on `unix:` endpoints, so the channel is
//! always built with a custom connector that dials the socket itself and, with
//! AutoMTLS, runs the rustls handshake on top (server name `localhost`, ALPN
//! `h2`, the plugin's certificate pinned). Dial and TLS failures are told
//! apart so the host can report the right step.

use super::Step;
use hyper_util::rt::TokioIo;
use plexus_proto::handshake::Network;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint, Uri};

/// Where the plugin listens, from its handshake line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Address {
    /// Validates the handshake's address; TCP must be a loopback address.
    pub fn parse(network: Network, address: &str) -> Result<Address, String> {
        match network {
            Network::Unix => Ok(Address::Unix(PathBuf::from(address))),
            Network::Tcp => {
                let socket: SocketAddr = address
                    .parse()
                    .map_err(|err| format!("bad tcp address {address:?}: {err}"))?;
                if !socket.ip().is_loopback() {
                    return Err(format!(
                        "plugin listens on {socket}, not on a loopback address: refusing to connect"
                    ));
                }
                Ok(Address::Tcp(socket))
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(
                f,
                "unix:{}",
                super::sanitize::escape_controls(&path.to_string_lossy())
            ),
            Address::Tcp(socket) => write!(f, "tcp:{socket}"),
        }
    }
}

/// A dial failure, tagged with the step it belongs to.
#[derive(Debug)]
struct DialError {
    step: Step,
    source: std::io::Error,
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.source)
    }
}

impl std::error::Error for DialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A byte stream to a plugin: a socket, with TLS on top under AutoMTLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connected stream to a plugin.
pub type BoxedIo = Pin<Box<dyn Io>>;

/// How to open another connection to a running plugin: its address, the
/// pinned TLS configuration and the connect timeout of its first one. The
/// delivery client of a notifier opens its own connection with it.
#[derive(Clone)]
pub struct Dialer {
    address: Address,
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("address", &self.address)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Dialer {
    pub fn new(
        address: Address,
        tls: Option<Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
    ) -> Self {
        Dialer {
            address,
            tls,
            connect_timeout,
        }
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Connects (socket, then the TLS handshake under AutoMTLS) within the
    /// connect timeout. The error names the address and the step.
    pub async fn dial(&self) -> Result<BoxedIo, String> {
        match tokio::time::timeout(
            self.connect_timeout,
            dial(self.address.clone(), self.tls.clone()),
        )
        .await
        {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(err)) => Err(format!("{}: {err}", self.address)),
            Err(_) => Err(format!(
                "{}: {}: no connection within {:?}",
                self.address,
                Step::Connect,
                self.connect_timeout
            )),
        }
    }
}

async fn dial(
    address: Address,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<BoxedIo, DialError> {
    let connect_err = |source| DialError {
        step: Step::Connect,
        source,
    };
    let stream: BoxedIo = match &address {
        Address::Unix(path) => Box::pin(
            tokio::net::UnixStream::connect(path)
                .await
                .map_err(connect_err)?,
        ),
        Address::Tcp(socket) => {
            let stream = tokio::net::TcpStream::connect(socket)
                .await
                .map_err(connect_err)?;
            let _ = stream.set_nodelay(true);
            Box::pin(stream)
        }
    };
    let Some(tls) = tls else {
        return Ok(stream);
    };
    let server_name = rustls::pki_types::ServerName::try_from(plexus_proto::mtls::SERVER_NAME)
        .map_err(|err| DialError {
            step: Step::Tls,
            source: std::io::Error::other(err.to_string()),
        })?;
    let tls_stream = tokio_rustls::TlsConnector::from(tls)
        .connect(server_name, stream)
        .await
        .map_err(|source| DialError {
            step: Step::Tls,
            source,
        })?;
    Ok(Box::pin(tls_stream))
}

/// Connects a channel (eagerly, so failures surface here) with `connect_timeout`.
pub async fn connect(
    address: &Address,
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
) -> Result<Channel, (Step, String)> {
    // The URI only fills the :authority header; the connector picks the socket.
    let endpoint = Endpoint::from_static("http://localhost")
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    let target = address.clone();
    let connector = tower::service_fn(move |_: Uri| {
        let target = target.clone();
        let tls = tls.clone();
        async move { dial(target, tls).await.map(TokioIo::new) }
    });
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|err| classify(&err, address))
}

fn classify(err: &tonic::transport::Error, address: &Address) -> (Step, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(dial) = current.downcast_ref::<DialError>() {
            return (dial.step, format!("{address}: {}", dial.source));
        }
        source = current.source();
    }
    (Step::Connect, format!("{address}: {}", error_chain(err)))
}

/// An error and all its sources, joined.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(current) = source {
        let next = current.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_must_be_loopback() {
        assert!(Address::parse(Network::Tcp, "127.0.0.1:10000").is_ok());
        assert!(Address::parse(Network::Tcp, "[::1]:10000").is_ok());
        assert!(Address::parse(Network::Tcp, "10.1.2.3:10000")
            .unwrap_err()
            .contains("not on a loopback"));
        assert!(Address::parse(Network::Tcp, "nonsense").is_err());
    }

    #[tokio::test]
    async fn missing_socket_is_a_connect_error() {
        let address = Address::Unix(PathBuf::from("/nonexistent/plexus/socket"));
        let (step, detail) = connect(&address, None, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(step, Step::Connect);
        assert!(detail.contains("/nonexistent/plexus/socket"), "{detail}");
    }
}
