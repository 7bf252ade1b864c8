//! The three searches: SFTPGo's filters turned into one parameterised
//! SELECT each, and the rows into the JSON array SFTPGo passes verbatim to
//! its REST clients (same keys, same omit-when-empty rules, base64
//! `object_data`, integer ns timestamps as the Go plugin).
//!
//! Paging differs from the Go plugin on purpose: the caller passes the last
//! row's id as `from_id` and its timestamp as `start_timestamp` (ASC) or
//! `end_timestamp` (DESC). The Go plugin then filters `timestamp >= T AND
//! id > ID`, which skips rows whose id sorts before ID at a later timestamp
//! (late inserts, several nodes). Here the boundary is the true tuple
//! comparison `(timestamp, id) > (T, ID)`, matching the `ORDER BY timestamp,
//! id`, so no row is skipped or repeated. Without a boundary timestamp
//! `from_id` alone means `id > ID` (or `<`), as in the Go plugin.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use plexus_proto::sftpgo::{FsEventsFilter, LogEventsFilter, ProviderEventsFilter};
use serde_json::{Map, Value};

use crate::db::on_pool;
use crate::row::{bytes, int32, int64, text};
use crate::schema::{FS_TABLE, LOG_TABLE, PROVIDER_TABLE};
use crate::sql::{bound, ts, Param, Sql};
use crate::{Database, DbError};

/// The largest page SFTPGo's REST API allows.
pub const MAX_LIMIT: i32 = 1000;

/// The filter fields the three searches share.
struct Common<'a> {
    start: i64,
    end: i64,
    username: &'a str,
    ip: &'a str,
    instance_ids: &'a [String],
    role: &'a str,
    limit: i32,
    from_id: &'a str,
    ascending: bool,
}

fn check_limit(limit: i32) -> Result<(), DbError> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(DbError::InvalidArgument(format!(
            "please specify a limit between 1 and {MAX_LIMIT} (got {limit})"
        )))
    }
}

fn texts(values: &[String]) -> impl Iterator<Item = Param> + '_ {
    values.iter().map(|v| Param::Text(v.clone()))
}

/// `SELECT <columns> FROM <table> WHERE <common filters>`; the caller adds
/// its own predicates, then [`finish`].
fn start(sql: &mut Sql, table: &str, columns: &str, c: &Common<'_>) {
    let t = ts(sql.driver);
    sql.push(&format!("SELECT {columns} FROM {table} WHERE 1 = 1"));
    if c.start > 0 {
        sql.push(&format!(" AND {t} >= ")).arg(Param::I64(c.start));
    }
    if c.end > 0 {
        sql.push(&format!(" AND {t} <= ")).arg(Param::I64(c.end));
    }
    if !c.username.is_empty() {
        sql.push(" AND username = ")
            .arg(Param::Text(c.username.into()));
    }
    if !c.ip.is_empty() {
        sql.push(" AND ip = ").arg(Param::Text(c.ip.into()));
    }
    if !c.instance_ids.is_empty() {
        sql.push(" AND instance_id IN ").list(texts(c.instance_ids));
    }
    if !c.role.is_empty() {
        sql.push(" AND role = ").arg(Param::Text(c.role.into()));
    }
}

/// Paging boundary, order and limit.
fn finish(sql: &mut Sql, c: &Common<'_>) {
    let t = ts(sql.driver);
    let (cmp, boundary, direction) = if c.ascending {
        (">", c.start, "ASC")
    } else {
        ("<", c.end, "DESC")
    };
    if !c.from_id.is_empty() {
        let id = Param::Text(c.from_id.into());
        if boundary > 0 {
            sql.push(&format!(" AND ({t} {cmp} "))
                .arg(Param::I64(boundary))
                .push(&format!(" OR ({t} = "))
                .arg(Param::I64(boundary))
                .push(&format!(" AND id {cmp} "))
                .arg(id)
                .push("))");
        } else {
            sql.push(&format!(" AND id {cmp} ")).arg(id);
        }
    }
    sql.push(&format!(
        " ORDER BY {t} {direction}, id {direction} LIMIT {}",
        c.limit
    ));
}

fn put_text(object: &mut Map<String, Value>, key: &str, value: String, always: bool) {
    if always || !value.is_empty() {
        object.insert(key.into(), Value::String(value));
    }
}

fn put_int(object: &mut Map<String, Value>, key: &str, value: i64, always: bool) {
    if always || value != 0 {
        object.insert(key.into(), Value::from(value));
    }
}

fn answer(objects: Vec<Value>) -> Vec<u8> {
    Value::Array(objects).to_string().into_bytes()
}

/// Decodes every row with `$decode` (a block using `row`) into JSON.
macro_rules! fetch_json {
    ($db:expr, $sql:expr, |$row:ident| $decode:block) => {
        on_pool!($db, pool => {
            let rows = bound!($sql).fetch_all(pool).await?;
            let mut objects = Vec::with_capacity(rows.len());
            for $row in &rows {
                let mut o = Map::new();
                {
                    let $row = (&mut o, $row);
                    $decode
                }
                objects.push(Value::Object(o));
            }
            objects
        })
    };
}

/// Searches filesystem events.
pub async fn search_fs(db: &Database, f: &FsEventsFilter) -> Result<Vec<u8>, DbError> {
    check_limit(f.limit)?;
    let c = Common {
        start: f.start_timestamp,
        end: f.end_timestamp,
        username: &f.username,
        ip: &f.ip,
        instance_ids: &f.instance_ids,
        role: &f.role,
        limit: f.limit,
        from_id: &f.from_id,
        ascending: f.order == 1,
    };
    let mut sql = Sql::new(db.driver());
    let t = ts(db.driver());
    start(
        &mut sql,
        FS_TABLE,
        &format!(
            "id, {t} AS ts, action, username, fs_path, fs_target_path, virtual_path, \
             virtual_target_path, ssh_cmd, file_size, elapsed, status, protocol, session_id, \
             ip, fs_provider, bucket, endpoint, open_flags, role, instance_id"
        ),
        &c,
    );
    if !f.actions.is_empty() {
        sql.push(" AND action IN ").list(texts(&f.actions));
    }
    if !f.ssh_cmd.is_empty() {
        sql.push(" AND ssh_cmd = ")
            .arg(Param::Text(f.ssh_cmd.clone()));
    }
    if !f.protocols.is_empty() {
        sql.push(" AND protocol IN ").list(texts(&f.protocols));
    }
    if !f.statuses.is_empty() {
        sql.push(" AND status IN ")
            .list(f.statuses.iter().map(|s| Param::I32(*s)));
    }
    if f.fs_provider >= 0 {
        sql.push(" AND fs_provider = ")
            .arg(Param::I32(f.fs_provider));
    }
    if !f.bucket.is_empty() {
        sql.push(" AND bucket = ")
            .arg(Param::Text(f.bucket.clone()));
    }
    if !f.endpoint.is_empty() {
        sql.push(" AND endpoint = ")
            .arg(Param::Text(f.endpoint.clone()));
    }
    finish(&mut sql, &c);
    let objects = fetch_json!(db, &sql, |row| {
        let (o, r) = row;
        put_text(o, "id", text(r, "id")?, true);
        put_int(o, "timestamp", int64(r, "ts")?, true);
        put_text(o, "action", text(r, "action")?, true);
        put_text(o, "username", text(r, "username")?, true);
        put_text(o, "fs_path", text(r, "fs_path")?, true);
        put_text(o, "fs_target_path", text(r, "fs_target_path")?, false);
        put_text(o, "virtual_path", text(r, "virtual_path")?, true);
        put_text(
            o,
            "virtual_target_path",
            text(r, "virtual_target_path")?,
            false,
        );
        put_text(o, "ssh_cmd", text(r, "ssh_cmd")?, false);
        put_int(o, "file_size", int64(r, "file_size")?, false);
        put_int(o, "elapsed", int64(r, "elapsed")?, false);
        put_int(o, "status", i64::from(int32(r, "status")?), true);
        put_text(o, "protocol", text(r, "protocol")?, true);
        put_text(o, "session_id", text(r, "session_id")?, true);
        put_text(o, "ip", text(r, "ip")?, false);
        put_int(o, "fs_provider", i64::from(int32(r, "fs_provider")?), true);
        put_text(o, "bucket", text(r, "bucket")?, false);
        put_text(o, "endpoint", text(r, "endpoint")?, false);
        put_int(o, "open_flags", i64::from(int32(r, "open_flags")?), false);
        put_text(o, "role", text(r, "role")?, false);
        put_text(o, "instance_id", text(r, "instance_id")?, false);
    });
    Ok(answer(objects))
}

/// Searches provider events.
pub async fn search_provider(db: &Database, f: &ProviderEventsFilter) -> Result<Vec<u8>, DbError> {
    check_limit(f.limit)?;
    let c = Common {
        start: f.start_timestamp,
        end: f.end_timestamp,
        username: &f.username,
        ip: &f.ip,
        instance_ids: &f.instance_ids,
        role: &f.role,
        limit: f.limit,
        from_id: &f.from_id,
        ascending: f.order == 1,
    };
    let mut sql = Sql::new(db.driver());
    let t = ts(db.driver());
    let data = if f.omit_object_data {
        ""
    } else {
        ", object_data"
    };
    start(
        &mut sql,
        PROVIDER_TABLE,
        &format!(
            "id, {t} AS ts, action, username, ip, object_type, object_name, role, \
             instance_id{data}"
        ),
        &c,
    );
    if !f.actions.is_empty() {
        sql.push(" AND action IN ").list(texts(&f.actions));
    }
    if !f.object_types.is_empty() {
        sql.push(" AND object_type IN ")
            .list(texts(&f.object_types));
    }
    if !f.object_name.is_empty() {
        sql.push(" AND object_name = ")
            .arg(Param::Text(f.object_name.clone()));
    }
    finish(&mut sql, &c);
    let omit = f.omit_object_data;
    let objects = fetch_json!(db, &sql, |row| {
        let (o, r) = row;
        put_text(o, "id", text(r, "id")?, true);
        put_int(o, "timestamp", int64(r, "ts")?, true);
        put_text(o, "action", text(r, "action")?, true);
        put_text(o, "username", text(r, "username")?, true);
        put_text(o, "ip", text(r, "ip")?, false);
        put_text(o, "object_type", text(r, "object_type")?, true);
        put_text(o, "object_name", text(r, "object_name")?, true);
        if !omit {
            let data = bytes(r, "object_data")?;
            if !data.is_empty() {
                o.insert("object_data".into(), Value::String(STANDARD.encode(data)));
            }
        }
        put_text(o, "role", text(r, "role")?, false);
        put_text(o, "instance_id", text(r, "instance_id")?, false);
    });
    Ok(answer(objects))
}

/// Searches log events.
pub async fn search_log(db: &Database, f: &LogEventsFilter) -> Result<Vec<u8>, DbError> {
    check_limit(f.limit)?;
    let c = Common {
        start: f.start_timestamp,
        end: f.end_timestamp,
        username: &f.username,
        ip: &f.ip,
        instance_ids: &f.instance_ids,
        role: &f.role,
        limit: f.limit,
        from_id: &f.from_id,
        ascending: f.order == 1,
    };
    let mut sql = Sql::new(db.driver());
    let t = ts(db.driver());
    start(
        &mut sql,
        LOG_TABLE,
        &format!("id, {t} AS ts, event, protocol, username, ip, message, role, instance_id"),
        &c,
    );
    if !f.events.is_empty() {
        sql.push(" AND event IN ")
            .list(f.events.iter().map(|e| Param::I32(*e)));
    }
    if !f.protocols.is_empty() {
        sql.push(" AND protocol IN ").list(texts(&f.protocols));
    }
    finish(&mut sql, &c);
    let objects = fetch_json!(db, &sql, |row| {
        let (o, r) = row;
        put_text(o, "id", text(r, "id")?, true);
        put_int(o, "timestamp", int64(r, "ts")?, true);
        put_int(o, "event", i64::from(int32(r, "event")?), true);
        put_text(o, "protocol", text(r, "protocol")?, false);
        put_text(o, "username", text(r, "username")?, false);
        put_text(o, "ip", text(r, "ip")?, false);
        put_text(o, "message", text(r, "message")?, false);
        put_text(o, "role", text(r, "role")?, false);
        put_text(o, "instance_id", text(r, "instance_id")?, false);
    });
    Ok(answer(objects))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_1_to_1000_are_refused() {
        assert!(check_limit(0).is_err());
        assert!(check_limit(-1).is_err());
        assert!(check_limit(1001).is_err());
        assert!(check_limit(1).is_ok() && check_limit(1000).is_ok());
    }
}
