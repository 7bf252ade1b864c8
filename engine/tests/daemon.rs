//! `plexus serve` as an operator runs it: publish through the ingestion API
//! with `plexus emit`, see the events delivered, read the metrics, stop it
//! with SIGTERM, and find nothing left behind.

use plexus_interop::{eventually, read_jsonl, workspace_bin};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("metrics endpoint");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_ingests_delivers_reports_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let socket = dir.path().join("plexus.sock");
    let metrics = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("plexus.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "engine": {
                "data_dir": dir.path().join("data"),
                "ingest_unix": socket,
                "metrics_tcp": metrics,
                "retry_interval": 1
            },
            "plugins": [{
                "type": "notifier",
                "cmd": workspace_bin("notifier-jsonl"),
                "args": ["--out", out],
                "auto_mtls": true,
                "notifier_options": {"fs_events": ["upload"], "log_events": [5], "retry_max_time": 60}
            }]
        })
        .to_string(),
    )
    .unwrap();

    let mut daemon = Command::new(workspace_bin("plexus"))
        .args(["--log", "warn", "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket_ready = socket.clone();
    eventually("the ingestion socket", Duration::from_secs(20), || {
        socket_ready.exists()
    })
    .await;

    let emit = Command::new(workspace_bin("plexus"))
        .args([
            "emit", "-n", "500", "--batch", "50", "--kind", "mixed", "--quiet", "--socket",
        ])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(
        emit.status.success(),
        "{}",
        String::from_utf8_lossy(&emit.stderr)
    );
    assert!(String::from_utf8_lossy(&emit.stdout).contains("published 500 events"));

    // Mixed kinds: fs (upload) and log (5) match the filter, provider events do not.
    let expected = (0..500u64).filter(|n| n % 3 != 1).count();
    let out_path = out.clone();
    eventually(
        "the matching events delivered",
        Duration::from_secs(20),
        || read_jsonl(&out_path).len() == expected,
    )
    .await;

    let response = http_get(&metrics, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let delivered_line = response
        .lines()
        .find(|l| l.starts_with("plexus_events_delivered_total{"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        delivered_line.ends_with(&format!(" {expected}")),
        "{delivered_line}"
    );
    assert!(response.contains("plexus_queue_length{"), "{response}");
    assert!(http_get(&metrics, "/nope").starts_with("HTTP/1.1 404"));

    // SIGTERM: a clean exit, the socket removed, nothing queued.
    unsafe {
        libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "plexus serve exited with {status}");
    assert!(!socket.exists(), "the socket is removed on exit");
    let stats = Command::new(workspace_bin("plexus"))
        .args(["queue", "stats", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.lines().all(|l| l.ends_with("\t0 events")), "{stats}");
    assert!(stats.contains(".retry\t0 events"), "{stats}");
}

#[test]
fn validate_and_checksum_teach_by_example() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"[{"type":"ipfilter","cmd":"/usr/bin/true"}]"#).unwrap();
    let output = Command::new(workspace_bin("plexus"))
        .arg("validate")
        .arg(&good)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK, 1 plugins (ipfilter)"));

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"type":"notifier","cmd":"/x","notifier_options":{"fs_events":[]}},{"type":"auth","cmd":"/y"}]"#).unwrap();
    let output = Command::new(workspace_bin("plexus"))
        .arg("validate")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plugins[0].notifier_options: no actions defined"),
        "{stderr}"
    );
    assert!(
        stderr.contains("plugins[1].auth_options.scope: invalid auth scope 0"),
        "{stderr}"
    );

    let file = dir.path().join("empty");
    std::fs::write(&file, b"").unwrap();
    let output = Command::new(workspace_bin("plexus"))
        .arg("checksum")
        .arg(&file)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout)
        .starts_with("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  "));
}
