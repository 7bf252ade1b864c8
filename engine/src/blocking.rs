//! A blocking handle on the engine, for programs that are not async.
//!
//! [`BlockingEngine`] owns a small tokio runtime and runs the engine on it;
//! its methods block the calling thread until the answer is there. Events go
//! in through a [`Bus`]: a bounded crossbeam channel that any thread can
//! send on, drained by one forwarder thread into the engine's router, so a
//! producer thread never touches async code and blocks only while the bus is
//! full (backpressure, not loss).

use crate::config::PluginConfig;
use crate::engine::{Engine, EngineError, PluginStats};
use crate::settings::EngineSettings;
use crossbeam_channel::{Receiver, Sender};
use plexus_proto::sftpgo::{
    CheckUserAndPassRequest, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse,
};
use plexus_proto::Event;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The engine behind blocking calls.
pub struct BlockingEngine {
    engine: Arc<Engine>,
    runtime: tokio::runtime::Runtime,
    forwarders: Vec<(Arc<AtomicBool>, JoinHandle<()>)>,
}

/// A bounded, cloneable, blocking way in for events.
#[derive(Clone)]
pub struct Bus {
    sender: Sender<Event>,
    rejected: Arc<AtomicU64>,
}

/// The bus is closed: the engine was shut down.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the engine is shut down; the event was not accepted")]
pub struct BusClosed(pub Box<Event>);

impl Bus {
    /// Hands an event to the engine; blocks while the bus is full.
    pub fn send(&self, event: Event) -> Result<(), BusClosed> {
        self.sender
            .send(event)
            .map_err(|err| BusClosed(Box::new(err.into_inner())))
    }

    /// Like `send`, but gives up after `timeout`; the event comes back in the error.
    pub fn send_timeout(
        &self,
        event: Event,
        timeout: Duration,
    ) -> Result<(), Box<crossbeam_channel::SendTimeoutError<Event>>> {
        self.sender.send_timeout(event, timeout).map_err(Box::new)
    }

    /// Events the engine refused after they left the bus (logged each time).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

impl BlockingEngine {
    /// Starts the engine on a runtime of its own (two worker threads).
    pub fn start(
        plugins: Vec<PluginConfig>,
        settings: EngineSettings,
    ) -> Result<BlockingEngine, EngineError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("plexus-engine")
            .enable_all()
            .build()
            .map_err(|source| EngineError::Thread {
                what: "a runtime",
                source,
            })?;
        let engine = runtime.block_on(Engine::start(plugins, settings))?;
        Ok(BlockingEngine {
            engine: Arc::new(engine),
            runtime,
            forwarders: Vec::new(),
        })
    }

    /// A bus holding at most `capacity` events on their way in.
    pub fn bus(&mut self, capacity: usize) -> Result<Bus, EngineError> {
        let (sender, receiver) = crossbeam_channel::bounded(capacity.max(1));
        let rejected = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let forwarder = Forwarder {
            engine: self.engine.clone(),
            runtime: self.runtime.handle().clone(),
            receiver,
            rejected: rejected.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("plexus-bus".into())
            .spawn(move || forwarder.run())
            .map_err(|source| EngineError::Thread {
                what: "the bus thread",
                source,
            })?;
        self.forwarders.push((stop, thread));
        Ok(Bus { sender, rejected })
    }

    pub fn notify(&self, event: Event) -> Result<(), EngineError> {
        self.runtime.block_on(self.engine.notify(event)).map(|_| ())
    }

    pub fn check_ip(&self, ip: &str, protocol: &str) -> Result<(), EngineError> {
        self.runtime.block_on(self.engine.check_ip(ip, protocol))
    }

    pub fn check_user_and_pass(
        &self,
        request: CheckUserAndPassRequest,
    ) -> Result<Vec<u8>, EngineError> {
        self.runtime
            .block_on(self.engine.check_user_and_pass(request))
    }

    pub fn kms_encrypt(
        &self,
        request: EncryptRequest,
    ) -> Result<(EncryptResponse, String), EngineError> {
        self.runtime.block_on(self.engine.kms_encrypt(request))
    }

    pub fn kms_decrypt(
        &self,
        status: &str,
        request: DecryptRequest,
    ) -> Result<DecryptResponse, EngineError> {
        self.runtime
            .block_on(self.engine.kms_decrypt(status, request))
    }

    /// The async engine, for everything else (`runtime().block_on(...)`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    pub fn stats(&self) -> Vec<PluginStats> {
        self.engine.stats()
    }

    /// Waits until everything accepted so far is delivered, queued or dropped.
    pub fn drain(&self, timeout: Duration) -> bool {
        self.runtime.block_on(self.engine.drain(timeout))
    }

    /// Forwards what is still on the buses, then shuts the engine down.
    pub fn shutdown(self, deadline: Duration) {
        for (stop, thread) in self.forwarders {
            stop.store(true, Ordering::Release);
            let _ = thread.join();
        }
        match Arc::try_unwrap(self.engine) {
            Ok(engine) => self.runtime.block_on(engine.shutdown(deadline)),
            Err(_) => tracing::error!("engine still referenced at shutdown"),
        }
    }
}

struct Forwarder {
    engine: Arc<Engine>,
    runtime: tokio::runtime::Handle,
    receiver: Receiver<Event>,
    rejected: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Forwarder {
    fn run(self) {
        loop {
            match self.receiver.recv_timeout(Duration::from_millis(50)) {
                Ok(event) => self.forward(event),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if self.stop.load(Ordering::Acquire) {
                        // Whatever arrived meanwhile still goes in.
                        while let Ok(event) = self.receiver.try_recv() {
                            self.forward(event);
                        }
                        return;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn forward(&self, event: Event) {
        if let Err(err) = self.runtime.block_on(self.engine.notify(event)) {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("bus: event not accepted: {err}");
        }
    }
}
