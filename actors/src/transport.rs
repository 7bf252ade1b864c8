//! How an actor reaches its plugin: one small trait, so the actors run
//! against the real tonic client in production and an in-process fake in
//! tests and benchmarks.

use crate::event::Event;
use futures::future::BoxFuture;
use futures::FutureExt;
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
    /// The host is stopping and cut the delivery short; the event is kept
    /// for the next start (never a failure of the plugin's).
    #[error("the host is stopping")]
    Cancelled,
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

impl DeliveryError {
    /// A batch call answered fewer outcomes than it carried events: the
    /// events without one count as failed (and follow the retry policy).
    pub fn missing_outcome() -> Self {
        DeliveryError::Status {
            code: "Internal".into(),
            message: "the plugin answered fewer results than events".into(),
        }
    }
}

/// The outcome of each of the `count` events of a batch call, in order, from
/// the results the plugin answered (`plexus.v1.NotifierBatchReply`): code 0
/// is a delivery, any other code a failure of that event with the plugin's
/// code and message, and an event the reply has no result for (a short
/// reply) a failure ([`DeliveryError::missing_outcome`]). Results beyond
/// `count` are ignored. Always exactly `count` outcomes, whatever the reply.
pub fn batch_outcomes(
    results: Vec<plexus_proto::plexus::v1::DeliveryResult>,
    count: usize,
) -> Vec<Result<(), DeliveryError>> {
    let mut results = results.into_iter();
    (0..count)
        .map(|_| match results.next() {
            Some(result) if result.code == 0 => Ok(()),
            Some(result) => Err(DeliveryError::Status {
                code: format!("{:?}", tonic::Code::from_i32(result.code)),
                message: result.message,
            }),
            None => Err(DeliveryError::missing_outcome()),
        })
        .collect()
}

/// Sends events to a notifier plugin.
///
/// A transport delivers one event per call ([`deliver`](Self::deliver)),
/// and may also carry several in one call: then it says how many
/// ([`max_batch`](Self::max_batch)) and how many such calls are worth
/// having in flight ([`calls_in_flight`](Self::calls_in_flight)), and the
/// actor hands it whole batches through [`deliver_batch`](Self::deliver_batch).
pub trait NotifierTransport: Send + Sync + 'static {
    /// Delivers one event.
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>>;

    /// The most events one call carries; 1 (the default): one per call.
    fn max_batch(&self) -> usize {
        1
    }

    /// Calls worth keeping in flight at once, when the transport knows
    /// better than the actor's `max_calls_in_flight` (a batching transport
    /// wants a few full calls rather than many small ones). At most the
    /// actor's setting is used either way.
    fn calls_in_flight(&self) -> Option<usize> {
        None
    }

    /// Delivers 1 to [`max_batch`](Self::max_batch) events in one call and
    /// returns one outcome per event, in order. The default delivers each
    /// on its own, concurrently.
    fn deliver_batch(
        &self,
        events: Vec<Arc<Event>>,
    ) -> BoxFuture<'static, Vec<Result<(), DeliveryError>>> {
        let calls: Vec<_> = events
            .into_iter()
            .map(|event| self.deliver(event))
            .collect();
        futures::future::join_all(calls).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_proto::plexus::v1::DeliveryResult;

    fn result(code: i32, message: &str) -> DeliveryResult {
        DeliveryResult {
            code,
            message: message.to_owned(),
        }
    }

    #[test]
    fn batch_outcomes_give_one_outcome_per_event_whatever_the_reply() {
        let reply = vec![result(0, ""), result(14, "down"), result(-7, "odd")];
        let outcomes = batch_outcomes(reply.clone(), 5);
        assert_eq!(outcomes.len(), 5);
        assert_eq!(outcomes[0], Ok(()));
        assert_eq!(
            outcomes[1],
            Err(DeliveryError::Status {
                code: "Unavailable".into(),
                message: "down".into()
            })
        );
        // A code outside gRPC's is a failure too, never a delivery.
        assert!(
            matches!(&outcomes[2], Err(DeliveryError::Status { message, .. }) if message == "odd")
        );
        assert_eq!(outcomes[3], Err(DeliveryError::missing_outcome()));
        assert_eq!(outcomes[4], Err(DeliveryError::missing_outcome()));
        // Results beyond the batch are ignored.
        assert_eq!(batch_outcomes(reply, 1), vec![Ok(())]);
        assert!(batch_outcomes(Vec::new(), 0).is_empty());
    }
}
