//! The settler: one task per plugin that takes the lane's outcomes, has the
//! ledger settle them on a blocking thread (queue writes block on disk),
//! waits without a thread until what was written is durable, and only then
//! releases the events' in-flight permits.
//!
//! So a drain (and a host crash with `write_ahead`) sees every event until
//! its fate is on disk, and many outcomes share one blocking hop and one
//! flush. The channel is unbounded in type only: every message holds a
//! permit.

use super::{Job, Ledger};
use crate::transport::DeliveryError;
use std::sync::Arc;
use tokio::sync::mpsc;

/// An outcome of the lane on its way to the ledger.
pub(crate) type Outcome = (Job, Result<(), DeliveryError>);

/// Most outcomes settled in one blocking hop.
const MAX_BATCH: usize = 4096;

/// Where the lane sends outcomes that need disk work.
#[derive(Clone)]
pub(crate) struct Settler {
    ledger: Arc<Ledger>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

impl Settler {
    /// The settler and the task to run (on any runtime).
    pub(crate) fn new(ledger: Arc<Ledger>) -> (Settler, impl std::future::Future<Output = ()>) {
        let (outcomes, receiver) = mpsc::unbounded_channel();
        let task = run(ledger.clone(), receiver);
        (Settler { ledger, outcomes }, task)
    }

    /// Settles one outcome: at once when no disk work is needed, otherwise
    /// through the settler task.
    /// The plugin's counters (the lane records its call metrics there).
    pub(crate) fn counters(&self) -> &Arc<crate::counters::PluginCounters> {
        self.ledger.counters()
    }

    pub(crate) fn settle(&self, job: Job, result: Result<(), DeliveryError>) {
        if let Some(outcome) = self.ledger.settle_in_place(job, result) {
            self.send(outcome);
        }
    }

    pub(crate) fn settle_all(&self, outcomes: impl IntoIterator<Item = Outcome>) {
        for (job, result) in outcomes {
            self.settle(job, result);
        }
    }

    fn send(&self, outcome: Outcome) {
        if let Err(mpsc::error::SendError(outcome)) = self.outcomes.send(outcome) {
            // The task has ended (the runtime is going away): settle here,
            // on this thread, rather than forget the event.
            let touched = self.ledger.settle(std::slice::from_ref(&outcome));
            if touched.any() {
                tracing::debug!(
                    plugin = &**self.ledger.name(),
                    "settled an outcome after the settler stopped"
                );
            }
        }
    }
}

async fn run(ledger: Arc<Ledger>, mut receiver: mpsc::UnboundedReceiver<Outcome>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let settling = ledger.clone();
        let settled = tokio::task::spawn_blocking(move || {
            let touched = settling.settle(&batch);
            (batch, touched)
        })
        .await;
        let (batch, touched) = match settled {
            Ok(settled) => settled,
            Err(err) => {
                tracing::error!(
                    plugin = &**ledger.name(),
                    "[{}] settling outcomes failed: {err}",
                    ledger.name()
                );
                continue;
            }
        };
        if let Err(err) = ledger.sync(touched).await {
            tracing::warn!(
                plugin = &**ledger.name(),
                "[{}] queue flush after settling {} outcomes: {err}",
                ledger.name(),
                batch.len()
            );
        }
        // Durable: now the permits may go.
        drop(batch);
    }
}
