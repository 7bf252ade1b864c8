//! Durable FIFO queues of byte records, bounded by count and age, with
//! group commit: logs of segment files, and queues on sled 0.34.
//!
//! This crate exists so that the engine can keep events it could not deliver
//! (or, in write-ahead mode, events not yet delivered) across plugin and
//! host restarts. It knows nothing about events or plugins: a record is a
//! payload (bytes), the event's own timestamp (unix ns, given by the caller,
//! used by the age bound) and the time it was enqueued.
//!
//! - A [`Store`] is one data directory: one sled database, locked against
//!   other processes ([`StorageError::Locked`]).
//! - A [`Queue`] is one named sled tree in it: FIFO by a sequence number that
//!   only grows, across restarts too; O(1) [`Queue::len`]; bounded by count
//!   ([`QueueOptions::max_len`], checked atomically with the write) and by age
//!   ([`Queue::drop_older_than`]).
//! - A [`LogQueue`] is a queue in a directory of its own: an append-only log
//!   of segment files; its per-record cost is an append to a buffer, written
//!   with one `write(2)` per group commit (see `log_queue/mod.rs` for its
//!   format, durability and recovery). By default the unsettled records
//!   are also kept in memory: the engine's `write_ahead` queue, where every
//!   event is queued and settled within moments. With
//!   [`LogOptions::records_on_disk`] only runs of unsettled seqs and a mark
//!   per 256 records are, and reads go to the segments: the engine's retry
//!   and spill queues, whose memory must not grow with their length.
//! - [`Store::stall_watch`] tells, without keeping the store open, how long
//!   sled's writes and flushes have been in progress with none finishing:
//!   sled 0.34 can stop for good under a heavy write load (see
//!   `progress.rs`), and a caller must be able to say so.
//! - Every directory this crate creates is `0700` and every file `0600`
//!   (see `private.rs`): the queues hold the events, which name users,
//!   paths and addresses.
//! - Every record carries a format version and a CRC-32: a corrupt record is
//!   skipped, removed, counted ([`Queue::corrupt_skipped`]) and reported in
//!   [`PeekResult::corrupt`] for the caller to log; it is never returned and
//!   never panics.
//!
//! # Durability, exactly
//!
//! Writes are applied to sled at once; durability comes from a flush that
//! covers many writes (group commit, see `group_commit.rs`): one flusher
//! thread per store waits at most [`StoreOptions::max_flush_delay`] (default
//! 2 ms; less when every expected writer has arrived) for writes to gather,
//! then calls `sled::Db::flush` once for all of them.
//!
//! - [`Queue::push`] / [`Queue::push_batch`] ([`Durability::Flushed`]) return
//!   `Ok` only after a flush covering the write completed. From then on a
//!   **process crash (`kill -9`, panic, OOM kill) loses nothing**.
//! - sled 0.34's `flush` is **not an fsync**: on Linux it writes the data with
//!   `sync_file_range`, and the real `fsync` runs in sled's background thread
//!   every [`StoreOptions::sled_flush_every_ms`] (default 500 ms). So a
//!   **power loss or kernel crash may lose writes acknowledged within roughly
//!   the last 500 ms**. This crate does not claim more.
//! - [`Queue::push_nowait`] ([`Durability::Deferred`]) returns once applied;
//!   its flush is already scheduled and completes within about
//!   `max_flush_delay` plus one flush. A crash before then may lose it.
//!   [`Queue::flush`] waits for everything written so far.
//! - Removals ([`Queue::remove`], [`Queue::drop_older_than`],
//!   [`Queue::clear`]) are deferred the same way: a crash right after one may
//!   bring records back (redelivery), never lose one.
//! - A batch is atomic: after a crash all or none of its records are there.
//!
//! # Blocking
//!
//! The API is synchronous and blocks on disk I/O and on flushes. Call it from
//! a dedicated thread or `tokio::task::spawn_blocking`, never on an async
//! executor's worker or an actix arbiter. The one exception is the wait for
//! durability: [`Queue::flush_async`] (and [`Store::flush_async`]) return a
//! future that the group-commit flusher wakes, which never blocks, so async
//! code can push with [`Durability::Deferred`] in `spawn_blocking` and await
//! the flush without a blocking-pool thread waiting for it.
//!
//! ```no_run
//! use plexus_storage::{QueueOptions, Store, StoreOptions};
//!
//! # fn main() -> Result<(), plexus_storage::StorageError> {
//! let store = Store::open("/var/lib/plexus/queue", StoreOptions::default())?;
//! let queue = store.queue_with("notifier-1", QueueOptions::max_len(100_000))?;
//! let seq = queue.push(1_700_000_000_000_000_000, b"event bytes")?;
//! let peeked = queue.peek_oldest(100)?;
//! for corrupt in &peeked.corrupt {
//!     eprintln!("warning: {corrupt}");
//! }
//! queue.remove(&[seq])?;
//! # Ok(()) }
//! ```

mod crc32;
mod dir_lock;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod group_commit;
mod log_queue;
mod private;
mod progress;
mod queue;
mod record;
mod store;

pub use error::{CorruptRecord, Result, StorageError};
pub use log_queue::{LogOptions, LogQueue, LogRecovery};
pub use private::{create_private_dir, DIR_MODE, FILE_MODE};
pub use queue::{Durability, PeekResult, Queue};
pub use record::{DecodeError, Record, Seq, FORMAT_VERSION, MAX_SEQ, RECORD_OVERHEAD};
pub use store::{QueueOptions, StallWatch, Store, StoreOptions, MAX_QUEUE_NAME_LEN};
