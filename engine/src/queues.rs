//! The engine's durable queues: one sled database under the data directory,
//! two queues per notifier (`<name>.retry` and `<name>.ahead`), adapted to
//! the actors' `RecordQueue` trait.

use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::notifier::PluginQueues;
use plexus_actors::queue::{Peeked, QueueError, RecordQueue, StoredRecord};
use plexus_storage::{Durability, Queue, Store, StoreOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The store all queues of one engine live in.
#[derive(Clone)]
pub struct QueueStore {
    store: Store,
}

impl QueueStore {
    /// Opens (or creates) the store; a blocking open runs off the runtime.
    pub async fn open(dir: &Path, max_flush_delay: Duration) -> Result<QueueStore, String> {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
            Store::open(
                &dir,
                StoreOptions::default().max_flush_delay(max_flush_delay),
            )
            .map(|store| QueueStore { store })
            .map_err(|err| err.to_string())
        })
        .await
        .map_err(|err| format!("queue open task failed: {err}"))?
    }

    /// The retry and write-ahead queues of the notifier called `name`.
    pub async fn plugin_queues(&self, name: &str) -> Result<PluginQueues, String> {
        let store = self.store.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let retry = store
                .queue(&format!("{name}.retry"))
                .map_err(|e| e.to_string())?;
            let ahead = store
                .queue(&format!("{name}.ahead"))
                .map_err(|e| e.to_string())?;
            Ok(PluginQueues {
                retry: Arc::new(SledQueue(retry)),
                write_ahead: Arc::new(SledQueue(ahead)),
            })
        })
        .await
        .map_err(|err| format!("queue open task failed: {err}"))?
    }

    /// Flushes everything written so far.
    pub async fn flush(&self) -> Result<(), String> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.flush().map_err(|e| e.to_string()))
            .await
            .map_err(|err| format!("flush task failed: {err}"))?
    }
}

/// A `plexus-storage` queue as the actors see it.
pub struct SledQueue(pub Queue);

impl SledQueue {
    fn err(&self, err: impl std::fmt::Display) -> QueueError {
        QueueError {
            queue: self.0.name().to_owned(),
            message: err.to_string(),
        }
    }
}

impl RecordQueue for SledQueue {
    fn append(&self, event_ts_ns: i64, payload: &[u8]) -> Result<u64, QueueError> {
        self.0
            .push_with(event_ts_ns, payload, Durability::Deferred)
            .map_err(|err| self.err(err))
    }

    fn sync(&self) -> Result<(), QueueError> {
        self.0.flush().map_err(|err| self.err(err))
    }

    fn sync_async(&self) -> BoxFuture<'static, Result<(), QueueError>> {
        let flushed = self.0.flush_async();
        let queue = self.0.name().to_owned();
        async move {
            flushed.await.map_err(|err| QueueError {
                queue,
                message: err.to_string(),
            })
        }
        .boxed()
    }

    fn peek_oldest(&self, n: usize) -> Result<Peeked, QueueError> {
        let result = self.0.peek_oldest(n).map_err(|err| self.err(err))?;
        for corrupt in &result.corrupt {
            tracing::warn!("{corrupt}");
        }
        Ok(Peeked {
            corrupt_discarded: result.corrupt.len() as u64,
            records: result
                .records
                .into_iter()
                .map(|record| StoredRecord {
                    seq: record.seq,
                    event_ts_ns: record.event_ts_ns,
                    payload: record.payload,
                })
                .collect(),
        })
    }

    fn remove(&self, seqs: &[u64]) -> Result<(), QueueError> {
        self.0.remove(seqs).map(|_| ()).map_err(|err| self.err(err))
    }

    fn drop_older_than(&self, cutoff_ns: i64) -> Result<u64, QueueError> {
        self.0
            .drop_older_than(cutoff_ns)
            .map(|n| n as u64)
            .map_err(|err| self.err(err))
    }

    fn len(&self) -> u64 {
        self.0.len()
    }
}
