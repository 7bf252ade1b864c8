//! The events that flow through the pipeline, and their durable encoding.
//!
//! An [`Event`] is one of SFTPGo's three notifier messages. In a queue it is
//! stored as a small header (format version, why it was queued, kind) and
//! the protobuf encoding of the message, so a queue written by one version
//! of Plexus stays readable and a damaged record is recognised, not misread.

use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use prost::Message;

pub use plexus_proto::Event;

/// Why an event is in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Its delivery failed; it waits for a retry.
    Failed = 1,
    /// The plugin's mailbox was full; it waits for its first delivery.
    Overflow = 2,
    /// Written ahead of delivery (`write_ahead` durability).
    WriteAhead = 3,
}

const FORMAT_VERSION: u8 = 1;
const KIND_FS: u8 = 1;
const KIND_PROVIDER: u8 = 2;
const KIND_LOG: u8 = 3;

/// Why a stored record could not be read back as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record too short ({0} bytes)")]
    TooShort(usize),
    #[error("unknown record format version {0}")]
    Version(u8),
    #[error("unknown origin {0}")]
    Origin(u8),
    #[error("unknown event kind {0}")]
    Kind(u8),
    #[error("bad protobuf: {0}")]
    Protobuf(String),
}

/// Encodes an event for a queue.
pub fn encode(event: &Event, origin: Origin) -> Vec<u8> {
    let (kind, body_len) = match event {
        Event::Fs(e) => (KIND_FS, e.encoded_len()),
        Event::Provider(e) => (KIND_PROVIDER, e.encoded_len()),
        Event::Log(e) => (KIND_LOG, e.encoded_len()),
    };
    let mut bytes = Vec::with_capacity(3 + body_len);
    bytes.extend_from_slice(&[FORMAT_VERSION, origin as u8, kind]);
    // Encoding into a Vec cannot run out of space.
    let _ = match event {
        Event::Fs(e) => e.encode(&mut bytes),
        Event::Provider(e) => e.encode(&mut bytes),
        Event::Log(e) => e.encode(&mut bytes),
    };
    bytes
}

/// Decodes a queue record.
pub fn decode(bytes: &[u8]) -> Result<(Event, Origin), DecodeError> {
    let [version, origin, kind, body @ ..] = bytes else {
        return Err(DecodeError::TooShort(bytes.len()));
    };
    if *version != FORMAT_VERSION {
        return Err(DecodeError::Version(*version));
    }
    let origin = match origin {
        1 => Origin::Failed,
        2 => Origin::Overflow,
        3 => Origin::WriteAhead,
        other => return Err(DecodeError::Origin(*other)),
    };
    let protobuf = |err: prost::DecodeError| DecodeError::Protobuf(err.to_string());
    let event = match *kind {
        KIND_FS => Event::Fs(FsEvent::decode(body).map_err(protobuf)?),
        KIND_PROVIDER => Event::Provider(ProviderEvent::decode(body).map_err(protobuf)?),
        KIND_LOG => Event::Log(LogEvent::decode(body).map_err(protobuf)?),
        other => return Err(DecodeError::Kind(other)),
    };
    Ok((event, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_with_its_origin() {
        let fs = Event::Fs(FsEvent {
            timestamp: i64::MIN,
            action: "upload".into(),
            file_size: i64::MAX,
            metadata: [("k".to_owned(), "välue".to_owned())].into(),
            ..Default::default()
        });
        let provider = Event::Provider(ProviderEvent {
            timestamp: 7,
            object_data: vec![0, 255, 1],
            ..Default::default()
        });
        let log = Event::Log(LogEvent {
            event: 5,
            message: "ok".into(),
            ..Default::default()
        });
        for (event, origin) in [
            (fs, Origin::Failed),
            (provider, Origin::Overflow),
            (log, Origin::WriteAhead),
        ] {
            assert_eq!(decode(&encode(&event, origin)).unwrap(), (event, origin));
        }
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        assert_eq!(decode(&[1, 1]).unwrap_err(), DecodeError::TooShort(2));
        assert_eq!(decode(&[9, 1, 1]).unwrap_err(), DecodeError::Version(9));
        assert_eq!(decode(&[1, 7, 1]).unwrap_err(), DecodeError::Origin(7));
        assert_eq!(decode(&[1, 1, 9]).unwrap_err(), DecodeError::Kind(9));
        assert!(matches!(
            decode(&[1, 1, 1, 0xff, 0xff]).unwrap_err(),
            DecodeError::Protobuf(_)
        ));
    }
}
