//! The ledger: every write and removal of a plugin's queue records, and the
//! counters that account for them.
//!
//! Nothing else touches a queue. The router asks the ledger to write an
//! event ahead ([`Ledger::accepted`]) or to spill it ([`Ledger::overflowed`]);
//! every outcome of the delivery lane comes back here ([`Ledger::settle`]),
//! where [`RetryPolicy::decide`] is applied to every failure, whatever road
//! the event came by; a restarted host's write-ahead leftovers come back
//! through [`Ledger::recover`].
//!
//! "Queued" in the size bound means the records of the retry and spill
//! queues together, minus the records of a running re-drive pass that have
//! not been decided yet: as in SFTPGo, whose pass takes the whole queue out
//! before sending it again, a re-driven event that fails again competes for
//! room only with what was kept or added since the pass began.

use super::policy::{Cause, Clock, Decision, DropReason, Durability, RetryPolicy};
use super::{Job, PluginQueues, Source};
use crate::counters::PluginCounters;
use crate::event::{self, Event, Origin};
use crate::queue::{QueueError, RecordQueue};
use crate::transport::DeliveryError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The accounts of one notifier plugin.
pub struct Ledger {
    name: Arc<str>,
    /// Swapped by a config reload ([`Ledger::set_policy`]).
    policy: std::sync::RwLock<RetryPolicy>,
    durability: Durability,
    queues: PluginQueues,
    counters: Arc<PluginCounters>,
    clock: Clock,
    drops: BurstLog,
    /// Makes "count the queued events, then append" one step for the
    /// router and the settler, so the size bound is exact.
    admission: Mutex<()>,
    /// Records of the running re-drive pass not decided yet.
    pass_pending: AtomicU64,
    /// Signalled when `pass_pending` reaches 0.
    pass_settled: Notify,
    /// Set at shutdown: undelivered events are kept for the next start.
    closing: AtomicBool,
    /// Signalled after a spill, for the spill drainer.
    spill_ready: Notify,
}

/// Which queues a step wrote, so the caller waits for exactly those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Touched {
    pub write_ahead: bool,
    pub spill: bool,
    pub retry: bool,
}

impl Touched {
    pub fn any(&self) -> bool {
        self.write_ahead || self.spill || self.retry
    }

    pub fn merge(&mut self, other: Touched) {
        self.write_ahead |= other.write_ahead;
        self.spill |= other.spill;
        self.retry |= other.retry;
    }
}

/// The two queues events wait in to be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backlog {
    /// Failed events, re-driven every retry interval.
    Retry,
    /// Overflowed events, drained as soon as the plugin has room.
    Spill,
}

/// What [`Ledger::overflowed`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflowed {
    /// It waits in the spill queue for its first delivery.
    Spilled,
    /// The queues were full: it was dropped (counted and logged).
    Dropped,
}

/// What a batch of outcomes decided so far.
#[derive(Default)]
struct Batch {
    removals: Removals,
    /// Re-driven records decided (still counted as the pass's).
    pass_decided: u64,
    /// Of those, the ones that keep their place in the queue.
    pass_kept: u64,
}

/// What one settled event needs written.
#[derive(Default)]
struct Removals {
    write_ahead: Vec<u64>,
    spill: Vec<u64>,
    retry: Vec<u64>,
}

impl Ledger {
    pub fn new(
        name: Arc<str>,
        policy: RetryPolicy,
        durability: Durability,
        queues: PluginQueues,
        counters: Arc<PluginCounters>,
        clock: Clock,
    ) -> Ledger {
        Ledger {
            name,
            policy: std::sync::RwLock::new(policy),
            durability,
            queues,
            counters,
            clock,
            drops: BurstLog::default(),
            admission: Mutex::new(()),
            pass_pending: AtomicU64::new(0),
            pass_settled: Notify::new(),
            closing: AtomicBool::new(false),
            spill_ready: Notify::new(),
        }
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The retry rules in force.
    pub fn policy(&self) -> RetryPolicy {
        *self.policy.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the retry rules (a config reload). Queued events stay; the
    /// new rules decide from the next failure or overflow on.
    pub fn set_policy(&self, policy: RetryPolicy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    pub fn counters(&self) -> &Arc<PluginCounters> {
        &self.counters
    }

    /// Events waiting for a re-drive.
    pub fn retry_len(&self) -> u64 {
        self.queues.retry.len()
    }

    /// Events waiting for their first delivery on disk.
    pub fn spill_len(&self) -> u64 {
        self.queues.spill.len()
    }

    /// Events written ahead and not settled.
    pub fn write_ahead_len(&self) -> u64 {
        self.queues.write_ahead.len()
    }

    /// The timestamp (ns since the epoch) of the oldest event in the retry
    /// queue, the one the age rule drops first; `None` when it is empty.
    /// Reads one record from disk.
    pub fn oldest_retry_event_ns(&self) -> Result<Option<i64>, QueueError> {
        if self.queues.retry.is_empty() {
            return Ok(None);
        }
        let peeked = self.queues.retry.peek_from(0, 1)?;
        Ok(peeked.records.first().map(|record| record.event_ts_ns))
    }

    /// Drops every event waiting in the retry and spill queues (an
    /// operator's `plexus queue drop` on a live daemon), counting them as
    /// dropped by the operator; returns how many went from each queue, or
    /// `None` while a re-drive pass has records out (try again once it
    /// ended), so no queued event is both dropped and re-sent. A spilled
    /// event the drainer already handed to the plugin may still arrive.
    /// Blocks on disk: call it from a blocking thread.
    pub fn drop_queued(&self) -> Result<Option<(u64, u64)>, QueueError> {
        let _admission = self.admission.lock().unwrap_or_else(|p| p.into_inner());
        if self.pass_pending.load(Ordering::Acquire) > 0 {
            return Ok(None);
        }
        let retry = drain_queue(&*self.queues.retry)?;
        let spill = drain_queue(&*self.queues.spill)?;
        PluginCounters::add(&self.counters.dropped_by_operator, retry + spill);
        tracing::warn!(
            plugin = &*self.name,
            "[{}] an operator dropped {retry} events from the retry queue and {spill} from the spill queue",
            self.name
        );
        Ok(Some((retry, spill)))
    }

    /// While events wait in the spill queue, newer ones go there too, so
    /// the plugin gets them in order.
    pub fn spilling(&self) -> bool {
        !self.queues.spill.is_empty()
    }

    pub(crate) fn now_ns(&self) -> i64 {
        (self.clock)()
    }

    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.spill_ready.notify_one();
    }

    pub(crate) fn spill_ready(&self) -> &Notify {
        &self.spill_ready
    }

    /// Events the size bound counts, leaving out `own` records of the event
    /// being decided that are still in a queue.
    fn queued_besides(&self, own: u64) -> u64 {
        (self.queues.retry.len() + self.queues.spill.len())
            .saturating_sub(self.pass_pending.load(Ordering::Acquire))
            .saturating_sub(own)
    }

    // ----- accepted: the router writes an event ahead ---------------------

    /// With `write_ahead` durability, appends the event (already encoded)
    /// to the write-ahead log before it is handed to the actor; durable
    /// once [`Ledger::sync`] with `write_ahead` resolves.
    pub fn accepted(&self, event: &Event, encoded: &[u8]) -> Result<Option<u64>, QueueError> {
        if self.durability != Durability::WriteAhead {
            return Ok(None);
        }
        self.queues
            .write_ahead
            .append(event.timestamp_ns(), encoded)
            .map(Some)
    }

    // ----- overflowed: the mailbox stayed full ------------------------------

    /// The plugin's mailbox stayed full past the producer's wait: the event
    /// goes to the spill queue (bounded by `retry_queue_max_size` with the
    /// retry queue) and the spill drainer sends it as soon as there is
    /// room. Its write-ahead record, if any, is settled by the move.
    pub fn overflowed(
        &self,
        event: &Arc<Event>,
        ahead: Option<u64>,
    ) -> Result<(Overflowed, Touched), QueueError> {
        let mut touched = Touched::default();
        let guard = self.admission.lock().unwrap_or_else(|p| p.into_inner());
        let decision = self.policy().decide(
            Cause::Overflow,
            event.timestamp_ns(),
            self.now_ns(),
            self.queued_besides(0),
        );
        let outcome = match decision {
            Decision::Queue => {
                let payload = event::encode(event, Origin::Overflow);
                self.queues.spill.append(event.timestamp_ns(), &payload)?;
                drop(guard);
                PluginCounters::incr(&self.counters.overflowed);
                touched.spill = true;
                self.spill_ready.notify_one();
                Overflowed::Spilled
            }
            Decision::Drop(reason) => {
                drop(guard);
                self.count_drop(reason, event, "its mailbox stayed full");
                Overflowed::Dropped
            }
        };
        if let Some(seq) = ahead {
            self.queues.write_ahead.remove(&[seq])?;
            touched.write_ahead = true;
        }
        Ok((outcome, touched))
    }

    // ----- recovered: what a stopped host left behind ------------------------

    /// Moves what an earlier run left in the write-ahead log (events it
    /// accepted but may not have delivered) to the spill queue, where they
    /// are delivered as soon as the plugin runs. Call before the plugin's
    /// actor starts. Returns how many records moved.
    pub fn recover(&self) -> Result<u64, QueueError> {
        let mut moved = 0;
        loop {
            let peeked = self.queues.write_ahead.peek_from(0, 256)?;
            PluginCounters::add(&self.counters.corrupt, peeked.corrupt_discarded);
            if peeked.records.is_empty() {
                break;
            }
            let mut seqs = Vec::with_capacity(peeked.records.len());
            for record in &peeked.records {
                self.queues
                    .spill
                    .append(record.event_ts_ns, &record.payload)?;
                seqs.push(record.seq);
            }
            self.queues.spill.sync()?;
            self.queues.write_ahead.remove(&seqs)?;
            moved += seqs.len() as u64;
        }
        self.queues.write_ahead.sync()?;
        Ok(moved)
    }

    // ----- delivered, failed, re-driven: outcomes from the lane ---------------

    /// Settles an outcome that needs no disk work (a fresh event delivered
    /// without a write-ahead record) at once; otherwise hands it back for
    /// [`Ledger::settle`] on a blocking thread.
    pub(crate) fn settle_in_place(
        &self,
        job: Job,
        result: Result<(), DeliveryError>,
    ) -> Option<(Job, Result<(), DeliveryError>)> {
        if result.is_ok() && job.source == (Source::Fresh { ahead: None }) {
            PluginCounters::incr(&self.counters.delivered);
            return None;
        }
        Some((job, result))
    }

    /// Settles the outcomes of the lane: removes the records of delivered
    /// events, applies the retry rule to failed ones, keeps what a shutdown
    /// cut short. Blocks on disk: call it from a blocking thread. Returns
    /// the queues written, to wait for with [`Ledger::sync`].
    pub(crate) fn settle(&self, outcomes: &[(Job, Result<(), DeliveryError>)]) -> Touched {
        let mut batch = Batch::default();
        let mut touched = Touched::default();
        for (job, result) in outcomes {
            match result {
                Ok(()) => self.delivered(job, &mut batch.removals),
                Err(DeliveryError::Cancelled) => self.kept(job, &mut batch.removals, &mut touched),
                Err(err) => self.failed(job, err, &mut batch, &mut touched),
            }
            if let Source::Queued(_) = job.source {
                batch.pass_decided += 1;
            }
        }
        let decided = batch.pass_decided;
        self.apply(batch.removals, &mut touched);
        // Only now, with their removals applied, may the next pass begin.
        self.finish_pass_records(decided);
        touched
    }

    fn delivered(&self, job: &Job, removals: &mut Removals) {
        PluginCounters::incr(&self.counters.delivered);
        match job.source {
            Source::Fresh { ahead } => removals.write_ahead.extend(ahead),
            Source::Spilled(seq) => removals.spill.push(seq),
            Source::Queued(seq) => {
                PluginCounters::incr(&self.counters.redriven);
                removals.retry.push(seq);
            }
        }
    }

    /// A shutdown cut the delivery short: the event waits for the next
    /// start, whatever the retry settings (it was never refused).
    fn kept(&self, job: &Job, removals: &mut Removals, touched: &mut Touched) {
        let Source::Fresh { ahead } = job.source else {
            return; // spilled and queued events stay where they are
        };
        let payload = event::encode(&job.event, Origin::Overflow);
        match self.queues.spill.append(job.event.timestamp_ns(), &payload) {
            Ok(_) => {
                PluginCounters::incr(&self.counters.overflowed);
                touched.spill = true;
                removals.write_ahead.extend(ahead);
            }
            // Its write-ahead record (if any) stays: the next start recovers it.
            Err(err) => self.count_queue_error(&job.event, &err),
        }
    }

    fn failed(&self, job: &Job, err: &DeliveryError, batch: &mut Batch, touched: &mut Touched) {
        PluginCounters::incr(&self.counters.failed);
        self.counters.record_error(err.to_string());
        let event = &job.event;
        let guard = self.admission.lock().unwrap_or_else(|p| p.into_inner());
        // Spill records this batch removes no longer count; re-driven
        // records it kept count again (the pass's count still leaves out
        // every record of the batch).
        let own = u64::from(matches!(job.source, Source::Spilled(_)));
        let queued = (self.queued_besides(own) + batch.pass_kept)
            .saturating_sub(batch.removals.spill.len() as u64);
        let decision =
            self.policy()
                .decide(Cause::Failed, event.timestamp_ns(), self.now_ns(), queued);
        let removals = &mut batch.removals;
        match (decision, job.source) {
            // Keeps its place.
            (Decision::Queue, Source::Queued(_)) => batch.pass_kept += 1,
            (Decision::Queue, source) => {
                let payload = event::encode(event, Origin::Failed);
                let appended = self.queues.retry.append(event.timestamp_ns(), &payload);
                drop(guard);
                match appended {
                    Ok(_) => {
                        PluginCounters::incr(&self.counters.queued);
                        touched.retry = true;
                        match source {
                            Source::Fresh { ahead } => removals.write_ahead.extend(ahead),
                            Source::Spilled(seq) => removals.spill.push(seq),
                            Source::Queued(_) => {}
                        }
                    }
                    // The record it came from stays: nothing is lost.
                    Err(queue_err) => self.count_queue_error(event, &queue_err),
                }
            }
            (Decision::Drop(reason), source) => {
                drop(guard);
                self.count_drop(reason, event, &format!("delivery failed ({err})"));
                match source {
                    Source::Fresh { ahead } => removals.write_ahead.extend(ahead),
                    Source::Spilled(seq) => removals.spill.push(seq),
                    Source::Queued(seq) => removals.retry.push(seq),
                }
            }
        }
    }

    fn apply(&self, removals: Removals, touched: &mut Touched) {
        let steps: [(&Vec<u64>, &Arc<dyn RecordQueue>, &mut bool); 3] = [
            (
                &removals.write_ahead,
                &self.queues.write_ahead,
                &mut touched.write_ahead,
            ),
            (&removals.spill, &self.queues.spill, &mut touched.spill),
            (&removals.retry, &self.queues.retry, &mut touched.retry),
        ];
        for (seqs, queue, touched) in steps {
            if seqs.is_empty() {
                continue;
            }
            match queue.remove(seqs) {
                Ok(()) => *touched = true,
                Err(err) => {
                    PluginCounters::incr(&self.counters.queue_errors);
                    tracing::warn!(
                        plugin = &*self.name,
                        "[{}] removing {} settled records: {err} (they may be delivered again)",
                        self.name,
                        seqs.len()
                    );
                }
            }
        }
    }

    fn backlog(&self, backlog: Backlog) -> &Arc<dyn RecordQueue> {
        match backlog {
            Backlog::Retry => &self.queues.retry,
            Backlog::Spill => &self.queues.spill,
        }
    }

    /// Up to `n` records of a backlog from sequence `from` on. Blocks on
    /// disk: call it from a blocking thread.
    pub(crate) fn peek(
        &self,
        backlog: Backlog,
        from: u64,
        n: usize,
    ) -> Result<crate::queue::Peeked, QueueError> {
        let peeked = self.backlog(backlog).peek_from(from, n)?;
        PluginCounters::add(&self.counters.corrupt, peeked.corrupt_discarded);
        Ok(peeked)
    }

    /// A backlog record that is not an event: it goes, counted and logged.
    pub(crate) fn discard_unreadable(&self, backlog: Backlog, seq: u64, err: &event::DecodeError) {
        PluginCounters::incr(&self.counters.corrupt);
        tracing::warn!(
            plugin = &*self.name,
            "[{}] discarding unreadable queue record {seq}: {err}",
            self.name
        );
        if let Err(err) = self.backlog(backlog).remove(&[seq]) {
            tracing::warn!(plugin = &*self.name, "[{}] {err}", self.name);
        }
    }

    /// Waits until what these steps wrote is durable. Blocks no thread.
    pub fn sync(
        &self,
        touched: Touched,
    ) -> impl std::future::Future<Output = Result<(), QueueError>> {
        let mut waits = Vec::new();
        if touched.write_ahead {
            waits.push(self.queues.write_ahead.sync_async());
        }
        if touched.spill {
            waits.push(self.queues.spill.sync_async());
        }
        if touched.retry {
            waits.push(self.queues.retry.sync_async());
        }
        async move {
            for wait in waits {
                wait.await?;
            }
            Ok(())
        }
    }

    // ----- the re-drive pass's count ------------------------------------------

    /// A pass over `records` queued events begins.
    pub(crate) fn begin_pass(&self, records: u64) {
        self.pass_pending.store(records, Ordering::Release);
    }

    /// `records` of the pass are decided (settled, or left untried).
    pub(crate) fn finish_pass_records(&self, records: u64) {
        let before = self
            .pass_pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                Some(pending.saturating_sub(records))
            })
            .unwrap_or(0);
        if before <= records {
            self.pass_settled.notify_waiters();
        }
    }

    /// Resolves once every record of the pass is decided.
    pub(crate) async fn pass_settled(&self) {
        loop {
            let notified = self.pass_settled.notified();
            if self.pass_pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    // ----- drops and errors ---------------------------------------------------

    fn count_drop(&self, reason: DropReason, event: &Event, why: &str) {
        let counter = match reason {
            DropReason::RetriesOff => &self.counters.dropped_no_retry,
            DropReason::TooOld => &self.counters.dropped_too_old,
            DropReason::QueueFull => &self.counters.dropped_queue_full,
        };
        PluginCounters::incr(counter);
        self.drops.warn(
            &self.name,
            &format!(
                "dropping a {} event: {why} and {}",
                event.kind(),
                reason.describe()
            ),
        );
    }

    /// The event could not be written to this plugin's queue, and another
    /// plugin has it already: counted as lost here, logged once per burst.
    pub fn lost_to_queue_error(&self, event: &Event, err: &QueueError) {
        self.count_queue_error(event, err);
    }

    /// A publish handed its event on, then the flush of what it wrote
    /// failed: accepted, but not durable until a later flush succeeds.
    pub fn flush_failed(&self, err: &QueueError) {
        PluginCounters::incr(&self.counters.flush_errors);
        self.drops.warn(
            &self.name,
            &format!("a queue flush failed: {err} (accepted events are not durable until a later flush succeeds)"),
        );
    }

    /// Takes back a write-ahead record of an event that was refused before
    /// any plugin saw it.
    pub fn forget_ahead(&self, seq: u64) {
        if let Err(err) = self.queues.write_ahead.remove(&[seq]) {
            tracing::warn!(
                plugin = &*self.name,
                "[{}] {err} (a refused event may be delivered after a restart)",
                self.name
            );
        }
    }

    fn count_queue_error(&self, event: &Event, err: &QueueError) {
        PluginCounters::incr(&self.counters.queue_errors);
        self.drops.warn(
            &self.name,
            &format!(
                "a {} event could not be written to its queue: {err}",
                event.kind()
            ),
        );
    }
}

/// Logs a warning at most once per interval, counting what it held back:
/// one line per burst, not one per event.
#[derive(Debug, Default)]
pub(crate) struct BurstLog {
    state: Mutex<BurstState>,
}

#[derive(Debug, Default)]
struct BurstState {
    last: Option<Instant>,
    suppressed: u64,
}

impl BurstLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    pub(crate) fn warn(&self, name: &str, message: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = state
            .last
            .is_none_or(|last| last.elapsed() >= Self::INTERVAL);
        if !due {
            state.suppressed += 1;
            return;
        }
        let held_back = std::mem::take(&mut state.suppressed);
        state.last = Some(Instant::now());
        drop(state);
        if held_back > 0 {
            tracing::warn!(
                plugin = name,
                "[{name}] {message} ({held_back} similar messages suppressed)"
            );
        } else {
            tracing::warn!(plugin = name, "[{name}] {message}");
        }
    }
}

/// Removes every record of `queue`, oldest first, in chunks; returns how
/// many were removed.
fn drain_queue(queue: &dyn crate::queue::RecordQueue) -> Result<u64, QueueError> {
    const CHUNK: usize = 4096;
    let mut removed = 0u64;
    loop {
        let peeked = queue.peek_from(0, CHUNK)?;
        if peeked.records.is_empty() {
            queue.sync()?;
            return Ok(removed);
        }
        let seqs: Vec<u64> = peeked.records.iter().map(|record| record.seq).collect();
        queue.remove(&seqs)?;
        removed += seqs.len() as u64;
    }
}
