//! Kafka (rskafka, pure Rust), as Go CDK's kafkapubsub publishes through
//! sarama's sync producer: the body is the record value, the `key_name`
//! metadata value (when the URL names one and the message has it) is the
//! record key, every other metadata pair is a record header, and the
//! partition is chosen by sarama's default hash partitioner (`sarama.rs`):
//! FNV-1a of the key, or a random partition for a message without key.
//! The record carries its creation time, as sarama sets it. An event is
//! acknowledged when the partition leader's produce response says so.
//!
//! rskafka always asks for `acks = -1` (every in-sync replica), which is
//! stronger than sarama's default (`WaitForLocal`, the leader only): an
//! acknowledged event survives the loss of the leader. It reconnects by
//! itself (with backoff, bounded by `KafkaConfig::retry_deadline`) and keeps one
//! connection per broker, on which concurrent produce requests are
//! pipelined. TLS comes from `tls.rs`; SASL PLAIN and SCRAM-SHA-256/512
//! (with SASLprep) are rskafka's.

use crate::backoff::Backoff;
use crate::config::{KafkaConfig, SaslMechanism};
use crate::message::Message;
use crate::sarama::{hash_partition, RandomPartitions};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::record::Record;
use rskafka::BackoffConfig;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

pub struct KafkaPublisher {
    client: Client,
    topic: String,
    brokers: String,
    key_name: Option<String>,
    /// The topic's partition count, once the cluster has listed it.
    partitions: Mutex<Option<i32>>,
    /// When the topic may be looked up again after it was missing.
    lookup: Mutex<Backoff>,
    clients: Mutex<HashMap<i32, Arc<PartitionClient>>>,
    random: RandomPartitions,
}

fn sasl(config: &KafkaConfig) -> Option<SaslConfig> {
    let sasl = config.sasl.as_ref()?;
    let credentials = Credentials::new(sasl.username.clone(), sasl.password.clone());
    Some(match sasl.mechanism {
        SaslMechanism::Plain => SaslConfig::Plain(credentials),
        SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
        SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
    })
}

/// The record the Go plugin's sarama producer would write.
pub fn record(message: &Message, key_name: Option<&str>, now: SystemTime) -> Record {
    let mut key = None;
    let mut headers = BTreeMap::new();
    for (k, v) in &message.metadata {
        if Some(*k) == key_name {
            key = Some(v.as_bytes().to_vec());
        } else {
            headers.insert((*k).to_owned(), v.as_bytes().to_vec());
        }
    }
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Record {
        key,
        value: Some(message.body.clone()),
        headers,
        timestamp: chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default(),
    }
}

impl KafkaPublisher {
    pub async fn connect(config: &KafkaConfig) -> Result<Self, String> {
        let brokers = config.brokers.join(",");
        let mut builder = ClientBuilder::new(config.brokers.clone())
            .client_id("plexus-pubsub")
            .backoff_config(BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
                deadline: Some(config.retry_deadline),
            });
        if let Some(tls) = &config.tls {
            builder = builder.tls_config(Arc::new(crate::tls::client_config(tls)?));
        }
        if let Some(sasl) = sasl(config) {
            builder = builder.sasl_config(sasl);
        }
        let client = builder
            .build()
            .await
            .map_err(|err| format!("failed to dial KAFKA_BROKERS {brokers}: {err}"))?;
        let publisher = KafkaPublisher {
            client,
            topic: config.topic.clone(),
            brokers,
            key_name: config.key_name.clone(),
            partitions: Mutex::new(None),
            lookup: Mutex::new(Backoff::new()),
            clients: Mutex::new(HashMap::new()),
            random: RandomPartitions::default(),
        };
        // A missing topic does not stop the start: a broker may create it
        // later, as sarama's producer lets it. Events fail until it exists.
        if let Err(err) = publisher.partition_count().await {
            tracing::warn!(error = %err, "Kafka topic not found at start; events fail until it exists");
        }
        Ok(publisher)
    }

    /// The topic's partition count, listing the cluster's topics when it is
    /// not known yet (at most once per backoff step while it is missing).
    async fn partition_count(&self) -> Result<i32, String> {
        let mut known = self.partitions.lock().await;
        if let Some(n) = *known {
            return Ok(n);
        }
        let mut lookup = self.lookup.lock().await;
        if let Err(wait) = lookup.ready(Instant::now()) {
            return Err(format!(
                "Kafka topic {:?} does not exist on {}; next lookup in {} ms",
                self.topic,
                self.brokers,
                wait.as_millis()
            ));
        }
        let topics = self
            .client
            .list_topics()
            .await
            .map_err(|err| format!("Kafka metadata request failed: {err}"))?;
        match topics.iter().find(|t| t.name == self.topic) {
            Some(topic) if !topic.partitions.is_empty() => {
                let n = topic.partitions.len() as i32;
                lookup.succeeded();
                *known = Some(n);
                Ok(n)
            }
            _ => {
                let delay = lookup.failed(Instant::now());
                Err(format!(
                    "Kafka topic {:?} does not exist on {}; next lookup in {} ms",
                    self.topic,
                    self.brokers,
                    delay.as_millis()
                ))
            }
        }
    }

    async fn partition_client(&self, partition: i32) -> Result<Arc<PartitionClient>, String> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(&partition) {
            return Ok(client.clone());
        }
        let client = self
            .client
            .partition_client(self.topic.clone(), partition, UnknownTopicHandling::Error)
            .await
            .map_err(|err| format!("no Kafka leader for {}/{partition}: {err}", self.topic))?;
        let client = Arc::new(client);
        clients.insert(partition, client.clone());
        Ok(client)
    }

    /// The partition sarama would pick for this message.
    pub fn partition_for(&self, record: &Record, partitions: i32) -> i32 {
        match &record.key {
            Some(key) => hash_partition(key, partitions),
            None => self.random.pick(partitions),
        }
    }

    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        let partitions = self.partition_count().await?;
        let record = record(message, self.key_name.as_deref(), SystemTime::now());
        let partition = self.partition_for(&record, partitions);
        let client = self.partition_client(partition).await?;
        client
            .produce(vec![record], Compression::NoCompression)
            .await
            .map_err(|err| format!("Kafka produce to {}/{partition} failed: {err}", self.topic))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Encoder;
    use plexus_sdk::notifier::ProviderEvent;

    #[test]
    fn key_from_key_name_and_the_rest_as_headers() {
        let message = Encoder::default().provider(&ProviderEvent {
            action: "add".into(),
            object_type: "user".into(),
            ..Default::default()
        });
        let r = record(&message, Some("object_type"), UNIX_EPOCH);
        assert_eq!(r.key.as_deref(), Some(&b"user"[..]));
        assert_eq!(
            r.headers,
            BTreeMap::from([("action".to_owned(), b"add".to_vec())])
        );
        assert_eq!(r.value.as_deref(), Some(message.body.as_slice()));
        let r = record(&message, None, UNIX_EPOCH);
        assert_eq!(r.key, None);
        assert_eq!(r.headers.len(), 2);
        // A key_name the message lacks: no key (sarama then picks at random).
        let r = record(&message, Some("event"), UNIX_EPOCH);
        assert_eq!(r.key, None);
    }
}
