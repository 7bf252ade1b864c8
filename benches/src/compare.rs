//! The comparison: the same events to the same plugin binary through
//! Plexus (the embedded engine, the daemon fed by `plexus emit`, or both)
//! and through the Go host, alternating A B A B so that drift of the machine
//! (other load, thermal, page cache) falls on both sides alike, for both
//! target plugins; then the ratios, the JSON and the figure.

use crate::daemon_run::{self, DaemonRun};
use crate::error::{Context, Error, Result};
use crate::go_run::{self, GoRun};
use crate::locate::GoFixtures;
use crate::plexus_run::{self, PlexusRun};
use crate::report::{self, Machine, Report, RunResult, Settings, Target};
use crate::{svg, workload};
use plexus_actors::Durability;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which Plexus paths a comparison measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    /// The engine embedded in the harness (`Engine::notify`).
    Engine,
    /// `plexus serve` fed by `plexus emit --events` over its unix socket.
    Daemon,
    /// Both, each round: engine, daemon, then the Go host they share.
    Both,
}

impl Modes {
    fn engine(self) -> bool {
        matches!(self, Modes::Engine | Modes::Both)
    }

    fn daemon(self) -> bool {
        matches!(self, Modes::Daemon | Modes::Both)
    }

    pub fn label(self) -> &'static str {
        match self {
            Modes::Engine => "engine",
            Modes::Daemon => "daemon",
            Modes::Both => "both",
        }
    }
}

/// What one comparison does.
#[derive(Debug, Clone)]
pub struct Options {
    pub events: usize,
    pub rounds: usize,
    /// Events in flight at most: the Go host's `-concurrency`, and the
    /// Plexus producer's window.
    pub window: usize,
    pub auto_mtls: bool,
    pub durability: Durability,
    /// The engine's events in flight per plugin; `None`: its default.
    pub max_in_flight: Option<usize>,
    /// The engine's calls in flight per plugin; `None`: its default.
    pub max_calls_in_flight: Option<usize>,
    pub targets: Vec<Target>,
    pub modes: Modes,
    /// The `plexus` binary, for daemon mode.
    pub plexus: PathBuf,
    /// Daemon mode: `plexus emit --batch`.
    pub emit_batch: usize,
    pub rust_plugin: PathBuf,
    pub go: GoFixtures,
    /// Scratch space for events, records and queues.
    pub work_dir: PathBuf,
    /// Where `results.json` and `comparison.svg` go.
    pub out_dir: PathBuf,
    /// The `PLEXUS_RECORD_FILE` of this process (see [`go_record_path`]).
    pub go_record: PathBuf,
    pub poll: Duration,
    /// How the run was invoked, for the report.
    pub command: String,
    /// Print each run as it finishes.
    pub verbose: bool,
}

/// Where the Go plugin records under `work_dir`. The Plexus engine passes
/// the plugin only variables of its own environment, so the harness sets
/// `PLEXUS_RECORD_FILE` to this path once, at start, before any thread runs.
pub fn go_record_path(work_dir: &Path) -> PathBuf {
    work_dir.join("go-plugin-record.jsonl")
}

/// The files a comparison wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub json: PathBuf,
    pub svg: PathBuf,
}

/// Runs every round and target; returns the report (also when a delivery
/// check failed: the caller decides what that means).
pub fn run(options: &Options) -> Result<Report> {
    if options.events == 0 || options.rounds == 0 || options.window == 0 {
        return Err(Error::new(
            "events, rounds and window must all be at least 1",
        ));
    }
    if std::env::var_os("PLEXUS_RECORD_FILE").as_deref() != Some(options.go_record.as_os_str()) {
        return Err(Error::new(format!(
            "PLEXUS_RECORD_FILE must be set to {} before the comparison starts",
            options.go_record.display()
        )));
    }
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| format!("creating {}", options.work_dir.display()))?;
    let base_ts = plexus_actors::delivery::policy::now_ns();
    let events = workload::mixed(options.events, base_ts);
    let events_file = options.work_dir.join("events.jsonl");
    workload::write_jsonl(&events, &events_file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let timeout = go_run::default_timeout(options.events);

    let mut runs: Vec<RunResult> = Vec::new();
    for round in 1..=options.rounds {
        for &target in &options.targets {
            let plugin = match target {
                Target::GoPlugin => options.go.plugin.as_path(),
                Target::RustPlugin => options.rust_plugin.as_path(),
            };
            let tag = match target {
                Target::GoPlugin => "go-plugin",
                Target::RustPlugin => "rust-plugin",
            };
            let plexus = PlexusRun {
                target,
                plugin,
                events: &events,
                base_ts,
                window: options.window,
                auto_mtls: options.auto_mtls,
                durability: options.durability,
                max_in_flight: options.max_in_flight,
                max_calls_in_flight: options.max_calls_in_flight,
                run_dir: options.work_dir.join(format!("plexus-{tag}-{round}")),
                go_record: &options.go_record,
                poll: options.poll,
                timeout,
            };
            if options.modes.engine() {
                let result = runtime
                    .block_on(plexus_run::run(&plexus, round))
                    .with_context(|| format!("round {round}, Plexus to the {}", target.label()))?;
                report_run(options, &result);
                runs.push(result);
            }

            if options.modes.daemon() {
                let daemon = DaemonRun {
                    target,
                    plexus: &options.plexus,
                    plugin,
                    events_file: &events_file,
                    events: &events,
                    base_ts,
                    batch: options.emit_batch,
                    auto_mtls: options.auto_mtls,
                    durability: options.durability,
                    max_in_flight: options.max_in_flight,
                    max_calls_in_flight: options.max_calls_in_flight,
                    run_dir: options.work_dir.join(format!("daemon-{tag}-{round}")),
                    go_record: &options.go_record,
                    poll: options.poll,
                    timeout,
                };
                let result = runtime
                    .block_on(daemon_run::run(&daemon, round))
                    .with_context(|| {
                        format!("round {round}, Plexus daemon to the {}", target.label())
                    })?;
                report_run(options, &result);
                runs.push(result);
            }

            let go = GoRun {
                target,
                go_host: &options.go.host,
                plugin,
                events_file: &events_file,
                events: &events,
                base_ts,
                window: options.window,
                auto_mtls: options.auto_mtls,
                run_dir: options.work_dir.join(format!("go-{tag}-{round}")),
                go_record: &options.go_record,
                timeout,
            };
            let result = go_run::run(&go, round)
                .with_context(|| format!("round {round}, Go host to the {}", target.label()))?;
            report_run(options, &result);
            runs.push(result);
        }
    }
    drop(runtime);

    Ok(Report {
        machine: Machine::current(),
        settings: Settings {
            events: options.events,
            rounds: options.rounds,
            window: options.window,
            auto_mtls: options.auto_mtls,
            durability: match options.durability {
                Durability::OnFailure => "on_failure".into(),
                Durability::WriteAhead => "write_ahead".into(),
            },
            plexus_max_in_flight: options
                .max_in_flight
                .unwrap_or(plexus_engine::EngineSettings::default().max_in_flight),
            plexus_max_calls_in_flight: options
                .max_calls_in_flight
                .unwrap_or(plexus_engine::EngineSettings::default().max_calls_in_flight),
            mode: options.modes.label().to_owned(),
            emit_batch: options.modes.daemon().then_some(options.emit_batch),
            build_profile: crate::locate::profile_name(),
            command: options.command.clone(),
        },
        comparisons: report::compare(&runs),
        runs,
    })
}

fn report_run(options: &Options, result: &RunResult) {
    if options.verbose {
        eprintln!("{}", result.line());
    }
}

/// Writes `results.json` and `comparison.svg` into `dir`.
pub fn write(report: &Report, dir: &Path) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let written = Written {
        json: dir.join("results.json"),
        svg: dir.join("comparison.svg"),
    };
    report.write_json(&written.json)?;
    std::fs::write(&written.svg, svg::render(report))
        .with_context(|| format!("writing {}", written.svg.display()))?;
    Ok(written)
}
