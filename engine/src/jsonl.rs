//! Reading events from a JSONL file: one notifier event as one JSON object
//! per line, the interop format the Go fixtures and the comparison harness
//! share (`interop/README.md`).
//!
//! It lives here so that `plexus emit --events FILE` can publish a recorded
//! or generated workload as it is, and the engine depends on no example
//! crate to do so. The format is strict, as its writer is: `kind` is `fs`,
//! `provider` or `log`; every other key is the proto field name; every key
//! of the kind must be present and no other key may be; int64 values are
//! JSON integers; `metadata` is an object of strings; `object_data` is
//! padded standard base64. A bad line is reported with the file and its
//! 1-based line number.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::Event;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Why one line is not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for LineError {}

/// Why an events file could not be read: the file, and the line when one
/// line is at fault.
#[derive(Debug)]
pub struct EventsFileError {
    pub path: PathBuf,
    /// 1-based; `None` when the file itself could not be opened or read.
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for EventsFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "events file {} line {line}: {}",
                self.path.display(),
                self.reason
            ),
            None => write!(f, "events file {}: {}", self.path.display(), self.reason),
        }
    }
}

impl std::error::Error for EventsFileError {}

/// Every key any kind may carry; which ones a line must carry depends on
/// its `kind`. `null` reads as absent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    kind: Option<String>,
    timestamp: Option<i64>,
    action: Option<String>,
    username: Option<String>,
    ip: Option<String>,
    role: Option<String>,
    protocol: Option<String>,
    // fs
    fs_path: Option<String>,
    fs_target_path: Option<String>,
    ssh_cmd: Option<String>,
    file_size: Option<i64>,
    status: Option<i32>,
    virtual_path: Option<String>,
    virtual_target_path: Option<String>,
    session_id: Option<String>,
    fs_provider: Option<i32>,
    bucket: Option<String>,
    endpoint: Option<String>,
    open_flags: Option<i32>,
    elapsed: Option<i64>,
    metadata: Option<HashMap<String, String>>,
    // provider
    object_type: Option<String>,
    object_name: Option<String>,
    object_data: Option<String>,
    // log
    event: Option<i32>,
    message: Option<String>,
}

/// Takes a key the line's kind requires.
fn required<T>(value: Option<T>, kind: &str, key: &str) -> Result<T, LineError> {
    value.ok_or_else(|| LineError {
        reason: format!("{kind} event lacks key {key:?} (or it is null)"),
    })
}

/// Refuses keys that belong to another kind.
fn foreign(present: &[(&str, bool)], kind: &str) -> Result<(), LineError> {
    match present.iter().find(|(_, is_present)| *is_present) {
        Some((key, _)) => Err(LineError {
            reason: format!("{kind} event has key {key:?}, which only another kind carries"),
        }),
        None => Ok(()),
    }
}

/// Parses one line (surrounding whitespace ignored) into its event.
pub fn parse_line(text: &str) -> Result<Event, LineError> {
    let line: Line = serde_json::from_str(text.trim()).map_err(|err| LineError {
        reason: format!("not an event object: {err}"),
    })?;
    let kind = line.kind.clone().ok_or_else(|| LineError {
        reason: "lacks key \"kind\" (fs, provider or log)".into(),
    })?;
    match kind.as_str() {
        "fs" => {
            let k = "fs";
            foreign(
                &[
                    ("object_type", line.object_type.is_some()),
                    ("object_name", line.object_name.is_some()),
                    ("object_data", line.object_data.is_some()),
                    ("event", line.event.is_some()),
                    ("message", line.message.is_some()),
                ],
                k,
            )?;
            Ok(Event::Fs(FsEvent {
                timestamp: required(line.timestamp, k, "timestamp")?,
                action: required(line.action, k, "action")?,
                username: required(line.username, k, "username")?,
                fs_path: required(line.fs_path, k, "fs_path")?,
                fs_target_path: required(line.fs_target_path, k, "fs_target_path")?,
                ssh_cmd: required(line.ssh_cmd, k, "ssh_cmd")?,
                file_size: required(line.file_size, k, "file_size")?,
                protocol: required(line.protocol, k, "protocol")?,
                status: required(line.status, k, "status")?,
                ip: required(line.ip, k, "ip")?,
                virtual_path: required(line.virtual_path, k, "virtual_path")?,
                virtual_target_path: required(line.virtual_target_path, k, "virtual_target_path")?,
                session_id: required(line.session_id, k, "session_id")?,
                fs_provider: required(line.fs_provider, k, "fs_provider")?,
                bucket: required(line.bucket, k, "bucket")?,
                endpoint: required(line.endpoint, k, "endpoint")?,
                open_flags: required(line.open_flags, k, "open_flags")?,
                role: required(line.role, k, "role")?,
                elapsed: required(line.elapsed, k, "elapsed")?,
                metadata: required(line.metadata, k, "metadata")?,
            }))
        }
        "provider" => {
            let k = "provider";
            foreign(&fs_only(&line), k)?;
            foreign(
                &[
                    ("protocol", line.protocol.is_some()),
                    ("event", line.event.is_some()),
                    ("message", line.message.is_some()),
                ],
                k,
            )?;
            let data = required(line.object_data, k, "object_data")?;
            let object_data = STANDARD.decode(data.as_bytes()).map_err(|err| LineError {
                reason: format!("\"object_data\" is not padded standard base64: {err}"),
            })?;
            Ok(Event::Provider(ProviderEvent {
                timestamp: required(line.timestamp, k, "timestamp")?,
                action: required(line.action, k, "action")?,
                object_type: required(line.object_type, k, "object_type")?,
                username: required(line.username, k, "username")?,
                ip: required(line.ip, k, "ip")?,
                object_name: required(line.object_name, k, "object_name")?,
                object_data,
                role: required(line.role, k, "role")?,
            }))
        }
        "log" => {
            let k = "log";
            foreign(&fs_only(&line), k)?;
            foreign(
                &[
                    ("action", line.action.is_some()),
                    ("object_type", line.object_type.is_some()),
                    ("object_name", line.object_name.is_some()),
                    ("object_data", line.object_data.is_some()),
                ],
                k,
            )?;
            Ok(Event::Log(LogEvent {
                timestamp: required(line.timestamp, k, "timestamp")?,
                event: required(line.event, k, "event")?,
                username: required(line.username, k, "username")?,
                protocol: required(line.protocol, k, "protocol")?,
                ip: required(line.ip, k, "ip")?,
                message: required(line.message, k, "message")?,
                role: required(line.role, k, "role")?,
            }))
        }
        other => Err(LineError {
            reason: format!("unknown kind {other:?} (fs, provider or log)"),
        }),
    }
}

/// The keys only a filesystem event carries.
fn fs_only(line: &Line) -> [(&'static str, bool); 14] {
    [
        ("fs_path", line.fs_path.is_some()),
        ("fs_target_path", line.fs_target_path.is_some()),
        ("ssh_cmd", line.ssh_cmd.is_some()),
        ("file_size", line.file_size.is_some()),
        ("status", line.status.is_some()),
        ("virtual_path", line.virtual_path.is_some()),
        ("virtual_target_path", line.virtual_target_path.is_some()),
        ("session_id", line.session_id.is_some()),
        ("fs_provider", line.fs_provider.is_some()),
        ("bucket", line.bucket.is_some()),
        ("endpoint", line.endpoint.is_some()),
        ("open_flags", line.open_flags.is_some()),
        ("elapsed", line.elapsed.is_some()),
        ("metadata", line.metadata.is_some()),
    ]
}

/// Reads every event of a JSONL file, in order; blank lines are skipped.
/// The first bad line stops the read, named by its number.
pub fn read_file(path: &Path) -> Result<Vec<Event>, EventsFileError> {
    let file_error = |reason: String| EventsFileError {
        path: path.to_owned(),
        line: None,
        reason,
    };
    let file =
        std::fs::File::open(path).map_err(|err| file_error(format!("cannot open: {err}")))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut events = Vec::new();
    let mut text = String::new();
    let mut number = 0usize;
    loop {
        text.clear();
        let read = reader.read_line(&mut text).map_err(|err| EventsFileError {
            path: path.to_owned(),
            line: Some(number + 1),
            reason: format!("cannot read: {err}"),
        })?;
        if read == 0 {
            break;
        }
        number += 1;
        if text.trim().is_empty() {
            continue;
        }
        let event = parse_line(&text).map_err(|err| EventsFileError {
            path: path.to_owned(),
            line: Some(number),
            reason: err.reason,
        })?;
        events.push(event);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: &str = r#"{"action":"upload","bucket":"","elapsed":3,"endpoint":"","file_size":0,"fs_path":"/srv/sftpgo/data/user0/projects/dir0/report-0.pdf","fs_provider":0,"fs_target_path":"","ip":"192.0.2.1","kind":"fs","metadata":{"k":"v"},"open_flags":577,"protocol":"SFTP","role":"","session_id":"00000000000000000000000000000000","ssh_cmd":"","status":1,"timestamp":1764000000000000000,"username":"user0","virtual_path":"/projects/dir0/report-0.pdf","virtual_target_path":""}"#;
    const PROVIDER: &str = r#"{"action":"add","ip":"192.0.2.9","kind":"provider","object_data":"eyJpZCI6OH0=","object_name":"user8","object_type":"user","role":"","timestamp":1764000000000000008,"username":"admin"}"#;
    const LOG: &str = r#"{"event":1,"ip":"192.0.2.10","kind":"log","message":"login failed","protocol":"SSH","role":"","timestamp":-9,"username":"user9"}"#;

    #[test]
    fn each_kind_reads_into_its_event() {
        let Event::Fs(fs) = parse_line(FS).unwrap() else {
            panic!("not fs")
        };
        assert_eq!(fs.timestamp, 1_764_000_000_000_000_000);
        assert_eq!(fs.open_flags, 577);
        assert_eq!(fs.metadata.get("k").map(String::as_str), Some("v"));
        let Event::Provider(provider) = parse_line(PROVIDER).unwrap() else {
            panic!("not provider")
        };
        assert_eq!(provider.object_data, br#"{"id":8}"#);
        let Event::Log(log) = parse_line(&format!("  {LOG}\n")).unwrap() else {
            panic!("not log")
        };
        assert_eq!((log.timestamp, log.event), (-9, 1));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let reason = |line: &str| parse_line(line).unwrap_err().reason;
        assert!(reason("nope").contains("not an event object"));
        assert!(reason(&FS.replace(r#""ssh_cmd":"","#, "")).contains("lacks key \"ssh_cmd\""));
        assert!(
            reason(&LOG.replace(r#""event":1,"#, r#""event":1,"extra":2,"#))
                .contains("unknown field `extra`")
        );
        assert!(
            reason(&LOG.replace(r#""event":1,"#, r#""event":1,"fs_path":"/","#))
                .contains("\"fs_path\"")
        );
        assert!(reason(&LOG.replace(r#""event":1"#, r#""event":2147483648"#)).contains("i32"));
        assert!(reason(&LOG.replace(r#""event":1"#, r#""event":1.5"#)).contains("i32"));
        assert!(reason(&PROVIDER.replace("eyJpZCI6OH0=", "eyJpZCI6OH0")).contains("base64"));
        assert!(
            reason(&LOG.replace(r#""kind":"log""#, r#""kind":"metadata""#))
                .contains("unknown kind")
        );
        assert!(reason(&LOG.replace(r#""kind":"log","#, "")).contains("lacks key \"kind\""));
        assert!(reason("[]").contains("not an event object"));
    }

    #[test]
    fn files_name_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, format!("{FS}\n\n{PROVIDER}\n{LOG}\n")).unwrap();
        assert_eq!(read_file(&path).unwrap().len(), 3);
        std::fs::write(&path, format!("{FS}\n\n{PROVIDER}\n{{broken\n{LOG}\n")).unwrap();
        let err = read_file(&path).unwrap_err();
        assert_eq!(err.line, Some(4));
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("events file {} line 4: ", path.display())),
            "{text}"
        );
        let missing = read_file(&dir.path().join("absent.jsonl")).unwrap_err();
        assert_eq!(missing.line, None);
        assert!(missing.to_string().contains("absent.jsonl: cannot open"));
    }
}
