//! One comparison run through the Plexus daemon: `plexus serve` as an
//! operator runs it, with one notifier plugin, fed over its unix socket by
//! `plexus emit --events FILE` at full speed (no rate limit).
//!
//! This is the path a program outside the embedder's process takes, so the
//! cost of ingestion — the emit process reading the events and publishing
//! them, the daemon decoding and accepting them — is part of Plexus's bill.
//! The clock starts when emit is spawned, after the daemon is ready (its
//! socket exists, so its plugin is started), and stops when the plugin's
//! record file holds every event (see `tail`). Per-event latency is not
//! measured: emit publishes from another process and does not say when it
//! handed each event over, so only throughput and CPU are reported. CPU is
//! the kernel's figure for the reaped emit process, and for the reaped
//! daemon with the plugin it reaped (the plugin's share is its last
//! `/proc` sample before the daemon is stopped).

use crate::cpu;
use crate::error::{Context, Error, Result};
use crate::latency::Percentiles;
use crate::report::{CpuUse, Host, Mode, RunResult, Target};
use crate::tail::RecordTail;
use crate::{verify, workload};
use plexus_actors::Durability;
use plexus_proto::Event;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The longest unix socket path the kernel takes (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How long the daemon may take to start its plugin and listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the daemon may take to stop after SIGTERM (its own deadline is 10 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything one daemon run needs.
#[derive(Debug, Clone)]
pub struct DaemonRun<'a> {
    pub target: Target,
    /// The `plexus` binary (serve and emit).
    pub plexus: &'a Path,
    /// The plugin executable.
    pub plugin: &'a Path,
    /// The events, as the JSONL file emit reads.
    pub events_file: &'a Path,
    pub events: &'a [Event],
    pub base_ts: i64,
    /// `plexus emit --batch`: events per publish call.
    pub batch: usize,
    pub auto_mtls: bool,
    pub durability: Durability,
    /// `engine.max_in_flight`; `None`: the engine's default.
    pub max_in_flight: Option<usize>,
    /// `engine.max_calls_in_flight`; `None`: the engine's default.
    pub max_calls_in_flight: Option<usize>,
    /// A fresh directory for this run: config, data dir, socket, logs.
    pub run_dir: PathBuf,
    /// Where the Go plugin records (the `PLEXUS_RECORD_FILE` of this process).
    pub go_record: &'a Path,
    pub poll: Duration,
    pub timeout: Duration,
}

impl DaemonRun<'_> {
    fn record_path(&self) -> PathBuf {
        match self.target {
            Target::GoPlugin => self.go_record.to_owned(),
            Target::RustPlugin => self.run_dir.join("record.jsonl"),
        }
    }

    fn socket_path(&self) -> PathBuf {
        self.run_dir.join("plexus.sock")
    }

    /// The daemon's config: SFTPGo's `plugins` list with the one notifier,
    /// and Plexus's `engine` section with the run's directories.
    pub fn config(&self, record: &Path) -> serde_json::Value {
        let (args, env_vars) = match self.target {
            // The Go plugin reads its record path from the environment; the
            // daemon passes on exactly the variables named here, from its
            // own environment, which it inherits from this process.
            Target::GoPlugin => (Vec::new(), vec!["PLEXUS_RECORD_FILE".to_owned()]),
            Target::RustPlugin => (
                vec!["--out".to_owned(), record.to_string_lossy().into_owned()],
                Vec::new(),
            ),
        };
        let mut engine = serde_json::json!({
            "data_dir": self.run_dir.join("data"),
            "ingest_unix": self.socket_path(),
            "durability": match self.durability {
                Durability::OnFailure => "on_failure",
                Durability::WriteAhead => "write_ahead",
            },
            "log_level": "warn",
        });
        if let Some(n) = self.max_in_flight {
            engine["max_in_flight"] = n.into();
        }
        if let Some(n) = self.max_calls_in_flight {
            engine["max_calls_in_flight"] = n.into();
        }
        serde_json::json!({
            "engine": engine,
            "plugins": [{
                "type": "notifier",
                "cmd": self.plugin,
                "args": args,
                "auto_mtls": self.auto_mtls,
                "env_prefix": "none",
                "env_vars": env_vars,
                "notifier_options": workload::notifier_options(),
            }],
        })
    }
}

/// A started `plexus serve`; killed, with its plugin, if dropped before
/// [`Daemon::stop`].
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits until `socket` exists; fails early if the daemon exits.
    async fn ready(&mut self, socket: &Path) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !socket.exists() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(Error::new(format!(
                        "plexus serve exited ({status}) before listening on {}; its log:\n{}",
                        socket.display(),
                        log_tail(&self.log)
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(Error::new(format!(
                    "plexus serve did not listen on {} within {READY_TIMEOUT:?}; its log:\n{}",
                    socket.display(),
                    log_tail(&self.log)
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// SIGTERM, then waits for the exit (SIGKILL after [`STOP_TIMEOUT`]).
    async fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(child.id(), libc::SIGTERM);
        let pid = child.id();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("plexus-serve-wait".into())
            .spawn(move || {
                let _ = done_tx.send(child.wait());
            })
            .context("starting the daemon waiter thread")?;
        let status = match tokio::time::timeout(STOP_TIMEOUT, done_rx).await {
            Ok(Ok(status)) => status.context("waiting for plexus serve")?,
            Ok(Err(_)) => return Err(Error::new("the daemon waiter thread ended early")),
            Err(_) => {
                signal(pid, libc::SIGKILL);
                return Err(Error::new(format!(
                    "plexus serve did not stop within {STOP_TIMEOUT:?} of SIGTERM (killed); its log:\n{}",
                    log_tail(&self.log)
                )));
            }
        };
        if !status.success() {
            return Err(Error::new(format!(
                "plexus serve exited with {status} after SIGTERM; its log:\n{}",
                log_tail(&self.log)
            )));
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let plugins = cpu::children_of(child.id());
            let _ = child.kill();
            let _ = child.wait();
            for pid in plugins {
                signal(pid, libc::SIGKILL);
            }
        }
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: sending a signal has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Runs one round; `round` is only recorded.
pub async fn run(spec: &DaemonRun<'_>, round: usize) -> Result<RunResult> {
    let n = spec.events.len();
    std::fs::create_dir_all(&spec.run_dir)
        .with_context(|| format!("creating {}", spec.run_dir.display()))?;
    let socket = spec.socket_path();
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(Error::new(format!(
            "the daemon's socket path {} is longer than {MAX_SOCKET_PATH} bytes: use a shorter work directory",
            socket.display()
        )));
    }
    let record = spec.record_path();
    std::fs::write(&record, "")
        .with_context(|| format!("creating the record file {}", record.display()))?;
    let config = spec.run_dir.join("plexus.json");
    std::fs::write(&config, spec.config(&record).to_string())
        .with_context(|| format!("writing the daemon's config {}", config.display()))?;
    let log = spec.run_dir.join("serve.log");
    let log_file = std::fs::File::create(&log)
        .with_context(|| format!("creating the daemon's log {}", log.display()))?;

    let children_before = cpu::children_cpu();
    let child = Command::new(spec.plexus)
        .args(["--log", "warn", "serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {} serve", spec.plexus.display()))?;
    let mut daemon = Daemon {
        child: Some(child),
        log: log.clone(),
    };
    daemon.ready(&socket).await?;
    let plugin_pid = cpu::children_of(daemon.pid()).first().copied();

    // The clock starts as emit is spawned.
    let window = Arc::new(Semaphore::new(0));
    let epoch = Instant::now();
    let tail = RecordTail::start(&record, spec.base_ts, n, epoch, window.clone(), spec.poll)?;
    let emitted = emit(spec, &socket, spec.timeout).await;
    let emit_ns = cpu::children_cpu().saturating_sub(children_before);
    let delivered = match &emitted {
        Ok(emitted) => {
            // Wait for what emit says it published: if that is short of
            // the file, the missing events can never arrive, and the
            // delivery check below says so without waiting for the timeout.
            let expected = emitted.published.unwrap_or(n).min(n);
            let permits = u32::try_from(expected).map_err(|_| {
                Error::new(format!("{expected} events are more than one run can count"))
            })?;
            let remaining = spec.timeout.saturating_sub(epoch.elapsed());
            match tokio::time::timeout(remaining, window.acquire_many(permits)).await {
                Ok(Ok(permits)) => {
                    permits.forget();
                    Ok(())
                }
                Ok(Err(_)) => Err(Error::new("the record tail's semaphore closed")),
                Err(_) => Err(Error::new(format!(
                    "the plugin did not record every event within {:?} of the start",
                    spec.timeout
                ))),
            }
        }
        Err(_) => Ok(()),
    };
    let tail = tail.finish();
    let plugin_last = plugin_pid.and_then(cpu::pid_cpu).unwrap_or_default();
    let stopped = daemon.stop().await;
    let emitted = emitted?;
    delivered?;
    stopped?;
    let tail = tail?;

    let daemon_total = cpu::children_cpu()
        .saturating_sub(children_before)
        .saturating_sub(emit_ns);
    let mut notes = vec![
        format!("plexus emit --batch {}", spec.batch),
        "latency not measured".to_owned(),
    ];
    if let Some(summary) = emitted.summary {
        notes.push(summary);
    }
    if let Some(published) = emitted.published.filter(|&published| published != n) {
        notes.push(format!(
            "emit published {published} of the file's {n} events"
        ));
    }
    let mut plugin_ns = plugin_last.min(daemon_total);
    let mut in_span = daemon_total;
    if let Some(pid) = plugin_pid.filter(|&pid| !cpu::is_gone(pid)) {
        // Not reaped by the daemon, so not in its children's figure.
        notes.push(format!("plugin {pid} outlived the daemon"));
        in_span += plugin_last;
        plugin_ns = plugin_last;
    }
    let host_ns = in_span.saturating_sub(plugin_ns);

    let check = verify::check(&record, spec.events, spec.base_ts)?;
    let last = tail
        .seen_ns
        .iter()
        .copied()
        .filter(|&seen| seen != crate::tail::UNSEEN)
        .max();
    let elapsed_ns = last.unwrap_or(0).max(1);
    let total_cpu = (in_span + emit_ns).as_nanos() as f64;
    Ok(RunResult {
        host: Host::Plexus,
        mode: Some(Mode::Daemon),
        target: spec.target,
        round,
        events: n,
        elapsed_ns,
        events_per_sec: n as f64 / (elapsed_ns as f64 / 1e9),
        latency_ns: Percentiles::default(),
        cpu: CpuUse {
            host_ns: host_ns.as_nanos() as u64,
            plugin_ns: plugin_ns.as_nanos() as u64,
            ingest_ns: emit_ns.as_nanos() as u64,
            per_event_ns: total_cpu / n.max(1) as f64,
        },
        check,
        notes,
    })
}

/// What `plexus emit` said when it finished.
struct Emitted {
    /// Its summary line: how long publishing took, without its start and
    /// the file's read.
    summary: Option<String>,
    /// How many events it says it published.
    published: Option<usize>,
}

/// Runs `plexus emit --events FILE` to completion.
async fn emit(spec: &DaemonRun<'_>, socket: &Path, timeout: Duration) -> Result<Emitted> {
    let child = Command::new(spec.plexus)
        .arg("emit")
        .arg("--events")
        .arg(spec.events_file)
        .arg("--socket")
        .arg(socket)
        .arg("--batch")
        .arg(spec.batch.max(1).to_string())
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} emit", spec.plexus.display()))?;
    let pid = child.id();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<std::io::Result<Output>>();
    std::thread::Builder::new()
        .name("plexus-emit-wait".into())
        .spawn(move || {
            let _ = done_tx.send(child.wait_with_output());
        })
        .context("starting the emit waiter thread")?;
    let output = match tokio::time::timeout(timeout, done_rx).await {
        Ok(Ok(output)) => output.context("waiting for plexus emit")?,
        Ok(Err(_)) => return Err(Error::new("the emit waiter thread ended early")),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            return Err(Error::new(format!(
                "plexus emit did not finish within {timeout:?}"
            )));
        }
    };
    if !output.status.success() {
        return Err(Error::new(format!(
            "plexus emit failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with("published "))
        .map(str::trim);
    Ok(Emitted {
        summary: line.map(|line| format!("emit: {line}")),
        // "published N events in ..."
        published: line
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|count| count.parse().ok()),
    })
}
