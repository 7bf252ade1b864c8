//! The single writer task. SFTPGo sends every event as its own concurrent
//! RPC; committing each in its own transaction costs an fsync each. Here
//! every RPC hands its event to one task, which takes whatever has queued
//! up (at most [`MAX_BATCH`]), inserts it in one transaction and answers
//! each RPC only after the commit: acknowledged still means stored. If the
//! batch fails, its events are retried one by one so one bad event cannot
//! fail the others, and each RPC gets its own event's outcome.

use tokio::sync::{mpsc, oneshot};

use crate::db::on_pool;
use crate::insert::{insert_sql, Ids};
use crate::sql::bound;
use crate::{Database, DbError, NewEvent};

/// The most events committed in one transaction.
pub const MAX_BATCH: usize = 256;

type Job = (NewEvent, oneshot::Sender<Result<(), String>>);

/// The handle RPCs use to store events.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on the current runtime; `ids` says how rows
    /// get their id.
    pub fn start(db: Database, instance_id: String, ids: Ids) -> Writer {
        let (jobs, queue) = mpsc::channel::<Job>(MAX_BATCH * 4);
        tokio::spawn(run(db, instance_id, ids, queue));
        Writer { jobs }
    }

    /// Stores one event; returns once it is committed.
    pub async fn insert(&self, event: NewEvent) -> Result<(), DbError> {
        let (done, committed) = oneshot::channel();
        self.jobs
            .send((event, done))
            .await
            .map_err(|_| DbError::WriterStopped)?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(DbError::Sql(sqlx::Error::Protocol(message))),
            Err(_) => Err(DbError::WriterStopped),
        }
    }
}

async fn run(db: Database, instance_id: String, ids: Ids, mut queue: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let events: Vec<&NewEvent> = batch.iter().map(|(event, _)| event).collect();
        let outcome = insert_events(&db, &instance_id, ids, &events).await;
        match outcome {
            Ok(()) => {
                for (_, done) in batch.drain(..) {
                    let _ = done.send(Ok(()));
                }
            }
            Err(err) if batch.len() == 1 => {
                tracing::warn!(error = %err, "cannot store an event");
                for (_, done) in batch.drain(..) {
                    let _ = done.send(Err(err.to_string()));
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, size = batch.len(), "batch failed, storing one by one");
                for (event, done) in batch.drain(..) {
                    let result = insert_events(&db, &instance_id, ids, &[&event])
                        .await
                        .map_err(|err| {
                            tracing::warn!(error = %err, "cannot store an event");
                            err.to_string()
                        });
                    let _ = done.send(result);
                }
            }
        }
    }
}

/// Inserts `events` in one transaction.
async fn insert_events(
    db: &Database,
    instance_id: &str,
    ids: Ids,
    events: &[&NewEvent],
) -> Result<(), DbError> {
    let driver = db.driver();
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        for event in events {
            let sql = insert_sql(driver, event, instance_id, ids);
            bound!(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    })
}
