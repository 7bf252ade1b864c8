//! A data directory held open by another process gives a typed, clear error.

mod common;

use std::io::Write;

use common::{child_dir, deadline, spawn_child, Lines};
use plexus_storage::{StorageError, Store, StoreOptions};

const MODE: &str = "hold-open";

/// In a child process: opens the store, says so, and holds it until stdin
/// closes.
#[test]
#[ignore = "child process of open_while_another_process_holds_it_is_locked"]
fn child_holds_store_open() {
    let Some(dir) = child_dir(MODE) else { return };
    // End libtest's "test <name> ... " line so ours start clean.
    println!();
    let store = Store::open(&dir, StoreOptions::default()).expect("child opens the store");
    store
        .queue("q")
        .expect("queue")
        .push(1, b"held")
        .expect("push");
    println!("OPEN");
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    drop(store);
    println!("CLOSED");
}

#[test]
fn open_while_another_process_holds_it_is_locked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_child("child_holds_store_open", MODE, dir.path());
    let lines = Lines::new(child.stdout.take().expect("stdout"));
    let until = deadline(60);
    loop {
        match lines.next_before(until) {
            Some(line) if line.trim() == "OPEN" => break,
            Some(_) => continue,
            None => panic!("child exited before opening the store"),
        }
    }

    let err = Store::open(dir.path(), StoreOptions::default()).expect_err("locked");
    match &err {
        StorageError::Locked { path } => assert_eq!(path, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("another process"), "{msg}");

    // Let the child close the store and exit; then the directory opens.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.flush().expect("flush");
    drop(stdin);
    let rest = lines.rest(until);
    assert!(rest.iter().any(|l| l.trim() == "CLOSED"), "{rest:?}");
    assert!(child.wait().expect("wait").success());

    let store =
        Store::open(dir.path(), StoreOptions::default()).expect("open after the child left");
    let q = store.queue("q").expect("queue");
    assert_eq!(q.peek_oldest(1).expect("peek").records[0].payload, b"held");
}

#[test]
fn a_second_store_in_the_same_process_is_locked_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = Store::open(dir.path(), StoreOptions::default()).expect("open");
    let err = Store::open(dir.path(), StoreOptions::default()).expect_err("locked");
    assert!(matches!(err, StorageError::Locked { .. }), "{err:?}");
    drop(first);
    Store::open(dir.path(), StoreOptions::default()).expect("open after close");
}
