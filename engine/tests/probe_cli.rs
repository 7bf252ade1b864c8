//! `plexus probe` as a user runs it: one line per plugin, events delivered,
//! a clear error for a malformed config.

use plexus_interop::{read_jsonl, workspace_bin};
use std::process::Command;

fn probe(config: &std::path::Path) -> std::process::Output {
    Command::new(workspace_bin("plexus"))
        .args(["--log", "warn", "probe", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn probe_starts_checks_and_feeds_a_notifier_with_auto_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let config = dir.path().join("probe.json");
    let plugin = workspace_bin("notifier-jsonl");
    std::fs::write(
        &config,
        serde_json::json!({
            "plugins": [{
                "type": "notifier",
                "cmd": plugin,
                "args": ["--out", out],
                "auto_mtls": true,
                "notifier_options": {"fs_events": ["upload"]}
            }]
        })
        .to_string(),
    )
    .unwrap();
    let output = probe(&config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].starts_with("OK   plugins[0] notifier"), "{stdout}");
    assert!(
        lines[0].contains("mTLS") && lines[0].contains("3 events delivered"),
        "{stdout}"
    );
    let kinds: Vec<String> = read_jsonl(&out)
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds, ["fs", "provider", "log"]);
}

#[test]
fn probe_reports_a_failing_plugin_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("probe.json");
    std::fs::write(
        &config,
        r#"[{"type":"ipfilter","cmd":"/bin/false"},{"type":"notifier","cmd":"/nonexistent/plugin","notifier_options":{"log_events":[1]}}]"#,
    )
    .unwrap();
    let output = probe(&config);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("FAIL plugins[0] ipfilter /bin/false")
            && lines[0].contains("exited before handshake"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("FAIL plugins[1] notifier") && lines[1].contains("spawn"),
        "{stdout}"
    );
}

#[test]
fn probe_rejects_a_malformed_config_with_the_path_of_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.json");
    std::fs::write(
        &config,
        r#"{"plugins":[{"type":"notifier","cmd":"/x","notifier_options":{"fs_events":{"upload":true}}}]}"#,
    )
    .unwrap();
    let output = probe(&config);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plugins[0].notifier_options.fs_events"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    std::fs::write(&config, "[").unwrap();
    let stderr = String::from_utf8_lossy(&probe(&config).stderr).into_owned();
    assert!(stderr.contains("not valid JSON"), "{stderr}");
}
