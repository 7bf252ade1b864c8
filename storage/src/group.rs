//! Many small records packed into one sled value: the on-disk form of a
//! record group, the key it is stored under, and when a queue seals one.
//!
//! Exists because sled's memory follows its number of keys, not its bytes.
//! sled 0.34 splits a leaf above 16 entries, and keys that only grow leave
//! leaves of 8 or 9 entries; every leaf is a page, and every page keeps
//! about 330 bytes in memory whatever the cache size. One key per record
//! made a queue of 1 M records hold about 120 k pages (some 38 MiB) in
//! memory, and a queue of 2 M twice that. Packing the small records of a
//! queue a few kilobytes to a key divides the page count by the records in a
//! group (13 for records of 300 bytes), which leaves sled's cache (an upper
//! bound, [`crate::StoreOptions::cache_capacity_bytes`]) as what bounds the
//! memory of a long queue.
//!
//! A queue writes each record under its own 8-byte key first (`record.rs`),
//! so that a push stays one small write. Once the records pushed since the
//! last group reach [`GROUP_TARGET_BYTES`], the push that reaches it also
//! replaces them, in the same atomic batch, by one group holding them and
//! the new record. A record larger than [`MAX_GROUPED_VALUE`] is never
//! grouped. Removing some records of a group rewrites it without them,
//! under the key of its new first record, in the removal's batch.
//!
//! Key: 12 bytes, the first record's sequence number (8 bytes, big-endian)
//! then the number of records (4 bytes, big-endian). It sorts after the
//! 8-byte key of its first record and before that of the next sequence
//! number, so a walk of the tree in key order still meets records in
//! sequence order. The count in the key lets a group that no longer decodes
//! be removed and uncounted without reading it.
//!
//! Value (integers little-endian):
//!
//! | offset | size | field                                         |
//! |--------|------|-----------------------------------------------|
//! | 0      | 1    | group format version, [`GROUP_FORMAT_VERSION`] |
//! | 1      | 4    | number of records (u32), equal to the key's   |
//! | 5      | …    | per record: sequence number (u64), value length `n` (u32), the record's value (`n` bytes, `record.rs`'s format with its own CRC) |
//! | end-4  | 4    | CRC-32 (IEEE) of every byte before it          |
//!
//! Sequence numbers in a group strictly increase, the first is the key's,
//! and none is above [`MAX_SEQ`]. A group that breaks any rule is corrupt as
//! a whole: it is reported once with the number of records its key gives.

use crate::crc32::crc32;
use crate::record::{self, DecodeError, Decoded, Seq, MAX_SEQ};

/// The group format version this build writes and reads.
pub const GROUP_FORMAT_VERSION: u8 = 1;

/// The length of a group's key.
pub(crate) const GROUP_KEY_LEN: usize = 12;

/// A group is sealed once the records waiting for one hold at least this
/// many bytes (their values plus 12 bytes of framing each). With the cap on
/// a grouped record, a group holds less than 6 KiB, so that a leaf of 16
/// groups stays below sled's 128 KiB threshold for writing a page as a
/// separate blob file.
pub(crate) const GROUP_TARGET_BYTES: usize = 4096;

/// A record whose value is larger than this stays under its own key: a
/// group of one or two large records would save no page.
pub(crate) const MAX_GROUPED_VALUE: usize = 2048;

/// The most records a group holds, whatever their size.
pub(crate) const MAX_GROUP_RECORDS: usize = 256;

/// Bytes of a group before its records: version and count.
const GROUP_HEADER_LEN: usize = 1 + 4;
/// Bytes of framing before each record's value: sequence number and length.
const ENTRY_HEADER_LEN: usize = 8 + 4;
/// Bytes after the records: the CRC.
const GROUP_TRAILER_LEN: usize = 4;

/// The bytes a record's value adds to a group.
pub(crate) fn entry_len(value_len: usize) -> usize {
    ENTRY_HEADER_LEN + value_len
}

/// The key of a group whose first record is `first` and which holds `count`
/// records.
pub(crate) fn group_key(first: Seq, count: u32) -> [u8; GROUP_KEY_LEN] {
    let mut key = [0u8; GROUP_KEY_LEN];
    key[..8].copy_from_slice(&first.to_be_bytes());
    key[8..].copy_from_slice(&count.to_be_bytes());
    key
}

/// The first sequence number and the record count a group key holds, or
/// `None` when `key` is not shaped like one (12 bytes, a first sequence
/// number of at most [`MAX_SEQ`], at least one record).
pub(crate) fn parse_group_key(key: &[u8]) -> Option<(Seq, u32)> {
    let key: &[u8; GROUP_KEY_LEN] = key.try_into().ok()?;
    let first = u64::from_be_bytes(key[..8].try_into().ok()?);
    let count = u32::from_be_bytes(key[8..].try_into().ok()?);
    (first <= MAX_SEQ && count > 0).then_some((first, count))
}

/// Encodes a group of `(seq, record value)` entries, in sequence order. The
/// caller keeps the rules (at least one entry, increasing sequence numbers).
pub(crate) fn encode_group<V: AsRef<[u8]>>(entries: &[(Seq, V)]) -> Vec<u8> {
    let body: usize = entries
        .iter()
        .map(|(_, v)| entry_len(v.as_ref().len()))
        .sum();
    let mut out = Vec::with_capacity(GROUP_HEADER_LEN + body + GROUP_TRAILER_LEN);
    out.push(GROUP_FORMAT_VERSION);
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for (seq, value) in entries {
        let value = value.as_ref();
        out.extend_from_slice(&seq.to_le_bytes());
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(value);
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// One record of a decoded group: its sequence number, its stored value
/// (for rewriting the group without other records) and the value decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupEntry<'a> {
    pub seq: Seq,
    pub value: &'a [u8],
    pub decoded: Decoded<'a>,
}

/// Decodes and verifies a group stored under a key holding `first` and
/// `count`: version, CRC, framing, the count, the order of sequence numbers
/// and every record's own checks. Any failure makes the whole group corrupt.
pub(crate) fn decode_group(
    first: Seq,
    count: u32,
    bytes: &[u8],
) -> Result<Vec<GroupEntry<'_>>, DecodeError> {
    let min = GROUP_HEADER_LEN + GROUP_TRAILER_LEN;
    let (&version, _) = bytes.split_first().ok_or(DecodeError::Truncated {
        len: bytes.len(),
        min,
    })?;
    if version != GROUP_FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version });
    }
    if bytes.len() < min {
        return Err(DecodeError::Truncated {
            len: bytes.len(),
            min,
        });
    }
    let (body, trailer) = bytes.split_at(bytes.len() - GROUP_TRAILER_LEN);
    let stored = u32::from_le_bytes(take(trailer, 0)?);
    let computed = crc32(body);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    let declared = u32::from_le_bytes(take(body, 1)?);
    if declared != count {
        return Err(DecodeError::MalformedGroup {
            detail: "the record count in the value differs from the key's",
        });
    }
    let mut entries =
        Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(MAX_GROUP_RECORDS));
    let mut at = GROUP_HEADER_LEN;
    let mut previous: Option<Seq> = None;
    while at < body.len() {
        let seq = u64::from_le_bytes(take(body, at)?);
        let len = u32::from_le_bytes(take(body, at + 8)?);
        let start = at + ENTRY_HEADER_LEN;
        let value = usize::try_from(len)
            .ok()
            .and_then(|len| body.get(start..start.checked_add(len)?))
            .ok_or(DecodeError::MalformedGroup {
                detail: "a record's length runs past the end of the group",
            })?;
        let in_order = match previous {
            None => seq == first,
            Some(previous) => seq > previous,
        };
        if !in_order || seq > MAX_SEQ {
            return Err(DecodeError::MalformedGroup {
                detail: "sequence numbers do not start at the key's and increase",
            });
        }
        entries.push(GroupEntry {
            seq,
            value,
            decoded: record::decode(value)?,
        });
        previous = Some(seq);
        at = start + value.len();
    }
    if entries.len() as u64 != u64::from(count) {
        return Err(DecodeError::MalformedGroup {
            detail: "the group holds another number of records than its count",
        });
    }
    Ok(entries)
}

/// `N` bytes of `bytes` at `at`, or a malformed-group error when they run
/// past its end.
fn take<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], DecodeError> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|slice| slice.try_into().ok())
        .ok_or(DecodeError::MalformedGroup {
            detail: "a record's framing runs past the end of the group",
        })
}

/// The records pushed since the last group was sealed, all still under their
/// own keys: the candidates for the next group. Kept in memory by the
/// queue; after a restart it starts empty, and the records left under their
/// own keys stay there until removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenRun {
    /// The sequence number of the first record of the run.
    pub from: Seq,
    /// How many records were pushed into the run.
    pub count: usize,
    /// The bytes they would take in a group.
    pub bytes: usize,
}

impl OpenRun {
    /// An empty run whose first record will be `next`.
    pub(crate) fn empty_at(next: Seq) -> Self {
        Self {
            from: next,
            count: 0,
            bytes: 0,
        }
    }

    /// Whether a record of `value_len` bytes may join a group.
    pub(crate) fn groupable(value_len: usize) -> bool {
        value_len <= MAX_GROUPED_VALUE
    }

    /// Whether pushing a groupable record of `value_len` bytes completes the
    /// run into a group.
    pub(crate) fn completed_by(&self, value_len: usize) -> bool {
        self.count + 1 >= MAX_GROUP_RECORDS
            || self.bytes + entry_len(value_len) >= GROUP_TARGET_BYTES
    }

    /// Adds a record pushed under its own key (the run must be open at
    /// `seq` or empty).
    pub(crate) fn add(&mut self, seq: Seq, value_len: usize) {
        if self.count == 0 {
            self.from = seq;
        }
        self.count += 1;
        self.bytes += entry_len(value_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: u64) -> Vec<(Seq, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let payload = format!("payload {i}").into_bytes();
                (
                    100 + i * 3,
                    record::encode(i, i as i64, &payload).expect("encodes"),
                )
            })
            .collect()
    }

    #[test]
    fn round_trip() {
        let entries = values(5);
        let bytes = encode_group(&entries);
        let decoded = decode_group(100, 5, &bytes).expect("decodes");
        let seqs: Vec<Seq> = decoded.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![100, 103, 106, 109, 112]);
        assert_eq!(decoded[2].decoded.payload, b"payload 2");
        assert_eq!(decoded[2].value, &entries[2].1[..]);
    }

    #[test]
    fn keys_sort_between_records() {
        let record = |seq: Seq| record::key_of(seq).to_vec();
        let mut keys = vec![record(8), group_key(7, 3).to_vec(), record(7), record(6)];
        keys.sort();
        assert_eq!(
            keys,
            vec![record(6), record(7), group_key(7, 3).to_vec(), record(8)]
        );
        assert_eq!(parse_group_key(&group_key(7, 3)), Some((7, 3)));
        assert_eq!(parse_group_key(&group_key(7, 0)), None);
        assert_eq!(parse_group_key(&group_key(u64::MAX, 1)), None);
        assert_eq!(parse_group_key(&record(7)), None);
    }

    #[test]
    fn every_single_byte_flip_and_truncation_is_detected() {
        let good = encode_group(&values(3));
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(decode_group(100, 3, &bad).is_err(), "flip at {i}");
        }
        for len in 0..good.len() {
            assert!(decode_group(100, 3, &good[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn a_group_that_disagrees_with_its_key_is_corrupt() {
        let good = encode_group(&values(3));
        assert!(matches!(
            decode_group(100, 4, &good),
            Err(DecodeError::MalformedGroup { .. })
        ));
        assert!(matches!(
            decode_group(101, 3, &good),
            Err(DecodeError::MalformedGroup { .. })
        ));
        let mut unordered = values(3);
        unordered.swap(0, 1);
        let bytes = encode_group(&unordered);
        assert!(matches!(
            decode_group(103, 3, &bytes),
            Err(DecodeError::MalformedGroup { .. })
        ));
    }

    #[test]
    fn a_run_completes_at_the_target_size_or_record_count() {
        let mut run = OpenRun::empty_at(10);
        assert!(!run.completed_by(100));
        run.add(
            10,
            GROUP_TARGET_BYTES - entry_len(100) - 1 - ENTRY_HEADER_LEN,
        );
        assert_eq!(run.from, 10);
        assert!(!run.completed_by(100));
        assert!(run.completed_by(101));
        let mut tiny = OpenRun::empty_at(1);
        for seq in 1..MAX_GROUP_RECORDS as u64 {
            assert!(!tiny.completed_by(0), "at {seq}");
            tiny.add(seq, 0);
        }
        assert!(tiny.completed_by(0));
        assert!(OpenRun::groupable(MAX_GROUPED_VALUE));
        assert!(!OpenRun::groupable(MAX_GROUPED_VALUE + 1));
    }
}
