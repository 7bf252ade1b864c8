//! `notifier-jsonl`: a notifier plugin that appends every event it receives
//! to a file, one JSON object per line (the format of `plexus_examples::jsonl`).
//!
//! ```text
//! notifier-jsonl --out PATH [--fail-while PATH] [--env-dump PATH]
//! ```
//!
//! - `--out PATH`: the JSONL file, created if needed, always appended to.
//!   Lines are written by one writer thread: the lines of every event that
//!   arrived meanwhile go out in one `write`, and an RPC answers OK only
//!   after its line is in the file (handed to the OS, not fsynced):
//!   acknowledged means recorded. Lines never interleave, and a failed write
//!   is cut off again, so the file never holds half an event.
//! - `--fail-while PATH`: while a file exists at PATH every delivery fails with
//!   gRPC `UNAVAILABLE` ("failing while PATH exists") and nothing is recorded.
//! - `--env-dump PATH`: at start, the whole environment is written to PATH,
//!   sorted, one `KEY=VALUE` a line; `\`, CR and LF are escaped as `\\`, `\r`,
//!   `\n` (`PLUGIN_CLIENT_CERT` is a multi-line PEM). Written to a temporary
//!   file (created exclusively, never through a symbolic link, mode 0600)
//!   and renamed into place, as the Go fixture does.
//! - The `--out` file is created with mode 0600.
//!
//! Like every go-plugin plugin it must be started by a host (it checks the
//! notifier magic cookie first); it logs hclog JSON on stderr.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use plexus_examples::jsonl::{event_line, Event};
use plexus_sdk::notifier::{FsEvent, LogEvent, Notifier, NotifierPlugin, ProviderEvent};
use plexus_sdk::{async_trait, PluginKind, PluginServer, Request, Response, Status};
use tokio::sync::{mpsc, oneshot};

const NAME: &str = "notifier-jsonl";

/// A notifier plugin that records every event as a JSON line.
#[derive(Debug, Parser)]
#[command(name = NAME, version)]
struct Args {
    /// Append every received event to this file, one JSON object per line.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// While this file exists, fail every delivery with UNAVAILABLE.
    #[arg(long, value_name = "PATH")]
    fail_while: Option<PathBuf>,
    /// At start, write the whole environment here (sorted KEY=VALUE lines).
    #[arg(long, value_name = "PATH")]
    env_dump: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Before any side effect: a binary run by hand must not create files.
    if let Err(err) = plexus_sdk::check_cookie(PluginKind::Notifier) {
        err.report(PluginKind::Notifier);
        return err.exit_code();
    }
    plexus_sdk::logging::init(NAME);
    if let Some(path) = &args.env_dump {
        if let Err(err) = dump_environment(path) {
            return fatal(&format!(
                "cannot write the environment to {}: {err}",
                path.display()
            ));
        }
    }
    // Owner-only when created: the events name users, paths and addresses.
    let file = match OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&args.out)
    {
        Ok(file) => file,
        Err(err) => {
            return fatal(&format!(
                "cannot open the output file {}: {err}",
                args.out.display()
            ))
        }
    };
    let writer = match LineWriter::start(file, args.out.clone()) {
        Ok(writer) => writer,
        Err(err) => return fatal(&format!("cannot start the writer thread: {err}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fatal(&format!("cannot start the async runtime: {err}")),
    };
    let fail_while = args
        .fail_while
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    tracing::info!(out = %args.out.display(), fail_while = %fail_while, "notifier plugin starting");
    let notifier = JsonlNotifier {
        writer,
        fail_while: args.fail_while,
    };
    runtime.block_on(async {
        let code = PluginServer::new(NotifierPlugin::new(notifier)).run().await;
        if code == ExitCode::SUCCESS {
            tracing::info!("notifier plugin stopped");
        }
        code
    })
}

/// One `[ERROR]` line on stderr (a go-plugin host maps the prefix), exit 1.
fn fatal(message: &str) -> ExitCode {
    eprintln!("[ERROR] {NAME}: {message}");
    ExitCode::FAILURE
}

struct JsonlNotifier {
    writer: LineWriter,
    fail_while: Option<PathBuf>,
}

impl JsonlNotifier {
    async fn record(&self, event: Event) -> Result<Response<()>, Status> {
        if let Some(path) = &self.fail_while {
            if path.exists() {
                return Err(Status::unavailable(format!(
                    "failing while {} exists",
                    path.display()
                )));
            }
        }
        self.writer.append(event_line(&event)).await?;
        Ok(Response::new(()))
    }
}

#[async_trait]
impl Notifier for JsonlNotifier {
    async fn send_fs_event(&self, request: Request<FsEvent>) -> Result<Response<()>, Status> {
        self.record(Event::Fs(request.into_inner())).await
    }

    async fn send_provider_event(
        &self,
        request: Request<ProviderEvent>,
    ) -> Result<Response<()>, Status> {
        self.record(Event::Provider(request.into_inner())).await
    }

    async fn send_log_event(&self, request: Request<LogEvent>) -> Result<Response<()>, Status> {
        self.record(Event::Log(request.into_inner())).await
    }
}

type WriteJob = (String, oneshot::Sender<io::Result<()>>);

/// The most lines one write carries.
const MAX_LINES_PER_WRITE: usize = 1024;

/// The single writer: a thread owning the file, fed lines over a bounded
/// channel; each job is answered once its line is written (or failed).
struct LineWriter {
    jobs: mpsc::Sender<WriteJob>,
    path: PathBuf,
}

impl LineWriter {
    fn start(file: File, path: PathBuf) -> io::Result<LineWriter> {
        let (jobs, mut queue) = mpsc::channel::<WriteJob>(1024);
        std::thread::Builder::new()
            .name("jsonl-writer".into())
            .spawn(move || {
                let mut file = file;
                let mut buffer = String::new();
                let mut waiting = Vec::new();
                while let Some(first) = queue.blocking_recv() {
                    // Everything that queued up meanwhile shares this write.
                    buffer.clear();
                    waiting.clear();
                    let mut next = Some(first);
                    while let Some((line, done)) = next {
                        buffer.push_str(&line);
                        buffer.push('\n');
                        waiting.push(done);
                        next = if waiting.len() < MAX_LINES_PER_WRITE {
                            queue.try_recv().ok()
                        } else {
                            None
                        };
                    }
                    let written = append_lines(&mut file, buffer.as_bytes());
                    for done in waiting.drain(..) {
                        let outcome = match &written {
                            Ok(()) => Ok(()),
                            Err(err) => Err(io::Error::new(err.kind(), err.to_string())),
                        };
                        let _ = done.send(outcome);
                    }
                }
            })?;
        Ok(LineWriter { jobs, path })
    }

    async fn append(&self, line: String) -> Result<(), Status> {
        let (done, written) = oneshot::channel();
        let stopped = || Status::internal("the writer thread has stopped");
        self.jobs.send((line, done)).await.map_err(|_| stopped())?;
        match written.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot append an event");
                Err(Status::unavailable(format!(
                    "cannot append to {}: {err}",
                    self.path.display()
                )))
            }
            Err(_) => Err(stopped()),
        }
    }
}

/// Appends whole lines in one write; on failure the partial write is cut
/// off again, so the file never holds half an event.
fn append_lines(file: &mut File, lines: &[u8]) -> io::Result<()> {
    let before = file.metadata()?.len();
    let written = file.write_all(lines);
    if written.is_err() {
        let _ = file.set_len(before);
    }
    written
}

/// Writes the environment, sorted, escaped, through a temporary file.
fn dump_environment(path: &Path) -> io::Result<()> {
    // As the Go fixture: sort the raw KEY=VALUE strings, then escape each.
    let mut entries: Vec<String> = std::env::vars_os()
        .map(|(key, value)| format!("{}={}", key.to_string_lossy(), value.to_string_lossy()))
        .collect();
    entries.sort();
    let mut text = String::new();
    for entry in &entries {
        text.push_str(&escape(entry));
        text.push('\n');
    }
    write_through_temporary(
        path,
        &format!("tmp-{}", std::process::id()),
        text.as_bytes(),
    )
}

/// Writes `bytes` to a new temporary file next to `path` (named
/// `PATH.<tag>`, or `PATH.<tag>-N` if that name is taken), then renames it
/// into place. The temporary file is created with `O_EXCL|O_NOFOLLOW` and
/// mode 0600: a file or symbolic link planted at its predictable name is
/// never written through, and the environment (which may hold secrets) is
/// never readable by others.
fn write_through_temporary(path: &Path, tag: &str, bytes: &[u8]) -> io::Result<()> {
    let mut attempt = 0u32;
    let (temporary, mut file) = loop {
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(tag);
        if attempt > 0 {
            name.push(format!("-{attempt}"));
        }
        let temporary = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&temporary)
        {
            Ok(file) => break (temporary, file),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_planted_link_at_the_temporary_name_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let dump = dir.path().join("env.txt");
        std::os::unix::fs::symlink(&victim, dir.path().join("env.txt.tmp-7")).unwrap();

        write_through_temporary(&dump, "tmp-7", b"SECRET=1\n").unwrap();

        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&dump).unwrap(), b"SECRET=1\n");
        let mode = std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
