//! AWS KMS over its JSON API (`TrentService.Encrypt` / `.Decrypt`), signed
//! with SigV4, as Go CDK's `awskms` keeper calls it: Encrypt sends the key
//! id and the encryption context, Decrypt sends the ciphertext blob and the
//! context (AWS finds the key in the blob).
//!
//! Credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally
//! `AWS_SESSION_TOKEN`, read at start; the shared config files, SSO,
//! instance profiles and container roles of the full AWS chain are not
//! implemented. Region: the URL's `region`, else `AWS_REGION`, else
//! `AWS_DEFAULT_REGION`. Endpoint: the URL's `endpoint`, else
//! `AWS_ENDPOINT_URL_KMS`, else `AWS_ENDPOINT_URL`, else
//! `https://kms.REGION.amazonaws.com/`. One client (one connection pool)
//! serves every call.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

use crate::error::{without_url, KmsError};
use crate::sigv4::{self, Credentials, JsonRequest};
use crate::target::AwsKey;

const PROVIDER: &str = "awskms";

/// A configured AWS KMS client.
#[derive(Debug)]
pub struct AwsKms {
    http: reqwest::Client,
    credentials: Credentials,
    region: Option<String>,
    endpoint: Option<String>,
}

fn config(message: impl Into<String>) -> KmsError {
    KmsError::Config {
        provider: PROVIDER,
        message: message.into(),
    }
}

fn first(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| env(name).filter(|v| !v.is_empty()))
}

impl AwsKms {
    /// Reads credentials, region and endpoint from the environment.
    pub fn from_env(
        http: reqwest::Client,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AwsKms, KmsError> {
        let (Some(access_key_id), Some(secret_access_key)) = (
            first(env, &["AWS_ACCESS_KEY_ID"]),
            first(env, &["AWS_SECRET_ACCESS_KEY"]),
        ) else {
            return Err(config(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN \
                 for temporary credentials); this build reads static credentials from the environment only",
            ));
        };
        Ok(AwsKms {
            http,
            credentials: Credentials {
                access_key_id,
                secret_access_key,
                session_token: first(env, &["AWS_SESSION_TOKEN"]),
            },
            region: first(env, &["AWS_REGION", "AWS_DEFAULT_REGION"]),
            endpoint: first(env, &["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"]),
        })
    }

    /// The region and endpoint URL a key is used with.
    fn location(&self, key: &AwsKey) -> Result<(String, url::Url), KmsError> {
        let region = key
            .region
            .clone()
            .or_else(|| self.region.clone())
            .ok_or_else(|| {
                config("no region: add ?region=... to the secrets URL or set AWS_REGION")
            })?;
        let endpoint = key
            .endpoint
            .clone()
            .or_else(|| self.endpoint.clone())
            .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com/"));
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
        let (region, url) = self.location(key)?;
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
            &self.credentials,
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
            let error: AwsError = serde_json::from_str(&text).unwrap_or_default();
            let kind = error.kind.rsplit('#').next().unwrap_or_default().to_owned();
            let message = error.message.or(error.message_upper).unwrap_or_default();
            let hint = match kind.as_str() {
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "AccessDeniedException" => {
                    " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the key policy)"
                }
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
            context: Default::default(),
        }
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
        )
        .unwrap();
        let (region, url) = aws.location(&key(None, None)).unwrap();
        assert_eq!(
            (region.as_str(), url.as_str()),
            ("eu-west-1", "http://127.0.0.1:4566/")
        );
        let (region, url) = aws
            .location(&key(Some("us-east-2"), Some("http://[::1]:9000/")))
            .unwrap();
        assert_eq!(
            (region.as_str(), url.as_str()),
            ("us-east-2", "http://[::1]:9000/")
        );
        let aws = AwsKms::from_env(
            http.clone(),
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ]),
        )
        .unwrap();
        let (_, url) = aws.location(&key(Some("ap-south-1"), None)).unwrap();
        assert_eq!(url.as_str(), "https://kms.ap-south-1.amazonaws.com/");
        assert!(aws
            .location(&key(None, None))
            .unwrap_err()
            .to_string()
            .contains("no region"));
        let err =
            AwsKms::from_env(http, &env(&[("AWS_SECRET_ACCESS_KEY", "topsecret")])).unwrap_err();
        assert!(
            err.to_string().contains("AWS_ACCESS_KEY_ID") && !err.to_string().contains("topsecret")
        );
    }
}
