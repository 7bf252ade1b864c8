//! The users file of the `auth-users` example plugin: usernames with an
//! argon2 password hash (PHC string), authorized SSH public keys and
//! allowed TLS certificates, and the SFTPGo user JSON returned on success.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Deserialize;

/// One user of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    /// An argon2 PHC string (`auth-users hash-password` makes one).
    #[serde(default)]
    pub password_hash: String,
    /// `authorized_keys` lines: `ssh-ed25519 AAAA... comment`.
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// PEM certificates accepted for TLS certificate logins.
    #[serde(default)]
    pub tls_certs: Vec<String>,
    #[serde(default)]
    pub home_dir: String,
}

/// The whole file: `{"users": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    pub users: Vec<User>,
}

impl UsersFile {
    pub fn parse(text: &str, origin: &str) -> Result<UsersFile, String> {
        let file: UsersFile =
            serde_json::from_str(text).map_err(|err| format!("{origin}: {err}"))?;
        for (i, user) in file.users.iter().enumerate() {
            if !user.password_hash.is_empty() {
                PasswordHash::new(&user.password_hash)
                    .map_err(|err| format!("{origin}: users[{i}].password_hash: {err}"))?;
            }
        }
        Ok(file)
    }

    pub fn find(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }
}

/// A PHC string for `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| err.to_string())
}

impl User {
    pub fn password_matches(&self, password: &str) -> bool {
        PasswordHash::new(&self.password_hash)
            .map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    }

    /// Compares the key type and data, ignoring the comment and the newline.
    pub fn has_public_key(&self, presented: &str) -> bool {
        let key = |line: &str| {
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let presented = key(presented);
        !presented.is_empty() && self.public_keys.iter().any(|k| key(k) == presented)
    }

    pub fn has_tls_cert(&self, pem: &str) -> bool {
        let normal = |text: &str| text.split_whitespace().collect::<String>();
        let pem = normal(pem);
        !pem.is_empty() && self.tls_certs.iter().any(|c| normal(c) == pem)
    }

    /// The SFTPGo user this plugin vouches for.
    pub fn sftpgo_json(&self) -> Vec<u8> {
        let home = if self.home_dir.is_empty() {
            format!("/srv/sftpgo/{}", self.username)
        } else {
            self.home_dir.clone()
        };
        serde_json::json!({
            "status": 1,
            "username": self.username,
            "home_dir": home,
            "permissions": {"/": ["*"]},
        })
        .to_string()
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_keys_and_certificates() {
        let hash = hash_password("hunter2").unwrap();
        let text = serde_json::json!({"users": [{
            "username": "alice", "password_hash": hash,
            "public_keys": ["ssh-ed25519 AAAAC3Nza alice@laptop"],
            "tls_certs": ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"]
        }]})
        .to_string();
        let file = UsersFile::parse(&text, "users.json").unwrap();
        let alice = file.find("alice").unwrap();
        assert!(alice.password_matches("hunter2"));
        assert!(!alice.password_matches("hunter3"));
        assert!(alice.has_public_key("ssh-ed25519 AAAAC3Nza\n"));
        assert!(!alice.has_public_key("ssh-ed25519 BBBB"));
        assert!(alice
            .has_tls_cert("-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\n"));
        assert!(file.find("bob").is_none());
        let bad = UsersFile::parse(
            r#"{"users":[{"username":"x","password_hash":"plain"}]}"#,
            "u.json",
        )
        .unwrap_err();
        assert!(bad.contains("users[0].password_hash"), "{bad}");
    }
}
