//! NATS and NATS JetStream (async-nats).
//!
//! Without `natsv2` the metadata and body go as one gob stream (Go CDK's
//! format, see `gob.rs`); with it, the body is sent as is and each
//! metadata pair becomes a header, key and value query-escaped as Go's
//! `url.QueryEscape` does. Go CDK publishes and returns; here an event is
//! acknowledged only once the server has it: after a flush (a PING/PONG
//! round trip behind the publish) on core NATS, after the stream's publish
//! ack with `jetstream=1`, where the event id goes as `Nats-Msg-Id` so a
//! retried event is stored once. Concurrent events share flushes: one
//! task flushes back to back for every event published since the previous
//! flush began, so a batch costs a round trip, not one per event.
//! async-nats reconnects by itself, with backoff, and keeps publishing
//! after it.

use crate::config::{redact_list, NatsConfig};
use crate::gob;
use crate::message::Message;
use async_nats::jetstream::{self, message::PublishMessage};
use async_nats::{Client, ConnectOptions, HeaderMap, ServerAddr};
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

type FlushWaiter = oneshot::Sender<Result<(), String>>;

/// Answers every waiter with the outcome of a flush that began after it
/// registered, so its publish is covered.
async fn flusher(client: Client, mut waiters: mpsc::UnboundedReceiver<FlushWaiter>) {
    while let Some(first) = waiters.recv().await {
        let mut group = vec![first];
        while let Ok(next) = waiters.try_recv() {
            group.push(next);
        }
        let outcome = client
            .flush()
            .await
            .map_err(|err| format!("NATS server did not confirm the publish: {err}"));
        for waiter in group {
            let _ = waiter.send(outcome.clone());
        }
    }
}

pub struct NatsPublisher {
    client: Client,
    flushes: mpsc::UnboundedSender<FlushWaiter>,
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
        if let Some(root) = &config.tls.root_cert {
            options = options
                .add_root_certificates(root.clone())
                .require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&config.tls.client_cert, &config.tls.client_key) {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
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
        let (flushes, waiters) = mpsc::unbounded_channel();
        tokio::spawn(flusher(client.clone(), waiters));
        Ok(NatsPublisher {
            client,
            flushes,
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
                let sent = match headers {
                    Some(headers) => {
                        self.client
                            .publish_with_headers(self.subject.clone(), headers, payload)
                            .await
                    }
                    None => self.client.publish(self.subject.clone(), payload).await,
                };
                sent.map_err(|err| format!("NATS publish failed: {err}"))?;
                // The publish is queued on the connection; a flush queued
                // after it returns once the server has processed both.
                let (tx, rx) = oneshot::channel();
                self.flushes
                    .send(tx)
                    .map_err(|_| "NATS flusher stopped".to_owned())?;
                rx.await.map_err(|_| "NATS flusher stopped".to_owned())?
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
