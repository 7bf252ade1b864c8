//! Wire compatibility with real go-plugin peers built from Debian's
//! go-plugin 1.0.1: the Plexus host loads a Go plugin, a Go host written
//! the way SFTPGo's is loads the Plexus SDK's `notifier-jsonl`, and the
//! Plexus host loads `notifier-jsonl` too. Every field must arrive equal.

use plexus_engine::clients::Notifier;
use plexus_engine::host::LaunchSpec;
use plexus_engine::{HostOptions, PluginHandle};
use plexus_examples::jsonl::{event_line, parse_event_lines};
use plexus_interop::{go_fixtures, sample_events, workspace_bin};
use plexus_proto::{Event, PluginKind};
use std::path::Path;
use std::time::Duration;

fn spec(cmd: &Path, args: Vec<String>, auto_mtls: bool, env_vars: &[&str]) -> LaunchSpec {
    LaunchSpec {
        kind: PluginKind::Notifier,
        cmd: cmd.to_string_lossy().into_owned(),
        args,
        sha256sum: None,
        auto_mtls,
        env_prefix: "none".into(),
        env_vars: env_vars.iter().map(|s| s.to_string()).collect(),
        label: String::new(),
    }
}

async fn send_all(handle: &PluginHandle, events: &[Event]) {
    let notifier = Notifier::new(handle.channel(), Duration::from_secs(20));
    for event in events {
        let result = match event.clone() {
            Event::Fs(e) => notifier.send_fs_event(e).await,
            Event::Provider(e) => notifier.send_provider_event(e).await,
            Event::Log(e) => notifier.send_log_event(e).await,
        };
        result.unwrap_or_else(|status| {
            panic!("{} delivery to {}: {status}", event.kind(), handle.name())
        });
    }
}

fn recorded(path: &Path) -> Vec<Event> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    parse_event_lines(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The Plexus host loads the Go plugin with AutoMTLS off and on, over its
/// unix socket and over loopback TCP, and every field arrives equal. The
/// plugin sees only what the host allows of its environment.
#[tokio::test]
async fn plexus_host_loads_a_go_plugin() {
    let go = go_fixtures();
    let dir = tempfile::tempdir().unwrap();
    // The variables below are only ever set by this test.
    std::env::set_var("PLEXUS_INTEROP_NOT_FOR_PLUGINS", "secret");
    for (case, (auto_mtls, tcp)) in [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let record = dir.path().join(format!("record-{case}.jsonl"));
        let env_dump = dir.path().join(format!("env-{case}.txt"));
        std::env::set_var("PLEXUS_RECORD_FILE", &record);
        std::env::set_var("PLEXUS_ENV_DUMP", &env_dump);
        std::env::set_var("PLEXUS_TCP_RELAY", if tcp { "1" } else { "0" });
        let spec = spec(
            &go.plugin,
            Vec::new(),
            auto_mtls,
            &["PLEXUS_RECORD_FILE", "PLEXUS_ENV_DUMP", "PLEXUS_TCP_RELAY"],
        );
        let handle = PluginHandle::start(&spec, &HostOptions::default())
            .await
            .unwrap_or_else(|err| panic!("case {case} (auto_mtls {auto_mtls}, tcp {tcp}): {err}"));
        assert_eq!(
            handle.handshake().network.as_str(),
            if tcp { "tcp" } else { "unix" }
        );
        assert_eq!(handle.handshake().server_cert.is_some(), auto_mtls);
        assert!(
            !handle.has_stdio(),
            "go-plugin 1.0.1 has no GRPCStdio service"
        );

        let events = sample_events();
        send_all(&handle, &events).await;
        assert_eq!(
            recorded(&record),
            events,
            "case {case}: every field arrives equal"
        );

        let env = std::fs::read_to_string(&env_dump).unwrap();
        assert!(
            env.contains("SFTPGO_PLUGIN_NOTIFIER=c499b98b-cd59-4df2-92b3-6268817f4d80"),
            "{env}"
        );
        assert_eq!(env.contains("PLUGIN_CLIENT_CERT="), auto_mtls, "{env}");
        assert!(
            !env.contains("PLEXUS_INTEROP_NOT_FOR_PLUGINS"),
            "a variable outside env_vars leaked:\n{env}"
        );
        assert!(
            !env.lines()
                .any(|l| l.starts_with("PATH=") || l.starts_with("HOME=")),
            "{env}"
        );

        let exit = handle.shutdown().await;
        assert!(
            exit.success(),
            "case {case}: the Go plugin stops cleanly on Shutdown: {exit}"
        );
    }
}

/// A go-plugin host written the way SFTPGo's is (AutoMTLS, an environment
/// built from scratch) loads the SDK's notifier-jsonl, over the unix socket
/// and over TCP, and every field arrives equal.
#[test]
fn go_host_loads_the_rust_plugin() {
    let go = go_fixtures();
    let plugin = workspace_bin("notifier-jsonl");
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events();
    let input = dir.path().join("events.jsonl");
    let lines: Vec<String> = events.iter().map(event_line).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    for (case, (auto_mtls, tcp)) in [(false, false), (true, false), (true, true)]
        .into_iter()
        .enumerate()
    {
        let out = dir.path().join(format!("out-{case}.jsonl"));
        let mut command = std::process::Command::new(&go.host);
        command
            .arg("-plugin")
            .arg(&plugin)
            .arg("-args")
            .arg(format!("--out {}", out.display()))
            .arg("-events")
            .arg(&input)
            .args(["-concurrency", "1"]);
        if auto_mtls {
            command.arg("-auto-mtls");
        }
        if tcp {
            command.args(["-env", "PLEXUS_PLUGIN_TRANSPORT=tcp"]);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "case {case}: the Go host failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(summary["sent"], events.len());
        assert_eq!(summary["failed"], 0);
        assert_eq!(
            recorded(&out),
            events,
            "case {case}: every field arrives equal"
        );
        // The plugin's hclog JSON lines keep their level through the Go host's log.
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("notifier plugin starting"), "{stderr}");
    }
}

/// The Plexus host loads notifier-jsonl, plain and with AutoMTLS, over the
/// unix socket and over TCP.
#[tokio::test]
async fn plexus_host_loads_the_rust_plugin() {
    let plugin = workspace_bin("notifier-jsonl");
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("PLEXUS_PLUGIN_TRANSPORT", "tcp");
    for (case, (auto_mtls, tcp)) in [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let out = dir.path().join(format!("out-{case}.jsonl"));
        let env_vars: &[&str] = if tcp {
            &["PLEXUS_PLUGIN_TRANSPORT"]
        } else {
            &[]
        };
        let spec = spec(
            &plugin,
            vec!["--out".into(), out.to_string_lossy().into_owned()],
            auto_mtls,
            env_vars,
        );
        let handle = PluginHandle::start(&spec, &HostOptions::default())
            .await
            .unwrap_or_else(|err| panic!("case {case}: {err}"));
        assert_eq!(
            handle.handshake().network.as_str(),
            if tcp { "tcp" } else { "unix" }
        );
        assert!(handle.has_stdio(), "SDK plugins serve GRPCStdio");
        let events = sample_events();
        send_all(&handle, &events).await;
        assert_eq!(recorded(&out), events, "case {case}");
        assert!(handle.shutdown().await.success());
    }
}
