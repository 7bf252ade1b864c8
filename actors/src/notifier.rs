//! One actor per notifier plugin: bounded mailbox, bounded RPCs in flight,
//! and the retry policy applied to every failure.
//!
//! A delivery takes a permit from the actor's in-flight semaphore. When none
//! is free the actor stops reading its mailbox until one is, so the mailbox
//! fills and the router spills further events to the durable queue instead
//! of blocking the producer. A failed delivery goes to the plugin's retry
//! queue if retries are on, the event is young enough and the queue has
//! room; otherwise it is dropped, counted and logged once per burst. Queue
//! work runs on blocking threads, never on the actor's arbiter.

use crate::counters::PluginCounters;
use crate::event::{self, Event, Origin};
use crate::policy::{now_ns, Durability, RetryPolicy};
use crate::queue::{QueueError, RecordQueue};
use crate::transport::{DeliveryError, NotifierTransport};
use actix::fut::wrap_future;
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A notifier actor's settings.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// The plugin's name in logs (its command path).
    pub name: String,
    /// Messages the mailbox holds before the router spills to the queue.
    pub mailbox_capacity: usize,
    /// RPCs in flight at most, fresh deliveries and re-drives together.
    pub max_in_flight: usize,
    /// Records a re-drive reads and sends at a time.
    pub redrive_batch: usize,
    pub policy: RetryPolicy,
    pub durability: Durability,
}

impl NotifierSettings {
    pub fn new(name: impl Into<String>, policy: RetryPolicy) -> Self {
        NotifierSettings {
            name: name.into(),
            mailbox_capacity: 1024,
            max_in_flight: 128,
            redrive_batch: 64,
            policy,
            durability: Durability::OnFailure,
        }
    }
}

/// A plugin's durable queues: failed or overflowing events wait in `retry`;
/// with `write_ahead` durability, events in flight are in `write_ahead`.
#[derive(Clone)]
pub struct PluginQueues {
    pub retry: Arc<dyn RecordQueue>,
    pub write_ahead: Arc<dyn RecordQueue>,
}

impl PluginQueues {
    /// Moves what a previous run left in the write-ahead queue (events it
    /// accepted but may not have delivered) to the retry queue, so the next
    /// re-drive delivers them. Call before the actor receives any event.
    /// Returns how many records moved.
    pub fn recover_write_ahead(&self) -> Result<u64, QueueError> {
        let mut moved = 0;
        loop {
            let peeked = self.write_ahead.peek_oldest(256)?;
            if peeked.records.is_empty() {
                break;
            }
            let mut seqs = Vec::with_capacity(peeked.records.len());
            for record in &peeked.records {
                self.retry.append(record.event_ts_ns, &record.payload)?;
                seqs.push(record.seq);
            }
            self.retry.sync()?;
            self.write_ahead.remove(&seqs)?;
            moved += seqs.len() as u64;
        }
        self.write_ahead.sync()?;
        Ok(moved)
    }
}

/// Deliver one event; `ahead_seq` is its record in the write-ahead queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub event: Arc<Event>,
    pub ahead_seq: Option<u64>,
}

/// Re-drive the retry queue now (from the retry driver).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Redrive;

/// The plugin's connection changed: a new process, or `None` while it is down.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect(pub Option<Arc<dyn NotifierTransport>>);

/// Resolves once every delivery accepted before it has finished (delivered,
/// queued or dropped), or `false` when `timeout` passed first.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Drain {
    pub timeout: Duration,
}

/// The notifier actor.
pub struct NotifierActor {
    name: Arc<str>,
    settings: NotifierSettings,
    transport: Option<Arc<dyn NotifierTransport>>,
    queues: PluginQueues,
    permits: Arc<Semaphore>,
    counters: Arc<PluginCounters>,
    failures: Arc<FailureHandler>,
    redriving: Arc<AtomicBool>,
    removals: mpsc::UnboundedSender<(u64, OwnedSemaphorePermit)>,
    removals_rx: Option<mpsc::UnboundedReceiver<(u64, OwnedSemaphorePermit)>>,
}

impl NotifierActor {
    pub fn new(
        settings: NotifierSettings,
        transport: Option<Arc<dyn NotifierTransport>>,
        queues: PluginQueues,
        counters: Arc<PluginCounters>,
    ) -> Self {
        let name: Arc<str> = Arc::from(settings.name.as_str());
        let max_in_flight = settings.max_in_flight.max(1);
        let (removals, removals_rx) = mpsc::unbounded_channel();
        let failures = Arc::new(FailureHandler {
            name: name.clone(),
            policy: settings.policy,
            queues: queues.clone(),
            counters: counters.clone(),
            admission: Mutex::new(()),
            drops: BurstLog::default(),
        });
        NotifierActor {
            name,
            transport,
            queues,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            counters,
            failures,
            redriving: Arc::new(AtomicBool::new(false)),
            removals,
            removals_rx: Some(removals_rx),
            settings: NotifierSettings {
                max_in_flight,
                ..settings
            },
        }
    }

    /// Starts one delivery as a task of its own: it must not depend on the
    /// actor being polled, because the actor pauses while it waits for a
    /// free permit, and a permit frees only when a delivery finishes.
    fn dispatch(&mut self, msg: Deliver, permit: OwnedSemaphorePermit) {
        let Some(transport) = self.transport.clone() else {
            let err = DeliveryError::Unavailable("the plugin process is not running".into());
            self.failures.clone().spawn(msg, err, permit);
            return;
        };
        let counters = self.counters.clone();
        let failures = self.failures.clone();
        let removals = self.removals.clone();
        actix::spawn(async move {
            match transport.deliver(msg.event.clone()).await {
                Ok(()) => {
                    PluginCounters::incr(&counters.delivered);
                    match msg.ahead_seq {
                        // The permit travels with the removal: see `remove_delivered`.
                        Some(seq) => {
                            let _ = removals.send((seq, permit));
                        }
                        None => drop(permit),
                    }
                }
                Err(err) => failures.spawn(msg, err, permit),
            }
        });
    }
}

/// Removes delivered write-ahead records in batches, off the arbiter. Each
/// delivery keeps its in-flight permit until its removal is durable, so a
/// host crash re-delivers at most `max_in_flight` events. (The channel is
/// unbounded in type only: every message holds a permit.)
async fn remove_delivered(
    name: Arc<str>,
    queue: Arc<dyn RecordQueue>,
    mut removals: mpsc::UnboundedReceiver<(u64, OwnedSemaphorePermit)>,
) {
    while let Some(first) = removals.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = removals.try_recv() {
            batch.push(next);
        }
        let queue = queue.clone();
        let name = name.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let (seqs, permits): (Vec<u64>, Vec<OwnedSemaphorePermit>) = batch.into_iter().unzip();
            if let Err(err) = queue.remove(&seqs).and_then(|()| queue.sync()) {
                tracing::warn!(plugin = &*name, "[{name}] removing delivered write-ahead records: {err} (they may be delivered again)");
            }
            drop(permits);
        })
        .await;
    }
}

impl Actor for NotifierActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.settings.mailbox_capacity.max(1));
        if let Some(removals) = self.removals_rx.take() {
            actix::spawn(remove_delivered(
                self.name.clone(),
                self.queues.write_ahead.clone(),
                removals,
            ));
        }
    }
}

impl Handler<Deliver> for NotifierActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => self.dispatch(msg, permit),
            Err(_) => {
                // Stop reading the mailbox until a delivery finishes.
                let permits = self.permits.clone();
                ctx.wait(wrap_future(permits.acquire_owned()).map(
                    move |permit, actor: &mut Self, _| {
                        if let Ok(permit) = permit {
                            actor.dispatch(msg, permit);
                        }
                    },
                ));
            }
        }
    }
}

impl Handler<Connect> for NotifierActor {
    type Result = ();

    fn handle(&mut self, msg: Connect, ctx: &mut Context<Self>) {
        let reconnected = msg.0.is_some();
        self.transport = msg.0;
        if reconnected {
            ctx.notify(Redrive);
        }
    }
}

impl Handler<Redrive> for NotifierActor {
    type Result = ();

    fn handle(&mut self, _: Redrive, _: &mut Context<Self>) {
        let Some(transport) = self.transport.clone() else {
            return;
        };
        if self.redriving.swap(true, Ordering::AcqRel) {
            return; // the previous pass is still running
        }
        let job = RedriveJob {
            name: self.name.clone(),
            queue: self.queues.retry.clone(),
            transport,
            policy: self.settings.policy,
            permits: self.permits.clone(),
            counters: self.counters.clone(),
            failures: self.failures.clone(),
            batch: self.settings.redrive_batch.max(1),
        };
        // A task of its own, like deliveries: it must progress while the
        // actor waits for a permit.
        let redriving = self.redriving.clone();
        actix::spawn(async move {
            job.run().await;
            redriving.store(false, Ordering::Release);
        });
    }
}

impl Handler<Drain> for NotifierActor {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, msg: Drain, _: &mut Context<Self>) -> Self::Result {
        let permits = self.permits.clone();
        let all = u32::try_from(self.settings.max_in_flight).unwrap_or(u32::MAX);
        Box::pin(async move {
            tokio::time::timeout(msg.timeout, permits.acquire_many_owned(all))
                .await
                .is_ok_and(|acquired| acquired.is_ok())
        })
    }
}

/// Applies the retry policy to failed deliveries, on blocking threads.
struct FailureHandler {
    name: Arc<str>,
    policy: RetryPolicy,
    queues: PluginQueues,
    counters: Arc<PluginCounters>,
    /// Makes "check the queue length, then append" one step, so the size
    /// bound is exact under concurrent failures.
    admission: Mutex<()>,
    drops: BurstLog,
}

/// What happens to one failed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Queue,
    DropNoRetry,
    DropTooOld,
    DropQueueFull,
}

impl FailureHandler {
    /// Handles a failure off the arbiter; the permit is held until the
    /// event is queued or dropped, so a drain waits for it.
    fn spawn(self: Arc<Self>, msg: Deliver, err: DeliveryError, permit: OwnedSemaphorePermit) {
        PluginCounters::incr(&self.counters.failed);
        tokio::task::spawn_blocking(move || {
            self.handle(&msg, &err);
            drop(permit);
        });
    }

    fn handle(&self, msg: &Deliver, err: &DeliveryError) {
        let result = self.admit(msg);
        let verdict = match result {
            Ok(verdict) => verdict,
            Err(queue_err) => {
                PluginCounters::incr(&self.counters.queue_errors);
                self.drops.warn(
                    &self.name,
                    &format!(
                        "delivery failed ({err}) and the event could not be queued: {queue_err}"
                    ),
                );
                return;
            }
        };
        let reason = match verdict {
            Verdict::Queue => return,
            Verdict::DropNoRetry => {
                PluginCounters::incr(&self.counters.dropped_no_retry);
                "retries are off (retry_max_time is 0)"
            }
            Verdict::DropTooOld => {
                PluginCounters::incr(&self.counters.dropped_too_old);
                "it is older than retry_max_time"
            }
            Verdict::DropQueueFull => {
                PluginCounters::incr(&self.counters.dropped_queue_full);
                "the retry queue is full (retry_queue_max_size)"
            }
        };
        self.drops.warn(
            &self.name,
            &format!(
                "dropping a {} event: delivery failed ({err}) and {reason}",
                msg.event.kind()
            ),
        );
    }

    fn admit(&self, msg: &Deliver) -> Result<Verdict, QueueError> {
        let verdict = self.verdict(&msg.event);
        if verdict == Verdict::Queue {
            let _guard = self.admission.lock().unwrap_or_else(|p| p.into_inner());
            if self
                .policy
                .max_queue
                .is_some_and(|max| self.queues.retry.len() >= max)
            {
                self.forget_ahead(msg)?;
                return Ok(Verdict::DropQueueFull);
            }
            let payload = event::encode(&msg.event, Origin::Failed);
            self.queues
                .retry
                .append(msg.event.timestamp_ns(), &payload)?;
            PluginCounters::incr(&self.counters.queued);
            drop(_guard);
            self.queues.retry.sync()?;
            self.forget_ahead(msg)?;
            return Ok(Verdict::Queue);
        }
        self.forget_ahead(msg)?;
        Ok(verdict)
    }

    fn verdict(&self, event: &Event) -> Verdict {
        match self.policy.cutoff_ns(now_ns()) {
            None => Verdict::DropNoRetry,
            Some(cutoff) if event.timestamp_ns() < cutoff => Verdict::DropTooOld,
            Some(_) => Verdict::Queue,
        }
    }

    /// The event's write-ahead record is settled elsewhere: remove it.
    fn forget_ahead(&self, msg: &Deliver) -> Result<(), QueueError> {
        match msg.ahead_seq {
            Some(seq) => self.queues.write_ahead.remove(&[seq]),
            None => Ok(()),
        }
    }
}

/// One pass over the retry queue: oldest first, stop at the first failure.
struct RedriveJob {
    name: Arc<str>,
    queue: Arc<dyn RecordQueue>,
    transport: Arc<dyn NotifierTransport>,
    policy: RetryPolicy,
    permits: Arc<Semaphore>,
    counters: Arc<PluginCounters>,
    failures: Arc<FailureHandler>,
    batch: usize,
}

impl RedriveJob {
    async fn run(self) {
        if let Err(err) = self.pass().await {
            tracing::warn!(
                plugin = &*self.name,
                "[{}] re-drive stopped: {err}",
                self.name
            );
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn RecordQueue) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let queue = self.queue.clone();
        tokio::task::spawn_blocking(move || work(&*queue))
            .await
            .map_err(|err| QueueError {
                queue: "retry".into(),
                message: format!("queue task failed: {err}"),
            })?
    }

    async fn pass(&self) -> Result<(), QueueError> {
        if let Some(cutoff) = self.policy.cutoff_ns(now_ns()) {
            let dropped = self.blocking(move |q| q.drop_older_than(cutoff)).await?;
            if dropped > 0 {
                PluginCounters::add(&self.counters.dropped_too_old, dropped);
                self.failures.drops.warn(
                    &self.name,
                    &format!("dropped {dropped} queued events older than retry_max_time"),
                );
            }
        }
        let batch = self.batch;
        loop {
            let peeked = self.blocking(move |q| q.peek_oldest(batch)).await?;
            PluginCounters::add(&self.counters.corrupt, peeked.corrupt_discarded);
            if peeked.records.is_empty() {
                return Ok(());
            }
            let mut settled = Vec::new();
            let mut deliveries = Vec::new();
            for record in peeked.records {
                match event::decode(&record.payload) {
                    Ok((event, origin)) => {
                        let permits = self.permits.clone();
                        let transport = self.transport.clone();
                        deliveries.push(async move {
                            // Shares the in-flight bound with fresh events (the
                            // semaphore is fair), so neither starves the other.
                            let permit = permits.acquire_owned().await;
                            let result = transport.deliver(Arc::new(event)).await;
                            drop(permit);
                            (record.seq, origin, result)
                        });
                    }
                    Err(err) => {
                        PluginCounters::incr(&self.counters.corrupt);
                        tracing::warn!(
                            plugin = &*self.name,
                            "[{}] discarding unreadable queue record {}: {err}",
                            self.name,
                            record.seq
                        );
                        settled.push(record.seq);
                    }
                }
            }
            let mut failed = 0u64;
            for (seq, origin, result) in futures::future::join_all(deliveries).await {
                match result {
                    Ok(()) => {
                        PluginCounters::incr(&self.counters.delivered);
                        PluginCounters::incr(&self.counters.redriven);
                        settled.push(seq);
                    }
                    Err(_) => {
                        failed += 1;
                        PluginCounters::incr(&self.counters.failed);
                        // An overflow record of a plugin without retries had
                        // its one delivery now: it goes, as a failed event would.
                        if origin == Origin::Overflow && self.policy.max_age.is_none() {
                            PluginCounters::incr(&self.counters.dropped_no_retry);
                            settled.push(seq);
                        }
                    }
                }
            }
            if !settled.is_empty() {
                self.blocking(move |q| q.remove(&settled)).await?;
            }
            if failed > 0 {
                tracing::debug!(
                    plugin = &*self.name,
                    "[{}] re-drive paused: {failed} deliveries failed",
                    self.name
                );
                return Ok(());
            }
        }
    }
}

/// Logs a warning at most once per interval, counting what it held back.
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
