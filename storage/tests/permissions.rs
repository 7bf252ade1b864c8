//! Everything the storage crate writes is owner-only: directories 0700,
//! files 0600, whether it creates them or finds them with looser modes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use plexus_storage::{LogOptions, LogQueue, Store, StoreOptions};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

/// Every entry under `dir` with its mode, `dir` included.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = vec![(dir.to_path_buf(), mode(dir), true)];
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(modes(&path));
        } else {
            out.push((path.clone(), mode(&path), false));
        }
    }
    out
}

fn assert_private(dir: &Path) {
    for (path, mode, is_dir) in modes(dir) {
        let wanted = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} has mode {mode:o}", path.display());
    }
}

fn loosen(dir: &Path) {
    for (path, _, is_dir) in modes(dir) {
        let loose = if is_dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).expect("chmod");
    }
}

#[test]
fn a_store_and_its_sled_files_are_owner_only() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data/queue");
    {
        let store = Store::open(&dir, StoreOptions::default()).expect("open");
        let queue = store.queue("q").expect("queue");
        queue.push(1, b"secret user name").expect("push");
        // A value this large goes to a file of its own that sled creates
        // while the store is open (blobs/).
        queue
            .push(2, &vec![7u8; 200_000])
            .expect("push a large value");
        store.flush().expect("flush");
    }
    assert_eq!(mode(&root.path().join("data")), 0o700);
    assert_private(&dir);

    loosen(&dir);
    let store = Store::open(&dir, StoreOptions::default()).expect("reopen");
    assert_private(&dir);
    drop(store);
}

#[test]
fn a_log_queue_and_its_segments_are_owner_only() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("wal/notifier");
    {
        let queue = LogQueue::open(&dir, LogOptions::default().segment_bytes(64)).expect("open");
        for i in 0..10 {
            queue
                .append(i, b"a payload long enough to rotate")
                .expect("append");
        }
        queue.flush().expect("flush");
        assert!(queue.segments().len() > 1, "segments rotated");
    }
    assert_eq!(mode(&root.path().join("wal")), 0o700);
    assert_private(&dir);

    loosen(&dir);
    let queue = LogQueue::open(&dir, LogOptions::default()).expect("reopen");
    assert_private(&dir);
    drop(queue);
}
