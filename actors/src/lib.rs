//! The Plexus event pipeline, on actix.
//!
//! Events enter through the [`Router`](router::Router), which holds the
//! notifier filters precompiled into a [`RoutingTable`](filter::RoutingTable)
//! and hands the shared event to the mailbox of every matching
//! [`NotifierActor`](notifier::NotifierActor). Each notifier actor keeps a
//! bounded number of events and calls in flight to its plugin (in batches
//! when the plugin serves Plexus's batch extension); what fails goes to that
//! plugin's durable queue under the retry policy, and the
//! [`RetryDriver`](retry::RetryDriver) re-drives the queues on a timer. The
//! [`Supervisor`](supervisor::Supervisor) restarts plugin processes that exit
//! and hands the new connection to the actor.
//!
//! The actors reach plugins through [`NotifierTransport`](transport::NotifierTransport)
//! and queues through [`RecordQueue`](queue::RecordQueue), two small traits:
//! the engine plugs in the tonic client and the sled queue, tests and
//! benchmarks plug in in-process fakes.

pub mod counters;
pub mod event;
mod failure;
pub mod filter;
mod lane;
pub mod notifier;
pub mod policy;
pub mod queue;
mod redrive;
pub mod retry;
pub mod router;
pub mod service;
pub mod supervisor;
pub mod transport;

pub use counters::{CounterSnapshot, PluginCounters};
pub use event::Event;
pub use filter::{NotifierFilter, RoutingTable};
pub use policy::{Durability, RetryPolicy};
