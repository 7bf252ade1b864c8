//! Stopping: one shutdown signal for the whole plugin, and the OS signals.
//!
//! Three things stop a plugin gracefully: the host's `plugin.GRPCController`
//! `Shutdown` call, SIGTERM, and the plugin itself through a
//! [`ShutdownHandle`]. They all trip the same latch; the server then stops
//! accepting, ends the long-lived broker and stdio streams (otherwise a
//! graceful stop would wait for them forever), lets in-flight RPCs finish
//! within a grace period, and `serve` returns.
//!
//! SIGINT is ignored, as go-plugin servers do ("eat the interrupts"): a Ctrl-C
//! in a terminal reaches the whole process group, and the host, not the
//! plugin, decides when the plugin stops.

use std::future::Future;
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::error::ServeError;

/// Asks a serving plugin to stop gracefully; cheap to clone. Get one from
/// [`PluginServer::shutdown_handle`](crate::PluginServer::shutdown_handle).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    latch: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    pub(crate) fn new() -> Self {
        ShutdownHandle {
            latch: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Starts a graceful stop; `reason` is logged once, by the first caller.
    pub fn shutdown(&self, reason: &str) {
        if !self.latch.send_replace(true) {
            tracing::info!(reason, "plugin shutting down");
        }
    }

    /// Whether a stop has been asked for.
    pub fn is_shutting_down(&self) -> bool {
        *self.latch.borrow()
    }

    /// Completes once a stop has been asked for.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.latch.subscribe();
        async move {
            // An error means the sender is gone, which also means "stop".
            let _ = receiver.wait_for(|stopping| *stopping).await;
        }
    }
}

/// Ignores SIGINT (logging each at debug) and turns SIGTERM into a graceful stop.
pub(crate) fn install_signal_handlers(shutdown: &ShutdownHandle) -> Result<(), ServeError> {
    let mut interrupts = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
    let mut terminations = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
    tokio::spawn(async move {
        let mut count: u64 = 0;
        while interrupts.recv().await.is_some() {
            count += 1;
            tracing::debug!(count, "plugin received interrupt signal, ignoring");
        }
    });
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        if terminations.recv().await.is_some() {
            shutdown.shutdown("SIGTERM");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_wake_on_shutdown_including_late_ones() {
        let handle = ShutdownHandle::new();
        let early = handle.wait();
        assert!(!handle.is_shutting_down());
        let clone = handle.clone();
        tokio::spawn(async move { clone.shutdown("test") });
        tokio::time::timeout(Duration::from_secs(5), early)
            .await
            .unwrap();
        assert!(handle.is_shutting_down());
        tokio::time::timeout(Duration::from_secs(5), handle.wait())
            .await
            .unwrap();
    }
}
