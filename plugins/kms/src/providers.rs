//! The provider clients, made once at start and shared by every call: one
//! HTTP connection pool (rustls), one Vault client and one AWS KMS client,
//! each configured from the environment (Vault holding the reason it is
//! not; AWS loading each URL's settings when first used).
//! (The Go plugin opens a keeper per call; for AWS that loads the
//! configuration and builds a new client each time.)

use std::time::Duration;

use crate::aws::AwsKms;
use crate::error::KmsError;
use crate::target::Target;
use crate::vault::Vault;

/// The configured providers.
#[derive(Debug)]
pub struct Providers {
    vault: Result<Vault, KmsError>,
    aws: AwsKms,
}

impl Providers {
    /// Builds the shared HTTP client and both providers; `env` looks a
    /// variable up. Only a failure to build the HTTP client is fatal: a
    /// provider without its variables fails the calls that need it.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        deadline: Duration,
    ) -> Result<Providers, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(deadline))
            .timeout(deadline)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|err| format!("cannot create the HTTP client: {err}"))?;
        Ok(Providers {
            vault: Vault::from_env(http.clone(), env),
            aws: AwsKms::from_env(http, env),
        })
    }

    fn vault(&self) -> Result<&Vault, KmsError> {
        self.vault.as_ref().map_err(Clone::clone)
    }

    /// Whether the provider of `target` is configured (no network call).
    pub fn check(&self, target: &Target) -> Result<(), KmsError> {
        match target {
            Target::Vault(_) => self.vault().map(drop),
            Target::Aws(key) => self.aws.check(key),
        }
    }

    /// [`Providers::check`], and for AWS the credentials fetched once, so
    /// that `--url` stops the start when the chain gives none. Returns a
    /// line for the start log.
    pub async fn verify(&self, target: &Target) -> Result<String, KmsError> {
        match target {
            Target::Vault(_) => self.vault().map(|v| format!("Vault at {}", v.address())),
            Target::Aws(key) => self
                .aws
                .verify(key)
                .await
                .map(|source| format!("AWS credentials: {source}")),
        }
    }

    /// The Vault address, when Vault is configured (for the start log).
    pub fn vault_address(&self) -> Option<&str> {
        self.vault.as_ref().ok().map(Vault::address)
    }

    pub async fn encrypt(&self, target: &Target, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        match target {
            Target::Vault(key) => self.vault()?.encrypt(key, plaintext).await,
            Target::Aws(key) => self.aws.encrypt(key, plaintext).await,
        }
    }

    pub async fn decrypt(&self, target: &Target, ciphertext: &[u8]) -> Result<Vec<u8>, KmsError> {
        match target {
            Target::Vault(key) => self.vault()?.decrypt(key, ciphertext).await,
            Target::Aws(key) => self.aws.decrypt(key, ciphertext).await,
        }
    }
}
