//! The events every comparison run delivers, and the notifier filter that
//! selects all of them.
//!
//! The mix is SFTPGo's: mostly filesystem events, some data-provider events
//! (with a JSON object body, as SFTPGo sends) and some log events, sized like
//! real ones. Each event's `timestamp` is a fixed base plus its index, so a
//! line a plugin records names the event it came from (the latency tail and
//! the correctness check rely on it) while staying a realistic "now".

use crate::error::{Context, Result};
use plexus_engine::config::NotifierOptions;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use plexus_proto::Event;
use std::io::Write;
use std::path::Path;

const FS_ACTIONS: [&str; 4] = ["upload", "download", "delete", "rename"];
const PROVIDER_ACTIONS: [&str; 3] = ["add", "update", "delete"];
const PROTOCOLS: [&str; 5] = ["SFTP", "SCP", "FTP", "DAV", "HTTP"];
const LOG_EVENTS: [i32; 4] = [1, 2, 3, 4];

/// `n` events, the i-th with timestamp `base_ts + i`: 80 % filesystem,
/// 10 % provider, 10 % log.
pub fn mixed(n: usize, base_ts: i64) -> Vec<Event> {
    (0..n).map(|i| event(i, base_ts)).collect()
}

/// The index of the event a recorded timestamp belongs to, if any.
pub fn index_of(timestamp: i64, base_ts: i64, n: usize) -> Option<usize> {
    let offset = timestamp.checked_sub(base_ts)?;
    let index = usize::try_from(offset).ok()?;
    (index < n).then_some(index)
}

fn event(i: usize, base_ts: i64) -> Event {
    let timestamp = base_ts + i as i64;
    let user = i % 50;
    let ip = format!("192.0.2.{}", i % 250 + 1);
    match i % 10 {
        8 => {
            let action = PROVIDER_ACTIONS[i / 10 % PROVIDER_ACTIONS.len()];
            let object = format!(
                r#"{{"id":{user},"status":1,"username":"user{user}","home_dir":"/srv/sftpgo/data/user{user}","uid":0,"gid":0,"max_sessions":0,"quota_size":0,"quota_files":0,"permissions":{{"/":["*"]}},"used_quota_size":{},"used_quota_files":{},"last_quota_update":0,"upload_bandwidth":0,"download_bandwidth":0,"expiration_date":0,"last_login":{timestamp},"filters":{{"hooks":{{}}}},"description":"benchmark user"}}"#,
                i * 4096,
                i % 1000
            );
            Event::Provider(ProviderEvent {
                timestamp,
                action: action.into(),
                object_type: "user".into(),
                username: "admin".into(),
                ip,
                object_name: format!("user{user}"),
                object_data: object.into_bytes(),
                role: String::new(),
            })
        }
        9 => Event::Log(LogEvent {
            timestamp,
            event: LOG_EVENTS[i / 10 % LOG_EVENTS.len()],
            username: format!("user{user}"),
            protocol: "SSH".into(),
            ip,
            message: format!(
                "login failed for user{user}: authentication failed, session {i:016x}"
            ),
            role: String::new(),
        }),
        _ => {
            let action = FS_ACTIONS[i % FS_ACTIONS.len()];
            let dir = i % 20;
            let virtual_path = format!("/projects/dir{dir}/report-{i}.pdf");
            let target = if action == "rename" {
                format!("/projects/archive/report-{i}.pdf")
            } else {
                String::new()
            };
            Event::Fs(FsEvent {
                timestamp,
                action: action.into(),
                username: format!("user{user}"),
                fs_path: format!("/srv/sftpgo/data/user{user}{virtual_path}"),
                fs_target_path: if target.is_empty() {
                    String::new()
                } else {
                    format!("/srv/sftpgo/data/user{user}{target}")
                },
                ssh_cmd: String::new(),
                file_size: (i as i64 * 7919) % 50_000_000,
                protocol: PROTOCOLS[i % PROTOCOLS.len()].into(),
                status: 1,
                ip,
                virtual_path,
                virtual_target_path: target,
                session_id: format!("{:016x}{:016x}", i / 7, i % 7),
                fs_provider: 0,
                bucket: String::new(),
                endpoint: String::new(),
                open_flags: if action == "upload" { 577 } else { 0 },
                role: String::new(),
                elapsed: (i % 900) as i64 + 3,
                metadata: Default::default(),
            })
        }
    }
}

/// A notifier configuration that receives every event of the mix, with
/// SFTPGo-style retries (60 s) so a failed delivery would be queued, not lost.
pub fn notifier_options() -> NotifierOptions {
    NotifierOptions {
        fs_events: FS_ACTIONS.iter().map(|a| a.to_string()).collect(),
        provider_events: PROVIDER_ACTIONS.iter().map(|a| a.to_string()).collect(),
        provider_objects: vec!["user".into()],
        log_events: LOG_EVENTS.to_vec(),
        retry_max_time: 60,
        retry_queue_max_size: 0,
    }
}

/// Writes the events as the interop JSONL format (the Go host's input).
pub fn write_jsonl(events: &[Event], path: &Path) -> Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("creating the events file {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for event in events {
        let line = plexus_examples::jsonl::event_line(event);
        out.write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_matches_the_filter_and_names_its_index() {
        let options = notifier_options();
        let events = mixed(200, 1_000);
        for (i, event) in events.iter().enumerate() {
            assert_eq!(index_of(event.timestamp_ns(), 1_000, 200), Some(i));
            let matched = match event {
                Event::Fs(e) => options.fs_events.contains(&e.action),
                Event::Provider(e) => {
                    options.provider_events.contains(&e.action)
                        && options.provider_objects.contains(&e.object_type)
                }
                Event::Log(e) => options.log_events.contains(&e.event),
            };
            assert!(matched, "event {i} is not selected: {event:?}");
        }
        assert_eq!(index_of(999, 1_000, 200), None);
        assert_eq!(index_of(1_200, 1_000, 200), None);
    }

    /// `plexus emit --events` reads with the engine's parser what the
    /// harness writes with the examples' writer: the two must agree.
    #[test]
    fn the_engine_reads_back_every_written_event() {
        let events = mixed(200, 1_764_000_000_000_000_000);
        for event in &events {
            let line = plexus_examples::jsonl::event_line(event);
            let parsed = plexus_engine::jsonl::parse_line(&line)
                .unwrap_or_else(|err| panic!("{err}: {line}"));
            assert_eq!(&parsed, event, "{line}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        write_jsonl(&events, &path).unwrap();
        assert_eq!(plexus_engine::jsonl::read_file(&path).unwrap(), events);
    }
}
