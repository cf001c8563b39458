//! Group commit on PostgreSQL: the twin of [`crate::lite`]'s writer for the busiest
//! writes (a matter report; the ledger next).
//!
//! One task takes every write waiting, runs each inside its own savepoint in one
//! transaction, commits once, and only then answers each caller. A write that fails rolls
//! back to its savepoint alone; if the commit fails, every write of the batch hears it.
//! Durability is PostgreSQL's own (`synchronous_commit` as configured): nobody hears
//! "done" before the commit returns. What it saves is one transaction start, one commit
//! and one WAL flush wait per write.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// Writes joined into one transaction at most.
const MAX_BATCH: usize = 256;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A write's statements, given the batch's connection (inside its savepoint).
pub type Work<T> = Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send>;

/// The group-commit writer of one PostgreSQL pool.
#[derive(Debug)]
pub struct PgGroup {
    jobs: Mutex<Option<mpsc::UnboundedSender<Box<dyn Job>>>>,
}

impl PgGroup {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(pool: PgPool) -> PgGroup {
        let (sender, jobs) = mpsc::unbounded_channel();
        tokio::spawn(run_writer(pool, jobs));
        PgGroup {
            jobs: Mutex::new(Some(sender)),
        }
    }

    /// Runs `work` in the next group commit and answers once that commit is done.
    pub async fn write<T: Send + 'static>(&self, work: Work<T>) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            work: Some(work),
            outcome: None,
            reply,
        });
        {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            let sent = jobs.as_ref().map(|jobs| jobs.send(job).is_ok());
            if sent != Some(true) {
                return Err(closed());
            }
        }
        answer.await.map_err(|_| closed())?
    }

    /// Stops the writer once the writes already queued are done.
    pub(crate) fn close(&self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is closing".into())
}

trait Job: Send + std::fmt::Debug {
    fn run<'a>(&'a mut self, conn: &'a mut PgConnection) -> BoxFuture<'a, ()>;
    fn finish(self: Box<Self>, commit_failure: Option<&str>);
}

struct Pending<T> {
    work: Option<Work<T>>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T> std::fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingWrite")
    }
}

impl<T: Send + 'static> Job for Pending<T> {
    fn run<'a>(&'a mut self, conn: &'a mut PgConnection) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(work) = self.work.take() {
                self.outcome = Some(in_savepoint(conn, work).await);
            }
        })
    }

    fn finish(self: Box<Self>, commit_failure: Option<&str>) {
        let answer = match (commit_failure, self.outcome) {
            (Some(failure), _) => Err(StoreError::Unavailable(failure.to_owned().into())),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(StoreError::Unavailable("the write did not run".into())),
        };
        // The caller may have gone (request cancelled): the write stands regardless.
        let _ = self.reply.send(answer);
    }
}

async fn in_savepoint<T>(conn: &mut PgConnection, work: Work<T>) -> Result<T> {
    sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    let outcome = work(&mut *conn).await;
    if outcome.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT job")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT job")
        .execute(&mut *conn)
        .await?;
    outcome
}

async fn run_writer(pool: PgPool, mut jobs: mpsc::UnboundedReceiver<Box<dyn Job>>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let failure = commit_batch(&pool, &mut batch).await.err();
        let failure = failure.map(|e| e.to_string());
        for job in batch {
            job.finish(failure.as_deref());
        }
    }
}

async fn commit_batch(pool: &PgPool, batch: &mut [Box<dyn Job>]) -> Result<()> {
    let mut tx = pool.begin().await?;
    for job in batch.iter_mut() {
        job.run(&mut tx).await;
    }
    tx.commit().await?;
    Ok(())
}
