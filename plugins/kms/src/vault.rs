//! HashiCorp Vault / OpenBao transit over its HTTP API, as Go CDK's
//! `hashivault` keeper uses it: `POST /v1/ENGINE/encrypt/KEY` with the
//! plaintext in base64, answering `vault:v1:...`; `POST
//! /v1/ENGINE/decrypt/KEY` with that string, answering the plaintext in
//! base64. The address comes from `VAULT_SERVER_URL` (else `VAULT_ADDR`),
//! the token from `VAULT_SERVER_TOKEN` (else `VAULT_TOKEN`), sent as
//! `X-Vault-Token`; `VAULT_NAMESPACE` is sent as `X-Vault-Namespace`.
//! One client (one connection pool) serves every call.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

use crate::error::{without_url, KmsError};
use crate::target::VaultKey;

const PROVIDER: &str = "hashivault";

/// A configured Vault/OpenBao client.
pub struct Vault {
    http: reqwest::Client,
    address: url::Url,
    token: String,
    namespace: Option<String>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("address", &self.address.as_str())
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn config(message: impl Into<String>) -> KmsError {
    KmsError::Config {
        provider: PROVIDER,
        message: message.into(),
    }
}

/// The first of `names` that is set and not empty.
fn first(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| env(name).filter(|v| !v.is_empty()))
}

impl Vault {
    /// Reads the address and token from the environment (`env` looks a
    /// variable up).
    pub fn from_env(
        http: reqwest::Client,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vault, KmsError> {
        let address = first(env, &["VAULT_SERVER_URL", "VAULT_ADDR"]).ok_or_else(|| {
            config("neither VAULT_SERVER_URL nor VAULT_ADDR is set (a host passes them when the plugin's env_vars lists them)")
        })?;
        let address = url::Url::parse(&address)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| config(format!("the Vault address {address:?} (VAULT_SERVER_URL / VAULT_ADDR) is not an http(s) URL")))?;
        let token = first(env, &["VAULT_SERVER_TOKEN", "VAULT_TOKEN"])
            .ok_or_else(|| config("neither VAULT_SERVER_TOKEN nor VAULT_TOKEN is set"))?;
        Ok(Vault {
            http,
            address,
            token,
            namespace: first(env, &["VAULT_NAMESPACE"]),
        })
    }

    /// The server address, for logs.
    pub fn address(&self) -> &str {
        self.address.as_str()
    }

    fn endpoint(&self, operation: &str, key: &VaultKey) -> Result<url::Url, KmsError> {
        let mut url = self.address.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| config("the Vault address cannot take a path"))?;
            segments.pop_if_empty().push("v1");
            segments.extend(key.engine.split('/'));
            segments.push(operation);
            segments.extend(key.key.split('/'));
        }
        Ok(url)
    }

    async fn write(
        &self,
        operation: &str,
        key: &VaultKey,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, KmsError> {
        let url = self.endpoint(operation, key)?;
        let mut request = self
            .http
            .post(url)
            .header("X-Vault-Token", &self.token)
            .json(&body);
        if let Some(namespace) = &self.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        let response = request.send().await.map_err(|err| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!("cannot reach {}: {}", self.address, without_url(&err)),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|err| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!(
                "cannot read the answer of {}: {}",
                self.address,
                without_url(&err)
            ),
        })?;
        if !status.is_success() {
            return Err(rejected(status.as_u16(), &text, operation, key));
        }
        let answer: Answer = serde_json::from_str(&text).map_err(|_| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!(
                "the {operation} answer of {} is not Vault's JSON",
                self.address
            ),
        })?;
        Ok(answer.data)
    }

    /// Encrypts with the transit key; the ciphertext is Vault's `vault:vN:...` string.
    pub async fn encrypt(&self, key: &VaultKey, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let data = self
            .write(
                "encrypt",
                key,
                serde_json::json!({ "plaintext": STANDARD.encode(plaintext) }),
            )
            .await?;
        let ciphertext = field(&data, "ciphertext", "encrypt")?;
        Ok(ciphertext.as_bytes().to_vec())
    }

    /// Decrypts a `vault:vN:...` ciphertext.
    pub async fn decrypt(&self, key: &VaultKey, ciphertext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let ciphertext = std::str::from_utf8(ciphertext).map_err(|_| {
            KmsError::Payload(
                "hashivault: the stored ciphertext is not a Vault ciphertext string".into(),
            )
        })?;
        let data = self
            .write(
                "decrypt",
                key,
                serde_json::json!({ "ciphertext": ciphertext }),
            )
            .await?;
        STANDARD
            .decode(field(&data, "plaintext", "decrypt")?)
            .map_err(|_| KmsError::Unavailable {
                provider: PROVIDER,
                message: "the decrypt answer's plaintext is not base64".into(),
            })
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<String>,
}

fn field<'a>(
    data: &'a serde_json::Value,
    name: &str,
    operation: &str,
) -> Result<&'a str, KmsError> {
    data.get(name)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| KmsError::Unavailable {
            provider: PROVIDER,
            message: format!("the {operation} answer has no {name}"),
        })
}

/// Vault's `{"errors": [...]}` as one message, with a hint for the usual causes.
fn rejected(status: u16, body: &str, operation: &str, key: &VaultKey) -> KmsError {
    let errors = serde_json::from_str::<Errors>(body)
        .map(|e| e.errors.join("; "))
        .unwrap_or_default();
    let detail = if errors.is_empty() {
        "no detail".to_owned()
    } else {
        errors
    };
    let hint = match status {
        403 => " (check VAULT_SERVER_TOKEN / VAULT_TOKEN and the token's policy)".to_owned(),
        400 | 404 if detail.contains("not found") || detail.contains("no handler") => format!(
            " (check the key {:?} and the engine {:?} of the secrets URL)",
            key.key, key.engine
        ),
        _ => String::new(),
    };
    KmsError::Rejected {
        provider: PROVIDER,
        status,
        message: format!("{operation} with key {:?} refused: {detail}{hint}", key.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn environment_precedence_and_errors() {
        let http = reqwest::Client::new();
        let vault = Vault::from_env(
            http.clone(),
            &env(&[
                ("VAULT_ADDR", "http://other:8200"),
                ("VAULT_SERVER_URL", "http://127.0.0.1:8200"),
                ("VAULT_TOKEN", "b"),
                ("VAULT_SERVER_TOKEN", "a"),
            ]),
        )
        .unwrap();
        assert_eq!(vault.address(), "http://127.0.0.1:8200/");
        assert_eq!(vault.token, "a");
        let vault = Vault::from_env(
            http.clone(),
            &env(&[("VAULT_ADDR", "https://v:8200/"), ("VAULT_TOKEN", "b")]),
        )
        .unwrap();
        assert_eq!(vault.token, "b");
        let err = Vault::from_env(http.clone(), &env(&[("VAULT_TOKEN", "b")])).unwrap_err();
        assert!(
            err.to_string().contains("VAULT_SERVER_URL nor VAULT_ADDR"),
            "{err}"
        );
        let err = Vault::from_env(http.clone(), &env(&[("VAULT_ADDR", "http://v")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("VAULT_SERVER_TOKEN nor VAULT_TOKEN"),
            "{err}"
        );
        let err = Vault::from_env(
            http,
            &env(&[("VAULT_ADDR", "v:8200"), ("VAULT_TOKEN", "sekrit")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("not an http(s) URL") && !err.to_string().contains("sekrit"),
            "{err}"
        );
    }

    #[test]
    fn endpoints_escape_nothing_out_of_v1() {
        let vault = Vault::from_env(
            reqwest::Client::new(),
            &env(&[
                ("VAULT_ADDR", "http://127.0.0.1:8200/proxy/"),
                ("VAULT_TOKEN", "t"),
            ]),
        )
        .unwrap();
        let key = VaultKey {
            engine: "kms/transit".into(),
            key: "a b".into(),
        };
        assert_eq!(
            vault.endpoint("encrypt", &key).unwrap().as_str(),
            "http://127.0.0.1:8200/proxy/v1/kms/transit/encrypt/a%20b"
        );
    }
}
