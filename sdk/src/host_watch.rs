//! Stops the plugin when its host disappears.
//!
//! A go-plugin server does not notice that the process that started it died
//! (SFTPGo works around it by killing stale processes by path at its next
//! start). A plugin built with the SDK checks its parent process id once a
//! second: when the host is gone (killed with SIGKILL, crashed), the plugin
//! is re-parented, and it stops gracefully instead of lingering as an orphan.

use crate::shutdown::ShutdownHandle;
use std::time::Duration;

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Watches the parent process in the background.
pub fn spawn(shutdown: &ShutdownHandle) {
    // SAFETY: getppid has no preconditions and cannot fail.
    let host = unsafe { libc::getppid() };
    if host <= 1 {
        // Started by init or a subreaper: there is no host to watch.
        return;
    }
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(CHECK_EVERY);
        loop {
            ticker.tick().await;
            if shutdown.is_shutting_down() {
                return;
            }
            // SAFETY: as above.
            let parent = unsafe { libc::getppid() };
            if parent != host {
                tracing::warn!(host_pid = host, "the host process is gone; stopping");
                shutdown.shutdown("the host process exited");
                return;
            }
        }
    });
}
