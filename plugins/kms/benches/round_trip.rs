//! Encrypt + decrypt round trips per second against a real OpenBao dev
//! server (transit, key `sftpgo`), in one run:
//!
//! - `bare_http`: the two transit calls made directly over HTTP with one
//!   pooled client, what any client of the same server pays;
//! - `engine`: `Engine::kms_encrypt` + `Engine::kms_decrypt` through the
//!   Plexus engine to the `plexus-kms` process (AutoMTLS over a unix
//!   socket), which makes the same two transit calls; without and with a
//!   master key (the local Secretbox layer on top).
//!
//! Each also with 16 round trips in flight. Needs `bao` (see
//! `tests/setup.sh`). Run: `cargo bench -p plexus-kms --bench round_trip`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::stream::{self, StreamExt};
use plexus_engine::Engine;
use plexus_proto::sftpgo::{DecryptRequest, EncryptRequest};

const IN_FLIGHT: usize = 16;
const BATCH: usize = 64;

async fn bare(http: &reqwest::Client, address: &str) {
    let encrypted: serde_json::Value = http
        .post(format!("{address}/v1/transit/encrypt/sftpgo"))
        .header("X-Vault-Token", common::ROOT_TOKEN)
        .json(&serde_json::json!({"plaintext": STANDARD.encode("my secret")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ciphertext = encrypted["data"]["ciphertext"].as_str().unwrap();
    let decrypted: serde_json::Value = http
        .post(format!("{address}/v1/transit/decrypt/sftpgo"))
        .header("X-Vault-Token", common::ROOT_TOKEN)
        .json(&serde_json::json!({"ciphertext": ciphertext}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(decrypted["data"]["plaintext"].is_string());
}

async fn through_engine(engine: &Engine, master_key: &str) {
    let (sealed, _) = engine
        .kms_encrypt(EncryptRequest {
            payload: "my secret".into(),
            additional_data: "alice".into(),
            url: "hashivault://sftpgo".into(),
            master_key: master_key.into(),
        })
        .await
        .unwrap();
    let opened = engine
        .kms_decrypt(
            "VaultTransit",
            DecryptRequest {
                payload: sealed.payload,
                key: sealed.key,
                additional_data: "alice".into(),
                mode: sealed.mode,
                url: "hashivault://sftpgo".into(),
                master_key: master_key.into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(opened.payload, "my secret");
}

fn round_trips(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bao = runtime.block_on(common::OpenBao::start());
    let dir = tempfile::tempdir().unwrap();
    let cmd = common::wrapper(
        dir.path(),
        "plexus-kms",
        &[
            ("VAULT_SERVER_URL", &bao.address),
            ("VAULT_SERVER_TOKEN", common::ROOT_TOKEN),
        ],
    );
    let plugin = common::kms_plugin(&cmd, &[], "hashivault", "VaultTransit");
    let started = runtime
        .block_on(common::engine(dir.path(), vec![plugin]))
        .unwrap();
    let engine = &started;
    let http = reqwest::Client::new();
    let (http, address) = (&http, bao.address.as_str());

    let mut group = c.benchmark_group("round_trip");
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("bare_http", "sequential"), |b| {
        b.iter(|| runtime.block_on(bare(http, address)))
    });
    for (name, master_key) in [("engine", ""), ("engine_master_key", "mk")] {
        group.bench_function(BenchmarkId::new(name, "sequential"), |b| {
            b.iter(|| runtime.block_on(through_engine(engine, master_key)))
        });
    }
    group.throughput(Throughput::Elements(BATCH as u64));
    let concurrent = format!("{IN_FLIGHT}_in_flight");
    group.bench_function(BenchmarkId::new("bare_http", &concurrent), |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    stream::iter(0..BATCH)
                        .for_each_concurrent(IN_FLIGHT, |_| bare(http, address))
                        .await;
                }
                start.elapsed()
            })
        })
    });
    for (name, master_key) in [("engine", ""), ("engine_master_key", "mk")] {
        group.bench_function(BenchmarkId::new(name, &concurrent), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iterations {
                        stream::iter(0..BATCH)
                            .for_each_concurrent(IN_FLIGHT, |_| through_engine(engine, master_key))
                            .await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    runtime.block_on(started.shutdown(Duration::from_secs(5)));
    drop(bao);
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
