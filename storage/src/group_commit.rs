//! Group commit: one flush covers the writes of many concurrent callers.
//!
//! Exists because a flush costs tens of microseconds to milliseconds (more
//! while other processes write) whatever it covers, so flushing per write
//! caps throughput at a few thousand writes a second, while one flush shared
//! by every write that arrived meanwhile scales with the number of writers.
//!
//! How it works: writes are applied to sled first. Then the writer takes a
//! *ticket* ([`GroupCommit::request`]): the number of writes requested so
//! far, counting its own. One dedicated flusher thread per store sleeps until
//! `requested > flushed`; then it gathers (see below), snapshots
//! `target = requested`, releases the lock, calls the flush function once
//! (`sled::Db::flush`, which covers every tree of the database), and
//! publishes `flushed = target`, waking every waiter. A writer that wants
//! durability ([`GroupCommit::wait`]) blocks until `flushed >= ticket`.
//! Because a ticket is taken only after its write was applied, and `target`
//! is read before the flush starts, a flush published as covering a ticket
//! really started after that write.
//!
//! Gathering waits at most `max_delay`, and less when waiting longer cannot
//! help: it ends as soon as at least as many writers are blocked waiting as
//! the previous flush served (so a lone writer is never delayed, and a steady
//! group of N concurrent writers is flushed as soon as all N are in). When
//! nobody waits (deferred writes only), it waits the whole `max_delay`,
//! which only batches more. Writes arriving during a flush share the next.
//!
//! If a flush fails, every ticket up to its target gets
//! [`StorageError::FlushFailed`]; the next writes trigger a new attempt.
//! On drop, the thread performs a last flush of what is pending and exits.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Result, StorageError};

/// A position in the stream of requested writes; durable once the flushed
/// position reaches it.
pub(crate) type Ticket = u64;

/// The function the flusher calls: flush everything written so far.
pub(crate) type FlushFn = Box<dyn FnMut() -> Result<(), String> + Send>;

/// The flusher thread and what it shares with writers.
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the flusher: work arrived, or shutdown.
    work: Condvar,
    /// Wakes waiters: a flush completed (or failed).
    done: Condvar,
    /// Flushes performed (successful or not).
    flushes: AtomicU64,
    /// The directory, for error messages.
    path: PathBuf,
}

#[derive(Default)]
struct State {
    /// Tickets handed out: one per write.
    requested: Ticket,
    /// Every ticket up to this one is durable.
    flushed: Ticket,
    /// The last failed flush: the target it covered, and why.
    failed: Option<(Ticket, String)>,
    /// Writers blocked in `wait` whose tickets the next flush will cover
    /// (the flusher resets it when it takes its target).
    waiting: usize,
    shutdown: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The critical sections only assign integers; a poisoned lock
        // (a panic elsewhere while holding it) leaves the state consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl GroupCommit {
    /// Starts the flusher thread. `max_delay` is the longest it waits, after
    /// the first pending write, for more writes to share the flush (zero:
    /// flush at once; writes arriving during a flush still share the next).
    pub(crate) fn start(path: PathBuf, max_delay: Duration, flush: FlushFn) -> Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            flushes: AtomicU64::new(0),
            path: path.clone(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("plexus-storage-flush".into())
            .spawn(move || run(&thread_shared, max_delay, flush))
            .map_err(|source| StorageError::Spawn { path, source })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Registers one applied write and returns its ticket. Call it only
    /// after the write is applied. Never blocks on I/O.
    pub(crate) fn request(&self) -> Ticket {
        let ticket = {
            let mut state = self.shared.lock();
            state.requested += 1;
            state.requested
        };
        self.shared.work.notify_one();
        ticket
    }

    /// The ticket of the latest registered write (no new write).
    pub(crate) fn current(&self) -> Ticket {
        self.shared.lock().requested
    }

    /// Blocks until a flush covering `ticket` completed.
    pub(crate) fn wait(&self, ticket: Ticket) -> Result<()> {
        let mut state = self.shared.lock();
        if state.flushed < ticket {
            state.waiting += 1;
            self.shared.work.notify_one();
        }
        loop {
            if state.flushed >= ticket {
                return Ok(());
            }
            if let Some((upto, message)) = &state.failed {
                if *upto >= ticket {
                    return Err(StorageError::FlushFailed {
                        path: self.shared.path.clone(),
                        message: message.clone(),
                    });
                }
            }
            state = self
                .shared
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// How many flushes the thread has performed.
    pub(crate) fn flush_count(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread does not panic (the flush function's errors are
            // values); if it did, there is nothing more to do here.
            let _ = thread.join();
        }
    }
}

/// The flusher thread's loop.
fn run(shared: &Shared, max_delay: Duration, mut flush: FlushFn) {
    // The highest ticket a flush was attempted for (success or failure).
    let mut attempted: Ticket = 0;
    // How many waiters the last flush that had any served: the group size
    // gathering waits for.
    let mut last_group: usize = 1;
    let mut state = shared.lock();
    loop {
        while state.requested == attempted && !state.shutdown {
            state = shared
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.requested == attempted {
            // Shut down with nothing pending.
            return;
        }
        if !max_delay.is_zero() {
            // Gather: let more writers join this flush.
            let deadline = Instant::now() + max_delay;
            loop {
                let now = Instant::now();
                let group_complete = state.waiting > 0 && state.waiting >= last_group;
                if state.shutdown || group_complete || now >= deadline {
                    break;
                }
                state = shared
                    .work
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        let target = state.requested;
        // Every waiter counted now holds a ticket <= target.
        let served = std::mem::take(&mut state.waiting);
        if served > 0 {
            last_group = served;
        }
        drop(state);
        let outcome = flush();
        shared.flushes.fetch_add(1, Ordering::Relaxed);
        state = shared.lock();
        attempted = target;
        match outcome {
            Ok(()) => state.flushed = state.flushed.max(target),
            Err(message) => state.failed = Some((target, message)),
        }
        shared.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn counting_flush(delay: Duration) -> (FlushFn, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let f: FlushFn = Box::new(move || {
            std::thread::sleep(delay);
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        (f, calls)
    }

    #[test]
    fn a_waiter_returns_after_a_flush_that_covers_it() {
        let (flush, calls) = counting_flush(Duration::ZERO);
        let gc = GroupCommit::start("/test".into(), Duration::ZERO, flush).expect("start");
        let t = gc.request();
        gc.wait(t).expect("flushed");
        assert!(calls.load(Ordering::SeqCst) >= 1);
        // Waiting on an already covered ticket returns at once.
        gc.wait(gc.current()).expect("already flushed");
        assert_eq!(gc.flush_count(), calls.load(Ordering::SeqCst));
    }

    #[test]
    fn concurrent_writers_share_flushes() {
        let (flush, calls) = counting_flush(Duration::from_millis(1));
        let gc = Arc::new(
            GroupCommit::start("/test".into(), Duration::from_millis(1), flush).expect("start"),
        );
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let gc = Arc::clone(&gc);
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let t = gc.request();
                        gc.wait(t).expect("flushed");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer thread");
        }
        let flushes = calls.load(Ordering::SeqCst);
        assert!(flushes <= 200 / 3, "{flushes} flushes for 200 writes");
    }

    #[test]
    fn a_failed_flush_fails_the_writes_it_covered_and_the_next_one_recovers() {
        let fail = Arc::new(AtomicBool::new(true));
        let f = Arc::clone(&fail);
        let flush: FlushFn = Box::new(move || {
            if f.load(Ordering::SeqCst) {
                Err("disk on fire".into())
            } else {
                Ok(())
            }
        });
        let gc = GroupCommit::start("/data/q".into(), Duration::ZERO, flush).expect("start");
        let t = gc.request();
        let err = gc.wait(t).expect_err("flush failed");
        let msg = err.to_string();
        assert!(
            msg.contains("/data/q") && msg.contains("disk on fire"),
            "{msg}"
        );
        fail.store(false, Ordering::SeqCst);
        let t2 = gc.request();
        gc.wait(t2).expect("the next flush succeeds");
        // The earlier ticket is now covered by the successful flush.
        gc.wait(t).expect("covered");
    }

    #[test]
    fn a_lone_waiter_is_not_held_for_the_gathering_delay() {
        let (flush, calls) = counting_flush(Duration::ZERO);
        let gc = GroupCommit::start("/test".into(), Duration::from_secs(60), flush).expect("start");
        let started = Instant::now();
        for _ in 0..3 {
            let t = gc.request();
            gc.wait(t).expect("flushed");
        }
        // Correctness, not speed: nothing here may wait for the 60 s delay.
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn deferred_writes_are_batched_for_the_delay() {
        let (flush, calls) = counting_flush(Duration::ZERO);
        let gc = GroupCommit::start("/test".into(), Duration::from_secs(60), flush).expect("start");
        let started = Instant::now();
        for _ in 0..50 {
            gc.request();
        }
        // Nobody waits, so the flusher gathers; a waiter ends the gathering
        // and one flush covers all 50.
        let t = gc.current();
        gc.wait(t).expect("flushed");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn drop_flushes_what_is_pending() {
        let (flush, calls) = counting_flush(Duration::ZERO);
        let gc = GroupCommit::start("/test".into(), Duration::from_secs(60), flush).expect("start");
        gc.request();
        // The thread is in its 60 s gathering wait; drop must not wait that long.
        let started = Instant::now();
        drop(gc);
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
