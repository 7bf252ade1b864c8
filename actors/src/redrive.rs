//! One re-drive pass over a plugin's retry queue: oldest first, stop at the
//! first failure.
//!
//! It runs as a task of its own, beside the delivery lane, and shares the
//! actor's in-flight permits with fresh deliveries (the semaphore is fair,
//! so neither starves the other). A transport that batches gets the queued
//! events in batches too. Queue reads and removals run on blocking threads.

use crate::counters::PluginCounters;
use crate::event::{self, Event, Origin};
use crate::failure::FailureHandler;
use crate::policy::{now_ns, RetryPolicy};
use crate::queue::{QueueError, RecordQueue};
use crate::transport::{DeliveryError, NotifierTransport};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub(crate) struct RedriveJob {
    pub(crate) name: Arc<str>,
    pub(crate) queue: Arc<dyn RecordQueue>,
    pub(crate) transport: Arc<dyn NotifierTransport>,
    pub(crate) policy: RetryPolicy,
    pub(crate) permits: Arc<Semaphore>,
    /// The permits there are: no batch may need more.
    pub(crate) max_in_flight: usize,
    pub(crate) counters: Arc<PluginCounters>,
    pub(crate) failures: Arc<FailureHandler>,
    /// Records read (and sent) at a time.
    pub(crate) batch: usize,
}

/// A queued record on its way back to the plugin.
struct Queued {
    seq: u64,
    origin: Origin,
    event: Arc<Event>,
}

impl RedriveJob {
    pub(crate) async fn run(self) {
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
            let mut queued = Vec::with_capacity(peeked.records.len());
            for record in peeked.records {
                match event::decode(&record.payload) {
                    Ok((event, origin)) => queued.push(Queued {
                        seq: record.seq,
                        origin,
                        event: Arc::new(event),
                    }),
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
            for (record, result) in self.deliver(queued).await {
                match result {
                    Ok(()) => {
                        PluginCounters::incr(&self.counters.delivered);
                        PluginCounters::incr(&self.counters.redriven);
                        settled.push(record.seq);
                    }
                    Err(_) => {
                        failed += 1;
                        PluginCounters::incr(&self.counters.failed);
                        // An overflow record of a plugin without retries had
                        // its one delivery now: it goes, as a failed event would.
                        if record.origin == Origin::Overflow && self.policy.max_age.is_none() {
                            PluginCounters::incr(&self.counters.dropped_no_retry);
                            settled.push(record.seq);
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

    /// Sends the records, each under an in-flight permit: one event per call,
    /// or in the transport's batches.
    async fn deliver(&self, queued: Vec<Queued>) -> Vec<(Queued, Result<(), DeliveryError>)> {
        let max_batch = self.transport.max_batch().min(self.max_in_flight).max(1);
        if max_batch == 1 {
            let calls = queued.into_iter().map(|record| {
                let permits = self.permits.clone();
                let transport = self.transport.clone();
                async move {
                    let permit = permits.acquire_owned().await;
                    let result = transport.deliver(record.event.clone()).await;
                    drop(permit);
                    (record, result)
                }
            });
            return futures::future::join_all(calls).await;
        }
        let mut outcomes = Vec::with_capacity(queued.len());
        let mut records = queued.into_iter().peekable();
        while records.peek().is_some() {
            let chunk: Vec<Queued> = records.by_ref().take(max_batch).collect();
            let count = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            let permit = self.permits.clone().acquire_many_owned(count).await;
            let events = chunk.iter().map(|record| record.event.clone()).collect();
            let mut results = self.transport.deliver_batch(events).await.into_iter();
            drop(permit);
            for record in chunk {
                let result = results
                    .next()
                    .unwrap_or_else(|| Err(DeliveryError::missing_outcome()));
                outcomes.push((record, result));
            }
        }
        outcomes
    }
}
