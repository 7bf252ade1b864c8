//! Reconnection in process: each publisher talks to its real local broker
//! through a TCP relay that the test cuts. Events published while the link
//! is down fail one by one (no panic, the process and publisher live on),
//! and once the broker is reachable again a later event goes through on a
//! new connection, without any restart. async-nats reconnects within
//! milliseconds, so for NATS the test checks what matters there: every
//! event acknowledged across the cut really reached a subscriber.

mod common;

use common::{connect, fs_event, require, unique};
use plexus_pubsub::{Encoder, Publisher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP relay to `127.0.0.1:upstream` whose live connections can be cut.
struct Relay {
    port: u16,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let registry = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry.lock().unwrap().push(link);
            }
        });
        Relay {
            port,
            links,
            _accept: accept,
        }
    }

    /// Drops every live connection (both sockets close).
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

/// Cuts the link, expects a failure, then a success within 15 s; returns
/// the timestamps of the events acknowledged.
async fn survives_a_cut(publisher: &Publisher, relay: &Relay) -> Vec<i64> {
    survive(publisher, relay, true).await
}

async fn survive(publisher: &Publisher, relay: &Relay, must_fail: bool) -> Vec<i64> {
    let mut acked = vec![fs_event(0).timestamp];
    let encoder = Encoder::default();
    publisher
        .publish(&encoder.fs(&fs_event(0)))
        .await
        .expect("publish before the cut");
    relay.cut();
    let mut failed = false;
    let mut recovered = false;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 1;
    while Instant::now() < deadline {
        let outcome = tokio::time::timeout(
            Duration::from_secs(3),
            publisher.publish(&encoder.fs(&fs_event(n))),
        )
        .await;
        n += 1;
        match outcome {
            Ok(Ok(())) => {
                acked.push(fs_event(n - 1).timestamp);
                if failed || (!must_fail && n > 20) {
                    recovered = true;
                    break;
                }
            }
            Ok(Err(_)) | Err(_) => failed = true,
        }
        tokio::time::sleep(Duration::from_millis(if must_fail { 50 } else { 5 })).await;
    }
    if must_fail {
        assert!(failed, "no publish failed after the connection was cut");
    }
    assert!(recovered, "no publish succeeded again within 15 s");
    acked
}

#[tokio::test]
async fn rabbit_reconnects() {
    require(5672, "RabbitMQ");
    let relay = Relay::start(5672).await;
    let exchange = unique("plexus-test-reconnect");
    // A fanout exchange with a queue, declared straight on the broker.
    let conn = lapin::Connection::connect(common::RABBIT_URL, Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        exchange.as_str().into(),
        lapin::ExchangeKind::Fanout,
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let queue = ch
        .queue_declare(
            "".into(),
            lapin::options::QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        queue.name().clone(),
        exchange.as_str().into(),
        "".into(),
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let server = format!("amqp://guest:guest@127.0.0.1:{}/%2f", relay.port);
    let publisher = connect(
        &format!("rabbit://{exchange}"),
        &[("RABBIT_SERVER_URL", &server)],
    )
    .await
    .unwrap();
    survives_a_cut(&publisher, &relay).await;
    let _ = ch
        .exchange_delete(exchange.as_str().into(), Default::default())
        .await;
}

#[tokio::test]
async fn nats_reconnects_without_false_acks() {
    require(4222, "NATS");
    // The subscriber talks to the server directly, not through the relay.
    let direct = async_nats::connect(common::NATS_URL).await.unwrap();
    let subject = unique("plexus.reconnect");
    let mut sub = direct.subscribe(subject.clone()).await.unwrap();
    direct.flush().await.unwrap();
    let relay = Relay::start(4222).await;
    let server = format!("nats://127.0.0.1:{}", relay.port);
    let publisher = connect(
        &format!("nats://{subject}?natsv2"),
        &[("NATS_SERVER_URL", &server)],
    )
    .await
    .unwrap();
    let acked = survive(&publisher, &relay, false).await;
    let mut received = std::collections::HashSet::new();
    use futures::StreamExt;
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await
    {
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let text = body["timestamp"].as_str().unwrap_or_default().to_owned();
        received.insert(text);
    }
    for ts in acked {
        let text = plexus_pubsub::rfc3339::format_nanos(ts);
        assert!(
            received.contains(&text),
            "event {text} was acknowledged but never arrived"
        );
    }
}

#[tokio::test]
async fn mqtt_reconnects() {
    require(1883, "Mosquitto (MQTT)");
    let relay = Relay::start(1883).await;
    let server = format!("mqtt://127.0.0.1:{}", relay.port);
    let publisher = connect(
        &format!("mqtt://plexus/{}", unique("reconnect")),
        &[("MQTT_SERVER_URL", &server)],
    )
    .await
    .unwrap();
    survives_a_cut(&publisher, &relay).await;
}

#[tokio::test]
async fn redis_reconnects() {
    require(6379, "Redis");
    let relay = Relay::start(6379).await;
    let server = format!("redis://127.0.0.1:{}/0", relay.port);
    let stream = unique("plexus-test-reconnect");
    let publisher = connect(
        &format!("redis://{stream}"),
        &[("REDIS_SERVER_URL", &server)],
    )
    .await
    .unwrap();
    survives_a_cut(&publisher, &relay).await;
    let client = redis::Client::open(common::REDIS_URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
}
