//! Bounded pools of LDAP connections: [`Pool`] lends a connection to one
//! borrower at a time (user binds), [`SharedPool`] lets concurrent
//! operations share one (searches). Both are written on tokio semaphores
//! (the general-purpose pool crates either block or do not fit ldap3's
//! handle model). At most `size` connections exist; a borrower waits for a slot
//! for at most the wait limit. A connection is checked on borrow: one whose
//! driver has ended is dropped, and one idle for longer than the check age
//! answers a WhoAmI first. Only a lease released explicitly goes back to
//! the pool, so a connection that saw a transport error is never reused.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::exop::WhoAmI;
use ldap3::Ldap;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::error::AuthError;

/// One pooled connection and the URL it goes to.
pub struct Connection {
    pub ldap: Ldap,
    pub url: Arc<str>,
}

struct Idle {
    conn: Connection,
    since: Instant,
}

/// A bounded pool of connections.
pub struct Pool {
    name: &'static str,
    size: usize,
    idle: Arc<Mutex<Vec<Idle>>>,
    slots: Arc<Semaphore>,
    wait: Duration,
    check_after: Duration,
}

/// A borrowed connection. `reused` tells a connection from the pool from
/// a fresh one: only a reused one is worth a retry after a transport error.
pub struct Lease {
    conn: Option<Connection>,
    idle: Arc<Mutex<Vec<Idle>>>,
    pub reused: bool,
    _slot: OwnedSemaphorePermit,
}

/// Connections idle for longer than this answer a WhoAmI before use.
pub const CHECK_AFTER: Duration = Duration::from_secs(30);

impl Pool {
    pub fn new(name: &'static str, size: usize, wait: Duration) -> Self {
        Pool {
            name,
            size,
            idle: Arc::new(Mutex::new(Vec::with_capacity(size))),
            slots: Arc::new(Semaphore::new(size)),
            wait,
            check_after: CHECK_AFTER,
        }
    }

    /// Sets the idle age after which a connection is probed on borrow.
    pub fn with_check_after(mut self, age: Duration) -> Self {
        self.check_after = age;
        self
    }

    /// Connections waiting in the pool.
    pub fn idle_count(&self) -> usize {
        lock(&self.idle).len()
    }

    /// Borrows a connection: a checked idle one, or a new one from `open`.
    pub async fn get<F, Fut>(&self, open: F) -> Result<Lease, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Connection, AuthError>>,
    {
        let slot = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => {
                return Err(AuthError::Unavailable(format!(
                    "the {} pool is closed",
                    self.name
                )))
            }
            Err(_) => {
                return Err(AuthError::Unavailable(format!(
                    "all {} {} connections stayed busy for {} s",
                    self.size,
                    self.name,
                    self.wait.as_secs()
                )))
            }
        };
        while let Some(idle) = self.pop() {
            let Idle { mut conn, since } = idle;
            if conn.ldap.is_closed() {
                continue;
            }
            if since.elapsed() >= self.check_after && !alive(&mut conn.ldap).await {
                tracing::debug!(url = %conn.url, pool = self.name, "idle LDAP connection is dead, dropped");
                continue;
            }
            return Ok(Lease {
                conn: Some(conn),
                idle: self.idle.clone(),
                reused: true,
                _slot: slot,
            });
        }
        let conn = open().await?;
        Ok(Lease {
            conn: Some(conn),
            idle: self.idle.clone(),
            reused: false,
            _slot: slot,
        })
    }

    fn pop(&self) -> Option<Idle> {
        lock(&self.idle).pop()
    }
}

impl Lease {
    pub fn ldap(&mut self) -> &mut Ldap {
        // Only `release` takes the connection, and it consumes the lease.
        &mut self
            .conn
            .as_mut()
            .expect("a lease holds its connection until released")
            .ldap
    }

    pub fn url(&self) -> Arc<str> {
        self.conn
            .as_ref()
            .map(|c| c.url.clone())
            .unwrap_or_else(|| Arc::from(""))
    }

    /// Gives the connection back to the pool, healthy.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.idle).push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

async fn alive(ldap: &mut Ldap) -> bool {
    matches!(
        ldap.with_timeout(Duration::from_secs(5)).extended(WhoAmI).await,
        Ok(result) if result.1.rc == 0
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Operations one shared connection carries at once, at most (slapd closes
/// a connection that queues more than its `conn_max_pending_auth`, 1000 by
/// default; Active Directory limits outstanding requests per connection).
/// A shared pool opens another connection only once every open one carries
/// this many: fewer connections let the server read several requests per
/// wake-up.
pub const PER_CONNECTION: usize = 32;

/// A bounded pool of connections shared by concurrent operations: ldap3
/// multiplexes requests over one connection (each has its message id), so
/// searches on the service-bound connections need no exclusive lease. At
/// most `size` connections exist, each carrying at most [`PER_CONNECTION`]
/// operations, filled in order; a new one is opened (one at a time) only
/// when every open one carries that many. The checks are those of
/// [`Pool`]: a connection whose driver has ended is dropped, one idle for
/// the check age answers a WhoAmI first, and one that saw a transport error
/// is discarded.
pub struct SharedPool {
    name: &'static str,
    size: usize,
    inner: Arc<SharedInner>,
    permits: Arc<Semaphore>,
    wait: Duration,
    check_after: Duration,
}

struct SharedInner {
    state: Mutex<SharedState>,
    /// A connection was opened (or failed to), or one left its limit.
    changed: Notify,
}

#[derive(Default)]
struct SharedState {
    conns: Vec<Entry>,
    opening: usize,
    next_id: u64,
}

struct Entry {
    ldap: Ldap,
    url: Arc<str>,
    id: u64,
    in_flight: usize,
    last_used: Instant,
}

/// One operation's use of a shared connection; dropping it ends the use.
pub struct Share {
    ldap: Ldap,
    url: Arc<str>,
    id: u64,
    inner: Arc<SharedInner>,
    /// Whether the connection was open before this borrow (see [`Lease`]).
    pub reused: bool,
    /// Set once the use has been given back (or the connection dropped).
    ended: bool,
    permit: Option<OwnedSemaphorePermit>,
}

/// What a borrower does after looking at the pool.
enum Pick {
    Use(Ldap, Arc<str>, u64),
    Probe(Ldap, Arc<str>, u64),
    Open,
    Wait,
}

impl SharedPool {
    pub fn new(name: &'static str, size: usize, wait: Duration) -> Self {
        SharedPool {
            name,
            size,
            inner: Arc::new(SharedInner {
                state: Mutex::new(SharedState::default()),
                changed: Notify::new(),
            }),
            permits: Arc::new(Semaphore::new(size.saturating_mul(PER_CONNECTION))),
            wait,
            check_after: CHECK_AFTER,
        }
    }

    /// Sets the idle age after which a connection is probed on borrow.
    pub fn with_check_after(mut self, age: Duration) -> Self {
        self.check_after = age;
        self
    }

    /// Connections open in the pool.
    pub fn open_count(&self) -> usize {
        lock(&self.inner.state).conns.len()
    }

    /// A share of a checked open connection, or of a new one from `open`.
    pub async fn get<F, Fut>(&self, open: F) -> Result<Share, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Connection, AuthError>>,
    {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut permit =
            match tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => {
                    return Err(AuthError::Unavailable(format!(
                        "the {} pool is closed",
                        self.name
                    )))
                }
                Err(_) => return Err(self.busy()),
            };
        let mut open = Some(open);
        loop {
            let changed = self.inner.changed.notified();
            match self.pick() {
                Pick::Use(ldap, url, id) => return Ok(self.share(ldap, url, id, true, permit)),
                Pick::Probe(mut ldap, url, id) => {
                    // Reserved by `pick`: the share gives it back, or
                    // drops the dead connection and the loop goes on.
                    let share = self.share(ldap.clone(), url, id, true, permit);
                    if alive(&mut ldap).await {
                        return Ok(share);
                    }
                    tracing::debug!(url = %share.url, pool = self.name, "idle LDAP connection is dead, dropped");
                    permit = match share.discard_keep_permit() {
                        Some(permit) => permit,
                        None => return Err(self.busy()),
                    };
                }
                Pick::Open => match open.take() {
                    Some(open) => return self.open_new(open, permit).await,
                    // Not reached: every `Open` returns.
                    None => {
                        drop(Opening {
                            inner: &self.inner,
                            armed: true,
                        });
                        return Err(self.busy());
                    }
                },
                Pick::Wait => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return Err(self.busy());
                    }
                }
            }
        }
    }

    /// Chooses the first open connection with room, a new one, or waiting.
    fn pick(&self) -> Pick {
        let mut state = lock(&self.inner.state);
        state.conns.retain_mut(|entry| !entry.ldap.is_closed());
        // One dial at a time, and only when every open connection is full.
        let may_open = state.opening == 0 && state.conns.len() < self.size;
        // First fit: operations gather on the oldest connections.
        let usable = state
            .conns
            .iter_mut()
            .find(|entry| entry.in_flight < PER_CONNECTION);
        match usable {
            Some(entry) => {
                let probe = entry.in_flight == 0 && entry.last_used.elapsed() >= self.check_after;
                entry.in_flight += 1;
                let (ldap, url, id) = (entry.ldap.clone(), entry.url.clone(), entry.id);
                if probe {
                    Pick::Probe(ldap, url, id)
                } else {
                    Pick::Use(ldap, url, id)
                }
            }
            None if may_open => {
                state.opening += 1;
                Pick::Open
            }
            _ => Pick::Wait,
        }
    }

    /// Opens a connection (counted in `opening` by `pick`) and shares it.
    async fn open_new<F, Fut>(
        &self,
        open: F,
        permit: OwnedSemaphorePermit,
    ) -> Result<Share, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Connection, AuthError>>,
    {
        let mut opening = Opening {
            inner: &self.inner,
            armed: true,
        };
        let conn = open().await;
        opening.armed = false;
        let mut state = lock(&self.inner.state);
        state.opening = state.opening.saturating_sub(1);
        let result = conn.map(|conn| {
            let id = state.next_id;
            state.next_id += 1;
            state.conns.push(Entry {
                ldap: conn.ldap.clone(),
                url: conn.url.clone(),
                id,
                in_flight: 1,
                last_used: Instant::now(),
            });
            (conn, id)
        });
        drop(state);
        self.inner.changed.notify_waiters();
        let (conn, id) = result?;
        Ok(self.share(conn.ldap, conn.url, id, false, permit))
    }

    fn share(
        &self,
        ldap: Ldap,
        url: Arc<str>,
        id: u64,
        reused: bool,
        permit: OwnedSemaphorePermit,
    ) -> Share {
        Share {
            ldap,
            url,
            id,
            inner: self.inner.clone(),
            reused,
            ended: false,
            permit: Some(permit),
        }
    }

    fn busy(&self) -> AuthError {
        AuthError::Unavailable(format!(
            "all {} {} connections stayed busy for {} s",
            self.size,
            self.name,
            self.wait.as_secs()
        ))
    }
}

/// Undoes the `opening` count of an open cancelled before it finished.
struct Opening<'a> {
    inner: &'a SharedInner,
    armed: bool,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = lock(&self.inner.state);
            state.opening = state.opening.saturating_sub(1);
            drop(state);
            self.inner.changed.notify_waiters();
        }
    }
}

/// Ends one use of connection `id`; `discard` drops the connection.
fn release_entry(inner: &SharedInner, id: u64, discard: bool) {
    let mut state = lock(&inner.state);
    let Some(index) = state.conns.iter().position(|entry| entry.id == id) else {
        return;
    };
    let was_full = if discard {
        state.conns.swap_remove(index);
        true
    } else {
        let entry = &mut state.conns[index];
        let was_full = entry.in_flight >= PER_CONNECTION;
        entry.in_flight = entry.in_flight.saturating_sub(1);
        entry.last_used = Instant::now();
        was_full
    };
    drop(state);
    if was_full {
        inner.changed.notify_waiters();
    }
}

impl Share {
    pub fn ldap(&mut self) -> &mut Ldap {
        &mut self.ldap
    }

    pub fn url(&self) -> Arc<str> {
        self.url.clone()
    }

    /// Drops the connection from the pool (it saw a transport error);
    /// operations still running on it end on their own.
    pub fn discard(self) {
        let _ = self.discard_keep_permit();
    }

    fn discard_keep_permit(mut self) -> Option<OwnedSemaphorePermit> {
        self.ended = true;
        release_entry(&self.inner, self.id, true);
        self.permit.take()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if !self.ended {
            release_entry(&self.inner, self.id, false);
        }
    }
}
