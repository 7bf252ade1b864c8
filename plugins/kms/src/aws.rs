//! AWS KMS over its JSON API (`TrentService.Encrypt` / `.Decrypt`), signed
//! with SigV4, as Go CDK's `awskms` keeper calls it: Encrypt sends the key
//! id and the encryption context, Decrypt sends the ciphertext blob and the
//! context (AWS finds the key in the blob).
//!
//! Settings and credentials: plexus-aws-credentials, which reads them as
//! Go CDK over aws-sdk-go-v2 does, from the URL's `profile`, `role` and
//! `region`, the environment and the shared config files. Region: the
//! URL's `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the
//! profile's. Endpoint: the URL's `endpoint`, else `AWS_ENDPOINT_URL_KMS`,
//! else `AWS_ENDPOINT_URL`, else the profile's `services` /
//! `endpoint_url`, else `https://kms.REGION.amazonaws.com/`. Credentials:
//! the SDK's default chain, then the URL's `role` assumed with them.
//!
//! The environment is captured at start; the settings of each distinct
//! (profile, role, region) are loaded at the first call that names them
//! (or at start for `--url`) and kept with their credentials provider,
//! which caches credentials and refreshes temporary ones before they
//! expire. One HTTP client (one connection pool) serves every call.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use plexus_aws_credentials::{AwsConfig, CredentialsProvider, Env, Options};

use crate::error::{without_url, KmsError};
use crate::sigv4::{self, JsonRequest};
use crate::target::AwsKey;

const PROVIDER: &str = "awskms";

/// The settings of one (profile, role, region), loaded.
#[derive(Debug)]
struct Resolved {
    settings: AwsConfig,
    credentials: CredentialsProvider,
}

/// The URL options that select settings.
type SettingsKey = (Option<String>, Option<String>, Option<String>);

/// A configured AWS KMS client.
#[derive(Debug)]
pub struct AwsKms {
    http: reqwest::Client,
    env: Env,
    resolved: Mutex<HashMap<SettingsKey, Arc<Resolved>>>,
}

fn config(message: impl Into<String>) -> KmsError {
    KmsError::Config {
        provider: PROVIDER,
        message: message.into(),
    }
}

/// A credentials error as a KMS error: a configuration that cannot work
/// fails the precondition; a source that did not answer is unavailable.
fn credentials_error(err: plexus_aws_credentials::Error) -> KmsError {
    match err {
        plexus_aws_credentials::Error::Config(message) => config(message),
        plexus_aws_credentials::Error::Fetch(message) => KmsError::Unavailable {
            provider: PROVIDER,
            message: format!("AWS credentials: {message}"),
        },
    }
}

impl AwsKms {
    /// Captures the AWS variables of the environment; nothing is loaded
    /// or checked until a key is used.
    pub fn from_env(http: reqwest::Client, env: &dyn Fn(&str) -> Option<String>) -> AwsKms {
        AwsKms {
            http,
            env: Env::capture(env, &["KMS"]),
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// The settings and credentials provider for a key's URL options,
    /// loaded once per distinct options.
    fn resolve(&self, key: &AwsKey) -> Result<Arc<Resolved>, KmsError> {
        let id = (key.profile.clone(), key.role.clone(), key.region.clone());
        let mut resolved = self
            .resolved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = resolved.get(&id) {
            return Ok(found.clone());
        }
        let options = Options {
            profile: key.profile.clone(),
            region: key.region.clone(),
            role_arn: key.role.clone(),
        };
        let settings = AwsConfig::load(&self.env, &options).map_err(credentials_error)?;
        let credentials = settings.credentials_provider().map_err(credentials_error)?;
        let found = Arc::new(Resolved {
            settings,
            credentials,
        });
        resolved.insert(id, found.clone());
        Ok(found)
    }

    /// Checks a key's settings without a network call.
    pub fn check(&self, key: &AwsKey) -> Result<(), KmsError> {
        self.resolve(key).map(drop)
    }

    /// Fetches the key's credentials (at start, for `--url`): where they
    /// come from, for the start log.
    pub async fn verify(&self, key: &AwsKey) -> Result<String, KmsError> {
        let resolved = self.resolve(key)?;
        resolved
            .credentials
            .credentials()
            .await
            .map_err(credentials_error)?;
        Ok(resolved.credentials.describe())
    }

    /// The region and endpoint URL a key is used with.
    fn location(&self, key: &AwsKey, settings: &AwsConfig) -> Result<(String, url::Url), KmsError> {
        let region = settings.region().map(str::to_owned).ok_or_else(|| {
            config(format!(
                "no region: add ?region=... to the secrets URL, set AWS_REGION, or set region in \
                 profile {:?}",
                settings.profile_name()
            ))
        })?;
        let endpoint = key
            .endpoint
            .clone()
            .or_else(|| settings.endpoint("KMS"))
            .unwrap_or_else(|| plexus_aws_credentials::endpoint::default_url("kms", &region));
        let url = url::Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| config(format!("the endpoint {endpoint:?} is not an http(s) URL")))?;
        Ok((region, url))
    }

    async fn call(
        &self,
        key: &AwsKey,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, KmsError> {
        let resolved = self.resolve(key)?;
        let (region, url) = self.location(key, &resolved.settings)?;
        let credentials = resolved
            .credentials
            .credentials()
            .await
            .map_err(credentials_error)?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(config("the endpoint has no host")),
        };
        let body =
            serde_json::to_vec(&body).map_err(|err| KmsError::Payload(format!("awskms: {err}")))?;
        let target = format!("TrentService.{operation}");
        let signed = sigv4::sign(
            &JsonRequest {
                host: &host,
                path: url.path(),
                region: &region,
                service: "kms",
                target: &target,
                body: &body,
            },
            &credentials,
            &sigv4::amz_date(time::OffsetDateTime::now_utc()),
        )
        .map_err(config)?;
        let mut request = self
            .http
            .post(url.clone())
            .header("content-type", sigv4::CONTENT_TYPE)
            .header("x-amz-target", &target)
            .body(body);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|err| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!("cannot reach {url}: {}", without_url(&err)),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|err| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!("cannot read the answer of {url}: {}", without_url(&err)),
        })?;
        if !status.is_success() {
            let (kind, message) = error_parts(&text);
            let hint = match kind.as_str() {
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "AccessDeniedException" => " (check the AWS credentials and the key policy)",
                "NotFoundException" => " (check the key id or alias of the secrets URL)",
                _ => "",
            };
            return Err(KmsError::Rejected {
                provider: PROVIDER,
                status: status.as_u16(),
                message: format!(
                    "{operation} with key {:?} refused: {kind}: {message}{hint}",
                    key.key_id
                ),
            });
        }
        serde_json::from_str(&text).map_err(|_| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!("the {operation} answer of {url} is not JSON"),
        })
    }

    /// Encrypts with the key; the ciphertext is AWS's blob.
    pub async fn encrypt(&self, key: &AwsKey, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let mut body =
            serde_json::json!({ "KeyId": key.key_id, "Plaintext": STANDARD.encode(plaintext) });
        if !key.context.is_empty() {
            body["EncryptionContext"] = serde_json::json!(key.context);
        }
        let answer = self.call(key, "Encrypt", body).await?;
        blob(&answer, "CiphertextBlob")
    }

    /// Decrypts a blob (the key is in it; the context must match).
    pub async fn decrypt(&self, key: &AwsKey, ciphertext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let mut body = serde_json::json!({ "CiphertextBlob": STANDARD.encode(ciphertext) });
        if !key.context.is_empty() {
            body["EncryptionContext"] = serde_json::json!(key.context);
        }
        let answer = self.call(key, "Decrypt", body).await?;
        blob(&answer, "Plaintext")
    }
}

#[derive(Deserialize, Default)]
struct AwsError {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "Message", default)]
    message_upper: Option<String>,
}

/// The error type and message of an error answer: KMS's JSON, else the
/// XML `<Code>` and `<Message>` of a gateway or emulator in front of it.
fn error_parts(text: &str) -> (String, String) {
    let error: AwsError = serde_json::from_str(text).unwrap_or_default();
    let kind = error.kind.rsplit('#').next().unwrap_or_default().to_owned();
    let message = error.message.or(error.message_upper).unwrap_or_default();
    if !kind.is_empty() || !message.is_empty() {
        return (kind, message);
    }
    let tag = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_owned())
    };
    (
        tag("Code").unwrap_or_default(),
        tag("Message").unwrap_or_default(),
    )
}

fn blob(answer: &serde_json::Value, name: &str) -> Result<Vec<u8>, KmsError> {
    answer
        .get(name)
        .and_then(serde_json::Value::as_str)
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!("the answer has no base64 {name}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn key(region: Option<&str>, endpoint: Option<&str>) -> AwsKey {
        AwsKey {
            key_id: "alias/k".into(),
            region: region.map(str::to_owned),
            endpoint: endpoint.map(str::to_owned),
            profile: None,
            role: None,
            context: Default::default(),
        }
    }

    fn location(aws: &AwsKms, key: &AwsKey) -> Result<(String, String), KmsError> {
        let resolved = aws.resolve(key)?;
        let (region, url) = aws.location(key, &resolved.settings)?;
        Ok((region, url.to_string()))
    }

    #[test]
    fn region_and_endpoint_precedence() {
        let http = reqwest::Client::new();
        let aws = AwsKms::from_env(
            http.clone(),
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ]),
        );
        assert_eq!(
            location(&aws, &key(None, None)).unwrap(),
            ("eu-west-1".into(), "http://127.0.0.1:4566/".into())
        );
        assert_eq!(
            location(&aws, &key(Some("us-east-2"), Some("http://[::1]:9000/"))).unwrap(),
            ("us-east-2".into(), "http://[::1]:9000/".into())
        );
        let aws = AwsKms::from_env(
            http.clone(),
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ]),
        );
        assert_eq!(
            location(&aws, &key(Some("ap-south-1"), None)).unwrap().1,
            "https://kms.ap-south-1.amazonaws.com/"
        );
        assert!(location(&aws, &key(None, None))
            .unwrap_err()
            .to_string()
            .contains("no region"));
    }

    #[test]
    fn error_answers_in_json_or_xml() {
        assert_eq!(
            error_parts(r#"{"__type":"com.amazonaws.kms#NotFoundException","message":"gone"}"#),
            ("NotFoundException".to_owned(), "gone".to_owned())
        );
        assert_eq!(
            error_parts("<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>"),
            ("AccessDenied".to_owned(), "no".to_owned())
        );
    }

    #[test]
    fn no_credentials_is_a_configuration_error_without_secrets() {
        let aws = AwsKms::from_env(
            reqwest::Client::new(),
            &env(&[
                ("AWS_SECRET_ACCESS_KEY", "topsecret"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ]),
        );
        let err = aws.check(&key(Some("us-east-1"), None)).unwrap_err();
        assert!(matches!(err, KmsError::Config { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(
                "awskms: no AWS credentials found; tried: the environment \
                 (AWS_SECRET_ACCESS_KEY set without AWS_ACCESS_KEY_ID)"
            ),
            "{text}"
        );
        assert!(!text.contains("topsecret"), "{text}");
    }
}
