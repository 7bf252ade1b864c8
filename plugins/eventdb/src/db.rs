//! Drivers and connection pools. One enum over the three sqlx pools instead
//! of `sqlx::Any`, so each driver keeps its native types (bytea, longblob).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::DbError;

/// A supported database driver (`--driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Sqlite,
    Postgres,
    MySql,
}

impl FromStr for Driver {
    type Err = DbError;

    fn from_str(name: &str) -> Result<Driver, DbError> {
        match name {
            "sqlite" => Ok(Driver::Sqlite),
            "postgres" | "postgresql" => Ok(Driver::Postgres),
            "mysql" | "mariadb" => Ok(Driver::MySql),
            other => Err(DbError::InvalidArgument(format!(
                "unsupported database driver {other:?}: use sqlite, postgres or mysql"
            ))),
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Driver::Sqlite => "sqlite",
            Driver::Postgres => "postgres",
            Driver::MySql => "mysql",
        })
    }
}

/// A connection pool of one of the drivers.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of each driver.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Database::Sqlite($pool) => $body,
            $crate::Database::Postgres($pool) => $body,
            $crate::Database::MySql($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Database {
    /// Connects and pings. `pool_size` 0 means the Go plugin's "unlimited"
    /// (here: 32 connections); SQLite always uses one writer connection
    /// pool of at most `pool_size` (default 4) in WAL mode.
    pub async fn connect(driver: Driver, dsn: &str, pool_size: u32) -> Result<Database, DbError> {
        if dsn.trim().is_empty() {
            return Err(DbError::InvalidArgument("the DSN is empty".into()));
        }
        let max = if pool_size == 0 { 32 } else { pool_size };
        let idle = Duration::from_secs(240);
        let lifetime = Duration::from_secs(120);
        let db = match driver {
            Driver::Sqlite => {
                let options = if dsn.starts_with("sqlite:") {
                    SqliteConnectOptions::from_str(dsn)?
                } else {
                    SqliteConnectOptions::new().filename(dsn)
                }
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(20));
                let max = if pool_size == 0 { 4 } else { pool_size };
                ping(&options).await?;
                Database::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_with(options)
                        .await?,
                )
            }
            Driver::Postgres => {
                let options = PgConnectOptions::from_str(dsn)?;
                ping(&options).await?;
                Database::Postgres(
                    PgPoolOptions::new()
                        .max_connections(max)
                        .idle_timeout(idle)
                        .max_lifetime(lifetime)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_with(options)
                        .await?,
                )
            }
            Driver::MySql => {
                let options = MySqlConnectOptions::from_str(&mysql_url(dsn))?;
                ping(&options).await?;
                Database::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(max)
                        .idle_timeout(idle)
                        .max_lifetime(lifetime)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_with(options)
                        .await?,
                )
            }
        };
        Ok(db)
    }

    pub fn driver(&self) -> Driver {
        match self {
            Database::Sqlite(_) => Driver::Sqlite,
            Database::Postgres(_) => Driver::Postgres,
            Database::MySql(_) => Driver::MySql,
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// One direct connection first: a pool retries a refused connection until
/// its acquire timeout, a plain connect reports it at once.
async fn ping<O>(options: &O) -> Result<(), DbError>
where
    O: ConnectOptions,
    O::Connection: Sized,
{
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| DbError::Sql(sqlx::Error::PoolTimedOut))??;
    connection.close().await?;
    Ok(())
}

/// Accepts the Go driver's DSN (`user:pass@tcp(host:port)/db?params`), as
/// the Go plugin's users have it, besides sqlx's `mysql://` URL. Go-only
/// parameters (`parseTime`, `charset`, …) are dropped.
fn mysql_url(dsn: &str) -> String {
    if dsn.starts_with("mysql://") || dsn.starts_with("mariadb://") {
        return dsn.to_owned();
    }
    let Some((auth, rest)) = dsn.rsplit_once('@') else {
        return dsn.to_owned();
    };
    let (address, db) = rest.split_once('/').unwrap_or((rest, ""));
    let address = address
        .strip_prefix("tcp(")
        .and_then(|a| a.strip_suffix(')'))
        .unwrap_or(address);
    let db = db.split('?').next().unwrap_or("");
    format!("mysql://{auth}@{address}/{db}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mysql_dsn_becomes_a_url() {
        assert_eq!(
            mysql_url("root:pw@tcp(127.0.0.1:3306)/events?parseTime=true"),
            "mysql://root:pw@127.0.0.1:3306/events"
        );
        assert_eq!(mysql_url("mysql://root@h/db"), "mysql://root@h/db");
    }

    #[test]
    fn unknown_driver_is_refused() {
        assert!("oracle".parse::<Driver>().is_err());
        assert_eq!("mysql".parse::<Driver>().ok(), Some(Driver::MySql));
    }
}
