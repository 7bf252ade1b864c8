//! A plugin's delivery lane: one long-lived task that starts the plugin's
//! calls and hands their outcomes to the settler.
//!
//! Fresh, spilled and re-driven events all come here, each holding one of
//! the actor's in-flight permits. The lane keeps at most `call_limit` calls
//! in flight; events that arrive while all are busy wait in its queue
//! (bounded by the permits) and, when the transport batches, travel
//! together in the next call, bounded by count and by bytes: a batch never
//! exceeds the receive limit every plugin accepts, and an event larger than
//! that goes alone, on SFTPGo's unary service. So under load many events
//! share one round trip, and a lone event still goes out at once. One task
//! polls every call: no task is spawned per event.

use super::settle::Settler;
use super::Job;
use crate::transport::{DeliveryError, NotifierTransport};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::mpsc;

/// What the lane is sent, in order.
pub(crate) enum LaneInput {
    Deliver(Job),
    /// The plugin's connection changed (`None`: it is down).
    Connect(Option<Arc<dyn NotifierTransport>>),
    /// The host is stopping: every event still here is cut short
    /// ([`DeliveryError::Cancelled`]) and kept for the next start.
    Close,
}

pub(crate) struct Lane {
    pub(crate) transport: Option<Arc<dyn NotifierTransport>>,
    /// Calls in flight at most, before the transport's own preference.
    pub(crate) max_calls: usize,
    /// Bytes one batch call carries at most.
    pub(crate) max_batch_bytes: usize,
    pub(crate) settler: Settler,
}

impl Lane {
    /// Runs until every sender is gone (or the host closed the lane) and
    /// every event handed over is settled.
    pub(crate) async fn run(self, input: mpsc::UnboundedReceiver<LaneInput>) {
        let mut state = LaneState {
            call_limit: self.call_limit(),
            max_batch: self.max_batch(),
            lane: self,
            input,
            input_closed: false,
            closed: false,
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
    /// The host is stopping: nothing more is sent.
    closed: bool,
    waiting: VecDeque<Job>,
    in_flight: FuturesUnordered<Call>,
}

impl LaneState {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            while !self.input_closed {
                match self.input.poll_recv(cx) {
                    Poll::Ready(Some(LaneInput::Deliver(job))) if self.closed => {
                        self.lane.settler.settle(job, Err(DeliveryError::Cancelled))
                    }
                    Poll::Ready(Some(LaneInput::Deliver(job))) => self.waiting.push_back(job),
                    Poll::Ready(Some(LaneInput::Connect(_))) if self.closed => {}
                    Poll::Ready(Some(LaneInput::Connect(transport))) => {
                        if transport.is_none() {
                            // The process is gone: its calls will not be
                            // answered (a hung one would hold its events
                            // until the deadline).
                            self.abandon_in_flight(DeliveryError::Unavailable(
                                "the plugin process exited during the call".into(),
                            ));
                        }
                        self.lane.transport = transport;
                        self.call_limit = self.lane.call_limit();
                        self.max_batch = self.lane.max_batch();
                    }
                    Poll::Ready(Some(LaneInput::Close)) => self.cancel_all(),
                    Poll::Ready(None) => self.input_closed = true,
                    Poll::Pending => break,
                }
            }
            self.start_calls();
            match self.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some(settled)) => self.settle(settled),
                Poll::Ready(None) | Poll::Pending => {
                    let idle = self.in_flight.is_empty() && self.waiting.is_empty();
                    // Closed: everything was cut short and settled; later
                    // sends find the lane gone and settle where they are.
                    return if (self.input_closed || self.closed) && idle {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    };
                }
            }
        }
    }

    /// Drops every call in flight and every waiting event as cut short,
    /// and every event sent from now on.
    fn cancel_all(&mut self) {
        self.closed = true;
        self.abandon_in_flight(DeliveryError::Cancelled);
        let settler = &self.lane.settler;
        settler.settle_all(
            self.waiting
                .drain(..)
                .map(|job| (job, Err(DeliveryError::Cancelled))),
        );
        self.lane.transport = None;
    }

    /// Drops every call in flight; its events settle with `error`.
    fn abandon_in_flight(&mut self, error: DeliveryError) {
        for call in std::mem::take(&mut self.in_flight) {
            self.lane.settler.settle_all(
                call.into_jobs()
                    .into_iter()
                    .map(|job| (job, Err(error.clone()))),
            );
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
            let failed: Vec<_> = self
                .waiting
                .drain(..)
                .map(|job| (job, Err(unavailable.clone())))
                .collect();
            self.lane.settler.settle_all(failed);
            return;
        };
        while self.in_flight.len() < self.call_limit {
            let Some(first) = self.waiting.pop_front() else {
                break;
            };
            let alone = self.max_batch == 1 || first.wire_len > self.lane.max_batch_bytes;
            let call = if alone {
                let outcome = transport.deliver(first.event.clone());
                Call::one(first, outcome, transport.clone())
            } else {
                let jobs = self.take_batch(first);
                let events = jobs.iter().map(|job| job.event.clone()).collect();
                let outcomes = transport.deliver_batch(events);
                Call::many(jobs, outcomes, transport.clone())
            };
            self.in_flight.push(call);
        }
    }

    /// `first` and the waiting events after it that fit one batch, in order.
    fn take_batch(&mut self, first: Job) -> Vec<Job> {
        let mut bytes = first.wire_len;
        let mut jobs = vec![first];
        while jobs.len() < self.max_batch {
            match self.waiting.front() {
                Some(next) if bytes + next.wire_len <= self.lane.max_batch_bytes => {
                    bytes += next.wire_len;
                    if let Some(next) = self.waiting.pop_front() {
                        jobs.push(next);
                    }
                }
                _ => break,
            }
        }
        jobs
    }

    fn settle(&mut self, settled: Settled) {
        let counters = self.lane.settler.counters();
        match settled {
            Settled::One(job, result, started) => {
                counters
                    .call_latency
                    .0
                    .observe(started.elapsed().as_secs_f64());
                counters.batch_size.0.observe(1.0);
                self.lane.settler.settle(job, result)
            }
            Settled::Many(jobs, results, started) => {
                counters
                    .call_latency
                    .0
                    .observe(started.elapsed().as_secs_f64());
                counters.batch_size.0.observe(jobs.len() as f64);
                let mut results = results.into_iter();
                for job in jobs {
                    let result = results
                        .next()
                        .unwrap_or_else(|| Err(DeliveryError::missing_outcome()));
                    self.lane.settler.settle(job, result);
                }
            }
        }
    }
}

/// A finished call: its events and their outcomes.
enum Settled {
    One(Job, Result<(), DeliveryError>, Instant),
    Many(Vec<Job>, Vec<Result<(), DeliveryError>>, Instant),
}

/// One call in flight and the events it carries, sent at `started`. The
/// transport it went through is held until it ends, so whoever replaces a
/// plugin's process can tell when nothing uses the old connection any
/// more (its last reference drops).
struct Call {
    carried: Carried,
    started: Instant,
    _transport: Arc<dyn NotifierTransport>,
}

/// The events of a call and the outcome(s) to come.
enum Carried {
    One(Option<Job>, BoxFuture<'static, Result<(), DeliveryError>>),
    Many(
        Option<Vec<Job>>,
        BoxFuture<'static, Vec<Result<(), DeliveryError>>>,
    ),
}

impl Call {
    fn one(
        job: Job,
        outcome: BoxFuture<'static, Result<(), DeliveryError>>,
        transport: Arc<dyn NotifierTransport>,
    ) -> Call {
        Call {
            carried: Carried::One(Some(job), outcome),
            started: Instant::now(),
            _transport: transport,
        }
    }

    fn many(
        jobs: Vec<Job>,
        outcomes: BoxFuture<'static, Vec<Result<(), DeliveryError>>>,
        transport: Arc<dyn NotifierTransport>,
    ) -> Call {
        Call {
            carried: Carried::Many(Some(jobs), outcomes),
            started: Instant::now(),
            _transport: transport,
        }
    }

    /// The events of a call abandoned before it finished.
    fn into_jobs(self) -> Vec<Job> {
        match self.carried {
            Carried::One(job, _) => job.into_iter().collect(),
            Carried::Many(jobs, _) => jobs.unwrap_or_default(),
        }
    }
}

impl Future for Call {
    type Output = Settled;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Settled> {
        // Every field is Unpin (boxed futures, owned values).
        let call = self.get_mut();
        let started = call.started;
        match &mut call.carried {
            Carried::One(job, future) => {
                let result = futures::ready!(future.as_mut().poll(cx));
                match job.take() {
                    Some(job) => Poll::Ready(Settled::One(job, result, started)),
                    // Polled again after completion: FuturesUnordered never does.
                    None => Poll::Pending,
                }
            }
            Carried::Many(jobs, future) => {
                let results = futures::ready!(future.as_mut().poll(cx));
                match jobs.take() {
                    Some(jobs) => Poll::Ready(Settled::Many(jobs, results, started)),
                    None => Poll::Pending,
                }
            }
        }
    }
}
