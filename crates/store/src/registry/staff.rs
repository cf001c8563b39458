//! Comprehensive grid workers (Xinhe's "penetration" reform): one staff record whatever a
//! worker's origin, one operational role, a time-versioned grid assignment, and one duty
//! catalogue for all of them.

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId, GridId, StaffId};
use sea_query::{Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use crate::schema::{DutyItems, Staff, StaffGrids};
use crate::{Exec, Result};

#[derive(Debug, Clone)]
pub struct NewStaff {
    pub id: StaffId,
    pub name: String,
    pub origin_role: &'static str,
    pub work_phone: Option<String>,
    pub account_id: Option<AccountId>,
}

/// Every comprehensive grid worker holds this one operational role.
pub const OPERATIONAL_ROLE: &str = "grid_worker";

pub async fn insert_staff(
    ex: &mut Exec<'_>,
    community: CommunityId,
    staff: &NewStaff,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(Staff::Table)
        .columns([
            Staff::CommunityId,
            Staff::Id,
            Staff::Name,
            Staff::OriginRole,
            Staff::OperationalRole,
            Staff::WorkPhone,
            Staff::AccountId,
            Staff::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            staff.id.0.into(),
            staff.name.clone().into(),
            staff.origin_role.into(),
            OPERATIONAL_ROLE.into(),
            staff.work_phone.clone().into(),
            staff.account_id.map(|a| a.0).into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub origin_role: String,
    pub operational_role: String,
    pub work_phone: Option<String>,
    pub account_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

fn staff_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Staff::CommunityId,
            Staff::Id,
            Staff::Name,
            Staff::OriginRole,
            Staff::OperationalRole,
            Staff::WorkPhone,
            Staff::AccountId,
            Staff::CreatedAt,
            Staff::LeftAt,
        ])
        .from(Staff::Table)
        .to_owned()
}

pub async fn find_staff(ex: &mut Exec<'_>, id: StaffId) -> Result<Option<StaffRow>> {
    let q = staff_columns()
        .and_where(Expr::col(Staff::Id).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The community's staff, by name.
pub async fn list_staff(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<StaffRow>> {
    let q = staff_columns()
        .and_where(Expr::col(Staff::CommunityId).eq(community.0))
        .order_by(Staff::Name, Order::Asc)
        .order_by(Staff::Id, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub staff_id: Uuid,
    pub grid_id: Uuid,
    pub is_leader: bool,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

/// Assignments of the community's staff (current and past), oldest first.
pub async fn assignments(
    ex: &mut Exec<'_>,
    community: CommunityId,
    staff: Option<StaffId>,
) -> Result<Vec<AssignmentRow>> {
    let mut q = Query::select()
        .columns([
            StaffGrids::StaffId,
            StaffGrids::GridId,
            StaffGrids::IsLeader,
            StaffGrids::ValidFrom,
            StaffGrids::ValidTo,
        ])
        .from(StaffGrids::Table)
        .and_where(Expr::col(StaffGrids::CommunityId).eq(community.0))
        .order_by(StaffGrids::ValidFrom, Order::Asc)
        .to_owned();
    if let Some(s) = staff {
        q.and_where(Expr::col(StaffGrids::StaffId).eq(s.0));
    }
    ex.fetch_all(&q).await
}

/// Replaces a worker's current grids from `now` on: open assignments close, new ones open.
pub async fn assign_grids(
    ex: &mut Exec<'_>,
    community: CommunityId,
    staff: StaffId,
    grids: &[(GridId, bool)],
    now: DateTime<Utc>,
) -> Result<()> {
    let close = Query::update()
        .table(StaffGrids::Table)
        .value(StaffGrids::ValidTo, now)
        .and_where(Expr::col(StaffGrids::CommunityId).eq(community.0))
        .and_where(Expr::col(StaffGrids::StaffId).eq(staff.0))
        .and_where(Expr::col(StaffGrids::ValidTo).is_null())
        .to_owned();
    ex.execute(&close).await?;
    if grids.is_empty() {
        return Ok(());
    }
    let mut open = Query::insert()
        .into_table(StaffGrids::Table)
        .columns([
            StaffGrids::CommunityId,
            StaffGrids::StaffId,
            StaffGrids::GridId,
            StaffGrids::IsLeader,
            StaffGrids::ValidFrom,
        ])
        .to_owned();
    for (grid, leader) in grids {
        open.values_panic([
            community.0.into(),
            staff.0.into(),
            grid.0.into(),
            (*leader).into(),
            now.into(),
        ]);
    }
    ex.execute(&open).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DutyRow {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub description: String,
    pub position: i32,
}

pub async fn insert_duty(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
    title: &str,
    description: &str,
    position: i32,
) -> Result<()> {
    let q = Query::insert()
        .into_table(DutyItems::Table)
        .columns([
            DutyItems::CommunityId,
            DutyItems::Id,
            DutyItems::Code,
            DutyItems::Title,
            DutyItems::Description,
            DutyItems::Position,
        ])
        .values_panic([
            community.0.into(),
            Uuid::now_v7().into(),
            code.into(),
            title.into(),
            description.into(),
            position.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

pub async fn duties(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<DutyRow>> {
    let q = Query::select()
        .columns([
            DutyItems::Id,
            DutyItems::Code,
            DutyItems::Title,
            DutyItems::Description,
            DutyItems::Position,
        ])
        .from(DutyItems::Table)
        .and_where(Expr::col(DutyItems::CommunityId).eq(community.0))
        .order_by(DutyItems::Position, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// The staff record an account works under in a community, if any.
pub async fn find_staff_by_account(
    ex: &mut Exec<'_>,
    community: CommunityId,
    account: AccountId,
) -> Result<Option<StaffRow>> {
    let q = staff_columns()
        .and_where(Expr::col(Staff::CommunityId).eq(community.0))
        .and_where(Expr::col(Staff::AccountId).eq(account.0))
        .and_where(Expr::col(Staff::LeftAt).is_null())
        .to_owned();
    ex.fetch_optional(&q).await
}
