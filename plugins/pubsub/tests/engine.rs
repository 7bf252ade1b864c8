//! `plexus-pubsub` as a real plugin process started by the Plexus engine:
//! events published with `Engine::notify_*` land in a JetStream stream,
//! byte-identical to what the Go plugin would send, delivered in batches;
//! and a RabbitMQ exchange that is missing at first makes events fail one
//! by one (no panic, no restart), kept by the host's retry queue and
//! delivered once the exchange exists; and within one batch each event
//! gets its own outcome (routable ones delivered, unroutable ones queued).

mod common;

use async_nats::jetstream;
use common::{fs_event, log_event, provider_event, require, unique, NATS_URL, RABBIT_URL};
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_pubsub::Encoder;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_plexus-pubsub");

fn plugin(args: &[&str], env_var: &str) -> PluginConfig {
    plugin_for(args, env_var, &["upload"])
}

fn plugin_for(args: &[&str], env_var: &str, fs_events: &[&str]) -> PluginConfig {
    let mut config: PluginConfig = serde_json::from_value(serde_json::json!({
        "type": "notifier",
        "cmd": BIN,
        "args": args,
        "auto_mtls": true,
        "env_vars": [env_var],
        "notifier_options": {
            "fs_events": fs_events,
            "provider_events": ["add"],
            "provider_objects": ["user"],
            "log_events": [1],
            "retry_max_time": 600
        }
    }))
    .expect("plugin config");
    config.cmd = BIN.to_owned();
    config
}

async fn engine(dir: &std::path::Path, plugin: PluginConfig) -> Engine {
    let settings = EngineSettings {
        data_dir: dir.join("plexus"),
        ..EngineSettings::default()
    };
    Engine::start(vec![plugin], settings)
        .await
        .expect("the engine starts plexus-pubsub")
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 20 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_publishes_to_jetstream() {
    require(4222, "NATS");
    // The host passes only the variables a plugin config lists.
    std::env::set_var("NATS_SERVER_URL", NATS_URL);
    let nc = async_nats::connect(NATS_URL).await.unwrap();
    let js = jetstream::new(nc);
    let name = unique("PLEXUS_ENGINE").replace('-', "_");
    let subject = format!("plexus.engine.{name}");
    let mut stream = js
        .create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .expect("create a JetStream stream");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("nats://{subject}?jetstream=1");
    let engine = engine(dir.path(), plugin(&[&url, "node-1"], "NATS_SERVER_URL")).await;
    const N: i64 = 300;
    for n in 0..N {
        engine.notify_fs(fs_event(n)).await.unwrap();
    }
    engine
        .notify_provider(provider_event("add", "user"))
        .await
        .unwrap();
    engine.notify_log(log_event()).await.unwrap();
    // Not matched by the filters: never published.
    engine
        .notify_provider(provider_event("add", "admin"))
        .await
        .unwrap();
    let expected = N as u64 + 2;
    eventually("every event in the stream", || {
        let mut stream = stream.clone();
        async move { stream.info().await.map(|i| i.state.messages).unwrap_or(0) >= expected }
    })
    .await;
    assert!(engine.drain(Duration::from_secs(10)).await);
    assert_eq!(stream.info().await.unwrap().state.messages, expected);
    let stats = engine.stats();
    assert_eq!(stats[0].counters.delivered, expected);
    assert!(stats[0].counters.batched > 0, "batch extension not used");

    // Each stored message is the Go plugin's bytes for its event.
    let encoder = Encoder::new("node-1");
    let mut seen_fs = 0;
    for seq in 1..=expected {
        let stored = stream.get_raw_message(seq).await.unwrap();
        let id = stored
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .expect("Nats-Msg-Id");
        for n in 0..N {
            let message = encoder.fs(&fs_event(n));
            if message.id == id {
                let gob = plexus_pubsub::gob::encode(&message.metadata_pairs(), &message.body);
                assert_eq!(stored.payload.as_ref(), gob.as_slice());
                seen_fs += 1;
                break;
            }
        }
    }
    assert_eq!(seen_fs, N);
    engine.shutdown(Duration::from_secs(5)).await;
    js.delete_stream(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_exchange_is_retried_by_the_host() {
    require(5672, "RabbitMQ");
    std::env::set_var("RABBIT_SERVER_URL", RABBIT_URL);
    let exchange = unique("plexus-engine-late");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("rabbit://{exchange}");
    let engine = engine(dir.path(), plugin(&[&url], "RABBIT_SERVER_URL")).await;
    // Recent events: the host keeps them for retry_max_time (600 s).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    for n in 0..5 {
        let event = plexus_sdk::notifier::FsEvent {
            timestamp: now + n,
            ..fs_event(n)
        };
        engine.notify_fs(event).await.unwrap();
    }
    eventually("five failed deliveries queued by the host", || {
        let queued = engine.stats()[0].counters.queue_len;
        async move { queued == 5 }
    })
    .await;

    let conn = Connection::connect(RABBIT_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let queue = ch
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
    let queue = queue.name().as_str().to_owned();
    ch.queue_bind(
        queue.as_str().into(),
        exchange.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    engine.redrive_now();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < 5 && Instant::now() < deadline {
        match ch
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(_) => got += 1,
            None => {
                engine.redrive_now();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(got, 5, "the queued events were not re-driven to RabbitMQ");
    let counters = engine.stats()[0].counters;
    assert_eq!(
        counters.restarts, 0,
        "the plugin must not die on a failed publish"
    );
    assert!(counters.failed >= 5, "{counters:?}");
    engine.shutdown(Duration::from_secs(5)).await;
    let _ = ch
        .exchange_delete(exchange.as_str().into(), Default::default())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_of_a_batch_gets_its_own_outcome() {
    require(5672, "RabbitMQ");
    std::env::set_var("RABBIT_SERVER_URL", RABBIT_URL);
    let conn = Connection::connect(RABBIT_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let exchange = unique("plexus-engine-mixed");
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let queue = ch
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
    let queue = queue.name().as_str().to_owned();
    // Only uploads are routable: `key_name=action` makes the action the routing key.
    ch.queue_bind(
        queue.as_str().into(),
        exchange.as_str().into(),
        "upload".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = format!("rabbit://{exchange}?key_name=action");
    let engine = engine(
        dir.path(),
        plugin_for(&[&url], "RABBIT_SERVER_URL", &["upload", "download"]),
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let events: Vec<_> = (0..200)
        .map(|n| {
            plexus_actors::event::Event::Fs(plexus_sdk::notifier::FsEvent {
                timestamp: now + n,
                action: if n % 4 == 0 { "download" } else { "upload" }.into(),
                ..fs_event(n)
            })
        })
        .collect();
    engine
        .notify_many(events)
        .await
        .map_err(|(_, e)| e)
        .unwrap();
    eventually("150 delivered and 50 queued", || {
        let c = engine.stats()[0].counters;
        async move { c.delivered == 150 && c.queue_len == 50 }
    })
    .await;
    let counters = engine.stats()[0].counters;
    assert_eq!(counters.batched, 1, "batch extension not used");
    assert_eq!(counters.restarts, 0);
    let mut got = 0;
    while ch
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .is_some()
    {
        got += 1;
    }
    assert_eq!(got, 150);
    engine.shutdown(Duration::from_secs(5)).await;
    let _ = ch
        .exchange_delete(exchange.as_str().into(), Default::default())
        .await;
}
