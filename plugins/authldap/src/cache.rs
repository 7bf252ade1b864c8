//! The credential cache (`cache_time`): a successful password is
//! remembered for that many seconds, so a burst of logins does not reach
//! LDAP. Unlike the Go plugin it keeps a salted SHA-256 of the password,
//! never the password. The rules are the Go plugin's: a hit with the same
//! password is a success without LDAP traffic, a hit with another password
//! is refused at once (no LDAP fallback) until the entry expires, and
//! adding does not refresh an entry that has not expired. Expired entries
//! are ignored and purged at most every 10 minutes, when something is added.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How often expired entries are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

struct Entry {
    salt: [u8; 16],
    hash: [u8; 32],
    added: Instant,
}

struct State {
    entries: HashMap<String, Entry>,
    purged: Instant,
}

/// The cache of one directory.
pub struct CredentialCache {
    ttl: Duration,
    state: Mutex<State>,
}

/// What the cache knows about a username and password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Not cached, or expired: ask LDAP.
    Miss,
    /// Cached with this password.
    Match,
    /// Cached with another password.
    Mismatch,
}

impl CredentialCache {
    pub fn new(ttl: Duration) -> Self {
        CredentialCache {
            ttl,
            state: Mutex::new(State {
                entries: HashMap::new(),
                purged: Instant::now(),
            }),
        }
    }

    pub fn check(&self, username: &str, password: &str) -> Lookup {
        let state = self.lock();
        match state.entries.get(username) {
            Some(entry) if entry.added.elapsed() < self.ttl => {
                if equal(&digest(&entry.salt, password), &entry.hash) {
                    Lookup::Match
                } else {
                    Lookup::Mismatch
                }
            }
            _ => Lookup::Miss,
        }
    }

    /// A username with an unexpired entry.
    pub fn has(&self, username: &str) -> bool {
        let state = self.lock();
        matches!(state.entries.get(username), Some(e) if e.added.elapsed() < self.ttl)
    }

    /// Remembers a password that LDAP accepted; an unexpired entry stays.
    pub fn add(&self, username: &str, password: &str) {
        let mut salt = [0u8; 16];
        if getrandom::getrandom(&mut salt).is_err() {
            return; // no randomness, no cache: the next login asks LDAP
        }
        let mut state = self.lock();
        if state.purged.elapsed() >= PURGE_EVERY {
            let ttl = self.ttl;
            state.entries.retain(|_, e| e.added.elapsed() < ttl);
            state.purged = Instant::now();
        }
        if matches!(state.entries.get(username), Some(e) if e.added.elapsed() < self.ttl) {
            return;
        }
        let hash = digest(&salt, password);
        state.entries.insert(
            username.to_owned(),
            Entry {
                salt,
                hash,
                added: Instant::now(),
            },
        );
    }

    /// Entries held, expired ones included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

fn digest(salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// Compares without stopping at the first difference.
fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_mismatch_and_first_value_wins() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        assert_eq!(cache.check("u", "p"), Lookup::Miss);
        cache.add("u", "p");
        assert_eq!(cache.check("u", "p"), Lookup::Match);
        assert_eq!(cache.check("u", "other"), Lookup::Mismatch);
        cache.add("u", "other");
        assert_eq!(cache.check("u", "p"), Lookup::Match);
        assert!(cache.has("u") && !cache.has("v"));
    }

    #[test]
    fn entries_expire() {
        let cache = CredentialCache::new(Duration::from_millis(30));
        cache.add("u", "p");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(cache.check("u", "p"), Lookup::Miss);
        assert!(!cache.has("u"));
        cache.add("u", "new");
        assert_eq!(cache.check("u", "new"), Lookup::Match);
    }

    #[test]
    fn the_password_is_not_kept() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        cache.add("u", "secret-password");
        let state = cache.lock();
        let entry = &state.entries["u"];
        assert_ne!(&entry.hash[..15], &b"secret-password"[..]);
        assert_ne!(entry.salt, [0u8; 16]);
    }
}
