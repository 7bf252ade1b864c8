//! The delivery core: the one owner of an event's fate at one notifier
//! plugin, from the moment the router hands it over until it is delivered,
//! queued or dropped.
//!
//! An event reaches a plugin by one of three roads, and each road's record
//! is settled by the same code ([`ledger`]):
//!
//! - **fresh**: through the actor's mailbox (with `write_ahead` durability
//!   its record in the write-ahead log travels with it);
//! - **spilled**: the mailbox stayed full past the producer's wait, so the
//!   event waits on disk for its first delivery; the spill drainer
//!   ([`spill`]) sends it as soon as the plugin has room, never on a timer;
//! - **queued**: a delivery failed and [`policy::RetryPolicy::decide`] kept
//!   it; the re-drive ([`redrive`]) sends every queued event again every
//!   retry interval and right after a plugin (re)start.
//!
//! All three go through one delivery lane ([`lane`]), which keeps a
//! bounded number of calls in flight and batches by count and bytes; every
//! outcome goes back to the ledger, the only code that writes or removes a
//! queue record. [`settle`] runs the ledger's disk work off the async
//! threads and releases an event's in-flight permit only once its fate is
//! durable.

pub(crate) mod feed;
pub(crate) mod lane;
pub mod ledger;
pub mod policy;
pub(crate) mod redrive;
pub(crate) mod settle;
pub(crate) mod spill;

use crate::event::Event;
use crate::queue::RecordQueue;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

pub use ledger::Ledger;
pub use policy::{Cause, Decision, DropReason, Durability, RetryPolicy};

/// SFTPGo's re-drive interval.
pub const DEFAULT_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The most bytes one batch call carries by default: gRPC's default receive
/// limit (4 MiB, what every Go plugin and tonic server accepts) minus
/// headroom for framing.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 * 1024 * 1024 - 256 * 1024;

/// A plugin's durable queues.
#[derive(Clone)]
pub struct PluginQueues {
    /// Events whose delivery failed and that the retry rule kept.
    pub retry: Arc<dyn RecordQueue>,
    /// Events that overflowed a stalled plugin and wait for their first
    /// delivery (and events cut short by a shutdown).
    pub spill: Arc<dyn RecordQueue>,
    /// With `write_ahead` durability, every event accepted and not yet
    /// settled.
    pub write_ahead: Arc<dyn RecordQueue>,
}

/// Deliver one event (the router's message to a notifier actor).
pub struct Deliver {
    pub(crate) event: Arc<Event>,
    /// Its record in the write-ahead log.
    pub(crate) ahead: Option<u64>,
    /// Held while the message sits in the mailbox: the router's bound on
    /// the mailbox, returned when the actor takes the message.
    pub(crate) admission: Option<OwnedSemaphorePermit>,
}

impl actix::Message for Deliver {
    type Result = ();
}

impl Deliver {
    /// An event for a notifier actor that is used without a router (tests,
    /// benchmarks): no write-ahead record, no mailbox bound.
    pub fn new(event: Arc<Event>) -> Deliver {
        Deliver {
            event,
            ahead: None,
            admission: None,
        }
    }
}

/// Which road an event in the lane came by: it says which record settles
/// with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Fresh { ahead: Option<u64> },
    Spilled(u64),
    Queued(u64),
}

/// An event on its way to the plugin, holding one of the actor's in-flight
/// permits until its fate is durable.
pub(crate) struct Job {
    pub(crate) event: Arc<Event>,
    pub(crate) source: Source,
    /// Its size on the wire, for the batch byte bound.
    pub(crate) wire_len: usize,
    /// Released when the job is dropped, after its fate is durable.
    pub(crate) _permit: OwnedSemaphorePermit,
}

impl Job {
    pub(crate) fn new(event: Arc<Event>, source: Source, permit: OwnedSemaphorePermit) -> Job {
        Job {
            wire_len: wire_len(&event),
            event,
            source,
            _permit: permit,
        }
    }
}

/// An event's size inside a batch request: its protobuf encoding plus the
/// two levels of length-delimited wrapping.
pub(crate) fn wire_len(event: &Event) -> usize {
    use prost::Message;
    let body = match event {
        Event::Fs(e) => e.encoded_len(),
        Event::Provider(e) => e.encoded_len(),
        Event::Log(e) => e.encoded_len(),
    };
    body + 2 * (1 + prost::encoding::encoded_len_varint(body as u64))
}
