//! The sha256 digests a plugin's `sha256sum` is compared with.
//!
//! A configured `sha256sum` pins the exact binary that may run. Content is
//! hashed in a streaming fashion, never read whole into memory. Which file is
//! hashed, and that the same file is executed, is [`super::executable`]'s
//! concern.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Parses a configured sha256sum: 64 hex digits, either case.
pub fn parse_expected(text: &str) -> Result<[u8; 32], String> {
    let trimmed = text.trim();
    let bytes =
        hex::decode(trimmed).map_err(|err| format!("invalid sha256 hash {text:?}: {err}"))?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        format!(
            "invalid sha256 hash {text:?}: {} bytes, expected 32",
            bytes.len()
        )
    })
}

/// The sha256 of a file, read in 64 KiB chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    sha256_reader(std::fs::File::open(path)?)
}

/// The sha256 of everything `reader` yields, read in 64 KiB chunks.
pub fn sha256_reader(mut reader: impl Read) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_bad_hex_and_wrong_length() {
        assert!(parse_expected("xyz")
            .unwrap_err()
            .contains("invalid sha256 hash"));
        assert!(parse_expected("abcd").unwrap_err().contains("2 bytes"));
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert!(parse_expected(upper).is_ok());
    }

    #[test]
    fn digest_of_known_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, b"").unwrap();
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(hex::encode(sha256_file(&path).unwrap()), empty);
    }
}
