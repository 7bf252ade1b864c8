//! What the criterion benches share: finding the plugin binaries of the
//! same build profile (a release bench must drive release plugins) and the
//! Go fixtures, and the event they send. Kept here, apart from the
//! harness's library, so the benches depend only on the crates they measure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `target/<profile>`: benches run from `target/<profile>/deps`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench executable's path");
    let dir = exe
        .parent()
        .expect("a directory holds the bench executable");
    if dir.file_name().is_some_and(|name| name == "deps") {
        if let Some(parent) = dir.parent() {
            return parent.to_owned();
        }
    }
    dir.to_owned()
}

/// A workspace binary of the same profile; panics with the build command.
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --release -p plexus-examples --bins` first",
        path.display()
    );
    path
}

/// The Go notifier fixture, built (or relinked) by `interop/build-go.sh`.
pub fn go_plugin() -> PathBuf {
    let out = profile_dir().join("go-fixtures");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/build-go.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(&out)
        .output()
        .expect("run interop/build-go.sh");
    assert!(
        output.status.success(),
        "building the Go fixtures failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out.join("bin/plexus-goplugin-notifier")
}

/// An upload event numbered `id` (its session id).
pub fn upload(id: u64) -> plexus_proto::sftpgo::FsEvent {
    plexus_proto::sftpgo::FsEvent {
        timestamp: plexus_actors::policy::now_ns(),
        action: "upload".into(),
        username: "bench".into(),
        protocol: "SFTP".into(),
        ip: "192.0.2.10".into(),
        session_id: id.to_string(),
        virtual_path: format!("/upload/file-{id}.bin"),
        fs_path: format!("/srv/sftpgo/bench/upload/file-{id}.bin"),
        file_size: 4096,
        status: 1,
        ..Default::default()
    }
}
