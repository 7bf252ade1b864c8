//! Why credentials could not be had. Two kinds, because callers treat
//! them differently: a [`Error::Config`] is a setting that cannot work
//! (a missing profile, a source_profile cycle, an SSO profile) and stays
//! wrong until someone edits it; a [`Error::Fetch`] is a source that did
//! not answer as it should (STS refused, the metadata service is not
//! there) and may work on the next try. Messages name the variable, file,
//! profile or URL at fault and never carry a secret key, a session token
//! or a web identity token.

/// A failure to configure or fetch AWS credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The configuration cannot give credentials as written.
    #[error("{0}")]
    Config(String),
    /// A credential source failed this time.
    #[error("{0}")]
    Fetch(String),
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config(message.into())
    }

    pub(crate) fn fetch(message: impl Into<String>) -> Error {
        Error::Fetch(message.into())
    }

    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::Config(m) | Error::Fetch(m) => m,
        }
    }

    /// The same kind of error with `context: ` before the message.
    pub fn context(self, context: &str) -> Error {
        match self {
            Error::Config(m) => Error::Config(format!("{context}: {m}")),
            Error::Fetch(m) => Error::Fetch(format!("{context}: {m}")),
        }
    }
}
