//! `moto_server` for the integration tests of plexus-aws-credentials,
//! plexus-pubsub and plexus-kms, in one place instead of a copy in each.
//!
//! [`Moto::start`] runs `moto_server` (PyPI `moto[server]`, installed by
//! `plugins/kms/tests/setup.sh`; `$PLEXUS_MOTO_SERVER` names another
//! program) on a free loopback port, waits until it listens and kills it
//! when dropped. A test that needs it fails, with a message naming
//! `setup.sh`, when it cannot start: none is skipped.
//!
//! moto checks no signature until [`Moto::auth_after`] turns its IAM
//! authentication on, and tells the services apart by the credential
//! scope of the `Authorization` header, so the setup calls here are
//! unsigned and carry a placeholder one: [`Moto::query`] for the query
//! protocol (IAM, STS, SNS) and [`Moto::json`] for the JSON protocol
//! (SQS, KMS: the `x-amz-target` header). [`Moto::user`] and
//! [`Moto::role`] make the IAM principals the signed tests use once
//! authentication is on.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The region of every call here.
pub const REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// `moto_server` on a free loopback port, killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub endpoint: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Moto {
    /// Starts `moto_server` and waits (up to 30 s) until it listens;
    /// panics, with its output, if it cannot start, exits or does not
    /// listen in time.
    pub fn start() -> Moto {
        let port = free_port();
        let program = std::env::var("PLEXUS_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("moto_server.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {program} ({err}): these tests need moto_server on the PATH; \
                     install it with plugins/kms/tests/setup.sh (PyPI moto[server]). They are \
                     never skipped."
                )
            });
        let output = || std::fs::read_to_string(&log).unwrap_or_default();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{program} exited ({status}) before it listened:\n{}",
                    output()
                );
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{program} did not listen within 30 s:\n{}", output());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// A client for the tests' own calls to moto.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An unsigned query-protocol call to `service` (`iam`, `sts`, `sns`):
    /// the response body; panics unless it succeeds.
    pub async fn query(&self, service: &str, form: &[(&str, &str)]) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let content_type = ("content-type", "application/x-www-form-urlencoded");
        self.unsigned(service, &[content_type], body, &format!("{form:?}"))
            .await
    }

    /// An unsigned JSON-protocol call to `service` (`sqs`, `kms`) with the
    /// `x-amz-target` `target` (`AmazonSQS.CreateQueue`,
    /// `TrentService.CreateKey`): the response (`null` when empty); panics
    /// unless it succeeds. SQS speaks AWS JSON 1.0, the others 1.1.
    pub async fn json(&self, service: &str, target: &str, body: Value) -> Value {
        let content_type = if service == "sqs" {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        };
        let headers = [("content-type", content_type), ("x-amz-target", target)];
        let text = self
            .unsigned(service, &headers, body.to_string(), target)
            .await;
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// POSTs `body` with `headers` and the placeholder authorization for
    /// `service`: the response body; panics, naming the call `what`,
    /// unless it succeeds.
    async fn unsigned(
        &self,
        service: &str,
        headers: &[(&str, &str)],
        body: String,
        what: &str,
    ) -> String {
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("authorization", routing_authorization(service))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("moto answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{what}: {status} {text}");
        text
    }

    /// From now on moto checks every call's signature and IAM policies
    /// (`"0"`), or none (`"inf"`).
    pub async fn auth_after(&self, count: &str) {
        let response = self
            .http
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .body(count.to_owned())
            .send()
            .await
            .expect("moto answers");
        assert!(response.status().is_success());
    }

    /// An IAM user with an access key and the inline `policy`: the key
    /// pair.
    pub async fn user(&self, name: &str, policy: &str) -> (String, String) {
        self.query("iam", &[("Action", "CreateUser"), ("UserName", name)])
            .await;
        self.query(
            "iam",
            &[
                ("Action", "PutUserPolicy"),
                ("UserName", name),
                ("PolicyName", "p"),
                ("PolicyDocument", policy),
            ],
        )
        .await;
        let created = self
            .query("iam", &[("Action", "CreateAccessKey"), ("UserName", name)])
            .await;
        (
            tag(&created, "AccessKeyId"),
            tag(&created, "SecretAccessKey"),
        )
    }

    /// A role any principal of the account may assume, with the inline
    /// `policy`: its ARN.
    pub async fn role(&self, name: &str, policy: &str) -> String {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
        self.query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", trust),
            ],
        )
        .await;
        self.query(
            "iam",
            &[
                ("Action", "PutRolePolicy"),
                ("RoleName", name),
                ("PolicyName", "p"),
                ("PolicyDocument", policy),
            ],
        )
        .await;
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }
}

/// A placeholder SigV4 `Authorization` header whose credential scope
/// names `service`: moto routes on it and checks nothing while
/// authentication is off.
pub fn routing_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=setup/20260101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

/// The text of the first `<name>` element of `xml`.
pub fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).map(|i| i + open.len()).unwrap_or_else(|| {
        panic!("no <{name}> in {xml}");
    });
    let end = xml[start..]
        .find(&format!("</{name}>"))
        .expect("closing tag")
        + start;
    xml[start..end].to_owned()
}
