//! `kms-aesgcm` as a real plugin process: round trips with raw and hex key
//! files, a fresh nonce per secret, the additional data bound, tampering and
//! another key detected, secrets of another shape refused, and start-up
//! errors.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{run_to_exit, Plugin, Scratch};
use plexus_proto::sftpgo::kms_client::KmsClient;
use plexus_proto::sftpgo::{DecryptRequest, EncryptRequest, EncryptResponse};
use plexus_proto::PluginKind;
use std::path::Path;
use tonic::transport::Channel;
use tonic::Code;

const BIN: &str = env!("CARGO_BIN_EXE_kms-aesgcm");

async fn start(scratch: &Scratch, key_file: &Path) -> (Plugin, KmsClient<Channel>) {
    let mut command = scratch.plugin_command(BIN, PluginKind::Kms);
    command.arg("--key-file").arg(key_file);
    let plugin = Plugin::start(command).await;
    let client = KmsClient::new(plugin.unix_channel().await);
    (plugin, client)
}

async fn encrypt(client: &mut KmsClient<Channel>, secret: &str, aad: &str) -> EncryptResponse {
    client
        .encrypt(EncryptRequest {
            payload: secret.into(),
            additional_data: aad.into(),
            url: "hashivault://ignored".into(),
            master_key: "ignored too".into(),
        })
        .await
        .expect("encrypt")
        .into_inner()
}

fn opening(sealed: &EncryptResponse, aad: &str) -> DecryptRequest {
    DecryptRequest {
        payload: sealed.payload.clone(),
        key: sealed.key.clone(),
        additional_data: aad.into(),
        mode: sealed.mode,
        url: "hashivault://ignored".into(),
        master_key: String::new(),
    }
}

async fn decrypt(client: &mut KmsClient<Channel>, request: DecryptRequest) -> Result<String, Code> {
    client
        .decrypt(request)
        .await
        .map(|r| r.into_inner().payload)
        .map_err(|status| status.code())
}

#[tokio::test]
async fn round_trip_tamper_detection_and_another_key() {
    let scratch = Scratch::new();
    let raw_key = scratch.path("raw.key");
    std::fs::write(&raw_key, (0u8..32).collect::<Vec<_>>()).unwrap();
    let hex_key = scratch.path("hex.key");
    std::fs::write(&hex_key, format!("{}\n", "5a".repeat(32))).unwrap();
    let (plugin, mut kms) = start(&scratch, &raw_key).await;
    let (_other_plugin, mut other) = start(&scratch, &hex_key).await;
    plugin.wait_stderr_contains("kms plugin starting").await;

    let secret = "AKIA… s3cret with ünïcode ✓";
    let sealed = encrypt(&mut kms, secret, "user:alice").await;
    assert_eq!((sealed.key.as_str(), sealed.mode), ("", 0));
    let bytes = STANDARD.decode(&sealed.payload).expect("payload is base64");
    assert_eq!(
        bytes.len(),
        12 + secret.len() + 16,
        "nonce ‖ ciphertext ‖ tag"
    );
    assert!(!sealed.payload.contains("s3cret"));
    assert_eq!(
        decrypt(&mut kms, opening(&sealed, "user:alice")).await,
        Ok(secret.to_owned())
    );
    // The same secret twice: two nonces, two payloads, both open.
    let again = encrypt(&mut kms, secret, "user:alice").await;
    assert_ne!(again.payload, sealed.payload);
    assert_ne!(
        STANDARD.decode(&again.payload).unwrap()[..12],
        bytes[..12],
        "a fresh nonce"
    );
    assert_eq!(
        decrypt(&mut kms, opening(&again, "user:alice")).await,
        Ok(secret.to_owned())
    );

    // The additional data is bound to the secret.
    assert_eq!(
        decrypt(&mut kms, opening(&sealed, "user:bob")).await,
        Err(Code::InvalidArgument)
    );
    // Any flipped bit (nonce, ciphertext, tag) is detected.
    for index in [0, 12, bytes.len() - 1] {
        let mut tampered = bytes.clone();
        tampered[index] ^= 0x01;
        let mut request = opening(&sealed, "user:alice");
        request.payload = STANDARD.encode(tampered);
        assert_eq!(
            decrypt(&mut kms, request).await,
            Err(Code::InvalidArgument),
            "byte {index}"
        );
    }
    for payload in ["", "not base64!", "AAAA"] {
        let mut request = opening(&sealed, "user:alice");
        request.payload = payload.into();
        assert_eq!(
            decrypt(&mut kms, request).await,
            Err(Code::InvalidArgument),
            "{payload:?}"
        );
    }
    // Another key cannot open it, and its own secrets open only with it.
    assert_eq!(
        decrypt(&mut other, opening(&sealed, "user:alice")).await,
        Err(Code::InvalidArgument)
    );
    let theirs = encrypt(&mut other, "x", "").await;
    assert_eq!(
        decrypt(&mut other, opening(&theirs, "")).await,
        Ok("x".into())
    );
    assert_eq!(
        decrypt(&mut kms, opening(&theirs, "")).await,
        Err(Code::InvalidArgument)
    );
}

#[tokio::test]
async fn empty_secrets_and_foreign_shapes_are_refused() {
    let scratch = Scratch::new();
    let key = scratch.path("kms.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let (_plugin, mut kms) = start(&scratch, &key).await;
    let status = kms
        .encrypt(EncryptRequest::default())
        .await
        .expect_err("an empty secret");
    assert_eq!(status.code(), Code::InvalidArgument);

    let sealed = encrypt(&mut kms, "secret", "").await;
    // A master-key layer (mode 1 with a key) is not this plugin's format.
    let mut request = opening(&sealed, "");
    request.mode = 1;
    request.key = "00ff".into();
    assert_eq!(decrypt(&mut kms, request).await, Err(Code::InvalidArgument));
}

#[tokio::test]
async fn bad_key_files_stop_the_plugin_with_a_clear_error() {
    let scratch = Scratch::new();
    for (name, content) in [
        ("short.key", b"0123456789".to_vec()),
        ("odd-hex.key", "ab".repeat(31).into_bytes()),
        ("long.key", vec![1u8; 33]),
    ] {
        let path = scratch.path(name);
        std::fs::write(&path, content).unwrap();
        let mut command = scratch.plugin_command(BIN, PluginKind::Kms);
        command.arg("--key-file").arg(&path);
        let (status, stdout, stderr) = run_to_exit(command).await;
        assert_eq!(status.code(), Some(1), "{name}");
        assert!(stdout.is_empty(), "{name}: no handshake");
        assert!(
            stderr.contains(name) && stderr.contains("32 raw bytes or 64 hex digits"),
            "{name}: {stderr}"
        );
    }
    let mut command = scratch.plugin_command(BIN, PluginKind::Kms);
    command.arg("--key-file").arg(scratch.path("absent.key"));
    let (status, _, stderr) = run_to_exit(command).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("cannot read") && stderr.contains("absent.key"),
        "{stderr}"
    );

    let mut help = tokio::process::Command::new(BIN);
    help.arg("--help").env_clear();
    let (status, stdout, _) = run_to_exit(help).await;
    assert!(status.success());
    for needle in [
        "--key-file <PATH>",
        "AES-256-GCM",
        "master_key",
        "\"type\": \"kms\"",
    ] {
        assert!(
            stdout.contains(needle),
            "--help lacks {needle:?}:\n{stdout}"
        );
    }
}
