//! District → subdistrict → community: the tenants and the hierarchy above them.

use chrono::{DateTime, Utc};
use linli_domain::{CommunityId, DistrictId, SubdistrictId};
use sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use uuid::Uuid;

use crate::schema::{Communities, Districts, Subdistricts};
use crate::{Exec, Result};

/// A community with the names and ids of the levels above it, as pages and policy need it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommunityContext {
    pub community_id: Uuid,
    pub community_code: String,
    pub community_name: String,
    pub time_zone: String,
    pub totp_required: bool,
    pub subdistrict_id: Uuid,
    pub subdistrict_name: String,
    pub district_id: Uuid,
    pub district_name: String,
}

impl CommunityContext {
    pub fn community(&self) -> CommunityId {
        CommunityId(self.community_id)
    }

    pub fn district(&self) -> DistrictId {
        DistrictId(self.district_id)
    }
}

/// Returns the district with this code, creating it if it does not exist yet.
pub async fn ensure_district(
    ex: &mut Exec<'_>,
    code: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<DistrictId> {
    let insert = Query::insert()
        .into_table(Districts::Table)
        .columns([
            Districts::Id,
            Districts::Code,
            Districts::Name,
            Districts::CreatedAt,
        ])
        .values_panic([Uuid::now_v7().into(), code.into(), name.into(), now.into()])
        .on_conflict(OnConflict::column(Districts::Code).do_nothing().to_owned())
        .to_owned();
    ex.execute(&insert).await?;
    let select = Query::select()
        .column(Districts::Id)
        .from(Districts::Table)
        .and_where(Expr::col(Districts::Code).eq(code))
        .to_owned();
    let (id,): (Uuid,) = ex.fetch_one(&select).await?;
    Ok(DistrictId(id))
}

/// Returns the subdistrict with this code, creating it under `district` if missing.
pub async fn ensure_subdistrict(
    ex: &mut Exec<'_>,
    district: DistrictId,
    code: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<SubdistrictId> {
    let insert = Query::insert()
        .into_table(Subdistricts::Table)
        .columns([
            Subdistricts::Id,
            Subdistricts::DistrictId,
            Subdistricts::Code,
            Subdistricts::Name,
            Subdistricts::CreatedAt,
        ])
        .values_panic([
            Uuid::now_v7().into(),
            district.0.into(),
            code.into(),
            name.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column(Subdistricts::Code)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    ex.execute(&insert).await?;
    let select = Query::select()
        .column(Subdistricts::Id)
        .from(Subdistricts::Table)
        .and_where(Expr::col(Subdistricts::Code).eq(code))
        .to_owned();
    let (id,): (Uuid,) = ex.fetch_one(&select).await?;
    Ok(SubdistrictId(id))
}

pub struct NewCommunity<'a> {
    pub subdistrict: SubdistrictId,
    pub code: &'a str,
    pub name: &'a str,
    pub time_zone: &'a str,
}

/// Creates a community. Fails with `StoreError::Conflict` if the code is taken.
pub async fn create_community(
    ex: &mut Exec<'_>,
    new: &NewCommunity<'_>,
    now: DateTime<Utc>,
) -> Result<CommunityId> {
    let id = CommunityId::new();
    let insert = Query::insert()
        .into_table(Communities::Table)
        .columns([
            Communities::Id,
            Communities::SubdistrictId,
            Communities::Code,
            Communities::Name,
            Communities::TimeZone,
            Communities::TotpRequired,
            Communities::CreatedAt,
        ])
        .values_panic([
            id.0.into(),
            new.subdistrict.0.into(),
            new.code.into(),
            new.name.into(),
            new.time_zone.into(),
            false.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&insert).await?;
    // Every community starts with the seed catalogue of matter categories, to edit.
    crate::matters::categories::seed_catalogue(ex, id, now).await?;
    crate::points::rules::seed_rules_into(ex, id, now).await?;
    Ok(id)
}

fn context_query() -> sea_query::SelectStatement {
    Query::select()
        .expr_as(
            Expr::col((Communities::Table, Communities::Id)),
            "community_id",
        )
        .expr_as(
            Expr::col((Communities::Table, Communities::Code)),
            "community_code",
        )
        .expr_as(
            Expr::col((Communities::Table, Communities::Name)),
            "community_name",
        )
        .column((Communities::Table, Communities::TimeZone))
        .column((Communities::Table, Communities::TotpRequired))
        .expr_as(
            Expr::col((Subdistricts::Table, Subdistricts::Id)),
            "subdistrict_id",
        )
        .expr_as(
            Expr::col((Subdistricts::Table, Subdistricts::Name)),
            "subdistrict_name",
        )
        .expr_as(Expr::col((Districts::Table, Districts::Id)), "district_id")
        .expr_as(
            Expr::col((Districts::Table, Districts::Name)),
            "district_name",
        )
        .from(Communities::Table)
        .inner_join(
            Subdistricts::Table,
            Expr::col((Subdistricts::Table, Subdistricts::Id))
                .equals((Communities::Table, Communities::SubdistrictId)),
        )
        .inner_join(
            Districts::Table,
            Expr::col((Districts::Table, Districts::Id))
                .equals((Subdistricts::Table, Subdistricts::DistrictId)),
        )
        .to_owned()
}

pub async fn community_context(
    ex: &mut Exec<'_>,
    id: CommunityId,
) -> Result<Option<CommunityContext>> {
    let q = context_query()
        .and_where(Expr::col((Communities::Table, Communities::Id)).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn community_by_code(ex: &mut Exec<'_>, code: &str) -> Result<Option<CommunityContext>> {
    let q = context_query()
        .and_where(Expr::col((Communities::Table, Communities::Code)).eq(code))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn list_communities(ex: &mut Exec<'_>) -> Result<Vec<CommunityContext>> {
    let q = context_query()
        .order_by((Communities::Table, Communities::Code), Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Makes a second factor mandatory (or optional again) for the community's staff.
pub async fn set_totp_required(ex: &mut Exec<'_>, id: CommunityId, required: bool) -> Result<bool> {
    let q = Query::update()
        .table(Communities::Table)
        .value(Communities::TotpRequired, required)
        .and_where(Expr::col(Communities::Id).eq(id.0))
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

pub async fn district_by_code(ex: &mut Exec<'_>, code: &str) -> Result<Option<DistrictId>> {
    let q = Query::select()
        .column(Districts::Id)
        .from(Districts::Table)
        .and_where(Expr::col(Districts::Code).eq(code))
        .to_owned();
    let row: Option<(Uuid,)> = ex.fetch_optional(&q).await?;
    Ok(row.map(|(id,)| DistrictId(id)))
}
