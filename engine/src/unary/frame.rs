//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte frame header, the frames the
//! delivery client writes, and the parsing of the ones it reads.
//!
//! Pure byte handling, no I/O: everything a plugin sends is checked here
//! before the connection acts on it, and a malformed frame becomes an
//! error that names the frame, never a panic.

use bytes::{BufMut, BytesMut};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The size of every frame header.
pub const HEADER_LEN: usize = 9;
/// The frame payload size every peer accepts until it says otherwise.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The initial flow-control window of the connection and of each stream.
pub const DEFAULT_WINDOW: u32 = 65_535;
/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = 0x7fff_ffff;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_ACK: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Error codes (RFC 9113 §7).
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The name of an error code, for messages.
pub fn error_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "unknown error code",
    }
}

/// A frame header, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub length: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// Reads a frame header from the first 9 bytes of `bytes`, if there are 9.
    pub fn parse(bytes: &[u8]) -> Option<Head> {
        let header: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Head {
            length: u32::from_be_bytes([0, header[0], header[1], header[2]]),
            kind: header[3],
            flags: header[4],
            // The reserved bit is ignored on receipt (RFC 9113 §4.1).
            stream: u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & MAX_WINDOW,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Appends a frame header.
pub fn put_head(out: &mut BytesMut, length: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(length < 1 << 24);
    let length = length as u32;
    out.put_slice(&length.to_be_bytes()[1..]);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream & MAX_WINDOW);
}

/// Appends a SETTINGS frame with the given (identifier, value) pairs.
pub fn put_settings(out: &mut BytesMut, settings: &[(u16, u32)]) {
    put_head(out, settings.len() * 6, SETTINGS, 0, 0);
    for (id, value) in settings {
        out.put_u16(*id);
        out.put_u32(*value);
    }
}

pub fn put_settings_ack(out: &mut BytesMut) {
    put_head(out, 0, SETTINGS, FLAG_ACK, 0);
}

pub fn put_ping_ack(out: &mut BytesMut, payload: &[u8; 8]) {
    put_head(out, 8, PING, FLAG_ACK, 0);
    out.put_slice(payload);
}

pub fn put_window_update(out: &mut BytesMut, stream: u32, increment: u32) {
    put_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.put_u32(increment & MAX_WINDOW);
}

pub fn put_rst_stream(out: &mut BytesMut, stream: u32, code: u32) {
    put_head(out, 4, RST_STREAM, 0, stream);
    out.put_u32(code);
}

pub fn put_goaway(out: &mut BytesMut, last_stream: u32, code: u32) {
    put_head(out, 8, GOAWAY, 0, 0);
    out.put_u32(last_stream & MAX_WINDOW);
    out.put_u32(code);
}

/// A connection error: the peer broke the protocol, and the connection
/// ends with a GOAWAY carrying `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionError {
    pub code: u32,
    pub detail: String,
}

impl ConnectionError {
    pub fn new(code: u32, detail: impl Into<String>) -> Self {
        ConnectionError {
            code,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.detail, error_name(self.code))
    }
}

/// The payload of a padded DATA or HEADERS frame without its pad length
/// byte and its padding (RFC 9113 §6.1).
pub fn strip_padding<'a>(head: &Head, payload: &'a [u8]) -> Result<&'a [u8], ConnectionError> {
    if !head.has(FLAG_PADDED) {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(ConnectionError::new(
            PROTOCOL_ERROR,
            format!("padded frame on stream {} has no pad length", head.stream),
        ));
    };
    let pad = usize::from(pad);
    if pad > rest.len() {
        return Err(ConnectionError::new(
            PROTOCOL_ERROR,
            format!(
                "frame on stream {} has {pad} bytes of padding in a {}-byte payload",
                head.stream,
                payload.len()
            ),
        ));
    }
    Ok(&rest[..rest.len() - pad])
}

/// The header block fragment of a HEADERS frame: padding and the priority
/// fields removed.
pub fn headers_fragment<'a>(head: &Head, payload: &'a [u8]) -> Result<&'a [u8], ConnectionError> {
    let fragment = strip_padding(head, payload)?;
    if !head.has(FLAG_PRIORITY) {
        return Ok(fragment);
    }
    fragment.get(5..).ok_or_else(|| {
        ConnectionError::new(
            FRAME_SIZE_ERROR,
            format!(
                "HEADERS on stream {} too short for its priority fields",
                head.stream
            ),
        )
    })
}

/// The (identifier, value) pairs of a SETTINGS payload.
pub fn parse_settings(payload: &[u8]) -> Result<Vec<(u16, u32)>, ConnectionError> {
    if payload.len() % 6 != 0 {
        return Err(ConnectionError::new(
            FRAME_SIZE_ERROR,
            format!(
                "SETTINGS payload of {} bytes is not a multiple of 6",
                payload.len()
            ),
        ));
    }
    Ok(payload
        .chunks_exact(6)
        .map(|pair| {
            (
                u16::from_be_bytes([pair[0], pair[1]]),
                u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]),
            )
        })
        .collect())
}

/// A big-endian u32 at the start of `payload`, for frames whose size was checked.
pub fn read_u32(payload: &[u8], at: usize) -> u32 {
    match payload.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_head_reads_back() {
        let mut out = BytesMut::new();
        put_head(&mut out, 0x01_02_03, HEADERS, FLAG_END_HEADERS, 7);
        assert_eq!(&out[..], &[1, 2, 3, 1, 4, 0, 0, 0, 7]);
        let head = Head::parse(&out).unwrap();
        assert_eq!(
            head,
            Head {
                length: 0x01_02_03,
                kind: HEADERS,
                flags: FLAG_END_HEADERS,
                stream: 7
            }
        );
        assert!(Head::parse(&out[..8]).is_none());
    }

    #[test]
    fn the_reserved_bit_is_ignored() {
        let bytes = [0, 0, 0, DATA, 0, 0x80, 0, 0, 3];
        assert_eq!(Head::parse(&bytes).unwrap().stream, 3);
    }

    #[test]
    fn padding_is_removed_and_checked() {
        let head = Head {
            length: 6,
            kind: DATA,
            flags: FLAG_PADDED,
            stream: 1,
        };
        assert_eq!(
            strip_padding(&head, &[2, b'a', b'b', b'c', 0, 0]).unwrap(),
            b"abc"
        );
        assert!(strip_padding(&head, &[9, b'a']).is_err());
        assert!(strip_padding(&head, &[]).is_err());
        let plain = Head { flags: 0, ..head };
        assert_eq!(strip_padding(&plain, b"xy").unwrap(), b"xy");
    }

    #[test]
    fn priority_fields_are_skipped_in_headers() {
        let head = Head {
            length: 7,
            kind: HEADERS,
            flags: FLAG_PRIORITY | FLAG_END_HEADERS,
            stream: 1,
        };
        assert_eq!(
            headers_fragment(&head, &[0, 0, 0, 0, 9, 0x88, 0x89]).unwrap(),
            &[0x88, 0x89]
        );
        assert!(headers_fragment(&head, &[0, 0]).is_err());
    }

    #[test]
    fn settings_parse_in_pairs_of_six_bytes() {
        let mut out = BytesMut::new();
        put_settings(
            &mut out,
            &[(SETTINGS_MAX_FRAME_SIZE, 32_768), (SETTINGS_ENABLE_PUSH, 0)],
        );
        let head = Head::parse(&out).unwrap();
        assert_eq!(head.length, 12);
        assert_eq!(
            parse_settings(&out[HEADER_LEN..]).unwrap(),
            vec![(SETTINGS_MAX_FRAME_SIZE, 32_768), (SETTINGS_ENABLE_PUSH, 0)]
        );
        assert!(parse_settings(&[0; 5]).is_err());
    }
}
