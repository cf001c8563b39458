//! Grids: the smallest management unit, which grid workers' role scopes refer to.

use chrono::{DateTime, Utc};
use linli_domain::auth::GridFilter;
use linli_domain::{CommunityId, GridId};
use sea_query::{Expr, ExprTrait, Func, Order, Query};
use uuid::Uuid;

use crate::schema::Grids;
use crate::{Exec, Result};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct GridRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// The grid's outline as a GeoJSON geometry, when drawn.
    pub boundary: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn create_grid(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<GridId> {
    let id = GridId::new();
    let q = Query::insert()
        .into_table(Grids::Table)
        .columns([
            Grids::CommunityId,
            Grids::Id,
            Grids::Code,
            Grids::Name,
            Grids::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            id.0.into(),
            code.into(),
            name.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(id)
}

fn grid_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Grids::CommunityId,
            Grids::Id,
            Grids::Code,
            Grids::Name,
            Grids::Boundary,
            Grids::CreatedAt,
        ])
        .from(Grids::Table)
        .to_owned()
}

/// Finds a grid by id in any community; the caller authorizes against its community.
pub async fn find_grid(ex: &mut Exec<'_>, id: GridId) -> Result<Option<GridRow>> {
    let q = grid_columns()
        .and_where(Expr::col(Grids::Id).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn find_grid_by_code(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
) -> Result<Option<GridRow>> {
    let q = grid_columns()
        .and_where(Expr::col(Grids::CommunityId).eq(community.0))
        .and_where(Expr::col(Grids::Code).eq(code))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The grids of a community that `filter` lets the caller see, in code order.
pub async fn list_grids(
    ex: &mut Exec<'_>,
    community: CommunityId,
    filter: &GridFilter,
) -> Result<Vec<GridRow>> {
    let mut q = grid_columns()
        .and_where(Expr::col(Grids::CommunityId).eq(community.0))
        .order_by(Grids::Code, Order::Asc)
        .to_owned();
    if let GridFilter::Only(ids) = filter {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        q.and_where(Expr::col(Grids::Id).is_in(ids.iter().map(|g| g.0)));
    }
    ex.fetch_all(&q).await
}

pub async fn count_grids(ex: &mut Exec<'_>, community: CommunityId) -> Result<i64> {
    let q = Query::select()
        .expr(Func::count(Expr::col(Grids::Id)))
        .from(Grids::Table)
        .and_where(Expr::col(Grids::CommunityId).eq(community.0))
        .to_owned();
    let (n,): (i64,) = ex.fetch_one(&q).await?;
    Ok(n)
}

/// A co-governance zone (共治片区) and the grids it groups.
#[derive(Debug, Clone)]
pub struct ZoneRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub grid_ids: Vec<Uuid>,
}

pub async fn create_zone(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
    name: &str,
    grids: &[GridId],
    now: DateTime<Utc>,
) -> Result<linli_domain::ZoneId> {
    use crate::schema::{ZoneGrids, Zones};
    let id = linli_domain::ZoneId::new();
    let q = Query::insert()
        .into_table(Zones::Table)
        .columns([
            Zones::CommunityId,
            Zones::Id,
            Zones::Code,
            Zones::Name,
            Zones::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            id.0.into(),
            code.into(),
            name.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    for grid in grids {
        let q = Query::insert()
            .into_table(ZoneGrids::Table)
            .columns([ZoneGrids::CommunityId, ZoneGrids::ZoneId, ZoneGrids::GridId])
            .values_panic([community.0.into(), id.0.into(), grid.0.into()])
            .to_owned();
        ex.execute(&q).await?;
    }
    Ok(id)
}

pub async fn list_zones(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<ZoneRow>> {
    use crate::schema::{ZoneGrids, Zones};
    let q = Query::select()
        .columns([Zones::Id, Zones::Code, Zones::Name])
        .from(Zones::Table)
        .and_where(Expr::col(Zones::CommunityId).eq(community.0))
        .order_by(Zones::Code, Order::Asc)
        .to_owned();
    let zones: Vec<(Uuid, String, String)> = ex.fetch_all(&q).await?;
    let q = Query::select()
        .columns([ZoneGrids::ZoneId, ZoneGrids::GridId])
        .from(ZoneGrids::Table)
        .and_where(Expr::col(ZoneGrids::CommunityId).eq(community.0))
        .to_owned();
    let links: Vec<(Uuid, Uuid)> = ex.fetch_all(&q).await?;
    Ok(zones
        .into_iter()
        .map(|(id, code, name)| ZoneRow {
            id,
            code,
            name,
            grid_ids: links
                .iter()
                .filter(|(z, _)| *z == id)
                .map(|(_, g)| *g)
                .collect(),
        })
        .collect())
}

/// Sets (or clears) a grid's outline.
pub async fn set_boundary(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grid: GridId,
    boundary: Option<&str>,
) -> Result<bool> {
    let q = Query::update()
        .table(Grids::Table)
        .value(Grids::Boundary, boundary.map(str::to_owned))
        .and_where(Expr::col(Grids::CommunityId).eq(community.0))
        .and_where(Expr::col(Grids::Id).eq(grid.0))
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}
