//! Golden tests of the message bodies and metadata. Every expected body was
//! written by hand from sftpgo-plugin-pubsub's structs (field order, the
//! `omitempty` tags, Go's RFC3339Nano, `[]byte` as standard base64, Go's
//! HTML-safe string escaping), not produced by the code under test.

use plexus_pubsub::Encoder;
use plexus_sdk::notifier::{FsEvent, LogEvent, ProviderEvent};
use std::collections::HashMap;

fn text(body: &[u8]) -> &str {
    std::str::from_utf8(body).expect("UTF-8 body")
}

#[test]
fn fs_event_with_every_field() {
    let event = FsEvent {
        timestamp: 1_623_753_000_123_400_000,
        action: "rename".into(),
        username: "alice".into(),
        fs_path: "/srv/a.txt".into(),
        fs_target_path: "/srv/b.txt".into(),
        ssh_cmd: "sftpgo-copy".into(),
        file_size: 1024,
        protocol: "SFTP".into(),
        status: 1,
        ip: "192.0.2.10".into(),
        virtual_path: "/a.txt".into(),
        virtual_target_path: "/b.txt".into(),
        session_id: "sess-1".into(),
        fs_provider: 1,
        bucket: "bkt".into(),
        endpoint: "https://s3.example".into(),
        open_flags: 512,
        role: "ops".into(),
        elapsed: 37,
        metadata: HashMap::from([
            ("k2".to_owned(), "v2".to_owned()),
            ("k1".to_owned(), "<v1> & \"q\"".to_owned()),
        ]),
    };
    let message = Encoder::new("node-1").fs(&event);
    assert_eq!(
        text(&message.body),
        r#"{"timestamp":"2021-06-15T10:30:00.1234Z","action":"rename","username":"alice","fs_path":"/srv/a.txt","fs_target_path":"/srv/b.txt","virtual_path":"/a.txt","virtual_target_path":"/b.txt","ssh_cmd":"sftpgo-copy","file_size":1024,"elapsed":37,"status":1,"protocol":"SFTP","ip":"192.0.2.10","session_id":"sess-1","fs_provider":1,"bucket":"bkt","endpoint":"https://s3.example","open_flags":512,"role":"ops","metadata":{"k1":"\u003cv1\u003e \u0026 \"q\"","k2":"v2"},"instance_id":"node-1"}"#
    );
    assert_eq!(message.metadata, vec![("action", "rename".to_owned())]);
}

#[test]
fn fs_event_omits_empty_optional_fields() {
    let event = FsEvent {
        timestamp: 1_623_753_000_000_000_000,
        action: "upload".into(),
        ..Default::default()
    };
    let message = Encoder::default().fs(&event);
    assert_eq!(
        text(&message.body),
        r#"{"timestamp":"2021-06-15T10:30:00Z","action":"upload","username":"","fs_path":"","virtual_path":"","status":0,"protocol":"","ip":"","session_id":"","fs_provider":0}"#
    );
    // Negative sizes are not zero: Go keeps them.
    let event = FsEvent {
        timestamp: 1,
        action: "download".into(),
        file_size: -1,
        ..Default::default()
    };
    assert_eq!(
        text(&Encoder::default().fs(&event).body),
        r#"{"timestamp":"1970-01-01T00:00:00.000000001Z","action":"download","username":"","fs_path":"","virtual_path":"","file_size":-1,"status":0,"protocol":"","ip":"","session_id":"","fs_provider":0}"#
    );
}

#[test]
fn provider_event() {
    let event = ProviderEvent {
        timestamp: 1_704_067_199_500_000_000,
        action: "add".into(),
        object_type: "user".into(),
        username: "__system__".into(),
        ip: "::1".into(),
        object_name: "bob".into(),
        object_data: br#"{"username":"bob","status":1}"#.to_vec(),
        role: "".into(),
    };
    let message = Encoder::new("edge-2").provider(&event);
    assert_eq!(
        text(&message.body),
        r#"{"timestamp":"2023-12-31T23:59:59.5Z","action":"add","username":"__system__","ip":"::1","object_type":"user","object_name":"bob","object_data":"eyJ1c2VybmFtZSI6ImJvYiIsInN0YXR1cyI6MX0=","instance_id":"edge-2"}"#
    );
    assert_eq!(
        message.metadata,
        vec![
            ("action", "add".to_owned()),
            ("object_type", "user".to_owned())
        ]
    );
    // No object: `null`, role present, binary data padded.
    let event = ProviderEvent {
        timestamp: 0,
        action: "delete".into(),
        object_type: "api_key".into(),
        role: "r1".into(),
        ..Default::default()
    };
    assert_eq!(
        text(&Encoder::default().provider(&event).body),
        r#"{"timestamp":"1970-01-01T00:00:00Z","action":"delete","username":"","ip":"","object_type":"api_key","object_name":"","object_data":null,"role":"r1"}"#
    );
    let event = ProviderEvent {
        object_data: vec![0xff, 0x00, 0x10],
        ..Default::default()
    };
    assert!(text(&Encoder::default().provider(&event).body).contains(r#""object_data":"/wAQ""#));
}

#[test]
fn log_event() {
    let event = LogEvent {
        timestamp: 1_623_753_000_000_000_100,
        event: 1,
        username: "mallory".into(),
        protocol: "SSH".into(),
        ip: "203.0.113.9".into(),
        message: "Login failed: <bad password>\n".into(),
        role: "admins".into(),
    };
    let message = Encoder::new("n").log(&event);
    assert_eq!(
        text(&message.body),
        r#"{"timestamp":"2021-06-15T10:30:00.0000001Z","event":1,"protocol":"SSH","username":"mallory","ip":"203.0.113.9","message":"Login failed: \u003cbad password\u003e\n","role":"admins","instance_id":"n"}"#
    );
    assert_eq!(
        message.metadata,
        vec![("action", "log".to_owned()), ("event", "1".to_owned())]
    );
    let event = LogEvent {
        event: 5,
        ..Default::default()
    };
    let message = Encoder::default().log(&event);
    assert_eq!(
        text(&message.body),
        r#"{"timestamp":"1970-01-01T00:00:00Z","event":5}"#
    );
    assert_eq!(message.metadata_value("event"), Some("5"));
}

#[test]
fn bodies_are_valid_json_and_ids_are_stable() {
    let event = FsEvent {
        timestamp: 42,
        action: "upload".into(),
        virtual_path: "/\u{2028}x\u{7}".into(),
        ..Default::default()
    };
    let a = Encoder::default().fs(&event);
    let value: serde_json::Value = serde_json::from_slice(&a.body).expect("valid JSON");
    assert_eq!(value["virtual_path"], "/\u{2028}x\u{7}");
    assert!(text(&a.body).contains(r#""/\u2028x\u0007""#));
    // A retry of the same event has the same id; another event does not.
    assert_eq!(a.id, Encoder::default().fs(&event).id);
    assert_eq!(a.id.len(), 32);
    let other = FsEvent {
        timestamp: 43,
        ..event
    };
    assert_ne!(a.id, Encoder::default().fs(&other).id);
}
