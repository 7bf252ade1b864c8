//! One actor per notifier plugin: its mailbox, its in-flight bound, and the
//! connection to its plugin.
//!
//! The actor admits an event by taking one of its in-flight permits and
//! hands it to the plugin's delivery lane; when no permit is free it stops
//! reading its mailbox until one is, so the mailbox fills and the router
//! waits (backpressure). Everything that happens to an event after that
//! belongs to the delivery core ([`crate::delivery`]); the actor starts its
//! tasks (the lane, the settler, the re-drive schedule, the spill drainer)
//! its [`NotifierHandle`] reaches them directly for connection changes,
//! re-drive requests, drains and the shutdown.

use crate::counters::PluginCounters;
use crate::delivery::feed::Feeder;
use crate::delivery::lane::{Lane, LaneInput};
use crate::delivery::policy::{system_clock, Clock};
use crate::delivery::redrive::{self, Schedule};
use crate::delivery::settle::Settler;
use crate::delivery::{spill, Deliver, Durability, Job, Ledger, PluginQueues, RetryPolicy, Source};
use crate::transport::{DeliveryError, NotifierTransport};
use actix::fut::wrap_future;
use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};

/// A notifier actor's settings.
#[derive(Clone)]
pub struct NotifierSettings {
    /// The plugin's name in logs (its command path).
    pub name: String,
    /// Events the mailbox holds before producers wait.
    pub mailbox_capacity: usize,
    /// Events handed to the plugin and not yet settled, at most: fresh,
    /// spilled and re-driven together. Also bounds what a host crash
    /// re-delivers with `write_ahead` durability.
    pub max_in_flight: usize,
    /// Calls in flight at most: one event each for SFTPGo's unary service;
    /// a batching transport keeps fewer, fuller calls (its own preference,
    /// capped by this).
    pub max_calls_in_flight: usize,
    /// Bytes one batch call carries at most; a larger event goes alone.
    pub max_batch_bytes: usize,
    /// How often the retry queue is re-driven.
    pub retry_interval: Duration,
    pub policy: RetryPolicy,
    pub durability: Durability,
    /// Where the delivery lane runs: the runtime that drives the plugin's
    /// connection, so calls are polled where their I/O happens. `None`: on
    /// the actor's arbiter.
    pub lane_runtime: Option<tokio::runtime::Handle>,
    /// "Now", for the retry rule's age check.
    pub clock: Clock,
}

impl std::fmt::Debug for NotifierSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierSettings")
            .field("name", &self.name)
            .field("mailbox_capacity", &self.mailbox_capacity)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_calls_in_flight", &self.max_calls_in_flight)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("retry_interval", &self.retry_interval)
            .field("policy", &self.policy)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl NotifierSettings {
    pub fn new(name: impl Into<String>, policy: RetryPolicy) -> Self {
        NotifierSettings {
            name: name.into(),
            mailbox_capacity: 1024,
            max_in_flight: 1024,
            max_calls_in_flight: 128,
            max_batch_bytes: crate::delivery::DEFAULT_MAX_BATCH_BYTES,
            retry_interval: crate::delivery::DEFAULT_RETRY_INTERVAL,
            policy,
            durability: Durability::OnFailure,
            lane_runtime: None,
            clock: system_clock(),
        }
    }
}

/// What the router and the engine hold of a notifier actor besides its
/// address: its ledger, its mailbox bound, and the controls that must work
/// even while the actor waits for a free permit (so they are not messages).
#[derive(Clone)]
pub struct NotifierHandle {
    pub ledger: Arc<Ledger>,
    /// One permit per event the mailbox may hold: the router takes one
    /// before it sends, and waits (bounded) when none is free.
    pub admission: Arc<Semaphore>,
    permits: Arc<Semaphore>,
    lane: mpsc::UnboundedSender<LaneInput>,
    redrive_now: Arc<Notify>,
    /// Becomes true when the lane task has ended.
    lane_finished: watch::Receiver<bool>,
    connected: Arc<watch::Sender<bool>>,
    mailbox_capacity: u32,
    max_in_flight: u32,
}

impl NotifierHandle {
    /// The plugin's connection changed: a new process, or `None` while it
    /// is down. Not a message: it must reach the lane even while the actor
    /// waits for a free permit (a stalled plugin holds them all).
    pub fn connect(&self, transport: Option<Arc<dyn NotifierTransport>>) {
        let connected = transport.is_some();
        // The lane first: a pass started by the change finds the transport.
        let _ = self.lane.send(LaneInput::Connect(transport));
        // The re-drive schedule runs a pass at once on a reconnect; the
        // spill drainer resumes.
        self.connected.send_replace(connected);
    }

    /// Events handed to the plugin and not answered yet.
    pub fn in_flight(&self) -> u64 {
        u64::from(self.max_in_flight).saturating_sub(self.permits.available_permits() as u64)
    }

    /// Re-drives the retry queue now (the schedule also does every retry
    /// interval and after a (re)start).
    pub fn redrive_now(&self) {
        self.redrive_now.notify_one();
    }

    /// Resolves `true` once every event accepted so far is settled
    /// (delivered, queued or dropped), or `false` when `timeout` passed
    /// first: nothing in the mailbox, nothing in flight.
    pub fn drain(&self, timeout: Duration) -> BoxFuture<'static, bool> {
        let admission = self.admission.clone();
        let permits = self.permits.clone();
        let (mailbox, in_flight) = (self.mailbox_capacity, self.max_in_flight);
        async move {
            let settled = async {
                let mailbox = admission.acquire_many_owned(mailbox).await;
                let in_flight = permits.acquire_many_owned(in_flight).await;
                mailbox.is_ok() && in_flight.is_ok()
            };
            tokio::time::timeout(timeout, settled)
                .await
                .unwrap_or(false)
        }
        .boxed()
    }

    /// The host is stopping: every event not delivered yet, in flight or
    /// still in the mailbox, is cut short and kept in the spill queue for
    /// the next start; the re-drive and the spill drainer stop. Resolves
    /// like [`NotifierHandle::drain`].
    pub fn close(&self, timeout: Duration) -> BoxFuture<'static, bool> {
        self.ledger.close();
        let _ = self.lane.send(LaneInput::Close);
        self.redrive_now.notify_one();
        let drained = self.drain(timeout);
        let mut lane_finished = self.lane_finished.clone();
        async move {
            let drained = drained.await;
            // The lane runs on the caller's runtime: once it has ended,
            // nothing there holds the queues any more.
            let ended = tokio::time::timeout(timeout, lane_finished.wait_for(|done| *done)).await;
            drained && matches!(ended, Ok(Ok(_)))
        }
        .boxed()
    }
}

/// The notifier actor.
pub struct NotifierActor {
    settings: NotifierSettings,
    ledger: Arc<Ledger>,
    permits: Arc<Semaphore>,
    admission: Arc<Semaphore>,
    lane: mpsc::UnboundedSender<LaneInput>,
    settler: Settler,
    connected: Arc<watch::Sender<bool>>,
    redrive_now: Arc<Notify>,
    lane_finished: watch::Receiver<bool>,
    /// Taken when the actor starts, which starts its tasks.
    tasks: Option<Tasks>,
}

/// The delivery core's tasks, started with the actor.
struct Tasks {
    lane: BoxFuture<'static, ()>,
    settler: BoxFuture<'static, ()>,
    redrive: BoxFuture<'static, ()>,
    spill: BoxFuture<'static, ()>,
}

impl NotifierActor {
    pub fn new(
        settings: NotifierSettings,
        transport: Option<Arc<dyn NotifierTransport>>,
        queues: PluginQueues,
        counters: Arc<PluginCounters>,
    ) -> Self {
        let max_in_flight = settings.max_in_flight.max(1);
        let mailbox_capacity = settings.mailbox_capacity.max(1);
        let ledger = Arc::new(Ledger::new(
            Arc::from(settings.name.as_str()),
            settings.policy,
            settings.durability,
            queues,
            counters,
            settings.clock.clone(),
        ));
        let permits = Arc::new(Semaphore::new(max_in_flight));
        let (settler, settler_task) = Settler::new(ledger.clone());
        // Unbounded in type only: every event in it holds a permit.
        let (lane, lane_input) = mpsc::unbounded_channel();
        let (connected, connected_rx) = watch::channel(transport.is_some());
        let redrive_now = Arc::new(Notify::new());
        let admission = Arc::new(Semaphore::new(mailbox_capacity));
        let feeder = Feeder {
            ledger: ledger.clone(),
            permits: permits.clone(),
            lane: lane.clone(),
            connected: connected_rx,
            admission: admission.clone(),
            mailbox_capacity: u32::try_from(mailbox_capacity).unwrap_or(u32::MAX),
        };
        let lane_task = Lane {
            transport,
            max_calls: settings.max_calls_in_flight.max(1),
            max_batch_bytes: settings.max_batch_bytes.max(1),
            settler: settler.clone(),
        }
        .run(lane_input);
        let (finished, lane_finished) = watch::channel(false);
        let tasks = Tasks {
            lane: async move {
                lane_task.await;
                finished.send_replace(true);
            }
            .boxed(),
            settler: settler_task.boxed(),
            redrive: redrive::run(
                feeder.clone(),
                Schedule {
                    interval: settings.retry_interval.max(Duration::from_millis(1)),
                    at_start: ledger.retry_len() > 0,
                    now: redrive_now.clone(),
                },
            )
            .boxed(),
            spill: spill::run(feeder).boxed(),
        };
        NotifierActor {
            ledger,
            permits,
            admission,
            lane,
            settler,
            redrive_now,
            lane_finished,
            connected: Arc::new(connected),
            tasks: Some(tasks),
            settings: NotifierSettings {
                max_in_flight,
                mailbox_capacity,
                ..settings
            },
        }
    }

    /// The handle the router and the engine keep (take it before `start`).
    pub fn handle(&self) -> NotifierHandle {
        NotifierHandle {
            ledger: self.ledger.clone(),
            admission: self.admission.clone(),
            permits: self.permits.clone(),
            lane: self.lane.clone(),
            redrive_now: self.redrive_now.clone(),
            lane_finished: self.lane_finished.clone(),
            connected: self.connected.clone(),
            mailbox_capacity: u32::try_from(self.settings.mailbox_capacity).unwrap_or(u32::MAX),
            max_in_flight: u32::try_from(self.settings.max_in_flight).unwrap_or(u32::MAX),
        }
    }

    /// Hands an admitted event to the lane. The lane is a task of its own:
    /// it must not depend on the actor being polled, because the actor
    /// pauses while it waits for a free permit, and a permit frees only when
    /// a delivery settles.
    fn dispatch(&mut self, msg: Deliver, permit: OwnedSemaphorePermit) {
        let Deliver {
            event,
            ahead,
            admission,
        } = msg;
        let job = Job::new(event, Source::Fresh { ahead }, permit);
        if let Err(mpsc::error::SendError(LaneInput::Deliver(job))) =
            self.lane.send(LaneInput::Deliver(job))
        {
            // The host closed the lane: the event is kept for the next start.
            self.settler.settle(job, Err(DeliveryError::Cancelled));
        }
        drop(admission);
    }
}

/// Room in the actix mailbox for control messages beside the events the
/// admission permits allow.
const CONTROL_HEADROOM: usize = 64;

impl Actor for NotifierActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.settings.mailbox_capacity + CONTROL_HEADROOM);
        if let Some(tasks) = self.tasks.take() {
            match &self.settings.lane_runtime {
                Some(runtime) => drop(runtime.spawn(tasks.lane)),
                None => drop(actix::spawn(tasks.lane)),
            }
            actix::spawn(tasks.settler);
            actix::spawn(tasks.redrive);
            actix::spawn(tasks.spill);
        }
    }
}

impl Handler<Deliver> for NotifierActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => self.dispatch(msg, permit),
            Err(_) => {
                // Stop reading the mailbox until a delivery settles.
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
