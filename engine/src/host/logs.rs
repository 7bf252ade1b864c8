//! Mirroring a plugin's output into the host's `tracing` log.
//!
//! Every line a plugin writes to stderr (and to stdout after the handshake,
//! and through go-plugin's stdio stream) is re-logged under the target
//! `plexus::plugin` with the plugin's path as prefix and field. hclog JSON
//! lines keep their level and fields; plain lines are classified as go-plugin
//! does. Everything the plugin wrote (message, fields, module) has its
//! control characters escaped ([`super::sanitize`]), so a plugin cannot
//! forge host log lines with a newline or repaint a terminal with ANSI
//! escapes. Lines are capped in length so a plugin cannot make the host buffer
//! without bound, and invalid UTF-8 is replaced, never fatal. The last few
//! stderr lines are also kept, so an exit before the handshake can be
//! reported with what the plugin said.

use super::sanitize::escape_controls;
use plexus_proto::hclog::{Level, LineClassifier, LogRecord};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest line kept, by default; the rest of a longer line is dropped.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// One line read with a length cap.
#[derive(Debug, PartialEq, Eq)]
pub struct CappedLine {
    /// At most the cap, without the newline.
    pub bytes: Vec<u8>,
    /// The line's full length in bytes.
    pub full_len: usize,
}

impl CappedLine {
    pub fn truncated(&self) -> bool {
        self.full_len > self.bytes.len()
    }

    /// The line as text (invalid UTF-8 replaced), noting a truncation.
    pub fn to_text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if text.ends_with('\r') {
            text.pop();
        }
        if self.truncated() {
            text.push_str(&format!(" …[line truncated: {} bytes]", self.full_len));
        }
        text
    }
}

/// Reads one line, keeping at most `max` bytes of it and discarding the
/// rest up to the newline. `None` at end of stream.
pub async fn read_capped_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Option<CappedLine>> {
    let mut bytes = Vec::new();
    let mut full_len = 0usize;
    let mut saw_any = false;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(saw_any.then_some(CappedLine { bytes, full_len }));
        }
        saw_any = true;
        let (piece, consumed, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(newline) => (&chunk[..newline], newline + 1, true),
            None => (chunk, chunk.len(), false),
        };
        let room = max.saturating_sub(bytes.len());
        bytes.extend_from_slice(&piece[..piece.len().min(room)]);
        full_len += piece.len();
        reader.consume(consumed);
        if done {
            return Ok(Some(CappedLine { bytes, full_len }));
        }
    }
}

/// The last lines a plugin wrote to stderr, bounded in count and size.
#[derive(Debug, Default)]
pub struct StderrTail {
    lines: VecDeque<String>,
}

impl StderrTail {
    const MAX_LINES: usize = 20;
    const MAX_LINE_CHARS: usize = 1000;

    /// Keeps `line`, with its control characters escaped.
    pub fn push(&mut self, line: &str) {
        if self.lines.len() == Self::MAX_LINES {
            self.lines.pop_front();
        }
        let kept: String = line.chars().take(Self::MAX_LINE_CHARS).collect();
        self.lines.push_back(escape_controls(&kept).into_owned());
    }

    /// The kept lines, each on its own line behind a `  | ` gutter, so that
    /// none of them can pass for a host log line when an error quotes them.
    pub fn joined(&self) -> String {
        self.lines
            .iter()
            .map(|line| format!("  | {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub type SharedTail = Arc<Mutex<StderrTail>>;

/// The text logged for one plugin record: its message and fields, with
/// every control character escaped.
pub fn mirrored_text(record: &LogRecord) -> String {
    let mut message = escape_controls(&record.message).into_owned();
    for (key, value) in &record.fields {
        message.push(' ');
        message.push_str(&escape_controls(key));
        message.push('=');
        message.push_str(&escape_controls(value));
    }
    message
}

/// Whose lines a mirror logs: the plugin's path, which prefixes every
/// line, and its short label (`<type>.<basename>`), the `plugin` field of
/// structured (JSON) logs.
#[derive(Debug, Clone)]
pub struct LogSource {
    pub path: Arc<str>,
    pub label: Arc<str>,
}

/// Logs one plugin line at its level, prefixed with the plugin's path.
pub fn emit(source: &LogSource, stream: &str, record: &LogRecord) {
    let message = mirrored_text(record);
    let module = escape_controls(record.module.as_deref().unwrap_or(""));
    let module = &*module;
    let (path, label) = (&*source.path, &*source.label);
    macro_rules! log_at {
        ($macro:ident) => {
            tracing::$macro!(target: "plexus::plugin", plugin = label, path = path, stream = stream, module = module, "[{path}] {message}")
        };
    }
    match record.level {
        Level::Trace => log_at!(trace),
        Level::Debug => log_at!(debug),
        Level::Info => log_at!(info),
        Level::Warn => log_at!(warn),
        Level::Error => log_at!(error),
    }
}

/// Mirrors a stream until it ends; with a tail, remembers its last lines.
pub fn spawn_mirror<R>(
    source: LogSource,
    stream: &'static str,
    mut reader: R,
    max_line: usize,
    tail: Option<SharedTail>,
) -> tokio::task::JoinHandle<()>
where
    R: AsyncBufRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut classifier = LineClassifier::new();
        loop {
            match read_capped_line(&mut reader, max_line).await {
                Ok(Some(line)) => {
                    let text = line.to_text();
                    if let Some(tail) = &tail {
                        if let Ok(mut tail) = tail.lock() {
                            tail.push(&text);
                        }
                    }
                    emit(&source, stream, &classifier.classify(&text));
                }
                Ok(None) => break,
                Err(err) => {
                    let (path, label) = (&*source.path, &*source.label);
                    tracing::debug!(target: "plexus::plugin", plugin = label, path = path, "[{path}] {stream} read error: {err}");
                    break;
                }
            }
        }
    })
}

/// Splits chunks of a byte stream (go-plugin's stdio stream) into capped lines.
#[derive(Debug)]
pub struct ChunkLines {
    pending: Vec<u8>,
    pending_len: usize,
    max: usize,
}

impl ChunkLines {
    pub fn new(max: usize) -> Self {
        ChunkLines {
            pending: Vec::new(),
            pending_len: 0,
            max,
        }
    }

    /// Feeds a chunk; returns the lines it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<CappedLine> {
        let mut lines = Vec::new();
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            let room = self.max.saturating_sub(self.pending.len());
            self.pending
                .extend_from_slice(&body[..body.len().min(room)]);
            self.pending_len += body.len();
            if complete {
                lines.push(self.take());
            }
        }
        lines
    }

    /// The unfinished last line, if any.
    pub fn finish(&mut self) -> Option<CappedLine> {
        (self.pending_len > 0).then(|| self.take())
    }

    fn take(&mut self) -> CappedLine {
        let line = CappedLine {
            bytes: std::mem::take(&mut self.pending),
            full_len: self.pending_len,
        };
        self.pending_len = 0;
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn capped_reader_truncates_and_continues() {
        let mut input: Vec<u8> = vec![b'a'; 10_000];
        input.extend_from_slice(b"\nshort\n\xff\xfebad\nlast");
        let mut reader = tokio::io::BufReader::with_capacity(64, &input[..]);
        let first = read_capped_line(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(first.bytes.len(), 100);
        assert_eq!(first.full_len, 10_000);
        assert!(first.to_text().contains("line truncated: 10000 bytes"));
        let second = read_capped_line(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(second.to_text(), "short");
        let third = read_capped_line(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(third.to_text(), "\u{fffd}\u{fffd}bad");
        let last = read_capped_line(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(last.to_text(), "last");
        assert_eq!(read_capped_line(&mut reader, 100).await.unwrap(), None);
    }

    #[test]
    fn chunk_lines_join_across_chunks_and_cap() {
        let mut lines = ChunkLines::new(5);
        assert!(lines.feed(b"hel").is_empty());
        let done = lines.feed(b"lo world\nnext\npart");
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].bytes, b"hello");
        assert_eq!(done[0].full_len, 11);
        assert_eq!(done[1].bytes, b"next");
        assert_eq!(lines.finish().unwrap().bytes, b"part");
        assert!(lines.finish().is_none());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut tail = StderrTail::default();
        for i in 0..30 {
            tail.push(&format!("line {i}"));
        }
        let joined = tail.joined();
        assert!(joined.starts_with("  | line 10"));
        assert!(joined.ends_with("  | line 29"));
    }

    /// A subscriber layer that keeps the `message` of every event.
    #[derive(Clone, Default)]
    struct Messages(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Messages {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            struct Visit<'a>(&'a mut String);
            impl tracing::field::Visit for Visit<'_> {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "message" {
                        *self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = String::new();
            event.record(&mut Visit(&mut message));
            if let Ok(mut messages) = self.0.lock() {
                messages.push(message);
            }
        }
    }

    #[test]
    fn mirrored_plugin_text_cannot_forge_lines_or_send_escapes() {
        use tracing_subscriber::layer::SubscriberExt;
        let messages = Messages::default();
        let subscriber = tracing_subscriber::registry().with(messages.clone());
        let json = r#"{"@level":"info","@message":"ok\n2026-01-01T00:00:00Z  INFO plexus::engine: audit disabled","@module":"m\u001b[2J","user\nname":"x\r\u001b[31m"}"#;
        let plain = "[WARN] fine\x1b]0;title\x07 \u{202e}txt";
        let source = LogSource {
            path: Arc::from("/bin/plugin"),
            label: Arc::from("notifier.plugin"),
        };
        tracing::subscriber::with_default(subscriber, || {
            let mut classifier = LineClassifier::new();
            emit(&source, "stderr", &classifier.classify(json));
            emit(&source, "stderr", &classifier.classify(plain));
        });
        let messages = messages.0.lock().unwrap().clone();
        assert_eq!(messages.len(), 2);
        for message in &messages {
            assert!(
                !message.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{message:?}"
            );
        }
        assert_eq!(
            messages[0],
            "[/bin/plugin] ok\\n2026-01-01T00:00:00Z  INFO plexus::engine: audit disabled user\\nname=x\\r\\u{1b}[31m"
        );
        assert!(
            messages[1].contains("fine\\u{1b}]0;title\\u{7}"),
            "{}",
            messages[1]
        );
    }

    #[test]
    fn the_stderr_tail_is_escaped_and_gutted() {
        let mut tail = StderrTail::default();
        tail.push("first\x1b[31m");
        tail.push("2026-01-01T00:00:00Z  INFO plexus: forged");
        assert_eq!(
            tail.joined(),
            "  | first\\u{1b}[31m\n  | 2026-01-01T00:00:00Z  INFO plexus: forged"
        );
    }
}
