//! MQTT 3.1.1 (Plexus extension, rumqttc): the JSON body is published to the
//! topic at QoS 1 and the event is acknowledged after the broker's PUBACK.
//! An `mqtts://` server URL connects over TLS (port 8883 by default) with
//! the rustls configuration of `tls.rs`.
//! MQTT 3.1.1 has no headers, so the metadata is not sent (the body holds
//! the same values).
//!
//! One publish is in flight at a time, so a PUBACK always belongs to the
//! publish waiting for it; this is the simple, unambiguous correlation
//! rumqttc allows (it picks packet ids itself). A task drives rumqttc's
//! event loop, which reconnects by itself; between failed attempts it
//! waits with exponential backoff, and a lost connection fails the event
//! in flight, which the host retries.

use crate::backoff::Backoff;
use crate::config::{redact, MqttConfig};
use crate::message::Message;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use url::Url;

/// What the event loop task reports to the publisher.
#[derive(Debug)]
enum Signal {
    Connected,
    Sent(u16),
    Acked(u16),
    Lost(String),
}

pub struct MqttPublisher {
    client: AsyncClient,
    topic: String,
    signals: Mutex<mpsc::UnboundedReceiver<Signal>>,
    connected: Arc<AtomicBool>,
    driver: JoinHandle<()>,
}

fn options(config: &MqttConfig) -> Result<MqttOptions, String> {
    let shown = redact(&config.server_url);
    let url =
        Url::parse(&config.server_url).map_err(|err| format!("MQTT_SERVER_URL {shown}: {err}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("MQTT_SERVER_URL {shown}: no host"))?;
    let port = url
        .port()
        .unwrap_or(if config.tls.is_some() { 8883 } else { 1883 });
    let client_id = format!("plexus-pubsub-{}-{}", std::process::id(), rand_suffix());
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    if !url.username().is_empty() {
        options.set_credentials(url.username(), url.password().unwrap_or(""));
    }
    if let Some(tls) = &config.tls {
        let client = crate::tls::client_config(tls)?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(client),
        )));
    }
    Ok(options)
}

/// A few bytes of the clock, so two plugins started in the same process
/// id namespace get distinct client ids.
fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

async fn drive(
    mut events: EventLoop,
    signals: mpsc::UnboundedSender<Signal>,
    connected: Arc<AtomicBool>,
) {
    let mut backoff = Backoff::new();
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.succeeded();
                connected.store(true, Ordering::Release);
                let _ = signals.send(Signal::Connected);
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                let _ = signals.send(Signal::Sent(pkid));
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                let _ = signals.send(Signal::Acked(ack.pkid));
            }
            Ok(_) => {}
            Err(err) => {
                connected.store(false, Ordering::Release);
                if signals.send(Signal::Lost(err.to_string())).is_err() {
                    return;
                }
                let delay = backoff.failed(Instant::now());
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "MQTT connection lost");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

impl MqttPublisher {
    pub async fn connect(config: &MqttConfig) -> Result<Self, String> {
        let shown = redact(&config.server_url);
        let (client, events) = AsyncClient::new(options(config)?, 0);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let connected = Arc::new(AtomicBool::new(false));
        let driver = tokio::spawn(drive(events, tx, connected.clone()));
        // The first connection is checked at start, as the other brokers'.
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        match first {
            Ok(Some(Signal::Connected)) => {}
            Ok(Some(Signal::Lost(err))) => {
                driver.abort();
                return Err(format!("failed to dial MQTT_SERVER_URL {shown}: {err}"));
            }
            Ok(other) => {
                driver.abort();
                return Err(format!(
                    "failed to dial MQTT_SERVER_URL {shown}: unexpected {other:?}"
                ));
            }
            Err(_) => {
                driver.abort();
                return Err(format!("failed to dial MQTT_SERVER_URL {shown}: timed out"));
            }
        }
        Ok(MqttPublisher {
            client,
            topic: config.topic.clone(),
            signals: Mutex::new(rx),
            connected,
            driver,
        })
    }

    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        // While the event loop waits to reconnect, fail at once; the host
        // retries the event.
        if !self.connected.load(Ordering::Acquire) {
            return Err("MQTT connection lost; reconnecting".to_owned());
        }
        let mut signals = self.signals.lock().await;
        // Whatever an earlier, failed publish left behind is not ours.
        while signals.try_recv().is_ok() {}
        self.client
            .publish(
                self.topic.as_str(),
                QoS::AtLeastOnce,
                false,
                message.body.clone(),
            )
            .await
            .map_err(|err| format!("MQTT publish failed: {err}"))?;
        let mut sent = None;
        loop {
            match signals.recv().await {
                Some(Signal::Sent(pkid)) => sent = Some(pkid),
                Some(Signal::Acked(pkid)) if sent == Some(pkid) => return Ok(()),
                Some(Signal::Acked(_)) | Some(Signal::Connected) => {}
                Some(Signal::Lost(err)) => {
                    return Err(format!("MQTT connection lost before PUBACK: {err}"))
                }
                None => return Err("MQTT event loop stopped".to_owned()),
            }
        }
    }

    pub async fn close(&self) {
        let _ = self.client.disconnect().await;
        self.driver.abort();
    }
}
