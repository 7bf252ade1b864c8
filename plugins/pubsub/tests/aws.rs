//! AWS SNS and SQS against `moto_server` (PyPI `moto[server]`, installed
//! by `plugins/kms/tests/setup.sh`, which `.ci/run` runs), started on a
//! free loopback port by `plexus-test-moto`: events published to an SNS
//! topic reach an SQS queue subscribed to it, with the attributes Go CDK
//! sets; events sent to an SQS queue are read back with their attributes;
//! AWS errors fail the event. moto checks no signature by default, so the SigV4 signing
//! itself is covered by the golden vectors of `aws-sigv4`'s use in
//! plexus-kms; the profile and role tests turn moto's IAM authentication
//! on, so that there a request signed with other credentials than the
//! expected ones is refused.

mod common;

use common::{connect, fs_event, log_event, provider_event, unique};
use plexus_pubsub::Encoder;
use plexus_test_moto::{Moto, ACCOUNT, REGION};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What these tests add to [`Moto`]: SQS calls and the environment's keys.
trait Sqs {
    /// An SQS JSON-protocol call (unsigned).
    async fn sqs(&self, action: &str, body: Value) -> Value;
    async fn create_queue(&self, name: &str) -> String;
    /// Every message now in the queue, with all attributes.
    async fn drain(&self, queue_url: &str, expected: usize) -> Vec<Value>;
    fn env(&self) -> [(&'static str, &'static str); 2];
}

impl Sqs for Moto {
    async fn sqs(&self, action: &str, body: Value) -> Value {
        self.json("sqs", &format!("AmazonSQS.{action}"), body).await
    }

    async fn create_queue(&self, name: &str) -> String {
        let created = self.sqs("CreateQueue", json!({"QueueName": name})).await;
        created["QueueUrl"].as_str().expect("QueueUrl").to_owned()
    }

    async fn drain(&self, queue_url: &str, expected: usize) -> Vec<Value> {
        let mut messages = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while messages.len() < expected && Instant::now() < deadline {
            let got = self
                .sqs(
                    "ReceiveMessage",
                    json!({
                        "QueueUrl": queue_url,
                        "MaxNumberOfMessages": 10,
                        "MessageAttributeNames": ["All"],
                        "WaitTimeSeconds": 1
                    }),
                )
                .await;
            if let Some(list) = got["Messages"].as_array() {
                messages.extend(list.iter().cloned());
            }
        }
        messages
    }

    fn env(&self) -> [(&'static str, &'static str); 2] {
        [
            ("AWS_ACCESS_KEY_ID", "testing-key-id"),
            ("AWS_SECRET_ACCESS_KEY", "testing-s3cret"),
        ]
    }
}

const SQS_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#;
const ASSUME_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#;

/// Shared config and credentials files in a temp dir.
fn shared_files(config: &str, credentials: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config");
    let credentials_path = dir.path().join("credentials");
    std::fs::write(&config_path, config).expect("config");
    std::fs::write(&credentials_path, credentials).expect("credentials");
    let (config, credentials) = (
        config_path.to_string_lossy().into_owned(),
        credentials_path.to_string_lossy().into_owned(),
    );
    (dir, config, credentials)
}

fn attributes(message: &Value) -> Vec<(String, String, String)> {
    let mut list: Vec<(String, String, String)> = message["MessageAttributes"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(name, v)| {
                    (
                        name.clone(),
                        v["DataType"].as_str().unwrap_or("").to_owned(),
                        v["StringValue"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    list.sort();
    list
}

#[tokio::test]
async fn sqs_messages_carry_the_body_and_go_cdk_attributes() {
    let moto = Moto::start();
    let queue = unique("plexus-q");
    moto.create_queue(&queue).await;
    let url = format!(
        "awssqs://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}?region={REGION}&endpoint={}",
        moto.endpoint
    );
    let publisher = connect(&url, &moto.env()).await.expect("SQS publisher");
    let encoder = Encoder::new("node-1");
    let sent = [
        encoder.fs(&fs_event(1)),
        encoder.provider(&provider_event("add", "user")),
        encoder.log(&log_event()),
    ];
    for message in &sent {
        publisher.publish(message).await.expect("SendMessage");
    }
    let mut got = moto.drain(&queue_url(&moto, &queue).await, 3).await;
    assert_eq!(got.len(), 3);
    got.sort_by_key(|m| m["Body"].as_str().unwrap_or("").to_owned());
    let mut expected: Vec<_> = sent.iter().collect();
    expected.sort_by_key(|m| String::from_utf8(m.body.clone()).unwrap());
    for (message, original) in got.iter().zip(expected) {
        assert_eq!(
            message["Body"].as_str().unwrap().as_bytes(),
            original.body.as_slice()
        );
        let want: Vec<(String, String, String)> = original
            .metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), "String".to_owned(), v.clone()))
            .collect();
        assert_eq!(attributes(message), want);
    }

    // A queue that does not exist fails the event with AWS's reason.
    let missing = format!(
        "awssqs://sqs.{REGION}.amazonaws.com/{ACCOUNT}/no-such-queue?region={REGION}&endpoint={}",
        moto.endpoint
    );
    let publisher = connect(&missing, &moto.env()).await.unwrap();
    let err = publisher.publish(&sent[0]).await.unwrap_err();
    assert!(err.contains("SQS refused the message"), "{err}");
    assert!(!err.contains("testing-s3cret"), "{err}");
}

async fn queue_url(moto: &Moto, name: &str) -> String {
    moto.sqs("GetQueueUrl", json!({"QueueName": name})).await["QueueUrl"]
        .as_str()
        .expect("QueueUrl")
        .to_owned()
}

#[tokio::test]
async fn sns_messages_reach_a_subscribed_queue() {
    let moto = Moto::start();
    let topic = unique("plexus-topic");
    let raw_queue = unique("plexus-raw");
    let envelope_queue = unique("plexus-envelope");
    moto.query("sns", &[("Action", "CreateTopic"), ("Name", &topic)])
        .await;
    let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{topic}");
    for (queue, raw) in [(&raw_queue, "true"), (&envelope_queue, "false")] {
        moto.create_queue(queue).await;
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}");
        moto.query(
            "sns",
            &[
                ("Action", "Subscribe"),
                ("TopicArn", &topic_arn),
                ("Protocol", "sqs"),
                ("Endpoint", &queue_arn),
                ("Attributes.entry.1.key", "RawMessageDelivery"),
                ("Attributes.entry.1.value", raw),
            ],
        )
        .await;
    }
    let url = format!(
        "awssns:///{topic_arn}?region={REGION}&endpoint={}",
        moto.endpoint
    );
    let publisher = connect(&url, &moto.env()).await.expect("SNS publisher");
    let message = Encoder::default().provider(&provider_event("update", "admin"));
    publisher.publish(&message).await.expect("Publish");

    // Raw delivery: the body and the attributes as sent.
    let raw = moto.drain(&queue_url(&moto, &raw_queue).await, 1).await;
    assert_eq!(raw.len(), 1);
    assert_eq!(
        raw[0]["Body"].as_str().unwrap().as_bytes(),
        message.body.as_slice()
    );
    assert_eq!(
        attributes(&raw[0]),
        vec![
            ("action".into(), "String".into(), "update".into()),
            ("object_type".into(), "String".into(), "admin".into()),
        ]
    );

    // SNS's JSON envelope, which a Go CDK subscriber unwraps.
    let wrapped = moto
        .drain(&queue_url(&moto, &envelope_queue).await, 1)
        .await;
    assert_eq!(wrapped.len(), 1);
    let envelope: Value = serde_json::from_str(wrapped[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["TopicArn"], topic_arn.as_str());
    assert_eq!(
        envelope["Message"].as_str().unwrap().as_bytes(),
        message.body.as_slice()
    );
    assert_eq!(envelope["MessageAttributes"]["action"]["Type"], "String");
    assert_eq!(envelope["MessageAttributes"]["action"]["Value"], "update");
    assert_eq!(
        envelope["MessageAttributes"]["object_type"]["Value"],
        "admin"
    );

    // A topic that does not exist fails the event.
    let missing = format!(
        "awssns:///arn:aws:sns:{REGION}:{ACCOUNT}:no-such-topic?region={REGION}&endpoint={}",
        moto.endpoint
    );
    let publisher = connect(&missing, &moto.env()).await.unwrap();
    let err = publisher.publish(&message).await.unwrap_err();
    assert!(err.contains("SNS refused the message"), "{err}");
}

#[tokio::test]
async fn sqs_signed_with_a_profile_of_the_shared_files() {
    let moto = Moto::start();
    let queue = unique("plexus-profile");
    moto.create_queue(&queue).await;
    let (key, secret) = moto.user("publisher", SQS_POLICY).await;
    let (_dir, config, credentials) = shared_files(
        &format!("[profile pub]\nregion = {REGION}\n[profile stranger]\nregion = {REGION}\n"),
        &format!(
            "[pub]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\
             [stranger]\naws_access_key_id = AKIAUNKNOWN\naws_secret_access_key = stranger-s3cret\n"
        ),
    );
    let env = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // The profile wins over the environment's keys when the URL names it.
        ("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT"),
        ("AWS_SECRET_ACCESS_KEY", "environment-s3cret"),
    ];
    let url = |profile: &str| {
        format!(
            "awssqs://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}?profile={profile}&endpoint={}",
            moto.endpoint
        )
    };
    moto.auth_after("0").await;
    let message = Encoder::new("node-1").fs(&fs_event(7));
    let publisher = connect(&url("pub"), &env).await.expect("SQS publisher");
    publisher
        .publish(&message)
        .await
        .expect("signed with the profile's keys");
    let stranger = connect(&url("stranger"), &env)
        .await
        .expect("SQS publisher");
    let err = stranger.publish(&message).await.unwrap_err();
    assert!(
        err.contains("SQS refused the message (HTTP 403)") && err.contains("InvalidClientTokenId"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    moto.auth_after("inf").await;
    let got = moto.drain(&queue_url(&moto, &queue).await, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["Body"].as_str().unwrap().as_bytes(),
        message.body.as_slice()
    );
}

#[tokio::test]
async fn sqs_signed_with_a_role_assumed_through_source_profile() {
    let moto = Moto::start();
    let queue = unique("plexus-role");
    moto.create_queue(&queue).await;
    // The user may only assume the role; the role may send messages.
    let (key, secret) = moto.user("assumer", ASSUME_POLICY).await;
    let role = moto.role("sqs-writer", SQS_POLICY).await;
    let (_dir, config, credentials) = shared_files(
        &format!(
            "[profile writer]\nrole_arn = {role}\nsource_profile = base\nregion = {REGION}\n\
             [profile base]\nregion = {REGION}\n"
        ),
        &format!("[base]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"),
    );
    let env = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // STS (and SQS) on moto.
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
    ];
    let url =
        |query: &str| format!("awssqs://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}?{query}");
    moto.auth_after("0").await;
    let message = Encoder::new("node-1").log(&log_event());
    let publisher = connect(&url("profile=writer"), &env)
        .await
        .expect("assume role");
    publisher
        .publish(&message)
        .await
        .expect("signed with the role's credentials");
    // The same role through Go CDK's role parameter.
    let by_parameter = connect(&url(&format!("profile=base&role={role}")), &env)
        .await
        .expect("assume role");
    by_parameter
        .publish(&message)
        .await
        .expect("signed with the role's credentials");
    // The user's own keys may not send: the success above was the role's.
    let direct = connect(&url("profile=base"), &env)
        .await
        .expect("SQS publisher");
    let err = direct.publish(&message).await.unwrap_err();
    assert!(err.contains("AccessDenied"), "{err}");
    moto.auth_after("inf").await;
    let got = moto.drain(&queue_url(&moto, &queue).await, 2).await;
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_stops_the_start() {
    let moto = Moto::start();
    let (_dir, config, credentials) = shared_files(
        &format!(
            "[profile writer]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/none\nsource_profile = base\n\
             region = {REGION}\n"
        ),
        "[base]\naws_access_key_id = AKIANOBODY\naws_secret_access_key = nobody-s3cret\n",
    );
    let env = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
    ];
    moto.auth_after("0").await;
    let url = format!("awssqs://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q?profile=writer");
    let err = match connect(&url, &env).await {
        Ok(_) => panic!("the start should fail"),
        Err(err) => err,
    };
    assert!(
        err.starts_with(&format!(
            "AWS credentials: profile \"writer\": assume role arn:aws:iam::{ACCOUNT}:role/none: \
             STS AssumeRole at {} refused (HTTP 403): InvalidClientTokenId",
            moto.endpoint
        )),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
