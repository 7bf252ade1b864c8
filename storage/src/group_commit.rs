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
//! durability either blocks until `flushed >= ticket` ([`GroupCommit::wait`])
//! or awaits a [`FlushWait`] ([`GroupCommit::wait_async`]), which registers
//! its `Waker` in the shared state; the flusher wakes the wakers of the
//! tickets a flush covered right after publishing its outcome. Because a
//! ticket is taken only after its write was applied, and `target` is read
//! before the flush starts, a flush published as covering a ticket really
//! started after that write.
//!
//! Only the flusher thread does I/O. `request`, `current`, `wait_async` and
//! polling a [`FlushWait`] never block on I/O: they take the state lock,
//! which is only ever held to read and assign a few integers and to insert
//! or remove a waker (never across a flush, and wakers are woken after it
//! is released). So an async task can wait for durability on its executor's
//! worker without occupying a blocking-pool thread. `wait` blocks until the
//! flush, by design.
//!
//! Gathering waits at most `max_delay`, and less when waiting longer cannot
//! help: it ends as soon as at least as many writers are waiting (blocked or
//! awaiting) for the next flush as the previous flush served (so a lone
//! writer is never delayed, and a steady group of N concurrent writers is
//! flushed as soon as all N are in). A waiter whose ticket the flush in
//! progress already covers is not counted: it does not need the next one.
//! When nobody waits (deferred writes only), it waits the whole `max_delay`,
//! which only batches more. Writes arriving during a flush share the next.
//!
//! If a flush fails, every ticket up to its target gets
//! [`StorageError::FlushFailed`]; the next writes trigger a new attempt.
//! On drop, the thread performs a last flush of what is pending and exits.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
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
    /// The target of the latest flush the flusher took (in progress or
    /// done): every ticket up to it has been or is being attempted.
    taken: Ticket,
    /// Writers waiting (in `wait` or on a polled [`FlushWait`]) whose
    /// tickets only the next flush will cover, i.e. tickets above `taken`
    /// (the flusher resets it when it takes its target).
    waiting: usize,
    /// The wakers of pending [`FlushWait`]s, by (ticket, waiter id): the
    /// flusher removes and wakes those up to its target once it published.
    wakers: BTreeMap<(Ticket, u64), Waker>,
    /// The id of the next registered [`FlushWait`].
    next_waiter: u64,
    shutdown: bool,
}

impl State {
    /// How a wait for `ticket` ends, if a flush has decided it already.
    fn outcome(&self, ticket: Ticket, path: &std::path::Path) -> Option<Result<()>> {
        if self.flushed >= ticket {
            return Some(Ok(()));
        }
        match &self.failed {
            Some((upto, message)) if *upto >= ticket => Some(Err(StorageError::FlushFailed {
                path: path.to_path_buf(),
                message: message.clone(),
            })),
            _ => None,
        }
    }

    /// Counts a waiter for `ticket` towards the gathering heuristic if only
    /// a flush not yet taken can cover it. Returns whether it counted it.
    fn count_waiter(&mut self, ticket: Ticket) -> bool {
        if ticket > self.taken {
            self.waiting += 1;
            true
        } else {
            false
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The critical sections only assign integers and move wakers; a
        // poisoned lock (a panic elsewhere while holding it) leaves the
        // state consistent.
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
        let mut registered = false;
        loop {
            if let Some(outcome) = state.outcome(ticket, &self.shared.path) {
                return outcome;
            }
            if !registered {
                registered = true;
                if state.count_waiter(ticket) {
                    self.shared.work.notify_one();
                }
            }
            state = self
                .shared
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A future that resolves like [`GroupCommit::wait`] once a flush
    /// covering `ticket` completed, without blocking: see [`FlushWait`].
    pub(crate) fn wait_async(&self, ticket: Ticket) -> FlushWait {
        FlushWait {
            shared: Arc::clone(&self.shared),
            ticket,
            registered: None,
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

/// Resolves once a flush covering its ticket completed: `Ok(())`, or the
/// [`StorageError::FlushFailed`] of the flush that covered it and failed.
///
/// Never blocks: the first poll that finds the ticket not yet covered
/// registers the task's waker with the flusher (and counts the task as a
/// waiting writer, as a blocked [`GroupCommit::wait`] is counted); the
/// flusher wakes it after publishing the outcome. Dropping it before it
/// resolves unregisters it and withdraws its count. It holds the flusher's
/// shared state, not the store: if the store is dropped meanwhile, the
/// flusher's last flush still decides it.
#[must_use = "a FlushWait does nothing unless awaited"]
pub(crate) struct FlushWait {
    shared: Arc<Shared>,
    ticket: Ticket,
    /// Set while registered: the waiter id, and whether it was counted in
    /// `waiting`.
    registered: Option<(u64, bool)>,
}

impl std::fmt::Debug for FlushWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushWait")
            .field("path", &self.shared.path)
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

impl Future for FlushWait {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let ticket = this.ticket;
        let mut state = this.shared.lock();
        if let Some(outcome) = state.outcome(ticket, &this.shared.path) {
            if let Some((id, _counted)) = this.registered.take() {
                // The flusher removed it when it published; this is only
                // for a poll that got here first by other means.
                state.wakers.remove(&(ticket, id));
            }
            return Poll::Ready(outcome);
        }
        match this.registered {
            Some((id, _counted)) => match state.wakers.get_mut(&(ticket, id)) {
                Some(waker) => waker.clone_from(cx.waker()),
                // Unreachable while undecided (only the flusher removes
                // wakers, and only decided ones); re-register to be safe.
                None => {
                    state.wakers.insert((ticket, id), cx.waker().clone());
                }
            },
            None => {
                let id = state.next_waiter;
                state.next_waiter += 1;
                state.wakers.insert((ticket, id), cx.waker().clone());
                let counted = state.count_waiter(ticket);
                this.registered = Some((id, counted));
                drop(state);
                if counted {
                    this.shared.work.notify_one();
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for FlushWait {
    fn drop(&mut self) {
        let Some((id, counted)) = self.registered.take() else {
            return;
        };
        let mut state = self.shared.lock();
        state.wakers.remove(&(self.ticket, id));
        // Still counted for the next flush (not taken yet): withdraw it, so
        // the gathering does not wait for, or stop early for, a writer that
        // is gone. Once taken, the count was consumed by that flush.
        if counted && self.ticket > state.taken {
            state.waiting = state.waiting.saturating_sub(1);
        }
    }
}

/// The flusher thread's loop.
fn run(shared: &Shared, max_delay: Duration, mut flush: FlushFn) {
    // How many waiters the last flush that had any served: the group size
    // gathering waits for.
    let mut last_group: usize = 1;
    let mut state = shared.lock();
    loop {
        while state.requested == state.taken && !state.shutdown {
            state = shared
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.requested == state.taken {
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
        state.taken = target;
        // Every waiter counted now holds a ticket <= target.
        let served = std::mem::take(&mut state.waiting);
        if served > 0 {
            last_group = served;
        }
        drop(state);
        let outcome = flush();
        shared.flushes.fetch_add(1, Ordering::Relaxed);
        state = shared.lock();
        match outcome {
            Ok(()) => state.flushed = state.flushed.max(target),
            Err(message) => state.failed = Some((target, message)),
        }
        shared.done.notify_all();
        if !state.wakers.is_empty() {
            // The async waiters this flush decided: every ticket <= target.
            let undecided = state.wakers.split_off(&(target.saturating_add(1), 0));
            let decided = std::mem::replace(&mut state.wakers, undecided);
            if !decided.is_empty() {
                // Wake outside the lock: a waker may run arbitrary code.
                drop(state);
                decided.into_values().for_each(Waker::wake);
                state = shared.lock();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;

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

    /// A flush that fails with "disk on fire" while the flag is set.
    fn switchable_failing_flush() -> (Arc<AtomicBool>, FlushFn) {
        let fail = Arc::new(AtomicBool::new(true));
        let f = Arc::clone(&fail);
        let flush: FlushFn = Box::new(move || {
            if f.load(Ordering::SeqCst) {
                Err("disk on fire".into())
            } else {
                Ok(())
            }
        });
        (fail, flush)
    }

    #[test]
    fn a_failed_flush_fails_the_writes_it_covered_and_the_next_one_recovers() {
        let (fail, flush) = switchable_failing_flush();
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

    /// A flush function that signals `entered` and then waits for one `go`
    /// per call, so a test can hold the flusher inside a flush.
    fn gated_flush() -> (
        FlushFn,
        Arc<AtomicU64>,
        mpsc::Receiver<()>,
        mpsc::Sender<()>,
    ) {
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let (entered_tx, entered_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let f: FlushFn = Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
            let _ = entered_tx.send(());
            go_rx
                .recv_timeout(Duration::from_secs(60))
                .map_err(|e| format!("test gate: {e}"))
        });
        (f, calls, entered_rx, go_tx)
    }

    fn waiting_and_wakers(gc: &GroupCommit) -> (usize, usize) {
        let state = gc.shared.lock();
        (state.waiting, state.wakers.len())
    }

    fn poll_once(wait: &mut FlushWait) -> Poll<Result<()>> {
        Pin::new(wait).poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
    }

    #[test]
    fn many_async_waiters_resolve_after_one_flush() {
        const WAITERS: u64 = 100;
        let (flush, calls, entered, go) = gated_flush();
        let gc = GroupCommit::start("/test".into(), Duration::from_secs(60), flush).expect("start");
        for _ in 0..WAITERS {
            gc.request();
        }
        let waits: Vec<FlushWait> = (1..=WAITERS).map(|t| gc.wait_async(t)).collect();
        // All of them on one thread: a wait that blocked would stall the rest.
        let executor = std::thread::spawn(move || {
            futures::executor::block_on(futures::future::join_all(waits))
        });
        // The first poll ends the gathering; the flusher takes all 100.
        entered
            .recv_timeout(Duration::from_secs(30))
            .expect("the flusher started a flush");
        let until = Instant::now() + Duration::from_secs(30);
        while waiting_and_wakers(&gc).1 < WAITERS as usize {
            assert!(Instant::now() < until, "waiters never all registered");
            std::thread::sleep(Duration::from_millis(1));
        }
        // The flush in progress covers them all: none counts for the next.
        assert_eq!(waiting_and_wakers(&gc), (0, WAITERS as usize));
        go.send(()).expect("release the flush");
        let results = executor.join().expect("executor thread");
        assert_eq!(results.len(), WAITERS as usize);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(waiting_and_wakers(&gc), (0, 0));
    }

    #[test]
    fn an_async_waiter_on_a_flushed_ticket_resolves_at_once() {
        let (flush, calls) = counting_flush(Duration::ZERO);
        let gc = GroupCommit::start("/test".into(), Duration::from_secs(60), flush).expect("start");
        // Nothing written yet: ticket 0 is covered.
        assert!(matches!(
            poll_once(&mut gc.wait_async(gc.current())),
            Poll::Ready(Ok(()))
        ));
        let t = gc.request();
        gc.wait(t).expect("flushed");
        let mut wait = gc.wait_async(t);
        assert!(matches!(poll_once(&mut wait), Poll::Ready(Ok(()))));
        // Resolved on the first poll: never registered nor counted, and no
        // flush was asked for.
        assert_eq!(waiting_and_wakers(&gc), (0, 0));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_async_waiters_unregister_and_withdraw_their_count() {
        let (flush, calls, entered, go) = gated_flush();
        let gc = GroupCommit::start("/test".into(), Duration::from_secs(60), flush).expect("start");
        // Hold the flusher inside a flush of ticket 1.
        let t1 = gc.request();
        let mut w1 = gc.wait_async(t1);
        assert!(poll_once(&mut w1).is_pending());
        entered
            .recv_timeout(Duration::from_secs(30))
            .expect("the flusher started a flush");
        // Ticket 2 needs the next flush: counted until dropped.
        let t2 = gc.request();
        let mut w2 = gc.wait_async(t2);
        assert!(poll_once(&mut w2).is_pending());
        assert!(
            poll_once(&mut w2).is_pending(),
            "a second poll counts nothing"
        );
        assert_eq!(waiting_and_wakers(&gc), (1, 2));
        drop(w2);
        assert_eq!(waiting_and_wakers(&gc), (0, 1));
        // Never polled: nothing to undo.
        drop(gc.wait_async(t2));
        // Its count was consumed when the flusher took ticket 1.
        drop(w1);
        assert_eq!(waiting_and_wakers(&gc), (0, 0));
        // The flushes still happen, and later waits work.
        go.send(()).expect("release the first flush");
        go.send(()).expect("allow the second flush");
        let mut w = gc.wait_async(t2);
        futures::executor::block_on(&mut w).expect("ticket 2 flushed");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(waiting_and_wakers(&gc), (0, 0));
        gc.wait(t1).expect("ticket 1 flushed");
    }

    #[test]
    fn a_failed_flush_fails_async_waiters_like_blocking_ones() {
        let (fail, flush) = switchable_failing_flush();
        let gc = GroupCommit::start("/data/q".into(), Duration::ZERO, flush).expect("start");
        let t = gc.request();
        let waits: Vec<FlushWait> = (0..8).map(|_| gc.wait_async(t)).collect();
        let results = futures::executor::block_on(futures::future::join_all(waits));
        let blocking = gc.wait(t).expect_err("flush failed").to_string();
        for result in results {
            let err = result.expect_err("flush failed");
            assert!(matches!(err, StorageError::FlushFailed { .. }), "{err:?}");
            assert_eq!(err.to_string(), blocking);
        }
        assert!(blocking.contains("/data/q") && blocking.contains("disk on fire"));
        assert_eq!(waiting_and_wakers(&gc), (0, 0));
        fail.store(false, Ordering::SeqCst);
        let t2 = gc.request();
        futures::executor::block_on(gc.wait_async(t2)).expect("the next flush succeeds");
        futures::executor::block_on(gc.wait_async(t)).expect("covered");
    }

    #[test]
    fn an_async_waiter_outliving_the_flusher_gets_its_last_flush() {
        let (flush, calls) = counting_flush(Duration::ZERO);
        let gc = GroupCommit::start("/test".into(), Duration::from_secs(60), flush).expect("start");
        let wait = gc.wait_async(gc.request());
        drop(gc);
        futures::executor::block_on(wait).expect("covered by the flush on drop");
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
