//! One notifier event of any of SFTPGo's three kinds.
//!
//! The host routes, queues and delivers it; plugins and tests receive and
//! record it. Both sides share this one type.

use crate::sftpgo::{FsEvent, LogEvent, ProviderEvent};

/// A filesystem, data provider or log event.
// Events travel as `Arc<Event>` in the host: boxing the large variant would
// only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Fs(FsEvent),
    Provider(ProviderEvent),
    Log(LogEvent),
}

impl Event {
    /// The event's own timestamp, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> i64 {
        match self {
            Event::Fs(event) => event.timestamp,
            Event::Provider(event) => event.timestamp,
            Event::Log(event) => event.timestamp,
        }
    }

    /// `fs`, `provider` or `log`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Fs(_) => "fs",
            Event::Provider(_) => "provider",
            Event::Log(_) => "log",
        }
    }
}

impl From<FsEvent> for Event {
    fn from(event: FsEvent) -> Self {
        Event::Fs(event)
    }
}

impl From<ProviderEvent> for Event {
    fn from(event: ProviderEvent) -> Self {
        Event::Provider(event)
    }
}

impl From<LogEvent> for Event {
    fn from(event: LogEvent) -> Self {
        Event::Log(event)
    }
}
