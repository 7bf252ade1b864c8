//! Why a provider call failed, the gRPC status each failure becomes, and
//! how an HTTP client error is worded.
//! Every message names the provider; none carries a token, a secret key or
//! a plaintext.

use plexus_sdk::Status;

use crate::secretbox::LocalError;

/// A failed Encrypt or Decrypt.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KmsError {
    /// The secrets URL is malformed or names an unsupported provider.
    #[error("{0}")]
    Url(String),
    /// The provider is not configured (environment variables missing).
    #[error("{provider}: {message}")]
    Config {
        provider: &'static str,
        message: String,
    },
    /// The provider answered with an error.
    #[error("{provider}: {message} (HTTP {status})")]
    Rejected {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// The provider could not be reached, or its answer was not understood.
    #[error("{provider}: {message}")]
    Unavailable {
        provider: &'static str,
        message: String,
    },
    /// No answer within the per-call deadline.
    #[error("{provider}: no answer within {seconds} s")]
    Timeout {
        provider: &'static str,
        seconds: u64,
    },
    /// The payload is not what this plugin stores.
    #[error("{0}")]
    Payload(String),
    /// The local Secretbox layer failed.
    #[error("{0}")]
    Local(#[from] LocalError),
}

impl From<KmsError> for Status {
    fn from(err: KmsError) -> Status {
        let message = err.to_string();
        match err {
            KmsError::Url(_) | KmsError::Payload(_) | KmsError::Local(_) => {
                Status::invalid_argument(message)
            }
            KmsError::Config { .. } => Status::failed_precondition(message),
            KmsError::Rejected {
                status: 401 | 403, ..
            } => Status::permission_denied(message),
            KmsError::Rejected { status: 404, .. } => Status::not_found(message),
            KmsError::Rejected { status, .. } if status < 500 => Status::invalid_argument(message),
            KmsError::Rejected { .. } | KmsError::Unavailable { .. } => {
                Status::unavailable(message)
            }
            KmsError::Timeout { .. } => Status::deadline_exceeded(message),
        }
    }
}

/// A reqwest error's message without the URL it carries (the URL is given
/// separately, and never holds credentials, but this keeps messages short).
pub(crate) fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
