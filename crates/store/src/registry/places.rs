//! Buildings, dwellings and households. A building's current grid is kept on the building
//! (and on its residents) for fast scoping; `building_grids` keeps the history.

use chrono::{DateTime, NaiveDate, Utc};
use linli_domain::auth::GridFilter;
use linli_domain::{BuildingId, CommunityId, DwellingId, GridId, HouseholdId, ResidentId};
use sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use uuid::Uuid;

use super::INSERT_BATCH;
use crate::schema::{BuildingGrids, Buildings, Dwellings, HouseholdMembers, Households, Residents};
use crate::{Exec, PageOf, PageRequest, Result};

#[derive(Debug, Clone)]
pub struct NewBuilding {
    pub id: BuildingId,
    pub code: String,
    pub name: String,
    pub address: String,
    pub address_code: Option<String>,
    pub floors: Option<i32>,
    pub grid_id: GridId,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildingRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub address: String,
    pub address_code: Option<String>,
    pub floors: Option<i32>,
    pub grid_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Inserts buildings with their first grid assignment, in batches.
pub async fn insert_buildings(
    ex: &mut Exec<'_>,
    community: CommunityId,
    buildings: &[NewBuilding],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in buildings.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(Buildings::Table)
            .columns([
                Buildings::CommunityId,
                Buildings::Id,
                Buildings::Code,
                Buildings::Name,
                Buildings::Address,
                Buildings::AddressCode,
                Buildings::Floors,
                Buildings::GridId,
                Buildings::CreatedAt,
            ])
            .to_owned();
        let mut history = Query::insert()
            .into_table(BuildingGrids::Table)
            .columns([
                BuildingGrids::CommunityId,
                BuildingGrids::BuildingId,
                BuildingGrids::GridId,
                BuildingGrids::ValidFrom,
            ])
            .to_owned();
        for b in chunk {
            q.values_panic([
                community.0.into(),
                b.id.0.into(),
                b.code.clone().into(),
                b.name.clone().into(),
                b.address.clone().into(),
                b.address_code.clone().into(),
                b.floors.into(),
                b.grid_id.0.into(),
                now.into(),
            ]);
            history.values_panic([
                community.0.into(),
                b.id.0.into(),
                b.grid_id.0.into(),
                now.into(),
            ]);
        }
        ex.execute(&q).await?;
        ex.execute(&history).await?;
    }
    Ok(())
}

fn building_columns() -> SelectStatement {
    Query::select()
        .columns([
            Buildings::CommunityId,
            Buildings::Id,
            Buildings::Code,
            Buildings::Name,
            Buildings::Address,
            Buildings::AddressCode,
            Buildings::Floors,
            Buildings::GridId,
            Buildings::CreatedAt,
        ])
        .from(Buildings::Table)
        .to_owned()
}

/// A building in any community; the caller authorizes against its community and grid.
pub async fn find_building(ex: &mut Exec<'_>, id: BuildingId) -> Result<Option<BuildingRow>> {
    let q = building_columns()
        .and_where(Expr::col(Buildings::Id).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn find_building_by_code(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
) -> Result<Option<BuildingRow>> {
    let q = building_columns()
        .and_where(Expr::col(Buildings::CommunityId).eq(community.0))
        .and_where(Expr::col(Buildings::Code).eq(code))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Restricts a statement on a table with a `grid_id` column to the grids a caller may see.
pub(crate) fn apply_grid_filter<C>(q: &mut SelectStatement, column: C, filter: &GridFilter) -> bool
where
    C: sea_query::IntoColumnRef,
{
    if let GridFilter::Only(ids) = filter {
        if ids.is_empty() {
            return false;
        }
        q.and_where(Expr::col(column).is_in(ids.iter().map(|g| g.0)));
    }
    true
}

/// Buildings of a community (optionally one grid) that the caller may see, by id.
pub async fn list_buildings(
    ex: &mut Exec<'_>,
    community: CommunityId,
    filter: &GridFilter,
    grid: Option<GridId>,
    page: PageRequest,
) -> Result<PageOf<BuildingRow>> {
    let mut q = building_columns()
        .and_where(Expr::col(Buildings::CommunityId).eq(community.0))
        .to_owned();
    if !apply_grid_filter(&mut q, (Buildings::Table, Buildings::GridId), filter) {
        return Ok(PageOf::empty());
    }
    if let Some(grid) = grid {
        q.and_where(Expr::col(Buildings::GridId).eq(grid.0));
    }
    let total = count_of(ex, &q, (Buildings::Table, Buildings::Id)).await?;
    if let Some(after) = page.after {
        q.and_where(Expr::col(Buildings::Id).gt(after));
    }
    q.order_by(Buildings::Id, Order::Asc)
        .limit(page.fetch_limit());
    let rows = ex.fetch_all(&q).await?;
    Ok(PageOf::from_lookahead(
        rows,
        page,
        total,
        |b: &BuildingRow| b.id,
    ))
}

/// `COUNT(*)` over the rows a filtered select would return.
pub(crate) async fn count_of<C>(ex: &mut Exec<'_>, q: &SelectStatement, id: C) -> Result<u64>
where
    C: sea_query::IntoColumnRef,
{
    let mut count = q.clone();
    count.clear_selects();
    count.expr(Func::count(Expr::col(id)));
    let (n,): (i64,) = ex.fetch_one(&count).await?;
    Ok(n as u64)
}

/// Moves a building to another grid from `now` on: closes the open assignment, opens a new
/// one and moves the building's residents with it. Run inside a transaction.
pub async fn reassign_building(
    ex: &mut Exec<'_>,
    community: CommunityId,
    building: BuildingId,
    grid: GridId,
    now: DateTime<Utc>,
) -> Result<()> {
    let close = Query::update()
        .table(BuildingGrids::Table)
        .value(BuildingGrids::ValidTo, now)
        .and_where(Expr::col(BuildingGrids::CommunityId).eq(community.0))
        .and_where(Expr::col(BuildingGrids::BuildingId).eq(building.0))
        .and_where(Expr::col(BuildingGrids::ValidTo).is_null())
        .to_owned();
    ex.execute(&close).await?;
    let open = Query::insert()
        .into_table(BuildingGrids::Table)
        .columns([
            BuildingGrids::CommunityId,
            BuildingGrids::BuildingId,
            BuildingGrids::GridId,
            BuildingGrids::ValidFrom,
        ])
        .values_panic([
            community.0.into(),
            building.0.into(),
            grid.0.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&open).await?;
    let current = Query::update()
        .table(Buildings::Table)
        .value(Buildings::GridId, grid.0)
        .and_where(Expr::col(Buildings::CommunityId).eq(community.0))
        .and_where(Expr::col(Buildings::Id).eq(building.0))
        .to_owned();
    ex.execute(&current).await?;
    let residents = Query::update()
        .table(Residents::Table)
        .value(Residents::GridId, grid.0)
        .and_where(Expr::col(Residents::CommunityId).eq(community.0))
        .and_where(Expr::col(Residents::BuildingId).eq(building.0))
        .to_owned();
    ex.execute(&residents).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GridAssignmentRow {
    pub grid_id: Uuid,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

/// Every grid a building has belonged to, oldest first.
pub async fn grid_history(
    ex: &mut Exec<'_>,
    community: CommunityId,
    building: BuildingId,
) -> Result<Vec<GridAssignmentRow>> {
    let q = Query::select()
        .columns([
            BuildingGrids::GridId,
            BuildingGrids::ValidFrom,
            BuildingGrids::ValidTo,
        ])
        .from(BuildingGrids::Table)
        .and_where(Expr::col(BuildingGrids::CommunityId).eq(community.0))
        .and_where(Expr::col(BuildingGrids::BuildingId).eq(building.0))
        .order_by(BuildingGrids::ValidFrom, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

#[derive(Debug, Clone)]
pub struct NewDwelling {
    pub id: DwellingId,
    pub building_id: BuildingId,
    pub room: String,
    pub address_code: Option<String>,
}

pub async fn insert_dwellings(
    ex: &mut Exec<'_>,
    community: CommunityId,
    dwellings: &[NewDwelling],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in dwellings.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(Dwellings::Table)
            .columns([
                Dwellings::CommunityId,
                Dwellings::Id,
                Dwellings::BuildingId,
                Dwellings::Room,
                Dwellings::AddressCode,
                Dwellings::CreatedAt,
            ])
            .to_owned();
        for d in chunk {
            q.values_panic([
                community.0.into(),
                d.id.0.into(),
                d.building_id.0.into(),
                d.room.clone().into(),
                d.address_code.clone().into(),
                now.into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DwellingRow {
    pub id: Uuid,
    pub building_id: Uuid,
    pub room: String,
    pub address_code: Option<String>,
}

pub async fn find_dwelling_by_room(
    ex: &mut Exec<'_>,
    community: CommunityId,
    building: BuildingId,
    room: &str,
) -> Result<Option<DwellingRow>> {
    let q = Query::select()
        .columns([
            Dwellings::Id,
            Dwellings::BuildingId,
            Dwellings::Room,
            Dwellings::AddressCode,
        ])
        .from(Dwellings::Table)
        .and_where(Expr::col(Dwellings::CommunityId).eq(community.0))
        .and_where(Expr::col(Dwellings::BuildingId).eq(building.0))
        .and_where(Expr::col(Dwellings::Room).eq(room))
        .to_owned();
    ex.fetch_optional(&q).await
}

#[derive(Debug, Clone)]
pub struct NewHousehold {
    pub id: HouseholdId,
    pub dwelling_id: DwellingId,
}

pub async fn insert_households(
    ex: &mut Exec<'_>,
    community: CommunityId,
    households: &[NewHousehold],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in households.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(Households::Table)
            .columns([
                Households::CommunityId,
                Households::Id,
                Households::DwellingId,
                Households::CreatedAt,
            ])
            .to_owned();
        for h in chunk {
            q.values_panic([
                community.0.into(),
                h.id.0.into(),
                h.dwelling_id.0.into(),
                now.into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

/// A household with where it lives.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HouseholdRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub dwelling_id: Uuid,
    pub room: String,
    pub building_id: Uuid,
    pub building_name: String,
    pub grid_id: Uuid,
    pub members: i64,
}

fn household_select() -> SelectStatement {
    let members = Query::select()
        .expr(Func::count(Expr::col((Residents::Table, Residents::Id))))
        .from(Residents::Table)
        .and_where(
            Expr::col((Residents::Table, Residents::CommunityId))
                .equals((Households::Table, Households::CommunityId)),
        )
        .and_where(
            Expr::col((Residents::Table, Residents::HouseholdId))
                .equals((Households::Table, Households::Id)),
        )
        .to_owned();
    Query::select()
        .column((Households::Table, Households::CommunityId))
        .column((Households::Table, Households::Id))
        .column((Households::Table, Households::DwellingId))
        .column((Dwellings::Table, Dwellings::Room))
        .expr_as(
            Expr::col((Buildings::Table, Buildings::Id)),
            Alias::new("building_id"),
        )
        .expr_as(
            Expr::col((Buildings::Table, Buildings::Name)),
            Alias::new("building_name"),
        )
        .expr_as(
            Expr::col((Buildings::Table, Buildings::GridId)),
            Alias::new("grid_id"),
        )
        .expr_as(
            Expr::SubQuery(None, Box::new(members.into())),
            Alias::new("members"),
        )
        .from(Households::Table)
        .inner_join(
            Dwellings::Table,
            Expr::col((Dwellings::Table, Dwellings::CommunityId))
                .equals((Households::Table, Households::CommunityId))
                .and(
                    Expr::col((Dwellings::Table, Dwellings::Id))
                        .equals((Households::Table, Households::DwellingId)),
                ),
        )
        .inner_join(
            Buildings::Table,
            Expr::col((Buildings::Table, Buildings::CommunityId))
                .equals((Dwellings::Table, Dwellings::CommunityId))
                .and(
                    Expr::col((Buildings::Table, Buildings::Id))
                        .equals((Dwellings::Table, Dwellings::BuildingId)),
                ),
        )
        .to_owned()
}

pub async fn find_household(ex: &mut Exec<'_>, id: HouseholdId) -> Result<Option<HouseholdRow>> {
    let q = household_select()
        .and_where(Expr::col((Households::Table, Households::Id)).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The households living in a building, by room.
pub async fn list_households_in_building(
    ex: &mut Exec<'_>,
    community: CommunityId,
    building: BuildingId,
    page: PageRequest,
) -> Result<PageOf<HouseholdRow>> {
    let mut q = household_select()
        .and_where(Expr::col((Households::Table, Households::CommunityId)).eq(community.0))
        .and_where(Expr::col((Buildings::Table, Buildings::Id)).eq(building.0))
        .to_owned();
    let total = count_of(ex, &q, (Households::Table, Households::Id)).await?;
    if let Some(after) = page.after {
        q.and_where(Expr::col((Households::Table, Households::Id)).gt(after));
    }
    q.order_by((Households::Table, Households::Id), Order::Asc)
        .limit(page.fetch_limit());
    let rows = ex.fetch_all(&q).await?;
    Ok(PageOf::from_lookahead(
        rows,
        page,
        total,
        |h: &HouseholdRow| h.id,
    ))
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub household_id: HouseholdId,
    pub resident_id: ResidentId,
    pub relation: &'static str,
    pub moved_in: NaiveDate,
}

pub async fn insert_members(
    ex: &mut Exec<'_>,
    community: CommunityId,
    members: &[NewMember],
) -> Result<()> {
    for chunk in members.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(HouseholdMembers::Table)
            .columns([
                HouseholdMembers::CommunityId,
                HouseholdMembers::HouseholdId,
                HouseholdMembers::ResidentId,
                HouseholdMembers::Relation,
                HouseholdMembers::MovedIn,
            ])
            .to_owned();
        for m in chunk {
            q.values_panic([
                community.0.into(),
                m.household_id.0.into(),
                m.resident_id.0.into(),
                m.relation.into(),
                m.moved_in.into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipRow {
    pub household_id: Uuid,
    pub resident_id: Uuid,
    pub relation: String,
    pub moved_in: NaiveDate,
    pub moved_out: Option<NaiveDate>,
}

/// Membership records of a household (current and past), or of a resident.
pub async fn memberships(
    ex: &mut Exec<'_>,
    community: CommunityId,
    household: Option<HouseholdId>,
    resident: Option<ResidentId>,
) -> Result<Vec<MembershipRow>> {
    let mut q = Query::select()
        .columns([
            HouseholdMembers::HouseholdId,
            HouseholdMembers::ResidentId,
            HouseholdMembers::Relation,
            HouseholdMembers::MovedIn,
            HouseholdMembers::MovedOut,
        ])
        .from(HouseholdMembers::Table)
        .and_where(Expr::col(HouseholdMembers::CommunityId).eq(community.0))
        .order_by(HouseholdMembers::MovedIn, Order::Asc)
        .order_by(HouseholdMembers::ResidentId, Order::Asc)
        .to_owned();
    if let Some(h) = household {
        q.and_where(Expr::col(HouseholdMembers::HouseholdId).eq(h.0));
    }
    if let Some(r) = resident {
        q.and_where(Expr::col(HouseholdMembers::ResidentId).eq(r.0));
    }
    ex.fetch_all(&q).await
}

/// Counts per grid for the grid overview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GridCounts {
    pub buildings: i64,
    pub households: i64,
    pub residents: i64,
}

/// Buildings, households and current residents per grid, in three grouped scans.
pub async fn grid_counts(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<std::collections::HashMap<Uuid, GridCounts>> {
    let buildings = Query::select()
        .column(Buildings::GridId)
        .expr(Func::count(Expr::col(Buildings::Id)))
        .from(Buildings::Table)
        .and_where(Expr::col(Buildings::CommunityId).eq(community.0))
        .group_by_col(Buildings::GridId)
        .to_owned();
    let residents = Query::select()
        .column(Residents::GridId)
        .expr(Func::count(Expr::col(Residents::Id)))
        .from(Residents::Table)
        .and_where(Expr::col(Residents::CommunityId).eq(community.0))
        .and_where(Expr::col(Residents::GridId).is_not_null())
        .group_by_col(Residents::GridId)
        .to_owned();
    let mut households = household_select();
    households
        .clear_selects()
        .column((Buildings::Table, Buildings::GridId))
        .expr(Func::count(Expr::col((Households::Table, Households::Id))))
        .and_where(Expr::col((Households::Table, Households::CommunityId)).eq(community.0))
        .group_by_col((Buildings::Table, Buildings::GridId));
    let mut counts: std::collections::HashMap<Uuid, GridCounts> = Default::default();
    for (grid, n) in ex.fetch_all::<(Uuid, i64), _>(&buildings).await? {
        counts.entry(grid).or_default().buildings = n;
    }
    for (grid, n) in ex.fetch_all::<(Uuid, i64), _>(&households).await? {
        counts.entry(grid).or_default().households = n;
    }
    for (grid, n) in ex.fetch_all::<(Uuid, i64), _>(&residents).await? {
        counts.entry(grid).or_default().residents = n;
    }
    Ok(counts)
}

/// Every building of a community (a few hundred at most), for imports and exports.
pub async fn all_buildings(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<BuildingRow>> {
    let q = building_columns()
        .and_where(Expr::col(Buildings::CommunityId).eq(community.0))
        .order_by(Buildings::Code, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Every dwelling of a community: (id, building, room).
pub async fn all_dwellings(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<DwellingRow>> {
    let q = Query::select()
        .columns([
            Dwellings::Id,
            Dwellings::BuildingId,
            Dwellings::Room,
            Dwellings::AddressCode,
        ])
        .from(Dwellings::Table)
        .and_where(Expr::col(Dwellings::CommunityId).eq(community.0))
        .to_owned();
    ex.fetch_all(&q).await
}

/// Every household of a community: (household, dwelling).
pub async fn all_households(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<Vec<(Uuid, Uuid)>> {
    let q = Query::select()
        .columns([Households::Id, Households::DwellingId])
        .from(Households::Table)
        .and_where(Expr::col(Households::CommunityId).eq(community.0))
        .to_owned();
    ex.fetch_all(&q).await
}
