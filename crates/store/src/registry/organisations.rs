//! Organisations around the community and the grid groups that bring them together with
//! grid workers and residents (DOMAIN §2: property company, owners' committee, party
//! members of co-building units).

use chrono::{DateTime, Utc};
use linli_domain::{CommunityId, GridGroupId, GridId, OrganisationId, ResidentId, StaffId};
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use crate::schema::{GridGroupMembers, GridGroups, Organisations, Residents, Staff};
use crate::{Exec, Result};

#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub id: OrganisationId,
    pub kind: &'static str,
    pub name: String,
    pub uscc: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
}

pub async fn insert_organisation(
    ex: &mut Exec<'_>,
    community: CommunityId,
    org: &NewOrganisation,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(Organisations::Table)
        .columns([
            Organisations::CommunityId,
            Organisations::Id,
            Organisations::Kind,
            Organisations::Name,
            Organisations::Uscc,
            Organisations::ContactName,
            Organisations::ContactPhone,
            Organisations::Address,
            Organisations::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            org.id.0.into(),
            org.kind.into(),
            org.name.clone().into(),
            org.uscc.clone().into(),
            org.contact_name.clone().into(),
            org.contact_phone.clone().into(),
            org.address.clone().into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganisationRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub uscc: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
}

fn organisation_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Organisations::CommunityId,
            Organisations::Id,
            Organisations::Kind,
            Organisations::Name,
            Organisations::Uscc,
            Organisations::ContactName,
            Organisations::ContactPhone,
            Organisations::Address,
        ])
        .from(Organisations::Table)
        .to_owned()
}

pub async fn find_organisation(
    ex: &mut Exec<'_>,
    id: OrganisationId,
) -> Result<Option<OrganisationRow>> {
    let q = organisation_columns()
        .and_where(Expr::col(Organisations::Id).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Organisations of a community, optionally of one kind, by kind and name.
pub async fn list_organisations(
    ex: &mut Exec<'_>,
    community: CommunityId,
    kind: Option<&str>,
) -> Result<Vec<OrganisationRow>> {
    let mut q = organisation_columns()
        .and_where(Expr::col(Organisations::CommunityId).eq(community.0))
        .order_by(Organisations::Kind, Order::Asc)
        .order_by(Organisations::Name, Order::Asc)
        .to_owned();
    if let Some(kind) = kind {
        q.and_where(Expr::col(Organisations::Kind).eq(kind));
    }
    ex.fetch_all(&q).await
}

pub async fn insert_grid_group(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: GridGroupId,
    grid: GridId,
    name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(GridGroups::Table)
        .columns([
            GridGroups::CommunityId,
            GridGroups::Id,
            GridGroups::GridId,
            GridGroups::Name,
            GridGroups::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            id.0.into(),
            grid.0.into(),
            name.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GridGroupRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub grid_id: Uuid,
    pub name: String,
}

fn group_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            GridGroups::CommunityId,
            GridGroups::Id,
            GridGroups::GridId,
            GridGroups::Name,
        ])
        .from(GridGroups::Table)
        .to_owned()
}

pub async fn find_grid_group(ex: &mut Exec<'_>, id: GridGroupId) -> Result<Option<GridGroupRow>> {
    let q = group_columns()
        .and_where(Expr::col(GridGroups::Id).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn list_grid_groups(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<Vec<GridGroupRow>> {
    let q = group_columns()
        .and_where(Expr::col(GridGroups::CommunityId).eq(community.0))
        .order_by(GridGroups::Name, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Who a grid-group member is: exactly one of a worker, a resident or an organisation.
#[derive(Debug, Clone, Copy)]
pub enum Member {
    Staff(StaffId),
    Resident(ResidentId),
    Organisation(OrganisationId),
}

pub async fn add_group_member(
    ex: &mut Exec<'_>,
    community: CommunityId,
    group: GridGroupId,
    member: Member,
    role: &str,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let (staff, resident, org) = match member {
        Member::Staff(s) => (Some(s.0), None, None),
        Member::Resident(r) => (None, Some(r.0), None),
        Member::Organisation(o) => (None, None, Some(o.0)),
    };
    let q = Query::insert()
        .into_table(GridGroupMembers::Table)
        .columns([
            GridGroupMembers::CommunityId,
            GridGroupMembers::GroupId,
            GridGroupMembers::Id,
            GridGroupMembers::StaffId,
            GridGroupMembers::ResidentId,
            GridGroupMembers::OrganisationId,
            GridGroupMembers::Role,
            GridGroupMembers::JoinedAt,
        ])
        .values_panic([
            community.0.into(),
            group.0.into(),
            id.into(),
            staff.into(),
            resident.into(),
            org.into(),
            role.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(id)
}

/// A member with a display name from whichever record it points at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupMemberRow {
    pub id: Uuid,
    pub staff_id: Option<Uuid>,
    pub resident_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    pub role: String,
    pub name: Option<String>,
}

pub async fn group_members(
    ex: &mut Exec<'_>,
    community: CommunityId,
    group: GridGroupId,
) -> Result<Vec<GroupMemberRow>> {
    let m = Alias::new("m");
    let name = Expr::cust(
        "COALESCE((SELECT s.name FROM staff s WHERE s.community_id = m.community_id AND s.id = m.staff_id), \
         (SELECT r.name FROM residents r WHERE r.community_id = m.community_id AND r.id = m.resident_id), \
         (SELECT o.name FROM organisations o WHERE o.community_id = m.community_id AND o.id = m.organisation_id))",
    );
    // Keep the schema enums referenced so a rename breaks this at compile time.
    let _ = (Staff::Table, Residents::Table);
    let q = Query::select()
        .columns([
            (m.clone(), GridGroupMembers::Id),
            (m.clone(), GridGroupMembers::StaffId),
            (m.clone(), GridGroupMembers::ResidentId),
            (m.clone(), GridGroupMembers::OrganisationId),
            (m.clone(), GridGroupMembers::Role),
        ])
        .expr_as(name, Alias::new("name"))
        .from_as(GridGroupMembers::Table, m.clone())
        .and_where(Expr::col((m.clone(), GridGroupMembers::CommunityId)).eq(community.0))
        .and_where(Expr::col((m.clone(), GridGroupMembers::GroupId)).eq(group.0))
        .order_by((m, GridGroupMembers::JoinedAt), Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}
