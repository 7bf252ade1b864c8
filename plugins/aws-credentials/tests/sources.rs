//! Each credential source against a real or loopback endpoint:
//! `moto_server` for STS (`AssumeRole` through `source_profile`, the URL's
//! `role`, web identity) and the instance metadata service, with moto's
//! IAM authentication turned on so that a call signed with the wrong
//! credentials is refused; a shell script for `credential_process`; a
//! loopback HTTP server for the container endpoint and the refresh
//! behaviour. No test leaves the host.

mod common;

use std::time::{Duration, Instant};

use common::{files, in_seconds, profile, provider, Caller, Canned, Moto, ACCOUNT, REGION};
use plexus_aws_credentials::{Error, Options};

const USER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#;
const ROLE_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#;

#[tokio::test]
async fn profile_keys_from_the_credentials_file() {
    let moto = Moto::start();
    let (key, secret) = moto.user("plexus", USER_POLICY).await;
    let f = files(
        "[profile dev]\nregion = eu-west-1\n",
        &format!("[dev]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"),
    );
    moto.auth_after("0").await;
    let credentials = provider(&f.env(&[]), profile("dev"))
        .unwrap()
        .credentials()
        .await
        .unwrap();
    assert_eq!(credentials.access_key_id(), key);
    assert_eq!(credentials.expires(), None);
    assert_eq!(
        moto.caller(&credentials).await.unwrap(),
        format!("arn:aws:iam::{ACCOUNT}:user/plexus")
    );
}

#[tokio::test]
async fn assume_role_through_source_profile_on_moto_sts() {
    let moto = Moto::start();
    let (key, secret) = moto.user("plexus", USER_POLICY).await;
    let role = moto.role("sqs-writer", ROLE_POLICY).await;
    let f = files(
        &format!(
            "[profile writer]\nrole_arn = {role}\nsource_profile = base\n\
             role_session_name = plexus-test\nregion = {REGION}\n"
        ),
        &format!("[base]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"),
    );
    // From here on moto checks each signature: the AssumeRole call must
    // be signed with the base profile's keys.
    moto.auth_after("0").await;
    let endpoint = moto.endpoint.clone();
    let env = f.env(&[("AWS_ENDPOINT_URL_STS", &endpoint)]);
    let provider = provider(&env, profile("writer")).unwrap();
    assert_eq!(
        provider.describe(),
        format!(
            "role {role} assumed with profile \"base\" in {} (profile \"writer\")",
            f.credentials
        )
    );
    let credentials = provider.credentials().await.unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"));
    assert_ne!(credentials.access_key_id(), key);
    assert!(credentials.session_token().is_some());
    assert!(credentials.expires().is_some());
    // What signs with these credentials is the assumed role, not the user.
    assert_eq!(
        moto.caller(&credentials).await.unwrap(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/sqs-writer/plexus-test")
    );
    // Cached: the same credentials, no new STS call.
    assert_eq!(provider.credentials().await.unwrap(), credentials);

    // The same role through the URL's role parameter, over the base keys.
    let url_role = Options {
        profile: Some("base".into()),
        region: Some(REGION.into()),
        role_arn: Some(role.clone()),
    };
    let credentials = common::provider(&env, url_role)
        .unwrap()
        .credentials()
        .await
        .unwrap();
    let caller = moto.caller(&credentials).await.unwrap();
    assert!(
        caller.starts_with(&format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/sqs-writer/aws-go-sdk-"
        )),
        "{caller}"
    );
}

#[tokio::test]
async fn assume_role_refused_names_the_role_without_secrets() {
    let moto = Moto::start();
    let f = files(
        &format!(
            "[profile writer]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/r\nsource_profile = base\n\
             region = {REGION}\n"
        ),
        "[base]\naws_access_key_id = AKIANOTAUSER\naws_secret_access_key = not-a-real-secret\n",
    );
    moto.auth_after("0").await;
    let endpoint = moto.endpoint.clone();
    let err = provider(
        &f.env(&[("AWS_ENDPOINT_URL_STS", &endpoint)]),
        profile("writer"),
    )
    .unwrap()
    .credentials()
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Fetch(_)));
    assert!(
        message.starts_with(&format!(
            "profile \"writer\": assume role arn:aws:iam::{ACCOUNT}:role/r: STS AssumeRole at {endpoint} refused (HTTP 403): InvalidClientTokenId"
        )),
        "{message}"
    );
    assert!(!message.contains("not-a-real-secret"), "{message}");
}

#[tokio::test]
async fn web_identity_from_the_environment_and_a_profile() {
    let moto = Moto::start();
    let f = files(
        &format!(
            "[profile web]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/web\n\
             web_identity_token_file = TOKEN\nrole_session_name = from-profile\nregion = {REGION}\n"
        ),
        "",
    );
    let token_file = f.dir.path().join("token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl\n").unwrap();
    let config = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("TOKEN", token_file.to_str().unwrap());
    std::fs::write(&f.config, config).unwrap();
    let endpoint = moto.endpoint.clone();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/env-web");
    let env = f.env(&[
        ("AWS_ENDPOINT_URL", &endpoint),
        ("AWS_REGION", REGION),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AWS_ROLE_ARN", &role),
        ("AWS_ROLE_SESSION_NAME", "from-env"),
    ]);
    let from_env = provider(&env, Options::default())
        .unwrap()
        .credentials()
        .await
        .unwrap();
    let from_profile = provider(&env, profile("web"))
        .unwrap()
        .credentials()
        .await
        .unwrap();
    moto.auth_after("0").await;
    assert_eq!(
        moto.caller(&from_env).await.unwrap(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/env-web/from-env")
    );
    assert_eq!(
        moto.caller(&from_profile).await.unwrap(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/web/from-profile")
    );

    // A token file that is gone: named, and the call fails.
    std::fs::remove_file(&token_file).unwrap();
    let err = provider(&env, Options::default())
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "assume role {role} with the web identity token in {}: cannot read",
            token_file.display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn instance_metadata_from_moto() {
    let moto = Moto::start();
    let endpoint = moto.endpoint.clone();
    let f = files("", "");
    let credentials = provider(
        &f.env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)]),
        Options::default(),
    )
    .unwrap()
    .credentials()
    .await
    .unwrap();
    // moto's fixed instance role credentials.
    assert_eq!(credentials.access_key_id(), "test-key");
    assert_eq!(credentials.secret_access_key(), "test-secret-key");
    assert_eq!(credentials.session_token(), Some("test-session-token"));
    assert_eq!(credentials.source(), "EC2 instance role \"default-role\"");
    let expires = credentials.expires().expect("expiring");
    assert!(expires <= std::time::SystemTime::now() + Duration::from_secs(3600));
}

#[tokio::test]
async fn no_instance_metadata_fails_fast_with_what_was_tried() {
    // A port nothing listens on, and a server that never answers.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let silent = Canned::start(vec![(200, String::new())], Duration::from_secs(30)).await;
    let f = files("", "");
    for endpoint in [closed.as_str(), silent.url.as_str()] {
        let env = f.env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)]);
        let started = Instant::now();
        let err = provider(&env, Options::default())
            .unwrap()
            .credentials()
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "no AWS credentials found; tried: the environment (AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY not set); profile \"default\" in {} and {} (no such \
                 profile); container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and \
                 AWS_CONTAINER_CREDENTIALS_FULL_URI not set); EC2 instance metadata at {endpoint}: ",
                f.config, f.credentials
            )),
            "{message}"
        );
        assert!(
            message.ends_with("(no instance metadata service here?)"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn credential_process_runs_a_script() {
    let f = files("", "");
    let script = f.dir.path().join("creds.sh");
    let expiration = in_seconds(3600);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \
             \"SecretAccessKey\": \"process-s3cret\", \"SessionToken\": \"process-token\", \
             \"Expiration\": \"{expiration}\"}}'\n"
        ),
    )
    .unwrap();
    let failing = f.dir.path().join("fail.sh");
    std::fs::write(
        &failing,
        "#!/bin/sh\necho 'token expired: run sso login' >&2\nexit 2\n",
    )
    .unwrap();
    let bad_output = f.dir.path().join("bad.sh");
    std::fs::write(
        &bad_output,
        "#!/bin/sh\necho '{\"Version\": 1, \"SecretAccessKey\": \"leaked-s3cret\"}'\n",
    )
    .unwrap();
    std::fs::write(
        &f.config,
        format!(
            "[profile proc]\ncredential_process = sh {}\n[profile fail]\ncredential_process = sh {}\n\
             [profile bad]\ncredential_process = sh {}\n",
            script.display(),
            failing.display(),
            bad_output.display()
        ),
    )
    .unwrap();
    let env = f.env(&[]);
    let credentials = provider(&env, profile("proc"))
        .unwrap()
        .credentials()
        .await
        .unwrap();
    assert_eq!(credentials.access_key_id(), "AKIDPROCESS");
    assert_eq!(credentials.secret_access_key(), "process-s3cret");
    assert_eq!(credentials.session_token(), Some("process-token"));
    assert_eq!(
        credentials.expires(),
        plexus_aws_credentials::expiry::parse(&expiration)
    );

    let err = provider(&env, profile("fail"))
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Fetch(
            "credential_process of profile \"fail\" failed (exit status 2): token expired: run \
             sso login"
                .into()
        )
    );
    let err = provider(&env, profile("bad"))
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Fetch("credential_process of profile \"bad\": its output has no AccessKeyId".into())
    );
}

#[tokio::test]
async fn container_credentials_with_a_token_file() {
    let answer = format!(
        r#"{{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"container-s3cret","Token":"container-token","Expiration":"{}"}}"#,
        in_seconds(3600)
    );
    let server = Canned::start(vec![(200, answer)], Duration::ZERO).await;
    let f = files("", "");
    let token_file = f.dir.path().join("token");
    std::fs::write(&token_file, "pod-identity-token").unwrap();
    let uri = format!("{}/v1/credentials", server.url);
    let env = f.env(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "ignored-when-a-file-is-set",
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap(),
        ),
    ]);
    let credentials = provider(&env, Options::default())
        .unwrap()
        .credentials()
        .await
        .unwrap();
    assert_eq!(credentials.access_key_id(), "ASIACONTAINER");
    assert_eq!(credentials.session_token(), Some("container-token"));
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].starts_with("GET /v1/credentials HTTP/1.1"));
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains("authorization: pod-identity-token\r\n"),
        "{}",
        requests[0]
    );

    // The agent's refusal, with its code and message.
    let refusing = Canned::start(
        vec![(
            403,
            r#"{"code":"AccessDenied","message":"token not valid"}"#.to_owned(),
        )],
        Duration::ZERO,
    )
    .await;
    let uri = format!("{}/v1/credentials", refusing.url);
    let err = provider(
        &f.env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)]),
        Options::default(),
    )
    .unwrap()
    .credentials()
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Fetch(format!(
            "container credentials at {uri} (AWS_CONTAINER_CREDENTIALS_FULL_URI) refused (HTTP \
             403): AccessDenied: token not valid"
        ))
    );

    // A host the SDK would not send a token to fails at load.
    let err = provider(
        &f.env(&[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://192.0.2.10/creds",
        )]),
        Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    assert!(err.to_string().contains("is not allowed"), "{err}");
}

#[tokio::test]
async fn refreshed_five_minutes_before_expiry_one_refresh_at_a_time() {
    let soon = format!(
        r#"{{"AccessKeyId":"ASIASOON","SecretAccessKey":"s","Token":"t","Expiration":"{}"}}"#,
        in_seconds(240)
    );
    let server = Canned::start(vec![(200, soon)], Duration::from_millis(300)).await;
    let f = files("", "");
    let uri = format!("{}/creds", server.url);
    let provider = provider(
        &f.env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)]),
        Options::default(),
    )
    .unwrap();
    // Ten callers at once: one request.
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.credentials().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().access_key_id(), "ASIASOON");
    }
    assert_eq!(server.count(), 1);
    // Four minutes left is inside the five-minute window: refreshed.
    provider.credentials().await.unwrap();
    assert_eq!(server.count(), 2);

    let later = format!(
        r#"{{"AccessKeyId":"ASIALATER","SecretAccessKey":"s","Token":"t","Expiration":"{}"}}"#,
        in_seconds(3600)
    );
    let server = Canned::start(vec![(200, later)], Duration::ZERO).await;
    let uri = format!("{}/creds", server.url);
    let provider = common::provider(
        &f.env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)]),
        Options::default(),
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            provider.credentials().await.unwrap().access_key_id(),
            "ASIALATER"
        );
    }
    assert_eq!(server.count(), 1, "an hour left: cached");
}

#[tokio::test]
async fn a_failed_refresh_keeps_credentials_until_they_expire() {
    let soon = format!(
        r#"{{"AccessKeyId":"ASIASTILL","SecretAccessKey":"s","Token":"t","Expiration":"{}"}}"#,
        in_seconds(120)
    );
    let server = Canned::start(
        vec![(200, soon), (500, r#"{"code":"Busy"}"#.to_owned())],
        Duration::ZERO,
    )
    .await;
    let f = files("", "");
    let uri = format!("{}/creds", server.url);
    let provider = provider(
        &f.env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)]),
        Options::default(),
    )
    .unwrap();
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id(),
        "ASIASTILL"
    );
    // The refresh is refused; the two minutes left are still good.
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id(),
        "ASIASTILL"
    );
    assert_eq!(server.count(), 2);
}
