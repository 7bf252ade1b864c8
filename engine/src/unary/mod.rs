//! The delivery client for SFTPGo's unary `proto.Notifier`: a gRPC client
//! written for this one path, which is what every Go notifier plugin
//! speaks.
//!
//! Why not tonic here: one unary call through tonic, hyper and h2 builds a
//! request, a header map, a body, a stream with its own task, and a
//! decoder, and spends as much CPU per event as the plugin does (profile in
//! `benches/README.md`, issue 16). This client does per call only what the
//! wire needs: the method's header block is encoded once and copied, the
//! event is encoded straight into the write buffer, every call waiting is
//! written in one buffer, and the answer is read without allocating.
//!
//! What a plugin sees is a standard gRPC call: the same method paths, the
//! same protobuf bytes, the usual request headers with `grpc-timeout`, over
//! a connection of its own beside the tonic channel the host keeps for
//! health, stdio and control. The rest of the host (health, other plugin
//! types, the batch extension) stays on tonic.
//!
//! Files: [`frame`] (HTTP/2 frames), [`request`] (header blocks, message
//! framing), [`response`] (reading an answer), [`connection`] (the task
//! that owns one connection). This file is the transport the delivery core
//! uses, and dials a new connection when the current one ends.

mod connection;
mod frame;
mod request;
mod response;

pub use connection::Limits;

use crate::host::transport::Dialer;
use arc_swap::ArcSwapOption;
use connection::{Call, Connection, Shared};
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::event::Event;
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use request::HeaderBlocks;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The current connection: where calls are sent, and whether it takes them.
struct Current {
    calls: mpsc::UnboundedSender<Call>,
    shared: Arc<Shared>,
}

struct Inner {
    label: String,
    dialer: Dialer,
    blocks: Arc<HeaderBlocks>,
    timeout: Duration,
    max_reply_bytes: usize,
    limits: Limits,
    /// Where connection tasks run: the runtime the client was made on, or
    /// else the one polling the first call.
    runtime: Option<tokio::runtime::Handle>,
    current: ArcSwapOption<Current>,
    /// One dial at a time; callers arriving meanwhile use its connection.
    dialing: tokio::sync::Mutex<()>,
}

/// Delivers each event as one unary `proto.Notifier` call on a connection
/// of its own to the plugin.
///
/// The deadline travels as `grpc-timeout` and is enforced here too: a call
/// without an answer after `timeout` fails as [`DeliveryError::Timeout`]
/// and its stream is cancelled. The connection is opened at the first call
/// and again after it ends (plugin restarted, connection lost, GOAWAY); a
/// failed dial fails the call as unavailable, and the delivery core retries.
pub struct UnaryNotifier {
    inner: Arc<Inner>,
}

impl UnaryNotifier {
    /// `label` names the plugin in logs and errors. Made within a tokio
    /// runtime, the connection tasks run on it; otherwise on the runtime
    /// that polls the calls.
    pub fn new(label: &str, dialer: Dialer, timeout: Duration, max_reply_bytes: usize) -> Self {
        Self::with_limits(label, dialer, timeout, max_reply_bytes, Limits::default())
    }

    /// As [`new`](Self::new), with connection limits other than HTTP/2's.
    pub fn with_limits(
        label: &str,
        dialer: Dialer,
        timeout: Duration,
        max_reply_bytes: usize,
        limits: Limits,
    ) -> Self {
        UnaryNotifier {
            inner: Arc::new(Inner {
                label: label.to_owned(),
                dialer,
                blocks: Arc::new(HeaderBlocks::new(timeout)),
                timeout,
                max_reply_bytes,
                limits,
                runtime: tokio::runtime::Handle::try_current().ok(),
                current: ArcSwapOption::empty(),
                dialing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Opens the connection now rather than at the first call.
    pub async fn connect(&self) -> Result<(), DeliveryError> {
        self.inner.connection().await.map(|_| ())
    }
}

impl Inner {
    /// The current connection if it takes calls.
    fn live(&self) -> Option<Arc<Current>> {
        self.current
            .load_full()
            .filter(|current| current.shared.accepts_calls() && !current.calls.is_closed())
    }

    /// The current connection, dialed if there is none that takes calls.
    async fn connection(&self) -> Result<Arc<Current>, DeliveryError> {
        if let Some(current) = self.live() {
            return Ok(current);
        }
        let _dialing = self.dialing.lock().await;
        if let Some(current) = self.live() {
            return Ok(current);
        }
        let runtime = match &self.runtime {
            Some(runtime) => runtime.clone(),
            None => tokio::runtime::Handle::try_current().map_err(|_| {
                DeliveryError::Unavailable(format!(
                    "{}: no tokio runtime to run the delivery connection on",
                    self.label
                ))
            })?,
        };
        // Dialed on that runtime too, whatever executor polls this call.
        let dialer = self.dialer.clone();
        let dialed = runtime
            .spawn(async move { dialer.dial().await })
            .await
            .unwrap_or_else(|err| Err(format!("the dial task ended: {err}")));
        let io = dialed.map_err(|detail| {
            DeliveryError::Unavailable(format!("{}: delivery connection: {detail}", self.label))
        })?;
        let (calls, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let (blocks, max_reply_bytes, limits, label) = (
            self.blocks.clone(),
            self.max_reply_bytes,
            self.limits,
            self.label.clone(),
        );
        let connection_shared = shared.clone();
        // Made inside the task: its timer belongs to that runtime.
        runtime.spawn(async move {
            Connection::new(
                io,
                queue,
                connection_shared,
                blocks,
                max_reply_bytes,
                limits,
                label,
            )
            .await
        });
        let current = Arc::new(Current { calls, shared });
        self.current.store(Some(current.clone()));
        Ok(current)
    }

    async fn call(&self, event: Arc<Event>) -> Result<(), DeliveryError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let (reply, answer) = oneshot::channel();
        let mut call = Call {
            event,
            deadline,
            reply,
        };
        // A connection that ended between the check and the send hands the
        // call back; the second try dials a new one.
        for _ in 0..2 {
            let current = self.connection().await?;
            match current.calls.send(call) {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(DeliveryError::Unavailable(format!(
                            "{}: the delivery connection ended without an answer",
                            self.label
                        )))
                    })
                }
                Err(mpsc::error::SendError(back)) => call = back,
            }
        }
        Err(DeliveryError::Unavailable(format!(
            "{}: the delivery connection closed twice in a row",
            self.label
        )))
    }
}

impl NotifierTransport for UnaryNotifier {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        let inner = self.inner.clone();
        async move { inner.call(event).await }.boxed()
    }
}

/// Runs `calls` calls on a connection whose plugin answers with exactly
/// `plugin_bytes` and then closes it, and returns each call's outcome
/// (`None`: the call never got one). For the fuzz target
/// `delivery_answer`: whatever a plugin sends, every call gets exactly one
/// outcome and the host does not panic.
#[doc(hidden)]
pub fn answers_to(plugin_bytes: &[u8], calls: usize) -> Vec<Option<Result<(), DeliveryError>>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async {
        let (client, plugin) = tokio::io::duplex(64 * 1024);
        let (queue, taken) = mpsc::unbounded_channel();
        let connection = Connection::new(
            Box::pin(client),
            taken,
            Arc::new(Shared::default()),
            Arc::new(HeaderBlocks::new(Duration::from_secs(60))),
            64 * 1024,
            Limits::default(),
            "fuzz".into(),
        );
        let task = tokio::spawn(connection);
        let mut answers = Vec::with_capacity(calls);
        for n in 0..calls {
            let (reply, answer) = oneshot::channel();
            let event = Event::Fs(plexus_proto::sftpgo::FsEvent {
                username: format!("user{n}"),
                ..Default::default()
            });
            let call = Call {
                event: Arc::new(event),
                deadline: tokio::time::Instant::now() + Duration::from_secs(60),
                reply,
            };
            if queue.send(call).is_err() {
                break;
            }
            answers.push(answer);
        }
        drop(queue);
        let (mut from_host, mut to_host) = tokio::io::split(plugin);
        let drain = tokio::spawn(async move {
            let mut sink = vec![0; 16 * 1024];
            while matches!(from_host.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        let _ = to_host.write_all(plugin_bytes).await;
        let _ = to_host.shutdown().await;
        drop(to_host);
        let mut outcomes = Vec::with_capacity(answers.len());
        for answer in answers {
            outcomes.push(answer.await.ok());
        }
        let _ = task.await;
        drain.abort();
        outcomes
    })
}
