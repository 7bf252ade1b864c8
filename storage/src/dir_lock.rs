//! Waiting for sled to release a data directory's lock after close.
//!
//! Exists because sled 0.34 locks `<dir>/db` with `flock` and its background
//! I/O threads can keep the file open for a moment after the last `Db`
//! handle is dropped: a `Store::open` of the same directory right after a
//! close (a restart inside one process, or a test) would then fail with
//! `Locked`. Dropping the last store handle instead waits, polling with a
//! deadline, until the lock can be taken, so a closed store is really closed.
//!
//! It also holds [`DirLock`], the lock of the directories this crate manages
//! itself (write-ahead logs), which retries a busy lock for a moment for the
//! same kind of reason: a forked child can hold a released lock briefly.

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

/// An exclusive lock on a directory that this crate manages itself (not
/// through sled): an `flock` on `<dir>/LOCK`, held for as long as the value
/// lives. `flock` locks belong to the open file description, so a second
/// open in the same process conflicts too, and the kernel releases the lock
/// when the process dies (a `kill -9` leaves no stale lock behind).
pub(crate) struct DirLock {
    _file: std::fs::File,
}

/// The file [`DirLock`] locks inside the directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Why [`DirLock::acquire`] failed.
pub(crate) enum LockError {
    /// Another holder has it.
    Busy,
    /// The lock file could not be opened or locked.
    Io(std::io::Error),
}

/// How long [`DirLock::acquire`] keeps trying a busy lock. A process that
/// forks (any `Command::spawn` in the same program) gives the child a copy
/// of every descriptor until the child's `exec` closes it, and an `flock`
/// stays held while any copy is open: a lock released just before such a
/// fork can look busy for a moment. A real other holder is still reported,
/// this much later.
const ACQUIRE_GRACE: Duration = Duration::from_millis(250);

impl DirLock {
    /// Takes the lock, retrying for [`ACQUIRE_GRACE`] while it is busy.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, LockError> {
        Self::acquire_within(dir, ACQUIRE_GRACE)
    }

    fn acquire_within(dir: &Path, grace: Duration) -> Result<Self, LockError> {
        let file = crate::private::private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(LockError::Io)?;
        let deadline = Instant::now() + grace;
        loop {
            match lock_exclusive(&file) {
                Err(LockError::Busy) if Instant::now() < deadline => std::thread::sleep(POLL),
                Err(err) => return Err(err),
                Ok(()) => return Ok(Self { _file: file }),
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_lock_released_within_the_grace_is_taken() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let held = DirLock::acquire(dir.path()).ok().expect("the first lock");
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(held);
        });
        assert!(
            DirLock::acquire_within(dir.path(), Duration::from_secs(5)).is_ok(),
            "the lock was released 50 ms in"
        );
        release.join().expect("the releasing thread");
    }

    #[test]
    fn a_lock_held_past_the_grace_is_busy() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let _held = DirLock::acquire(dir.path()).ok().expect("the first lock");
        let started = Instant::now();
        assert!(matches!(
            DirLock::acquire_within(dir.path(), Duration::from_millis(100)),
            Err(LockError::Busy)
        ));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}

#[cfg(unix)]
fn lock_exclusive(file: &std::fs::File) -> Result<(), LockError> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: the descriptor is valid for the duration of the call (the
        // file outlives it); flock has no memory-safety preconditions.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(LockError::Busy);
        }
        return Err(LockError::Io(err));
    }
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &std::fs::File) -> Result<(), LockError> {
    Ok(())
}
