//! A second process of this binary, for the rows that need a host that
//! fills its queues and then stops (gracefully, or with `kill -9`) before
//! the measured host starts on the same data directory.
//!
//! The measured host must be a fresh process: its RSS would otherwise
//! include whatever the filling left in the allocator, and a crash can only
//! be a crash of another process. The child speaks in lines on stdout
//! (`key value`); its stderr passes through.

use crate::error::{Context, Error, Result};
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running child process of this binary.
pub struct Filler {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Filler {
    /// Runs this binary with `args` (a hidden subcommand).
    pub fn spawn(args: &[String]) -> Result<Filler> {
        let exe = std::env::current_exe().context("locating the running executable")?;
        let mut child = Command::new(&exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} {}", exe.display(), args.join(" ")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::new("the child's stdout is not piped"))?;
        Ok(Filler {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Reads lines until one starts with `key `; returns the rest.
    pub fn expect(&mut self, key: &str) -> Result<String> {
        let prefix = format!("{key} ");
        for line in self.lines.by_ref() {
            let line = line.context("reading the child's output")?;
            if let Some(value) = line.strip_prefix(&prefix) {
                return Ok(value.to_owned());
            }
        }
        let status = self.child.wait().context("waiting for the child")?;
        Err(Error::new(format!(
            "the child ended ({status}) before it reported {key:?}"
        )))
    }

    /// [`Filler::expect`], parsed as a number.
    pub fn expect_number(&mut self, key: &str) -> Result<u64> {
        let value = self.expect(key)?;
        value
            .trim()
            .parse()
            .with_context(|| format!("the child's {key:?} is not a number: {value:?}"))
    }

    /// Waits for a normal exit; fails on any other status.
    pub fn wait_success(mut self) -> Result<()> {
        let status = self.child.wait().context("waiting for the child")?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::new(format!("the filling process failed: {status}")))
        }
    }

    /// `kill -9`, then reaps it.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill().context("killing the child")?;
        self.child.wait().context("reaping the child")?;
        Ok(())
    }
}

/// Sends `signal` to `pid`; `false` if it is gone (or the pid is invalid).
pub fn signal(pid: u64, signal: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with a positive pid and a valid signal number.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Prints one `key value` line for the parent, flushed at once.
pub fn report(key: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{key} {value}");
    let _ = out.flush();
}
