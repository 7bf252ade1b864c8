//! Password checks per second against a local slapd, 32 logins in flight:
//! the plugin's pooled directory (service-bound search connections and
//! user-bind connections kept open) against the Go plugin's pattern, where
//! every request dials, binds the service account, searches, binds as the
//! user and closes — reproduced here with the same LDAP crate in the same
//! run. Both skip gRPC, which costs the same in both. Prints checks/s,
//! latency percentiles, and the CPU time slapd and this process spent per
//! login (from /proc/<slapd>/stat and getrusage). slapd and the benchmark
//! share the machine's cores, so with every core busy checks/s cannot pass
//! cores ÷ (slapd CPU + client CPU per login), and the speed-up cannot
//! pass the ratio of the two variants' CPU per login: the run prints that
//! bound next to the measured ratio.
//!
//! `cargo bench -p plexus-auth-ldap --bench logins`. AUTHLDAP_BENCH_LOGINS
//! sets the logins per variant (4000 by default), AUTHLDAP_BENCH_ROUNDS the
//! alternating rounds they are split into (4), so that both variants see
//! the same load from the rest of the machine; AUTHLDAP_BENCH_SLAPD_CONF
//! sets the global slapd.conf lines added to the tests' configuration,
//! separated by `;` (`loglevel none` by default, see [`DEFAULT_SLAPD_CONF`];
//! empty for none).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ldap3::{LdapConnAsync, Scope, SearchEntry};
use plexus_auth_ldap::filter::user_filter;
use plexus_auth_ldap::settings::DEFAULT_SEARCH_QUERY;

const IN_FLIGHT: usize = 32;
/// Global slapd.conf lines added for the benchmark: Debian's packaged
/// configuration sets `olcLogLevel: none`. Without it slapd logs at its
/// built-in `stats` level to syslog, and on a machine without /dev/log
/// (containers, CI) every log line costs a socket, a failed connect and a
/// close: about half of slapd's CPU per login in both variants.
const DEFAULT_SLAPD_CONF: &str = "loglevel none";
const USERS: [(&str, &str); 3] = [("alice", ALICE_PW), ("bob", BOB_PW), ("carol", "carol-pw")];

fn main() {
    let logins: usize = std::env::var("AUTHLDAP_BENCH_LOGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let rounds: usize = std::env::var("AUTHLDAP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let slapd_conf = std::env::var("AUTHLDAP_BENCH_SLAPD_CONF")
            .unwrap_or_else(|_| DEFAULT_SLAPD_CONF.to_owned());
        let slapd = Slapd::start_with(&slapd_conf.replace(';', "\n")).await;
        let slapd_conf = if slapd_conf.is_empty() {
            "slapd.conf of the tests".to_owned()
        } else {
            format!("slapd.conf of the tests + {slapd_conf}")
        };
        let slapd_pid = slapd.pid();
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
        run(logins / 10, slapd_pid, pooled.clone()).await;
        run(logins / 10, slapd_pid, per_request.clone()).await;

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "{IN_FLIGHT} concurrent password checks, {logins} per variant in {rounds} alternating \
             rounds, slapd on loopback ({slapd_conf}), {cores} cores, load average {}",
            load_average()
        );
        let pool_size = auth.settings().pool_size;
        let per_round = logins.div_ceil(rounds);
        let mut a = Stats::default();
        let mut b = Stats::default();
        for _ in 0..rounds {
            a.add(run(per_round, slapd_pid, pooled.clone()).await);
            b.add(run(per_round, slapd_pid, per_request.clone()).await);
        }
        a.print(
            &format!("pooled (plexus-auth-ldap, pool {pool_size}+{pool_size})"),
            cores,
        );
        b.print("dial+bind+search+bind per request (Go plugin)", cores);
        let ratio = a.rate() / b.rate();
        let p99 = b.percentile(0.99) / a.percentile(0.99);
        match (a.cpu_per_login(), b.cpu_per_login()) {
            (Some(pooled), Some(dialled)) => println!(
                "speed-up: {ratio:.2}x checks/s (CPU bound: {:.2}x), p99 {p99:.2}x lower, \
                 load average after {}",
                dialled / pooled,
                load_average()
            ),
            _ => println!(
                "speed-up: {ratio:.2}x checks/s (slapd CPU not readable), p99 {p99:.2}x lower"
            ),
        }
    });
}

/// What one variant measured (one run or several added up).
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    /// Wall-clock seconds of the runs.
    elapsed: f64,
    /// CPU seconds slapd spent during the runs, when /proc shows it.
    slapd_cpu: Option<f64>,
    /// CPU seconds this process spent during the runs.
    client_cpu: f64,
}

impl Stats {
    fn add(&mut self, other: Stats) {
        let first = self.latencies.is_empty();
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
        self.client_cpu += other.client_cpu;
        self.slapd_cpu = match (first, self.slapd_cpu, other.slapd_cpu) {
            (true, _, other) => other,
            (false, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }

    fn logins(&self) -> f64 {
        self.latencies.len() as f64
    }

    fn rate(&self) -> f64 {
        self.logins() / self.elapsed
    }

    /// A latency percentile in milliseconds.
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    /// slapd + client CPU seconds per login.
    fn cpu_per_login(&self) -> Option<f64> {
        self.slapd_cpu
            .map(|slapd| (slapd + self.client_cpu) / self.logins())
    }

    fn print(&self, name: &str, cores: usize) {
        println!(
            "{name:<48} {:>8.0} checks/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
            self.rate(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(1.0)
        );
        let client = self.client_cpu / self.logins() * 1e6;
        match self.slapd_cpu {
            Some(slapd) => {
                let slapd = slapd / self.logins() * 1e6;
                println!(
                    "{:<48} CPU per login: slapd {slapd:>6.1} µs + client {client:>6.1} µs = {:>6.1} µs; \
                     {:.2} cores busy; ceiling on {cores} cores {:>6.0} checks/s",
                    "",
                    slapd + client,
                    (slapd + client) / 1e6 * self.rate(),
                    cores as f64 * 1e6 / (slapd + client),
                );
            }
            None => println!(
                "{:<48} CPU per login: client {client:>6.1} µs (slapd not readable)",
                ""
            ),
        }
    }
}

/// Runs `logins` checks with `IN_FLIGHT` tasks.
async fn run<F, Fut>(logins: usize, slapd_pid: Option<u32>, check: F) -> Stats
where
    F: Fn(&'static str, &'static str) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let per_task = logins.div_ceil(IN_FLIGHT);
    let slapd_before = slapd_pid.and_then(process_cpu);
    let client_before = own_cpu();
    let start = Instant::now();
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
    let mut latencies: Vec<Duration> = Vec::with_capacity(per_task * IN_FLIGHT);
    for task in tasks {
        latencies.extend(task.await.expect("bench task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let client_cpu = own_cpu() - client_before;
    let slapd_cpu = match (slapd_before, slapd_pid.and_then(process_cpu)) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    Stats {
        latencies,
        elapsed,
        slapd_cpu,
        client_cpu,
    }
}

/// utime + stime of a process, all its threads, in seconds.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is
    // field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

/// User + system CPU time of this process, in seconds.
fn own_cpu() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The 1-minute load average, or "?".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
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
