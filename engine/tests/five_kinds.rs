//! Every plugin kind end to end through the Engine, with the example
//! plugins as real processes, and SFTPGo's selection and failure policies:
//! auth by scope, KMS by URL scheme and secret status, every IP filter
//! asked (fail-open or fail-closed while one is down), the one searcher.

use plexus_actors::supervisor::Backoff;
use plexus_engine::config::{AuthOptions, KmsOptions, NotifierOptions};
use plexus_engine::{Engine, EngineError, EngineSettings, PluginConfig};
use plexus_interop::{eventually_async, kill9, workspace_bin};
use plexus_proto::sftpgo::{
    CheckUserAndKeyboardInteractiveRequest, CheckUserAndPassRequest, CheckUserAndPublicKeyRequest,
    DecryptRequest, EncryptRequest, FsEvent, FsEventsFilter, KeyboardAuthRequest, LogEvent,
    LogEventsFilter,
};
use plexus_proto::PluginKind;
use std::path::Path;
use std::time::Duration;

fn plugin(kind: &str, bin: &str, args: &[String]) -> PluginConfig {
    PluginConfig {
        kind: kind.into(),
        cmd: workspace_bin(bin).to_string_lossy().into_owned(),
        args: args.to_vec(),
        auto_mtls: true,
        ..Default::default()
    }
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn hash(password: &str) -> String {
    plexus_examples::users::hash_password(password).unwrap()
}

struct Setup {
    plugins: Vec<PluginConfig>,
    allow_file: std::path::PathBuf,
}

fn setup(dir: &Path) -> Setup {
    let events = dir.join("events.jsonl");
    let allow_file = dir.join("allow.txt");
    std::fs::write(&allow_file, "10.1.0.0/16\n").unwrap();
    std::fs::write(dir.join("vault.key"), [1u8; 32]).unwrap();
    std::fs::write(dir.join("aws.key"), "ab".repeat(32)).unwrap();
    let users = serde_json::json!({"users": [{"username": "alice", "password_hash": hash("wonderland"),
        "public_keys": ["ssh-ed25519 AAAAalice alice@host"]}]});
    std::fs::write(dir.join("users-a.json"), users.to_string()).unwrap();
    let users =
        serde_json::json!({"users": [{"username": "bob", "password_hash": hash("builder")}]});
    std::fs::write(dir.join("users-b.json"), users.to_string()).unwrap();

    let mut notifier = plugin("notifier", "notifier-jsonl", &["--out".into(), s(&events)]);
    notifier.notifier_options = NotifierOptions {
        fs_events: vec!["upload".into()],
        log_events: vec![1],
        retry_max_time: 60,
        ..Default::default()
    };
    let searcher = plugin(
        "eventsearcher",
        "eventsearch-jsonl",
        &["--file".into(), s(&events)],
    );
    let ipfilter = plugin(
        "ipfilter",
        "ipfilter-cidr",
        &[
            "--allow".into(),
            "127.0.0.0/8".into(),
            "--allow-file".into(),
            s(&allow_file),
        ],
    );
    let mut vault = plugin(
        "kms",
        "kms-aesgcm",
        &["--key-file".into(), s(&dir.join("vault.key"))],
    );
    vault.kms_options = KmsOptions {
        scheme: "hashivault".into(),
        encrypted_status: "VaultTransit".into(),
    };
    let mut aws = plugin(
        "kms",
        "kms-aesgcm",
        &["--key-file".into(), s(&dir.join("aws.key"))],
    );
    aws.kms_options = KmsOptions {
        scheme: "awskms".into(),
        encrypted_status: "AWS".into(),
    };
    let mut auth_a = plugin(
        "auth",
        "auth-users",
        &["--users".into(), s(&dir.join("users-a.json"))],
    );
    auth_a.auth_options = AuthOptions { scope: 1 | 2 };
    let mut auth_b = plugin(
        "auth",
        "auth-users",
        &["--users".into(), s(&dir.join("users-b.json"))],
    );
    auth_b.auth_options = AuthOptions { scope: 1 | 4 };
    Setup {
        plugins: vec![notifier, searcher, ipfilter, vault, aws, auth_a, auth_b],
        allow_file,
    }
}

fn settings(dir: &Path, fail_closed: bool) -> EngineSettings {
    EngineSettings {
        data_dir: dir.join("data"),
        ipfilter_fail_closed: fail_closed,
        // Long enough that a killed plugin stays down while the test looks.
        restart_backoff: Backoff {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        },
        ..EngineSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let setup = setup(dir.path());
    let engine = Engine::start(setup.plugins, settings(dir.path(), false))
        .await
        .unwrap();
    let kinds: Vec<PluginKind> = engine.stats().iter().map(|s| s.kind).collect();
    assert_eq!(kinds.len(), 7, "{kinds:?}");

    // Notifier + searcher: what was notified is found.
    for (ts, user) in [(1_000, "alice"), (2_000, "bob")] {
        engine
            .notify_fs(FsEvent {
                timestamp: ts,
                action: "upload".into(),
                username: user.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    engine
        .notify_log(LogEvent {
            timestamp: 3_000,
            event: 1,
            username: "mallory".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(engine.drain(Duration::from_secs(10)).await);
    let found: serde_json::Value = serde_json::from_slice(
        &engine
            .search_fs_events(FsEventsFilter {
                limit: 10,
                fs_provider: -1,
                username: "bob".into(),
                ..Default::default()
            })
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["timestamp"], 2_000);
    let logs: serde_json::Value = serde_json::from_slice(
        &engine
            .search_log_events(LogEventsFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(logs[0]["username"], "mallory");
    let limit_zero = engine
        .search_fs_events(FsEventsFilter::default())
        .await
        .unwrap_err();
    assert!(limit_zero.to_string().contains("limit"), "{limit_zero}");

    // IP filter: allowed, denied, reload.
    engine.check_ip("127.0.0.1", "SSH").await.unwrap();
    engine.check_ip("10.1.2.3", "FTP").await.unwrap();
    let denied = engine.check_ip("192.0.2.7", "SSH").await.unwrap_err();
    assert!(matches!(denied, EngineError::Denied { .. }), "{denied}");
    std::fs::write(&setup.allow_file, "10.1.0.0/16\n192.0.2.0/24\n").unwrap();
    engine.check_ip("192.0.2.7", "SSH").await.unwrap_err();
    assert!(engine.reload_ip_filters().await.is_empty());
    engine.check_ip("192.0.2.7", "SSH").await.unwrap();
    assert!(engine.check_ip("not-an-ip", "SSH").await.is_err());

    // KMS: chosen by URL scheme to encrypt, by status to decrypt.
    let request = |url: &str| EncryptRequest {
        payload: "my secret".into(),
        additional_data: "alice".into(),
        url: url.into(),
        master_key: String::new(),
    };
    let (sealed, status) = engine
        .kms_encrypt(request("hashivault://sftpgo"))
        .await
        .unwrap();
    assert_eq!(status, "VaultTransit");
    let decrypt = |payload: &str| DecryptRequest {
        payload: payload.into(),
        additional_data: "alice".into(),
        ..Default::default()
    };
    assert_eq!(
        engine
            .kms_decrypt("VaultTransit", decrypt(&sealed.payload))
            .await
            .unwrap()
            .payload,
        "my secret"
    );
    assert!(
        engine
            .kms_decrypt("AWS", decrypt(&sealed.payload))
            .await
            .is_err(),
        "another plugin's key cannot open it"
    );
    let (_, status) = engine
        .kms_encrypt(request("awskms:///arn:aws:kms:key"))
        .await
        .unwrap();
    assert_eq!(status, "AWS");
    assert!(matches!(
        engine.kms_encrypt(request("gcpkms://projects/p")).await,
        Err(EngineError::NoPlugin(_))
    ));
    assert!(matches!(
        engine.kms_decrypt("Plain", decrypt("x")).await,
        Err(EngineError::NoPlugin(_))
    ));

    // Auth: the first plugin whose scope has the method's bit answers.
    let user = engine
        .check_user_and_pass(CheckUserAndPassRequest {
            username: "alice".into(),
            password: "wonderland".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let user: serde_json::Value = serde_json::from_slice(&user).unwrap();
    assert_eq!(user["username"], "alice");
    // bob is only in the second plugin: password goes to the first (scope 1|2) and fails.
    assert!(engine
        .check_user_and_pass(CheckUserAndPassRequest {
            username: "bob".into(),
            password: "builder".into(),
            ..Default::default()
        })
        .await
        .is_err());
    engine
        .check_user_and_public_key(CheckUserAndPublicKeyRequest {
            username: "alice".into(),
            pub_key: "ssh-ed25519 AAAAalice\n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Keyboard-interactive (bit 4) goes to the second plugin, which knows bob.
    engine
        .check_user_and_keyboard_interactive(CheckUserAndKeyboardInteractiveRequest {
            username: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let step1 = engine
        .send_keyboard_auth_request(KeyboardAuthRequest {
            username: "bob".into(),
            step: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(step1.questions.len(), 1);
    let step2 = engine
        .send_keyboard_auth_request(KeyboardAuthRequest {
            username: "bob".into(),
            step: 2,
            answers: vec!["builder".into()],
            questions: step1.questions,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(step2.auth_result, 1);
    assert!(matches!(
        engine.check_user_and_tls_cert(Default::default()).await,
        Err(EngineError::NoPlugin(message)) if message.contains("TLS certificate")
    ));

    // A dead IP filter allows (SFTPGo's fail-open), once the engine knows it is down.
    let ipfilter_pid = engine
        .stats()
        .iter()
        .find(|s| s.kind == PluginKind::IpFilter)
        .unwrap()
        .counters
        .pid;
    kill9(ipfilter_pid);
    eventually_async(
        "a dead ip filter allows",
        Duration::from_secs(10),
        || async { engine.check_ip("203.0.113.9", "SSH").await.is_ok() },
    )
    .await;
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_ip_filter_denies_when_configured_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let setup = setup(dir.path());
    let plugins: Vec<PluginConfig> = setup
        .plugins
        .into_iter()
        .filter(|p| p.kind == "ipfilter")
        .collect();
    let engine = Engine::start(plugins, settings(dir.path(), true))
        .await
        .unwrap();
    engine.check_ip("127.0.0.1", "SSH").await.unwrap();
    kill9(engine.stats()[0].counters.pid);
    // Until the engine has noticed the exit, a call fails at the transport,
    // which denies under either policy. The policy is only exercised once
    // the plugin is known to be down: the call is then refused as "not
    // running", which fail-open would allow. So wait for that refusal, and
    // never accept an allow on the way.
    let check = || async {
        match engine.check_ip("127.0.0.1", "SSH").await {
            Ok(()) => panic!("a dead ip filter allowed although fail-closed is configured"),
            Err(EngineError::Denied { reason, .. }) => reason,
            Err(other) => panic!("expected a denial, got {other}"),
        }
    };
    eventually_async(
        "the engine knows the ip filter is down, and denies",
        Duration::from_secs(10),
        || async { check().await.contains("is not running") },
    )
    .await;
    // It stays closed while the plugin is down (the restart is 30 s away).
    for _ in 0..10 {
        assert!(check().await.contains("is not running"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_plugins_of_a_kind_the_answers_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(Vec::new(), settings(dir.path(), false))
        .await
        .unwrap();
    assert!(
        matches!(engine.search_fs_events(FsEventsFilter { limit: 1, ..Default::default() }).await,
        Err(EngineError::NoPlugin(m)) if m == "no events searcher plugin defined")
    );
    assert!(matches!(
        engine.check_user_and_pass(Default::default()).await,
        Err(EngineError::NoPlugin(_))
    ));
    engine.check_ip("192.0.2.1", "SSH").await.unwrap();
    engine.shutdown(Duration::from_secs(1)).await;
}
