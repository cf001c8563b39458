//! The supervision sweep: reminds handlers when three quarters of a matter's working time
//! is gone, and climbs the ladder (reminder at due, yellow card, red card) as deadlines
//! pass. Run by a recurring background job; safe to run on several servers at once, since
//! every write is a compare-and-set that only one sweep can win.

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::matters::SuperviseLevel;
use linli_store::matters::inbox::{self, NewNotification};
use linli_store::matters::supervision::{self, RunningRow};
use linli_store::{Result, auth as store_auth, matters};

use super::{DECIDERS, handler_accounts};
use crate::state::AppState;

/// Matters handled per read; a sweep keeps reading until none are left.
const BATCH: u64 = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub reminded: u64,
    pub escalated: u64,
}

fn rank(level: SuperviseLevel) -> u8 {
    match level {
        SuperviseLevel::None => 0,
        SuperviseLevel::Normal => 1,
        SuperviseLevel::Yellow => 2,
        SuperviseLevel::Red => 3,
    }
}

/// The rung a running matter should be on at `now`.
fn level_due(row: &RunningRow, now: DateTime<Utc>) -> SuperviseLevel {
    let passed = |at: Option<DateTime<Utc>>| at.is_some_and(|t| t <= now);
    if passed(row.red_at) {
        SuperviseLevel::Red
    } else if passed(row.yellow_at) {
        SuperviseLevel::Yellow
    } else if passed(row.due_at) {
        SuperviseLevel::Normal
    } else {
        SuperviseLevel::None
    }
}

/// Notifications for one matter's handlers (and, on a red card, the deciders).
async fn tell_handlers(
    ex: &mut linli_store::Exec<'_>,
    row: &RunningRow,
    kind: &'static str,
    with_deciders: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let community = CommunityId(row.community_id);
    let Some(m) = matters::find_matter(ex, row.id).await? else {
        return Ok(());
    };
    let mut accounts = handler_accounts(ex, community, m.handler_kind.as_deref(), m.handler_id)
        .await
        .unwrap_or_default();
    if with_deciders {
        accounts.extend(store_auth::accounts_with_roles(ex, community, DECIDERS).await?);
    }
    accounts.sort_by_key(|a| a.0);
    accounts.dedup();
    let notes: Vec<NewNotification> = accounts
        .into_iter()
        .map(|account| NewNotification {
            account,
            matter: Some(m.id),
            kind,
            title: m.number.clone(),
            body: m.title.clone(),
        })
        .collect();
    inbox::notify(ex, community, &notes, now).await?;
    crate::outbox::enqueue(ex, community, &notes, now).await?;
    Ok(())
}

/// One pass over every matter whose reminder or next rung has come by `now`.
pub async fn run(state: &AppState, now: DateTime<Utc>) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    loop {
        let rows = {
            let mut conn = state.db.acquire().await?;
            supervision::due_for_reminder(&mut conn.exec(), now, BATCH).await?
        };
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let mut tx = state.db.begin().await?;
            let mut ex = tx.exec();
            if supervision::mark_reminded(&mut ex, CommunityId(row.community_id), row.id, now)
                .await?
            {
                tell_handlers(&mut ex, row, "matter_reminder", false, now).await?;
                report.reminded += 1;
            }
            tx.commit().await?;
            state.matter_lists.written();
        }
        if (rows.len() as u64) < BATCH {
            break;
        }
    }
    loop {
        let rows = {
            let mut conn = state.db.acquire().await?;
            supervision::due_for_escalation(&mut conn.exec(), now, BATCH).await?
        };
        let mut raised = 0;
        for row in &rows {
            let Ok(current) = SuperviseLevel::parse(&row.supervise_level) else {
                continue;
            };
            let due = level_due(row, now);
            if rank(due) <= rank(current) {
                continue;
            }
            let mut tx = state.db.begin().await?;
            let mut ex = tx.exec();
            if supervision::raise_level(&mut ex, row, due, now).await? {
                let kind = match due {
                    SuperviseLevel::Red => "matter_red_card",
                    SuperviseLevel::Yellow => "matter_yellow_card",
                    _ => "matter_overdue",
                };
                tell_handlers(&mut ex, row, kind, due == SuperviseLevel::Red, now).await?;
                report.escalated += 1;
                raised += 1;
            }
            tx.commit().await?;
            state.matter_lists.written();
        }
        if raised == 0 || (rows.len() as u64) < BATCH {
            break;
        }
    }
    Ok(report)
}
