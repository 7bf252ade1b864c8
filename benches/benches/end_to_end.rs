//! End to end: events/s from `Engine::notify_fs` to acknowledged delivery in
//! a real plugin process over a unix socket, plain and with AutoMTLS, in
//! `on_failure` and `write_ahead` durability.
//!
//! An iteration hands 5 000 upload events to the engine (up to 256 notify
//! calls in flight, so `write_ahead`'s durable appends can share flushes, as
//! they do under many concurrent producers) and ends when `Engine::drain`
//! says every one was delivered. The mailbox is sized to hold a whole
//! iteration so nothing overflows to the queue (checked). The Rust plugin
//! (`notifier-jsonl --out /dev/null`) gets batches through Plexus's batch
//! extension; the Go plugin (acknowledging only) gets SFTPGo's unary calls.
//!
//! For the Rust plugin with mTLS the group also has the batch publish path
//! (`Engine::notify_many`, 256 events a call, 4 calls in flight), which is
//! what the ingestion API's `PublishBatch` uses: its durable appends share
//! one wait per call instead of one per event.
//!
//! Baseline, in the same group: the same plugin process called directly
//! with tonic unary RPCs (`proto.Notifier`), 128 in flight (the engine's
//! default `max_calls_in_flight`) — what one-call-per-event delivery costs
//! without any engine.
//!
//! Needs release binaries: `cargo build --release --workspace --bins`, then
//! `cargo bench -p plexus-benches --bench end_to_end`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::stream::{self, StreamExt};
use plexus_actors::Durability;
use plexus_benches::{locate, workload};
use plexus_engine::clients::Notifier;
use plexus_engine::config::NotifierOptions;
use plexus_engine::{Engine, EngineSettings, HostOptions, LaunchSpec, PluginConfig, PluginHandle};
use plexus_proto::sftpgo::FsEvent;
use plexus_proto::{Event, PluginKind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const EVENTS: usize = 5_000;
const NOTIFIES_IN_FLIGHT: usize = 256;
const RPCS_IN_FLIGHT: usize = 128;
const PUBLISH_BATCH: usize = 256;
const BATCHES_IN_FLIGHT: usize = 4;

/// Upload events from the comparison's workload (its filesystem events).
fn uploads() -> Vec<FsEvent> {
    let base = plexus_actors::delivery::policy::now_ns();
    workload::mixed(EVENTS * 2, base)
        .into_iter()
        .filter_map(|event| match event {
            Event::Fs(mut e) => {
                e.action = "upload".into();
                Some(e)
            }
            _ => None,
        })
        .take(EVENTS)
        .collect()
}

struct Plugin {
    name: &'static str,
    cmd: PathBuf,
    args: Vec<String>,
}

fn rust_plugin() -> Plugin {
    Plugin {
        name: "rust-plugin",
        cmd: locate::workspace_binary("notifier-jsonl").unwrap_or_else(|err| panic!("{err}")),
        args: vec!["--out".into(), "/dev/null".into()],
    }
}

fn go_plugin() -> Plugin {
    Plugin {
        name: "go-plugin",
        cmd: plexus_interop::go_fixtures().plugin.clone(),
        args: Vec::new(),
    }
}

fn config(plugin: &Plugin, auto_mtls: bool) -> PluginConfig {
    PluginConfig {
        kind: "notifier".into(),
        cmd: plugin.cmd.to_string_lossy().into_owned(),
        args: plugin.args.clone(),
        auto_mtls,
        env_prefix: "none".into(),
        notifier_options: NotifierOptions {
            fs_events: vec!["upload".into()],
            retry_max_time: 60,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn end_to_end(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let events = uploads();
    let mut group = c.benchmark_group("end_to_end");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(EVENTS as u64));

    let cases = [
        (rust_plugin(), Durability::OnFailure, false),
        (rust_plugin(), Durability::OnFailure, true),
        (rust_plugin(), Durability::WriteAhead, false),
        (rust_plugin(), Durability::WriteAhead, true),
        (go_plugin(), Durability::OnFailure, true),
    ];
    for (plugin, durability, auto_mtls) in &cases {
        let mode = match durability {
            Durability::OnFailure => "on_failure",
            Durability::WriteAhead => "write_ahead",
        };
        let tls = if *auto_mtls { "mtls" } else { "plain" };
        let data = tempfile::tempdir().expect("temp dir");
        let settings = EngineSettings {
            data_dir: data.path().to_owned(),
            durability: *durability,
            mailbox_capacity: EVENTS * 2,
            ..EngineSettings::default()
        };
        let engine = runtime
            .block_on(Engine::start(vec![config(plugin, *auto_mtls)], settings))
            .unwrap_or_else(|err| panic!("starting the engine: {err}"));
        group.bench_function(
            BenchmarkId::new(
                format!("plexus_notify_fs/{}", plugin.name),
                format!("{mode}/{tls}"),
            ),
            |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let began = Instant::now();
                        for _ in 0..iters {
                            stream::iter(events.iter().cloned())
                                .map(|event| engine.notify_fs(event))
                                .buffer_unordered(NOTIFIES_IN_FLIGHT)
                                .for_each(|accepted| {
                                    assert!(accepted.is_ok(), "accepted: {accepted:?}");
                                    futures::future::ready(())
                                })
                                .await;
                            assert!(engine.drain(Duration::from_secs(60)).await, "drained");
                        }
                        began.elapsed()
                    })
                })
            },
        );
        if *auto_mtls && plugin.name == "rust-plugin" {
            // The batch publish path (the ingestion API's PublishBatch):
            // 256 events a message, their durable appends share one wait.
            group.bench_function(
                BenchmarkId::new(
                    format!("plexus_notify_many_256/{}", plugin.name),
                    format!("{mode}/{tls}"),
                ),
                |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(async {
                            let began = Instant::now();
                            for _ in 0..iters {
                                let batches: Vec<Vec<Event>> = events
                                    .chunks(PUBLISH_BATCH)
                                    .map(|chunk| chunk.iter().cloned().map(Event::Fs).collect())
                                    .collect();
                                stream::iter(batches)
                                    .map(|batch| engine.notify_many(batch))
                                    .buffer_unordered(BATCHES_IN_FLIGHT)
                                    .for_each(|accepted| {
                                        assert!(accepted.is_ok(), "accepted: {accepted:?}");
                                        futures::future::ready(())
                                    })
                                    .await;
                                assert!(engine.drain(Duration::from_secs(60)).await, "drained");
                            }
                            began.elapsed()
                        })
                    })
                },
            );
        }
        let counters = engine.stats()[0].counters;
        assert_eq!(
            (counters.failed, counters.overflowed, counters.queued),
            (0, 0, 0),
            "clean deliveries"
        );
        eprintln!(
            "{} {mode}/{tls}: {} delivered, batched {}",
            plugin.name,
            counters.delivered,
            counters.batched == 1
        );
        runtime.block_on(engine.shutdown(Duration::from_secs(10)));
    }

    for plugin in [rust_plugin(), go_plugin()] {
        let spec = LaunchSpec {
            kind: PluginKind::Notifier,
            cmd: plugin.cmd.to_string_lossy().into_owned(),
            args: plugin.args.clone(),
            sha256sum: None,
            auto_mtls: true,
            env_prefix: "none".into(),
            env_vars: Vec::new(),
            label: String::new(),
        };
        let handle = runtime
            .block_on(PluginHandle::start(&spec, &HostOptions::default()))
            .unwrap_or_else(|err| panic!("starting {}: {err}", plugin.name));
        let client = Notifier::new(handle.channel(), Duration::from_secs(20));
        group.bench_function(
            BenchmarkId::new(format!("baseline_tonic_unary/{}", plugin.name), "mtls"),
            |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let began = Instant::now();
                        for _ in 0..iters {
                            stream::iter(events.iter().cloned())
                                .map(|event| client.send_fs_event(event))
                                .buffer_unordered(RPCS_IN_FLIGHT)
                                .for_each(|sent| {
                                    assert!(sent.is_ok(), "delivered: {sent:?}");
                                    futures::future::ready(())
                                })
                                .await;
                        }
                        began.elapsed()
                    })
                })
            },
        );
        runtime.block_on(handle.shutdown());
    }
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
