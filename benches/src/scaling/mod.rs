//! The scaling table of issue 16: how the engine's cost grows with the
//! work, one module a row.
//!
//! - [`fanout`]: events/s and CPU per event with 1, 4 and 16 notifier plugins;
//! - [`redrive`]: draining a retry queue of 1 M events, time and RSS;
//! - [`recovery`]: start-up after a `kill -9` with 1 M accepted,
//!   undelivered events in `write_ahead` mode, time and RSS;
//! - [`startup`]: `Engine::start` with 16 plugins and AutoMTLS.
//!
//! Every row drives real `notifier-jsonl` processes through the public
//! `Engine` API, with the settings a user has; what each row sets beyond
//! the defaults is said where it is set. This module holds what the rows
//! share: the plugin entries and their filter mixes, and waiting for a
//! condition with a deadline.

pub mod backlog;
pub mod child;
pub mod fanout;
pub mod recovery;
pub mod redrive;
pub mod startup;
pub mod store_only;

use crate::error::{Error, Result};
use plexus_engine::config::NotifierOptions;
use plexus_engine::{Engine, PluginConfig};
use plexus_proto::Event;
use std::path::Path;
use std::time::{Duration, Instant};

const FS_ACTIONS: [&str; 4] = ["upload", "download", "delete", "rename"];
const PROVIDER_ACTIONS: [&str; 3] = ["add", "update", "delete"];
const LOG_EVENTS: [i32; 4] = [1, 2, 3, 4];

/// Seconds a failed event may wait for its retry in these runs: longer than
/// any run, so nothing is dropped for its age.
pub const RETRY_MAX_TIME: i64 = 86_400;

/// What one plugin subscribes to. With the workload's mix (80 % fs, 10 %
/// provider, 10 % log): `All` gets every event, `Fs` the uploads and
/// renames (40 %), `Provider` and `Log` 10 % each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    All,
    Fs,
    Provider,
    Log,
}

impl Mix {
    /// The mix of the `i`-th of several plugins: all, fs, provider, log,
    /// then again.
    pub fn nth(i: usize) -> Mix {
        [Mix::All, Mix::Fs, Mix::Provider, Mix::Log][i % 4]
    }

    pub fn name(self) -> &'static str {
        match self {
            Mix::All => "all",
            Mix::Fs => "fs",
            Mix::Provider => "provider",
            Mix::Log => "log",
        }
    }

    pub fn options(self) -> NotifierOptions {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (fs_events, provider_events, provider_objects, log_events) = match self {
            Mix::All => (
                strings(&FS_ACTIONS),
                strings(&PROVIDER_ACTIONS),
                strings(&["user"]),
                LOG_EVENTS.to_vec(),
            ),
            Mix::Fs => (strings(&["upload", "rename"]), vec![], vec![], vec![]),
            Mix::Provider => (
                vec![],
                strings(&PROVIDER_ACTIONS),
                strings(&["user"]),
                vec![],
            ),
            Mix::Log => (vec![], vec![], vec![], LOG_EVENTS.to_vec()),
        };
        NotifierOptions {
            fs_events,
            provider_events,
            provider_objects,
            log_events,
            retry_max_time: RETRY_MAX_TIME,
            retry_queue_max_size: 0,
        }
    }

    /// Whether this mix's filter selects `event` (as the router decides).
    pub fn selects(self, event: &Event) -> bool {
        let options = self.options();
        match event {
            Event::Fs(e) => options.fs_events.contains(&e.action),
            Event::Provider(e) => {
                options.provider_events.contains(&e.action)
                    && options.provider_objects.contains(&e.object_type)
            }
            Event::Log(e) => options.log_events.contains(&e.event),
        }
    }
}

/// A `notifier-jsonl` entry recording to `record`, with `extra` arguments.
pub fn jsonl_plugin(
    plugin: &Path,
    record: &Path,
    mix: Mix,
    auto_mtls: bool,
    extra: &[String],
) -> PluginConfig {
    let mut args = vec!["--out".to_owned(), record.to_string_lossy().into_owned()];
    args.extend(extra.iter().cloned());
    PluginConfig {
        kind: "notifier".into(),
        cmd: plugin.to_string_lossy().into_owned(),
        args,
        auto_mtls,
        env_prefix: "none".into(),
        notifier_options: mix.options(),
        ..Default::default()
    }
}

/// Polls `done` every `poll` until it holds; fails naming `what` and the
/// last `progress` after `timeout`.
pub async fn wait_until(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut done: impl FnMut() -> bool,
    progress: impl Fn() -> String,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return Err(Error::new(format!(
                "{what}: not done within {timeout:?} ({})",
                progress()
            )));
        }
        tokio::time::sleep(poll).await;
    }
    Ok(())
}

/// The first notifier's counters, in words (for error messages).
pub fn counters_note(engine: &Engine) -> String {
    engine
        .stats()
        .iter()
        .map(|s| {
            let c = &s.counters;
            format!(
                "{}: delivered {}, failed {}, queued {}, retry queue {}, spill {}, overflowed {}, dropped {}",
                s.label,
                c.delivered,
                c.failed,
                c.queued,
                c.queue_len,
                c.spill_len,
                c.overflowed,
                c.dropped()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Lines in a file (a plugin's record), 0 if it cannot be read.
pub fn count_lines(path: &Path) -> Result<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .map_err(|err| Error::new(format!("opening {}: {err}", path.display())))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|err| Error::new(format!("reading {}: {err}", path.display())))?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Bytes of every file under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A median of durations (the upper one of an even count).
pub fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload;

    #[test]
    fn the_mixes_select_their_share_of_the_workload() {
        let events = workload::mixed(1_000, 1);
        let share = |mix: Mix| events.iter().filter(|e| mix.selects(e)).count();
        assert_eq!(share(Mix::All), 1_000);
        assert_eq!(share(Mix::Fs), 400);
        assert_eq!(share(Mix::Provider), 100);
        assert_eq!(share(Mix::Log), 100);
        assert_eq!(Mix::nth(5), Mix::Fs);
        for mix in [Mix::All, Mix::Fs, Mix::Provider, Mix::Log] {
            assert!(mix.options().has_actions(), "{}", mix.name());
        }
    }

    #[test]
    fn a_median_is_the_middle_value() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
