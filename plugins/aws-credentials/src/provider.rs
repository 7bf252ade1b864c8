//! Credentials on demand, cheap when they are cached: the plugins ask
//! for credentials before each request, and this keeps the last ones
//! until five minutes before they expire. One refresh runs at a time
//! (the others wait for it and share its result), so a burst of requests
//! makes one STS or metadata call, not one each. When a refresh fails
//! while the cached credentials still work, those are used (and the
//! failure logged) until they expire; after that the failure is the
//! caller's error, and the next call tries again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::credentials::Credentials;
use crate::error::Error;
use crate::expiry::{needs_refresh, still_valid};
use crate::http::Clients;
use crate::source::Source;

struct Inner {
    source: Source,
    http: Clients,
    cached: RwLock<Option<Credentials>>,
    refreshing: tokio::sync::Mutex<()>,
    /// Counts successful refreshes, so that callers that waited for one
    /// take its result instead of starting another.
    generation: AtomicU64,
}

/// Shares one credential cache; clones are the same provider.
#[derive(Clone)]
pub struct CredentialsProvider {
    inner: Arc<Inner>,
}

impl CredentialsProvider {
    pub(crate) fn new(source: Source, http: Clients) -> CredentialsProvider {
        CredentialsProvider {
            inner: Arc::new(Inner {
                source,
                http,
                cached: RwLock::new(None),
                refreshing: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// A provider that always gives `credentials` (tests, tools).
    pub fn fixed(credentials: Credentials) -> Result<CredentialsProvider, Error> {
        Ok(CredentialsProvider::new(
            Source::Static(credentials),
            Clients::new()?,
        ))
    }

    fn cached(&self) -> Option<Credentials> {
        self.inner
            .cached
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn fresh(&self) -> Option<Credentials> {
        self.cached()
            .filter(|c| !needs_refresh(c.expires(), SystemTime::now()))
    }

    /// Credentials that work now: the cached ones, or new ones.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let seen = self.inner.generation.load(Ordering::Acquire);
        let _refreshing = self.inner.refreshing.lock().await;
        // Another caller may have refreshed while this one waited: its
        // result serves this caller too, even inside the refresh window.
        if self.inner.generation.load(Ordering::Acquire) != seen {
            if let Some(credentials) = self
                .cached()
                .filter(|c| still_valid(c.expires(), SystemTime::now()))
            {
                return Ok(credentials);
            }
        }
        match self.inner.source.fetch(&self.inner.http).await {
            Ok(credentials) => {
                *self
                    .inner
                    .cached
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(credentials.clone());
                self.inner.generation.fetch_add(1, Ordering::AcqRel);
                Ok(credentials)
            }
            Err(err) => match self.cached() {
                Some(old) if still_valid(old.expires(), SystemTime::now()) => {
                    tracing::warn!(
                        source = %self.describe(),
                        error = %err,
                        "cannot refresh AWS credentials; using the current ones until they expire"
                    );
                    Ok(old)
                }
                _ => Err(err),
            },
        }
    }

    /// Where the credentials come from, in words (for the start log).
    pub fn describe(&self) -> String {
        self.inner.source.describe()
    }
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsProvider")
            .field("source", &self.describe())
            .finish()
    }
}

/// Two providers are equal when they are the same provider (clones).
impl PartialEq for CredentialsProvider {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for CredentialsProvider {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_credentials_are_cached() {
        let provider =
            CredentialsProvider::fixed(Credentials::new("AKID", "secret", None, "test")).unwrap();
        let same = provider.clone();
        assert_eq!(provider, same);
        assert_eq!(
            provider.credentials().await.unwrap().access_key_id(),
            "AKID"
        );
        assert_eq!(same.credentials().await.unwrap().access_key_id(), "AKID");
        assert!(!format!("{provider:?}").contains("secret"));
    }
}
