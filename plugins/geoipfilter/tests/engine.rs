//! `plexus-geoipfilter` as a real plugin process started by the Plexus
//! engine from a plugins config: decisions and their messages over gRPC,
//! Reload with a good, a missing and a corrupt file (the previous database
//! stays in force), and start-up failures that stop the engine's start.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{maxmind, write_db, Record};
use mmdb_writer::IpVersion;
use plexus_engine::{Engine, EngineError, EngineSettings, PluginConfig};

const BIN: &str = env!("CARGO_BIN_EXE_plexus-geoipfilter");

fn config(args: &[&str]) -> PluginConfig {
    let mut all = vec!["serve".to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    PluginConfig {
        kind: "ipfilter".into(),
        cmd: BIN.into(),
        args: all,
        auto_mtls: true,
        ..Default::default()
    }
}

async fn start(dir: &Path, args: &[&str]) -> Result<Engine, EngineError> {
    let settings = EngineSettings {
        data_dir: dir.join("plexus"),
        // The fail-closed host setting: a plugin that died would deny, so an
        // allowed answer below is the plugin's own.
        ipfilter_fail_closed: true,
        ..EngineSettings::default()
    };
    Engine::start(vec![config(args)], settings).await
}

/// `Ok(())` or the plugin's reason.
async fn check(engine: &Engine, ip: &str) -> Result<(), String> {
    match engine.check_ip(ip, "SSH").await {
        Ok(()) => Ok(()),
        Err(EngineError::Denied { reason, .. }) => Err(reason),
        Err(other) => panic!("{ip}: not a plugin decision: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = maxmind("GeoIP2-Country-Test.mmdb");
    let engine = start(
        dir.path(),
        &[
            "--db-file",
            db.to_str().unwrap(),
            "--allowed-countries",
            "GB,US,FR",
            "--denied-countries",
            "FR",
        ],
    )
    .await
    .unwrap();
    check(&engine, "81.2.69.142").await.unwrap();
    check(&engine, "::ffff:149.101.100.1").await.unwrap();
    assert_eq!(
        check(&engine, "2a02:cfc0::1%eth0").await,
        Err("country FR is denied, ip 2a02:cfc0::1%eth0".into())
    );
    assert_eq!(
        check(&engine, "202.196.224.1").await,
        Err("country PH is not allowed, ip 202.196.224.1".into())
    );
    check(&engine, "10.0.0.1").await.unwrap();
    check(&engine, "1.1.1.1").await.unwrap(); // no record: fail-open
    check(&engine, "not-an-ip").await.unwrap(); // unparsable: fail-open
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_flags_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = maxmind("GeoIP2-Country-Test.mmdb");
    let engine = start(
        dir.path(),
        &[
            "--db-file",
            db.to_str().unwrap(),
            "--allowed-countries",
            "GB",
            "--deny-on-lookup-error",
            "--deny-unknown-country=true",
        ],
    )
    .await
    .unwrap();
    check(&engine, "81.2.69.142").await.unwrap();
    assert_eq!(
        check(&engine, "1.1.1.1").await,
        Err("unable to get the country, ip 1.1.1.1 is denied".into())
    );
    assert!(check(&engine, "not-an-ip")
        .await
        .unwrap_err()
        .starts_with("unable to parse ip not-an-ip"));
    check(&engine, "192.168.1.1").await.unwrap();
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_good_missing_and_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("country.mmdb");
    std::fs::copy(maxmind("GeoIP2-Country-Test.mmdb"), &live).unwrap();
    let engine = start(
        dir.path(),
        &[
            "--db-file",
            live.to_str().unwrap(),
            "--allowed-countries",
            "GB",
        ],
    )
    .await
    .unwrap();
    check(&engine, "81.2.69.142").await.unwrap();

    // A good file: 81.2.69.0/24 is now French. Only a Reload reads it.
    let next = dir.path().join("next.mmdb");
    write_db(
        &next,
        IpVersion::V6,
        &[("81.2.69.0/24", Record::MaxMind("FR"))],
    );
    std::fs::rename(&next, &live).unwrap();
    check(&engine, "81.2.69.142").await.unwrap();
    assert!(engine.reload_ip_filters().await.is_empty());
    let denied = Err("country FR is not allowed, ip 81.2.69.142".to_owned());
    assert_eq!(check(&engine, "81.2.69.142").await, denied);

    // A missing file: the reload fails, the last database stays in force.
    std::fs::remove_file(&live).unwrap();
    let errors = engine.reload_ip_filters().await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0].to_string();
    assert!(
        message.contains("country.mmdb") && message.contains("previous one stays in use"),
        "{message}"
    );
    assert_eq!(check(&engine, "81.2.69.142").await, denied);

    // A corrupt file: the same.
    std::fs::write(&live, b"\x00\x01 not a MaxMind DB").unwrap();
    let errors = engine.reload_ip_filters().await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].to_string().contains("not a valid MaxMind DB"),
        "{}",
        errors[0]
    );
    assert_eq!(check(&engine, "81.2.69.142").await, denied);

    // A good file again.
    std::fs::copy(maxmind("GeoIP2-Country-Test.mmdb"), &live).unwrap();
    assert!(engine.reload_ip_filters().await.is_empty());
    check(&engine, "81.2.69.142").await.unwrap();
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let db = maxmind("GeoIP2-Country-Test.mmdb");
    let db = db.to_str().unwrap();
    let missing = dir.path().join("missing.mmdb");
    for (args, expected) in [
        (
            vec!["--db-file", db],
            "please set allowed or denied countries",
        ),
        (
            vec!["--allowed-countries", "IT"],
            "--db-file (SFTPGO_PLUGIN_GEOIPFILTER_DB_FILE) is required",
        ),
        (
            vec![
                "--db-file",
                db,
                "--allowed-countries",
                "IT",
                "--db-type",
                "7",
            ],
            "--db-type",
        ),
        (
            vec![
                "--db-file",
                missing.to_str().unwrap(),
                "--allowed-countries",
                "IT",
            ],
            "unable to load the database: cannot read the database",
        ),
    ] {
        let err = match start(dir.path(), &args).await {
            Ok(engine) => {
                engine.shutdown(Duration::from_secs(5)).await;
                panic!("{args:?} started")
            }
            Err(err) => err.to_string(),
        };
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// An operator trying the plugin from the command line, with the config
/// SFTPGo would have.
#[test]
fn plexus_call_ipfilter_answers_as_the_plugin_decides() {
    let dir = tempfile::tempdir().unwrap();
    let db = maxmind("GeoIP2-Country-Test.mmdb");
    let config = dir.path().join("sftpgo.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "engine": {"data_dir": dir.path().join("plexus")},
            "plugins": [{
                "type": "ipfilter",
                "cmd": BIN,
                "args": ["serve", "--db-file", db, "--allowed-countries", "GB,US"],
                "auto_mtls": true
            }]
        })
        .to_string(),
    )
    .unwrap();
    let call = |ip: &str| {
        std::process::Command::new(plexus_interop::workspace_bin("plexus"))
            .args(["--log", "warn", "call", "--config"])
            .arg(&config)
            .args(["ipfilter", "--ip", ip, "--protocol", "SSH"])
            .output()
            .unwrap()
    };
    let allowed = call("81.2.69.142");
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&allowed.stdout).trim(),
        "allowed: 81.2.69.142 over SSH"
    );
    let denied = call("202.196.224.1");
    assert_eq!(denied.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("country PH is not allowed, ip 202.196.224.1"),
        "{stderr}"
    );
}
