//! The bearer token that guards the ingestion API over TCP.
//!
//! A loopback TCP port can be reached by every local user, and an event
//! published there is delivered as an audit record: without a check, any
//! local account could forge SFTPGo events. The unix socket is protected by
//! its owner-only mode instead; TCP has nothing like it, so a TCP client
//! must send `authorization: Bearer <token>` in its gRPC metadata.
//!
//! The token comes from the environment (`PLEXUS_INGEST_TOKEN`) or from a
//! file (`engine.ingest_token_file`), never from the config file itself,
//! which is often world-readable, copied around and checked into version
//! control. The file must not be readable by group or others. The token
//! never appears in logs or `Debug` output, and it is compared in constant
//! time (through SHA-256 digests, so its length does not leak either).

use sha2::{Digest, Sha256};
use std::path::Path;
use tonic::{Request, Status};

/// The environment variable holding the token.
pub const TOKEN_ENV: &str = "PLEXUS_INGEST_TOKEN";
/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// A token checked at load: printable ASCII without spaces, at least
/// [`MIN_TOKEN_LEN`] characters.
#[derive(Clone)]
pub struct IngestToken {
    token: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestToken(<redacted>)")
    }
}

impl IngestToken {
    /// A token from its text (surrounding whitespace, as a file's final
    /// newline, is ignored); `origin` names where it came from in errors.
    pub fn parse(text: &str, origin: &str) -> Result<IngestToken, String> {
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "{origin}: the ingestion token must be at least {MIN_TOKEN_LEN} characters"
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{origin}: the ingestion token must be printable ASCII without spaces"
            ));
        }
        Ok(IngestToken {
            token: token.to_owned(),
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Reads a token file, refusing one that group or others may read.
    pub fn from_file(path: &Path) -> Result<IngestToken, String> {
        use std::os::unix::fs::MetadataExt;
        let origin = format!("engine.ingest_token_file {}", path.display());
        let meta = std::fs::metadata(path).map_err(|err| format!("{origin}: {err}"))?;
        if !meta.is_file() {
            return Err(format!("{origin}: not a regular file"));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "{origin}: readable by group or others (mode {:o}); chmod 600 it",
                meta.mode() & 0o777
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|err| format!("{origin}: {err}"))?;
        IngestToken::parse(&text, &origin)
    }

    /// The token for `plexus serve` or `plexus emit`: `PLEXUS_INGEST_TOKEN`
    /// if set and not empty, else the file if one is named, else none.
    pub fn load(
        env_value: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<IngestToken>, String> {
        if let Some(value) = env_value.filter(|v| !v.trim().is_empty()) {
            return IngestToken::parse(value, TOKEN_ENV).map(Some);
        }
        file.map(IngestToken::from_file).transpose()
    }

    /// The `authorization` metadata value a client sends.
    pub fn header_value(
        &self,
    ) -> Result<tonic::metadata::MetadataValue<tonic::metadata::Ascii>, String> {
        format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| "the ingestion token is not a valid header value".to_owned())
    }

    /// Whether `presented` is this token, in time independent of where
    /// they differ.
    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The server-side check of one request.
    pub fn check<T>(&self, request: Request<T>) -> Result<Request<T>, Status> {
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match presented {
            Some(token) if self.matches(token) => Ok(request),
            Some(_) => Err(Status::unauthenticated("the ingestion token is wrong")),
            None => Err(Status::unauthenticated(
                "the ingestion API over TCP needs `authorization: Bearer <token>`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const TOKEN: &str = "0123456789abcdef-token";

    fn request(header: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = header {
            request
                .metadata_mut()
                .insert("authorization", value.parse().unwrap());
        }
        request
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let token = IngestToken::parse(TOKEN, "test").unwrap();
        assert!(token
            .check(request(Some(&format!("Bearer {TOKEN}"))))
            .is_ok());
        for header in [
            None,
            Some("Bearer wrong-token-of-some-length"),
            Some(TOKEN),
            Some("Basic 0123456789abcdef-token"),
            Some("Bearer "),
        ] {
            let status = token.check(request(header)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
        }
        assert_eq!(format!("{token:?}"), "IngestToken(<redacted>)");
    }

    #[test]
    fn weak_tokens_and_readable_files_are_refused() {
        assert!(IngestToken::parse("short", "x")
            .unwrap_err()
            .contains("at least 16"));
        assert!(IngestToken::parse("has a space in it!!", "x").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = IngestToken::from_file(&file).unwrap_err();
        assert!(err.contains("readable by group or others"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let token = IngestToken::from_file(&file).unwrap();
        assert!(token
            .check(request(Some(&format!("Bearer {TOKEN}"))))
            .is_ok());
        // The environment wins over the file.
        let other = "another-token-from-env";
        let token = IngestToken::load(Some(other), Some(&file))
            .unwrap()
            .unwrap();
        assert!(token
            .check(request(Some(&format!("Bearer {other}"))))
            .is_ok());
        assert!(IngestToken::load(Some(""), None).unwrap().is_none());
    }
}
