//! The Plexus event pipeline, on actix.
//!
//! Events enter through the [`Router`](router::Router), which holds the
//! notifier filters precompiled into a [`RoutingTable`](filter::RoutingTable)
//! and hands the shared event to the mailbox of every matching
//! [`NotifierActor`](notifier::NotifierActor), waiting (bounded) while a
//! mailbox is full. From there the [delivery core](delivery) owns the
//! event's fate: a bounded number of events and calls in flight to the
//! plugin (in batches bounded by count and bytes when the plugin serves
//! Plexus's batch extension), SFTPGo's retry rule on every failure, the
//! re-drive of the retry queue every interval and after a restart, and the
//! spill queue for a stalled plugin, drained as soon as it has room. The
//! [`Supervisor`](supervisor::Supervisor) restarts plugin processes that
//! exit and hands the new connection to the actor.
//!
//! The actors reach plugins through [`NotifierTransport`](transport::NotifierTransport)
//! and queues through [`RecordQueue`](queue::RecordQueue), two small traits:
//! the engine plugs in the tonic client and the storage queues, tests and
//! benchmarks plug in in-process fakes.

pub mod counters;
pub mod delivery;
pub mod event;
pub mod filter;
pub mod histogram;
pub mod notifier;
pub mod queue;
pub mod router;
pub mod service;
pub mod supervisor;
pub mod transport;

pub use counters::{CounterSnapshot, PluginCounters};
pub use delivery::{Durability, RetryPolicy};
pub use event::Event;
pub use filter::{NotifierFilter, RoutingTable};
