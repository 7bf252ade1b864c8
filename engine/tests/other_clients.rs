//! The ingestion API with gRPC clients Plexus did not write: Python's
//! `grpcio` (gRPC's C core, which sends the socket path as `:authority`)
//! and Go's grpc, over the unix socket and over TCP with the token, against
//! a real `plexus serve`. The clients are the README's examples
//! (`examples/clients/python/publish.py`, the Go fixture `plexus-publish`);
//! `engine/tests/clients/ingest_checks.py` adds the refusals and reflection.

use plexus_interop::daemon::ServeDaemon;
use plexus_interop::{eventually, go_fixtures, read_jsonl, workspace_bin};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const TOKEN: &str = "a-test-token-of-enough-length-0123456789";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

/// Python with grpcio, grpcio-tools and grpcio-reflection (`.ci/run`
/// installs them); a clear failure, never a skip, without them.
fn python() -> Command {
    let check = Command::new("python3")
        .args([
            "-c",
            "import grpc, grpc_tools.protoc, grpc_reflection.v1alpha.proto_reflection_descriptor_database",
        ])
        .output();
    match check {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "python3 lacks grpcio, grpcio-tools or grpcio-reflection \
             (pip install grpcio grpcio-tools grpcio-reflection; .ci/run does): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => panic!("python3 is not runnable: {err}"),
    }
    Command::new("python3")
}

fn succeeded(what: &str, output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_go_clients_publish_over_the_unix_socket_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let socket = dir.path().join("plexus.sock");
    let tcp = format!("127.0.0.1:{}", free_port());
    let config = serde_json::json!({
        "engine": {
            "data_dir": dir.path().join("data"),
            "ingest_unix": socket,
            "ingest_tcp": tcp,
            "ingest_max_batch": 100,
            "ingest_max_message_bytes": 65536
        },
        "plugins": [{
            "type": "notifier",
            "cmd": workspace_bin("notifier-jsonl"),
            "args": ["--out", out],
            "notifier_options": {"fs_events": ["upload"]}
        }]
    });
    let daemon = ServeDaemon::start(
        dir.path(),
        config,
        &[("PLEXUS_INGEST_TOKEN", TOKEN)],
        &socket,
    )
    .await;
    let unix_target = format!("unix:{}", socket.display());
    let publish_py = repo_root().join("examples/clients/python/publish.py");
    let checks_py = repo_root().join("engine/tests/clients/ingest_checks.py");
    let go = &go_fixtures().publish_client();

    // Each client publishes 5 events over each transport: 1 with Publish,
    // 4 with PublishBatch. Over TCP the token comes from the environment.
    for (target, token) in [(unix_target.as_str(), None), (tcp.as_str(), Some(TOKEN))] {
        let mut python_publish = python();
        python_publish.arg(&publish_py).args([target, "5"]);
        let mut go_publish = Command::new(go);
        let go_target = match target.strip_prefix("unix:") {
            Some(path) => format!("unix://{path}"),
            None => target.to_owned(),
        };
        go_publish.args(["-target", &go_target, "-n", "5"]);
        let mut python_checks = python();
        python_checks.arg(&checks_py).arg(target);
        for command in [&mut python_publish, &mut go_publish, &mut python_checks] {
            command.env_remove("PLEXUS_INGEST_TOKEN");
            if let Some(token) = token {
                command.env("PLEXUS_INGEST_TOKEN", token);
            }
        }
        let stdout = succeeded(
            &format!("publish.py {target}"),
            python_publish.output().unwrap(),
        );
        assert!(stdout.contains("PublishBatch: 4 accepted"), "{stdout}");
        let stdout = succeeded(
            &format!("plexus-publish {go_target}"),
            go_publish.output().unwrap(),
        );
        assert!(stdout.contains("PublishBatch: 4 accepted"), "{stdout}");
        let stdout = succeeded(
            &format!("ingest_checks.py {target}"),
            python_checks.output().unwrap(),
        );
        assert!(stdout.contains("RESOURCE_EXHAUSTED"), "{stdout}");
        assert!(stdout.contains("reflection lists:"), "{stdout}");
        assert!(stdout.contains("plexus.v1.EventBus"), "{stdout}");
    }

    // Over TCP without the token, the Go client is refused.
    let refused = Command::new(go)
        .args(["-target", &tcp, "-n", "1"])
        .env_remove("PLEXUS_INGEST_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("Unauthenticated"), "{stderr}");

    // Every accepted event was delivered, and none of the refused ones.
    let out_path = out.clone();
    eventually("20 events delivered", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() >= 20
    })
    .await;
    let events = read_jsonl(&out);
    let by_user = |user: &str| {
        events
            .iter()
            .filter(|e| e["username"] == serde_json::json!(user))
            .count()
    };
    assert_eq!(by_user("python-client"), 10, "{events:?}");
    assert_eq!(by_user("go-client"), 10, "{events:?}");
    assert_eq!(events.len(), 20, "{events:?}");
    daemon.stop().await;
}
