//! The process host's failure paths, each with a real misbehaving process:
//! every failure must be a typed error naming the plugin and the step, the
//! host must survive, and nothing may be left running.

use plexus_engine::host::checksum::sha256_file;
use plexus_engine::{HostOptions, LaunchSpec, PluginHandle, Step};
use plexus_proto::PluginKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn spec(cmd: &Path) -> LaunchSpec {
    LaunchSpec {
        kind: PluginKind::Notifier,
        cmd: cmd.to_string_lossy().into_owned(),
        args: Vec::new(),
        sha256sum: None,
        auto_mtls: false,
        env_prefix: String::new(),
        env_vars: Vec::new(),
        label: String::new(),
    }
}

fn quick() -> HostOptions {
    HostOptions {
        start_timeout: Duration::from_secs(10),
        ..HostOptions::default()
    }
}

async fn start_err(spec: &LaunchSpec, options: &HostOptions) -> plexus_engine::HostError {
    match PluginHandle::start(spec, options).await {
        Ok(handle) => panic!("expected a failure, plugin started: {handle:?}"),
        Err(err) => {
            assert_eq!(err.plugin, spec.cmd, "the error names the plugin");
            assert!(err.to_string().contains(&spec.cmd));
            err
        }
    }
}

#[tokio::test]
async fn wrong_sha256_is_refused_and_nothing_is_spawned() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let cmd = script(
        dir.path(),
        "plugin",
        &format!("echo > {}", marker.display()),
    );
    let mut spec = spec(&cmd);
    let actual = hex_of(&sha256_file(&cmd).unwrap());
    let wrong = "0".repeat(64);
    spec.sha256sum = Some(wrong.clone());
    let err = start_err(&spec, &quick()).await;
    assert_eq!(err.step, Step::Checksum);
    assert!(
        err.detail.contains(&wrong) && err.detail.contains(&actual),
        "{err}"
    );
    assert!(!marker.exists(), "the plugin must not have run");
}

#[tokio::test]
async fn a_bare_cmd_is_resolved_in_the_hosts_path_and_the_hashed_file_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let mut spec = spec(Path::new("sh"));
    spec.args = vec!["-c".into(), format!("echo ran > {}", marker.display())];
    spec.sha256sum = Some("0".repeat(64));
    let err = start_err(&spec, &quick()).await;
    assert_eq!(err.step, Step::Checksum);
    // The file found in the host's PATH was hashed, not ./sh in the working directory.
    assert!(err.detail.contains("checksums did not match"), "{err}");
    assert!(!marker.exists(), "a mismatch must not run anything");
    let actual = err.detail.rsplit(' ').next().unwrap_or_default().to_owned();
    spec.sha256sum = Some(actual);
    let err = start_err(&spec, &quick()).await;
    assert_eq!(err.step, Step::ExitedBeforeHandshake, "{err}");
    assert!(
        marker.exists(),
        "the file that was hashed is the one that ran"
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn missing_and_non_executable_commands_fail_at_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let err = start_err(&spec(&dir.path().join("does-not-exist")), &quick()).await;
    assert_eq!(err.step, Step::Spawn);
    assert!(err.detail.contains("No such file"), "{err}");

    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = start_err(&spec(&plain), &quick()).await;
    assert_eq!(err.step, Step::Spawn);
    assert!(err.detail.contains("ermission denied"), "{err}");
}

#[tokio::test]
async fn exit_before_handshake_reports_the_plugins_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "plugin",
        "echo 'Incorrect Usage: flag provided but not defined: -ldap-url' >&2\nexit 3",
    );
    let err = start_err(&spec(&cmd), &quick()).await;
    assert_eq!(err.step, Step::ExitedBeforeHandshake);
    assert!(err.detail.contains("exit status 3"), "{err}");
    assert!(
        err.detail.contains("flag provided but not defined"),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_handshake_is_rejected_and_the_process_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let cmd = script(
        dir.path(),
        "plugin",
        &format!(
            "echo $$ > {}\necho 'Usage: plugin [serve|migrate]'\nexec /bin/sleep 30",
            pid_file.display()
        ),
    );
    let err = start_err(&spec(&cmd), &quick()).await;
    assert_eq!(err.step, Step::BadHandshake);
    assert!(err.detail.contains("Usage: plugin"), "{err}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_gone(pid).await;
}

#[tokio::test]
async fn unsupported_core_and_app_versions_are_version_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let core = script(
        dir.path(),
        "core",
        "echo '2|1|unix|/tmp/x|grpc|'\nexec /bin/sleep 30",
    );
    let err = start_err(&spec(&core), &quick()).await;
    assert_eq!(err.step, Step::VersionMismatch);
    assert!(err.detail.contains("core API"), "{err}");
    let app = script(
        dir.path(),
        "app",
        "echo '1|7|unix|/tmp/x|grpc|'\nexec /bin/sleep 30",
    );
    let err = start_err(&spec(&app), &quick()).await;
    assert_eq!(err.step, Step::VersionMismatch);
    let netrpc = script(
        dir.path(),
        "netrpc",
        "echo '1|1|unix|/tmp/x|netrpc|'\nexec /bin/sleep 30",
    );
    assert_eq!(
        start_err(&spec(&netrpc), &quick()).await.step,
        Step::BadHandshake
    );
}

#[tokio::test]
async fn silent_plugin_hits_the_start_timeout_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let cmd = script(
        dir.path(),
        "plugin",
        &format!(
            "echo $$ > {}\necho 'still thinking' >&2\nexec /bin/sleep 30",
            pid_file.display()
        ),
    );
    let options = HostOptions {
        start_timeout: Duration::from_millis(500),
        ..HostOptions::default()
    };
    let err = start_err(&spec(&cmd), &options).await;
    assert_eq!(err.step, Step::HandshakeTimeout);
    assert!(err.detail.contains("still thinking"), "{err}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_gone(pid).await;
}

#[tokio::test]
async fn unreachable_socket_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "plugin",
        &format!(
            "echo '1|1|unix|{}/nobody-listens|grpc|'\nexec /bin/sleep 30",
            dir.path().display()
        ),
    );
    let err = start_err(&spec(&cmd), &quick()).await;
    assert_eq!(err.step, Step::Connect);
}

#[tokio::test]
async fn non_loopback_tcp_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "plugin",
        "echo '1|1|tcp|192.0.2.1:10000|grpc|'\nexec /bin/sleep 30",
    );
    let err = start_err(&spec(&cmd), &quick()).await;
    assert_eq!(err.step, Step::BadHandshake);
    assert!(err.detail.contains("loopback"), "{err}");
}

#[tokio::test]
async fn auto_mtls_without_a_certificate_in_the_handshake_is_a_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "plugin",
        "echo '1|1|unix|/tmp/x|grpc|'\nexec /bin/sleep 30",
    );
    let mut spec = spec(&cmd);
    spec.auto_mtls = true;
    let err = start_err(&spec, &quick()).await;
    assert_eq!(err.step, Step::Tls);
}

#[tokio::test]
async fn huge_and_invalid_utf8_log_lines_are_truncated_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "plugin",
        "/usr/bin/head -c 6291456 /dev/zero | /usr/bin/tr '\\0' a >&2\necho >&2\nprintf 'bad \\377\\376 bytes\\n' >&2\nexit 1",
    );
    let options = HostOptions {
        max_log_line: 4096,
        ..quick()
    };
    let err = start_err(&spec(&cmd), &options).await;
    assert_eq!(err.step, Step::ExitedBeforeHandshake);
    let text = err.to_string();
    assert!(
        text.len() < 8 * 1024,
        "the error stays small: {} bytes",
        text.len()
    );
    assert!(text.contains("bad \u{fffd}\u{fffd} bytes"), "{text}");
    // The host is still fine: a second start works the same way.
    assert_eq!(
        start_err(&spec(&cmd), &options).await.step,
        Step::ExitedBeforeHandshake
    );
}

#[tokio::test]
async fn plugin_sees_only_the_allowed_environment() {
    // Set once for this test binary; the name is unique to this test.
    std::env::set_var("PLEXUS_ISOLATION_SECRET", "must-not-leak");
    std::env::set_var("ENVDUMP_ALLOWED", "by-prefix");
    std::env::set_var("PLEXUS_ISOLATION_LISTED", "by-name");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env.txt");
    let cmd = script(
        dir.path(),
        "envdump",
        &format!("/usr/bin/env > {}\nexit 1", dump.display()),
    );
    let mut spec = spec(&cmd);
    spec.env_vars = vec!["PLEXUS_ISOLATION_LISTED".into()];
    let _ = start_err(&spec, &quick()).await;
    let env = std::fs::read_to_string(&dump).unwrap();
    assert!(env.contains("ENVDUMP_ALLOWED=by-prefix"), "{env}");
    assert!(env.contains("PLEXUS_ISOLATION_LISTED=by-name"), "{env}");
    assert!(
        env.contains("SFTPGO_PLUGIN_NOTIFIER=c499b98b-cd59-4df2-92b3-6268817f4d80"),
        "{env}"
    );
    assert!(env.contains("PLUGIN_PROTOCOL_VERSIONS=1"), "{env}");
    assert!(!env.contains("must-not-leak"), "{env}");
    assert!(!env.contains("PLUGIN_CLIENT_CERT"), "{env}");
}

async fn wait_gone(pid: i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // kill(pid, 0) fails with ESRCH once the process is gone (it is reaped by the host).
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
