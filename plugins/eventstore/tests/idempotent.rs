//! `plexus-eventstore --idempotent` on each driver: an event delivered
//! twice (one after the other, and concurrently within one writer batch)
//! is stored once, under its content id; a different event is stored too;
//! and without the flag the same deliveries store duplicates, as the Go
//! plugin does.

mod common;

use common::{start_store, Backend, TestDb};
use plexus_eventdb::content_id::content_id;
use plexus_eventdb::{Database, NewEvent};
use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};
use sqlx::Row;

/// Every id of `table`, sorted.
async fn ids(db: &Database, table: &str) -> Vec<String> {
    let sql = format!("SELECT id FROM {table} ORDER BY id");
    let rows: Result<Vec<String>, sqlx::Error> = match db {
        Database::Sqlite(p) => sqlx::query(&sql)
            .fetch_all(p)
            .await
            .map(|r| r.iter().map(|r| r.get(0)).collect()),
        Database::Postgres(p) => sqlx::query(&sql)
            .fetch_all(p)
            .await
            .map(|r| r.iter().map(|r| r.get(0)).collect()),
        Database::MySql(p) => sqlx::query(&sql)
            .fetch_all(p)
            .await
            .map(|r| r.iter().map(|r| r.get(0)).collect()),
    };
    rows.unwrap_or_else(|err| panic!("read the ids of {table}: {err}"))
}

fn upload(n: i64) -> FsEvent {
    FsEvent {
        timestamp: 1_700_000_000_000_000_000 + n,
        action: "upload".into(),
        username: "alice".into(),
        virtual_path: format!("/file-{n}"),
        protocol: "SFTP".into(),
        ..Default::default()
    }
}

fn user_added() -> ProviderEvent {
    ProviderEvent {
        timestamp: 1_700_000_000_000_000_000,
        action: "add".into(),
        object_type: "user".into(),
        object_name: "bob".into(),
        object_data: br#"{"username":"bob"}"#.to_vec(),
        ..Default::default()
    }
}

fn login_failed() -> LogEvent {
    LogEvent {
        timestamp: 1_700_000_000_000_000_000,
        event: 1,
        username: "mallory".into(),
        ..Default::default()
    }
}

/// Sends every event twice in a row, then `upload(0)` eight more times at
/// once (so duplicates meet in one writer transaction), then `upload(1)`.
async fn deliver_twice(client: &NotifierClient<tonic::transport::Channel>) {
    let mut n = client.clone();
    for _ in 0..2 {
        n.send_fs_event(upload(0)).await.expect("fs");
        n.send_provider_event(user_added()).await.expect("provider");
        n.send_log_event(login_failed()).await.expect("log");
    }
    let sends: Vec<_> = (0..8)
        .map(|_| {
            let mut n = client.clone();
            tokio::spawn(async move { n.send_fs_event(upload(0)).await })
        })
        .collect();
    for send in sends {
        send.await.expect("join").expect("concurrent fs");
    }
    n.send_fs_event(upload(1)).await.expect("fs");
}

async fn each_event_once(backend: Backend) {
    let test = TestDb::new(backend).await;
    let store = start_store(&test, &["--idempotent"]).await;
    deliver_twice(&NotifierClient::new(store.channel())).await;
    let db = test.connect().await;
    let mut expected = vec![
        content_id(&NewEvent::Fs(Box::new(upload(0)))),
        content_id(&NewEvent::Fs(Box::new(upload(1)))),
    ];
    expected.sort();
    assert_eq!(ids(&db, "eventstore_fs_events").await, expected);
    assert_eq!(
        ids(&db, "eventstore_provider_events").await,
        [content_id(&NewEvent::Provider(user_added()))]
    );
    assert_eq!(
        ids(&db, "eventstore_log_events").await,
        [content_id(&NewEvent::Log(login_failed()))]
    );
    store.shutdown().await;

    // Without the flag, every delivery is a row.
    let store = start_store(&test, &[]).await;
    deliver_twice(&NotifierClient::new(store.channel())).await;
    assert_eq!(ids(&db, "eventstore_fs_events").await.len(), 2 + 11);
    assert_eq!(ids(&db, "eventstore_log_events").await.len(), 1 + 2);
    store.shutdown().await;
    db.close().await;
    test.drop_db().await;
}

#[tokio::test]
async fn sqlite_stores_each_event_once() {
    each_event_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_stores_each_event_once() {
    each_event_once(Backend::Postgres).await;
}

#[tokio::test]
async fn mariadb_stores_each_event_once() {
    each_event_once(Backend::MariaDb).await;
}
