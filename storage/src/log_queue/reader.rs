//! Reading events back from a segment file, for logs whose records stay
//! on disk (see `index.rs`): from an offset, one record at a time through a
//! buffer, each checked (length within the file, CRC, kind) exactly as at
//! recovery. A record that does not check out ends the read with the
//! reason; the caller decides what is lost. Never panics, never allocates
//! more than the file holds.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::format::{le_u32, parse_record, Parsed, FRAME_HEADER};
use crate::record::Seq;

/// One event read back; its payload is borrowed from the reader's buffer,
/// so an event the caller skips (settled, before its start) costs no copy.
pub(super) struct ReadEvent<'a> {
    pub(super) seq: Seq,
    pub(super) enqueued_at_ms: u64,
    pub(super) event_ts_ns: i64,
    pub(super) payload: &'a [u8],
}

/// What the next record was.
pub(super) enum Step<'a> {
    Event(ReadEvent<'a>),
    /// A settle record: nothing to return.
    Other,
    /// The end of what the file held when it was opened.
    End,
    /// A record that does not check out, at this offset.
    Damaged {
        offset: u64,
        reason: String,
    },
}

/// Whether an event read from a segment counts, by the rule recovery
/// applies: seqs only grow within a segment, and a seq above
/// [`crate::MAX_SEQ`] is never one (both are skipped). `last` is the last
/// event that counted, updated.
pub(super) fn in_order(last: &mut Option<Seq>, seq: Seq) -> bool {
    if seq > crate::record::MAX_SEQ || last.is_some_and(|l| seq <= l) {
        return false;
    }
    *last = Some(seq);
    true
}

/// The next record's bytes, framed but not yet checked.
pub(super) enum Frame<'a> {
    /// A whole record (header and body): check it with `parse_record`.
    Record(&'a [u8]),
    /// The end of what the file held when it was opened.
    End,
    /// A record whose frame does not fit in the file, at this offset.
    Damaged { offset: u64, reason: String },
}

/// A forward reader over one segment file.
pub(super) struct SegmentReader {
    file: BufReader<File>,
    offset: u64,
    /// The file's length when opened: bytes a concurrent write adds later
    /// are not read (they may be incomplete).
    end: u64,
    frame: Vec<u8>,
}

impl SegmentReader {
    /// Opens `path` for reading from `offset`. `Ok(None)`: the file does
    /// not exist.
    pub(super) fn open(path: &Path, offset: u64) -> std::io::Result<Option<SegmentReader>> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let end = file.metadata()?.len();
        file.seek(SeekFrom::Start(offset.min(end)))?;
        Ok(Some(SegmentReader {
            file: BufReader::with_capacity(64 * 1024, file),
            offset: offset.min(end),
            end,
            frame: Vec::new(),
        }))
    }

    /// The offset of the next record.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Moves to `offset` (a mark's).
    pub(super) fn seek(&mut self, offset: u64) -> std::io::Result<()> {
        self.offset = offset.min(self.end);
        self.file.seek(SeekFrom::Start(self.offset))?;
        Ok(())
    }

    /// The file's length when it was opened.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// Reads the next record's bytes. A frame that does not fit in the
    /// file leaves the offset where it starts.
    pub(super) fn next_frame(&mut self) -> std::io::Result<Frame<'_>> {
        let at = self.offset;
        let left = self.end - at;
        if left == 0 {
            return Ok(Frame::End);
        }
        let damaged = |reason: String| Ok(Frame::Damaged { offset: at, reason });
        if left < FRAME_HEADER as u64 {
            return damaged(format!(
                "torn record header ({left} of {FRAME_HEADER} bytes)"
            ));
        }
        self.frame.clear();
        self.frame.resize(FRAME_HEADER, 0);
        self.file.read_exact(&mut self.frame)?;
        let Some(len) = le_u32(&self.frame, 4) else {
            self.seek(at)?;
            return damaged("unreadable length".to_owned());
        };
        let total = FRAME_HEADER as u64 + u64::from(len);
        if total > left {
            self.seek(at)?;
            return damaged(format!(
                "record body of {len} bytes runs past the end of the file ({} bytes left)",
                left - FRAME_HEADER as u64
            ));
        }
        // Bounded by the file's length, checked above.
        self.frame.resize(total as usize, 0);
        self.file.read_exact(&mut self.frame[FRAME_HEADER..])?;
        self.offset = at + total;
        Ok(Frame::Record(&self.frame))
    }

    /// Reads the next record, checked.
    pub(super) fn next_step(&mut self) -> std::io::Result<Step<'_>> {
        let at = self.offset;
        let frame = match self.next_frame()? {
            Frame::Record(frame) => frame,
            Frame::End => return Ok(Step::End),
            Frame::Damaged { offset, reason } => return Ok(Step::Damaged { offset, reason }),
        };
        match parse_record(frame) {
            Ok((
                Parsed::Event {
                    seq,
                    enqueued_at_ms,
                    event_ts_ns,
                    payload,
                },
                _,
            )) => Ok(Step::Event(ReadEvent {
                seq,
                enqueued_at_ms,
                event_ts_ns,
                payload,
            })),
            Ok(_) => Ok(Step::Other),
            Err(reason) => Ok(Step::Damaged { offset: at, reason }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::{encode_event, encode_settled};
    use super::*;

    #[test]
    fn reads_events_skips_settle_records_and_stops_at_damage() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("segment");
        let mut bytes = Vec::new();
        encode_event(&mut bytes, 7, 1, 70, b"seven");
        encode_settled(&mut bytes, &[3]);
        let third = bytes.len() as u64;
        encode_event(&mut bytes, 8, 1, 80, b"eight");
        let good = bytes.len();
        encode_event(&mut bytes, 9, 1, 90, b"nine");
        bytes[good + 12] ^= 0x40; // inside the ninth's seq: a CRC mismatch
        std::fs::write(&path, &bytes).expect("written");

        let mut reader = SegmentReader::open(&path, 0)
            .expect("opens")
            .expect("exists");
        let Step::Event(first) = reader.next_step().expect("reads") else {
            panic!("an event first");
        };
        assert_eq!((first.seq, first.event_ts_ns), (7, 70));
        assert_eq!(first.payload, b"seven");
        assert!(matches!(reader.next_step().expect("reads"), Step::Other));
        assert_eq!(reader.offset(), third);
        let Step::Event(second) = reader.next_step().expect("reads") else {
            panic!("an event");
        };
        assert_eq!(second.seq, 8);
        match reader.next_step().expect("reads") {
            Step::Damaged { offset, reason } => {
                assert_eq!(offset, good as u64);
                assert!(reason.contains("checksum"), "{reason}");
            }
            _ => panic!("the flipped record is damage"),
        }

        // From the third record's offset, as from a mark.
        reader.seek(third).expect("seeks");
        assert!(matches!(reader.next_step().expect("reads"), Step::Event(e) if e.seq == 8));

        // A length running past the end is damage, not an allocation.
        let mut huge = Vec::new();
        encode_event(&mut huge, 1, 1, 1, b"x");
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &huge).expect("written");
        let mut reader = SegmentReader::open(&path, 0)
            .expect("opens")
            .expect("exists");
        assert!(matches!(
            reader.next_step().expect("reads"),
            Step::Damaged { offset: 0, .. }
        ));
        assert!(SegmentReader::open(&dir.path().join("missing"), 0)
            .expect("not an error")
            .is_none());
    }
}
