//! Engine-wide settings: where the queue lives, how often queues are
//! re-driven, how durable an accepted event is, and the limits that keep
//! memory bounded. Every field has a default a newcomer can run with.

use plexus_actors::notifier::NotifierSettings;
use plexus_actors::supervisor::Backoff;
use plexus_actors::{Durability, RetryPolicy};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The durable queues live in `<data_dir>/queue`.
    pub data_dir: PathBuf,
    /// How often failed events are re-driven (SFTPGo: 30 s).
    pub retry_interval: Duration,
    pub durability: Durability,
    /// Deadline of every plugin call (SFTPGo: 20 s).
    pub rpc_timeout: Duration,
    /// Per-notifier mailbox size before events overflow to the queue.
    pub mailbox_capacity: usize,
    /// Per-notifier events in flight at most (handed to the plugin, not yet
    /// acknowledged or queued). With `write_ahead`, also the most events a
    /// host crash delivers twice.
    pub max_in_flight: usize,
    /// Per-notifier calls in flight at most: one event each for SFTPGo's
    /// unary service; plugins with the batch extension get fewer, fuller
    /// calls (4 batches of up to 256 events).
    pub max_calls_in_flight: usize,
    /// Router mailbox: how many publishes may wait before producers wait.
    pub router_mailbox: usize,
    /// Longest time a queue append waits to share a flush with others.
    pub max_flush_delay: Duration,
    pub restart_backoff: Backoff,
    /// Deny connections while an IP filter plugin is down (SFTPGo allows them).
    pub ipfilter_fail_closed: bool,
    /// With `write_ahead`: also fdatasync the write-ahead log at every
    /// group commit, so accepted events survive a power loss too (a disk
    /// round trip per commit). Off: they survive a host crash.
    pub write_ahead_fsync: bool,
    /// Deliver in batches to plugins that serve Plexus's batch extension
    /// (`plexus.v1.NotifierBatch`); others always get one event per call.
    pub batch_deliveries: bool,
    pub host: crate::HostOptions,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            data_dir: PathBuf::from(".plexus"),
            retry_interval: plexus_actors::retry::DEFAULT_INTERVAL,
            durability: Durability::OnFailure,
            rpc_timeout: crate::clients::DEFAULT_RPC_TIMEOUT,
            mailbox_capacity: 1024,
            max_in_flight: 1024,
            max_calls_in_flight: 128,
            router_mailbox: 1024,
            max_flush_delay: Duration::from_millis(2),
            restart_backoff: Backoff::default(),
            ipfilter_fail_closed: false,
            write_ahead_fsync: false,
            batch_deliveries: true,
            host: crate::HostOptions::default(),
        }
    }
}

impl EngineSettings {
    /// The actor settings of one notifier.
    pub fn notifier(&self, name: &str, policy: RetryPolicy) -> NotifierSettings {
        NotifierSettings {
            mailbox_capacity: self.mailbox_capacity,
            max_in_flight: self.max_in_flight,
            max_calls_in_flight: self.max_calls_in_flight,
            durability: self.durability,
            ..NotifierSettings::new(name, policy)
        }
    }
}
