//! PostgreSQL's group commit for ledger requests: the requests waiting when a batch
//! starts run one after another in one transaction, and one commit makes them all
//! durable before anyone is answered.
//!
//! Why: a ledger request holds its community's chain head (a row lock) until it commits,
//! so requests of one community run strictly one at a time, each paying its own commit
//! and lock hand-over (measured: 434 awards/s, p99 234 ms at 64 connections). In a batch
//! the lock is taken once and the commit paid once.
//!
//! A batch is sorted by community (stable, so one community's requests keep their order)
//! so that batches of several servers take chain heads in the same order and cannot
//! deadlock. A refusal is an answer and writes nothing, as on the SQLite lane. If the
//! batch fails (a lost connection, a constraint), it is rolled back and each request is
//! retried in a transaction of its own, so one bad request never takes the others with it.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::ledger::{LedgerRequest, Outcome, apply};
use crate::{Exec, Result, StoreError};

/// Requests joined into one batch at most (bounds how long a batch holds its locks).
const MAX_BATCH: usize = 128;

/// The queue of ledger requests waiting for the next batch. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LedgerBatch {
    queue: mpsc::UnboundedSender<Pending>,
}

struct Pending {
    request: LedgerRequest,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<Outcome>>,
}

impl LedgerBatch {
    /// Starts the batching task (it ends when the last clone is dropped).
    pub(crate) fn start(pool: PgPool) -> LedgerBatch {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, pending));
        LedgerBatch { queue }
    }

    /// Runs a request in the next batch; answers once that batch has committed.
    pub(crate) async fn submit(
        &self,
        request: LedgerRequest,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                request,
                now,
                reply,
            })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is closing".into())
}

async fn run(pool: PgPool, mut pending: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match pending.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        batch.sort_by_key(|p| p.request.community.0);
        match run_batch(&pool, &batch).await {
            Ok(outcomes) => {
                for (p, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = p.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, requests = batch.len(), "a ledger batch failed; retrying its requests one by one");
                for p in batch {
                    let outcome = run_alone(&pool, &p).await;
                    let _ = p.reply.send(outcome);
                }
            }
        }
    }
}

async fn run_batch(pool: &PgPool, batch: &[Pending]) -> Result<Vec<Outcome>> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for p in batch {
        let mut ex = Exec::Postgres(&mut tx);
        outcomes.push(apply(&mut ex, &p.request, p.now).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn run_alone(pool: &PgPool, p: &Pending) -> Result<Outcome> {
    let mut tx = pool.begin().await?;
    let outcome = apply(&mut Exec::Postgres(&mut tx), &p.request, p.now).await?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}
