//! One INSERT per event, every column written (empty strings and zeros as
//! they are, as the Go plugin's ORM does), plus the plugin's instance id and
//! an id: a fresh time-sortable one (the Go plugin's), or one derived from
//! the content, with the insert skipped when that id is stored already
//! ([`Ids::FromContent`]). The fs event's `metadata` map is not stored, as
//! in the Go plugin.

use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};

use crate::content_id::content_id;
use crate::id::new_id;
use crate::schema::{FS_TABLE, LOG_TABLE, PROVIDER_TABLE};
use crate::sql::{ts, Param, Sql};
use crate::Driver;

/// An event to store.
#[derive(Debug, Clone)]
pub enum NewEvent {
    Fs(Box<FsEvent>),
    Provider(ProviderEvent),
    Log(LogEvent),
}

/// How each row gets its id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ids {
    /// A fresh xid per insert, as the Go plugin: an event delivered twice
    /// is stored twice.
    #[default]
    Generated,
    /// The event's content id ([`content_id`]); an event whose id is
    /// stored already is not inserted again, so every redelivery is
    /// harmless.
    FromContent,
}

fn text(value: &str) -> Param {
    Param::Text(value.to_owned())
}

/// The INSERT statement for `event`, its id chosen by `ids`.
pub(crate) fn insert_sql(driver: Driver, event: &NewEvent, instance_id: &str, ids: Ids) -> Sql {
    let (table, columns, mut values): (&str, &[&str], Vec<Param>) = match event {
        NewEvent::Fs(e) => (
            FS_TABLE,
            &[
                "action",
                "username",
                "fs_path",
                "fs_target_path",
                "virtual_path",
                "virtual_target_path",
                "ssh_cmd",
                "file_size",
                "elapsed",
                "status",
                "protocol",
                "session_id",
                "ip",
                "fs_provider",
                "bucket",
                "endpoint",
                "open_flags",
                "role",
            ],
            vec![
                Param::I64(e.timestamp),
                text(&e.action),
                text(&e.username),
                text(&e.fs_path),
                text(&e.fs_target_path),
                text(&e.virtual_path),
                text(&e.virtual_target_path),
                text(&e.ssh_cmd),
                Param::I64(e.file_size),
                Param::I64(e.elapsed),
                Param::I32(e.status),
                text(&e.protocol),
                text(&e.session_id),
                text(&e.ip),
                Param::I32(e.fs_provider),
                text(&e.bucket),
                text(&e.endpoint),
                Param::I32(e.open_flags),
                text(&e.role),
            ],
        ),
        NewEvent::Provider(e) => (
            PROVIDER_TABLE,
            &[
                "action",
                "username",
                "ip",
                "object_type",
                "object_name",
                "object_data",
                "role",
            ],
            vec![
                Param::I64(e.timestamp),
                text(&e.action),
                text(&e.username),
                text(&e.ip),
                text(&e.object_type),
                text(&e.object_name),
                Param::Bytes(e.object_data.clone()),
                text(&e.role),
            ],
        ),
        NewEvent::Log(e) => (
            LOG_TABLE,
            &["event", "protocol", "username", "ip", "message", "role"],
            vec![
                Param::I64(e.timestamp),
                Param::I32(e.event),
                text(&e.protocol),
                text(&e.username),
                text(&e.ip),
                text(&e.message),
                text(&e.role),
            ],
        ),
    };
    let id = match ids {
        Ids::Generated => new_id(),
        Ids::FromContent => content_id(event),
    };
    values.insert(0, Param::Text(id));
    values.push(text(instance_id));
    let mut sql = Sql::new(driver);
    sql.push(&format!(
        "INSERT INTO {table} (id, {}, {}, instance_id) VALUES ",
        ts(driver),
        columns.join(", ")
    ));
    sql.list(values);
    if ids == Ids::FromContent {
        // Only a duplicate id is skipped; every other error still fails
        // the insert (MySQL's INSERT IGNORE would hide truncations too).
        sql.push(match driver {
            Driver::MySql => " ON DUPLICATE KEY UPDATE id = id",
            Driver::Sqlite | Driver::Postgres => " ON CONFLICT (id) DO NOTHING",
        });
    }
    sql
}
