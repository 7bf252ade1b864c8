//! `plexus-eventstore` on each driver: migrations on an empty database and
//! again (idempotent), adopting a database laid out by the Go plugin,
//! retention deleting exactly the old rows of the three tables, concurrent
//! RPCs batched by the writer and all stored, and bad input (unknown
//! driver, unreachable DSN) failing the start with the plugin's message.

mod common;

use common::{start_plugin, start_store, Backend, TestDb};
use plexus_eventdb::{migrate, purge_older_than, search_fs, Database, GO_MIGRATIONS};
use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::{FsEvent, FsEventsFilter, LogEvent, ProviderEvent};
use plexus_proto::PluginKind;
use serde_json::Value;
use sqlx::Row;

async fn count(db: &Database, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        Database::Sqlite(p) => sqlx::query(&sql)
            .fetch_one(p)
            .await
            .and_then(|r| r.try_get(0)),
        Database::Postgres(p) => sqlx::query(&sql)
            .fetch_one(p)
            .await
            .and_then(|r| r.try_get(0)),
        Database::MySql(p) => sqlx::query(&sql)
            .fetch_one(p)
            .await
            .and_then(|r| r.try_get(0)),
    }
    .unwrap_or_else(|err| panic!("count {table}: {err}"))
}

async fn migration_ids(db: &Database) -> Vec<String> {
    let sql = "SELECT id FROM migrations ORDER BY id";
    let rows = match db {
        Database::Sqlite(p) => sqlx::query(sql)
            .fetch_all(p)
            .await
            .map(|r| r.iter().map(|r| r.get::<String, _>(0)).collect()),
        Database::Postgres(p) => sqlx::query(sql)
            .fetch_all(p)
            .await
            .map(|r| r.iter().map(|r| r.get::<String, _>(0)).collect()),
        Database::MySql(p) => sqlx::query(sql)
            .fetch_all(p)
            .await
            .map(|r| r.iter().map(|r| r.get::<String, _>(0)).collect()),
    };
    rows.expect("read migrations")
}

async fn exec(db: &Database, sql: &str) {
    match db {
        Database::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Database::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Database::MySql(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|err| panic!("{sql}: {err}"))
}

const TABLES: [&str; 3] = [
    "eventstore_fs_events",
    "eventstore_provider_events",
    "eventstore_log_events",
];

async fn migrations_and_retention(backend: Backend) {
    let test = TestDb::new(backend).await;
    let db = test.connect().await;
    migrate(&db).await.expect("migrate an empty database");
    migrate(&db).await.expect("migrate again");
    assert_eq!(migration_ids(&db).await, GO_MIGRATIONS.to_vec());
    // The CLI does the same, and stays idempotent.
    let out = std::process::Command::new(plexus_interop::workspace_bin("plexus-eventstore"))
        .args(["migrate", "--driver", test.driver, "--dsn", &test.dsn])
        .env_clear()
        .output()
        .expect("run migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Three old and two new rows in each table, stored through the plugin.
    let store = start_store(&test, &[]).await;
    let mut n = NotifierClient::new(store.channel());
    for ts in [10, 20, 30, 1000, 2000] {
        n.send_fs_event(FsEvent {
            timestamp: ts,
            action: "upload".into(),
            username: "u".into(),
            protocol: "SFTP".into(),
            ..Default::default()
        })
        .await
        .expect("fs");
        n.send_provider_event(ProviderEvent {
            timestamp: ts,
            action: "add".into(),
            username: "u".into(),
            object_type: "user".into(),
            ..Default::default()
        })
        .await
        .expect("provider");
        n.send_log_event(LogEvent {
            timestamp: ts,
            event: 1,
            ..Default::default()
        })
        .await
        .expect("log");
    }
    // Many concurrent RPCs (batched by the writer): all acknowledged, all stored.
    let mut sends = Vec::new();
    for i in 0..200 {
        let mut n = n.clone();
        sends.push(tokio::spawn(async move {
            n.send_log_event(LogEvent {
                timestamp: 5000 + i,
                event: 2,
                ..Default::default()
            })
            .await
        }));
    }
    for send in sends {
        send.await.expect("join").expect("concurrent insert");
    }
    assert_eq!(count(&db, "eventstore_log_events").await, 205);

    let deleted = purge_older_than(&db, 1000).await.expect("purge");
    assert_eq!(deleted, 9, "the three old rows of each table");
    assert_eq!(count(&db, TABLES[0]).await, 2);
    assert_eq!(count(&db, TABLES[1]).await, 2);
    assert_eq!(count(&db, TABLES[2]).await, 202);
    let rows: Vec<Value> = serde_json::from_slice(
        &search_fs(
            &db,
            &FsEventsFilter {
                limit: 10,
                fs_provider: -1,
                order: 1,
                ..Default::default()
            },
        )
        .await
        .expect("search"),
    )
    .expect("JSON");
    let stamps: Vec<i64> = rows
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(stamps, vec![1000, 2000]);

    // reset drops everything; migrate recreates it.
    let out = std::process::Command::new(plexus_interop::workspace_bin("plexus-eventstore"))
        .args([
            "reset",
            "--yes",
            "--driver",
            test.driver,
            "--dsn",
            &test.dsn,
        ])
        .env_clear()
        .output()
        .expect("run reset");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    migrate(&db).await.expect("migrate after reset");
    assert_eq!(count(&db, TABLES[0]).await, 0);

    store.shutdown().await;
    db.close().await;
    test.drop_db().await;
}

/// The DDL gormigrate leaves behind (migration 7), typed per dialect.
fn go_plugin_ddl(backend: Backend) -> Vec<String> {
    let (text, blob, q) = match backend {
        Backend::Postgres => ("text", "bytea", "\""),
        Backend::MariaDb => ("longtext", "longblob", "`"),
        Backend::Sqlite => ("text", "blob", "\""),
    };
    vec![
        "CREATE TABLE migrations (id varchar(255) NOT NULL PRIMARY KEY)".into(),
        format!("CREATE TABLE eventstore_fs_events (id varchar(36) NOT NULL PRIMARY KEY, {q}timestamp{q} bigint NOT NULL, action varchar(60) NOT NULL, username varchar(255) NOT NULL, fs_path {text}, fs_target_path {text}, virtual_path {text}, virtual_target_path {text}, ssh_cmd varchar(60), file_size bigint, status integer, protocol varchar(30) NOT NULL, session_id varchar(512), ip varchar(50), instance_id varchar(60), fs_provider integer, bucket varchar(512), endpoint varchar(512), open_flags integer, role varchar(255), elapsed bigint)"),
        format!("CREATE INDEX idx_fs_events_timestamp ON eventstore_fs_events ({q}timestamp{q})"),
        format!("CREATE TABLE eventstore_provider_events (id varchar(36) NOT NULL PRIMARY KEY, {q}timestamp{q} bigint NOT NULL, action varchar(60) NOT NULL, username varchar(255) NOT NULL, ip varchar(50), object_type varchar(50), object_name varchar(255), object_data {blob}, instance_id varchar(60), role varchar(255))"),
        format!("CREATE TABLE eventstore_log_events (id varchar(36) NOT NULL PRIMARY KEY, {q}timestamp{q} bigint NOT NULL, event integer NOT NULL, protocol varchar(30), username varchar(255), ip varchar(50), message {text}, role varchar(255), instance_id varchar(60))"),
        "INSERT INTO migrations (id) VALUES ('1'), ('2'), ('3'), ('4'), ('5'), ('6'), ('7')".into(),
        // An old row with a UUID id and NULLs in columns added later.
        format!("INSERT INTO eventstore_fs_events (id, {q}timestamp{q}, action, username, protocol) VALUES ('0b7c7f5e-5a3e-4f59-9d59-3c1c0f1e2a11', 42, 'upload', 'old', 'SFTP')"),
    ]
}

async fn adopts_go_database(backend: Backend) {
    let test = TestDb::new(backend).await;
    let db = test.connect().await;
    for statement in go_plugin_ddl(backend) {
        exec(&db, &statement).await;
    }
    migrate(&db).await.expect("adopt the Go plugin's database");
    assert_eq!(migration_ids(&db).await, GO_MIGRATIONS.to_vec());
    let store = start_store(&test, &[]).await;
    let mut n = NotifierClient::new(store.channel());
    n.send_fs_event(FsEvent {
        timestamp: 43,
        action: "download".into(),
        username: "new".into(),
        protocol: "FTP".into(),
        ..Default::default()
    })
    .await
    .expect("store into the adopted database");
    let rows: Vec<Value> = serde_json::from_slice(
        &search_fs(
            &db,
            &FsEventsFilter {
                limit: 10,
                fs_provider: -1,
                order: 1,
                ..Default::default()
            },
        )
        .await
        .expect("search"),
    )
    .expect("JSON");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["username"], "old");
    assert_eq!(rows[0]["status"], 0, "NULL reads as 0: {}", rows[0]);
    assert_eq!(rows[1]["username"], "new");

    // A database half-migrated by an old Go plugin, or by a newer schema: refused.
    exec(&db, "DELETE FROM migrations WHERE id = '7'").await;
    let err = migrate(&db).await.expect_err("partial history");
    assert!(err.to_string().contains("migration 6"), "{err}");
    exec(&db, "INSERT INTO migrations (id) VALUES ('7'), ('8')").await;
    let err = migrate(&db).await.expect_err("newer history");
    assert!(err.to_string().contains("newer"), "{err}");

    store.shutdown().await;
    db.close().await;
    test.drop_db().await;
}

#[tokio::test]
async fn sqlite_migrations_and_retention() {
    migrations_and_retention(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_migrations_and_retention() {
    migrations_and_retention(Backend::Postgres).await;
}

#[tokio::test]
async fn mariadb_migrations_and_retention() {
    migrations_and_retention(Backend::MariaDb).await;
}

#[tokio::test]
async fn sqlite_adopts_go_database() {
    adopts_go_database(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_adopts_go_database() {
    adopts_go_database(Backend::Postgres).await;
}

#[tokio::test]
async fn mariadb_adopts_go_database() {
    adopts_go_database(Backend::MariaDb).await;
}

#[tokio::test]
async fn unknown_driver_fails_the_start() {
    let args = ["serve", "--driver", "oracle", "--dsn", "x"]
        .map(String::from)
        .to_vec();
    let err = start_plugin("plexus-eventstore", PluginKind::Notifier, args)
        .await
        .expect_err("must not start");
    assert!(
        err.to_string().contains("unsupported database driver"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_dsn_fails_the_start() {
    for (driver, dsn) in [
        ("postgres", "postgres://postgres@127.0.0.1:1/none"),
        ("mysql", "mysql://root@127.0.0.1:1/none"),
    ] {
        let args = ["serve", "--driver", driver, "--dsn", dsn]
            .map(String::from)
            .to_vec();
        let err = start_plugin("plexus-eventstore", PluginKind::Notifier, args)
            .await
            .expect_err("must not start");
        let text = err.to_string();
        assert!(text.contains("cannot connect to the"), "{driver}: {text}");
        assert!(
            text.contains("exited") || text.contains("exit"),
            "{driver}: {text}"
        );
    }
    let args = [
        "serve",
        "--driver",
        "sqlite",
        "--dsn",
        "/nonexistent-dir/x/events.db",
    ]
    .map(String::from)
    .to_vec();
    let err = start_plugin("plexus-eventsearch", PluginKind::EventSearcher, args)
        .await
        .expect_err("must not start");
    assert!(
        err.to_string()
            .contains("cannot connect to the sqlite database"),
        "{err}"
    );
}
