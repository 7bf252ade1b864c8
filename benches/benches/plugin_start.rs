//! Plugin start: spawn → handshake line → mTLS channel → health OK, with
//! `PluginHandle::start` (no engine), for the Rust `notifier-jsonl` and the
//! Go interop notifier, both with AutoMTLS.
//!
//! Why: start time is what a restart after a crash costs, and a Go plugin
//! generates a P-521 key on every start with AutoMTLS. The Go plugin is the
//! baseline in the group. Stopping the plugin is not timed.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use plexus_engine::{HostOptions, LaunchSpec, PluginHandle};
use plexus_proto::PluginKind;
use std::time::{Duration, Instant};

fn spec(cmd: &std::path::Path, args: Vec<String>) -> LaunchSpec {
    LaunchSpec {
        kind: PluginKind::Notifier,
        cmd: cmd.to_string_lossy().into_owned(),
        args,
        sha256sum: None,
        auto_mtls: true,
        env_prefix: String::new(),
        env_vars: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let rust = common::workspace_bin("notifier-jsonl");
    let go = common::go_plugin();
    let out = dir.path().join("out.jsonl").to_string_lossy().into_owned();
    let specs = [
        (
            "rust_notifier_jsonl_mtls",
            spec(&rust, vec!["--out".into(), out]),
        ),
        ("baseline_go_plugin_mtls", spec(&go, Vec::new())),
    ];
    let options = HostOptions::default();

    let mut group = c.benchmark_group("plugin_start_mtls_to_health_ok");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, spec) in &specs {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        let started = Instant::now();
                        let handle = PluginHandle::start(spec, &options)
                            .await
                            .expect("plugin starts");
                        elapsed += started.elapsed();
                        handle.shutdown().await;
                    }
                    elapsed
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
