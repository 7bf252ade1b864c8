//! The MQTT publisher against the local Mosquitto: QoS 1 publishes whose
//! bodies a subscriber receives in order, each acknowledged after its
//! PUBACK, and a clear start-up error when nothing listens.

mod common;

use common::{connect, fs_event, log_event, require, unique, MQTT_URL};
use plexus_pubsub::Encoder;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::time::Duration;
use tokio::sync::mpsc;

const ENV: &[(&str, &str)] = &[("MQTT_SERVER_URL", MQTT_URL)];

/// A subscriber on `topic`; returns the bodies it receives.
async fn subscribe(topic: &str) -> mpsc::UnboundedReceiver<Vec<u8>> {
    require(1883, "Mosquitto (MQTT)");
    let (client, mut events) = AsyncClient::new(
        MqttOptions::new(unique("plexus-test-sub"), "127.0.0.1", 1883),
        16,
    );
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _client = client;
        let mut ready = Some(ready_tx);
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p.payload.to_vec()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(err) => panic!("test subscriber lost its connection: {err}"),
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(5), ready_rx)
        .await
        .expect("SUBACK within 5 s")
        .unwrap();
    rx
}

#[tokio::test]
async fn qos1_bodies_arrive_in_order() {
    let topic = format!("plexus/test/{}", unique("mqtt"));
    let mut received = subscribe(&topic).await;
    let publisher = connect(&format!("mqtt://{topic}"), ENV).await.unwrap();
    let encoder = Encoder::new("edge");
    let messages = vec![
        encoder.fs(&fs_event(1)),
        encoder.fs(&fs_event(2)),
        encoder.log(&log_event()),
    ];
    for message in &messages {
        publisher.publish(message).await.unwrap();
    }
    // Concurrent publishes are serialized, each after the previous PUBACK.
    let more: Vec<_> = (10..20).map(|n| encoder.fs(&fs_event(n))).collect();
    let sends = more.iter().map(|m| publisher.publish(m));
    for result in futures::future::join_all(sends).await {
        result.unwrap();
    }
    for message in &messages {
        let body = tokio::time::timeout(Duration::from_secs(5), received.recv())
            .await
            .expect("a message within 5 s")
            .unwrap();
        assert_eq!(body, message.body);
    }
    let mut rest = Vec::new();
    for _ in 0..more.len() {
        rest.push(
            tokio::time::timeout(Duration::from_secs(5), received.recv())
                .await
                .expect("a message within 5 s")
                .unwrap(),
        );
    }
    let mut expected: Vec<_> = more.iter().map(|m| m.body.clone()).collect();
    expected.sort();
    rest.sort();
    assert_eq!(rest, expected);
    publisher.close().await;
}

#[tokio::test]
async fn unreachable_server_stops_the_start() {
    let err = connect(
        "mqtt://t",
        &[("MQTT_SERVER_URL", "mqtt://user:s3cret@127.0.0.1:1")],
    )
    .await
    .err()
    .expect("nothing listens on port 1");
    assert!(err.contains("failed to dial MQTT_SERVER_URL"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}
