//! Reading accounts: a balance and its history, newest first.

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use crate::schema::{PointsEntries, PointsTransfers};
use crate::{Exec, Result};

/// One line of an account's history: a transfer seen from this account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub seq: i64,
    /// Plus for points received, minus for points given.
    pub amount: i64,
    pub transfer_id: Uuid,
    pub kind: String,
    pub rule_code: Option<String>,
    pub reverses_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub memo: String,
    pub at: DateTime<Utc>,
}

/// A page of history: entries older than `before` (a chain position), newest first.
#[derive(Debug, Clone)]
pub struct History {
    pub balance: i64,
    pub entries: Vec<HistoryRow>,
    /// Pass as `before` for the next page.
    pub next: Option<i64>,
}

/// An account's balance (zero for an account that never moved) and one page of history.
pub async fn history(
    ex: &mut Exec<'_>,
    community: CommunityId,
    account: Uuid,
    before: Option<i64>,
    limit: u32,
) -> Result<History> {
    let balance: Option<(i64,)> = ex
        .fetch_optional(&super::ledger::balance_query(community, account))
        .await?;
    let mut q = Query::select()
        .column((PointsEntries::Table, PointsEntries::Seq))
        .column((PointsEntries::Table, PointsEntries::Amount))
        .expr_as(
            Expr::col((PointsTransfers::Table, PointsTransfers::Id)),
            Alias::new("transfer_id"),
        )
        .columns([
            (PointsTransfers::Table, PointsTransfers::Kind),
            (PointsTransfers::Table, PointsTransfers::RuleCode),
            (PointsTransfers::Table, PointsTransfers::ReversesId),
            (PointsTransfers::Table, PointsTransfers::SubjectId),
            (PointsTransfers::Table, PointsTransfers::Memo),
            (PointsTransfers::Table, PointsTransfers::At),
        ])
        .from(PointsEntries::Table)
        .inner_join(
            PointsTransfers::Table,
            Expr::col((PointsTransfers::Table, PointsTransfers::CommunityId))
                .equals((PointsEntries::Table, PointsEntries::CommunityId))
                .and(
                    Expr::col((PointsTransfers::Table, PointsTransfers::Seq))
                        .equals((PointsEntries::Table, PointsEntries::Seq)),
                ),
        )
        .and_where(Expr::col((PointsEntries::Table, PointsEntries::CommunityId)).eq(community.0))
        .and_where(Expr::col((PointsEntries::Table, PointsEntries::AccountId)).eq(account))
        .order_by((PointsEntries::Table, PointsEntries::Seq), Order::Desc)
        .limit(u64::from(limit) + 1)
        .to_owned();
    if let Some(before) = before {
        q.and_where(Expr::col((PointsEntries::Table, PointsEntries::Seq)).lt(before));
    }
    let mut entries: Vec<HistoryRow> = ex.fetch_all(&q).await?;
    let next = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(History {
        balance: balance.map_or(0, |(b,)| b),
        entries,
        next,
    })
}
