//! What the supervision sweep reads and writes: running matters whose reminder or next
//! rung of the ladder has come. Each write is a compare-and-set on the matter's version,
//! so two servers sweeping at once cannot both fire for the same matter.

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::matters::{MatterStatus, SuperviseLevel};
use sea_query::{Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use super::records::{NewEvent, insert_event};
use crate::schema::Matters;
use crate::{Exec, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunningRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub status: String,
    pub supervise_level: String,
    pub version: i64,
    pub due_at: Option<DateTime<Utc>>,
    pub yellow_at: Option<DateTime<Utc>>,
    pub red_at: Option<DateTime<Utc>>,
}

fn running_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Matters::CommunityId,
            Matters::Id,
            Matters::Status,
            Matters::SuperviseLevel,
            Matters::Version,
            Matters::DueAt,
            Matters::YellowAt,
            Matters::RedAt,
        ])
        .from(Matters::Table)
        .and_where(Expr::col(Matters::Status).is_in([
            MatterStatus::Dispatched.as_str(),
            MatterStatus::InProgress.as_str(),
        ]))
        .to_owned()
}

/// Running matters whose reminder time has come and who were not reminded yet.
pub async fn due_for_reminder(
    ex: &mut Exec<'_>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<RunningRow>> {
    let q = running_columns()
        .and_where(Expr::col(Matters::RemindedAt).is_null())
        .and_where(Expr::col(Matters::RemindAt).lte(now))
        .order_by(Matters::RemindAt, Order::Asc)
        .limit(limit)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Running matters that have passed a rung of the ladder they are not on yet. Each rung is
/// its own indexed read (the partial indexes of migration 0003).
pub async fn due_for_escalation(
    ex: &mut Exec<'_>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<RunningRow>> {
    let red = running_columns()
        .and_where(Expr::col(Matters::SuperviseLevel).ne(SuperviseLevel::Red.as_str()))
        .and_where(Expr::col(Matters::RedAt).lte(now))
        .order_by(Matters::RedAt, Order::Asc)
        .limit(limit)
        .to_owned();
    let yellow = running_columns()
        .and_where(Expr::col(Matters::SuperviseLevel).is_in([
            SuperviseLevel::None.as_str(),
            SuperviseLevel::Normal.as_str(),
        ]))
        .and_where(Expr::col(Matters::YellowAt).lte(now))
        .order_by(Matters::YellowAt, Order::Asc)
        .limit(limit)
        .to_owned();
    let due = running_columns()
        .and_where(Expr::col(Matters::SuperviseLevel).eq(SuperviseLevel::None.as_str()))
        .and_where(Expr::col(Matters::DueAt).lte(now))
        .order_by(Matters::DueAt, Order::Asc)
        .limit(limit)
        .to_owned();
    let mut rows: Vec<RunningRow> = Vec::new();
    for q in [red, yellow, due] {
        for row in ex.fetch_all::<RunningRow, _>(&q).await? {
            if !rows.iter().any(|r| r.id == row.id) {
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// Marks a matter reminded, if it is still at `version`. Reminders are not steps: the
/// version stays, so a handler's step in the same instant is not refused because of it.
pub async fn mark_reminded(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(Matters::Table)
        .value(Matters::RemindedAt, now)
        .and_where(Expr::col(Matters::CommunityId).eq(community.0))
        .and_where(Expr::col(Matters::Id).eq(id))
        .and_where(Expr::col(Matters::RemindedAt).is_null())
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// Raises a matter's supervision level if it is still at `version` and `from`, writing the
/// timeline entry. `false`: it moved on meanwhile (nothing written).
pub async fn raise_level(
    ex: &mut Exec<'_>,
    row: &RunningRow,
    to: SuperviseLevel,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(Matters::Table)
        .value(Matters::SuperviseLevel, to.as_str())
        .value(Matters::Version, row.version + 1)
        .value(Matters::UpdatedAt, now)
        .and_where(Expr::col(Matters::CommunityId).eq(row.community_id))
        .and_where(Expr::col(Matters::Id).eq(row.id))
        .and_where(Expr::col(Matters::Version).eq(row.version))
        .and_where(Expr::col(Matters::SuperviseLevel).eq(row.supervise_level.clone()))
        .to_owned();
    if ex.execute(&q).await? != 1 {
        return Ok(false);
    }
    let status =
        MatterStatus::parse(&row.status).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
    let event = NewEvent {
        seq: row.version + 1,
        actor: None,
        step: "escalate",
        from: Some(status),
        to: status,
        comment: String::new(),
        detail: serde_json::json!({ "from_level": row.supervise_level, "to_level": to.as_str() }),
    };
    insert_event(ex, CommunityId(row.community_id), row.id, &event, now).await?;
    Ok(true)
}
