//! Follows a plugin's record file to learn when each event was delivered.
//!
//! The engine tells its embedder that an event was accepted, not when it
//! was acknowledged, and the comparison must not change the engine. But both
//! plugins record every event in their file *before* they acknowledge it, so
//! the moment a line appears there is the moment of delivery, give or take
//! the reply's trip back to the host (tens of µs). This thread polls the
//! file, finds each new line's event by its timestamp (see `workload`),
//! stamps it with the time of the read that returned it — an upper bound,
//! late by at most one poll interval — and hands one window permit back to
//! the producer per event, which keeps the producer's events in flight
//! bounded exactly like the Go host's semaphore. Its own CPU time is
//! measured so the harness can subtract it from the host's.

use crate::cpu;
use crate::error::{Context, Error, Result};
use crate::workload;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Marks an event not seen (yet).
pub const UNSEEN: u64 = u64::MAX;

/// What the tail saw.
#[derive(Debug, Clone)]
pub struct TailOutcome {
    /// Per event index: when its line was read, in ns since the epoch
    /// instant given to [`RecordTail::start`]; [`UNSEEN`] if never.
    pub seen_ns: Vec<u64>,
    /// Events seen at least once.
    pub seen: usize,
    /// Lines naming an event already seen.
    pub duplicates: u64,
    /// Lines that name no event of the run (or could not be read).
    pub foreign: u64,
    /// CPU time the tail thread spent.
    pub cpu: Duration,
}

/// A running tail thread.
pub struct RecordTail {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<TailOutcome>>,
}

struct Follow {
    path: PathBuf,
    base_ts: i64,
    epoch: Instant,
    window: Arc<Semaphore>,
    poll: Duration,
    stop: Arc<AtomicBool>,
    outcome: TailOutcome,
}

impl RecordTail {
    /// Starts following `path` (which must exist) for `n` events whose
    /// timestamps start at `base_ts`; releases one permit of `window` per
    /// newly seen event.
    pub fn start(
        path: &Path,
        base_ts: i64,
        n: usize,
        epoch: Instant,
        window: Arc<Semaphore>,
        poll: Duration,
    ) -> Result<RecordTail> {
        let stop = Arc::new(AtomicBool::new(false));
        let follow = Follow {
            path: path.to_owned(),
            base_ts,
            epoch,
            window,
            poll,
            stop: stop.clone(),
            outcome: TailOutcome {
                seen_ns: vec![UNSEEN; n],
                seen: 0,
                duplicates: 0,
                foreign: 0,
                cpu: Duration::ZERO,
            },
        };
        let thread = std::thread::Builder::new()
            .name("record-tail".into())
            .spawn(move || follow.run())
            .context("starting the record tail thread")?;
        Ok(RecordTail { stop, thread })
    }

    /// Stops following (at once if every event was seen) and returns what
    /// was seen.
    pub fn finish(self) -> Result<TailOutcome> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| Error::new("the record tail thread panicked"))?
    }
}

impl Follow {
    fn run(mut self) -> Result<TailOutcome> {
        let mut file = std::fs::File::open(&self.path)
            .with_context(|| format!("opening the record file {}", self.path.display()))?;
        let mut buffer = vec![0u8; 1 << 18];
        let mut pending: Vec<u8> = Vec::new();
        let n = self.outcome.seen_ns.len();
        while self.outcome.seen < n {
            let read = file
                .read(&mut buffer)
                .with_context(|| format!("reading the record file {}", self.path.display()))?;
            if read == 0 {
                if self.stop.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(self.poll);
                continue;
            }
            let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
            pending.extend_from_slice(&buffer[..read]);
            let released = self.take_lines(&mut pending, now);
            if released > 0 {
                self.window.add_permits(released);
            }
        }
        self.outcome.cpu = cpu::thread_cpu();
        Ok(self.outcome)
    }

    /// Consumes the complete lines of `pending`; returns how many events
    /// were seen for the first time.
    fn take_lines(&mut self, pending: &mut Vec<u8>, now: u64) -> usize {
        let n = self.outcome.seen_ns.len();
        let mut released = 0;
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + end];
            start += end + 1;
            let index = timestamp_of(line).and_then(|ts| workload::index_of(ts, self.base_ts, n));
            match index {
                Some(index) if self.outcome.seen_ns[index] == UNSEEN => {
                    self.outcome.seen_ns[index] = now;
                    self.outcome.seen += 1;
                    released += 1;
                }
                Some(_) => self.outcome.duplicates += 1,
                None => self.outcome.foreign += 1,
            }
        }
        pending.drain(..start);
        released
    }
}

/// The value of the `"timestamp"` key of a compact JSON line (both plugins
/// write compact JSON), falling back to a full parse.
pub fn timestamp_of(line: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"timestamp\":";
    if let Some(at) = line.windows(KEY.len()).position(|w| w == KEY) {
        let rest = &line[at + KEY.len()..];
        let digits = rest
            .iter()
            .enumerate()
            .take_while(|&(i, &b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
            .count();
        if let Some(value) = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|text| text.parse().ok())
        {
            return Some(value);
        }
    }
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    value.get("timestamp")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_found_in_compact_and_spaced_json() {
        assert_eq!(
            timestamp_of(br#"{"kind":"fs","timestamp":1764000000123456789,"action":"upload"}"#),
            Some(1_764_000_000_123_456_789)
        );
        assert_eq!(timestamp_of(br#"{"timestamp":-5}"#), Some(-5));
        assert_eq!(
            timestamp_of(br#"{"kind": "log", "timestamp": 42}"#),
            Some(42)
        );
        assert_eq!(timestamp_of(b"not json"), None);
    }

    #[test]
    fn lines_are_stamped_once_and_release_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.jsonl");
        std::fs::write(&path, "").unwrap();
        let window = Arc::new(Semaphore::new(0));
        let tail = RecordTail::start(
            &path,
            100,
            3,
            Instant::now(),
            window.clone(),
            Duration::from_micros(100),
        )
        .unwrap();
        std::fs::write(
            &path,
            "{\"timestamp\":101}\n{\"timestamp\":101}\n{\"timestamp\":7}\n{\"timestamp\":100}\n{\"timestamp\":102}\n",
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while window.available_permits() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let outcome = tail.finish().unwrap();
        assert_eq!(outcome.seen, 3);
        assert_eq!(outcome.duplicates, 1);
        assert_eq!(outcome.foreign, 1);
        assert!(outcome.seen_ns.iter().all(|&t| t != UNSEEN));
        assert_eq!(window.available_permits(), 3);
    }
}
