//! Beyond one machine, end to end on the local NATS server: two edge
//! daemons publish through `plexus-pubsub` (`jetstream=1`) into one
//! JetStream stream, and a central daemon consumes it (`engine.sources`)
//! into `plexus-eventstore` on SQLite. The central daemon is killed -9
//! while events flow and started again; afterwards every event is in the
//! store exactly once, by count and by id.
//!
//! A second test sends what is no event: it is terminated, copied to the
//! dead-letter subject with the reason, and the events around it still
//! arrive. A third stalls the central daemon's notifier: the source stops
//! pulling, the messages wait in the stream, nothing is spilled or dropped.
//!
//! NATS with JetStream must listen on 127.0.0.1:4222; a test fails, never
//! skips, when it does not. Every run uses its own stream and subjects.

use async_nats::jetstream;
use futures::StreamExt;
use plexus_eventdb::content_id::content_id;
use plexus_eventdb::NewEvent;
use plexus_interop::daemon::ServeDaemon;
use plexus_interop::{eventually, read_jsonl, workspace_bin};
use plexus_proto::plexus::v1::event_bus_client::EventBusClient;
use plexus_proto::plexus::v1::{event, Event as WireEvent, PublishBatchRequest};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use serde_json::json;
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NATS_URL: &str = "nats://127.0.0.1:4222";
/// Events each edge publishes.
const PER_EDGE: usize = 1500;
/// Events per `PublishBatch` call to an edge.
const BATCH: usize = 50;

/// Panics with a clear message when NATS is down.
fn require_nats() {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 4222));
    if let Err(err) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        panic!(
            "NATS (with JetStream) is not reachable on 127.0.0.1:4222 ({err}): these tests run \
             against the real local server and are never skipped; start it"
        );
    }
}

/// A name no other run uses.
fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{nanos}", std::process::id())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Creates the stream every edge publishes into.
async fn create_stream(js: &jetstream::Context, name: &str, subjects: &str) {
    js.create_stream(jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects.to_owned()],
        ..Default::default()
    })
    .await
    .unwrap_or_else(|err| panic!("create the JetStream stream {name}: {err}"));
}

/// The filters every notifier of these tests uses: every event emitted.
fn notifier_options() -> serde_json::Value {
    json!({
        "fs_events": ["upload"],
        "provider_events": ["add"],
        "provider_objects": ["user"],
        "log_events": [1, 5],
        "retry_max_time": 600
    })
}

/// An edge daemon's config: `plexus-pubsub` publishing to `subject`.
fn edge_config(dir: &Path, subject: &str, instance: &str) -> serde_json::Value {
    json!({
        "engine": {"data_dir": dir.join("data"), "durability": "write_ahead"},
        "plugins": [{
            "type": "notifier",
            "cmd": workspace_bin("plexus-pubsub"),
            "args": [format!("nats://{subject}?jetstream=1"), instance],
            "env_vars": ["NATS_SERVER_URL"],
            "auto_mtls": true,
            "notifier_options": notifier_options()
        }]
    })
}

/// The central daemon's config: the stream as a source, the store as its
/// notifier. The store gets one event at a time through a small mailbox,
/// so a pull of 128 messages spends most of its time being accepted: a
/// kill then lands, more often than not, between a pull and the engine's
/// accept of all of it, the window where acknowledging early would lose
/// events.
fn central_config(dir: &Path, stream: &str, db: &Path) -> serde_json::Value {
    json!({
        "engine": {
            "data_dir": dir.join("data"),
            "durability": "write_ahead",
            "mailbox_capacity": 16,
            "max_in_flight": 1,
            "max_calls_in_flight": 1,
            "sources": [{
                "type": "nats_jetstream",
                "servers": [NATS_URL],
                "stream": stream,
                "durable": "central",
                "batch_size": 128,
                "ack_wait": 5
            }]
        },
        "plugins": [{
            "type": "notifier",
            "cmd": workspace_bin("plexus-eventstore"),
            "args": ["serve", "--driver", "sqlite", "--dsn", db, "--idempotent"],
            "auto_mtls": true,
            "notifier_options": notifier_options()
        }]
    })
}

/// Event `n` of edge `edge`: fs, provider and log in turn, each unique.
fn event_of(edge: usize, n: usize, base: i64) -> WireEvent {
    let timestamp = base + (edge as i64) * 1_000_000_000 + (n as i64) * 1_000;
    let kind = match n % 3 {
        0 => event::Kind::Fs(FsEvent {
            timestamp,
            action: "upload".into(),
            username: format!("user-{edge}"),
            fs_path: format!("/srv/edge-{edge}/file-{n}.bin"),
            virtual_path: format!("/file-{n}.bin"),
            protocol: "SFTP".into(),
            status: 1,
            ip: "192.0.2.1".into(),
            file_size: n as i64,
            session_id: format!("s{edge}"),
            ..Default::default()
        }),
        1 => event::Kind::Provider(ProviderEvent {
            timestamp,
            action: "add".into(),
            object_type: "user".into(),
            username: "admin".into(),
            ip: "127.0.0.1".into(),
            object_name: format!("user-{edge}-{n}"),
            object_data: format!("{{\"username\":\"user-{edge}-{n}\"}}").into_bytes(),
            ..Default::default()
        }),
        _ => event::Kind::Log(LogEvent {
            timestamp,
            event: 1,
            username: format!("user-{edge}"),
            protocol: "SSH".into(),
            ip: "203.0.113.9".into(),
            message: format!("login failed {n}"),
            ..Default::default()
        }),
    };
    WireEvent { kind: Some(kind) }
}

/// The store's id for a published event.
fn expected_id(event: &WireEvent) -> String {
    let stored = match event.kind.clone() {
        Some(event::Kind::Fs(e)) => NewEvent::Fs(Box::new(e)),
        Some(event::Kind::Provider(e)) => NewEvent::Provider(e),
        Some(event::Kind::Log(e)) => NewEvent::Log(e),
        None => unreachable!("every test event has a kind"),
    };
    content_id(&stored)
}

async fn ingestion_client(socket: &Path) -> EventBusClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("unix://{}", socket.display()))
        .expect("a unix endpoint")
        .connect()
        .await
        .unwrap_or_else(|err| panic!("connect to {}: {err}", socket.display()));
    EventBusClient::new(channel)
}

/// Publishes `events` to an edge in batches, each accepted whole.
async fn publish_all(socket: PathBuf, events: Vec<WireEvent>) {
    let mut client = ingestion_client(&socket).await;
    for chunk in events.chunks(BATCH) {
        let reply = client
            .publish_batch(PublishBatchRequest {
                events: chunk.to_vec(),
            })
            .await
            .expect("PublishBatch")
            .into_inner();
        assert_eq!(reply.accepted as usize, chunk.len(), "{}", reply.error);
    }
}

/// Every id in the store's three tables, sorted; empty while the store
/// has not created its tables yet.
async fn stored_ids(db: &Path) -> Vec<String> {
    let Ok(pool) = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await
    else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for table in [
        "eventstore_fs_events",
        "eventstore_provider_events",
        "eventstore_log_events",
    ] {
        match sqlx::query(&format!("SELECT id FROM {table}"))
            .fetch_all(&pool)
            .await
        {
            Ok(rows) => ids.extend(rows.iter().map(|row| row.get::<String, _>(0))),
            Err(_) => return Vec::new(),
        }
    }
    pool.close().await;
    ids.sort();
    ids
}

/// Waits until `check` holds, polling every 100 ms.
async fn until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_stored_once_across_a_kill_of_the_central_daemon() {
    require_nats();
    let run = unique();
    let stream = format!("PLEXUS_SOURCE_{run}");
    let subjects = format!("plexus.source.{run}");
    let js = jetstream::new(
        async_nats::connect(NATS_URL)
            .await
            .expect("connect to NATS"),
    );
    create_stream(&js, &stream, &format!("{subjects}.>")).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let nats_env = [("NATS_SERVER_URL", NATS_URL)];
    let mut edges = Vec::new();
    for edge in 1..=2 {
        let edge_dir = dir.path().join(format!("edge-{edge}"));
        std::fs::create_dir_all(&edge_dir).expect("edge dir");
        let config = edge_config(
            &edge_dir,
            &format!("{subjects}.edge-{edge}"),
            &format!("edge-{edge}"),
        );
        let socket = edge_dir.join("data/plexus.sock");
        edges.push((
            ServeDaemon::start(&edge_dir, config, &nats_env, &socket).await,
            socket,
        ));
    }
    let central_dir = dir.path().join("central");
    std::fs::create_dir_all(&central_dir).expect("central dir");
    let db = central_dir.join("events.db");
    let central_socket = central_dir.join("data/plexus.sock");
    let config = central_config(&central_dir, &stream, &db);
    let central = ServeDaemon::start(&central_dir, config.clone(), &[], &central_socket).await;

    // Both edges publish at once; the central daemon is killed once part
    // of the events are stored and the rest still flows.
    let base = now_ns();
    let mut expected = Vec::new();
    let mut publishers = Vec::new();
    for (index, (_, socket)) in edges.iter().enumerate() {
        let events: Vec<WireEvent> = (0..PER_EDGE)
            .map(|n| event_of(index + 1, n, base))
            .collect();
        expected.extend(events.iter().map(expected_id));
        publishers.push(tokio::spawn(publish_all(socket.clone(), events)));
    }
    expected.sort();
    let total = expected.len();
    assert_eq!(
        expected.windows(2).filter(|w| w[0] == w[1]).count(),
        0,
        "the test's events are distinct"
    );
    until(
        "a quarter of the events stored",
        Duration::from_secs(120),
        || async { stored_ids(&db).await.len() >= total / 4 },
    )
    .await;
    central.kill9().await;
    let at_kill = stored_ids(&db).await.len();
    assert!(
        at_kill < total,
        "the central daemon stored every event before the kill ({at_kill}); nothing was in flight"
    );
    for publisher in publishers {
        publisher.await.expect("an edge publisher");
    }

    // Started again: the stream redelivers what was not acknowledged, the
    // write-ahead log what was not delivered.
    let central = ServeDaemon::start(&central_dir, config, &[], &central_socket).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = stored_ids(&db).await.len();
        if stored >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the restart, {stored} of {total} events stored within 120 s \
             ({at_kill} at the kill): events were lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut consumer: jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .expect("the stream")
        .get_consumer("central")
        .await
        .expect("the central daemon's durable consumer");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = consumer.info().await.expect("consumer info");
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the durable consumer still has {} pending and {} unacknowledged",
            info.num_pending,
            info.num_ack_pending
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Late duplicates (a redelivery still in the engine) would show now.
    central.stop().await;
    let stored = stored_ids(&db).await;
    assert_eq!(
        stored.len(),
        total,
        "{} rows for {total} events ({at_kill} stored at the kill)",
        stored.len()
    );
    assert_eq!(stored, expected, "the stored ids are the events' ids");
    // The stream holds each event once too: the edges' retries were
    // deduplicated by Nats-Msg-Id.
    let mut source_stream = js.get_stream(&stream).await.expect("the stream");
    let messages = source_stream
        .info()
        .await
        .expect("stream info")
        .state
        .messages;
    assert_eq!(messages as usize, total);
    for (edge, _) in edges {
        edge.stop().await;
    }
    let _ = js.delete_stream(&stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_no_event_is_dead_lettered_and_terminated() {
    require_nats();
    let run = unique();
    let stream = format!("PLEXUS_SOURCE_{run}");
    let subject = format!("plexus.source.{run}.in");
    let dead_stream = format!("PLEXUS_DEAD_{run}");
    let dead_subject = format!("plexus.dead.{run}");
    let js = jetstream::new(
        async_nats::connect(NATS_URL)
            .await
            .expect("connect to NATS"),
    );
    create_stream(&js, &stream, &subject).await;
    create_stream(&js, &dead_stream, &dead_subject).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("events.jsonl");
    let socket = dir.path().join("data/plexus.sock");
    let config = json!({
        "engine": {
            "data_dir": dir.path().join("data"),
            "durability": "write_ahead",
            "sources": [{"type": "nats_jetstream", "servers": NATS_URL, "stream": stream,
                         "durable": "central", "dead_letter_subject": dead_subject}]
        },
        "plugins": [{"type": "notifier", "cmd": workspace_bin("notifier-jsonl"),
                     "args": ["--out", out], "notifier_options": notifier_options()}]
    });
    let central = ServeDaemon::start(dir.path(), config, &[], &socket).await;

    let seconds = now_ns() / 1_000_000_000;
    let body = |n: u32| {
        // A log event as the Go plugin writes it, timestamp on a whole second.
        let stamp = time::OffsetDateTime::from_unix_timestamp(seconds + i64::from(n))
            .expect("a timestamp")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
        format!(r#"{{"timestamp":"{stamp}","event":1,"username":"u{n}","message":"login failed"}}"#)
    };
    for payload in [
        body(1).into_bytes(),
        b"\x00\x01 not an event".to_vec(),
        br#"{"timestamp":"soon","event":1}"#.to_vec(),
        body(2).into_bytes(),
    ] {
        js.publish(subject.clone(), payload.into())
            .await
            .expect("publish")
            .await
            .expect("stream ack");
    }
    let out_path = out.clone();
    eventually("both events delivered", Duration::from_secs(30), || {
        read_jsonl(&out_path).len() == 2
    })
    .await;
    // Both events, in either order: the engine delivers with several calls
    // in flight (README, "Ordering").
    let users: Vec<String> = read_jsonl(&out)
        .iter()
        .map(|line| line.to_string())
        .collect();
    for user in ["\"u1\"", "\"u2\""] {
        assert_eq!(
            users.iter().filter(|line| line.contains(user)).count(),
            1,
            "{user} once in {users:?}"
        );
    }

    let dead: jetstream::consumer::PullConsumer = js
        .get_stream(&dead_stream)
        .await
        .expect("the dead-letter stream")
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .expect("a consumer of the dead letters");
    let mut letters = dead
        .fetch()
        .max_messages(10)
        .messages()
        .await
        .expect("fetch the dead letters");
    let mut reasons = Vec::new();
    while let Some(letter) = letters.next().await {
        let letter = letter.expect("a dead letter");
        let headers = letter.headers.clone().expect("dead letters carry headers");
        let reason = headers
            .get("Plexus-Dead-Letter")
            .expect("the reason header")
            .to_string();
        assert_eq!(
            headers
                .get("Plexus-Source-Stream")
                .map(|v| v.to_string())
                .as_deref(),
            Some(stream.as_str())
        );
        assert!(headers.get("Plexus-Source-Sequence").is_some());
        reasons.push(reason);
    }
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("envelope"), "{reasons:?}");
    assert!(reasons[1].contains("timestamp"), "{reasons:?}");

    // Terminated, not waiting for a redelivery.
    let mut consumer: jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .expect("the stream")
        .get_consumer("central")
        .await
        .expect("the durable consumer");
    let info = consumer.info().await.expect("consumer info");
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
    central.stop().await;
    let _ = js.delete_stream(&stream).await;
    let _ = js.delete_stream(&dead_stream).await;
}

/// `plexus status` for one plugin: (pid, dropped, retry, spill).
fn plugin_status(socket: &Path) -> (u32, u64, u64, u64) {
    let output = std::process::Command::new(workspace_bin("plexus"))
        .args(["status", "--socket"])
        .arg(socket)
        .output()
        .expect("run plexus status");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|line| line.starts_with("notifier"))
        .unwrap_or_else(|| panic!("no notifier in: {stdout}"));
    // kind state pid restarts delivered failed dropped retry spill name
    let columns: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize| -> u64 {
        columns[i]
            .parse()
            .unwrap_or_else(|_| panic!("column {i} of {line}"))
    };
    (number(2) as u32, number(6), number(7), number(8))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_notifier_leaves_the_messages_in_the_stream() {
    require_nats();
    let run = unique();
    let stream = format!("PLEXUS_SOURCE_{run}");
    let subject = format!("plexus.source.{run}.in");
    let js = jetstream::new(
        async_nats::connect(NATS_URL)
            .await
            .expect("connect to NATS"),
    );
    create_stream(&js, &stream, &subject).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("events.jsonl");
    let socket = dir.path().join("data/plexus.sock");
    // A small mailbox, and no health check or call deadline that would
    // turn the stall into a restart or a failure within the test.
    let config = json!({
        "engine": {
            "data_dir": dir.path().join("data"),
            "durability": "write_ahead",
            "mailbox_capacity": 8,
            "max_in_flight": 4,
            "max_calls_in_flight": 1,
            "rpc_timeout": 600,
            "health_interval": 600,
            "sources": [{"type": "nats_jetstream", "servers": NATS_URL, "stream": stream,
                         "durable": "central", "batch_size": 8, "max_ack_pending": 8}]
        },
        "plugins": [{"type": "notifier", "cmd": workspace_bin("notifier-jsonl"),
                     "args": ["--out", out], "notifier_options": notifier_options()}]
    });
    let central = ServeDaemon::start(dir.path(), config, &[], &socket).await;
    let (pid, ..) = plugin_status(&socket);
    assert_ne!(pid, 0, "the notifier runs");
    // SAFETY: signals to the plugin process this test's daemon started.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };

    let seconds = now_ns() / 1_000_000_000;
    const EVENTS: u32 = 100;
    for n in 0..EVENTS {
        let stamp = time::OffsetDateTime::from_unix_timestamp(seconds)
            .expect("a timestamp")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
        let body = format!(r#"{{"timestamp":"{stamp}","event":1,"username":"u{n}"}}"#);
        js.publish(subject.clone(), body.into())
            .await
            .expect("publish")
            .await
            .expect("stream ack");
    }
    // Twice the engine's overflow_wait: a source that kept pulling would
    // have made it spill by now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut consumer: jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .expect("the stream")
        .get_consumer("central")
        .await
        .expect("the durable consumer");
    let info = consumer.info().await.expect("consumer info").clone();
    let (_, dropped, retry, spill) = plugin_status(&socket);
    // SAFETY: as above.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) };
    assert_eq!(
        (dropped, retry, spill),
        (0, 0, 0),
        "nothing spilled or dropped"
    );
    assert!(
        info.num_pending >= u64::from(EVENTS) - 32,
        "the source kept pulling from a full engine: {} of {EVENTS} left in the stream",
        info.num_pending
    );

    let out_path = out.clone();
    eventually("every event delivered", Duration::from_secs(60), || {
        read_jsonl(&out_path).len() >= EVENTS as usize
    })
    .await;
    let mut users: Vec<String> = read_jsonl(&out)
        .iter()
        .map(|line| line.to_string())
        .collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), EVENTS as usize, "each event once");
    central.stop().await;
    let _ = js.delete_stream(&stream).await;
}
