//! NATS and NATS JetStream (async-nats).
//!
//! Without `natsv2` the metadata and body go as one gob stream (Go CDK's
//! format, see `gob.rs`); with it, the body is sent as is and each
//! metadata pair becomes a header, key and value query-escaped as Go's
//! `url.QueryEscape` does. Go CDK publishes and returns; here an event is
//! acknowledged only once the server has it. With `jetstream=1` that is the
//! stream's publish ack, and the event id goes as `Nats-Msg-Id` so a
//! retried event is stored once. On core NATS it is a round trip: after
//! the event, the plugin publishes a marker to its own inbox on the same
//! connection; the server handles a connection's messages in order, so
//! when the marker comes back the event was processed. (async-nats's
//! `flush` only empties the client's write buffer.) A reconnect between
//! the event and the marker's return fails the event, since it may have
//! been lost with the old connection. Concurrent events share one marker:
//! a batch costs one round trip, not one per event. async-nats reconnects
//! by itself, with backoff.

use crate::config::{redact_list, NatsConfig};
use crate::gob;
use crate::message::Message;
use async_nats::client::Statistics;
use async_nats::jetstream::{self, message::PublishMessage};
use async_nats::{Client, ConnectOptions, HeaderMap, ServerAddr, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a marker may take to come back.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);

/// An event waiting for its confirmation: the connection count when it
/// was published, and where to answer.
type ConfirmWaiter = (u64, oneshot::Sender<Result<(), String>>);

/// Publishes marker `seq` to `inbox` and waits for it to come back.
async fn round_trip(
    client: &Client,
    markers: &mut Subscriber,
    inbox: &str,
    seq: u64,
) -> Result<(), String> {
    let token = seq.to_string();
    client
        .publish(inbox.to_owned(), Bytes::from(token.clone()))
        .await
        .map_err(|err| format!("NATS publish failed: {err}"))?;
    let wait = async {
        while let Some(marker) = markers.next().await {
            if marker.payload.as_ref() == token.as_bytes() {
                return Ok(());
            }
        }
        Err("NATS confirmation subscription closed".to_owned())
    };
    tokio::time::timeout(ROUND_TRIP_TIMEOUT, wait)
        .await
        .map_err(|_| {
            format!(
                "the NATS server did not confirm within {} s",
                ROUND_TRIP_TIMEOUT.as_secs()
            )
        })?
}

/// Confirms waiting events in groups: one marker round trip for all the
/// events published before it was sent.
async fn confirmer(
    client: Client,
    mut markers: Subscriber,
    inbox: String,
    mut waiters: mpsc::UnboundedReceiver<ConfirmWaiter>,
) {
    let stats = client.statistics();
    let mut seq = 0u64;
    while let Some(first) = waiters.recv().await {
        let mut group = vec![first];
        while let Ok(next) = waiters.try_recv() {
            group.push(next);
        }
        seq += 1;
        let outcome = round_trip(&client, &mut markers, &inbox, seq).await;
        let connects = stats.connects.load(Ordering::Relaxed);
        for (epoch, waiter) in group {
            let answer = match &outcome {
                Ok(()) if epoch == connects => Ok(()),
                Ok(()) => Err(
                    "NATS reconnected before the server confirmed the event; it may be lost"
                        .to_owned(),
                ),
                Err(err) => Err(err.clone()),
            };
            let _ = waiter.send(answer);
        }
    }
}

pub struct NatsPublisher {
    client: Client,
    stats: Arc<Statistics>,
    confirms: mpsc::UnboundedSender<ConfirmWaiter>,
    jetstream: Option<jetstream::Context>,
    subject: async_nats::Subject,
    v2: bool,
}

/// Go's `url.QueryEscape`.
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl NatsPublisher {
    pub async fn connect(config: &NatsConfig) -> Result<Self, String> {
        let shown = redact_list(&config.server_url);
        let mut addrs = Vec::new();
        for part in config.server_url.split(',') {
            let addr: ServerAddr = part
                .trim()
                .parse()
                .map_err(|err| format!("NATS_SERVER_URL {shown}: not a NATS server URL: {err}"))?;
            addrs.push(addr);
        }
        let mut options = ConnectOptions::new()
            .name("plexus-pubsub")
            .connection_timeout(Duration::from_secs(10))
            .max_reconnects(None)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("NATS connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("NATS disconnected, reconnecting")
                    }
                    other => tracing::warn!(event = %other, "NATS event"),
                }
            });
        // Any TLS setting turns TLS on, whatever the URL scheme (as plugin
        // 1.2.0 does for NATS).
        if !config.tls.is_empty() {
            options = options
                .tls_client_config(crate::tls::client_config(&config.tls)?)
                .require_tls(true);
        }
        let client = options
            .connect(addrs.as_slice())
            .await
            .map_err(|err| format!("failed to dial NATS_SERVER_URL {shown}: {err}"))?;
        let subject = async_nats::Subject::from(config.subject.as_str());
        let jetstream = if config.jetstream {
            let context = jetstream::new(client.clone());
            let stream = context
                .stream_by_subject(config.subject.as_str())
                .await
                .map_err(|err| {
                    format!(
                        "jetstream=1: no JetStream stream takes subject {:?} ({err}); \
                         create one whose subjects include it",
                        config.subject
                    )
                })?;
            tracing::info!(%stream, subject = %config.subject, "publishing to a JetStream stream");
            Some(context)
        } else {
            None
        };
        let inbox = client.new_inbox();
        let markers = client
            .subscribe(inbox.clone())
            .await
            .map_err(|err| format!("cannot subscribe to the confirmation inbox: {err}"))?;
        let (confirms, waiters) = mpsc::unbounded_channel();
        tokio::spawn(confirmer(client.clone(), markers, inbox, waiters));
        Ok(NatsPublisher {
            stats: client.statistics(),
            client,
            confirms,
            jetstream,
            subject,
            v2: config.v2,
        })
    }

    fn encode(&self, message: &Message) -> (Option<HeaderMap>, Bytes) {
        let mut headers = None;
        let payload = if self.v2 {
            let mut map = HeaderMap::new();
            for (k, v) in &message.metadata {
                map.insert(query_escape(k).as_str(), query_escape(v).as_str());
            }
            headers = Some(map);
            Bytes::from(message.body.clone())
        } else {
            Bytes::from(gob::encode(&message.metadata_pairs(), &message.body))
        };
        if self.jetstream.is_some() {
            headers
                .get_or_insert_with(HeaderMap::new)
                .insert("Nats-Msg-Id", message.id.as_str());
        }
        (headers, payload)
    }

    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        // While async-nats reconnects, fail at once rather than hold the
        // host's call until its deadline; the host retries the event.
        if self.client.connection_state() == async_nats::connection::State::Disconnected {
            return Err("NATS connection lost; reconnecting".to_owned());
        }
        let (headers, payload) = self.encode(message);
        match &self.jetstream {
            Some(js) => {
                let mut publish = PublishMessage::build().payload(payload);
                if let Some(headers) = headers {
                    publish = publish.headers(headers);
                }
                let ack = js
                    .send_publish(self.subject.clone(), publish)
                    .await
                    .map_err(|err| format!("JetStream publish failed: {err}"))?;
                ack.await
                    .map_err(|err| format!("JetStream publish not acknowledged: {err}"))?;
                Ok(())
            }
            None => {
                let epoch = self.stats.connects.load(Ordering::Relaxed);
                let sent = match headers {
                    Some(headers) => {
                        self.client
                            .publish_with_headers(self.subject.clone(), headers, payload)
                            .await
                    }
                    None => self.client.publish(self.subject.clone(), payload).await,
                };
                sent.map_err(|err| format!("NATS publish failed: {err}"))?;
                // A marker sent after this publish confirms it.
                let (tx, rx) = oneshot::channel();
                self.confirms
                    .send((epoch, tx))
                    .map_err(|_| "NATS confirmer stopped".to_owned())?;
                rx.await.map_err(|_| "NATS confirmer stopped".to_owned())?
            }
        }
    }

    pub async fn close(&self) {
        if let Err(err) = self.client.flush().await {
            tracing::warn!(error = %err, "NATS flush at shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::query_escape;

    #[test]
    fn query_escape_as_go() {
        assert_eq!(query_escape("upload"), "upload");
        assert_eq!(query_escape("a b/c?d=é"), "a+b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(query_escape("x-y_z.~"), "x-y_z.~");
    }
}
