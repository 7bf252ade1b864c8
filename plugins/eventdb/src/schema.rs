//! The schema and its migrations.
//!
//! The layout is the final state of the Go plugin's seven gormigrate
//! migrations (same tables, columns, types and index names), and the
//! bookkeeping is gormigrate's own `migrations(id)` table holding "1".."7".
//! So a database made by the Go plugin is adopted as it is, and a database
//! made here still works with the Go plugin. Migrating is idempotent:
//! tables and indexes are created only when missing and the ids recorded
//! once. A database holding migration ids this binary does not know (a
//! newer schema) or only some of "1".."7" (an old Go plugin that never
//! finished migrating) is refused with a clear error instead of guessed at.

use std::collections::BTreeSet;

use sqlx::{Executor, Row};

use crate::db::on_pool;
use crate::sql::ts;
use crate::{Database, DbError, Driver};

/// The gormigrate migration ids of the Go plugin's final schema.
pub const GO_MIGRATIONS: [&str; 7] = ["1", "2", "3", "4", "5", "6", "7"];

pub(crate) const FS_TABLE: &str = "eventstore_fs_events";
pub(crate) const PROVIDER_TABLE: &str = "eventstore_provider_events";
pub(crate) const LOG_TABLE: &str = "eventstore_log_events";

/// (index name, column) per table.
const FS_INDEXES: &[(&str, &str)] = &[
    ("idx_fs_events_timestamp", "timestamp"),
    ("idx_fs_events_action", "action"),
    ("idx_fs_events_username", "username"),
    ("idx_fs_events_ssh_cmd", "ssh_cmd"),
    ("idx_fs_events_status", "status"),
    ("idx_fs_events_protocol", "protocol"),
    ("idx_fs_events_ip", "ip"),
    ("idx_fs_events_provider", "fs_provider"),
    ("idx_fs_events_bucket", "bucket"),
    ("idx_fs_events_endpoint", "endpoint"),
    ("idx_fs_events_role", "role"),
    ("idx_fs_events_instance_id", "instance_id"),
];
const PROVIDER_INDEXES: &[(&str, &str)] = &[
    ("idx_provider_events__timestamp", "timestamp"),
    ("idx_provider_events_action", "action"),
    ("idx_provider_events_username", "username"),
    ("idx_provider_events_ip", "ip"),
    ("idx_provider_events_object_type", "object_type"),
    ("idx_provider_events_object_name", "object_name"),
    ("idx_provider_events_role", "role"),
    ("idx_provider_events_instance_id", "instance_id"),
];
const LOG_INDEXES: &[(&str, &str)] = &[
    ("idx_log_events_timestamp", "timestamp"),
    ("idx_log_events_event", "event"),
    ("idx_log_events_protocol", "protocol"),
    ("idx_log_events_username", "username"),
    ("idx_log_events_ip", "ip"),
    ("idx_log_events_role", "role"),
    ("idx_log_events_instance_id", "instance_id"),
];

/// Column types that differ per dialect.
struct Types {
    text: &'static str,
    blob: &'static str,
    int: &'static str,
}

fn types(driver: Driver) -> Types {
    match driver {
        Driver::Postgres => Types {
            text: "text",
            blob: "bytea",
            int: "integer",
        },
        Driver::MySql => Types {
            text: "longtext",
            blob: "longblob",
            int: "int",
        },
        Driver::Sqlite => Types {
            text: "text",
            blob: "blob",
            int: "integer",
        },
    }
}

fn columns(table: &str, driver: Driver) -> String {
    let t = types(driver);
    let (text, blob, int, ts) = (t.text, t.blob, t.int, ts(driver));
    match table {
        FS_TABLE => format!(
            "id varchar(36) NOT NULL PRIMARY KEY, {ts} bigint NOT NULL, \
             action varchar(60) NOT NULL, username varchar(255) NOT NULL, \
             fs_path {text}, fs_target_path {text}, virtual_path {text}, \
             virtual_target_path {text}, ssh_cmd varchar(60), file_size bigint, \
             elapsed bigint, status {int}, protocol varchar(30) NOT NULL, \
             session_id varchar(512), ip varchar(50), fs_provider {int}, \
             bucket varchar(512), endpoint varchar(512), open_flags {int}, \
             role varchar(255), instance_id varchar(60)"
        ),
        PROVIDER_TABLE => format!(
            "id varchar(36) NOT NULL PRIMARY KEY, {ts} bigint NOT NULL, \
             action varchar(60) NOT NULL, username varchar(255) NOT NULL, \
             ip varchar(50), object_type varchar(50), object_name varchar(255), \
             object_data {blob}, role varchar(255), instance_id varchar(60)"
        ),
        _ => format!(
            "id varchar(36) NOT NULL PRIMARY KEY, {ts} bigint NOT NULL, \
             event {int} NOT NULL, protocol varchar(30), username varchar(255), \
             ip varchar(50), message {text}, role varchar(255), instance_id varchar(60)"
        ),
    }
}

fn quote(column: &str, driver: Driver) -> String {
    if column == "timestamp" {
        ts(driver).to_owned()
    } else {
        column.to_owned()
    }
}

/// The DDL creating the three tables and their indexes, when missing.
fn create_statements(driver: Driver) -> Vec<String> {
    let mut statements = Vec::new();
    for (table, indexes) in [
        (FS_TABLE, FS_INDEXES),
        (PROVIDER_TABLE, PROVIDER_INDEXES),
        (LOG_TABLE, LOG_INDEXES),
    ] {
        let columns = columns(table, driver);
        if driver == Driver::MySql {
            // MySQL has no CREATE INDEX IF NOT EXISTS: indexes go inline.
            let inline: Vec<String> = indexes
                .iter()
                .map(|(name, column)| format!("INDEX {name} ({})", quote(column, driver)))
                .collect();
            statements.push(format!(
                "CREATE TABLE IF NOT EXISTS {table} ({columns}, {}) \
                 DEFAULT CHARSET=utf8mb4",
                inline.join(", ")
            ));
        } else {
            statements.push(format!("CREATE TABLE IF NOT EXISTS {table} ({columns})"));
            for (name, column) in indexes {
                statements.push(format!(
                    "CREATE INDEX IF NOT EXISTS {name} ON {table} ({})",
                    quote(column, driver)
                ));
            }
        }
    }
    statements
}

/// Brings the database to the current schema; safe to run again.
pub async fn migrate(db: &Database) -> Result<(), DbError> {
    let driver = db.driver();
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        if driver == Driver::Postgres {
            // Serialise concurrent migrators (several nodes starting at once).
            sqlx::query("SELECT pg_advisory_xact_lock(201, 1)")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS migrations (id varchar(255) NOT NULL PRIMARY KEY)")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT id FROM migrations").fetch_all(&mut *tx).await?;
        let mut done = BTreeSet::new();
        for row in rows {
            done.insert(row.try_get::<String, _>(0)?);
        }
        check_history(&done)?;
        if done.is_empty() {
            for statement in create_statements(driver) {
                sqlx::query(statement.as_str()).execute(&mut *tx).await?;
            }
            for id in GO_MIGRATIONS {
                sqlx::query(if driver == Driver::Postgres {
                    "INSERT INTO migrations (id) VALUES ($1)"
                } else {
                    "INSERT INTO migrations (id) VALUES (?)"
                })
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    })
}

/// Accepts no migrations yet or exactly the Go plugin's final set.
fn check_history(done: &BTreeSet<String>) -> Result<(), DbError> {
    if let Some(unknown) = done.iter().find(|id| !GO_MIGRATIONS.contains(&id.as_str())) {
        return Err(DbError::Schema(format!(
            "the database holds migration {unknown:?}, unknown to this version: \
             it was migrated by a newer eventstore"
        )));
    }
    if !done.is_empty() && done.len() < GO_MIGRATIONS.len() {
        let last = done.iter().last().cloned().unwrap_or_default();
        return Err(DbError::Schema(format!(
            "the database is at the Go plugin's migration {last}: run \
             `sftpgo-plugin-eventstore migrate` (v1.0.10 or later) once to bring it to 7"
        )));
    }
    Ok(())
}

/// Drops the three tables and the migrations table.
pub async fn reset(db: &Database) -> Result<(), DbError> {
    on_pool!(db, pool => {
        for table in [LOG_TABLE, PROVIDER_TABLE, FS_TABLE, "migrations"] {
            pool.execute(format!("DROP TABLE IF EXISTS {table}").as_str()).await?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_checks() {
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(check_history(&set(&[])).is_ok());
        assert!(check_history(&set(&GO_MIGRATIONS)).is_ok());
        assert!(check_history(&set(&["1", "2"])).is_err());
        assert!(check_history(&set(&["1", "2", "3", "4", "5", "6", "7", "8"])).is_err());
    }
}
