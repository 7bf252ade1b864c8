//! The store: one sled database per data directory, one tree per queue.
//!
//! Exists to own what queues share: the sled database (and its directory
//! lock), the group-commit flusher (one `sled::Db::flush` covers every tree,
//! so one flusher serves every queue of the directory), and the registry that
//! makes every handle to the same queue name share one in-memory state
//! (sequence counter, length, write lock).

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use crate::error::{Result, StorageError};
use crate::group_commit::GroupCommit;
use crate::progress::SledProgress;
use crate::queue::{Queue, QueueShared};

/// The prefix sled reserves for its own trees (`__sled__default`).
const SLED_RESERVED_PREFIX: &str = "__sled__";
/// The longest queue name accepted, in bytes.
pub const MAX_QUEUE_NAME_LEN: usize = 255;

/// How a [`Store`] is opened. Build it with [`StoreOptions::default`] and the
/// setters.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    max_flush_delay: Duration,
    cache_capacity_bytes: u64,
    sled_flush_every_ms: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_flush_delay: Duration::from_millis(2),
            cache_capacity_bytes: 64 * 1024 * 1024,
            sled_flush_every_ms: Some(500),
        }
    }
}

impl StoreOptions {
    /// The longest the flusher waits, after the first write that needs a
    /// flush, for more writes to share that flush. Default 2 ms. It waits
    /// less when it can: as soon as as many writers are waiting for the next
    /// flush (in a push or a flush, or awaiting a `flush_async`) as the
    /// previous flush served (so a lone writer is not delayed); and the
    /// whole delay when nobody waits (deferred writes only). Zero flushes at
    /// once (writes arriving during a flush still share the next one).
    pub fn max_flush_delay(mut self, delay: Duration) -> Self {
        self.max_flush_delay = delay;
        self
    }

    /// sled's page cache size (an upper bound). Default 64 MiB.
    pub fn cache_capacity_bytes(mut self, bytes: u64) -> Self {
        self.cache_capacity_bytes = bytes;
        self
    }

    /// sled's own background sync period (the `fsync` that makes flushed data
    /// survive a power loss). Default 500 ms, sled's default. `None` disables
    /// it: then only process crashes are covered, never power loss.
    pub fn sled_flush_every_ms(mut self, every_ms: Option<u64>) -> Self {
        self.sled_flush_every_ms = every_ms;
        self
    }

    /// The configured gathering delay.
    pub fn get_max_flush_delay(&self) -> Duration {
        self.max_flush_delay
    }
}

/// How a queue is bounded. `max_len` 0 means unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// The most records the queue holds; a push that would exceed it fails
    /// with [`StorageError::QueueFull`]. 0: unbounded.
    pub max_len: u64,
}

impl QueueOptions {
    /// A queue bounded to `max_len` records (0: unbounded).
    pub fn max_len(max_len: u64) -> Self {
        Self { max_len }
    }
}

/// An open data directory. Cheap to clone; the database closes when the last
/// clone and the last [`Queue`] handle are dropped: that drop makes a final
/// flush and returns once the directory can be opened again (sled's
/// background threads can hold its lock for a moment after the database is
/// dropped; the drop waits for them, up to 5 s).
///
/// Every method except [`Store::flush_async`] may block on disk I/O: call
/// them from a dedicated thread or `spawn_blocking`, never from an async
/// executor's worker.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

pub(crate) struct StoreInner {
    pub(crate) path: PathBuf,
    // Field order is drop order, and it matters: the flusher thread (which
    // holds a clone of `db`) makes its last flush and stops; the queues'
    // sled trees go; then `db`; and last `_released` waits until sled's
    // background threads have let go of the directory lock.
    pub(crate) commit: GroupCommit,
    /// sled writes and flushes in progress (see `progress.rs`).
    pub(crate) progress: Arc<SledProgress>,
    queues: Mutex<HashMap<String, Arc<QueueShared>>>,
    pub(crate) db: sled::Db,
    _released: crate::dir_lock::WaitForRelease,
    // After sled let go of the directory: narrows what it created since the
    // open (blobs, snapshots) to 0600, so the directory at rest is private.
    _narrowed: crate::private::NarrowOnClose,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating it if needed) the data directory `dir`, made `0700`
    /// with the files sled created in it `0600` (see `private.rs`).
    ///
    /// Fails with [`StorageError::Locked`] if another process (or another
    /// `Store` in this process) has it open.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = dir.as_ref().to_path_buf();
        let not_private = |source| StorageError::NotPrivate {
            path: path.clone(),
            source,
        };
        crate::private::create_private_dir(&path).map_err(not_private)?;
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(options.sled_flush_every_ms)
            .open()
            .map_err(|source| open_error(&path, source))?;
        crate::private::narrow_tree(&path).map_err(not_private)?;
        let progress = Arc::new(SledProgress::new());
        let flusher_progress = Arc::clone(&progress);
        let flusher_db = db.clone();
        let commit = GroupCommit::start(
            path.clone(),
            options.max_flush_delay,
            Box::new(move || {
                flusher_progress
                    .watch(|| flusher_db.flush())
                    .map(|_bytes| ())
                    .map_err(|e| e.to_string())
            }),
        )?;
        Ok(Store {
            inner: Arc::new(StoreInner {
                _released: crate::dir_lock::WaitForRelease::new(&path),
                _narrowed: crate::private::NarrowOnClose(path.clone()),
                path,
                commit,
                progress,
                queues: Mutex::new(HashMap::new()),
                db,
            }),
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A handle that tells how long this store's sled writes and flushes
    /// have been stuck (see [`StallWatch`]); it does not keep the store
    /// open.
    pub fn stall_watch(&self) -> StallWatch {
        StallWatch(Arc::downgrade(&self.inner.progress))
    }

    /// The queue `name`, created empty if it does not exist. A queue already
    /// open in this store keeps its bound; a new one is unbounded.
    ///
    /// The first open of a queue in a process counts its records once (O(n));
    /// later calls are cheap.
    pub fn queue(&self, name: &str) -> Result<Queue> {
        self.open_queue(name, None)
    }

    /// The queue `name` with `options` (which replace those of a handle
    /// already open: the latest call wins).
    pub fn queue_with(&self, name: &str, options: QueueOptions) -> Result<Queue> {
        self.open_queue(name, Some(options))
    }

    fn open_queue(&self, name: &str, options: Option<QueueOptions>) -> Result<Queue> {
        validate_name(name)?;
        let mut queues = self.lock_queues();
        let shared = match queues.get(name) {
            Some(shared) => Arc::clone(shared),
            None => {
                let tree = self
                    .inner
                    .db
                    .open_tree(name)
                    .map_err(|source| self.queue_error(name, "open", source))?;
                let shared = Arc::new(QueueShared::load(name, tree, &self.inner.path)?);
                queues.insert(name.to_owned(), Arc::clone(&shared));
                shared
            }
        };
        drop(queues);
        if let Some(options) = options {
            shared.set_max_len(options.max_len);
        }
        Ok(Queue::new(shared, Arc::clone(&self.inner)))
    }

    /// The names of the queues in this directory (open or not), sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .inner
            .db
            .tree_names()
            .iter()
            .filter_map(|raw| std::str::from_utf8(raw).ok())
            .filter(|name| !name.starts_with(SLED_RESERVED_PREFIX))
            .map(str::to_owned)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Deletes the queue `name` and its records. Returns whether it existed.
    /// Handles to it already given out fail with
    /// [`StorageError::QueueDropped`] from then on.
    pub fn drop_queue(&self, name: &str) -> Result<bool> {
        validate_name(name)?;
        let mut queues = self.lock_queues();
        let open = queues.remove(name);
        let _retired = open.as_ref().map(|shared| shared.retire());
        let existed = self
            .inner
            .db
            .drop_tree(name)
            .map_err(|source| self.queue_error(name, "drop", source))?;
        drop(queues);
        self.inner.commit.request();
        Ok(existed)
    }

    /// Blocks until every write made through this store so far is flushed
    /// (shares the flush with concurrent writers).
    pub fn flush(&self) -> Result<()> {
        let ticket = self.inner.commit.current();
        self.inner.commit.wait(ticket)
    }

    /// [`Store::flush`] without blocking: see [`crate::Queue::flush_async`].
    pub fn flush_async(&self) -> impl Future<Output = Result<()>> + Send + Unpin + 'static {
        let ticket = self.inner.commit.current();
        self.inner.commit.wait_async(ticket)
    }

    /// How many group flushes have been performed since open.
    pub fn flush_count(&self) -> u64 {
        self.inner.commit.flush_count()
    }

    /// The database's size on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.inner
            .db
            .size_on_disk()
            .map_err(|source| StorageError::Store {
                path: self.inner.path.clone(),
                op: "size_on_disk",
                source,
            })
    }

    fn lock_queues(&self) -> MutexGuard<'_, HashMap<String, Arc<QueueShared>>> {
        self.inner
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn queue_error(&self, name: &str, op: &'static str, source: sled::Error) -> StorageError {
        StorageError::Queue {
            path: self.inner.path.clone(),
            queue: name.to_owned(),
            op,
            source,
        }
    }
}

/// Tells, from any thread, how long a store's sled writes and flushes have
/// been in progress with none finishing ([`Store::stall_watch`]). A flush
/// takes milliseconds; one that lasts minutes means sled 0.34 has stopped
/// for good (see `progress.rs`), and only a restart of the process helps:
/// what was acknowledged is on disk.
#[derive(Debug, Clone)]
pub struct StallWatch(Weak<SledProgress>);

impl StallWatch {
    /// How long sled writes and flushes have been in progress with none
    /// finishing; `None` when none is in progress or the store is closed.
    pub fn stalled_for(&self) -> Option<Duration> {
        self.0.upgrade()?.stalled_for()
    }

    /// Whether the store it watches is closed.
    pub fn store_closed(&self) -> bool {
        self.0.strong_count() == 0
    }
}

/// Maps sled's open failure, recognising its lock failure (an `io::Error`
/// saying "could not acquire lock", from a `WouldBlock` `flock`).
fn open_error(path: &Path, source: sled::Error) -> StorageError {
    if let sled::Error::Io(io) = &source {
        if io.kind() == std::io::ErrorKind::WouldBlock
            || io.to_string().contains("could not acquire lock")
        {
            return StorageError::Locked {
                path: path.to_path_buf(),
            };
        }
    }
    StorageError::Open {
        path: path.to_path_buf(),
        source,
    }
}

fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_QUEUE_NAME_LEN {
        "it is longer than 255 bytes"
    } else if name.starts_with(SLED_RESERVED_PREFIX) {
        "names starting with \"__sled__\" are reserved by sled"
    } else if name.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(StorageError::InvalidQueueName {
        name: name.to_owned(),
        reason,
    })
}
