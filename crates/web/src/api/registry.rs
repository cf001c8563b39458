//! Places of the registry: grids with their counts, buildings and households.
//! Lists are community-scoped (`/communities/{id}/…`); single records are addressed by id
//! and answered as "not found" when outside the caller's reach.

use axum::extract::State;
use chrono::{DateTime, Utc};
use linli_domain::auth::{Action, Target};
use linli_domain::{BuildingId, CommunityId, GridId, HouseholdId};
use linli_store::registry::places::{self, BuildingRow, HouseholdRow};
use linli_store::{PageOf, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{ApiPath, ApiQuery, Page};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// The authorization target of one record that lives in `grid`. A record in no grid
/// (a resident who moved away) gets a grid no one is assigned to, so only community-wide
/// roles reach it.
pub async fn record_target(
    state: &AppState,
    community: Uuid,
    grid: Option<Uuid>,
) -> Result<Target, ApiError> {
    let (target, _) = community_target(state, CommunityId(community)).await?;
    Ok(Target {
        grid_id: Some(GridId(grid.unwrap_or(Uuid::nil()))),
        ..target
    })
}

/// `cursor` and `limit` of a list request, checked.
pub fn page_request(cursor: Option<&str>, limit: Option<u32>) -> Result<PageRequest, ApiError> {
    let after = match cursor {
        None | Some("") => None,
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| ApiError::InvalidField {
            field: "cursor",
            message: "the cursor is not one this server gave out".to_owned(),
        })?),
    };
    let limit = limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
    if !(1..=PageRequest::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            message: format!("limit must be 1 to {}", PageRequest::MAX_LIMIT),
        });
    }
    Ok(PageRequest { after, limit })
}

/// A store page as the API's list shape.
pub fn page_of<R, V>(page: PageOf<R>, view: impl FnMut(R) -> V) -> Page<V> {
    let next = page.next.map(|id| id.to_string());
    Page {
        items: page.items.into_iter().map(view).collect(),
        total: page.total,
        total_capped: page.total_capped,
        next,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuildingView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub code: String,
    pub name: String,
    pub address: String,
    /// Shenzhen unified address code, when known.
    pub address_code: Option<String>,
    pub floors: Option<i32>,
    /// The grid the building belongs to now.
    pub grid_id: Uuid,
}

impl From<BuildingRow> for BuildingView {
    fn from(b: BuildingRow) -> Self {
        BuildingView {
            id: b.id,
            community_id: b.community_id,
            code: b.code,
            name: b.name,
            address: b.address,
            address_code: b.address_code,
            floors: b.floors,
            grid_id: b.grid_id,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BuildingQuery {
    /// Only buildings of this grid.
    pub grid: Option<Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Buildings of a community; a grid worker sees those of their grids.
#[utoipa::path(get, path = "/api/v1/communities/{id}/buildings", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path), BuildingQuery),
    responses((status = 200, body = Page<BuildingView>), (status = 403, body = Problem)))]
pub async fn list_buildings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<BuildingQuery>,
) -> Result<axum::Json<Page<BuildingView>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    let filter = principal
        .authorize(&state, Action::ReadRegistry, &target, Deny::AsForbidden)
        .await?;
    let mut conn = state.db.acquire().await?;
    let rows = places::list_buildings(
        &mut conn.exec(),
        CommunityId(id),
        &filter,
        query.grid.map(GridId),
        page,
    )
    .await?;
    Ok(axum::Json(page_of(rows, BuildingView::from)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GridAssignmentView {
    pub grid_id: Uuid,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuildingDetail {
    #[serde(flatten)]
    pub building: BuildingView,
    /// Every grid the building has belonged to, oldest first.
    pub grid_history: Vec<GridAssignmentView>,
}

/// One building with its grid history.
#[utoipa::path(get, path = "/api/v1/buildings/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = BuildingDetail), (status = 404, body = Problem)))]
pub async fn get_building(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<BuildingDetail>, ApiError> {
    let building = readable_building(&state, &principal, BuildingId(id)).await?;
    let mut conn = state.db.acquire().await?;
    let history = places::grid_history(
        &mut conn.exec(),
        CommunityId(building.community_id),
        BuildingId(building.id),
    )
    .await?;
    Ok(axum::Json(BuildingDetail {
        building: building.into(),
        grid_history: history
            .into_iter()
            .map(|h| GridAssignmentView {
                grid_id: h.grid_id,
                valid_from: h.valid_from,
                valid_to: h.valid_to,
            })
            .collect(),
    }))
}

/// A building the caller may read, or "not found".
async fn readable_building(
    state: &AppState,
    principal: &Principal,
    id: BuildingId,
) -> Result<BuildingRow, ApiError> {
    let building = {
        let mut conn = state.db.acquire().await?;
        places::find_building(&mut conn.exec(), id)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let target = record_target(state, building.community_id, Some(building.grid_id)).await?;
    principal
        .authorize(state, Action::ReadRegistry, &target, Deny::AsNotFound)
        .await?;
    Ok(building)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseholdView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub dwelling_id: Uuid,
    pub room: String,
    pub building_id: Uuid,
    pub building_name: String,
    pub grid_id: Uuid,
    /// People living in the household now.
    pub members: i64,
}

impl From<HouseholdRow> for HouseholdView {
    fn from(h: HouseholdRow) -> Self {
        HouseholdView {
            id: h.id,
            community_id: h.community_id,
            dwelling_id: h.dwelling_id,
            room: h.room,
            building_id: h.building_id,
            building_name: h.building_name,
            grid_id: h.grid_id,
            members: h.members,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// The households of a building.
#[utoipa::path(get, path = "/api/v1/buildings/{id}/households", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<HouseholdView>), (status = 404, body = Problem)))]
pub async fn list_households(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<axum::Json<Page<HouseholdView>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let building = readable_building(&state, &principal, BuildingId(id)).await?;
    let mut conn = state.db.acquire().await?;
    let rows = places::list_households_in_building(
        &mut conn.exec(),
        CommunityId(building.community_id),
        BuildingId(building.id),
        page,
    )
    .await?;
    Ok(axum::Json(page_of(rows, HouseholdView::from)))
}

/// A household the caller may read, or "not found".
pub async fn readable_household(
    state: &AppState,
    principal: &Principal,
    id: HouseholdId,
) -> Result<HouseholdRow, ApiError> {
    let household = {
        let mut conn = state.db.acquire().await?;
        places::find_household(&mut conn.exec(), id)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let target = record_target(state, household.community_id, Some(household.grid_id)).await?;
    principal
        .authorize(state, Action::ReadRegistry, &target, Deny::AsNotFound)
        .await?;
    Ok(household)
}

/// One household.
#[utoipa::path(get, path = "/api/v1/households/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = HouseholdView), (status = 404, body = Problem)))]
pub async fn get_household(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<HouseholdView>, ApiError> {
    let household = readable_household(&state, &principal, HouseholdId(id)).await?;
    Ok(axum::Json(household.into()))
}
