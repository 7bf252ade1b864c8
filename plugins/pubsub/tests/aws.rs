//! AWS SNS and SQS against `moto_server` (PyPI `moto[server]`, installed
//! by `plugins/kms/tests/setup.sh`, which `.ci/run` runs), started here on
//! a free loopback port: events published to an SNS topic reach an SQS
//! queue subscribed to it, with the attributes Go CDK sets; events sent
//! to an SQS queue are read back with their attributes; AWS errors fail
//! the event. moto checks no signature by default, so the SigV4 signing
//! itself is covered by the golden vectors of `aws-sigv4`'s use in
//! plexus-kms; the profile and role tests turn moto's IAM authentication
//! on, so that there a request signed with other credentials than the
//! expected ones is refused.

mod common;

use common::{connect, fs_event, log_event, provider_event, unique};
use plexus_pubsub::Encoder;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

/// moto_server tells the services apart by the credential scope of the
/// Authorization header; it checks no signature, so the test's own setup
/// calls carry a placeholder one.
fn routing_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

/// `moto_server`, killed when the test ends.
struct Moto {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let program = std::env::var("PLEXUS_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {program} ({err}): install it with plugins/kms/tests/setup.sh \
                     (PyPI moto[server]); these tests are never skipped"
                )
            });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// An SNS query-protocol call (unsigned: moto does not check).
    async fn sns(&self, form: &[(&str, &str)]) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", routing_authorization("sns"))
            .body(body)
            .send()
            .await
            .expect("SNS call");
        assert!(response.status().is_success(), "{form:?}");
        response.text().await.unwrap()
    }

    /// An SQS JSON-protocol call.
    async fn sqs(&self, action: &str, body: Value) -> Value {
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header("authorization", routing_authorization("sqs"))
            .body(body.to_string())
            .send()
            .await
            .expect("SQS call");
        assert!(response.status().is_success(), "{action}");
        response.json().await.unwrap()
    }

    async fn create_queue(&self, name: &str) -> String {
        let created = self.sqs("CreateQueue", json!({"QueueName": name})).await;
        created["QueueUrl"].as_str().expect("QueueUrl").to_owned()
    }

    /// Every message now in the queue, with all attributes.
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

    /// An IAM call (query protocol).
    async fn iam(&self, form: &[(&str, &str)]) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", routing_authorization("iam"))
            .body(body)
            .send()
            .await
            .expect("IAM call");
        assert!(response.status().is_success(), "{form:?}");
        response.text().await.unwrap()
    }

    /// An IAM user with `policy` and an access key: the key pair.
    async fn user(&self, name: &str, policy: &str) -> (String, String) {
        self.iam(&[("Action", "CreateUser"), ("UserName", name)])
            .await;
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", name),
            ("PolicyName", "p"),
            ("PolicyDocument", policy),
        ])
        .await;
        let created = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", name)])
            .await;
        (
            tag(&created, "AccessKeyId"),
            tag(&created, "SecretAccessKey"),
        )
    }

    /// A role any principal may assume, with `policy`: its ARN.
    async fn role(&self, name: &str, policy: &str) -> String {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
        self.iam(&[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", trust),
        ])
        .await;
        self.iam(&[
            ("Action", "PutRolePolicy"),
            ("RoleName", name),
            ("PolicyName", "p"),
            ("PolicyDocument", policy),
        ])
        .await;
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// moto checks signatures and IAM policies from now on (`"0"`), or no
    /// more (`"inf"`).
    async fn auth_after(&self, count: &str) {
        let response = self
            .http
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .body(count.to_owned())
            .send()
            .await
            .expect("moto answers");
        assert!(response.status().is_success());
    }

    fn env(&self) -> [(&'static str, &'static str); 2] {
        [
            ("AWS_ACCESS_KEY_ID", "testing-key-id"),
            ("AWS_SECRET_ACCESS_KEY", "testing-s3cret"),
        ]
    }
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).expect("opening tag") + open.len();
    let end = xml[start..]
        .find(&format!("</{name}>"))
        .expect("closing tag")
        + start;
    xml[start..end].to_owned()
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
    moto.sns(&[("Action", "CreateTopic"), ("Name", &topic)])
        .await;
    let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{topic}");
    for (queue, raw) in [(&raw_queue, "true"), (&envelope_queue, "false")] {
        moto.create_queue(queue).await;
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}");
        moto.sns(&[
            ("Action", "Subscribe"),
            ("TopicArn", &topic_arn),
            ("Protocol", "sqs"),
            ("Endpoint", &queue_arn),
            ("Attributes.entry.1.key", "RawMessageDelivery"),
            ("Attributes.entry.1.value", raw),
        ])
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
