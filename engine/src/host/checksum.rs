//! The executable's sha256, checked before every start.
//!
//! A configured `sha256sum` pins the exact binary that may run. The file is
//! hashed in a streaming fashion (never read whole into memory) on a blocking
//! thread, so hashing a large binary never stalls an async runtime.

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
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().into())
}

/// Checks `path` against `expected`; the error names both digests.
pub async fn verify(path: &Path, expected: &str) -> Result<(), String> {
    let expected = parse_expected(expected)?;
    let owned = path.to_owned();
    let actual = tokio::task::spawn_blocking(move || sha256_file(&owned))
        .await
        .map_err(|err| format!("hashing task failed: {err}"))?
        .map_err(|err| format!("cannot read {} to hash it: {err}", path.display()))?;
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "checksums did not match: expected {}, {} has {}",
            hex::encode(expected),
            path.display(),
            hex::encode(actual)
        ))
    }
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

    #[tokio::test]
    async fn verify_names_both_digests_on_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, b"").unwrap();
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        verify(&path, empty).await.unwrap();
        std::fs::write(&path, b"changed").unwrap();
        let err = verify(&path, empty).await.unwrap_err();
        assert!(err.contains(empty), "{err}");
        assert!(err.contains("checksums did not match"), "{err}");
    }
}
