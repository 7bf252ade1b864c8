//! The on-disk form of one queued record, and the key it is stored under.
//!
//! Exists so that the byte layout lives in one place, is versioned, and is
//! checked on every read: a record that does not decode is reported as a
//! [`DecodeError`] (and the queue skips it), never a panic and never garbage
//! handed to a caller.
//!
//! Key: the record's sequence number as 8 big-endian bytes, so that sled's
//! lexicographic key order is the FIFO order.
//!
//! Value (all integers little-endian):
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 1    | format version, currently [`FORMAT_VERSION`] |
//! | 1      | 8    | enqueued at, unix milliseconds (u64)    |
//! | 9      | 8    | the event's own timestamp, unix ns (i64)|
//! | 17     | 4    | payload length `n` (u32)                |
//! | 21     | n    | payload                                 |
//! | 21 + n | 4    | CRC-32 (IEEE) of bytes `0 .. 21 + n`    |

use crate::crc32::crc32;

/// A record's position in its queue: assigned at push, strictly increasing,
/// never reused by the same queue (it survives restarts).
pub type Seq = u64;

/// The largest sequence number a queue ever assigns: 2^63 - 1. Reaching it
/// would take a billion records a second for 292 years, so a key or a
/// record above it is corrupt or crafted data: it is reported and removed
/// (sled queue) or skipped (write-ahead log), never used to compute the
/// next sequence number, which therefore can never overflow.
pub const MAX_SEQ: Seq = i64::MAX as u64;

/// The record format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes before the payload: version, enqueued-at, event timestamp, length.
const HEADER_LEN: usize = 1 + 8 + 8 + 4;
/// Bytes after the payload: the CRC.
const TRAILER_LEN: usize = 4;
/// Bytes a record takes on top of its payload.
pub const RECORD_OVERHEAD: usize = HEADER_LEN + TRAILER_LEN;

/// One record as read back from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its position in the queue.
    pub seq: Seq,
    /// When it was pushed, unix milliseconds (the pushing host's clock).
    pub enqueued_at_ms: u64,
    /// The event's own timestamp, unix nanoseconds, as given to `push`.
    /// Age bounds ([`crate::Queue::drop_older_than`]) use this one.
    pub event_ts_ns: i64,
    /// The bytes given to `push`.
    pub payload: Vec<u8>,
}

/// Why stored bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The key is not an 8-byte sequence number.
    #[error("key is {len} bytes long, not an 8-byte big-endian sequence number")]
    BadKey { len: usize },
    /// The value is empty or shorter than the fixed part of a record.
    #[error("record is {len} bytes long, shorter than the {min} bytes of a record's fixed part (truncated)")]
    Truncated { len: usize, min: usize },
    /// The version byte is not one this build reads.
    #[error(
        "unsupported record format version {found} (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion { found: u8 },
    /// The payload length field disagrees with the value's size.
    #[error("payload length field says {declared} bytes but the record holds {actual} (truncated or overwritten)")]
    LengthMismatch { declared: u64, actual: u64 },
    /// The key is a sequence number above [`MAX_SEQ`], which is never
    /// assigned.
    #[error("sequence number {seq} is above the largest one ever assigned ({MAX_SEQ})")]
    SeqOutOfRange { seq: u64 },
    /// The bytes do not match their checksum.
    #[error("checksum mismatch: stored crc32 {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A log queue's record could not be read back from its segment.
    #[error("could not be read back from its log segment: {reason}")]
    Unreadable { reason: String },
}

/// A payload too large for the record format (its length must fit in a u32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PayloadTooLarge {
    pub len: usize,
}

/// The key a sequence number is stored under.
pub(crate) fn key_of(seq: Seq) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number a key encodes (at most [`MAX_SEQ`]).
pub(crate) fn seq_of(key: &[u8]) -> Result<Seq, DecodeError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| DecodeError::BadKey { len: key.len() })?;
    let seq = u64::from_be_bytes(bytes);
    if seq > MAX_SEQ {
        return Err(DecodeError::SeqOutOfRange { seq });
    }
    Ok(seq)
}

/// Encodes a record's value.
pub(crate) fn encode(
    enqueued_at_ms: u64,
    event_ts_ns: i64,
    payload: &[u8],
) -> Result<Vec<u8>, PayloadTooLarge> {
    let len = u32::try_from(payload.len()).map_err(|_| PayloadTooLarge { len: payload.len() })?;
    let mut out = Vec::with_capacity(RECORD_OVERHEAD + payload.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&enqueued_at_ms.to_le_bytes());
    out.extend_from_slice(&event_ts_ns.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A decoded value, borrowing its payload from the stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    pub enqueued_at_ms: u64,
    pub event_ts_ns: i64,
    pub payload: &'a [u8],
}

impl Decoded<'_> {
    pub(crate) fn into_record(self, seq: Seq) -> Record {
        Record {
            seq,
            enqueued_at_ms: self.enqueued_at_ms,
            event_ts_ns: self.event_ts_ns,
            payload: self.payload.to_vec(),
        }
    }
}

/// Decodes and verifies a record's value. Checks, in order: the version byte
/// (so a future layout is reported as such), the fixed size, the length
/// field against the actual size, then the CRC.
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let truncated = DecodeError::Truncated {
        len: bytes.len(),
        min: RECORD_OVERHEAD,
    };
    let (&version, rest) = bytes.split_first().ok_or(truncated.clone())?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    if bytes.len() < RECORD_OVERHEAD {
        return Err(truncated);
    }
    let enqueued_at_ms = u64::from_le_bytes(array_at(rest, 0));
    let event_ts_ns = i64::from_le_bytes(array_at(rest, 8));
    let declared = u32::from_le_bytes(array_at(rest, 16));
    let actual = bytes.len() - RECORD_OVERHEAD;
    if u64::from(declared) != actual as u64 {
        return Err(DecodeError::LengthMismatch {
            declared: u64::from(declared),
            actual: actual as u64,
        });
    }
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
    let stored = u32::from_le_bytes(array_at(trailer, 0));
    let computed = crc32(body);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    Ok(Decoded {
        enqueued_at_ms,
        event_ts_ns,
        payload: &body[HEADER_LEN..],
    })
}

/// `N` bytes of `bytes` at `at`; callers have checked the length, and a
/// short slice yields zeros rather than a panic (the CRC then fails).
fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode(1_700_000_000_123, -42_000_000_007, b"hello, queue").expect("encodes")
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        assert_eq!(bytes.len(), RECORD_OVERHEAD + 12);
        let d = decode(&bytes).expect("decodes");
        assert_eq!(d.enqueued_at_ms, 1_700_000_000_123);
        assert_eq!(d.event_ts_ns, -42_000_000_007);
        assert_eq!(d.payload, b"hello, queue");
        let r = d.into_record(7);
        assert_eq!(r.seq, 7);
        assert_eq!(r.payload, b"hello, queue".to_vec());
    }

    #[test]
    fn round_trip_empty_and_extreme_values() {
        for (at, ts, payload) in [
            (0u64, 0i64, &b""[..]),
            (u64::MAX, i64::MIN, &[0u8; 1][..]),
            (1, i64::MAX, &[0xffu8; 4096][..]),
        ] {
            let bytes = encode(at, ts, payload).expect("encodes");
            let d = decode(&bytes).expect("decodes");
            assert_eq!(
                (d.enqueued_at_ms, d.event_ts_ns, d.payload),
                (at, ts, payload)
            );
        }
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let good = sample();
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                let err = decode(&bad).expect_err("a flipped bit must not decode");
                if i == 0 {
                    assert!(
                        matches!(err, DecodeError::UnsupportedVersion { .. }),
                        "{err}"
                    );
                }
            }
        }
    }

    #[test]
    fn flipped_payload_byte_is_a_checksum_mismatch() {
        let mut bad = sample();
        bad[HEADER_LEN + 3] ^= 0x20;
        let err = decode(&bad).expect_err("corrupt");
        assert!(matches!(err, DecodeError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn truncated_records_are_detected() {
        let good = sample();
        for len in 0..good.len() {
            let err = decode(&good[..len]).expect_err("truncated");
            match (len, &err) {
                (0, DecodeError::Truncated { len: 0, .. }) => {}
                (l, DecodeError::Truncated { .. }) if l < RECORD_OVERHEAD => {}
                (l, DecodeError::LengthMismatch { .. }) if l >= RECORD_OVERHEAD => {}
                _ => panic!("unexpected error for length {len}: {err}"),
            }
        }
        // Extra bytes at the end are not silently accepted either.
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer),
            Err(DecodeError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn wrong_version_is_detected() {
        let mut bad = sample();
        bad[0] = 2;
        let err = decode(&bad).expect_err("wrong version");
        assert_eq!(err, DecodeError::UnsupportedVersion { found: 2 });
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn keys_sort_in_sequence_order() {
        let mut keys: Vec<[u8; 8]> = [3u64, 256, 1, MAX_SEQ, 255, 0].map(key_of).to_vec();
        keys.sort();
        let seqs: Vec<u64> = keys.iter().map(|k| seq_of(k).expect("8 bytes")).collect();
        assert_eq!(seqs, vec![0, 1, 3, 255, 256, MAX_SEQ]);
        assert_eq!(seq_of(b"abc"), Err(DecodeError::BadKey { len: 3 }));
        assert_eq!(
            seq_of(&key_of(u64::MAX)),
            Err(DecodeError::SeqOutOfRange { seq: u64::MAX })
        );
    }
}
