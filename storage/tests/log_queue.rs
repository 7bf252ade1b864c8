//! The log-structured write-ahead queue with its records in memory: round
//! trips, reopen, segment rotation and deletion, damaged files, async
//! flushes, the directory lock, and a kill -9 of a process that appends,
//! flushes and settles. The cases are in `cases/log_queue.rs`.

mod common;

fn base_options() -> plexus_storage::LogOptions {
    plexus_storage::LogOptions::default()
}

include!("cases/log_queue.rs");
