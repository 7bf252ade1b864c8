//! Events/s of `plexus-pubsub` through the Plexus engine against a bare
//! client of the same crate publishing the same bytes with the same
//! guarantee to the same local broker: NATS (publish, then a marker to the
//! client's own inbox comes back: a server round trip), JetStream (publish ack, `Nats-Msg-Id`), RabbitMQ
//! (publisher confirms, `mandatory`) and Redis Streams (`XADD` reply).
//!
//! Each broker: one engine with the release plugin binary, a warm-up, then
//! rounds of engine run / bare run (A B A B), N upload events each. The
//! engine side feeds `Engine::notify` and stops the clock when the
//! plugin's delivered counter reaches N (every event confirmed by the
//! broker); the bare side keeps a window of 256 publishes in flight and
//! waits for their confirms before the next window. Prints one line per
//! round and a summary table: the median of each side's rounds, and the
//! median of the per-round ratios (a run and the bare run right after it
//! see the same machine load, so their ratio is steadier than either).
//! Each run also reports the CPU per event of the bench process (host and
//! producer, or the bare client), the plugin and the broker's server, and
//! the summary the ceiling those figures put on the ratio on shared cores
//! (see `support/cpu.rs`), and the engine's mean events per call.
//!
//! The engine side is fed with up to 256 `notify` calls outstanding (the
//! bare client's window); `PLEXUS_PUBSUB_BENCH_FEED=one` awaits one at a
//! time, `=many` hands over chunks of 256 with `notify_many`.
//!
//! `cargo bench -p plexus-pubsub` (needs the four local servers);
//! `PLEXUS_PUBSUB_BENCH_EVENTS` (default 20 000) and
//! `PLEXUS_PUBSUB_BENCH_ROUNDS` (default 3) size it.

#[path = "support/cpu.rs"]
mod cpu;

use async_nats::jetstream;
use futures::future::join_all;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_pubsub::{gob, Encoder, Message};
use plexus_sdk::notifier::FsEvent;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_plexus-pubsub");
const NATS_URL: &str = "nats://127.0.0.1:4222";
const RABBIT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const REDIS_URL: &str = "redis://127.0.0.1:6379/0";
const WINDOW: usize = 256;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// N upload events, unique per call (JetStream would deduplicate repeats).
fn events(n: usize) -> Vec<FsEvent> {
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    (0..n as i64)
        .map(|i| FsEvent {
            timestamp: base + i,
            action: "upload".into(),
            username: "alice".into(),
            fs_path: format!("/srv/sftpgo/data/alice/reports/file-{i}.csv"),
            virtual_path: format!("/reports/file-{i}.csv"),
            file_size: 65_536,
            protocol: "SFTP".into(),
            status: 1,
            ip: "192.0.2.10".into(),
            session_id: "2b6b1a5e0f7c".into(),
            elapsed: 18,
            ..Default::default()
        })
        .collect()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

struct Target {
    name: &'static str,
    /// The broker server's process name, for its CPU.
    broker_process: &'static str,
    url: String,
    env_var: &'static str,
    env_value: &'static str,
}

async fn start_engine(dir: &std::path::Path, target: &Target) -> Engine {
    std::env::set_var(target.env_var, target.env_value);
    let plugin: PluginConfig = serde_json::from_value(serde_json::json!({
        "type": "notifier",
        "cmd": BIN,
        "args": [target.url],
        "auto_mtls": true,
        "env_vars": [target.env_var],
        "notifier_options": {"fs_events": ["upload"], "retry_max_time": 0}
    }))
    .expect("plugin config");
    let settings = EngineSettings {
        data_dir: dir.join(target.name.replace(' ', "-")),
        ..EngineSettings::default()
    };
    Engine::start(vec![plugin], settings)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "{}: the engine cannot start plexus-pubsub: {err}",
                target.name
            )
        })
}

/// How the engine side is fed (`PLEXUS_PUBSUB_BENCH_FEED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// One `notify` awaited at a time: a single sequential producer.
    One,
    /// Up to [`WINDOW`] `notify` calls outstanding, each event its own
    /// future, as a file server's sessions hand events over concurrently
    /// (SFTPGo: a goroutine per event) and as the bare client keeps 256
    /// publishes in flight.
    Window,
    /// `notify_many` with chunks of 256.
    Many,
}

fn feed() -> Feed {
    match std::env::var("PLEXUS_PUBSUB_BENCH_FEED").as_deref() {
        Ok("one") => Feed::One,
        Ok("many") => Feed::Many,
        _ => Feed::Window,
    }
}

/// Events/s through the engine, until every event is delivered, fed as
/// [`feed`] says.
async fn engine_run(engine: &Engine, n: usize) -> f64 {
    let batch = events(n);
    let before = engine.stats()[0].counters;
    let start = Instant::now();
    let feed = feed();
    if feed == Feed::Window {
        use futures::stream::{FuturesUnordered, StreamExt};
        let mut outstanding = FuturesUnordered::new();
        for event in batch {
            if outstanding.len() >= WINDOW {
                outstanding.next().await;
            }
            outstanding.push(async move {
                engine.notify_fs(event).await.expect("notify");
            });
        }
        while outstanding.next().await.is_some() {}
    } else if feed == Feed::Many {
        let mut batch = batch
            .into_iter()
            .map(plexus_actors::event::Event::Fs)
            .peekable();
        while batch.peek().is_some() {
            let chunk: Vec<_> = batch.by_ref().take(256).collect();
            engine
                .notify_many(chunk)
                .await
                .map_err(|(_, e)| e)
                .expect("notify_many");
        }
    } else {
        for event in batch {
            engine.notify_fs(event).await.expect("notify");
        }
    }
    loop {
        let now = engine.stats()[0].counters;
        let done = now.delivered - before.delivered;
        let failed = now.failed - before.failed;
        assert_eq!(failed, 0, "deliveries failed during the run");
        if done >= n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn messages(n: usize) -> Vec<Message> {
    let encoder = Encoder::default();
    events(n).iter().map(|e| encoder.fs(e)).collect()
}

async fn bare_nats(n: usize, subject: &str) -> f64 {
    use futures::StreamExt;
    let client = async_nats::connect(NATS_URL).await.expect("NATS");
    let inbox = client.new_inbox();
    let mut markers = client.subscribe(inbox.clone()).await.expect("subscribe");
    let msgs = messages(n);
    let start = Instant::now();
    for (seq, window) in msgs.chunks(WINDOW).enumerate() {
        for m in window {
            let payload = gob::encode(&m.metadata_pairs(), &m.body);
            client
                .publish(subject.to_owned(), payload.into())
                .await
                .expect("publish");
        }
        let token = seq.to_string();
        client
            .publish(inbox.clone(), token.clone().into())
            .await
            .expect("marker");
        while let Some(marker) = markers.next().await {
            if marker.payload.as_ref() == token.as_bytes() {
                break;
            }
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn bare_jetstream(n: usize, subject: &str) -> f64 {
    let client = async_nats::connect(NATS_URL).await.expect("NATS");
    let js = jetstream::new(client);
    let msgs = messages(n);
    let start = Instant::now();
    for window in msgs.chunks(WINDOW) {
        let mut acks = Vec::with_capacity(window.len());
        for m in window {
            let payload = gob::encode(&m.metadata_pairs(), &m.body);
            let publish = jetstream::message::PublishMessage::build()
                .payload(payload.into())
                .message_id(m.id.as_str());
            acks.push(
                js.send_publish(subject.to_owned(), publish)
                    .await
                    .expect("publish"),
            );
        }
        for ack in join_all(acks.into_iter().map(|a| a.into_future())).await {
            ack.expect("publish ack");
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn bare_rabbit(n: usize, exchange: &str) -> f64 {
    let conn = Connection::connect(RABBIT_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let msgs = messages(n);
    let start = Instant::now();
    for window in msgs.chunks(WINDOW) {
        let mut confirms = Vec::with_capacity(window.len());
        for m in window {
            let mut headers = FieldTable::default();
            for (k, v) in &m.metadata {
                headers.insert((*k).into(), AMQPValue::LongString(v.as_str().into()));
            }
            let props = BasicProperties::default()
                .with_headers(headers)
                .with_message_id(m.id.as_str().into());
            let confirm = ch
                .basic_publish(
                    exchange.into(),
                    "".into(),
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    &m.body,
                    props,
                )
                .await
                .expect("publish");
            confirms.push(confirm);
        }
        for confirm in join_all(confirms).await {
            assert!(
                matches!(confirm, Ok(Confirmation::Ack(None))),
                "{confirm:?}"
            );
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn bare_redis(n: usize, stream: &str) -> f64 {
    let client = redis::Client::open(REDIS_URL).expect("Redis URL");
    let conn = redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis");
    let msgs = messages(n);
    let start = Instant::now();
    for window in msgs.chunks(WINDOW) {
        let sends = window.iter().map(|m| {
            let mut conn = conn.clone();
            let cmd = plexus_pubsub::brokers::redis::xadd(stream, None, m);
            async move { cmd.query_async::<String>(&mut conn).await }
        });
        for reply in join_all(sends).await {
            reply.expect("XADD");
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_usize("PLEXUS_PUBSUB_BENCH_EVENTS", 20_000);
    let rounds = env_usize("PLEXUS_PUBSUB_BENCH_ROUNDS", 3).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut summary: Vec<Row> = Vec::new();

    // NATS and JetStream: a stream for the JetStream subject.
    let nats = async_nats::connect(NATS_URL)
        .await
        .expect("NATS is not reachable on 127.0.0.1:4222");
    let js = jetstream::new(nats.clone());
    let stream_name = unique("PLEXUS_BENCH");
    let js_subject = format!("plexus.bench.{stream_name}");
    js.create_stream(jetstream::stream::Config {
        name: stream_name.clone(),
        subjects: vec![js_subject.clone()],
        ..Default::default()
    })
    .await
    .expect("create the bench stream");
    let nats_subject = unique("plexus.bench.core");

    // RabbitMQ: a fanout exchange with one queue, so `mandatory` routes.
    let rabbit = Connection::connect(RABBIT_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ is not reachable on 127.0.0.1:5672");
    let rch = rabbit.create_channel().await.expect("channel");
    let exchange = unique("plexus-bench");
    rch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("declare exchange");
    let queue = unique("plexus-bench-q");
    rch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("declare queue");
    rch.queue_bind(
        queue.as_str().into(),
        exchange.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let redis_stream = unique("plexus-bench-stream");

    let targets = [
        Target {
            name: "NATS",
            broker_process: "nats-server",
            url: format!("nats://{nats_subject}"),
            env_var: "NATS_SERVER_URL",
            env_value: NATS_URL,
        },
        Target {
            name: "JetStream",
            broker_process: "nats-server",
            url: format!("nats://{js_subject}?jetstream=1"),
            env_var: "NATS_SERVER_URL",
            env_value: NATS_URL,
        },
        Target {
            name: "RabbitMQ",
            broker_process: "beam.smp",
            url: format!("rabbit://{exchange}"),
            env_var: "RABBIT_SERVER_URL",
            env_value: RABBIT_URL,
        },
        Target {
            name: "Redis",
            broker_process: "redis-server",
            url: format!("redis://{redis_stream}"),
            env_var: "REDIS_SERVER_URL",
            env_value: REDIS_URL,
        },
    ];
    println!(
        "plexus-pubsub throughput: {n} events per run, {rounds} rounds (A = engine, B = bare), engine fed {:?}",
        feed()
    );
    for target in &targets {
        let engine = start_engine(dir.path(), target).await;
        engine_run(&engine, 1_000.min(n)).await; // warm-up
        let broker = cpu::find_process(target.broker_process);
        if broker.is_none() {
            println!(
                "{}: no process named {} found; its CPU is not counted",
                target.name, target.broker_process
            );
        }
        let engine_watch = cpu::Watched {
            plugin: u32::try_from(engine.stats()[0].counters.pid)
                .ok()
                .filter(|&pid| pid != 0),
            broker,
        };
        let bare_watch = cpu::Watched {
            plugin: None,
            broker,
        };
        let batches_before = batch_totals(&engine);
        let mut row = Row::new(target.name);
        for round in 0..rounds {
            let before = engine_watch.sample();
            let a = engine_run(&engine, n).await;
            let engine_cpu = cpu::PerEvent::between(before, engine_watch.sample(), n);
            let before = bare_watch.sample();
            let b = match target.name {
                "NATS" => bare_nats(n, &nats_subject).await,
                "JetStream" => bare_jetstream(n, &js_subject).await,
                "RabbitMQ" => bare_rabbit(n, &exchange).await,
                _ => bare_redis(n, &redis_stream).await,
            };
            let bare_cpu = cpu::PerEvent::between(before, bare_watch.sample(), n);
            println!(
                "{:<10} round {round}: engine {a:>9.0} ev/s, bare {b:>9.0} ev/s, ratio {:.2}; \
                 CPU µs/event engine {:.1} (host {:.1} + plugin {:.1} + broker {:.1}), \
                 bare {:.1} (client {:.1} + broker {:.1})",
                target.name,
                a / b,
                engine_cpu.total(),
                engine_cpu.bench,
                engine_cpu.plugin,
                engine_cpu.broker,
                bare_cpu.total(),
                bare_cpu.bench,
                bare_cpu.broker,
            );
            row.push(a, b, engine_cpu, bare_cpu);
        }
        let (batches, batched_events) = batch_totals(&engine);
        row.mean_batch =
            (batched_events - batches_before.1) / (batches - batches_before.0).max(1.0);
        engine.shutdown(Duration::from_secs(5)).await;
        summary.push(row);
        if target.name == "JetStream" {
            // Keep the stream small between targets.
            let _ = js.delete_stream(&stream_name).await;
        }
        if target.name == "RabbitMQ" {
            let _ = rch
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
            let _ = rch
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
    if let Ok(client) = redis::Client::open(REDIS_URL) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let _: Result<i64, _> = redis::cmd("DEL")
                .arg(&redis_stream)
                .query_async(&mut conn)
                .await;
        }
    }
    println!();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end: {}", load.trim());
    println!(
        "| broker | via engine (ev/s) | bare client (ev/s) | ratio | engine CPU µs/event (host + plugin + broker) | bare CPU µs/event (client + broker) | CPU bound on the ratio | events per call |"
    );
    println!("|---|---:|---:|---:|---|---|---:|---:|");
    for mut row in summary {
        let (a, b, r) = (
            median(&mut row.engine),
            median(&mut row.bare),
            median(&mut row.ratios),
        );
        let e = row.engine_cpu();
        let c = row.bare_cpu();
        println!(
            "| {} | {a:.0} | {b:.0} | {r:.2} | {:.1} ({:.1} + {:.1} + {:.1}) | {:.1} ({:.1} + {:.1}) | {:.2} | {:.1} |",
            row.name,
            e.total(),
            e.bench,
            e.plugin,
            e.broker,
            c.total(),
            c.bench,
            c.broker,
            c.total() / e.total(),
            row.mean_batch,
        );
    }
    println!(
        "CPU bound: with every process on the path CPU-bound on the same cores, \
         events/s ∝ 1 / (CPU per event), so the engine path can reach at most \
         (bare CPU per event) ÷ (engine CPU per event) of the bare client."
    );
}

/// Delivery calls and the events they carried, so far.
fn batch_totals(engine: &Engine) -> (f64, f64) {
    engine.stats()[0]
        .batch_size
        .as_ref()
        .map_or((0.0, 0.0), |h| (h.count as f64, h.sum))
}

/// One broker's rounds.
struct Row {
    name: &'static str,
    engine: Vec<f64>,
    bare: Vec<f64>,
    ratios: Vec<f64>,
    engine_cpu: Vec<cpu::PerEvent>,
    bare_cpu: Vec<cpu::PerEvent>,
    mean_batch: f64,
}

impl Row {
    fn new(name: &'static str) -> Self {
        Row {
            name,
            engine: Vec::new(),
            bare: Vec::new(),
            ratios: Vec::new(),
            engine_cpu: Vec::new(),
            bare_cpu: Vec::new(),
            mean_batch: 0.0,
        }
    }

    fn push(&mut self, a: f64, b: f64, engine_cpu: cpu::PerEvent, bare_cpu: cpu::PerEvent) {
        self.engine.push(a);
        self.bare.push(b);
        self.ratios.push(a / b);
        self.engine_cpu.push(engine_cpu);
        self.bare_cpu.push(bare_cpu);
    }

    /// The round with the median total, per side.
    fn engine_cpu(&self) -> cpu::PerEvent {
        median_cpu(&self.engine_cpu)
    }

    fn bare_cpu(&self) -> cpu::PerEvent {
        median_cpu(&self.bare_cpu)
    }
}

fn median_cpu(rounds: &[cpu::PerEvent]) -> cpu::PerEvent {
    let mut sorted = rounds.to_vec();
    sorted.sort_by(|a, b| a.total().total_cmp(&b.total()));
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}
