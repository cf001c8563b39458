//! A community's category catalogue (two levels).

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::matters::SEED_CATEGORIES;
use sea_query::{Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use crate::schema::MatterCategories;
use crate::{Exec, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub code: String,
    pub parent_id: Option<Uuid>,
    pub name_zh: String,
    pub name_en: String,
    pub default_class: String,
    pub time_limit: i32,
    pub time_unit: String,
    pub position: i32,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct NewCategory {
    pub id: Uuid,
    pub code: String,
    pub parent_id: Option<Uuid>,
    pub name_zh: String,
    pub name_en: String,
    pub default_class: &'static str,
    pub time_limit: i32,
    pub time_unit: &'static str,
    pub position: i32,
}

pub async fn insert_category(
    ex: &mut Exec<'_>,
    community: CommunityId,
    c: &NewCategory,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(MatterCategories::Table)
        .columns([
            MatterCategories::CommunityId,
            MatterCategories::Id,
            MatterCategories::Code,
            MatterCategories::ParentId,
            MatterCategories::NameZh,
            MatterCategories::NameEn,
            MatterCategories::DefaultClass,
            MatterCategories::TimeLimit,
            MatterCategories::TimeUnit,
            MatterCategories::Position,
            MatterCategories::Active,
            MatterCategories::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            c.id.into(),
            c.code.clone().into(),
            c.parent_id.into(),
            c.name_zh.clone().into(),
            c.name_en.clone().into(),
            c.default_class.into(),
            c.time_limit.into(),
            c.time_unit.into(),
            c.position.into(),
            true.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

/// Gives a community the seed catalogue, unless it already has categories.
pub async fn seed_catalogue(
    ex: &mut Exec<'_>,
    community: CommunityId,
    now: DateTime<Utc>,
) -> Result<usize> {
    if !list_categories(ex, community).await?.is_empty() {
        return Ok(0);
    }
    let mut ids = std::collections::HashMap::new();
    for (position, seed) in SEED_CATEGORIES.iter().enumerate() {
        let id = Uuid::now_v7();
        ids.insert(seed.code, id);
        let category = NewCategory {
            id,
            code: seed.code.to_owned(),
            parent_id: seed.parent.and_then(|p| ids.get(p).copied()),
            name_zh: seed.name_zh.to_owned(),
            name_en: seed.name_en.to_owned(),
            default_class: seed.class.as_str(),
            time_limit: i32::from(seed.limit),
            time_unit: seed.unit.as_str(),
            position: position as i32,
        };
        insert_category(ex, community, &category, now).await?;
    }
    Ok(SEED_CATEGORIES.len())
}

fn category_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            MatterCategories::CommunityId,
            MatterCategories::Id,
            MatterCategories::Code,
            MatterCategories::ParentId,
            MatterCategories::NameZh,
            MatterCategories::NameEn,
            MatterCategories::DefaultClass,
            MatterCategories::TimeLimit,
            MatterCategories::TimeUnit,
            MatterCategories::Position,
            MatterCategories::Active,
        ])
        .from(MatterCategories::Table)
        .to_owned()
}

/// The catalogue in display order (parents before their leaves).
pub async fn list_categories(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<Vec<CategoryRow>> {
    let q = category_columns()
        .and_where(Expr::col(MatterCategories::CommunityId).eq(community.0))
        .order_by(MatterCategories::Position, Order::Asc)
        .order_by(MatterCategories::Code, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// A category of this community, by id; another community's category is not found.
pub async fn find_category(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
) -> Result<Option<CategoryRow>> {
    let q = category_columns()
        .and_where(Expr::col(MatterCategories::CommunityId).eq(community.0))
        .and_where(Expr::col(MatterCategories::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn find_category_by_code(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
) -> Result<Option<CategoryRow>> {
    let q = category_columns()
        .and_where(Expr::col(MatterCategories::CommunityId).eq(community.0))
        .and_where(Expr::col(MatterCategories::Code).eq(code))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Changes a category's name, class, time limit or whether it is offered.
pub async fn update_category(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
    c: &NewCategory,
    active: bool,
) -> Result<bool> {
    let q = Query::update()
        .table(MatterCategories::Table)
        .value(MatterCategories::NameZh, c.name_zh.clone())
        .value(MatterCategories::NameEn, c.name_en.clone())
        .value(MatterCategories::DefaultClass, c.default_class)
        .value(MatterCategories::TimeLimit, c.time_limit)
        .value(MatterCategories::TimeUnit, c.time_unit)
        .value(MatterCategories::Active, active)
        .and_where(Expr::col(MatterCategories::CommunityId).eq(community.0))
        .and_where(Expr::col(MatterCategories::Id).eq(id))
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}
