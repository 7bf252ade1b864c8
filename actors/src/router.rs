//! The router: one actor that fans each event out to the notifier actors
//! whose filters match it.
//!
//! A full mailbox is backpressure, not failure. Each target's mailbox is
//! bounded by admission permits; when a target has none free, the router
//! stops reading its own mailbox and waits for one, so producers wait too
//! and every plugin still gets its events in order. The wait is bounded
//! (`overflow_wait`): a plugin that stays stalled longer gets the event in
//! its spill queue on disk instead, and so do the events after it until
//! the spill has drained (the spill drainer sends them as soon as the
//! plugin has room), so one stalled plugin does not hold up the others.
//! [`TryPublish`] never waits: a full plugin gets the event through its
//! spill queue at once, and the receipt names it.
//!
//! With `write_ahead` durability the event is written ahead for each
//! target before it is handed on. A publish completes once whatever it
//! wrote is durable.

use crate::delivery::ledger::{Overflowed, Touched};
use crate::delivery::{Deliver, Durability};
use crate::event::{self, Event, Origin};
use crate::filter::RoutingTable;
use crate::notifier::{NotifierActor, NotifierHandle};
use crate::queue::QueueError;
use actix::fut::wrap_future;
use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a producer waits for room in a plugin's mailbox, by default,
/// before the event goes to that plugin's spill queue.
pub const DEFAULT_OVERFLOW_WAIT: Duration = Duration::from_secs(2);

/// A notifier as the router knows it.
#[derive(Clone)]
pub struct Target {
    pub addr: Addr<NotifierActor>,
    pub handle: NotifierHandle,
}

/// Publish one event; waits (bounded) while a target's mailbox is full.
#[derive(Message)]
#[rtype(result = "Result<PublishReceipt, PublishError>")]
pub struct Publish(pub Event);

/// Publish one event without waiting: a target whose mailbox is full gets
/// it through its spill queue, and the receipt names that target. Send it
/// with `try_send` (which never waits for the router's mailbox either); the
/// answer comes through `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TryPublish {
    pub event: Event,
    pub reply: oneshot::Sender<Result<PublishReceipt, PublishError>>,
}

/// Publish several events with one durability wait: their queue writes
/// share one flush. Events are routed in order; the first one that cannot
/// be accepted stops the batch.
#[derive(Message)]
#[rtype(result = "Result<Vec<PublishReceipt>, PublishBatchError>")]
pub struct PublishBatch(pub Vec<Event>);

/// Some events of a batch were accepted; the one after them was not.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{accepted} events accepted, then: {error}")]
pub struct PublishBatchError {
    pub accepted: usize,
    pub error: PublishError,
}

/// What happened to a published event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReceipt {
    /// Targets whose filter matched.
    pub targets: usize,
    /// Of those, the plugins whose mailbox was full: the event waits in
    /// their spill queue (or, with their queue full too, was dropped and
    /// counted).
    pub overflowed: Vec<Arc<str>>,
}

/// Why an event could not be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("plugin {plugin}: writing the event ahead: {source}")]
    WriteAhead {
        plugin: Arc<str>,
        source: QueueError,
    },
    #[error("plugin {plugin}: spilling the event to disk: {source}")]
    Spill {
        plugin: Arc<str>,
        source: QueueError,
    },
    #[error("waiting for the queue flush: {0}")]
    Sync(QueueError),
    #[error("the router has stopped")]
    Stopped,
}

/// The routing table and the targets, shared with the futures that wait
/// for room while the router is paused.
struct Routes {
    table: RoutingTable,
    targets: Vec<Target>,
    overflow_wait: Duration,
}

/// One event routed as far as it could go without waiting.
struct Routed {
    receipt: PublishReceipt,
    /// Targets still to be handed the event, once they have room.
    blocked: Vec<(usize, Deliver)>,
}

/// What a publish wrote, per target, to wait for before answering, and
/// whether it has handed an event to a plugin yet: from then on the publish
/// is accepted, and a later queue error is counted and logged for the plugin
/// it concerns instead of failing the publish.
#[derive(Default)]
struct Writes(Vec<(usize, Touched)>, bool);

impl Writes {
    fn add(&mut self, target: usize, touched: Touched) {
        if !touched.any() {
            return;
        }
        match self.0.iter_mut().find(|(known, _)| *known == target) {
            Some((_, known)) => known.merge(touched),
            None => self.0.push((target, touched)),
        }
    }

    /// Waits for the writes made so far; the waits are taken now, so they
    /// cover exactly those writes, and awaiting them blocks no thread.
    fn sync(self, routes: &Routes) -> Option<BoxFuture<'static, Result<(), PublishError>>> {
        if self.0.is_empty() {
            return None;
        }
        let handed = self.1;
        let waits: Vec<_> = self
            .0
            .into_iter()
            .filter_map(|(index, touched)| {
                let ledger = routes.targets.get(index)?.handle.ledger.clone();
                let wait = ledger.sync(touched);
                Some((ledger, wait))
            })
            .collect();
        Some(
            async move {
                for (ledger, wait) in waits {
                    match wait.await {
                        Ok(()) => {}
                        // Handed on already: accepted, but not durable.
                        Err(err) if handed => ledger.flush_failed(&err),
                        Err(err) => return Err(PublishError::Sync(err)),
                    }
                }
                Ok(())
            }
            .boxed(),
        )
    }
}

impl Routes {
    /// Hands the event to every matching target that has room, writes it
    /// ahead and spills it where needed, and returns the targets to wait
    /// for (none when `may_wait` is false).
    fn route(
        &self,
        event: Event,
        may_wait: bool,
        writes: &mut Writes,
    ) -> Result<Routed, PublishError> {
        let event = Arc::new(event);
        let indexes = self.table.targets(&event);
        let mut routed = Routed {
            receipt: PublishReceipt {
                targets: indexes.len(),
                overflowed: Vec::new(),
            },
            blocked: Vec::new(),
        };
        // Written ahead for every target before it is handed to any, so a
        // failed append refuses an event no plugin has seen.
        let mut aheads: Vec<Option<u64>> = Vec::with_capacity(indexes.len());
        let mut encoded: Option<Vec<u8>> = None;
        for &index in indexes {
            let ahead = match self.targets.get(index) {
                Some(target) if target.handle.ledger.durability() == Durability::WriteAhead => {
                    let ledger = &target.handle.ledger;
                    let bytes =
                        encoded.get_or_insert_with(|| event::encode(&event, Origin::WriteAhead));
                    match ledger.accepted(&event, bytes) {
                        Ok(ahead) => ahead,
                        Err(source) => {
                            self.forget_ahead(indexes, &aheads);
                            return Err(PublishError::WriteAhead {
                                plugin: ledger.name().clone(),
                                source,
                            });
                        }
                    }
                }
                _ => None,
            };
            aheads.push(ahead);
        }
        for (&index, ahead) in indexes.iter().zip(aheads) {
            let Some(target) = self.targets.get(index) else {
                continue;
            };
            let ledger = &target.handle.ledger;
            if ahead.is_some() {
                writes.add(
                    index,
                    Touched {
                        write_ahead: true,
                        ..Touched::default()
                    },
                );
            }
            let message = Deliver {
                event: event.clone(),
                ahead,
                admission: None,
            };
            // Behind a spill, in order: the spill drainer sends it.
            if ledger.spilling() {
                self.spill(index, message, &mut routed.receipt, writes)?;
                continue;
            }
            match target.handle.admission.clone().try_acquire_owned() {
                Ok(permit) => self.send(index, message, permit, &mut routed.receipt, writes)?,
                Err(_) if may_wait => routed.blocked.push((index, message)),
                Err(_) => self.spill(index, message, &mut routed.receipt, writes)?,
            }
        }
        Ok(routed)
    }

    /// Takes back the write-ahead records of a refused event.
    fn forget_ahead(&self, indexes: &[usize], aheads: &[Option<u64>]) {
        for (&index, ahead) in indexes.iter().zip(aheads) {
            if let (Some(target), Some(seq)) = (self.targets.get(index), ahead) {
                target.handle.ledger.forget_ahead(*seq);
            }
        }
    }

    /// Sends with an admission permit; the mailbox has room for it.
    fn send(
        &self,
        index: usize,
        mut message: Deliver,
        permit: tokio::sync::OwnedSemaphorePermit,
        receipt: &mut PublishReceipt,
        writes: &mut Writes,
    ) -> Result<(), PublishError> {
        let Some(target) = self.targets.get(index) else {
            return Ok(());
        };
        message.admission = Some(permit);
        match target.addr.try_send(message) {
            Ok(()) => {
                writes.1 = true;
                Ok(())
            }
            // The actor is gone (or its control headroom is used up): the
            // event waits on disk rather than being lost.
            Err(SendError::Full(mut message) | SendError::Closed(mut message)) => {
                message.admission = None;
                self.spill(index, message, receipt, writes)
            }
        }
    }

    fn spill(
        &self,
        index: usize,
        message: Deliver,
        receipt: &mut PublishReceipt,
        writes: &mut Writes,
    ) -> Result<(), PublishError> {
        let Some(target) = self.targets.get(index) else {
            return Ok(());
        };
        let ledger = &target.handle.ledger;
        let (outcome, touched) = match ledger.overflowed(&message.event, message.ahead) {
            Ok(done) => done,
            // Another plugin has the event already: the publish stands, and
            // this plugin's loss is counted and logged.
            Err(err) if writes.1 => {
                ledger.lost_to_queue_error(&message.event, &err);
                receipt.overflowed.push(ledger.name().clone());
                return Ok(());
            }
            Err(source) => {
                return Err(PublishError::Spill {
                    plugin: ledger.name().clone(),
                    source,
                })
            }
        };
        writes.add(index, touched);
        match outcome {
            Overflowed::Spilled | Overflowed::Dropped => {
                receipt.overflowed.push(ledger.name().clone());
            }
        }
        Ok(())
    }

    /// Waits (bounded) for room at each blocked target, in order; a target
    /// that stays full gets the event in its spill queue.
    async fn admit(&self, routed: &mut Routed, writes: &mut Writes) -> Result<(), PublishError> {
        for (index, message) in std::mem::take(&mut routed.blocked) {
            let Some(target) = self.targets.get(index) else {
                continue;
            };
            let room = tokio::time::timeout(
                self.overflow_wait,
                target.handle.admission.clone().acquire_owned(),
            )
            .await;
            match room {
                Ok(Ok(permit)) => self.send(index, message, permit, &mut routed.receipt, writes)?,
                _ => self.spill(index, message, &mut routed.receipt, writes)?,
            }
        }
        Ok(())
    }

    /// Routes the rest of a batch, waiting where a target is full.
    async fn route_rest(
        &self,
        mut receipts: Vec<PublishReceipt>,
        mut current: Routed,
        rest: std::vec::IntoIter<Event>,
        mut writes: Writes,
    ) -> (Vec<PublishReceipt>, Option<PublishError>, Writes) {
        if let Err(error) = self.admit(&mut current, &mut writes).await {
            return (receipts, Some(error), writes);
        }
        receipts.push(current.receipt);
        for event in rest {
            let mut routed = match self.route(event, true, &mut writes) {
                Ok(routed) => routed,
                Err(error) => return (receipts, Some(error), writes),
            };
            if let Err(error) = self.admit(&mut routed, &mut writes).await {
                return (receipts, Some(error), writes);
            }
            receipts.push(routed.receipt);
        }
        (receipts, None, writes)
    }
}

pub struct Router {
    routes: Arc<Routes>,
    mailbox_capacity: usize,
}

impl Router {
    pub fn new(
        table: RoutingTable,
        targets: Vec<Target>,
        mailbox_capacity: usize,
        overflow_wait: Duration,
    ) -> Self {
        Router {
            routes: Arc::new(Routes {
                table,
                targets,
                overflow_wait,
            }),
            mailbox_capacity,
        }
    }

    /// Answers a single publish: at once when nothing was written or
    /// waited for, after the durability wait otherwise.
    fn answer(
        routes: &Routes,
        receipt: PublishReceipt,
        writes: Writes,
    ) -> Response<Result<PublishReceipt, PublishError>> {
        match writes.sync(routes) {
            None => Response::reply(Ok(receipt)),
            Some(synced) => Response::fut(async move {
                synced.await?;
                Ok(receipt)
            }),
        }
    }
}

/// Replaces the routing table (a config reload changed notifier filters).
/// Publishes already routed keep the table they were routed with.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplaceRoutingTable(pub RoutingTable);

impl Handler<ReplaceRoutingTable> for Router {
    type Result = ();

    fn handle(&mut self, msg: ReplaceRoutingTable, _: &mut Context<Self>) {
        self.routes = Arc::new(Routes {
            table: msg.0,
            targets: self.routes.targets.clone(),
            overflow_wait: self.routes.overflow_wait,
        });
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox_capacity.max(1));
    }
}

impl Handler<Publish> for Router {
    type Result = Response<Result<PublishReceipt, PublishError>>;

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) -> Self::Result {
        let mut writes = Writes::default();
        let mut routed = match self.routes.route(msg.0, true, &mut writes) {
            Ok(routed) => routed,
            Err(error) => return Response::reply(Err(error)),
        };
        if routed.blocked.is_empty() {
            return Router::answer(&self.routes, routed.receipt, writes);
        }
        // Wait for room with the router paused, so every plugin gets its
        // events in order; answer once the writes are durable.
        let routes = self.routes.clone();
        let (answer, answered) = oneshot::channel();
        ctx.wait(wrap_future(async move {
            let admitted = routes.admit(&mut routed, &mut writes).await;
            let synced = writes.sync(&routes);
            let _ = answer.send((admitted, routed.receipt, synced));
        }));
        Response::fut(async move {
            let (admitted, receipt, synced) = answered.await.map_err(|_| PublishError::Stopped)?;
            admitted?;
            if let Some(synced) = synced {
                synced.await?;
            }
            Ok(receipt)
        })
    }
}

impl Handler<TryPublish> for Router {
    type Result = ();

    fn handle(&mut self, msg: TryPublish, ctx: &mut Context<Self>) {
        let mut writes = Writes::default();
        let routed = self.routes.route(msg.event, false, &mut writes);
        let synced = writes.sync(&self.routes);
        let reply = msg.reply;
        // The durability wait runs beside the router, not in its way.
        ctx.spawn(wrap_future(async move {
            let answer = match (routed, synced) {
                (Err(error), _) => Err(error),
                (Ok(routed), None) => Ok(routed.receipt),
                (Ok(routed), Some(synced)) => synced.await.map(|()| routed.receipt),
            };
            let _ = reply.send(answer);
        }));
    }
}

impl Handler<PublishBatch> for Router {
    type Result = ResponseFuture<Result<Vec<PublishReceipt>, PublishBatchError>>;

    fn handle(&mut self, msg: PublishBatch, ctx: &mut Context<Self>) -> Self::Result {
        let mut receipts = Vec::with_capacity(msg.0.len());
        let mut writes = Writes::default();
        let mut events = msg.0.into_iter();
        let mut failure = None;
        let mut blocked = None;
        for event in events.by_ref() {
            match self.routes.route(event, true, &mut writes) {
                Ok(routed) if routed.blocked.is_empty() => receipts.push(routed.receipt),
                Ok(routed) => {
                    blocked = Some(routed);
                    break;
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let Some(current) = blocked else {
            let synced = writes.sync(&self.routes);
            return Box::pin(finish_batch(receipts, failure, synced));
        };
        // A target is full: the rest of the batch is routed with the router
        // paused, waiting for room where needed.
        let routes = self.routes.clone();
        let (answer, answered) = oneshot::channel();
        ctx.wait(wrap_future(async move {
            let (receipts, failure, writes) =
                routes.route_rest(receipts, current, events, writes).await;
            let synced = writes.sync(&routes);
            let _ = answer.send((receipts, failure, synced));
        }));
        Box::pin(async move {
            let (receipts, failure, synced) = answered.await.map_err(|_| PublishBatchError {
                accepted: 0,
                error: PublishError::Stopped,
            })?;
            finish_batch(receipts, failure, synced).await
        })
    }
}

/// Waits for a batch's writes, then answers with its receipts or with how
/// many events were accepted before the one that failed.
async fn finish_batch(
    receipts: Vec<PublishReceipt>,
    failure: Option<PublishError>,
    synced: Option<BoxFuture<'static, Result<(), PublishError>>>,
) -> Result<Vec<PublishReceipt>, PublishBatchError> {
    if let Some(synced) = synced {
        synced
            .await
            .map_err(|error| PublishBatchError { accepted: 0, error })?;
    }
    match failure {
        Some(error) => Err(PublishBatchError {
            accepted: receipts.len(),
            error,
        }),
        None => Ok(receipts),
    }
}
