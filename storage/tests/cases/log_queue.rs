// The log queue's cases, included by `log_queue.rs` (records in memory) and
// `log_queue_on_disk.rs` (records read back from the segments), each of
// which defines `base_options()`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{child_dir, deadline, spawn_child, Lines};
use plexus_storage::{LogQueue, StorageError};

fn payload(i: u64) -> Vec<u8> {
    let mut p = format!("event-{i}-").into_bytes();
    p.resize(40 + (i % 11) as usize * 9, b'a' + (i % 26) as u8);
    p
}

fn ts(i: u64) -> i64 {
    1_700_000_000_000_000_000 + i as i64
}

fn open(dir: &Path) -> LogQueue {
    LogQueue::open(dir, base_options()).expect("open the log queue")
}

fn open_small(dir: &Path, segment_bytes: u64) -> LogQueue {
    LogQueue::open(dir, base_options().segment_bytes(segment_bytes)).expect("open")
}

/// Every unsettled record, as (seq, ts, payload).
fn contents(q: &LogQueue) -> Vec<(u64, i64, Vec<u8>)> {
    let peeked = q.peek_oldest(usize::MAX).expect("peek");
    assert!(peeked.corrupt.is_empty());
    peeked
        .records
        .into_iter()
        .map(|r| (r.seq, r.event_ts_ns, r.payload))
        .collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn append_peek_remove_len_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open(dir.path());
    assert!(q.is_empty());
    let seqs: Vec<u64> = (0..10)
        .map(|i| q.append(ts(i), &payload(i)).expect("append"))
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_eq!(q.len(), 10);
    let oldest = q.peek_oldest(3).expect("peek");
    assert_eq!(
        oldest.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(oldest.records[1].payload, payload(1));
    assert_eq!(oldest.records[1].event_ts_ns, ts(1));
    // Missing and repeated seqs are ignored.
    assert_eq!(q.remove(&[2, 4, 4, 99]).expect("remove"), 2);
    assert_eq!(q.remove(&[2]).expect("remove again"), 0);
    assert_eq!(q.len(), 8);
    assert_eq!(
        contents(&q).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 3, 5, 6, 7, 8, 9, 10]
    );
    assert_eq!(q.drop_older_than(ts(6)).expect("drop by age"), 4); // 1, 3, 5, 6
    assert_eq!(
        contents(&q).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    assert_eq!(q.peek_oldest(0).expect("peek 0").records.len(), 0);
    q.flush().expect("flush");
}

#[test]
fn reopen_keeps_exactly_the_unsettled_records_and_seqs_continue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let expected = {
        let q = open(dir.path());
        for i in 0..100 {
            q.append(ts(i), &payload(i)).expect("append");
        }
        let settle: Vec<u64> = (1..=100).filter(|s| s % 3 != 0).collect();
        q.remove(&settle).expect("remove");
        q.flush().expect("flush");
        contents(&q)
    };
    assert_eq!(expected.len(), 33);
    let q = open(dir.path());
    assert_eq!(contents(&q), expected);
    assert_eq!(q.len(), 33);
    assert_eq!(q.corrupt_skipped(), 0);
    assert_eq!(q.recovery().events, 100);
    assert_eq!(q.recovery().settled, 67);
    assert_eq!(q.append(0, b"next").expect("append"), 101);
}

#[test]
fn drop_without_flush_still_writes_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let q = open(dir.path());
        q.append(5, b"a").expect("append");
        q.append(6, b"b").expect("append");
        q.remove(&[1]).expect("remove");
    }
    let q = open(dir.path());
    assert_eq!(contents(&q), vec![(2, 6, b"b".to_vec())]);
}

#[test]
fn seqs_never_go_back_after_the_queue_was_emptied() {
    let dir = tempfile::tempdir().expect("temp dir");
    for round in 0..3u64 {
        let q = open_small(dir.path(), 256);
        let seqs: Vec<u64> = (0..20)
            .map(|i| q.append(ts(i), &payload(i)).expect("append"))
            .collect();
        assert_eq!(seqs[0], round * 20 + 1, "round {round}");
        q.remove(&seqs).expect("remove all");
        q.flush().expect("flush");
        assert!(q.is_empty());
    }
    let q = open_small(dir.path(), 256);
    assert!(q.is_empty());
    assert_eq!(q.append(0, b"x").expect("append"), 61);
}

#[test]
fn rotation_deletes_dead_segments_and_keeps_live_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open_small(dir.path(), 1024);
    let seqs: Vec<u64> = (0..200)
        .map(|i| q.append(ts(i), &payload(i)).expect("append"))
        .collect();
    q.flush().expect("flush");
    let before = segment_files(dir.path()).len();
    assert!(before > 10, "{before} segments");
    // Keep the very first record and every 50th; settle everything else.
    let keep: Vec<u64> = seqs
        .iter()
        .copied()
        .filter(|s| *s == 1 || s % 50 == 0)
        .collect();
    let settle: Vec<u64> = seqs.iter().copied().filter(|s| !keep.contains(s)).collect();
    q.remove(&settle).expect("remove");
    q.flush().expect("flush");
    // The flush that wrote the settle record deletes at the next round.
    q.append(0, b"tick").expect("append");
    q.flush().expect("flush");
    let after = segment_files(dir.path()).len();
    assert!(
        after < before / 2,
        "dead segments deleted: {before} -> {after} ({:?})",
        q.segments()
    );
    let mut expected: Vec<u64> = keep.clone();
    expected.push(201);
    assert_eq!(
        contents(&q).iter().map(|r| r.0).collect::<Vec<_>>(),
        expected
    );
    drop(q);
    let q = open_small(dir.path(), 1024);
    let got = contents(&q);
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), expected);
    for (seq, t, p) in &got[..keep.len()] {
        assert_eq!((*t, p), (ts(seq - 1), &payload(seq - 1)));
    }
    assert_eq!(q.corrupt_skipped(), 0);
    // Settle the rest: everything but the current segment goes.
    let all: Vec<u64> = got.iter().map(|r| r.0).collect();
    q.remove(&all).expect("remove");
    q.flush().expect("flush");
    q.append(0, b"tick").expect("append");
    q.flush().expect("flush");
    assert!(segment_files(dir.path()).len() <= 2, "{:?}", q.segments());
    drop(q);
    let q = open_small(dir.path(), 1024);
    assert_eq!(q.len(), 1);
    assert_eq!(q.append(0, b"x").expect("append"), 203);
}

/// A dead segment whose settle record settled an event of an older live
/// segment can only go once that settle is re-stated elsewhere, or that
/// event would come back after a restart.
#[test]
fn settled_events_of_older_live_segments_stay_settled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open_small(dir.path(), 200);
    let a: Vec<u64> = (0..3)
        .map(|i| q.append(ts(i), &payload(i)).expect("append"))
        .collect();
    // Fill until a rotation happened, then settle one old record from the
    // new segment and every record of the new segment itself.
    let first_segments = q.segments();
    let mut newer = Vec::new();
    while q.segments().len() == first_segments.len() {
        newer.push(q.append(0, b"newer").expect("append"));
    }
    let last = *newer.last().expect("one");
    q.remove(&[a[1]])
        .expect("settle an old one from the new segment");
    q.remove(&[last])
        .expect("settle the new segment's only event");
    for _ in 0..20 {
        let s = q.append(0, b"filler").expect("append");
        q.remove(&[s]).expect("remove");
    }
    q.flush().expect("flush");
    q.append(0, b"tick").expect("append");
    q.flush().expect("flush");
    drop(q);
    let q = open_small(dir.path(), 200);
    let seqs: Vec<u64> = contents(&q).iter().map(|r| r.0).collect();
    assert!(
        !seqs.contains(&a[1]),
        "settled {} came back: {seqs:?}",
        a[1]
    );
    assert!(seqs.contains(&a[0]) && seqs.contains(&a[2]), "{seqs:?}");
    assert!(!seqs.contains(&last));
}

#[test]
fn torn_tail_is_truncated_and_every_complete_record_recovered() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let q = open(dir.path());
        for i in 0..10 {
            q.append(ts(i), &payload(i)).expect("append");
        }
        q.flush().expect("flush");
    }
    let files = segment_files(dir.path());
    let last = files.last().expect("a segment");
    let len = std::fs::metadata(last).expect("stat").len();
    // Cut the last record in half.
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .expect("open")
        .set_len(len - 20)
        .expect("truncate");
    let q = open(dir.path());
    let got = contents(&q);
    assert_eq!(
        got.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(q.corrupt_skipped(), 1);
    assert!(q.recovery().torn_tail_bytes > 0);
    assert!(
        q.recovery().corrupt[0].contains("torn"),
        "{:?}",
        q.recovery()
    );
    // The tail is gone from disk: appending continues cleanly.
    assert_eq!(q.append(1, b"after").expect("append"), 10);
    q.flush().expect("flush");
    drop(q);
    let q = open(dir.path());
    assert_eq!(q.corrupt_skipped(), 0);
    assert_eq!(q.len(), 10);
}

#[test]
fn garbage_after_the_last_record_is_truncated() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let q = open(dir.path());
        for i in 0..5 {
            q.append(ts(i), &payload(i)).expect("append");
        }
    }
    let files = segment_files(dir.path());
    let last = files.last().expect("a segment");
    std::fs::OpenOptions::new()
        .append(true)
        .open(last)
        .expect("open")
        .write_all(&[0xab; 37])
        .expect("write garbage");
    let q = open(dir.path());
    assert_eq!(q.len(), 5);
    assert_eq!(q.corrupt_skipped(), 1);
    assert_eq!(q.recovery().torn_tail_bytes, 37);
    assert_eq!(contents(&q)[4], (5, ts(4), payload(4)));
}

#[test]
fn damage_in_an_older_segment_is_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let q = open_small(dir.path(), 512);
        for i in 0..40 {
            q.append(ts(i), &payload(i)).expect("append");
        }
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    // Flip a payload byte of the first segment's second record.
    let mut bytes = std::fs::read(&files[0]).expect("read");
    let first_len = 8 + u32::from_le_bytes(bytes[4..8].try_into().expect("4")) as usize;
    bytes[first_len + 40] ^= 0x40;
    std::fs::write(&files[0], &bytes).expect("write");
    let q = open_small(dir.path(), 512);
    assert_eq!(q.corrupt_skipped(), 1);
    assert!(
        q.recovery().corrupt[0].contains("checksum"),
        "{:?}",
        q.recovery()
    );
    let seqs: Vec<u64> = contents(&q).iter().map(|r| r.0).collect();
    assert_eq!(seqs[0], 1, "records before the damage are kept");
    assert!(!seqs.contains(&2), "the damaged record is not returned");
    assert_eq!(*seqs.last().expect("some"), 40, "later segments are read");
    assert_eq!(q.append(0, b"x").expect("append"), 41);
    // The segment was cut at the damage, its rest kept aside.
    let mut aside = files[0].clone().into_os_string();
    aside.push(".damaged");
    assert_eq!(
        std::fs::read(&aside).expect("the damaged tail is kept"),
        bytes[first_len..]
    );
    assert_eq!(
        std::fs::metadata(&files[0]).expect("the segment").len(),
        first_len as u64
    );
}

#[test]
fn flush_async_resolves_and_waiters_share_flushes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = LogQueue::open(
        dir.path(),
        base_options().max_flush_delay(Duration::from_millis(20)),
    )
    .expect("open");
    futures::executor::block_on(q.flush_async()).expect("nothing to flush");
    let before = q.flush_count();
    let waits: Vec<_> = (0..64)
        .map(|i| {
            q.append(ts(i), &payload(i)).expect("append");
            q.flush_async()
        })
        .collect();
    for result in futures::executor::block_on(futures::future::join_all(waits)) {
        result.expect("flushed");
    }
    let flushes = q.flush_count() - before;
    assert!(flushes < 16, "64 waiters took {flushes} flushes");
    // Written: a second process view (reopen after drop) sees them all.
    drop(q);
    assert_eq!(open(dir.path()).len(), 64);

    // Concurrent threads each appending and awaiting.
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open(dir.path());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let q = q.clone();
            s.spawn(move || {
                for i in 0..200 {
                    q.append(ts(i), &payload(t * 1000 + i)).expect("append");
                    futures::executor::block_on(q.flush_async()).expect("flush");
                }
            });
        }
    });
    assert_eq!(q.len(), 800);
    assert!(q.flush_count() <= 801, "{}", q.flush_count());
}

#[test]
fn a_second_open_of_the_directory_fails_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open(dir.path());
    match LogQueue::open(dir.path(), base_options()) {
        Err(err @ StorageError::LogLocked { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains(&dir.path().display().to_string()),
                "{message}"
            );
            assert!(message.contains("locked"), "{message}");
        }
        other => panic!("expected LogLocked, got {other:?}"),
    }
    drop(q);
    open(dir.path());
}

const MODE: &str = "log-appender";
const REPORTED_BEFORE_KILL: usize = 40_000;

fn crash_payload(thread: u64, i: u64) -> Vec<u8> {
    let mut p = format!("thread-{thread}-item-{i}-").into_bytes();
    p.resize(64 + (i % 7) as usize * 13, b'a' + (i % 26) as u8);
    p
}

/// In a child process: two threads append forever in small batches, flush
/// (thread 0 blocking, thread 1 with flush_async) and print
/// `ACK <seq> <thread> <i> END` for each flushed record; then announce
/// `SETTLING <seq> END`, settle all but about one in 16 (and now and then
/// half of those kept earlier), flush again and print `DEL <seq> END`. Tiny segments, so
/// rotation and deletion happen all the time.
#[test]
#[ignore = "child process of acknowledged_appends_survive_kill_9"]
fn child_appends_until_killed() {
    let Some(dir) = child_dir(MODE) else { return };
    println!();
    let q = LogQueue::open(
        &dir,
        base_options()
            .segment_bytes(4096)
            .max_flush_delay(Duration::from_millis(1)),
    )
    .expect("child opens the queue");
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                let mut kept = Vec::new();
                loop {
                    let batch: Vec<(u64, u64)> = (i..i + 4)
                        .map(|k| {
                            let seq = q
                                .append((t * 1_000_000_000 + k) as i64, &crash_payload(t, k))
                                .expect("append");
                            (seq, k)
                        })
                        .collect();
                    i += 4;
                    if t == 0 {
                        q.flush().expect("flush");
                    } else {
                        futures::executor::block_on(q.flush_async()).expect("flush_async");
                    }
                    let mut out = String::new();
                    for &(seq, k) in &batch {
                        out.push_str(&format!("ACK {seq} {t} {k} END\n"));
                    }
                    print!("{out}");
                    // Keep about one record in 16 and settle the rest, so
                    // most segments die; now and then settle half of the
                    // kept ones too, from a much newer segment.
                    let mut settle: Vec<u64> = Vec::new();
                    for &(seq, _) in &batch {
                        if seq % 16 == 1 {
                            kept.push(seq);
                        } else {
                            settle.push(seq);
                        }
                    }
                    if i % 256 == 0 {
                        settle.extend(kept.drain(..kept.len() / 2));
                    }
                    // Announced first: another thread's flush may make the
                    // removal durable before this one's `DEL` is printed.
                    let mut out = String::new();
                    for seq in &settle {
                        out.push_str(&format!("SETTLING {seq} END\n"));
                    }
                    print!("{out}");
                    q.remove(&settle).expect("remove");
                    q.flush().expect("flush the removal");
                    let mut out = String::new();
                    for seq in settle {
                        out.push_str(&format!("DEL {seq} END\n"));
                    }
                    print!("{out}");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

enum Line {
    Ack(u64, u64, u64),
    Settling(u64),
    Del(u64),
}

fn parse(line: &str) -> Option<Line> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("ACK ") {
        let mut parts = rest.split(' ');
        let seq = parts.next()?.parse().ok()?;
        let t = parts.next()?.parse().ok()?;
        let i = parts.next()?.parse().ok()?;
        return (parts.next()? == "END").then_some(Line::Ack(seq, t, i));
    }
    if let Some(rest) = line.strip_prefix("SETTLING ") {
        let mut parts = rest.split(' ');
        let seq = parts.next()?.parse().ok()?;
        return (parts.next()? == "END").then_some(Line::Settling(seq));
    }
    let mut parts = line.strip_prefix("DEL ")?.split(' ');
    let seq = parts.next()?.parse().ok()?;
    (parts.next()? == "END").then_some(Line::Del(seq))
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_child("child_appends_until_killed", MODE, dir.path());
    let lines = Lines::new(child.stdout.take().expect("stdout"));
    let until = deadline(120);
    let mut acked: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut deleted = std::collections::HashSet::new();
    let mut settling = std::collections::HashSet::new();
    let mut record = |line: &str, acked: &mut HashMap<u64, (u64, u64)>| match parse(line) {
        Some(Line::Ack(seq, t, i)) => {
            acked.insert(seq, (t, i));
        }
        Some(Line::Settling(seq)) => {
            settling.insert(seq);
        }
        Some(Line::Del(seq)) => {
            deleted.insert(seq);
        }
        None => {}
    };
    while acked.len() < REPORTED_BEFORE_KILL {
        match lines.next_before(until) {
            Some(line) => record(&line, &mut acked),
            None => panic!("child exited after {} acknowledgements", acked.len()),
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the child was killed: {status:?}");
    for line in lines.rest(until) {
        record(&line, &mut acked);
    }

    let q = LogQueue::open(dir.path(), base_options().segment_bytes(4096))
        .expect("reopen after the crash");
    let recovery = q.recovery().clone();
    // A torn tail is allowed (the kill may cut a write); nothing else.
    assert!(
        recovery.corrupt.iter().all(|c| c.contains("torn")),
        "{recovery:?}"
    );
    let stored: HashMap<u64, (i64, Vec<u8>)> = contents(&q)
        .into_iter()
        .map(|(seq, t, p)| (seq, (t, p)))
        .collect();
    let mut live = 0;
    for (&seq, &(t, i)) in &acked {
        if deleted.contains(&seq) {
            continue;
        }
        if settling.contains(&seq) && !stored.contains_key(&seq) {
            // Removed, and the removal flushed by some thread's flush
            // before the kill: allowed.
            continue;
        }
        live += 1;
        let (stored_ts, stored_payload) = stored
            .get(&seq)
            .unwrap_or_else(|| panic!("acknowledged seq {seq} (thread {t}, item {i}) was lost"));
        assert_eq!(*stored_ts, (t * 1_000_000_000 + i) as i64, "ts of {seq}");
        assert_eq!(stored_payload, &crash_payload(t, i), "payload of {seq}");
    }
    // Settled-and-flushed records stay settled.
    for seq in &deleted {
        assert!(!stored.contains_key(seq), "flushed removal of {seq} undone");
    }
    // The dead segments found at open go with the first flush; a second
    // open finds the same records.
    q.flush().expect("flush");
    drop(q);
    let q = LogQueue::open(dir.path(), base_options().segment_bytes(4096))
        .expect("second reopen");
    assert_eq!(q.recovery().deleted_segments, 0, "{:?}", q.recovery());
    let again: HashMap<u64, (i64, Vec<u8>)> = contents(&q)
        .into_iter()
        .map(|(seq, t, p)| (seq, (t, p)))
        .collect();
    assert_eq!(again, stored, "the second open differs");
    let max_seen = acked
        .keys()
        .chain(stored.keys())
        .copied()
        .max()
        .expect("some");
    let next = q.append(0, b"after the crash").expect("append");
    assert!(next > max_seen, "next seq {next} <= {max_seen}");
    eprintln!(
        "log crash test: {} acknowledged ({} removed, {live} live) all correct; {} stored, {} \
         segments ({} dead at open), torn tail {} bytes",
        acked.len(),
        deleted.len(),
        stored.len(),
        recovery.segments,
        recovery.deleted_segments,
        recovery.torn_tail_bytes
    );
}

/// One record that is never settled, and records settled late (from much
/// newer segments), must not pin every later segment: the disk holds the
/// segments with live records plus the current one, and a reopen finds
/// exactly the unsettled records.
#[test]
fn old_live_records_do_not_pin_later_segments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open_small(dir.path(), 2048);
    let stuck = q.append(1, b"stuck forever").expect("append");
    let mut laggards = std::collections::VecDeque::new();
    for i in 0..5000u64 {
        let seq = q.append(ts(i), &payload(i)).expect("append");
        if i % 97 == 0 {
            laggards.push_back(seq);
        } else {
            q.remove(&[seq]).expect("remove");
        }
        // Laggards are settled about 1000 records (a few dozen segments)
        // later.
        if laggards.len() > 10 {
            let old = laggards.pop_front().expect("one");
            q.remove(&[old]).expect("remove a laggard");
        }
        if i % 50 == 0 {
            q.flush().expect("flush");
        }
    }
    q.flush().expect("flush");
    q.append(0, b"tick").expect("append");
    q.flush().expect("flush");
    let files = segment_files(dir.path()).len();
    // The stuck record's segment, at most one per laggard, the current one.
    assert!(files <= 1 + laggards.len() + 2, "{files} segments on disk");
    let mut expected: Vec<u64> = vec![stuck];
    expected.extend(laggards.iter().copied());
    let expected_len = expected.len() + 1;
    drop(q);
    let q = open_small(dir.path(), 2048);
    let seqs: Vec<u64> = contents(&q).iter().map(|r| r.0).collect();
    assert_eq!(seqs.len(), expected_len, "{seqs:?}");
    assert_eq!(&seqs[..expected.len()], &expected[..]);
    assert_eq!(q.corrupt_skipped(), 0);
}

/// A dead segment still on disk at open (a crash came between the write
/// that made it dead and its unlink) is deleted by the first flush, after
/// the records it needs are re-stated, and nothing it settled comes back.
#[test]
fn dead_segments_found_at_open_are_deleted_safely() {
    let dir = tempfile::tempdir().expect("temp dir");
    let q = open_small(dir.path(), 200);
    let a: Vec<u64> = (0..3)
        .map(|i| q.append(ts(i), &payload(i)).expect("append"))
        .collect();
    let first = q.segments();
    let mut newer = Vec::new();
    while q.segments().len() == first.len() {
        newer.push(q.append(0, b"newer").expect("append"));
    }
    let second = *q.segments().last().expect("a segment");
    let last = *newer.last().expect("one");
    // In the second segment: settle an event of the first, and its own.
    q.remove(&[a[1], last]).expect("remove");
    q.flush().expect("flush");
    let second_path = dir.path().join(format!("{second:016x}.log"));
    let saved = std::fs::read(&second_path).expect("read the second segment");
    // Rotate away from it; it dies and goes.
    let mut third = Vec::new();
    while q.segments().last() == Some(&second) {
        third.push(q.append(0, b"third").expect("append"));
    }
    q.remove(&third).expect("remove");
    q.flush().expect("flush");
    q.append(0, b"tick").expect("append");
    q.flush().expect("flush");
    assert!(!second_path.exists(), "{:?}", q.segments());
    drop(q);
    // As if the unlink had not happened.
    std::fs::write(&second_path, saved).expect("restore");
    let q = open_small(dir.path(), 200);
    assert_eq!(q.recovery().deleted_segments, 1, "{:?}", q.recovery());
    let expected = contents(&q);
    assert!(!expected.iter().any(|r| r.0 == a[1] || r.0 == last));
    q.flush().expect("the first flush");
    assert!(!second_path.exists(), "deleted by the first flush");
    drop(q);
    let q = open_small(dir.path(), 200);
    assert_eq!(q.recovery().deleted_segments, 0);
    assert_eq!(contents(&q), expected);
}

#[test]
fn fsync_option_round_trip_across_rotations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = base_options().segment_bytes(512).fsync(true);
    {
        let q = LogQueue::open(dir.path(), options).expect("open");
        let seqs: Vec<u64> = (0..30)
            .map(|i| q.append(ts(i), &payload(i)).expect("append"))
            .collect();
        q.flush().expect("flush with fdatasync");
        q.remove(&seqs[..25]).expect("remove");
        q.flush().expect("flush");
    }
    let q = LogQueue::open(dir.path(), options).expect("reopen");
    assert_eq!(
        contents(&q).iter().map(|r| r.0).collect::<Vec<_>>(),
        (26..=30).collect::<Vec<_>>()
    );
}

/// The IEEE CRC-32 the segment format uses (to craft records by hand).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A well-framed event record (valid length and CRC) with any seq.
fn crafted_event(seq: u64, event_ts_ns: i64, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![1u8];
    body.extend_from_slice(&seq.to_le_bytes());
    body.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
    body.extend_from_slice(&event_ts_ns.to_le_bytes());
    body.extend_from_slice(payload);
    let mut covered = (body.len() as u32).to_le_bytes().to_vec();
    covered.extend_from_slice(&body);
    let mut record = crc32(&covered).to_le_bytes().to_vec();
    record.extend_from_slice(&covered);
    record
}

/// A well-framed settle record (valid length and CRC) listing `seqs`.
fn crafted_settled(seqs: &[u64]) -> Vec<u8> {
    let mut body = vec![2u8];
    for seq in seqs {
        body.extend_from_slice(&seq.to_le_bytes());
    }
    let mut covered = (body.len() as u32).to_le_bytes().to_vec();
    covered.extend_from_slice(&body);
    let mut record = crc32(&covered).to_le_bytes().to_vec();
    record.extend_from_slice(&covered);
    record
}

/// Opens the log in `dir`, closes it, opens it again: both opens must
/// recover the same records. Returns them and the first open's report.
fn open_twice(dir: &Path) -> (Vec<(u64, i64, Vec<u8>)>, plexus_storage::LogRecovery) {
    let first = open(dir);
    let recovered = contents(&first);
    let report = first.recovery().clone();
    first.flush().expect("flush");
    drop(first);
    let second = open(dir);
    assert_eq!(
        contents(&second),
        recovered,
        "first open: {report:?}\nsecond open: {:?}",
        second.recovery()
    );
    (recovered, report)
}

/// What the `log_recovery` fuzz target checks, on the two cases that broke
/// it; each failed before its fix.
///
/// 1. An event whose seq is at or above the name of the next segment (the
///    writer never produces one: a segment is named after the next seq when
///    it is created) was counted live in the segment it was read from, but
///    settling it looked its segment up by seq and took a live event off the
///    next segment instead. That segment then looked dead, the first open
///    deleted it, and its unsettled event was gone at the second open (the
///    first recovered seq 5, the second seq 10). Such an event is damage now.
/// 2. Found by the fuzz target once that was fixed: damage in an older
///    segment was only skipped, so what a later open read there depended on
///    the segments around it. A misplaced seq 2 in segment 1 was damage
///    while segment 2 existed; the first open deleted segment 2 (dead), and
///    the second open read seq 2 as a live event. A damaged segment is now
///    cut where the damage starts (the bytes are kept aside), so every later
///    open reads what the first did.
#[test]
fn a_second_open_recovers_what_the_first_did() {
    // 1. A settle of a misplaced event.
    let dir = tempfile::tempdir().expect("temp dir");
    let segment = |id: u64| dir.path().join(format!("{id:016x}.log"));
    // Segment 1 holds seq 10, beyond segment 5's name.
    std::fs::write(segment(1), crafted_event(10, ts(10), b"ten")).expect("write");
    // Segment 5 holds seq 5 (live) and a settle record for seq 10.
    let mut five = crafted_event(5, ts(5), b"five");
    five.extend_from_slice(&crafted_settled(&[10]));
    std::fs::write(segment(5), five).expect("write");
    // An empty newer segment, the current one.
    std::fs::write(segment(20), b"").expect("write");
    let (recovered, report) = open_twice(dir.path());
    assert_eq!(recovered, vec![(5, ts(5), b"five".to_vec())], "{report:?}");
    assert!(
        report
            .corrupt
            .iter()
            .any(|line| line.contains("event seq 10 is at or above the next segment")),
        "the misplaced event is reported: {report:?}"
    );

    // 2. Damage bounded by a segment that the first open deletes.
    let dir = tempfile::tempdir().expect("temp dir");
    let segment = |id: u64| dir.path().join(format!("{id:016x}.log"));
    let mut one = crafted_event(1, ts(1), b"one");
    one.extend_from_slice(&crafted_event(2, ts(2), b"two"));
    std::fs::write(segment(1), &one).expect("write");
    // Segment 2 is garbage from its first byte: dead, deleted at open.
    std::fs::write(segment(2), [0xffu8; 12]).expect("write");
    std::fs::write(segment(9), b"").expect("write");
    let (recovered, report) = open_twice(dir.path());
    assert_eq!(recovered, vec![(1, ts(1), b"one".to_vec())], "{report:?}");
    let aside = dir.path().join("0000000000000001.log.damaged");
    assert_eq!(
        std::fs::read(&aside).expect("the cut bytes are kept aside"),
        crafted_event(2, ts(2), b"two")
    );
}

#[test]
fn a_segment_named_at_the_top_of_the_sequence_space_is_quarantined() {
    let dir = tempfile::tempdir().expect("temp dir");
    let crafted = dir.path().join("ffffffffffffffff.log");
    std::fs::write(&crafted, crafted_event(u64::MAX, ts(1), b"crafted")).expect("write");

    let q = open(dir.path());
    let recovery = q.recovery().clone();
    assert_eq!(recovery.quarantined_segments, 1, "{recovery:?}");
    assert!(
        recovery.corrupt[0].contains("above the largest sequence number"),
        "{:?}",
        recovery.corrupt
    );
    assert!(!crafted.exists());
    assert!(dir.path().join("ffffffffffffffff.log.quarantined").exists());
    assert_eq!(q.append(ts(2), b"next").expect("append"), 1);
    assert_eq!(contents(&q), vec![(1, ts(2), b"next".to_vec())]);
}

#[test]
fn a_record_with_seq_u64_max_is_skipped_and_the_records_after_it_are_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let q = open(dir.path());
        q.append(ts(1), &payload(1)).expect("append");
        q.append(ts(2), &payload(2)).expect("append");
        q.flush().expect("flush");
    }
    let segment = segment_files(dir.path()).pop().expect("a segment");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .expect("open the segment");
    file.write_all(&crafted_event(u64::MAX, ts(9), b"crafted"))
        .expect("write");
    file.write_all(&crafted_event(3, ts(3), &payload(3)))
        .expect("write");
    drop(file);

    let q = open(dir.path());
    let corrupt = &q.recovery().corrupt;
    assert_eq!(corrupt.len(), 1, "{corrupt:?}");
    assert!(
        corrupt[0].contains(&format!("event seq {}", u64::MAX)),
        "{corrupt:?}"
    );
    assert_eq!(q.recovery().torn_tail_bytes, 0, "nothing truncated");
    let seqs: Vec<u64> = contents(&q).into_iter().map(|(seq, _, _)| seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(q.append(ts(4), &payload(4)).expect("append"), 4);
}

const FSIZE_MODE: &str = "log-queue-file-size-limit";
const FSIZE_LIMIT: u64 = 32 * 1024;
const UNWRITTEN_BOUND: u64 = 16 * 1024;

/// Sets this process's soft `RLIMIT_FSIZE` (the hard limit stays).
fn set_file_size_limit(soft: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = soft.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

/// In a child process (the file size limit is per process): a disk that
/// fills up is simulated with `RLIMIT_FSIZE`, so writes past it fail with
/// `EFBIG`. Checks, then prints `FSIZE-CHILD-OK`.
#[test]
#[ignore = "child process of a_full_disk_bounds_the_unwritten_bytes_and_reports_the_error"]
fn child_writes_under_a_file_size_limit() {
    let Some(dir) = child_dir(FSIZE_MODE) else {
        return;
    };
    // SAFETY: ignoring SIGXFSZ makes write(2) fail with EFBIG instead of
    // killing the process; no handler runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let options = base_options().max_unwritten_bytes(UNWRITTEN_BOUND);
    let q = LogQueue::open(&dir, options).expect("open");
    let record = vec![b'x'; 1000];
    let mut accepted: Vec<u64> = (0..8)
        .map(|i| q.append(ts(i), &record).expect("append"))
        .collect();
    q.flush().expect("flush below the limit");

    set_file_size_limit(FSIZE_LIMIT);
    let mut flush_error = None;
    let mut refused = None;
    for i in 8..10_000 {
        match q.append(ts(i), &record) {
            Ok(seq) => accepted.push(seq),
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
        if let Err(err) = q.flush() {
            flush_error.get_or_insert(err.to_string());
        }
    }
    let flush_error = flush_error.expect("a flush failed past the limit");
    assert!(
        flush_error.contains(&dir.display().to_string()) && flush_error.contains("File too large"),
        "{flush_error}"
    );
    let refused = refused.expect("appends are refused once the unwritten bytes reach the bound");
    assert!(
        matches!(refused, StorageError::LogBacklogFull { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("File too large"), "{refused}");
    assert!(
        q.unwritten_bytes() <= UNWRITTEN_BOUND,
        "{}",
        q.unwritten_bytes()
    );
    assert!(q.write_failures() > 0);
    assert!(q.last_write_error().is_some());

    // Room again: the kept bytes are written and nothing accepted is lost.
    set_file_size_limit(libc::RLIM_INFINITY);
    q.flush()
        .expect("a flush once there is room writes the kept bytes");
    assert_eq!(q.unwritten_bytes(), 0);
    assert_eq!(q.last_write_error(), None);
    drop(q);
    let q = open(&dir);
    let seqs: Vec<u64> = contents(&q).into_iter().map(|(seq, _, _)| seq).collect();
    assert_eq!(seqs, accepted, "exactly the accepted appends, in order");
    println!("FSIZE-CHILD-OK {}", accepted.len());
}

#[test]
fn a_full_disk_bounds_the_unwritten_bytes_and_reports_the_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_child(
        "child_writes_under_a_file_size_limit",
        FSIZE_MODE,
        dir.path(),
    );
    let lines = Lines::new(child.stdout.take().expect("stdout"));
    let output = lines.rest(deadline(60)).join("\n");
    let status = child.wait().expect("wait");
    assert!(status.success(), "the child failed: {status:?}\n{output}");
    assert!(output.contains("FSIZE-CHILD-OK"), "{output}");
}
