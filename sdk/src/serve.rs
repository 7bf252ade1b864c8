//! Serving one plugin service the way a go-plugin server does.
//!
//! The order is go-plugin's, and it matters to the host: check the magic
//! cookie, negotiate the app protocol version, set up AutoMTLS, bind the
//! listener, register the services, and only then print the handshake line
//! (`CORE|APP|NETWORK|ADDRESS|grpc|CERT`) on stdout; nothing is printed on
//! stdout before it. Then serve until the host calls the controller's
//! `Shutdown`, SIGTERM arrives or the plugin asks through its
//! [`ShutdownHandle`], stop gracefully within a grace period, and remove the
//! socket directory.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use futures::Stream;
use plexus_proto::cookie::{APP_PROTOCOL_VERSION, CORE_PROTOCOL_VERSION};
use plexus_proto::HandshakeLine;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::service::Routes;
use tonic::transport::server::{Connected, Router};
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::env::HostEnv;
use crate::error::ServeError;
use crate::kinds::PluginService;
use crate::listener::{self, Bound, Transport};
use crate::shutdown::{install_signal_handlers, ShutdownHandle};
use crate::{cookie_check, incoming, services, tls, version};

/// How long in-flight RPCs may take to finish once a stop was asked for.
/// A go-plugin host kills the plugin 2 s after `Shutdown`; stay below that.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// The app protocol versions a plugin built on this SDK speaks.
const SUPPORTED_VERSIONS: [u32; 1] = [APP_PROTOCOL_VERSION];

/// Serves one SFTPGo plugin service as a go-plugin server.
///
/// ```no_run
/// use plexus_sdk::notifier::{FsEvent, LogEvent, Notifier, NotifierServer, ProviderEvent};
/// use plexus_sdk::{async_trait, PluginServer, Request, Response, Status, Transport};
///
/// struct Quiet;
///
/// #[async_trait]
/// impl Notifier for Quiet {
///     async fn send_fs_event(&self, _: Request<FsEvent>) -> Result<Response<()>, Status> {
///         Ok(Response::new(()))
///     }
///     async fn send_provider_event(&self, _: Request<ProviderEvent>) -> Result<Response<()>, Status> {
///         Ok(Response::new(()))
///     }
///     async fn send_log_event(&self, _: Request<LogEvent>) -> Result<Response<()>, Status> {
///         Ok(Response::new(()))
///     }
/// }
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     plexus_sdk::logging::init("quiet");
///     PluginServer::new(NotifierServer::new(Quiet))
///         .transport(Transport::Tcp)
///         .run()
///         .await
/// }
/// ```
#[derive(Debug)]
pub struct PluginServer<S> {
    service: S,
    transport: Option<Transport>,
    grace: Duration,
    shutdown: ShutdownHandle,
}

impl<S: PluginService> PluginServer<S> {
    /// A server for `service`, e.g. `NotifierServer::new(my_notifier)`.
    pub fn new(service: S) -> Self {
        PluginServer {
            service,
            transport: None,
            grace: DEFAULT_SHUTDOWN_GRACE,
            shutdown: ShutdownHandle::new(),
        }
    }

    /// Chooses the transport; `PLEXUS_PLUGIN_TRANSPORT` (`unix`/`tcp`) in the
    /// environment still wins, so an operator can switch without a rebuild.
    /// Default: [`Transport::Unix`].
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// How long in-flight RPCs may take to finish after a stop was asked for
    /// (default [`DEFAULT_SHUTDOWN_GRACE`]).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// A handle the plugin can use to stop itself gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves, then turns the outcome into the process exit status: 0 after a
    /// graceful stop; otherwise the error is printed on stderr (go-plugin's
    /// exact message for a missing cookie, else one `[ERROR]` line) and 1.
    pub async fn run(self) -> ExitCode {
        match self.serve().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                err.report(S::KIND);
                err.exit_code()
            }
        }
    }

    /// Serves until stopped; `Ok` after a graceful stop. Must run inside a
    /// multi-threaded or current-thread tokio runtime.
    pub async fn serve(self) -> Result<(), ServeError> {
        let env = HostEnv::from_process(S::KIND.cookie().key);
        self.serve_with_env(env).await
    }

    async fn serve_with_env(self, env: HostEnv) -> Result<(), ServeError> {
        let kind = S::KIND;
        cookie_check::check(kind, &env.cookie)?;
        let negotiated = version::negotiate(kind, &env.protocol_versions, &SUPPORTED_VERSIONS)?;
        for entry in &negotiated.skipped {
            tracing::warn!(entry = %entry, "PLUGIN_PROTOCOL_VERSIONS holds an entry that is not a version number; skipped");
        }
        let transport = listener::resolve_transport(self.transport, &env.transport)?;
        let mtls = tls::setup(&env.client_cert)?;
        install_signal_handlers(&self.shutdown)?;
        crate::host_watch::spawn(&self.shutdown);
        if transport == Transport::Unix && env.unix_socket_group.non_empty().is_some() {
            tracing::warn!("PLUGIN_UNIX_SOCKET_GROUP is not supported: the socket stays reachable by this user only");
        }
        let bound = listener::bind(transport, &env)?;

        let routes = self.service.add_to(Routes::default());
        let (routes, health) = services::add_go_plugin_services(routes, &self.shutdown).await;
        let stopping = self.shutdown.wait();
        tokio::spawn(async move {
            stopping.await;
            services::set_health(&health, ServingStatus::NotServing).await;
        });

        let line = HandshakeLine {
            core_version: CORE_PROTOCOL_VERSION,
            app_version: negotiated.version,
            network: bound.network(),
            address: bound.address(),
            protocol: "grpc".to_owned(),
            server_cert: mtls.as_ref().map(|m| m.server_cert.to_vec()),
            // A host asking for broker multiplexing learns that this plugin does not do it.
            multiplex: env.multiplex_grpc.non_empty().map(|_| false),
        };
        write_handshake(&mut io::stdout().lock(), &line).map_err(ServeError::Handshake)?;
        tracing::debug!(
            kind = %kind,
            network = line.network.as_str(),
            address = %line.address,
            auto_mtls = mtls.is_some(),
            "plugin serving"
        );

        let router = Server::builder().add_routes(routes);
        let shutdown = &self.shutdown;
        let grace = self.grace;
        let (result, socket_dir) = match (bound, mtls) {
            (Bound::Unix { listener, dir, .. }, None) => {
                let stream = incoming::plain(UnixListenerStream::new(listener));
                (
                    serve_until_stopped(router, stream, shutdown, grace).await,
                    Some(dir),
                )
            }
            (Bound::Unix { listener, dir, .. }, Some(mtls)) => {
                let stream = incoming::tls(UnixListenerStream::new(listener), mtls.acceptor);
                (
                    serve_until_stopped(router, stream, shutdown, grace).await,
                    Some(dir),
                )
            }
            (Bound::Tcp { listener, .. }, None) => {
                let stream = incoming::plain(TcpListenerStream::new(listener));
                (
                    serve_until_stopped(router, stream, shutdown, grace).await,
                    None,
                )
            }
            (Bound::Tcp { listener, .. }, Some(mtls)) => {
                let stream = incoming::tls(TcpListenerStream::new(listener), mtls.acceptor);
                (
                    serve_until_stopped(router, stream, shutdown, grace).await,
                    None,
                )
            }
        };
        if let Some(dir) = socket_dir {
            let path = dir.path().to_owned();
            if let Err(err) = dir.close() {
                tracing::warn!(path = %path.display(), error = %err, "cannot remove the socket directory");
            }
        }
        result
    }
}

/// Serves `incoming` until a stop is asked for, then gives in-flight RPCs
/// `grace` to finish; connections still open after that are abandoned.
async fn serve_until_stopped<I, IO>(
    router: Router,
    incoming: I,
    shutdown: &ShutdownHandle,
    grace: Duration,
) -> Result<(), ServeError>
where
    I: Stream<Item = io::Result<IO>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let server = router.serve_with_incoming_shutdown(incoming, shutdown.wait());
    let stopping = shutdown.wait();
    let deadline = async move {
        stopping.await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result.map_err(ServeError::Server),
        () = deadline => {
            tracing::warn!(
                grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                "connections still open after the shutdown grace period; stopping anyway"
            );
            Ok(())
        }
    }
}

/// Prints the handshake line and a newline, then flushes.
fn write_handshake(out: &mut impl Write, line: &HandshakeLine) -> io::Result<()> {
    writeln!(out, "{line}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_proto::Network;

    #[test]
    fn handshake_line_is_go_plugins_shape() {
        let line = HandshakeLine {
            core_version: 1,
            app_version: 1,
            network: Network::Unix,
            address: "/tmp/plugin123/plugin.sock".into(),
            protocol: "grpc".into(),
            server_cert: None,
            multiplex: None,
        };
        let mut out = Vec::new();
        write_handshake(&mut out, &line).unwrap();
        assert_eq!(out, b"1|1|unix|/tmp/plugin123/plugin.sock|grpc|\n");
    }
}
