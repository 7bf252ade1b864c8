//! A broker message back into the engine's event: the inverse of what
//! `plexus-pubsub` (and SFTPGo's Go pub/sub plugin) publishes.
//!
//! The envelope comes in three forms: Go CDK's gob stream (NATS without
//! `natsv2`: metadata and body in one payload), NATS headers with the body
//! as the payload (`natsv2`), or a bare body. The body is the Go plugin's
//! JSON for an fs, provider or log event; which one it is follows from its
//! keys (every fs body has `fs_path`, every provider body `object_type`,
//! every log body `event`), so the metadata is not needed to decode it.
//! Keys the Go plugin may add later are ignored; a missing `timestamp`, a
//! value of the wrong type or a body of no known kind is an error.

use super::gob;
use base64::Engine as _;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::Event;
use serde::Deserialize;
use std::collections::HashMap;

/// Why a message could not become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the envelope: {0}")]
    Envelope(String),
    #[error("the JSON body: {0}")]
    Body(String),
    #[error(
        "the body is no fs, provider or log event (it has none of fs_path, object_type, event)"
    )]
    UnknownKind,
    #[error("timestamp {0:?}: {1}")]
    Timestamp(String, String),
    #[error("object_data is not standard base64: {0}")]
    ObjectData(String),
}

/// The JSON body of the message carried by `payload`: the body itself, or
/// the one inside Go CDK's gob stream. A payload starting with `{` is a
/// bare JSON body (a gob stream from Go CDK starts with its map type's
/// definition, never with that byte).
pub fn body_of(payload: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, DecodeError> {
    if payload.first() == Some(&b'{') {
        return Ok(std::borrow::Cow::Borrowed(payload));
    }
    gob::decode(payload)
        .map(|message| std::borrow::Cow::Owned(message.body))
        .map_err(DecodeError::Envelope)
}

/// The event in a message payload (any of the three envelopes).
pub fn event_of(payload: &[u8]) -> Result<Event, DecodeError> {
    event_of_body(&body_of(payload)?)
}

/// The Go plugin's `fsEvent`.
#[derive(Deserialize)]
struct FsBody {
    timestamp: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    username: String,
    fs_path: String,
    #[serde(default)]
    fs_target_path: String,
    #[serde(default)]
    virtual_path: String,
    #[serde(default)]
    virtual_target_path: String,
    #[serde(default)]
    ssh_cmd: String,
    #[serde(default)]
    file_size: i64,
    #[serde(default)]
    elapsed: i64,
    #[serde(default)]
    status: i32,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    session_id: String,
    #[serde(default)]
    fs_provider: i32,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    open_flags: i32,
    #[serde(default)]
    role: String,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

/// The Go plugin's `providerEvent`; `object_data` is a Go `[]byte`.
#[derive(Deserialize)]
struct ProviderBody {
    timestamp: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    ip: String,
    object_type: String,
    #[serde(default)]
    object_name: String,
    #[serde(default)]
    object_data: Option<String>,
    #[serde(default)]
    role: String,
}

/// The Go plugin's `LogEvent`.
#[derive(Deserialize)]
struct LogBody {
    timestamp: String,
    event: i32,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    role: String,
}

/// The event a JSON body describes.
pub fn event_of_body(body: &[u8]) -> Result<Event, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| DecodeError::Body(err.to_string()))?;
    let Some(object) = value.as_object() else {
        return Err(DecodeError::Body("not a JSON object".into()));
    };
    let typed = |err: serde_json::Error| DecodeError::Body(err.to_string());
    if object.contains_key("object_type") {
        let b: ProviderBody = serde_json::from_value(value).map_err(typed)?;
        let object_data = match b.object_data {
            None => Vec::new(),
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|err| DecodeError::ObjectData(err.to_string()))?,
        };
        Ok(Event::Provider(ProviderEvent {
            timestamp: nanos(&b.timestamp)?,
            action: b.action,
            object_type: b.object_type,
            username: b.username,
            ip: b.ip,
            object_name: b.object_name,
            object_data,
            role: b.role,
        }))
    } else if object.contains_key("fs_path") {
        let b: FsBody = serde_json::from_value(value).map_err(typed)?;
        Ok(Event::Fs(FsEvent {
            timestamp: nanos(&b.timestamp)?,
            action: b.action,
            username: b.username,
            fs_path: b.fs_path,
            fs_target_path: b.fs_target_path,
            ssh_cmd: b.ssh_cmd,
            file_size: b.file_size,
            protocol: b.protocol,
            status: b.status,
            ip: b.ip,
            virtual_path: b.virtual_path,
            virtual_target_path: b.virtual_target_path,
            session_id: b.session_id,
            fs_provider: b.fs_provider,
            bucket: b.bucket,
            endpoint: b.endpoint,
            open_flags: b.open_flags,
            role: b.role,
            elapsed: b.elapsed,
            metadata: b.metadata,
        }))
    } else if object.contains_key("event") {
        let b: LogBody = serde_json::from_value(value).map_err(typed)?;
        Ok(Event::Log(LogEvent {
            timestamp: nanos(&b.timestamp)?,
            event: b.event,
            username: b.username,
            protocol: b.protocol,
            ip: b.ip,
            message: b.message,
            role: b.role,
        }))
    } else {
        Err(DecodeError::UnknownKind)
    }
}

/// Go's RFC3339Nano text back to nanoseconds since the Unix epoch.
fn nanos(text: &str) -> Result<i64, DecodeError> {
    let bad = |why: String| DecodeError::Timestamp(text.to_owned(), why);
    let instant = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|err| bad(err.to_string()))?;
    i64::try_from(instant.unix_timestamp_nanos())
        .map_err(|_| bad("outside the range of nanoseconds an event holds".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bodies written by hand from the Go plugin's structs (§5.3 of the
    // plugin survey), not produced by plexus-pubsub's encoder.
    const FS: &str = r#"{"timestamp":"2021-06-15T10:30:00.1234Z","action":"rename","username":"jörg","fs_path":"/srv/a \u003cb\u003e.txt","fs_target_path":"/srv/c.txt","virtual_path":"/a \u003cb\u003e.txt","virtual_target_path":"/c.txt","ssh_cmd":"mv","file_size":4096,"elapsed":12,"status":1,"protocol":"SFTP","ip":"192.0.2.1","session_id":"s1","fs_provider":1,"bucket":"b","endpoint":"e","open_flags":578,"role":"r","metadata":{"k":"v"},"instance_id":"edge-1","external_username":"later"}"#;
    const PROVIDER: &str = r#"{"timestamp":"2021-06-15T10:30:00Z","action":"add","username":"admin","ip":"127.0.0.1","object_type":"user","object_name":"bob","object_data":"eyJ1c2VybmFtZSI6ImJvYiJ9","role":"r"}"#;
    const PROVIDER_NO_DATA: &str = r#"{"timestamp":"1969-12-31T23:59:59.999999999Z","action":"delete","username":"admin","ip":"","object_type":"folder","object_name":"f","object_data":null}"#;
    const LOG: &str = r#"{"timestamp":"2262-04-11T23:47:16.854775807Z","event":5,"protocol":"SSH","username":"u","ip":"203.0.113.9","message":"login ok: a message long enough for two length bytes"}"#;

    #[test]
    fn every_kind_back_into_its_event() {
        let Event::Fs(fs) = event_of(FS.as_bytes()).expect("fs") else {
            panic!("not fs");
        };
        assert_eq!(fs.timestamp, 1_623_753_000_123_400_000);
        assert_eq!(fs.fs_path, "/srv/a <b>.txt");
        assert_eq!(fs.username, "jörg");
        assert_eq!((fs.file_size, fs.elapsed, fs.status), (4096, 12, 1));
        assert_eq!((fs.fs_provider, fs.open_flags), (1, 578));
        assert_eq!(fs.metadata.get("k").map(String::as_str), Some("v"));

        let Event::Provider(p) = event_of(PROVIDER.as_bytes()).expect("provider") else {
            panic!("not provider");
        };
        assert_eq!(p.timestamp, 1_623_753_000_000_000_000);
        assert_eq!(p.object_data, br#"{"username":"bob"}"#);
        let Event::Provider(p) = event_of(PROVIDER_NO_DATA.as_bytes()).expect("provider") else {
            panic!("not provider");
        };
        assert_eq!(p.timestamp, -1);
        assert!(p.object_data.is_empty());

        let Event::Log(l) = event_of(LOG.as_bytes()).expect("log") else {
            panic!("not log");
        };
        assert_eq!(l.timestamp, i64::MAX);
        assert_eq!(l.event, 5);
    }

    /// gob's unsigned integer.
    fn gob_uint(out: &mut Vec<u8>, n: usize) {
        if n < 128 {
            out.push(n as u8);
        } else {
            let bytes = (n as u64).to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(((8 - skip) as u8).wrapping_neg());
            out.extend_from_slice(&bytes[skip..]);
        }
    }

    #[test]
    fn the_gob_envelope_is_unwrapped() {
        // Go CDK's stream around LOG with metadata {"action":"log"}, built
        // from gob's rules: the map type (as in the golden vector), the map
        // value, then the body as a []byte, with multi-byte lengths.
        let mut payload = vec![
            0x0e, 0xff, 0x81, 0x04, 0x01, 0x02, 0xff, 0x82, 0x00, 0x01, 0x0c, 0x01, 0x0c, 0x00,
            0x00,
        ];
        let map = [
            &[0xff, 0x82, 0x00, 0x01, 0x06][..],
            b"action",
            &[0x03],
            b"log",
        ]
        .concat();
        gob_uint(&mut payload, map.len());
        payload.extend_from_slice(&map);
        let mut body = vec![0x0a, 0x00];
        gob_uint(&mut body, LOG.len());
        body.extend_from_slice(LOG.as_bytes());
        gob_uint(&mut payload, body.len());
        payload.extend_from_slice(&body);
        assert!(body.len() >= 128, "exercises a multi-byte length");
        assert_eq!(
            event_of(&payload).expect("gob"),
            event_of(LOG.as_bytes()).expect("bare")
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for (payload, expected) in [
            (&b"\x00\x01"[..], "the envelope"),
            (b"{not json", "the JSON body"),
            (b"{}", "no fs, provider or log event"),
            (br#"{"event":1}"#, "the JSON body"),
            (br#"{"timestamp":"yesterday","event":1}"#, "timestamp"),
            (
                br#"{"timestamp":"2021-06-15T10:30:00Z","event":"x"}"#,
                "the JSON body",
            ),
            (
                br#"{"timestamp":"2021-06-15T10:30:00Z","object_type":"user","object_data":"%%"}"#,
                "base64",
            ),
            (
                br#"{"timestamp":"3000-01-01T00:00:00Z","event":1}"#,
                "outside",
            ),
        ] {
            let err = event_of(payload).expect_err("must fail").to_string();
            assert!(
                err.contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
