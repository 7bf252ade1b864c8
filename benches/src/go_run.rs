//! One comparison run through the Go host (`plexus-gohost`), which delivers
//! the way SFTPGo does: a goroutine per event, at most `-concurrency` RPCs in
//! flight, SFTPGo's unary `proto.Notifier` calls, a 20 s deadline each.
//!
//! Its own summary line gives events/s and per-RPC latency (from the call
//! to its reply). CPU comes from the kernel: the Go host is our child and
//! reaps its plugin, so `getrusage(RUSAGE_CHILDREN)` after it exits covers
//! both. To count the same span as on the Plexus side (plugin spawn to
//! plugin exit), the host's CPU before it spawned the plugin — mostly
//! parsing the events file — is sampled from `/proc` when the plugin
//! appears and subtracted. The plugin's share is its last `/proc` sample.

use crate::cpu;
use crate::error::{Context, Error, Result};
use crate::latency::Percentiles;
use crate::report::{CpuUse, Host, RunResult, Target};
use crate::verify;
use plexus_proto::Event;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Everything one Go host run needs.
#[derive(Debug, Clone)]
pub struct GoRun<'a> {
    pub target: Target,
    pub go_host: &'a Path,
    /// The plugin executable.
    pub plugin: &'a Path,
    /// The events, as the JSONL file the Go host reads.
    pub events_file: &'a Path,
    pub events: &'a [Event],
    pub base_ts: i64,
    /// `-concurrency`: RPCs in flight at most.
    pub window: usize,
    pub auto_mtls: bool,
    pub run_dir: PathBuf,
    pub go_record: &'a Path,
    pub timeout: Duration,
}

/// The Go host's summary line.
#[derive(Debug, Clone, Deserialize)]
struct GoSummary {
    sent: usize,
    failed: u64,
    elapsed_ns: u64,
    events_per_sec: f64,
    latency_ns: Percentiles,
}

/// CPU samples taken while the Go host runs.
#[derive(Debug, Clone, Copy, Default)]
struct Samples {
    plugin_pid: Option<u32>,
    host_before_spawn: Duration,
    plugin_last: Duration,
}

/// Runs one round; `round` is only recorded.
pub fn run(spec: &GoRun<'_>, round: usize) -> Result<RunResult> {
    std::fs::create_dir_all(&spec.run_dir)
        .with_context(|| format!("creating {}", spec.run_dir.display()))?;
    let mut command = Command::new(spec.go_host);
    command
        .arg("-plugin")
        .arg(spec.plugin)
        .arg("-events")
        .arg(spec.events_file)
        .arg("-concurrency")
        .arg(spec.window.max(1).to_string())
        .args(["-timeout", "20s", "-repeat", "1", "-log-level", "warn"]);
    if spec.auto_mtls {
        command.arg("-auto-mtls");
    }
    let record = match spec.target {
        Target::GoPlugin => {
            command
                .arg("-env")
                .arg(format!("PLEXUS_RECORD_FILE={}", spec.go_record.display()));
            spec.go_record.to_owned()
        }
        Target::RustPlugin => {
            let record = spec.run_dir.join("record.jsonl");
            let text = record.to_string_lossy();
            if text.contains(char::is_whitespace) {
                // The Go host splits -args on spaces.
                return Err(Error::new(format!(
                    "the record path {text:?} holds whitespace, which the Go host's -args cannot carry: use a work directory without spaces"
                )));
            }
            command.arg("-args").arg(format!("--out {text}"));
            record
        }
    };
    std::fs::write(&record, "")
        .with_context(|| format!("creating the record file {}", record.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let children_before = cpu::children_cpu();
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", spec.go_host.display()))?;
    let host_pid = child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("go-host-sampler".into())
            .spawn(move || sample(host_pid, &stop))
            .context("starting the CPU sampler thread")?
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::Builder::new()
        .name("go-host-wait".into())
        .spawn(move || {
            let _ = done_tx.send(child.wait_with_output());
        })
        .context("starting the Go host waiter thread")?;
    let output = match done_rx.recv_timeout(spec.timeout) {
        Ok(output) => output.with_context(|| format!("waiting for {}", spec.go_host.display())),
        Err(_) => Err(Error::new(format!(
            "the Go host did not finish within {:?}",
            spec.timeout
        ))),
    };
    stop.store(true, Ordering::Release);
    let samples = sampler.join().unwrap_or_default();
    if output.is_err() {
        // Do not leave the host or its plugin running.
        for pid in [Some(host_pid), samples.plugin_pid].into_iter().flatten() {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: sending a signal has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let _ = waiter.join();
    let output = output?;
    let children_total = cpu::children_cpu().saturating_sub(children_before);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: GoSummary = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| {
            Error::new(format!(
                "the Go host ({}) printed no summary line; its stderr:\n{}",
                output.status,
                tail_lines(&stderr, 20)
            ))
        })?;
    let mut notes = Vec::new();
    if summary.failed > 0 || !output.status.success() {
        notes.push(format!(
            "{} of {} RPCs failed (exit {})",
            summary.failed, summary.sent, output.status
        ));
    }
    let mut plugin_ns = samples.plugin_last;
    let mut in_span = children_total.saturating_sub(samples.host_before_spawn);
    if let Some(pid) = samples.plugin_pid.filter(|&pid| !cpu::is_gone(pid)) {
        // Not reaped by the Go host, so not in the children's figure.
        notes.push(format!("plugin {pid} outlived the Go host"));
        in_span += samples.plugin_last;
    }
    plugin_ns = plugin_ns.min(in_span);
    let host_ns = in_span.saturating_sub(plugin_ns);

    let check = verify::check(&record, spec.events, spec.base_ts)?;
    Ok(RunResult {
        mode: None,
        host: Host::Go,
        target: spec.target,
        round,
        events: summary.sent,
        elapsed_ns: summary.elapsed_ns,
        events_per_sec: summary.events_per_sec,
        latency_ns: summary.latency_ns,
        cpu: CpuUse {
            host_ns: host_ns.as_nanos() as u64,
            plugin_ns: plugin_ns.as_nanos() as u64,
            ingest_ns: 0,
            per_event_ns: in_span.as_nanos() as f64 / summary.sent.max(1) as f64,
        },
        check,
        notes,
    })
}

/// Watches the Go host until `stop`: notes its CPU when its plugin appears,
/// then follows the plugin's CPU until it exits.
fn sample(host_pid: u32, stop: &AtomicBool) -> Samples {
    let mut samples = Samples::default();
    let mut last_host = Duration::ZERO;
    while !stop.load(Ordering::Acquire) {
        match samples.plugin_pid {
            None => {
                if let Some(cpu) = cpu::pid_cpu(host_pid) {
                    last_host = cpu;
                }
                if let Some(&pid) = cpu::children_of(host_pid).first() {
                    samples.plugin_pid = Some(pid);
                    samples.host_before_spawn = last_host;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Some(pid) => {
                if let Some(cpu) = cpu::pid_cpu(pid) {
                    samples.plugin_last = cpu;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    samples
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// How long a run may take before it is abandoned: generous, since a stuck
/// plugin is a finding, not a reason to hang.
pub fn default_timeout(events: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(events as u64)
}
