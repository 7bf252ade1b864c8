//! Retention: deleting events older than a cutoff in bounded batches, so a
//! first cleanup of a large table never holds one huge transaction or lock
//! (the Go plugin issues one unbounded DELETE per table).

use crate::db::on_pool;
use crate::schema::{FS_TABLE, LOG_TABLE, PROVIDER_TABLE};
use crate::sql::{bound, ts, Param, Sql};
use crate::{Database, DbError, Driver};

/// Rows deleted per statement.
pub const PURGE_BATCH: i64 = 5000;

/// Deletes every event with `timestamp < cutoff_ns` from the three tables;
/// returns how many rows went.
pub async fn purge_older_than(db: &Database, cutoff_ns: i64) -> Result<u64, DbError> {
    let driver = db.driver();
    let mut total = 0;
    for table in [FS_TABLE, PROVIDER_TABLE, LOG_TABLE] {
        loop {
            let mut sql = Sql::new(driver);
            let column = ts(driver);
            if driver == Driver::MySql {
                sql.push(&format!("DELETE FROM {table} WHERE {column} < "))
                    .arg(Param::I64(cutoff_ns))
                    .push(&format!(" LIMIT {PURGE_BATCH}"));
            } else {
                sql.push(&format!(
                    "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {column} < "
                ))
                .arg(Param::I64(cutoff_ns))
                .push(&format!(" LIMIT {PURGE_BATCH})"));
            }
            let deleted = on_pool!(db, pool => bound!(&sql).execute(pool).await?.rows_affected());
            total += deleted;
            if deleted < PURGE_BATCH as u64 {
                break;
            }
        }
    }
    Ok(total)
}
