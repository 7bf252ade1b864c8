//! Several directories (the config file's `configs`), tried the Go
//! plugin's way: the directory that last accepted a username is tried
//! first (an LRU of `cache_size` usernames), then the others in order; the
//! first success is recorded, and the last error is returned when all
//! fail. With one directory this is a plain pass-through.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use plexus_sdk::auth::KeyboardAuthResponse;

use crate::authenticator::Authenticator;
use crate::error::AuthError;

/// Usernames → index of the last directory that accepted them.
struct Lru {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (usize, u64)>,
}

impl Lru {
    fn get(&mut self, username: &str) -> Option<usize> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(username).map(|entry| {
            entry.1 = tick;
            entry.0
        })
    }

    fn put(&mut self, username: &str, index: usize) {
        self.tick += 1;
        if !self.entries.contains_key(username) && self.entries.len() >= self.capacity {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, tick))| *tick)
                .map(|(name, _)| name.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(username.to_owned(), (index, self.tick));
    }
}

/// The directories of the plugin.
pub struct Directories {
    list: Vec<Authenticator>,
    lru: Mutex<Lru>,
}

impl Directories {
    pub fn new(list: Vec<Authenticator>, cache_size: usize) -> Self {
        Directories {
            list,
            lru: Mutex::new(Lru {
                capacity: cache_size.max(1),
                tick: 0,
                entries: HashMap::new(),
            }),
        }
    }

    /// Starts each directory's re-probe task (needs a tokio runtime).
    pub fn start(&self) {
        for auth in &self.list {
            auth.start();
        }
    }

    pub fn get(&self, index: usize) -> Option<&Authenticator> {
        self.list.get(index)
    }

    /// The index of the directory that last accepted `username`.
    pub fn last_good(&self, username: &str) -> Option<usize> {
        self.lock().get(username)
    }

    /// The order in which the directories are tried for `username`.
    pub fn order(&self, username: &str) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.list.len()).collect();
        if self.list.len() > 1 {
            if let Some(first) = self.last_good(username).filter(|i| *i < self.list.len()) {
                order.retain(|i| *i != first);
                order.insert(0, first);
            }
        }
        order
    }

    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
        user_json: &[u8],
    ) -> Result<Vec<u8>, AuthError> {
        self.first_success(username, |auth| {
            auth.check_password(username, password, user_json)
        })
        .await
    }

    pub async fn check_keyboard_interactive(
        &self,
        username: &str,
        user_json: &[u8],
    ) -> Result<Vec<u8>, AuthError> {
        self.first_success(username, |auth| {
            auth.check_keyboard_interactive(username, user_json)
        })
        .await
    }

    pub async fn keyboard_step(
        &self,
        username: &str,
        answers: &[String],
        step: i32,
    ) -> Result<KeyboardAuthResponse, AuthError> {
        self.first_success(username, |auth| auth.keyboard_step(username, answers, step))
            .await
    }

    pub async fn check_public_key(
        &self,
        username: &str,
        key: &str,
        user_json: &[u8],
    ) -> Result<Vec<u8>, AuthError> {
        self.first_success(username, |auth| {
            auth.check_public_key(username, key, user_json)
        })
        .await
    }

    async fn first_success<'a, T, F, Fut>(&'a self, username: &str, call: F) -> Result<T, AuthError>
    where
        F: Fn(&'a Authenticator) -> Fut,
        Fut: Future<Output = Result<T, AuthError>>,
    {
        let mut last = AuthError::Unavailable("no directory configured".into());
        for index in self.order(username) {
            let Some(auth) = self.list.get(index) else {
                continue;
            };
            match call(auth).await {
                Ok(answer) => {
                    if self.list.len() > 1 {
                        self.lock().put(username, index);
                    }
                    return Ok(answer);
                }
                Err(err) => {
                    if self.list.len() > 1 {
                        tracing::debug!(user = username, directory = index, "login failed: {err}");
                    }
                    last = err;
                }
            }
        }
        Err(last)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        match self.lru.lock() {
            Ok(lru) => lru,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_name_goes() {
        let mut lru = Lru {
            capacity: 2,
            tick: 0,
            entries: HashMap::new(),
        };
        lru.put("a", 1);
        lru.put("b", 0);
        assert_eq!(lru.get("a"), Some(1));
        lru.put("c", 1);
        assert_eq!(lru.get("b"), None);
        assert_eq!(lru.get("a"), Some(1));
        assert_eq!(lru.get("c"), Some(1));
    }
}
