//! The unary delivery client (`plexus_engine::unary`) against real HTTP/2
//! servers: tonic's gRPC server (what Rust plugins run), and the `h2`
//! crate's server scripted to misbehave (refused streams, GOAWAY, oversized
//! replies, a stream limit, garbage). Go's grpc server is covered by the
//! interop tests and `plexus-compare --quick`, which deliver through this
//! client to the Go fixture plugin.

use bytes::Bytes;
use plexus_actors::event::Event;
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_engine::host::transport::{Address, Dialer};
use plexus_engine::unary::{Limits, UnaryNotifier};
use plexus_proto::sftpgo::notifier_server::{Notifier, NotifierServer};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixListener;

const MAX_REPLY: usize = 1024 * 1024;

fn dialer(path: &Path) -> Dialer {
    Dialer::new(
        Address::Unix(path.to_path_buf()),
        None,
        Duration::from_secs(5),
    )
}

/// A client named `test-plugin` for the server at `path`.
fn client(path: &Path, timeout: Duration, max_reply_bytes: usize) -> UnaryNotifier {
    UnaryNotifier::new("test-plugin", dialer(path), timeout, max_reply_bytes)
}

fn fs_event(n: usize) -> Arc<Event> {
    Arc::new(Event::Fs(FsEvent {
        timestamp: n as i64,
        action: "upload".into(),
        username: format!("user{n}"),
        fs_path: format!("/srv/files/{n}.dat"),
        ..Default::default()
    }))
}

/// What the tonic server received.
#[derive(Default)]
struct Received {
    fs: Mutex<Vec<FsEvent>>,
    provider: Mutex<Vec<ProviderEvent>>,
    log: Mutex<Vec<LogEvent>>,
    timeouts: Mutex<Vec<String>>,
    calls: AtomicUsize,
}

struct Recorder {
    received: Arc<Received>,
    /// Answer calls for users named "slow" after this long.
    slow: Duration,
}

impl Recorder {
    fn note<T>(&self, request: &tonic::Request<T>) {
        self.received.calls.fetch_add(1, Ordering::SeqCst);
        let timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        self.received.timeouts.lock().unwrap().push(timeout);
    }
}

#[tonic::async_trait]
impl Notifier for Recorder {
    async fn send_fs_event(
        &self,
        request: tonic::Request<FsEvent>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        self.note(&request);
        let event = request.into_inner();
        match event.username.as_str() {
            "refuse" => return Err(tonic::Status::permission_denied("quota exceeded: 100%")),
            "slow" => tokio::time::sleep(self.slow).await,
            _ => {}
        }
        self.received.fs.lock().unwrap().push(event);
        Ok(tonic::Response::new(()))
    }

    async fn send_provider_event(
        &self,
        request: tonic::Request<ProviderEvent>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        self.note(&request);
        self.received
            .provider
            .lock()
            .unwrap()
            .push(request.into_inner());
        Ok(tonic::Response::new(()))
    }

    async fn send_log_event(
        &self,
        request: tonic::Request<LogEvent>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        self.note(&request);
        self.received.log.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(()))
    }
}

/// A tonic notifier server on `path`, until the returned sender fires.
fn tonic_server(path: &Path, slow: Duration) -> (Arc<Received>, tokio::sync::oneshot::Sender<()>) {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind the test socket");
    let received = Arc::new(Received::default());
    let service = NotifierServer::new(Recorder {
        received: received.clone(),
        slow,
    })
    .max_decoding_message_size(16 * 1024 * 1024);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::UnixListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            )
            .await;
    });
    (received, stop)
}

fn socket(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("plugin.sock")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_event_reaches_a_tonic_server_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let (received, _stop) = tonic_server(&path, Duration::ZERO);
    let client = client(&path, Duration::from_secs(30), MAX_REPLY);

    let fs = FsEvent {
        action: "rename".into(),
        username: "alice".into(),
        fs_path: "/a/b".into(),
        fs_target_path: "/a/c".into(),
        file_size: 12345,
        status: 1,
        protocol: "SFTP".into(),
        ip: "127.0.0.1".into(),
        timestamp: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    let provider = ProviderEvent {
        action: "add".into(),
        object_type: "user".into(),
        object_name: "bob".into(),
        object_data: vec![0, 1, 2, 255],
        ..Default::default()
    };
    let log = LogEvent {
        event: 2,
        protocol: "SSH".into(),
        message: "login failed: ü".into(),
        ..Default::default()
    };
    for event in [
        Event::Fs(fs.clone()),
        Event::Provider(provider.clone()),
        Event::Log(log.clone()),
    ] {
        client.deliver(Arc::new(event)).await.expect("delivered");
    }
    assert_eq!(*received.fs.lock().unwrap(), vec![fs]);
    assert_eq!(*received.provider.lock().unwrap(), vec![provider]);
    assert_eq!(*received.log.lock().unwrap(), vec![log]);
    // The deadline travels with every call, as tonic's and grpc-go's do.
    assert_eq!(*received.timeouts.lock().unwrap(), vec!["30000000u"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_each_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let (received, _stop) = tonic_server(&path, Duration::ZERO);
    let client = Arc::new(client(&path, Duration::from_secs(30), MAX_REPLY));
    let calls: Vec<_> = (0..2000).map(|n| client.deliver(fs_event(n))).collect();
    let outcomes = futures::future::join_all(calls).await;
    assert!(
        outcomes.iter().all(Result::is_ok),
        "{:?}",
        outcomes.iter().find(|o| o.is_err())
    );
    let mut users: Vec<String> = received
        .fs
        .lock()
        .unwrap()
        .iter()
        .map(|event| event.username.clone())
        .collect();
    users.sort();
    let mut expected: Vec<String> = (0..2000).map(|n| format!("user{n}")).collect();
    expected.sort();
    assert_eq!(users, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_larger_than_the_flow_control_windows_arrive_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let (received, _stop) = tonic_server(&path, Duration::ZERO);
    let client = Arc::new(client(&path, Duration::from_secs(30), MAX_REPLY));
    // 3 MiB each, four at once: far above HTTP/2's 64 KiB initial windows,
    // so the data goes out as the server opens its windows.
    let big = |n: usize| {
        let body: String = (0..3 * 1024 * 1024)
            .map(|i| char::from(b'a' + ((i + n) % 26) as u8))
            .collect();
        Arc::new(Event::Fs(FsEvent {
            username: format!("big{n}"),
            virtual_path: body,
            ..Default::default()
        }))
    };
    let events: Vec<_> = (0..4).map(big).collect();
    let calls: Vec<_> = events
        .iter()
        .map(|event| client.deliver(event.clone()))
        .collect();
    // Small events interleaved with the large ones are not held behind them
    // for ever either.
    let small: Vec<_> = (0..50).map(|n| client.deliver(fs_event(n))).collect();
    for outcome in futures::future::join_all(calls).await {
        outcome.expect("large event delivered");
    }
    for outcome in futures::future::join_all(small).await {
        outcome.expect("small event delivered");
    }
    let got = received.fs.lock().unwrap();
    for event in &events {
        let Event::Fs(sent) = &**event else {
            unreachable!()
        };
        let arrived = got
            .iter()
            .find(|e| e.username == sent.username)
            .expect("large event recorded");
        assert!(
            arrived.virtual_path == sent.virtual_path,
            "body of {} changed",
            sent.username
        );
    }
    assert_eq!(got.len(), 54);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_status_fails_only_its_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let (received, _stop) = tonic_server(&path, Duration::ZERO);
    let client = client(&path, Duration::from_secs(30), MAX_REPLY);
    let refused = Arc::new(Event::Fs(FsEvent {
        username: "refuse".into(),
        ..Default::default()
    }));
    assert_eq!(
        client.deliver(refused).await,
        Err(DeliveryError::Status {
            code: "PermissionDenied".into(),
            message: "quota exceeded: 100%".into()
        })
    );
    client
        .deliver(fs_event(1))
        .await
        .expect("the next call is delivered");
    assert_eq!(received.fs.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_an_answer_times_out_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let (received, _stop) = tonic_server(&path, Duration::from_secs(30));
    let client = client(&path, Duration::from_millis(300), MAX_REPLY);
    let slow = Arc::new(Event::Fs(FsEvent {
        username: "slow".into(),
        ..Default::default()
    }));
    let started = std::time::Instant::now();
    assert_eq!(client.deliver(slow).await, Err(DeliveryError::Timeout));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "timed out after {waited:?}"
    );
    client
        .deliver(fs_event(1))
        .await
        .expect("delivered after the timeout");
    assert_eq!(received.fs.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_reached_on_a_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let (first, stop) = tonic_server(&path, Duration::ZERO);
    let client = client(&path, Duration::from_secs(5), MAX_REPLY);
    client.deliver(fs_event(1)).await.expect("first server");
    let _ = stop.send(());
    // The server is gone: calls fail as unavailable, never hang.
    let mut failed = false;
    for _ in 0..50 {
        match client.deliver(fs_event(2)).await {
            Err(DeliveryError::Unavailable(detail)) => {
                assert!(detail.contains("test-plugin"), "{detail}");
                failed = true;
                break;
            }
            Err(other) => panic!("unexpected failure {other:?}"),
            Ok(()) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(failed, "calls kept succeeding after the server stopped");
    let (second, _stop) = tonic_server(&path, Duration::ZERO);
    client.deliver(fs_event(3)).await.expect("restarted server");
    assert_eq!(second.fs.lock().unwrap()[0].username, "user3");
    assert!(first
        .fs
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.username != "user3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_notifier_service_answers_unimplemented() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
    );
    let client = client(&path, Duration::from_secs(5), MAX_REPLY);
    let outcome = client.deliver(fs_event(1)).await;
    assert!(
        matches!(&outcome, Err(DeliveryError::Status { code, .. }) if code == "Unimplemented"),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_socket_is_unavailable_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-listens.sock");
    let client = client(&path, Duration::from_secs(5), MAX_REPLY);
    let outcome = client.deliver(fs_event(1)).await;
    assert!(
        matches!(&outcome, Err(DeliveryError::Unavailable(detail)) if detail.contains("nobody-listens.sock") && detail.contains("test-plugin")),
        "{outcome:?}"
    );
}

// --- The h2 crate's server, scripted -------------------------------------

/// How the scripted server answers each call.
#[derive(Clone, Copy)]
enum Script {
    /// A normal gRPC answer (headers, an empty reply, grpc-status 0).
    Ok,
    /// A reply message of this many bytes.
    ReplyOf(usize),
    /// RST_STREAM(REFUSED_STREAM).
    Refuse,
    /// GOAWAY once the first call has been answered.
    GoawayAfterFirst,
    /// Headers and data, then the stream ends without trailers.
    NoTrailers,
}

struct Scripted {
    connections: AtomicUsize,
    calls: AtomicUsize,
    most_open: AtomicUsize,
    open: AtomicUsize,
}

/// A protobuf message of exactly `size` bytes (0, or 3 and more): field 1,
/// unknown to `google.protobuf.Empty`, as a length-delimited blob.
fn unknown_field_of(size: usize) -> Vec<u8> {
    if size == 0 {
        return Vec::new();
    }
    let mut length = size - 2;
    while 1 + prost::length_delimiter_len(length) + length > size {
        length -= 1;
    }
    let mut message = vec![0x0a];
    prost::encode_length_delimiter(length, &mut message).unwrap();
    message.resize(size, 7);
    message
}

fn h2_server(path: &Path, script: Script, max_streams: Option<u32>) -> Arc<Scripted> {
    let listener = UnixListener::bind(path).unwrap();
    let state = Arc::new(Scripted {
        connections: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
        most_open: AtomicUsize::new(0),
        open: AtomicUsize::new(0),
    });
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let state = shared.clone();
            tokio::spawn(async move {
                let mut builder = h2::server::Builder::new();
                if let Some(max) = max_streams {
                    builder.max_concurrent_streams(max);
                }
                let Ok(mut connection) = builder.handshake::<_, Bytes>(socket).await else {
                    return;
                };
                let mut answered = 0usize;
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    state.calls.fetch_add(1, Ordering::SeqCst);
                    answered += 1;
                    if matches!(script, Script::GoawayAfterFirst) && answered == 2 {
                        connection.graceful_shutdown();
                    }
                    let state = state.clone();
                    tokio::spawn(async move {
                        let open = state.open.fetch_add(1, Ordering::SeqCst) + 1;
                        state.most_open.fetch_max(open, Ordering::SeqCst);
                        let mut body = request.into_body();
                        while let Some(chunk) = body.data().await {
                            let Ok(chunk) = chunk else { break };
                            let _ = body.flow_control().release_capacity(chunk.len());
                        }
                        // Keep the stream open a moment so calls overlap.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        state.open.fetch_sub(1, Ordering::SeqCst);
                        if matches!(script, Script::Refuse) {
                            respond.send_reset(h2::Reason::REFUSED_STREAM);
                            return;
                        }
                        let response = http::Response::builder()
                            .status(200)
                            .header("content-type", "application/grpc")
                            .body(())
                            .unwrap();
                        let Ok(mut send) = respond.send_response(response, false) else {
                            return;
                        };
                        let size = match script {
                            Script::ReplyOf(size) => size,
                            _ => 0,
                        };
                        let mut reply = vec![0u8];
                        reply.extend_from_slice(&(size as u32).to_be_bytes());
                        reply.extend_from_slice(&unknown_field_of(size));
                        let end = matches!(script, Script::NoTrailers);
                        let _ = send.send_data(Bytes::from(reply), end);
                        if end {
                            return;
                        }
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        let _ = send.send_trailers(trailers);
                    });
                }
            });
        }
    });
    state
}

/// The outcome of one call to a scripted server of its own.
async fn one_call_to(script: Script, max_reply_bytes: usize) -> Result<(), DeliveryError> {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    h2_server(&path, script, None);
    client(&path, Duration::from_secs(10), max_reply_bytes)
        .deliver(fs_event(1))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_server_answering_normally_gets_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let server = h2_server(&path, Script::Ok, None);
    let client = Arc::new(client(&path, Duration::from_secs(10), MAX_REPLY));
    let calls: Vec<_> = (0..300).map(|n| client.deliver(fs_event(n))).collect();
    for outcome in futures::future::join_all(calls).await {
        outcome.expect("delivered");
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 300);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugins_stream_limit_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let server = h2_server(&path, Script::Ok, Some(3));
    let client = Arc::new(client(&path, Duration::from_secs(10), MAX_REPLY));
    // The limit arrives with the server's first SETTINGS.
    client.deliver(fs_event(0)).await.expect("first call");
    let calls: Vec<_> = (1..100).map(|n| client.deliver(fs_event(n))).collect();
    for outcome in futures::future::join_all(calls).await {
        outcome.expect("delivered within the stream limit");
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 100);
    let most = server.most_open.load(Ordering::SeqCst);
    assert!(most <= 3, "{most} streams open at once, limit 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_above_max_reply_bytes_fails_the_call() {
    let outcome = one_call_to(Script::ReplyOf(64 * 1024), 1024).await;
    assert!(
        matches!(&outcome, Err(DeliveryError::Status { code, message }) if code == "OutOfRange" && message.contains("engine.max_reply_bytes (1024 bytes)")),
        "{outcome:?}"
    );
    // Within the limit, a non-empty reply (unknown fields) is a delivery.
    one_call_to(Script::ReplyOf(512), 1024)
        .await
        .expect("reply within the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streams_and_missing_trailers_are_failures() {
    let outcome = one_call_to(Script::Refuse, MAX_REPLY).await;
    assert!(
        matches!(&outcome, Err(DeliveryError::Status { code, message }) if code == "Unavailable" && message.contains("REFUSED_STREAM")),
        "{outcome:?}"
    );
    let outcome = one_call_to(Script::NoTrailers, MAX_REPLY).await;
    assert!(
        matches!(&outcome, Err(DeliveryError::Status { code, message }) if code == "Internal" && message.contains("without trailers")),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_goaway_calls_go_to_a_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let server = h2_server(&path, Script::GoawayAfterFirst, None);
    let client = client(&path, Duration::from_secs(10), MAX_REPLY);
    let mut delivered = 0;
    for n in 0..20 {
        // A call caught by the GOAWAY fails as unavailable; none hangs.
        match client.deliver(fs_event(n)).await {
            Ok(()) => delivered += 1,
            Err(DeliveryError::Unavailable(_)) => {}
            Err(other) => panic!("unexpected failure {other:?}"),
        }
    }
    assert!(delivered >= 10, "only {delivered} of 20 delivered");
    assert!(
        server.connections.load(Ordering::SeqCst) >= 2,
        "no new connection after the GOAWAY"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_out_of_stream_ids_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let server = h2_server(&path, Script::Ok, None);
    // Stream ids 1, 3, 5 and 7: four calls per connection.
    let limits = Limits { last_stream_id: 7 };
    let client = UnaryNotifier::with_limits(
        "test-plugin",
        dialer(&path),
        Duration::from_secs(10),
        MAX_REPLY,
        limits,
    );
    for n in 0..10 {
        client.deliver(fs_event(n)).await.expect("delivered");
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 10);
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_is_not_http2_fails_calls_without_a_hang() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
                // An HTTP/1.1 answer, then a frame header announcing 16 MiB.
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 400 Bad Request\r\n\r\n\xff\xff\xff\x00\x00\x00\x00\x00\x01",
                    )
                    .await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    let client = client(&path, Duration::from_secs(20), MAX_REPLY);
    let started = std::time::Instant::now();
    let outcome = client.deliver(fs_event(1)).await;
    assert!(
        matches!(&outcome, Err(DeliveryError::Unavailable(detail)) if detail.contains("HTTP/2")),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn calls_polled_outside_the_runtime_still_deliver() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = socket(&dir);
    let (received, client) = {
        let _entered = runtime.enter();
        let (received, stop) = tonic_server(&path, Duration::ZERO);
        std::mem::forget(stop);
        (received, client(&path, Duration::from_secs(5), MAX_REPLY))
    };
    // The dial and the connection run on the client's runtime; the call
    // itself is polled by a plain executor on this thread.
    for n in 0..3 {
        futures::executor::block_on(client.deliver(fs_event(n))).expect("delivered");
    }
    assert_eq!(received.fs.lock().unwrap().len(), 3);
}
