//! `auth-users` as a real plugin process: the `hash-password` subcommand
//! makes the users file, then every method of SFTPGo's auth service with
//! accepted and refused credentials, the keyboard-interactive steps as
//! SFTPGo drives them, and start-up errors.

mod common;

use common::{run_to_exit, Plugin, Scratch};
use plexus_proto::sftpgo::auth_client::AuthClient;
use plexus_proto::sftpgo::{
    AuthResponse, CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest,
    CheckUserAndPublicKeyRequest, CheckUserAndTlsCertRequest, KeyboardAuthRequest,
};
use plexus_proto::PluginKind;
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tonic::transport::Channel;
use tonic::{Code, Response};

const BIN: &str = env!("CARGO_BIN_EXE_auth-users");

const ALICE_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJalice alice@laptop";

/// Runs `auth-users hash-password` with `password` on stdin.
async fn hash_with_the_cli(password: &str) -> String {
    let mut child = tokio::process::Command::new(BIN)
        .arg("hash-password")
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn auth-users hash-password");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(password.as_bytes()).await.unwrap();
    stdin.write_all(b"\n").await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(common::DEADLINE, child.wait_with_output())
        .await
        .expect("hash-password exits")
        .expect("hash-password output");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hash = String::from_utf8(output.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash.trim_end().to_owned()
}

fn certificate(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.self_signed(&key).unwrap().pem()
}

fn fingerprint(pem: &str) -> String {
    plexus_examples::users::Certificate::from_pem(pem)
        .unwrap()
        .fingerprint
}

struct Setup {
    _scratch: Scratch,
    plugin: Plugin,
    client: AuthClient<Channel>,
    /// Certificates: alice's (by fingerprint), one with CN bob, a stranger's.
    alice_cert: String,
    bob_cert: String,
    stranger_cert: String,
}

async fn setup() -> Setup {
    let scratch = Scratch::new();
    let alice_cert = certificate("laptop-of-alice");
    let bob_cert = certificate("bob");
    let stranger_cert = certificate("alice");
    let users = json!({"users": [
        {"username": "alice", "password_hash": hash_with_the_cli("wonder land ✓").await,
         "public_keys": [ALICE_KEY],
         "tls_fingerprints": [fingerprint(&alice_cert)],
         "home_dir": "/data/alice"},
        {"username": "bob", "password_hash": plexus_examples::users::hash_password("builder").unwrap(),
         "tls_common_names": ["bob"]},
        {"username": "deploy", "public_keys": ["ssh-rsa AAAAB3NzaC1yc2EAAAADAQABdeploy"]},
    ]});
    let path = scratch.path("users.json");
    std::fs::write(&path, serde_json::to_string_pretty(&users).unwrap()).unwrap();
    let mut command = scratch.plugin_command(BIN, PluginKind::Auth);
    command.arg("--users").arg(&path);
    let plugin = Plugin::start(command).await;
    let client = AuthClient::new(plugin.unix_channel().await);
    Setup {
        _scratch: scratch,
        plugin,
        client,
        alice_cert,
        bob_cert,
        stranger_cert,
    }
}

/// The SFTPGo user of a successful answer; the refusal's code otherwise.
fn user(answer: Result<Response<AuthResponse>, tonic::Status>) -> Result<Value, Code> {
    match answer {
        Ok(response) => Ok(serde_json::from_slice(&response.get_ref().user).expect("user JSON")),
        Err(status) => {
            assert!(
                !status.message().contains("wonder") && !status.message().contains("builder"),
                "a refusal never echoes a password: {status:?}"
            );
            Err(status.code())
        }
    }
}

async fn password(
    client: &mut AuthClient<Channel>,
    username: &str,
    pw: &str,
) -> Result<Value, Code> {
    user(
        client
            .check_user_and_pass(CheckUserAndPassRequest {
                username: username.into(),
                password: pw.into(),
                ip: "192.0.2.1".into(),
                protocol: "SSH".into(),
                user: format!(r#"{{"id":0,"username":"{username}"}}"#).into_bytes(),
            })
            .await,
    )
}

#[tokio::test]
async fn passwords_public_keys_and_certificates() {
    let setup = setup().await;
    let Setup {
        plugin,
        client,
        alice_cert,
        bob_cert,
        stranger_cert,
        ..
    } = &setup;
    let mut client = client.clone();
    plugin.wait_stderr_contains("auth plugin starting").await;

    let alice = password(&mut client, "alice", "wonder land ✓")
        .await
        .unwrap();
    assert_eq!(
        alice,
        json!({"status": 1, "username": "alice", "home_dir": "/data/alice",
               "permissions": {"/": ["*"]}})
    );
    let bob = password(&mut client, "bob", "builder").await.unwrap();
    assert_eq!(bob["home_dir"], "/srv/sftpgo/bob");
    for (username, pw) in [
        ("alice", "wonder land"),
        ("alice", ""),
        ("bob", "wonder land ✓"),
        ("carol", "builder"),
        ("deploy", ""),
        ("", ""),
    ] {
        assert_eq!(
            password(&mut client, username, pw).await,
            Err(Code::Unauthenticated),
            "{username:?} / {pw:?}"
        );
    }

    // Public keys: as SFTPGo sends them, authorized_keys form with a newline.
    let key = |username: &str, key: &str| {
        let request = CheckUserAndPublicKeyRequest {
            username: username.into(),
            pub_key: key.into(),
            ip: "192.0.2.1".into(),
            protocol: "SSH".into(),
            ..Default::default()
        };
        let mut client = client.clone();
        async move { user(client.check_user_and_public_key(request).await) }
    };
    let presented = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJalice\n";
    assert_eq!(key("alice", presented).await.unwrap()["username"], "alice");
    assert_eq!(
        key("deploy", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABdeploy\n")
            .await
            .unwrap()["username"],
        "deploy"
    );
    assert_eq!(key("bob", presented).await, Err(Code::Unauthenticated));
    assert_eq!(
        key("alice", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJmallory\n").await,
        Err(Code::Unauthenticated)
    );
    assert_eq!(
        key("alice", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJalice\n").await,
        Err(Code::Unauthenticated),
        "the key type counts"
    );
    assert_eq!(key("nobody", presented).await, Err(Code::Unauthenticated));

    // TLS certificates: alice's by fingerprint, bob's by CN.
    let tls = |username: &str, pem: &str| {
        let request = CheckUserAndTlsCertRequest {
            username: username.into(),
            tls_cert: pem.into(),
            ip: "192.0.2.1".into(),
            protocol: "FTP".into(),
            ..Default::default()
        };
        let mut client = client.clone();
        async move { user(client.check_user_and_tls_cert(request).await) }
    };
    assert_eq!(tls("alice", alice_cert).await.unwrap()["username"], "alice");
    assert_eq!(tls("bob", bob_cert).await.unwrap()["username"], "bob");
    assert_eq!(tls("alice", bob_cert).await, Err(Code::Unauthenticated));
    assert_eq!(
        tls("alice", stranger_cert).await,
        Err(Code::Unauthenticated),
        "CN alice is not in alice's tls_common_names"
    );
    assert_eq!(tls("bob", alice_cert).await, Err(Code::Unauthenticated));
    assert_eq!(tls("bob", "garbage").await, Err(Code::Unauthenticated));
    assert_eq!(tls("deploy", bob_cert).await, Err(Code::Unauthenticated));
}

#[tokio::test]
async fn keyboard_interactive_steps_as_sftpgo_drives_them() {
    // Bound whole: the plugin process lives as long as `setup`.
    let setup = setup().await;
    let mut client = setup.client.clone();
    let allowed = user(
        client
            .check_user_and_keyboard_interactive(CheckUserAndKeyboardInteractiveRequest {
                username: "bob".into(),
                ip: "192.0.2.1".into(),
                protocol: "SSH".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(allowed.unwrap()["username"], "bob");
    for nobody in ["carol", "deploy"] {
        let refused = client
            .check_user_and_keyboard_interactive(CheckUserAndKeyboardInteractiveRequest {
                username: nobody.into(),
                ..Default::default()
            })
            .await;
        assert_eq!(
            user(refused),
            Err(Code::Unauthenticated),
            "{nobody} has no password to answer with"
        );
    }

    // Step 1: one hidden question, the answer comes back to the plugin.
    let step1 = client
        .send_keyboard_auth_request(KeyboardAuthRequest {
            request_id: "cv1req".into(),
            username: "bob".into(),
            password: "$argon2id$stored-hash-sent-by-sftpgo".into(),
            ip: "192.0.2.1".into(),
            step: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(step1.auth_result, 0);
    assert_eq!(step1.questions.len(), 1);
    assert_eq!(step1.echos, [false]);
    assert_eq!(step1.check_password, 0);
    assert!(!step1.instructions.is_empty());

    // Step 2: the answer decides (SFTPGo sends no IP from step 2 on).
    let step2 = |answers: Vec<&str>| KeyboardAuthRequest {
        request_id: "cv1req".into(),
        username: "bob".into(),
        password: "$argon2id$stored-hash-sent-by-sftpgo".into(),
        answers: answers.into_iter().map(str::to_owned).collect(),
        questions: step1.questions.clone(),
        step: 2,
        ..Default::default()
    };
    let result = |request| {
        let mut client = client.clone();
        async move {
            client
                .send_keyboard_auth_request(request)
                .await
                .unwrap()
                .into_inner()
                .auth_result
        }
    };
    assert_eq!(result(step2(vec!["builder"])).await, 1);
    assert_eq!(result(step2(vec!["wrong"])).await, -1);
    assert_eq!(result(step2(vec![])).await, -1);
    assert_eq!(result(step2(vec!["builder", "builder"])).await, -1);

    let unknown = client
        .send_keyboard_auth_request(KeyboardAuthRequest {
            username: "carol".into(),
            step: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn bad_users_files_and_usage() {
    let scratch = Scratch::new();
    let run = |content: &str| {
        let path = scratch.path("users.json");
        std::fs::write(&path, content).unwrap();
        let mut command = scratch.plugin_command(BIN, PluginKind::Auth);
        command.arg("--users").arg(&path);
        run_to_exit(command)
    };
    let (status, stdout, stderr) =
        run(r#"{"users": [{"username": "x", "password_hash": "x"}]}"#).await;
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("users.json: users[0].password_hash"),
        "{stderr}"
    );
    let (status, _, stderr) = run("{\"users\": [").await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("users.json"), "{stderr}");

    let command = scratch.plugin_command(BIN, PluginKind::Auth);
    let (status, _, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("--users"), "{stderr}");

    // hash-password refuses an empty password; --help explains the file.
    let mut command = tokio::process::Command::new(BIN);
    command
        .arg("hash-password")
        .env_clear()
        .stdin(Stdio::null());
    let (status, stdout, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(1));
    assert!(stdout.is_empty() && stderr.contains("empty"), "{stderr}");
    let mut command = tokio::process::Command::new(BIN);
    command.arg("--help").env_clear();
    let (status, stdout, _) = run_to_exit(command).await;
    assert!(status.success());
    for needle in [
        "--users <PATH>",
        "hash-password",
        "tls_fingerprints",
        "\"type\": \"auth\"",
    ] {
        assert!(
            stdout.contains(needle),
            "--help lacks {needle:?}:\n{stdout}"
        );
    }
}
