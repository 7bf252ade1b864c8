//! End to end: events/s from `notify_many` (batches of 256) to acknowledged
//! delivery in a real `notifier-jsonl` process over a unix socket, with
//! mTLS on and off, in `on_failure` and `write_ahead` durability.
//!
//! Why: this is the figure users see. `on_failure` with mTLS is the
//! baseline of the group: `write_ahead` adds a durable append (one group
//! commit per batch) and a removal per event, plain adds nothing to check
//! against TLS's cost. Each iteration publishes a block of events and waits
//! for `drain`; the mailbox is sized so no event overflows (overflow is
//! measured by the harness, not here), and every block is checked to have
//! been delivered, none queued or dropped.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use plexus_actors::Durability;
use plexus_engine::config::NotifierOptions;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_proto::Event;
use std::time::{Duration, Instant};

const EVENTS: usize = 8192;
const BATCH: usize = 256;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let plugin = common::workspace_bin("notifier-jsonl");
    let mut group = c.benchmark_group("end_to_end_notifier_jsonl_uds");
    group
        .throughput(Throughput::Elements(EVENTS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));

    for (name, durability, mtls) in [
        ("baseline_on_failure_mtls", Durability::OnFailure, true),
        ("on_failure_plain", Durability::OnFailure, false),
        ("write_ahead_mtls", Durability::WriteAhead, true),
        ("write_ahead_plain", Durability::WriteAhead, false),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = PluginConfig {
            kind: "notifier".into(),
            cmd: plugin.to_string_lossy().into_owned(),
            args: vec![
                "--out".into(),
                dir.path().join("out.jsonl").to_string_lossy().into_owned(),
            ],
            auto_mtls: mtls,
            notifier_options: NotifierOptions {
                fs_events: vec!["upload".into()],
                retry_max_time: 300,
                ..Default::default()
            },
            ..Default::default()
        };
        let settings = EngineSettings {
            data_dir: dir.path().join("data"),
            durability,
            retry_interval: Duration::from_millis(100),
            mailbox_capacity: EVENTS * 2,
            ..EngineSettings::default()
        };
        let engine = runtime
            .block_on(Engine::start(vec![config], settings))
            .expect("engine starts");
        let mut next_id = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let before = engine.stats()[0].counters.delivered;
                        for _ in 0..EVENTS / BATCH {
                            let batch: Vec<Event> = (0..BATCH)
                                .map(|_| {
                                    next_id += 1;
                                    Event::Fs(common::upload(next_id))
                                })
                                .collect();
                            engine.notify_many(batch).await.expect("accepted");
                        }
                        assert!(engine.drain(Duration::from_secs(30)).await, "drained");
                        let after = engine.stats()[0].counters;
                        assert_eq!(after.delivered - before, EVENTS as u64, "{after:?}");
                    }
                    started.elapsed()
                })
            })
        });
        let counters = engine.stats()[0].counters;
        assert_eq!(counters.queued + counters.dropped(), 0, "{counters:?}");
        runtime.block_on(engine.shutdown(Duration::from_secs(10)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
