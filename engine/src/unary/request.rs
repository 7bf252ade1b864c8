//! What one unary call puts on the wire: a header block built once per
//! method, and the event's protobuf in gRPC's length-prefixed framing.
//!
//! The header block uses only HPACK representations that leave the
//! plugin's decoder table untouched (indexed static entries and literals
//! without indexing, no Huffman coding), so the same bytes are valid on
//! every call and on every connection, whatever the plugin's
//! `SETTINGS_HEADER_TABLE_SIZE`. The headers are the ones any gRPC client
//! sends: method, scheme, path, authority, `content-type:
//! application/grpc`, `te: trailers`, `grpc-timeout` and `user-agent`.

use bytes::{BufMut, Bytes, BytesMut};
use plexus_actors::event::Event;
use prost::Message;
use std::time::Duration;

/// The gRPC methods of SFTPGo's `proto.Notifier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Fs = 0,
    Provider = 1,
    Log = 2,
}

impl Method {
    pub fn of(event: &Event) -> Method {
        match event {
            Event::Fs(_) => Method::Fs,
            Event::Provider(_) => Method::Provider,
            Event::Log(_) => Method::Log,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Method::Fs => "/proto.Notifier/SendFsEvent",
            Method::Provider => "/proto.Notifier/SendProviderEvent",
            Method::Log => "/proto.Notifier/SendLogEvent",
        }
    }
}

/// The `:authority` go-plugin clients send (the plugin's TLS server name too).
const AUTHORITY: &str = plexus_proto::mtls::SERVER_NAME;
const USER_AGENT: &str = concat!("plexus/", env!("CARGO_PKG_VERSION"));

/// The header block of each method, encoded once.
#[derive(Debug, Clone)]
pub struct HeaderBlocks {
    blocks: [Bytes; 3],
}

impl HeaderBlocks {
    /// The blocks for calls with the deadline `timeout` (sent as `grpc-timeout`).
    pub fn new(timeout: Duration) -> HeaderBlocks {
        let timeout = grpc_timeout(timeout);
        let block = |method: Method| {
            let mut out = BytesMut::with_capacity(160);
            // Indexed fields of the static table (RFC 7541 appendix A).
            out.put_u8(0x80 | 3); // :method: POST
            out.put_u8(0x80 | 6); // :scheme: http
            literal_indexed_name(&mut out, 4, method.path()); // :path
            literal_indexed_name(&mut out, 1, AUTHORITY); // :authority
            literal_indexed_name(&mut out, 31, "application/grpc"); // content-type
            literal_new_name(&mut out, "te", "trailers");
            literal_new_name(&mut out, "grpc-timeout", &timeout);
            literal_indexed_name(&mut out, 58, USER_AGENT); // user-agent
            out.freeze()
        };
        HeaderBlocks {
            blocks: [
                block(Method::Fs),
                block(Method::Provider),
                block(Method::Log),
            ],
        }
    }

    pub fn get(&self, method: Method) -> &Bytes {
        &self.blocks[method as usize]
    }
}

/// An HPACK integer with an `prefix_bits`-bit prefix whose high bits are
/// `pattern` (RFC 7541 §5.1).
fn integer(out: &mut BytesMut, pattern: u8, prefix_bits: u8, value: usize) {
    let limit = (1usize << prefix_bits) - 1;
    if value < limit {
        out.put_u8(pattern | value as u8);
        return;
    }
    out.put_u8(pattern | limit as u8);
    let mut rest = value - limit;
    while rest >= 128 {
        out.put_u8((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.put_u8(rest as u8);
}

/// A string literal without Huffman coding (RFC 7541 §5.2).
fn string(out: &mut BytesMut, text: &str) {
    integer(out, 0x00, 7, text.len());
    out.put_slice(text.as_bytes());
}

/// A literal field without indexing whose name is static-table entry `index`.
fn literal_indexed_name(out: &mut BytesMut, index: usize, value: &str) {
    integer(out, 0x00, 4, index);
    string(out, value);
}

/// A literal field without indexing with a literal name.
fn literal_new_name(out: &mut BytesMut, name: &str, value: &str) {
    out.put_u8(0x00);
    string(out, name);
    string(out, value);
}

/// A deadline as gRPC's `grpc-timeout` value: at most 8 digits and a unit,
/// the finest unit that fits, rounded up so the plugin never sees a
/// shorter deadline than the host's.
pub fn grpc_timeout(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (size, unit) in units {
        let value = nanos.div_ceil(size);
        if value <= MAX {
            return format!("{value}{unit}");
        }
    }
    format!("{MAX}H")
}

/// The event's protobuf in gRPC's framing: an uncompressed flag byte, the
/// message length (big-endian u32) and the message, appended to `out`.
pub fn put_message(out: &mut BytesMut, event: &Event) {
    let length = message_len(event);
    out.reserve(5 + length);
    out.put_u8(0);
    out.put_u32(length as u32);
    // Encoding into a BytesMut with room reserved cannot fail.
    let _ = match event {
        Event::Fs(e) => e.encode(out),
        Event::Provider(e) => e.encode(out),
        Event::Log(e) => e.encode(out),
    };
}

/// The length of the event's protobuf encoding.
pub fn message_len(event: &Event) -> usize {
    match event {
        Event::Fs(e) => e.encoded_len(),
        Event::Provider(e) => e.encoded_len(),
        Event::Log(e) => e.encoded_len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_proto::sftpgo::FsEvent;

    fn decoded(block: &[u8]) -> Vec<(String, String)> {
        let mut decoder = loona_hpack::Decoder::new();
        decoder
            .decode(block)
            .unwrap()
            .into_iter()
            .map(|(name, value)| {
                (
                    String::from_utf8(name).unwrap(),
                    String::from_utf8(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_header_block_decodes_to_a_grpc_request() {
        let blocks = HeaderBlocks::new(Duration::from_secs(30));
        let headers = decoded(blocks.get(Method::Provider));
        let expected = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/proto.Notifier/SendProviderEvent"),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", "30000000u"),
            ("user-agent", USER_AGENT),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(headers, expected);
        assert_eq!(
            decoded(blocks.get(Method::Fs))[2].1,
            "/proto.Notifier/SendFsEvent"
        );
        assert_eq!(
            decoded(blocks.get(Method::Log))[2].1,
            "/proto.Notifier/SendLogEvent"
        );
    }

    #[test]
    fn the_block_leaves_the_peer_table_empty() {
        // Index 62 is the first dynamic-table entry: it resolves only if the
        // block before it inserted a field into the table.
        let blocks = HeaderBlocks::new(Duration::from_millis(1500));
        for method in [Method::Fs, Method::Provider, Method::Log] {
            let block = blocks.get(method);
            assert!(loona_hpack::Decoder::new().decode(block).is_ok());
            let probe = [&block[..], &[0x80 | 62]].concat();
            assert!(loona_hpack::Decoder::new().decode(&probe).is_err());
        }
    }

    #[test]
    fn timeouts_take_the_finest_unit_that_fits_and_round_up() {
        assert_eq!(grpc_timeout(Duration::from_secs(30)), "30000000u");
        assert_eq!(grpc_timeout(Duration::from_millis(20)), "20000000n");
        assert_eq!(grpc_timeout(Duration::from_secs(100_000)), "100000S");
        assert_eq!(grpc_timeout(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(grpc_timeout(Duration::from_secs(u64::MAX)), "99999999H");
        assert_eq!(grpc_timeout(Duration::ZERO), "0n");
    }

    #[test]
    fn long_values_use_multi_byte_integers() {
        let mut out = BytesMut::new();
        integer(&mut out, 0x00, 7, 300);
        // 127 + 173: 0x7f, then 173 = 0b1_0101101 → 0xad, 0x01.
        assert_eq!(&out[..], &[0x7f, 0xad, 0x01]);
    }

    #[test]
    fn the_message_is_length_prefixed_protobuf() {
        let event = Event::Fs(FsEvent {
            action: "upload".into(),
            username: "alice".into(),
            ..Default::default()
        });
        let mut out = BytesMut::new();
        put_message(&mut out, &event);
        let length = u32::from_be_bytes([out[1], out[2], out[3], out[4]]) as usize;
        assert_eq!(out[0], 0);
        assert_eq!(length, out.len() - 5);
        let back = FsEvent::decode(&out[5..]).unwrap();
        assert_eq!(back.action, "upload");
        assert_eq!(back.username, "alice");
    }
}
