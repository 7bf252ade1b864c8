//! The engine's durable queues, adapted to the actors' `RecordQueue` trait:
//! per notifier, a retry queue `<name>.retry` in the sled database under
//! `<data_dir>/queue` (a backlog that may grow large while a plugin is
//! down), and a write-ahead log under `<data_dir>/wal/<name>` (the events
//! in flight with `write_ahead` durability: an append and a settle mark per
//! event instead of a B-tree insert and remove).

use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::notifier::PluginQueues;
use plexus_actors::queue::{MemoryQueue, Peeked, QueueError, RecordQueue, StoredRecord};
use plexus_storage::{Durability, LogOptions, LogQueue, PeekResult, Queue, Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The store all queues of one engine live in.
#[derive(Clone)]
pub struct QueueStore {
    store: Store,
    /// Where the write-ahead logs live, one directory per notifier.
    wal_dir: PathBuf,
    max_flush_delay: Duration,
    wal_fsync: bool,
}

impl QueueStore {
    /// Opens (or creates) the store under `data_dir`; a blocking open runs
    /// off the runtime.
    ///
    /// `wal_fsync`: the write-ahead logs also fdatasync at every group commit.
    pub async fn open(
        data_dir: &Path,
        max_flush_delay: Duration,
        wal_fsync: bool,
    ) -> Result<QueueStore, String> {
        let dir = data_dir.join("queue");
        let wal_dir = data_dir.join("wal");
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
            Store::open(
                &dir,
                StoreOptions::default().max_flush_delay(max_flush_delay),
            )
            .map(|store| QueueStore {
                store,
                wal_dir,
                max_flush_delay,
                wal_fsync,
            })
            .map_err(|err| err.to_string())
        })
        .await
        .map_err(|err| format!("queue open task failed: {err}"))?
    }

    /// The retry and write-ahead queues of the notifier called `name`.
    ///
    /// The write-ahead log is opened with `write_ahead` durability, or when
    /// an earlier run left one (so what it holds is delivered); otherwise
    /// nothing is ever written ahead and an empty in-memory queue stands in.
    /// Events an earlier version left in the sled write-ahead queue
    /// (`<name>.ahead`) are moved to the retry queue, so the next re-drive
    /// delivers them, and that queue is dropped.
    pub async fn plugin_queues(
        &self,
        name: &str,
        write_ahead: bool,
    ) -> Result<PluginQueues, String> {
        let store = self.store.clone();
        let name = name.to_owned();
        let wal_dir = self.wal_dir.join(&name);
        let options = LogOptions::default()
            .max_flush_delay(self.max_flush_delay)
            .fsync(self.wal_fsync);
        tokio::task::spawn_blocking(move || {
            let retry = store
                .queue(&format!("{name}.retry"))
                .map_err(|e| e.to_string())?;
            let write_ahead: Arc<dyn RecordQueue> = if write_ahead || wal_dir.exists() {
                let log = LogQueue::open(&wal_dir, options).map_err(|e| e.to_string())?;
                for damage in &log.recovery().corrupt {
                    tracing::warn!("[{name}] write-ahead log: {damage}");
                }
                Arc::new(StorageQueue(log))
            } else {
                Arc::new(MemoryQueue::new())
            };
            let queues = PluginQueues {
                retry: Arc::new(StorageQueue(retry)),
                write_ahead,
            };
            move_legacy_write_ahead(&store, &name, &queues)?;
            Ok(queues)
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

/// What the actors need from a `plexus-storage` queue; the sled [`Queue`]
/// and the write-ahead [`LogQueue`] both provide it.
pub trait StorageBackend: Send + Sync + 'static {
    /// The queue's name in errors.
    fn label(&self) -> String;
    /// Appends one record without waiting for its flush.
    fn append_deferred(&self, event_ts_ns: i64, payload: &[u8]) -> plexus_storage::Result<u64>;
    fn flush(&self) -> plexus_storage::Result<()>;
    fn flush_async(&self) -> BoxFuture<'static, plexus_storage::Result<()>>;
    fn peek_oldest(&self, n: usize) -> plexus_storage::Result<PeekResult>;
    fn remove(&self, seqs: &[u64]) -> plexus_storage::Result<usize>;
    fn drop_older_than(&self, cutoff_ns: i64) -> plexus_storage::Result<usize>;
    /// Records held (O(1)).
    fn record_count(&self) -> u64;
}

impl StorageBackend for Queue {
    fn label(&self) -> String {
        self.name().to_owned()
    }
    fn append_deferred(&self, event_ts_ns: i64, payload: &[u8]) -> plexus_storage::Result<u64> {
        self.push_with(event_ts_ns, payload, Durability::Deferred)
    }
    fn flush(&self) -> plexus_storage::Result<()> {
        Queue::flush(self)
    }
    fn flush_async(&self) -> BoxFuture<'static, plexus_storage::Result<()>> {
        Queue::flush_async(self).boxed()
    }
    fn peek_oldest(&self, n: usize) -> plexus_storage::Result<PeekResult> {
        Queue::peek_oldest(self, n)
    }
    fn remove(&self, seqs: &[u64]) -> plexus_storage::Result<usize> {
        Queue::remove(self, seqs)
    }
    fn drop_older_than(&self, cutoff_ns: i64) -> plexus_storage::Result<usize> {
        Queue::drop_older_than(self, cutoff_ns)
    }
    fn record_count(&self) -> u64 {
        Queue::len(self)
    }
}

impl StorageBackend for LogQueue {
    fn label(&self) -> String {
        self.path().display().to_string()
    }
    fn append_deferred(&self, event_ts_ns: i64, payload: &[u8]) -> plexus_storage::Result<u64> {
        self.append(event_ts_ns, payload)
    }
    fn flush(&self) -> plexus_storage::Result<()> {
        LogQueue::flush(self)
    }
    fn flush_async(&self) -> BoxFuture<'static, plexus_storage::Result<()>> {
        LogQueue::flush_async(self).boxed()
    }
    fn peek_oldest(&self, n: usize) -> plexus_storage::Result<PeekResult> {
        LogQueue::peek_oldest(self, n)
    }
    fn remove(&self, seqs: &[u64]) -> plexus_storage::Result<usize> {
        LogQueue::remove(self, seqs)
    }
    fn drop_older_than(&self, cutoff_ns: i64) -> plexus_storage::Result<usize> {
        LogQueue::drop_older_than(self, cutoff_ns)
    }
    fn record_count(&self) -> u64 {
        LogQueue::len(self)
    }
}

/// A `plexus-storage` queue as the actors see it.
pub struct StorageQueue<B>(pub B);

impl<B: StorageBackend> StorageQueue<B> {
    fn err(&self, err: impl std::fmt::Display) -> QueueError {
        QueueError {
            queue: self.0.label(),
            message: err.to_string(),
        }
    }
}

impl<B: StorageBackend> RecordQueue for StorageQueue<B> {
    fn append(&self, event_ts_ns: i64, payload: &[u8]) -> Result<u64, QueueError> {
        self.0
            .append_deferred(event_ts_ns, payload)
            .map_err(|err| self.err(err))
    }

    fn sync(&self) -> Result<(), QueueError> {
        self.0.flush().map_err(|err| self.err(err))
    }

    fn sync_async(&self) -> BoxFuture<'static, Result<(), QueueError>> {
        let flushed = self.0.flush_async();
        let queue = self.0.label();
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
        self.0.record_count()
    }
}

/// Moves the records of a sled write-ahead queue (`<name>.ahead`, from an
/// earlier version) to the retry queue and drops it.
fn move_legacy_write_ahead(store: &Store, name: &str, queues: &PluginQueues) -> Result<(), String> {
    let legacy_name = format!("{name}.ahead");
    if !store
        .names()
        .map_err(|e| e.to_string())?
        .contains(&legacy_name)
    {
        return Ok(());
    }
    let legacy = store.queue(&legacy_name).map_err(|e| e.to_string())?;
    let moved = PluginQueues {
        retry: queues.retry.clone(),
        write_ahead: Arc::new(StorageQueue(legacy)),
    }
    .recover_write_ahead()
    .map_err(|e| e.to_string())?;
    store.drop_queue(&legacy_name).map_err(|e| e.to_string())?;
    store.flush().map_err(|e| e.to_string())?;
    if moved > 0 {
        tracing::info!(
            "[{name}] {moved} events of the old write-ahead queue will be delivered again"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_old_sled_write_ahead_queue_moves_to_retry_and_the_log_takes_over() {
        let data = tempfile::tempdir().expect("a temporary directory");
        {
            let old = Store::open(data.path().join("queue"), StoreOptions::default())
                .expect("the old store opens");
            let ahead = old.queue("plugin.1234.ahead").expect("the old queue");
            for ts in 1..=3 {
                ahead.push(ts, b"event").expect("an old record");
            }
        }
        let store = QueueStore::open(data.path(), Duration::from_millis(1), false)
            .await
            .expect("the store opens");
        let queues = store
            .plugin_queues("plugin.1234", true)
            .await
            .expect("the plugin's queues open");
        assert_eq!(queues.retry.len(), 3, "the old records wait for a re-drive");
        assert_eq!(queues.write_ahead.len(), 0);
        assert!(!store
            .store
            .names()
            .expect("names")
            .contains(&"plugin.1234.ahead".to_owned()));
        assert!(data.path().join("wal").join("plugin.1234").is_dir());

        let seq = queues.write_ahead.append(7, b"new").expect("an append");
        queues.write_ahead.sync_async().await.expect("durable");
        let peeked = queues.write_ahead.peek_oldest(10).expect("a peek");
        assert_eq!(peeked.records.len(), 1);
        assert_eq!(
            (peeked.records[0].seq, peeked.records[0].event_ts_ns),
            (seq, 7)
        );
        assert_eq!(peeked.records[0].payload, b"new");
    }

    #[tokio::test]
    async fn on_failure_opens_no_log_but_recovers_one_left_behind() {
        let data = tempfile::tempdir().expect("a temporary directory");
        let store = QueueStore::open(data.path(), Duration::from_millis(1), false)
            .await
            .expect("the store opens");
        let queues = store.plugin_queues("plain.1", false).await.expect("queues");
        assert_eq!(queues.write_ahead.len(), 0);
        assert!(!data.path().join("wal").join("plain.1").exists());

        // A log an earlier write-ahead run left: its record is recovered.
        {
            let log = LogQueue::open(
                data.path().join("wal").join("left.1"),
                LogOptions::default(),
            )
            .expect("a log");
            log.append(5, b"left").expect("an append");
            log.flush().expect("flushed");
        }
        let queues = store.plugin_queues("left.1", false).await.expect("queues");
        assert_eq!(queues.write_ahead.len(), 1, "the old log is read");
        assert_eq!(queues.recover_write_ahead().expect("recovery"), 1);
        assert_eq!(queues.retry.len(), 1);
    }
}
