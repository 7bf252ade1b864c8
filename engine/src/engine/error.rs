//! Why the engine could not start, could not accept an event, or could not
//! answer a request: one error type for the embedding API, each variant
//! carrying its source.

use crate::host::HostError;
use crate::queues::QueueStoreError;
use plexus_actors::router::PublishError;
use plexus_actors::service::CallError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Config(Vec<String>),
    /// A reload applied what it could; these plugins kept their old
    /// process.
    #[error("reload incomplete:\n  {}", .0.join("\n  "))]
    Reload(Vec<String>),
    #[error(transparent)]
    Plugin(#[from] HostError),
    #[error("queue: {0}")]
    Queue(#[from] QueueStoreError),
    #[error("the engine is shutting down")]
    Stopped,
    #[error("event not accepted: {0}")]
    Rejected(#[from] PublishError),
    /// The router's mailbox is full ([`crate::Engine::try_notify`] does not wait).
    #[error("the router's mailbox is full")]
    Busy,
    #[error("actor system: {0}")]
    System(#[from] crate::actor_thread::ActorThreadError),
    /// An actor did not answer (its mailbox closed).
    #[error("{actor} did not answer: {source}")]
    Mailbox {
        actor: &'static str,
        #[source]
        source: actix::MailboxError,
    },
    /// A blocking task on the runtime's pool panicked or was cancelled.
    #[error("{task} task: {source}")]
    Task {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// A thread or runtime the engine needs could not be started.
    #[error("cannot start {what}: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The plugin process records in the data directory.
    #[error("plugin process records in {}: {source}", .dir.display())]
    PidRecords {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No configured plugin serves this request (SFTPGo's wording).
    #[error("{0}")]
    NoPlugin(String),
    /// The plugin could not be called or answered with an error.
    #[error(transparent)]
    Call(#[from] CallError),
    /// An IP filter denied the address.
    #[error("ip {ip} denied by {plugin}: {reason}")]
    Denied {
        ip: String,
        plugin: String,
        reason: String,
    },
}
