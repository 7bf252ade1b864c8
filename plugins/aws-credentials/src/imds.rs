//! EC2 instance metadata (the instance profile's role), the last source
//! of the chain, as aws-sdk-go-v2's `ec2rolecreds` and `imds` use it:
//!
//! - IMDSv2: `PUT /latest/api/token` (header
//!   `X-aws-ec2-metadata-token-ttl-seconds`), then the token in
//!   `X-aws-ec2-metadata-token` on `GET
//!   /latest/meta-data/iam/security-credentials/` (the role name, first
//!   line) and `GET .../ROLE` (JSON `Code`, `AccessKeyId`,
//!   `SecretAccessKey`, `Token`, `Expiration`);
//! - when the token request is refused with 403, 404 or 405 the requests
//!   go on without a token (IMDSv1), unless `AWS_EC2_METADATA_V1_DISABLED`
//!   (else the profile's `ec2_metadata_v1_disabled`) is `true`;
//! - endpoint: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the profile's
//!   `ec2_metadata_service_endpoint`, else by the endpoint mode
//!   (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`, else the profile's
//!   `ec2_metadata_service_endpoint_mode`): `http://169.254.169.254`
//!   (`IPv4`, the default) or `http://[fd00:ec2::254]` (`IPv6`);
//! - `AWS_EC2_METADATA_DISABLED=true` turns the source off;
//! - each request has a one-second deadline (the SDK's are shorter
//!   still), so that a machine without the service fails fast; the
//!   credentials are kept at most an hour, as the SDK keeps them.
//!
//! One difference: an answer without `Code` is accepted (the SDK wants
//! `Success`; real IMDS always sends it, emulators may not).

use std::time::{Duration, SystemTime};

use crate::credentials::Credentials;
use crate::env::Env;
use crate::error::Error;
use crate::expiry;
use crate::http::describe;
use crate::json_fields;
use crate::shared_config::Profile;

const IPV4_ENDPOINT: &str = "http://169.254.169.254";
const IPV6_ENDPOINT: &str = "http://[fd00:ec2::254]";
const TOKEN_TTL_SECONDS: &str = "300";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// Instance credentials are re-read at least this often.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The metadata service of this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imds {
    /// Base URL, without a trailing `/`.
    pub endpoint: String,
    pub v1_fallback: bool,
}

fn profile_value<'a>(profile: Option<&'a Profile>, key: &str) -> Option<&'a str> {
    profile.and_then(|p| p.get(key))
}

impl Imds {
    /// The service as configured; `None` when `AWS_EC2_METADATA_DISABLED`
    /// is `true`.
    pub fn from_env(env: &Env, profile: Option<&Profile>) -> Result<Option<Imds>, Error> {
        if env.flag("AWS_EC2_METADATA_DISABLED") == Some(true) {
            return Ok(None);
        }
        let endpoint = match (
            env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
            profile_value(profile, "ec2_metadata_service_endpoint"),
        ) {
            (Some(url), _) => ("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.to_owned()),
            (None, Some(url)) => ("ec2_metadata_service_endpoint", url.to_owned()),
            (None, None) => {
                let (origin, mode) = match (
                    env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"),
                    profile_value(profile, "ec2_metadata_service_endpoint_mode"),
                ) {
                    (Some(mode), _) => ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", mode),
                    (None, Some(mode)) => ("ec2_metadata_service_endpoint_mode", mode),
                    (None, None) => ("", "IPv4"),
                };
                let url = if mode.eq_ignore_ascii_case("ipv4") {
                    IPV4_ENDPOINT
                } else if mode.eq_ignore_ascii_case("ipv6") {
                    IPV6_ENDPOINT
                } else {
                    return Err(Error::config(format!(
                        "{origin}: unknown endpoint mode {mode:?} (IPv4 or IPv6)"
                    )));
                };
                (origin, url.to_owned())
            }
        };
        let (origin, url) = endpoint;
        let parsed = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if parsed.is_none() {
            return Err(Error::config(format!(
                "{origin}: {url:?} is not an http(s) URL"
            )));
        }
        let v1_disabled = env
            .flag("AWS_EC2_METADATA_V1_DISABLED")
            .or_else(|| {
                profile_value(profile, "ec2_metadata_v1_disabled")
                    .map(|v| v.eq_ignore_ascii_case("true"))
            })
            .unwrap_or(false);
        Ok(Some(Imds {
            endpoint: url.trim_end_matches('/').to_owned(),
            v1_fallback: !v1_disabled,
        }))
    }

    fn context(&self) -> String {
        format!("EC2 instance metadata at {}", self.endpoint)
    }

    fn transport(&self, err: &reqwest::Error) -> Error {
        let hint = if err.is_timeout() || err.is_connect() {
            " (no instance metadata service here?)"
        } else {
            ""
        };
        Error::fetch(format!("{}: {}{hint}", self.context(), describe(err)))
    }

    /// The IMDSv2 token; `None` to go on with IMDSv1.
    async fn token(&self, http: &reqwest::Client) -> Result<Option<String>, Error> {
        let response = http
            .put(format!("{}/latest/api/token", self.endpoint))
            .header("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS)
            .send()
            .await
            .map_err(|err| self.transport(&err))?;
        let status = response.status();
        if status.is_success() {
            let token = response.text().await.map_err(|err| self.transport(&err))?;
            return Ok(Some(token.trim().to_owned()));
        }
        if status.as_u16() != 400 && self.v1_fallback {
            tracing::warn!(
                endpoint = %self.endpoint,
                status = status.as_u16(),
                "IMDSv2 token refused; falling back to IMDSv1"
            );
            return Ok(None);
        }
        Err(Error::fetch(format!(
            "{}: the IMDSv2 token request was refused (HTTP {}){}",
            self.context(),
            status.as_u16(),
            if self.v1_fallback {
                ""
            } else {
                " and IMDSv1 is disabled"
            }
        )))
    }

    async fn get(
        &self,
        http: &reqwest::Client,
        path: &str,
        token: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        let mut request = http.get(format!("{}{path}", self.endpoint));
        if let Some(token) = token {
            request = request.header("x-aws-ec2-metadata-token", token);
        }
        let response = request.send().await.map_err(|err| self.transport(&err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::fetch(format!(
                "{}: GET {path} answered HTTP {}{}",
                self.context(),
                status.as_u16(),
                if status.as_u16() == 404 && path == CREDENTIALS_PATH {
                    " (no IAM role attached to this instance)"
                } else {
                    ""
                }
            )));
        }
        Ok(response
            .bytes()
            .await
            .map_err(|err| self.transport(&err))?
            .to_vec())
    }

    /// The instance role's credentials.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<Credentials, Error> {
        let token = self.token(http).await?;
        let list = self.get(http, CREDENTIALS_PATH, token.as_deref()).await?;
        let list = String::from_utf8_lossy(&list);
        let Some(role) = list.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Err(Error::fetch(format!(
                "{}: no IAM role attached to this instance",
                self.context()
            )));
        };
        let role = role.to_owned();
        let body = self
            .get(http, &format!("{CREDENTIALS_PATH}{role}"), token.as_deref())
            .await?;
        parse(&body, &role, SystemTime::now())
            .map_err(|why| Error::fetch(format!("{}: role {role:?}: {why}", self.context())))
    }
}

/// The role's credentials in an answer received at `now`.
pub fn parse(body: &[u8], role: &str, now: SystemTime) -> Result<Credentials, String> {
    let object = json_fields::object(body).map_err(|why| format!("the answer is {why}"))?;
    let has = |why: String| format!("the answer has {why}");
    if let Some(code) = json_fields::string(&object, "Code").map_err(has)? {
        if !code.eq_ignore_ascii_case("Success") {
            let message = json_fields::string(&object, "Message")
                .ok()
                .flatten()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(format!("the service answered {code}{message}"));
        }
    }
    let access_key_id = json_fields::required(&object, "AccessKeyId").map_err(has)?;
    let secret_access_key = json_fields::required(&object, "SecretAccessKey").map_err(has)?;
    let token = json_fields::string(&object, "Token").map_err(has)?;
    let expiration = json_fields::required(&object, "Expiration").map_err(has)?;
    let expires = expiry::parse(&expiration)
        .ok_or_else(|| format!("the answer's Expiration {expiration:?} is not a timestamp"))?;
    let expires = expires.min(now + MAX_LIFETIME);
    Ok(Credentials::new(
        access_key_id,
        secret_access_key,
        token,
        format!("EC2 instance role {role:?}"),
    )
    .expiring(Some(expires)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let imds = Imds::from_env(&Env::default(), None).unwrap().unwrap();
        assert_eq!(imds.endpoint, "http://169.254.169.254");
        assert!(imds.v1_fallback);
        let env = Env::from_pairs(&[
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv6"),
            ("AWS_EC2_METADATA_V1_DISABLED", "true"),
        ]);
        let imds = Imds::from_env(&env, None).unwrap().unwrap();
        assert_eq!(imds.endpoint, "http://[fd00:ec2::254]");
        assert!(!imds.v1_fallback);
        let env = Env::from_pairs(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/")]);
        assert_eq!(
            Imds::from_env(&env, None).unwrap().unwrap().endpoint,
            "http://127.0.0.1:9"
        );
        let env = Env::from_pairs(&[("AWS_EC2_METADATA_DISABLED", "TRUE")]);
        assert_eq!(Imds::from_env(&env, None).unwrap(), None);
        let env = Env::from_pairs(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ipv5")]);
        assert_eq!(
            Imds::from_env(&env, None).unwrap_err().message(),
            "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: unknown endpoint mode \"ipv5\" (IPv4 or IPv6)"
        );
    }

    #[test]
    fn answers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_000_000);
        let body = br#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIA","SecretAccessKey":"S","Token":"T","Expiration":"2026-01-02T03:04:05Z"}"#;
        let c = parse(body, "r", now).unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("ASIA", Some("T")));
        assert_eq!(c.expires(), Some(now + MAX_LIFETIME), "at most an hour");
        let err = parse(
            br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"denied","SecretAccessKey":"S"}"#,
            "r",
            now,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "the service answered AssumeRoleUnauthorizedAccess: denied"
        );
        assert_eq!(
            parse(br#"{"AccessKeyId":"A","SecretAccessKey":"S"}"#, "r", now).unwrap_err(),
            "the answer has no Expiration"
        );
    }
}
