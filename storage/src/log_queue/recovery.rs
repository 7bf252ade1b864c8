//! Rebuilding a write-ahead log's state from its segments at open: every
//! record is checked (length, CRC, kind), a torn tail of the last segment
//! is cut off, damage elsewhere is reported, and the unsettled records,
//! the segments' bookkeeping and the next sequence number come out.
//!
//! No sequence number above [`MAX_SEQ`] is ever assigned, so one found on
//! disk is crafted or corrupt data and must not become the next sequence
//! number (it would overflow, and a wrapped sequence would later truncate
//! good data): a segment named above it is renamed aside
//! (`<name>.quarantined`, no longer read as a segment) and reported; a
//! well-framed record naming such a seq is skipped and reported, and the
//! records after it are still read.
//!
//! A damaged record in an older segment ends that segment too: the bytes
//! from it on are moved aside (`<name>.damaged`) and the segment cut there,
//! so that every later open reads exactly what this one did.
//!
//! An event is read only from the segment its seq belongs to (named at or
//! below it, and below the next segment's name): the owner of a seq is
//! found from the seq alone when it is settled, so an event elsewhere is
//! damage (see [`apply`]). Without that check a second open of a recovered
//! log could disagree with the first.

use std::collections::BTreeMap;
use std::path::Path;

use super::format::{le_u64, parse_record, parse_segment_name, segment_path, Parsed};
use super::index::{Index, NewEvent};
use super::reader::{Frame, SegmentReader};
use super::state::Segment;
use super::{LogRecovery, FIRST_SEQ};
use crate::error::{Result, StorageError};
use crate::record::{Seq, MAX_SEQ};

/// The suffix a segment named above [`MAX_SEQ`] is renamed with.
pub(super) const QUARANTINE_SUFFIX: &str = ".quarantined";

/// What [`recover`] rebuilt.
pub(super) struct Recovered {
    pub(super) index: Index,
    pub(super) segments: BTreeMap<u64, Segment>,
    pub(super) next_seq: Seq,
    /// The newest segment's length after any truncation.
    pub(super) last_len: u64,
    pub(super) report: LogRecovery,
}

/// Reads every segment of `dir` in order and rebuilds the state (see the
/// module docs, "Recovery"); `on_disk`: index where the records are
/// instead of keeping them (see `index.rs`).
pub(super) fn recover(dir: &Path, on_disk: bool) -> Result<Recovered> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StorageError::LogIo { path, op, source }
    };
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("list the directory", dir))? {
        let entry = entry.map_err(io("list the directory", dir))?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_segment_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    let mut quarantined = Vec::new();
    let first_bad = ids.partition_point(|&id| id <= MAX_SEQ);
    for id in ids.split_off(first_bad) {
        quarantined.push(quarantine(dir, id)?);
    }
    let mut out = Recovered {
        index: Index::new(on_disk),
        segments: BTreeMap::new(),
        next_seq: FIRST_SEQ,
        last_len: 0,
        report: LogRecovery {
            segments: ids.len(),
            quarantined_segments: quarantined.len(),
            corrupt: quarantined,
            ..LogRecovery::default()
        },
    };
    for (i, &id) in ids.iter().enumerate() {
        let is_last = i + 1 == ids.len();
        // Every event of this segment is below the next segment's name.
        let next_id = ids.get(i + 1).copied();
        let path = segment_path(dir, id);
        out.next_seq = out.next_seq.max(id);
        out.segments.insert(id, Segment::new());
        // Read through a small buffer, one record at a time: an open costs
        // the same memory for a segment of 8 MiB as for one of 8 KiB.
        let mut reader = SegmentReader::open(&path, 0)
            .map_err(io("read a segment", &path))?
            .ok_or_else(|| StorageError::LogIo {
                path: path.clone(),
                op: "read a segment",
                source: std::io::ErrorKind::NotFound.into(),
            })?;
        let file_len = reader.end();
        let mut offset = 0u64;
        let mut damage = None;
        let mut last_event = None;
        loop {
            let record = match reader.next_frame().map_err(io("read a segment", &path))? {
                Frame::End => break,
                Frame::Damaged { reason, .. } => {
                    damage = Some(reason);
                    break;
                }
                Frame::Record(bytes) => match parse_record(bytes) {
                    Ok((record, _)) => record,
                    Err(reason) => {
                        damage = Some(reason);
                        break;
                    }
                },
            };
            let at = Position {
                segment: id,
                next_segment: next_id,
                offset,
            };
            match apply(&mut out, at, &mut last_event, record) {
                Ok(Applied::Yes) => {}
                Ok(Applied::Skipped(reason)) => out.report.corrupt.push(format!(
                    "log queue {}: skipped the record at offset {offset}: {reason}",
                    path.display()
                )),
                Err(reason) => {
                    damage = Some(reason);
                    break;
                }
            }
            offset = reader.offset();
        }
        drop(reader);
        if let Some(reason) = damage {
            let skipped = file_len - offset;
            if is_last {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io("open the last segment to truncate it", &path))?;
                file.set_len(offset)
                    .map_err(io("truncate the torn tail of the last segment", &path))?;
                out.report.torn_tail_bytes += skipped;
                out.report.corrupt.push(format!(
                    "log queue {}: truncated a torn or damaged tail of {skipped} bytes at offset \
                     {offset} of the last segment: {reason}",
                    path.display()
                ));
            } else {
                // Cut off too, the bytes kept aside: what this open did not
                // read must not be read by a later one, whose view of the
                // neighbouring segments may differ (a segment this open
                // deletes no longer bounds the seqs of the one before it).
                let aside = cut_aside(&path, offset)?;
                out.report.corrupt.push(format!(
                    "log queue {}: damaged record at offset {offset}: {reason}; the remaining \
                     {skipped} bytes of this segment were cut off and moved aside to {}",
                    path.display(),
                    aside.display()
                ));
            }
        }
        if is_last {
            out.last_len = offset;
        }
    }
    Ok(out)
}

/// The suffix of the file that keeps the bytes cut off a damaged segment.
pub(super) const DAMAGED_SUFFIX: &str = ".damaged";

/// Moves the bytes of segment `path` from `offset` on to `<name>.damaged`
/// (owner-only, replacing an older one) and cuts the segment there; returns
/// where the bytes went.
fn cut_aside(path: &Path, offset: u64) -> Result<std::path::PathBuf> {
    use std::io::{Seek as _, SeekFrom};
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StorageError::LogIo { path, op, source }
    };
    let mut aside = path.to_path_buf().into_os_string();
    aside.push(DAMAGED_SUFFIX);
    let aside = std::path::PathBuf::from(aside);
    let mut file = crate::private::private_file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&aside)
        .map_err(io("create the file for a damaged segment's tail", &aside))?;
    // Not synced: the bytes are unreadable to the log whatever happens,
    // and are kept for whoever investigates (best effort, like the cut).
    let mut segment = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io("open a damaged segment", path))?;
    segment
        .seek(SeekFrom::Start(offset))
        .and_then(|_| std::io::copy(&mut segment, &mut file))
        .map_err(io("write a damaged segment's tail aside", &aside))?;
    segment
        .set_len(offset)
        .map_err(io("cut the damaged tail off a segment", path))?;
    Ok(aside)
}

/// Renames segment `id` (named above [`MAX_SEQ`]) aside; returns the line
/// that reports it.
fn quarantine(dir: &Path, id: u64) -> Result<String> {
    let path = segment_path(dir, id);
    let mut aside = path.clone().into_os_string();
    aside.push(QUARANTINE_SUFFIX);
    std::fs::rename(&path, &aside).map_err(|source| StorageError::LogIo {
        path: path.clone(),
        op: "move aside a segment named above the largest sequence number",
        source,
    })?;
    Ok(format!(
        "log queue {}: the segment's name is above the largest sequence number ever assigned \
         ({MAX_SEQ}); it was not read and was moved aside to {}",
        path.display(),
        Path::new(&aside).display()
    ))
}

/// What became of one well-framed record.
pub(super) enum Applied {
    Yes,
    /// It names a sequence number above [`MAX_SEQ`]: left out, and why.
    Skipped(String),
}

/// Where a record was read.
#[derive(Clone, Copy)]
pub(super) struct Position {
    pub(super) segment: u64,
    /// The name of the segment after it, if any.
    pub(super) next_segment: Option<u64>,
    pub(super) offset: u64,
}

/// Applies one record read at `at`; `last_event` is the seq of the last
/// event applied from the same segment. `Err` is damage: the rest of the
/// segment cannot be trusted.
///
/// An event's seq must lie in `[id, next_id)`: a segment is named after the
/// next seq when it is created, so the writer never puts an event anywhere
/// else, and the owner of a seq is found by its seq alone (the newest
/// segment named at or below it), here when a settle record is applied and
/// at run time. An event outside that range (crafted or corrupt data) would
/// be counted live in one segment and settled in another, which the first
/// open then deletes with its unsettled events: so it is damage.
///
/// An event whose seq is not above the segment's previous event is skipped
/// and reported: the writer assigns seqs in order, and a log whose records
/// stay on disk finds an event by reading its segment forward from a
/// lower seq, so it could not serve such an event (and reads skip it too).
pub(super) fn apply(
    out: &mut Recovered,
    at: Position,
    last_event: &mut Option<Seq>,
    record: Parsed<'_>,
) -> Result<Applied, String> {
    let (id, next_id) = (at.segment, at.next_segment);
    match record {
        Parsed::Event {
            seq,
            enqueued_at_ms,
            event_ts_ns,
            payload,
        } => {
            if seq > MAX_SEQ {
                return Ok(Applied::Skipped(format!(
                    "event seq {seq} is above the largest sequence number ever assigned \
                     ({MAX_SEQ})"
                )));
            }
            if seq < id {
                return Err(format!(
                    "event seq {seq} is below its segment's first seq {id}"
                ));
            }
            if let Some(next_id) = next_id.filter(|&next_id| seq >= next_id) {
                return Err(format!(
                    "event seq {seq} is at or above the next segment's first seq {next_id}"
                ));
            }
            if let Some(last) = last_event.filter(|&last| seq <= last) {
                return Ok(Applied::Skipped(format!(
                    "event seq {seq} is not above the segment's previous event seq {last}"
                )));
            }
            *last_event = Some(seq);
            out.next_seq = out.next_seq.max(seq.saturating_add(1));
            out.report.events += 1;
            let event = NewEvent {
                seq,
                segment: id,
                offset: at.offset,
                enqueued_at_ms,
                event_ts_ns,
                payload,
            };
            if out.index.insert(event) {
                if let Some(segment) = out.segments.get_mut(&id) {
                    segment.live += 1;
                }
            }
        }
        Parsed::Settled(raw) => {
            let seqs = raw.chunks_exact(8).filter_map(|bytes| le_u64(bytes, 0));
            if let Some(seq) = seqs.clone().find(|&seq| seq > MAX_SEQ) {
                return Ok(Applied::Skipped(format!(
                    "settle record lists seq {seq}, above the largest sequence number ever \
                     assigned ({MAX_SEQ})"
                )));
            }
            settle_recovered(out, id, seqs);
        }
        Parsed::SettledRanges(raw) => {
            let mut seqs = Vec::new();
            for pair in raw.chunks_exact(16) {
                let (Some(lo), Some(hi)) = (le_u64(pair, 0), le_u64(pair, 8)) else {
                    continue;
                };
                if lo > MAX_SEQ || hi > MAX_SEQ + 1 {
                    return Ok(Applied::Skipped(format!(
                        "settled range [{lo}, {hi}) reaches above the largest sequence number \
                         ever assigned ({MAX_SEQ})"
                    )));
                }
                seqs.extend(out.index.live_in(lo, hi));
            }
            settle_recovered(out, id, seqs.into_iter());
        }
    }
    Ok(Applied::Yes)
}

/// Applies the seqs a settle record read from segment `id` lists.
pub(super) fn settle_recovered(out: &mut Recovered, id: u64, seqs: impl Iterator<Item = Seq>) {
    let mut min_segment = u64::MAX;
    for seq in seqs {
        out.next_seq = out.next_seq.max(seq.saturating_add(1));
        if !out.index.remove(seq) {
            continue;
        }
        out.report.settled += 1;
        let Some(owner) = out.segments.range(..=seq).next_back().map(|(&s, _)| s) else {
            continue;
        };
        min_segment = min_segment.min(owner);
        if let Some(segment) = out.segments.get_mut(&owner) {
            segment.live = segment.live.saturating_sub(1);
        }
    }
    if let Some(segment) = out.segments.get_mut(&id) {
        segment.settles_into = segment.settles_into.min(min_segment);
    }
}
