//! `plexus-kms` with `hashivault://` against a real OpenBao dev server,
//! through the Plexus engine: SFTPGo's secret format without and with a
//! master key, secrets made the Go plugin's way (bare transit calls around
//! the independent implementation's vectors) opening here, the `engine`
//! option, a wrong token or key name (clear, and no secret echoed),
//! unsupported schemes, damaged payloads, an unreachable server, the
//! per-call deadline, and HTTPS refusing an untrusted certificate.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{engine, kms_plugin, wrapper, OpenBao, ROOT_TOKEN};
use plexus_engine::{Engine, EngineError};
use plexus_proto::sftpgo::{DecryptRequest, EncryptRequest, EncryptResponse};

fn encrypt_request(payload: &str, ad: &str, url: &str, master_key: &str) -> EncryptRequest {
    EncryptRequest {
        payload: payload.into(),
        additional_data: ad.into(),
        url: url.into(),
        master_key: master_key.into(),
    }
}

fn decrypt_request(
    sealed: &EncryptResponse,
    ad: &str,
    url: &str,
    master_key: &str,
) -> DecryptRequest {
    DecryptRequest {
        payload: sealed.payload.clone(),
        key: sealed.key.clone(),
        additional_data: ad.into(),
        mode: sealed.mode,
        url: url.into(),
        master_key: master_key.into(),
    }
}

async fn vault_engine(
    dir: &std::path::Path,
    bao: &OpenBao,
    token: &str,
    args: &[&str],
) -> Result<Engine, EngineError> {
    let cmd = wrapper(
        dir,
        &format!("plexus-kms-{}", args.len()),
        &[
            ("VAULT_SERVER_URL", &bao.address),
            ("VAULT_SERVER_TOKEN", token),
        ],
    );
    engine(
        dir,
        vec![kms_plugin(&cmd, args, "hashivault", "VaultTransit")],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftpgo_secret_format_against_openbao() {
    let bao = OpenBao::start().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = vault_engine(dir.path(), &bao, ROOT_TOKEN, &[])
        .await
        .unwrap();
    let url = "hashivault://sftpgo";

    // No master key: payload = base64(vault ciphertext), key "", mode 0.
    let (sealed, status) = engine
        .kms_encrypt(encrypt_request("my secret", "alice", url, ""))
        .await
        .unwrap();
    assert_eq!(status, "VaultTransit");
    assert_eq!((sealed.key.as_str(), sealed.mode), ("", 0));
    let vault_ciphertext = String::from_utf8(STANDARD.decode(&sealed.payload).unwrap()).unwrap();
    assert!(
        vault_ciphertext.starts_with("vault:v1:"),
        "{vault_ciphertext}"
    );
    assert_eq!(
        bao.transit_decrypt("sftpgo", &vault_ciphertext).await,
        b"my secret"
    );
    let opened = engine
        .kms_decrypt("VaultTransit", decrypt_request(&sealed, "alice", url, ""))
        .await
        .unwrap();
    assert_eq!(opened.payload, "my secret");

    // A master key: the local Secretbox layer inside, mode 1.
    let master = "the master key";
    let (sealed, _) = engine
        .kms_encrypt(encrypt_request("pässwörd ✓", "bob", url, master))
        .await
        .unwrap();
    assert_eq!(sealed.mode, 1);
    assert_eq!(sealed.key.len(), 64);
    let inner = bao
        .transit_decrypt(
            "sftpgo",
            std::str::from_utf8(&STANDARD.decode(&sealed.payload).unwrap()).unwrap(),
        )
        .await;
    let inner = String::from_utf8(inner).unwrap();
    assert_eq!(
        plexus_kms::secretbox::open(&inner, &sealed.key, "bob", 1, master).as_deref(),
        Ok("pässwörd ✓"),
        "the inner layer is SFTPGo's Secretbox"
    );
    let opened = engine
        .kms_decrypt("VaultTransit", decrypt_request(&sealed, "bob", url, master))
        .await
        .unwrap();
    assert_eq!(opened.payload, "pässwörd ✓");
    for (ad, key) in [("bob", "another master key"), ("mallory", master)] {
        let err = engine
            .kms_decrypt("VaultTransit", decrypt_request(&sealed, ad, url, key))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open the secret"), "{err}");
        assert!(
            !err.contains("another master key") && !err.contains(master),
            "no secret echoed: {err}"
        );
    }
    engine.shutdown(Duration::from_secs(5)).await;
}

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    plaintext: String,
    additional_data: String,
    master_key: String,
    mode: i32,
    key: String,
    payload: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_sealed_elsewhere_open_here() {
    let bao = OpenBao::start().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = vault_engine(dir.path(), &bao, ROOT_TOKEN, &[])
        .await
        .unwrap();
    let vectors: Vec<Vector> =
        serde_json::from_str(include_str!("../testdata/secretbox-vectors.json")).unwrap();
    for v in vectors {
        // The Go plugin's outer layer: base64(transit(inner payload)).
        let outer = STANDARD.encode(bao.transit_encrypt("sftpgo", v.payload.as_bytes()).await);
        let request = DecryptRequest {
            payload: outer,
            key: v.key.clone(),
            additional_data: v.additional_data.clone(),
            mode: v.mode,
            url: "hashivault://sftpgo".into(),
            master_key: v.master_key.clone(),
        };
        let opened = engine.kms_decrypt("VaultTransit", request).await;
        assert_eq!(
            opened.map(|r| r.payload).ok().as_deref(),
            Some(v.plaintext.as_str()),
            "{}",
            v.name
        );
    }
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_option_wrong_key_and_damaged_payloads() {
    let bao = OpenBao::start().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = vault_engine(dir.path(), &bao, ROOT_TOKEN, &[])
        .await
        .unwrap();

    let other_mount = "hashivault://sftpgo?engine=kms-transit";
    let (sealed, _) = engine
        .kms_encrypt(encrypt_request("s", "", other_mount, ""))
        .await
        .unwrap();
    let opened = engine
        .kms_decrypt(
            "VaultTransit",
            decrypt_request(&sealed, "", other_mount, ""),
        )
        .await
        .unwrap();
    assert_eq!(opened.payload, "s");
    // The same key name in another mount is another key.
    assert!(engine
        .kms_decrypt(
            "VaultTransit",
            decrypt_request(&sealed, "", "hashivault://sftpgo", "")
        )
        .await
        .is_err());

    // A key that does not exist: named in the error.
    let err = engine
        .kms_decrypt(
            "VaultTransit",
            decrypt_request(&sealed, "", "hashivault://no-such-key", ""),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hashivault") && err.contains("no-such-key"),
        "{err}"
    );

    // Damaged payloads are errors, and the plugin keeps serving.
    let url = "hashivault://sftpgo";
    let (good, _) = engine
        .kms_encrypt(encrypt_request("fine", "", url, "mk"))
        .await
        .unwrap();
    let short_inner = STANDARD.encode(
        bao.transit_encrypt("sftpgo", STANDARD.encode([1u8; 10]).as_bytes())
            .await,
    );
    let cases = [
        (
            DecryptRequest {
                payload: "!!! not base64".into(),
                url: url.into(),
                ..Default::default()
            },
            "not base64",
        ),
        (
            DecryptRequest {
                payload: STANDARD.encode("vault:v1:garbage"),
                url: url.into(),
                ..Default::default()
            },
            "hashivault",
        ),
        (
            DecryptRequest {
                payload: short_inner,
                key: good.key.clone(),
                mode: 1,
                url: url.into(),
                master_key: "mk".into(),
                ..Default::default()
            },
            "shorter than a nonce and a tag",
        ),
        (
            DecryptRequest {
                payload: good.payload.clone(),
                key: "zz-not-hex".into(),
                mode: 1,
                url: url.into(),
                master_key: "mk".into(),
                ..Default::default()
            },
            "not hex",
        ),
        (
            DecryptRequest {
                payload: good.payload.clone(),
                key: good.key.clone(),
                mode: 1,
                url: url.into(),
                ..Default::default()
            },
            "has none",
        ),
    ];
    for (request, expected) in cases {
        let err = engine
            .kms_decrypt("VaultTransit", request)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "expected {expected:?}: {err}");
    }
    let err = engine
        .kms_encrypt(encrypt_request("s", "", "hashivault://", ""))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("names no key"), "{err}");
    let opened = engine
        .kms_decrypt("VaultTransit", decrypt_request(&good, "", url, "mk"))
        .await
        .unwrap();
    assert_eq!(opened.payload, "fine", "still serving");
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_a_clear_error_without_the_token() {
    let bao = OpenBao::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = "hvs.wrong-token-that-must-not-leak";
    let engine = vault_engine(dir.path(), &bao, token, &[]).await.unwrap();
    let err = engine
        .kms_encrypt(encrypt_request("s", "", "hashivault://sftpgo", ""))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hashivault") && err.contains("permission denied"),
        "{err}"
    );
    assert!(
        err.contains("VAULT_SERVER_TOKEN"),
        "names the variable: {err}"
    );
    assert!(
        !err.contains(token) && !err.contains("wrong-token"),
        "token echoed: {err}"
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_providers_and_start_checks() {
    let bao = OpenBao::start().await;
    let dir = tempfile::tempdir().unwrap();
    // --url with an unsupported scheme: refused at start.
    for url in [
        "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "azurekeyvault://v.vault.azure.net/keys/k",
        "ocikeyvault://ocid1.key",
    ] {
        let err = match vault_engine(dir.path(), &bao, ROOT_TOKEN, &["--url", url]).await {
            Ok(engine) => {
                engine.shutdown(Duration::from_secs(5)).await;
                panic!("{url}: started");
            }
            Err(err) => err.to_string(),
        };
        assert!(err.contains("not supported by this build"), "{url}: {err}");
    }
    // --url for hashivault without VAULT_* in the environment: refused at start.
    let bare = kms_plugin(
        std::path::Path::new(common::BIN),
        &["--url", "hashivault://sftpgo"],
        "hashivault",
        "VaultTransit",
    );
    let err = common::engine(dir.path(), vec![bare])
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("VAULT_SERVER_URL nor VAULT_ADDR"), "{err}");
    // Without --url, the same problems fail the calls, clearly.
    let engine = vault_engine(
        dir.path(),
        &bao,
        ROOT_TOKEN,
        &["--url", "hashivault://sftpgo"],
    )
    .await
    .unwrap();
    let err = engine
        .kms_encrypt(encrypt_request("s", "", "hashivault-gcpkms://x", ""))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown secrets URL scheme"), "{err}");
    let err = engine
        .kms_decrypt(
            "VaultTransit",
            DecryptRequest {
                payload: "eA==".into(),
                url: "gcpkms://projects/p".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not supported by this build"), "{err}");
    let err = engine
        .kms_decrypt(
            "VaultTransit",
            DecryptRequest {
                payload: "eA==".into(),
                url: "awskms://alias/x?region=us-east-1".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("awskms") && err.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_silent_servers() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let closed = common::free_port();
    let cmd = wrapper(
        dir.path(),
        "closed",
        &[
            ("VAULT_ADDR", &format!("http://127.0.0.1:{closed}")),
            ("VAULT_TOKEN", "t"),
        ],
    );
    // A server that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let silent_cmd = wrapper(
        dir.path(),
        "silent",
        &[
            ("VAULT_ADDR", &format!("http://127.0.0.1:{silent_port}")),
            ("VAULT_TOKEN", "t"),
        ],
    );
    let plugins = vec![
        kms_plugin(&cmd, &[], "hashivault", "VaultTransit"),
        kms_plugin(&silent_cmd, &["--timeout", "1"], "awskms", "AWS"),
    ];
    let engine = engine(dir.path(), plugins).await.unwrap();
    let err = engine
        .kms_encrypt(encrypt_request("s", "", "hashivault://sftpgo", ""))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hashivault: cannot reach http://127.0.0.1:"),
        "{err}"
    );
    let started = std::time::Instant::now();
    let err = engine
        .kms_decrypt(
            "AWS",
            DecryptRequest {
                payload: STANDARD.encode("vault:v1:x"),
                url: "hashivault://sftpgo".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hashivault") && (err.contains("within 1 s") || err.contains("timed out")),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the deadline is kept"
    );
    drop(silent);
    engine.shutdown(Duration::from_secs(5)).await;
}

/// A TLS server on loopback with a self-signed certificate for `localhost`:
/// completes no handshake with a verifying client.
async fn untrusted_tls_server() -> (u16, tokio::task::JoinHandle<()>) {
    use std::sync::Arc;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = acceptor.accept(stream).await;
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_verifies_the_server_certificate() {
    let (port, server) = untrusted_tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cmd = wrapper(
        dir.path(),
        "https",
        &[
            ("VAULT_ADDR", &format!("https://localhost:{port}")),
            ("VAULT_TOKEN", "t"),
        ],
    );
    let engine = engine(
        dir.path(),
        vec![kms_plugin(&cmd, &[], "hashivault", "VaultTransit")],
    )
    .await
    .unwrap();
    for _ in 0..2 {
        let err = engine
            .kms_encrypt(encrypt_request("s", "", "hashivault://sftpgo", ""))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hashivault: cannot reach https://localhost:")
                && err.contains("certificate"),
            "{err}"
        );
    }
    engine.shutdown(Duration::from_secs(5)).await;
    server.abort();
}
