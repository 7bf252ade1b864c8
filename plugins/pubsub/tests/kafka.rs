//! The Kafka publisher against a **fake** broker (`fake_kafka/`, built on
//! the independent `kafka-protocol` codec): no Kafka broker can run on this
//! machine. The fake decodes the record batches rskafka sends, so these
//! tests check what would land on a real broker: key, headers, value,
//! partition (sarama's hash partitioner, against values computed outside
//! the code under test), `acks`; SASL PLAIN and SCRAM; TLS with a private
//! CA, `TLS_SERVER_NAME` and `TLS_SKIP_VERIFY`.

mod common;
mod fake_kafka;

use common::{env_of, fs_event, provider_event, TestPki};
use fake_kafka::{FakeKafka, Sasl};
use plexus_pubsub::{config, Broker, Encoder, Publisher};
use plexus_sdk::notifier::FsEvent;
use std::collections::BTreeSet;
use std::time::Duration;

/// Validates and connects as the plugin does, with a short retry deadline:
/// rskafka retries a refused connection until then, and the tests below
/// expect several refusals.
async fn connect(topic_url: &str, pairs: &[(&str, &str)]) -> Result<Publisher, String> {
    let mut broker = config::parse(topic_url, &env_of(pairs))?;
    if let Broker::Kafka(kafka) = &mut broker {
        assert_eq!(kafka.retry_deadline, Duration::from_secs(10));
        kafka.retry_deadline = Duration::from_millis(500);
    }
    Publisher::connect(&broker).await
}

fn fs_with_action(action: &str) -> FsEvent {
    FsEvent {
        action: action.into(),
        ..fs_event(1)
    }
}

#[tokio::test]
async fn keys_headers_values_and_sarama_partitions() {
    let kafka = FakeKafka::start(&[("events", 5)], None, None).await;
    let brokers = kafka.bootstrap();
    let env = [("KAFKA_BROKERS", brokers.as_str())];
    let publisher = connect("kafka://events?key_name=action", &env)
        .await
        .expect("connect to the fake broker");
    let encoder = Encoder::new("node-1");
    // Partitions among 5 for these keys, computed with Python outside the
    // code under test (see src/sarama.rs): FNV-1a 32 of the key, as int32,
    // Go's truncating `%`, negated when negative. "rename", "" and "mkdir"
    // hash above 2^31, where sarama, the unsigned reading and the Java-style
    // `& 0x7fffffff` give three different answers (1/0/2, 0/1/3, 3/3/0).
    let golden = [
        ("upload", 4),
        ("download", 0),
        ("delete", 4),
        ("rename", 1),
        ("", 0),
        ("mkdir", 3),
    ];
    let mut messages = Vec::new();
    for (action, _) in golden {
        let message = encoder.fs(&fs_with_action(action));
        publisher.publish(&message).await.expect("publish");
        messages.push(message);
    }
    let produced = kafka.produced();
    assert_eq!(produced.len(), golden.len());
    for ((record, (action, partition)), message) in produced.iter().zip(golden).zip(&messages) {
        assert_eq!(record.topic, "events");
        assert_eq!(record.partition, partition, "key {action:?}");
        assert_eq!(record.key.as_deref(), Some(action.as_bytes()));
        // The key_name key is the key, not a header; fs events have no other.
        assert!(record.headers.is_empty(), "{:?}", record.headers);
        assert_eq!(record.value.as_deref(), Some(message.body.as_slice()));
        // rskafka waits for every in-sync replica.
        assert_eq!(record.acks, -1);
        assert!(record.timestamp_ms > 1_700_000_000_000);
    }

    // Other metadata keys go as headers.
    let message = encoder.provider(&provider_event("add", "user"));
    publisher.publish(&message).await.unwrap();
    let record = kafka.produced().pop().unwrap();
    assert_eq!(record.key.as_deref(), Some(&b"add"[..]));
    assert_eq!(
        record.headers,
        vec![("object_type".to_owned(), b"user".to_vec())]
    );
}

#[tokio::test]
async fn without_a_key_partitions_are_random_and_metadata_are_headers() {
    let kafka = FakeKafka::start(&[("events", 4)], None, None).await;
    let brokers = kafka.bootstrap();
    let publisher = connect("kafka://events", &[("KAFKA_BROKERS", brokers.as_str())])
        .await
        .unwrap();
    let encoder = Encoder::default();
    let messages: Vec<_> = (0..40).map(|n| encoder.fs(&fs_event(n))).collect();
    // Concurrent publishes, pipelined on the broker connection.
    for result in futures::future::join_all(messages.iter().map(|m| publisher.publish(m))).await {
        result.unwrap();
    }
    let produced = kafka.produced();
    assert_eq!(produced.len(), 40);
    let partitions: BTreeSet<i32> = produced.iter().map(|r| r.partition).collect();
    assert!(partitions.len() > 1, "all on {partitions:?}");
    for record in &produced {
        assert_eq!(record.key, None);
        assert_eq!(
            record.headers,
            vec![("action".to_owned(), b"upload".to_vec())]
        );
    }
    let bodies: BTreeSet<Vec<u8>> = produced.iter().filter_map(|r| r.value.clone()).collect();
    let sent: BTreeSet<Vec<u8>> = messages.iter().map(|m| m.body.clone()).collect();
    assert_eq!(bodies, sent);
}

#[tokio::test]
async fn a_missing_topic_fails_events_until_it_exists() {
    let kafka = FakeKafka::start(&[], None, None).await;
    let brokers = kafka.bootstrap();
    let publisher = connect("kafka://later", &[("KAFKA_BROKERS", brokers.as_str())])
        .await
        .expect("a missing topic does not stop the start");
    let message = Encoder::default().fs(&fs_event(1));
    let err = publisher.publish(&message).await.unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    kafka.create_topic("later", 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match publisher.publish(&message).await {
            Ok(()) => break,
            Err(err) => {
                assert!(std::time::Instant::now() < deadline, "{err}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(kafka.produced().len(), 1);
}

async fn sasl_round(mechanism: &'static str) {
    let sasl = Sasl {
        mechanism,
        username: "sftpgo".into(),
        password: "s3cret-pw".into(),
    };
    let kafka = FakeKafka::start(&[("events", 1)], None, Some(sasl)).await;
    let brokers = kafka.bootstrap();
    let publisher = connect(
        "kafka://events",
        &[
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_BROKERS", brokers.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_MECHANISM", mechanism),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_USERNAME", "sftpgo"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_PASSWORD", "s3cret-pw"),
        ],
    )
    .await
    .unwrap_or_else(|err| panic!("{mechanism}: {err}"));
    publisher
        .publish(&Encoder::default().fs(&fs_event(1)))
        .await
        .unwrap();
    assert_eq!(kafka.produced().len(), 1);
    assert!(kafka.authentications().0 >= 1, "{mechanism}");

    let err = connect(
        "kafka://events",
        &[
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_BROKERS", brokers.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_MECHANISM", mechanism),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_USERNAME", "sftpgo"),
            ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_PASSWORD", "wrong-pw-value"),
        ],
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("{mechanism}: a wrong password was accepted"));
    assert!(err.contains("failed to dial KAFKA_BROKERS"), "{err}");
    assert!(!err.contains("wrong-pw-value"), "{err}");
    assert!(kafka.authentications().1 >= 1, "{mechanism}");

    // Without SASL the broker closes the connection.
    assert!(
        connect("kafka://events", &[("KAFKA_BROKERS", brokers.as_str())])
            .await
            .is_err(),
        "{mechanism}: connected without authenticating"
    );
}

#[tokio::test]
async fn sasl_plain() {
    sasl_round("PLAIN").await;
}

#[tokio::test]
async fn sasl_scram_sha_256() {
    sasl_round("SCRAM-SHA-256").await;
}

#[tokio::test]
async fn sasl_scram_sha_512() {
    sasl_round("SCRAM-SHA-512").await;
}

#[tokio::test]
async fn tls_with_a_private_ca() {
    let pki = TestPki::new(&["127.0.0.1", "localhost"]);
    let sasl = Sasl {
        mechanism: "SCRAM-SHA-512",
        username: "sftpgo".into(),
        password: "s3cret-pw".into(),
    };
    let kafka = FakeKafka::start(&[("events", 3)], Some(pki.server_config()), Some(sasl)).await;
    let brokers = kafka.bootstrap();
    let ca = pki.ca_path();
    let sasl_env = [
        ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_USERNAME", "sftpgo"),
        ("SFTPGO_PLUGIN_PUBSUB_KAFKA_SASL_PASSWORD", "s3cret-pw"),
    ];
    // SASL_SSL: the CA turns TLS on (KAFKA_TLS is implied), then SCRAM.
    let mut env = vec![
        ("KAFKA_BROKERS", brokers.as_str()),
        ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca.as_str()),
    ];
    env.extend(sasl_env);
    let publisher = connect("kafka://events?key_name=action", &env)
        .await
        .expect("TLS with the test CA");
    publisher
        .publish(&Encoder::default().fs(&fs_event(1)))
        .await
        .unwrap();
    assert_eq!(kafka.produced().len(), 1);

    // KAFKA_TLS=1 without the CA: the certificate is not trusted.
    let mut env = vec![
        ("KAFKA_BROKERS", brokers.as_str()),
        ("SFTPGO_PLUGIN_PUBSUB_KAFKA_TLS", "1"),
    ];
    env.extend(sasl_env);
    assert!(connect("kafka://events", &env).await.is_err());

    // TLS_SKIP_VERIFY accepts it (diagnostics only).
    env.push(("SFTPGO_PLUGIN_PUBSUB_TLS_SKIP_VERIFY", "true"));
    connect("kafka://events", &env)
        .await
        .expect("TLS_SKIP_VERIFY accepts an untrusted certificate");

    // Plain TCP against a TLS listener fails.
    let mut env = vec![("KAFKA_BROKERS", brokers.as_str())];
    env.extend(sasl_env);
    assert!(connect("kafka://events", &env).await.is_err());
}

#[tokio::test]
async fn tls_server_name_overrides_the_dialled_host() {
    // The certificate names only kafka.internal; the broker is dialled by IP.
    let pki = TestPki::new(&["kafka.internal"]);
    let kafka = FakeKafka::start(&[("events", 1)], Some(pki.server_config()), None).await;
    let brokers = kafka.bootstrap();
    let ca = pki.ca_path();
    let base = [
        ("KAFKA_BROKERS", brokers.as_str()),
        ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca.as_str()),
    ];
    assert!(
        connect("kafka://events", &base).await.is_err(),
        "a certificate for another name was accepted"
    );
    let mut env = base.to_vec();
    env.push(("SFTPGO_PLUGIN_PUBSUB_TLS_SERVER_NAME", "kafka.internal"));
    let publisher = connect("kafka://events", &env)
        .await
        .expect("TLS_SERVER_NAME matches the certificate");
    publisher
        .publish(&Encoder::default().fs(&fs_event(1)))
        .await
        .unwrap();
    let mut env = base.to_vec();
    env.push(("SFTPGO_PLUGIN_PUBSUB_TLS_SERVER_NAME", "other.internal"));
    assert!(connect("kafka://events", &env).await.is_err());
}
