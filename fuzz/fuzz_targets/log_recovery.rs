//! Fuzzes write-ahead log recovery, bytes on disk to an open queue: the
//! input's segment files (raw, or record bodies the harness frames with a
//! valid CRC: see `plexus_fuzz::LogInput`) are written into a fresh
//! directory and the log is opened. Opening must never panic; when it succeeds, the queue is closed
//! and the directory opened a second time, which must recover exactly the
//! records the first open did (the first open truncates torn tails, moves
//! bad segments aside and deletes dead ones; none of that may change what
//! is recovered). A third open keeps the records on disk and reads them
//! back from the segments: it must return exactly the same records, none
//! reported lost.
#![no_main]

use plexus_fuzz::LogInput;
use plexus_storage::fuzzing::{log_frame, segment_path};
use plexus_storage::{LogOptions, LogQueue, Record};
use std::time::Duration;

fn contents(queue: &LogQueue) -> Vec<Record> {
    match queue.peek_oldest(usize::MAX) {
        Ok(peeked) => peeked.records,
        Err(err) => panic!("peek failed: {err}"),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let input = LogInput::decode(data);
    // The harness's own setup: a temporary directory must be creatable
    // (in memory when the machine has /dev/shm: many files per second).
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    for (id, bytes) in &input.segments {
        let framed;
        let bytes = if input.framed {
            let mut out = Vec::new();
            for body in LogInput::bodies(bytes) {
                log_frame(&mut out, body);
            }
            framed = out;
            &framed[..]
        } else {
            bytes
        };
        std::fs::write(segment_path(dir.path(), *id), bytes).expect("write a segment");
    }
    let options = || {
        LogOptions::default()
            .segment_bytes(input.segment_bytes)
            .max_flush_delay(Duration::ZERO)
    };
    let Ok(first) = LogQueue::open(dir.path(), options()) else {
        return;
    };
    let recovered = contents(&first);
    assert_eq!(first.len(), recovered.len() as u64);
    let report = first.recovery().clone();
    if let Err(err) = first.flush() {
        panic!("flush after open failed: {err}");
    }
    drop(first);
    let second = match LogQueue::open(dir.path(), options()) {
        Ok(queue) => queue,
        Err(err) => panic!("the first open succeeded, the second failed: {err}"),
    };
    let again = contents(&second);
    assert_eq!(
        again,
        recovered,
        "a second open recovers other records than the first\nfirst open: {report:?}\nsecond \
         open: {:?}",
        second.recovery()
    );
    drop(second);
    let on_disk = match LogQueue::open(dir.path(), options().records_on_disk(true)) {
        Ok(queue) => queue,
        Err(err) => panic!("the records-on-disk open failed: {err}"),
    };
    let peeked = match on_disk.peek_oldest(usize::MAX) {
        Ok(peeked) => peeked,
        Err(err) => panic!("peek of the records-on-disk queue failed: {err}"),
    };
    assert!(
        peeked.corrupt.is_empty(),
        "records read back from disk were lost: {:?}",
        peeked.corrupt
    );
    assert_eq!(
        peeked.records, recovered,
        "records read back from disk differ from those kept in memory"
    );
});
