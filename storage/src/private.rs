//! Owner-only directories and files for everything this crate writes.
//!
//! The queues hold the events the engine delivers: user names, file paths,
//! client addresses. Created with the process umask (usually 022), they
//! would be readable by every local user. So every directory this crate
//! creates is made `0700` and every file `0600`; an existing directory or
//! file it owns with group or other bits is narrowed on open.
//!
//! sled creates its own files (`conf`, `db`, `blobs/`, snapshots) with the
//! process umask and offers no mode option. [`Store`](crate::Store) makes
//! its directory `0700` before sled opens it, which already keeps every
//! file inside private whatever its mode, and narrows the files sled made
//! once it has opened and again once it has closed; a blob or snapshot sled
//! writes while open carries the umask's mode until then, inside the
//! `0700` directory.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of every directory created.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file created.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode `0700`, and narrows
/// `dir` itself to `0700` if it exists with group or other bits. Fails if
/// `dir` is not a directory or cannot be narrowed (for instance because
/// another user owns it).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        ));
    }
    narrow(dir, meta.permissions().mode())
}

/// Options that create a file with mode `0600` (only at creation: an
/// existing file keeps its mode, see [`narrow_tree`]).
pub(crate) fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Removes the group and other bits of every directory and regular file
/// under `dir` (so `0755` becomes `0700` and `0644` becomes `0600`). Symbolic links
/// are left alone and not followed.
pub(crate) fn narrow_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode();
        if meta.is_dir() {
            narrow(&path, mode)?;
            narrow_tree(&path)?;
        } else if meta.is_file() {
            narrow(&path, mode)?;
        }
    }
    Ok(())
}

/// Narrows the tree under its path when dropped (see [`narrow_tree`]):
/// for the files sled creates while the store is open. Errors are ignored:
/// the directory is `0700` whatever the files' modes.
pub(crate) struct NarrowOnClose(pub(crate) std::path::PathBuf);

impl Drop for NarrowOnClose {
    fn drop(&mut self) {
        let _ = narrow_tree(&self.0);
    }
}

/// Removes the group and other bits (and any set-id or sticky bit) of
/// `path`, whose mode is `mode`, if any group or other bit is set.
fn narrow(path: &Path, mode: u32) -> io::Result<()> {
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, Permissions::from_mode(mode & 0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn created_directories_are_owner_only_and_existing_ones_narrowed() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        create_private_dir(&deep).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);

        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);

        let file = root.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(create_private_dir(&file).is_err());
    }

    #[test]
    fn a_tree_is_narrowed_without_following_links() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        std::fs::write(&target, b"").unwrap();
        std::fs::set_permissions(&target, Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&target, root.path().join("link")).unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::set_permissions(root.path().join("sub"), Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.path().join("sub/db"), b"").unwrap();
        std::fs::set_permissions(root.path().join("sub/db"), Permissions::from_mode(0o664))
            .unwrap();
        narrow_tree(root.path()).unwrap();
        assert_eq!(mode(&root.path().join("sub")), 0o700);
        assert_eq!(mode(&root.path().join("sub/db")), 0o600);
        assert_eq!(mode(&target), 0o644, "a link's target is not touched");
    }

    #[test]
    fn files_are_created_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("f");
        private_file_options()
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        assert_eq!(mode(&path), 0o600);
    }
}
