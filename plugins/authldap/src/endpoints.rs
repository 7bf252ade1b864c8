//! High availability as the Go plugin does it: with several URLs, the
//! active ones are tried in random order, a URL that fails leaves the
//! active set, and a background task re-probes the failed ones every
//! interval (2 minutes by default) and brings back those that answer. When
//! none is active, all are tried in the configured order.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The URLs of one directory and which of them are active.
#[derive(Debug)]
pub struct Endpoints {
    urls: Vec<Arc<str>>,
    active: Mutex<Vec<bool>>,
}

impl Endpoints {
    pub fn new(urls: &[String]) -> Arc<Self> {
        Arc::new(Endpoints {
            urls: urls.iter().map(|u| Arc::from(u.as_str())).collect(),
            active: Mutex::new(vec![true; urls.len()]),
        })
    }

    /// The URLs to try, in order: the active ones shuffled; all of them in
    /// configured order when none is active.
    pub fn order(&self) -> Vec<Arc<str>> {
        if self.urls.len() == 1 {
            return self.urls.clone();
        }
        let mut urls: Vec<Arc<str>> = self
            .urls
            .iter()
            .zip(self.flags())
            .filter(|(_, active)| *active)
            .map(|(url, _)| url.clone())
            .collect();
        if urls.is_empty() {
            tracing::warn!("no active LDAP URL, trying all the configured ones");
            return self.urls.clone();
        }
        shuffle(&mut urls);
        urls
    }

    /// The active URLs, in configured order.
    pub fn active(&self) -> Vec<Arc<str>> {
        self.urls
            .iter()
            .zip(self.flags())
            .filter(|(_, active)| *active)
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// The URLs that failed and wait for a probe.
    pub fn inactive(&self) -> Vec<Arc<str>> {
        self.urls
            .iter()
            .zip(self.flags())
            .filter(|(_, active)| !*active)
            .map(|(url, _)| url.clone())
            .collect()
    }

    /// Records a success: the URL is active (again).
    pub fn mark_up(&self, url: &str) {
        if self.set(url, true) == Some(false) {
            tracing::info!(
                url,
                active = self.active().len(),
                "LDAP connection restored"
            );
        }
    }

    /// Records a failure: the URL leaves the active set.
    pub fn mark_down(&self, url: &str, error: &str) {
        if self.urls.len() > 1 && self.set(url, false) == Some(true) {
            tracing::error!(
                url,
                error,
                active = self.active().len(),
                "LDAP connection error"
            );
        }
    }

    /// Probes the inactive URLs every `interval` with `probe` (true: the
    /// URL answers) while the endpoints are alive. Nothing to do with a
    /// single URL.
    pub fn spawn_monitor<F, Fut>(self: &Arc<Self>, interval: Duration, probe: F)
    where
        F: Fn(Arc<str>) -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        if self.urls.len() < 2 {
            return;
        }
        let weak: Weak<Endpoints> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(endpoints) = weak.upgrade() else {
                    return;
                };
                for url in endpoints.inactive() {
                    if probe(url.clone()).await {
                        endpoints.mark_up(&url);
                    }
                }
            }
        });
    }

    fn flags(&self) -> Vec<bool> {
        match self.active.lock() {
            Ok(flags) => flags.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sets a URL's flag; returns the previous one.
    fn set(&self, url: &str, value: bool) -> Option<bool> {
        let index = self.urls.iter().position(|u| &**u == url)?;
        let mut flags = match self.active.lock() {
            Ok(flags) => flags,
            Err(poisoned) => poisoned.into_inner(),
        };
        let previous = flags.get(index).copied();
        if let Some(flag) = flags.get_mut(index) {
            *flag = value;
        }
        previous
    }
}

/// Fisher-Yates with the OS's random numbers (no shuffle if they fail).
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let mut bytes = [0u8; 8];
        if getrandom::getrandom(&mut bytes).is_err() {
            return;
        }
        let j = (u64::from_le_bytes(bytes) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_urls_leave_and_come_back() {
        let e = Endpoints::new(&["ldap://a".into(), "ldap://b".into()]);
        assert_eq!(e.order().len(), 2);
        e.mark_down("ldap://a", "refused");
        assert_eq!(e.order(), vec![Arc::<str>::from("ldap://b")]);
        e.mark_down("ldap://b", "refused");
        // None active: all, in configured order.
        let all: Vec<String> = e.order().iter().map(|u| u.to_string()).collect();
        assert_eq!(all, ["ldap://a", "ldap://b"]);
        e.mark_up("ldap://b");
        assert_eq!(e.inactive(), vec![Arc::<str>::from("ldap://a")]);
    }

    #[test]
    fn a_single_url_is_always_tried() {
        let e = Endpoints::new(&["ldap://a".into()]);
        e.mark_down("ldap://a", "refused");
        assert_eq!(e.order().len(), 1);
        assert!(e.inactive().is_empty());
    }

    #[test]
    fn shuffle_keeps_every_item() {
        let mut items: Vec<u32> = (0..20).collect();
        shuffle(&mut items);
        items.sort_unstable();
        assert_eq!(items, (0..20).collect::<Vec<_>>());
    }
}
