//! `awssns://` and `awssqs://` topic URLs and the AWS settings, as Go CDK
//! v0.46 reads them (`gocloud.dev/aws.V2ConfigFromURLParams`).
//!
//! - SNS: `awssns:///arn:aws:sns:REGION:ACCOUNT:TOPIC` (host + path, the
//!   leading `/` trimmed, is the topic ARN).
//! - SQS: `awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE` (`https://` +
//!   host + path is the queue URL).
//! - Query parameters: `region`, `endpoint`, `hostname_immutable`,
//!   `anonymous`, `rate_limiter_capacity`, `request_checksum_calculation`,
//!   `response_checksum_validation` and `awssdk` are read as Go CDK reads
//!   them. `profile` and `role` (shared config files, STS) and a true
//!   `fips` or `dualstack` are refused as not supported by this build; any
//!   other parameter is refused, as Go CDK refuses it.
//! - Region: `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
//! - Endpoint: `endpoint`, else `AWS_ENDPOINT_URL_SNS` / `_SQS`, else
//!   `AWS_ENDPOINT_URL`, else the service's regional endpoint.
//! - Credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//!   optionally `AWS_SESSION_TOKEN` (the standard variables; the SDK's
//!   shared files, SSO and instance roles are not read). `anonymous=true`
//!   sends unsigned requests.

use crate::config::parse_bool;
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsTarget {
    Sns { topic_arn: String },
    Sqs { queue_url: String },
}

impl AwsTarget {
    /// The SigV4 service name and endpoint prefix.
    pub fn service(&self) -> &'static str {
        match self {
            AwsTarget::Sns { .. } => "sns",
            AwsTarget::Sqs { .. } => "sqs",
        }
    }
}

/// Static credentials; `Debug` shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub target: AwsTarget,
    pub region: String,
    pub endpoint: Url,
    /// `None` with `anonymous=true`: requests are not signed.
    pub credentials: Option<AwsCredentials>,
}

fn first(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

fn go_bool(param: &str, value: &str) -> Result<bool, String> {
    parse_bool(value)
        .ok_or_else(|| format!("invalid value for {param}: {value:?} is not a boolean"))
}

/// Reads an AWS topic URL; `name` is the URL's host and path joined.
pub fn parse(
    url: &Url,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AwsConfig, String> {
    let shown = crate::config::redact_topic(url.as_str());
    let fail = |message: String| format!("open topic {shown}: {message}");
    let target = match url.scheme() {
        "awssns" => {
            if !name.starts_with("arn:") {
                return Err(fail(format!(
                    "{name:?} is not an SNS topic ARN (write awssns:///arn:aws:sns:REGION:ACCOUNT:TOPIC)"
                )));
            }
            AwsTarget::Sns {
                topic_arn: name.to_owned(),
            }
        }
        _ => {
            if url.host_str().unwrap_or("").is_empty() || !name.contains('/') {
                return Err(fail(
                    "no queue URL (write awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)".into(),
                ));
            }
            AwsTarget::Sqs {
                queue_url: format!("https://{name}"),
            }
        }
    };
    let mut region = None;
    let mut endpoint = None;
    let mut anonymous = false;
    // Go reads the first value of each parameter.
    let mut seen: Vec<String> = Vec::new();
    for (param, value) in url.query_pairs() {
        if seen.iter().any(|p| *p == param) {
            continue;
        }
        seen.push(param.to_string());
        let value = value.as_ref();
        match param.as_ref() {
            "region" => region = Some(value.to_owned()),
            "endpoint" => endpoint = Some(value.to_owned()),
            "hostname_immutable" => {
                // The endpoint is always used as given.
                go_bool("hostname_immutable", value).map_err(fail)?;
            }
            "anonymous" => anonymous = go_bool("anonymous", value).map_err(fail)?,
            "rate_limiter_capacity" => {
                // The client-side retry limiter of the AWS SDK: this plugin
                // does not retry (the host does), so there is nothing to limit.
                value
                    .parse::<i32>()
                    .map_err(|_| fail(format!("invalid value for capacity: {value:?}")))?;
            }
            "request_checksum_calculation" | "response_checksum_validation" => {
                if !matches!(value.to_ascii_lowercase().as_str(), "when_supported" | "when_required") {
                    return Err(fail(format!(
                        "invalid value for {param}: {value:?} (when_supported or when_required)"
                    )));
                }
            }
            "awssdk" => {}
            "fips" | "dualstack" => {
                if go_bool(&param, value).map_err(fail)? {
                    return Err(fail(format!(
                        "{param}=true is not supported by this build of plexus-pubsub (set endpoint instead)"
                    )));
                }
            }
            "profile" | "role" => {
                return Err(fail(format!(
                    "the {param} parameter (shared AWS config files, STS roles) is not supported by this \
                     build of plexus-pubsub: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                )))
            }
            other => return Err(fail(format!("unknown query parameter {other:?}"))),
        }
    }
    let region = region
        .filter(|r| !r.is_empty())
        .or_else(|| first(env, &["AWS_REGION", "AWS_DEFAULT_REGION"]))
        .ok_or_else(|| fail("no AWS region: add ?region=… or set AWS_REGION".into()))?;
    let service = target.service();
    let service_endpoint = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    let endpoint = endpoint
        .filter(|e| !e.is_empty())
        .or_else(|| first(env, &[&service_endpoint, "AWS_ENDPOINT_URL"]))
        .unwrap_or_else(|| {
            let domain = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{service}.{region}.{domain}/")
        });
    let endpoint = Url::parse(&endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            fail(format!(
                "endpoint {:?} is not an http(s) URL",
                crate::config::redact(&endpoint)
            ))
        })?;
    let credentials = if anonymous {
        None
    } else {
        match (
            first(env, &["AWS_ACCESS_KEY_ID"]),
            env("AWS_SECRET_ACCESS_KEY").filter(|v| !v.is_empty()),
        ) {
            (Some(access_key_id), Some(secret_access_key)) => Some(AwsCredentials {
                access_key_id,
                secret_access_key,
                session_token: first(env, &["AWS_SESSION_TOKEN"]),
            }),
            _ => {
                return Err(fail(
                    "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
                     AWS_SESSION_TOKEN for temporary ones), listed in the plugin's env_vars"
                        .into(),
                ))
            }
        }
    };
    Ok(AwsConfig {
        target,
        region,
        endpoint,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const KEYS: [(&str, &str); 2] = [
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "s3cret-key"),
    ];

    fn parse_url(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<AwsConfig, String> {
        match crate::config::parse(url, env)? {
            crate::config::Broker::Aws(c) => Ok(c),
            other => panic!("not AWS: {other:?}"),
        }
    }

    #[test]
    fn sns_and_sqs_urls() {
        let env = env_of(&KEYS);
        let c = parse_url(
            "awssns:///arn:aws:sns:us-east-2:123456789012:sftpgo-events?region=us-east-2",
            &env,
        )
        .unwrap();
        assert_eq!(
            c.target,
            AwsTarget::Sns {
                topic_arn: "arn:aws:sns:us-east-2:123456789012:sftpgo-events".into()
            }
        );
        assert_eq!(c.region, "us-east-2");
        assert_eq!(c.endpoint.as_str(), "https://sns.us-east-2.amazonaws.com/");
        assert!(!format!("{c:?}").contains("s3cret-key"));

        let c = parse_url(
            "awssqs://sqs.us-east-2.amazonaws.com/123456789012/q?region=us-east-2&endpoint=http://127.0.0.1:5000",
            &env,
        )
        .unwrap();
        assert_eq!(
            c.target,
            AwsTarget::Sqs {
                queue_url: "https://sqs.us-east-2.amazonaws.com/123456789012/q".into()
            }
        );
        assert_eq!(c.endpoint.as_str(), "http://127.0.0.1:5000/");

        // Region and endpoint from the environment.
        let env = env_of(&[
            KEYS[0],
            KEYS[1],
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_SQS", "http://localhost:4566"),
        ]);
        let c = parse_url("awssqs://sqs.eu-west-1.amazonaws.com/1/q", &env).unwrap();
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.endpoint.as_str(), "http://localhost:4566/");
    }

    #[test]
    fn parameters_as_go_cdk_reads_them() {
        let env = env_of(&KEYS);
        let base = "awssns:///arn:aws:sns:us-east-1:1:t?region=us-east-1";
        for ok in [
            "&hostname_immutable=true",
            "&rate_limiter_capacity=10",
            "&awssdk=v2",
            "&fips=false",
            "&request_checksum_calculation=when_required",
        ] {
            parse_url(&format!("{base}{ok}"), &env).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let err = parse_url(&format!("{base}&queue=x"), &env).unwrap_err();
        assert!(err.contains("unknown query parameter \"queue\""), "{err}");
        for unsupported in ["&profile=dev", "&role=arn:aws:iam::1:role/r", "&fips=true"] {
            let err = parse_url(&format!("{base}{unsupported}"), &env).unwrap_err();
            assert!(err.contains("not supported by this build"), "{err}");
        }
        assert!(parse_url(&format!("{base}&anonymous=maybe"), &env).is_err());
        let c = parse_url(&format!("{base}&anonymous=true"), &env_of(&[])).unwrap();
        assert_eq!(c.credentials, None);
    }

    #[test]
    fn clear_errors() {
        let env = env_of(&KEYS);
        assert!(parse_url("awssns:///not-an-arn?region=us-east-1", &env)
            .unwrap_err()
            .contains("not an SNS topic ARN"));
        assert!(parse_url("awssqs://?region=us-east-1", &env)
            .unwrap_err()
            .contains("no queue URL"));
        assert!(parse_url("awssns:///arn:aws:sns:us-east-1:1:t", &env)
            .unwrap_err()
            .contains("no AWS region"));
        let err = parse_url(
            "awssns:///arn:aws:sns:us-east-1:1:t?region=us-east-1",
            &env_of(&[("AWS_ACCESS_KEY_ID", "AKID")]),
        )
        .unwrap_err();
        assert!(err.contains("no AWS credentials"), "{err}");
    }
}
