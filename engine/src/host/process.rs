//! Spawning a plugin process and watching it exit.
//!
//! The plugin is started directly (no shell) with a cleared environment,
//! stdin null and stdout/stderr piped, from the file [`super::executable`]
//! fixed (through the hashed descriptor when a checksum was verified), with
//! the configured `cmd` as `argv[0]`, as Go's `exec.Command` passes it. One task owns the child: it reports
//! the exit status on a watch channel (so anyone can notice an exit) and
//! kills the child on request. The child is also killed if its owner is
//! dropped, so a host that goes away never leaks plugin processes.

use super::executable::Program;
use std::ffi::OsString;
use std::fmt;
use std::os::fd::RawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use tokio::process::{ChildStderr, ChildStdout, Command};
use tokio::sync::{watch, Notify};

/// How a plugin process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl From<ExitStatus> for ExitInfo {
    fn from(status: ExitStatus) -> Self {
        ExitInfo {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status {code}"),
            (None, Some(signal)) => write!(f, "killed by signal {signal}"),
            (None, None) => f.write_str("unknown exit status"),
        }
    }
}

/// A started plugin process, its pipes and its exit watch.
pub struct Spawned {
    pub pid: u32,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    pub exit: watch::Receiver<Option<ExitInfo>>,
    pub killer: Killer,
}

/// Asks the owning task to SIGKILL the child.
#[derive(Clone, Debug)]
pub struct Killer(Arc<Notify>);

impl Killer {
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

/// Starts `program` as `cmd args` with exactly `env`.
pub fn spawn(
    program: &Program,
    cmd: &str,
    args: &[String],
    env: Vec<(OsString, OsString)>,
) -> std::io::Result<Spawned> {
    let mut command = match program {
        Program::Path(path) => Command::new(path),
        Program::Verified(file) => {
            let mut command = Command::new(file.exec_path());
            if let Some(fd) = file.fd_to_keep() {
                // SAFETY: the closure runs in the child between fork and exec
                // and only calls fcntl, which is async-signal-safe.
                unsafe {
                    command.pre_exec(move || keep_open_across_exec(fd));
                }
            }
            command
        }
    };
    command
        .arg0(cmd)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let pid = child.id().unwrap_or_default();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(std::io::Error::other("stdout or stderr pipe missing"));
    };
    let (exit_tx, exit_rx) = watch::channel(None);
    let kill = Arc::new(Notify::new());
    let kill_requests = kill.clone();
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            () = kill_requests.notified() => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        let info = match status {
            Ok(status) => ExitInfo::from(status),
            Err(_) => ExitInfo {
                code: None,
                signal: None,
            },
        };
        let _ = exit_tx.send(Some(info));
    });
    Ok(Spawned {
        pid,
        stdout,
        stderr,
        exit: exit_rx,
        killer: Killer(kill),
    })
}

/// Clears close-on-exec on `fd` in the child, so a `#!` interpreter can
/// open `/proc/self/fd/N`.
fn keep_open_across_exec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor number has no memory-safety requirements.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until the process has exited and returns how.
pub async fn wait_exit(exit: &mut watch::Receiver<Option<ExitInfo>>) -> ExitInfo {
    const UNKNOWN: ExitInfo = ExitInfo {
        code: None,
        signal: None,
    };
    let waited = exit.wait_for(Option::is_some).await.map(|info| *info);
    match waited {
        Ok(info) => info.unwrap_or(UNKNOWN),
        // The watcher task is gone: it only ends after sending, so this is unexpected.
        Err(_) => (*exit.borrow()).unwrap_or(UNKNOWN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::checksum::sha256_file;
    use crate::host::executable::VerifiedFile;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn install(path: &Path, content: &[u8]) {
        std::fs::write(path, content).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Verifies `verified_content` at a path, renames `swapped_content` over
    /// that path (as an attacker with write access to the directory could),
    /// then spawns: the verified content must be what runs.
    async fn run_after_swap(verified_content: &[u8], args: &[String], dir: &Path) -> String {
        let path = dir.join("plugin");
        install(&path, verified_content);
        let digest = sha256_file(&path).unwrap();
        let verified = VerifiedFile::open(&path, &digest).unwrap();

        let evil = dir.join("evil");
        install(
            &evil,
            format!("#!/bin/sh\necho swapped > {}/ran\n", dir.display()).as_bytes(),
        );
        std::fs::rename(&evil, &path).unwrap();

        let spawned = spawn(
            &Program::Verified(verified),
            &path.to_string_lossy(),
            args,
            Vec::new(),
        )
        .unwrap();
        let mut exit = spawned.exit;
        let info = wait_exit(&mut exit).await;
        assert!(info.success(), "{info}");
        std::fs::read_to_string(dir.join("ran")).unwrap()
    }

    #[tokio::test]
    async fn a_verified_script_runs_even_if_its_path_is_swapped() {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            "#!/bin/sh\necho verified \"$1\" > {}/ran\n",
            dir.path().display()
        );
        let ran = run_after_swap(script.as_bytes(), &["arg".into()], dir.path()).await;
        assert_eq!(ran, "verified arg\n");
    }

    #[tokio::test]
    async fn a_verified_binary_runs_even_if_its_path_is_swapped() {
        let dir = tempfile::tempdir().unwrap();
        let shell = std::fs::read("/bin/sh").unwrap();
        let args = vec![
            "-c".to_owned(),
            format!("echo verified binary > {}/ran", dir.path().display()),
        ];
        let ran = run_after_swap(&shell, &args, dir.path()).await;
        assert_eq!(ran, "verified binary\n");
    }
}
