//! `plexus-aws-credentials`: the AWS SDK's default credential chain for
//! the Plexus plugins that call AWS without the AWS SDK (plexus-pubsub for
//! SNS and SQS, plexus-kms for KMS; they sign with `aws-sigv4`). The Go
//! plugins they replace load their AWS settings with Go CDK v0.46 over
//! aws-sdk-go-v2; this crate reads the same settings the same way, in the
//! same order, so a deployment's credentials keep working:
//!
//! 1. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
//!    (unless the URL names a profile);
//! 2. `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (STS
//!    `AssumeRoleWithWebIdentity`);
//! 3. the profile in the shared config and credentials files: keys,
//!    `role_arn` with `source_profile` or `credential_source` (STS
//!    `AssumeRole`), `web_identity_token_file`, `credential_process`;
//! 4. container credentials (ECS, EKS Pod Identity);
//! 5. EC2 instance metadata (IMDSv2).
//!
//! SSO profiles are refused with a clear error (not supported by this
//! build). See the README for the details and the differences.
//!
//! Use: capture the environment ([`Env::capture`]), load the settings
//! with the URL's parameters ([`AwsConfig::load`]), get a
//! [`CredentialsProvider`] (which fails on a configuration that cannot
//! work), fetch once at start to fail early, then ask it before each
//! request: it refreshes temporary credentials before they expire.
//!
//! Modules: [`ini`] (the files' syntax), [`shared_config`] (files into
//! profiles), [`env`] (the variables), [`config`] (profile, region,
//! options), [`endpoint`] (service URLs), [`chain`] (which source),
//! [`source`] (the source tree), [`sts`], [`process`], [`container`],
//! [`imds`] (each source), [`json_fields`] (their JSON), [`http`]
//! (clients and deadlines), [`expiry`] (timestamps), [`credentials`]
//! (the result), [`provider`] (cache and refresh), [`error`].

pub mod chain;
pub mod config;
pub mod container;
pub mod credentials;
pub mod endpoint;
pub mod env;
pub mod error;
pub mod expiry;
pub mod http;
pub mod imds;
pub mod ini;
pub mod json_fields;
pub mod process;
pub mod provider;
pub mod shared_config;
pub mod source;
pub mod sts;

pub use config::{AwsConfig, Options};
pub use credentials::Credentials;
pub use env::Env;
pub use error::Error;
pub use provider::CredentialsProvider;
