//! Feeding the lane from a backlog: what the re-drive and the spill drainer
//! share. A queued event enters the lane only with one of the actor's
//! in-flight permits, so backlogs and fresh deliveries share the same bound
//! (the semaphore is fair: neither starves the other), and records are read
//! off the async threads.

use super::lane::LaneInput;
use super::ledger::Backlog;
use super::{Job, Ledger, Source};
use crate::event;
use crate::queue::QueueError;
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Semaphore};

/// What the re-drive and the spill drainer need to feed the lane.
#[derive(Clone)]
pub(crate) struct Feeder {
    pub(crate) ledger: Arc<Ledger>,
    /// The actor's in-flight permits, shared with fresh deliveries (the
    /// semaphore is fair, so neither starves the other).
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) lane: mpsc::UnboundedSender<LaneInput>,
    /// Whether the plugin is connected.
    pub(crate) connected: watch::Receiver<bool>,
    /// The mailbox bound (see [`crate::notifier::NotifierHandle`]) and its size.
    pub(crate) admission: Arc<Semaphore>,
    pub(crate) mailbox_capacity: u32,
}

impl Feeder {
    pub(crate) fn connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Resolves once every event that was in the mailbox has been handed
    /// to the lane; `false` if the semaphore is gone.
    pub(crate) async fn mailbox_empty(&self) -> bool {
        self.admission
            .acquire_many(self.mailbox_capacity)
            .await
            .is_ok()
    }

    /// Hands one event to the lane once a permit is free; `false` if the
    /// lane or the semaphore is gone.
    pub(crate) async fn feed(&self, event: event::Event, source: Source) -> bool {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return false;
        };
        let job = Job::new(Arc::new(event), source, permit);
        self.lane.send(LaneInput::Deliver(job)).is_ok()
    }

    /// Reads up to `n` records of a backlog from `from` on, and discards
    /// the unreadable ones, off the async threads. Returns the events.
    pub(crate) async fn read(
        &self,
        backlog: Backlog,
        from: u64,
        n: usize,
    ) -> Result<Chunk, QueueError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || {
            let peeked = ledger.peek(backlog, from, n)?;
            let mut chunk = Chunk {
                events: Vec::with_capacity(peeked.records.len()),
                discarded: peeked.corrupt_discarded,
                next: from,
            };
            for record in peeked.records {
                chunk.next = record.seq.saturating_add(1);
                match event::decode(&record.payload) {
                    Ok((event, _origin)) => chunk.events.push((record.seq, event)),
                    Err(err) => {
                        ledger.discard_unreadable(backlog, record.seq, &err);
                        chunk.discarded += 1;
                    }
                }
            }
            Ok(chunk)
        })
        .await
        .map_err(|err| QueueError {
            queue: format!("{backlog:?}"),
            message: format!("queue read task failed: {err}"),
        })?
    }
}

/// Records read from a backlog.
pub(crate) struct Chunk {
    /// The readable ones, in order.
    pub(crate) events: Vec<(u64, event::Event)>,
    /// Unreadable records met on the way, discarded (and counted).
    pub(crate) discarded: u64,
    /// Where the next read starts.
    pub(crate) next: u64,
}
