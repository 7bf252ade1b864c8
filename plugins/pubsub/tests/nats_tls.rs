//! NATS over TLS with the plugin 1.2.0 variables: a `nats-server` (the
//! binary of the local NATS service) started here with a certificate from
//! a test CA; `SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT` names the CA file, and
//! without it the connection is refused at start; `TLS_SKIP_VERIFY` accepts
//! the certificate, and a `TLS_SERVER_NAME` it does not name is refused.

mod common;

use common::{connect, fs_event, unique};
use futures::StreamExt;
use plexus_pubsub::Encoder;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn tls_with_a_root_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &ca).unwrap();
    let ca_file = dir.path().join("ca.pem");
    let cert_file = dir.path().join("server.pem");
    let key_file = dir.path().join("server-key.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, server_cert.pem()).unwrap();
    std::fs::write(&key_file, server_key.serialize_pem()).unwrap();

    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--tls"])
        .arg("--tlscert")
        .arg(&cert_file)
        .arg("--tlskey")
        .arg(&key_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot start nats-server ({err}): it ships with the local NATS service")
        });
    let _server = Server(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    plexus_pubsub::tls::install_default_provider();
    let url = format!("tls://127.0.0.1:{port}");
    let subject = unique("plexus.tls");
    let subscriber = async_nats::ConnectOptions::new()
        .add_root_certificates(ca_file.clone())
        .require_tls(true)
        .connect(url.as_str())
        .await
        .expect("test subscriber over TLS");
    let mut sub = subscriber.subscribe(subject.clone()).await.unwrap();
    subscriber.flush().await.unwrap();

    let ca_path = ca_file.display().to_string();
    let publisher = connect(
        &format!("nats://{subject}?natsv2"),
        &[
            ("NATS_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca_path.as_str()),
        ],
    )
    .await
    .expect("publisher over TLS");
    let message = Encoder::default().fs(&fs_event(1));
    publisher.publish(&message).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("a message within 5 s")
        .unwrap();
    assert_eq!(got.payload.as_ref(), message.body.as_slice());

    // Without the CA the server's certificate is not trusted.
    let err = connect(
        &format!("nats://{subject}"),
        &[("NATS_SERVER_URL", url.as_str())],
    )
    .await
    .err()
    .expect("an untrusted server certificate");
    assert!(err.contains("failed to dial NATS_SERVER_URL"), "{err}");

    // TLS_SKIP_VERIFY accepts it without the CA (the URL says nats://:
    // any TLS setting turns TLS on).
    let plain_url = format!("nats://127.0.0.1:{port}");
    connect(
        &format!("nats://{subject}"),
        &[
            ("NATS_SERVER_URL", plain_url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SKIP_VERIFY", "true"),
        ],
    )
    .await
    .expect("TLS_SKIP_VERIFY");

    // TLS_SERVER_NAME is what the certificate is checked against.
    let err = connect(
        &format!("nats://{subject}"),
        &[
            ("NATS_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca_path.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SERVER_NAME", "other.internal"),
        ],
    )
    .await
    .err()
    .expect("a certificate that does not name TLS_SERVER_NAME");
    assert!(err.contains("failed to dial NATS_SERVER_URL"), "{err}");
}
