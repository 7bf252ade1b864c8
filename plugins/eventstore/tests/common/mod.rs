//! Test support shared by the eventstore and eventsearch tests: a fresh
//! database per test on each driver (a SQLite file in a temp dir, a new
//! PostgreSQL or MariaDB database on this machine, dropped afterwards), and
//! starting the plugins as real processes the way the Plexus host does.
//!
//! PostgreSQL (127.0.0.1:5432, user postgres, trust) and MariaDB
//! (127.0.0.1:3306, root, no password) must be up: a test fails, never
//! skips, when they are not.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use plexus_engine::{HostOptions, LaunchSpec, PluginHandle};
use plexus_eventdb::{Database, Driver};
use plexus_proto::PluginKind;
use sqlx::Executor;

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MY_ADMIN: &str = "mysql://root@127.0.0.1:3306/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

/// A fresh database for one test.
pub struct TestDb {
    pub backend: Backend,
    pub driver: &'static str,
    pub dsn: String,
    name: String,
    _dir: tempfile::TempDir,
}

fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "plexus_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let name = unique_name();
        let (driver, dsn) = match backend {
            Backend::Sqlite => ("sqlite", dir.path().join("events.db").display().to_string()),
            Backend::Postgres => {
                let admin = sqlx::PgPool::connect(PG_ADMIN).await.unwrap_or_else(|err| {
                    panic!(
                        "PostgreSQL is not reachable at {PG_ADMIN} (start it; .ci/run does): {err}"
                    )
                });
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create the test database");
                admin.close().await;
                (
                    "postgres",
                    format!("postgres://postgres@127.0.0.1:5432/{name}"),
                )
            }
            Backend::MariaDb => {
                let admin = sqlx::MySqlPool::connect(MY_ADMIN).await.unwrap_or_else(|err| {
                    panic!("MariaDB is not reachable at {MY_ADMIN} (start it; .ci/run does): {err}")
                });
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create the test database");
                admin.close().await;
                ("mysql", format!("mysql://root@127.0.0.1:3306/{name}"))
            }
        };
        TestDb {
            backend,
            driver,
            dsn,
            name,
            _dir: dir,
        }
    }

    /// A pool on the test database through the library.
    pub async fn connect(&self) -> Database {
        let driver: Driver = self.driver.parse().expect("driver");
        Database::connect(driver, &self.dsn, 2)
            .await
            .expect("connect to the test database")
    }

    /// Drops the database (SQLite: the temp dir goes with `self`).
    pub async fn drop_db(self) {
        match self.backend {
            Backend::Sqlite => {}
            Backend::Postgres => {
                if let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN).await {
                    let _ = admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str(),
                        )
                        .await;
                    admin.close().await;
                }
            }
            Backend::MariaDb => {
                if let Ok(admin) = sqlx::MySqlPool::connect(MY_ADMIN).await {
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {}", self.name).as_str())
                        .await;
                    admin.close().await;
                }
            }
        }
    }

    /// `serve --driver … --dsn …` plus `extra`.
    pub fn serve_args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--driver".into(),
            self.driver.into(),
            "--dsn".into(),
            self.dsn.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }
}

/// Starts a workspace plugin binary as the Plexus host does.
pub async fn start_plugin(
    bin: &str,
    kind: PluginKind,
    args: Vec<String>,
) -> Result<PluginHandle, plexus_engine::HostError> {
    let spec = LaunchSpec {
        kind,
        cmd: plexus_interop::workspace_bin(bin).display().to_string(),
        args,
        sha256sum: None,
        auto_mtls: false,
        env_prefix: "none".into(),
        env_vars: Vec::new(),
        label: String::new(),
    };
    let options = HostOptions {
        start_timeout: Duration::from_secs(30),
        ..HostOptions::default()
    };
    PluginHandle::start(&spec, &options).await
}

pub async fn start_store(db: &TestDb, extra: &[&str]) -> PluginHandle {
    start_plugin(
        "plexus-eventstore",
        PluginKind::Notifier,
        db.serve_args(extra),
    )
    .await
    .unwrap_or_else(|err| panic!("start plexus-eventstore: {err}"))
}

pub async fn start_search(db: &TestDb) -> PluginHandle {
    start_plugin(
        "plexus-eventsearch",
        PluginKind::EventSearcher,
        db.serve_args(&[]),
    )
    .await
    .unwrap_or_else(|err| panic!("start plexus-eventsearch: {err}"))
}
