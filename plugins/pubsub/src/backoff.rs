//! When to try a lost connection again: exponential backoff shared by the
//! publishers that reconnect by themselves (RabbitMQ, MQTT). While the
//! broker is down, events fail fast with the time of the next attempt
//! instead of each one waiting for a connect timeout; the host's retry
//! queue keeps them.

use std::time::{Duration, Instant};

pub const MIN_DELAY: Duration = Duration::from_millis(100);
pub const MAX_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Backoff {
    failures: u32,
    next_attempt: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    pub const fn new() -> Self {
        Backoff {
            failures: 0,
            next_attempt: None,
        }
    }

    /// `Err(wait)` while the next attempt is not due.
    pub fn ready(&self, now: Instant) -> Result<(), Duration> {
        match self.next_attempt {
            Some(at) if at > now => Err(at - now),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt; returns the delay before the next one.
    pub fn failed(&mut self, now: Instant) -> Duration {
        let delay = MIN_DELAY
            .saturating_mul(1u32 << self.failures.min(16))
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        self.next_attempt = Some(now + delay);
        delay
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.next_attempt = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let now = Instant::now();
        let mut b = Backoff::new();
        assert!(b.ready(now).is_ok());
        assert_eq!(b.failed(now), Duration::from_millis(100));
        assert!(b.ready(now).is_err());
        assert!(b.ready(now + Duration::from_millis(100)).is_ok());
        assert_eq!(b.failed(now), Duration::from_millis(200));
        for _ in 0..20 {
            b.failed(now);
        }
        assert_eq!(b.failed(now), MAX_DELAY);
        b.succeeded();
        assert!(b.ready(now).is_ok());
        assert_eq!(b.failed(now), MIN_DELAY);
    }
}
