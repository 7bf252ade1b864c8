//! The plugin configured only through `SFTPGO_PLUGIN_GEOIPFILTER_*`
//! variables, as SFTPGo installations usually configure it. The default
//! `env_prefix` follows the executable's name (`PLEXUS_GEOIPFILTER_`), so
//! the config sets `env_prefix` to the Go plugin's prefix. One test in this
//! binary: it sets process variables.

mod common;

use std::time::Duration;

use common::maxmind;
use plexus_engine::{Engine, EngineError, EngineSettings, PluginConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = maxmind("GeoIP2-Country-Test.mmdb");
    let vars = [
        ("SFTPGO_PLUGIN_GEOIPFILTER_DB_FILE", db.to_str().unwrap()),
        ("SFTPGO_PLUGIN_GEOIPFILTER_DENIED_COUNTRIES", " GB , BT"),
        ("SFTPGO_PLUGIN_GEOIPFILTER_DENY_UNKNOWN_COUNTRY", "1"),
    ];
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    let plugin = PluginConfig {
        kind: "ipfilter".into(),
        cmd: env!("CARGO_BIN_EXE_plexus-geoipfilter").into(),
        args: vec!["serve".into()],
        auto_mtls: true,
        env_prefix: "SFTPGO_PLUGIN_GEOIPFILTER_".into(),
        ..Default::default()
    };
    let settings = EngineSettings {
        data_dir: dir.path().join("plexus"),
        ..EngineSettings::default()
    };
    let engine = Engine::start(vec![plugin], settings).await.unwrap();
    let reason = |result: Result<(), EngineError>| match result {
        Err(EngineError::Denied { reason, .. }) => reason,
        other => panic!("expected a denial, got {other:?}"),
    };
    assert_eq!(
        reason(engine.check_ip("67.43.156.1", "FTP").await),
        "country BT is denied, ip 67.43.156.1"
    );
    assert_eq!(
        reason(engine.check_ip("1.1.1.1", "FTP").await),
        "unable to get the country, ip 1.1.1.1 is denied"
    );
    engine.check_ip("149.101.100.1", "FTP").await.unwrap();
    engine.shutdown(Duration::from_secs(5)).await;
}
