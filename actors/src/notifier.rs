//! One actor per notifier plugin: bounded mailbox, bounded events in
//! flight, and the retry policy applied to every failure.
//!
//! A delivery takes a permit from the actor's in-flight semaphore and goes,
//! with it, to the actor's delivery lane ([`crate::lane`]), which starts the
//! plugin calls (a bounded number at once, in batches when the transport
//! batches). When no permit is free the actor stops reading its mailbox
//! until one is, so the mailbox fills and the router spills further events
//! to the durable queue instead of blocking the producer. A failed delivery
//! goes to the failure policy ([`crate::failure`]); queued events come back
//! through re-drives ([`crate::redrive`]). Queue work runs on blocking
//! threads, never on the actor's arbiter.

use crate::counters::PluginCounters;
use crate::event::Event;
use crate::failure::{BurstLog, FailureHandler};
use crate::lane::{Lane, LaneInput};
use crate::policy::{Durability, RetryPolicy};
use crate::queue::{QueueError, RecordQueue};
use crate::redrive::RedriveJob;
use crate::transport::{DeliveryError, NotifierTransport};
use actix::fut::wrap_future;
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A notifier actor's settings.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// The plugin's name in logs (its command path).
    pub name: String,
    /// Messages the mailbox holds before the router spills to the queue.
    pub mailbox_capacity: usize,
    /// Events handed to the plugin and not yet settled, at most: fresh
    /// deliveries and re-drives together. Also bounds what a host crash
    /// re-delivers with `write_ahead` durability.
    pub max_in_flight: usize,
    /// Calls in flight at most: one event each for SFTPGo's unary service;
    /// a batching transport keeps fewer, fuller calls (its own preference,
    /// capped by this).
    pub max_calls_in_flight: usize,
    /// Records a re-drive reads and sends at a time.
    pub redrive_batch: usize,
    pub policy: RetryPolicy,
    pub durability: Durability,
    /// Where the delivery lane runs: the runtime that drives the plugin's
    /// connection, so calls are polled where their I/O happens. `None`: on
    /// the actor's arbiter.
    pub lane_runtime: Option<tokio::runtime::Handle>,
}

impl NotifierSettings {
    pub fn new(name: impl Into<String>, policy: RetryPolicy) -> Self {
        NotifierSettings {
            name: name.into(),
            mailbox_capacity: 1024,
            max_in_flight: 1024,
            max_calls_in_flight: 128,
            redrive_batch: 64,
            policy,
            durability: Durability::OnFailure,
            lane_runtime: None,
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
    /// The current connection, for re-drives (the lane has its own copy).
    transport: Option<Arc<dyn NotifierTransport>>,
    queues: PluginQueues,
    permits: Arc<Semaphore>,
    counters: Arc<PluginCounters>,
    failures: Arc<FailureHandler>,
    redriving: Arc<AtomicBool>,
    lane: mpsc::UnboundedSender<LaneInput>,
    /// Taken when the actor starts, which starts the lane and the remover.
    parts: Option<StartParts>,
}

/// What `started` needs to start the actor's helper tasks.
struct StartParts {
    lane: Lane,
    lane_input: mpsc::UnboundedReceiver<LaneInput>,
    removals: mpsc::UnboundedReceiver<(u64, OwnedSemaphorePermit)>,
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
        // Unbounded in type only: every delivery in it holds a permit.
        let (lane, lane_input) = mpsc::unbounded_channel();
        let failures = Arc::new(FailureHandler {
            name: name.clone(),
            policy: settings.policy,
            queues: queues.clone(),
            counters: counters.clone(),
            admission: Mutex::new(()),
            drops: BurstLog::default(),
        });
        let parts = StartParts {
            lane: Lane {
                transport: transport.clone(),
                max_calls: settings.max_calls_in_flight.max(1),
                counters: counters.clone(),
                failures: failures.clone(),
                removals,
            },
            lane_input,
            removals: removals_rx,
        };
        NotifierActor {
            name,
            transport,
            queues,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            counters,
            failures,
            redriving: Arc::new(AtomicBool::new(false)),
            lane,
            parts: Some(parts),
            settings: NotifierSettings {
                max_in_flight,
                ..settings
            },
        }
    }

    /// Hands an admitted event to the lane. The lane is a task of its own:
    /// it must not depend on the actor being polled, because the actor
    /// pauses while it waits for a free permit, and a permit frees only when
    /// a delivery settles.
    fn dispatch(&mut self, msg: Deliver, permit: OwnedSemaphorePermit) {
        if let Err(mpsc::error::SendError(LaneInput::Deliver((msg, permit)))) =
            self.lane.send(LaneInput::Deliver((msg, permit)))
        {
            let err = DeliveryError::Unavailable("the delivery lane has stopped".into());
            self.failures.clone().spawn(msg, err, permit);
        }
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
        let (seqs, permits): (Vec<u64>, Vec<OwnedSemaphorePermit>) = batch.into_iter().unzip();
        let remover = queue.clone();
        let removed = tokio::task::spawn_blocking(move || remover.remove(&seqs))
            .await
            .unwrap_or_else(|err| {
                Err(QueueError {
                    queue: "write-ahead".into(),
                    message: format!("removal task failed: {err}"),
                })
            });
        // Waiting for the flush takes no thread: the flusher wakes this task.
        let synced = match removed {
            Ok(()) => queue.sync_async().await,
            Err(err) => Err(err),
        };
        if let Err(err) = synced {
            tracing::warn!(plugin = &*name, "[{name}] removing delivered write-ahead records: {err} (they may be delivered again)");
        }
        drop(permits);
    }
}

impl Actor for NotifierActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.settings.mailbox_capacity.max(1));
        if let Some(parts) = self.parts.take() {
            let lane = parts.lane.run(parts.lane_input);
            match &self.settings.lane_runtime {
                Some(runtime) => drop(runtime.spawn(lane)),
                None => drop(actix::spawn(lane)),
            }
            actix::spawn(remove_delivered(
                self.name.clone(),
                self.queues.write_ahead.clone(),
                parts.removals,
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
        self.transport = msg.0.clone();
        // Ordered with the deliveries already handed over.
        let _ = self.lane.send(LaneInput::Connect(msg.0));
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
        let batch = self
            .settings
            .redrive_batch
            .max(transport.max_batch())
            .max(1);
        let job = RedriveJob {
            name: self.name.clone(),
            queue: self.queues.retry.clone(),
            transport,
            policy: self.settings.policy,
            permits: self.permits.clone(),
            max_in_flight: self.settings.max_in_flight,
            counters: self.counters.clone(),
            failures: self.failures.clone(),
            batch,
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
