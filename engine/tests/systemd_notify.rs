//! `plexus serve` under systemd (`Type=notify`): READY=1 once it serves,
//! STOPPING=1 when it stops, sent to the socket named by NOTIFY_SOCKET.

use plexus_interop::daemon::ServeDaemon;
use plexus_interop::workspace_bin;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

fn receive(socket: &UnixDatagram) -> String {
    let mut buffer = [0u8; 4096];
    let read = socket
        .recv(&mut buffer)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tells_systemd_when_it_is_ready_and_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&notify_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let socket = dir.path().join("plexus.sock");
    let config = serde_json::json!({
        "engine": {"data_dir": dir.path().join("data"), "ingest_unix": socket},
        "plugins": [{
            "type": "notifier",
            "cmd": workspace_bin("notifier-jsonl"),
            "args": ["--out", dir.path().join("events.jsonl")],
            "notifier_options": {"fs_events": ["upload"]}
        }]
    });
    let notify = notify_path.display().to_string();
    let daemon = ServeDaemon::start(
        dir.path(),
        config,
        &[("NOTIFY_SOCKET", notify.as_str())],
        &socket,
    )
    .await;
    let ready = tokio::task::block_in_place(|| receive(&systemd));
    assert!(
        ready.starts_with("READY=1\nSTATUS=serving 1 plugins"),
        "{ready:?}"
    );
    daemon.stop().await;
    let stopping = tokio::task::block_in_place(|| receive(&systemd));
    assert_eq!(stopping, "STOPPING=1");
}
