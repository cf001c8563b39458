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
