//! The comparison's results: every run, the per-target comparison (ratios
//! first), the machine they were measured on, and the settings that
//! produced them; written as JSON and printed as a table.

use crate::error::{Context, Result};
use crate::latency::Percentiles;
use crate::verify::DeliveryCheck;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which host delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Host {
    Plexus,
    Go,
}

impl Host {
    pub fn label(self) -> &'static str {
        match self {
            Host::Plexus => "Plexus",
            Host::Go => "Go host",
        }
    }
}

/// Which plugin received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `plexus-goplugin-notifier` (go-plugin 1.0.1, grpc-go): SFTPGo's unary service only.
    GoPlugin,
    /// `notifier-jsonl` (the Plexus SDK): unary service plus the batch extension.
    RustPlugin,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::GoPlugin => "Go plugin",
            Target::RustPlugin => "Rust plugin",
        }
    }
}

/// Which Plexus path a run measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The engine embedded in the harness, fed by `Engine::notify`.
    #[default]
    Engine,
    /// `plexus serve` as its own process, fed by `plexus emit` over its
    /// unix socket: ingestion is part of the bill.
    Daemon,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Engine => "engine",
            Mode::Daemon => "daemon",
        }
    }
}

/// CPU spent by the host and the plugin during one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    pub host_ns: u64,
    pub plugin_ns: u64,
    /// Daemon mode: the `plexus emit` process that fed the daemon (reading
    /// the events file and publishing); 0 otherwise.
    #[serde(default)]
    pub ingest_ns: u64,
    /// (host + plugin + ingest) / events.
    pub per_event_ns: f64,
}

/// One run: N events through one host to one plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub host: Host,
    /// The Plexus path of a Plexus run; `None` for a Go host run, which is
    /// the baseline of every mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    pub target: Target,
    pub round: usize,
    pub events: usize,
    /// From the first event handed over to the last acknowledged.
    pub elapsed_ns: u64,
    pub events_per_sec: f64,
    /// Per-event latency; all zeros where it is not measured (daemon mode,
    /// see `latency_measured`).
    pub latency_ns: Percentiles,
    pub cpu: CpuUse,
    pub check: DeliveryCheck,
    /// Host-specific facts (e.g. whether Plexus batched, overflow counts).
    pub notes: Vec<String>,
}

/// The median over rounds of one host's runs to one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub runs: usize,
    pub events_per_sec: f64,
    pub latency_ns: Percentiles,
    pub cpu_per_event_ns: f64,
}

/// Plexus (one mode) against the Go host for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub target: Target,
    /// The Plexus path compared.
    #[serde(default)]
    pub mode: Mode,
    /// Plexus events/s ÷ Go host events/s.
    pub throughput_ratio: f64,
    /// Plexus p99 ÷ Go host p99; `None` where Plexus latency is not
    /// measured (daemon mode).
    pub p99_ratio: Option<f64>,
    /// Plexus CPU per event ÷ Go host CPU per event.
    pub cpu_ratio: f64,
    pub plexus: Summary,
    pub go: Summary,
}

/// Where and when the figures were measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub date_utc: String,
}

/// The settings of the whole comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub events: usize,
    pub rounds: usize,
    /// Events in flight at most, on both sides.
    pub window: usize,
    pub auto_mtls: bool,
    pub durability: String,
    /// The Plexus engine's `max_in_flight` (events in flight per plugin).
    pub plexus_max_in_flight: usize,
    /// The Plexus engine's `max_calls_in_flight` (calls in flight per plugin).
    #[serde(default)]
    pub plexus_max_calls_in_flight: usize,
    /// The Plexus paths measured: `engine`, `daemon` or `both`.
    #[serde(default = "engine_mode")]
    pub mode: String,
    /// Daemon mode: `plexus emit --batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit_batch: Option<usize>,
    pub build_profile: String,
    pub command: String,
}

fn engine_mode() -> String {
    Mode::Engine.label().to_owned()
}

/// Everything one `plexus-compare` invocation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub comparisons: Vec<Comparison>,
    pub runs: Vec<RunResult>,
}

impl Machine {
    pub fn current() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|text| text.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let date_utc = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            kernel,
            date_utc,
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn median_u64(values: Vec<u64>) -> u64 {
    median(values.into_iter().map(|v| v as f64).collect()).round() as u64
}

/// Medians over the runs of one host to one target (max: the largest).
pub fn summarize(runs: &[&RunResult]) -> Summary {
    Summary {
        runs: runs.len(),
        events_per_sec: median(runs.iter().map(|r| r.events_per_sec).collect()),
        latency_ns: Percentiles {
            p50: median_u64(runs.iter().map(|r| r.latency_ns.p50).collect()),
            p99: median_u64(runs.iter().map(|r| r.latency_ns.p99).collect()),
            max: runs.iter().map(|r| r.latency_ns.max).max().unwrap_or(0),
        },
        cpu_per_event_ns: median(runs.iter().map(|r| r.cpu.per_event_ns).collect()),
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// Whether a mode's runs measure per-event latency: the engine's do; the
/// daemon's do not, because `plexus emit` publishes from another process
/// and does not say when it handed each event over.
pub fn latency_measured(mode: Mode) -> bool {
    mode == Mode::Engine
}

/// The comparison for every target and Plexus mode that has runs on both
/// hosts; the Go host runs of a target are the baseline of every mode.
pub fn compare(runs: &[RunResult]) -> Vec<Comparison> {
    let mut comparisons = Vec::new();
    for target in [Target::GoPlugin, Target::RustPlugin] {
        let go: Vec<&RunResult> = runs
            .iter()
            .filter(|r| r.target == target && r.host == Host::Go)
            .collect();
        for mode in [Mode::Engine, Mode::Daemon] {
            let plexus: Vec<&RunResult> = runs
                .iter()
                .filter(|r| {
                    r.target == target
                        && r.host == Host::Plexus
                        && r.mode.unwrap_or_default() == mode
                })
                .collect();
            if plexus.is_empty() || go.is_empty() {
                continue;
            }
            let (plexus, go) = (summarize(&plexus), summarize(&go));
            comparisons.push(Comparison {
                target,
                mode,
                throughput_ratio: ratio(plexus.events_per_sec, go.events_per_sec),
                p99_ratio: latency_measured(mode)
                    .then(|| ratio(plexus.latency_ns.p99 as f64, go.latency_ns.p99 as f64)),
                cpu_ratio: ratio(plexus.cpu_per_event_ns, go.cpu_per_event_ns),
                plexus,
                go,
            });
        }
    }
    comparisons
}

impl Comparison {
    /// The target, and the mode when it is not the engine's: "Go plugin",
    /// "Go plugin, daemon".
    pub fn name(&self) -> String {
        match self.mode {
            Mode::Engine => self.target.label().to_owned(),
            mode => format!("{}, {}", self.target.label(), mode.label()),
        }
    }
}

impl Report {
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("encoding the results")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// The results as a Markdown table: ratios first, then each side.
    pub fn table(&self) -> String {
        let ms = |ns: u64| format!("{:.2}", ns as f64 / 1e6);
        let mut out = String::new();
        out.push_str("| target (Plexus mode) | Plexus/Go events/s | Plexus/Go p99 | Plexus/Go CPU/event | Plexus events/s | Go host events/s | Plexus p50 / p99 / max ms | Go host p50 / p99 / max ms | Plexus CPU µs/event | Go host CPU µs/event |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for c in &self.comparisons {
            let (p99_ratio, plexus_latency) = match c.p99_ratio {
                Some(p99_ratio) => (
                    format!("{p99_ratio:.2}×"),
                    format!(
                        "{} / {} / {}",
                        ms(c.plexus.latency_ns.p50),
                        ms(c.plexus.latency_ns.p99),
                        ms(c.plexus.latency_ns.max)
                    ),
                ),
                None => ("n/a".to_owned(), "not measured".to_owned()),
            };
            out.push_str(&format!(
                "| {} ({}) | **{:.2}×** | {} | {:.2}× | {:.0} | {:.0} | {} | {} / {} / {} | {:.1} | {:.1} |\n",
                c.target.label(),
                c.mode.label(),
                c.throughput_ratio,
                p99_ratio,
                c.cpu_ratio,
                c.plexus.events_per_sec,
                c.go.events_per_sec,
                plexus_latency,
                ms(c.go.latency_ns.p50),
                ms(c.go.latency_ns.p99),
                ms(c.go.latency_ns.max),
                c.plexus.cpu_per_event_ns / 1e3,
                c.go.cpu_per_event_ns / 1e3,
            ));
        }
        out
    }

    /// One line per run, in the order they ran.
    pub fn run_lines(&self) -> String {
        self.runs.iter().map(|r| r.line() + "\n").collect()
    }
}

impl RunResult {
    /// The run on one line, for the terminal.
    pub fn line(&self) -> String {
        let host = match self.mode {
            Some(Mode::Daemon) => format!("{} daemon", self.host.label()),
            _ => self.host.label().to_owned(),
        };
        let latency = if self.mode.is_some_and(|mode| !latency_measured(mode)) {
            "latency not measured".to_owned()
        } else {
            format!(
                "p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
                self.latency_ns.p50 as f64 / 1e6,
                self.latency_ns.p99 as f64 / 1e6,
                self.latency_ns.max as f64 / 1e6,
            )
        };
        let ingest = if self.cpu.ingest_ns > 0 {
            format!(", emit {:.2} s", self.cpu.ingest_ns as f64 / 1e9)
        } else {
            String::new()
        };
        format!(
                "round {} {:<14} -> {:<11} {:>9.0} events/s  {latency}  CPU {:>5.1} µs/event (host {:.2} s, plugin {:.2} s{ingest})  {}{}",
                self.round,
                host,
                self.target.label(),
                self.events_per_sec,
                self.cpu.per_event_ns / 1e3,
                self.cpu.host_ns as f64 / 1e9,
                self.cpu.plugin_ns as f64 / 1e9,
                if self.check.ok() { "all delivered" } else { "DELIVERY CHECK FAILED" },
                if self.notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", self.notes.join(", "))
                },
            )
    }
}
