//! Starting, watching and stopping one plugin: the steps of the process host
//! put in order, and the handle the rest of Plexus holds on a running plugin.

use super::environment::{self, EnvPolicy, GoPluginVars};
use super::executable::{self, Program, VerifiedFile};
use super::handshake::{self, FirstLine};
use super::logs::{self, ChunkLines, SharedTail, StderrTail};
use super::process::{self, ExitInfo, Killer};
use super::transport::{self, Address};
use super::{HostError, Step};
use plexus_proto::goplugin::grpc_controller_client::GrpcControllerClient;
use plexus_proto::goplugin::grpc_stdio_client::GrpcStdioClient;
use plexus_proto::goplugin::stdio_data::Channel as StdioChannel;
use plexus_proto::hclog::LineClassifier;
use plexus_proto::mtls::Identity;
use plexus_proto::{HandshakeLine, PluginKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::BufReader;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// What the host needs to launch one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub kind: PluginKind,
    pub cmd: String,
    pub args: Vec<String>,
    /// Hex sha256 of the executable, checked before every start.
    pub sha256sum: Option<String>,
    pub auto_mtls: bool,
    pub env_prefix: String,
    pub env_vars: Vec<String>,
    /// The short label of structured logs and metrics; empty: derived as
    /// `<type>.<basename>` (see [`LaunchSpec::label`]).
    pub label: String,
}

impl LaunchSpec {
    /// The plugin's short label: the one configured, or `<type>.<basename>`.
    pub fn label(&self) -> String {
        if self.label.is_empty() {
            default_label(self.kind, &self.cmd)
        } else {
            self.label.clone()
        }
    }
}

/// `<type>.<basename>`, as SFTPGo names a plugin's logger
/// (`plugins.<type>.<basename>`) without the common prefix.
pub fn default_label(kind: PluginKind, cmd: &str) -> String {
    let base = std::path::Path::new(cmd)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| cmd.to_owned());
    format!("{}.{base}", kind.as_str())
}

/// Host-wide settings for starting and stopping plugins.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// From spawn to handshake line (go-plugin's default: 1 minute).
    pub start_timeout: Duration,
    pub connect_timeout: Duration,
    pub health_timeout: Duration,
    /// How long a plugin has to exit after `Shutdown` before SIGKILL.
    pub shutdown_grace: Duration,
    /// `PLUGIN_MIN_PORT` / `PLUGIN_MAX_PORT`.
    pub min_port: u16,
    pub max_port: u16,
    /// Longest plugin log line kept; the rest is dropped with a note.
    pub max_log_line: usize,
    /// Where each started process is recorded until it exits, so a host
    /// that crashed stops its orphans at the next start (none: not recorded).
    pub pid_records: Option<Arc<super::pid_records::PidRecords>>,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            start_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            health_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(2),
            min_port: 10000,
            max_port: 25000,
            max_log_line: logs::DEFAULT_MAX_LINE,
            pid_records: None,
        }
    }
}

/// A running, healthy plugin process and its gRPC channel.
pub struct PluginHandle {
    name: Arc<str>,
    kind: PluginKind,
    pid: u32,
    channel: Channel,
    dialer: transport::Dialer,
    handshake: HandshakeLine,
    exit: watch::Receiver<Option<ExitInfo>>,
    killer: Killer,
    has_stdio: bool,
    started_in: Duration,
    shutdown_grace: Duration,
    /// Kills the process when the handle is dropped without a shutdown
    /// (a failed or cancelled engine start, a panic), so no plugin outlives
    /// the handle that owns it.
    _kill_on_drop: KillOnDrop,
}

/// SIGKILLs its process when dropped (a no-op once the process exited).
struct KillOnDrop(Killer);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill();
    }
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl PluginHandle {
    /// Verifies, spawns, handshakes, connects and health-checks a plugin.
    pub async fn start(
        spec: &LaunchSpec,
        options: &HostOptions,
    ) -> Result<PluginHandle, HostError> {
        let began = Instant::now();
        let name: Arc<str> = Arc::from(spec.cmd.as_str());
        let fail = |step: Step, detail: String| HostError::new(&*name, step, detail);

        let resolved = executable::look_path(&spec.cmd, std::env::var_os("PATH").as_deref())
            .map_err(|detail| fail(Step::Spawn, detail))?;
        let program = match spec.sha256sum.as_deref().filter(|s| !s.is_empty()) {
            None => Program::Path(resolved),
            Some(expected) => {
                let expected = super::checksum::parse_expected(expected)
                    .map_err(|detail| fail(Step::Checksum, detail))?;
                let verified =
                    tokio::task::spawn_blocking(move || VerifiedFile::open(&resolved, &expected))
                        .await
                        .map_err(|err| fail(Step::Checksum, format!("hashing task failed: {err}")))?
                        .map_err(|detail| fail(Step::Checksum, detail))?;
                Program::Verified(verified)
            }
        };

        // A P-521 key pair takes tens of milliseconds of CPU: generated on
        // the blocking pool, so it neither stalls the runtime thread nor
        // serialises the starts of plugins started together.
        let identity = if spec.auto_mtls {
            let generated = tokio::task::spawn_blocking(Identity::generate)
                .await
                .map_err(|err| fail(Step::Tls, format!("key generation task failed: {err}")))?
                .map_err(|err| fail(Step::Tls, err.to_string()))?;
            Some(generated)
        } else {
            None
        };
        let env = environment::build(
            &EnvPolicy::resolve(&spec.env_prefix, &spec.cmd),
            &spec.env_vars,
            std::env::vars_os(),
            &GoPluginVars {
                kind: spec.kind,
                min_port: options.min_port,
                max_port: options.max_port,
                client_cert_pem: identity.as_ref().map(|id| id.cert_pem.clone()),
            },
        );

        let spawned = process::spawn(&program, &spec.cmd, &spec.args, env)
            .map_err(|err| fail(Step::Spawn, format!("cannot execute {:?}: {err}", spec.cmd)))?;
        let process::Spawned {
            pid,
            stdout,
            stderr,
            mut exit,
            killer,
        } = spawned;
        // From here on, any failure must not leave the process behind, nor
        // may dropping this future (a cancelled start).
        let kill_guard = KillOnDrop(killer.clone());
        let kill_on_error = |err: HostError| {
            killer.kill();
            err
        };
        if let Some(records) = &options.pid_records {
            records.record(pid, &spec.cmd).map_err(|err| {
                kill_on_error(fail(
                    Step::Spawn,
                    format!(
                        "cannot record the process in {}: {err}",
                        records.dir().display()
                    ),
                ))
            })?;
            let (records, mut exited) = (records.clone(), exit.clone());
            tokio::spawn(async move {
                process::wait_exit(&mut exited).await;
                records.remove(pid);
            });
        }
        if let Program::Verified(verified) = &program {
            // The child has executed the file by now: a write before that is a mismatch.
            verified
                .still_as_hashed()
                .map_err(|detail| kill_on_error(fail(Step::Checksum, detail)))?;
        }
        drop(program);

        let tail: SharedTail = Arc::new(Mutex::new(StderrTail::default()));
        let log_source = logs::LogSource {
            path: name.clone(),
            label: Arc::from(spec.label()),
        };
        let stderr_task = logs::spawn_mirror(
            log_source.clone(),
            "stderr",
            BufReader::new(stderr),
            options.max_log_line,
            Some(tail.clone()),
        );
        let mut stdout = BufReader::new(stdout);

        let first = tokio::time::timeout(
            options.start_timeout,
            handshake::read_first_line(&mut stdout),
        )
        .await;
        let raw_line = match first {
            Err(_) => {
                return Err(kill_on_error(fail(
                    Step::HandshakeTimeout,
                    format!(
                        "no handshake line within {:?}{}",
                        options.start_timeout,
                        stderr_note(&tail)
                    ),
                )))
            }
            Ok(Err(err)) => {
                return Err(kill_on_error(fail(
                    Step::BadHandshake,
                    format!("reading stdout: {err}"),
                )))
            }
            Ok(Ok(FirstLine::Closed)) => {
                // Let the stderr mirror catch up so the error carries what the plugin said.
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
                let status =
                    tokio::time::timeout(Duration::from_secs(2), process::wait_exit(&mut exit))
                        .await
                        .map(|info| info.to_string())
                        .unwrap_or_else(|_| "still running with stdout closed".into());
                return Err(kill_on_error(fail(
                    Step::ExitedBeforeHandshake,
                    format!(
                        "plugin exited before the handshake ({status}){}",
                        stderr_note(&tail)
                    ),
                )));
            }
            Ok(Ok(FirstLine::Line(line))) => line,
        };

        let line = handshake::negotiate(&raw_line, spec.auto_mtls).map_err(|(step, detail)| {
            kill_on_error(fail(step, format!("{detail}{}", stderr_note(&tail))))
        })?;
        logs::spawn_mirror(
            log_source.clone(),
            "stdout",
            stdout,
            options.max_log_line,
            None,
        );

        let address = Address::parse(line.network, &line.address)
            .map_err(|detail| kill_on_error(fail(Step::BadHandshake, detail)))?;
        let tls = match (&identity, &line.server_cert) {
            (Some(identity), Some(cert)) => {
                let pinned = rustls::pki_types::CertificateDer::from(cert.clone());
                let config = identity
                    .client_config(pinned)
                    .map_err(|err| kill_on_error(fail(Step::Tls, err.to_string())))?;
                Some(Arc::new(config))
            }
            _ => None,
        };
        let dialer = transport::Dialer::new(address.clone(), tls.clone(), options.connect_timeout);
        let channel = transport::connect(&address, tls, options.connect_timeout)
            .await
            .map_err(|(step, detail)| kill_on_error(fail(step, detail)))?;

        check_health(channel.clone(), options.health_timeout)
            .await
            .map_err(|detail| kill_on_error(fail(Step::Health, detail)))?;
        let has_stdio = mirror_stdio(channel.clone(), log_source, options.max_log_line).await;

        Ok(PluginHandle {
            name,
            kind: spec.kind,
            pid,
            channel,
            dialer,
            handshake: line,
            exit,
            killer,
            has_stdio,
            started_in: began.elapsed(),
            shutdown_grace: options.shutdown_grace,
            _kill_on_drop: kill_guard,
        })
    }

    /// The plugin's name in logs and errors: its command path.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> PluginKind {
        self.kind
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How to open another connection to the plugin (the notifier's
    /// delivery client has its own).
    pub fn dialer(&self) -> transport::Dialer {
        self.dialer.clone()
    }

    /// A clone of the channel (cheap; share it among clients).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn handshake(&self) -> &HandshakeLine {
        &self.handshake
    }

    /// Whether the plugin serves go-plugin's stdio stream (1.0.1 plugins do not).
    pub fn has_stdio(&self) -> bool {
        self.has_stdio
    }

    /// From the checksum to a healthy channel.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// `Some` once the process has exited.
    pub fn exited(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// A receiver that changes when the process exits.
    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&self) -> ExitInfo {
        process::wait_exit(&mut self.exit.clone()).await
    }

    /// Kills the process at once (SIGKILL).
    pub fn kill(&self) {
        self.killer.kill();
    }

    /// Stops the plugin as go-plugin does: `GRPCController.Shutdown`, then up
    /// to the grace period for it to exit, then SIGKILL.
    pub async fn shutdown(self) -> ExitInfo {
        if let Some(info) = self.exited() {
            return info;
        }
        let mut controller = GrpcControllerClient::new(self.channel.clone());
        let request = controller.shutdown(plexus_proto::goplugin::Empty {});
        if let Err(err) = tokio::time::timeout(self.shutdown_grace, request)
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("Shutdown did not answer")))
        {
            // A plugin that exits while answering often resets the stream: not a problem.
            tracing::debug!(
                plugin = &*self.name,
                "[{}] Shutdown RPC: {}",
                self.name,
                super::sanitize::escape_controls(err.message())
            );
        }
        drop(self.channel);
        let mut exit = self.exit.clone();
        match tokio::time::timeout(self.shutdown_grace, process::wait_exit(&mut exit)).await {
            Ok(info) => info,
            Err(_) => {
                tracing::warn!(
                    plugin = &*self.name,
                    "[{}] plugin failed to exit gracefully, killing it",
                    self.name
                );
                self.killer.kill();
                process::wait_exit(&mut exit).await
            }
        }
    }
}

fn stderr_note(tail: &SharedTail) -> String {
    let text = tail.lock().map(|tail| tail.joined()).unwrap_or_default();
    if text.trim().is_empty() {
        String::new()
    } else {
        format!("; plugin stderr:\n{text}")
    }
}

/// Asks go-plugin's health service (`grpc.health.v1`, service `plugin`)
/// whether the plugin serves, within `timeout`.
pub async fn check_health(channel: Channel, timeout: Duration) -> Result<(), String> {
    let mut client = HealthClient::new(channel);
    let request = client.check(HealthCheckRequest {
        service: "plugin".into(),
    });
    let response = tokio::time::timeout(timeout, request)
        .await
        .map_err(|_| format!("no answer to the health check within {timeout:?}"))?
        .map_err(|status| {
            format!(
                "health check failed: {}: {}",
                status.code(),
                status.message()
            )
        })?;
    let status = response.into_inner().status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        let name = ServingStatus::try_from(status)
            .map(|s| s.as_str_name())
            .unwrap_or("UNKNOWN");
        Err(format!("service \"plugin\" is {name}, not SERVING"))
    }
}

/// Opens go-plugin's stdio stream and mirrors it; `false` when the plugin
/// does not serve it (go-plugin 1.0.1).
async fn mirror_stdio(channel: Channel, source: logs::LogSource, max_line: usize) -> bool {
    let name = source.path.clone();
    let mut client = GrpcStdioClient::new(channel);
    let stream = match tokio::time::timeout(Duration::from_secs(5), client.stream_stdio(())).await {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => {
            if status.code() != tonic::Code::Unimplemented {
                tracing::debug!(
                    plugin = &*name,
                    "[{name}] no stdio stream: {}",
                    super::sanitize::escape_controls(status.message())
                );
            }
            return false;
        }
        Err(_) => return false,
    };
    tokio::spawn(async move {
        let mut stream = stream;
        let mut stdout_lines = (ChunkLines::new(max_line), LineClassifier::new());
        let mut stderr_lines = (ChunkLines::new(max_line), LineClassifier::new());
        while let Ok(Some(data)) = stream.message().await {
            let (label, (splitter, classifier)) = match StdioChannel::try_from(data.channel) {
                Ok(StdioChannel::Stdout) => ("stdout", &mut stdout_lines),
                _ => ("stderr", &mut stderr_lines),
            };
            for line in splitter.feed(&data.data) {
                logs::emit(&source, label, &classifier.classify(&line.to_text()));
            }
        }
    });
    true
}
