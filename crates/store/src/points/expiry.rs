//! Points expiry settings and what the expiry sweep reads: which communities expire
//! points, whose points are due, and who was last told. The expiry itself is a ledger
//! change ([`super::ledger::Expire`]).

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId};
use sea_query::{Expr, ExprTrait, OnConflict, Query};
use uuid::Uuid;

use crate::schema::{PointsAccounts, PointsExpiryNotices, PointsSettings};
use crate::{Exec, Result};

/// Expiry is off unless `expiry_months` is set.
pub const DEFAULT_NOTICE_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SettingsRow {
    pub community_id: Uuid,
    pub expiry_months: Option<i64>,
    pub notice_days: i64,
    pub last_expiry_run: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

fn settings_query() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            PointsSettings::CommunityId,
            PointsSettings::ExpiryMonths,
            PointsSettings::NoticeDays,
            PointsSettings::LastExpiryRun,
            PointsSettings::UpdatedAt,
        ])
        .from(PointsSettings::Table)
        .to_owned()
}

pub async fn settings(ex: &mut Exec<'_>, community: CommunityId) -> Result<Option<SettingsRow>> {
    let q = settings_query()
        .and_where(Expr::col(PointsSettings::CommunityId).eq(community.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn put_settings(
    ex: &mut Exec<'_>,
    community: CommunityId,
    expiry_months: Option<i64>,
    notice_days: i64,
    by: AccountId,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(PointsSettings::Table)
        .columns([
            PointsSettings::CommunityId,
            PointsSettings::ExpiryMonths,
            PointsSettings::NoticeDays,
            PointsSettings::UpdatedBy,
            PointsSettings::UpdatedAt,
        ])
        .values_panic([
            community.0.into(),
            expiry_months.into(),
            notice_days.into(),
            by.0.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column(PointsSettings::CommunityId)
                .update_columns([
                    PointsSettings::ExpiryMonths,
                    PointsSettings::NoticeDays,
                    PointsSettings::UpdatedBy,
                    PointsSettings::UpdatedAt,
                ])
                .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

/// Communities that expire points and have not run the sweep since `since`.
pub async fn due_communities(ex: &mut Exec<'_>, since: DateTime<Utc>) -> Result<Vec<SettingsRow>> {
    let q = settings_query()
        .and_where(Expr::col(PointsSettings::ExpiryMonths).is_not_null())
        .and_where(
            Expr::col(PointsSettings::LastExpiryRun)
                .is_null()
                .or(Expr::col(PointsSettings::LastExpiryRun).lt(since)),
        )
        .to_owned();
    ex.fetch_all(&q).await
}

/// Marks the community's sweep as run, unless another server did since `since` (`false`).
pub async fn claim_run(
    ex: &mut Exec<'_>,
    community: CommunityId,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(PointsSettings::Table)
        .value(PointsSettings::LastExpiryRun, now)
        .and_where(Expr::col(PointsSettings::CommunityId).eq(community.0))
        .and_where(
            Expr::col(PointsSettings::LastExpiryRun)
                .is_null()
                .or(Expr::col(PointsSettings::LastExpiryRun).lt(since)),
        )
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// Resident accounts of a community holding points.
pub async fn holders(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<Uuid>> {
    let q = Query::select()
        .column(PointsAccounts::Id)
        .from(PointsAccounts::Table)
        .and_where(Expr::col(PointsAccounts::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsAccounts::Kind).eq("resident"))
        .and_where(Expr::col(PointsAccounts::Balance).gt(0))
        .to_owned();
    Ok(ex
        .fetch_all::<(Uuid,), _>(&q)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect())
}

/// What would expire for a resident at `cutoff` (read-only; for notices).
pub async fn expiring(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: Uuid,
    cutoff: DateTime<Utc>,
) -> Result<i64> {
    super::ledger::expiring_points(ex, community, resident, cutoff).await
}

/// When the resident was last told that points will expire.
pub async fn last_notice(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: Uuid,
) -> Result<Option<DateTime<Utc>>> {
    let q = Query::select()
        .column(PointsExpiryNotices::NoticedAt)
        .from(PointsExpiryNotices::Table)
        .and_where(Expr::col(PointsExpiryNotices::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsExpiryNotices::ResidentId).eq(resident))
        .to_owned();
    Ok(ex
        .fetch_optional::<(DateTime<Utc>,), _>(&q)
        .await?
        .map(|(t,)| t))
}

pub async fn record_notice(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: Uuid,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(PointsExpiryNotices::Table)
        .columns([
            PointsExpiryNotices::CommunityId,
            PointsExpiryNotices::ResidentId,
            PointsExpiryNotices::NoticedAt,
            PointsExpiryNotices::Amount,
        ])
        .values_panic([
            community.0.into(),
            resident.into(),
            now.into(),
            amount.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                PointsExpiryNotices::CommunityId,
                PointsExpiryNotices::ResidentId,
            ])
            .update_columns([PointsExpiryNotices::NoticedAt, PointsExpiryNotices::Amount])
            .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}
