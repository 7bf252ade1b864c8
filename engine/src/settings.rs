//! Engine-wide settings: where the queue lives, how often queues are
//! re-driven, how durable an accepted event is, and the limits that keep
//! memory bounded. Every field has a default a newcomer can run with.

use plexus_actors::notifier::NotifierSettings;
use plexus_actors::supervisor::{Backoff, HealthCheck};
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
    /// Per-notifier mailbox size: events waiting for a free in-flight slot
    /// before producers wait.
    pub mailbox_capacity: usize,
    /// How long a producer waits for room in a full mailbox before the
    /// event goes to that plugin's spill queue (drained as soon as the
    /// plugin has room), so a stalled plugin does not stop the others.
    pub overflow_wait: Duration,
    /// Bytes one batch call carries at most; a larger event goes alone on
    /// SFTPGo's unary service. Below every plugin's receive limit (gRPC's
    /// default is 4 MiB).
    pub max_batch_bytes: usize,
    /// Largest reply the host accepts from a plugin, in bytes (every plugin
    /// type; above it the call fails naming this setting). SFTPGo's host
    /// allows 2 GiB; 64 MiB by default here.
    pub max_reply_bytes: usize,
    /// The ingestion API: most events in one `PublishBatch`.
    pub ingest_max_batch: usize,
    /// The ingestion API: largest request message, in bytes.
    pub ingest_max_message_bytes: usize,
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
    /// How often each plugin's health is checked, and after how many failed
    /// checks in a row a plugin that hangs is killed and restarted
    /// (10 s and 3 by default).
    pub health_check: HealthCheck,
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
            retry_interval: plexus_actors::delivery::DEFAULT_RETRY_INTERVAL,
            durability: Durability::OnFailure,
            rpc_timeout: crate::clients::DEFAULT_RPC_TIMEOUT,
            mailbox_capacity: 1024,
            overflow_wait: plexus_actors::router::DEFAULT_OVERFLOW_WAIT,
            max_batch_bytes: plexus_actors::delivery::DEFAULT_MAX_BATCH_BYTES,
            max_reply_bytes: crate::clients::DEFAULT_MAX_REPLY_BYTES,
            ingest_max_batch: 10_000,
            ingest_max_message_bytes: 16 * 1024 * 1024,
            max_in_flight: 1024,
            max_calls_in_flight: 128,
            router_mailbox: 1024,
            max_flush_delay: Duration::from_millis(2),
            restart_backoff: Backoff::default(),
            health_check: HealthCheck::default(),
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
            max_batch_bytes: self.max_batch_bytes,
            retry_interval: self.retry_interval,
            durability: self.durability,
            ..NotifierSettings::new(name, policy)
        }
    }
}
