//! `engine.max_reply_bytes` bounds every plugin's reply: the example auth
//! and KMS plugins, as real processes, answer more than the bound and the
//! call fails with an error naming the setting, while the plugin keeps
//! serving smaller answers. The default bound (64 MiB) lets through a reply
//! above tonic's own 4 MiB default, which the auth and KMS clients used to
//! keep.

use plexus_engine::config::{AuthOptions, KmsOptions};
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_interop::workspace_bin;
use plexus_proto::sftpgo::{CheckUserAndPassRequest, EncryptRequest};
use std::path::Path;

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

/// An auth plugin whose user `big` has a home directory of `home_len`
/// bytes (its reply is a little larger), and a KMS plugin.
fn plugins(dir: &Path, home_len: usize) -> Vec<PluginConfig> {
    let hash = plexus_examples::users::hash_password("pw").unwrap();
    let users = serde_json::json!({"users": [
        {"username": "big", "password_hash": hash, "home_dir": format!("/{}", "h".repeat(home_len))},
        {"username": "small", "password_hash": hash},
    ]});
    std::fs::write(dir.join("users.json"), users.to_string()).unwrap();
    std::fs::write(dir.join("kms.key"), [7u8; 32]).unwrap();
    let mut auth = plugin(
        "auth",
        "auth-users",
        &["--users".into(), s(&dir.join("users.json"))],
    );
    auth.auth_options = AuthOptions { scope: 1 };
    let mut kms = plugin(
        "kms",
        "kms-aesgcm",
        &["--key-file".into(), s(&dir.join("kms.key"))],
    );
    kms.kms_options = KmsOptions {
        scheme: "hashivault".into(),
        encrypted_status: "VaultTransit".into(),
    };
    vec![auth, kms]
}

fn login(username: &str) -> CheckUserAndPassRequest {
    CheckUserAndPassRequest {
        username: username.into(),
        password: "pw".into(),
        ..Default::default()
    }
}

fn encrypt(payload_len: usize) -> EncryptRequest {
    EncryptRequest {
        payload: "p".repeat(payload_len),
        additional_data: "alice".into(),
        url: "hashivault://sftpgo".into(),
        master_key: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_max_reply_bytes_fails_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let settings = EngineSettings {
        data_dir: dir.path().join("data"),
        max_reply_bytes: 1 << 20,
        ..EngineSettings::default()
    };
    let engine = Engine::start(plugins(dir.path(), 2 << 20), settings)
        .await
        .unwrap();

    let err = engine
        .check_user_and_pass(login("big"))
        .await
        .map(|user| user.len())
        .expect_err("a 2 MiB auth reply passed a 1 MiB bound")
        .to_string();
    assert!(
        err.contains("engine.max_reply_bytes (1048576 bytes)"),
        "{err}"
    );
    assert!(err.contains("auth-users"), "the plugin is not named: {err}");
    // The plugin is not at fault for the host's bound: it keeps serving.
    let user = engine.check_user_and_pass(login("small")).await.unwrap();
    assert!(!user.is_empty());

    let err = engine
        .kms_encrypt(encrypt(1 << 20))
        .await
        .map(|(sealed, _)| sealed.payload.len())
        .expect_err("a 1.3 MiB KMS reply passed a 1 MiB bound")
        .to_string();
    assert!(
        err.contains("engine.max_reply_bytes (1048576 bytes)"),
        "{err}"
    );
    assert!(engine.kms_encrypt(encrypt(1024)).await.is_ok());
    engine.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_bound_applies_to_auth_and_kms_too() {
    let dir = tempfile::tempdir().unwrap();
    let settings = EngineSettings {
        data_dir: dir.path().join("data"),
        ..EngineSettings::default()
    };
    let engine = Engine::start(plugins(dir.path(), 5 << 20), settings)
        .await
        .unwrap();
    // 5 MiB: above tonic's 4 MiB default, below Plexus's 64 MiB.
    let user = engine.check_user_and_pass(login("big")).await.unwrap();
    assert!(user.len() > 5 << 20, "{}", user.len());
    let (sealed, _) = engine.kms_encrypt(encrypt(3_200_000)).await.unwrap();
    assert!(sealed.payload.len() > 4 << 20);
    engine.shutdown(std::time::Duration::from_secs(5)).await;
}
