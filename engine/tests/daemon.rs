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

    // The plugin writes its line before it answers, so the host counts a
    // delivery a moment after the line is there: wait for the counter too.
    let delivered_line = |response: &str| {
        response
            .lines()
            .find(|l| l.starts_with("plexus_events_delivered_total{"))
            .unwrap_or_default()
            .to_owned()
    };
    let counted = format!(" {expected}");
    let metrics_addr = metrics.clone();
    eventually(
        "every matching delivery counted",
        Duration::from_secs(20),
        || delivered_line(&http_get(&metrics_addr, "/metrics")).ends_with(&counted),
    )
    .await;
    let response = http_get(&metrics, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        delivered_line(&response).ends_with(&counted),
        "{}",
        delivered_line(&response)
    );
    assert!(response.contains("plexus_queue_length{"), "{response}");
    // Every delivered event went through a call that was timed and sized.
    let sample = |prefix: &str| -> u64 {
        response
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} sample in {response}"))
    };
    let calls = sample("plexus_delivery_call_seconds_count{");
    assert!(calls >= 1, "{response}");
    assert_eq!(sample("plexus_delivery_call_events_count{"), calls);
    assert_eq!(
        sample("plexus_delivery_call_events_sum{"),
        expected as u64,
        "events per call add up to the events delivered"
    );
    assert!(
        response.contains("plexus_ingest_requests_total{result=\"accepted\"}"),
        "{response}"
    );
    assert!(
        response.contains("plexus_ingest_requests_total{result=\"too_large\"} 0"),
        "{response}"
    );
    // The queue store's health: its writes move (the gauge is 0 or the
    // milliseconds of a flush in progress).
    let stalled = response
        .lines()
        .find_map(|line| line.strip_prefix("plexus_storage_stalled_seconds "))
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no plexus_storage_stalled_seconds sample: {response}"));
    assert!(
        stalled < 5.0,
        "the store reports writes stuck for {stalled} s"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_ingestion_needs_the_bearer_token() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let socket = dir.path().join("plexus.sock");
    let tcp = format!("127.0.0.1:{}", free_port());
    let token_file = dir.path().join("ingest.token");
    std::fs::write(&token_file, "s3cr3t-token-for-the-test-0123\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = |token_file: Option<&std::path::Path>| {
        let path = dir.path().join("plexus.json");
        let mut engine = serde_json::json!({
            "data_dir": dir.path().join("data"),
            "ingest_unix": socket,
            "ingest_tcp": tcp,
        });
        if let Some(file) = token_file {
            engine["ingest_token_file"] = serde_json::json!(file);
        }
        std::fs::write(
            &path,
            serde_json::json!({
                "engine": engine,
                "plugins": [{
                    "type": "notifier",
                    "cmd": workspace_bin("notifier-jsonl"),
                    "args": ["--out", out],
                    "auto_mtls": true,
                    "notifier_options": {"fs_events": ["upload"], "retry_max_time": 60}
                }]
            })
            .to_string(),
        )
        .unwrap();
        path
    };
    let serve = |config: &std::path::Path| {
        Command::new(workspace_bin("plexus"))
            .args(["--log", "warn", "serve", "--config"])
            .arg(config)
            .env_remove("PLEXUS_INGEST_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // No token anywhere: the daemon refuses to start (killed if it does not).
    let mut refused = Killed(serve(&config(None)));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = refused.0.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.is_some_and(|s| !s.success()),
        "plexus serve started TCP ingestion without a token"
    );
    let mut stderr = String::new();
    if let Some(mut pipe) = refused.0.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    assert!(
        stderr.contains("engine.ingest_tcp (") && stderr.contains("needs a token"),
        "{stderr}"
    );

    let daemon = Killed(serve(&config(Some(&token_file))));
    let socket_ready = socket.clone();
    eventually("the ingestion socket", Duration::from_secs(20), || {
        socket_ready.exists()
    })
    .await;
    let emit = |args: &[&str], token: Option<&str>| {
        let mut command = Command::new(workspace_bin("plexus"));
        command
            .args(["emit", "-n", "10", "--kind", "fs", "--quiet"])
            .args(args)
            .env_remove("PLEXUS_INGEST_TOKEN");
        if let Some(token) = token {
            command.env("PLEXUS_INGEST_TOKEN", token);
        }
        command.output().unwrap()
    };

    let without = emit(&["--tcp", &tcp], None);
    assert!(!without.status.success());
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("needs `authorization: Bearer <token>`"),
        "{stderr}"
    );
    let wrong = emit(&["--tcp", &tcp], Some("not-the-token-at-all-0000"));
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("the ingestion token is wrong"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");

    let with_file = emit(
        &["--tcp", &tcp, "--token-file", &token_file.to_string_lossy()],
        None,
    );
    assert!(
        with_file.status.success(),
        "{}",
        String::from_utf8_lossy(&with_file.stderr)
    );
    let with_env = emit(&["--tcp", &tcp], Some("s3cr3t-token-for-the-test-0123"));
    assert!(with_env.status.success());
    // The owner-only unix socket needs no token.
    let unix = emit(&["--socket", &socket.to_string_lossy()], None);
    assert!(unix.status.success());
    let out_path = out.clone();
    eventually("30 events delivered", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() == 30
    })
    .await;

    unsafe {
        libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = tokio::task::spawn_blocking(move || {
        let mut daemon = daemon;
        daemon.0.wait()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "plexus serve exited with {status}");
}

/// A daemon SIGTERMed and reaped when the test ends early.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: sending a signal has no memory-safety preconditions.
            unsafe {
                libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
            }
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingestion_api_refuses_oversized_batches_and_messages_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let socket = dir.path().join("plexus.sock");
    let config = dir.path().join("plexus.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "engine": {
                "data_dir": dir.path().join("data"),
                "ingest_unix": socket,
                "ingest_max_batch": 100,
                "ingest_max_message_bytes": 65536
            },
            "plugins": [{
                "type": "notifier",
                "cmd": workspace_bin("notifier-jsonl"),
                "args": ["--out", out],
                "notifier_options": {"fs_events": ["upload"]}
            }]
        })
        .to_string(),
    )
    .unwrap();
    let mut daemon = Command::new(workspace_bin("plexus"))
        .args(["--log", "warn", "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket_ready = socket.clone();
    eventually("the ingestion socket", Duration::from_secs(20), || {
        socket_ready.exists()
    })
    .await;
    let emit = |count: &str, batch: &str| {
        Command::new(workspace_bin("plexus"))
            .args(["emit", "-n", count, "--batch", batch, "--quiet", "--socket"])
            .arg(&socket)
            .output()
            .unwrap()
    };
    // Within the limits (100 events, about 15 kB): accepted.
    let ok = emit("100", "100");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // 101 events (about 15 kB) in one batch: refused whole, naming the
    // setting.
    let too_many = emit("101", "101");
    let stderr = String::from_utf8_lossy(&too_many.stderr);
    assert!(!too_many.status.success());
    assert!(
        stderr.contains("Client specified an invalid argument"),
        "{stderr}"
    );
    assert!(stderr.contains("engine.ingest_max_batch"), "{stderr}");
    // 900 events in one message, well over 64 KiB: the gRPC layer refuses
    // it before decoding it (the size is checked before the count), with
    // gRPC's code for it and the setting to raise.
    let too_big = emit("900", "900");
    let stderr = String::from_utf8_lossy(&too_big.stderr);
    assert!(!too_big.status.success());
    assert!(
        stderr.contains("Some resource has been exhausted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("engine.ingest_max_message_bytes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("after 100 events") || stderr.contains("after 0 events"),
        "{stderr}"
    );
    // Only the accepted events were delivered.
    let out_path = out.clone();
    eventually(
        "the accepted events delivered",
        Duration::from_secs(20),
        || read_jsonl(&out_path).len() == 100,
    )
    .await;
    unsafe {
        libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = tokio::task::spawn_blocking(move || daemon.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
