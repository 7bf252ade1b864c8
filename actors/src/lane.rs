//! A notifier actor's delivery lane: one long-lived task that starts the
//! plugin's calls and settles their outcomes.
//!
//! The actor admits an event by taking one of its in-flight permits and
//! hands it, with the permit, to the lane. The lane keeps at most
//! `max_calls` calls in flight; events that arrive while all are busy wait
//! in its queue (bounded by the permits) and, when the transport batches,
//! travel together in the next call. So under load many events share one
//! round trip, and a lone event still goes out at once. One task polls
//! every call: no task is spawned per event.
//!
//! An outcome settles its event: delivered (with `write_ahead`, its record
//! is removed, see [`crate::notifier`]) or handed to the failure policy.
//! The permit goes with the event until it is settled, so the actor's
//! drain and its mailbox back-pressure see every event the lane holds.

use crate::counters::PluginCounters;
use crate::failure::FailureHandler;
use crate::notifier::Deliver;
use crate::transport::{DeliveryError, NotifierTransport};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// An admitted event and the permit it holds.
pub(crate) type Job = (Deliver, OwnedSemaphorePermit);

/// What the actor sends its lane, in order.
pub(crate) enum LaneInput {
    Deliver(Job),
    /// The plugin's connection changed (`None`: it is down).
    Connect(Option<Arc<dyn NotifierTransport>>),
}

/// Where a delivered `write_ahead` event's record goes to be removed.
pub(crate) type Removals = mpsc::UnboundedSender<(u64, OwnedSemaphorePermit)>;

pub(crate) struct Lane {
    pub(crate) transport: Option<Arc<dyn NotifierTransport>>,
    /// Calls in flight at most, before the transport's own preference.
    pub(crate) max_calls: usize,
    pub(crate) counters: Arc<PluginCounters>,
    pub(crate) failures: Arc<FailureHandler>,
    pub(crate) removals: Removals,
}

impl Lane {
    /// Runs until the actor is gone and every event it handed over is settled.
    pub(crate) async fn run(self, input: mpsc::UnboundedReceiver<LaneInput>) {
        let mut state = LaneState {
            call_limit: self.call_limit(),
            max_batch: self.max_batch(),
            lane: self,
            input,
            input_closed: false,
            waiting: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
        };
        std::future::poll_fn(|cx| state.poll(cx)).await;
    }

    fn call_limit(&self) -> usize {
        let preferred = self
            .transport
            .as_ref()
            .and_then(|transport| transport.calls_in_flight())
            .unwrap_or(self.max_calls);
        preferred.min(self.max_calls).max(1)
    }

    fn max_batch(&self) -> usize {
        self.transport
            .as_ref()
            .map_or(1, |transport| transport.max_batch().max(1))
    }
}

struct LaneState {
    lane: Lane,
    /// The current transport's limits (see [`Lane::call_limit`]).
    call_limit: usize,
    max_batch: usize,
    input: mpsc::UnboundedReceiver<LaneInput>,
    input_closed: bool,
    waiting: VecDeque<Job>,
    in_flight: FuturesUnordered<Call>,
}

impl LaneState {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            while !self.input_closed {
                match self.input.poll_recv(cx) {
                    Poll::Ready(Some(LaneInput::Deliver(job))) => self.waiting.push_back(job),
                    Poll::Ready(Some(LaneInput::Connect(transport))) => {
                        self.lane.transport = transport;
                        self.call_limit = self.lane.call_limit();
                        self.max_batch = self.lane.max_batch();
                    }
                    Poll::Ready(None) => self.input_closed = true,
                    Poll::Pending => break,
                }
            }
            self.start_calls();
            match self.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some(settled)) => self.settle(settled),
                Poll::Ready(None) | Poll::Pending => {
                    let idle = self.in_flight.is_empty() && self.waiting.is_empty();
                    return if self.input_closed && idle {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }

    /// Starts calls for waiting events while there is room.
    fn start_calls(&mut self) {
        if self.waiting.is_empty() || self.in_flight.len() >= self.call_limit {
            return;
        }
        let Some(transport) = self.lane.transport.clone() else {
            let unavailable =
                DeliveryError::Unavailable("the plugin process is not running".into());
            let failed = self
                .waiting
                .drain(..)
                .map(|(msg, permit)| (msg, unavailable.clone(), permit))
                .collect();
            self.lane.failures.clone().spawn_many(failed);
            return;
        };
        let max_batch = self.max_batch;
        while self.in_flight.len() < self.call_limit && !self.waiting.is_empty() {
            let call = if max_batch == 1 {
                let Some(job) = self.waiting.pop_front() else {
                    break;
                };
                let outcome = transport.deliver(job.0.event.clone());
                Call::one(job, outcome)
            } else {
                let take = max_batch.min(self.waiting.len());
                let jobs: Vec<Job> = self.waiting.drain(..take).collect();
                let events = jobs.iter().map(|(msg, _)| msg.event.clone()).collect();
                let outcomes = transport.deliver_batch(events);
                Call::many(jobs, outcomes)
            };
            self.in_flight.push(call);
        }
    }

    fn settle(&mut self, settled: Settled) {
        match settled {
            Settled::One(job, result) => {
                if let Some((msg, err, permit)) = self.settle_one(job, result) {
                    self.lane.failures.clone().spawn(msg, err, permit);
                }
            }
            Settled::Many(jobs, results) => {
                let mut results = results.into_iter();
                let failed: Vec<_> = jobs
                    .into_iter()
                    .filter_map(|job| {
                        let result = results
                            .next()
                            .unwrap_or_else(|| Err(DeliveryError::missing_outcome()));
                        self.settle_one(job, result)
                    })
                    .collect();
                self.lane.failures.clone().spawn_many(failed);
            }
        }
    }

    /// Counts a delivery or returns the failure to hand to the policy.
    fn settle_one(
        &self,
        (msg, permit): Job,
        result: Result<(), DeliveryError>,
    ) -> Option<(Deliver, DeliveryError, OwnedSemaphorePermit)> {
        match result {
            Ok(()) => {
                PluginCounters::incr(&self.lane.counters.delivered);
                if let Some(seq) = msg.ahead_seq {
                    // The permit travels with the removal: see `notifier`.
                    let _ = self.lane.removals.send((seq, permit));
                }
                None
            }
            Err(err) => Some((msg, err, permit)),
        }
    }
}

/// A finished call: its events and their outcomes.
enum Settled {
    One(Job, Result<(), DeliveryError>),
    Many(Vec<Job>, Vec<Result<(), DeliveryError>>),
}

/// One call in flight and the events it carries.
enum Call {
    One(Option<Job>, BoxFuture<'static, Result<(), DeliveryError>>),
    Many(
        Option<Vec<Job>>,
        BoxFuture<'static, Vec<Result<(), DeliveryError>>>,
    ),
}

impl Call {
    fn one(job: Job, outcome: BoxFuture<'static, Result<(), DeliveryError>>) -> Call {
        Call::One(Some(job), outcome)
    }

    fn many(jobs: Vec<Job>, outcomes: BoxFuture<'static, Vec<Result<(), DeliveryError>>>) -> Call {
        Call::Many(Some(jobs), outcomes)
    }
}

impl Future for Call {
    type Output = Settled;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Settled> {
        // Every field is Unpin (boxed futures, owned values).
        match self.get_mut() {
            Call::One(job, future) => {
                let result = futures::ready!(future.as_mut().poll(cx));
                match job.take() {
                    Some(job) => Poll::Ready(Settled::One(job, result)),
                    // Polled again after completion: FuturesUnordered never does.
                    None => Poll::Pending,
                }
            }
            Call::Many(jobs, future) => {
                let results = futures::ready!(future.as_mut().poll(cx));
                match jobs.take() {
                    Some(jobs) => Poll::Ready(Settled::Many(jobs, results)),
                    None => Poll::Pending,
                }
            }
        }
    }
}
