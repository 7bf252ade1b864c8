//! Typed errors of the storage crate.
//!
//! Exists so that callers can react to the cases that matter (a locked
//! directory, a full queue, a failed flush) by matching, and so that every
//! message names the data directory and, where there is one, the queue.
//! Corrupt records are not errors of an operation: they are skipped and
//! reported as [`CorruptRecord`] values next to the good records.

use std::path::PathBuf;

use crate::record::{DecodeError, Seq};

/// A `Result` with [`StorageError`].
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Another process (or another `Store` in this process) holds the
    /// directory open; sled takes an exclusive lock on it.
    #[error(
        "storage directory {} is locked: another process holds it open (sled could not acquire \
         its lock); stop that process or use another data directory",
        .path.display()
    )]
    Locked { path: PathBuf },

    /// The directory could not be opened for another reason.
    #[error("cannot open storage directory {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },

    /// The group-commit flusher thread could not be started.
    #[error("cannot start the flusher thread for storage directory {}: {source}", .path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A queue name that cannot be used.
    #[error("invalid queue name {name:?}: {reason}")]
    InvalidQueueName { name: String, reason: &'static str },

    /// sled failed an operation on one queue.
    #[error("queue {queue:?} in {}: {op} failed: {source}", .path.display())]
    Queue {
        path: PathBuf,
        queue: String,
        op: &'static str,
        #[source]
        source: sled::Error,
    },

    /// sled failed an operation on the store as a whole.
    #[error("storage directory {}: {op} failed: {source}", .path.display())]
    Store {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: sled::Error,
    },

    /// The count bound would be exceeded. Nothing of the push was written.
    #[error(
        "queue {queue:?} is full: it holds {len} of at most {max_len} records, {requested} \
         offered, {fits} would fit; nothing was written"
    )]
    QueueFull {
        queue: String,
        max_len: u64,
        len: u64,
        requested: u64,
        /// How many records would have been accepted (a batch of at most
        /// this many succeeds if nothing else is pushed meanwhile).
        fits: u64,
    },

    /// A payload too large for the record format (over 4 GiB).
    #[error("queue {queue:?}: payload of {len} bytes is too large (the maximum is 4 GiB - 1)")]
    PayloadTooLarge { queue: String, len: usize },

    /// The queue was dropped with [`crate::Store::drop_queue`]; this handle
    /// is dead (open the queue again to get a new, empty one).
    #[error("queue {queue:?} in {} was dropped", .path.display())]
    QueueDropped { path: PathBuf, queue: String },

    /// A [`crate::LogQueue`] directory is held by another process (or
    /// another open `LogQueue` in this process): its `LOCK` file is locked.
    #[error(
        "log queue directory {} is locked: another process (or another LogQueue in this \
         process) holds it open; stop that process or use another directory",
        .path.display()
    )]
    LogLocked { path: PathBuf },

    /// A [`crate::LogQueue`] holds as many unwritten bytes as
    /// [`crate::LogOptions::max_unwritten_bytes`] allows (the disk is full
    /// or failing, or slower than the appends): the append was refused and
    /// nothing of it was queued.
    #[error(
        "log queue {}: {unwritten} bytes are waiting to be written (at most {max}){}; the append \
         was refused",
        .path.display(),
        .last_write_error.as_deref().map(|e| format!(", and the last write failed: {e}")).unwrap_or_default()
    )]
    LogBacklogFull {
        path: PathBuf,
        unwritten: u64,
        max: u64,
        last_write_error: Option<String>,
    },

    /// A file operation of a [`crate::LogQueue`] failed.
    #[error("log queue {}: {op} failed: {source}", .path.display())]
    LogIo {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Every sequence number up to [`crate::MAX_SEQ`] has been assigned;
    /// nothing was written. Unreachable in practice; reached only from
    /// corrupt or crafted data that slipped past the checks at open.
    #[error(
        "{queue} in {}: the sequence numbers are exhausted (the next would be above {max}); \
         nothing was written",
        .path.display(),
        max = crate::MAX_SEQ
    )]
    SequenceExhausted { path: PathBuf, queue: String },

    /// A directory or file could not be made owner-only (`0700` / `0600`).
    #[error("cannot make {} owner-only (directories 0700, files 0600): {source}", .path.display())]
    NotPrivate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The group flush (sled `flush`) failed. The writes it covered are
    /// applied and readable in this process but may not survive a crash.
    #[error(
        "flush of storage directory {} failed: {message}; writes since the last successful \
         flush may not survive a crash",
        .path.display()
    )]
    FlushFailed { path: PathBuf, message: String },
}

/// A stored record that could not be read; it was removed from its queue
/// and counted in [`crate::Queue::corrupt_skipped`]. Its `Display` is a
/// complete warning line for the caller's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "queue {queue:?}: skipped and removed a corrupt record ({}, {stored_len} bytes): {reason}",
    describe_key(.seq, .key)
)]
pub struct CorruptRecord {
    /// The queue it was in.
    pub queue: String,
    /// Its sequence number, when the key is a valid one.
    pub seq: Option<Seq>,
    /// Its raw key.
    pub key: Vec<u8>,
    /// How many bytes its value had.
    pub stored_len: usize,
    /// What is wrong with it.
    pub reason: DecodeError,
}

fn describe_key(seq: &Option<Seq>, key: &[u8]) -> String {
    match seq {
        Some(seq) => format!("seq {seq}"),
        None => format!("raw key {key:02x?}"),
    }
}
