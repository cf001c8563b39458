//! Proxies: who may act on an elderly resident's points for them, with their consent.

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId, ResidentId};
use sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use uuid::Uuid;

use crate::audit::{AuditEvent, append_with};
use crate::schema::PointsProxies;
use crate::{Db, Exec, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProxyRow {
    pub id: Uuid,
    pub community_id: Uuid,
    pub resident_id: Uuid,
    pub proxy_account_id: Uuid,
    /// `family` or `building_head`.
    pub relation: String,
    pub consent_evidence: String,
    pub granted_by: Uuid,
    pub granted_at: DateTime<Utc>,
    pub revoked_by: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

fn proxy_columns() -> SelectStatement {
    Query::select()
        .columns([
            PointsProxies::Id,
            PointsProxies::CommunityId,
            PointsProxies::ResidentId,
            PointsProxies::ProxyAccountId,
            PointsProxies::Relation,
            PointsProxies::ConsentEvidence,
            PointsProxies::GrantedBy,
            PointsProxies::GrantedAt,
            PointsProxies::RevokedBy,
            PointsProxies::RevokedAt,
            PointsProxies::RevokeReason,
        ])
        .from(PointsProxies::Table)
        .to_owned()
}

#[derive(Debug, Clone)]
pub struct NewProxy {
    pub community: CommunityId,
    pub resident: ResidentId,
    pub proxy: AccountId,
    pub relation: &'static str,
    pub consent_evidence: String,
    pub granted_by: AccountId,
}

/// Records a grant and its audit entry together. A standing grant for the same pair is a
/// conflict (`StoreError::Conflict`).
pub async fn grant(
    db: &Db,
    new: &NewProxy,
    audit: &AuditEvent,
    now: DateTime<Utc>,
) -> Result<ProxyRow> {
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    let insert = Query::insert()
        .into_table(PointsProxies::Table)
        .columns([
            PointsProxies::CommunityId,
            PointsProxies::Id,
            PointsProxies::ResidentId,
            PointsProxies::ProxyAccountId,
            PointsProxies::Relation,
            PointsProxies::ConsentEvidence,
            PointsProxies::GrantedBy,
            PointsProxies::GrantedAt,
        ])
        .values_panic([
            new.community.0.into(),
            id.into(),
            new.resident.0.into(),
            new.proxy.0.into(),
            new.relation.into(),
            new.consent_evidence.clone().into(),
            new.granted_by.0.into(),
            now.into(),
        ])
        .to_owned();
    tx.exec().execute(&insert).await?;
    let mut event = audit.clone();
    event.object_id = Some(id.to_string());
    append_with(&mut tx.exec(), &event, now).await?;
    let row = find(&mut tx.exec(), id)
        .await?
        .ok_or_else(|| crate::StoreError::Corrupt("a proxy grant vanished".to_owned()))?;
    tx.commit().await?;
    Ok(row)
}

/// Ends a standing grant (once) with its audit entry. `false` if it had already ended.
pub async fn revoke(
    db: &Db,
    id: Uuid,
    by: AccountId,
    reason: &str,
    audit: &AuditEvent,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    let update = Query::update()
        .table(PointsProxies::Table)
        .value(PointsProxies::RevokedBy, by.0)
        .value(PointsProxies::RevokedAt, now)
        .value(PointsProxies::RevokeReason, reason)
        .and_where(Expr::col(PointsProxies::Id).eq(id))
        .and_where(Expr::col(PointsProxies::RevokedAt).is_null())
        .to_owned();
    if tx.exec().execute(&update).await? != 1 {
        return Ok(false);
    }
    append_with(&mut tx.exec(), audit, now).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn find(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<ProxyRow>> {
    let q = proxy_columns()
        .and_where(Expr::col(PointsProxies::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The standing grant letting `proxy` act for `resident`, if there is one.
pub async fn standing(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: Uuid,
    proxy: AccountId,
) -> Result<Option<ProxyRow>> {
    let q = proxy_columns()
        .and_where(Expr::col(PointsProxies::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsProxies::ResidentId).eq(resident))
        .and_where(Expr::col(PointsProxies::ProxyAccountId).eq(proxy.0))
        .and_where(Expr::col(PointsProxies::RevokedAt).is_null())
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Grants for one resident (standing and ended), newest first.
pub async fn of_resident(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: Uuid,
) -> Result<Vec<ProxyRow>> {
    let q = proxy_columns()
        .and_where(Expr::col(PointsProxies::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsProxies::ResidentId).eq(resident))
        .order_by(PointsProxies::GrantedAt, Order::Desc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// The standing grants an account holds: whom it may act for.
pub async fn held_by(ex: &mut Exec<'_>, proxy: AccountId) -> Result<Vec<ProxyRow>> {
    let q = proxy_columns()
        .and_where(Expr::col(PointsProxies::ProxyAccountId).eq(proxy.0))
        .and_where(Expr::col(PointsProxies::RevokedAt).is_null())
        .order_by(PointsProxies::GrantedAt, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}
