//! The bytes of the write-ahead log: a record's frame and kinds, and a
//! segment file's name (see the layout table in the module docs of
//! `log_queue`). Pure functions over byte slices, so that every decoder of
//! bytes read back from disk can be tested, and fuzzed, alone: decoding
//! never panics and never reads out of bounds.

use std::path::{Path, PathBuf};

use crate::crc32::crc32;
use crate::record::Seq;

/// Bytes before a record's body: CRC and length.
pub(super) const FRAME_HEADER: usize = 8;
/// An event body's bytes before the payload: kind, seq, enqueued-at, ts.
pub(super) const EVENT_FIXED: usize = 1 + 8 + 8 + 8;
pub(super) const KIND_EVENT: u8 = 1;
pub(super) const KIND_SETTLED: u8 = 2;
pub(super) const KIND_SETTLED_RANGES: u8 = 3;
/// Seqs per settle record at most (keeps a body far below 4 GiB).
pub(super) const SETTLE_CHUNK: usize = 1 << 20;
/// A segment file's name: 16 hex digits and this suffix.
pub(super) const SEGMENT_SUFFIX: &str = ".log";

/// One record read back.
pub(super) enum Parsed<'a> {
    Event {
        seq: Seq,
        enqueued_at_ms: u64,
        event_ts_ns: i64,
        payload: &'a [u8],
    },
    /// The raw seqs, 8 bytes each.
    Settled(&'a [u8]),
    /// The raw ranges, `[lo, hi)` as two u64s each.
    SettledRanges(&'a [u8]),
}

/// Decodes the record at the start of `buf`: the record and its size, or
/// why it is not a valid one.
pub(super) fn parse_record(buf: &[u8]) -> Result<(Parsed<'_>, usize), String> {
    if buf.len() < FRAME_HEADER {
        return Err(format!(
            "torn record header ({} of {FRAME_HEADER} bytes)",
            buf.len()
        ));
    }
    let stored = le_u32(buf, 0).ok_or("unreadable crc")?;
    let len = le_u32(buf, 4).ok_or("unreadable length")? as usize;
    let end = FRAME_HEADER
        .checked_add(len)
        .filter(|&end| end <= buf.len())
        .ok_or_else(|| {
            format!(
                "record body of {len} bytes runs past the end of the file ({} bytes left)",
                buf.len() - FRAME_HEADER
            )
        })?;
    let covered = buf.get(4..end).ok_or("record out of bounds")?;
    let computed = crc32(covered);
    if stored != computed {
        return Err(format!(
            "checksum mismatch: stored crc32 {stored:#010x}, computed {computed:#010x}"
        ));
    }
    let body = buf.get(FRAME_HEADER..end).ok_or("record out of bounds")?;
    let parsed = match body.first() {
        Some(&KIND_EVENT) if body.len() >= EVENT_FIXED => Parsed::Event {
            seq: le_u64(body, 1).ok_or("unreadable seq")?,
            enqueued_at_ms: le_u64(body, 9).ok_or("unreadable enqueue time")?,
            event_ts_ns: le_u64(body, 17).ok_or("unreadable timestamp")? as i64,
            payload: body.get(EVENT_FIXED..).unwrap_or_default(),
        },
        Some(&KIND_SETTLED) if body.len() > 1 && (body.len() - 1) % 8 == 0 => {
            Parsed::Settled(body.get(1..).unwrap_or_default())
        }
        Some(&KIND_SETTLED_RANGES) if body.len() > 1 && (body.len() - 1) % 16 == 0 => {
            Parsed::SettledRanges(body.get(1..).unwrap_or_default())
        }
        Some(kind) => {
            return Err(format!(
                "record of kind {kind} with a body of {} bytes is not valid",
                body.len()
            ))
        }
        None => return Err("empty record body".to_owned()),
    };
    Ok((parsed, end))
}

pub(super) fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let array: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(array))
}

pub(super) fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let array: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(array))
}

/// Appends an event record to `buf`.
pub(crate) fn encode_event(
    buf: &mut Vec<u8>,
    seq: Seq,
    enqueued_at_ms: u64,
    ts: i64,
    payload: &[u8],
) {
    let start = buf.len();
    // The caller checked that the payload fits.
    let len = (EVENT_FIXED + payload.len()) as u32;
    buf.reserve(FRAME_HEADER + EVENT_FIXED + payload.len());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.push(KIND_EVENT);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&enqueued_at_ms.to_le_bytes());
    buf.extend_from_slice(&ts.to_le_bytes());
    buf.extend_from_slice(payload);
    seal(buf, start);
}

/// Appends a settle record for `seqs` (at most [`SETTLE_CHUNK`]) to `buf`.
pub(crate) fn encode_settled(buf: &mut Vec<u8>, seqs: &[Seq]) {
    let start = buf.len();
    let len = (1 + 8 * seqs.len()) as u32;
    buf.reserve(FRAME_HEADER + len as usize);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.push(KIND_SETTLED);
    for seq in seqs {
        buf.extend_from_slice(&seq.to_le_bytes());
    }
    seal(buf, start);
}

/// Appends a settled-ranges record for `ranges` (`[lo, hi)` each, at most
/// [`SETTLE_CHUNK`] / 2 of them) to `buf`.
pub(crate) fn encode_settled_ranges(buf: &mut Vec<u8>, ranges: &[(Seq, Seq)]) {
    let start = buf.len();
    let len = (1 + 16 * ranges.len()) as u32;
    buf.reserve(FRAME_HEADER + len as usize);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.push(KIND_SETTLED_RANGES);
    for (lo, hi) in ranges {
        buf.extend_from_slice(&lo.to_le_bytes());
        buf.extend_from_slice(&hi.to_le_bytes());
    }
    seal(buf, start);
}

/// Writes the CRC of the record starting at `start` into its first bytes.
pub(crate) fn seal(buf: &mut [u8], start: usize) {
    let crc = crc32(buf.get(start + 4..).unwrap_or_default());
    if let Some(slot) = buf.get_mut(start..start + 4) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
}

pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}{SEGMENT_SUFFIX}"))
}

/// The first seq a segment file's name encodes, if it is one.
pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
    if stem.len() != 16 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(stem, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn event() -> Vec<u8> {
        let mut buf = Vec::new();
        encode_event(&mut buf, 42, 1_700_000_000_000, -7, b"payload bytes");
        buf
    }

    #[test]
    pub(super) fn records_round_trip() {
        let mut buf = event();
        encode_settled(&mut buf, &[1, 42, u64::MAX]);
        let (first, used) = parse_record(&buf).expect("event");
        match first {
            Parsed::Event {
                seq,
                enqueued_at_ms,
                event_ts_ns,
                payload,
            } => assert_eq!(
                (seq, enqueued_at_ms, event_ts_ns, payload),
                (42, 1_700_000_000_000, -7, &b"payload bytes"[..])
            ),
            _ => panic!("expected an event"),
        }
        let (second, used2) = parse_record(&buf[used..]).expect("settled");
        assert_eq!(used + used2, buf.len());
        match second {
            Parsed::Settled(raw) => {
                let seqs: Vec<u64> = raw.chunks_exact(8).filter_map(|b| le_u64(b, 0)).collect();
                assert_eq!(seqs, vec![1, 42, u64::MAX]);
            }
            _ => panic!("expected a settle record"),
        }
        let mut ranges = Vec::new();
        encode_settled_ranges(&mut ranges, &[(1, 5), (7, 1 << 40)]);
        match parse_record(&ranges).expect("ranges") {
            (Parsed::SettledRanges(raw), used) => {
                assert_eq!(used, ranges.len());
                let values: Vec<u64> = raw.chunks_exact(8).filter_map(|b| le_u64(b, 0)).collect();
                assert_eq!(values, vec![1, 5, 7, 1 << 40]);
            }
            _ => panic!("expected a settled-ranges record"),
        }
    }

    #[test]
    pub(super) fn every_truncation_and_bit_flip_is_rejected_without_panic() {
        let good = event();
        for len in 0..good.len() {
            assert!(parse_record(&good[..len]).is_err(), "length {len}");
        }
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                // A flipped length may still frame a shorter valid-looking
                // region only if its CRC matches, which it does not.
                assert!(parse_record(&bad).is_err(), "byte {i} bit {bit:#x}");
            }
        }
        assert!(parse_record(&[0xff; 64]).is_err());
    }

    #[test]
    pub(super) fn segment_names() {
        assert_eq!(parse_segment_name("000000000000002a.log"), Some(42));
        assert_eq!(parse_segment_name("2a.log"), None);
        assert_eq!(parse_segment_name("000000000000002a.tmp"), None);
        assert_eq!(parse_segment_name("LOCK"), None);
        assert_eq!(
            segment_path(Path::new("/q"), 42),
            PathBuf::from("/q/000000000000002a.log")
        );
    }
}
