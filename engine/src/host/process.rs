//! Spawning a plugin process and watching it exit.
//!
//! The plugin is started directly (no shell) with a cleared environment,
//! stdin null and stdout/stderr piped. One task owns the child: it reports
//! the exit status on a watch channel (so anyone can notice an exit) and
//! kills the child on request. The child is also killed if its owner is
//! dropped, so a host that goes away never leaks plugin processes.

use std::ffi::OsString;
use std::fmt;
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

/// Starts `cmd args` with exactly `env`.
pub fn spawn(
    cmd: &str,
    args: &[String],
    env: Vec<(OsString, OsString)>,
) -> std::io::Result<Spawned> {
    let mut command = Command::new(cmd);
    command
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
