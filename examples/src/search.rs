//! Event searches over a JSONL file written by `notifier-jsonl`, for the
//! `eventsearch-jsonl` example plugin: SFTPGo's search filters and its JSON
//! answer (an array of objects with `id` and `timestamp`, empty fields
//! omitted), with a record's line number (from 1) as its id.
//!
//! Paging follows the wire semantics (`from_id` plus the boundary
//! timestamp) with a true (timestamp, id) comparison, so equal timestamps
//! never skip or repeat a row.

use crate::jsonl::{parse_event_line, Event};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use plexus_proto::sftpgo::{FsEventsFilter, LogEventsFilter, ProviderEventsFilter};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// The largest page a search returns.
pub const MAX_LIMIT: i32 = 1000;

/// A record of the file with its id (its line number).
pub struct Record {
    pub id: u64,
    pub event: Event,
}

/// Reads every parseable line; unreadable lines are counted, not fatal.
pub fn load(text: &str) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let unreadable = parse_lines(text, 0, &mut records);
    (records, unreadable)
}

/// Parses `text` whose first line is line `after + 1`; returns how many
/// lines could not be read.
fn parse_lines(text: &str, after: u64, records: &mut Vec<Record>) -> usize {
    let mut unreadable = 0;
    for (index, line) in (after..).zip(text.lines()) {
        if line.trim().is_empty() {
            continue;
        }
        match parse_event_line(line) {
            Ok(event) => records.push(Record {
                id: index + 1,
                event,
            }),
            Err(_) => unreadable += 1,
        }
    }
    unreadable
}

/// The records of an append-only JSONL file, kept in memory and brought up
/// to date before each search by reading only what was appended since. A
/// file that shrank or was replaced (another inode) is read again from the
/// start; a last line without its newline yet waits for the next refresh.
#[derive(Default)]
pub struct Store {
    records: Vec<Record>,
    /// Bytes consumed: up to the end of the last complete line.
    consumed: u64,
    /// Lines consumed (the next line's id is `lines + 1`).
    lines: u64,
    /// (device, inode) of the file read.
    identity: Option<(u64, u64)>,
}

impl Store {
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Reads what was appended to `path`; a missing file is an empty store.
    /// Returns how many new lines could not be read.
    pub fn refresh(&mut self, path: &Path) -> io::Result<usize> {
        use std::os::unix::fs::MetadataExt;
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                *self = Store::default();
                return Ok(0);
            }
            Err(err) => return Err(err),
        };
        let meta = file.metadata()?;
        let identity = (meta.dev(), meta.ino());
        if self.identity != Some(identity) || meta.len() < self.consumed {
            *self = Store {
                identity: Some(identity),
                ..Store::default()
            };
        }
        if meta.len() == self.consumed {
            return Ok(0);
        }
        file.seek(SeekFrom::Start(self.consumed))?;
        let mut bytes = Vec::new();
        file.take(meta.len() - self.consumed)
            .read_to_end(&mut bytes)?;
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return Ok(0);
        };
        let text = String::from_utf8_lossy(&bytes[..=end]);
        let unreadable = parse_lines(&text, self.lines, &mut self.records);
        self.lines += text.lines().count() as u64;
        self.consumed += end as u64 + 1;
        Ok(unreadable)
    }
}

/// Filters shared by the three searches.
struct Common<'a> {
    start: i64,
    end: i64,
    username: &'a str,
    ip: &'a str,
    role: &'a str,
    limit: i32,
    from_id: &'a str,
    ascending: bool,
}

fn check_limit(limit: i32) -> Result<usize, String> {
    if limit <= 0 || limit > MAX_LIMIT {
        return Err(format!(
            "please specify a limit between 1 and {MAX_LIMIT} (got {limit})"
        ));
    }
    Ok(limit as usize)
}

fn page<'r>(
    records: &'r [Record],
    common: &Common<'_>,
    matches: impl Fn(&'r Event) -> Option<(&'r str, &'r str, &'r str)>,
) -> Result<Vec<&'r Record>, String> {
    let limit = check_limit(common.limit)?;
    let from: Option<u64> = match common.from_id {
        "" => None,
        id => Some(
            id.parse()
                .map_err(|_| format!("from_id {id:?} is not an id of this store"))?,
        ),
    };
    let mut selected: Vec<&Record> = records
        .iter()
        .filter(|r| {
            let ts = r.event.timestamp_ns();
            let Some((username, ip, role)) = matches(&r.event) else {
                return false;
            };
            (common.start <= 0 || ts >= common.start)
                && (common.end <= 0 || ts <= common.end)
                && (common.username.is_empty() || username == common.username)
                && (common.ip.is_empty() || ip == common.ip)
                && (common.role.is_empty() || role == common.role)
        })
        .collect();
    let key = |r: &Record| (r.event.timestamp_ns(), r.id);
    selected.sort_by_key(|r| key(r));
    if !common.ascending {
        selected.reverse();
    }
    if let Some(from) = from {
        let after = if common.ascending {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        // The page after the boundary row, by (timestamp, id); a row no
        // longer in the file leaves the id alone to compare, as SQL does.
        match records.iter().find(|r| r.id == from).map(&key) {
            Some(boundary) => selected.retain(|r| key(r).cmp(&boundary) == after),
            None => selected.retain(|r| r.id.cmp(&from) == after),
        }
    }
    selected.truncate(limit);
    Ok(selected)
}

fn put(object: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        _ => false,
    };
    if !empty {
        object.insert(key.to_owned(), value);
    }
}

pub fn search_fs(records: &[Record], f: &FsEventsFilter) -> Result<Value, String> {
    let common = Common {
        start: f.start_timestamp,
        end: f.end_timestamp,
        username: &f.username,
        ip: &f.ip,
        role: &f.role,
        limit: f.limit,
        from_id: &f.from_id,
        ascending: f.order == 1,
    };
    let rows = page(records, &common, |event| match event {
        Event::Fs(e)
            if (f.actions.is_empty() || f.actions.contains(&e.action))
                && (f.ssh_cmd.is_empty() || e.ssh_cmd == f.ssh_cmd)
                && (f.protocols.is_empty() || f.protocols.contains(&e.protocol))
                && (f.statuses.is_empty() || f.statuses.contains(&e.status))
                && (f.fs_provider < 0 || e.fs_provider == f.fs_provider)
                && (f.bucket.is_empty() || e.bucket == f.bucket)
                && (f.endpoint.is_empty() || e.endpoint == f.endpoint)
                && f.instance_ids.is_empty() =>
        {
            Some((e.username.as_str(), e.ip.as_str(), e.role.as_str()))
        }
        _ => None,
    })?;
    Ok(Value::Array(
        rows.into_iter()
            .filter_map(|r| match &r.event {
                Event::Fs(e) => {
                    let mut o = Map::new();
                    o.insert("id".into(), json!(r.id.to_string()));
                    o.insert("timestamp".into(), json!(e.timestamp));
                    for (k, v) in [
                        ("action", &e.action),
                        ("username", &e.username),
                        ("fs_path", &e.fs_path),
                        ("virtual_path", &e.virtual_path),
                        ("protocol", &e.protocol),
                        ("session_id", &e.session_id),
                    ] {
                        o.insert(k.into(), json!(v));
                    }
                    o.insert("status".into(), json!(e.status));
                    o.insert("fs_provider".into(), json!(e.fs_provider));
                    for (k, v) in [
                        ("fs_target_path", &e.fs_target_path),
                        ("virtual_target_path", &e.virtual_target_path),
                        ("ssh_cmd", &e.ssh_cmd),
                        ("ip", &e.ip),
                        ("bucket", &e.bucket),
                        ("endpoint", &e.endpoint),
                        ("role", &e.role),
                    ] {
                        put(&mut o, k, json!(v));
                    }
                    put(&mut o, "file_size", json!(e.file_size));
                    put(&mut o, "elapsed", json!(e.elapsed));
                    put(&mut o, "open_flags", json!(e.open_flags));
                    Some(Value::Object(o))
                }
                _ => None,
            })
            .collect(),
    ))
}

pub fn search_provider(records: &[Record], f: &ProviderEventsFilter) -> Result<Value, String> {
    let common = Common {
        start: f.start_timestamp,
        end: f.end_timestamp,
        username: &f.username,
        ip: &f.ip,
        role: &f.role,
        limit: f.limit,
        from_id: &f.from_id,
        ascending: f.order == 1,
    };
    let rows = page(records, &common, |event| match event {
        Event::Provider(e)
            if (f.actions.is_empty() || f.actions.contains(&e.action))
                && (f.object_types.is_empty() || f.object_types.contains(&e.object_type))
                && (f.object_name.is_empty() || e.object_name == f.object_name)
                && f.instance_ids.is_empty() =>
        {
            Some((e.username.as_str(), e.ip.as_str(), e.role.as_str()))
        }
        _ => None,
    })?;
    Ok(Value::Array(
        rows.into_iter()
            .filter_map(|r| match &r.event {
                Event::Provider(e) => {
                    let mut o = Map::new();
                    o.insert("id".into(), json!(r.id.to_string()));
                    o.insert("timestamp".into(), json!(e.timestamp));
                    for (k, v) in [
                        ("action", &e.action),
                        ("username", &e.username),
                        ("object_type", &e.object_type),
                        ("object_name", &e.object_name),
                    ] {
                        o.insert(k.into(), json!(v));
                    }
                    put(&mut o, "ip", json!(e.ip));
                    if !f.omit_object_data && !e.object_data.is_empty() {
                        o.insert("object_data".into(), json!(STANDARD.encode(&e.object_data)));
                    }
                    put(&mut o, "role", json!(e.role));
                    Some(Value::Object(o))
                }
                _ => None,
            })
            .collect(),
    ))
}

pub fn search_log(records: &[Record], f: &LogEventsFilter) -> Result<Value, String> {
    let common = Common {
        start: f.start_timestamp,
        end: f.end_timestamp,
        username: &f.username,
        ip: &f.ip,
        role: &f.role,
        limit: f.limit,
        from_id: &f.from_id,
        ascending: f.order == 1,
    };
    let rows = page(records, &common, |event| match event {
        Event::Log(e)
            if (f.events.is_empty() || f.events.contains(&e.event))
                && (f.protocols.is_empty() || f.protocols.contains(&e.protocol))
                && f.instance_ids.is_empty() =>
        {
            Some((e.username.as_str(), e.ip.as_str(), e.role.as_str()))
        }
        _ => None,
    })?;
    Ok(Value::Array(
        rows.into_iter()
            .filter_map(|r| match &r.event {
                Event::Log(e) => {
                    let mut o = Map::new();
                    o.insert("id".into(), json!(r.id.to_string()));
                    o.insert("timestamp".into(), json!(e.timestamp));
                    o.insert("event".into(), json!(e.event));
                    for (k, v) in [
                        ("protocol", &e.protocol),
                        ("username", &e.username),
                        ("ip", &e.ip),
                        ("message", &e.message),
                        ("role", &e.role),
                    ] {
                        put(&mut o, k, json!(v));
                    }
                    Some(Value::Object(o))
                }
                _ => None,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::event_line;
    use plexus_proto::sftpgo::{FsEvent, LogEvent};

    fn records() -> Vec<Record> {
        let mut lines = Vec::new();
        for (ts, user) in [(100, "a"), (101, "b"), (101, "a"), (101, "c"), (102, "a")] {
            lines.push(event_line(&Event::Fs(FsEvent {
                timestamp: ts,
                action: "upload".into(),
                username: user.into(),
                fs_provider: 0,
                ..Default::default()
            })));
        }
        lines.push(event_line(&Event::Log(LogEvent {
            timestamp: 100,
            event: 5,
            ..Default::default()
        })));
        load(&lines.join("\n")).0
    }

    fn ids(value: &Value) -> Vec<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn paging_across_equal_timestamps_skips_and_repeats_nothing() {
        let records = records();
        for ascending in [true, false] {
            let mut filter = FsEventsFilter {
                limit: 2,
                fs_provider: -1,
                order: i32::from(ascending),
                ..Default::default()
            };
            let mut seen = Vec::new();
            loop {
                let page = search_fs(&records, &filter).unwrap();
                let page_ids = ids(&page);
                seen.extend(page_ids.clone());
                if page_ids.len() < 2 {
                    break;
                }
                filter.from_id = page_ids.last().unwrap().clone();
            }
            let mut sorted = seen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 5, "ascending {ascending}: {seen:?}");
            assert_eq!(seen.len(), 5);
        }
    }

    #[test]
    fn filters_limits_and_output_shape() {
        let records = records();
        let a = search_fs(
            &records,
            &FsEventsFilter {
                limit: 10,
                username: "a".into(),
                fs_provider: -1,
                order: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ids(&a), ["1", "3", "5"]);
        let first = &a.as_array().unwrap()[0];
        assert!(
            first.get("ip").is_none(),
            "empty fields are omitted: {first}"
        );
        assert_eq!(first["fs_provider"], 0);
        assert!(search_fs(
            &records,
            &FsEventsFilter {
                limit: 0,
                ..Default::default()
            }
        )
        .is_err());
        let logs = search_log(
            &records,
            &LogEventsFilter {
                limit: 5,
                events: vec![5],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ids(&logs), ["6"]);
        let s3 = search_fs(
            &records,
            &FsEventsFilter {
                limit: 5,
                fs_provider: 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(s3.as_array().unwrap().is_empty());
    }

    fn line(ts: i64, user: &str) -> String {
        event_line(&Event::Fs(FsEvent {
            timestamp: ts,
            action: "upload".into(),
            username: user.into(),
            ..Default::default()
        })) + "\n"
    }

    fn store_ids(store: &Store) -> Vec<u64> {
        store.records().iter().map(|r| r.id).collect()
    }

    #[test]
    fn the_store_reads_only_what_was_appended() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut store = Store::default();
        assert_eq!(store.refresh(&path).unwrap(), 0, "a missing file is empty");
        assert!(store.records().is_empty());

        let mut file = File::create(&path).unwrap();
        write!(file, "{}\nnot json\n{}", line(1, "a"), line(2, "b")).unwrap();
        assert_eq!(store.refresh(&path).unwrap(), 1, "one unreadable line");
        assert_eq!(store_ids(&store), [1, 4]);
        // Half a line waits for its newline; the ids go on from the last line.
        let next = line(3, "c");
        let (head, tail) = next.split_at(10);
        write!(file, "{head}").unwrap();
        store.refresh(&path).unwrap();
        assert_eq!(store_ids(&store), [1, 4]);
        write!(file, "{tail}").unwrap();
        store.refresh(&path).unwrap();
        assert_eq!(store_ids(&store), [1, 4, 5]);
        assert_eq!(store_ids(&store), {
            let text = std::fs::read_to_string(&path).unwrap();
            load(&text).0.iter().map(|r| r.id).collect::<Vec<_>>()
        });
        // Replaced by a new file: read again from the start.
        let replacement = dir.path().join("new.jsonl");
        std::fs::write(&replacement, line(9, "z")).unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        store.refresh(&path).unwrap();
        assert_eq!(store_ids(&store), [1]);
        assert_eq!(store.records()[0].event.timestamp_ns(), 9);
        // Truncated in place: the same.
        File::create(&path).unwrap();
        store.refresh(&path).unwrap();
        assert!(store.records().is_empty());
    }

    #[test]
    fn limits_outside_1_to_1000_and_bad_ids_are_refused() {
        let records = records();
        for limit in [-1, 0, 1001] {
            let err = search_fs(
                &records,
                &FsEventsFilter {
                    limit,
                    ..Default::default()
                },
            )
            .unwrap_err();
            assert!(err.contains("limit"), "{err}");
        }
        let err = search_log(
            &records,
            &LogEventsFilter {
                limit: 1,
                from_id: "x".into(),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.contains("from_id"), "{err}");
        // An id no longer in the file pages by id alone.
        let rest = search_fs(
            &records,
            &FsEventsFilter {
                limit: 10,
                fs_provider: -1,
                order: 1,
                from_id: "99".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(ids(&rest).is_empty());
    }
}
