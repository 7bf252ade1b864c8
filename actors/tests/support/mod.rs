//! Helpers shared by the actors crate's integration tests: an in-process
//! fake plugin that can answer, fail, stall and come back, a hand-moved
//! clock, and a router over fake plugins.
#![allow(dead_code)] // each test file uses its own part

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;
use plexus_actors::delivery::policy::Clock;
use plexus_actors::delivery::PluginQueues;
use plexus_actors::event::Event;
use plexus_actors::filter::{NotifierFilter, RoutingTable};
use plexus_actors::notifier::{NotifierActor, NotifierHandle, NotifierSettings};
use plexus_actors::queue::MemoryQueue;
use plexus_actors::router::{Router, Target};
use plexus_actors::transport::{DeliveryError, NotifierTransport};
use plexus_actors::{PluginCounters, RetryPolicy};
use plexus_proto::sftpgo::{FsEvent, LogEvent};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Waits up to 5 s for `condition`, failing the test with `what` if it never holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    eventually_within(Duration::from_secs(5), what, condition).await
}

pub async fn eventually_within(limit: Duration, what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// How the fake plugin answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// Every delivery fails with an error status.
    Fail,
    /// Calls wait, unanswered, until the mode changes.
    Stall,
}

/// An in-process notifier plugin that records what it receives, in order.
pub struct FakePlugin {
    mode: watch::Sender<Mode>,
    received: Mutex<Vec<Event>>,
    /// Events whose `file_size` is listed here always fail.
    refused: Mutex<Vec<i64>>,
    /// Every call: whether it was unary, and the ids it carried.
    pub calls: Mutex<Vec<(bool, Vec<i64>)>>,
}

impl Default for FakePlugin {
    fn default() -> Self {
        FakePlugin {
            mode: watch::channel(Mode::Ok).0,
            received: Mutex::new(Vec::new()),
            refused: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }
}

impl FakePlugin {
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn refuse(&self, id: i64) {
        self.refused.lock().unwrap().push(id);
    }

    pub fn received(&self) -> Vec<Event> {
        self.received.lock().unwrap().clone()
    }

    pub fn received_ids(&self) -> Vec<i64> {
        self.received().iter().map(id_of).collect()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    async fn answer(self: Arc<Self>, event: Arc<Event>) -> Result<(), DeliveryError> {
        let mut mode = self.mode.subscribe();
        let now = *mode
            .wait_for(|mode| *mode != Mode::Stall)
            .await
            .map_err(|_| DeliveryError::Unavailable("gone".into()))?;
        if now == Mode::Fail || self.refused.lock().unwrap().contains(&id_of(&event)) {
            return Err(DeliveryError::Status {
                code: "Unavailable".into(),
                message: "fake failure".into(),
            });
        }
        self.received.lock().unwrap().push((*event).clone());
        Ok(())
    }
}

/// The fake plugin as a transport; `max_batch > 1` makes it a batching one.
pub struct FakeTransport {
    pub plugin: Arc<FakePlugin>,
    pub max_batch: usize,
}

impl NotifierTransport for FakeTransport {
    fn deliver(&self, event: Arc<Event>) -> BoxFuture<'static, Result<(), DeliveryError>> {
        self.plugin
            .calls
            .lock()
            .unwrap()
            .push((true, vec![id_of(&event)]));
        self.plugin.clone().answer(event).boxed()
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn deliver_batch(
        &self,
        events: Vec<Arc<Event>>,
    ) -> BoxFuture<'static, Vec<Result<(), DeliveryError>>> {
        let plugin = self.plugin.clone();
        plugin
            .calls
            .lock()
            .unwrap()
            .push((false, events.iter().map(|e| id_of(e)).collect()));
        async move {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in events {
                outcomes.push(plugin.clone().answer(event).await);
            }
            outcomes
        }
        .boxed()
    }
}

/// The event's id in these tests: its `file_size` (fs) or `event` (log).
pub fn id_of(event: &Event) -> i64 {
    match event {
        Event::Fs(e) => e.file_size,
        Event::Log(e) => i64::from(e.event),
        Event::Provider(_) => -1,
    }
}

/// An upload event with an id, stamped `timestamp`.
pub fn upload(id: i64, timestamp: i64) -> Event {
    Event::Fs(FsEvent {
        timestamp,
        action: "upload".into(),
        file_size: id,
        ..Default::default()
    })
}

pub fn log(id: i32, timestamp: i64) -> Event {
    Event::Log(LogEvent {
        timestamp,
        event: id,
        ..Default::default()
    })
}

/// A clock the test moves by hand (nanoseconds).
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicI64>);

impl TestClock {
    pub fn at(ns: i64) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(ns)))
    }

    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, ns: i64) {
        self.0.fetch_add(ns, Ordering::SeqCst);
    }

    pub fn clock(&self) -> Clock {
        let at = self.0.clone();
        Arc::new(move || at.load(Ordering::SeqCst))
    }
}

pub fn memory_queues() -> PluginQueues {
    PluginQueues {
        retry: Arc::new(MemoryQueue::new()),
        spill: Arc::new(MemoryQueue::new()),
        write_ahead: Arc::new(MemoryQueue::new()),
    }
}

/// One fake plugin behind its actor.
pub struct Plugin {
    pub fake: Arc<FakePlugin>,
    pub addr: Addr<NotifierActor>,
    pub handle: NotifierHandle,
    pub queues: PluginQueues,
    pub counters: Arc<PluginCounters>,
    pub max_batch: usize,
}

impl Plugin {
    pub fn start(settings: NotifierSettings, queues: PluginQueues, max_batch: usize) -> Plugin {
        Plugin::start_with(settings, queues, max_batch, Arc::new(FakePlugin::default()))
    }

    /// A plugin actor in front of an existing fake (a host restart).
    pub fn start_with(
        settings: NotifierSettings,
        queues: PluginQueues,
        max_batch: usize,
        fake: Arc<FakePlugin>,
    ) -> Plugin {
        let counters = Arc::new(PluginCounters::default());
        let actor = NotifierActor::new(
            settings,
            Some(Arc::new(FakeTransport {
                plugin: fake.clone(),
                max_batch,
            })),
            queues.clone(),
            counters.clone(),
        );
        let handle = actor.handle();
        Plugin {
            fake,
            addr: actor.start(),
            handle,
            queues,
            counters,
            max_batch,
        }
    }

    /// The plugin process "exits" (`false`) or comes back (`true`).
    pub async fn connect(&self, up: bool) {
        let transport: Option<Arc<dyn NotifierTransport>> = up.then(|| {
            Arc::new(FakeTransport {
                plugin: self.fake.clone(),
                max_batch: self.max_batch,
            }) as Arc<dyn NotifierTransport>
        });
        self.handle.connect(transport);
    }

    pub fn stats(&self) -> plexus_actors::CounterSnapshot {
        self.counters
            .snapshot(self.queues.retry.len(), self.queues.spill.len())
    }

    pub async fn drained(&self) {
        assert!(
            self.handle.drain(Duration::from_secs(10)).await,
            "every delivery settled in time"
        );
    }
}

/// A router over fake plugins.
pub struct Harness {
    pub router: Addr<Router>,
    pub plugins: Vec<Plugin>,
}

impl Harness {
    pub fn start(
        filters: Vec<NotifierFilter>,
        policy: RetryPolicy,
        overflow_wait: Duration,
        tune: impl Fn(&mut NotifierSettings),
    ) -> Harness {
        let mut plugins = Vec::new();
        let mut targets = Vec::new();
        for index in 0..filters.len() {
            let mut settings = NotifierSettings::new(format!("fake-{index}"), policy);
            settings.retry_interval = Duration::from_secs(3600);
            tune(&mut settings);
            let plugin = Plugin::start(settings, memory_queues(), 1);
            targets.push(Target {
                addr: plugin.addr.clone(),
                handle: plugin.handle.clone(),
            });
            plugins.push(plugin);
        }
        let router = Router::new(
            RoutingTable::compile(&filters),
            targets,
            1024,
            overflow_wait,
        )
        .start();
        Harness { router, plugins }
    }

    pub async fn drained(&self) {
        for plugin in &self.plugins {
            plugin.drained().await;
        }
    }
}

pub fn uploads() -> NotifierFilter {
    NotifierFilter {
        fs_events: vec!["upload".into()],
        ..Default::default()
    }
}

/// A memory queue whose appends or flushes fail on demand (a full disk).
#[derive(Default)]
pub struct FailingQueue {
    pub inner: MemoryQueue,
    pub fail_append: std::sync::atomic::AtomicBool,
    pub fail_sync: std::sync::atomic::AtomicBool,
}

impl FailingQueue {
    fn refused(&self) -> plexus_actors::queue::QueueError {
        plexus_actors::queue::QueueError {
            queue: "failing".into(),
            message: "No space left on device".into(),
        }
    }
}

impl plexus_actors::queue::RecordQueue for FailingQueue {
    fn append(&self, ts: i64, payload: &[u8]) -> Result<u64, plexus_actors::queue::QueueError> {
        if self.fail_append.load(Ordering::SeqCst) {
            return Err(self.refused());
        }
        self.inner.append(ts, payload)
    }
    fn sync(&self) -> Result<(), plexus_actors::queue::QueueError> {
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(self.refused());
        }
        Ok(())
    }
    fn sync_async(&self) -> BoxFuture<'static, Result<(), plexus_actors::queue::QueueError>> {
        let result = self.sync();
        async move { result }.boxed()
    }
    fn peek_from(
        &self,
        from: u64,
        n: usize,
    ) -> Result<plexus_actors::queue::Peeked, plexus_actors::queue::QueueError> {
        self.inner.peek_from(from, n)
    }
    fn remove(&self, seqs: &[u64]) -> Result<(), plexus_actors::queue::QueueError> {
        self.inner.remove(seqs)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}
