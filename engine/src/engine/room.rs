//! Room in the engine, for producers that can leave events where they are
//! (a broker source): they wait until every notifier can take a batch at
//! once, instead of publishing into a full mailbox and making the engine
//! spill (or, past `retry_queue_max_size`, drop) what they could have
//! left on the broker.

use super::Engine;
use std::time::Duration;

/// How often a full engine is looked at again. Polled rather than queued
/// for on the mailbox's semaphore: a waiter for many permits there would
/// hold up the producers behind it that want one.
const POLL: Duration = Duration::from_millis(10);

impl Engine {
    /// Returns once every notifier has room for `events` more events in its
    /// mailbox (at most the whole mailbox) and nothing waiting in its spill
    /// queue. Another producer may take the room first; the engine's usual
    /// rules (wait, then spill) apply to what does not fit then.
    pub async fn wait_for_room(&self, events: usize) {
        let wanted = events.clamp(1, self.settings.mailbox_capacity.max(1));
        loop {
            let full = self.notifiers.iter().any(|notifier| {
                notifier.handle.admission.available_permits() < wanted
                    || notifier.handle.ledger.spilling()
            });
            if !full {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
