//! The notifier API: publish events to every notifier whose filter matches
//! them, and wait for what was published to settle.
//!
//! `notify` returns once the event is accepted: handed to every matching
//! plugin's mailbox (waiting, bounded, while a mailbox is full) or its
//! spill queue, and with `write_ahead` durability, written ahead. Delivery
//! happens after; its outcome is in the counters ([`Engine::stats`]).

use super::{Engine, EngineError};
use plexus_actors::event::Event;
use plexus_actors::router::{Publish, PublishBatch, PublishReceipt, TryPublish};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use std::time::Duration;

impl Engine {
    /// Publishes one event to every notifier whose filter matches it. While
    /// a plugin's mailbox is full this waits for room, up to the engine's
    /// `overflow_wait`; then that plugin gets the event through its spill
    /// queue, so one stalled plugin never holds up the producer for long.
    pub async fn notify(&self, event: Event) -> Result<PublishReceipt, EngineError> {
        Ok(self
            .router
            .send(Publish(event))
            .await
            .map_err(|_| EngineError::Stopped)??)
    }

    /// Publishes one event without ever waiting for a plugin: a plugin whose
    /// mailbox is full gets the event through its spill queue at once (sent
    /// as soon as it has room), and the receipt's `overflowed` names it.
    /// Fails with [`EngineError::Busy`] when the router itself is full.
    pub async fn try_notify(&self, event: Event) -> Result<PublishReceipt, EngineError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.router.try_send(TryPublish { event, reply }) {
            Ok(()) => Ok(answer.await.map_err(|_| EngineError::Stopped)??),
            Err(actix::prelude::SendError::Full(_)) => Err(EngineError::Busy),
            Err(actix::prelude::SendError::Closed(_)) => Err(EngineError::Stopped),
        }
    }

    /// Publishes events in order; their durable writes share one flush.
    /// Returns a receipt per accepted event; on an error, how many were
    /// accepted before it.
    pub async fn notify_many(
        &self,
        events: Vec<Event>,
    ) -> Result<Vec<PublishReceipt>, (usize, EngineError)> {
        match self.router.send(PublishBatch(events)).await {
            Ok(Ok(receipts)) => Ok(receipts),
            Ok(Err(err)) => Err((err.accepted, EngineError::Rejected(err.error))),
            Err(_) => Err((0, EngineError::Stopped)),
        }
    }

    pub async fn notify_fs(&self, event: FsEvent) -> Result<PublishReceipt, EngineError> {
        self.notify(Event::Fs(event)).await
    }

    pub async fn notify_provider(
        &self,
        event: ProviderEvent,
    ) -> Result<PublishReceipt, EngineError> {
        self.notify(Event::Provider(event)).await
    }

    pub async fn notify_log(&self, event: LogEvent) -> Result<PublishReceipt, EngineError> {
        self.notify(Event::Log(event)).await
    }

    /// Re-drives every retry queue now instead of at the next tick.
    pub fn redrive_now(&self) {
        for notifier in &self.notifiers {
            notifier.handle.redrive_now();
        }
    }

    /// Waits until every event accepted so far is delivered, queued or
    /// dropped; `false` if `timeout` passed first.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let drains = self
            .notifiers
            .iter()
            .map(|notifier| notifier.handle.drain(timeout));
        futures::future::join_all(drains)
            .await
            .into_iter()
            .all(|drained| drained)
    }
}
