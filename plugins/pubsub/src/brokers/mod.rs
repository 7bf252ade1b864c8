//! The brokers behind one interface: connect from a validated config,
//! publish one message and learn its outcome, close. An enum rather than
//! trait objects: the set is closed and each publish stays a plain future.

pub mod aws;
pub mod kafka;
pub mod mqtt;
pub mod nats;
pub mod rabbit;
pub mod redis;

use crate::config::Broker;
use crate::message::Message;

pub enum Publisher {
    Nats(nats::NatsPublisher),
    Rabbit(Box<rabbit::RabbitPublisher>),
    Mqtt(mqtt::MqttPublisher),
    Redis(redis::RedisPublisher),
    Kafka(kafka::KafkaPublisher),
    Aws(aws::AwsPublisher),
}

impl Publisher {
    /// Connects to the broker; an error stops the plugin's start.
    pub async fn connect(config: &Broker) -> Result<Self, String> {
        crate::tls::install_default_provider();
        Ok(match config {
            Broker::Nats(c) => Publisher::Nats(nats::NatsPublisher::connect(c).await?),
            Broker::Rabbit(c) => {
                Publisher::Rabbit(Box::new(rabbit::RabbitPublisher::connect(c).await?))
            }
            Broker::Mqtt(c) => Publisher::Mqtt(mqtt::MqttPublisher::connect(c).await?),
            Broker::Redis(c) => Publisher::Redis(redis::RedisPublisher::connect(c).await?),
            Broker::Kafka(c) => Publisher::Kafka(kafka::KafkaPublisher::connect(c).await?),
            Broker::Aws(c) => Publisher::Aws(aws::AwsPublisher::connect(c).await?),
        })
    }

    /// Publishes one message; `Ok` once the broker has confirmed it.
    pub async fn publish(&self, message: &Message) -> Result<(), String> {
        match self {
            Publisher::Nats(p) => p.publish(message).await,
            Publisher::Rabbit(p) => p.publish(message).await,
            Publisher::Mqtt(p) => p.publish(message).await,
            Publisher::Redis(p) => p.publish(message).await,
            Publisher::Kafka(p) => p.publish(message).await,
            Publisher::Aws(p) => p.publish(message).await,
        }
    }

    pub async fn close(&self) {
        match self {
            Publisher::Nats(p) => p.close().await,
            Publisher::Rabbit(p) => p.close().await,
            Publisher::Mqtt(p) => p.close().await,
            Publisher::Redis(_) | Publisher::Kafka(_) | Publisher::Aws(_) => {}
        }
    }
}
