//! Logging to stderr as hclog JSON lines, so any go-plugin host keeps levels.
//!
//! A go-plugin host reads a plugin's stderr line by line; a line that is an
//! hclog JSON object keeps its level, message and fields, anything else is
//! logged at debug. [`init`] installs a `tracing` subscriber that writes every
//! event as one such line: `@level`, `@message`, `@timestamp` (RFC 3339, UTC,
//! microseconds), `@module` (the name given to `init`), then the fields of
//! the enclosing spans and of the event itself. Each line is written with a
//! single `write` while holding stderr's lock, so lines never interleave.
//!
//! The level filter comes from `RUST_LOG` (tracing's `EnvFilter` syntax) when
//! set, else `info`. Remember that SFTPGo passes a plugin only the variables
//! its `env_prefix`/`env_vars` allow.

use std::fmt;
use std::io::Write;

use plexus_proto::hclog::{format_json, Level as HclogLevel};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The filter used when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info";

/// Why logging could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log filter {filter:?}: {reason}")]
    BadFilter { filter: String, reason: String },
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installs the hclog JSON subscriber with `module` as `@module`, filtered by
/// `RUST_LOG` or [`DEFAULT_FILTER`]. If a subscriber is already installed, or
/// `RUST_LOG` is invalid (then `info` is used and one warning logged), it
/// carries on: logging must never stop a plugin from starting.
pub fn init(module: &str) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|filter| !filter.trim().is_empty());
    let filter = from_env.as_deref().unwrap_or(DEFAULT_FILTER);
    match try_init(module, filter) {
        Ok(()) | Err(LoggingError::AlreadyInstalled) => {}
        Err(err @ LoggingError::BadFilter { .. }) => {
            if try_init(module, DEFAULT_FILTER).is_ok() {
                tracing::warn!(error = %err, "RUST_LOG ignored");
            }
        }
    }
}

/// Installs the hclog JSON subscriber with an explicit filter (`EnvFilter` syntax).
pub fn try_init(module: &str, filter: &str) -> Result<(), LoggingError> {
    let filter = EnvFilter::try_new(filter).map_err(|err| LoggingError::BadFilter {
        filter: filter.to_owned(),
        reason: err.to_string(),
    })?;
    tracing_subscriber::registry()
        .with(filter)
        .with(HclogLayer::new(module))
        .try_init()
        .map_err(|_| LoggingError::AlreadyInstalled)
}

/// A `tracing` layer writing hclog JSON lines to stderr; [`init`] installs it,
/// or compose it into your own subscriber stack.
#[derive(Debug, Clone)]
pub struct HclogLayer {
    module: String,
    #[cfg(test)]
    captured: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

impl HclogLayer {
    pub fn new(module: &str) -> Self {
        HclogLayer {
            module: module.to_owned(),
            #[cfg(test)]
            captured: None,
        }
    }

    fn write(&self, mut line: String) {
        #[cfg(test)]
        if let Some(captured) = &self.captured {
            if let Ok(mut lines) = captured.lock() {
                lines.push(line);
            }
            return;
        }
        line.push('\n');
        // One write under the lock; a failing stderr has nowhere to report to.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    /// The line for one event (without newline), given its span fields.
    fn line(&self, event: &Event<'_>, span_fields: Vec<(String, Value)>) -> String {
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        let mut fields = span_fields;
        fields.append(&mut visitor.fields);
        let borrowed: Vec<(&str, Value)> = fields
            .iter()
            .map(|(key, value)| (key.as_str(), value.clone()))
            .collect();
        format_json(
            hclog_level(event.metadata().level()),
            &timestamp_now(),
            Some(&self.module),
            visitor.message.as_deref().unwrap_or_default(),
            &borrowed,
        )
    }
}

/// The fields recorded on a span, kept in its extensions.
struct SpanFields(Vec<(String, Value)>);

impl<S> Layer<S> for HclogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = Fields::default();
        attrs.record(&mut visitor);
        span.extensions_mut().insert(SpanFields(visitor.fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = Fields::default();
        values.record(&mut visitor);
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(existing) => {
                for (key, value) in visitor.fields {
                    match existing.0.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => existing.0.push((key, value)),
                    }
                }
            }
            None => extensions.insert(SpanFields(visitor.fields)),
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut span_fields = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    span_fields.extend(fields.0.iter().cloned());
                }
            }
        }
        self.write(self.line(event, span_fields));
    }
}

fn hclog_level(level: &Level) -> HclogLevel {
    match *level {
        Level::TRACE => HclogLevel::Trace,
        Level::DEBUG => HclogLevel::Debug,
        Level::INFO => HclogLevel::Info,
        Level::WARN => HclogLevel::Warn,
        Level::ERROR => HclogLevel::Error,
    }
}

/// Now, as RFC 3339 in UTC with microseconds (go-hclog's JSON precision).
fn timestamp_now() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

fn format_timestamp(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// Collects an event's or span's fields as JSON values; `message` apart.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Vec<(String, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        let name = field.name();
        // Metadata the `log` bridge adds; hclog has no use for it.
        if name.starts_with("log.") {
            return;
        }
        if name == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
            return;
        }
        self.fields.push((name.to_owned(), value));
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let json = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.push(field, json);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_proto::hclog::parse_json;
    use std::sync::{Arc, Mutex};

    #[test]
    fn events_become_hclog_json_lines_with_span_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut layer = HclogLayer::new("notifier-jsonl");
        layer.captured = Some(lines.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("rpc", method = "SendFsEvent", attempt = 1u64);
            let _guard = span.enter();
            span.record("attempt", 2u64);
            tracing::warn!(size = 42i64, ok = true, path = "/srv/é", "disk almost full");
            tracing::error!(err = ?"boom", "failed");
        });
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2);
        let first = parse_json(&lines[0]).unwrap();
        assert_eq!(first.level, HclogLevel::Warn);
        assert_eq!(first.message, "disk almost full");
        assert_eq!(first.module.as_deref(), Some("notifier-jsonl"));
        let fields: std::collections::HashMap<_, _> = first.fields.into_iter().collect();
        assert_eq!(fields["method"], "SendFsEvent");
        assert_eq!(fields["attempt"], "2");
        assert_eq!(fields["size"], "42");
        assert_eq!(fields["ok"], "true");
        assert_eq!(fields["path"], "/srv/é");
        let timestamp = first.timestamp.unwrap();
        assert_eq!(
            timestamp.len(),
            "2026-11-28T10:00:00.000000Z".len(),
            "{timestamp}"
        );
        assert_eq!(&timestamp[10..11], "T", "{timestamp}");
        assert!(timestamp.ends_with('Z'), "{timestamp}");
        let second = parse_json(&lines[1]).unwrap();
        assert_eq!(second.level, HclogLevel::Error);
        assert!(second
            .fields
            .contains(&("err".to_owned(), "\"boom\"".to_owned())));
    }

    #[test]
    fn timestamp_is_rfc3339_with_microseconds() {
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_764_324_000_123_456_789).unwrap();
        assert_eq!(format_timestamp(at), "2025-11-28T10:00:00.123456Z");
    }
}
