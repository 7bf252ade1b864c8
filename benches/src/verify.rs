//! The correctness check: did the plugin receive every event, once, intact?
//!
//! A throughput figure means nothing if events went missing, so after every
//! run (Plexus or Go host) the plugin's record file is read back and each
//! line is compared, field by field, with the event that was sent.

use crate::error::{Context, Result};
use crate::workload;
use plexus_proto::Event;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a record file holds, against what was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCheck {
    pub expected: usize,
    /// Distinct events recorded intact.
    pub delivered: usize,
    pub missing: usize,
    /// Extra copies of events already recorded.
    pub duplicates: usize,
    /// Lines naming a sent event whose fields differ from it.
    pub mismatched: usize,
    /// Lines that are not an event of this run.
    pub unreadable: usize,
}

impl DeliveryCheck {
    /// Every event arrived exactly once, intact, and nothing else did.
    pub fn ok(&self) -> bool {
        self.delivered == self.expected
            && self.missing == 0
            && self.duplicates == 0
            && self.mismatched == 0
            && self.unreadable == 0
    }

    pub fn describe(&self) -> String {
        format!(
            "{} of {} events recorded intact; {} missing, {} duplicated, {} altered, {} unreadable lines",
            self.delivered,
            self.expected,
            self.missing,
            self.duplicates,
            self.mismatched,
            self.unreadable
        )
    }
}

/// Reads `record` and compares it with `sent` (whose timestamps start at `base_ts`).
pub fn check(record: &Path, sent: &[Event], base_ts: i64) -> Result<DeliveryCheck> {
    let text = std::fs::read_to_string(record)
        .with_context(|| format!("reading the record file {}", record.display()))?;
    let mut seen = vec![false; sent.len()];
    let mut result = DeliveryCheck {
        expected: sent.len(),
        ..Default::default()
    };
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let Ok(event) = plexus_examples::jsonl::parse_event_line(line) else {
            result.unreadable += 1;
            continue;
        };
        let Some(index) = workload::index_of(event.timestamp_ns(), base_ts, sent.len()) else {
            result.unreadable += 1;
            continue;
        };
        if event != sent[index] {
            result.mismatched += 1;
        } else if seen[index] {
            result.duplicates += 1;
        } else {
            seen[index] = true;
            result.delivered += 1;
        }
    }
    result.missing = seen.iter().filter(|&&s| !s).count();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_duplicated_and_altered_events_are_told_apart() {
        let sent = workload::mixed(4, 500);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.jsonl");
        let mut altered = sent[2].clone();
        if let Event::Fs(e) = &mut altered {
            e.username.push('!');
        }
        let lines: Vec<String> = [&sent[0], &sent[1], &sent[1], &altered]
            .iter()
            .map(|e| plexus_examples::jsonl::event_line(e))
            .chain(["garbage".to_owned()])
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        let check = check(&path, &sent, 500).unwrap();
        assert_eq!(
            check,
            DeliveryCheck {
                expected: 4,
                delivered: 2,
                missing: 2,
                duplicates: 1,
                mismatched: 1,
                unreadable: 1,
            }
        );
        assert!(!check.ok());
    }
}
