//! The go-plugin services every plugin serves besides its own.
//!
//! - `grpc.health.v1.Health`: service `plugin` (what go-plugin's client
//!   checks) and `""` (the whole server) report SERVING, NOT_SERVING once
//!   the plugin is stopping.
//! - `plugin.GRPCController`: `Shutdown` answers, then stops the plugin
//!   gracefully (`serve` returns `Ok`, the process exits 0).
//! - `plugin.GRPCBroker`: go-plugin clients open `StartStream` on connect for
//!   plugin-to-host callbacks; SFTPGo's plugin kinds never use them, so the
//!   stream is accepted, whatever the client sends is read and dropped, and it
//!   ends when the client closes it or the plugin stops.
//! - `plugin.GRPCStdio`: newer go-plugin hosts read a plugin's stdout/stderr
//!   through `StreamStdio`. A Plexus plugin writes its logs to stderr, which
//!   every host (go-plugin 1.0.1 included) reads directly, so the stream stays
//!   open and sends nothing until the plugin stops; redirecting the process's
//!   own file descriptors into it would only duplicate what the host reads.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use plexus_proto::goplugin::grpc_broker_server::{GrpcBroker, GrpcBrokerServer};
use plexus_proto::goplugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use plexus_proto::goplugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use plexus_proto::goplugin::{ConnInfo, Empty, StdioData};
use tonic::service::Routes;
use tonic::{Request, Response, Status, Streaming};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::shutdown::ShutdownHandle;

/// The health service name go-plugin's client checks.
pub const HEALTH_SERVICE: &str = "plugin";

/// Adds health, controller, broker and stdio to `routes`; returns the health
/// reporter so the caller can mark the plugin NOT_SERVING when it stops.
pub(crate) async fn add_go_plugin_services(
    routes: Routes,
    shutdown: &ShutdownHandle,
) -> (Routes, HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    set_health(&reporter, ServingStatus::Serving).await;
    let routes = routes
        .add_service(health)
        .add_service(GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcBrokerServer::new(Broker {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcStdioServer::new(Stdio {
            shutdown: shutdown.clone(),
        }));
    (routes, reporter)
}

/// Sets both `plugin` and `""` to `status`.
pub(crate) async fn set_health(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status(HEALTH_SERVICE, status).await;
    reporter.set_service_status("", status).await;
}

struct Controller {
    shutdown: ShutdownHandle,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        // The server stops gracefully: this call is in flight, so its answer
        // still goes out before the connection closes.
        self.shutdown
            .shutdown("the host called plugin.GRPCController/Shutdown");
        Ok(Response::new(Empty {}))
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

struct Broker {
    shutdown: ShutdownHandle,
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = BoxStream<ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let inbound = request.into_inner();
        // Read until the client closes (or errors) or the plugin stops; answer nothing.
        let idle = inbound
            .take_while(|item| std::future::ready(item.is_ok()))
            .take_until(self.shutdown.wait())
            .filter_map(|_| std::future::ready(None::<Result<ConnInfo, Status>>));
        Ok(Response::new(Box::pin(idle)))
    }
}

struct Stdio {
    shutdown: ShutdownHandle,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = BoxStream<StdioData>;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let silent = futures::stream::pending::<Result<StdioData, Status>>()
            .take_until(self.shutdown.wait());
        Ok(Response::new(Box::pin(silent)))
    }
}
