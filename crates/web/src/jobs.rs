//! The background worker: claims due jobs from the database queue and runs them. Every
//! `linli serve` process runs one; the queue's claims (see `linli_store::jobs`) make sure
//! each job runs once at a time, and a job left by a crashed process is taken up again
//! when its lease runs out.

use std::time::Duration;

use chrono::Utc;
use linli_store::jobs::{self, JobRow, NewJob};
use tokio::sync::watch;

use crate::matters::sweep;
use crate::state::AppState;

/// The recurring supervision sweep (reminders and escalation).
pub const MATTERS_SWEEP: &str = "matters_sweep";

/// The recurring points sweep (redemptions nobody confirmed in time).
pub const POINTS_SWEEP: &str = "points_sweep";

/// How often the sweep runs.
pub const SWEEP_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);
/// How long a claim lasts before another worker may take the job.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// Jobs claimed at a time.
const CLAIM_BATCH: u64 = 10;

/// A worker's name in claims: the host process and a random tail, so two processes never
/// mistake each other's claims.
pub fn worker_name() -> String {
    format!(
        "pid{}-{}",
        std::process::id(),
        &uuid::Uuid::now_v7().simple().to_string()[24..]
    )
}

/// Makes sure the recurring jobs exist (one row each, whatever the number of servers).
pub async fn ensure_recurring(state: &AppState) -> linli_store::Result<()> {
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    for kind in [MATTERS_SWEEP, POINTS_SWEEP] {
        let job = NewJob {
            kind,
            payload: serde_json::json!({}),
            run_at: now,
            max_attempts: i32::MAX,
            unique_key: Some(kind.to_owned()),
        };
        jobs::enqueue(&mut tx.exec(), &job, now).await?;
    }
    tx.commit().await
}

/// Delay before retrying a failed job: 10 s, 20 s, 40 s … capped at an hour.
fn backoff(attempts: i32) -> chrono::Duration {
    let exp = attempts.clamp(1, 9) as u32 - 1;
    chrono::Duration::seconds((10i64 << exp).min(3600))
}

/// Runs one claimed job; `Ok(Some(t))` reschedules a recurring job at `t`.
async fn run_job(state: &AppState, job: &JobRow) -> anyhow::Result<Option<chrono::DateTime<Utc>>> {
    match job.kind.as_str() {
        MATTERS_SWEEP => {
            let report = sweep::run(state, Utc::now()).await?;
            if report.reminded + report.escalated > 0 {
                tracing::info!(
                    reminded = report.reminded,
                    escalated = report.escalated,
                    "supervision sweep"
                );
            }
            Ok(Some(Utc::now() + SWEEP_INTERVAL))
        }
        POINTS_SWEEP => {
            let expired = crate::points::expire_redemptions(state, Utc::now()).await?;
            if expired > 0 {
                tracing::info!(expired, "points sweep: redemptions given back");
            }
            let run = crate::points::expire_points(state, Utc::now()).await?;
            if run.expired_accounts > 0 || run.notices > 0 {
                tracing::info!(
                    accounts = run.expired_accounts,
                    points = run.expired_points,
                    notices = run.notices,
                    "points sweep: expiry"
                );
            }
            Ok(Some(Utc::now() + SWEEP_INTERVAL))
        }
        crate::outbox::WEBHOOK_JOB => {
            crate::outbox::deliver(state, job).await?;
            Ok(None)
        }
        other => anyhow::bail!("no handler for job kind {other:?}"),
    }
}

/// Claims and runs what is due now; returns how many jobs ran.
pub async fn run_due(state: &AppState, worker: &str) -> linli_store::Result<usize> {
    run_due_at(state, worker, Utc::now()).await
}

/// Claims and runs what is due at `now` (tests move the clock forward to reach retries).
pub async fn run_due_at(
    state: &AppState,
    worker: &str,
    now: chrono::DateTime<Utc>,
) -> linli_store::Result<usize> {
    let claimed = {
        let mut tx = state.db.begin().await?;
        let rows = jobs::claim(&mut tx.exec(), worker, now, LEASE, CLAIM_BATCH).await?;
        tx.commit().await?;
        rows
    };
    for job in &claimed {
        let result = run_job(state, job).await;
        // A write: through the write queue (on SQLite a bare connection would meet the
        // busy handler while the group-commit writer holds the lock, and give up).
        let mut tx = state.db.begin().await?;
        let mut ex = tx.exec();
        match result {
            Ok(Some(next)) => {
                jobs::reschedule(&mut ex, job.id, worker, next).await?;
            }
            Ok(None) => {
                jobs::complete(&mut ex, job.id, worker, now).await?;
            }
            Err(error) => {
                tracing::warn!(job = %job.id, kind = job.kind, error = format!("{error:#}"), "job failed");
                jobs::fail(
                    &mut ex,
                    job,
                    worker,
                    &format!("{error:#}"),
                    now + backoff(job.attempts),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
    }
    Ok(claimed.len())
}

/// The worker loop, until `shutdown` turns true.
pub async fn run(state: AppState, poll: Duration, mut shutdown: watch::Receiver<bool>) {
    let worker = worker_name();
    if let Err(error) = ensure_recurring(&state).await {
        tracing::warn!(error = %error, "could not register recurring jobs; will retry");
    }
    loop {
        match run_due(&state, &worker).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "job queue unavailable"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
}
