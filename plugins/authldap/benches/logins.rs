//! Password checks per second against a local slapd, 32 logins in flight:
//! the plugin's pooled directory (service-bound search connections and
//! user-bind connections kept open) against the Go plugin's pattern, where
//! every request dials, binds the service account, searches, binds as the
//! user and closes — reproduced here with the same LDAP crate in the same
//! run. Both skip gRPC, which costs the same in both. Prints checks/s and
//! latency percentiles.
//!
//! `cargo bench -p plexus-auth-ldap --bench logins` (AUTHLDAP_BENCH_LOGINS
//! sets the logins per variant, 4000 by default).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ldap3::{LdapConnAsync, Scope, SearchEntry};
use plexus_auth_ldap::filter::user_filter;
use plexus_auth_ldap::settings::DEFAULT_SEARCH_QUERY;

const IN_FLIGHT: usize = 32;
const USERS: [(&str, &str); 3] = [("alice", ALICE_PW), ("bob", BOB_PW), ("carol", "carol-pw")];

fn main() {
    let logins: usize = std::env::var("AUTHLDAP_BENCH_LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let slapd = Slapd::start().await;
        let auth = Arc::new(Slapd::authenticator(slapd.raw()));
        let url: Arc<str> = Arc::from(slapd.url());

        let pooled = {
            let auth = auth.clone();
            move |user: &'static str, password: &'static str| {
                let auth = auth.clone();
                async move {
                    auth.check_password(user, password, b"")
                        .await
                        .map(|_| ())
                        .map_err(|err| err.to_string())
                }
            }
        };
        let per_request = {
            let url = url.clone();
            move |user: &'static str, password: &'static str| {
                let url = url.clone();
                async move { dial_per_request(&url, user, password).await }
            }
        };

        // Warm-up (connections, caches of slapd).
        run("warm-up", logins / 10, pooled.clone()).await;
        run("warm-up", logins / 10, per_request.clone()).await;

        println!(
            "{IN_FLIGHT} concurrent password checks, {logins} per variant, slapd on loopback, 2 cores"
        );
        let a = run("pooled (plexus-auth-ldap, pool 8+8)", logins, pooled).await;
        let b = run("dial+bind+search+bind per request (Go plugin)", logins, per_request).await;
        println!("speed-up: {:.2}x checks/s", a / b);
    });
}

/// Runs `logins` checks with `IN_FLIGHT` tasks; prints and returns checks/s.
async fn run<F, Fut>(name: &str, logins: usize, check: F) -> f64
where
    F: Fn(&'static str, &'static str) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let start = Instant::now();
    let per_task = logins.div_ceil(IN_FLIGHT);
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|task| {
            let check = check.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let (user, password) = USERS[(task + i) % USERS.len()];
                    let t = Instant::now();
                    if let Err(err) = check(user, password).await {
                        panic!("login of {user} failed: {err}");
                    }
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::with_capacity(logins);
    for task in tasks {
        latencies.extend(task.await.expect("bench task"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    if name != "warm-up" {
        let pct = |p: f64| {
            let index = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
            latencies[index].as_secs_f64() * 1000.0
        };
        println!(
            "{name:<48} {rate:>8.0} checks/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
            pct(0.50),
            pct(0.99),
            pct(1.0)
        );
    }
    rate
}

/// The Go plugin's pattern: a new connection per request.
async fn dial_per_request(url: &str, user: &str, password: &str) -> Result<(), String> {
    let (conn, mut ldap) = LdapConnAsync::new(url).await.map_err(|e| e.to_string())?;
    ldap3::drive!(conn);
    ldap.simple_bind(SERVICE_DN, SERVICE_PW)
        .await
        .and_then(|r| r.success())
        .map_err(|e| e.to_string())?;
    let (entries, _) = ldap
        .search(
            BASE_DN,
            Scope::Subtree,
            &user_filter(DEFAULT_SEARCH_QUERY, user),
            vec!["memberOf"],
        )
        .await
        .and_then(|r| r.success())
        .map_err(|e| e.to_string())?;
    let [entry] = <[_; 1]>::try_from(entries).map_err(|_| "not exactly one entry".to_owned())?;
    let dn = SearchEntry::construct(entry).dn;
    ldap.simple_bind(&dn, password)
        .await
        .and_then(|r| r.success())
        .map_err(|e| e.to_string())?;
    let _ = ldap.unbind().await;
    Ok(())
}
