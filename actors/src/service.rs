//! One actor per request/response plugin (auth, kms, ipfilter,
//! eventsearcher): its own bounded mailbox, a bounded number of calls in
//! flight, and the plugin's current client (none while it is down).
//!
//! A call is a closure over the typed client, so one actor type serves every
//! service: the engine decides what to call and how to read the answer; the
//! actor decides whether the plugin can be called at all.

use actix::prelude::*;
use futures::future::BoxFuture;
use std::marker::PhantomData;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Why a call did not reach the plugin or what the plugin answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The plugin process is not running (it exited and is being restarted).
    #[error("plugin {plugin} is not running")]
    Down { plugin: String },
    /// The plugin answered with an error status (or did not answer in time).
    #[error("plugin {plugin}: {status}")]
    Status {
        plugin: String,
        status: tonic::Status,
    },
}

/// Replace the client: a restarted plugin's, or `None` while it is down.
pub struct SetClient<C>(pub Option<C>);

impl<C: 'static> Message for SetClient<C> {
    type Result = ();
}

type CallFn<C, R> = Box<dyn FnOnce(C) -> BoxFuture<'static, Result<R, tonic::Status>> + Send>;

/// One call to the plugin, as a closure over its client.
pub struct Call<C, R> {
    call: CallFn<C, R>,
    _answer: PhantomData<fn() -> R>,
}

impl<C, R> Call<C, R> {
    pub fn new(
        call: impl FnOnce(C) -> BoxFuture<'static, Result<R, tonic::Status>> + Send + 'static,
    ) -> Self {
        Call {
            call: Box::new(call),
            _answer: PhantomData,
        }
    }
}

impl<C: 'static, R: 'static> Message for Call<C, R> {
    type Result = Result<R, CallError>;
}

/// The actor of one request/response plugin.
pub struct ServiceActor<C> {
    name: Arc<str>,
    client: Option<C>,
    mailbox_capacity: usize,
    in_flight: Arc<Semaphore>,
}

impl<C> ServiceActor<C> {
    pub fn new(
        name: &str,
        client: Option<C>,
        mailbox_capacity: usize,
        max_in_flight: usize,
    ) -> Self {
        ServiceActor {
            name: Arc::from(name),
            client,
            mailbox_capacity,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }
}

impl<C: Unpin + 'static> Actor for ServiceActor<C> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.mailbox_capacity.max(1));
    }
}

impl<C: Unpin + 'static> Handler<SetClient<C>> for ServiceActor<C> {
    type Result = ();

    fn handle(&mut self, msg: SetClient<C>, _: &mut Context<Self>) {
        self.client = msg.0;
    }
}

impl<C, R> Handler<Call<C, R>> for ServiceActor<C>
where
    C: Clone + Unpin + Send + 'static,
    R: Send + 'static,
{
    type Result = ResponseFuture<Result<R, CallError>>;

    fn handle(&mut self, msg: Call<C, R>, _: &mut Context<Self>) -> Self::Result {
        let plugin = self.name.to_string();
        let Some(client) = self.client.clone() else {
            return Box::pin(async move { Err(CallError::Down { plugin }) });
        };
        let in_flight = self.in_flight.clone();
        Box::pin(async move {
            // The semaphore lives as long as the actor: acquiring cannot fail.
            let _permit = in_flight.acquire_owned().await;
            (msg.call)(client)
                .await
                .map_err(|status| CallError::Status { plugin, status })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[derive(Clone)]
    struct Echo(&'static str);

    #[actix::test]
    async fn calls_reach_the_client_and_fail_cleanly_while_down() {
        let actor = ServiceActor::new("echo", Some(Echo("hi")), 8, 2).start();
        let answer = actor
            .send(Call::new(|client: Echo| {
                async move { Ok::<_, tonic::Status>(client.0.len()) }.boxed()
            }))
            .await
            .unwrap();
        assert_eq!(answer.unwrap(), 2);
        actor.send(SetClient::<Echo>(None)).await.unwrap();
        let down = actor
            .send(Call::new(|_: Echo| {
                async move { Ok::<_, tonic::Status>(0usize) }.boxed()
            }))
            .await
            .unwrap();
        assert!(matches!(down, Err(CallError::Down { .. })));
        let status = actor
            .send(Call::new(|_: Echo| {
                async move { Err::<(), _>(tonic::Status::permission_denied("no")) }.boxed()
            }))
            .await
            .unwrap();
        assert!(matches!(status, Err(CallError::Down { .. })), "still down");
    }
}
