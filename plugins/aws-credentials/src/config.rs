//! The AWS settings a plugin starts from, loaded as Go CDK v0.46
//! (`gocloud.dev/aws.V2ConfigFromURLParams`) over aws-sdk-go-v2's
//! `config.LoadDefaultConfig` loads them from a URL's parameters, the
//! environment and the shared files:
//!
//! - profile: the URL's `profile`, else `AWS_PROFILE`, else
//!   `AWS_DEFAULT_PROFILE`, else `default`; a profile named by the URL or
//!   by `AWS_PROFILE` must exist, `default` need not;
//! - region: the URL's `region`, else `AWS_REGION`, else
//!   `AWS_DEFAULT_REGION`, else the profile's `region`;
//! - endpoints: [`crate::endpoint`];
//! - credentials: [`crate::chain`], then, with the URL's `role` (an ARN),
//!   STS `AssumeRole` of that role with those credentials, in that region,
//!   as Go CDK does (session name generated, 15 minutes).
//!
//! Loading reads files and nothing else; credentials are fetched by the
//! [`CredentialsProvider`].

use std::sync::Arc;

use crate::chain::{Chain, DEFAULT_ROLE_SECONDS};
use crate::endpoint;
use crate::env::Env;
use crate::error::Error;
use crate::http::Clients;
use crate::provider::CredentialsProvider;
use crate::shared_config::{Profile, SharedConfig};
use crate::source::Source;
use crate::sts;

/// What a URL's parameters set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Go CDK's `profile`.
    pub profile: Option<String>,
    /// Go CDK's `region`.
    pub region: Option<String>,
    /// Go CDK's `role`: an IAM role ARN to assume.
    pub role_arn: Option<String>,
}

/// The settings, loaded.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    env: Env,
    shared: Arc<SharedConfig>,
    profile_name: String,
    /// Where the profile name came from, for messages.
    profile_origin: &'static str,
    profile: Option<Profile>,
    region: Option<String>,
    role_arn: Option<String>,
}

impl AwsConfig {
    /// Reads the shared files named by `env` and applies `options`.
    pub fn load(env: &Env, options: &Options) -> Result<AwsConfig, Error> {
        let (profile_name, profile_origin) =
            match options.profile.as_deref().filter(|p| !p.is_empty()) {
                Some(name) => (name.to_owned(), "the URL's profile parameter"),
                None => match env.first(&["AWS_PROFILE", "AWS_DEFAULT_PROFILE"]) {
                    Some(("AWS_PROFILE", name)) => (name.to_owned(), "AWS_PROFILE"),
                    Some((_, name)) => (name.to_owned(), "AWS_DEFAULT_PROFILE"),
                    None => ("default".to_owned(), "default"),
                },
            };
        if let Some(role) = &options.role_arn {
            if !role.starts_with("arn:") {
                return Err(Error::config(format!(
                    "invalid value for role: must be a valid ARN (starts with 'arn:'): {role}"
                )));
            }
        }
        let shared = SharedConfig::load(env);
        let profile = shared.profile(&profile_name).cloned();
        let strict = matches!(
            profile_origin,
            "the URL's profile parameter" | "AWS_PROFILE"
        );
        if profile.is_none() && strict {
            return Err(Error::config(format!(
                "profile {profile_name:?} ({profile_origin}) is not in {}",
                shared.describe_files()
            )));
        }
        let region = options
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| {
                env.first(&["AWS_REGION", "AWS_DEFAULT_REGION"])
                    .map(|(_, r)| r.to_owned())
            })
            .or_else(|| {
                profile
                    .as_ref()
                    .and_then(|p| p.get("region"))
                    .map(str::to_owned)
            });
        Ok(AwsConfig {
            env: env.clone(),
            shared: Arc::new(shared),
            profile_name,
            profile_origin,
            profile,
            region,
            role_arn: options.role_arn.clone(),
        })
    }

    /// The region, if any source set one.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The selected profile's name (whether or not it exists).
    pub fn profile_name(&self) -> &str {
        &self.profile_name
    }

    /// The configured endpoint of a service (SDK service id: `SQS`,
    /// `SNS`, `KMS`), if any; callers fall back to
    /// [`endpoint::default_url`].
    pub fn endpoint(&self, service_id: &str) -> Option<String> {
        endpoint::configured(&self.env, &self.shared, self.profile.as_ref(), service_id)
    }

    /// Decides the credential source (no network).
    pub(crate) fn source(&self) -> Result<Source, Error> {
        let chain = Chain {
            env: &self.env,
            shared: &self.shared,
            profile_name: &self.profile_name,
            profile: self.profile.as_ref(),
            explicit_profile: self.profile_origin == "the URL's profile parameter",
            region: self.region(),
        };
        let base = chain.resolve()?;
        let Some(role_arn) = &self.role_arn else {
            return Ok(base);
        };
        let what = format!("the URL's role {role_arn}");
        let region = self.region().ok_or_else(|| {
            Error::config(format!(
                "{what}: STS needs an AWS region: add region= to the URL or set AWS_REGION"
            ))
        })?;
        let url = self
            .endpoint("STS")
            .unwrap_or_else(|| endpoint::default_url("sts", region));
        Ok(Source::AssumeRole {
            base: Box::new(base),
            request: sts::AssumeRole {
                role_arn: role_arn.clone(),
                session_name: None,
                external_id: None,
                duration_seconds: DEFAULT_ROLE_SECONDS,
            },
            endpoint: sts::Endpoint {
                url,
                region: region.to_owned(),
            },
            origin: what,
        })
    }

    /// A provider of these settings' credentials; fails when the
    /// configuration cannot give any (nothing is fetched yet).
    pub fn credentials_provider(&self) -> Result<CredentialsProvider, Error> {
        Ok(CredentialsProvider::new(self.source()?, Clients::new()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "[default]\nregion = from-profile\n").unwrap();
        let file = path.to_str().unwrap();
        let load = |pairs: &[(&str, &str)], region: Option<&str>| {
            let mut all = vec![("AWS_CONFIG_FILE", file)];
            all.extend_from_slice(pairs);
            AwsConfig::load(
                &Env::from_pairs(&all),
                &Options {
                    region: region.map(str::to_owned),
                    ..Options::default()
                },
            )
            .unwrap()
            .region()
            .map(str::to_owned)
        };
        assert_eq!(load(&[], None).as_deref(), Some("from-profile"));
        assert_eq!(
            load(&[("AWS_DEFAULT_REGION", "default-env")], None).as_deref(),
            Some("default-env")
        );
        assert_eq!(
            load(
                &[("AWS_DEFAULT_REGION", "default-env"), ("AWS_REGION", "env")],
                None
            )
            .as_deref(),
            Some("env")
        );
        assert_eq!(
            load(&[("AWS_REGION", "env")], Some("url")).as_deref(),
            Some("url")
        );
    }

    #[test]
    fn role_must_be_an_arn() {
        let err = AwsConfig::load(
            &Env::default(),
            &Options {
                role_arn: Some("my-role".into()),
                ..Options::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "invalid value for role: must be a valid ARN (starts with 'arn:'): my-role"
        );
    }
}
