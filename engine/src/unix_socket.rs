//! Binding the ingestion API's unix socket so that only its owner can ever
//! connect to it.
//!
//! Anyone who can connect can publish audit events, so the socket must be
//! `0600` from the first moment it exists at its path. `bind(2)` creates
//! the socket file with the process umask's mode, and a `chmod` after the
//! bind leaves a window in which another local user may connect (and a
//! `chmod` that fails leaves the socket open for good). So the socket is
//! bound inside a fresh `0700` directory next to its path, where nobody else
//! can reach it, made `0600` there, checked, and only then linked into
//! place with `link(2)`, which never replaces an existing file. Starting is
//! refused if any step fails, and in a directory where every user may
//! rename entries (writable by others without the sticky bit), where the
//! staging directory itself could be swapped.
//!
//! With a group ([`SocketAccess::Group`], `engine.ingest_unix_group`), the
//! socket is `0660` and belongs to that group, set the same way before it is
//! linked into place, so members of the group may publish too. The socket's
//! directory must then let the group through; a directory that does not is
//! refused, since the group could never connect.
//!
//! What already sits at the path is never deleted blindly: a socket some
//! process answers on means another daemon is running (refused); a socket
//! nobody answers on is a stale one a crashed daemon left (replaced);
//! anything else (a regular file, a directory, a symbolic link) is refused,
//! so a mistyped path cannot destroy a file.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The socket's mode: owner read and write (connecting needs write).
pub const SOCKET_MODE: u32 = 0o600;
/// The socket's mode when a group may connect too.
pub const GROUP_SOCKET_MODE: u32 = 0o660;

/// Who may connect to the socket besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketAccess {
    /// Nobody: mode 0600.
    #[default]
    OwnerOnly,
    /// The members of this group (a gid): mode 0660, group set.
    Group(u32),
}

impl SocketAccess {
    fn mode(self) -> u32 {
        match self {
            SocketAccess::OwnerOnly => SOCKET_MODE,
            SocketAccess::Group(_) => GROUP_SOCKET_MODE,
        }
    }
}

/// The gid of `group`, a group name or a number.
pub fn resolve_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    let name = std::ffi::CString::new(group)
        .map_err(|_| format!("{group:?} is not a group name (it holds a NUL byte)"))?;
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero `group` is a valid value for getgrnam_r to fill.
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, the buffer's length is
    // passed with it, and `found` is only read after the call returns.
    let status = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 {
        return Err(format!(
            "cannot look up group {group:?}: {}",
            std::io::Error::from_raw_os_error(status)
        ));
    }
    if found.is_null() {
        return Err(format!("there is no group named {group:?}"));
    }
    Ok(entry.gr_gid)
}

/// Why the socket could not be bound; every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{} is in use: is another plexus serving this data directory?", .0.display())]
    InUse(PathBuf),
    #[error("{} exists and is not a socket ({kind}); refusing to replace it", .path.display())]
    NotASocket { path: PathBuf, kind: &'static str },
    #[error("cannot {step} {}: {source}", .path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} cannot be made private: {detail}; refusing to serve on it", .path.display())]
    NotPrivate { path: PathBuf, detail: String },
}

fn io(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BindError {
    let path = path.to_path_buf();
    move |source| BindError::Io { step, path, source }
}

/// Binds a listener at `path`, owner-only from its first moment there (see
/// the module docs). Must run inside a tokio runtime.
pub fn bind(path: &Path) -> Result<tokio::net::UnixListener, BindError> {
    bind_observed(path, SocketAccess::OwnerOnly, |_| {})
}

/// [`bind`], letting `access` connect too.
pub fn bind_with_access(
    path: &Path,
    access: SocketAccess,
) -> Result<tokio::net::UnixListener, BindError> {
    bind_observed(path, access, |_| {})
}

/// [`bind`], calling `after_bind` with the path the socket was bound at
/// right after `bind(2)`, the moment another local user would race for.
fn bind_observed(
    path: &Path,
    access: SocketAccess,
    after_bind: impl FnOnce(&Path),
) -> Result<tokio::net::UnixListener, BindError> {
    clear_stale(path)?;
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from("."),
    };
    // Missing parents are created owner-only; an existing one is left as it is.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&parent)
        .map_err(io("create the directory", &parent))?;
    // In a directory anyone may rename entries of (writable by others, no
    // sticky bit), the private staging directory could be swapped.
    let parent_mode = std::fs::metadata(&parent)
        .map_err(io("inspect the directory", &parent))?
        .permissions()
        .mode();
    if parent_mode & 0o002 != 0 && parent_mode & 0o1000 == 0 {
        return Err(not_private(
            path,
            format!(
                "its directory {} is writable by every user without the sticky bit (mode {:o})",
                parent.display(),
                parent_mode & 0o7777
            ),
        ));
    }
    if let SocketAccess::Group(gid) = access {
        check_group_can_reach(&parent, gid).map_err(|detail| not_private(path, detail))?;
    }
    let staging = StagingDir::create(&parent, path)?;
    let staged = staging.path.join("socket");
    let listener = tokio::net::UnixListener::bind(&staged).map_err(io("listen on", &staged))?;
    after_bind(&staged);
    if let SocketAccess::Group(gid) = access {
        std::os::unix::fs::chown(&staged, None, Some(gid)).map_err(|err| {
            not_private(
                path,
                format!("cannot give it to group {gid} (is this user a member?): {err}"),
            )
        })?;
    }
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(access.mode()))
        .map_err(|err| not_private(path, format!("chmod {:o} failed: {err}", access.mode())))?;
    check_private(&staged, access).map_err(|detail| not_private(path, detail))?;
    std::fs::hard_link(&staged, path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            not_private(path, "a file appeared at the path while binding".into())
        } else {
            BindError::Io {
                step: "link the socket into place at",
                path: path.to_path_buf(),
                source: err,
            }
        }
    })?;
    drop(staging);
    if let Err(detail) = check_private(path, access) {
        let _ = std::fs::remove_file(path);
        return Err(not_private(path, detail));
    }
    Ok(listener)
}

fn not_private(path: &Path, detail: String) -> BindError {
    BindError::NotPrivate {
        path: path.to_path_buf(),
        detail,
    }
}

/// Removes a stale socket at `path`; refuses a live one and any non-socket.
fn clear_stale(path: &Path) -> Result<(), BindError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io("inspect", path)(err)),
    };
    let file_type = meta.file_type();
    if !file_type.is_socket() {
        let kind = if file_type.is_symlink() {
            "a symbolic link"
        } else if file_type.is_dir() {
            "a directory"
        } else if file_type.is_file() {
            "a regular file"
        } else {
            "a special file"
        };
        return Err(BindError::NotASocket {
            path: path.to_path_buf(),
            kind,
        });
    }
    if still_answers(path) {
        return Err(BindError::InUse(path.to_path_buf()));
    }
    std::fs::remove_file(path).map_err(io("remove the stale socket", path))
}

/// A listener closed just before another thread of this process forked a
/// child stays open in that child until its `exec`, so a socket just let go
/// of may answer for a moment more. It is in use only if it still answers
/// after this long.
const IN_USE_GRACE: Duration = Duration::from_millis(250);

/// Whether something accepts connections on `path`, asking again for
/// [`IN_USE_GRACE`] while it does.
fn still_answers(path: &Path) -> bool {
    let deadline = Instant::now() + IN_USE_GRACE;
    loop {
        if std::os::unix::net::UnixStream::connect(path).is_err() {
            return false;
        }
        if Instant::now() >= deadline {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The socket at `path` is a socket, owned by this user, with the mode (and
/// group) `access` asks for.
fn check_private(path: &Path, access: SocketAccess) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|err| format!("stat failed: {err}"))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.file_type().is_socket() {
        Err("it is not the socket that was bound".into())
    } else if meta.uid() != euid {
        Err(format!("it is owned by uid {}, not {euid}", meta.uid()))
    } else if mode != access.mode() {
        Err(format!("its mode is {mode:o}, not {:o}", access.mode()))
    } else if matches!(access, SocketAccess::Group(gid) if gid != meta.gid()) {
        Err(format!(
            "its group is {}, not the one configured",
            meta.gid()
        ))
    } else {
        Ok(())
    }
}

/// The members of group `gid` can search `dir` (else they could never
/// reach a socket in it).
fn check_group_can_reach(dir: &Path, gid: u32) -> Result<(), String> {
    let meta =
        std::fs::metadata(dir).map_err(|err| format!("stat {} failed: {err}", dir.display()))?;
    let mode = meta.permissions().mode();
    let reachable = if meta.gid() == gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    };
    if reachable {
        Ok(())
    } else {
        Err(format!(
            "its directory {} (mode {:o}, group {}) does not let group {gid} through; \
             put the socket in a directory of that group with mode 0710 (e.g. /run/plexus)",
            dir.display(),
            mode & 0o7777,
            meta.gid()
        ))
    }
}

/// A fresh `0700` directory next to the socket's path, removed on drop.
struct StagingDir {
    path: PathBuf,
}

impl StagingDir {
    fn create(parent: &Path, socket: &Path) -> Result<StagingDir, BindError> {
        let name = socket
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "socket".into());
        let mut attempt = 0u32;
        loop {
            let path = parent.join(format!(".{name}.bind-{}-{attempt}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(StagingDir { path }),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(err) => return Err(io("create a private directory", &path)(err)),
            }
        }
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
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

    #[tokio::test]
    async fn the_socket_is_never_reachable_with_a_loose_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/plexus.sock");
        let final_path = path.clone();
        let listener = bind_observed(&path, SocketAccess::OwnerOnly, |bound| {
            // Right after bind(2): whatever exists at the final path, and
            // the directory the socket was bound in, admit only the owner.
            if let Ok(meta) = std::fs::symlink_metadata(&final_path) {
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "a loose socket");
            }
            let around = bound.parent().unwrap();
            assert_eq!(mode(around) & 0o077, 0, "bound where others can reach it");
        })
        .unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("run")), 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("run"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("plexus.sock")]);
        let client = tokio::net::UnixStream::connect(&path);
        let (accepted, connected) = tokio::join!(listener.accept(), client);
        accepted.unwrap();
        connected.unwrap();
    }

    #[tokio::test]
    async fn a_file_at_the_path_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plexus.sock");
        std::fs::write(&path, b"precious").unwrap();
        let err = bind(&path).unwrap_err();
        assert!(matches!(err, BindError::NotASocket { .. }), "{err}");
        assert!(err.to_string().contains("a regular file"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");

        let target = dir.path().join("target");
        std::fs::write(&target, b"kept").unwrap();
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = bind(&link).unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert_eq!(std::fs::read(&target).unwrap(), b"kept");
    }

    #[tokio::test]
    async fn a_directory_others_can_rename_in_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = bind(&open.join("plexus.sock")).unwrap_err();
        assert!(matches!(err, BindError::NotPrivate { .. }), "{err}");
        assert!(err.to_string().contains("sticky"), "{err}");
        // With the sticky bit (as /tmp), others cannot rename our entries.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let _listener = bind(&open.join("plexus.sock")).unwrap();
        assert_eq!(mode(&open.join("plexus.sock")), 0o600);
    }

    #[tokio::test]
    async fn a_live_socket_is_refused_and_a_stale_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plexus.sock");
        let live = bind(&path).unwrap();
        let err = bind(&path).unwrap_err();
        assert!(matches!(err, BindError::InUse(_)), "{err}");
        drop(live);
        // The file stays behind, as after a crash; nobody answers on it.
        assert!(path.exists());
        let _again = bind(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[tokio::test]
    async fn a_socket_let_go_of_a_moment_ago_is_not_in_use() {
        use std::os::fd::AsFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plexus.sock");
        let live = bind(&path).unwrap();
        // A child forked by another thread holds a copy of the listener
        // until its exec.
        let copy = live.as_fd().try_clone_to_owned().unwrap();
        drop(live);
        let child_execs = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(copy);
        });
        let again = bind(&path);
        child_execs.join().unwrap();
        assert!(again.is_ok(), "{:?}", again.err());
    }

    fn connects_as(user_and_group: u32, path: &Path) -> bool {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("python3")
            .args([
                "-c",
                "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
            ])
            .arg(path)
            .uid(user_and_group)
            .gid(user_and_group)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run python3")
            .success()
    }

    #[tokio::test]
    async fn a_configured_group_may_connect_and_no_one_else() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        // The user's own primary group: always one it may give a file to.
        // SAFETY: getegid has no preconditions and cannot fail.
        let own_gid = unsafe { libc::getegid() };
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o710)).unwrap();
        let path = run.join("plexus.sock");
        let _listener = bind_with_access(&path, SocketAccess::Group(own_gid)).unwrap();
        assert_eq!(mode(&path), 0o660);
        assert_eq!(std::fs::metadata(&path).unwrap().gid(), own_gid);

        // A directory the group cannot search is refused, naming the fix.
        let closed = dir.path().join("closed");
        std::fs::create_dir(&closed).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = bind_with_access(&closed.join("plexus.sock"), SocketAccess::Group(own_gid))
            .unwrap_err();
        assert!(err.to_string().contains("does not let group"), "{err}");

        // Another user connecting, which only root can arrange: a member of
        // the group gets in, and nobody gets into an owner-only socket.
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        const NOBODY: u32 = 65534; // nobody:nogroup on Debian
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::os::unix::fs::chown(&shared, None, Some(NOBODY)).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o710)).unwrap();
        let group_socket = shared.join("group.sock");
        let _group = bind_with_access(&group_socket, SocketAccess::Group(NOBODY)).unwrap();
        assert!(
            connects_as(NOBODY, &group_socket),
            "the group member was refused"
        );
        let owner_socket = shared.join("owner.sock");
        let _owner = bind(&owner_socket).unwrap();
        assert!(!connects_as(NOBODY, &owner_socket), "another user got in");
    }

    #[test]
    fn groups_resolve_by_name_or_number() {
        assert_eq!(resolve_group("0"), Ok(0));
        assert_eq!(resolve_group("root"), Ok(0));
        let err = resolve_group("no-such-group-here").unwrap_err();
        assert!(err.contains("no group named"), "{err}");
    }
}
