//! AES-256-GCM secrets for the `kms-aesgcm` example plugin: a 32-byte key
//! from a file, a random 96-bit nonce per secret, the secret's
//! `additional_data` bound as AAD, and `base64(nonce ‖ ciphertext)` as the
//! stored payload.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const NONCE_LEN: usize = 12;

/// Reads a key file: 32 raw bytes, or 64 hex digits (whitespace trimmed).
pub fn read_key(bytes: &[u8], origin: &str) -> Result<Aes256Gcm, String> {
    let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
    let key: Vec<u8> = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect()
    } else if bytes.len() == 32 {
        bytes.to_vec()
    } else {
        return Err(format!(
            "{origin}: a key is 32 raw bytes or 64 hex digits ({} bytes found)",
            bytes.len()
        ));
    };
    Aes256Gcm::new_from_slice(&key).map_err(|_| format!("{origin}: not an AES-256 key"))
}

pub fn encrypt(cipher: &Aes256Gcm, plaintext: &str, aad: &str) -> Result<String, String> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| "encryption failed".to_owned())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(STANDARD.encode(out))
}

pub fn decrypt(cipher: &Aes256Gcm, payload: &str, aad: &str) -> Result<String, String> {
    let bytes = STANDARD
        .decode(payload.trim())
        .map_err(|_| "the payload is not base64".to_owned())?;
    if bytes.len() <= NONCE_LEN {
        return Err("the payload is too short".into());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            "cannot decrypt: wrong key, wrong additional data, or a damaged payload".to_owned()
        })?;
    String::from_utf8(plain).map_err(|_| "the secret is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let cipher = read_key(&[7u8; 32], "k").unwrap();
        let sealed = encrypt(&cipher, "s3cret ✓", "user1").unwrap();
        assert_eq!(decrypt(&cipher, &sealed, "user1").unwrap(), "s3cret ✓");
        assert!(decrypt(&cipher, &sealed, "user2").is_err(), "AAD is bound");
        let other = read_key("ab".repeat(32).as_bytes(), "k").unwrap();
        assert!(decrypt(&other, &sealed, "user1").is_err(), "wrong key");
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(
            decrypt(&cipher, &STANDARD.encode(bytes), "user1").is_err(),
            "tampered"
        );
        assert!(read_key(b"short", "k")
            .err()
            .is_some_and(|e| e.contains("32 raw bytes")));
    }
}
