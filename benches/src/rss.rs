//! Resident memory of this process: the figure that shows whether a backlog
//! is streamed from disk or held in memory.
//!
//! The scaling table reports memory next to time, because "bounded memory
//! everywhere" is a claim about how RSS grows with a queue's length. Figures
//! come from `/proc/self/status`: `VmRSS` (resident now), sampled while a
//! backlog drains, and `VmHWM` (the peak), which the kernel can reset
//! (`/proc/self/clear_refs`, value 5) so the peak of one phase is exact
//! rather than whatever a 100 ms sampler happened to see.

use std::time::Duration;

/// One sample: when (since the phase began), resident bytes, and the
/// backlog still queued at that moment.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Duration,
    pub rss: u64,
    pub queued: u64,
}

/// Resident bytes of this process now (`VmRSS`).
pub fn current() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// The peak resident bytes since start or the last [`reset_peak`] (`VmHWM`).
pub fn peak() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// Resets the kernel's peak (`VmHWM`) to the current RSS; `false` where
/// the kernel does not allow it (then only sampled peaks are exact).
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Mebibytes, for reports.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The largest sample.
pub fn sampled_peak(samples: &[Sample]) -> u64 {
    samples.iter().map(|s| s.rss).max().unwrap_or(0)
}

/// The largest RSS among the samples taken while the backlog was between
/// `low` and `high` events (inclusive): "RSS at 1 M queued" against "RSS at
/// 10 k queued" in one drain.
pub fn peak_while_queued(samples: &[Sample], low: u64, high: u64) -> Option<u64> {
    samples
        .iter()
        .filter(|s| s.queued >= low && s.queued <= high)
        .map(|s| s.rss)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size_and_a_peak() {
        let now = current().expect("VmRSS readable");
        let top = peak().expect("VmHWM readable");
        assert!(now > 0 && top >= now / 2);
    }

    #[test]
    fn peaks_are_taken_within_a_backlog_range() {
        let at = Duration::ZERO;
        let samples = [
            Sample {
                at,
                rss: 10,
                queued: 1_000_000,
            },
            Sample {
                at,
                rss: 30,
                queued: 500_000,
            },
            Sample {
                at,
                rss: 20,
                queued: 5_000,
            },
        ];
        assert_eq!(sampled_peak(&samples), 30);
        assert_eq!(peak_while_queued(&samples, 900_000, 1_000_000), Some(10));
        assert_eq!(peak_while_queued(&samples, 0, 10_000), Some(20));
        assert_eq!(peak_while_queued(&samples, 1, 2), None);
    }
}
