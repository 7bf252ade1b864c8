//! The event store database shared by `plexus-eventstore` (which writes it)
//! and `plexus-eventsearch` (which reads it).
//!
//! Both plugins must agree on one layout, and that layout must be the one
//! SFTPGo's Go `sftpgo-plugin-eventstore` creates, so a database written by
//! the Go plugin keeps working and vice versa: the same tables, columns,
//! index names and the gormigrate `migrations` bookkeeping table. Keeping
//! schema, ids, inserts and queries in one crate keeps the two in step.
//!
//! Drivers: PostgreSQL, MySQL/MariaDB (as the Go plugin) and SQLite (the
//! embedded default of Plexus). sqlx is used without its compile-time
//! macros; every query is built at run time with bound parameters.

pub mod content_id;
mod db;
mod error;
pub mod id;
mod insert;
mod retention;
mod row;
mod schema;
mod search;
mod sql;
mod writer;

pub use db::{Database, Driver};
pub use error::DbError;
pub use insert::{Ids, NewEvent};
pub use retention::purge_older_than;
pub use schema::{migrate, reset, GO_MIGRATIONS};
pub use search::{search_fs, search_log, search_provider, MAX_LIMIT};
pub use writer::{Writer, MAX_BATCH};
