//! An SFTPGo event turned into the message the Go plugin publishes: the
//! JSON body (keys, order and omission rules of sftpgo-plugin-pubsub's
//! structs), the metadata (`action`, `object_type`, `event`) and, for the
//! brokers that deduplicate, a stable id derived from the body.

use crate::gojson::Object;
use crate::rfc3339::format_nanos;
use base64::Engine as _;
use plexus_sdk::notifier::{FsEvent, LogEvent, ProviderEvent};
use sha2::{Digest, Sha256};

/// One message ready for any broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The JSON body, byte-identical to the Go plugin's.
    pub body: Vec<u8>,
    /// The metadata (Go CDK's `Message.Metadata`), sorted by key.
    pub metadata: Vec<(&'static str, String)>,
    /// Hex SHA-256 of the body, first 128 bits: the same event (a retry)
    /// always gets the same id, so JetStream's `Nats-Msg-Id` deduplicates.
    pub id: String,
}

impl Message {
    fn new(body: Vec<u8>, mut metadata: Vec<(&'static str, String)>) -> Self {
        metadata.sort_by(|a, b| a.0.cmp(b.0));
        let digest = Sha256::digest(&body);
        let id = hex::encode(&digest[..16]);
        Message { body, metadata, id }
    }

    /// The metadata as borrowed pairs.
    pub fn metadata_pairs(&self) -> Vec<(&str, &str)> {
        self.metadata
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect()
    }

    /// The value of one metadata key.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Builds messages, adding the instance id (the plugin's second argument).
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    pub instance_id: String,
}

impl Encoder {
    pub fn new(instance_id: impl Into<String>) -> Self {
        Encoder {
            instance_id: instance_id.into(),
        }
    }

    /// The Go plugin's `fsEvent` struct, field by field.
    pub fn fs(&self, e: &FsEvent) -> Message {
        let mut body = Vec::with_capacity(384);
        let mut o = Object::new(&mut body);
        o.str("timestamp", &format_nanos(e.timestamp));
        o.str("action", &e.action);
        o.str("username", &e.username);
        o.str("fs_path", &e.fs_path);
        o.str_opt("fs_target_path", &e.fs_target_path);
        o.str("virtual_path", &e.virtual_path);
        o.str_opt("virtual_target_path", &e.virtual_target_path);
        o.str_opt("ssh_cmd", &e.ssh_cmd);
        o.int_opt("file_size", e.file_size);
        o.int_opt("elapsed", e.elapsed);
        o.int("status", i64::from(e.status));
        o.str("protocol", &e.protocol);
        o.str("ip", &e.ip);
        o.str("session_id", &e.session_id);
        o.int("fs_provider", i64::from(e.fs_provider));
        o.str_opt("bucket", &e.bucket);
        o.str_opt("endpoint", &e.endpoint);
        o.int_opt("open_flags", i64::from(e.open_flags));
        o.str_opt("role", &e.role);
        o.string_map_opt("metadata", &e.metadata);
        o.str_opt("instance_id", &self.instance_id);
        o.finish();
        Message::new(body, vec![("action", e.action.clone())])
    }

    /// The Go plugin's `providerEvent` struct; `object_data` is a Go
    /// `[]byte`: standard padded base64, or `null` when absent.
    pub fn provider(&self, e: &ProviderEvent) -> Message {
        let mut body = Vec::with_capacity(256 + e.object_data.len() * 4 / 3);
        let mut o = Object::new(&mut body);
        o.str("timestamp", &format_nanos(e.timestamp));
        o.str("action", &e.action);
        o.str("username", &e.username);
        o.str("ip", &e.ip);
        o.str("object_type", &e.object_type);
        o.str("object_name", &e.object_name);
        if e.object_data.is_empty() {
            // proto3 cannot tell empty from absent; Go receives nil.
            o.raw("object_data", b"null");
        } else {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&e.object_data);
            o.str("object_data", &encoded);
        }
        o.str_opt("role", &e.role);
        o.str_opt("instance_id", &self.instance_id);
        o.finish();
        Message::new(
            body,
            vec![
                ("action", e.action.clone()),
                ("object_type", e.object_type.clone()),
            ],
        )
    }

    /// The Go plugin's `LogEvent` struct; metadata `event` is the decimal id.
    pub fn log(&self, e: &LogEvent) -> Message {
        let mut body = Vec::with_capacity(256);
        let mut o = Object::new(&mut body);
        o.str("timestamp", &format_nanos(e.timestamp));
        o.int("event", i64::from(e.event));
        o.str_opt("protocol", &e.protocol);
        o.str_opt("username", &e.username);
        o.str_opt("ip", &e.ip);
        o.str_opt("message", &e.message);
        o.str_opt("role", &e.role);
        o.str_opt("instance_id", &self.instance_id);
        o.finish();
        Message::new(
            body,
            vec![("action", "log".to_owned()), ("event", e.event.to_string())],
        )
    }
}
