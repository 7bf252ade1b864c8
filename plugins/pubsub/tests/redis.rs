//! The Redis Streams publisher against the local Redis: one `XADD` entry
//! per event with the metadata, the event id and the body, `maxlen`
//! trimming, pipelined concurrent publishes, and a clear start-up error.

mod common;

use common::{connect, fs_event, provider_event, require, unique, REDIS_URL};
use plexus_pubsub::Encoder;
use redis::AsyncCommands;

const ENV: &[(&str, &str)] = &[("REDIS_SERVER_URL", REDIS_URL)];

type Entry = (String, Vec<(String, Vec<u8>)>);

async fn redis() -> redis::aio::MultiplexedConnection {
    require(6379, "Redis");
    redis::Client::open(REDIS_URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis")
}

async fn entries(conn: &mut redis::aio::MultiplexedConnection, stream: &str) -> Vec<Entry> {
    redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn entries_hold_metadata_id_and_body() {
    let mut conn = redis().await;
    let stream = unique("plexus-test-stream");
    let publisher = connect(&format!("redis://{stream}"), ENV).await.unwrap();
    let message = Encoder::new("n1").provider(&provider_event("update", "user"));
    publisher.publish(&message).await.unwrap();
    let got = entries(&mut conn, &stream).await;
    assert_eq!(got.len(), 1);
    let fields: Vec<(String, Vec<u8>)> = got[0].1.clone();
    assert_eq!(
        fields,
        vec![
            ("action".to_owned(), b"update".to_vec()),
            ("object_type".to_owned(), b"user".to_vec()),
            ("id".to_owned(), message.id.clone().into_bytes()),
            ("body".to_owned(), message.body.clone()),
        ]
    );
    let _: () = conn.del(&stream).await.unwrap();
}

#[tokio::test]
async fn maxlen_trims_and_concurrent_publishes_all_land() {
    let mut conn = redis().await;
    let stream = unique("plexus-test-trim");
    let publisher = connect(&format!("redis://{stream}?maxlen=5"), ENV)
        .await
        .unwrap();
    let encoder = Encoder::default();
    let messages: Vec<_> = (0..20).map(|n| encoder.fs(&fs_event(n))).collect();
    for result in futures::future::join_all(messages.iter().map(|m| publisher.publish(m))).await {
        result.unwrap();
    }
    let got = entries(&mut conn, &stream).await;
    assert_eq!(got.len(), 5);
    let _: () = conn.del(&stream).await.unwrap();

    let stream = unique("plexus-test-all");
    let publisher = connect(&format!("redis://{stream}"), ENV).await.unwrap();
    for result in futures::future::join_all(messages.iter().map(|m| publisher.publish(m))).await {
        result.unwrap();
    }
    assert_eq!(entries(&mut conn, &stream).await.len(), 20);
    let _: () = conn.del(&stream).await.unwrap();
}

#[tokio::test]
async fn unreachable_server_stops_the_start() {
    let err = connect(
        "redis://s",
        &[("REDIS_SERVER_URL", "redis://:s3cret@127.0.0.1:1/0")],
    )
    .await
    .err()
    .expect("nothing listens on port 1");
    assert!(err.contains("failed to dial REDIS_SERVER_URL"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}
