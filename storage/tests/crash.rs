//! Crash safety: every push a killed (SIGKILL) process saw succeed is there
//! after a restart, with its payload, in order, and the sequence continues.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{child_dir, deadline, spawn_child, Lines};
use plexus_storage::{Store, StoreOptions};

const MODE: &str = "pusher";
const THREADS: u64 = 4;
const BATCH: u64 = 5;
const REPORTED_BEFORE_KILL: usize = 2000;

fn payload(thread: u64, i: u64) -> Vec<u8> {
    let mut p = format!("thread-{thread}-item-{i}-").into_bytes();
    p.resize(64 + (i % 7) as usize * 13, b'a' + (i % 26) as u8);
    p
}

fn event_ts(thread: u64, i: u64) -> i64 {
    (thread * 1_000_000_000 + i) as i64
}

/// In a child process: pushes forever from several threads (thread 0 in
/// batches; thread 3 without waiting, then awaiting `flush_async`), printing
/// `SEQ <seq> <thread> <i> END` only after the push (and for thread 3 the
/// flush) returned Ok.
#[test]
#[ignore = "child process of acknowledged_pushes_survive_kill_9"]
fn child_pushes_until_killed() {
    let Some(dir) = child_dir(MODE) else { return };
    // End libtest's "test <name> ... " line so ours start clean.
    println!();
    let store = Store::open(
        &dir,
        StoreOptions::default().max_flush_delay(Duration::from_millis(1)),
    )
    .expect("child opens the store");
    let q = store.queue("crash").expect("queue");
    // Another queue where records come and go, so the kill also lands
    // between removals: its count must match its records after the restart.
    let churn = store.queue("churn").expect("churn queue");
    std::thread::spawn(move || {
        let mut i = 0u64;
        loop {
            let items: Vec<_> = (i..i + 7).map(|k| (k as i64, payload(9, k))).collect();
            churn.push_batch(items).expect("churn push");
            let oldest = churn.peek_oldest(5).expect("churn peek").records;
            let seqs: Vec<_> = oldest.iter().map(|r| r.seq).collect();
            churn.remove(&seqs).expect("churn remove");
            i += 7;
        }
    });
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                loop {
                    if t == 0 {
                        let items: Vec<_> = (i..i + BATCH)
                            .map(|k| (event_ts(t, k), payload(t, k)))
                            .collect();
                        let seqs = q.push_batch(items).expect("push batch");
                        for (k, seq) in (i..).zip(seqs) {
                            println!("SEQ {seq} {t} {k} END");
                        }
                        i += BATCH;
                    } else if t == 3 {
                        let seq = q.push_nowait(event_ts(t, i), &payload(t, i)).expect("push");
                        futures::executor::block_on(q.flush_async()).expect("flush_async");
                        println!("SEQ {seq} {t} {i} END");
                        i += 1;
                    } else {
                        let seq = q.push(event_ts(t, i), &payload(t, i)).expect("push");
                        println!("SEQ {seq} {t} {i} END");
                        i += 1;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn parse(line: &str) -> Option<(u64, u64, u64)> {
    let mut parts = line.trim().strip_prefix("SEQ ")?.split(' ');
    let seq = parts.next()?.parse().ok()?;
    let t = parts.next()?.parse().ok()?;
    let i = parts.next()?.parse().ok()?;
    // A line cut short by the kill lacks the terminator: not an acknowledgement.
    (parts.next()? == "END").then_some((seq, t, i))
}

#[test]
fn acknowledged_pushes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_child("child_pushes_until_killed", MODE, dir.path());
    let lines = Lines::new(child.stdout.take().expect("stdout"));
    let until = deadline(120);
    let mut reported = Vec::new();
    while reported.len() < REPORTED_BEFORE_KILL {
        match lines.next_before(until) {
            Some(line) => reported.extend(parse(&line)),
            None => panic!("child exited after {} pushes", reported.len()),
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the child was killed: {status:?}");
    // Lines printed before the kill (after a successful push) count too.
    reported.extend(lines.rest(until).iter().filter_map(|l| parse(l)));

    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen after the crash");
    let q = store.queue("crash").expect("queue");
    let len = q.len();
    assert!(
        len as usize >= reported.len(),
        "len {len} < {} acknowledged",
        reported.len()
    );
    let peeked = q.peek_oldest(len as usize + 10).expect("peek all");
    assert!(peeked.corrupt.is_empty(), "{:?}", peeked.corrupt);
    assert_eq!(peeked.records.len() as u64, len);
    // FIFO: strictly increasing sequence numbers.
    assert!(peeked.records.windows(2).all(|w| w[0].seq < w[1].seq));

    let stored: HashMap<u64, _> = peeked.records.iter().map(|r| (r.seq, r)).collect();
    let mut last_i: HashMap<u64, (u64, u64)> = HashMap::new();
    for &(seq, t, i) in &reported {
        let record = stored
            .get(&seq)
            .unwrap_or_else(|| panic!("acknowledged seq {seq} (thread {t}, item {i}) was lost"));
        assert_eq!(record.payload, payload(t, i), "payload of seq {seq}");
        assert_eq!(record.event_ts_ns, event_ts(t, i), "timestamp of seq {seq}");
        // Each thread's items were pushed in order, so their seqs increase.
        if let Some(&(prev_seq, prev_i)) = last_i.get(&t) {
            assert!(
                i > prev_i && seq > prev_seq,
                "thread {t}: item {i} seq {seq} after item {prev_i} seq {prev_seq}"
            );
        }
        last_i.insert(t, (seq, i));
    }

    // Every way of acknowledging (push, batch, deferred push + flush_async)
    // was exercised.
    assert_eq!(last_i.len() as u64, THREADS, "threads that acknowledged");

    let churn = store.queue("churn").expect("churn queue");
    let churned = churn
        .peek_oldest(churn.len() as usize + 10)
        .expect("peek the churn queue");
    assert!(churned.corrupt.is_empty(), "{:?}", churned.corrupt);
    assert_eq!(
        churned.records.len() as u64,
        churn.len(),
        "the churn queue's count after the crash"
    );
    assert!(!churn.is_empty(), "the churn thread ran");

    let max_seen = reported
        .iter()
        .map(|r| r.0)
        .chain(stored.keys().copied())
        .max()
        .expect("some");
    let next = q.push(0, b"after the crash").expect("push");
    assert!(next > max_seen, "next seq {next} <= {max_seen}");
    eprintln!(
        "crash test: {} acknowledged pushes all present ({} records stored)",
        reported.len(),
        len
    );
}
