//! `plexus call` against real plugin processes of every request/response
//! kind: the answers an operator sees, and the exit statuses a script
//! relies on (0 success, 1 denial or error, 2 nothing to ask).

use plexus_interop::workspace_bin;
use std::process::{Command, Output};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let users = serde_json::json!({"users": [{
            "username": "alice",
            "password_hash": plexus_examples::users::hash_password("wonderland").unwrap(),
            "home_dir": "/srv/sftp/alice"
        }]});
        std::fs::write(dir.path().join("users.json"), users.to_string()).unwrap();
        std::fs::write(dir.path().join("kms.key"), [7u8; 32]).unwrap();
        let events = dir.path().join("events.jsonl");
        let config = serde_json::json!({
            "engine": {"data_dir": dir.path().join("data")},
            "plugins": [
                {"type": "auth", "cmd": workspace_bin("auth-users"),
                 "args": ["--users", dir.path().join("users.json")], "auth_options": {"scope": 5}},
                {"type": "kms", "cmd": workspace_bin("kms-aesgcm"),
                 "args": ["--key-file", dir.path().join("kms.key")],
                 "kms_options": {"scheme": "hashivault", "encrypted_status": "VaultTransit"}},
                {"type": "ipfilter", "cmd": workspace_bin("ipfilter-cidr"), "args": ["--allow", "10.0.0.0/8"]},
                {"type": "eventsearcher", "cmd": workspace_bin("eventsearch-jsonl"), "args": ["--file", events]},
                {"type": "notifier", "cmd": workspace_bin("notifier-jsonl"), "args": ["--out", events],
                 "notifier_options": {"fs_events": ["upload"]}}
            ]
        });
        std::fs::write(dir.path().join("plexus.json"), config.to_string()).unwrap();
        Setup { dir }
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("plexus.json")
    }

    fn call(&self, args: &[&str]) -> Output {
        Command::new(workspace_bin("plexus"))
            .args(["--log", "warn", "call", "--config"])
            .arg(self.config())
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn refused(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

#[test]
fn auth_answers_and_denials() {
    let setup = Setup::new();
    let user = ok(&setup.call(&[
        "auth",
        "password",
        "--user",
        "alice",
        "--password",
        "wonderland",
    ]));
    let json: serde_json::Value = serde_json::from_str(&user).expect(&user);
    assert_eq!(json["username"], "alice");
    assert_eq!(json["home_dir"], "/srv/sftp/alice");

    let stderr =
        refused(&setup.call(&["auth", "password", "--user", "alice", "--password", "nope"]));
    assert!(stderr.contains("plexus call:"), "{stderr}");

    // Keyboard-interactive: the plugin asks for the password at step 1.
    let answer = ok(&setup.call(&[
        "auth",
        "keyboard-interactive",
        "--user",
        "alice",
        "--answer",
        "wonderland",
    ]));
    assert!(answer.starts_with("authenticated at step 2"), "{answer}");
    let stderr = refused(&setup.call(&["auth", "keyboard-interactive", "--user", "alice"]));
    assert!(stderr.contains("no --answer is left"), "{stderr}");

    // Scope 5 has no public key bit: no plugin serves it, as SFTPGo says.
    let stderr = refused(&setup.call(&[
        "auth",
        "public-key",
        "--user",
        "alice",
        "--key",
        "ssh-ed25519 AAAA",
    ]));
    assert!(
        stderr.contains("no auth plugin configured for public key checking"),
        "{stderr}"
    );
}

#[test]
fn kms_round_trip_ipfilter_and_search() {
    let setup = Setup::new();
    let secret = ok(&setup.call(&[
        "kms",
        "encrypt",
        "--payload",
        "s3cr3t",
        "--additional-data",
        "user:alice",
        "--url",
        "hashivault://local",
    ]));
    let secret: serde_json::Value = serde_json::from_str(&secret).expect(&secret);
    assert_eq!(secret["status"], "VaultTransit");
    let sealed = secret["payload"].as_str().unwrap();
    assert_ne!(sealed, "s3cr3t");
    let plain = ok(&setup.call(&[
        "kms",
        "decrypt",
        "--status",
        "VaultTransit",
        "--payload",
        sealed,
        "--additional-data",
        "user:alice",
    ]));
    assert_eq!(plain.trim(), "s3cr3t");
    let stderr = refused(&setup.call(&[
        "kms",
        "decrypt",
        "--status",
        "VaultTransit",
        "--payload",
        sealed,
        "--additional-data",
        "user:bob",
    ]));
    assert!(stderr.contains("plexus call:"), "{stderr}");

    let allowed = ok(&setup.call(&["ipfilter", "--ip", "10.1.2.3", "--protocol", "FTP"]));
    assert_eq!(allowed.trim(), "allowed: 10.1.2.3 over FTP");
    let stderr = refused(&setup.call(&["ipfilter", "--ip", "192.168.1.9"]));
    assert!(stderr.contains("ip 192.168.1.9 denied by"), "{stderr}");

    // Events for the searcher: what `plexus probe` delivers to the notifier.
    let probe = Command::new(workspace_bin("plexus"))
        .args(["--log", "warn", "probe", "--config"])
        .arg(setup.config())
        .output()
        .unwrap();
    assert!(probe.status.success(), "{}", text(&probe.stdout));
    let found = ok(&setup.call(&["search", "fs", "--limit", "10"]));
    let found: serde_json::Value = serde_json::from_str(&found).expect(&found);
    let events = found.as_array().expect("a JSON array");
    assert_eq!(events.len(), 1, "{found}");
    assert_eq!(events[0]["action"], "upload");
}

#[test]
fn a_kind_the_config_lacks_is_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plexus.json");
    std::fs::write(
        &config,
        r#"[{"type":"notifier","cmd":"/bin/true","notifier_options":{"fs_events":["upload"]}}]"#,
    )
    .unwrap();
    let output = Command::new(workspace_bin("plexus"))
        .args(["call", "--config"])
        .arg(&config)
        .args(["ipfilter", "--ip", "10.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("the config has no ipfilter plugin"));
}

/// `plexus call --socket` asks a running daemon's plugins through its admin
/// API: the same answers and exit statuses, no plugin started by the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugins_of_a_running_daemon() {
    let setup = Setup::new();
    let socket = setup.dir.path().join("data").join("plexus.sock");
    let daemon =
        plexus_interop::daemon::ServeDaemon::start_file(&setup.config(), &[], &socket).await;
    let call = |args: &[&str]| {
        Command::new(workspace_bin("plexus"))
            .args(["--log", "warn", "call", "--socket"])
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    let user = ok(&call(&[
        "auth",
        "password",
        "--user",
        "alice",
        "--password",
        "wonderland",
    ]));
    let json: serde_json::Value = serde_json::from_str(&user).expect(&user);
    assert_eq!(json["username"], "alice");
    let stderr = refused(&call(&[
        "auth",
        "password",
        "--user",
        "alice",
        "--password",
        "nope",
    ]));
    assert!(
        stderr.contains("plugin "),
        "the plugin's own message: {stderr}"
    );
    let answer = ok(&call(&[
        "auth",
        "keyboard-interactive",
        "--user",
        "alice",
        "--answer",
        "wonderland",
    ]));
    assert!(answer.starts_with("authenticated at step 2"), "{answer}");

    let secret = ok(&call(&[
        "kms",
        "encrypt",
        "--payload",
        "s3cr3t",
        "--url",
        "hashivault://local",
    ]));
    let secret: serde_json::Value = serde_json::from_str(&secret).expect(&secret);
    let plain = ok(&call(&[
        "kms",
        "decrypt",
        "--status",
        secret["status"].as_str().unwrap(),
        "--payload",
        secret["payload"].as_str().unwrap(),
    ]));
    assert_eq!(plain.trim(), "s3cr3t");

    let stderr = refused(&call(&["ipfilter", "--ip", "192.168.1.9"]));
    assert!(stderr.contains("ip 192.168.1.9 denied by"), "{stderr}");

    // The daemon's notifier writes what its searcher reads.
    let emit = Command::new(workspace_bin("plexus"))
        .args(["emit", "-n", "3", "--quiet", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(emit.status.success());
    let mut found = serde_json::Value::Null;
    for _ in 0..100 {
        let answer = ok(&call(&["search", "fs", "--limit", "10"]));
        found = serde_json::from_str(&answer).expect(&answer);
        if found.as_array().is_some_and(|events| events.len() >= 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        found.as_array().is_some_and(|events| events.len() >= 3),
        "{found}"
    );
    daemon.stop().await;

    let output = call(&["ipfilter", "--ip", "10.0.0.1"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("cannot reach plexus serve"));
}
