//! The `proto.KMS` service: SFTPGo's secret format around a provider call.
//!
//! Encrypt: with a master key, the local Secretbox layer first (`key =
//! hex(R)`, `mode = 1`); then the provider encrypts the (inner) payload's
//! UTF-8 bytes and the answer is `base64std(ciphertext)`. Without a master
//! key, `key = ""`, `mode = 0`. Decrypt reverses it: base64, the provider,
//! then the local layer when `key` is set. Each provider call has a
//! deadline (15 s by default, as the Go plugin's).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use plexus_sdk::kms::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, Kms};
use plexus_sdk::{async_trait, Request, Response, Status};

use crate::error::KmsError;
use crate::providers::Providers;
use crate::secretbox;
use crate::target::{self, Target};

/// The plugin.
pub struct KmsService {
    providers: Providers,
    deadline: Duration,
}

impl KmsService {
    pub fn new(providers: Providers, deadline: Duration) -> KmsService {
        KmsService {
            providers,
            deadline,
        }
    }

    fn target(&self, url: &str) -> Result<Target, KmsError> {
        target::parse(url).map_err(KmsError::Url)
    }

    async fn within<T>(
        &self,
        target: &Target,
        call: impl std::future::Future<Output = Result<T, KmsError>>,
    ) -> Result<T, KmsError> {
        tokio::time::timeout(self.deadline, call)
            .await
            .unwrap_or(Err(KmsError::Timeout {
                provider: target.provider(),
                seconds: self.deadline.as_secs(),
            }))
    }

    /// Encrypt, as a plain function.
    pub async fn seal(&self, request: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        let target = self.target(&request.url)?;
        self.providers.check(&target)?;
        let (inner, key, mode) = if request.master_key.is_empty() {
            (request.payload.clone(), String::new(), 0)
        } else {
            let sealed = secretbox::seal(
                &request.payload,
                &request.additional_data,
                &request.master_key,
            )?;
            (sealed.payload, sealed.key, sealed.mode)
        };
        let ciphertext = self
            .within(&target, self.providers.encrypt(&target, inner.as_bytes()))
            .await?;
        Ok(EncryptResponse {
            payload: STANDARD.encode(ciphertext),
            key,
            mode,
        })
    }

    /// Decrypt, as a plain function.
    pub async fn open(&self, request: &DecryptRequest) -> Result<String, KmsError> {
        let target = self.target(&request.url)?;
        self.providers.check(&target)?;
        let ciphertext = STANDARD.decode(request.payload.trim()).map_err(|_| {
            KmsError::Payload(format!(
                "{}: the secret's payload is not base64",
                target.provider()
            ))
        })?;
        let plain = self
            .within(&target, self.providers.decrypt(&target, &ciphertext))
            .await?;
        let plain = String::from_utf8(plain).map_err(|_| {
            KmsError::Payload(format!(
                "{}: the decrypted secret is not UTF-8",
                target.provider()
            ))
        })?;
        if request.key.is_empty() {
            return Ok(plain);
        }
        Ok(secretbox::open(
            &plain,
            &request.key,
            &request.additional_data,
            request.mode,
            &request.master_key,
        )?)
    }
}

fn logged(operation: &str, url: &str, err: KmsError) -> Status {
    tracing::warn!(url, error = %err, "unable to {operation}");
    err.into()
}

#[async_trait]
impl Kms for KmsService {
    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let request = request.into_inner();
        self.seal(&request)
            .await
            .map(Response::new)
            .map_err(|err| logged("encrypt", &request.url, err))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let request = request.into_inner();
        self.open(&request)
            .await
            .map(|payload| Response::new(DecryptResponse { payload }))
            .map_err(|err| logged("decrypt", &request.url, err))
    }
}
