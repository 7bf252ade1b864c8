//! A model-based test of the delivery core: random sequences of publishes
//! (bursts larger than the mailbox), transport failures, stalls, plugin
//! restarts, retry ticks, clock jumps, a full queue, and host shutdowns
//! with recovery, run against the real router, actor, lane, ledger and
//! settler (memory queues, an in-process plugin). At the end the plugin is
//! healthy and every queue is re-driven; then every accepted event must be
//! delivered or dropped for a reason the rules allow, nothing may be
//! delivered that was not accepted, and the counters must add up.

mod support;

use actix::prelude::*;
use plexus_actors::filter::RoutingTable;
use plexus_actors::notifier::NotifierSettings;
use plexus_actors::router::{Publish, Router, Target};
use plexus_actors::{CounterSnapshot, Durability, RetryPolicy};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const SECOND: i64 = 1_000_000_000;
const MAILBOX: usize = 8;
const IN_FLIGHT: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    /// A burst of events (up to four times what mailbox and lane hold).
    Publish(usize),
    /// The plugin answers, fails every call, or stops answering.
    Mode(Mode),
    /// The plugin process exits; it stays down until `Restart` (or the end).
    Down,
    /// The plugin process is (re)started.
    Restart,
    /// The retry timer fires.
    Tick,
    /// The clock jumps forward (seconds).
    Advance(u8),
    /// Wait until what is in flight settles (when the plugin answers).
    Settle,
    /// The host stops and starts again over the same queues.
    ShutdownAndRecover,
}

#[derive(Debug, Clone)]
struct Setup {
    retry_max_time: i64,
    retry_queue_max_size: i64,
    write_ahead: bool,
    batching: bool,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=48usize).prop_map(Op::Publish),
        3 => prop_oneof![Just(Mode::Ok), Just(Mode::Fail), Just(Mode::Stall)].prop_map(Op::Mode),
        1 => Just(Op::Down),
        1 => Just(Op::Restart),
        2 => Just(Op::Tick),
        1 => (0..=40u8).prop_map(Op::Advance),
        2 => Just(Op::Settle),
        1 => Just(Op::ShutdownAndRecover),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(0i64), 5..=30i64],
        prop_oneof![Just(0i64), 3..=40i64],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(retry_max_time, retry_queue_max_size, write_ahead, batching)| Setup {
                retry_max_time,
                retry_queue_max_size,
                write_ahead,
                batching,
            },
        )
}

/// One host generation: a router in front of one notifier actor.
struct Host {
    router: Addr<Router>,
    plugin: Plugin,
}

fn start_host(
    setup: &Setup,
    clock: &TestClock,
    queues: &plexus_actors::delivery::PluginQueues,
    fake: &Arc<FakePlugin>,
) -> Host {
    let policy = RetryPolicy::from_sftpgo(setup.retry_max_time, setup.retry_queue_max_size);
    let mut settings = NotifierSettings::new("model", policy);
    settings.mailbox_capacity = MAILBOX;
    settings.max_in_flight = IN_FLIGHT;
    settings.max_calls_in_flight = 2;
    settings.retry_interval = Duration::from_secs(3600);
    settings.clock = clock.clock();
    if setup.write_ahead {
        settings.durability = Durability::WriteAhead;
    }
    let max_batch = if setup.batching { 3 } else { 1 };
    let plugin = Plugin::start_with(settings, queues.clone(), max_batch, fake.clone());
    plugin
        .handle
        .ledger
        .recover()
        .expect("memory queues do not fail");
    let router = Router::new(
        RoutingTable::compile(&[uploads()]),
        vec![Target {
            addr: plugin.addr.clone(),
            handle: plugin.handle.clone(),
        }],
        64,
        Duration::from_millis(10),
    )
    .start();
    Host { router, plugin }
}

fn add(total: &mut CounterSnapshot, s: CounterSnapshot) {
    total.delivered += s.delivered;
    total.failed += s.failed;
    total.redriven += s.redriven;
    total.dropped_too_old += s.dropped_too_old;
    total.dropped_queue_full += s.dropped_queue_full;
    total.dropped_no_retry += s.dropped_no_retry;
    total.queue_errors += s.queue_errors;
    total.corrupt += s.corrupt;
}

async fn run(setup: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = TestClock::at(1_000_000 * SECOND);
    let queues = memory_queues();
    let fake = Arc::new(FakePlugin::default());
    let mut host = start_host(&setup, &clock, &queues, &fake);
    let mut totals = CounterSnapshot::default();
    let mut accepted: BTreeMap<i64, i64> = BTreeMap::new(); // id -> timestamp
    let mut mode = Mode::Ok;
    let mut up = true;
    for op in ops {
        match op {
            Op::Publish(n) => {
                for _ in 0..n {
                    let id = accepted.len() as i64;
                    let ts = clock.now();
                    let receipt = host.router.send(Publish(upload(id, ts))).await;
                    prop_assert!(matches!(receipt, Ok(Ok(_))), "publish refused: {receipt:?}");
                    accepted.insert(id, ts);
                }
            }
            Op::Mode(m) => {
                mode = m;
                fake.set(m);
            }
            Op::Down => {
                host.plugin.connect(false).await;
                up = false;
            }
            Op::Restart => {
                host.plugin.connect(false).await;
                host.plugin.connect(true).await;
                up = true;
            }
            Op::Tick => {
                host.plugin.handle.redrive_now();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Op::Advance(secs) => clock.advance(i64::from(secs) * SECOND),
            Op::Settle => {
                if mode != Mode::Stall || !up {
                    prop_assert!(
                        host.plugin.handle.drain(Duration::from_secs(10)).await,
                        "in-flight events settle"
                    );
                }
            }
            Op::ShutdownAndRecover => {
                prop_assert!(
                    host.plugin.handle.close(Duration::from_secs(10)).await,
                    "a close settles everything"
                );
                add(&mut totals, host.plugin.stats());
                host = start_host(&setup, &clock, &queues, &fake);
                if !up {
                    host.plugin.connect(false).await;
                }
            }
        }
    }
    // The end: the plugin healthy and connected, every queue re-driven.
    fake.set(Mode::Ok);
    if !up {
        host.plugin.connect(true).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        host.plugin.handle.redrive_now();
        let settled = host.plugin.handle.drain(Duration::from_secs(5)).await;
        if settled
            && queues.retry.is_empty()
            && queues.spill.is_empty()
            && queues.write_ahead.is_empty()
        {
            break;
        }
        prop_assert!(
            std::time::Instant::now() < deadline,
            "the queues drain at the end"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    add(&mut totals, host.plugin.stats());

    // Nothing delivered that was not accepted, nothing twice.
    let received = fake.received_ids();
    let mut seen = BTreeMap::new();
    for id in &received {
        prop_assert!(
            accepted.contains_key(id),
            "event {id} delivered but never accepted"
        );
        *seen.entry(*id).or_insert(0) += 1;
    }
    prop_assert!(
        seen.values().all(|&n| n == 1),
        "an event was delivered twice"
    );
    // The counters add up: every accepted event delivered or dropped.
    prop_assert_eq!(totals.delivered, received.len() as u64);
    prop_assert_eq!(totals.queue_errors, 0);
    prop_assert_eq!(
        totals.delivered + totals.dropped(),
        accepted.len() as u64,
        "accepted = delivered + dropped: {:?}",
        totals
    );
    // Every drop has a reason the rules allow.
    let retries_on = setup.retry_max_time > 0;
    if totals.dropped_no_retry > 0 {
        prop_assert!(!retries_on, "dropped for retries being off: {totals:?}");
    }
    if totals.dropped_queue_full > 0 {
        prop_assert!(
            setup.retry_queue_max_size > 0,
            "dropped as queue full without a limit"
        );
    }
    let max_age = setup.retry_max_time * SECOND;
    let could_be_too_old = accepted
        .iter()
        .filter(|(id, ts)| !seen.contains_key(id) && clock.now() - **ts > max_age)
        .count() as u64;
    prop_assert!(
        totals.dropped_too_old <= could_be_too_old,
        "{} dropped as too old, only {} ever were: {:?}",
        totals.dropped_too_old,
        could_be_too_old,
        totals
    );
    if retries_on && setup.retry_queue_max_size == 0 && could_be_too_old == 0 {
        prop_assert_eq!(
            received.len(),
            accepted.len(),
            "with retries covering everything, all is delivered"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_accepted_event_is_delivered_or_dropped_for_an_allowed_reason(
        setup in setup(),
        ops in proptest::collection::vec(op(), 1..14),
    ) {
        let system = actix::System::new();
        system.block_on(run(setup, ops))?;
    }
}
