//! The redemption catalogue (offers of stations and partners), who confirms for them, and
//! reading redemptions. Redeeming, confirming and refunding are ledger changes (see
//! [`super::ledger`]).

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId};
use sea_query::{Expr, ExprTrait, OnConflict, Order, Query, SelectStatement};
use uuid::Uuid;

use crate::schema::{
    Organisations, PointsConfirmers, PointsOffers, PointsRedemptions, ServicePoints,
};
use crate::{Exec, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfferRow {
    pub id: Uuid,
    pub community_id: Uuid,
    /// `station` (a service point) or `partner` (an organisation).
    pub provider_kind: String,
    pub provider_id: Uuid,
    pub title: String,
    pub description: String,
    /// `service`, `goods` or `discount`.
    pub kind: String,
    pub cost: i64,
    pub stock: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub active: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOffer {
    pub id: Uuid,
    pub provider_kind: &'static str,
    pub provider_id: Uuid,
    pub title: String,
    pub description: String,
    pub kind: &'static str,
    pub cost: i64,
    pub stock: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub active: bool,
}

fn offer_columns() -> SelectStatement {
    Query::select()
        .columns([
            PointsOffers::Id,
            PointsOffers::CommunityId,
            PointsOffers::ProviderKind,
            PointsOffers::ProviderId,
            PointsOffers::Title,
            PointsOffers::Description,
            PointsOffers::Kind,
            PointsOffers::Cost,
            PointsOffers::Stock,
            PointsOffers::ValidFrom,
            PointsOffers::ValidUntil,
            PointsOffers::Active,
            PointsOffers::Version,
            PointsOffers::CreatedAt,
            PointsOffers::UpdatedAt,
        ])
        .from(PointsOffers::Table)
        .to_owned()
}

/// Whether a station (service point) or partner (organisation) of this community exists.
pub async fn provider_exists(
    ex: &mut Exec<'_>,
    community: CommunityId,
    kind: &str,
    id: Uuid,
) -> Result<bool> {
    let q = match kind {
        "station" => Query::select()
            .column(ServicePoints::Name)
            .from(ServicePoints::Table)
            .and_where(Expr::col(ServicePoints::CommunityId).eq(community.0))
            .and_where(Expr::col(ServicePoints::Id).eq(id))
            .to_owned(),
        "partner" => Query::select()
            .column(Organisations::Name)
            .from(Organisations::Table)
            .and_where(Expr::col(Organisations::CommunityId).eq(community.0))
            .and_where(Expr::col(Organisations::Id).eq(id))
            .to_owned(),
        _ => return Ok(false),
    };
    Ok(ex.fetch_optional::<(String,), _>(&q).await?.is_some())
}

pub async fn insert_offer(
    ex: &mut Exec<'_>,
    community: CommunityId,
    offer: &NewOffer,
    now: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table(PointsOffers::Table)
        .columns([
            PointsOffers::CommunityId,
            PointsOffers::Id,
            PointsOffers::ProviderKind,
            PointsOffers::ProviderId,
            PointsOffers::Title,
            PointsOffers::Description,
            PointsOffers::Kind,
            PointsOffers::Cost,
            PointsOffers::Stock,
            PointsOffers::ValidFrom,
            PointsOffers::ValidUntil,
            PointsOffers::Active,
            PointsOffers::Version,
            PointsOffers::CreatedAt,
            PointsOffers::UpdatedAt,
        ])
        .values_panic([
            community.0.into(),
            offer.id.into(),
            offer.provider_kind.into(),
            offer.provider_id.into(),
            offer.title.clone().into(),
            offer.description.clone().into(),
            offer.kind.into(),
            offer.cost.into(),
            offer.stock.into(),
            offer.valid_from.into(),
            offer.valid_until.into(),
            offer.active.into(),
            1i64.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&insert).await?;
    Ok(())
}

/// What may change on an offer: its stock, price, period and whether it is offered.
#[derive(Debug, Clone)]
pub struct OfferChange {
    pub cost: i64,
    pub stock: i64,
    pub valid_until: DateTime<Utc>,
    pub active: bool,
}

/// Changes an offer if it is still at `version`; `false` if someone changed it first.
/// Redemptions already made keep the cost they were made at.
pub async fn update_offer(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
    version: i64,
    change: &OfferChange,
    now: DateTime<Utc>,
) -> Result<bool> {
    let update = Query::update()
        .table(PointsOffers::Table)
        .value(PointsOffers::Cost, change.cost)
        .value(PointsOffers::Stock, change.stock)
        .value(PointsOffers::ValidUntil, change.valid_until)
        .value(PointsOffers::Active, change.active)
        .value(PointsOffers::Version, version + 1)
        .value(PointsOffers::UpdatedAt, now)
        .and_where(Expr::col(PointsOffers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsOffers::Id).eq(id))
        .and_where(Expr::col(PointsOffers::Version).eq(version))
        .to_owned();
    Ok(ex.execute(&update).await? == 1)
}

/// The community an offer belongs to, found by its id alone.
pub async fn offer_community(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<CommunityId>> {
    let q = Query::select()
        .column(PointsOffers::CommunityId)
        .from(PointsOffers::Table)
        .and_where(Expr::col(PointsOffers::Id).eq(id))
        .to_owned();
    let row: Option<(Uuid,)> = ex.fetch_optional(&q).await?;
    Ok(row.map(|(c,)| CommunityId(c)))
}

pub async fn find_offer(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
) -> Result<Option<OfferRow>> {
    let q = offer_columns()
        .and_where(Expr::col(PointsOffers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsOffers::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The catalogue: every offer, or (for residents) only what can be redeemed now.
pub async fn list_offers(
    ex: &mut Exec<'_>,
    community: CommunityId,
    only_open_at: Option<DateTime<Utc>>,
) -> Result<Vec<OfferRow>> {
    let mut q = offer_columns()
        .and_where(Expr::col(PointsOffers::CommunityId).eq(community.0))
        .order_by(PointsOffers::Cost, Order::Asc)
        .order_by(PointsOffers::Id, Order::Asc)
        .to_owned();
    if let Some(now) = only_open_at {
        q.and_where(Expr::col(PointsOffers::Active).eq(true))
            .and_where(Expr::col(PointsOffers::ValidFrom).lte(now))
            .and_where(Expr::col(PointsOffers::ValidUntil).gt(now));
    }
    ex.fetch_all(&q).await
}

/// Lets an account confirm redemptions for a station or partner.
pub async fn add_confirmer(
    ex: &mut Exec<'_>,
    community: CommunityId,
    provider: Uuid,
    account: AccountId,
    now: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table(PointsConfirmers::Table)
        .columns([
            PointsConfirmers::CommunityId,
            PointsConfirmers::ProviderId,
            PointsConfirmers::AccountId,
            PointsConfirmers::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            provider.into(),
            account.0.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                PointsConfirmers::CommunityId,
                PointsConfirmers::ProviderId,
                PointsConfirmers::AccountId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .to_owned();
    ex.execute(&insert).await?;
    Ok(())
}

pub async fn is_confirmer(
    ex: &mut Exec<'_>,
    community: CommunityId,
    provider: Uuid,
    account: AccountId,
) -> Result<bool> {
    let q = Query::select()
        .column(PointsConfirmers::CreatedAt)
        .from(PointsConfirmers::Table)
        .and_where(Expr::col(PointsConfirmers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsConfirmers::ProviderId).eq(provider))
        .and_where(Expr::col(PointsConfirmers::AccountId).eq(account.0))
        .to_owned();
    Ok(ex
        .fetch_optional::<(DateTime<Utc>,), _>(&q)
        .await?
        .is_some())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RedemptionRow {
    pub id: Uuid,
    pub community_id: Uuid,
    pub offer_id: Uuid,
    pub resident_id: Uuid,
    pub cost: i64,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

fn redemption_columns() -> SelectStatement {
    Query::select()
        .columns([
            PointsRedemptions::Id,
            PointsRedemptions::CommunityId,
            PointsRedemptions::OfferId,
            PointsRedemptions::ResidentId,
            PointsRedemptions::Cost,
            PointsRedemptions::Status,
            PointsRedemptions::ExpiresAt,
            PointsRedemptions::CreatedAt,
            PointsRedemptions::SettledAt,
        ])
        .from(PointsRedemptions::Table)
        .to_owned()
}

/// A redemption by id alone (the API names redemptions by id).
pub async fn find_redemption(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<RedemptionRow>> {
    let q = redemption_columns()
        .and_where(Expr::col(PointsRedemptions::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The redemption a one-time code belongs to (by the code's hash), in one community.
pub async fn find_by_code(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code_hash: &[u8],
) -> Result<Option<RedemptionRow>> {
    let q = redemption_columns()
        .and_where(Expr::col(PointsRedemptions::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRedemptions::CodeHash).eq(code_hash.to_vec()))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// A resident's redemptions, newest first.
pub async fn redemptions_of(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: Uuid,
    limit: u64,
) -> Result<Vec<RedemptionRow>> {
    let q = redemption_columns()
        .and_where(Expr::col(PointsRedemptions::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRedemptions::ResidentId).eq(resident))
        .order_by(PointsRedemptions::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Pending redemptions whose time ran out, oldest first (for the expiry sweep).
pub async fn due_redemptions(
    ex: &mut Exec<'_>,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>> {
    let q = Query::select()
        .columns([PointsRedemptions::CommunityId, PointsRedemptions::Id])
        .from(PointsRedemptions::Table)
        .and_where(Expr::col(PointsRedemptions::Status).eq("pending"))
        .and_where(Expr::col(PointsRedemptions::ExpiresAt).lte(now))
        .order_by(PointsRedemptions::ExpiresAt, Order::Asc)
        .limit(limit)
        .to_owned();
    ex.fetch_all(&q).await
}
