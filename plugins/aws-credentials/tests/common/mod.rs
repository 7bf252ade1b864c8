//! Test servers on loopback: `moto_server` ([`plexus_test_moto`]) for
//! STS, IAM, SQS and the instance metadata endpoints, and a tiny HTTP
//! server answering fixed responses (the container credentials endpoint
//! is a plain JSON GET).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use plexus_aws_credentials::{AwsConfig, Credentials, CredentialsProvider, Env, Options};
pub use plexus_test_moto::{tag, Moto, ACCOUNT, REGION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Temp config and credentials files.
pub struct Files {
    pub dir: tempfile::TempDir,
    pub config: String,
    pub credentials: String,
}

pub fn files(config: &str, credentials: &str) -> Files {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config");
    let credentials_path = dir.path().join("credentials");
    std::fs::write(&config_path, config).expect("write config");
    std::fs::write(&credentials_path, credentials).expect("write credentials");
    Files {
        config: config_path.to_string_lossy().into_owned(),
        credentials: credentials_path.to_string_lossy().into_owned(),
        dir,
    }
}

impl Files {
    /// The variables naming the files, with instance metadata off unless
    /// the test points it somewhere (tests stay on loopback).
    pub fn env<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut pairs = vec![
            ("AWS_CONFIG_FILE", self.config.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", self.credentials.as_str()),
        ];
        if !extra.iter().any(|(k, _)| k.starts_with("AWS_EC2_METADATA")) {
            pairs.push(("AWS_EC2_METADATA_DISABLED", "true"));
        }
        pairs.extend_from_slice(extra);
        pairs
    }
}

/// Loads the settings and makes the provider.
pub fn provider(
    pairs: &[(&str, &str)],
    options: Options,
) -> Result<CredentialsProvider, plexus_aws_credentials::Error> {
    AwsConfig::load(&Env::from_pairs(pairs), &options)?.credentials_provider()
}

pub fn profile(name: &str) -> Options {
    Options {
        profile: Some(name.to_owned()),
        ..Options::default()
    }
}

/// What these tests add to [`Moto`]: a call signed with the chain's
/// credentials.
pub trait Caller {
    /// STS `GetCallerIdentity` signed with `credentials`: the caller's
    /// ARN, or moto's refusal.
    async fn caller(&self, credentials: &Credentials) -> Result<String, String>;
}

impl Caller for Moto {
    async fn caller(&self, credentials: &Credentials) -> Result<String, String> {
        let body = "Action=GetCallerIdentity&Version=2011-06-15";
        let url = format!("{}/", self.endpoint);
        let identity = credentials.identity();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("sts")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("signing params")
            .into();
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut request = self.http().post(&url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("moto answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(tag(&text, "Arn"))
        } else {
            Err(format!("{status}: {text}"))
        }
    }
}

/// A loopback HTTP server answering every request with one of the
/// canned responses (in turn, the last one repeated), recording each
/// request's head; `delay` before each answer.
pub struct Canned {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Canned {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Canned {
    pub async fn start(responses: Vec<(u16, String)>, delay: Duration) -> Canned {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (status, body) = responses[n.min(responses.len() - 1)].clone();
                n += 1;
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock()
                        .expect("lock")
                        .push(String::from_utf8_lossy(&head).into_owned());
                    tokio::time::sleep(delay).await;
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Canned {
            url,
            requests,
            task,
        }
    }

    pub fn count(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }
}

/// An RFC 3339 timestamp `seconds` from now.
pub fn in_seconds(seconds: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
