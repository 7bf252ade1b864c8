//! `plexus-scaling`: the scaling table of issue 16, one subcommand a row.
//!
//! ```text
//! cargo build --release -p plexus-examples --bin notifier-jsonl -p plexus-benches --bin plexus-scaling
//! target/release/plexus-scaling fanout     # 1, 4, 16 plugins: events/s, CPU per event
//! target/release/plexus-scaling redrive    # a retry queue of 1 M events: drain time, RSS
//! target/release/plexus-scaling recovery   # kill -9 with 1 M undelivered (write_ahead): start, drain, RSS
//! target/release/plexus-scaling startup    # Engine::start with 16 plugins, AutoMTLS
//! ```
//!
//! Every row drives real `notifier-jsonl` processes (of the same build
//! profile) through the `Engine` API and prints its figures, then one
//! Markdown table row with the command line that produced it. See
//! `benches/README.md` ("Scaling") for what each figure means.

use clap::{Parser, Subcommand};
use plexus_benches::rss::{self, mib};
use plexus_benches::scaling::{self, backlog::Drained, fanout};
use plexus_benches::{locate, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "plexus-scaling",
    about = "How the Plexus engine's cost grows with the work: plugins, retry backlog, write-ahead recovery, start-up"
)]
struct Args {
    #[command(subcommand)]
    row: Row,
    /// The notifier plugin [default: notifier-jsonl next to this binary].
    #[arg(long, global = true)]
    plugin: Option<PathBuf>,
    /// Scratch directory (record files, queues) [default: a fresh temporary directory, removed afterwards].
    #[arg(long, global = true)]
    work_dir: Option<PathBuf>,
    /// Give up on a phase after this many seconds.
    #[arg(long, global = true, default_value_t = 1800)]
    timeout_secs: u64,
}

#[derive(Debug, Subcommand)]
enum Row {
    /// Events/s and CPU per event with 1, 4 and 16 notifier plugins.
    Fanout {
        /// Plugin counts, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        plugins: Vec<usize>,
        /// Events per timed run (after 5 000 untimed warm-up events).
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// Runs per plugin count; the median by events/s is reported (the faster middle one of an even count).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// `Engine::notify` calls outstanding at most.
        #[arg(long, default_value_t = 256)]
        window: usize,
        /// Plain gRPC instead of AutoMTLS.
        #[arg(long)]
        no_mtls: bool,
    },
    /// Drain a retry queue of N events (filled by a failing plugin in a child process).
    Redrive {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// RSS sampling period, ms.
        #[arg(long, default_value_t = 100)]
        sample_ms: u64,
    },
    /// Baseline of `redrive`: the same retry queue drained by the storage layer alone.
    RedriveStore {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// RSS sampling period, ms.
        #[arg(long, default_value_t = 100)]
        sample_ms: u64,
    },
    /// Start after a kill -9 with N accepted, undelivered events (write_ahead).
    Recovery {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// RSS sampling period, ms.
        #[arg(long, default_value_t = 100)]
        sample_ms: u64,
    },
    /// Time `Engine::start` with N plugins.
    Startup {
        /// Plugin counts, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        plugins: Vec<usize>,
        /// Starts per plugin count; the median is reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Plain gRPC instead of AutoMTLS.
        #[arg(long)]
        no_mtls: bool,
    },
    /// (internal) The child of `redrive`: fill a retry queue, stop.
    #[command(hide = true)]
    FillRetry {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        events: u64,
    },
    /// (internal) The child of `recovery`: write ahead, wait to be killed.
    #[command(hide = true)]
    FillWriteAhead {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        events: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("plexus-scaling: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("plexus-scaling: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The command line as typed, for the table.
fn command_line() -> String {
    let mut args = std::env::args();
    let exe = args
        .next()
        .map(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(a)
        })
        .unwrap_or_else(|| "plexus-scaling".into());
    std::iter::once(format!("target/release/{exe}"))
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(args: Args) -> Result<()> {
    let plugin = match &args.plugin {
        Some(path) => path.clone(),
        None => locate::workspace_binary("notifier-jsonl")?,
    };
    let timeout = Duration::from_secs(args.timeout_secs);
    match args.row {
        Row::FillRetry { dir, events } => {
            return scaling::redrive::fill(&plugin, &dir, events, timeout).await
        }
        Row::FillWriteAhead { dir, events } => {
            return scaling::recovery::fill(&plugin, &dir, events).await
        }
        _ => {}
    }
    let scratch;
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => {
            scratch = tempfile::Builder::new()
                .prefix("plexus-scaling-")
                .tempdir()
                .context("creating a scratch directory")?;
            scratch.path().to_owned()
        }
    };
    println!(
        "plexus-scaling: {} build, plugin {}, work dir {}",
        locate::profile_name(),
        plugin.display(),
        work.display()
    );
    let command = command_line();
    match args.row {
        Row::Fanout {
            plugins,
            events,
            rounds,
            window,
            no_mtls,
        } => {
            let mut rows = Vec::new();
            for &n in &plugins {
                let mut results = Vec::new();
                for round in 0..rounds.max(1) {
                    let spec = fanout::FanoutRun {
                        plugin: plugin.clone(),
                        plugins: n,
                        events,
                        window,
                        auto_mtls: !no_mtls,
                        run_dir: fanout::run_dir(&work, n, round),
                        timeout,
                    };
                    let result = fanout::run(&spec).await?;
                    println!(
                        "{n:>2} plugins, round {}: {events} events, {} deliveries in {:.3} s: {:.0} events/s, {:.0} deliveries/s; CPU {:.1} µs/event (host {:.1}, plugins {:.1}); {} overflowed",
                        round + 1,
                        result.deliveries,
                        result.elapsed.as_secs_f64(),
                        result.events_per_sec(),
                        result.deliveries_per_sec(),
                        result.cpu_per_event_us(),
                        result.host_cpu_per_event_us(),
                        result.plugins_cpu_per_event_us(),
                        result.overflowed
                    );
                    results.push(result);
                }
                results.sort_by(|a, b| a.events_per_sec().total_cmp(&b.events_per_sec()));
                rows.push(results.swap_remove(results.len() / 2));
            }
            println!();
            println!("| plugins | deliveries per event | events/s | deliveries/s | CPU µs/event (host + plugins) | host µs/event | plugins µs/event | CPU µs/delivery |");
            println!("|---|---|---|---|---|---|---|---|");
            for r in &rows {
                println!(
                    "| {} | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    r.plugins,
                    r.deliveries as f64 / r.events.max(1) as f64,
                    r.events_per_sec(),
                    r.deliveries_per_sec(),
                    r.cpu_per_event_us(),
                    r.host_cpu_per_event_us(),
                    r.plugins_cpu_per_event_us(),
                    (r.host_cpu + r.plugins_cpu).as_secs_f64() * 1e6 / r.deliveries.max(1) as f64
                );
            }
            println!(
                "command: `{command}` (median of {} rounds by events/s)",
                rounds.max(1)
            );
        }
        Row::Redrive { events, sample_ms } => {
            let dir = work.join(format!("redrive-{events}"));
            let result = scaling::redrive::run(
                &plugin,
                &dir,
                events,
                Duration::from_millis(sample_ms),
                timeout,
            )
            .await?;
            println!(
                "filled a retry queue of {events} events in {:.1} s (child process; {:.0} MiB on disk)",
                result.fill.as_secs_f64(),
                mib(result.on_disk)
            );
            print_drain(&result.drained);
            println!("command: `{command}`");
        }
        Row::RedriveStore { events, sample_ms } => {
            let dir = work.join(format!("redrive-store-{events}"));
            let fill = scaling::redrive::fill_in_child(&plugin, &dir, events, timeout)?;
            println!(
                "filled a retry queue of {events} events in {:.1} s (child process)",
                fill.as_secs_f64()
            );
            let sample_every = Duration::from_millis(sample_ms);
            let d =
                tokio::task::spawn_blocking(move || scaling::store_only::drain(&dir, sample_every))
                    .await
                    .context("the storage drain thread")??;
            let high =
                rss::peak_while_queued(&d.samples, d.records.saturating_mul(9) / 10, u64::MAX);
            let low = rss::peak_while_queued(&d.samples, 1, 10_000.min(d.records));
            let show =
                |v: Option<u64>| v.map_or("–".to_owned(), |b| format!("{:.1} MiB", mib(b)));
            println!(
                "storage only: opened (and counted {} records) in {:.3} s, drained {:.1} s after the open call; RSS {:.1} MiB before, {:.1} MiB opened, peak {:.1} MiB; while ≥ 90 % queued {}, while ≤ 10 000 queued {}",
                d.records,
                d.opened.as_secs_f64(),
                d.drained.as_secs_f64(),
                mib(d.rss_before),
                mib(d.rss_opened),
                mib(d.peak.unwrap_or_else(|| rss::sampled_peak(&d.samples))),
                show(high),
                show(low)
            );
            println!("RSS trace: {}", trace(&d.samples));
            println!("command: `{command}`");
        }
        Row::Recovery { events, sample_ms } => {
            let dir = work.join(format!("recovery-{events}"));
            let result = scaling::recovery::run(
                &plugin,
                &dir,
                events,
                Duration::from_millis(sample_ms),
                timeout,
            )
            .await?;
            println!(
                "wrote ahead {events} events to a stalled plugin in {:.1} s (child process, then kill -9); at the kill: write-ahead log {:.1} MiB, data directory {:.0} MiB",
                result.fill.as_secs_f64(),
                mib(result.wal_bytes),
                mib(result.data_bytes)
            );
            print_drain(&result.drained);
            println!("command: `{command}`");
        }
        Row::Startup {
            plugins,
            runs,
            no_mtls,
        } => {
            for &n in &plugins {
                let mut times =
                    scaling::startup::run(&plugin, &work, n, runs.max(1), !no_mtls).await?;
                let list = times
                    .iter()
                    .map(|t| format!("{:.1}", t.as_secs_f64() * 1e3))
                    .collect::<Vec<_>>()
                    .join(", ");
                let median = scaling::median(&mut times);
                println!(
                    "{n:>2} plugins, AutoMTLS {}: Engine::start median {:.1} ms (runs: {list} ms)",
                    if no_mtls { "off" } else { "on" },
                    median.as_secs_f64() * 1e3
                );
            }
            println!("command: `{command}`");
        }
        Row::FillRetry { .. } | Row::FillWriteAhead { .. } => {}
    }
    Ok(())
}

fn print_drain(d: &Drained) {
    let (retry, spill) = d.queued_at_start;
    println!(
        "Engine::start {:.3} s (retry queue {retry}, spill queue {spill} when it returned); backlog of {} delivered {:.1} s after the start call ({:.0} events/s after start)",
        d.started.as_secs_f64(),
        d.backlog,
        d.drained.as_secs_f64(),
        d.drain_rate()
    );
    let high = rss::peak_while_queued(&d.samples, d.backlog.saturating_mul(9) / 10, u64::MAX);
    let low = rss::peak_while_queued(&d.samples, 1, 10_000.min(d.backlog));
    let show = |v: Option<u64>| v.map_or("–".to_owned(), |b| format!("{:.1} MiB", mib(b)));
    println!(
        "RSS: {:.1} MiB before start, {:.1} MiB after start, peak {:.1} MiB{}; while ≥ 90 % still queued {}, while ≤ 10 000 queued {}; {} samples",
        mib(d.rss_before),
        mib(d.rss_started),
        mib(d.peak_rss()),
        if d.peak.is_some() { " (VmHWM)" } else { " (sampled)" },
        show(high),
        show(low),
        d.samples.len()
    );
    println!("RSS trace: {}", trace(&d.samples));
}

/// About a dozen samples, evenly spaced.
fn trace(samples: &[rss::Sample]) -> String {
    let step = (samples.len() / 12).max(1);
    samples
        .iter()
        .step_by(step)
        .map(|s| {
            format!(
                "{:.1}s {:.0}MiB {}q",
                s.at.as_secs_f64(),
                mib(s.rss),
                s.queued
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}
