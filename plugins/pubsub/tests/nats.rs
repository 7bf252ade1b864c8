//! The NATS publisher against the local NATS server (JetStream enabled):
//! Go CDK's gob stream without `natsv2`, query-escaped headers with it,
//! JetStream publish acks with `Nats-Msg-Id` deduplication, and clear
//! start-up errors.

mod common;

use async_nats::jetstream;
use common::{connect, fs_event, log_event, provider_event, require, unique, NATS_URL};
use futures::StreamExt;
use plexus_pubsub::Encoder;
use std::time::Duration;

const ENV: &[(&str, &str)] = &[("NATS_SERVER_URL", NATS_URL)];

async fn client() -> async_nats::Client {
    require(4222, "NATS");
    async_nats::connect(NATS_URL)
        .await
        .expect("connect to NATS")
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("a message within 5 s")
        .expect("subscription open")
}

/// gob's unsigned integer, written here for the test.
fn gob_uint(n: usize) -> Vec<u8> {
    if n < 128 {
        vec![n as u8]
    } else if n < 256 {
        vec![0xff, n as u8]
    } else {
        vec![0xfe, (n >> 8) as u8, n as u8]
    }
}

#[tokio::test]
async fn gob_stream_without_natsv2() {
    let nc = client().await;
    let subject = unique("plexus.test.gob");
    let mut sub = nc.subscribe(subject.clone()).await.unwrap();
    nc.flush().await.unwrap();
    let publisher = connect(&format!("nats://{subject}"), ENV).await.unwrap();
    let message = Encoder::new("n1").fs(&fs_event(1));
    publisher.publish(&message).await.unwrap();
    let got = next(&mut sub).await;
    assert!(got.headers.is_none());
    // The type definition and the map {"action":"upload"}: the bytes of
    // the Go golden vector (shared/spec §13).
    let mut expected: Vec<u8> = vec![
        0x0e, 0xff, 0x81, 0x04, 0x01, 0x02, 0xff, 0x82, 0x00, 0x01, 0x0c, 0x01, 0x0c, 0x00, 0x00,
        0x12, 0xff, 0x82, 0x00, 0x01, 0x06, b'a', b'c', b't', b'i', b'o', b'n', 0x06, b'u', b'p',
        b'l', b'o', b'a', b'd',
    ];
    // Then the []byte body: message length, type id 5 (0x0a), delta 0, length, bytes.
    let body = &message.body;
    let mut content = vec![0x0a, 0x00];
    content.extend(gob_uint(body.len()));
    content.extend_from_slice(body);
    expected.extend(gob_uint(content.len()));
    expected.extend(content);
    assert_eq!(got.payload.as_ref(), expected.as_slice());
}

#[tokio::test]
async fn headers_with_natsv2() {
    let nc = client().await;
    let subject = unique("plexus.test.v2");
    let mut sub = nc.subscribe(subject.clone()).await.unwrap();
    nc.flush().await.unwrap();
    let publisher = connect(&format!("nats://{subject}?natsv2"), ENV)
        .await
        .unwrap();
    let message = Encoder::default().provider(&provider_event("add", "my type/é"));
    publisher.publish(&message).await.unwrap();
    let got = next(&mut sub).await;
    assert_eq!(got.payload.as_ref(), message.body.as_slice());
    let headers = got.headers.expect("headers");
    assert_eq!(headers.get("action").map(|v| v.as_str()), Some("add"));
    assert_eq!(
        headers.get("object_type").map(|v| v.as_str()),
        Some("my+type%2F%C3%A9")
    );
    let log = Encoder::default().log(&log_event());
    publisher.publish(&log).await.unwrap();
    let got = next(&mut sub).await;
    let headers = got.headers.expect("headers");
    assert_eq!(headers.get("action").map(|v| v.as_str()), Some("log"));
    assert_eq!(headers.get("event").map(|v| v.as_str()), Some("1"));
}

#[tokio::test]
async fn jetstream_acks_and_deduplicates() {
    let nc = client().await;
    let js = jetstream::new(nc.clone());
    let name = unique("PLEXUS_TEST").replace('-', "_");
    let subject = format!("plexus.js.{name}");
    let mut stream = js
        .create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .expect("create a JetStream stream (is JetStream enabled on the local server?)");
    let publisher = connect(&format!("nats://{subject}?jetstream=1"), ENV)
        .await
        .unwrap();
    let first = Encoder::default().fs(&fs_event(1));
    publisher.publish(&first).await.unwrap();
    publisher.publish(&first).await.unwrap(); // a retry: deduplicated
    publisher
        .publish(&Encoder::default().fs(&fs_event(2)))
        .await
        .unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 2);
    let stored = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        stored.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
        Some(first.id.as_str())
    );
    js.delete_stream(&name).await.unwrap();
}

#[tokio::test]
async fn start_up_errors_are_clear() {
    let _ = client().await;
    let err = connect(&format!("nats://{}?jetstream=1", unique("no.stream")), ENV)
        .await
        .err()
        .expect("no stream takes the subject");
    assert!(err.contains("no JetStream stream takes subject"), "{err}");
    let err = connect(
        "nats://x",
        &[("NATS_SERVER_URL", "nats://user:s3cret@127.0.0.1:1")],
    )
    .await
    .err()
    .expect("nothing listens on port 1");
    assert!(err.contains("failed to dial NATS_SERVER_URL"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}
