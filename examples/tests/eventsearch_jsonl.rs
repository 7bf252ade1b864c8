//! `eventsearch-jsonl` as a real plugin process over the file a real
//! `notifier-jsonl` process writes: SFTPGo's filters, order, limit
//! validation, paging, the JSON shape, and events appended while it runs.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{Plugin, Scratch};
use plexus_proto::sftpgo::notifier_client::NotifierClient;
use plexus_proto::sftpgo::searcher_client::SearcherClient;
use plexus_proto::sftpgo::{
    FsEvent, FsEventsFilter, LogEvent, LogEventsFilter, ProviderEvent, ProviderEventsFilter,
};
use plexus_proto::PluginKind;
use serde_json::Value;
use tonic::transport::Channel;
use tonic::Code;

const BIN: &str = env!("CARGO_BIN_EXE_eventsearch-jsonl");

const ASC: i32 = 1;

fn fs(ts: i64, action: &str, user: &str, ip: &str, protocol: &str, provider: i32) -> FsEvent {
    FsEvent {
        timestamp: ts,
        action: action.into(),
        username: user.into(),
        ip: ip.into(),
        protocol: protocol.into(),
        fs_provider: provider,
        fs_path: format!("/srv/{user}/file.txt"),
        virtual_path: "/file.txt".into(),
        status: 1,
        session_id: "s1".into(),
        file_size: 42,
        bucket: if provider == 1 {
            "bucket-1".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

/// Lines 1-5 fs events, 6-7 provider events, 8-9 log events.
async fn notify_all(notifier: &mut NotifierClient<Channel>) {
    for event in [
        fs(100, "upload", "alice", "10.0.0.1", "SFTP", 0),
        fs(101, "download", "bob", "10.0.0.2", "FTP", 1),
        fs(101, "upload", "alice", "10.0.0.2", "SFTP", 0),
        fs(101, "delete", "carol", "10.0.0.3", "DAV", 0),
        fs(102, "upload", "bob", "10.0.0.1", "SFTP", 1),
    ] {
        notifier.send_fs_event(event).await.unwrap();
    }
    for (ts, action, object_type) in [(200, "add", "user"), (201, "update", "admin")] {
        notifier
            .send_provider_event(ProviderEvent {
                timestamp: ts,
                action: action.into(),
                object_type: object_type.into(),
                object_name: "alice".into(),
                username: "admin".into(),
                ip: "127.0.0.1".into(),
                object_data: br#"{"username":"alice"}"#.to_vec(),
                role: String::new(),
            })
            .await
            .unwrap();
    }
    for (ts, event, user) in [(300, 1, "alice"), (301, 5, "mallory")] {
        notifier
            .send_log_event(LogEvent {
                timestamp: ts,
                event,
                username: user.into(),
                protocol: "SSH".into(),
                ip: "192.0.2.9".into(),
                message: format!("event {event}"),
                role: String::new(),
            })
            .await
            .unwrap();
    }
}

struct Both {
    _notifier: Plugin,
    _searcher: Plugin,
    notifier: NotifierClient<Channel>,
    searcher: SearcherClient<Channel>,
}

async fn start(scratch: &Scratch) -> Both {
    let notifier = Plugin::start(scratch.command()).await;
    let mut notifier_client = NotifierClient::new(notifier.unix_channel().await);
    notify_all(&mut notifier_client).await;
    let mut command = scratch.plugin_command(BIN, PluginKind::EventSearcher);
    command.arg("--file").arg(scratch.out());
    let searcher = Plugin::start(command).await;
    searcher
        .wait_stderr_contains("eventsearcher plugin starting")
        .await;
    let searcher_client = SearcherClient::new(searcher.unix_channel().await);
    Both {
        _notifier: notifier,
        _searcher: searcher,
        notifier: notifier_client,
        searcher: searcher_client,
    }
}

fn parse(data: &[u8]) -> Vec<Value> {
    match serde_json::from_slice(data).expect("the answer is JSON") {
        Value::Array(rows) => rows,
        other => panic!("not an array: {other}"),
    }
}

fn ids(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|row| row["id"].as_str().expect("id is a string"))
        .collect()
}

async fn search_fs(client: &mut SearcherClient<Channel>, filter: FsEventsFilter) -> Vec<Value> {
    parse(
        &client
            .search_fs_events(filter)
            .await
            .unwrap()
            .into_inner()
            .data,
    )
}

/// Everything, any provider, newest first: SFTPGo's REST defaults.
fn any() -> FsEventsFilter {
    FsEventsFilter {
        limit: 100,
        fs_provider: -1,
        ..Default::default()
    }
}

#[tokio::test]
async fn fs_filters_order_and_paging() {
    let scratch = Scratch::new();
    // Bound whole: the plugin processes live as long as `both`.
    let both = start(&scratch).await;
    let (searcher, mut notifier) = (both.searcher.clone(), both.notifier.clone());
    let q = |filter: FsEventsFilter| {
        let mut client = searcher.clone();
        async move { search_fs(&mut client, filter).await }
    };

    let all = q(any()).await;
    assert_eq!(ids(&all), ["5", "4", "3", "2", "1"], "DESC by default");
    assert_eq!(
        ids(&q(FsEventsFilter {
            order: ASC,
            ..any()
        })
        .await),
        ["1", "2", "3", "4", "5"]
    );
    // The JSON of one event: id and timestamp, the fields, empty ones omitted.
    let bob = &all[0];
    assert_eq!(bob["timestamp"], 102);
    assert_eq!(bob["action"], "upload");
    assert_eq!(bob["username"], "bob");
    assert_eq!(bob["fs_provider"], 1);
    assert_eq!(bob["bucket"], "bucket-1");
    assert_eq!(bob["file_size"], 42);
    assert!(
        bob.get("ssh_cmd").is_none() && bob.get("role").is_none(),
        "{bob}"
    );
    assert_eq!(all[4].get("bucket"), None);

    let cases: Vec<(FsEventsFilter, Vec<&str>)> = vec![
        (
            FsEventsFilter {
                start_timestamp: 101,
                end_timestamp: 101,
                order: ASC,
                ..any()
            },
            vec!["2", "3", "4"],
        ),
        (
            FsEventsFilter {
                start_timestamp: 102,
                ..any()
            },
            vec!["5"],
        ),
        (
            FsEventsFilter {
                end_timestamp: 100,
                ..any()
            },
            vec!["1"],
        ),
        (
            FsEventsFilter {
                actions: vec!["upload".into()],
                order: ASC,
                ..any()
            },
            vec!["1", "3", "5"],
        ),
        (
            FsEventsFilter {
                actions: vec!["download".into(), "delete".into()],
                order: ASC,
                ..any()
            },
            vec!["2", "4"],
        ),
        (
            FsEventsFilter {
                username: "bob".into(),
                ..any()
            },
            vec!["5", "2"],
        ),
        (
            FsEventsFilter {
                username: "bo".into(),
                ..any()
            },
            vec![],
        ),
        (
            FsEventsFilter {
                ip: "10.0.0.2".into(),
                order: ASC,
                ..any()
            },
            vec!["2", "3"],
        ),
        (
            FsEventsFilter {
                protocols: vec!["DAV".into(), "FTP".into()],
                order: ASC,
                ..any()
            },
            vec!["2", "4"],
        ),
        (
            FsEventsFilter {
                fs_provider: 0,
                order: ASC,
                ..any()
            },
            vec!["1", "3", "4"],
        ),
        (
            FsEventsFilter {
                fs_provider: 1,
                order: ASC,
                ..any()
            },
            vec!["2", "5"],
        ),
        (
            FsEventsFilter {
                fs_provider: 100,
                ..any()
            },
            vec![],
        ),
        (
            FsEventsFilter {
                bucket: "bucket-1".into(),
                order: ASC,
                ..any()
            },
            vec!["2", "5"],
        ),
        (
            FsEventsFilter {
                bucket: "bucket".into(),
                ..any()
            },
            vec![],
        ),
        (
            FsEventsFilter {
                statuses: vec![1],
                ..any()
            },
            vec!["5", "4", "3", "2", "1"],
        ),
        (
            FsEventsFilter {
                statuses: vec![2, 3],
                ..any()
            },
            vec![],
        ),
        (
            FsEventsFilter {
                username: "alice".into(),
                actions: vec!["upload".into()],
                ip: "10.0.0.1".into(),
                ..any()
            },
            vec!["1"],
        ),
    ];
    for (filter, expected) in cases {
        let rows = q(filter.clone()).await;
        assert_eq!(ids(&rows), expected, "{filter:?}");
    }

    // Paging as SFTPGo's CSV export does: from_id and the boundary timestamp.
    for (order, expected) in [
        (ASC, ["1", "2", "3", "4", "5"]),
        (0, ["5", "4", "3", "2", "1"]),
    ] {
        let mut filter = FsEventsFilter {
            limit: 2,
            order,
            ..any()
        };
        let mut seen = Vec::new();
        loop {
            let page = q(filter.clone()).await;
            seen.extend(ids(&page).into_iter().map(str::to_owned));
            let Some(last) = page.last() else { break };
            if page.len() < 2 {
                break;
            }
            filter.from_id = last["id"].as_str().unwrap().to_owned();
            let ts = last["timestamp"].as_i64().unwrap();
            if order == ASC {
                filter.start_timestamp = ts;
            } else {
                filter.end_timestamp = ts;
            }
        }
        assert_eq!(seen, expected, "order {order}");
    }

    // Limits outside 1..=1000 are refused, naming the limit.
    let mut direct = searcher.clone();
    for limit in [0, -1, 1001] {
        let status = direct
            .search_fs_events(FsEventsFilter { limit, ..any() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "limit {limit}");
        assert!(status.message().contains("limit"), "{status:?}");
    }
    assert_eq!(
        q(FsEventsFilter {
            limit: 1000,
            ..any()
        })
        .await
        .len(),
        5
    );
    assert_eq!(ids(&q(FsEventsFilter { limit: 1, ..any() }).await), ["5"]);

    // What the notifier appends while the searcher runs is found.
    notifier
        .send_fs_event(fs(103, "rename", "dave", "10.0.0.4", "SFTP", 0))
        .await
        .unwrap();
    let dave = q(FsEventsFilter {
        username: "dave".into(),
        ..any()
    })
    .await;
    assert_eq!(ids(&dave), ["10"]);
    assert_eq!(dave[0]["action"], "rename");
}

#[tokio::test]
async fn provider_and_log_searches() {
    let scratch = Scratch::new();
    let both = start(&scratch).await;
    let mut searcher = both.searcher.clone();
    let provider = |filter: ProviderEventsFilter| {
        let mut client = searcher.clone();
        async move {
            parse(
                &client
                    .search_provider_events(filter)
                    .await
                    .unwrap()
                    .into_inner()
                    .data,
            )
        }
    };
    let all = provider(ProviderEventsFilter {
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&all), ["7", "6"]);
    assert_eq!(all[1]["timestamp"], 200);
    assert_eq!(all[1]["object_type"], "user");
    assert_eq!(
        all[1]["object_data"],
        STANDARD.encode(br#"{"username":"alice"}"#),
        "object_data is base64"
    );
    let omitted = provider(ProviderEventsFilter {
        limit: 10,
        omit_object_data: true,
        ..Default::default()
    })
    .await;
    assert!(
        omitted.iter().all(|row| row.get("object_data").is_none()),
        "{omitted:?}"
    );
    for (filter, expected) in [
        (
            ProviderEventsFilter {
                object_types: vec!["admin".into()],
                ..Default::default()
            },
            vec!["7"],
        ),
        (
            ProviderEventsFilter {
                actions: vec!["add".into()],
                ..Default::default()
            },
            vec!["6"],
        ),
        (
            ProviderEventsFilter {
                object_name: "alice".into(),
                order: ASC,
                ..Default::default()
            },
            vec!["6", "7"],
        ),
        (
            ProviderEventsFilter {
                object_name: "bob".into(),
                ..Default::default()
            },
            vec![],
        ),
        (
            ProviderEventsFilter {
                username: "admin".into(),
                ip: "127.0.0.1".into(),
                start_timestamp: 201,
                ..Default::default()
            },
            vec!["7"],
        ),
    ] {
        let rows = provider(ProviderEventsFilter {
            limit: 10,
            ..filter.clone()
        })
        .await;
        assert_eq!(ids(&rows), expected, "{filter:?}");
    }

    let log = |filter: LogEventsFilter| {
        let mut client = searcher.clone();
        async move {
            parse(
                &client
                    .search_log_events(filter)
                    .await
                    .unwrap()
                    .into_inner()
                    .data,
            )
        }
    };
    let logs = log(LogEventsFilter {
        limit: 10,
        order: ASC,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&logs), ["8", "9"]);
    assert_eq!(logs[0]["event"], 1);
    assert_eq!(logs[0]["message"], "event 1");
    assert_eq!(logs[0]["protocol"], "SSH");
    let fives = log(LogEventsFilter {
        limit: 10,
        events: vec![5],
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&fives), ["9"]);
    assert_eq!(fives[0]["username"], "mallory");
    let none = log(LogEventsFilter {
        limit: 10,
        username: "alice".into(),
        events: vec![5],
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());

    for status in [
        searcher
            .search_provider_events(ProviderEventsFilter::default())
            .await
            .unwrap_err(),
        searcher
            .search_log_events(LogEventsFilter {
                limit: 1001,
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}

#[tokio::test]
async fn a_missing_file_is_an_empty_store_until_it_appears() {
    let scratch = Scratch::new();
    let mut command = scratch.plugin_command(BIN, PluginKind::EventSearcher);
    command.arg("--file").arg(scratch.out());
    let searcher = Plugin::start(command).await;
    let mut client = SearcherClient::new(searcher.unix_channel().await);
    assert!(search_fs(&mut client, any()).await.is_empty());

    let notifier = Plugin::start(scratch.command()).await;
    let mut notifier_client = NotifierClient::new(notifier.unix_channel().await);
    notify_all(&mut notifier_client).await;
    assert_eq!(search_fs(&mut client, any()).await.len(), 5);
}
