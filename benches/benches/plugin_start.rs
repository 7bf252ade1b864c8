//! Plugin start: from spawn to a healthy channel — spawn, handshake line,
//! (AutoMTLS,) connect, health check — through the engine's process host
//! (`PluginHandle::start`), for the Rust `notifier-jsonl` and for the Go
//! interop plugin (go-plugin 1.0.1), plain and with AutoMTLS.
//!
//! Baseline, in the same group: spawning the same binary with the same
//! environment and reading its handshake line, nothing more. That is the
//! floor set by the plugin itself (exec, runtime start, with mTLS its key
//! generation); the difference is what the host adds (environment,
//! handshake parsing, the TLS handshake, connect, health, log mirroring).
//! Each measured start is followed by an untimed graceful stop.
//!
//! Needs release binaries: `cargo build --release --workspace --bins`, then
//! `cargo bench -p plexus-benches --bench plugin_start`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use plexus_benches::locate;
use plexus_engine::{HostOptions, LaunchSpec, PluginHandle};
use plexus_proto::mtls::Identity;
use plexus_proto::PluginKind;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

struct Plugin {
    name: &'static str,
    cmd: PathBuf,
    args: Vec<String>,
}

fn plugins() -> Vec<Plugin> {
    let rust = locate::workspace_binary("notifier-jsonl").unwrap_or_else(|err| panic!("{err}"));
    let go = plexus_interop::go_fixtures();
    vec![
        Plugin {
            name: "notifier-jsonl",
            cmd: rust,
            args: vec!["--out".into(), "/dev/null".into()],
        },
        Plugin {
            name: "go-plugin",
            cmd: go.plugin.clone(),
            args: Vec::new(),
        },
    ]
}

/// Spawn with go-plugin's variables and read the handshake line; then kill.
async fn spawn_to_handshake(plugin: &Plugin, client_cert: Option<&str>) -> Duration {
    let cookie = PluginKind::Notifier.cookie();
    let mut command = tokio::process::Command::new(&plugin.cmd);
    command
        .args(&plugin.args)
        .env_clear()
        .env(cookie.key, cookie.value)
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(pem) = client_cert {
        command.env("PLUGIN_CLIENT_CERT", pem);
    }
    let began = Instant::now();
    let mut child = command.spawn().expect("spawn the plugin");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("read the handshake line");
    let elapsed = began.elapsed();
    assert!(line.starts_with("1|1|"), "handshake line: {line:?}");
    let _ = child.kill().await;
    elapsed
}

fn start(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let options = HostOptions::default();
    let identity = Identity::generate().expect("a client certificate");
    let mut group = c.benchmark_group("plugin_start");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for plugin in plugins() {
        for auto_mtls in [false, true] {
            let mode = if auto_mtls { "mtls" } else { "plain" };
            let parameter = format!("{}/{mode}", plugin.name);
            let spec = LaunchSpec {
                kind: PluginKind::Notifier,
                cmd: plugin.cmd.to_string_lossy().into_owned(),
                args: plugin.args.clone(),
                sha256sum: None,
                auto_mtls,
                env_prefix: "none".into(),
                env_vars: Vec::new(),
                label: String::new(),
            };
            group.bench_function(BenchmarkId::new("engine_host_start", &parameter), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let began = Instant::now();
                            let handle = PluginHandle::start(&spec, &options)
                                .await
                                .unwrap_or_else(|err| panic!("{err}"));
                            total += began.elapsed();
                            handle.shutdown().await;
                        }
                        total
                    })
                })
            });
            let cert = auto_mtls.then_some(identity.cert_pem.as_str());
            group.bench_function(
                BenchmarkId::new("baseline_spawn_to_handshake_line", &parameter),
                |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(async {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                total += spawn_to_handshake(&plugin, cert).await;
                            }
                            total
                        })
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, start);
criterion_main!(benches);
