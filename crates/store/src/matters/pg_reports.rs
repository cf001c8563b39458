//! PostgreSQL's group commit for new matters: the reports waiting when a batch starts go
//! in as one statement, a multi-row `INSERT` of matters and one of their first timeline
//! entries — one round trip and one commit for the batch instead of four round trips for
//! each report.
//!
//! Why not savepoints on one connection, like the SQLite lane: on PostgreSQL each
//! statement is a round trip, so a batch of per-report statements ran in series and was
//! slower than separate transactions (measured, see docs/benchmarks.md). Multi-row
//! statements are what make a batch cheap here.
//!
//! Two lanes, each on a connection (and thread) of its own, take batches from the one
//! queue: while one batch waits for its commit, the other runs. Batches need no order
//! among themselves: a matter's id and number are made before it is queued, and a
//! number taken in the other lane's batch is refused by the unique index just the same.
//!
//! A report whose number (or id) is taken is left out by `ON CONFLICT DO NOTHING` and
//! answered with a conflict, as a transaction of its own would be. Any other failure of
//! the batch — a constraint, a lost connection — fails the whole statement, and each
//! report is then retried in its own transaction, so one bad report never takes the
//! others with it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId};
use sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, OnConflict, Query, ValueTuple, WithClause,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use uuid::Uuid;

use super::records::{EVENT_COLUMNS, event_values, first_event, insert_matter, matters_insert};
use crate::pg_lane::LaneConnection;
use crate::schema::{MatterEvents, Matters};
use crate::{Exec, Result, StoreError};

/// Reports joined into one batch at most.
const MAX_BATCH: usize = 256;

/// Batches in flight at once, one per lane.
///
/// Why two: one lane's backend ran every report in series and waited for each commit,
/// with a third of the machine idle; that lane was the bound. Measured on two cores
/// (submit, 64 connections, docs/benchmarks.md): one lane 6,400–7,700 reports/s on a slow
/// day and 8,500–9,700/s on a fast one, two lanes 8,300–9,800/s and 11,000–12,500/s with a
/// p99 no worse (11–13 ms on the fast day, once the search index was merged every 250 ms),
/// three no faster than two (the two cores are shared with the server and the load).
const LANES: usize = 2;

/// How often, at most, the search index's pending entries are merged while reports
/// arrive (see [`merge_search_index`]).
pub const SEARCH_MERGE_EVERY: Duration = Duration::from_millis(250);

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
    /// Starts the batching lanes, each on a thread of its own ([`crate::pg_lane`]); they
    /// end when the last clone is dropped.
    pub(crate) fn start(options: PgConnectOptions) -> ReportBatch {
        let (queue, reports) = mpsc::unbounded_channel();
        let reports = Arc::new(Mutex::new(reports));
        let inserted = Arc::new(Notify::new());
        for lane_number in 1..=LANES {
            let (options, reports, inserted) = (options.clone(), reports.clone(), inserted.clone());
            let name = format!("linli-pg-reports-{lane_number}");
            crate::pg_lane::spawn(&name, options.clone(), move |lane| async move {
                if lane_number == 1 {
                    tokio::spawn(merge_search_index(options, inserted.clone()));
                }
                run(lane, &reports, &inserted).await
            });
        }
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

/// Merges the matters' full-text index's pending entries into the index proper, at most
/// once every [`SEARCH_MERGE_EVERY`] while reports arrive, on a connection of its own.
///
/// Why: a GIN index (`fastupdate`, PostgreSQL's default) appends new entries to a pending
/// list that every search reads in full, and merges the list only at VACUUM or when it
/// passes `gin_pending_list_limit` (4 MB) — inside whichever insert crosses it, here a
/// batch of this lane. After a 10 s submit run the list held 428 pages: a search for 电梯
/// spent 0.9–4.1 ms in the index, 0.1 ms once the list was merged, and searches ran at
/// 1,154/s instead of 684/s (docs/benchmarks.md). The index's own limit is 16 MB
/// (migration 0017), so that a merge that comes late does not leave a batch of reports to
/// merge inline.
///
/// Why a quarter of a second: with two lanes, reports arrive at up to 12,000 a second, a
/// second of them is 11–16 MB of pending entries, and merged every second the list
/// crossed 16 MB every few seconds: the batch that crossed it merged 2,000 pages inline
/// (50–70 ms), and a submit run's p99 was 22–42 ms. Merged every 250 ms the list stays
/// under 1,500 pages, no batch takes 20 ms, and the p99 was 11–13 ms (docs/benchmarks.md).
async fn merge_search_index(options: PgConnectOptions, inserted: Arc<Notify>) {
    let mut conn: Option<PgConnection> = None;
    loop {
        inserted.notified().await;
        tokio::time::sleep(SEARCH_MERGE_EVERY).await;
        if conn.is_none() {
            match PgConnection::connect_with(&options).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "search index merge: no connection");
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let started = std::time::Instant::now();
        let merged: std::result::Result<i64, sqlx::Error> =
            sqlx::query_scalar("SELECT gin_clean_pending_list('matters_search'::regclass)")
                .fetch_one(&mut *c)
                .await;
        match merged {
            Ok(pages) => tracing::debug!(
                pages,
                merge_us = started.elapsed().as_micros() as u64,
                "search index pending entries merged"
            ),
            Err(e) if is_not_allowed(&e) => {
                // Only the index's owner may merge it; searches then read the list until
                // VACUUM merges it, as before.
                tracing::warn!(error = %e, "the search index's pending entries cannot be merged by this role; leaving them to VACUUM");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not merge the search index's pending entries");
                conn = None;
            }
        }
    }
}

/// PostgreSQL's "insufficient privilege".
fn is_not_allowed(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "42501")
}

/// One lane: takes the reports waiting (up to [`MAX_BATCH`]) whenever it is free, and
/// answers them once their batch has committed.
async fn run(
    mut lane: LaneConnection,
    reports: &Mutex<mpsc::UnboundedReceiver<Report>>,
    inserted: &Notify,
) {
    while let Some(batch) = next_batch(reports).await {
        answer_batch(&mut lane, batch, inserted).await;
    }
}

/// The next batch: the first report to arrive and those queued behind it. The queue is
/// held only while the batch is taken, so the other lane takes the reports that arrive
/// while this one's batch runs. `None` once the queue is closed.
async fn next_batch(reports: &Mutex<mpsc::UnboundedReceiver<Report>>) -> Option<Vec<Report>> {
    let mut reports = reports.lock().await;
    let first = reports.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match reports.try_recv() {
            Ok(report) => batch.push(report),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// Inserts one batch and answers each of its reports.
async fn answer_batch(lane: &mut LaneConnection, batch: Vec<Report>, inserted: &Notify) {
    let started = std::time::Instant::now();
    let outcome = insert_batch(lane, &batch).await;
    tracing::debug!(
        reports = batch.len(),
        batch_us = started.elapsed().as_micros() as u64,
        "report batch"
    );
    match outcome {
        Ok(made) => {
            if !made.is_empty() {
                inserted.notify_one();
            }
            for report in batch {
                let outcome = match made.contains(&report.matter.id) {
                    true => Ok(()),
                    false => Err(StoreError::Conflict("the matter's number is taken".into())),
                };
                let _ = report.reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, reports = batch.len(), "a batch of reports failed; retrying them one by one");
            lane.recover().await;
            for report in batch {
                let outcome = insert_alone(lane, &report).await;
                if outcome.is_err() {
                    lane.recover().await;
                }
                let _ = report.reply.send(outcome);
            }
        }
    }
}

/// The batch as one statement, the ids of the matters inserted: the matters go in
/// through a data-modifying `WITH` (`made`), and the first timeline entries of those that
/// went in (a matter whose number is taken is left out by `ON CONFLICT DO NOTHING`) in
/// the statement proper.
///
/// Why one statement: it is its own transaction, so the batch is one round trip instead
/// of four (`BEGIN`, two `INSERT`s, `COMMIT`), and the lane's backend, which runs every
/// report's share of PostgreSQL's work in series, waits less between them.
async fn insert_batch(lane: &mut LaneConnection, batch: &[Report]) -> Result<HashSet<Uuid>> {
    let mut matters = matters_insert(batch.iter().map(|r| (r.community, &r.matter, r.now)));
    matters
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .returning_col(Matters::Id);
    let made = Alias::new("made");
    let with = WithClause::new()
        .cte(
            CommonTableExpression::new()
                .query(matters)
                .table_name(made.clone())
                .to_owned(),
        )
        .to_owned();
    let entry = Alias::new("entry");
    let mut entries = Query::select();
    for n in 1..=EVENT_COLUMNS.len() {
        // The columns of a VALUES list are named column1, column2, …
        entries.column((entry.clone(), Alias::new(format!("column{n}"))));
    }
    entries
        .from_values(
            batch.iter().map(|r| {
                let first = first_event(&r.matter, r.actor);
                ValueTuple::Many(event_values(r.community, r.matter.id, &first, r.now).to_vec())
            }),
            entry.clone(),
        )
        .and_where(
            Expr::col((entry, Alias::new("column2")))
                .in_subquery(Query::select().column(Matters::Id).from(made).to_owned()),
        );
    let statement = Query::insert()
        .into_table(MatterEvents::Table)
        .columns(EVENT_COLUMNS)
        .select_from(entries)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .returning_col(MatterEvents::MatterId)
        .to_owned()
        .with(with);
    let inserted: Vec<(Uuid,)> = Exec::Postgres(lane.get().await?)
        .fetch_all(&statement)
        .await?;
    Ok(inserted.into_iter().map(|(id,)| id).collect())
}

async fn insert_alone(lane: &mut LaneConnection, r: &Report) -> Result<()> {
    let mut tx = lane.get().await?.begin().await?;
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
