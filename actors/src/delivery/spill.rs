//! The spill drainer: sends the events that overflowed a stalled plugin's
//! mailbox as soon as the plugin has room, oldest first.
//!
//! Overflow is backpressure, not failure: a spilled event has not been
//! tried, so it never waits for the retry timer. The drainer takes the
//! actor's in-flight permits like fresh deliveries do, so it runs exactly as
//! fast as the plugin settles events, and pauses while the plugin is down
//! (its events would only fail). Its outcomes settle through the ledger
//! like every other: delivered, or on failure the retry rule.

use super::feed::Feeder;
use super::ledger::Backlog;
use super::Source;

/// Records read from the spill queue at a time.
const READ_CHUNK: usize = 256;

/// Runs until the host closes or the actor is gone.
pub(crate) async fn run(feeder: Feeder) {
    let mut connected = feeder.connected.clone();
    // The next record to send; every record before it is in the lane or gone.
    let mut from = 0u64;
    loop {
        if feeder.ledger.closing() {
            return;
        }
        if !*connected.borrow_and_update() {
            if connected.changed().await.is_err() {
                return;
            }
            // Events sent before the plugin went down fail into the retry
            // queue; the next one not sent is still `from`.
            continue;
        }
        let chunk = match feeder.read(Backlog::Spill, from, READ_CHUNK).await {
            Ok(chunk) => chunk,
            Err(err) => {
                tracing::warn!(
                    plugin = &**feeder.ledger.name(),
                    "[{}] reading the spill queue: {err}; trying again in 1 s",
                    feeder.ledger.name()
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if chunk.events.is_empty() {
            if chunk.discarded > 0 {
                from = chunk.next;
                continue;
            }
            // Caught up: wait for the next spill (or a change of connection).
            tokio::select! {
                _ = feeder.ledger.spill_ready().notified() => {}
                changed = connected.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            continue;
        }
        from = chunk.next;
        // Events admitted to the mailbox before the spill began go first.
        if !feeder.mailbox_empty().await {
            return;
        }
        for (seq, event) in chunk.events {
            if !feeder.connected() || feeder.ledger.closing() {
                from = seq;
                break;
            }
            if !feeder.feed(event, Source::Spilled(seq)).await {
                return;
            }
        }
    }
}
