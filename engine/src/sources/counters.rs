//! What each source did, for the metrics endpoint:
//! `plexus_source_messages_total{source, result}` and
//! `plexus_source_connected{source}`, counted where each message's fate
//! is decided.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// What became of a message a source received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageResult {
    /// Pulled from the broker.
    Received,
    /// Held durably by the engine, then acknowledged.
    Accepted,
    /// Could not be decoded; terminated (after the dead-letter subject,
    /// when one is set).
    Malformed,
    /// Of the malformed ones, published to the dead-letter subject.
    DeadLettered,
    /// The engine refused it (a queue write failed); left for redelivery.
    Refused,
}

impl MessageResult {
    pub const ALL: [MessageResult; 5] = [
        MessageResult::Received,
        MessageResult::Accepted,
        MessageResult::Malformed,
        MessageResult::DeadLettered,
        MessageResult::Refused,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MessageResult::Received => "received",
            MessageResult::Accepted => "accepted",
            MessageResult::Malformed => "malformed",
            MessageResult::DeadLettered => "dead_lettered",
            MessageResult::Refused => "refused",
        }
    }
}

/// One source's live counts.
#[derive(Debug)]
pub struct SourceCounters {
    /// `engine.sources[i]`.
    pub name: String,
    counts: [AtomicU64; 5],
    connected: AtomicU64,
}

impl SourceCounters {
    pub fn new(name: impl Into<String>) -> Self {
        SourceCounters {
            name: name.into(),
            counts: Default::default(),
            connected: AtomicU64::new(0),
        }
    }

    pub fn add(&self, result: MessageResult, n: usize) {
        self.counts[result as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn get(&self, result: MessageResult) -> u64 {
        self.counts[result as usize].load(Ordering::Relaxed)
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected
            .store(u64::from(connected), Ordering::Relaxed);
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed) == 1
    }
}

/// Every source's counters in Prometheus's text format (nothing without
/// sources).
pub fn render(sources: &[std::sync::Arc<SourceCounters>]) -> String {
    let mut text = String::new();
    if sources.is_empty() {
        return text;
    }
    let name = "plexus_source_messages_total";
    let _ = writeln!(
        text,
        "# HELP {name} Messages of each source by what became of them."
    );
    let _ = writeln!(text, "# TYPE {name} counter");
    for source in sources {
        for result in MessageResult::ALL {
            let _ = writeln!(
                text,
                "{name}{{source=\"{}\",result=\"{}\"}} {}",
                source.name,
                result.label(),
                source.get(result)
            );
        }
    }
    let name = "plexus_source_connected";
    let _ = writeln!(
        text,
        "# HELP {name} 1 while the source is connected to its broker and its consumer is ready."
    );
    let _ = writeln!(text, "# TYPE {name} gauge");
    for source in sources {
        let _ = writeln!(
            text,
            "{name}{{source=\"{}\"}} {}",
            source.name,
            u64::from(source.connected())
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_sample_per_source_and_result() {
        assert_eq!(render(&[]), "");
        let counters = Arc::new(SourceCounters::new("engine.sources[0]"));
        counters.add(MessageResult::Received, 3);
        counters.add(MessageResult::Accepted, 2);
        counters.add(MessageResult::Malformed, 1);
        counters.set_connected(true);
        let text = render(&[counters]);
        for line in [
            "plexus_source_messages_total{source=\"engine.sources[0]\",result=\"received\"} 3",
            "plexus_source_messages_total{source=\"engine.sources[0]\",result=\"accepted\"} 2",
            "plexus_source_messages_total{source=\"engine.sources[0]\",result=\"malformed\"} 1",
            "plexus_source_messages_total{source=\"engine.sources[0]\",result=\"refused\"} 0",
            "plexus_source_connected{source=\"engine.sources[0]\"} 1",
        ] {
            assert!(text.contains(line), "missing {line}:\n{text}");
        }
    }
}
