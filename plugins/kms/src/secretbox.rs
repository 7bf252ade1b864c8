//! SFTPGo's local "Secretbox" layer, byte-compatible with SFTPGo's built-in
//! local provider and with `sftpgo-plugin-kms`'s master-key layer.
//!
//! Sealing: R = 32 random bytes; IKM = the master key's bytes (mode 1);
//! k = HKDF-SHA256(IKM, salt = R, info = additional data), 32 bytes;
//! NaCl secretbox (XSalsa20-Poly1305) with a random 24-byte nonce, stored
//! as nonce ‖ tag ‖ ciphertext; `payload = base64std(...)`, `key = hex(R)`.
//!
//! Opening: the same, with IKM = SHA-256(R ‖ ad ‖ R) for `mode = 0` (the
//! derivation of secrets sealed without a master key) and the master key
//! for `mode = 1`. Every malformed input (bad base64 or hex, a payload
//! shorter than nonce and tag, a wrong key) is an error, never a panic.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use crypto_secretbox::aead::rand_core::RngCore;
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SALT_LEN: usize = 32;

/// A secret sealed by the local layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// base64std(nonce ‖ tag ‖ ciphertext).
    pub payload: String,
    /// hex(R).
    pub key: String,
    /// 1: the key derives from the master key.
    pub mode: i32,
}

/// Why the local layer failed. The messages never include key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    #[error("the local layer needs a non-empty secret to encrypt")]
    EmptySecret,
    #[error("the local layer's payload is not base64")]
    PayloadNotBase64,
    #[error("the local layer's key is not hex")]
    KeyNotHex,
    #[error("the local layer's payload is {0} bytes, shorter than a nonce and a tag (40 bytes)")]
    TooShort(usize),
    #[error("the secret was sealed with a master key (mode 1) but the request has none")]
    MasterKeyMissing,
    #[error("the local layer cannot open the secret: wrong master key, wrong additional data, or a damaged payload")]
    Open,
    #[error("the decrypted secret is not UTF-8")]
    NotUtf8,
    #[error("unsupported local layer mode {0} (0 or 1)")]
    Mode(i32),
    #[error("a secretbox nonce is 24 bytes, not {0}")]
    NonceLength(usize),
}

/// Seals `plaintext` under `master_key` (mode 1), as SFTPGo does.
pub fn seal(
    plaintext: &str,
    additional_data: &str,
    master_key: &str,
) -> Result<Sealed, LocalError> {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
    seal_with(
        plaintext,
        additional_data,
        master_key,
        &salt,
        nonce.as_slice(),
    )
}

/// [`seal`] with a given R and nonce (for golden vectors).
pub fn seal_with(
    plaintext: &str,
    additional_data: &str,
    master_key: &str,
    salt: &[u8],
    nonce: &[u8],
) -> Result<Sealed, LocalError> {
    if plaintext.is_empty() {
        return Err(LocalError::EmptySecret);
    }
    if nonce.len() != NONCE_LEN {
        return Err(LocalError::NonceLength(nonce.len()));
    }
    let cipher = cipher(master_key.as_bytes(), salt, additional_data);
    let sealed = cipher
        .encrypt(Nonce::from_slice(nonce), plaintext.as_bytes())
        .map_err(|_| LocalError::Open)?;
    let mut stored = Vec::with_capacity(NONCE_LEN + sealed.len());
    stored.extend_from_slice(nonce);
    stored.extend_from_slice(&sealed);
    Ok(Sealed {
        payload: STANDARD.encode(stored),
        key: hex::encode(salt),
        mode: 1,
    })
}

/// Opens a secret sealed by SFTPGo's local layer (mode 0 or 1).
pub fn open(
    payload: &str,
    key: &str,
    additional_data: &str,
    mode: i32,
    master_key: &str,
) -> Result<String, LocalError> {
    let stored = STANDARD
        .decode(payload)
        .map_err(|_| LocalError::PayloadNotBase64)?;
    let salt = hex::decode(key).map_err(|_| LocalError::KeyNotHex)?;
    if stored.len() < NONCE_LEN + TAG_LEN {
        return Err(LocalError::TooShort(stored.len()));
    }
    let ikm = match mode {
        0 => legacy_ikm(&salt, additional_data).to_vec(),
        1 if master_key.is_empty() => return Err(LocalError::MasterKeyMissing),
        1 => master_key.as_bytes().to_vec(),
        other => return Err(LocalError::Mode(other)),
    };
    let (nonce, sealed) = stored.split_at(NONCE_LEN);
    let plain = cipher(&ikm, &salt, additional_data)
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| LocalError::Open)?;
    String::from_utf8(plain).map_err(|_| LocalError::NotUtf8)
}

/// SHA-256(R ‖ ad ‖ R): the IKM of secrets sealed without a master key.
fn legacy_ikm(salt: &[u8], additional_data: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(salt);
    hash.update(additional_data.as_bytes());
    hash.update(salt);
    hash.finalize().into()
}

fn cipher(ikm: &[u8], salt: &[u8], additional_data: &str) -> XSalsa20Poly1305 {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 255 * 32 limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(additional_data.as_bytes(), &mut key);
    XSalsa20Poly1305::new(&key.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_master_key_and_additional_data() {
        let sealed = seal("s3cret ✓", "alice", "master").unwrap();
        assert_eq!(sealed.mode, 1);
        assert_eq!(sealed.key.len(), 64);
        assert_eq!(
            open(&sealed.payload, &sealed.key, "alice", 1, "master").unwrap(),
            "s3cret ✓"
        );
        assert_eq!(
            open(&sealed.payload, &sealed.key, "bob", 1, "master"),
            Err(LocalError::Open)
        );
        assert_eq!(
            open(&sealed.payload, &sealed.key, "alice", 1, "other"),
            Err(LocalError::Open)
        );
        assert_eq!(
            open(&sealed.payload, &sealed.key, "alice", 0, ""),
            Err(LocalError::Open)
        );
        assert_eq!(
            open(&sealed.payload, &sealed.key, "alice", 1, ""),
            Err(LocalError::MasterKeyMissing)
        );
        let again = seal("s3cret ✓", "alice", "master").unwrap();
        assert_ne!(again.payload, sealed.payload, "random R and nonce");
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let sealed = seal("x", "", "m").unwrap();
        assert_eq!(seal("", "", "m"), Err(LocalError::EmptySecret));
        assert_eq!(
            open("%%%", &sealed.key, "", 1, "m"),
            Err(LocalError::PayloadNotBase64)
        );
        assert_eq!(
            open(&sealed.payload, "zz", "", 1, "m"),
            Err(LocalError::KeyNotHex)
        );
        for len in [0usize, 1, 23, 24, 39] {
            let short = STANDARD.encode(vec![7u8; len]);
            assert_eq!(
                open(&short, &sealed.key, "", 1, "m"),
                Err(LocalError::TooShort(len))
            );
        }
        let empty_box = STANDARD.encode(vec![7u8; 40]);
        assert_eq!(
            open(&empty_box, &sealed.key, "", 1, "m"),
            Err(LocalError::Open)
        );
        assert_eq!(
            open(&sealed.payload, &sealed.key, "", 2, "m"),
            Err(LocalError::Mode(2))
        );
    }
}
