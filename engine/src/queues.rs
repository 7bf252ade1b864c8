//! The engine's durable queues, adapted to the actors' `RecordQueue` trait:
//! per notifier, a retry queue `<name>.retry` and a spill queue
//! `<name>.spill` in the sled database under `<data_dir>/queue` (backlogs
//! that may grow large while a plugin is down or stalled), and a write-ahead
//! log under `<data_dir>/wal/<name>` (the events in flight with
//! `write_ahead` durability: an append and a settle mark per event instead
//! of a B-tree insert and remove).

use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::delivery::PluginQueues;
use plexus_actors::queue::{MemoryQueue, Peeked, QueueError, RecordQueue, StoredRecord};
use plexus_storage::{Durability, LogOptions, LogQueue, PeekResult, Queue, Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why the engine's queues could not be opened or flushed.
#[derive(Debug, thiserror::Error)]
pub enum QueueStoreError {
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] plexus_storage::StorageError),
    #[error("queue task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Queue(#[from] plexus_actors::queue::QueueError),
    #[error("[{plugin}] recovering the write-ahead log: {source}")]
    Recovery {
        plugin: String,
        source: plexus_actors::queue::QueueError,
    },
}

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
    ) -> Result<QueueStore, QueueStoreError> {
        let dir = data_dir.join("queue");
        let wal_dir = data_dir.join("wal");
        tokio::task::spawn_blocking(move || {
            // Owner-only (0700): the queues hold the events.
            let data = dir.parent().unwrap_or(&dir).to_owned();
            plexus_storage::create_private_dir(&data)
                .map_err(|source| QueueStoreError::CreateDir { path: data, source })?;
            let store = Store::open(
                &dir,
                StoreOptions::default().max_flush_delay(max_flush_delay),
            )?;
            Ok(QueueStore {
                store,
                wal_dir,
                max_flush_delay,
                wal_fsync,
            })
        })
        .await?
    }

    /// The retry, spill and write-ahead queues of the notifier called `name`.
    ///
    /// The write-ahead log is opened with `write_ahead` durability, or when
    /// an earlier run left one (so what it holds is delivered); otherwise
    /// nothing is ever written ahead and an empty in-memory queue stands in.
    pub async fn plugin_queues(
        &self,
        name: &str,
        write_ahead: bool,
    ) -> Result<PluginQueues, QueueStoreError> {
        let store = self.store.clone();
        let name = name.to_owned();
        let wal_dir = self.wal_dir.join(&name);
        let options = LogOptions::default()
            .max_flush_delay(self.max_flush_delay)
            .fsync(self.wal_fsync);
        tokio::task::spawn_blocking(move || {
            let retry = store.queue(&format!("{name}.retry"))?;
            let spill = store.queue(&format!("{name}.spill"))?;
            let write_ahead: Arc<dyn RecordQueue> = if write_ahead || wal_dir.exists() {
                let log = LogQueue::open(&wal_dir, options)?;
                for damage in &log.recovery().corrupt {
                    tracing::warn!("[{name}] write-ahead log: {damage}");
                }
                Arc::new(StorageQueue(log))
            } else {
                Arc::new(MemoryQueue::new())
            };
            Ok(PluginQueues {
                retry: Arc::new(StorageQueue(retry)),
                spill: Arc::new(StorageQueue(spill)),
                write_ahead,
            })
        })
        .await?
    }

    /// Queues holding events that none of the notifiers named `claimed`
    /// will deliver: a notifier removed from the config, or one whose `cmd`
    /// or `args` changed (its queue name derives from them). Returns
    /// `(queue name, events)`; write-ahead logs show as `<name>.ahead`.
    pub async fn unclaimed(
        &self,
        claimed: &[String],
    ) -> Result<Vec<(String, u64)>, QueueStoreError> {
        let store = self.store.clone();
        let wal_dir = self.wal_dir.clone();
        let claimed = claimed.to_vec();
        tokio::task::spawn_blocking(move || {
            let is_claimed = |base: &str| claimed.iter().any(|name| name == base);
            let mut found = Vec::new();
            for name in store.names()? {
                let base = name
                    .strip_suffix(".retry")
                    .or_else(|| name.strip_suffix(".spill"))
                    .unwrap_or(&name);
                if is_claimed(base) {
                    continue;
                }
                let len = store.queue(&name)?.len();
                if len > 0 {
                    found.push((name, len));
                }
            }
            if let Ok(entries) = std::fs::read_dir(&wal_dir) {
                for entry in entries.filter_map(Result::ok) {
                    let base = entry.file_name().to_string_lossy().into_owned();
                    if is_claimed(&base) || !entry.path().is_dir() {
                        continue;
                    }
                    // A log another process holds (or a damaged one) is
                    // reported by `plexus queue stats`, not here.
                    if let Ok(log) = LogQueue::open(entry.path(), LogOptions::default()) {
                        if !log.is_empty() {
                            found.push((format!("{base}.ahead"), log.len()));
                        }
                    }
                }
            }
            Ok(found)
        })
        .await?
    }

    /// How long the store's writes have been stuck (see
    /// `storage_watch.rs`); does not keep the store open.
    pub fn stall_watch(&self) -> plexus_storage::StallWatch {
        self.store.stall_watch()
    }

    /// The sled store's directory.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Flushes everything written so far.
    pub async fn flush(&self) -> Result<(), QueueStoreError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.flush()).await??)
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
    fn peek_from(&self, from: u64, n: usize) -> plexus_storage::Result<PeekResult>;
    fn remove(&self, seqs: &[u64]) -> plexus_storage::Result<usize>;
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
    fn peek_from(&self, from: u64, n: usize) -> plexus_storage::Result<PeekResult> {
        Queue::peek_from(self, from, n)
    }
    fn remove(&self, seqs: &[u64]) -> plexus_storage::Result<usize> {
        Queue::remove(self, seqs)
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
    fn peek_from(&self, from: u64, n: usize) -> plexus_storage::Result<PeekResult> {
        LogQueue::peek_from(self, from, n)
    }
    fn remove(&self, seqs: &[u64]) -> plexus_storage::Result<usize> {
        LogQueue::remove(self, seqs)
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

    fn peek_from(&self, from: u64, n: usize) -> Result<Peeked, QueueError> {
        let result = self.0.peek_from(from, n).map_err(|err| self.err(err))?;
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

    fn len(&self) -> u64 {
        self.0.record_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let peeked = queues.write_ahead.peek_from(0, 10).expect("a peek");
        assert_eq!(peeked.records.len(), 1);
        assert_eq!(peeked.records[0].payload, b"left");
        assert_eq!(queues.spill.len(), 0);
    }
}
