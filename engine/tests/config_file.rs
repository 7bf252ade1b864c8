//! The configuration as users write it: a whole sftpgo.json, every field of
//! every plugin, Plexus's engine section, every validation rule with its
//! path, and both kinds of environment overrides.

use plexus_engine::config::{ConfigError, PluginsFile};
use std::time::Duration;

const SFTPGO_JSON: &str = r#"{
  "common": {"idle_timeout": 15, "upload_mode": 0},
  "sftpd": {"bindings": [{"port": 2022}]},
  "data_provider": {"driver": "sqlite", "name": "sftpgo.db"},
  "plugins": [
    {
      "type": "notifier",
      "notifier_options": {
        "fs_events": ["upload", "pre-delete", "ssh_cmd"],
        "provider_events": ["add", "update"],
        "provider_objects": ["user", "admin"],
        "log_events": [1, 5],
        "retry_max_time": 60,
        "retry_queue_max_size": 1000
      },
      "kms_options": {"scheme": "", "encrypted_status": ""},
      "auth_options": {"scope": 0},
      "cmd": "/usr/bin/sftpgo-plugin-eventstore",
      "args": ["serve", "--driver", "postgres"],
      "sha256sum": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
      "auto_mtls": true,
      "env_prefix": "",
      "env_vars": ["DATABASE_URL"]
    },
    {"type": "kms", "cmd": "/usr/bin/sftpgo-plugin-kms", "kms_options": {"scheme": "hashivault", "encrypted_status": "VaultTransit"}},
    {"type": "auth", "cmd": "/usr/bin/sftpgo-plugin-auth", "args": ["serve", "--config-file", "/etc/auth.json"], "auth_options": {"scope": 5}, "env_prefix": "none"},
    {"type": "eventsearcher", "cmd": "/usr/bin/sftpgo-plugin-eventsearch", "env_prefix": "*"},
    {"type": "ipfilter", "cmd": "/usr/bin/sftpgo-plugin-geoipfilter"}
  ]
}"#;

#[test]
fn a_whole_sftpgo_json_is_read_field_by_field() {
    let file = PluginsFile::parse(SFTPGO_JSON, "sftpgo.json").unwrap();
    assert_eq!(file.plugins.len(), 5);
    let notifier = &file.plugins[0];
    assert_eq!(notifier.kind, "notifier");
    assert_eq!(notifier.cmd, "/usr/bin/sftpgo-plugin-eventstore");
    assert_eq!(notifier.args, ["serve", "--driver", "postgres"]);
    assert!(notifier.sha256sum.starts_with("E3B0"));
    assert!(notifier.auto_mtls);
    assert_eq!(notifier.env_prefix, "");
    assert_eq!(notifier.env_vars, ["DATABASE_URL"]);
    let options = &notifier.notifier_options;
    assert_eq!(options.fs_events, ["upload", "pre-delete", "ssh_cmd"]);
    assert_eq!(options.provider_events, ["add", "update"]);
    assert_eq!(options.provider_objects, ["user", "admin"]);
    assert_eq!(options.log_events, [1, 5]);
    assert_eq!(
        (options.retry_max_time, options.retry_queue_max_size),
        (60, 1000)
    );
    assert_eq!(file.plugins[1].kms_options.scheme, "hashivault");
    assert_eq!(file.plugins[1].kms_options.encrypted_status, "VaultTransit");
    assert_eq!(file.plugins[2].auth_options.scope, 5);
    assert_eq!(file.plugins[2].env_prefix, "none");
    assert_eq!(file.plugins[3].env_prefix, "*");
    // No engine section: the defaults.
    let settings = file.engine_settings();
    assert_eq!(settings.retry_interval, Duration::from_secs(30));
    assert_eq!(settings.rpc_timeout, Duration::from_secs(20));
    assert_eq!(settings.data_dir, std::path::PathBuf::from(".plexus"));
}

fn problems(text: &str) -> String {
    match PluginsFile::parse(text, "test.json") {
        Err(ConfigError::Invalid { problems, .. }) => problems.join("\n"),
        Err(other) => panic!("expected validation problems, got: {other}"),
        Ok(_) => panic!("expected validation problems for {text}"),
    }
}

#[test]
fn every_validation_rule_names_its_path_and_all_are_reported_at_once() {
    let all = problems(
        r#"{"plugins": [
        {"type": "", "cmd": "/a"},
        {"type": "metadata", "cmd": "/b"},
        {"type": "notifier", "cmd": "/c", "notifier_options": {"provider_events": ["add"]}},
        {"type": "kms", "cmd": "/d", "kms_options": {"scheme": "vault", "encrypted_status": "Plain"}},
        {"type": "kms", "cmd": "/e", "kms_options": {"scheme": "awskms", "encrypted_status": "AWS"}},
        {"type": "kms", "cmd": "/f", "kms_options": {"scheme": "awskms", "encrypted_status": "AWS"}},
        {"type": "auth", "cmd": "/g", "auth_options": {"scope": 0}},
        {"type": "auth", "cmd": "/h", "auth_options": {"scope": 16}},
        {"type": "auth", "cmd": "/i", "auth_options": {"scope": -1}},
        {"type": "eventsearcher", "cmd": "/j"},
        {"type": "eventsearcher", "cmd": "/k"},
        {"type": "ipfilter", "cmd": " ", "sha256sum": "zz"}
    ]}"#,
    );
    for expected in [
        "plugins[0].type: unsupported plugin type \"\"",
        "plugins[1].type: unsupported plugin type \"metadata\"",
        "plugins[2].notifier_options: no actions defined for the notifier plugin \"/c\"",
        "plugins[3].kms_options.scheme: invalid kms scheme \"vault\"",
        "plugins[3].kms_options.encrypted_status: invalid kms encrypted status \"Plain\"",
        "plugins[5].kms_options.scheme: duplicated scheme \"awskms\" (also plugins[4])",
        "plugins[5].kms_options.encrypted_status: duplicated encrypted status \"AWS\" (also plugins[4])",
        "plugins[6].auth_options.scope: invalid auth scope 0",
        "plugins[7].auth_options.scope: invalid auth scope 16",
        "plugins[8].auth_options.scope: invalid auth scope -1",
        "plugins[10].type: only one eventsearcher plugin can be defined (plugins[9] is one)",
        "plugins[11].cmd: must not be empty",
        "plugins[11].sha256sum: invalid sha256 hash \"zz\"",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}

#[test]
fn type_errors_name_their_path_and_unknown_fields_are_warnings() {
    for (text, expected) in [
        (
            r#"[{"type":"notifier","cmd":"/x","notifier_options":{"fs_events":["upload"],"log_events":["one"]}}]"#,
            "plugins[0].notifier_options.log_events[0]",
        ),
        (
            r#"{"engine":{"max_in_flight":"many"},"plugins":[]}"#,
            "engine.max_in_flight",
        ),
    ] {
        let err = PluginsFile::parse(text, "t.json").unwrap_err().to_string();
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
    // SFTPGo's viper ignores keys it does not know; Plexus says so.
    for (text, expected) in [
        (
            r#"[{"type":"notifier","cmd":"/x","notifier_options":{"fs_events":["upload"]},"notifer_options":{}}]"#,
            "plugins[0].notifer_options: unknown key, ignored",
        ),
        (
            r#"{"engine":{"retry_intervall":5},"plugins":[]}"#,
            "engine.retry_intervall: unknown key, ignored",
        ),
    ] {
        let file = PluginsFile::parse(text, "t.json").unwrap();
        assert!(
            file.warnings.iter().any(|w| w == expected),
            "expected {expected:?} in: {:?}",
            file.warnings
        );
    }
}

#[test]
fn the_engine_section_sets_every_knob_and_is_validated() {
    let file = PluginsFile::parse(
        r#"{"engine": {"data_dir": "/var/lib/plexus", "retry_interval": 0.5, "durability": "write_ahead",
            "rpc_timeout": 3, "start_timeout": 10, "shutdown_grace": 1, "mailbox_capacity": 64,
            "max_in_flight": 8, "max_calls_in_flight": 4, "router_mailbox": 32, "max_flush_delay_ms": 5, "ipfilter_fail_closed": true, "write_ahead_fsync": true,
            "log_level": "debug", "ingest_unix": "", "ingest_unix_group": "root", "ingest_tcp": "127.0.0.1:7400", "metrics_tcp": "[::1]:9464"},
            "plugins": []}"#,
        "t.json",
    )
    .unwrap();
    let settings = file.engine_settings();
    assert_eq!(
        settings.data_dir,
        std::path::PathBuf::from("/var/lib/plexus")
    );
    assert_eq!(settings.retry_interval, Duration::from_millis(500));
    assert_eq!(settings.durability, plexus_actors::Durability::WriteAhead);
    assert_eq!(settings.rpc_timeout, Duration::from_secs(3));
    assert_eq!(settings.host.start_timeout, Duration::from_secs(10));
    assert_eq!(settings.host.shutdown_grace, Duration::from_secs(1));
    assert_eq!(
        (
            settings.mailbox_capacity,
            settings.max_in_flight,
            settings.max_calls_in_flight,
            settings.router_mailbox
        ),
        (64, 8, 4, 32)
    );
    assert_eq!(settings.max_flush_delay, Duration::from_millis(5));
    assert!(settings.ipfilter_fail_closed);
    assert!(settings.write_ahead_fsync);
    let serve = file.serve_settings();
    assert_eq!(serve.log_level, "debug");
    assert_eq!(serve.ingest_unix, None);
    assert_eq!(serve.ingest_tcp, Some("127.0.0.1:7400".parse().unwrap()));
    assert_eq!(
        serve.ingest_unix_access,
        plexus_engine::unix_socket::SocketAccess::Group(0)
    );
    assert_eq!(serve.metrics_tcp, Some("[::1]:9464".parse().unwrap()));

    let all = problems(
        r#"{"engine": {"durability": "sometimes", "retry_interval": 0, "ingest_tcp": "0.0.0.0:7400", "max_in_flight": 0, "ingest_unix_group": "no-such-group-here", "max_flush_delay_ms": 5000}, "plugins": []}"#,
    );
    assert!(
        all.contains("engine.ingest_unix_group: there is no group named \"no-such-group-here\""),
        "{all}"
    );
    assert!(
        all.contains("engine.max_flush_delay_ms: 5000 is out of range (0 to 1000)"),
        "{all}"
    );
    assert!(
        all.contains("engine.durability: unknown mode \"sometimes\""),
        "{all}"
    );
    assert!(
        all.contains("engine.retry_interval: 0 must be a positive number of seconds"),
        "{all}"
    );
    assert!(
        all.contains("engine.ingest_tcp: 0.0.0.0:7400 is not a loopback address"),
        "{all}"
    );
    assert!(
        all.contains("engine.max_in_flight: 0 is out of range (1 to 16777216)"),
        "{all}"
    );
}

#[test]
fn environment_overrides_plugins_and_engine() {
    let env: Vec<(String, String)> = [
        ("SFTPGO_PLUGINS__0__CMD", "/opt/eventstore"),
        (
            "SFTPGO_PLUGINS__0__NOTIFIER_OPTIONS__RETRY_QUEUE_MAX_SIZE",
            "7",
        ),
        ("SFTPGO_PLUGINS__2__AUTH_OPTIONS__SCOPE", "8"),
        ("SFTPGO_PLUGINS__5__TYPE", "ipfilter"),
        ("SFTPGO_PLUGINS__5__CMD", "/opt/ipfilter"),
        ("PLEXUS_DATA_DIR", "/srv/plexus"),
        ("PLEXUS_RETRY_INTERVAL", "2"),
        ("PLEXUS_DURABILITY", "write_ahead"),
        ("UNRELATED", "x"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let file = PluginsFile::parse_with_env(SFTPGO_JSON, "sftpgo.json", &env).unwrap();
    assert_eq!(file.plugins[0].cmd, "/opt/eventstore");
    assert_eq!(file.plugins[0].notifier_options.retry_queue_max_size, 7);
    assert_eq!(file.plugins[2].auth_options.scope, 8);
    assert_eq!(file.plugins.len(), 6);
    assert_eq!(file.plugins[5].cmd, "/opt/ipfilter");
    let settings = file.engine_settings();
    assert_eq!(settings.data_dir, std::path::PathBuf::from("/srv/plexus"));
    assert_eq!(settings.retry_interval, Duration::from_secs(2));
    assert_eq!(settings.durability, plexus_actors::Durability::WriteAhead);

    let bad: Vec<(String, String)> = vec![("PLEXUS_MAX_IN_FLIGHT".into(), "lots".into())];
    let err = PluginsFile::parse_with_env("[]", "t.json", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("PLEXUS_MAX_IN_FLIGHT: \"lots\" is not a whole number"),
        "{err}"
    );
}

#[test]
fn max_reply_bytes_is_read_from_file_and_environment_and_range_checked() {
    let file = PluginsFile::parse(
        r#"{"engine": {"max_reply_bytes": 1048576}, "plugins": []}"#,
        "t.json",
    )
    .unwrap();
    assert_eq!(file.engine_settings().max_reply_bytes, 1 << 20);
    let default = PluginsFile::parse("[]", "t.json").unwrap();
    assert_eq!(default.engine_settings().max_reply_bytes, 64 << 20);

    let env: Vec<(String, String)> = vec![("PLEXUS_MAX_REPLY_BYTES".into(), "2097152".into())];
    let file = PluginsFile::parse_with_env("[]", "t.json", &env).unwrap();
    assert_eq!(file.engine_settings().max_reply_bytes, 2 << 20);

    let all = problems(r#"{"engine": {"max_reply_bytes": 10}, "plugins": []}"#);
    assert!(
        all.contains("engine.max_reply_bytes: 10 is out of range (65536 to 2147483648)"),
        "{all}"
    );
    let all = problems(r#"{"engine": {"max_reply_bytes": 4294967296}, "plugins": []}"#);
    assert!(
        all.contains("engine.max_reply_bytes: 4294967296 is out of range"),
        "{all}"
    );
}

#[test]
fn health_check_settings_are_read_and_range_checked() {
    let file = PluginsFile::parse(
        r#"{"engine": {"health_interval": 0.5, "health_failure_threshold": 5}, "plugins": []}"#,
        "t.json",
    )
    .unwrap();
    let health = file.engine_settings().health_check;
    assert_eq!(health.interval, Duration::from_millis(500));
    assert_eq!(health.failure_threshold, 5);
    let default = PluginsFile::parse("[]", "t.json").unwrap();
    let health = default.engine_settings().health_check;
    assert_eq!(
        (health.interval, health.failure_threshold),
        (Duration::from_secs(10), 3)
    );
    let env: Vec<(String, String)> = vec![
        ("PLEXUS_HEALTH_INTERVAL".into(), "2".into()),
        ("PLEXUS_HEALTH_FAILURE_THRESHOLD".into(), "7".into()),
    ];
    let file = PluginsFile::parse_with_env("[]", "t.json", &env).unwrap();
    let health = file.engine_settings().health_check;
    assert_eq!(
        (health.interval, health.failure_threshold),
        (Duration::from_secs(2), 7)
    );
    let all = problems(
        r#"{"engine": {"health_interval": 0, "health_failure_threshold": 0}, "plugins": []}"#,
    );
    assert!(
        all.contains("engine.health_interval: 0 must be a positive number of seconds"),
        "{all}"
    );
    assert!(
        all.contains("engine.health_failure_threshold: 0 is out of range (1 to 1000)"),
        "{all}"
    );
}
