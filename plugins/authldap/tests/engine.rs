//! `plexus-auth-ldap` as a real plugin process started by the Plexus
//! engine, against a real slapd: flags and `SFTPGO_PLUGIN_AUTH_*`
//! variables, every auth RPC over gRPC, the multi-directory config file,
//! and start-up errors that stop the engine's start with the setting named.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use plexus_actors::service::CallError;
use plexus_engine::{Engine, EngineError, EngineSettings, PluginConfig};
use plexus_proto::sftpgo::{
    CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest, CheckUserAndPublicKeyRequest,
    CheckUserAndTlsCertRequest, KeyboardAuthRequest,
};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_plexus-auth-ldap");
const PASSWORD_VAR: &str = "SFTPGO_PLUGIN_AUTH_LDAP_PASSWORD";

fn config(args: &[&str]) -> PluginConfig {
    let mut all = vec!["serve".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let mut config = PluginConfig {
        kind: "auth".into(),
        cmd: BIN.into(),
        args: all,
        auto_mtls: true,
        env_vars: vec![PASSWORD_VAR.into()],
        ..Default::default()
    };
    config.auth_options.scope = 15;
    config
}

async fn start(dir: &Path, args: &[&str]) -> Result<Engine, EngineError> {
    let settings = EngineSettings {
        data_dir: dir.join("plexus"),
        ..EngineSettings::default()
    };
    Engine::start(vec![config(args)], settings).await
}

/// The plugin's error status, or a panic when the call failed otherwise.
fn status(err: EngineError) -> tonic::Status {
    match err {
        EngineError::Call(CallError::Status { status, .. }) => status,
        other => panic!("not a plugin answer: {other}"),
    }
}

fn password(username: &str, password: &str, user: &Value) -> CheckUserAndPassRequest {
    CheckUserAndPassRequest {
        username: username.into(),
        password: password.into(),
        ip: "127.0.0.1".into(),
        protocol: "SSH".into(),
        user: serde_json::to_vec(user).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auth_call_through_the_engine() {
    let slapd = Slapd::start().await;
    // The service password reaches the plugin as SFTPGo passes it: an
    // environment variable listed in env_vars.
    std::env::set_var(PASSWORD_VAR, SERVICE_PW);
    let dir = tempfile::tempdir().unwrap();
    let url = slapd.url();
    let engine = start(
        dir.path(),
        &[
            "--ldap-url",
            &url,
            "--ldap-base-dn",
            BASE_DN,
            "--ldap-bind-dn",
            SERVICE_DN,
            "--primary-group-prefix",
            "sftpgo_primary",
            "--membership-group-prefix=sftpgo_membership",
            "--users-base-dir",
            "/srv/sftpgo",
            "--ldap-public-key-attribute",
            "sshPublicKey",
        ],
    )
    .await
    .unwrap();
    let new = json!({"id": 0, "username": "alice"});

    let user: Value = serde_json::from_slice(
        &engine
            .check_user_and_pass(password("alice", ALICE_PW, &new))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(user["home_dir"], "/srv/sftpgo/alice");
    assert_eq!(
        user["groups"],
        json!([{"name": "sftpgo_primary1", "type": 1}, {"name": "sftpgo_membership1", "type": 3}])
    );

    let err = status(
        engine
            .check_user_and_pass(password("alice", "wrong", &new))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("LDAP result code 49"), "{err}");
    assert!(!err.message().contains("wrong"), "{err}");

    // Nothing to change: an empty answer.
    let mut stored = user.clone();
    stored["id"] = json!(5);
    stored["password"] = json!("$2a$10$hash");
    let answer = engine
        .check_user_and_pass(password("alice", ALICE_PW, &stored))
        .await
        .unwrap();
    assert!(answer.is_empty());

    // Keyboard-interactive: the user, then the two steps.
    let user = engine
        .check_user_and_keyboard_interactive(CheckUserAndKeyboardInteractiveRequest {
            username: "alice".into(),
            user: serde_json::to_vec(&new).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!user.is_empty());
    let step = |step: i32, answers: Vec<String>| KeyboardAuthRequest {
        request_id: "r1".into(),
        username: "alice".into(),
        step,
        answers,
        ..Default::default()
    };
    let first = engine
        .send_keyboard_auth_request(step(1, vec![]))
        .await
        .unwrap();
    assert_eq!(first.questions, ["Password: "]);
    assert_eq!(first.echos, [false]);
    let second = engine
        .send_keyboard_auth_request(step(2, vec![ALICE_PW.into()]))
        .await
        .unwrap();
    assert_eq!((second.auth_result, second.check_password), (1, 0));
    let err = status(
        engine
            .send_keyboard_auth_request(step(2, vec!["bad".into()]))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Public keys from LDAP.
    let key = ALICE_KEY.rsplit_once(' ').unwrap().0;
    let user = engine
        .check_user_and_public_key(CheckUserAndPublicKeyRequest {
            username: "alice".into(),
            pub_key: format!("{key}\n"),
            user: serde_json::to_vec(&new).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!user.is_empty());

    // TLS certificates: not implemented, as in the Go plugin.
    let err = status(
        engine
            .check_user_and_tls_cert(CheckUserAndTlsCertRequest {
                username: "alice".into(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_through_the_engine() {
    let slapd = Slapd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let entry = |urls: Vec<String>| {
        json!({
            "dial_urls": urls, "base_dn": BASE_DN, "bind_dn": SERVICE_DN,
            "password": SERVICE_PW,
            "search_query": "(&(objectClass=user)(sAMAccountName=%username%))",
            "group_attributes": ["memberOf"], "secondary_group_prefix": "sftpgo_secondary",
            "start_tls": 1, "ca_certificates": [slapd.ca.to_str().unwrap()]
        })
    };
    let file = dir.path().join("ldap.json");
    let down = format!("ldap://127.0.0.1:{}", free_port());
    std::fs::write(
        &file,
        json!({"configs": [entry(vec![down]), entry(vec![slapd.url()])]}).to_string(),
    )
    .unwrap();
    // With the config file every other flag is ignored.
    let engine = start(
        dir.path(),
        &[
            "--config-file",
            file.to_str().unwrap(),
            "--ldap-url",
            "ldap://ignored",
        ],
    )
    .await
    .unwrap();
    let user: Value = serde_json::from_slice(
        &engine
            .check_user_and_pass(password(
                "bob",
                BOB_PW,
                &json!({"id": 0, "username": "bob"}),
            ))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        user["groups"],
        json!([{"name": "sftpgo_secondary1", "type": 2}])
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let bad_file = dir.path().join("bad.json");
    std::fs::write(
        &bad_file,
        r#"{"configs": [{"dial_urls": ["ldap://a"], "base_dn": "dc=x"}]}"#,
    )
    .unwrap();
    let base = [
        "--ldap-url",
        "ldap://127.0.0.1:1",
        "--ldap-base-dn",
        "dc=x",
        "--ldap-bind-dn",
        "cn=a",
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    for (args, expected) in [
        (
            vec!["--ldap-base-dn".to_owned(), "dc=x".to_owned()],
            "--ldap-url (SFTPGO_PLUGIN_AUTH_LDAP_URL) is required",
        ),
        (
            with(&[
                "--primary-group-prefix",
                "sftpgo",
                "--secondary-group-prefix",
                "sftpgo_s",
            ]),
            "group prefixes overlap",
        ),
        (
            with(&["--ca-certificates", "ca.pem"]),
            "CA certificate \"ca.pem\" is not an absolute path",
        ),
        (
            with(&["--ca-certificates", "/nonexistent/ca.pem"]),
            "unable to load CA certificate",
        ),
        (
            with(&["--ldap-search-query", "(uid=x)"]),
            "must contain the %username% placeholder",
        ),
        (
            with(&["--users-base-dir", "relative"]),
            "--users-base-dir (SFTPGO_PLUGIN_AUTH_USERS_BASE_DIR) must be an absolute path",
        ),
        (
            with(&["--require-groups"]),
            "--require-groups (SFTPGO_PLUGIN_AUTH_REQUIRE_GROUPS) needs at least one group prefix",
        ),
        (
            with(&["--ldap-group-attributes", "", "--role-group-prefix", "r_"]),
            "group prefixes are set but --ldap-group-attributes",
        ),
        (
            with(&["--starttls", "1", "--ldap-url", "ldaps://127.0.0.1:2"]),
            "StartTLS runs on ldap:// URLs",
        ),
        (with(&["--user-requirements", "2"]), "--user-requirements"),
        (with(&["--cache-time", "-5"]), "--cache-time"),
        (
            vec![
                "--config-file".to_owned(),
                missing.to_str().unwrap().to_owned(),
            ],
            "cannot read the config file",
        ),
        (
            vec![
                "--config-file".to_owned(),
                bad_file.to_str().unwrap().to_owned(),
            ],
            "configs[0].bind_dn is required",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = match start(dir.path(), &args).await {
            Ok(engine) => {
                engine.shutdown(Duration::from_secs(5)).await;
                panic!("{args:?} started")
            }
            Err(err) => err.to_string(),
        };
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// What an operator runs to try the plugin: `plexus call auth` on an
/// SFTPGo-style config, the plugin started by the engine, against slapd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_call_auth_with_the_plugin() {
    let slapd = Slapd::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut plugin = config(&[
        "--ldap-url",
        &slapd.url(),
        "--ldap-base-dn",
        BASE_DN,
        "--ldap-bind-dn",
        SERVICE_DN,
        "--users-base-dir",
        "/srv/sftpgo",
    ]);
    plugin.auth_options.scope = 5;
    let config_path = dir.path().join("sftpgo.json");
    let config = json!({
        "engine": {"data_dir": dir.path().join("data")},
        "plugins": [plugin],
    });
    std::fs::write(&config_path, config.to_string()).unwrap();
    let call = |args: &[&str]| {
        std::process::Command::new(plexus_interop::workspace_bin("plexus"))
            .args(["--log", "warn", "call", "--config"])
            .arg(&config_path)
            .args(args)
            .env(PASSWORD_VAR, SERVICE_PW)
            .output()
            .unwrap()
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();

    let output = call(&[
        "auth",
        "password",
        "--user",
        "alice",
        "--password",
        ALICE_PW,
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let user: Value = serde_json::from_slice(&output.stdout).expect("the user document");
    assert_eq!(user["username"], "alice");
    assert_eq!(user["home_dir"], "/srv/sftpgo/alice");

    let output = call(&["auth", "password", "--user", "alice", "--password", "wrong"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    assert!(text(&output.stderr).contains("plexus call:"));
    assert!(
        !text(&output.stderr).contains("wrong"),
        "the password is not echoed"
    );

    let output = call(&[
        "auth",
        "keyboard-interactive",
        "--user",
        "alice",
        "--answer",
        ALICE_PW,
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with("authenticated at step 2"));
}
