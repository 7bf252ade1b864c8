//! The one file a plugin's `cmd` names, fixed once per start.
//!
//! Hashing a path and then executing the same path leaves a window: a rename
//! over that path (which needs only write access to the directory, not to
//! the binary) between the two runs a file that was never verified. So when
//! a `sha256sum` is configured, the file is opened once, hashed through that
//! descriptor, and executed through that same descriptor
//! (`/proc/self/fd/N`): what runs is what was hashed, whatever happens to
//! the path meanwhile. A write into the file itself between the hash and the
//! exec is caught by comparing the file's identity, size and change time
//! before hashing and after the exec.
//!
//! A bare `cmd` (no `/`) is resolved once against the host's own `PATH`, as
//! Go's `exec.LookPath` does for SFTPGo: the child runs with a cleared
//! environment, so a lookup at exec time would search a different `PATH`
//! from the one the hash was taken in. As in Go since 1.19, a bare name
//! found only through a relative `PATH` entry (such as `.` or an empty
//! entry) is refused rather than run from the working directory.

use super::checksum;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What `spawn` executes.
#[derive(Debug)]
pub enum Program {
    /// No checksum configured: the resolved path, executed by path.
    Path(PathBuf),
    /// A checksum was verified: executed through the descriptor that was hashed.
    Verified(VerifiedFile),
}

/// Resolves `cmd` as `exec.LookPath` does: a name containing `/` is used as
/// it is; a bare name is searched in `path_var` (the host's `PATH`), and the
/// first regular file with an execute bit wins.
pub fn look_path(cmd: &str, path_var: Option<&OsStr>) -> Result<PathBuf, String> {
    if cmd.is_empty() {
        return Err("empty command".into());
    }
    if cmd.contains('/') {
        return Ok(PathBuf::from(cmd));
    }
    let searched = path_var.unwrap_or_default();
    for dir in std::env::split_paths(searched) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(cmd);
        if !is_executable_file(&candidate) {
            continue;
        }
        if !candidate.is_absolute() {
            return Err(format!(
                "{cmd:?} resolves to {} through a relative PATH entry; refusing to run a file from the working directory (write ./{cmd} to mean it)",
                candidate.display()
            ));
        }
        return Ok(candidate);
    }
    Err(format!(
        "executable file {cmd:?} not found in the host's $PATH ({})",
        searched.to_string_lossy()
    ))
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|meta| !meta.is_dir() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// An open executable whose content matched the configured sha256.
#[derive(Debug)]
pub struct VerifiedFile {
    file: File,
    path: PathBuf,
    stamp: Stamp,
    interpreted: bool,
}

/// What identifies the content that was hashed: an in-place write changes
/// the change time (and usually the size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    ctime: i64,
    ctime_nsec: i64,
}

impl Stamp {
    fn of(file: &File) -> std::io::Result<Stamp> {
        let meta = file.metadata()?;
        Ok(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        })
    }
}

impl VerifiedFile {
    /// Opens `path`, hashes it through the open descriptor, and keeps that
    /// descriptor when the digest is `expected`. Blocking: call it off the
    /// async runtime. The errors name the path and say what failed.
    pub fn open(path: &Path, expected: &[u8; 32]) -> Result<VerifiedFile, String> {
        let file = File::open(path)
            .map_err(|err| format!("cannot open {} to hash it: {err}", path.display()))?;
        let stamp =
            Stamp::of(&file).map_err(|err| format!("cannot stat {}: {err}", path.display()))?;
        let meta = file
            .metadata()
            .map_err(|err| format!("cannot stat {}: {err}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let actual = checksum::sha256_reader(&file)
            .map_err(|err| format!("cannot read {} to hash it: {err}", path.display()))?;
        let mut head = [0u8; 2];
        let interpreted = matches!(file.read_at(&mut head, 0), Ok(2)) && &head == b"#!";
        if &actual != expected {
            return Err(format!(
                "checksums did not match: expected {}, {} has {}",
                hex::encode(expected),
                path.display(),
                hex::encode(actual)
            ));
        }
        Ok(VerifiedFile {
            file,
            path: path.to_owned(),
            stamp,
            interpreted,
        })
    }

    /// The path that was resolved and hashed (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path that executes exactly the open file.
    pub fn exec_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// The descriptor a child must keep open across `exec`, when the file is
    /// a `#!` script: its interpreter then opens `/proc/self/fd/N` itself.
    /// A binary needs nothing kept: the kernel has read it by then.
    pub fn fd_to_keep(&self) -> Option<RawFd> {
        self.interpreted.then(|| self.file.as_raw_fd())
    }

    /// Whether the file is still the content that was hashed. Call it once
    /// the child has executed it: a write into the file before that moment
    /// changes its change time.
    pub fn still_as_hashed(&self) -> Result<(), String> {
        let now = Stamp::of(&self.file)
            .map_err(|err| format!("cannot stat {} again: {err}", self.path.display()))?;
        if now == self.stamp {
            Ok(())
        } else {
            Err(format!(
                "{} changed between hashing and execution; the process was killed",
                self.path.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn executable(path: &Path, body: &str) {
        std::fs::write(path, body).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn bare_names_are_found_in_the_given_path_in_order() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        executable(&second.path().join("tool"), "#!/bin/sh\n");
        // Not executable, and a directory: both skipped, as LookPath skips them.
        std::fs::write(first.path().join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::create_dir(first.path().join("dir-tool")).unwrap();
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        assert_eq!(
            look_path("tool", Some(&path)).unwrap(),
            second.path().join("tool")
        );
        let err = look_path("dir-tool", Some(&path)).unwrap_err();
        assert!(err.contains("not found in the host's $PATH"), "{err}");
        assert!(look_path("tool", None).is_err());
    }

    #[test]
    fn names_with_a_slash_are_not_searched() {
        let path = OsString::from("/nonexistent");
        assert_eq!(look_path("./x", Some(&path)).unwrap(), PathBuf::from("./x"));
        assert_eq!(
            look_path("/usr/bin/x", Some(&path)).unwrap(),
            PathBuf::from("/usr/bin/x")
        );
        assert!(look_path("", Some(&path)).is_err());
    }

    #[test]
    fn a_relative_path_entry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        executable(&dir.path().join("tool"), "#!/bin/sh\n");
        // The same directory, named relative to the working directory.
        let cwd = std::env::current_dir().unwrap();
        let mut relative = PathBuf::new();
        for _ in 1..cwd.components().count() {
            relative.push("..");
        }
        let relative = relative.join(dir.path().strip_prefix("/").unwrap());
        let path = std::env::join_paths([relative]).unwrap();
        let err = look_path("tool", Some(&path)).unwrap_err();
        assert!(err.contains("relative PATH entry"), "{err}");
    }

    #[test]
    fn open_rejects_a_mismatch_naming_both_digests_and_non_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        executable(&path, "");
        let empty_hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let empty: [u8; 32] = hex::decode(empty_hex).unwrap().try_into().unwrap();
        let verified = VerifiedFile::open(&path, &empty).unwrap();
        assert_eq!(verified.fd_to_keep(), None);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        let err = VerifiedFile::open(&path, &empty).unwrap_err();
        assert!(err.contains("checksums did not match"), "{err}");
        assert!(err.contains(empty_hex), "{err}");
        let err = VerifiedFile::open(dir.path(), &empty).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn a_write_after_hashing_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        executable(&path, "#!/bin/sh\n");
        let digest = checksum::sha256_file(&path).unwrap();
        let verified = VerifiedFile::open(&path, &digest).unwrap();
        assert!(verified.fd_to_keep().is_some(), "a #! script");
        verified.still_as_hashed().unwrap();
        let mut appender = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut appender, b"echo injected\n").unwrap();
        let err = verified.still_as_hashed().unwrap_err();
        assert!(
            err.contains("changed between hashing and execution"),
            "{err}"
        );
    }
}
