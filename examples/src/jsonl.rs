//! The JSONL events format: one notifier event as one JSON object per line.
//!
//! Shared with the Go interop fixtures (`interop/README.md`), so a line
//! written by the Rust plugin and one written by the Go plugin compare equal
//! as parsed JSON. `kind` is `fs`, `provider` or `log`; every other key is
//! the proto field name and **every key is always present** (the parser
//! rejects missing and unknown keys). int64 values are JSON integers over the
//! whole range (never through a double); `metadata` is always an object;
//! `object_data` is base64, standard alphabet, with padding.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use plexus_sdk::notifier::{FsEvent, LogEvent, ProviderEvent};
use serde::Serialize;
use serde_json::{json, Map, Value};

pub use plexus_proto::Event;

/// The JSON object of a filesystem event.
pub fn fs_event_json(event: &FsEvent) -> Value {
    let metadata: BTreeMap<&str, &str> = event
        .metadata
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    json!({
        "kind": "fs",
        "timestamp": event.timestamp,
        "action": event.action,
        "username": event.username,
        "fs_path": event.fs_path,
        "fs_target_path": event.fs_target_path,
        "ssh_cmd": event.ssh_cmd,
        "file_size": event.file_size,
        "protocol": event.protocol,
        "status": event.status,
        "ip": event.ip,
        "virtual_path": event.virtual_path,
        "virtual_target_path": event.virtual_target_path,
        "session_id": event.session_id,
        "fs_provider": event.fs_provider,
        "bucket": event.bucket,
        "endpoint": event.endpoint,
        "open_flags": event.open_flags,
        "role": event.role,
        "elapsed": event.elapsed,
        "metadata": metadata,
    })
}

/// The JSON object of a provider event.
pub fn provider_event_json(event: &ProviderEvent) -> Value {
    json!({
        "kind": "provider",
        "timestamp": event.timestamp,
        "action": event.action,
        "object_type": event.object_type,
        "username": event.username,
        "ip": event.ip,
        "object_name": event.object_name,
        "object_data": STANDARD.encode(&event.object_data),
        "role": event.role,
    })
}

/// The JSON object of a log event.
pub fn log_event_json(event: &LogEvent) -> Value {
    json!({
        "kind": "log",
        "timestamp": event.timestamp,
        "event": event.event,
        "username": event.username,
        "protocol": event.protocol,
        "ip": event.ip,
        "message": event.message,
        "role": event.role,
    })
}

/// The JSON object of any event.
pub fn event_json(event: &Event) -> Value {
    match event {
        Event::Fs(event) => fs_event_json(event),
        Event::Provider(event) => provider_event_json(event),
        Event::Log(event) => log_event_json(event),
    }
}

/// The event as one line of JSON, without the newline: the same text as
/// `event_json(event).to_string()` (keys in the same, sorted, order),
/// written straight from the event without building a JSON tree.
pub fn event_line(event: &Event) -> String {
    let line = match event {
        Event::Fs(e) => serde_json::to_string(&FsLine {
            action: &e.action,
            bucket: &e.bucket,
            elapsed: e.elapsed,
            endpoint: &e.endpoint,
            file_size: e.file_size,
            fs_path: &e.fs_path,
            fs_provider: e.fs_provider,
            fs_target_path: &e.fs_target_path,
            ip: &e.ip,
            kind: "fs",
            metadata: e
                .metadata
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str()))
                .collect(),
            open_flags: e.open_flags,
            protocol: &e.protocol,
            role: &e.role,
            session_id: &e.session_id,
            ssh_cmd: &e.ssh_cmd,
            status: e.status,
            timestamp: e.timestamp,
            username: &e.username,
            virtual_path: &e.virtual_path,
            virtual_target_path: &e.virtual_target_path,
        }),
        Event::Provider(e) => serde_json::to_string(&ProviderLine {
            action: &e.action,
            ip: &e.ip,
            kind: "provider",
            object_data: STANDARD.encode(&e.object_data),
            object_name: &e.object_name,
            object_type: &e.object_type,
            role: &e.role,
            timestamp: e.timestamp,
            username: &e.username,
        }),
        Event::Log(e) => serde_json::to_string(&LogLine {
            event: e.event,
            ip: &e.ip,
            kind: "log",
            message: &e.message,
            protocol: &e.protocol,
            role: &e.role,
            timestamp: e.timestamp,
            username: &e.username,
        }),
    };
    // Serialising strings and integers cannot fail; keep the tree path as
    // the fallback rather than a panic.
    line.unwrap_or_else(|_| event_json(event).to_string())
}

// The line shapes, fields in the sorted order `serde_json::Value` prints.

#[derive(Serialize)]
struct FsLine<'a> {
    action: &'a str,
    bucket: &'a str,
    elapsed: i64,
    endpoint: &'a str,
    file_size: i64,
    fs_path: &'a str,
    fs_provider: i32,
    fs_target_path: &'a str,
    ip: &'a str,
    kind: &'static str,
    metadata: BTreeMap<&'a str, &'a str>,
    open_flags: i32,
    protocol: &'a str,
    role: &'a str,
    session_id: &'a str,
    ssh_cmd: &'a str,
    status: i32,
    timestamp: i64,
    username: &'a str,
    virtual_path: &'a str,
    virtual_target_path: &'a str,
}

#[derive(Serialize)]
struct ProviderLine<'a> {
    action: &'a str,
    ip: &'a str,
    kind: &'static str,
    object_data: String,
    object_name: &'a str,
    object_type: &'a str,
    role: &'a str,
    timestamp: i64,
    username: &'a str,
}

#[derive(Serialize)]
struct LogLine<'a> {
    event: i32,
    ip: &'a str,
    kind: &'static str,
    message: &'a str,
    protocol: &'a str,
    role: &'a str,
    timestamp: i64,
    username: &'a str,
}

/// Why a line is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid event line: {}", self.reason)
    }
}

impl std::error::Error for ParseError {}

fn fail<T>(reason: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        reason: reason.into(),
    })
}

const FS_KEYS: [&str; 21] = [
    "kind",
    "timestamp",
    "action",
    "username",
    "fs_path",
    "fs_target_path",
    "ssh_cmd",
    "file_size",
    "protocol",
    "status",
    "ip",
    "virtual_path",
    "virtual_target_path",
    "session_id",
    "fs_provider",
    "bucket",
    "endpoint",
    "open_flags",
    "role",
    "elapsed",
    "metadata",
];

const PROVIDER_KEYS: [&str; 9] = [
    "kind",
    "timestamp",
    "action",
    "object_type",
    "username",
    "ip",
    "object_name",
    "object_data",
    "role",
];

const LOG_KEYS: [&str; 8] = [
    "kind",
    "timestamp",
    "event",
    "username",
    "protocol",
    "ip",
    "message",
    "role",
];

/// Reads the typed fields of one JSON object, checking its exact key set.
struct Fields<'a> {
    object: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(object: &'a Map<String, Value>, kind: &str, keys: &[&str]) -> Result<Self, ParseError> {
        if let Some(unknown) = object.keys().find(|key| !keys.contains(&key.as_str())) {
            return fail(format!("{kind} event has unknown key {unknown:?}"));
        }
        if let Some(missing) = keys.iter().find(|key| !object.contains_key(**key)) {
            return fail(format!("{kind} event lacks key {missing:?}"));
        }
        Ok(Fields { object })
    }

    fn get(&self, key: &str) -> Result<&'a Value, ParseError> {
        match self.object.get(key) {
            Some(value) => Ok(value),
            None => fail(format!("missing key {key:?}")),
        }
    }

    fn string(&self, key: &str) -> Result<String, ParseError> {
        match self.get(key)? {
            Value::String(text) => Ok(text.clone()),
            other => fail(format!("{key:?} must be a string, not {other}")),
        }
    }

    fn i64(&self, key: &str) -> Result<i64, ParseError> {
        match self.get(key)? {
            Value::Number(number) => match number.as_i64() {
                Some(value) => Ok(value),
                None => fail(format!("{key:?} must be an int64 integer, not {number}")),
            },
            other => fail(format!("{key:?} must be an integer, not {other}")),
        }
    }

    fn i32(&self, key: &str) -> Result<i32, ParseError> {
        let wide = self.i64(key)?;
        i32::try_from(wide).or_else(|_| fail(format!("{key:?} = {wide} is out of int32 range")))
    }

    fn bytes_base64(&self, key: &str) -> Result<Vec<u8>, ParseError> {
        let text = self.string(key)?;
        STANDARD
            .decode(text.as_bytes())
            .or_else(|err| fail(format!("{key:?} is not padded standard base64: {err}")))
    }

    fn string_map(
        &self,
        key: &str,
    ) -> Result<std::collections::HashMap<String, String>, ParseError> {
        match self.get(key)? {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(text) => Ok((k.clone(), text.clone())),
                    other => fail(format!("{key:?}[{k:?}] must be a string, not {other}")),
                })
                .collect(),
            other => fail(format!("{key:?} must be an object, not {other}")),
        }
    }
}

/// Parses one line (surrounding whitespace ignored) back into its event.
pub fn parse_event_line(line: &str) -> Result<Event, ParseError> {
    let value: Value = match serde_json::from_str(line.trim()) {
        Ok(value) => value,
        Err(err) => return fail(format!("not JSON: {err}")),
    };
    let Value::Object(object) = &value else {
        return fail("not a JSON object");
    };
    let kind = match object.get("kind") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => return fail(format!("\"kind\" must be a string, not {other}")),
        None => return fail("lacks key \"kind\""),
    };
    match kind {
        "fs" => {
            let f = Fields::new(object, kind, &FS_KEYS)?;
            Ok(Event::Fs(FsEvent {
                timestamp: f.i64("timestamp")?,
                action: f.string("action")?,
                username: f.string("username")?,
                fs_path: f.string("fs_path")?,
                fs_target_path: f.string("fs_target_path")?,
                ssh_cmd: f.string("ssh_cmd")?,
                file_size: f.i64("file_size")?,
                protocol: f.string("protocol")?,
                status: f.i32("status")?,
                ip: f.string("ip")?,
                virtual_path: f.string("virtual_path")?,
                virtual_target_path: f.string("virtual_target_path")?,
                session_id: f.string("session_id")?,
                fs_provider: f.i32("fs_provider")?,
                bucket: f.string("bucket")?,
                endpoint: f.string("endpoint")?,
                open_flags: f.i32("open_flags")?,
                role: f.string("role")?,
                elapsed: f.i64("elapsed")?,
                metadata: f.string_map("metadata")?,
            }))
        }
        "provider" => {
            let f = Fields::new(object, kind, &PROVIDER_KEYS)?;
            Ok(Event::Provider(ProviderEvent {
                timestamp: f.i64("timestamp")?,
                action: f.string("action")?,
                object_type: f.string("object_type")?,
                username: f.string("username")?,
                ip: f.string("ip")?,
                object_name: f.string("object_name")?,
                object_data: f.bytes_base64("object_data")?,
                role: f.string("role")?,
            }))
        }
        "log" => {
            let f = Fields::new(object, kind, &LOG_KEYS)?;
            Ok(Event::Log(LogEvent {
                timestamp: f.i64("timestamp")?,
                event: f.i32("event")?,
                username: f.string("username")?,
                protocol: f.string("protocol")?,
                ip: f.string("ip")?,
                message: f.string("message")?,
                role: f.string("role")?,
            }))
        }
        other => fail(format!(
            "unknown kind {other:?} (expected fs, provider or log)"
        )),
    }
}

/// Parses every non-empty line of a JSONL text; errors name the 1-based line.
pub fn parse_event_lines(text: &str) -> Result<Vec<Event>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            parse_event_line(line).map_err(|err| ParseError {
                reason: format!("line {}: {}", index + 1, err.reason),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_fs() -> FsEvent {
        FsEvent {
            timestamp: i64::MIN,
            action: "upload".into(),
            username: "ünïcødé 用户".into(),
            fs_path: "/srv/a \"quoted\"\n\\path".into(),
            fs_target_path: "".into(),
            ssh_cmd: "scp".into(),
            file_size: i64::MAX,
            protocol: "SFTP".into(),
            status: i32::MIN,
            ip: "::1".into(),
            virtual_path: "/a".into(),
            virtual_target_path: "/b".into(),
            session_id: "x".repeat(128),
            fs_provider: i32::MAX,
            bucket: "bucket".into(),
            endpoint: "https://s3".into(),
            open_flags: 512,
            role: "role".into(),
            elapsed: -1,
            metadata: [
                ("k".to_owned(), "v".to_owned()),
                ("é".to_owned(), "\u{0}".to_owned()),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn every_kind_round_trips_exactly() {
        let events = vec![
            Event::Fs(full_fs()),
            Event::Fs(FsEvent::default()),
            Event::Provider(ProviderEvent {
                timestamp: i64::MAX,
                action: "add".into(),
                object_type: "user".into(),
                username: "__system__".into(),
                ip: "".into(),
                object_name: "bob".into(),
                object_data: vec![0, 255, 1, 2, 3],
                role: "r".into(),
            }),
            Event::Log(LogEvent {
                timestamp: 0,
                event: 5,
                username: "u".into(),
                protocol: "FTP".into(),
                ip: "10.0.0.1".into(),
                message: "login ok ✓".into(),
                role: "".into(),
            }),
        ];
        for event in events {
            let line = event_line(&event);
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(parse_event_line(&line).unwrap(), event, "{line}");
        }
    }

    #[test]
    fn the_direct_line_is_the_tree_line() {
        let mut fs = full_fs();
        fs.metadata.insert("z".into(), "last".into());
        fs.metadata.insert("a".into(), "first \"quoted\"\n".into());
        let events = [
            Event::Fs(fs),
            Event::Fs(FsEvent::default()),
            Event::Provider(ProviderEvent {
                object_data: b"{\"id\":1}".to_vec(),
                username: "ad\u{e9}min".into(),
                ..Default::default()
            }),
            Event::Log(LogEvent {
                event: 3,
                message: "tab\tand \\ backslash".into(),
                ..Default::default()
            }),
        ];
        for event in &events {
            assert_eq!(event_line(event), event_json(event).to_string());
        }
    }

    #[test]
    fn the_shape_is_the_shared_one() {
        let value = fs_event_json(&FsEvent::default());
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), FS_KEYS.len());
        assert_eq!(object["metadata"], json!({}));
        assert_eq!(object["kind"], "fs");
        let provider = provider_event_json(&ProviderEvent {
            object_data: b"ab".to_vec(),
            ..Default::default()
        });
        assert_eq!(provider["object_data"], "YWI=");
        assert_eq!(
            log_event_json(&LogEvent::default())
                .as_object()
                .unwrap()
                .len(),
            8
        );
    }

    #[test]
    fn strictness() {
        let good = event_line(&Event::Log(LogEvent::default()));
        let mut value: Value = serde_json::from_str(&good).unwrap();
        value["extra"] = json!(1);
        assert!(parse_event_line(&value.to_string())
            .unwrap_err()
            .reason
            .contains("unknown key"));
        let mut value: Value = serde_json::from_str(&good).unwrap();
        value.as_object_mut().unwrap().remove("role");
        assert!(parse_event_line(&value.to_string())
            .unwrap_err()
            .reason
            .contains("lacks key"));
        let mut value: Value = serde_json::from_str(&good).unwrap();
        value["event"] = json!(1.5);
        assert!(parse_event_line(&value.to_string()).is_err());
        value["event"] = json!(i64::from(i32::MAX) + 1);
        assert!(parse_event_line(&value.to_string())
            .unwrap_err()
            .reason
            .contains("int32"));
        let provider = event_line(&Event::Provider(ProviderEvent::default()));
        let mut value: Value = serde_json::from_str(&provider).unwrap();
        value["object_data"] = json!("YWI");
        assert!(parse_event_line(&value.to_string())
            .unwrap_err()
            .reason
            .contains("base64"));
        assert!(parse_event_line(r#"{"kind":"metadata"}"#).is_err());
        assert!(parse_event_line("[]").is_err());
        assert!(parse_event_line("nope").is_err());
    }

    #[test]
    fn lines_are_numbered_in_errors() {
        let good = event_line(&Event::Log(LogEvent::default()));
        let text = format!("{good}\n\n{good}\nbroken\n");
        let err = parse_event_lines(&text).unwrap_err();
        assert!(err.reason.starts_with("line 4:"), "{err}");
        assert_eq!(
            parse_event_lines(&format!("{good}\n{good}")).unwrap().len(),
            2
        );
    }
}
