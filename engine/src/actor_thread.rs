//! The thread the engine's actors live on.
//!
//! actix actors need a running actix system; an embedding program has its
//! own tokio runtime. So the engine runs one actix system on a thread of its
//! own and creates actors there by sending closures to its arbiter.
//! Addresses (`Addr`) are `Send`, so the program talks to the actors from
//! any runtime.

use actix::prelude::*;
use std::thread::JoinHandle;

/// Why the actor thread could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ActorThreadError {
    #[error("cannot start the actor thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the actor thread stopped before it was ready")]
    NotReady,
    #[error("the actor thread is gone")]
    Gone,
    #[error("the actor thread dropped the request")]
    Dropped,
}

pub struct ActorThread {
    system: actix::System,
    arbiter: actix::ArbiterHandle,
    thread: Option<JoinHandle<()>>,
}

impl ActorThread {
    /// Starts the actix system thread.
    pub async fn start() -> Result<ActorThread, ActorThreadError> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("plexus-actors".into())
            .spawn(move || {
                let system = actix::System::new();
                system.block_on(async move {
                    let _ = ready_tx.send((actix::System::current(), actix::Arbiter::current()));
                });
                if let Err(err) = system.run() {
                    tracing::error!("the actor system stopped with an error: {err}");
                }
            })
            .map_err(ActorThreadError::Spawn)?;
        let (system, arbiter) = ready_rx.await.map_err(|_| ActorThreadError::NotReady)?;
        Ok(ActorThread {
            system,
            arbiter,
            thread: Some(thread),
        })
    }

    /// Runs `make` on the actor thread (where `Actor::start` works) and
    /// returns what it made.
    pub async fn run<T: Send + 'static>(
        &self,
        make: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ActorThreadError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.arbiter.spawn_fn(move || {
            let _ = tx.send(make());
        }) {
            return Err(ActorThreadError::Gone);
        }
        rx.await.map_err(|_| ActorThreadError::Dropped)
    }

    /// Starts an actor on the actor thread.
    pub async fn start_actor<A>(&self, actor: A) -> Result<Addr<A>, ActorThreadError>
    where
        A: Actor<Context = Context<A>> + Send,
    {
        self.run(move || actor.start()).await
    }

    /// Stops the system and waits for the thread to end.
    pub async fn stop(mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
