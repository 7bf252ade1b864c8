//! RabbitMQ over TLS (`amqps://`). The local RabbitMQ has no TLS listener
//! and one cannot be started per test, so the publisher dials a plain TLS
//! listener started here (a test CA's certificate for 127.0.0.1), which
//! completes the TLS handshake and then closes: with `TLS_ROOT_CERT` the
//! handshake succeeds (and the AMQP handshake then fails), without it the
//! certificate is refused before any handshake completes. The settings'
//! validation (amqps:// required, no server name or skip) is in
//! `src/config.rs`'s tests.

mod common;

use common::{connect, TestPki};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

#[tokio::test]
async fn amqps_uses_the_root_cert() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    let handshakes = Arc::new(AtomicU32::new(0));
    let counted = handshakes.clone();
    let server = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                if let Ok(mut stream) = acceptor.accept(socket).await {
                    counted.fetch_add(1, Ordering::SeqCst);
                    // Read the AMQP protocol header, then hang up.
                    let mut header = [0u8; 8];
                    let _ = stream.read_exact(&mut header).await;
                }
            });
        }
    });
    let url = format!("amqps://guest:s3cretpw@127.0.0.1:{port}/%2f");
    let ca = pki.ca_path();

    let err = connect("rabbit://x", &[("RABBIT_SERVER_URL", url.as_str())])
        .await
        .err()
        .expect("an untrusted certificate");
    assert!(err.contains("failed to dial RABBIT_SERVER_URL"), "{err}");
    assert!(!err.contains("s3cretpw"), "{err}");
    assert_eq!(handshakes.load(Ordering::SeqCst), 0, "{err}");

    let err = connect(
        "rabbit://x",
        &[
            ("RABBIT_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca.as_str()),
        ],
    )
    .await
    .err()
    .expect("the listener speaks no AMQP");
    assert!(!err.contains("s3cretpw"), "{err}");
    assert!(
        handshakes.load(Ordering::SeqCst) >= 1,
        "the TLS handshake with the CA did not complete: {err}"
    );
    server.abort();
}
