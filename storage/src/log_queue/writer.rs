//! The flusher of a write-ahead log: takes the queued bytes, writes them to
//! their segments (one `write(2)` per segment touched), syncs when asked,
//! and deletes the segments that were dead when the bytes were taken, in
//! the order the crash-safety argument of the module docs requires.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::format::segment_path;
use super::state::{Chunk, Shared};
use crate::error::{Result, StorageError};

/// The open segment file the flusher appends to.
pub(super) struct OpenSegment {
    pub(super) id: u64,
    pub(super) file: File,
    /// Its length as far as the flusher knows it is good.
    pub(super) len: u64,
}

/// The flusher's side: owns the segment files' handles.
pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) fsync: bool,
    pub(super) file: Option<OpenSegment>,
    /// A write to the open file failed and truncating its tail back failed
    /// too: truncate before writing to it again.
    pub(super) broken: bool,
}

impl Writer {
    /// The group-commit flush: takes every queued byte, writes it to its
    /// segments (one `write(2)` per segment touched), syncs if asked, then
    /// deletes the segments that were dead when the bytes were taken.
    ///
    /// Order, which is the crash-safety argument: a segment is deletable
    /// only if it is not the current one (no byte will ever be queued for
    /// it again) and has no unsettled event. Deletable segments are chosen
    /// under the same lock that takes the queued bytes (and the settled
    /// ranges record `take_deletable` may queue is taken with them), so
    /// every settle record that made one dead, and every byte of it, is in
    /// the bytes taken or written before; they are unlinked, oldest first,
    /// only after those bytes were written (and synced). A crash at any
    /// point therefore finds either the segment (with everything it had) or
    /// the records that made it unnecessary, and never a settled record
    /// without the record that settled it.
    pub(super) fn flush(&mut self) -> Result<(), String> {
        let (chunks, doomed) = {
            let mut state = self.shared.lock();
            let mut doomed = std::mem::take(&mut state.doomed);
            // First: it may queue a settled-ranges record, which must be in
            // the bytes taken now.
            doomed.extend(state.take_deletable());
            let chunks = std::mem::take(&mut state.pending);
            state.pending_bytes = 0;
            (chunks, doomed)
        };
        let mut chunks = chunks.into_iter();
        let mut last_buffer = None;
        while let Some(chunk) = chunks.next() {
            if let Err(message) = self.write_chunk(&chunk) {
                // Nothing of this chunk counts as written (the file was cut
                // back to its good length): put it and the rest back first
                // in line, ahead of anything queued meanwhile.
                self.shared.write_failures.fetch_add(1, Ordering::Relaxed);
                let mut state = self.shared.lock();
                let mut back: Vec<Chunk> = std::iter::once(chunk).chain(chunks).collect();
                state.pending_bytes += back.iter().map(|c| c.bytes.len() as u64).sum::<u64>();
                back.append(&mut state.pending);
                state.pending = back;
                state.needs_request = true;
                state.write_error = Some(message.clone());
                state.doomed.extend(doomed);
                return Err(message);
            }
            last_buffer = Some(chunk.bytes);
        }
        if self.fsync {
            if let Some(open) = &self.file {
                // Written already: a failed sync is reported, not retried
                // by writing again; the dead segments wait for a good flush.
                if let Err(e) = open.file.sync_data() {
                    let message = format!("fdatasync of {}: {e}", self.path_of(open.id).display());
                    self.shared.write_failures.fetch_add(1, Ordering::Relaxed);
                    let mut state = self.shared.lock();
                    state.write_error = Some(message.clone());
                    state.doomed.extend(doomed);
                    return Err(message);
                }
            }
        }
        if let Some(open) = &self.file {
            if doomed.contains(&open.id) {
                self.file = None;
            }
        }
        let not_deleted =
            delete_oldest_first(&self.shared.dir, doomed, |path| std::fs::remove_file(path));
        if !not_deleted.is_empty() {
            // Retried by the next flush, and found dead again at open.
            self.shared.delete_failures.fetch_add(1, Ordering::Relaxed);
        }
        let mut state = self.shared.lock();
        state.write_error = None;
        state.doomed.extend(not_deleted);
        if let Some(mut buffer) = last_buffer {
            if state.spare.capacity() == 0 && buffer.capacity() <= 16 * 1024 * 1024 {
                buffer.clear();
                state.spare = buffer;
            }
        }
        drop(state);
        Ok(())
    }

    pub(super) fn path_of(&self, id: u64) -> PathBuf {
        segment_path(&self.shared.dir, id)
    }

    /// Writes one chunk to its segment; on failure cuts the file back to
    /// its good length so that no partial record stays in the middle.
    pub(super) fn write_chunk(&mut self, chunk: &Chunk) -> Result<(), String> {
        if self.file.as_ref().map(|f| f.id) != Some(chunk.segment) {
            if let (true, Some(open)) = (self.fsync, &self.file) {
                open.file.sync_data().map_err(|e| {
                    format!("fdatasync of {}: {e}", self.path_of(open.id).display())
                })?;
            }
            self.file = None;
            self.broken = false;
            let path = self.path_of(chunk.segment);
            let existed = path.exists();
            let file = crate::private::private_file_options()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("opening {}: {e}", path.display()))?;
            let len = file
                .metadata()
                .map_err(|e| format!("stat of {}: {e}", path.display()))?
                .len();
            if self.fsync && !existed {
                sync_dir(&self.shared.dir)
                    .map_err(|e| format!("fsync of {}: {e}", self.shared.dir.display()))?;
            }
            self.file = Some(OpenSegment {
                id: chunk.segment,
                file,
                len,
            });
        }
        let path = self.path_of(chunk.segment);
        let Some(open) = self.file.as_mut() else {
            return Err(format!("{}: segment not open", path.display()));
        };
        if self.broken {
            open.file
                .set_len(open.len)
                .map_err(|e| format!("truncating {}: {e}", path.display()))?;
            self.broken = false;
        }
        match open.file.write_all(&chunk.bytes) {
            Ok(()) => {
                open.len += chunk.bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                if open.file.set_len(open.len).is_err() {
                    self.broken = true;
                }
                Err(format!("writing {}: {e}", path.display()))
            }
        }
    }
}

pub(super) fn create_segment(dir: &Path, id: u64, fsync: bool) -> Result<()> {
    let path = segment_path(dir, id);
    crate::private::private_file_options()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| StorageError::LogIo {
            path: path.clone(),
            op: "create a segment",
            source,
        })?;
    if fsync {
        sync_dir(dir).map_err(|source| StorageError::LogIo {
            path: dir.to_path_buf(),
            op: "fsync the directory",
            source,
        })?;
    }
    Ok(())
}

/// Unlinks the dead segments `doomed`, oldest first, with `unlink`, and
/// stops at the first failure: a newer dead segment may hold the settle
/// records that keep an older one's events settled, so deleting it while
/// the older one stays would bring those events back at the next open.
/// Returns what was not deleted (the segment that failed and every newer
/// one), for a later flush to retry. A segment already gone counts as
/// deleted.
pub(super) fn delete_oldest_first(
    dir: &Path,
    mut doomed: Vec<u64>,
    mut unlink: impl FnMut(&Path) -> std::io::Result<()>,
) -> Vec<u64> {
    doomed.sort_unstable();
    for (done, &id) in doomed.iter().enumerate() {
        match unlink(&segment_path(dir, id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return doomed.split_off(done),
        }
    }
    Vec::new()
}

/// Makes a directory's entries (a created segment) durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn deletion_stops_at_the_first_failed_unlink() {
        let dir = Path::new("/q");
        let mut tried = Vec::new();
        let kept = delete_oldest_first(dir, vec![30, 10, 40, 20], |path| {
            tried.push(path.to_path_buf());
            if path == segment_path(dir, 20) {
                Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            } else {
                Ok(())
            }
        });
        assert_eq!(kept, vec![20, 30, 40], "the failed one and every newer one");
        let expected: Vec<PathBuf> = [10, 20].iter().map(|&id| segment_path(dir, id)).collect();
        assert_eq!(tried, expected, "nothing newer was unlinked");
    }

    #[test]
    fn a_segment_already_gone_counts_as_deleted() {
        let kept = delete_oldest_first(Path::new("/q"), vec![2, 1], |_| {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        });
        assert!(kept.is_empty());
    }
}
