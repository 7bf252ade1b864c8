//! One INSERT per event, every column written (empty strings and zeros as
//! they are, as the Go plugin's ORM does), plus the plugin's instance id and
//! a fresh time-sortable id. The fs event's `metadata` map is not stored,
//! as in the Go plugin.

use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};

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

fn text(value: &str) -> Param {
    Param::Text(value.to_owned())
}

/// The INSERT statement for `event`, with a new id.
pub(crate) fn insert_sql(driver: Driver, event: &NewEvent, instance_id: &str) -> Sql {
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
    values.insert(0, Param::Text(new_id()));
    values.push(text(instance_id));
    let mut sql = Sql::new(driver);
    sql.push(&format!(
        "INSERT INTO {table} (id, {}, {}, instance_id) VALUES ",
        ts(driver),
        columns.join(", ")
    ));
    sql.list(values);
    sql
}
