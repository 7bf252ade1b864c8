//! The RabbitMQ publisher against the local RabbitMQ (guest/guest): the
//! `key_name` routing key and the headers Go CDK sets, confirm mode with
//! `mandatory` (an unroutable event is an error for that event only), and
//! in-process recovery when the exchange was missing: no panic, the next
//! event goes through.

mod common;

use common::{connect, fs_event, provider_event, require, unique, RABBIT_URL};
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use plexus_pubsub::Encoder;
use std::time::Duration;

const ENV: &[(&str, &str)] = &[("RABBIT_SERVER_URL", RABBIT_URL)];

async fn channel() -> (Connection, Channel) {
    require(5672, "RabbitMQ");
    let conn = Connection::connect(RABBIT_URL, ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ as guest");
    let channel = conn.create_channel().await.unwrap();
    (conn, channel)
}

/// Declares `exchange` and a private queue bound with `key`; returns the queue.
async fn bind(channel: &Channel, exchange: &str, kind: ExchangeKind, key: &str) -> String {
    channel
        .exchange_declare(
            exchange.into(),
            kind,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let name = queue.name().as_str().to_owned();
    channel
        .queue_bind(
            name.as_str().into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    name
}

async fn get(channel: &Channel, queue: &str) -> lapin::message::Delivery {
    for _ in 0..100 {
        let got = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap();
        if let Some(message) = got {
            return message.delivery;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message in queue {queue} within 5 s");
}

fn headers(delivery: &lapin::message::Delivery) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(table) = delivery.properties.headers() {
        for (k, v) in table.inner() {
            match v {
                AMQPValue::LongString(s) => out.push((k.as_str().to_owned(), s.to_string())),
                other => panic!("header {k:?} is not a string: {other:?}"),
            }
        }
    }
    out
}

async fn delete(channel: &Channel, exchange: &str) {
    let _ = channel
        .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
        .await;
}

#[tokio::test]
async fn key_name_routes_and_unroutable_fails() {
    let (_conn, ch) = channel().await;
    let exchange = unique("plexus-test-direct");
    let queue = bind(&ch, &exchange, ExchangeKind::Direct, "user").await;
    let publisher = connect(&format!("rabbit://{exchange}?key_name=object_type"), ENV)
        .await
        .unwrap();

    let message = Encoder::new("n1").provider(&provider_event("add", "user"));
    publisher.publish(&message).await.unwrap();
    let got = get(&ch, &queue).await;
    assert_eq!(got.data, message.body);
    assert_eq!(got.routing_key.as_str(), "user");
    // The key_name key is the routing key, not a header.
    assert_eq!(headers(&got), vec![("action".to_owned(), "add".to_owned())]);
    assert_eq!(
        got.properties.message_id().as_ref().map(|s| s.as_str()),
        Some(message.id.as_str())
    );

    // Nothing is bound to "admin": returned, an error for this event only.
    let err = publisher
        .publish(&Encoder::default().provider(&provider_event("add", "admin")))
        .await
        .unwrap_err();
    assert!(err.contains("unroutable"), "{err}");
    publisher.publish(&message).await.unwrap();
    assert_eq!(get(&ch, &queue).await.data, message.body);
    publisher.close().await;
    delete(&ch, &exchange).await;
}

#[tokio::test]
async fn fanout_gets_every_metadata_header() {
    let (_conn, ch) = channel().await;
    let exchange = unique("plexus-test-fanout");
    let queue = bind(&ch, &exchange, ExchangeKind::Fanout, "").await;
    let publisher = connect(&format!("rabbit://{exchange}"), ENV).await.unwrap();
    let message = Encoder::default().fs(&fs_event(7));
    publisher.publish(&message).await.unwrap();
    let got = get(&ch, &queue).await;
    assert_eq!(got.data, message.body);
    assert_eq!(got.routing_key.as_str(), "");
    assert_eq!(
        headers(&got),
        vec![("action".to_owned(), "upload".to_owned())]
    );
    publisher.close().await;
    delete(&ch, &exchange).await;
}

#[tokio::test]
async fn missing_exchange_fails_events_then_recovers_in_process() {
    let (_conn, ch) = channel().await;
    let exchange = unique("plexus-test-late");
    // The Go driver never declares the exchange; neither does Plexus, and
    // it starts without it.
    let publisher = connect(&format!("rabbit://{exchange}"), ENV).await.unwrap();
    let message = Encoder::default().fs(&fs_event(1));
    let err = publisher.publish(&message).await.unwrap_err();
    assert!(err.contains("RabbitMQ"), "{err}");
    // The exchange appears: the next event reopens the channel and goes through.
    let queue = bind(&ch, &exchange, ExchangeKind::Fanout, "").await;
    let mut delivered = false;
    for _ in 0..50 {
        if publisher.publish(&message).await.is_ok() {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        delivered,
        "no publish succeeded after the exchange was declared"
    );
    assert_eq!(get(&ch, &queue).await.data, message.body);
    publisher.close().await;
    delete(&ch, &exchange).await;
}

#[tokio::test]
async fn bad_credentials_stop_the_start_without_leaking_them() {
    require(5672, "RabbitMQ");
    let err = connect(
        "rabbit://x",
        &[(
            "RABBIT_SERVER_URL",
            "amqp://guest:wrong-s3cret@127.0.0.1:5672/%2f",
        )],
    )
    .await
    .err()
    .expect("wrong password");
    assert!(err.contains("failed to dial RABBIT_SERVER_URL"), "{err}");
    assert!(!err.contains("wrong-s3cret"), "{err}");
}
