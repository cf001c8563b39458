//! The background job queue, in the application's own database (DESIGN §3): a job is
//! enqueued in the same transaction as the change that causes it, so it exists exactly
//! when the change does. Workers in any number of server processes claim jobs with a
//! lease; a worker that dies leaves its lease to run out and the job is claimed again.
//! Recurring jobs are one row each (a unique key), rescheduled by the worker that ran them.

use chrono::{DateTime, Duration, Utc};
use sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Order, Query};
use uuid::Uuid;

use crate::schema::Jobs;
use crate::{Exec, Result};

pub const QUEUED: &str = "queued";
pub const DONE: &str = "done";
/// Gave up after its last attempt: kept for an operator to inspect (the dead letters).
pub const DEAD: &str = "dead";

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: serde_json::Value,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
    /// At most one job holds a given key (recurring jobs).
    pub unique_key: Option<String>,
}

/// Enqueues a job. A job whose unique key is already held is not added again.
pub async fn enqueue(ex: &mut Exec<'_>, job: &NewJob, now: DateTime<Utc>) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let mut q = Query::insert()
        .into_table(Jobs::Table)
        .columns([
            Jobs::Id,
            Jobs::Kind,
            Jobs::UniqueKey,
            Jobs::Payload,
            Jobs::State,
            Jobs::RunAt,
            Jobs::Attempts,
            Jobs::MaxAttempts,
            Jobs::CreatedAt,
        ])
        .values_panic([
            id.into(),
            job.kind.into(),
            job.unique_key.clone().into(),
            job.payload.to_string().into(),
            QUEUED.into(),
            job.run_at.into(),
            0i32.into(),
            job.max_attempts.into(),
            now.into(),
        ])
        .to_owned();
    if job.unique_key.is_some() {
        q.on_conflict(OnConflict::column(Jobs::UniqueKey).do_nothing().to_owned());
    }
    ex.execute(&q).await?;
    Ok(id)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub kind: String,
    pub unique_key: Option<String>,
    pub payload: String,
    pub state: String,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: [Jobs; 13] = [
    Jobs::Id,
    Jobs::Kind,
    Jobs::UniqueKey,
    Jobs::Payload,
    Jobs::State,
    Jobs::RunAt,
    Jobs::Attempts,
    Jobs::MaxAttempts,
    Jobs::LockedUntil,
    Jobs::LockedBy,
    Jobs::LastError,
    Jobs::CreatedAt,
    Jobs::FinishedAt,
];

/// Claims up to `limit` due jobs for `worker` until `now + lease`, counting an attempt on
/// each. One statement: PostgreSQL skips rows another worker has locked; SQLite's write
/// transaction serialises claimers. Run it in a transaction and commit before working.
pub async fn claim(
    ex: &mut Exec<'_>,
    worker: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<JobRow>> {
    let due = Query::select()
        .column(Jobs::Id)
        .from(Jobs::Table)
        .and_where(Expr::col(Jobs::State).eq(QUEUED))
        .and_where(Expr::col(Jobs::RunAt).lte(now))
        .and_where(
            Expr::col(Jobs::LockedUntil)
                .is_null()
                .or(Expr::col(Jobs::LockedUntil).lt(now)),
        )
        .order_by(Jobs::RunAt, Order::Asc)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let ids: Vec<(Uuid,)> = ex.fetch_all(&due).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = ids.into_iter().map(|(id,)| id).collect();
    let take = Query::update()
        .table(Jobs::Table)
        .value(Jobs::LockedUntil, now + lease)
        .value(Jobs::LockedBy, worker)
        .value(Jobs::Attempts, Expr::col(Jobs::Attempts).add(1))
        .and_where(Expr::col(Jobs::Id).is_in(ids.clone()))
        .to_owned();
    ex.execute(&take).await?;
    let q = Query::select()
        .columns(JOB_COLUMNS)
        .from(Jobs::Table)
        .and_where(Expr::col(Jobs::Id).is_in(ids))
        .and_where(Expr::col(Jobs::LockedBy).eq(worker))
        .order_by(Jobs::RunAt, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// The condition that `worker` still holds the job's claim.
fn held_by(id: Uuid, worker: &str) -> [sea_query::SimpleExpr; 2] {
    [
        Expr::col(Jobs::Id).eq(id),
        Expr::col(Jobs::LockedBy).eq(worker),
    ]
}

/// Finishes a one-off job. `false`: the claim was lost (the lease ran out and another
/// worker took it), so this worker's result is not recorded.
pub async fn complete(
    ex: &mut Exec<'_>,
    id: Uuid,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let [a, b] = held_by(id, worker);
    let q = Query::update()
        .table(Jobs::Table)
        .value(Jobs::State, DONE)
        .value(Jobs::FinishedAt, now)
        .value(Jobs::LockedUntil, None::<DateTime<Utc>>)
        .and_where(a)
        .and_where(b)
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// Puts a recurring job back in the queue for its next run, attempts reset.
pub async fn reschedule(
    ex: &mut Exec<'_>,
    id: Uuid,
    worker: &str,
    run_at: DateTime<Utc>,
) -> Result<bool> {
    let [a, b] = held_by(id, worker);
    let q = Query::update()
        .table(Jobs::Table)
        .value(Jobs::RunAt, run_at)
        .value(Jobs::Attempts, 0i32)
        .value(Jobs::LockedUntil, None::<DateTime<Utc>>)
        .value(Jobs::LockedBy, None::<String>)
        .value(Jobs::LastError, None::<String>)
        .and_where(a)
        .and_where(b)
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// Records a failed attempt: the job runs again at `retry_at`, or, if that was its last
/// attempt, is kept as dead.
pub async fn fail(
    ex: &mut Exec<'_>,
    job: &JobRow,
    worker: &str,
    error: &str,
    retry_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let [a, b] = held_by(job.id, worker);
    let dead = job.attempts >= job.max_attempts;
    let mut q = Query::update()
        .table(Jobs::Table)
        .value(Jobs::LastError, error.chars().take(500).collect::<String>())
        .value(Jobs::LockedUntil, None::<DateTime<Utc>>)
        .and_where(a)
        .and_where(b)
        .to_owned();
    if dead {
        q.value(Jobs::State, DEAD).value(Jobs::FinishedAt, now);
    } else {
        q.value(Jobs::RunAt, retry_at);
    }
    Ok(ex.execute(&q).await? == 1)
}

pub async fn find(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<JobRow>> {
    let q = Query::select()
        .columns(JOB_COLUMNS)
        .from(Jobs::Table)
        .and_where(Expr::col(Jobs::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Jobs of one kind in one state, newest first (the outbox and dead-letter views).
pub async fn list(
    ex: &mut Exec<'_>,
    kind: &str,
    state: Option<&str>,
    limit: u64,
) -> Result<Vec<JobRow>> {
    let mut q = Query::select()
        .columns(JOB_COLUMNS)
        .from(Jobs::Table)
        .and_where(Expr::col(Jobs::Kind).eq(kind))
        .order_by(Jobs::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(s) = state {
        q.and_where(Expr::col(Jobs::State).eq(s));
    }
    ex.fetch_all(&q).await
}
