//! `plexus-kms` with `awskms://` against `moto_server` (AWS KMS emulated
//! on loopback), through the Plexus engine: key id, alias and ARN forms,
//! the encryption context from `context_*`, a master key, the endpoint from
//! the URL or from `AWS_ENDPOINT_URL`, and an unknown alias; then, with
//! moto's IAM authentication on, a URL's `profile` from shared files and
//! the role that profile assumes (STS on moto) signing the KMS calls.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{engine, kms_plugin, test_credentials, wrapper, Moto};
use plexus_proto::sftpgo::{DecryptRequest, EncryptRequest};

async fn round_trip(
    engine: &plexus_engine::Engine,
    url: &str,
    master_key: &str,
) -> Result<String, String> {
    let (sealed, status) = engine
        .kms_encrypt(EncryptRequest {
            payload: "aws secret ✓".into(),
            additional_data: "alice".into(),
            url: url.into(),
            master_key: master_key.into(),
        })
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(status, "AWS");
    assert!(STANDARD.decode(&sealed.payload).is_ok());
    assert_eq!(sealed.mode, i32::from(!master_key.is_empty()));
    engine
        .kms_decrypt(
            "AWS",
            DecryptRequest {
                payload: sealed.payload,
                key: sealed.key,
                additional_data: "alice".into(),
                mode: sealed.mode,
                url: url.into(),
                master_key: master_key.into(),
            },
        )
        .await
        .map(|r| r.payload)
        .map_err(|e| e.to_string())
}

/// A round trip through `url` without a master key that fails with an
/// error containing each of `expected`: the error.
async fn refused(engine: &plexus_engine::Engine, url: &str, expected: &[&str]) -> String {
    let err = round_trip(engine, url, "").await.unwrap_err();
    assert!(expected.iter().all(|part| err.contains(part)), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awskms_against_moto() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = test_credentials();
    let cmd = wrapper(
        dir.path(),
        "plexus-kms-aws",
        &[
            ("AWS_ACCESS_KEY_ID", credentials.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &moto.endpoint),
        ],
    );
    let engine = engine(dir.path(), vec![kms_plugin(&cmd, &[], "awskms", "AWS")])
        .await
        .unwrap();
    let endpoint = &moto.endpoint;
    for url in [
        "awskms://alias/sftpgo".to_owned(),
        format!("awskms://{}", moto.key_id),
        format!("awskms:///{}", moto.key_arn),
        format!("awskms://alias/sftpgo?region=us-east-1&endpoint={endpoint}"),
    ] {
        assert_eq!(
            round_trip(&engine, &url, "").await.as_deref(),
            Ok("aws secret ✓"),
            "{url}"
        );
        assert_eq!(
            round_trip(&engine, &url, "mk").await.as_deref(),
            Ok("aws secret ✓"),
            "{url} with a master key"
        );
    }

    // The encryption context is bound: decrypting with another one fails.
    let with_context = "awskms://alias/sftpgo?context_user=alice&context_app=sftpgo";
    let (sealed, _) = engine
        .kms_encrypt(EncryptRequest {
            payload: "ctx".into(),
            url: with_context.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let decrypt = |url: &str| DecryptRequest {
        payload: sealed.payload.clone(),
        url: url.into(),
        ..Default::default()
    };
    assert_eq!(
        engine
            .kms_decrypt("AWS", decrypt(with_context))
            .await
            .unwrap()
            .payload,
        "ctx"
    );
    let err = engine
        .kms_decrypt(
            "AWS",
            decrypt("awskms://alias/sftpgo?context_user=bob&context_app=sftpgo"),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("awskms") && err.contains("Decrypt"), "{err}");

    // An alias that does not exist: named, with the provider's reason.
    let err = refused(
        &engine,
        "awskms://alias/no-such-alias",
        &["awskms", "alias/no-such-alias", "NotFoundException"],
    )
    .await;
    assert!(!err.contains(credentials.secret_access_key()), "{err}");
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awskms_with_a_profile_and_an_assumed_role() {
    let moto = Moto::start().await;
    // The user may only assume the role; the role may use KMS.
    let (key, secret) = moto
        .aws
        .user(
            "assumer",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        )
        .await;
    moto.aws
        .role(
            "kms-user",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aws-config");
    let credentials = dir.path().join("aws-credentials");
    std::fs::write(
        &config,
        "[profile sftpgo]\nrole_arn = arn:aws:iam::123456789012:role/kms-user\n\
         source_profile = base\nregion = us-east-1\n[profile base]\nregion = us-east-1\n",
    )
    .unwrap();
    std::fs::write(
        &credentials,
        format!("[base]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    let vars = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
    ];
    let cmd = wrapper(dir.path(), "plexus-kms-profile", &vars);
    moto.aws.auth_after("0").await;

    // --url is checked at start: the role is assumed then.
    let engine = engine(
        dir.path(),
        vec![kms_plugin(
            &cmd,
            &["--url", "awskms://alias/sftpgo?profile=sftpgo"],
            "awskms",
            "AWS",
        )],
    )
    .await
    .expect("the plugin starts with the profile's role");
    assert_eq!(
        round_trip(&engine, "awskms://alias/sftpgo?profile=sftpgo", "mk")
            .await
            .as_deref(),
        Ok("aws secret ✓")
    );
    // The same role through the URL's role parameter.
    let by_role = "awskms://alias/sftpgo?profile=base&role=arn:aws:iam::123456789012:role/kms-user";
    assert_eq!(
        round_trip(&engine, by_role, "").await.as_deref(),
        Ok("aws secret ✓")
    );
    // The user's own keys may not use KMS: the success was the role's.
    refused(
        &engine,
        "awskms://alias/sftpgo?profile=base",
        &["AccessDenied"],
    )
    .await;
    let err = refused(
        &engine,
        "awskms://alias/sftpgo?profile=nope",
        &[
            "awskms: profile",
            "nope",
            "(the URL's profile parameter) is not in",
        ],
    )
    .await;
    assert!(!err.contains(&secret), "{err}");
    engine.shutdown(Duration::from_secs(5)).await;

    // A profile that does not exist stops the start when given as --url.
    let failed = engine_error(dir.path(), &cmd, "awskms://alias/sftpgo?profile=nope").await;
    assert!(
        failed.contains("--url (SFTPGO_PLUGIN_KMS_URL): awskms: profile")
            && failed.contains("is not in"),
        "{failed}"
    );
}

async fn engine_error(dir: &std::path::Path, cmd: &std::path::Path, url: &str) -> String {
    match engine(dir, vec![kms_plugin(cmd, &["--url", url], "awskms", "AWS")]).await {
        Ok(engine) => {
            engine.shutdown(Duration::from_secs(5)).await;
            panic!("{url}: started");
        }
        Err(err) => err.to_string(),
    }
}
