//! Redis Streams over TLS: a `redis-server` (the binary of the local Redis
//! service) started here with only a TLS port and a certificate from a test
//! CA. The publisher connects with a `rediss://` URL and
//! `TLS_ROOT_CERT`, is refused without it, and connects with
//! `TLS_SKIP_VERIFY`; the entries it adds are read back over TLS.

mod common;

use common::{connect, fs_event, unique, TestPki};
use plexus_pubsub::Encoder;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server started by this test when the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn rediss_with_a_private_ca() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
        .arg("--tls-cert-file")
        .arg(&pki.cert)
        .arg("--tls-key-file")
        .arg(&pki.key)
        .arg("--tls-ca-cert-file")
        .arg(&pki.ca)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot start redis-server ({err}): it ships with the local Redis service")
        });
    let _server = Server(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let url = format!("rediss://127.0.0.1:{port}/0");
    let ca = pki.ca_path();
    let stream = unique("plexus-tls-stream");
    let topic = format!("redis://{stream}");
    let message = Encoder::default().fs(&fs_event(1));
    let publisher = connect(
        &topic,
        &[
            ("REDIS_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca.as_str()),
        ],
    )
    .await
    .expect("TLS with the test CA");
    publisher.publish(&message).await.expect("XADD over TLS");

    let err = connect(&topic, &[("REDIS_SERVER_URL", url.as_str())])
        .await
        .err()
        .expect("an untrusted certificate");
    assert!(err.contains("failed to dial REDIS_SERVER_URL"), "{err}");

    let publisher = connect(
        &topic,
        &[
            ("REDIS_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SKIP_VERIFY", "1"),
        ],
    )
    .await
    .expect("TLS_SKIP_VERIFY");
    publisher.publish(&message).await.unwrap();

    // Both entries, read back over TLS.
    let reader = redis::Client::build_with_tls(
        url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&pki.ca).unwrap()),
        },
    )
    .unwrap();
    let mut conn = reader.get_multiplexed_async_connection().await.unwrap();
    let len: u64 = redis::cmd("XLEN")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 2);
}
