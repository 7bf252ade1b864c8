//! Which source gives the credentials, decided as aws-sdk-go-v2's
//! `config/resolve_credentials.go` (with `shared_config.go`'s profile
//! linking) decides it:
//!
//! 1. with a profile named by the caller (Go CDK's `profile` URL
//!    parameter), that profile, whatever the environment holds;
//! 2. else `AWS_ACCESS_KEY_ID` (or `AWS_ACCESS_KEY`) with
//!    `AWS_SECRET_ACCESS_KEY` (or `AWS_SECRET_KEY`) and
//!    `AWS_SESSION_TOKEN`;
//! 3. else `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (and
//!    `AWS_ROLE_SESSION_NAME`): STS `AssumeRoleWithWebIdentity`;
//! 4. else the profile (`AWS_PROFILE`, `AWS_DEFAULT_PROFILE`, `default`),
//!    in this order: `source_profile` (its credentials, recursively),
//!    the profile's own keys, `credential_source` (`Environment`,
//!    `Ec2InstanceMetadata`, `EcsContainer`), `web_identity_token_file`,
//!    SSO (refused: not supported by this build), `login_session`
//!    (refused), `credential_process`, then the container endpoint
//!    (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, then `_FULL_URI`), then
//!    the EC2 instance metadata service;
//! 5. a profile with `role_arn` assumes that role (STS `AssumeRole`) with
//!    what the steps above gave (`web_identity_token_file` uses the role
//!    itself).
//!
//! Profiles are checked as the SDK checks them: `source_profile`,
//! `credential_source` and `web_identity_token_file` need `role_arn`; at
//! most one of `source_profile`, `credential_source`,
//! `credential_process` and `web_identity_token_file`; a source profile
//! with its own keys stops there (its `role_arn` still applies); a
//! profile met a second time is used for its own credentials only, which
//! is how a profile may name itself as `source_profile`. A chain that
//! comes back to a profile without credentials of its own is a cycle, and
//! an error naming every profile in it.

use std::path::PathBuf;

use crate::container::Container;
use crate::credentials::Credentials;
use crate::endpoint;
use crate::env::Env;
use crate::error::Error;
use crate::imds::Imds;
use crate::shared_config::{Profile, SharedConfig};
use crate::source::Source;
use crate::sts;

/// The SDK's default `AssumeRole` duration, in seconds.
pub const DEFAULT_ROLE_SECONDS: u32 = 900;

/// Everything the decision depends on.
pub struct Chain<'a> {
    pub env: &'a Env,
    pub shared: &'a SharedConfig,
    /// The selected profile's name and, when it exists, the profile.
    pub profile_name: &'a str,
    pub profile: Option<&'a Profile>,
    /// Whether the caller named the profile (Go CDK's `profile=`).
    pub explicit_profile: bool,
    /// The resolved region, for STS.
    pub region: Option<&'a str>,
}

/// The environment's static keys, if complete.
pub fn env_keys(env: &Env) -> Option<Credentials> {
    let (_, id) = env.first(&["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"])?;
    let (_, secret) = env.first(&["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"])?;
    Some(Credentials::new(
        id,
        secret,
        env.get("AWS_SESSION_TOKEN").map(str::to_owned),
        "environment",
    ))
}

fn env_keys_state(env: &Env) -> &'static str {
    let id = env
        .first(&["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"])
        .is_some();
    let secret = env
        .first(&["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"])
        .is_some();
    match (id, secret) {
        (true, false) => "AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY",
        (false, true) => "AWS_SECRET_ACCESS_KEY set without AWS_ACCESS_KEY_ID",
        _ => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set",
    }
}

fn has_sso(profile: &Profile) -> bool {
    [
        "sso_session",
        "sso_start_url",
        "sso_region",
        "sso_account_id",
        "sso_role_name",
    ]
    .iter()
    .any(|key| profile.get(key).is_some())
}

/// Whether a profile can give credentials by itself (the SDK's
/// `hasCredentials`).
fn has_credentials(profile: &Profile, revisit: bool) -> bool {
    (!revisit && profile.get("source_profile").is_some())
        || profile.get("credential_source").is_some()
        || profile.get("credential_process").is_some()
        || profile.get("web_identity_token_file").is_some()
        || has_sso(profile)
        || profile.static_keys().is_some()
}

impl Chain<'_> {
    fn quoted(name: &str) -> String {
        format!("profile {name:?}")
    }

    /// The credential source, or why there is none.
    pub fn resolve(&self) -> Result<Source, Error> {
        if self.explicit_profile {
            return self.top_profile(Vec::new());
        }
        if let Some(credentials) = env_keys(self.env) {
            return Ok(Source::Static(credentials));
        }
        if let Some(token_file) = self.env.get("AWS_WEB_IDENTITY_TOKEN_FILE") {
            let role_arn = self.env.get("AWS_ROLE_ARN").ok_or_else(|| {
                Error::config(
                    "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: the web identity \
                     token is exchanged for that role's credentials",
                )
            })?;
            return Ok(Source::WebIdentity {
                request: sts::WebIdentity {
                    role_arn: role_arn.to_owned(),
                    session_name: self.env.get("AWS_ROLE_SESSION_NAME").map(str::to_owned),
                    token_file: PathBuf::from(token_file),
                },
                endpoint: self.sts_endpoint(&format!(
                    "assuming role {role_arn} (AWS_ROLE_ARN) with AWS_WEB_IDENTITY_TOKEN_FILE"
                ))?,
            });
        }
        self.top_profile(vec![format!(
            "the environment ({})",
            env_keys_state(self.env)
        )])
    }

    fn top_profile(&self, tried: Vec<String>) -> Result<Source, Error> {
        match self.profile {
            Some(_) => self.profile_source(self.profile_name, &mut Vec::new(), tried),
            None => {
                let mut tried = tried;
                tried.push(format!(
                    "{} in {} (no such profile)",
                    Self::quoted(self.profile_name),
                    self.shared.describe_files()
                ));
                self.fallback(tried)
            }
        }
    }

    /// The STS endpoint for an `AssumeRole*` call.
    fn sts_endpoint(&self, what: &str) -> Result<sts::Endpoint, Error> {
        let region = self.region.ok_or_else(|| {
            Error::config(format!(
                "{what}: STS needs an AWS region: set region in {}, AWS_REGION, or the URL's \
                 region parameter",
                Self::quoted(self.profile_name)
            ))
        })?;
        let url = endpoint::configured(self.env, self.shared, self.profile, "STS")
            .unwrap_or_else(|| endpoint::default_url("sts", region));
        let parsed = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if parsed.is_none() {
            return Err(Error::config(format!(
                "{what}: the STS endpoint {url:?} is not an http(s) URL"
            )));
        }
        Ok(sts::Endpoint {
            url,
            region: region.to_owned(),
        })
    }

    /// Container credentials, else instance metadata, else nothing.
    fn fallback(&self, mut tried: Vec<String>) -> Result<Source, Error> {
        if let Some(container) = Container::from_env(self.env)? {
            return Ok(Source::Container(container));
        }
        tried.push(
            "container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and \
             AWS_CONTAINER_CREDENTIALS_FULL_URI not set)"
                .to_owned(),
        );
        match Imds::from_env(self.env, self.profile)? {
            Some(imds) => Ok(Source::Imds { imds, tried }),
            None => {
                tried.push(
                    "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".to_owned(),
                );
                Err(Error::config(format!(
                    "no AWS credentials found; tried: {}",
                    tried.join("; ")
                )))
            }
        }
    }

    /// The source of profile `name`; `visited` holds the profiles that
    /// named it, top first.
    fn profile_source(
        &self,
        name: &str,
        visited: &mut Vec<String>,
        tried: Vec<String>,
    ) -> Result<Source, Error> {
        let top = visited.is_empty();
        let profile = match self.shared.profile(name) {
            Some(profile) => profile,
            None => {
                let parent = visited
                    .last()
                    .map(String::as_str)
                    .unwrap_or(self.profile_name);
                return Err(Error::config(format!(
                    "{}: its source_profile {name:?} is not in {}",
                    Self::quoted(parent),
                    self.shared.describe_files()
                )));
            }
        };
        let label = Self::quoted(name);
        let revisit = visited.iter().any(|v| v == name);
        visited.push(name.to_owned());
        if let Some(file) = profile.partial_keys() {
            return Err(Error::config(format!(
                "{label} in {} has one of aws_access_key_id and aws_secret_access_key without the \
                 other",
                file.display()
            )));
        }
        if !top && !has_credentials(profile, revisit) {
            let parent = &visited[visited.len() - 2];
            return Err(Error::config(if revisit {
                format!(
                    "source_profile cycle: {} (profile {name:?} has no credentials of its own to \
                     end it)",
                    visited
                        .iter()
                        .map(|v| format!("{v:?}"))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                )
            } else {
                format!(
                    "{label}, the source_profile of profile {parent:?}, has no credentials \
                     (aws_access_key_id and aws_secret_access_key, credential_process, \
                     credential_source, web_identity_token_file or a source_profile of its own)"
                )
            }));
        }
        let role_arn = if revisit {
            None
        } else {
            profile.get("role_arn")
        };
        let source_profile = if revisit {
            None
        } else {
            profile.get("source_profile")
        };
        if !revisit && role_arn.is_none() {
            for key in [
                "source_profile",
                "credential_source",
                "web_identity_token_file",
            ] {
                if profile.get(key).is_some() {
                    return Err(Error::config(format!("{label}: {key} needs role_arn")));
                }
            }
        }
        if let (Some(role_arn), Some(_)) = (role_arn, profile.get("mfa_serial")) {
            return Err(Error::config(format!(
                "{label}: mfa_serial is not supported: assuming role {role_arn} would need an MFA \
                 code typed at each refresh, which a plugin cannot ask for"
            )));
        }
        let base = if let (false, Some((id, secret, token))) = (top, profile.static_keys()) {
            Source::Static(self.profile_keys(profile, id, secret, token))
        } else {
            let kinds: Vec<&str> = [
                ("source_profile", source_profile.is_some()),
                (
                    "credential_source",
                    profile.get("credential_source").is_some(),
                ),
                (
                    "credential_process",
                    profile.get("credential_process").is_some(),
                ),
                (
                    "web_identity_token_file",
                    profile.get("web_identity_token_file").is_some(),
                ),
            ]
            .iter()
            .filter(|(_, set)| *set)
            .map(|(key, _)| *key)
            .collect();
            if kinds.len() > 1 {
                return Err(Error::config(format!(
                    "{label}: only one credential type may be set, not {}",
                    kinds.join(" and ")
                )));
            }
            if let Some(source) = source_profile {
                self.profile_source(source, visited, Vec::new())?
            } else if let Some((id, secret, token)) = profile.static_keys() {
                Source::Static(self.profile_keys(profile, id, secret, token))
            } else if let Some(kind) = profile.get("credential_source") {
                self.credential_source(&label, kind)?
            } else if let Some(token_file) = profile.get("web_identity_token_file") {
                let role_arn = role_arn.unwrap_or_default();
                return Ok(Source::WebIdentity {
                    request: sts::WebIdentity {
                        role_arn: role_arn.to_owned(),
                        session_name: profile.get("role_session_name").map(str::to_owned),
                        token_file: PathBuf::from(token_file),
                    },
                    endpoint: self.sts_endpoint(&format!(
                        "{label}: assuming role {role_arn} with web_identity_token_file"
                    ))?,
                });
            } else if has_sso(profile) {
                return Err(Error::config(format!(
                    "{label} uses AWS IAM Identity Center (SSO: sso_session, sso_start_url, ...), \
                     which is not supported by this build: give the profile credential_process \
                     (a helper printing the role's credentials), keys, or a role to assume"
                )));
            } else if profile.get("login_session").is_some() {
                return Err(Error::config(format!(
                    "{label} uses login_session (aws login), which is not supported by this build"
                )));
            } else if let Some(command) = profile.get("credential_process") {
                Source::Process {
                    command: command.to_owned(),
                    profile: name.to_owned(),
                }
            } else {
                let mut tried = tried;
                tried.push(format!(
                    "{label} in {} (no credentials in it)",
                    self.shared.describe_files()
                ));
                self.fallback(tried)?
            }
        };
        match role_arn {
            None => Ok(base),
            Some(role_arn) => self.assume_role(profile, &label, role_arn, base),
        }
    }

    fn profile_keys(
        &self,
        profile: &Profile,
        id: &str,
        secret: &str,
        token: Option<&str>,
    ) -> Credentials {
        let file = profile
            .keys_file()
            .map(|f| format!(" in {}", f.display()))
            .unwrap_or_default();
        Credentials::new(
            id,
            secret,
            token.map(str::to_owned),
            format!("{}{file}", Self::quoted(&profile.name)),
        )
    }

    fn credential_source(&self, label: &str, kind: &str) -> Result<Source, Error> {
        match kind {
            "Environment" => env_keys(self.env).map(Source::Static).ok_or_else(|| {
                Error::config(format!(
                    "{label}: credential_source = Environment, but {}",
                    env_keys_state(self.env)
                ))
            }),
            "Ec2InstanceMetadata" => match Imds::from_env(self.env, self.profile)? {
                Some(imds) => Ok(Source::Imds {
                    imds,
                    tried: Vec::new(),
                }),
                None => Err(Error::config(format!(
                    "{label}: credential_source = Ec2InstanceMetadata, but AWS_EC2_METADATA_DISABLED \
                     is true"
                ))),
            },
            "EcsContainer" => match Container::from_env(self.env)? {
                Some(container) => Ok(Source::Container(container)),
                None => Err(Error::config(format!(
                    "{label}: credential_source = EcsContainer, but neither \
                     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI \
                     is set"
                ))),
            },
            other => Err(Error::config(format!(
                "{label}: credential_source must be EcsContainer, Ec2InstanceMetadata or \
                 Environment, not {other:?}"
            ))),
        }
    }

    fn assume_role(
        &self,
        profile: &Profile,
        label: &str,
        role_arn: &str,
        base: Source,
    ) -> Result<Source, Error> {
        let duration_seconds = match profile.get("duration_seconds") {
            None => DEFAULT_ROLE_SECONDS,
            Some(text) => match text.trim().parse::<u32>() {
                // As the SDK: only a duration over 15 minutes replaces the default.
                Ok(seconds) if seconds / 60 > 15 => seconds,
                Ok(_) => DEFAULT_ROLE_SECONDS,
                Err(_) => {
                    tracing::warn!(
                        profile = %profile.name,
                        "duration_seconds {text:?} is not a number of seconds; using {DEFAULT_ROLE_SECONDS}"
                    );
                    DEFAULT_ROLE_SECONDS
                }
            },
        };
        Ok(Source::AssumeRole {
            base: Box::new(base),
            request: sts::AssumeRole {
                role_arn: role_arn.to_owned(),
                session_name: profile.get("role_session_name").map(str::to_owned),
                external_id: profile.get("external_id").map(str::to_owned),
                duration_seconds,
            },
            endpoint: self.sts_endpoint(&format!("{label}: assuming role {role_arn}"))?,
            origin: label.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{AwsConfig, Options};
    use crate::env::Env;
    use crate::error::Error;
    use crate::source::Source;

    /// Temp config and credentials files, and an environment naming them
    /// (with instance metadata off: unit tests never leave the host).
    struct Files {
        _dir: tempfile::TempDir,
        config: String,
        credentials: String,
    }

    fn files(config: &str, credentials: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config");
        let credentials_path = dir.path().join("credentials");
        std::fs::write(&config_path, config).unwrap();
        std::fs::write(&credentials_path, credentials).unwrap();
        Files {
            config: config_path.to_str().unwrap().to_owned(),
            credentials: credentials_path.to_str().unwrap().to_owned(),
            _dir: dir,
        }
    }

    fn source(f: &Files, extra: &[(&str, &str)], profile: Option<&str>) -> Result<Source, Error> {
        let mut pairs = vec![
            ("AWS_CONFIG_FILE", f.config.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", f.credentials.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_REGION", "us-east-1"),
        ];
        pairs.extend_from_slice(extra);
        let options = Options {
            profile: profile.map(str::to_owned),
            ..Options::default()
        };
        AwsConfig::load(&Env::from_pairs(&pairs), &options)?.source()
    }

    fn static_key(source: &Source) -> &str {
        match source {
            Source::Static(c) => c.access_key_id(),
            other => panic!("not static: {other:?}"),
        }
    }

    #[test]
    fn environment_keys_first_unless_the_url_names_a_profile() {
        let f = files(
            "",
            "[dev]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = s\n",
        );
        let env = [
            ("AWS_ACCESS_KEY", "ENVKEY"),
            ("AWS_SECRET_KEY", "env-secret"),
            ("AWS_PROFILE", "dev"),
        ];
        assert_eq!(
            static_key(&source(&f, &env, None).unwrap()),
            "ENVKEY",
            "aliases read"
        );
        assert_eq!(
            static_key(&source(&f, &env, Some("dev")).unwrap()),
            "PROFILEKEY"
        );
        assert_eq!(
            static_key(&source(&f, &[("AWS_PROFILE", "dev")], None).unwrap()),
            "PROFILEKEY"
        );
    }

    #[test]
    fn source_profile_chains_and_self_reference() {
        let f = files(
            "[profile writer]\nrole_arn = arn:aws:iam::1:role/writer\nsource_profile = middle\n\
             role_session_name = s\nexternal_id = e\nduration_seconds = 3600\n\
             [profile middle]\nrole_arn = arn:aws:iam::1:role/middle\nsource_profile = base\n\
             [profile self]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = self\n",
            "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = s\n\
             [self]\naws_access_key_id = SELFKEY\naws_secret_access_key = s\n",
        );
        let Source::AssumeRole {
            base,
            request,
            endpoint,
            ..
        } = source(&f, &[], Some("writer")).unwrap()
        else {
            panic!("not a role");
        };
        assert_eq!(request.role_arn, "arn:aws:iam::1:role/writer");
        assert_eq!(request.session_name.as_deref(), Some("s"));
        assert_eq!(request.external_id.as_deref(), Some("e"));
        assert_eq!(request.duration_seconds, 3600);
        assert_eq!(endpoint.url, "https://sts.us-east-1.amazonaws.com/");
        let Source::AssumeRole { base, request, .. } = *base else {
            panic!("middle is not a role");
        };
        assert_eq!(request.role_arn, "arn:aws:iam::1:role/middle");
        assert_eq!(request.duration_seconds, 900);
        assert_eq!(static_key(&base), "BASEKEY");

        let Source::AssumeRole { base, request, .. } = source(&f, &[], Some("self")).unwrap()
        else {
            panic!("not a role");
        };
        assert_eq!(request.role_arn, "arn:aws:iam::1:role/self");
        assert_eq!(static_key(&base), "SELFKEY");
    }

    #[test]
    fn source_profile_cycle() {
        let f = files(
            "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n\
             [profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = c\n\
             [profile c]\nrole_arn = arn:aws:iam::1:role/c\nsource_profile = a\n",
            "",
        );
        assert_eq!(
            source(&f, &[], Some("a")).unwrap_err(),
            Error::Config(
                "source_profile cycle: \"a\" -> \"b\" -> \"c\" -> \"a\" (profile \"a\" has no \
                 credentials of its own to end it)"
                    .into()
            )
        );
    }

    #[test]
    fn unknown_profiles() {
        let f = files(
            "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = gone\n",
            "",
        );
        let err = source(&f, &[], Some("nope")).unwrap_err();
        assert_eq!(
            err.message(),
            format!(
                "profile \"nope\" (the URL's profile parameter) is not in {} and {}",
                f.config, f.credentials
            )
        );
        let err = source(&f, &[("AWS_PROFILE", "nope")], None).unwrap_err();
        assert!(err.message().contains("(AWS_PROFILE) is not in"), "{err}");
        let err = source(&f, &[], Some("a")).unwrap_err();
        assert_eq!(
            err.message(),
            format!(
                "profile \"a\": its source_profile \"gone\" is not in {} and {}",
                f.config, f.credentials
            )
        );
        // AWS_DEFAULT_PROFILE and `default` need not exist.
        let err = source(&f, &[("AWS_DEFAULT_PROFILE", "nope")], None).unwrap_err();
        assert!(
            err.message()
                .starts_with("no AWS credentials found; tried: the environment"),
            "{err}"
        );
    }

    #[test]
    fn profile_without_credentials() {
        let f = files(
            "[profile empty]\nregion = eu-west-1\n\
             [profile top]\nrole_arn = arn:aws:iam::1:role/t\nsource_profile = empty\n",
            "",
        );
        let err = source(&f, &[("AWS_ACCESS_KEY_ID", "HALF")], Some("empty")).unwrap_err();
        assert_eq!(
            err,
            Error::Config(format!(
                "no AWS credentials found; tried: profile \"empty\" in {} and {} (no credentials \
                 in it); container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and \
                 AWS_CONTAINER_CREDENTIALS_FULL_URI not set); EC2 instance metadata (disabled by \
                 AWS_EC2_METADATA_DISABLED)",
                f.config, f.credentials
            ))
        );
        let err = source(&f, &[("AWS_ACCESS_KEY_ID", "HALF")], None).unwrap_err();
        assert!(
            err.message().starts_with(
                "no AWS credentials found; tried: the environment (AWS_ACCESS_KEY_ID set without \
                 AWS_SECRET_ACCESS_KEY); profile \"default\""
            ),
            "{err}"
        );
        let err = source(&f, &[], Some("top")).unwrap_err();
        assert_eq!(
            err.message(),
            "profile \"empty\", the source_profile of profile \"top\", has no credentials \
             (aws_access_key_id and aws_secret_access_key, credential_process, credential_source, \
             web_identity_token_file or a source_profile of its own)"
        );
    }

    #[test]
    fn profile_checks() {
        let f = files(
            "[profile norole]\nsource_profile = x\n\
             [profile two]\nrole_arn = arn:r\ncredential_source = Environment\ncredential_process = p\n\
             [profile half]\naws_access_key_id = K\n\
             [profile sso]\nsso_session = corp\nsso_account_id = 1\n\
             [profile mfa]\nrole_arn = arn:r\ncredential_source = Environment\nmfa_serial = arn:mfa\n\
             [profile badsource]\nrole_arn = arn:r\ncredential_source = Laptop\n\
             [profile envsource]\nrole_arn = arn:r\ncredential_source = Environment\n",
            "",
        );
        let message = |profile: &str| source(&f, &[], Some(profile)).unwrap_err().to_string();
        assert_eq!(
            message("norole"),
            "profile \"norole\": source_profile needs role_arn"
        );
        assert_eq!(
            message("two"),
            "profile \"two\": only one credential type may be set, not credential_source and \
             credential_process"
        );
        assert_eq!(
            message("half"),
            format!(
                "profile \"half\" in {} has one of aws_access_key_id and aws_secret_access_key \
                 without the other",
                f.config
            )
        );
        assert!(message("sso").contains("not supported by this build"));
        assert!(message("sso").starts_with("profile \"sso\" uses AWS IAM Identity Center"));
        assert!(message("mfa").starts_with("profile \"mfa\": mfa_serial is not supported"));
        assert!(message("badsource").contains("not \"Laptop\""));
        assert_eq!(
            message("envsource"),
            "profile \"envsource\": credential_source = Environment, but AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY not set"
        );
        let with_env = source(
            &f,
            &[
                ("AWS_ACCESS_KEY_ID", "ENVKEY"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
            Some("envsource"),
        )
        .unwrap();
        let Source::AssumeRole { base, .. } = with_env else {
            panic!("not a role");
        };
        assert_eq!(static_key(&base), "ENVKEY");
    }

    #[test]
    fn web_identity_and_fallbacks() {
        let f = files(
            "[profile web]\nrole_arn = arn:aws:iam::1:role/w\nweb_identity_token_file = /t\n\
             [profile proc]\ncredential_process = /bin/creds --x\n",
            "",
        );
        let env_web = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/env"),
            ("AWS_ROLE_SESSION_NAME", "sess"),
        ];
        let Source::WebIdentity { request, .. } = source(&f, &env_web, None).unwrap() else {
            panic!("not web identity");
        };
        assert_eq!(request.role_arn, "arn:aws:iam::1:role/env");
        assert_eq!(request.session_name.as_deref(), Some("sess"));
        let err = source(&f, &env_web[..1], None).unwrap_err();
        assert!(err.message().contains("AWS_ROLE_ARN is not"), "{err}");
        let Source::WebIdentity { request, .. } = source(&f, &[], Some("web")).unwrap() else {
            panic!("not web identity");
        };
        assert_eq!(request.token_file.to_str(), Some("/t"));
        assert!(matches!(
            source(&f, &[], Some("proc")).unwrap(),
            Source::Process { ref command, .. } if command == "/bin/creds --x"
        ));
        let container = source(
            &f,
            &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/c")],
            None,
        )
        .unwrap();
        assert!(matches!(container, Source::Container(_)));
    }

    #[test]
    fn role_parameter_wraps_the_chain() {
        let f = files("", "");
        let env = Env::from_pairs(&[
            ("AWS_CONFIG_FILE", f.config.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", f.credentials.as_str()),
            ("AWS_ACCESS_KEY_ID", "ENVKEY"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"),
        ]);
        let options = Options {
            role_arn: Some("arn:aws:iam::1:role/r".into()),
            region: Some("eu-west-3".into()),
            ..Options::default()
        };
        let Source::AssumeRole {
            base,
            request,
            endpoint,
            ..
        } = AwsConfig::load(&env, &options).unwrap().source().unwrap()
        else {
            panic!("not a role");
        };
        assert_eq!(static_key(&base), "ENVKEY");
        assert_eq!(request.duration_seconds, 900);
        assert_eq!(request.session_name, None);
        assert_eq!(endpoint.url, "http://127.0.0.1:1");
        assert_eq!(endpoint.region, "eu-west-3");
        let options = Options {
            region: None,
            ..options
        };
        let err = AwsConfig::load(&env, &options)
            .unwrap()
            .source()
            .unwrap_err();
        assert!(err.message().contains("STS needs an AWS region"), "{err}");
    }
}
