//! The hclog log line, as go-plugin plugins write it to stderr.
//!
//! A go-plugin host re-logs every line a plugin writes to stderr. A line that
//! is an hclog JSON object (`@level`, `@message`, `@timestamp`, optional
//! `@module`, any other key a structured field) keeps its level and fields; a
//! plain line may start with a `[LEVEL]` prefix; a line starting `panic: ` or
//! `fatal error: ` turns that line and every later one into errors (a Go panic
//! trace follows); anything else is debug. The plugin side formats its own
//! lines as hclog JSON so any go-plugin host keeps their levels.

use serde_json::{Map, Value};
use std::fmt;

/// An hclog level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    fn from_json(name: &str) -> Option<Level> {
        Some(match name {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One plugin log line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: Level,
    pub message: String,
    pub module: Option<String>,
    pub timestamp: Option<String>,
    /// Structured fields in the order they appeared; non-string values as JSON text.
    pub fields: Vec<(String, String)>,
}

impl LogRecord {
    fn plain(level: Level, message: &str) -> LogRecord {
        LogRecord {
            level,
            message: message.to_owned(),
            module: None,
            timestamp: None,
            fields: Vec::new(),
        }
    }
}

/// Parses an hclog JSON line; `None` when the line is not a JSON object
/// with a known `@level`.
pub fn parse_json(line: &str) -> Option<LogRecord> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(trimmed) else {
        return None;
    };
    let level = object
        .get("@level")
        .and_then(Value::as_str)
        .and_then(Level::from_json)?;
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let fields = object
        .iter()
        .filter(|(key, _)| !key.starts_with('@'))
        .map(|(key, value)| {
            let rendered = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), rendered)
        })
        .collect();
    Some(LogRecord {
        level,
        message: text("@message").unwrap_or_default(),
        module: text("@module"),
        timestamp: text("@timestamp"),
        fields,
    })
}

/// Classifies plain and JSON lines of one plugin's stream, remembering
/// whether a panic has started.
#[derive(Debug, Default)]
pub struct LineClassifier {
    panicking: bool,
}

impl LineClassifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// What level and message a host should log for this line.
    pub fn classify(&mut self, line: &str) -> LogRecord {
        if let Some(record) = parse_json(line) {
            return record;
        }
        if line.starts_with("panic: ") || line.starts_with("fatal error: ") {
            self.panicking = true;
        }
        if self.panicking {
            return LogRecord::plain(Level::Error, line);
        }
        const PREFIXES: [(&str, Level); 5] = [
            ("[TRACE]", Level::Trace),
            ("[DEBUG]", Level::Debug),
            ("[INFO]", Level::Info),
            ("[WARN]", Level::Warn),
            ("[ERROR]", Level::Error),
        ];
        for (prefix, level) in PREFIXES {
            if let Some(rest) = line.strip_prefix(prefix) {
                return LogRecord::plain(level, rest.trim_start());
            }
        }
        LogRecord::plain(Level::Debug, line)
    }
}

/// Formats one hclog JSON line (without newline) as go-hclog's JSON format does.
pub fn format_json(
    level: Level,
    timestamp: &str,
    module: Option<&str>,
    message: &str,
    fields: &[(&str, Value)],
) -> String {
    let mut object = Map::new();
    object.insert("@level".into(), Value::from(level.as_str()));
    object.insert("@message".into(), Value::from(message));
    object.insert("@timestamp".into(), Value::from(timestamp));
    if let Some(module) = module {
        object.insert("@module".into(), Value::from(module));
    }
    for (key, value) in fields {
        // A field may not overwrite the reserved keys.
        let key = if key.starts_with('@') {
            format!("_{key}")
        } else {
            (*key).to_owned()
        };
        object.insert(key, value.clone());
    }
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_line_keeps_level_message_module_and_fields() {
        let line = r#"{"@level":"warn","@message":"disk almost full","@module":"eventstore","@timestamp":"2026-11-28T10:00:00.000000Z","free":12,"path":"/srv"}"#;
        let record = parse_json(line).unwrap();
        assert_eq!(record.level, Level::Warn);
        assert_eq!(record.message, "disk almost full");
        assert_eq!(record.module.as_deref(), Some("eventstore"));
        assert_eq!(
            record.timestamp.as_deref(),
            Some("2026-11-28T10:00:00.000000Z")
        );
        assert_eq!(
            record.fields,
            vec![
                ("free".to_owned(), "12".to_owned()),
                ("path".to_owned(), "/srv".to_owned())
            ]
        );
    }

    #[test]
    fn json_with_unknown_level_is_not_hclog() {
        assert!(parse_json(r#"{"@level":"loud","@message":"x"}"#).is_none());
        assert!(parse_json(r#"{"msg":"x"}"#).is_none());
        assert!(parse_json("[1,2]").is_none());
        assert!(parse_json("{broken").is_none());
    }

    #[test]
    fn plain_prefixes_set_the_level() {
        let mut classifier = LineClassifier::new();
        let record = classifier.classify("[ERROR] cannot connect");
        assert_eq!(record.level, Level::Error);
        assert_eq!(record.message, "cannot connect");
        assert_eq!(classifier.classify("[TRACE] x").level, Level::Trace);
        assert_eq!(classifier.classify("[DEBUG] x").level, Level::Debug);
        assert_eq!(classifier.classify("[INFO]  x").message, "x");
        assert_eq!(classifier.classify("[WARN] x").level, Level::Warn);
        assert_eq!(classifier.classify("anything else").level, Level::Debug);
    }

    #[test]
    fn panic_switches_every_following_line_to_error() {
        let mut classifier = LineClassifier::new();
        assert_eq!(classifier.classify("normal").level, Level::Debug);
        assert_eq!(
            classifier.classify("panic: runtime error").level,
            Level::Error
        );
        assert_eq!(
            classifier.classify("goroutine 1 [running]:").level,
            Level::Error
        );
        assert_eq!(classifier.classify("[INFO] late").level, Level::Error);
        let mut fatal = LineClassifier::new();
        assert_eq!(fatal.classify("fatal error: oops").level, Level::Error);
    }

    #[test]
    fn formatted_line_parses_back() {
        let line = format_json(
            Level::Info,
            "2026-11-28T10:00:00Z",
            Some("notifier-jsonl"),
            "started",
            &[("events", json!(3)), ("@level", json!("spoof"))],
        );
        let record = parse_json(&line).unwrap();
        assert_eq!(record.level, Level::Info);
        assert_eq!(record.message, "started");
        assert_eq!(record.module.as_deref(), Some("notifier-jsonl"));
        assert!(record
            .fields
            .contains(&("events".to_owned(), "3".to_owned())));
        assert!(record
            .fields
            .contains(&("_@level".to_owned(), "spoof".to_owned())));
    }
}
