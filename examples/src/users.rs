//! The users file of the `auth-users` example plugin: usernames with an
//! argon2 password hash (PHC string), authorized SSH public keys, the TLS
//! client certificates each user may log in with, and the SFTPGo user JSON
//! returned on success.
//!
//! ```json
//! {"users": [{
//!   "username": "alice",
//!   "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$...",
//!   "public_keys": ["ssh-ed25519 AAAAC3Nza... alice@laptop"],
//!   "tls_certs": ["-----BEGIN CERTIFICATE-----\n..."],
//!   "tls_fingerprints": ["5e:3a:...:9f"],
//!   "tls_common_names": ["alice"],
//!   "home_dir": "/srv/sftp/alice"
//! }]}
//! ```
//!
//! A TLS certificate is accepted when it is one of `tls_certs`, when its
//! SHA-256 fingerprint (of the DER, hex, colons optional) is one of
//! `tls_fingerprints`, or when its subject CN is one of `tls_common_names`.
//! CN matching is only as strong as the host's certificate validation:
//! SFTPGo checks client certificates against its configured CA before it
//! asks the plugin, so a CN there means "issued to that name by your CA".

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One user of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    /// An argon2 PHC string (`auth-users hash-password` makes one); empty:
    /// no password login.
    #[serde(default)]
    pub password_hash: String,
    /// `authorized_keys` lines: `ssh-ed25519 AAAA... comment`.
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// PEM certificates accepted for TLS certificate logins.
    #[serde(default)]
    pub tls_certs: Vec<String>,
    /// SHA-256 fingerprints of accepted certificates (hex, `:` optional).
    #[serde(default)]
    pub tls_fingerprints: Vec<String>,
    /// Accepted certificate subject common names.
    #[serde(default)]
    pub tls_common_names: Vec<String>,
    /// The home directory SFTPGo gives the user (default `/srv/sftpgo/<username>`).
    #[serde(default)]
    pub home_dir: String,
    /// `tls_certs` and `tls_fingerprints`, as lower-case hex without colons.
    #[serde(skip)]
    accepted_fingerprints: Vec<String>,
}

/// The whole file: `{"users": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    pub users: Vec<User>,
}

impl UsersFile {
    /// Parses and checks the file; an error names the file and the field.
    pub fn parse(text: &str, origin: &str) -> Result<UsersFile, String> {
        let mut file: UsersFile =
            serde_json::from_str(text).map_err(|err| format!("{origin}: {err}"))?;
        let mut seen = std::collections::HashSet::new();
        for (i, user) in file.users.iter_mut().enumerate() {
            let at = |field: &str| format!("{origin}: users[{i}].{field}");
            if user.username.is_empty() {
                return Err(format!("{}: must not be empty", at("username")));
            }
            if !seen.insert(user.username.clone()) {
                return Err(format!(
                    "{}: {:?} is listed twice",
                    at("username"),
                    user.username
                ));
            }
            if !user.password_hash.is_empty() {
                PasswordHash::new(&user.password_hash).map_err(|err| {
                    format!("{}: not an argon2 PHC string: {err}", at("password_hash"))
                })?;
            }
            for (k, pem) in user.tls_certs.iter().enumerate() {
                let cert = Certificate::from_pem(pem)
                    .map_err(|err| format!("{}: {err}", at(&format!("tls_certs[{k}]"))))?;
                user.accepted_fingerprints.push(cert.fingerprint);
            }
            for (k, text) in user.tls_fingerprints.iter().enumerate() {
                let fingerprint = normalize_fingerprint(text).ok_or_else(|| {
                    format!(
                        "{}: {text:?} is not a SHA-256 fingerprint (64 hex digits, ':' allowed)",
                        at(&format!("tls_fingerprints[{k}]"))
                    )
                })?;
                user.accepted_fingerprints.push(fingerprint);
            }
        }
        Ok(file)
    }

    pub fn find(&self, username: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == username)
    }

    /// The user whose password this is. An unknown user costs the same
    /// argon2 work as a known one, so timing does not tell them apart.
    pub fn check_password(&self, username: &str, password: &str) -> Option<&User> {
        match self.find(username) {
            Some(user) => user.password_matches(password).then_some(user),
            None => {
                if let Some(hash) = dummy_hash() {
                    let _ = verify(hash, password);
                }
                None
            }
        }
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

fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("not a password of anyone").ok())
        .as_deref()
}

/// `AB:cd:...` or `abcd...` → `abcd...`, if it is 32 bytes of hex.
fn normalize_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// What the plugin looks at in a presented certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint: String,
    /// The subject's common names.
    pub common_names: Vec<String>,
}

impl Certificate {
    /// Reads the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Certificate, String> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.trim_start().as_bytes())
            .map_err(|err| format!("not a PEM certificate: {err}"))?;
        if block.label != "CERTIFICATE" {
            return Err(format!("a PEM {:?} block, not a CERTIFICATE", block.label));
        }
        let cert = block
            .parse_x509()
            .map_err(|err| format!("not an X.509 certificate: {err}"))?;
        let common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .collect();
        Ok(Certificate {
            fingerprint: hex::encode(Sha256::digest(&block.contents)),
            common_names,
        })
    }
}

impl User {
    pub fn password_matches(&self, password: &str) -> bool {
        !self.password_hash.is_empty() && verify(&self.password_hash, password)
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
        presented.contains(' ') && self.public_keys.iter().any(|k| key(k) == presented)
    }

    /// Whether a presented certificate (PEM) is one this user may log in with.
    pub fn accepts_certificate(&self, cert: &Certificate) -> bool {
        self.accepted_fingerprints.contains(&cert.fingerprint)
            || cert
                .common_names
                .iter()
                .any(|cn| self.tls_common_names.contains(cn))
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

    fn cert(cn: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn passwords_and_keys() {
        let hash = hash_password("hunter2").unwrap();
        let text = serde_json::json!({"users": [
            {"username": "alice", "password_hash": hash,
             "public_keys": ["ssh-ed25519 AAAAC3Nza alice@laptop"]},
            {"username": "keyonly", "public_keys": ["ssh-rsa AAAAB3"]},
        ]})
        .to_string();
        let file = UsersFile::parse(&text, "users.json").unwrap();
        let alice = file.find("alice").unwrap();
        assert!(alice.password_matches("hunter2"));
        assert!(!alice.password_matches("hunter3"));
        assert_eq!(
            file.check_password("alice", "hunter2")
                .map(|u| &u.username[..]),
            Some("alice")
        );
        assert!(file.check_password("alice", "").is_none());
        assert!(file.check_password("bob", "hunter2").is_none());
        assert!(
            file.check_password("keyonly", "").is_none(),
            "no hash, no password login"
        );
        assert!(alice.has_public_key("ssh-ed25519 AAAAC3Nza\n"));
        assert!(!alice.has_public_key("ssh-ed25519 BBBB"));
        assert!(!alice.has_public_key("ssh-ed25519"));
        assert!(!alice.has_public_key(""));
        let json: serde_json::Value = serde_json::from_slice(&alice.sftpgo_json()).unwrap();
        assert_eq!(json["status"], 1);
        assert_eq!(json["home_dir"], "/srv/sftpgo/alice");
        assert_eq!(json["permissions"]["/"][0], "*");
        assert!(json.get("password").is_none());
    }

    #[test]
    fn certificates_by_pem_fingerprint_or_common_name() {
        let (by_pem, by_fingerprint, by_cn, stranger) =
            (cert("a"), cert("b"), cert("carol"), cert("mallory"));
        let fingerprint = Certificate::from_pem(&by_fingerprint).unwrap().fingerprint;
        let with_colons = fingerprint
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        let text = serde_json::json!({"users": [{"username": "carol",
            "tls_certs": [by_pem], "tls_fingerprints": [with_colons],
            "tls_common_names": ["carol"]}]})
        .to_string();
        let file = UsersFile::parse(&text, "u.json").unwrap();
        let carol = file.find("carol").unwrap();
        let accepts = |pem: &str| carol.accepts_certificate(&Certificate::from_pem(pem).unwrap());
        assert!(accepts(&by_pem));
        assert!(accepts(&by_pem.replace('\n', "\r\n")));
        assert!(accepts(&by_fingerprint));
        assert!(accepts(&by_cn));
        assert!(!accepts(&stranger));
        assert_eq!(
            Certificate::from_pem(&by_cn).unwrap().common_names,
            ["carol"]
        );
        assert!(Certificate::from_pem("not pem").is_err());
    }

    #[test]
    fn bad_files_name_the_field() {
        let bad = |text: &str| UsersFile::parse(text, "u.json").unwrap_err();
        let err = bad(r#"{"users":[{"username":"x","password_hash":"plain"}]}"#);
        assert!(err.contains("users[0].password_hash"), "{err}");
        let err = bad(r#"{"users":[{"username":"x","tls_fingerprints":["abc"]}]}"#);
        assert!(err.contains("users[0].tls_fingerprints[0]"), "{err}");
        let err = bad(r#"{"users":[{"username":"x","tls_certs":["junk"]}]}"#);
        assert!(err.contains("users[0].tls_certs[0]"), "{err}");
        let err = bad(r#"{"users":[{"username":"x"},{"username":"x"}]}"#);
        assert!(
            err.contains("users[1].username") && err.contains("twice"),
            "{err}"
        );
        let err = bad(r#"{"users":[{"username":""}]}"#);
        assert!(err.contains("users[0].username"), "{err}");
        let err = bad(r#"{"users":[{"username":"x","pasword_hash":""}]}"#);
        assert!(err.contains("pasword_hash"), "{err}");
    }
}
