//! Test helpers: start an example plugin (`notifier-jsonl` by default) as a
//! go-plugin host would, read its handshake line with a deadline, and
//! connect gRPC clients to it over a unix socket (plain or AutoMTLS) or TCP.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use plexus_proto::mtls::Identity;
use plexus_proto::{HandshakeLine, PluginKind};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::service_fn;

pub const BIN: &str = env!("CARGO_BIN_EXE_notifier-jsonl");

/// The longest any single step may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A scratch directory for one test: the socket base dir, the out file, …
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("scratch dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn out(&self) -> PathBuf {
        self.path("events.jsonl")
    }

    /// The command a go-plugin host would run: a clean environment with the
    /// notifier cookie, protocol version 1 and the socket dir in the scratch dir.
    pub fn command(&self) -> Command {
        let mut command = self.plugin_command(BIN, PluginKind::Notifier);
        command.arg("--out").arg(self.out());
        command
    }

    /// The same for any plugin executable `bin` of `kind`, without arguments.
    pub fn plugin_command(&self, bin: &str, kind: PluginKind) -> Command {
        let mut command = Command::new(bin);
        let cookie = kind.cookie();
        command
            .env_clear()
            .env(cookie.key, cookie.value)
            .env("PLUGIN_PROTOCOL_VERSIONS", "1")
            .env("PLUGIN_UNIX_SOCKET_DIR", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

/// A running plugin whose handshake line has been read.
pub struct Plugin {
    pub child: Child,
    pub handshake: HandshakeLine,
    pub raw_handshake: String,
    stderr: Arc<Mutex<String>>,
    /// The task copying stderr: done once the plugin closed its stderr.
    stderr_reader: Option<tokio::task::JoinHandle<()>>,
}

impl Plugin {
    /// Spawns and reads the handshake line; panics with the plugin's stderr
    /// if it exits or stays silent past the deadline.
    pub async fn start(mut command: Command) -> Plugin {
        let mut child = command.spawn().expect("spawn the plugin");
        let (stderr, stderr_reader) = collect_stderr(&mut child);
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = tokio::time::timeout(DEADLINE, reader.read_line(&mut line)).await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            other => {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
                panic!(
                    "no handshake line ({other:?}); stderr:\n{}",
                    stderr.lock().map(|s| s.clone()).unwrap_or_default()
                );
            }
        }
        assert!(
            line.ends_with('\n'),
            "handshake line without newline: {line:?}"
        );
        let handshake = HandshakeLine::parse(&line)
            .unwrap_or_else(|err| panic!("bad handshake line {line:?}: {err}"));
        // Keep draining stdout so the plugin never blocks on it.
        tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(n) = reader.read_line(&mut rest).await {
                if n == 0 {
                    break;
                }
            }
        });
        Plugin {
            child,
            handshake,
            raw_handshake: line,
            stderr,
            stderr_reader,
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        PathBuf::from(&self.handshake.address)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// All of stderr, once the plugin has closed it (after its exit: the
    /// exit can be seen before the last lines are read).
    pub async fn stderr_to_end(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            if tokio::time::timeout(DEADLINE, reader).await.is_err() {
                panic!("stderr still open past the deadline:\n{}", self.stderr());
            }
        }
        self.stderr()
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id().expect("running")).expect("pid fits")
    }

    /// Waits for the exit with the deadline; panics with stderr on timeout.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        match tokio::time::timeout(DEADLINE, self.child.wait()).await {
            Ok(Ok(status)) => status,
            other => panic!("plugin did not exit: {other:?}; stderr:\n{}", self.stderr()),
        }
    }

    /// Waits until stderr contains `needle` (the collector runs concurrently).
    pub async fn wait_stderr_contains(&self, needle: &str) -> String {
        let started = tokio::time::Instant::now();
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "stderr never contained {needle:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A plain gRPC channel to the plugin's unix socket.
    pub async fn unix_channel(&self) -> Channel {
        unix_channel(self.socket_path())
            .await
            .unwrap_or_else(|err| panic!("connect: {err}; stderr:\n{}", self.stderr()))
    }
}

fn collect_stderr(child: &mut Child) -> (Arc<Mutex<String>>, Option<tokio::task::JoinHandle<()>>) {
    let buffer = Arc::new(Mutex::new(String::new()));
    let mut reader = None;
    if let Some(stderr) = child.stderr.take() {
        let sink = buffer.clone();
        reader = Some(tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }));
    }
    (buffer, reader)
}

/// Runs a plugin that is expected to exit on its own; returns (status, stdout, stderr).
pub async fn run_to_exit(mut command: Command) -> (std::process::ExitStatus, String, String) {
    let output = tokio::time::timeout(DEADLINE, command.output())
        .await
        .expect("plugin exits before the deadline")
        .expect("spawn the plugin");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Plain gRPC over a unix socket.
pub async fn unix_channel(path: PathBuf) -> Result<Channel, tonic::transport::Error> {
    Endpoint::try_from("http://[::]:50051")?
        .connect_timeout(DEADLINE)
        .connect_with_connector(service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
}

/// Where a client connects.
#[derive(Debug, Clone)]
pub enum Target {
    Unix(PathBuf),
    Tcp(String),
}

/// gRPC over TLS over a unix socket, presenting `identity` and pinning `server_cert`.
pub async fn tls_unix_channel(
    path: PathBuf,
    identity: &Identity,
    server_cert: &[u8],
) -> Result<Channel, Box<dyn std::error::Error + Send + Sync>> {
    tls_channel(Target::Unix(path), identity, server_cert).await
}

/// gRPC over TLS (unix socket or TCP), presenting `identity` and pinning `server_cert`.
/// tonic refuses TLS settings on unix endpoints, so TLS is done in the connector.
pub async fn tls_channel(
    target: Target,
    identity: &Identity,
    server_cert: &[u8],
) -> Result<Channel, Box<dyn std::error::Error + Send + Sync>> {
    let config = identity.client_config(CertificateDer::from(server_cert.to_vec()))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let channel = Endpoint::try_from("http://[::]:50051")?
        .connect_timeout(DEADLINE)
        .connect_with_connector(service_fn(move |_: Uri| {
            let target = target.clone();
            let connector = connector.clone();
            async move {
                let name = ServerName::try_from("localhost")
                    .map_err(|err| std::io::Error::other(err.to_string()))?;
                let io: Box<dyn Io> = match target {
                    Target::Unix(path) => Box::new(
                        connector
                            .connect(name, UnixStream::connect(path).await?)
                            .await?,
                    ),
                    Target::Tcp(address) => Box::new(
                        connector
                            .connect(name, TcpStream::connect(address).await?)
                            .await?,
                    ),
                };
                Ok::<_, std::io::Error>(TokioIo::new(io))
            }
        }))
        .await?;
    Ok(channel)
}

/// Any bidirectional byte stream a TLS client connection can be.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Plain gRPC over TCP.
pub async fn tcp_channel(address: &str) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(DEADLINE)
        .connect()
        .await
}

/// The serving status of `service` through grpc.health.v1.
pub async fn health(channel: Channel, service: &str) -> Result<i32, tonic::Status> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status)
}

/// The mode bits of a path.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("metadata").mode() & 0o777
}

/// Sends a signal to a process.
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Reads the out file (empty when absent).
pub fn read_out(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
