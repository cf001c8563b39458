//! The service circle: the community centre, its stations and the grid-group posts, the
//! services each offers (from a configurable list) and their rooms.

use chrono::{DateTime, Utc};
use linli_domain::{CommunityId, GridId, ServicePointId};
use sea_query::{Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use crate::schema::{ServiceKinds, ServicePointServices, ServicePoints, Venues};
use crate::{Exec, Result};

pub async fn upsert_service_kind(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
    name_zh: &str,
    name_en: &str,
) -> Result<()> {
    let q = Query::insert()
        .into_table(ServiceKinds::Table)
        .columns([
            ServiceKinds::CommunityId,
            ServiceKinds::Code,
            ServiceKinds::NameZh,
            ServiceKinds::NameEn,
        ])
        .values_panic([
            community.0.into(),
            code.into(),
            name_zh.into(),
            name_en.into(),
        ])
        .on_conflict(
            sea_query::OnConflict::columns([ServiceKinds::CommunityId, ServiceKinds::Code])
                .update_columns([ServiceKinds::NameZh, ServiceKinds::NameEn])
                .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceKindRow {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

pub async fn service_kinds(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<Vec<ServiceKindRow>> {
    let q = Query::select()
        .columns([
            ServiceKinds::Code,
            ServiceKinds::NameZh,
            ServiceKinds::NameEn,
        ])
        .from(ServiceKinds::Table)
        .and_where(Expr::col(ServiceKinds::CommunityId).eq(community.0))
        .order_by(ServiceKinds::Code, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

#[derive(Debug, Clone)]
pub struct NewServicePoint {
    pub id: ServicePointId,
    pub kind: &'static str,
    pub code: String,
    pub name: String,
    pub address: String,
    pub opening_hours: String,
    pub phone: Option<String>,
    pub grid_id: Option<GridId>,
    pub services: Vec<String>,
    /// Rooms: name and capacity.
    pub venues: Vec<(String, i32)>,
}

/// Inserts a service point with its services and venues. Run inside a transaction.
pub async fn insert_service_point(
    ex: &mut Exec<'_>,
    community: CommunityId,
    point: &NewServicePoint,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(ServicePoints::Table)
        .columns([
            ServicePoints::CommunityId,
            ServicePoints::Id,
            ServicePoints::Kind,
            ServicePoints::Code,
            ServicePoints::Name,
            ServicePoints::Address,
            ServicePoints::OpeningHours,
            ServicePoints::Phone,
            ServicePoints::GridId,
            ServicePoints::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            point.id.0.into(),
            point.kind.into(),
            point.code.clone().into(),
            point.name.clone().into(),
            point.address.clone().into(),
            point.opening_hours.clone().into(),
            point.phone.clone().into(),
            point.grid_id.map(|g| g.0).into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    if !point.services.is_empty() {
        let mut services = Query::insert()
            .into_table(ServicePointServices::Table)
            .columns([
                ServicePointServices::CommunityId,
                ServicePointServices::ServicePointId,
                ServicePointServices::ServiceCode,
            ])
            .to_owned();
        for code in &point.services {
            services.values_panic([community.0.into(), point.id.0.into(), code.clone().into()]);
        }
        ex.execute(&services).await?;
    }
    if !point.venues.is_empty() {
        let mut venues = Query::insert()
            .into_table(Venues::Table)
            .columns([
                Venues::CommunityId,
                Venues::Id,
                Venues::ServicePointId,
                Venues::Name,
                Venues::Capacity,
            ])
            .to_owned();
        for (name, capacity) in &point.venues {
            venues.values_panic([
                community.0.into(),
                Uuid::now_v7().into(),
                point.id.0.into(),
                name.clone().into(),
                (*capacity).into(),
            ]);
        }
        ex.execute(&venues).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServicePointRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub kind: String,
    pub code: String,
    pub name: String,
    pub address: String,
    pub opening_hours: String,
    pub phone: Option<String>,
    pub grid_id: Option<Uuid>,
}

fn point_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            ServicePoints::CommunityId,
            ServicePoints::Id,
            ServicePoints::Kind,
            ServicePoints::Code,
            ServicePoints::Name,
            ServicePoints::Address,
            ServicePoints::OpeningHours,
            ServicePoints::Phone,
            ServicePoints::GridId,
        ])
        .from(ServicePoints::Table)
        .to_owned()
}

pub async fn find_service_point(
    ex: &mut Exec<'_>,
    id: ServicePointId,
) -> Result<Option<ServicePointRow>> {
    let q = point_columns()
        .and_where(Expr::col(ServicePoints::Id).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Service points in code order (the centre first: C…, then stations S…, then posts P…).
pub async fn list_service_points(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<Vec<ServicePointRow>> {
    let q = point_columns()
        .and_where(Expr::col(ServicePoints::CommunityId).eq(community.0))
        .order_by(ServicePoints::Code, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Codes of the services a point offers.
pub async fn services_of(
    ex: &mut Exec<'_>,
    community: CommunityId,
    point: ServicePointId,
) -> Result<Vec<String>> {
    let q = Query::select()
        .column(ServicePointServices::ServiceCode)
        .from(ServicePointServices::Table)
        .and_where(Expr::col(ServicePointServices::CommunityId).eq(community.0))
        .and_where(Expr::col(ServicePointServices::ServicePointId).eq(point.0))
        .order_by(ServicePointServices::ServiceCode, Order::Asc)
        .to_owned();
    let rows: Vec<(String,)> = ex.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VenueRow {
    pub id: Uuid,
    pub name: String,
    pub capacity: i32,
}

pub async fn venues_of(
    ex: &mut Exec<'_>,
    community: CommunityId,
    point: ServicePointId,
) -> Result<Vec<VenueRow>> {
    let q = Query::select()
        .columns([Venues::Id, Venues::Name, Venues::Capacity])
        .from(Venues::Table)
        .and_where(Expr::col(Venues::CommunityId).eq(community.0))
        .and_where(Expr::col(Venues::ServicePointId).eq(point.0))
        .order_by(Venues::Name, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}
