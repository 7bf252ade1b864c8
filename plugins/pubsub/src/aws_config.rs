//! `awssns://` and `awssqs://` topic URLs and the AWS settings, as Go CDK
//! v0.46 reads them (`gocloud.dev/aws.V2ConfigFromURLParams`).
//!
//! - SNS: `awssns:///arn:aws:sns:REGION:ACCOUNT:TOPIC` (host + path, the
//!   leading `/` trimmed, is the topic ARN).
//! - SQS: `awssqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE` (`https://` +
//!   host + path is the queue URL).
//! - Query parameters: `region`, `endpoint`, `profile`, `role`,
//!   `hostname_immutable`, `anonymous`, `rate_limiter_capacity`,
//!   `request_checksum_calculation`, `response_checksum_validation` and
//!   `awssdk` are read as Go CDK reads them. A true `fips` or `dualstack`
//!   is refused as not supported by this build; any other parameter is
//!   refused, as Go CDK refuses it.
//! - Profile, region, endpoint and credentials: plexus-aws-credentials,
//!   which reads them as Go CDK over aws-sdk-go-v2 does. Region: `region`,
//!   else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's.
//!   Endpoint: `endpoint`, else `AWS_ENDPOINT_URL_SNS` / `_SQS`, else
//!   `AWS_ENDPOINT_URL`, else the profile's `services` / `endpoint_url`,
//!   else the service's regional endpoint. Credentials: the SDK's default
//!   chain (environment, shared files and their roles, web identity,
//!   `credential_process`, container, instance metadata), then the
//!   `role` parameter's role assumed with them; `anonymous=true` sends
//!   unsigned requests.

use crate::config::parse_bool;
use plexus_aws_credentials::{AwsConfig as Settings, CredentialsProvider, Env, Options};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub target: AwsTarget,
    pub region: String,
    pub endpoint: Url,
    /// `None` with `anonymous=true`: requests are not signed.
    pub credentials: Option<CredentialsProvider>,
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
    let mut options = Options::default();
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
            "region" => options.region = Some(value.to_owned()),
            "profile" => options.profile = Some(value.to_owned()),
            "role" => options.role_arn = Some(value.to_owned()),
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
                if !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "when_supported" | "when_required"
                ) {
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
            other => return Err(fail(format!("unknown query parameter {other:?}"))),
        }
    }
    if anonymous && options.role_arn.is_some() {
        return Err(fail(
            "anonymous=true and role contradict each other: the role is assumed to sign requests"
                .into(),
        ));
    }
    let service = target.service();
    let env = Env::capture(env, &[&service.to_ascii_uppercase()]);
    let settings = Settings::load(&env, &options).map_err(|err| fail(err.to_string()))?;
    let region = settings.region().map(str::to_owned).ok_or_else(|| {
        fail(format!(
            "no AWS region: add ?region=…, set AWS_REGION, or set region in profile {:?}",
            settings.profile_name()
        ))
    })?;
    let endpoint = endpoint
        .filter(|e| !e.is_empty())
        .or_else(|| settings.endpoint(&service.to_ascii_uppercase()))
        .unwrap_or_else(|| plexus_aws_credentials::endpoint::default_url(service, &region));
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
        Some(
            settings
                .credentials_provider()
                .map_err(|err| fail(format!("AWS credentials: {err}")))?,
        )
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
        for unsupported in ["&fips=true", "&dualstack=1"] {
            let err = parse_url(&format!("{base}{unsupported}"), &env).unwrap_err();
            assert!(err.contains("not supported by this build"), "{err}");
        }
        // profile and role are read: a profile that does not exist, a
        // role that is not an ARN, and a role without credentials to
        // sign with are errors.
        let err = parse_url(&format!("{base}&profile=dev"), &env).unwrap_err();
        assert!(
            err.contains("profile \"dev\" (the URL's profile parameter) is not in"),
            "{err}"
        );
        let err = parse_url(&format!("{base}&role=my-role"), &env).unwrap_err();
        assert!(err.contains("must be a valid ARN"), "{err}");
        let c = parse_url(&format!("{base}&role=arn:aws:iam::1:role/r"), &env).unwrap();
        assert_eq!(
            c.credentials.unwrap().describe(),
            "role arn:aws:iam::1:role/r assumed with environment (the URL's role arn:aws:iam::1:role/r)"
        );
        let err = parse_url(
            &format!("{base}&role=arn:aws:iam::1:role/r&anonymous=true"),
            &env,
        )
        .unwrap_err();
        assert!(err.contains("contradict"), "{err}");
        assert!(parse_url(&format!("{base}&anonymous=maybe"), &env).is_err());
        let c = parse_url(&format!("{base}&anonymous=true"), &env_of(&[])).unwrap();
        assert!(c.credentials.is_none());
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
            &env_of(&[
                ("AWS_ACCESS_KEY_ID", "AKID"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.contains(
                "AWS credentials: no AWS credentials found; tried: the environment \
                 (AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY)"
            ),
            "{err}"
        );
    }
}
