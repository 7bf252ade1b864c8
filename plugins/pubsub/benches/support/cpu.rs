//! CPU accounting for the throughput bench: how much CPU the bench process
//! (host and producer, or the bare client), the plugin process and the
//! broker's own server spend per event.
//!
//! On 2 cores the events/s of either side is capped by the CPU every
//! process on the path spends per event, the broker's included, so the
//! ratio the bench reports has a ceiling the bench can compute: the bare
//! client's CPU per event over the engine path's. The figures come from
//! `/proc/<pid>/stat` (utime + stime), read before and after each run.

use std::time::Duration;

/// CPU (user + system) of a process so far; `None` if it cannot be read.
pub fn of_pid(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `comm` may hold spaces and parentheses: the fields start after the last `)`.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `pid (comm)`: utime is field 14, stime 15 (1-based).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Some(Duration::from_nanos(
        (utime + stime).saturating_mul(1_000_000_000) / hz,
    ))
}

/// The pid of the running process whose `comm` is `name` (the first found).
pub fn find_process(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
}

/// CPU of a set of processes (absent ones count as zero), in a fixed order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub bench: Duration,
    pub plugin: Duration,
    pub broker: Duration,
}

/// What is sampled: the bench process itself, the plugin (if any), the broker.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    pub plugin: Option<u32>,
    pub broker: Option<u32>,
}

impl Watched {
    pub fn sample(&self) -> Sample {
        let read = |pid: Option<u32>| pid.and_then(of_pid).unwrap_or_default();
        Sample {
            bench: of_pid(std::process::id()).unwrap_or_default(),
            plugin: read(self.plugin),
            broker: read(self.broker),
        }
    }
}

/// CPU per event over a run, in µs, split by process.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerEvent {
    pub bench: f64,
    pub plugin: f64,
    pub broker: f64,
}

impl PerEvent {
    pub fn between(before: Sample, after: Sample, events: usize) -> Self {
        let per = |a: Duration, b: Duration| {
            b.saturating_sub(a).as_secs_f64() * 1e6 / events.max(1) as f64
        };
        PerEvent {
            bench: per(before.bench, after.bench),
            plugin: per(before.plugin, after.plugin),
            broker: per(before.broker, after.broker),
        }
    }

    pub fn total(&self) -> f64 {
        self.bench + self.plugin + self.broker
    }
}
