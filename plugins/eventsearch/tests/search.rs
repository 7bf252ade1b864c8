//! Both plugins as real processes on each driver: events stored through
//! `plexus-eventstore`'s gRPC service come back from `plexus-eventsearch`
//! with every field, every filter, both orders, limit validation, and
//! paging that neither skips nor repeats rows on equal timestamps or late
//! inserts (the case the Go plugin's `id > from_id` paging skips).

#[path = "../../eventstore/tests/common/mod.rs"]
mod common;

use common::{start_search, start_store, Backend, TestDb};
use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::searcher_client::SearcherClient;
use plexus_proto::sftpgo::{
    FsEvent, FsEventsFilter, LogEvent, LogEventsFilter, ProviderEvent, ProviderEventsFilter,
};
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::Code;

const ASC: i32 = 1;
const DESC: i32 = 0;

fn full_fs() -> FsEvent {
    FsEvent {
        timestamp: 1_700_000_000_123_456_789,
        action: "rename".into(),
        username: "alice".into(),
        fs_path: "/srv/alice/a.txt".into(),
        fs_target_path: "/srv/alice/b.txt".into(),
        ssh_cmd: "sftp".into(),
        file_size: 4096,
        protocol: "SFTP".into(),
        status: 1,
        ip: "192.0.2.1".into(),
        virtual_path: "/a.txt".into(),
        virtual_target_path: "/b.txt".into(),
        session_id: "ab".repeat(64),
        fs_provider: 1,
        bucket: "bucket-1".into(),
        endpoint: "https://s3.example".into(),
        open_flags: 512,
        role: "ops".into(),
        elapsed: 1234,
        metadata: Default::default(),
    }
}

fn fs(ts: i64, action: &str, user: &str, ip: &str, protocol: &str, provider: i32) -> FsEvent {
    FsEvent {
        timestamp: ts,
        action: action.into(),
        username: user.into(),
        ip: ip.into(),
        protocol: protocol.into(),
        fs_provider: provider,
        fs_path: format!("/srv/{user}/f"),
        virtual_path: "/f".into(),
        status: if action == "delete" { 2 } else { 1 },
        session_id: "s".into(),
        bucket: if provider == 1 {
            "bucket-10".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

async fn fs_search(s: &mut SearcherClient<Channel>, filter: FsEventsFilter) -> Vec<Value> {
    let data = s
        .search_fs_events(filter)
        .await
        .expect("search fs")
        .into_inner()
        .data;
    serde_json::from_slice(&data).expect("a JSON array")
}

fn fs_filter(limit: i32, order: i32) -> FsEventsFilter {
    FsEventsFilter {
        limit,
        order,
        fs_provider: -1,
        ..Default::default()
    }
}

fn stamps(rows: &[Value]) -> Vec<i64> {
    rows.iter()
        .map(|r| r["timestamp"].as_i64().unwrap_or(-1))
        .collect()
}

/// Pages through everything with `limit`, SFTPGo's way: last id as
/// `from_id`, last timestamp as the start (ASC) or end (DESC) bound.
async fn page_all(s: &mut SearcherClient<Channel>, order: i32, limit: i32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut filter = fs_filter(limit, order);
    for _ in 0..100 {
        let rows = fs_search(s, filter.clone()).await;
        for row in &rows {
            ids.push(row["id"].as_str().unwrap_or_default().to_owned());
        }
        let Some(last) = rows.last() else { break };
        filter.from_id = last["id"].as_str().unwrap_or_default().to_owned();
        let ts = last["timestamp"].as_i64().unwrap_or_default();
        if order == ASC {
            filter.start_timestamp = ts;
        } else {
            filter.end_timestamp = ts;
        }
        if rows.len() < limit as usize {
            break;
        }
    }
    ids
}

async fn scenario(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = start_store(&db, &["--instance-id", "node-1"]).await;
    let search = start_search(&db).await;
    let mut n = NotifierClient::new(store.channel());
    let mut s = SearcherClient::new(search.channel());

    // Every field round-trips.
    n.send_fs_event(full_fs()).await.expect("store fs");
    n.send_provider_event(ProviderEvent {
        timestamp: 1_700_000_000_000_000_001,
        action: "update".into(),
        object_type: "user".into(),
        username: "admin".into(),
        ip: "192.0.2.2".into(),
        object_name: "alice".into(),
        object_data: br#"{"username":"alice","status":1}"#.to_vec(),
        role: "ops".into(),
    })
    .await
    .expect("store provider");
    n.send_log_event(LogEvent {
        timestamp: 1_700_000_000_000_000_002,
        event: 1,
        username: "mallory".into(),
        protocol: "SSH".into(),
        ip: "198.51.100.7".into(),
        message: "login failed".into(),
        role: "ops".into(),
    })
    .await
    .expect("store log");

    let rows = fs_search(&mut s, fs_filter(10, DESC)).await;
    assert_eq!(rows.len(), 1);
    let mut row = rows[0].clone();
    let id = row["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 20, "xid-like id: {id}");
    row.as_object_mut().map(|o| o.remove("id"));
    let e = full_fs();
    assert_eq!(
        row,
        json!({"timestamp": e.timestamp, "action": "rename", "username": "alice",
            "fs_path": e.fs_path, "fs_target_path": e.fs_target_path, "ssh_cmd": "sftp",
            "file_size": 4096, "protocol": "SFTP", "status": 1, "ip": "192.0.2.1",
            "virtual_path": "/a.txt", "virtual_target_path": "/b.txt",
            "session_id": e.session_id, "fs_provider": 1, "bucket": "bucket-1",
            "endpoint": "https://s3.example", "open_flags": 512, "role": "ops",
            "elapsed": 1234, "instance_id": "node-1"})
    );
    let data = s
        .search_provider_events(ProviderEventsFilter {
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("search provider")
        .into_inner()
        .data;
    let mut rows: Vec<Value> = serde_json::from_slice(&data).expect("JSON");
    rows[0].as_object_mut().map(|o| o.remove("id"));
    assert_eq!(
        rows,
        vec![
            json!({"timestamp": 1_700_000_000_000_000_001i64, "action": "update",
            "object_type": "user", "username": "admin", "ip": "192.0.2.2",
            "object_name": "alice", "object_data": "eyJ1c2VybmFtZSI6ImFsaWNlIiwic3RhdHVzIjoxfQ==",
            "role": "ops", "instance_id": "node-1"})
        ]
    );
    let data = s
        .search_provider_events(ProviderEventsFilter {
            limit: 5,
            omit_object_data: true,
            object_types: vec!["user".into()],
            actions: vec!["update".into()],
            object_name: "alice".into(),
            ..Default::default()
        })
        .await
        .expect("search provider")
        .into_inner()
        .data;
    let rows: Vec<Value> = serde_json::from_slice(&data).expect("JSON");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].get("object_data").is_none(), "{}", rows[0]);
    for (types, expected) in [(vec!["admin".to_string()], 0), (vec!["user".into()], 1)] {
        let data = s
            .search_provider_events(ProviderEventsFilter {
                limit: 5,
                object_types: types,
                ..Default::default()
            })
            .await
            .expect("search provider")
            .into_inner()
            .data;
        assert_eq!(
            serde_json::from_slice::<Vec<Value>>(&data)
                .expect("JSON")
                .len(),
            expected
        );
    }
    let log = |filter: LogEventsFilter| {
        let mut s = s.clone();
        async move {
            let data = s
                .search_log_events(filter)
                .await
                .expect("search log")
                .into_inner()
                .data;
            serde_json::from_slice::<Vec<Value>>(&data).expect("JSON")
        }
    };
    let mut rows = log(LogEventsFilter {
        limit: 5,
        ..Default::default()
    })
    .await;
    rows[0].as_object_mut().map(|o| o.remove("id"));
    assert_eq!(
        rows,
        vec![
            json!({"timestamp": 1_700_000_000_000_000_002i64, "event": 1, "username": "mallory",
            "protocol": "SSH", "ip": "198.51.100.7", "message": "login failed",
            "role": "ops", "instance_id": "node-1"})
        ]
    );
    assert_eq!(
        log(LogEventsFilter {
            limit: 5,
            events: vec![5],
            ..Default::default()
        })
        .await
        .len(),
        0
    );
    assert_eq!(
        log(LogEventsFilter {
            limit: 5,
            events: vec![1, 5],
            protocols: vec!["SSH".into()],
            ..Default::default()
        })
        .await
        .len(),
        1
    );

    // Filters and order on a small set with equal timestamps.
    for event in [
        fs(100, "upload", "alice", "10.0.0.1", "SFTP", 0),
        fs(101, "download", "bob", "10.0.0.2", "FTP", 1),
        fs(101, "upload", "alice", "10.0.0.2", "SFTP", 0),
        fs(101, "delete", "carol", "10.0.0.3", "DAV", 0),
        fs(102, "upload", "bob", "10.0.0.1", "SFTP", 1),
    ] {
        n.send_fs_event(event).await.expect("store fs");
    }
    let small = |mut f: FsEventsFilter| {
        let mut s = s.clone();
        f.end_timestamp = if f.end_timestamp == 0 {
            1000
        } else {
            f.end_timestamp
        };
        async move { stamps(&fs_search(&mut s, f).await) }
    };
    assert_eq!(
        small(fs_filter(10, ASC)).await,
        vec![100, 101, 101, 101, 102]
    );
    assert_eq!(
        small(fs_filter(10, DESC)).await,
        vec![102, 101, 101, 101, 100]
    );
    assert_eq!(small(fs_filter(2, DESC)).await, vec![102, 101]);
    assert_eq!(
        small(FsEventsFilter {
            start_timestamp: 101,
            end_timestamp: 101,
            ..fs_filter(10, ASC)
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        small(FsEventsFilter {
            username: "alice".into(),
            ..fs_filter(10, ASC)
        })
        .await,
        vec![100, 101]
    );
    assert_eq!(
        small(FsEventsFilter {
            ip: "10.0.0.1".into(),
            ..fs_filter(10, ASC)
        })
        .await,
        vec![100, 102]
    );
    assert_eq!(
        small(FsEventsFilter {
            actions: vec!["download".into(), "delete".into()],
            ..fs_filter(10, ASC)
        })
        .await,
        vec![101, 101]
    );
    assert_eq!(
        small(FsEventsFilter {
            protocols: vec!["DAV".into()],
            ..fs_filter(10, ASC)
        })
        .await,
        vec![101]
    );
    assert_eq!(
        small(FsEventsFilter {
            statuses: vec![2],
            ..fs_filter(10, ASC)
        })
        .await,
        vec![101]
    );
    assert_eq!(
        small(FsEventsFilter {
            fs_provider: 0,
            ..fs_filter(10, ASC)
        })
        .await,
        vec![100, 101, 101]
    );
    assert_eq!(
        small(FsEventsFilter {
            fs_provider: 100,
            ..fs_filter(10, ASC)
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        small(FsEventsFilter {
            bucket: "bucket-10".into(),
            ..fs_filter(10, ASC)
        })
        .await,
        vec![101, 102]
    );
    assert_eq!(
        small(FsEventsFilter {
            bucket: "bucket-1".into(),
            ..fs_filter(10, ASC)
        })
        .await,
        Vec::<i64>::new(),
        "exact bucket match"
    );
    let all = fs_filter(10, ASC);
    assert_eq!(
        stamps(
            &fs_search(
                &mut s,
                FsEventsFilter {
                    ssh_cmd: "sftp".into(),
                    ..all.clone()
                }
            )
            .await
        )
        .len(),
        1
    );
    assert_eq!(
        stamps(
            &fs_search(
                &mut s,
                FsEventsFilter {
                    endpoint: "https://s3.example".into(),
                    ..all.clone()
                }
            )
            .await
        )
        .len(),
        1
    );
    assert_eq!(
        stamps(
            &fs_search(
                &mut s,
                FsEventsFilter {
                    endpoint: "https://s3".into(),
                    ..all.clone()
                }
            )
            .await
        )
        .len(),
        0
    );
    assert_eq!(
        stamps(
            &fs_search(
                &mut s,
                FsEventsFilter {
                    role: "ops".into(),
                    ..all.clone()
                }
            )
            .await
        )
        .len(),
        1
    );
    assert_eq!(
        stamps(
            &fs_search(
                &mut s,
                FsEventsFilter {
                    instance_ids: vec!["node-2".into()],
                    ..all.clone()
                }
            )
            .await
        )
        .len(),
        0
    );
    let mut many: Vec<String> = (0..999).map(|i| format!("node-x{i}")).collect();
    many.push("node-1".into());
    assert_eq!(
        stamps(
            &fs_search(
                &mut s,
                FsEventsFilter {
                    instance_ids: many,
                    ..all.clone()
                }
            )
            .await
        )
        .len(),
        6,
        "1000 instance ids"
    );

    // Limits outside 1..=1000 are INVALID_ARGUMENT.
    for limit in [0, -1, 1001] {
        let err = s
            .search_fs_events(fs_filter(limit, ASC))
            .await
            .expect_err("bad limit");
        assert_eq!(err.code(), Code::InvalidArgument, "limit {limit}: {err:?}");
    }
    let err = s
        .search_log_events(LogEventsFilter::default())
        .await
        .expect_err("limit 0");
    assert_eq!(err.code(), Code::InvalidArgument);

    // A late insert: a larger id at an earlier timestamp. Paging with
    // `timestamp >= T AND id > ID` would skip the row after it.
    n.send_fs_event(fs(99, "upload", "late", "10.0.0.9", "SFTP", 0))
        .await
        .expect("store late");
    let full: Vec<String> = fs_search(&mut s, fs_filter(100, ASC))
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(full.len(), 7);
    for limit in [1, 2, 3] {
        assert_eq!(
            page_all(&mut s, ASC, limit).await,
            full,
            "ASC pages of {limit}"
        );
        let mut reversed = full.clone();
        reversed.reverse();
        assert_eq!(
            page_all(&mut s, DESC, limit).await,
            reversed,
            "DESC pages of {limit}"
        );
    }

    store.shutdown().await;
    search.shutdown().await;
    db.drop_db().await;
}

#[tokio::test]
async fn sqlite() {
    scenario(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres() {
    scenario(Backend::Postgres).await;
}

#[tokio::test]
async fn mariadb() {
    scenario(Backend::MariaDb).await;
}
