//! How an actor reaches its plugin: one small trait, so the actors run
//! against the real tonic client in production and an in-process fake in
//! tests and benchmarks.

use crate::event::Event;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The plugin answered with an error status.
    #[error("plugin returned {code}: {message}")]
    Status { code: String, message: String },
    /// The plugin did not answer within the deadline.
    #[error("no answer within the deadline")]
    Timeout,
    /// The plugin is not running or not reachable.
    #[error("plugin unavailable: {0}")]
    Unavailable(String),
}

impl From<tonic::Status> for DeliveryError {
    fn from(status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::DeadlineExceeded => DeliveryError::Timeout,
            code => DeliveryError::Status {
                code: format!("{code:?}"),
                message: status.message().to_owned(),
            },
        }
    }
}

/// Sends one event to a notifier plugin.
pub trait NotifierTransport: Send + Sync + 'static {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>>;
}
