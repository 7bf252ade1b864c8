//! Latency percentiles, computed the way the Go host computes its own
//! (nearest rank), so the two sides' figures mean the same thing.

use serde::{Deserialize, Serialize};

/// p50, p99 and max of a set of latencies, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles; sorts `latencies` in place. Empty: zeros.
    pub fn of(latencies: &mut [u64]) -> Percentiles {
        if latencies.is_empty() {
            return Percentiles::default();
        }
        latencies.sort_unstable();
        let rank = |p: f64| {
            let index = (p * latencies.len() as f64).ceil() as usize;
            latencies[index.saturating_sub(1).min(latencies.len() - 1)]
        };
        Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: latencies[latencies.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_go_host() {
        let mut values: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut values);
        assert_eq!((p.p50, p.p99, p.max), (50, 99, 100));
        let mut one = vec![7];
        assert_eq!(
            Percentiles::of(&mut one),
            Percentiles {
                p50: 7,
                p99: 7,
                max: 7
            }
        );
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }
}
