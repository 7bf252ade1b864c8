//! Writes the seeds of every fuzz target's corpus from data the real code
//! produces: handshake lines printed by `HandshakeLine::format` (with a real
//! AutoMTLS certificate), hclog lines from `format_json`, the quickstart
//! config, sled records and write-ahead segments written by the storage
//! crate, and prost-encoded ingestion requests and batch replies.
//!
//! `scripts/fuzz --seeds` runs it (a libFuzzer binary like the targets, so
//! it links with the same instrumentation; its work is done in `init`):
//! `seeds <corpus root>` writes `<root>/<target>/seed-*` and exits.
#![no_main]

use std::path::{Path, PathBuf};

use plexus_actors::event::{encode as encode_queued, Origin};
use plexus_fuzz::{ConfigInput, LogInput};
use plexus_proto::hclog::{format_json, Level};
use plexus_proto::plexus::v1::{
    event::Kind, DeliveryResult, Event as WireEvent, NotifierBatchReply, PublishBatchRequest,
    PublishRequest,
};
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::{Event, HandshakeLine, Network};
use plexus_storage::fuzzing::{
    encode_record, log_event, log_settled, log_settled_ranges, record_key,
};
use plexus_storage::{LogOptions, LogQueue};
use prost::Message;
use serde_json::json;

struct Corpus {
    root: PathBuf,
}

impl Corpus {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
    }
}

fn handshake(corpus: &Corpus) {
    let cert = plexus_proto::mtls::Identity::generate()
        .expect("a certificate")
        .cert_der
        .to_vec();
    let line = |network, address: &str, cert: Option<Vec<u8>>, multiplex| HandshakeLine {
        core_version: 1,
        app_version: 1,
        network,
        address: address.to_owned(),
        protocol: "grpc".to_owned(),
        server_cert: cert,
        multiplex,
    };
    let lines = [
        (
            "unix",
            line(Network::Unix, "/tmp/plugin1234", None, None).format(),
        ),
        (
            "tcp-mux",
            line(Network::Tcp, "127.0.0.1:10001", None, Some(true)).format(),
        ),
        (
            "automtls",
            line(Network::Unix, "/tmp/plugin99", Some(cert), Some(false)).format(),
        ),
        ("netrpc", "1|2|tcp|127.0.0.1:1234".to_owned()),
        (
            "usage",
            "Incorrect Usage: flag provided but not defined".to_owned(),
        ),
    ];
    for (name, text) in lines {
        corpus.write("handshake", name, format!("{text}\n").as_bytes());
    }
}

fn hclog(corpus: &Corpus) {
    let json_line = format_json(
        Level::Warn,
        "2026-11-28T10:00:00.000000Z",
        Some("eventstore"),
        "disk almost full",
        &[
            ("free", json!(12)),
            ("path", json!("/srv")),
            ("@level", json!("spoof")),
        ],
    );
    let stream = [
        json_line.as_str(),
        "[INFO]  plugin started",
        "[ERROR] cannot connect\r",
        "plain line with \u{1b}[31mcolour\u{1b}[0m",
        "panic: runtime error: index out of range",
        "goroutine 1 [running]:",
    ]
    .join("\n");
    // The first byte is the line cap (0: the host's 64 KiB).
    corpus.write("hclog", "stream", &[&[0u8][..], stream.as_bytes()].concat());
    corpus.write(
        "hclog",
        "capped",
        &[&[40u8][..], json_line.as_bytes()].concat(),
    );
}

fn config(corpus: &Corpus) {
    let quickstart = include_str!("../../../examples/quickstart.json");
    corpus.write("config", "quickstart", quickstart.as_bytes());
    corpus.write(
        "config",
        "quickstart-env",
        &ConfigInput::encode(
            quickstart,
            &[
                ("SFTPGO_PLUGINS__0__CMD", "/usr/bin/true"),
                ("SFTPGO_PLUGINS__3__TYPE", "kms"),
                ("SFTPGO_PLUGINS__3__KMS_OPTIONS__SCHEME", "hashivault"),
                ("SFTPGO_PLUGINS__0__NOTIFIER_OPTIONS__LOG_EVENTS", "1,2,x"),
                ("PLEXUS_RPC_TIMEOUT", "20"),
                ("PLEXUS_DURABILITY", "write_ahead"),
                ("PLEXUS_MAX_IN_FLIGHT", "64"),
            ],
        ),
    );
    let engine = r#"{"engine":{"data_dir":"/var/lib/plexus","retry_interval":0.5,"durability":"write_ahead","rpc_timeout":20,"start_timeout":10,"shutdown_grace":5,"health_interval":10,"health_failure_threshold":3,"mailbox_capacity":1024,"overflow_wait":0.1,"max_batch_bytes":1048576,"max_reply_bytes":67108864,"ingest_max_batch":10000,"ingest_max_message_bytes":16777216,"max_in_flight":1024,"max_calls_in_flight":128,"router_mailbox":1024,"max_flush_delay_ms":2,"ipfilter_fail_closed":true,"write_ahead_fsync":true,"log_level":"info","ingest_unix":"/run/plexus.sock","ingest_tcp":"127.0.0.1:7000","ingest_token_file":"/etc/plexus/token","metrics_tcp":"127.0.0.1:9464"},"plugins":[{"type":"kms","cmd":"/bin/kms","sha256sum":"0000000000000000000000000000000000000000000000000000000000000000","kms_options":{"scheme":"hashivault","encrypted_status":"VaultTransit"}},{"type":"auth","cmd":"/bin/auth","auth_options":{"scope":5}}]}"#;
    corpus.write("config", "engine-section", engine.as_bytes());
}

fn sled_record(corpus: &Corpus) {
    for (name, seq, at, ts, payload) in [
        (
            "event",
            1u64,
            1_700_000_000_123u64,
            1_700_000_000_000_000_000i64,
            &b"an event"[..],
        ),
        ("empty", 42, 0, -1, &b""[..]),
        (
            "max-seq",
            plexus_storage::MAX_SEQ,
            u64::MAX,
            i64::MIN,
            &[0xffu8; 16][..],
        ),
    ] {
        let value = encode_record(at, ts, payload).expect("a small payload fits");
        let mut input = vec![8u8];
        input.extend_from_slice(&record_key(seq));
        input.extend_from_slice(&value);
        corpus.write("sled_record", name, &input);
    }
}

/// The segment files of a log queue directory, by name.
fn segments_of(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list the log") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".log") else {
            continue;
        };
        let id = u64::from_str_radix(stem, 16).expect("a segment name");
        out.push((id, std::fs::read(entry.path()).expect("read a segment")));
    }
    out.sort();
    out
}

fn log_recovery(corpus: &Corpus) {
    // A queue used for real: small segments, so it rotates; some records
    // settled one by one, some by age, some left live.
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let queue =
            LogQueue::open(dir.path(), LogOptions::default().segment_bytes(256)).expect("open");
        let mut seqs = Vec::new();
        for i in 0..12i64 {
            seqs.push(
                queue
                    .append(i * 1_000, format!("event {i}").as_bytes())
                    .expect("append"),
            );
        }
        queue
            .remove(&[seqs[0], seqs[2], seqs[3], seqs[7]])
            .expect("remove");
        queue.drop_older_than(2_000).expect("drop by age");
        queue.flush().expect("flush");
    }
    let used = segments_of(dir.path());
    corpus.write("log_recovery", "rotated", &LogInput::encode(8, &used));
    // Its newest segment torn in the middle of a record.
    let mut torn = used.clone();
    if let Some((_, last)) = torn.last_mut() {
        let cut = last.len().saturating_sub(5);
        last.truncate(cut);
    }
    corpus.write("log_recovery", "torn", &LogInput::encode(8, &torn));
    // Hand-made with the encoders: every record kind, and a segment named
    // above the largest sequence number.
    let mut first = Vec::new();
    log_event(&mut first, 1, 1_700_000_000_000, 5, b"one");
    log_event(&mut first, 2, 1_700_000_000_001, 6, b"two");
    log_event(&mut first, 3, 1_700_000_000_002, 7, b"three");
    let mut second = Vec::new();
    log_event(&mut second, 4, 1_700_000_000_003, 8, b"four");
    log_settled(&mut second, &[2, 4]);
    log_settled_ranges(&mut second, &[(1, 2)]);
    corpus.write(
        "log_recovery",
        "kinds",
        &LogInput::encode(20, &[(1, first), (4, second), (u64::MAX, Vec::new())]),
    );
    // Framed mode: record bodies, framed by the target. Events in two
    // segments, settles of both kinds, a segment left dead.
    let event = |seq: u64, payload: &[u8]| {
        let mut body = vec![1u8];
        body.extend_from_slice(&seq.to_le_bytes());
        body.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
        body.extend_from_slice(&(seq as i64).to_le_bytes());
        body.extend_from_slice(payload);
        body
    };
    let settled = |seqs: &[u64]| {
        let mut body = vec![2u8];
        for seq in seqs {
            body.extend_from_slice(&seq.to_le_bytes());
        }
        body
    };
    let ranges = |pairs: &[(u64, u64)]| {
        let mut body = vec![3u8];
        for (lo, hi) in pairs {
            body.extend_from_slice(&lo.to_le_bytes());
            body.extend_from_slice(&hi.to_le_bytes());
        }
        body
    };
    let segments = [
        (
            1u64,
            LogInput::encode_bodies(&[event(1, b"a"), event(2, b"b"), event(3, b"c")]),
        ),
        (
            4,
            LogInput::encode_bodies(&[event(4, b"d"), settled(&[1, 4]), event(5, b"e")]),
        ),
        (
            6,
            LogInput::encode_bodies(&[event(6, b"f"), ranges(&[(2, 3), (5, 7)])]),
        ),
        (7, Vec::new()),
    ];
    corpus.write(
        "log_recovery",
        "framed",
        &LogInput::encode(20 | plexus_fuzz::FRAMED, &segments),
    );
}

fn fs_event() -> FsEvent {
    FsEvent {
        timestamp: 1_700_000_000_000_000_000,
        action: "upload".into(),
        username: "alice".into(),
        fs_path: "/srv/alice/report.pdf".into(),
        protocol: "SFTP".into(),
        status: 1,
        ip: "192.0.2.7".into(),
        file_size: 4096,
        metadata: [("k".to_owned(), "v".to_owned())].into(),
        ..Default::default()
    }
}

fn ingest(corpus: &Corpus) {
    let fs = WireEvent {
        kind: Some(Kind::Fs(fs_event())),
    };
    let provider = WireEvent {
        kind: Some(Kind::Provider(ProviderEvent {
            timestamp: 1_700_000_000_000_000_001,
            action: "add".into(),
            object_type: "user".into(),
            object_name: "bob".into(),
            object_data: br#"{"username":"bob"}"#.to_vec(),
            ..Default::default()
        })),
    };
    let log = WireEvent {
        kind: Some(Kind::Log(LogEvent {
            timestamp: 1_700_000_000_000_000_002,
            event: 1,
            username: "mallory".into(),
            protocol: "SSH".into(),
            ip: "198.51.100.9".into(),
            message: "login failed".into(),
            ..Default::default()
        })),
    };
    let one = PublishRequest {
        event: Some(fs.clone()),
    };
    corpus.write(
        "ingest",
        "publish",
        &[&[0u8][..], &one.encode_to_vec()].concat(),
    );
    let batch = PublishBatchRequest {
        events: vec![fs, provider, log, WireEvent { kind: None }],
    };
    corpus.write(
        "ingest",
        "batch",
        &[&[1u8][..], &batch.encode_to_vec()].concat(),
    );
    let queued = encode_queued(&Event::Fs(fs_event()), Origin::WriteAhead);
    corpus.write("ingest", "queued", &[&[2u8][..], &queued].concat());
}

fn batch_reply(corpus: &Corpus) {
    let reply = NotifierBatchReply {
        results: vec![
            DeliveryResult {
                code: 0,
                message: String::new(),
            },
            DeliveryResult {
                code: 14,
                message: "unavailable".into(),
            },
            DeliveryResult {
                code: 9999,
                message: "no such code".into(),
            },
        ],
    };
    for (name, count) in [("exact", 3u16), ("short", 5), ("long", 2)] {
        let input = [&count.to_le_bytes()[..], &reply.encode_to_vec()].concat();
        corpus.write("batch_reply", name, &input);
    }
}

/// One HTTP/2 frame, as a plugin sends it.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An HPACK literal field without indexing, name and value as literals.
fn hpack_literal(name: &str, value: &str) -> Vec<u8> {
    let mut field = vec![0x00, name.len() as u8];
    field.extend_from_slice(name.as_bytes());
    field.push(value.len() as u8);
    field.extend_from_slice(value.as_bytes());
    field
}

fn delivery_answer(corpus: &Corpus) {
    const DATA: u8 = 0;
    const HEADERS: u8 = 1;
    const RST_STREAM: u8 = 3;
    const SETTINGS: u8 = 4;
    const PING: u8 = 6;
    const GOAWAY: u8 = 7;
    const WINDOW_UPDATE: u8 = 8;
    const CONTINUATION: u8 = 9;
    const END_STREAM: u8 = 1;
    const END_HEADERS: u8 = 4;
    let settings = h2_frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0]);
    // :status 200 (static index 8), content-type with indexed name 31.
    let mut response = vec![0x88, 0x0f, 0x10, 16];
    response.extend_from_slice(b"application/grpc");
    let answer = |stream: u32, status: &str| {
        let mut trailers = hpack_literal("grpc-status", status);
        if status != "0" {
            trailers.extend(hpack_literal("grpc-message", "disk%20full"));
        }
        [
            h2_frame(HEADERS, END_HEADERS, stream, &response),
            h2_frame(DATA, 0, stream, &[0, 0, 0, 0, 0]),
            h2_frame(HEADERS, END_HEADERS | END_STREAM, stream, &trailers),
        ]
        .concat()
    };
    let with_calls = |calls: u8, frames: &[Vec<u8>]| [vec![calls - 1], frames.concat()].concat();
    corpus.write("delivery_answer", "ok", &with_calls(1, &[settings.clone(), answer(1, "0")]));
    corpus.write(
        "delivery_answer",
        "ok_and_error",
        &with_calls(2, &[settings.clone(), answer(3, "14"), answer(1, "0")]),
    );
    corpus.write(
        "delivery_answer",
        "control_frames",
        &with_calls(
            2,
            &[
                settings.clone(),
                h2_frame(SETTINGS, 1, 0, &[]),
                h2_frame(PING, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]),
                h2_frame(WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]),
                h2_frame(WINDOW_UPDATE, 0, 1, &[0, 0, 16, 0]),
                answer(1, "0"),
                h2_frame(RST_STREAM, 0, 3, &[0, 0, 0, 7]),
                h2_frame(GOAWAY, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0, b'b', b'y', b'e']),
            ],
        ),
    );
    // A header block split over CONTINUATION, and fields entered into the
    // decoder's dynamic table (literal with incremental indexing) that the
    // second answer refers to by index.
    let mut indexed = vec![0x88, 0x5f, 16];
    indexed.extend_from_slice(b"application/grpc");
    let (first, rest) = indexed.split_at(3);
    let mut trailers = vec![0x40, 11];
    trailers.extend_from_slice(b"grpc-status");
    trailers.extend_from_slice(&[1, b'0']);
    corpus.write(
        "delivery_answer",
        "continuation_and_table",
        &with_calls(
            2,
            &[
                settings,
                h2_frame(HEADERS, 0, 1, first),
                h2_frame(CONTINUATION, END_HEADERS, 1, rest),
                h2_frame(DATA, 0, 1, &[0, 0, 0, 0, 0]),
                h2_frame(HEADERS, END_HEADERS | END_STREAM, 1, &trailers),
                // 62: grpc-status 0; 63: content-type; 8: :status 200.
                h2_frame(HEADERS, END_HEADERS, 3, &[0x88, 0x80 | 63]),
                h2_frame(DATA, END_STREAM, 3, &[0, 0, 0, 0, 0]),
            ],
        ),
    );
}

/// Writes every seed under the corpus root given as the first argument,
/// then exits: nothing is fuzzed.
fn write_seeds_and_exit() {
    let root = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .expect("usage: seeds <corpus root>");
    let corpus = Corpus {
        root: PathBuf::from(root),
    };
    handshake(&corpus);
    hclog(&corpus);
    config(&corpus);
    sled_record(&corpus);
    log_recovery(&corpus);
    ingest(&corpus);
    batch_reply(&corpus);
    delivery_answer(&corpus);
    std::process::exit(0);
}

libfuzzer_sys::fuzz_target!(init: write_seeds_and_exit(), |_data: &[u8]| {});
