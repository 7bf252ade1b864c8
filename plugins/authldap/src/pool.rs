//! A bounded pool of LDAP connections, written on a tokio semaphore (the
//! general-purpose pool crates either block or do not fit ldap3's handle
//! model). At most `size` connections exist; a borrower waits for a slot
//! for at most the wait limit. A connection is checked on borrow: one whose
//! driver has ended is dropped, and one idle for longer than the check age
//! answers a WhoAmI first. Only a lease released explicitly goes back to
//! the pool, so a connection that saw a transport error is never reused.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::exop::WhoAmI;
use ldap3::Ldap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
