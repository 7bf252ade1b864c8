//! Records of running plugin processes, kept in the data directory, so
//! that plugins orphaned by a host crash are stopped at the next start.
//!
//! A go-plugin plugin whose host dies does not always exit: a Go plugin
//! keeps serving its socket until something stops it. SFTPGo cleans up by
//! killing every process whose executable path matches a configured `cmd`,
//! so two entries with the same `cmd` (different args) kill each other
//! (its issue #1923), and an unrelated program at that path dies too.
//!
//! Plexus instead records each plugin it spawns as `<pid>.plugin`: the pid,
//! the process's start time (field 22 of `/proc/<pid>/stat`, in clock ticks
//! since boot) and the `cmd` for the log. A record is removed when its
//! process exits. At the next start, a record whose pid is alive *with the
//! same start time* is a plugin the previous host left behind, and is
//! killed; a reused pid has another start time and is left alone. Nothing
//! is ever killed by path. The data directory is used by one host at a
//! time (the queue store locks it), so every record found at start is an
//! orphan of a host that is gone.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory of records, `<data_dir>/plugins`.
#[derive(Debug)]
pub struct PidRecords {
    dir: PathBuf,
}

/// A recorded process found alive at start and killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub pid: u32,
    pub cmd: String,
}

impl PidRecords {
    /// Opens (creating it owner-only) the record directory.
    pub fn open(dir: &Path) -> io::Result<PidRecords> {
        plexus_storage::create_private_dir(dir)?;
        Ok(PidRecords {
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, pid: u32) -> PathBuf {
        self.dir.join(format!("{pid}.plugin"))
    }

    /// Records a process just spawned from `cmd`.
    ///
    /// A process that has already exited and been reaped (a plugin that
    /// refuses its arguments can be gone within microseconds) cannot be
    /// orphaned, so there is nothing to record: the start then fails on the
    /// plugin's own exit and stderr, not here. Only when `/proc` itself is
    /// unreadable is that an error.
    pub fn record(&self, pid: u32, cmd: &str) -> io::Result<()> {
        let Some(start) = start_time(pid) else {
            if start_time(std::process::id()).is_some() {
                return Ok(());
            }
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot read the start time of process {pid} from /proc"),
            ));
        };
        let path = self.path(pid);
        let temp = self.dir.join(format!("{pid}.plugin.tmp"));
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)?
        };
        // One line: pid, start time, then the command (which may hold spaces).
        writeln!(file, "{pid} {start} {}", cmd.replace('\n', " "))?;
        drop(file);
        std::fs::rename(&temp, &path)
    }

    /// Forgets a process that exited.
    pub fn remove(&self, pid: u32) {
        if let Err(err) = std::fs::remove_file(self.path(pid)) {
            if err.kind() != io::ErrorKind::NotFound {
                tracing::warn!(
                    "cannot remove the record of plugin process {pid} in {}: {err}",
                    self.dir.display()
                );
            }
        }
    }

    /// Kills every recorded process that is still the process recorded
    /// (same pid, same start time) and removes every record. Returns the
    /// processes killed.
    pub fn stop_orphans(&self) -> io::Result<Vec<Orphan>> {
        let mut killed = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_record = path.extension().is_some_and(|ext| ext == "plugin");
            if is_record {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if let Some((pid, start, cmd)) = parse_record(&text) {
                    if start_time(pid) == Some(start) && pid != std::process::id() {
                        // SAFETY: sending a signal has no memory-safety preconditions.
                        let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0;
                        if sent {
                            killed.push(Orphan {
                                pid,
                                cmd: cmd.to_owned(),
                            });
                        }
                    }
                }
            }
            // Stale, unreadable, temporary or handled: none is needed any more.
            if is_record || path.extension().is_some_and(|ext| ext == "tmp") {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(killed)
    }
}

/// `pid start cmd` from a record's line.
fn parse_record(text: &str) -> Option<(u32, u64, &str)> {
    let line = text.lines().next()?;
    let mut parts = line.splitn(3, ' ');
    let pid = parts.next()?.parse::<u32>().ok().filter(|pid| *pid > 0)?;
    let start = parts.next()?.parse::<u64>().ok()?;
    Some((pid, start, parts.next().unwrap_or("")))
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks
/// after boot. `None` if the process does not exist.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// The command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so fields are counted after the last `)`: the
/// first one there is field 3.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_counted_after_the_last_parenthesis() {
        let stat =
            "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("4242 (x"), None);
        assert!(start_time(std::process::id()).is_some());
    }

    #[test]
    fn records_parse_and_refuse_garbage() {
        assert_eq!(
            parse_record("12 345 /usr/bin/plugin --x y\n"),
            Some((12, 345, "/usr/bin/plugin --x y"))
        );
        assert_eq!(parse_record("0 1 x"), None);
        assert_eq!(parse_record("abc 1 x"), None);
        assert_eq!(parse_record(""), None);
    }

    #[test]
    fn a_process_already_reaped_is_not_recorded_and_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let records = PidRecords::open(&dir.path().join("plugins")).unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id();
        gone.wait().unwrap();
        records.record(pid, "true").unwrap();
        assert!(!records.dir().join(format!("{pid}.plugin")).exists());
    }

    #[test]
    fn only_a_live_process_with_the_recorded_start_time_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let records = PidRecords::open(&dir.path().join("plugins")).unwrap();
        let mut orphan = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let mut reused = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        records.record(orphan.id(), "sleep 60").unwrap();
        // A record of the same pid from an earlier boot or process: another start time.
        let start = start_time(reused.id()).unwrap();
        std::fs::write(
            records.dir().join(format!("{}.plugin", reused.id())),
            format!("{} {} sleep 60\n", reused.id(), start + 1),
        )
        .unwrap();
        std::fs::write(records.dir().join("999999999.plugin"), "garbage").unwrap();

        let killed = records.stop_orphans().unwrap();
        assert_eq!(
            killed,
            vec![Orphan {
                pid: orphan.id(),
                cmd: "sleep 60".into()
            }]
        );
        let status = orphan.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert!(
            reused.try_wait().unwrap().is_none(),
            "a reused pid was killed"
        );
        assert_eq!(std::fs::read_dir(records.dir()).unwrap().count(), 0);
        reused.kill().unwrap();
        reused.wait().unwrap();
    }
}
