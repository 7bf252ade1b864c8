//! Lets every mainstream gRPC client publish over the unix socket, not only
//! those that send a host name as the HTTP/2 `:authority`.
//!
//! gRPC's C core (Python, Ruby, PHP, C++, C#) and grpc-java send the socket
//! path as `:authority` on a unix-socket channel (percent-encoded since
//! gRPC 1.57, e.g. `%2Frun%2Fplexus.sock`). That is not a valid URI
//! authority, and the HTTP/2 server under tonic (h2) answers every such
//! request with `RST_STREAM(PROTOCOL_ERROR)`, which the client reports as
//! "Stream removed". A unix socket has no host, so the value carries
//! nothing: this module rewrites it to `localhost`, the value grpc-go sends
//! on unix sockets, before the HTTP/2 server reads it.
//!
//! [`AuthorityRewriter`] is a sans-I/O filter over the client-to-server
//! byte stream of one connection. It parses HTTP/2 frames; `HEADERS` and
//! `CONTINUATION` frames are reassembled into one header block, HPACK-
//! decoded with the client's compression context, the `:authority` fixed
//! when it is not a valid authority, and re-encoded with a context shared
//! with the server, so both sides' dynamic tables stay consistent. Every
//! other frame passes through byte for byte, without being buffered whole.
//! The server-to-client direction is not touched.
//!
//! Bounds: a header block may hold at most [`MAX_HEADER_BLOCK`] encoded
//! bytes and decode to at most [`MAX_HEADER_LIST`] bytes (HPACK lets a few
//! bytes name a 4 KiB table entry). Over either, or on any HPACK error, the
//! connection is closed, as HTTP/2 requires for a compression error.

use bytes::{Buf, BufMut, BytesMut};
use loona_hpack::{Decoder, Encoder};

/// The connection preface every HTTP/2 client sends first (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// The frame size every HTTP/2 peer must accept (RFC 9113 §4.2); the
/// re-encoded block is split into frames no larger.
const MAX_FRAME_PAYLOAD: usize = 16_384;
/// The encoded header block a request may carry. gRPC clients send a few
/// hundred bytes; their default metadata limit is 8 KiB.
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// The decoded header list a request may carry.
pub const MAX_HEADER_LIST: usize = 1024 * 1024;
/// What a unix-socket request's `:authority` becomes when it is not valid.
const LOCAL_AUTHORITY: &[u8] = b"localhost";

/// A decoded header list: (name, value) pairs in order.
type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("HTTP/2 header block of stream {stream} is over {MAX_HEADER_BLOCK} bytes")]
    BlockTooLarge { stream: u32 },
    #[error("HTTP/2 header list of stream {stream} decodes to over {MAX_HEADER_LIST} bytes")]
    ListTooLarge { stream: u32 },
    #[error("HTTP/2 header block of stream {stream} cannot be decoded: {reason}")]
    Hpack { stream: u32, reason: String },
    #[error(
        "HTTP/2 frame of type {frame_type:#x} where a CONTINUATION of stream {stream} was due"
    )]
    ContinuationExpected { stream: u32, frame_type: u8 },
    #[error("HTTP/2 HEADERS frame of stream {stream} is malformed: {reason}")]
    MalformedHeaders { stream: u32, reason: &'static str },
}

/// Where the filter is in the client's byte stream.
enum Stage {
    /// Waiting for the 24-byte connection preface.
    Preface,
    /// At a frame boundary.
    FrameHeader,
    /// Inside a frame that passes through: this many bytes of it remain.
    Forward(usize),
    /// A header block is being reassembled: CONTINUATION frames are due.
    Continuation(HeaderBlock),
    /// Not HTTP/2 with prior knowledge: everything passes through, and the
    /// server answers it as it sees fit.
    Passthrough,
}

/// A header block being reassembled from HEADERS and CONTINUATION frames.
struct HeaderBlock {
    stream: u32,
    /// END_STREAM of the HEADERS frame.
    end_stream: bool,
    /// The 5 priority bytes of the HEADERS frame, when it had them.
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
}

/// The client-to-server filter of one connection (see the module docs).
pub struct AuthorityRewriter {
    stage: Stage,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
    rewritten: u64,
}

impl Default for AuthorityRewriter {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthorityRewriter {
    pub fn new() -> AuthorityRewriter {
        let mut decoder = Decoder::new();
        // The server advertises no SETTINGS_HEADER_TABLE_SIZE, so the
        // client's table may not exceed the protocol's default.
        decoder.set_max_allowed_table_size(4096);
        AuthorityRewriter {
            stage: Stage::Preface,
            decoder,
            encoder: Encoder::new(),
            rewritten: 0,
        }
    }

    /// How many requests had their `:authority` rewritten.
    pub fn rewritten(&self) -> u64 {
        self.rewritten
    }

    /// Moves what can be decided of `input` to `output`, rewritten; what is
    /// left in `input` waits for more bytes.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
    ) -> Result<(), RewriteError> {
        loop {
            match &mut self.stage {
                Stage::Passthrough => {
                    output.extend_from_slice(input);
                    input.clear();
                    return Ok(());
                }
                Stage::Preface => {
                    let seen = input.len().min(PREFACE.len());
                    if input[..seen] != PREFACE[..seen] {
                        self.stage = Stage::Passthrough;
                        continue;
                    }
                    if seen < PREFACE.len() {
                        return Ok(());
                    }
                    output.extend_from_slice(&input[..PREFACE.len()]);
                    input.advance(PREFACE.len());
                    self.stage = Stage::FrameHeader;
                }
                Stage::Forward(remaining) => {
                    let take = (*remaining).min(input.len());
                    output.extend_from_slice(&input[..take]);
                    input.advance(take);
                    *remaining -= take;
                    if *remaining > 0 {
                        return Ok(());
                    }
                    self.stage = Stage::FrameHeader;
                }
                Stage::FrameHeader | Stage::Continuation(_) => {
                    if input.len() < FRAME_HEADER_LEN {
                        return Ok(());
                    }
                    let header = FrameHeader::parse(&input[..FRAME_HEADER_LEN]);
                    let expecting_continuation = matches!(self.stage, Stage::Continuation(_));
                    if header.frame_type != TYPE_HEADERS
                        && !(expecting_continuation && header.frame_type == TYPE_CONTINUATION)
                    {
                        if let Stage::Continuation(block) = &self.stage {
                            return Err(RewriteError::ContinuationExpected {
                                stream: block.stream,
                                frame_type: header.frame_type,
                            });
                        }
                        output.extend_from_slice(&input[..FRAME_HEADER_LEN]);
                        input.advance(FRAME_HEADER_LEN);
                        self.stage = Stage::Forward(header.length);
                        continue;
                    }
                    if header.length > MAX_HEADER_BLOCK {
                        return Err(RewriteError::BlockTooLarge {
                            stream: header.stream,
                        });
                    }
                    if input.len() < FRAME_HEADER_LEN + header.length {
                        input.reserve(FRAME_HEADER_LEN + header.length - input.len());
                        return Ok(());
                    }
                    input.advance(FRAME_HEADER_LEN);
                    let payload = input.split_to(header.length);
                    self.header_frame(header, &payload, output)?;
                }
            }
        }
    }

    /// Takes a HEADERS or CONTINUATION frame whose payload is complete.
    fn header_frame(
        &mut self,
        header: FrameHeader,
        payload: &[u8],
        output: &mut BytesMut,
    ) -> Result<(), RewriteError> {
        let mut block = match std::mem::replace(&mut self.stage, Stage::FrameHeader) {
            Stage::Continuation(block) => {
                if header.stream != block.stream {
                    return Err(RewriteError::ContinuationExpected {
                        stream: block.stream,
                        frame_type: header.frame_type,
                    });
                }
                block
            }
            _ if header.frame_type == TYPE_CONTINUATION => {
                return Err(RewriteError::MalformedHeaders {
                    stream: header.stream,
                    reason: "CONTINUATION without HEADERS",
                })
            }
            _ => HeaderBlock::open(&header, payload)?,
        };
        if header.frame_type == TYPE_CONTINUATION {
            block.fragment.extend_from_slice(payload);
        }
        if block.fragment.len() > MAX_HEADER_BLOCK {
            return Err(RewriteError::BlockTooLarge {
                stream: block.stream,
            });
        }
        if header.flags & FLAG_END_HEADERS == 0 {
            self.stage = Stage::Continuation(block);
            return Ok(());
        }
        let fields = self.decode(&block)?;
        let encoded = self
            .encoder
            .encode(fields.iter().map(|(name, value)| (&name[..], &value[..])));
        write_header_frames(&block, &encoded, output);
        Ok(())
    }

    /// Decodes a complete block, fixing its `:authority`.
    fn decode(&mut self, block: &HeaderBlock) -> Result<HeaderList, RewriteError> {
        let mut fields = Vec::new();
        let mut total = 0usize;
        let mut over = false;
        let mut rewritten = false;
        self.decoder
            .decode_with_cb(&block.fragment, |name, value| {
                // RFC 7541 §4.1's size of an entry: a bound on the memory
                // the list takes.
                total = total.saturating_add(name.len() + value.len() + 32);
                if total > MAX_HEADER_LIST {
                    over = true;
                    return;
                }
                let value = if &name[..] == b":authority" && !valid_authority(&value) {
                    rewritten = true;
                    LOCAL_AUTHORITY.to_vec()
                } else {
                    value.into_owned()
                };
                fields.push((name.into_owned(), value));
            })
            .map_err(|err| RewriteError::Hpack {
                stream: block.stream,
                reason: err.to_string(),
            })?;
        if over {
            return Err(RewriteError::ListTooLarge {
                stream: block.stream,
            });
        }
        if rewritten {
            self.rewritten += 1;
        }
        Ok(fields)
    }
}

/// Whether the HTTP/2 server accepts `value` as an `:authority`.
fn valid_authority(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

struct FrameHeader {
    length: usize,
    frame_type: u8,
    flags: u8,
    stream: u32,
}

impl FrameHeader {
    /// Parses the 9 bytes of a frame header (RFC 9113 §4.1).
    fn parse(bytes: &[u8]) -> FrameHeader {
        let length =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        FrameHeader {
            length,
            frame_type: bytes[3],
            flags: bytes[4],
            stream,
        }
    }
}

impl HeaderBlock {
    /// Opens a block from a HEADERS frame, without its padding.
    fn open(header: &FrameHeader, payload: &[u8]) -> Result<HeaderBlock, RewriteError> {
        let malformed = |reason| RewriteError::MalformedHeaders {
            stream: header.stream,
            reason,
        };
        let mut rest = payload;
        let mut padding = 0usize;
        if header.flags & FLAG_PADDED != 0 {
            let (&pad, after) = rest.split_first().ok_or(malformed("no pad length"))?;
            padding = usize::from(pad);
            rest = after;
        }
        let mut priority = None;
        if header.flags & FLAG_PRIORITY != 0 {
            if rest.len() < 5 {
                return Err(malformed("priority fields cut short"));
            }
            let mut bytes = [0u8; 5];
            bytes.copy_from_slice(&rest[..5]);
            priority = Some(bytes);
            rest = &rest[5..];
        }
        if padding > rest.len() {
            return Err(malformed("padding longer than the frame"));
        }
        Ok(HeaderBlock {
            stream: header.stream,
            end_stream: header.flags & FLAG_END_STREAM != 0,
            priority,
            fragment: rest[..rest.len() - padding].to_vec(),
        })
    }
}

/// Writes `encoded` as one HEADERS frame and as many CONTINUATION frames as
/// it needs, without padding.
fn write_header_frames(block: &HeaderBlock, encoded: &[u8], output: &mut BytesMut) {
    let priority_len = if block.priority.is_some() { 5 } else { 0 };
    let first_len = encoded.len().min(MAX_FRAME_PAYLOAD - priority_len);
    let (first, mut rest) = encoded.split_at(first_len);
    let mut flags = 0u8;
    if block.end_stream {
        flags |= FLAG_END_STREAM;
    }
    if block.priority.is_some() {
        flags |= FLAG_PRIORITY;
    }
    if rest.is_empty() {
        flags |= FLAG_END_HEADERS;
    }
    put_frame_header(
        output,
        priority_len + first.len(),
        TYPE_HEADERS,
        flags,
        block.stream,
    );
    if let Some(priority) = block.priority {
        output.extend_from_slice(&priority);
    }
    output.extend_from_slice(first);
    while !rest.is_empty() {
        let take = rest.len().min(MAX_FRAME_PAYLOAD);
        let (chunk, after) = rest.split_at(take);
        rest = after;
        let flags = if rest.is_empty() { FLAG_END_HEADERS } else { 0 };
        put_frame_header(output, chunk.len(), TYPE_CONTINUATION, flags, block.stream);
        output.extend_from_slice(chunk);
    }
}

fn put_frame_header(output: &mut BytesMut, length: usize, frame_type: u8, flags: u8, stream: u32) {
    // `length` is at most MAX_FRAME_PAYLOAD, which fits in 24 bits.
    let length = length as u32;
    output.put_slice(&length.to_be_bytes()[1..]);
    output.put_u8(frame_type);
    output.put_u8(flags);
    output.put_u32(stream & 0x7fff_ffff);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's header block, encoded with an encoder of its own.
    fn client_block(encoder: &mut Encoder<'static>, authority: &[u8]) -> Vec<u8> {
        encoder.encode([
            (&b":method"[..], &b"POST"[..]),
            (b":scheme", b"http"),
            (b":path", b"/plexus.v1.EventBus/Publish"),
            (b":authority", authority),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ])
    }

    fn frame(frame_type: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_frame_header(&mut out, payload.len(), frame_type, flags, stream);
        out.extend_from_slice(payload);
        out.to_vec()
    }

    /// Runs `bytes` through a rewriter `chunk` bytes at a time, then
    /// decodes every HEADERS block the server would see.
    fn server_view(bytes: &[u8], chunk: usize) -> (Vec<HeaderList>, Vec<u8>) {
        let mut rewriter = AuthorityRewriter::new();
        let mut input = BytesMut::new();
        let mut output = BytesMut::new();
        for piece in bytes.chunks(chunk) {
            input.extend_from_slice(piece);
            rewriter.process(&mut input, &mut output).unwrap();
        }
        assert!(input.is_empty(), "bytes left unprocessed");
        let mut server = Decoder::new();
        let mut rest = &output[PREFACE.len()..];
        let mut blocks = Vec::new();
        let mut other = Vec::new();
        let mut block = Vec::new();
        while !rest.is_empty() {
            let header = FrameHeader::parse(&rest[..9]);
            let payload = &rest[9..9 + header.length];
            match header.frame_type {
                TYPE_HEADERS | TYPE_CONTINUATION => {
                    let skip = if header.flags & FLAG_PRIORITY != 0 {
                        5
                    } else {
                        0
                    };
                    block.extend_from_slice(&payload[skip..]);
                    if header.flags & FLAG_END_HEADERS != 0 {
                        blocks.push(server.decode(&block).unwrap());
                        block.clear();
                    }
                }
                _ => other.extend_from_slice(payload),
            }
            rest = &rest[9 + header.length..];
        }
        (blocks, other)
    }

    fn authority_of(fields: &[(Vec<u8>, Vec<u8>)]) -> &[u8] {
        &fields.iter().find(|(n, _)| n == b":authority").unwrap().1
    }

    #[test]
    fn a_socket_path_authority_becomes_localhost_and_the_rest_is_untouched() {
        let mut client = Encoder::new();
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(0x4, 0, 0, &[])); // SETTINGS
        let first = client_block(&mut client, b"%2Ftmp%2Fplexus.sock");
        stream.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &first));
        stream.extend(frame(0x0, FLAG_END_STREAM, 1, b"grpc message one"));
        // The second request reuses the client's dynamic table entries.
        let second = client_block(&mut client, b"%2Ftmp%2Fplexus.sock");
        stream.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 3, &second));
        stream.extend(frame(0x0, FLAG_END_STREAM, 3, b"grpc message two"));
        for chunk in [1, 7, 4096] {
            let (blocks, data) = server_view(&stream, chunk);
            assert_eq!(blocks.len(), 2);
            for fields in &blocks {
                assert_eq!(authority_of(fields), b"localhost");
                assert_eq!(fields.len(), 6);
                assert!(
                    fields.contains(&(b":path".to_vec(), b"/plexus.v1.EventBus/Publish".to_vec()))
                );
            }
            assert_eq!(data, b"grpc message onegrpc message two");
        }
    }

    #[test]
    fn a_valid_authority_is_kept() {
        let mut client = Encoder::new();
        let mut stream = PREFACE.to_vec();
        let block = client_block(&mut client, b"localhost:50051");
        stream.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS | FLAG_END_STREAM,
            1,
            &block,
        ));
        let (blocks, _) = server_view(&stream, 3);
        assert_eq!(authority_of(&blocks[0]), b"localhost:50051");
    }

    #[test]
    fn padded_prioritised_and_continued_blocks_are_reassembled() {
        let mut client = Encoder::new();
        let block = client_block(&mut client, b"/run/plexus.sock");
        let (head, tail) = block.split_at(10);
        let mut payload = vec![3u8]; // pad length
        payload.extend([0, 0, 0, 0, 16]); // priority
        payload.extend_from_slice(head);
        payload.extend([0, 0, 0]);
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(
            TYPE_HEADERS,
            FLAG_PADDED | FLAG_PRIORITY,
            1,
            &payload,
        ));
        stream.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, tail));
        let (blocks, _) = server_view(&stream, 5);
        assert_eq!(authority_of(&blocks[0]), b"localhost");
    }

    #[test]
    fn a_large_block_is_split_into_continuations() {
        let mut client = Encoder::new();
        let big = vec![b'x'; 40_000];
        let block = client.encode([
            (&b":authority"[..], &b"/run/plexus.sock"[..]),
            (b"x-big", &big[..]),
        ]);
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block));
        let (blocks, _) = server_view(&stream, 65_536);
        assert_eq!(blocks[0][1].1.len(), 40_000);
    }

    #[test]
    fn hpack_bombs_and_garbage_close_the_connection() {
        // A block that names one 4 KiB table entry thousands of times.
        let mut client = Encoder::new();
        let value = vec![b'v'; 4000];
        let mut block = client.encode([(&b"x-a"[..], &value[..])]);
        block.extend(std::iter::repeat_n(0xbe, 1000)); // index 62, again and again
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block));
        let mut rewriter = AuthorityRewriter::new();
        let mut output = BytesMut::new();
        let err = rewriter
            .process(&mut BytesMut::from(&stream[..]), &mut output)
            .unwrap_err();
        assert!(
            matches!(err, RewriteError::ListTooLarge { stream: 1 }),
            "{err}"
        );

        let mut stream = PREFACE.to_vec();
        stream.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS,
            1,
            &[0xff, 0xff, 0xff],
        ));
        let err = AuthorityRewriter::new()
            .process(&mut BytesMut::from(&stream[..]), &mut BytesMut::new())
            .unwrap_err();
        assert!(matches!(err, RewriteError::Hpack { .. }), "{err}");
    }

    #[test]
    fn a_stream_that_is_not_http2_passes_through() {
        let mut rewriter = AuthorityRewriter::new();
        let mut output = BytesMut::new();
        rewriter
            .process(
                &mut BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]),
                &mut output,
            )
            .unwrap();
        assert_eq!(&output[..], b"GET / HTTP/1.1\r\n\r\n");
    }
}
