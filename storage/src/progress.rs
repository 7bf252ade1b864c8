//! Whether sled's writes are moving: the sled calls of a store that are in
//! progress, and when one last finished.
//!
//! Exists because sled 0.34.7 can stop every write of a process for good:
//! when the last segment of its log frees, it queues a file truncation on
//! its shared I/O thread pool, and the next writer that moves the log's
//! tip waits for it while holding the lock that every pool thread writing
//! a buffer also waits for; the pool does not grow while its threads are
//! busy, so nothing runs the truncation (`benches/README.md`, Scaling,
//! tells how it was met with large pages; sled fixed it after 0.34). From
//! outside nothing can break that cycle, but it must not be silent: a
//! store that has made no progress for a long while says so
//! ([`crate::Store::stalled_for`]), and the engine logs it and exports it
//! as a metric.
//!
//! Cost: two atomic operations around each batch write and flush.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The sled calls of one store in progress, and the time they last moved.
#[derive(Debug)]
pub(crate) struct SledProgress {
    epoch: Instant,
    busy: AtomicUsize,
    /// Milliseconds since `epoch` when a call last finished, or when one
    /// started while none was in progress.
    last_moved_ms: AtomicU64,
}

impl SledProgress {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            busy: AtomicUsize::new(0),
            last_moved_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs `call`, a sled write or flush, as watched work.
    pub(crate) fn watch<T>(&self, call: impl FnOnce() -> T) -> T {
        if self.busy.fetch_add(1, Ordering::AcqRel) == 0 {
            self.last_moved_ms.store(self.now_ms(), Ordering::Release);
        }
        let result = call();
        self.last_moved_ms.store(self.now_ms(), Ordering::Release);
        self.busy.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// How long sled calls have been in progress with none finishing, or
    /// `None` when none is in progress.
    pub(crate) fn stalled_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Acquire) == 0 {
            return None;
        }
        let since = self.last_moved_ms.load(Ordering::Acquire);
        Some(Duration::from_millis(self.now_ms().saturating_sub(since)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;

    #[test]
    fn a_call_that_does_not_return_shows_as_a_growing_stall() {
        let progress = Arc::new(SledProgress::new());
        assert_eq!(progress.stalled_for(), None);
        progress.watch(|| ());
        assert_eq!(progress.stalled_for(), None, "a finished call is no stall");

        let (release, held) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel::<()>();
        let stuck = {
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                progress.watch(|| {
                    let _ = started.send(());
                    let _ = held.recv();
                })
            })
        };
        running.recv().expect("the call started");
        std::thread::sleep(Duration::from_millis(60));
        let stalled = progress.stalled_for().expect("a call is in progress");
        assert!(stalled >= Duration::from_millis(50), "{stalled:?}");

        // Another call finishing is progress: the stall restarts from it.
        progress.watch(|| ());
        let after = progress.stalled_for().expect("the stuck call still runs");
        assert!(after < stalled, "{after:?} after {stalled:?}");

        release.send(()).expect("release");
        stuck.join().expect("the stuck call returns");
        assert_eq!(progress.stalled_for(), None);
    }
}
