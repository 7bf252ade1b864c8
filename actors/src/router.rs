//! The router: one actor that fans each event out to the notifier actors
//! whose filters match it.
//!
//! It never blocks on a plugin: a full mailbox sends the event to that
//! plugin's durable queue instead (counted as overflow), and the producer
//! waits only for the queue's group commit. With `write_ahead` durability the
//! event is appended to each target's write-ahead queue before it is handed
//! on, and the publish completes once those appends are durable. Filters are
//! replaced whole, between two events, so none is lost or routed twice.

use crate::counters::PluginCounters;
use crate::event::{self, Event, Origin};
use crate::filter::RoutingTable;
use crate::notifier::{Deliver, NotifierActor, PluginQueues};
use crate::policy::Durability;
use crate::queue::RecordQueue;
use actix::prelude::*;
use std::sync::Arc;

/// A notifier as the router knows it.
#[derive(Clone)]
pub struct Target {
    pub name: Arc<str>,
    pub addr: Addr<NotifierActor>,
    pub queues: PluginQueues,
    pub counters: Arc<PluginCounters>,
    pub durability: Durability,
}

/// Publish one event.
#[derive(Message)]
#[rtype(result = "Result<PublishReceipt, PublishError>")]
pub struct Publish(pub Event);

/// Publish several events with one durability wait: their queue appends
/// share one flush. Events are routed in order; the first one that cannot
/// be accepted stops the batch.
#[derive(Message)]
#[rtype(result = "Result<Vec<PublishReceipt>, PublishBatchError>")]
pub struct PublishBatch(pub Vec<Event>);

/// Some events of a batch were accepted; the one after them was not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{accepted} events accepted, then: {error}")]
pub struct PublishBatchError {
    pub accepted: usize,
    pub error: PublishError,
}

/// What happened to a published event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishReceipt {
    /// Targets whose filter matched.
    pub targets: usize,
    /// Of those, targets whose mailbox was full: the event is in their queue.
    pub overflowed: usize,
}

/// The event could not be accepted durably for some target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event not accepted: {0}")]
pub struct PublishError(pub String);

/// Replace the routing table (its indexes refer to the same targets).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplaceRoutes(pub RoutingTable);

pub struct Router {
    table: Arc<RoutingTable>,
    targets: Arc<[Target]>,
    mailbox_capacity: usize,
}

impl Router {
    pub fn new(table: RoutingTable, targets: Vec<Target>, mailbox_capacity: usize) -> Self {
        Router {
            table: Arc::new(table),
            targets: targets.into(),
            mailbox_capacity,
        }
    }

    /// Routes one event; returns the receipt and the queues to sync.
    fn route(
        &self,
        event: Event,
    ) -> Result<(PublishReceipt, Vec<Arc<dyn RecordQueue>>), PublishError> {
        let event = Arc::new(event);
        let targets = self.table.targets(&event);
        let mut receipt = PublishReceipt {
            targets: targets.len(),
            overflowed: 0,
        };
        let mut to_sync: Vec<Arc<dyn RecordQueue>> = Vec::new();
        let mut encoded: Option<Vec<u8>> = None;
        let timestamp = event.timestamp_ns();
        for &index in targets {
            let Some(target) = self.targets.get(index) else {
                continue;
            };
            let ahead_seq = if target.durability == Durability::WriteAhead {
                let bytes =
                    encoded.get_or_insert_with(|| event::encode(&event, Origin::WriteAhead));
                let seq = target
                    .queues
                    .write_ahead
                    .append(timestamp, bytes)
                    .map_err(|err| {
                        PublishError(format!("plugin {}: write-ahead append: {err}", target.name))
                    })?;
                push_unique(&mut to_sync, &target.queues.write_ahead);
                Some(seq)
            } else {
                None
            };
            let message = Deliver {
                event: event.clone(),
                ahead_seq,
            };
            if let Err(err) = target.addr.try_send(message) {
                let message = match err {
                    SendError::Full(message) | SendError::Closed(message) => message,
                };
                overflow(target, &message)?;
                push_unique(&mut to_sync, &target.queues.retry);
                receipt.overflowed += 1;
            }
        }
        Ok((receipt, to_sync))
    }
}

fn push_unique(list: &mut Vec<Arc<dyn RecordQueue>>, queue: &Arc<dyn RecordQueue>) {
    if !list.iter().any(|known| Arc::ptr_eq(known, queue)) {
        list.push(queue.clone());
    }
}

/// The target's mailbox is full (or its actor gone): the event waits in its
/// retry queue for the next re-drive instead.
fn overflow(target: &Target, message: &Deliver) -> Result<(), PublishError> {
    let payload = event::encode(&message.event, Origin::Overflow);
    let fail = |err: crate::queue::QueueError| {
        PublishError(format!("plugin {}: overflow to queue: {err}", target.name))
    };
    target
        .queues
        .retry
        .append(message.event.timestamp_ns(), &payload)
        .map_err(fail)?;
    if let Some(seq) = message.ahead_seq {
        target.queues.write_ahead.remove(&[seq]).map_err(fail)?;
    }
    PluginCounters::incr(&target.counters.queued);
    PluginCounters::incr(&target.counters.overflowed);
    Ok(())
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox_capacity.max(1));
    }
}

impl Handler<Publish> for Router {
    type Result = Response<Result<PublishReceipt, PublishError>>;

    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> Self::Result {
        match self.route(msg.0) {
            // Nothing was written to disk: answer at once.
            Ok((receipt, to_sync)) if to_sync.is_empty() => Response::reply(Ok(receipt)),
            Ok((receipt, to_sync)) => {
                let synced = sync_all(to_sync);
                Response::fut(async move {
                    synced.await?;
                    Ok(receipt)
                })
            }
            Err(err) => Response::reply(Err(err)),
        }
    }
}

impl Handler<PublishBatch> for Router {
    type Result = ResponseFuture<Result<Vec<PublishReceipt>, PublishBatchError>>;

    fn handle(&mut self, msg: PublishBatch, _: &mut Context<Self>) -> Self::Result {
        let mut receipts = Vec::with_capacity(msg.0.len());
        let mut to_sync: Vec<Arc<dyn RecordQueue>> = Vec::new();
        let mut failure = None;
        for event in msg.0 {
            match self.route(event) {
                Ok((receipt, queues)) => {
                    receipts.push(receipt);
                    for queue in &queues {
                        push_unique(&mut to_sync, queue);
                    }
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let synced = sync_all(to_sync);
        Box::pin(async move {
            let accepted = receipts.len();
            synced
                .await
                .map_err(|error| PublishBatchError { accepted: 0, error })?;
            match failure {
                Some(error) => Err(PublishBatchError { accepted, error }),
                None => Ok(receipts),
            }
        })
    }
}

/// Waits until every append to these queues is durable (one shared flush
/// each). The waits are taken now, in the handler, so they cover exactly
/// what this turn appended; awaiting them blocks no thread.
fn sync_all(
    queues: Vec<Arc<dyn RecordQueue>>,
) -> impl std::future::Future<Output = Result<(), PublishError>> {
    let waits: Vec<_> = queues.iter().map(|queue| queue.sync_async()).collect();
    async move {
        for wait in waits {
            wait.await
                .map_err(|err| PublishError(format!("queue sync: {err}")))?;
        }
        Ok(())
    }
}

impl Handler<ReplaceRoutes> for Router {
    type Result = ();

    fn handle(&mut self, msg: ReplaceRoutes, _: &mut Context<Self>) {
        self.table = Arc::new(msg.0);
    }
}
