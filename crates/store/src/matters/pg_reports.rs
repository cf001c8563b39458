//! PostgreSQL's group commit for new matters: the reports waiting when a batch starts go
//! in as one multi-row `INSERT` of matters and one of their first timeline entries, in
//! one transaction — four round trips for the batch instead of four for each report.
//!
//! Why not savepoints on one connection, like the SQLite lane: on PostgreSQL each
//! statement is a round trip, so a batch of per-report statements ran in series and was
//! slower than separate transactions (measured, see docs/benchmarks.md). Multi-row
//! statements are what make a batch cheap here.
//!
//! A report whose number (or id) is taken is left out by `ON CONFLICT DO NOTHING` and
//! answered with a conflict, as a transaction of its own would be. Any other failure of
//! the batch — a constraint, a lost connection — rolls it back, and each report is then
//! retried in its own transaction, so one bad report never takes the others with it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId};
use sea_query::OnConflict;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::records::{events_insert, first_event, insert_matter, matters_insert};
use crate::schema::Matters;
use crate::{Exec, Result, StoreError};

/// Reports joined into one batch at most.
const MAX_BATCH: usize = 256;

/// The queue of new matters waiting for the next batch. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReportBatch {
    queue: mpsc::UnboundedSender<Report>,
}

struct Report {
    community: CommunityId,
    matter: super::NewMatter,
    actor: Option<AccountId>,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<()>>,
}

impl ReportBatch {
    /// Starts the batching lane on a thread of its own ([`crate::pg_lane`]); it ends when
    /// the last clone is dropped.
    pub(crate) fn start(options: PgConnectOptions) -> ReportBatch {
        let (queue, reports) = mpsc::unbounded_channel();
        crate::pg_lane::spawn("linli-pg-reports", options, move |pool| run(pool, reports));
        ReportBatch { queue }
    }

    /// Records a new matter in the next batch; answers once that batch has committed.
    pub(crate) async fn report(
        &self,
        community: CommunityId,
        matter: super::NewMatter,
        actor: Option<AccountId>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let report = Report {
            community,
            matter,
            actor,
            now,
            reply,
        };
        self.queue.send(report).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is closing".into())
}

async fn run(pool: PgPool, mut reports: mpsc::UnboundedReceiver<Report>) {
    while let Some(first) = reports.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match reports.try_recv() {
                Ok(report) => batch.push(report),
                Err(_) => break,
            }
        }
        match insert_batch(&pool, &batch).await {
            Ok(inserted) => {
                for report in batch {
                    let outcome = match inserted.contains(&report.matter.id) {
                        true => Ok(()),
                        false => Err(StoreError::Conflict("the matter's number is taken".into())),
                    };
                    let _ = report.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, reports = batch.len(), "a batch of reports failed; retrying them one by one");
                for report in batch {
                    let outcome = insert_alone(&pool, &report).await;
                    let _ = report.reply.send(outcome);
                }
            }
        }
    }
}

/// The batch in one transaction; the ids of the matters inserted (the others' numbers or
/// ids were taken).
async fn insert_batch(pool: &PgPool, batch: &[Report]) -> Result<HashSet<Uuid>> {
    let mut tx = pool.begin().await?;
    let mut ex = Exec::Postgres(&mut tx);
    let mut matters = matters_insert(batch.iter().map(|r| (r.community, &r.matter, r.now)));
    matters
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .returning_col(Matters::Id);
    let inserted: Vec<(Uuid,)> = ex.fetch_all(&matters).await?;
    let inserted: HashSet<Uuid> = inserted.into_iter().map(|(id,)| id).collect();
    let events: Vec<_> = batch
        .iter()
        .filter(|r| inserted.contains(&r.matter.id))
        .map(|r| {
            (
                r.community,
                r.matter.id,
                first_event(&r.matter, r.actor),
                r.now,
            )
        })
        .collect();
    if !events.is_empty() {
        ex.execute(&events_insert(
            events.iter().map(|(c, id, e, now)| (*c, *id, e, *now)),
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

async fn insert_alone(pool: &PgPool, r: &Report) -> Result<()> {
    let mut tx = pool.begin().await?;
    insert_matter(
        &mut Exec::Postgres(&mut tx),
        r.community,
        &r.matter,
        r.actor,
        r.now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
