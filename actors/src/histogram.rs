//! Fixed-bucket histograms for per-plugin metrics (call latency, batch
//! size), recorded with atomics on the delivery path and read by whoever
//! renders metrics, without locks or allocation per observation. The
//! buckets are fixed, so a metric's label set stays bounded.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the call latency buckets, in seconds.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the batch size buckets, in events.
pub const BATCH_SIZE_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Room for the longest bounds list plus the `+Inf` bucket.
const MAX_BUCKETS: usize = 16;

/// A histogram over fixed `bounds`.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Not cumulative: bucket i counts values in (bounds[i-1], bounds[i]];
    /// the one after the last bound counts the rest.
    buckets: [AtomicU64; MAX_BUCKETS],
    /// The sum of the values, in millionths.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// `bounds` ascending, at most 15 of them.
    pub const fn new(bounds: &'static [f64]) -> Histogram {
        assert!(bounds.len() < MAX_BUCKETS);
        Histogram {
            bounds,
            buckets: [const { AtomicU64::new(0) }; MAX_BUCKETS],
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = (value.max(0.0) * 1e6).round();
        self.sum_micros
            .fetch_add(micros.min(u64::MAX as f64) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(self.bounds.len() + 1);
        let mut running = 0;
        for bucket in &self.buckets[..=self.bounds.len()] {
            running += bucket.load(Ordering::Relaxed);
            cumulative.push(running);
        }
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy, in Prometheus's shape: cumulative counts per
/// upper bound, the last one `+Inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub bounds: &'static [f64],
    /// One more than `bounds`: the last is the `+Inf` bucket.
    pub cumulative: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// Call latency (seconds) of one plugin.
#[derive(Debug)]
pub struct LatencyHistogram(pub Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new(LATENCY_BOUNDS))
    }
}

/// Events per call of one plugin.
#[derive(Debug)]
pub struct BatchSizeHistogram(pub Histogram);

impl Default for BatchSizeHistogram {
    fn default() -> Self {
        BatchSizeHistogram(Histogram::new(BATCH_SIZE_BOUNDS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_cumulative_buckets_with_sum_and_count() {
        let histogram = Histogram::new(&[1.0, 2.0, 4.0]);
        for value in [0.5, 1.0, 1.5, 3.0, 9.0] {
            histogram.observe(value);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.cumulative, [2, 3, 4, 5]);
        assert_eq!(snapshot.count, 5);
        assert!((snapshot.sum - 15.0).abs() < 1e-9);
    }
}
