//! Monthly rankings per grid: computed from the ledger, published as a snapshot for public
//! notice (names masked), and the objections filed against them.

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId};
use sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::{PointsRankingObjections, PointsRankings, PointsTransfers, Residents};
use crate::{Exec, Result};

/// One line of a ranking. `resident_id` stays on the server: the public sees the masked
/// name only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankLine {
    /// 1-based; equal points share a rank.
    pub rank: i64,
    pub resident_id: Uuid,
    pub name: String,
    pub points: i64,
}

/// Residents of a grid by points earned in `[from, until)` (awards that stand), most
/// first, up to `limit`.
pub async fn compute(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grid: Uuid,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<RankLine>> {
    let t = PointsTransfers::Table;
    let earned = Expr::col((t, PointsTransfers::Amount))
        .sum()
        .cast_as("BIGINT");
    let q = Query::select()
        .column((Residents::Table, Residents::Id))
        .column((Residents::Table, Residents::Name))
        .expr_as(earned.clone(), Alias::new("earned"))
        .from(t)
        .inner_join(
            Residents::Table,
            Expr::col((Residents::Table, Residents::CommunityId))
                .equals((t, PointsTransfers::CommunityId))
                .and(
                    Expr::col((Residents::Table, Residents::Id))
                        .equals((t, PointsTransfers::ToAccount)),
                ),
        )
        .and_where(Expr::col((t, PointsTransfers::CommunityId)).eq(community.0))
        .and_where(Expr::col((t, PointsTransfers::Kind)).eq("award"))
        .and_where(Expr::col((t, PointsTransfers::At)).gte(from))
        .and_where(Expr::col((t, PointsTransfers::At)).lt(until))
        .and_where(Expr::col((Residents::Table, Residents::GridId)).eq(grid))
        .and_where(super::ledger::not_reversed(community))
        .group_by_col((Residents::Table, Residents::Id))
        .group_by_col((Residents::Table, Residents::Name))
        .order_by_expr(earned, Order::Desc)
        .order_by((Residents::Table, Residents::Id), Order::Asc)
        .limit(limit)
        .to_owned();
    let rows: Vec<(Uuid, String, i64)> = ex.fetch_all(&q).await?;
    let mut lines = Vec::with_capacity(rows.len());
    for (i, (resident_id, name, points)) in rows.into_iter().enumerate() {
        let rank = match lines.last() {
            Some(RankLine {
                rank, points: p, ..
            }) if *p == points => *rank,
            _ => i as i64 + 1,
        };
        lines.push(RankLine {
            rank,
            resident_id,
            name,
            points,
        });
    }
    Ok(lines)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RankingRow {
    pub id: Uuid,
    pub community_id: Uuid,
    pub grid_id: Uuid,
    /// `YYYY-MM`.
    pub month: String,
    /// JSON: the [`RankLine`]s as published.
    pub lines: String,
    pub published_by: Uuid,
    pub published_at: DateTime<Utc>,
    pub objections_until: DateTime<Utc>,
}

impl RankingRow {
    pub fn lines(&self) -> Result<Vec<RankLine>> {
        serde_json::from_str(&self.lines)
            .map_err(|e| crate::StoreError::Corrupt(format!("ranking lines: {e}")))
    }
}

fn ranking_columns() -> SelectStatement {
    Query::select()
        .columns([
            PointsRankings::Id,
            PointsRankings::CommunityId,
            PointsRankings::GridId,
            PointsRankings::Month,
            PointsRankings::Lines,
            PointsRankings::PublishedBy,
            PointsRankings::PublishedAt,
            PointsRankings::ObjectionsUntil,
        ])
        .from(PointsRankings::Table)
        .to_owned()
}

/// Stores a published ranking. A second one for the same grid and month is a conflict.
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grid: Uuid,
    month: &str,
    lines: &[RankLine],
    by: AccountId,
    now: DateTime<Utc>,
    objections_until: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let lines = serde_json::to_string(lines)
        .map_err(|e| crate::StoreError::Corrupt(format!("ranking lines: {e}")))?;
    let q = Query::insert()
        .into_table(PointsRankings::Table)
        .columns([
            PointsRankings::CommunityId,
            PointsRankings::Id,
            PointsRankings::GridId,
            PointsRankings::Month,
            PointsRankings::Lines,
            PointsRankings::PublishedBy,
            PointsRankings::PublishedAt,
            PointsRankings::ObjectionsUntil,
        ])
        .values_panic([
            community.0.into(),
            id.into(),
            grid.into(),
            month.into(),
            lines.into(),
            by.0.into(),
            now.into(),
            objections_until.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(id)
}

pub async fn find(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<RankingRow>> {
    let q = ranking_columns()
        .and_where(Expr::col(PointsRankings::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Published rankings of a community, newest month first.
pub async fn list(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grid: Option<Uuid>,
) -> Result<Vec<RankingRow>> {
    let mut q = ranking_columns()
        .and_where(Expr::col(PointsRankings::CommunityId).eq(community.0))
        .order_by(PointsRankings::Month, Order::Desc)
        .limit(200)
        .to_owned();
    if let Some(grid) = grid {
        q.and_where(Expr::col(PointsRankings::GridId).eq(grid));
    }
    ex.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ObjectionRow {
    pub id: Uuid,
    pub community_id: Uuid,
    pub ranking_id: Uuid,
    pub line: Option<i64>,
    pub reason: String,
    pub filed_by: Uuid,
    pub filed_at: DateTime<Utc>,
    pub outcome: Option<String>,
    pub answer: Option<String>,
    pub answered_by: Option<Uuid>,
    pub answered_at: Option<DateTime<Utc>>,
}

fn objection_columns() -> SelectStatement {
    Query::select()
        .columns([
            PointsRankingObjections::Id,
            PointsRankingObjections::CommunityId,
            PointsRankingObjections::RankingId,
            PointsRankingObjections::Line,
            PointsRankingObjections::Reason,
            PointsRankingObjections::FiledBy,
            PointsRankingObjections::FiledAt,
            PointsRankingObjections::Outcome,
            PointsRankingObjections::Answer,
            PointsRankingObjections::AnsweredBy,
            PointsRankingObjections::AnsweredAt,
        ])
        .from(PointsRankingObjections::Table)
        .to_owned()
}

pub async fn object(
    ex: &mut Exec<'_>,
    ranking: &RankingRow,
    line: Option<i64>,
    reason: &str,
    by: AccountId,
    now: DateTime<Utc>,
) -> Result<ObjectionRow> {
    let id = Uuid::now_v7();
    let q = Query::insert()
        .into_table(PointsRankingObjections::Table)
        .columns([
            PointsRankingObjections::CommunityId,
            PointsRankingObjections::Id,
            PointsRankingObjections::RankingId,
            PointsRankingObjections::Line,
            PointsRankingObjections::Reason,
            PointsRankingObjections::FiledBy,
            PointsRankingObjections::FiledAt,
        ])
        .values_panic([
            ranking.community_id.into(),
            id.into(),
            ranking.id.into(),
            line.into(),
            reason.into(),
            by.0.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    find_objection(ex, id)
        .await?
        .ok_or_else(|| crate::StoreError::Corrupt("an objection vanished".to_owned()))
}

pub async fn find_objection(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<ObjectionRow>> {
    let q = objection_columns()
        .and_where(Expr::col(PointsRankingObjections::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn objections(ex: &mut Exec<'_>, ranking: &RankingRow) -> Result<Vec<ObjectionRow>> {
    let q = objection_columns()
        .and_where(Expr::col(PointsRankingObjections::CommunityId).eq(ranking.community_id))
        .and_where(Expr::col(PointsRankingObjections::RankingId).eq(ranking.id))
        .order_by(PointsRankingObjections::FiledAt, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Answers an objection once; `false` if it already had an answer.
pub async fn answer(
    ex: &mut Exec<'_>,
    id: Uuid,
    upheld: bool,
    answer: &str,
    by: AccountId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(PointsRankingObjections::Table)
        .value(
            PointsRankingObjections::Outcome,
            if upheld { "upheld" } else { "dismissed" },
        )
        .value(PointsRankingObjections::Answer, answer)
        .value(PointsRankingObjections::AnsweredBy, by.0)
        .value(PointsRankingObjections::AnsweredAt, now)
        .and_where(Expr::col(PointsRankingObjections::Id).eq(id))
        .and_where(Expr::col(PointsRankingObjections::AnsweredAt).is_null())
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}
