//! MQTT over TLS: a `mosquitto` (the binary of the local Mosquitto service)
//! started here with a TLS listener whose certificate, from a test CA, names
//! only `mqtt.internal`; the publisher dials 127.0.0.1 with an `mqtts://`
//! server URL. It is trusted with `TLS_ROOT_CERT` plus `TLS_SERVER_NAME`,
//! or with `TLS_SKIP_VERIFY`, and refused otherwise.

mod common;

use common::{connect, fs_event, unique, TestPki};
use plexus_pubsub::Encoder;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the broker started by this test when the test ends.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mosquitto(pki: &TestPki) -> (Broker, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let conf = pki.dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\nlistener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous true\n",
            pki.ca.display(),
            pki.cert.display(),
            pki.key.display()
        ),
    )
    .expect("write mosquitto.conf");
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot start mosquitto ({err}): it ships with the local Mosquitto service")
        });
    let broker = Broker(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (broker, port)
}

#[tokio::test]
async fn mqtts_with_a_private_ca_and_a_server_name() {
    let pki = TestPki::new(&["mqtt.internal"]);
    let (_broker, port) = start_mosquitto(&pki);
    let url = format!("mqtts://127.0.0.1:{port}");
    let topic = format!("mqtt://{}", unique("plexus/tls"));
    let ca = pki.ca_path();
    let message = Encoder::default().fs(&fs_event(1));

    let publisher = connect(
        &topic,
        &[
            ("MQTT_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SERVER_NAME", "mqtt.internal"),
        ],
    )
    .await
    .expect("TLS with the CA and the certificate's name");
    publisher.publish(&message).await.expect("PUBACK over TLS");
    publisher.close().await;

    // The CA alone: the certificate does not name 127.0.0.1.
    let err = connect(
        &topic,
        &[
            ("MQTT_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_ROOT_CERT", ca.as_str()),
        ],
    )
    .await
    .err()
    .expect("a certificate for another name");
    assert!(err.contains("failed to dial MQTT_SERVER_URL"), "{err}");

    // No CA: untrusted, unless verification is skipped.
    assert!(connect(&topic, &[("MQTT_SERVER_URL", url.as_str())])
        .await
        .is_err());
    let publisher = connect(
        &topic,
        &[
            ("MQTT_SERVER_URL", url.as_str()),
            ("SFTPGO_PLUGIN_PUBSUB_TLS_SKIP_VERIFY", "1"),
        ],
    )
    .await
    .expect("TLS_SKIP_VERIFY");
    publisher.publish(&message).await.unwrap();
    publisher.close().await;
}
