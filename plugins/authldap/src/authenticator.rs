//! One directory's login flows, as the Go plugin runs them: password
//! (cache, search, user bind, user document), keyboard-interactive (the
//! first call finds the user; step 1 asks "Password: ", step 2 checks it),
//! and public key, which answers "not implemented" unless a public key
//! attribute is configured. TLS certificates are not implemented. No
//! password is ever logged.

use std::sync::Arc;

use plexus_sdk::auth::KeyboardAuthResponse;

use crate::cache::{CredentialCache, Lookup};
use crate::directory::{Directory, UserEntry};
use crate::error::AuthError;
use crate::public_key;
use crate::settings::Settings;
use crate::user;

/// The one question of the keyboard-interactive flow.
pub const PASSWORD_QUESTION: &str = "Password: ";

/// One directory and its cache.
pub struct Authenticator {
    settings: Arc<Settings>,
    directory: Directory,
    cache: Option<CredentialCache>,
}

impl Authenticator {
    /// Reads the CA files and sets up the pools; nothing is dialled yet.
    pub fn new(settings: Settings) -> Result<Authenticator, String> {
        let settings = Arc::new(settings);
        let cache =
            (!settings.cache_time.is_zero()).then(|| CredentialCache::new(settings.cache_time));
        Ok(Authenticator {
            directory: Directory::new(settings.clone())?,
            settings,
            cache,
        })
    }

    /// Starts the re-probe of failed servers (needs a tokio runtime).
    pub fn start(&self) {
        self.directory.start_monitor();
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn cache(&self) -> Option<&CredentialCache> {
        self.cache.as_ref()
    }

    /// `CheckUserAndPass`.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
        user_json: &[u8],
    ) -> Result<Vec<u8>, AuthError> {
        if password.is_empty() {
            return Err(AuthError::InvalidCredentials);
        }
        match self.cached(username, password) {
            Lookup::Match => {
                tracing::debug!(user = username, "password auth ok from cache");
                return Ok(Vec::new());
            }
            Lookup::Mismatch => return Err(AuthError::InvalidCredentials),
            Lookup::Miss => {}
        }
        let entry = self.directory.find_user(username, false).await?;
        self.directory.check_password(&entry.dn, password).await?;
        if let Some(cache) = &self.cache {
            cache.add(username, password);
        }
        let entry = self.with_nested_groups(entry).await?;
        user::answer(&self.settings, username, user_json, &entry)
    }

    /// `CheckUserAndKeyboardInteractive`: the user exists (no password yet).
    pub async fn check_keyboard_interactive(
        &self,
        username: &str,
        user_json: &[u8],
    ) -> Result<Vec<u8>, AuthError> {
        if self.cache.as_ref().is_some_and(|c| c.has(username)) {
            return Ok(Vec::new());
        }
        let entry = self.directory.find_user(username, false).await?;
        let entry = self.with_nested_groups(entry).await?;
        user::answer(&self.settings, username, user_json, &entry)
    }

    /// `SendKeyboardAuthRequest`: step 1 asks for the password, step 2
    /// checks it (`auth_result` 1; `check_password` 0: the host does not
    /// check it again).
    pub async fn keyboard_step(
        &self,
        username: &str,
        answers: &[String],
        step: i32,
    ) -> Result<KeyboardAuthResponse, AuthError> {
        match step {
            1 => Ok(KeyboardAuthResponse {
                questions: vec![PASSWORD_QUESTION.to_owned()],
                echos: vec![false],
                ..Default::default()
            }),
            2 => {
                let [password] = answers else {
                    return Err(AuthError::BadRequest(format!(
                        "unexpected number of answers: {}",
                        answers.len()
                    )));
                };
                if password.is_empty() {
                    return Err(AuthError::InvalidCredentials);
                }
                match self.cached(username, password) {
                    Lookup::Match => return Ok(accepted()),
                    Lookup::Mismatch => return Err(AuthError::InvalidCredentials),
                    Lookup::Miss => {}
                }
                let entry = self.directory.find_user(username, false).await?;
                self.directory.check_password(&entry.dn, password).await?;
                if let Some(cache) = &self.cache {
                    cache.add(username, password);
                }
                Ok(accepted())
            }
            _ => Err(AuthError::NotImplemented),
        }
    }

    /// `CheckUserAndPublicKey`: the key must be one of the values of the
    /// public key attribute; "not implemented" without that attribute.
    pub async fn check_public_key(
        &self,
        username: &str,
        key: &str,
        user_json: &[u8],
    ) -> Result<Vec<u8>, AuthError> {
        let Some(attribute) = &self.settings.public_key_attribute else {
            return Err(AuthError::NotImplemented);
        };
        let entry = self.directory.find_user(username, true).await?;
        if !public_key::authorized(key, entry.values(attribute)) {
            return Err(AuthError::NotAllowed(format!(
                "user {username:?}: the public key is not among the keys of attribute {attribute:?}"
            )));
        }
        let entry = self.with_nested_groups(entry).await?;
        user::answer(&self.settings, username, user_json, &entry)
    }

    /// Adds the nested groups when configured (Active Directory only).
    async fn with_nested_groups(&self, mut entry: UserEntry) -> Result<UserEntry, AuthError> {
        if self.settings.nested_groups {
            entry.nested_groups = self.directory.nested_groups(&entry.dn).await?;
        }
        Ok(entry)
    }

    fn cached(&self, username: &str, password: &str) -> Lookup {
        self.cache
            .as_ref()
            .map_or(Lookup::Miss, |c| c.check(username, password))
    }
}

fn accepted() -> KeyboardAuthResponse {
    KeyboardAuthResponse {
        auth_result: 1,
        check_password: 0,
        ..Default::default()
    }
}
