//! RabbitMQ (AMQP 0-9-1, lapin), as Go CDK's rabbitpubsub publishes: to the
//! exchange named in the URL (never declared), in confirm mode with
//! `mandatory`, the metadata as string headers except the `key_name` key,
//! whose value is the routing key. A nack or a returned (unroutable)
//! message fails that event. Plexus also sets the AMQP `message_id`
//! property to the event id, for consumers that deduplicate.
//!
//! An `amqps://` server URL connects over TLS; `TLS_ROOT_CERT` and the
//! client certificate variables are handed to lapin (its rustls backend).
//!
//! The connection is re-opened in process: a publish that finds it broken
//! reconnects, with exponential backoff between failed attempts, so each
//! event gets its own outcome and nothing panics.

use crate::backoff::Backoff;
use crate::config::{redact, RabbitConfig, ENV_PREFIX};
use crate::message::Message;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Confirmation;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Live {
    connection: Connection,
    channel: Channel,
}

pub struct RabbitPublisher {
    config: RabbitConfig,
    tls: OwnedTLSConfig,
    live: RwLock<Option<Live>>,
    backoff: Mutex<Backoff>,
}

/// The CA and client certificate for lapin, read once (and checked, so an
/// error names the file, never its contents).
fn owned_tls(config: &RabbitConfig) -> Result<OwnedTLSConfig, String> {
    let (ca, cert, key) = crate::tls::pem_files(&config.tls)?;
    let cert_chain = match ca {
        Some(pem) => Some(
            String::from_utf8(pem)
                .map_err(|_| format!("{ENV_PREFIX}TLS_ROOT_CERT is not a PEM text file"))?,
        ),
        None => None,
    };
    let identity = match (cert, key) {
        (Some(pem), Some(key)) => Some(OwnedIdentity::PKCS8 { pem, key }),
        _ => None,
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

async fn open(config: &RabbitConfig, tls: &OwnedTLSConfig) -> Result<Live, String> {
    let shown = redact(&config.server_url);
    let properties = ConnectionProperties::default().with_connection_name("plexus-pubsub".into());
    let connect = async {
        if config.tls.is_empty() {
            return Connection::connect(&config.server_url, properties).await;
        }
        let runtime = lapin::runtime::default_runtime()?;
        Connection::connect_with_config(&config.server_url, properties, tls.clone(), runtime).await
    };
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| format!("failed to dial RABBIT_SERVER_URL {shown}: timed out"))?
        .map_err(|err| format!("failed to dial RABBIT_SERVER_URL {shown}: {err}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|err| format!("cannot open a RabbitMQ channel: {err}"))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|err| format!("cannot put the RabbitMQ channel in confirm mode: {err}"))?;
    Ok(Live {
        connection,
        channel,
    })
}

impl RabbitPublisher {
    pub async fn connect(config: &RabbitConfig) -> Result<Self, String> {
        let tls = owned_tls(config)?;
        let live = open(config, &tls).await?;
        Ok(RabbitPublisher {
            config: config.clone(),
            tls,
            live: RwLock::new(Some(live)),
            backoff: Mutex::new(Backoff::new()),
        })
    }

    /// The open channel, reopening the connection if it is broken and the
    /// backoff allows an attempt now.
    async fn channel(&self) -> Result<Channel, String> {
        if let Some(live) = self.live.read().await.as_ref() {
            if live.channel.status().connected() {
                return Ok(live.channel.clone());
            }
        }
        let mut slot = self.live.write().await;
        if let Some(live) = slot.as_ref() {
            if live.channel.status().connected() {
                return Ok(live.channel.clone());
            }
        }
        let mut backoff = self.backoff.lock().await;
        if let Err(wait) = backoff.ready(Instant::now()) {
            return Err(format!(
                "RabbitMQ connection lost; next attempt in {} ms",
                wait.as_millis()
            ));
        }
        if let Some(old) = slot.take() {
            let _ = old.connection.close(0, "reconnecting".into()).await;
        }
        match open(&self.config, &self.tls).await {
            Ok(live) => {
                backoff.succeeded();
                tracing::info!(server = %redact(&self.config.server_url), "RabbitMQ reconnected");
                let channel = live.channel.clone();
                *slot = Some(live);
                Ok(channel)
            }
            Err(err) => {
                let delay = backoff.failed(Instant::now());
                Err(format!("{err}; next attempt in {} ms", delay.as_millis()))
            }
        }
    }

    /// The routing key and headers Go CDK derives from the metadata.
    pub fn route(&self, message: &Message) -> (String, FieldTable) {
        let mut routing_key = String::new();
        let mut headers = FieldTable::default();
        for (k, v) in &message.metadata {
            if self.config.key_name.as_deref() == Some(*k) {
                routing_key = v.clone();
            } else {
                headers.insert((*k).into(), AMQPValue::LongString(v.as_str().into()));
            }
        }
        (routing_key, headers)
    }

    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        let channel = self.channel().await?;
        let (routing_key, headers) = self.route(message);
        let properties = BasicProperties::default()
            .with_headers(headers)
            .with_message_id(message.id.as_str().into());
        let options = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };
        let confirm = channel
            .basic_publish(
                self.config.exchange.as_str().into(),
                routing_key.as_str().into(),
                options,
                &message.body,
                properties,
            )
            .await
            .map_err(|err| format!("RabbitMQ publish failed: {err}"))?;
        match confirm.await {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(returned))) | Ok(Confirmation::Nack(Some(returned))) => {
                Err(format!(
                    "RabbitMQ returned the message as unroutable: {} {} (exchange {:?}, routing key {:?})",
                    returned.reply_code, returned.reply_text, self.config.exchange, routing_key
                ))
            }
            Ok(Confirmation::Nack(None)) => Err("RabbitMQ refused the message (nack)".to_owned()),
            Ok(Confirmation::NotRequested) => {
                Err("RabbitMQ channel is not in confirm mode".to_owned())
            }
            Err(err) => Err(format!("RabbitMQ publish not confirmed: {err}")),
        }
    }

    pub async fn close(&self) {
        if let Some(live) = self.live.write().await.take() {
            let _ = live.connection.close(200, "plugin stopping".into()).await;
        }
    }
}
