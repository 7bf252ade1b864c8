//! How one call's answer is read: the response headers, the reply
//! message(s) and the trailers become the call's outcome, following gRPC's
//! HTTP/2 mapping (PROTOCOL-HTTP2.md): `:status` 200 and an
//! `application/grpc` content type, length-prefixed messages, then
//! `grpc-status` and `grpc-message` in the trailers (or alone, in a
//! "trailers-only" answer).
//!
//! A reply is `google.protobuf.Empty`, so at most `max_reply_bytes` of it
//! is ever held, and only when the plugin sends a non-empty one.

use bytes::BytesMut;
use plexus_actors::transport::DeliveryError;
use std::borrow::Cow;

/// The fields of one header block the outcome depends on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields {
    pub status: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    pub grpc_status: Option<Vec<u8>>,
    pub grpc_message: Option<Vec<u8>>,
}

impl Fields {
    /// Takes one decoded field; the others are ignored.
    pub fn take(&mut self, name: Cow<[u8]>, value: Cow<[u8]>) {
        let slot = match &*name {
            b":status" => &mut self.status,
            b"content-type" => &mut self.content_type,
            b"grpc-status" => &mut self.grpc_status,
            b"grpc-message" => &mut self.grpc_message,
            _ => return,
        };
        *slot = Some(value.into_owned());
    }
}

/// Where a call's answer stands.
#[derive(Debug)]
pub struct Reply {
    max_reply_bytes: usize,
    headers_seen: bool,
    /// Bytes of the current message's 5-byte prefix read so far.
    prefix: [u8; 5],
    prefix_len: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
    /// The current message's bytes, kept only when it is not empty.
    message: BytesMut,
    messages: usize,
}

fn internal(message: impl Into<String>) -> DeliveryError {
    DeliveryError::Status {
        code: "Internal".into(),
        message: message.into(),
    }
}

/// A gRPC status code and message as the outcome of a call, mapped as for
/// every other transport ([`DeliveryError`]'s `From<tonic::Status>`).
pub fn status_outcome(code: i32, message: &str) -> Result<(), DeliveryError> {
    match tonic::Code::from_i32(code) {
        tonic::Code::Ok => Ok(()),
        code => Err(DeliveryError::from(tonic::Status::new(code, message))),
    }
}

/// gRPC's code for an HTTP status that is not 200.
fn http_status_code(status: u16) -> tonic::Code {
    match status {
        400 => tonic::Code::Internal,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::Unimplemented,
        429 | 502 | 503 | 504 => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    }
}

/// `grpc-message` is percent-encoded (PROTOCOL-HTTP2.md); a malformed
/// escape is kept as it is.
pub fn percent_decode(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut index = 0;
    while index < value.len() {
        let byte = value[index];
        if byte == b'%' {
            let hex = value
                .get(index + 1..index + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok());
            if let Some(decoded) = hex {
                out.push(decoded);
                index += 3;
                continue;
            }
        }
        out.push(byte);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn grpc_outcome(fields: &Fields) -> Result<(), DeliveryError> {
    let message = fields
        .grpc_message
        .as_deref()
        .map(percent_decode)
        .unwrap_or_default();
    let Some(status) = fields.grpc_status.as_deref() else {
        return Err(internal("the plugin's answer has no grpc-status"));
    };
    let code = std::str::from_utf8(status)
        .ok()
        .and_then(|text| text.parse::<i32>().ok())
        .ok_or_else(|| {
            internal(format!(
                "the plugin's grpc-status {:?} is not a number",
                String::from_utf8_lossy(status)
            ))
        })?;
    status_outcome(code, &message)
}

impl Reply {
    pub fn new(max_reply_bytes: usize) -> Reply {
        Reply {
            max_reply_bytes,
            headers_seen: false,
            prefix: [0; 5],
            prefix_len: 0,
            remaining: 0,
            message: BytesMut::new(),
            messages: 0,
        }
    }

    /// A header block arrived for the call, `end_stream` when it ends the
    /// answer. `Some` is the call's outcome: the answer is complete, or
    /// cannot succeed.
    pub fn headers(
        &mut self,
        fields: &Fields,
        end_stream: bool,
    ) -> Option<Result<(), DeliveryError>> {
        if self.headers_seen {
            // Trailers.
            if !end_stream {
                return Some(Err(internal(
                    "the plugin sent a second header block that does not end the stream",
                )));
            }
            return Some(self.finish(fields));
        }
        self.headers_seen = true;
        let status = fields
            .status
            .as_deref()
            .and_then(|status| std::str::from_utf8(status).ok())
            .and_then(|status| status.parse::<u16>().ok());
        match status {
            Some(200) => {}
            Some(other) => {
                let code = http_status_code(other);
                return Some(Err(DeliveryError::Status {
                    code: format!("{code:?}"),
                    message: format!("the plugin answered HTTP status {other}"),
                }));
            }
            None => return Some(Err(internal("the plugin's answer has no valid :status"))),
        }
        let grpc = fields
            .content_type
            .as_deref()
            .is_some_and(|value| value.starts_with(b"application/grpc"));
        if !grpc {
            return Some(Err(internal(format!(
                "the plugin's answer has content-type {:?}, not application/grpc",
                fields
                    .content_type
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
            ))));
        }
        if end_stream {
            // Trailers-only: the status is in this block.
            return Some(grpc_outcome(fields));
        }
        None
    }

    /// Reply bytes arrived. `Some` is a failure that ends the call.
    pub fn data(&mut self, mut bytes: &[u8]) -> Option<DeliveryError> {
        if !self.headers_seen {
            return Some(internal("the plugin sent reply data before its headers"));
        }
        while !bytes.is_empty() {
            if self.remaining == 0 && self.prefix_len < 5 {
                let take = (5 - self.prefix_len).min(bytes.len());
                self.prefix[self.prefix_len..self.prefix_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.prefix_len += take;
                bytes = &bytes[take..];
                if self.prefix_len < 5 {
                    return None;
                }
                if self.prefix[0] != 0 {
                    return Some(internal(
                        "the plugin sent a compressed reply, but no compression was agreed",
                    ));
                }
                let length = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]) as usize;
                if length > self.max_reply_bytes {
                    return Some(DeliveryError::from(tonic::Status::out_of_range(
                        crate::clients::reply_too_large_message(
                            self.max_reply_bytes,
                            &format!("the message is {length} bytes"),
                        ),
                    )));
                }
                self.remaining = length;
                if length == 0 {
                    if let Some(error) = self.message_done() {
                        return Some(error);
                    }
                    continue;
                }
                self.message.reserve(length.min(64 * 1024));
            }
            let take = self.remaining.min(bytes.len());
            self.message.extend_from_slice(&bytes[..take]);
            self.remaining -= take;
            bytes = &bytes[take..];
            if self.remaining == 0 {
                if let Some(error) = self.message_done() {
                    return Some(error);
                }
            }
        }
        None
    }

    /// One whole message arrived: it must decode as `google.protobuf.Empty`.
    fn message_done(&mut self) -> Option<DeliveryError> {
        self.prefix_len = 0;
        self.messages += 1;
        let message = std::mem::take(&mut self.message);
        match <() as prost::Message>::decode(&message[..]) {
            Ok(()) => None,
            Err(err) => Some(internal(format!(
                "the plugin's reply is not a valid message: {err}"
            ))),
        }
    }

    /// The trailers arrived: the call's outcome.
    fn finish(&mut self, trailers: &Fields) -> Result<(), DeliveryError> {
        grpc_outcome(trailers)?;
        if self.prefix_len != 0 || self.remaining != 0 {
            return Err(internal("the plugin's answer ended inside a reply message"));
        }
        if self.messages == 0 {
            return Err(internal("the plugin answered OK without a reply message"));
        }
        Ok(())
    }

    /// The stream ended with a DATA frame: there are no trailers.
    pub fn ended_without_trailers(&self) -> DeliveryError {
        internal("the plugin ended its answer without trailers (no grpc-status)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut fields = Fields::default();
        for (name, value) in pairs {
            fields.take(
                Cow::Borrowed(name.as_bytes()),
                Cow::Borrowed(value.as_bytes()),
            );
        }
        fields
    }

    fn ok_headers() -> Fields {
        fields(&[(":status", "200"), ("content-type", "application/grpc")])
    }

    #[test]
    fn an_empty_reply_with_status_zero_is_a_delivery() {
        let mut reply = Reply::new(1024);
        assert!(reply.headers(&ok_headers(), false).is_none());
        // The message split across two DATA frames.
        assert!(reply.data(&[0, 0, 0]).is_none());
        assert!(reply.data(&[0, 0]).is_none());
        let trailers = fields(&[("grpc-status", "0")]);
        assert_eq!(reply.headers(&trailers, true), Some(Ok(())));
    }

    #[test]
    fn ok_without_a_message_is_a_failure() {
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        let outcome = reply.headers(&fields(&[("grpc-status", "0")]), true);
        assert!(
            matches!(outcome, Some(Err(DeliveryError::Status { ref code, .. })) if code == "Internal")
        );
    }

    #[test]
    fn an_error_status_carries_the_decoded_message() {
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        let trailers = fields(&[
            ("grpc-status", "14"),
            ("grpc-message", "disk%20full%E2%9C%93 %zz"),
        ]);
        assert_eq!(
            reply.headers(&trailers, true),
            Some(Err(DeliveryError::Status {
                code: "Unavailable".into(),
                message: "disk full✓ %zz".into()
            }))
        );
    }

    #[test]
    fn trailers_only_answers_and_deadlines() {
        let mut reply = Reply::new(1024);
        let only = fields(&[
            (":status", "200"),
            ("content-type", "application/grpc+proto"),
            ("grpc-status", "12"),
            ("grpc-message", "unknown method"),
        ]);
        assert!(matches!(
            reply.headers(&only, true),
            Some(Err(DeliveryError::Status { ref code, .. })) if code == "Unimplemented"
        ));
        let mut reply = Reply::new(1024);
        let deadline = fields(&[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "4"),
        ]);
        assert_eq!(
            reply.headers(&deadline, true),
            Some(Err(DeliveryError::Timeout))
        );
    }

    #[test]
    fn http_errors_and_foreign_content_types_fail() {
        let mut reply = Reply::new(1024);
        let unavailable = fields(&[(":status", "503"), ("content-type", "text/plain")]);
        assert!(matches!(
            reply.headers(&unavailable, true),
            Some(Err(DeliveryError::Status { ref code, .. })) if code == "Unavailable"
        ));
        let mut reply = Reply::new(1024);
        let html = fields(&[(":status", "200"), ("content-type", "text/html")]);
        assert!(matches!(
            reply.headers(&html, false),
            Some(Err(DeliveryError::Status { ref message, .. })) if message.contains("text/html")
        ));
        let mut reply = Reply::new(1024);
        assert!(reply
            .headers(&fields(&[("grpc-status", "0")]), true)
            .is_some_and(|o| o.is_err()));
    }

    #[test]
    fn a_reply_above_the_limit_fails_before_it_is_read() {
        let mut reply = Reply::new(16);
        reply.headers(&ok_headers(), false);
        let error = reply.data(&[0, 0, 0, 0, 17]).unwrap();
        assert!(
            matches!(&error, DeliveryError::Status { code, message } if code == "OutOfRange" && message.contains("engine.max_reply_bytes (16 bytes)")),
            "{error:?}"
        );
        let mut reply = Reply::new(16);
        reply.headers(&ok_headers(), false);
        assert!(reply.data(&[0, 0, 0, 0, 16]).is_none());
    }

    #[test]
    fn malformed_replies_fail() {
        let mut reply = Reply::new(1024);
        assert!(reply.data(&[0]).is_some(), "data before headers");
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        assert!(reply.data(&[1, 0, 0, 0, 0]).is_some(), "compressed");
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        // Field 1, wire type 7 (invalid).
        assert!(reply.data(&[0, 0, 0, 0, 1, 0x0f]).is_some(), "bad protobuf");
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        assert!(reply.data(&[0, 0, 0, 0, 3, 0x08]).is_none());
        assert!(
            matches!(
                reply.headers(&fields(&[("grpc-status", "0")]), true),
                Some(Err(_))
            ),
            "ended inside a message"
        );
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        assert!(reply
            .headers(&fields(&[("grpc-status", "x")]), true)
            .is_some_and(|o| o.is_err()));
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        assert!(
            reply
                .headers(&ok_headers(), false)
                .is_some_and(|o| o.is_err()),
            "second block without END_STREAM"
        );
    }

    #[test]
    fn a_non_empty_message_with_unknown_fields_is_accepted() {
        let mut reply = Reply::new(1024);
        reply.headers(&ok_headers(), false);
        // Field 1, varint 1: unknown to Empty, skipped as protobuf allows.
        assert!(reply.data(&[0, 0, 0, 0, 2, 0x08, 0x01]).is_none());
        assert_eq!(
            reply.headers(&fields(&[("grpc-status", "0")]), true),
            Some(Ok(()))
        );
    }
}
