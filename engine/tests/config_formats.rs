//! SFTPGo's config as operators have it: a whole sftpgo.json, .yaml or
//! .toml (other sections included), read as SFTPGo's viper reads it, with
//! warnings for what is suspicious, `plexus validate --strict`, and a YAML
//! config running under `plexus serve`; logs that fit files, pipes and log
//! shippers.

use plexus_engine::PluginsFile;
use plexus_interop::daemon::ServeDaemon;
use plexus_interop::{eventually, read_jsonl, workspace_bin};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn json_yaml_and_toml_configs_of_sftpgo_read_the_same() {
    let json = PluginsFile::parse(
        &std::fs::read_to_string(data("sftpgo.json")).unwrap(),
        "sftpgo.json",
    )
    .unwrap();
    let yaml = PluginsFile::parse(
        &std::fs::read_to_string(data("sftpgo.yaml")).unwrap(),
        "sftpgo.yaml",
    )
    .unwrap();
    let toml = PluginsFile::parse(
        &std::fs::read_to_string(data("sftpgo.toml")).unwrap(),
        "sftpgo.toml",
    )
    .unwrap();
    assert_eq!(json.plugins, toml.plugins);
    // The YAML gives `args: serve` (one string, decoded weakly as a list),
    // mixed-case keys and numbers as strings; the rest is the same.
    let mut yaml_plugins = yaml.plugins.clone();
    assert_eq!(yaml_plugins[0].args, ["serve"]);
    yaml_plugins[0].args = json.plugins[0].args.clone();
    assert_eq!(yaml_plugins, json.plugins);
    let notifier = &json.plugins[0].notifier_options;
    assert_eq!(notifier.fs_events, ["upload", "download", "uplod"]);
    assert_eq!(notifier.retry_max_time, 60);
    assert_eq!(json.plugins[1].auth_options.scope, 5);
    assert!(json.plugins[1].auto_mtls);

    let typo = "plugins[0].notifier_options.fs_events[2]: unknown action \"uplod\" (did you mean \"upload\"?)";
    for file in [&json, &yaml, &toml] {
        assert!(
            file.warnings.iter().any(|w| w == typo),
            "{:?}",
            file.warnings
        );
    }
    assert!(
        yaml.warnings
            .iter()
            .any(|w| w == "plugins[0].colour: unknown key, ignored"),
        "{:?}",
        yaml.warnings
    );
}

#[test]
fn validate_prints_errors_then_warnings_and_strict_fails_on_warnings() {
    let plexus = workspace_bin("plexus");
    let lenient = Command::new(&plexus)
        .arg("validate")
        .arg(data("sftpgo.yaml"))
        .output()
        .unwrap();
    assert!(lenient.status.success());
    let stderr = String::from_utf8_lossy(&lenient.stderr);
    assert!(
        stderr.contains("warning: plugins[0].colour: unknown key"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("OK, 2 plugins (notifier, auth)"));

    let strict = Command::new(&plexus)
        .args(["validate", "--strict"])
        .arg(data("sftpgo.yaml"))
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("--strict makes errors"));

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let refused = |yaml: &str| {
        std::fs::write(&broken, yaml).unwrap();
        let output = Command::new(&plexus)
            .arg("validate")
            .arg(&broken)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // A value no weak decoding makes a bool is a parse error at its path.
    let stderr = refused(
        "plugins:\n  - type: notifier\n    cmd: /x\n    auto_mtls: maybe\n    notifier_options: {fs_events: upload}\n",
    );
    assert!(stderr.contains("plugins[0].auto_mtls"), "{stderr}");

    let stderr = refused(
        "plugins:\n  - type: notifier\n    cmd: /x\n    notifier_options: {fs_events: uplod}\n  - type: auth\n    cmd: /y\n",
    );
    let error = stderr
        .find("error: plugins[1].auth_options.scope")
        .expect(&stderr);
    let warning = stderr
        .find("warning: plugins[0].notifier_options.fs_events[0]")
        .expect(&stderr);
    assert!(error < warning, "errors first:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yaml_config_runs_under_serve() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let socket = dir.path().join("plexus.sock");
    let config = dir.path().join("sftpgo.yaml");
    std::fs::write(
        &config,
        format!(
            "common:\n  idle_timeout: 15\nengine:\n  data_dir: {data}\n  ingest_unix: {socket}\nplugins:\n  - type: notifier\n    cmd: {cmd}\n    args: --out,{out}\n    notifier_options:\n      fs_events: upload,download\n      retry_max_time: \"30\"\n",
            data = dir.path().join("data").display(),
            socket = socket.display(),
            cmd = workspace_bin("notifier-jsonl").display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let daemon = ServeDaemon::start_file(&config, &[], &socket).await;
    let emit = Command::new(workspace_bin("plexus"))
        .args(["emit", "-n", "25", "--quiet", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(
        emit.status.success(),
        "{}",
        String::from_utf8_lossy(&emit.stderr)
    );
    let out_path = out.clone();
    eventually("25 events delivered", Duration::from_secs(20), || {
        read_jsonl(&out_path).len() == 25
    })
    .await;
    daemon.stop().await;
}

#[test]
fn logs_have_no_colour_codes_in_a_pipe_and_json_lines_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plexus.toml");
    std::fs::write(
        &config,
        format!(
            "[engine]\ndata_dir = \"{data}\"\n\n[[plugins]]\ntype = \"notifier\"\ncmd = \"{cmd}\"\nargs = [\"--out\", \"{out}\"]\n[plugins.notifier_options]\nfs_events = [\"upload\"]\n",
            data = dir.path().join("data").display(),
            cmd = workspace_bin("notifier-jsonl").display(),
            out = dir.path().join("events.jsonl").display(),
        ),
    )
    .unwrap();
    let text = Command::new(workspace_bin("plexus"))
        .args(["probe", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.contains("notifier plugin starting"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr:?}"
    );

    let json = Command::new(workspace_bin("plexus"))
        .args(["--log-format", "json", "probe", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(json.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stderr)
        .lines()
        .map(|line| serde_json::from_str(line).expect(line))
        .collect();
    let plugin_line = lines
        .iter()
        .find(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.contains("notifier plugin starting"))
        })
        .expect("the plugin's start line");
    assert_eq!(plugin_line["level"], "INFO");
    // The short label SFTPGo's logger name has, and the path as its own field.
    assert_eq!(plugin_line["plugin"], "notifier.notifier-jsonl");
    assert_eq!(
        plugin_line["path"],
        serde_json::json!(workspace_bin("notifier-jsonl").display().to_string())
    );
}
