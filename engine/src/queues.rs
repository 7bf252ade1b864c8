//! The engine's durable queues, adapted to the actors' `RecordQueue` trait.
//! Per notifier:
//!
//! - a retry queue and a spill queue, `<data_dir>/backlog/<name>.retry` and
//!   `<name>.spill`: backlogs that may grow to millions of events while a
//!   plugin is down or stalled. They are log queues whose records stay on
//!   disk (`LogOptions::records_on_disk`), so the memory they take does not
//!   grow with their length: only runs of unsettled sequence numbers and a
//!   mark per 256 records are kept, and a re-drive reads the events back.
//! - a write-ahead log, `<data_dir>/wal/<name>`: the events in flight with
//!   `write_ahead` durability, kept in memory too (an append and a settle
//!   mark per event).
//!
//! Earlier versions kept the retry and spill queues in the sled database
//! under `<data_dir>/queue`; what such a queue still holds is moved into the
//! backlog log when the notifier's queues are opened (see
//! [`move_from_sled`]). The sled database stays: it locks the data directory
//! and holds what an old version left for notifiers no longer configured.

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

/// The directory of the retry and spill queues under a data directory.
pub const BACKLOG_DIR: &str = "backlog";

/// The options of a retry or spill queue's log: records on disk;
/// `fsync`: also fdatasync at every group commit (the engine's
/// `write_ahead_fsync`, so an event keeps the same guarantee when it moves
/// from the write-ahead log to a backlog).
pub fn backlog_options(max_flush_delay: Duration, fsync: bool) -> LogOptions {
    LogOptions::default()
        .records_on_disk(true)
        .max_flush_delay(max_flush_delay)
        .fsync(fsync)
}

/// The store all queues of one engine live in.
#[derive(Clone)]
pub struct QueueStore {
    store: Store,
    /// Where the write-ahead logs live, one directory per notifier.
    wal_dir: PathBuf,
    /// Where the retry and spill queues live, one directory each.
    backlog_dir: PathBuf,
    max_flush_delay: Duration,
    wal_fsync: bool,
}

impl QueueStore {
    /// Opens (or creates) the store under `data_dir`; a blocking open runs
    /// off the runtime.
    ///
    /// `wal_fsync`: the write-ahead logs and the retry and spill queues
    /// also fdatasync at every group commit.
    pub async fn open(
        data_dir: &Path,
        max_flush_delay: Duration,
        wal_fsync: bool,
    ) -> Result<QueueStore, QueueStoreError> {
        let dir = data_dir.join("queue");
        let wal_dir = data_dir.join("wal");
        let backlog_dir = data_dir.join(BACKLOG_DIR);
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
                backlog_dir,
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
        let backlog_dir = self.backlog_dir.clone();
        let backlog = backlog_options(self.max_flush_delay, self.wal_fsync);
        let options = LogOptions::default()
            .max_flush_delay(self.max_flush_delay)
            .fsync(self.wal_fsync);
        tokio::task::spawn_blocking(move || {
            let open_backlog = |kind: &str| -> Result<LogQueue, QueueStoreError> {
                let queue_name = format!("{name}.{kind}");
                let log = LogQueue::open(backlog_dir.join(&queue_name), backlog)?;
                for damage in &log.recovery().corrupt {
                    tracing::warn!("[{name}] {kind} queue: {damage}");
                }
                move_from_sled(&store, &queue_name, &log)?;
                Ok(log)
            };
            let retry = open_backlog("retry")?;
            let spill = open_backlog("spill")?;
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
        let backlog_dir = self.backlog_dir.clone();
        let claimed = claimed.to_vec();
        tokio::task::spawn_blocking(move || {
            let is_claimed = |base: &str| claimed.iter().any(|name| name == base);
            let mut found = Vec::new();
            for name in store.names()? {
                if is_claimed(queue_owner(&name)) {
                    continue;
                }
                let len = store.queue(&name)?.len();
                if len > 0 {
                    found.push((name, len));
                }
            }
            // Each log with what it is called and how it opens. One that
            // another process holds (or a damaged one) is reported by
            // `plexus queue stats`, not here.
            let backlogs = backlog_logs(&backlog_dir).into_iter().map(|(name, dir)| {
                let owner = queue_owner(&name).to_owned();
                let options = backlog_options(Duration::from_millis(1), false);
                (owner, name, dir, options)
            });
            let write_ahead = queue_dirs(&wal_dir).into_iter().map(|(name, dir)| {
                let label = format!("{name}.ahead");
                (name, label, dir, LogOptions::default())
            });
            for (owner, label, dir, options) in backlogs.chain(write_ahead) {
                if is_claimed(&owner) {
                    continue;
                }
                if let Ok(log) = LogQueue::open(&dir, options) {
                    if !log.is_empty() {
                        found.push((label, log.len()));
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

/// The queue directories (one log each) under `parent`, by name, sorted;
/// none when `parent` does not exist.
pub fn queue_dirs(parent: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut dirs: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .collect();
    dirs.sort();
    dirs
}

/// The retry and spill queues under a backlog directory, by queue name
/// (`<name>.retry`, `<name>.spill`), sorted.
pub fn backlog_logs(backlog_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut logs = queue_dirs(backlog_dir);
    logs.retain(|(name, _)| name.ends_with(".retry") || name.ends_with(".spill"));
    logs
}

/// The notifier a retry or spill queue belongs to: its name without the
/// `.retry` or `.spill` suffix.
pub fn queue_owner(queue_name: &str) -> &str {
    queue_name
        .strip_suffix(".retry")
        .or_else(|| queue_name.strip_suffix(".spill"))
        .unwrap_or(queue_name)
}

/// Records moved from the sled store to a backlog log at a time.
const MOVE_BATCH: usize = 1_000;

/// Moves what the sled queue `name` holds (a retry or spill queue an
/// earlier version kept there) into `log`, oldest first, and drops the sled
/// queue once empty. Each batch is written to the log (flushed) before it
/// is removed from sled, so a crash in between delivers a batch twice at
/// worst and never loses one. Returns how many records moved.
pub fn move_from_sled(store: &Store, name: &str, log: &LogQueue) -> Result<u64, QueueStoreError> {
    if !store.names()?.iter().any(|existing| existing == name) {
        return Ok(0);
    }
    let queue = store.queue(name)?;
    let mut moved = 0u64;
    loop {
        let peeked = queue.peek_oldest(MOVE_BATCH)?;
        for corrupt in &peeked.corrupt {
            tracing::warn!("{corrupt}");
        }
        if peeked.records.is_empty() {
            if peeked.corrupt.is_empty() {
                break;
            }
            // Corrupt records were removed (and logged): look again.
            continue;
        }
        let mut seqs = Vec::with_capacity(peeked.records.len());
        for record in &peeked.records {
            log.append(record.event_ts_ns, &record.payload)?;
            seqs.push(record.seq);
        }
        log.flush()?;
        queue.remove(&seqs)?;
        moved += seqs.len() as u64;
    }
    store.drop_queue(name)?;
    store.flush()?;
    if moved > 0 {
        tracing::info!(
            "moved {moved} events of queue {name} from {} to {}",
            store.path().display(),
            log.path().display()
        );
    }
    Ok(moved)
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

    /// A retry queue an earlier version kept in sled is moved into the
    /// backlog log, in order, payloads and timestamps intact, and the sled
    /// queue is dropped; an engine that opens it again finds nothing to move.
    #[tokio::test]
    async fn a_sled_retry_queue_is_moved_into_the_backlog_log() {
        let data = tempfile::tempdir().expect("a temporary directory");
        {
            let store = Store::open(data.path().join("queue"), StoreOptions::default())
                .expect("the sled store");
            let retry = store.queue("old.1.retry").expect("a sled queue");
            for i in 0..2_500i64 {
                retry
                    .push(1_000 + i, format!("event {i}").as_bytes())
                    .expect("a push");
            }
            let other = store.queue("other.1.retry").expect("a sled queue");
            other.push(7, b"someone else's").expect("a push");
            store.flush().expect("flushed");
        }
        let store = QueueStore::open(data.path(), Duration::from_millis(1), false)
            .await
            .expect("the store opens");
        let queues = store.plugin_queues("old.1", false).await.expect("queues");
        assert_eq!(queues.retry.len(), 2_500);
        let peeked = queues.retry.peek_from(0, 3_000).expect("a peek");
        assert_eq!(peeked.records.len(), 2_500);
        for (i, record) in peeked.records.iter().enumerate() {
            assert_eq!(record.event_ts_ns, 1_000 + i as i64);
            assert_eq!(record.payload, format!("event {i}").as_bytes());
        }
        let names = store.store.names().expect("names");
        assert!(!names.contains(&"old.1.retry".to_owned()), "{names:?}");
        assert!(names.contains(&"other.1.retry".to_owned()), "left alone");
        assert!(data.path().join("backlog").join("old.1.retry").is_dir());
        // The moved records are on disk: a second engine reads them back.
        drop(queues);
        let queues = store.plugin_queues("old.1", false).await.expect("queues");
        assert_eq!(queues.retry.len(), 2_500);
        let unclaimed = store
            .unclaimed(&["old.1".to_owned()])
            .await
            .expect("unclaimed");
        assert_eq!(unclaimed, vec![("other.1.retry".to_owned(), 1)]);
    }
}
