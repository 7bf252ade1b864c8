//! A `nats_jetstream` source: a durable pull consumer on a JetStream
//! stream, feeding the engine the events `plexus-pubsub` (or SFTPGo's Go
//! pub/sub plugin) published there.
//!
//! The loop is: wait until every notifier has room for a whole pull
//! ([`Engine::wait_for_room`]), pull up to `batch_size` messages, decode
//! each, hand the decoded events to the engine in one `notify_many` (one
//! shared flush of the write-ahead logs), and acknowledge each message
//! only once that call returned, i.e. once the engine holds the event on
//! disk. While the engine has no room nothing is pulled, acknowledged or
//! dropped: the messages wait in the stream. A crash between the engine's
//! accept and the acknowledgement makes JetStream redeliver; the store
//! then sees the event twice, which is why the store's insert must be
//! idempotent (`plexus-eventstore --idempotent`, see the README).
//!
//! A message that cannot be decoded is logged with its stream sequence,
//! published to the dead-letter subject when one is set, and terminated
//! (`AckKind::Term`): never redelivered, never a crash. A message that
//! carries [`DEAD_LETTER_HEADER`] is terminated without being dead-lettered
//! again, so a dead-letter subject inside the consumer's filter cannot
//! loop. If the engine refuses events (a queue write failed) they are
//! negatively acknowledged with a delay and the source backs off.
//!
//! The connection, the stream and the consumer are (re)established with
//! exponential backoff; async-nats reconnects a dropped connection by
//! itself, and a pull interrupted by it simply expires and is made again.

use super::counters::{MessageResult, SourceCounters};
use super::decode;
use crate::config::sources::{JetStreamSource, NatsAuth};
use crate::engine::{Engine, EngineError};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{self, AckKind};
use async_nats::HeaderMap;
use futures::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Set on every message this source dead-letters: the reason.
pub const DEAD_LETTER_HEADER: &str = "Plexus-Dead-Letter";
/// How long one pull request waits for messages before it is made again.
const PULL_EXPIRY: Duration = Duration::from_secs(5);
/// How long a refused event waits before JetStream offers it again.
const REFUSED_REDELIVERY: Duration = Duration::from_secs(1);
/// The first and the longest wait between attempts to (re)connect.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The longest reason put in a dead-letter header.
const MAX_REASON: usize = 512;

/// Why a session with the broker ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect to {servers}: {source}")]
    Connect {
        servers: String,
        source: async_nats::ConnectError,
    },
    #[error("cannot read the credentials: {0}")]
    Credentials(String),
    #[error("stream {stream:?}: {source}")]
    Stream {
        stream: String,
        source: jetstream::context::GetStreamError,
    },
    #[error("durable consumer {durable:?} on stream {stream:?}: {source}")]
    Consumer {
        stream: String,
        durable: String,
        source: jetstream::stream::ConsumerError,
    },
    #[error(
        "dead_letter_subject {subject:?}: no JetStream stream takes it ({source}); \
         create one, or dead-lettered messages would be lost"
    )]
    DeadLetterStream {
        subject: String,
        source: jetstream::context::GetStreamByNameError,
    },
    #[error("pulling messages: {0}")]
    Pull(String),
    #[error("the engine refused events: {0}")]
    Refused(EngineError),
}

/// How a session ended without an error.
enum Ended {
    /// Asked to stop.
    Stopped,
    /// The engine is stopping: there is nowhere to put events.
    EngineStopped,
}

/// Runs the source until `stop` turns true or the engine stops.
pub async fn run(
    config: JetStreamSource,
    engine: Arc<Engine>,
    counters: Arc<SourceCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = BACKOFF_FIRST;
    loop {
        let mut progressed = false;
        let outcome = session(&config, &engine, &counters, &mut stop, &mut progressed).await;
        counters.set_connected(false);
        match outcome {
            Ok(Ended::Stopped) => return,
            Ok(Ended::EngineStopped) => {
                tracing::info!("{}: the engine is stopping; the source stops", config.path);
                return;
            }
            Err(err) => {
                if progressed {
                    delay = BACKOFF_FIRST;
                }
                tracing::warn!(
                    "{}: {err}; trying again in {:.1} s",
                    config.path,
                    delay.as_secs_f64()
                );
            }
        }
        let stopping = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => true,
            () = tokio::time::sleep(delay) => false,
        };
        if stopping {
            return;
        }
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

/// The servers as one line for messages (they hold no credentials:
/// validation refuses those).
fn servers_line(config: &JetStreamSource) -> String {
    config.servers.join(",")
}

/// Connects with the configured credentials and TLS.
async fn connect(config: &JetStreamSource) -> Result<async_nats::Client, SessionError> {
    let path = config.path.clone();
    let mut options = match &config.auth {
        NatsAuth::UserPassword { user, password } => {
            let password = password.read().map_err(SessionError::Credentials)?;
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password)
        }
        NatsAuth::Token(token) => {
            let token = token.read().map_err(SessionError::Credentials)?;
            async_nats::ConnectOptions::with_token(token)
        }
        NatsAuth::None => async_nats::ConnectOptions::new(),
    };
    options = options
        .name(format!("plexus {}", config.path))
        .connection_timeout(Duration::from_secs(10))
        .max_reconnects(None)
        .event_callback(move |event| {
            let path = path.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("{path}: NATS connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("{path}: NATS disconnected, reconnecting")
                    }
                    async_nats::Event::Closed => tracing::debug!("{path}: NATS connection closed"),
                    other => tracing::warn!("{path}: NATS: {other}"),
                }
            }
        });
    if let Some(ca) = &config.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if config.tls.required {
        options = options.require_tls(true);
    }
    let addrs: Vec<async_nats::ServerAddr> = config
        .servers
        .iter()
        .filter_map(|server| server.parse().ok())
        .collect();
    options
        .connect(addrs.as_slice())
        .await
        .map_err(|source| SessionError::Connect {
            servers: servers_line(config),
            source,
        })
}

/// The durable pull consumer, created on the stream when missing (with an
/// existing one, the server keeps or updates it as it allows).
async fn consumer(
    config: &JetStreamSource,
    context: &jetstream::Context,
) -> Result<PullConsumer, SessionError> {
    let stream =
        context
            .get_stream(&config.stream)
            .await
            .map_err(|source| SessionError::Stream {
                stream: config.stream.clone(),
                source,
            })?;
    stream
        .create_consumer(pull::Config {
            durable_name: Some(config.durable.clone()),
            description: Some("plexus serve: events into the engine".into()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            filter_subject: config.filter_subject.clone().unwrap_or_default(),
            max_ack_pending: i64::try_from(config.max_ack_pending).unwrap_or(i64::MAX),
            ..Default::default()
        })
        .await
        .map_err(|source| SessionError::Consumer {
            stream: config.stream.clone(),
            durable: config.durable.clone(),
            source,
        })
}

/// One connection's worth of pulling.
async fn session(
    config: &JetStreamSource,
    engine: &Engine,
    counters: &SourceCounters,
    stop: &mut watch::Receiver<bool>,
    progressed: &mut bool,
) -> Result<Ended, SessionError> {
    let client = connect(config).await?;
    let context = jetstream::new(client);
    let consumer = consumer(config, &context).await?;
    if let Some(subject) = &config.dead_letter_subject {
        context
            .stream_by_subject(subject.as_str())
            .await
            .map_err(|source| SessionError::DeadLetterStream {
                subject: subject.clone(),
                source,
            })?;
    }
    counters.set_connected(true);
    tracing::info!(
        "{}: consuming stream {:?} as durable {:?}{}",
        config.path,
        config.stream,
        config.durable,
        config
            .filter_subject
            .as_deref()
            .map(|s| format!(", subjects {s}"))
            .unwrap_or_default()
    );
    let handler = Handler {
        config,
        engine,
        counters,
        context: &context,
    };
    loop {
        let room = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => false,
            () = engine.wait_for_room(config.batch_size) => true,
        };
        if !room {
            return Ok(Ended::Stopped);
        }
        let mut batch = consumer
            .batch()
            .max_messages(config.batch_size)
            .expires(PULL_EXPIRY)
            .messages()
            .await
            .map_err(|err| SessionError::Pull(err.to_string()))?;
        loop {
            let next = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return Ok(Ended::Stopped),
                next = batch.next() => next,
            };
            let first = match next {
                None => break,
                Some(Err(err)) => return Err(SessionError::Pull(err.to_string())),
                Some(Ok(message)) => message,
            };
            // Whatever else has arrived joins this chunk (one flush).
            let mut chunk = vec![first];
            let mut failed = None;
            while let Some(next) = batch.next().now_or_never() {
                match next {
                    Some(Ok(message)) => chunk.push(message),
                    Some(Err(err)) => {
                        failed = Some(err);
                        break;
                    }
                    None => break,
                }
            }
            if let Some(ended) = handler.handle(chunk).await? {
                return Ok(ended);
            }
            *progressed = true;
            if let Some(err) = failed {
                return Err(SessionError::Pull(err.to_string()));
            }
        }
    }
}

/// What one session needs to handle messages.
struct Handler<'a> {
    config: &'a JetStreamSource,
    engine: &'a Engine,
    counters: &'a SourceCounters,
    context: &'a jetstream::Context,
}

impl Handler<'_> {
    /// Decodes a chunk, hands its events to the engine, and acknowledges
    /// each message by its fate.
    async fn handle(&self, chunk: Vec<jetstream::Message>) -> Result<Option<Ended>, SessionError> {
        self.counters.add(MessageResult::Received, chunk.len());
        let mut events = Vec::with_capacity(chunk.len());
        let mut decoded = Vec::with_capacity(chunk.len());
        for message in chunk {
            let dead_letter = message
                .headers
                .as_ref()
                .and_then(|h| h.get(DEAD_LETTER_HEADER))
                .is_some();
            let result = if dead_letter {
                Err(None)
            } else {
                decode::event_of(&message.payload).map_err(Some)
            };
            match result {
                Ok(event) => {
                    events.push(event);
                    decoded.push(message);
                }
                Err(error) => self.malformed(&message, error).await,
            }
        }
        if events.is_empty() {
            return Ok(None);
        }
        let count = events.len();
        match self.engine.notify_many(events).await {
            Ok(_) => {
                self.ack(&decoded, AckKind::Ack).await;
                self.counters.add(MessageResult::Accepted, count);
                Ok(None)
            }
            Err((accepted, err)) => {
                let (done, refused) = decoded.split_at(accepted.min(decoded.len()));
                self.ack(done, AckKind::Ack).await;
                self.counters.add(MessageResult::Accepted, done.len());
                if matches!(err, EngineError::Stopped) {
                    // Not acknowledged: JetStream redelivers them later.
                    return Ok(Some(Ended::EngineStopped));
                }
                self.ack(refused, AckKind::Nak(Some(REFUSED_REDELIVERY)))
                    .await;
                self.counters.add(MessageResult::Refused, refused.len());
                Err(SessionError::Refused(err))
            }
        }
    }

    /// Acknowledges `messages` with `kind`. A lost acknowledgement only
    /// means a redelivery after `ack_wait`, which the store absorbs.
    async fn ack(&self, messages: &[jetstream::Message], kind: AckKind) {
        for message in messages {
            if let Err(err) = message.ack_with(kind).await {
                tracing::debug!(
                    "{}: acknowledging message {}: {err}",
                    self.config.path,
                    sequence(message)
                );
            }
        }
    }

    /// Logs a message that is no event, dead-letters it when a subject is
    /// set, and terminates it. `error` is `None` for a dead letter met again.
    async fn malformed(&self, message: &jetstream::Message, error: Option<decode::DecodeError>) {
        self.counters.add(MessageResult::Malformed, 1);
        let seq = sequence(message);
        let Some(error) = error else {
            tracing::warn!(
                "{}: message {seq} on {} is a dead letter already; terminated",
                self.config.path,
                message.subject
            );
            self.ack(std::slice::from_ref(message), AckKind::Term).await;
            return;
        };
        tracing::warn!(
            "{}: message {seq} on {} ({} bytes) is no event: {error}",
            self.config.path,
            message.subject,
            message.payload.len()
        );
        if let Some(subject) = &self.config.dead_letter_subject {
            match self.dead_letter(subject, message, &error).await {
                Ok(()) => self.counters.add(MessageResult::DeadLettered, 1),
                Err(err) => tracing::error!(
                    "{}: cannot dead-letter message {seq} to {subject}: {err}; terminating it anyway",
                    self.config.path
                ),
            }
        }
        self.ack(std::slice::from_ref(message), AckKind::Term).await;
    }

    /// Publishes a copy of `message` to `subject`, its headers kept and the
    /// reason, stream and sequence added; waits for the stream's ack.
    async fn dead_letter(
        &self,
        subject: &str,
        message: &jetstream::Message,
        error: &decode::DecodeError,
    ) -> Result<(), String> {
        // The original's headers, but not its deduplication id: two dead
        // letters of one event must both be kept.
        let mut headers = HeaderMap::new();
        for (name, values) in message.headers.iter().flat_map(HeaderMap::iter) {
            let text: &str = name.as_ref();
            if text.eq_ignore_ascii_case("Nats-Msg-Id") {
                continue;
            }
            for value in values {
                headers.append(name.clone(), value.clone());
            }
        }
        let reason: String = error
            .to_string()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_REASON)
            .collect();
        headers.insert(DEAD_LETTER_HEADER, reason.as_str());
        headers.insert("Plexus-Source-Subject", message.subject.as_str());
        if let Ok(info) = message.info() {
            headers.insert("Plexus-Source-Stream", info.stream);
            headers.insert(
                "Plexus-Source-Sequence",
                info.stream_sequence.to_string().as_str(),
            );
        }
        let ack = self
            .context
            .publish_with_headers(subject.to_owned(), headers, message.payload.clone())
            .await
            .map_err(|err| err.to_string())?;
        ack.await.map(|_| ()).map_err(|err| err.to_string())
    }
}

/// `stream sequence N` of a message, for logs.
fn sequence(message: &jetstream::Message) -> String {
    match message.info() {
        Ok(info) => format!(
            "stream sequence {} (delivery {})",
            info.stream_sequence, info.delivered
        ),
        Err(_) => "(no stream sequence)".to_owned(),
    }
}
