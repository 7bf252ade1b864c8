//! One HTTP/2 connection to a plugin, driven by one task that owns the
//! socket: it opens a stream per call, writes every call that is waiting
//! in one buffer (one TLS record and one `write` for a window of calls),
//! reads the answers, and keeps the protocol's bookkeeping (settings,
//! flow control, pings, GOAWAY, deadlines).
//!
//! Only what a unary gRPC client needs is here. The plugin's frames are
//! all checked; a protocol error ends the connection with a GOAWAY and
//! fails its calls as `Unavailable`, which the delivery core retries.

use super::frame::{self, ConnectionError, Head};
use super::request::{self, HeaderBlocks, Method};
use super::response::{Fields, Reply};
use crate::host::transport::BoxedIo;
use bytes::{Buf, Bytes, BytesMut};
use plexus_actors::event::Event;
use plexus_actors::transport::DeliveryError;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

/// One call handed to the connection.
pub struct Call {
    pub event: Arc<Event>,
    pub deadline: Instant,
    pub reply: oneshot::Sender<Result<(), DeliveryError>>,
}

/// What the connection tells the calls' side.
#[derive(Debug, Default)]
pub struct Shared {
    /// Cleared when the connection takes no new calls (closed, failed,
    /// GOAWAY received, out of stream ids).
    closed: AtomicBool,
}

impl Shared {
    pub fn accepts_calls(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// Bounds of a connection; the defaults are HTTP/2's.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The last client stream id used before the connection is retired
    /// (2^31 - 1: about 1 billion calls).
    pub last_stream_id: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            last_stream_id: frame::MAX_WINDOW,
        }
    }
}

/// The receive window the client offers, per stream and for the
/// connection: replies are consumed as they arrive, so the window is never
/// what bounds memory (`max_reply_bytes` is).
const RECEIVE_WINDOW: u32 = frame::MAX_WINDOW;
/// Received bytes after which the window is topped up again.
const WINDOW_REFILL: u32 = 1 << 30;
/// The largest header block (HEADERS plus CONTINUATION) accepted.
const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// Bytes read in one go before the task yields to the runtime.
const READ_CHUNK: usize = 64 * 1024;
/// Calls taken from the queue in one go before the buffer is written.
const CALLS_PER_WRITE: usize = 512;

struct Stream {
    reply: Option<oneshot::Sender<Result<(), DeliveryError>>>,
    deadline: Instant,
    answer: Reply,
    send_window: i64,
    /// The part of the request body flow control has held back.
    pending: Option<Bytes>,
    /// Waits for a WINDOW_UPDATE of its own before sending more.
    blocked: bool,
    received: u32,
}

struct PartialHeaders {
    stream: u32,
    end_stream: bool,
    block: BytesMut,
}

/// The connection task. Runs until its calls' queue is closed and every
/// call it took has an outcome, or until the connection fails.
pub struct Connection {
    io: BoxedIo,
    calls: mpsc::UnboundedReceiver<Call>,
    calls_closed: bool,
    shared: Arc<Shared>,
    blocks: Arc<HeaderBlocks>,
    max_reply_bytes: usize,
    limits: Limits,
    out: BytesMut,
    input: BytesMut,
    read_buffer: Box<[u8]>,
    decoder: loona_hpack::Decoder<'static>,
    partial: Option<PartialHeaders>,
    streams: BTreeMap<u32, Stream>,
    waiting: VecDeque<Call>,
    sending: VecDeque<u32>,
    next_stream: u32,
    peer_max_streams: usize,
    peer_initial_window: i64,
    peer_max_frame: usize,
    send_window: i64,
    received: u32,
    goaway: Option<u32>,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    label: String,
}

impl Connection {
    /// A connection over `io`, already connected (and TLS-established).
    /// The preface and the client's settings are queued at once.
    pub fn new(
        io: BoxedIo,
        calls: mpsc::UnboundedReceiver<Call>,
        shared: Arc<Shared>,
        blocks: Arc<HeaderBlocks>,
        max_reply_bytes: usize,
        limits: Limits,
        label: String,
    ) -> Connection {
        let mut out = BytesMut::with_capacity(64 * 1024);
        out.extend_from_slice(frame::PREFACE);
        frame::put_settings(
            &mut out,
            &[
                (frame::SETTINGS_ENABLE_PUSH, 0),
                (frame::SETTINGS_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW),
                (
                    frame::SETTINGS_MAX_HEADER_LIST_SIZE,
                    MAX_HEADER_BLOCK as u32,
                ),
            ],
        );
        frame::put_window_update(&mut out, 0, RECEIVE_WINDOW - frame::DEFAULT_WINDOW);
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(4096);
        Connection {
            io,
            calls,
            calls_closed: false,
            shared,
            blocks,
            max_reply_bytes,
            limits,
            out,
            input: BytesMut::with_capacity(READ_CHUNK),
            read_buffer: vec![0; READ_CHUNK].into_boxed_slice(),
            decoder,
            partial: None,
            streams: BTreeMap::new(),
            waiting: VecDeque::new(),
            sending: VecDeque::new(),
            next_stream: 1,
            peer_max_streams: usize::MAX,
            peer_initial_window: i64::from(frame::DEFAULT_WINDOW),
            peer_max_frame: frame::DEFAULT_MAX_FRAME_SIZE as usize,
            send_window: i64::from(frame::DEFAULT_WINDOW),
            received: 0,
            goaway: None,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            timer_at: None,
            label,
        }
    }

    /// Takes a call: opens its stream now, or queues it until the plugin
    /// allows another stream.
    fn submit(&mut self, call: Call) {
        if self.goaway.is_some() || self.next_stream > self.limits.last_stream_id {
            let _ = call.reply.send(Err(DeliveryError::Unavailable(format!(
                "{}: the connection takes no new calls",
                self.label
            ))));
            return;
        }
        if self.streams.len() >= self.peer_max_streams || !self.waiting.is_empty() {
            self.waiting.push_back(call);
            return;
        }
        self.open(call);
    }

    fn open(&mut self, call: Call) {
        let id = self.next_stream;
        self.next_stream = self.next_stream.saturating_add(2);
        if self.next_stream > self.limits.last_stream_id {
            // Out of stream ids: new calls go to a new connection.
            self.shared.close();
        }
        let block = self.blocks.get(Method::of(&call.event));
        frame::put_head(
            &mut self.out,
            block.len(),
            frame::HEADERS,
            frame::FLAG_END_HEADERS,
            id,
        );
        self.out.extend_from_slice(block);
        let length = 5 + request::message_len(&call.event);
        let window = self.send_window.min(self.peer_initial_window);
        let mut stream = Stream {
            reply: Some(call.reply),
            deadline: call.deadline,
            answer: Reply::new(self.max_reply_bytes),
            send_window: self.peer_initial_window,
            pending: None,
            blocked: false,
            received: 0,
        };
        if self.sending.is_empty() && length as i64 <= window && length <= self.peer_max_frame {
            // The common case: the whole message in one DATA frame, encoded
            // straight into the write buffer.
            frame::put_head(
                &mut self.out,
                length,
                frame::DATA,
                frame::FLAG_END_STREAM,
                id,
            );
            request::put_message(&mut self.out, &call.event);
            self.send_window -= length as i64;
            stream.send_window -= length as i64;
            self.streams.insert(id, stream);
        } else {
            let mut body = BytesMut::with_capacity(length);
            request::put_message(&mut body, &call.event);
            stream.pending = Some(body.freeze());
            self.streams.insert(id, stream);
            self.sending.push_back(id);
            self.send_pending();
        }
    }

    /// Writes the request data flow control allows, oldest stream first.
    fn send_pending(&mut self) {
        while let Some(&id) = self.sending.front() {
            if self.send_window <= 0 {
                return;
            }
            let Some(stream) = self.streams.get_mut(&id) else {
                self.sending.pop_front();
                continue;
            };
            let Some(data) = stream.pending.as_mut() else {
                self.sending.pop_front();
                continue;
            };
            if stream.send_window <= 0 {
                stream.blocked = true;
                self.sending.pop_front();
                continue;
            }
            let allowed = self.send_window.min(stream.send_window) as usize;
            let size = data.len().min(allowed).min(self.peer_max_frame);
            let chunk = data.split_to(size);
            let last = data.is_empty();
            let flags = if last { frame::FLAG_END_STREAM } else { 0 };
            frame::put_head(&mut self.out, size, frame::DATA, flags, id);
            self.out.extend_from_slice(&chunk);
            self.send_window -= size as i64;
            stream.send_window -= size as i64;
            if last {
                stream.pending = None;
                self.sending.pop_front();
            }
        }
    }

    /// Opens the queued calls the plugin's stream limit now allows.
    fn open_waiting(&mut self) {
        while self.streams.len() < self.peer_max_streams && self.goaway.is_none() {
            if self.next_stream > self.limits.last_stream_id {
                break;
            }
            let Some(call) = self.waiting.pop_front() else {
                return;
            };
            self.open(call);
        }
        if self.goaway.is_some() || self.next_stream > self.limits.last_stream_id {
            for call in self.waiting.drain(..) {
                let _ = call.reply.send(Err(DeliveryError::Unavailable(format!(
                    "{}: the connection takes no new calls",
                    self.label
                ))));
            }
        }
    }

    /// Gives a call its outcome. `reset` cancels the stream at the plugin
    /// (the call ended on this side first).
    fn complete(&mut self, id: u32, outcome: Result<(), DeliveryError>, reset: bool) {
        let Some(mut stream) = self.streams.remove(&id) else {
            return;
        };
        if let Some(reply) = stream.reply.take() {
            let _ = reply.send(outcome);
        }
        // A request not sent in full (the plugin answered early) is
        // abandoned: the plugin must not wait for the rest.
        if reset || stream.pending.is_some() {
            frame::put_rst_stream(&mut self.out, id, frame::CANCEL);
        }
    }

    /// Fails every call: the connection is gone.
    fn fail_all(&mut self, detail: &str) {
        self.shared.close();
        self.calls.close();
        let error = DeliveryError::Unavailable(format!("{}: {detail}", self.label));
        for (_, mut stream) in std::mem::take(&mut self.streams) {
            if let Some(reply) = stream.reply.take() {
                let _ = reply.send(Err(error.clone()));
            }
        }
        for call in self.waiting.drain(..) {
            let _ = call.reply.send(Err(error.clone()));
        }
        while let Ok(call) = self.calls.try_recv() {
            let _ = call.reply.send(Err(error.clone()));
        }
    }

    /// Times out the calls whose deadline passed.
    fn expire(&mut self, now: Instant) {
        while let Some((&id, stream)) = self.streams.first_key_value() {
            if stream.deadline > now {
                break;
            }
            self.complete(id, Err(DeliveryError::Timeout), true);
        }
        while self
            .waiting
            .front()
            .is_some_and(|call| call.deadline <= now)
        {
            if let Some(call) = self.waiting.pop_front() {
                let _ = call.reply.send(Err(DeliveryError::Timeout));
            }
        }
        let next = self
            .streams
            .first_key_value()
            .map(|(_, stream)| stream.deadline)
            .into_iter()
            .chain(self.waiting.front().map(|call| call.deadline))
            .min();
        if next != self.timer_at {
            self.timer_at = next;
            if let Some(at) = next {
                self.timer.as_mut().reset(at);
            }
        }
    }

    /// Handles every whole frame in the input buffer.
    fn read_frames(&mut self) -> Result<(), ConnectionError> {
        let mut input = std::mem::take(&mut self.input);
        let mut at = 0;
        let result = loop {
            let Some(head) = Head::parse(&input[at..]) else {
                break Ok(());
            };
            let length = head.length as usize;
            if length > frame::DEFAULT_MAX_FRAME_SIZE as usize {
                break Err(ConnectionError::new(
                    frame::FRAME_SIZE_ERROR,
                    format!(
                        "frame of {length} bytes, above the {} bytes allowed",
                        frame::DEFAULT_MAX_FRAME_SIZE
                    ),
                ));
            }
            let end = at + frame::HEADER_LEN + length;
            if input.len() < end {
                break Ok(());
            }
            let payload = &input[at + frame::HEADER_LEN..end];
            if let Err(err) = self.frame(head, payload) {
                break Err(err);
            }
            at = end;
        };
        input.advance(at);
        self.input = input;
        result
    }

    fn frame(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        if self.partial.is_some() && head.kind != frame::CONTINUATION {
            return Err(ConnectionError::new(
                frame::PROTOCOL_ERROR,
                "a header block was interrupted by another frame",
            ));
        }
        match head.kind {
            frame::DATA => self.data(head, payload),
            frame::HEADERS => self.headers(head, payload),
            frame::CONTINUATION => self.continuation(head, payload),
            frame::RST_STREAM => self.rst_stream(head, payload),
            frame::SETTINGS => self.settings(head, payload),
            frame::PING => self.ping(head, payload),
            frame::GOAWAY => self.goaway(head, payload),
            frame::WINDOW_UPDATE => self.window_update(head, payload),
            frame::PUSH_PROMISE => Err(ConnectionError::new(
                frame::PROTOCOL_ERROR,
                "PUSH_PROMISE although push is disabled",
            )),
            // Priorities mean nothing to a client, and unknown frame types
            // are ignored (RFC 9113 §5.5).
            frame::PRIORITY => Ok(()),
            _ => Ok(()),
        }
    }

    fn on_stream_zero(head: &Head) -> Result<(), ConnectionError> {
        if head.stream == 0 {
            return Err(ConnectionError::new(
                frame::PROTOCOL_ERROR,
                format!("frame type {} on stream 0", head.kind),
            ));
        }
        Ok(())
    }

    fn on_connection_only(head: &Head, frame_name: &str) -> Result<(), ConnectionError> {
        if head.stream != 0 {
            return Err(ConnectionError::new(
                frame::PROTOCOL_ERROR,
                format!("{frame_name} on stream {}", head.stream),
            ));
        }
        Ok(())
    }

    /// A stream id the client never opened.
    fn idle(&self, stream: u32) -> bool {
        stream % 2 == 0 || stream >= self.next_stream
    }

    /// Fails the connection when a stream frame names a stream the client
    /// never opened.
    fn on_opened_stream(&self, head: &Head, frame_name: &str) -> Result<(), ConnectionError> {
        if self.idle(head.stream) {
            return Err(ConnectionError::new(
                frame::PROTOCOL_ERROR,
                format!(
                    "{frame_name} on stream {}, which was never opened",
                    head.stream
                ),
            ));
        }
        Ok(())
    }

    fn data(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        Self::on_stream_zero(&head)?;
        self.on_opened_stream(&head, "DATA")?;
        // Flow control counts the whole payload, padding included.
        self.received = self.received.saturating_add(head.length);
        if self.received >= WINDOW_REFILL {
            frame::put_window_update(&mut self.out, 0, self.received);
            self.received = 0;
        }
        let data = frame::strip_padding(&head, payload)?;
        let Some(stream) = self.streams.get_mut(&head.stream) else {
            // A call that already ended on this side.
            return Ok(());
        };
        stream.received = stream.received.saturating_add(head.length);
        if stream.received >= WINDOW_REFILL {
            frame::put_window_update(&mut self.out, head.stream, stream.received);
            stream.received = 0;
        }
        if let Some(error) = stream.answer.data(data) {
            let reset = !head.has(frame::FLAG_END_STREAM);
            self.complete(head.stream, Err(error), reset);
            return Ok(());
        }
        if head.has(frame::FLAG_END_STREAM) {
            let error = stream.answer.ended_without_trailers();
            self.complete(head.stream, Err(error), false);
        }
        Ok(())
    }

    fn headers(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        Self::on_stream_zero(&head)?;
        self.on_opened_stream(&head, "HEADERS")?;
        let fragment = frame::headers_fragment(&head, payload)?;
        let end_stream = head.has(frame::FLAG_END_STREAM);
        if head.has(frame::FLAG_END_HEADERS) {
            return self.header_block(head.stream, end_stream, fragment);
        }
        self.partial = Some(PartialHeaders {
            stream: head.stream,
            end_stream,
            block: BytesMut::from(fragment),
        });
        Ok(())
    }

    fn continuation(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        let Some(mut partial) = self.partial.take() else {
            return Err(ConnectionError::new(
                frame::PROTOCOL_ERROR,
                "CONTINUATION without a header block to continue",
            ));
        };
        if partial.stream != head.stream {
            return Err(ConnectionError::new(
                frame::PROTOCOL_ERROR,
                format!(
                    "CONTINUATION on stream {} inside stream {}'s header block",
                    head.stream, partial.stream
                ),
            ));
        }
        if partial.block.len() + payload.len() > MAX_HEADER_BLOCK {
            return Err(ConnectionError::new(
                frame::ENHANCE_YOUR_CALM,
                format!("header block larger than {MAX_HEADER_BLOCK} bytes"),
            ));
        }
        partial.block.extend_from_slice(payload);
        if head.has(frame::FLAG_END_HEADERS) {
            return self.header_block(partial.stream, partial.end_stream, &partial.block);
        }
        self.partial = Some(partial);
        Ok(())
    }

    /// A whole header block: decoded in every case (the decoder's table
    /// must follow the plugin's encoder), applied if its call is open.
    fn header_block(
        &mut self,
        stream: u32,
        end_stream: bool,
        block: &[u8],
    ) -> Result<(), ConnectionError> {
        let mut fields = Fields::default();
        self.decoder
            .decode_with_cb(block, |name, value| fields.take(name, value))
            .map_err(|err| {
                ConnectionError::new(
                    frame::COMPRESSION_ERROR,
                    format!("undecodable header block on stream {stream}: {err:?}"),
                )
            })?;
        let Some(state) = self.streams.get_mut(&stream) else {
            return Ok(());
        };
        if let Some(outcome) = state.answer.headers(&fields, end_stream) {
            self.complete(stream, outcome, !end_stream);
        }
        Ok(())
    }

    fn rst_stream(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        Self::on_stream_zero(&head)?;
        if payload.len() != 4 {
            return Err(ConnectionError::new(
                frame::FRAME_SIZE_ERROR,
                "RST_STREAM payload is not 4 bytes",
            ));
        }
        self.on_opened_stream(&head, "RST_STREAM")?;
        let code = frame::read_u32(payload, 0);
        let grpc = match code {
            frame::REFUSED_STREAM => "Unavailable",
            frame::CANCEL => "Cancelled",
            frame::ENHANCE_YOUR_CALM => "ResourceExhausted",
            _ => "Internal",
        };
        let error = DeliveryError::Status {
            code: grpc.into(),
            message: format!("the plugin reset the stream ({})", frame::error_name(code)),
        };
        self.complete(head.stream, Err(error), false);
        Ok(())
    }

    fn settings(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        Self::on_connection_only(&head, "SETTINGS")?;
        if head.has(frame::FLAG_ACK) {
            if !payload.is_empty() {
                return Err(ConnectionError::new(
                    frame::FRAME_SIZE_ERROR,
                    "SETTINGS acknowledgement with a payload",
                ));
            }
            return Ok(());
        }
        for (id, value) in frame::parse_settings(payload)? {
            match id {
                frame::SETTINGS_MAX_CONCURRENT_STREAMS => {
                    self.peer_max_streams = usize::try_from(value).unwrap_or(usize::MAX);
                }
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if value > frame::MAX_WINDOW {
                        return Err(ConnectionError::new(
                            frame::FLOW_CONTROL_ERROR,
                            format!("SETTINGS_INITIAL_WINDOW_SIZE {value} above 2^31-1"),
                        ));
                    }
                    let delta = i64::from(value) - self.peer_initial_window;
                    self.peer_initial_window = i64::from(value);
                    for (&id, stream) in self.streams.iter_mut() {
                        stream.send_window += delta;
                        if stream.blocked && stream.send_window > 0 {
                            stream.blocked = false;
                            self.sending.push_back(id);
                        }
                    }
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME_SIZE..1 << 24).contains(&value) {
                        return Err(ConnectionError::new(
                            frame::PROTOCOL_ERROR,
                            format!("SETTINGS_MAX_FRAME_SIZE {value} outside 16384..2^24-1"),
                        ));
                    }
                    self.peer_max_frame = value as usize;
                }
                frame::SETTINGS_ENABLE_PUSH if value > 1 => {
                    return Err(ConnectionError::new(
                        frame::PROTOCOL_ERROR,
                        format!("SETTINGS_ENABLE_PUSH {value}"),
                    ));
                }
                // The header table size only matters to an encoder that
                // indexes, and this one never does; the rest is advisory.
                _ => {}
            }
        }
        frame::put_settings_ack(&mut self.out);
        self.send_pending();
        self.open_waiting();
        Ok(())
    }

    fn ping(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        Self::on_connection_only(&head, "PING")?;
        let Ok(data) = <&[u8; 8]>::try_from(payload) else {
            return Err(ConnectionError::new(
                frame::FRAME_SIZE_ERROR,
                "PING payload is not 8 bytes",
            ));
        };
        if !head.has(frame::FLAG_ACK) {
            frame::put_ping_ack(&mut self.out, data);
        }
        Ok(())
    }

    fn goaway(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        Self::on_connection_only(&head, "GOAWAY")?;
        if payload.len() < 8 {
            return Err(ConnectionError::new(
                frame::FRAME_SIZE_ERROR,
                "GOAWAY payload shorter than 8 bytes",
            ));
        }
        let last = frame::read_u32(payload, 0) & frame::MAX_WINDOW;
        let code = frame::read_u32(payload, 4);
        let reason = String::from_utf8_lossy(&payload[8..]);
        tracing::debug!(
            "[{}] the plugin is closing the delivery connection (GOAWAY {}, last stream {last}{}{})",
            self.label,
            frame::error_name(code),
            if reason.is_empty() { "" } else { ": " },
            crate::host::sanitize::escape_controls(&reason)
        );
        self.goaway = Some(last.min(self.goaway.unwrap_or(u32::MAX)));
        self.shared.close();
        // Streams above `last` were not processed: they fail as unavailable
        // and are delivered again.
        let unprocessed: Vec<u32> = self.streams.range(last + 1..).map(|(&id, _)| id).collect();
        for id in unprocessed {
            let error = DeliveryError::Unavailable(format!(
                "{}: the plugin closed the connection before taking the call (GOAWAY {})",
                self.label,
                frame::error_name(code)
            ));
            self.complete(id, Err(error), false);
        }
        self.open_waiting();
        Ok(())
    }

    fn window_update(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnectionError> {
        if payload.len() != 4 {
            return Err(ConnectionError::new(
                frame::FRAME_SIZE_ERROR,
                "WINDOW_UPDATE payload is not 4 bytes",
            ));
        }
        let increment = i64::from(frame::read_u32(payload, 0) & frame::MAX_WINDOW);
        if head.stream == 0 {
            if increment == 0 {
                return Err(ConnectionError::new(
                    frame::PROTOCOL_ERROR,
                    "WINDOW_UPDATE of 0 on the connection",
                ));
            }
            self.send_window += increment;
            if self.send_window > i64::from(frame::MAX_WINDOW) {
                return Err(ConnectionError::new(
                    frame::FLOW_CONTROL_ERROR,
                    "the connection's send window exceeds 2^31-1",
                ));
            }
        } else if let Some(stream) = self.streams.get_mut(&head.stream) {
            stream.send_window += increment;
            if increment == 0 || stream.send_window > i64::from(frame::MAX_WINDOW) {
                let error = DeliveryError::Status {
                    code: "Internal".into(),
                    message: "the plugin sent a bad WINDOW_UPDATE for the call".into(),
                };
                self.complete(head.stream, Err(error), true);
                return Ok(());
            }
            if stream.blocked && stream.send_window > 0 {
                stream.blocked = false;
                self.sending.push_back(head.stream);
            }
        }
        self.send_pending();
        Ok(())
    }

    fn finished(&self) -> bool {
        self.calls_closed
            && self.streams.is_empty()
            && self.waiting.is_empty()
            && self.out.is_empty()
    }

    /// Ends the connection after a protocol error of the plugin's.
    fn protocol_error(&mut self, cx: &mut Context<'_>, error: &ConnectionError) {
        tracing::warn!(
            "[{}] delivery connection closed: the plugin broke the HTTP/2 protocol: {error}",
            self.label
        );
        // A client's GOAWAY names the last stream the server opened: none.
        frame::put_goaway(&mut self.out, 0, error.code);
        // Best effort: the connection is dropped right after.
        while !self.out.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out) {
                Poll::Ready(Ok(written)) if written > 0 => self.out.advance(written),
                _ => break,
            }
        }
        let _ = Pin::new(&mut self.io).poll_flush(cx);
        self.fail_all(&format!("the plugin broke the HTTP/2 protocol: {error}"));
    }
}

impl Future for Connection {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A bounded number of rounds, so one busy connection cannot keep
        // its worker thread forever.
        for _ in 0..16 {
            let mut progress = false;

            // New calls, written together.
            let mut taken = 0;
            while !this.calls_closed && taken < CALLS_PER_WRITE {
                match this.calls.poll_recv(cx) {
                    Poll::Ready(Some(call)) => {
                        this.submit(call);
                        taken += 1;
                    }
                    Poll::Ready(None) => this.calls_closed = true,
                    Poll::Pending => break,
                }
            }
            if taken == CALLS_PER_WRITE {
                progress = true;
            }

            // Answers.
            let mut read = 0;
            while read < 4 * READ_CHUNK {
                let mut buffer = ReadBuf::new(&mut this.read_buffer);
                match Pin::new(&mut this.io).poll_read(cx, &mut buffer) {
                    Poll::Ready(Ok(())) if buffer.filled().is_empty() => {
                        this.fail_all("the plugin closed the connection");
                        return Poll::Ready(());
                    }
                    Poll::Ready(Ok(())) => {
                        read += buffer.filled().len();
                        this.input.extend_from_slice(buffer.filled());
                        if let Err(error) = this.read_frames() {
                            this.protocol_error(cx, &error);
                            return Poll::Ready(());
                        }
                    }
                    Poll::Ready(Err(err)) => {
                        this.fail_all(&format!("reading from the plugin: {err}"));
                        return Poll::Ready(());
                    }
                    Poll::Pending => break,
                }
            }
            if read >= 4 * READ_CHUNK {
                progress = true;
            }
            this.open_waiting();
            this.expire(Instant::now());

            // Everything queued, in as few writes as the socket takes.
            while !this.out.is_empty() {
                match Pin::new(&mut this.io).poll_write(cx, &this.out) {
                    Poll::Ready(Ok(0)) => {
                        this.fail_all("the plugin's socket accepts no more bytes");
                        return Poll::Ready(());
                    }
                    Poll::Ready(Ok(written)) => this.out.advance(written),
                    Poll::Ready(Err(err)) => {
                        this.fail_all(&format!("writing to the plugin: {err}"));
                        return Poll::Ready(());
                    }
                    Poll::Pending => break,
                }
            }
            if this.out.is_empty() {
                if let Poll::Ready(Err(err)) = Pin::new(&mut this.io).poll_flush(cx) {
                    this.fail_all(&format!("writing to the plugin: {err}"));
                    return Poll::Ready(());
                }
                if this.out.capacity() > 1 << 20 {
                    // A large event passed: give the memory back.
                    this.out = BytesMut::with_capacity(64 * 1024);
                }
            }

            if this.finished() {
                let _ = Pin::new(&mut this.io).poll_shutdown(cx);
                this.shared.close();
                return Poll::Ready(());
            }

            if this.timer_at.is_some() && this.timer.as_mut().poll(cx).is_ready() {
                progress = true;
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
