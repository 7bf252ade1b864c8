//! The notifier service: each event becomes a message (`message.rs`) and is
//! published with a 30 s deadline, as the Go plugin does. Unlike the Go
//! plugin, a failed publish does not panic the process: the call fails
//! with UNAVAILABLE (DEADLINE_EXCEEDED on the deadline), so the host's
//! retry queue keeps the event while the publisher reconnects. Under a
//! Plexus host, the SDK's batch extension calls these methods for all the
//! events of a batch at once, so their publishes and confirms overlap.

use crate::brokers::Publisher;
use crate::message::{Encoder, Message};
use plexus_sdk::notifier::{FsEvent, LogEvent, Notifier, ProviderEvent};
use plexus_sdk::{async_trait, Request, Response, Status};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Go plugin's per-publish deadline.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

pub struct PubSubNotifier {
    publisher: Arc<Publisher>,
    encoder: Encoder,
    timeout: Duration,
    warnings: Throttle,
}

/// At most one failure warning a second while a broker is down (every
/// event still gets its own error); the line says how many it stands for.
struct Throttle {
    start: Instant,
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    fn new() -> Self {
        Throttle {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line is due, `n` being the failures it covers.
    fn due(&self) -> Option<u64> {
        let now = self.start.elapsed().as_millis() as u64 + 1_000;
        let last = self.last_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1_000
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Ordering::Relaxed) + 1)
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

impl PubSubNotifier {
    pub fn new(publisher: Arc<Publisher>, encoder: Encoder) -> Self {
        PubSubNotifier {
            publisher,
            encoder,
            timeout: PUBLISH_TIMEOUT,
            warnings: Throttle::new(),
        }
    }

    async fn send(&self, message: Message, what: &str) -> Result<Response<()>, Status> {
        match tokio::time::timeout(self.timeout, self.publisher.publish(&message)).await {
            Ok(Ok(())) => Ok(Response::new(())),
            Ok(Err(err)) => {
                if let Some(failures) = self.warnings.due() {
                    tracing::warn!(event = what, error = %err, failures, "unable to publish the event");
                }
                Err(Status::unavailable(format!(
                    "unable to publish the {what} event: {err}"
                )))
            }
            Err(_) => {
                if let Some(failures) = self.warnings.due() {
                    tracing::warn!(event = what, failures, "publish timed out");
                }
                Err(Status::deadline_exceeded(format!(
                    "the {what} event was not confirmed within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }
}

#[async_trait]
impl Notifier for PubSubNotifier {
    async fn send_fs_event(&self, request: Request<FsEvent>) -> Result<Response<()>, Status> {
        let message = self.encoder.fs(request.get_ref());
        self.send(message, "fs").await
    }

    async fn send_provider_event(
        &self,
        request: Request<ProviderEvent>,
    ) -> Result<Response<()>, Status> {
        let message = self.encoder.provider(request.get_ref());
        self.send(message, "provider").await
    }

    async fn send_log_event(&self, request: Request<LogEvent>) -> Result<Response<()>, Status> {
        let message = self.encoder.log(request.get_ref());
        self.send(message, "log").await
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;

    #[test]
    fn one_warning_a_second_counting_the_rest() {
        let throttle = Throttle::new();
        assert_eq!(throttle.due(), Some(1));
        assert_eq!(throttle.due(), None);
        assert_eq!(throttle.due(), None);
        // A second later the next line stands for itself and the two above.
        throttle
            .last_ms
            .fetch_sub(1_000, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(throttle.due(), Some(3));
    }
}
