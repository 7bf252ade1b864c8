//! The credentials handed to a signer: an access key id, its secret, the
//! session token of temporary credentials and when they expire. Kept
//! apart from where they come from so that the plugins see one type
//! whatever the source; `Debug` shows the key id and the source only.

use std::time::SystemTime;

use aws_smithy_runtime_api::client::identity::Identity;

/// One set of AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expires: Option<SystemTime>,
    source: String,
}

impl Credentials {
    /// Long-term (or caller-managed) credentials; `source` says where they
    /// came from, for logs and errors (never a secret).
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        source: impl Into<String>,
    ) -> Credentials {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: session_token.filter(|t| !t.is_empty()),
            expires: None,
            source: source.into(),
        }
    }

    /// The same credentials, expiring at `expires`.
    pub fn expiring(mut self, expires: Option<SystemTime>) -> Credentials {
        self.expires = expires;
        self
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// When temporary credentials stop working; `None` for long-term ones.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires
    }

    /// Where they came from (`environment`, `profile "dev" in ...`, ...).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The identity `aws-sigv4` signs with.
    pub fn identity(&self) -> Identity {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.clone(),
            self.session_token.clone(),
            self.expires,
            "plexus-aws-credentials",
        )
        .into()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::new("AKID", "very-secret", Some("token-secret".into()), "test");
        let text = format!("{c:?}");
        assert!(text.contains("AKID") && text.contains("test"));
        assert!(!text.contains("very-secret") && !text.contains("token-secret"));
    }

    #[test]
    fn empty_session_token_is_none() {
        let c = Credentials::new("AKID", "s", Some(String::new()), "test");
        assert_eq!(c.session_token(), None);
    }
}
