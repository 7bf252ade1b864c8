//! CheckIP throughput, in one run:
//!
//! - `lookup`: country lookups per second with the bare `maxminddb` reader
//!   (`lookup` + `decode_path` of `country.iso_code`), the plugin's lookup
//!   (`CountryDb::country`), and the plugin's whole decision
//!   (`GeoFilter::check`: parse, non-public check, lookup through the
//!   reload-swappable database, lists), over the same addresses. The
//!   target: the plugin's lookup at ≥ 0.9× the bare reader.
//! - `engine`: CheckIP RPCs per second through the Plexus engine to the
//!   plugin process (AutoMTLS over a unix socket), one at a time and 32 in
//!   flight.
//!
//! The database is MaxMind's GeoIP2-Country test file (fetched into the
//! target directory as the tests do). Run:
//! `cargo bench -p plexus-geoipfilter --bench check_ip`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::stream::{self, StreamExt};
use maxminddb::PathElement;
use plexus_engine::{Engine, EngineSettings, PluginConfig};
use plexus_geoipfilter::cli::country_list;
use plexus_geoipfilter::database::{CountryDb, DbType};
use plexus_geoipfilter::decision::Policy;
use plexus_geoipfilter::filter::GeoFilter;

/// Public addresses of the test database: found, not found, IPv4 and IPv6.
const ADDRESSES: [&str; 8] = [
    "81.2.69.142",
    "2.125.160.216",
    "149.101.100.1",
    "67.43.156.1",
    "202.196.224.1",
    "2a02:cfc0::1",
    "214.1.1.1",
    "1.1.1.1",
];
const IN_FLIGHT: usize = 32;

fn test_db() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = dir.join("../../target/testdata/maxmind");
    let status = Command::new("bash")
        .arg(dir.join("tests/fetch-testdata.sh"))
        .arg(&cache)
        .status()
        .expect("run tests/fetch-testdata.sh");
    assert!(status.success(), "cannot fetch MaxMind's test databases");
    cache.join("GeoIP2-Country-Test.mmdb")
}

fn policy() -> Policy {
    Policy {
        allowed: country_list("GB,US,FR"),
        denied: country_list("BT"),
        ..Policy::default()
    }
}

fn lookup(c: &mut Criterion) {
    let path = test_db();
    let ips: Vec<IpAddr> = ADDRESSES.iter().map(|a| a.parse().unwrap()).collect();
    let db = CountryDb::open(&path, DbType::MaxMind).unwrap();
    let bare = maxminddb::Reader::open_readfile(&path).unwrap();
    let filter = GeoFilter::open(path.clone(), DbType::MaxMind, policy()).unwrap();
    let iso: &[PathElement<'static>] = &[PathElement::Key("country"), PathElement::Key("iso_code")];

    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(ips.len() as u64));
    group.bench_function("bare_maxminddb", |b| {
        b.iter(|| {
            for ip in &ips {
                let found = bare.lookup(*ip).unwrap();
                std::hint::black_box(found.decode_path::<&str>(iso).unwrap());
            }
        })
    });
    group.bench_function("plugin_lookup", |b| {
        b.iter(|| {
            for ip in &ips {
                std::hint::black_box(db.country(*ip).unwrap());
            }
        })
    });
    group.bench_function("plugin_decision", |b| {
        b.iter(|| {
            for ip in ADDRESSES {
                let _ = std::hint::black_box(filter.check(ip));
            }
        })
    });
    group.finish();
}

fn engine(c: &mut Criterion) {
    let path = test_db();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugin = PluginConfig {
        kind: "ipfilter".into(),
        cmd: env!("CARGO_BIN_EXE_plexus-geoipfilter").into(),
        args: vec![
            "serve".into(),
            "--db-file".into(),
            path.display().to_string(),
            "--allowed-countries".into(),
            "GB,US,FR".into(),
            "--denied-countries".into(),
            "BT".into(),
        ],
        auto_mtls: true,
        ..Default::default()
    };
    let settings = EngineSettings {
        data_dir: dir.path().join("plexus"),
        ..EngineSettings::default()
    };
    let started = runtime
        .block_on(Engine::start(vec![plugin], settings))
        .unwrap();
    let engine = &started;

    let mut group = c.benchmark_group("engine");
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(ADDRESSES.len() as u64));
    group.bench_function(BenchmarkId::new("check_ip", "sequential"), |b| {
        b.iter(|| {
            runtime.block_on(async {
                for ip in ADDRESSES {
                    let _ = std::hint::black_box(engine.check_ip(ip, "SSH").await);
                }
            })
        })
    });
    let calls = ADDRESSES.len() * 64;
    group.throughput(Throughput::Elements(calls as u64));
    group.bench_function(
        BenchmarkId::new("check_ip", format!("{IN_FLIGHT}_in_flight")),
        |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        stream::iter(ADDRESSES.iter().cycle().take(calls))
                            .for_each_concurrent(IN_FLIGHT, |ip| async move {
                                let _ = std::hint::black_box(engine.check_ip(ip, "SSH").await);
                            })
                            .await;
                    }
                    started.elapsed()
                })
            })
        },
    );
    group.finish();
    runtime.block_on(started.shutdown(Duration::from_secs(5)));
}

criterion_group!(benches, lookup, engine);
criterion_main!(benches);
