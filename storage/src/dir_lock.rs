//! Waiting for sled to release a data directory's lock after close.
//!
//! Exists because sled 0.34 locks `<dir>/db` with `flock` and its background
//! I/O threads can keep the file open for a moment after the last `Db`
//! handle is dropped: a `Store::open` of the same directory right after a
//! close (a restart inside one process, or a test) would then fail with
//! `Locked`. Dropping the last store handle instead waits, polling with a
//! deadline, until the lock can be taken, so a closed store is really closed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file sled locks inside the data directory.
const SLED_LOCK_FILE: &str = "db";
/// The longest a drop waits.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// The polling interval.
const POLL: Duration = Duration::from_millis(1);

/// Drop it after the `sled::Db`: the drop returns once the lock is free (or
/// after [`MAX_WAIT`]).
pub(crate) struct WaitForRelease {
    lock_file: PathBuf,
}

impl WaitForRelease {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            lock_file: dir.join(SLED_LOCK_FILE),
        }
    }
}

impl Drop for WaitForRelease {
    fn drop(&mut self) {
        wait_until_unlocked(&self.lock_file, MAX_WAIT);
    }
}

/// Polls until an exclusive `flock` on `file` can be taken (then releases it
/// at once), the file cannot be opened, or `max_wait` passed.
#[cfg(unix)]
fn wait_until_unlocked(file: &Path, max_wait: Duration) {
    use std::os::unix::io::AsRawFd;

    let Ok(handle) = std::fs::File::open(file) else {
        return;
    };
    let fd = handle.as_raw_fd();
    let deadline = Instant::now() + max_wait;
    loop {
        // SAFETY: `fd` is a valid open descriptor owned by `handle`, which
        // outlives these calls; flock has no memory-safety preconditions.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            // SAFETY: as above.
            unsafe { libc::flock(fd, libc::LOCK_UN) };
            return;
        }
        let err = std::io::Error::last_os_error();
        let busy = err.raw_os_error() == Some(libc::EWOULDBLOCK)
            || err.kind() == std::io::ErrorKind::Interrupted;
        if !busy || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(not(unix))]
fn wait_until_unlocked(_file: &Path, _max_wait: Duration) {}
