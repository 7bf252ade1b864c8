//! Entry points for the fuzz targets in `fuzz/` and for the seeds of their
//! corpora. The decoders of bytes read back from disk (a sled record, a
//! write-ahead segment) and their encoders are crate-private; a fuzz target
//! needs to call them alone, and its seeds must be bytes this crate really
//! writes. Hidden from the docs and not a stable API: nothing else uses it.

use std::path::Path;

use crate::log_queue::format;
use crate::record::{self, DecodeError, Record, Seq};

/// Decodes a sled record as the queue reads it back: the key (its sequence
/// number), then the value.
pub fn decode_record(key: &[u8], value: &[u8]) -> Result<Record, DecodeError> {
    let seq = record::seq_of(key)?;
    Ok(record::decode(value)?.into_record(seq))
}

/// The key a sequence number is stored under in sled.
pub fn record_key(seq: Seq) -> [u8; 8] {
    record::key_of(seq)
}

/// A sled record's value, as the queue writes it; `None` when the payload
/// does not fit the format.
pub fn encode_record(enqueued_at_ms: u64, event_ts_ns: i64, payload: &[u8]) -> Option<Vec<u8>> {
    record::encode(enqueued_at_ms, event_ts_ns, payload).ok()
}

/// Appends a write-ahead event record to `buf`. The payload must fit a
/// record (at most 4 GiB less the record's fixed part).
pub fn log_event(buf: &mut Vec<u8>, seq: Seq, enqueued_at_ms: u64, ts: i64, payload: &[u8]) {
    format::encode_event(buf, seq, enqueued_at_ms, ts, payload);
}

/// Appends a write-ahead settle record (at most 2^20 seqs) to `buf`.
pub fn log_settled(buf: &mut Vec<u8>, seqs: &[Seq]) {
    format::encode_settled(buf, seqs);
}

/// Appends a write-ahead settled-ranges record (`[lo, hi)` each, at most
/// 2^19 of them) to `buf`.
pub fn log_settled_ranges(buf: &mut Vec<u8>, ranges: &[(Seq, Seq)]) {
    format::encode_settled_ranges(buf, ranges);
}

/// Appends a write-ahead record with any body (a kind byte, then its
/// fields) to `buf`, framed with its length and a valid CRC, so a fuzz
/// target can reach what recovery does with well-framed records.
pub fn log_frame(buf: &mut Vec<u8>, body: &[u8]) {
    let start = buf.len();
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(body);
    format::seal(buf, start);
}

/// Where segment `id` of the write-ahead log in `dir` lives.
pub fn segment_path(dir: &Path, id: u64) -> std::path::PathBuf {
    format::segment_path(dir, id)
}
