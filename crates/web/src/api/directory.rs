//! Who serves the community: comprehensive grid workers with their grids and the duty
//! catalogue they share, organisations, grid groups and co-governance zones. Every role
//! in the community may read it; staff and administrators keep it.
//! These lists are short by nature (tens of rows), so they come whole: `next` is null.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use linli_domain::auth::Action;
use linli_domain::registry::{OrgKind, OriginRole, PersonName, Phone, Uscc};
use linli_domain::{
    AccountId, CommunityId, GridGroupId, GridId, OrganisationId, ResidentId, StaffId,
};
use linli_store::audit::{self, AuditEvent};
use linli_store::registry::organisations::{self, Member, NewOrganisation};
use linli_store::registry::staff::{self, NewStaff};
use linli_store::registry::{self as grids_store, residents};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{ApiJson, ApiPath, ApiQuery, Page};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

fn whole<T>(items: Vec<T>) -> Page<T> {
    Page::whole(items)
}

/// Authorizes `action` on a whole community.
async fn in_community(
    state: &AppState,
    principal: &Principal,
    community: Uuid,
    action: Action,
    deny: Deny,
) -> Result<(), ApiError> {
    let (target, _) = community_target(state, CommunityId(community)).await?;
    principal.authorize(state, action, &target, deny).await?;
    Ok(())
}

fn audit_event(
    principal: &Principal,
    community: Uuid,
    action: &str,
    object_type: &str,
    id: Uuid,
) -> AuditEvent {
    principal.success_event(
        CommunityId(community),
        action,
        object_type,
        id,
        serde_json::json!({}),
    )
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::InvalidField {
            field,
            message: format!("1 to {max} characters"),
        });
    }
    Ok(value)
}

fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub grid_id: Uuid,
    pub is_leader: bool,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub name: String,
    /// Where the worker came from: `community_staff`, `grid_worker` or `social_worker`.
    pub origin_role: String,
    /// The one operational role all of them hold: `grid_worker`.
    pub operational_role: String,
    pub work_phone: Option<String>,
    pub account_id: Option<Uuid>,
    /// Current grids.
    pub grids: Vec<AssignmentView>,
    /// Every assignment, oldest first (only on the single-record view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<AssignmentView>>,
}

fn staff_view(
    row: staff::StaffRow,
    assignments: &[staff::AssignmentRow],
    with_history: bool,
) -> StaffView {
    let mine = assignments.iter().filter(|a| a.staff_id == row.id);
    let view = |a: &staff::AssignmentRow| AssignmentView {
        grid_id: a.grid_id,
        is_leader: a.is_leader,
        valid_from: a.valid_from,
        valid_to: a.valid_to,
    };
    StaffView {
        id: row.id,
        community_id: row.community_id,
        name: row.name,
        origin_role: row.origin_role,
        operational_role: row.operational_role,
        work_phone: row.work_phone,
        account_id: row.account_id,
        grids: mine
            .clone()
            .filter(|a| a.valid_to.is_none())
            .map(view)
            .collect(),
        history: with_history.then(|| mine.map(view).collect()),
    }
}

/// The community's comprehensive grid workers and the grids they serve now.
#[utoipa::path(get, path = "/api/v1/communities/{id}/staff", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<StaffView>), (status = 404, body = Problem)))]
pub async fn list_staff(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<StaffView>>, ApiError> {
    in_community(
        &state,
        &principal,
        id,
        Action::ReadDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let rows = staff::list_staff(&mut ex, CommunityId(id)).await?;
    let assignments = staff::assignments(&mut ex, CommunityId(id), None).await?;
    Ok(axum::Json(whole(
        rows.into_iter()
            .map(|r| staff_view(r, &assignments, false))
            .collect(),
    )))
}

/// One worker with their assignment history.
#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = StaffView), (status = 404, body = Problem)))]
pub async fn get_staff(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<StaffView>, ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        staff::find_staff(&mut conn.exec(), StaffId(id))
            .await?
            .ok_or(ApiError::NotFound)?
    };
    in_community(
        &state,
        &principal,
        row.community_id,
        Action::ReadDirectory,
        Deny::AsNotFound,
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    let assignments = staff::assignments(
        &mut conn.exec(),
        CommunityId(row.community_id),
        Some(StaffId(id)),
    )
    .await?;
    Ok(axum::Json(staff_view(row, &assignments, true)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GridAssignment {
    pub grid_id: Uuid,
    #[serde(default)]
    pub leader: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    pub name: String,
    /// `community_staff`, `grid_worker` or `social_worker` (or the Chinese label).
    pub origin_role: String,
    pub work_phone: Option<String>,
    /// The sign-in account of the worker, if they have one.
    pub account_id: Option<Uuid>,
    #[serde(default)]
    pub grids: Vec<GridAssignment>,
}

/// Checks that every grid belongs to the community; a foreign grid is "not found".
async fn check_grids(
    state: &AppState,
    community: Uuid,
    grids: &[GridAssignment],
) -> Result<Vec<(GridId, bool)>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let mut out = Vec::new();
    for g in grids {
        let grid = grids_store::find_grid(&mut conn.exec(), GridId(g.grid_id)).await?;
        if grid.is_none_or(|grid| grid.community_id != community) {
            return Err(ApiError::InvalidField {
                field: "grids",
                message: format!("grid {} is not a grid of this community", g.grid_id),
            });
        }
        if out.iter().any(|(id, _): &(GridId, bool)| id.0 == g.grid_id) {
            return Err(ApiError::InvalidField {
                field: "grids",
                message: "a grid is listed twice".to_owned(),
            });
        }
        out.push((GridId(g.grid_id), g.leader));
    }
    Ok(out)
}

/// Registers a comprehensive grid worker and their grids.
#[utoipa::path(post, path = "/api/v1/communities/{id}/staff", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewStaffRequest,
    responses((status = 201, body = StaffView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_staff(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewStaffRequest>,
) -> Result<(StatusCode, axum::Json<StaffView>), ApiError> {
    in_community(
        &state,
        &principal,
        id,
        Action::ManageDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let name = PersonName::parse(&body.name).map_err(|e| ApiError::rule("name", e))?;
    let origin =
        OriginRole::parse(&body.origin_role).map_err(|e| ApiError::rule("origin_role", e))?;
    let work_phone = match body.work_phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(
            Phone::parse(p)
                .map_err(|e| ApiError::rule("work_phone", e))?
                .as_str()
                .to_owned(),
        ),
    };
    let grids = check_grids(&state, id, &body.grids).await?;
    let staff_id = StaffId::new();
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    staff::insert_staff(
        &mut tx.exec(),
        CommunityId(id),
        &NewStaff {
            id: staff_id,
            name: name.as_str().to_owned(),
            origin_role: origin.as_str(),
            work_phone,
            account_id: body.account_id.map(AccountId),
        },
        now,
    )
    .await
    .map_err(|e| match e {
        linli_store::StoreError::ForeignKey(_) => ApiError::InvalidField {
            field: "account_id",
            message: "no such account".to_owned(),
        },
        other => other.into(),
    })?;
    staff::assign_grids(&mut tx.exec(), CommunityId(id), staff_id, &grids, now).await?;
    audit::append(
        &mut tx.exec(),
        &audit_event(&principal, id, "staff_registered", "staff", staff_id.0),
        now,
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let row = staff::find_staff(&mut ex, staff_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let assignments = staff::assignments(&mut ex, CommunityId(id), Some(staff_id)).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(staff_view(row, &assignments, true)),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub grids: Vec<GridAssignment>,
}

/// Replaces a worker's grids from now on; the old assignment stays in the history.
#[utoipa::path(put, path = "/api/v1/staff/{id}/grids", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AssignRequest,
    responses((status = 200, body = StaffView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn assign_staff(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<axum::Json<StaffView>, ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        staff::find_staff(&mut conn.exec(), StaffId(id))
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let community = row.community_id;
    in_community(
        &state,
        &principal,
        community,
        Action::ManageDirectory,
        Deny::AsNotFound,
    )
    .await?;
    let grids = check_grids(&state, community, &body.grids).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    staff::assign_grids(
        &mut tx.exec(),
        CommunityId(community),
        StaffId(id),
        &grids,
        now,
    )
    .await?;
    audit::append(
        &mut tx.exec(),
        &audit_event(&principal, community, "staff_assigned", "staff", id),
        now,
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    let assignments =
        staff::assignments(&mut conn.exec(), CommunityId(community), Some(StaffId(id))).await?;
    Ok(axum::Json(staff_view(row, &assignments, true)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DutyView {
    pub code: String,
    pub title: String,
    pub description: String,
}

/// The one duty catalogue every comprehensive grid worker works to.
#[utoipa::path(get, path = "/api/v1/communities/{id}/duties", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<DutyView>)))]
pub async fn list_duties(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<DutyView>>, ApiError> {
    in_community(
        &state,
        &principal,
        id,
        Action::ReadDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    let rows = staff::duties(&mut conn.exec(), CommunityId(id)).await?;
    Ok(axum::Json(whole(
        rows.into_iter()
            .map(|d| DutyView {
                code: d.code,
                title: d.title,
                description: d.description,
            })
            .collect(),
    )))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub kind: String,
    pub name: String,
    /// Unified social credit code, validated when given.
    pub uscc: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
}

impl From<organisations::OrganisationRow> for OrganisationView {
    fn from(o: organisations::OrganisationRow) -> Self {
        OrganisationView {
            id: o.id,
            community_id: o.community_id,
            kind: o.kind,
            name: o.name,
            uscc: o.uscc,
            contact_name: o.contact_name,
            contact_phone: o.contact_phone,
            address: o.address,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrganisationQuery {
    /// Only organisations of this kind (`property_company`, `merchant`, …).
    pub kind: Option<String>,
}

/// Organisations of the community.
#[utoipa::path(get, path = "/api/v1/communities/{id}/organisations", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path), OrganisationQuery), responses((status = 200, body = Page<OrganisationView>)))]
pub async fn list_organisations(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<OrganisationQuery>,
) -> Result<axum::Json<Page<OrganisationView>>, ApiError> {
    let kind = query
        .kind
        .as_deref()
        .map(OrgKind::parse)
        .transpose()
        .map_err(|e| ApiError::rule("kind", e))?;
    in_community(
        &state,
        &principal,
        id,
        Action::ReadDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    let rows = organisations::list_organisations(
        &mut conn.exec(),
        CommunityId(id),
        kind.map(OrgKind::as_str),
    )
    .await?;
    Ok(axum::Json(whole(
        rows.into_iter().map(Into::into).collect(),
    )))
}

/// One organisation.
#[utoipa::path(get, path = "/api/v1/organisations/{id}", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = OrganisationView), (status = 404, body = Problem)))]
pub async fn get_organisation(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<OrganisationView>, ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        organisations::find_organisation(&mut conn.exec(), OrganisationId(id))
            .await?
            .ok_or(ApiError::NotFound)?
    };
    in_community(
        &state,
        &principal,
        row.community_id,
        Action::ReadDirectory,
        Deny::AsNotFound,
    )
    .await?;
    Ok(axum::Json(row.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisationRequest {
    pub kind: String,
    pub name: String,
    pub uscc: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
}

/// Registers an organisation; a unified social credit code is checked and unique.
#[utoipa::path(post, path = "/api/v1/communities/{id}/organisations", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewOrganisationRequest,
    responses((status = 201, body = OrganisationView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_organisation(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewOrganisationRequest>,
) -> Result<(StatusCode, axum::Json<OrganisationView>), ApiError> {
    in_community(
        &state,
        &principal,
        id,
        Action::ManageDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let kind = OrgKind::parse(&body.kind).map_err(|e| ApiError::rule("kind", e))?;
    let uscc = match body.uscc.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(code) => Some(
            Uscc::parse(code)
                .map_err(|e| ApiError::rule("uscc", e))?
                .as_str()
                .to_owned(),
        ),
    };
    let contact_phone = match body.contact_phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(
            Phone::parse(p)
                .map_err(|e| ApiError::rule("contact_phone", e))?
                .as_str()
                .to_owned(),
        ),
    };
    let org = NewOrganisation {
        id: OrganisationId::new(),
        kind: kind.as_str(),
        name: text("name", &body.name, 100)?,
        uscc,
        contact_name: optional_text("contact_name", body.contact_name.as_deref(), 40)?,
        contact_phone,
        address: optional_text("address", body.address.as_deref(), 200)?,
    };
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    organisations::insert_organisation(&mut tx.exec(), CommunityId(id), &org, now)
        .await
        .map_err(|e| match e {
            linli_store::StoreError::Conflict(_) => ApiError::Conflict {
                code: "duplicate_organisation",
                message: "an organisation with this credit code is already registered".to_owned(),
            },
            other => other.into(),
        })?;
    audit::append(
        &mut tx.exec(),
        &audit_event(
            &principal,
            id,
            "organisation_registered",
            "organisation",
            org.id.0,
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    let row = organisations::find_organisation(&mut conn.exec(), org.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMemberView {
    pub id: Uuid,
    /// `staff`, `resident` or `organisation`.
    pub kind: String,
    pub member_id: Uuid,
    pub name: Option<String>,
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GridGroupView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub grid_id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<GroupMemberView>>,
}

/// The grid groups of the community.
#[utoipa::path(get, path = "/api/v1/communities/{id}/grid-groups", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<GridGroupView>)))]
pub async fn list_grid_groups(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<GridGroupView>>, ApiError> {
    in_community(
        &state,
        &principal,
        id,
        Action::ReadDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    let rows = organisations::list_grid_groups(&mut conn.exec(), CommunityId(id)).await?;
    Ok(axum::Json(whole(
        rows.into_iter()
            .map(|g| GridGroupView {
                id: g.id,
                community_id: g.community_id,
                grid_id: g.grid_id,
                name: g.name,
                members: None,
            })
            .collect(),
    )))
}

async fn group_view(
    state: &AppState,
    group: organisations::GridGroupRow,
) -> Result<GridGroupView, ApiError> {
    let mut conn = state.db.acquire().await?;
    let members = organisations::group_members(
        &mut conn.exec(),
        CommunityId(group.community_id),
        GridGroupId(group.id),
    )
    .await?;
    Ok(GridGroupView {
        id: group.id,
        community_id: group.community_id,
        grid_id: group.grid_id,
        name: group.name,
        members: Some(
            members
                .into_iter()
                .map(|m| {
                    let (kind, member_id) = match (m.staff_id, m.resident_id, m.organisation_id) {
                        (Some(s), _, _) => ("staff", s),
                        (_, Some(r), _) => ("resident", r),
                        (_, _, Some(o)) => ("organisation", o),
                        _ => ("unknown", Uuid::nil()),
                    };
                    GroupMemberView {
                        id: m.id,
                        kind: kind.to_owned(),
                        member_id,
                        name: m.name,
                        role: m.role,
                    }
                })
                .collect(),
        ),
    })
}

async fn find_group(state: &AppState, id: Uuid) -> Result<organisations::GridGroupRow, ApiError> {
    let mut conn = state.db.acquire().await?;
    organisations::find_grid_group(&mut conn.exec(), GridGroupId(id))
        .await?
        .ok_or(ApiError::NotFound)
}

/// One grid group with its members.
#[utoipa::path(get, path = "/api/v1/grid-groups/{id}", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = GridGroupView), (status = 404, body = Problem)))]
pub async fn get_grid_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<GridGroupView>, ApiError> {
    let group = find_group(&state, id).await?;
    in_community(
        &state,
        &principal,
        group.community_id,
        Action::ReadDirectory,
        Deny::AsNotFound,
    )
    .await?;
    Ok(axum::Json(group_view(&state, group).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGridGroupRequest {
    pub grid_id: Uuid,
    pub name: String,
}

/// Forms a grid group for one grid.
#[utoipa::path(post, path = "/api/v1/communities/{id}/grid-groups", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewGridGroupRequest,
    responses((status = 201, body = GridGroupView), (status = 422, body = Problem)))]
pub async fn create_grid_group(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewGridGroupRequest>,
) -> Result<(StatusCode, axum::Json<GridGroupView>), ApiError> {
    in_community(
        &state,
        &principal,
        id,
        Action::ManageDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let name = text("name", &body.name, 60)?;
    check_grids(
        &state,
        id,
        &[GridAssignment {
            grid_id: body.grid_id,
            leader: false,
        }],
    )
    .await?;
    let group = GridGroupId::new();
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    organisations::insert_grid_group(
        &mut tx.exec(),
        CommunityId(id),
        group,
        GridId(body.grid_id),
        &name,
        now,
    )
    .await?;
    audit::append(
        &mut tx.exec(),
        &audit_event(&principal, id, "grid_group_formed", "grid_group", group.0),
        now,
    )
    .await?;
    tx.commit().await?;
    let row = find_group(&state, group.0).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(group_view(&state, row).await?),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberRequest {
    /// Exactly one of `staff_id`, `resident_id`, `organisation_id`.
    pub staff_id: Option<Uuid>,
    pub resident_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    /// The member's role in the group, e.g. 组长, 物业代表, 业委会代表, 党员代表.
    pub role: String,
}

/// Adds a worker, a resident or an organisation of the same community to a grid group.
#[utoipa::path(post, path = "/api/v1/grid-groups/{id}/members", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewMemberRequest,
    responses((status = 201, body = GridGroupView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_grid_group_member(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewMemberRequest>,
) -> Result<(StatusCode, axum::Json<GridGroupView>), ApiError> {
    let group = find_group(&state, id).await?;
    let community = group.community_id;
    in_community(
        &state,
        &principal,
        community,
        Action::ManageDirectory,
        Deny::AsNotFound,
    )
    .await?;
    let role = text("role", &body.role, 30)?;
    let not_here = |field: &'static str| ApiError::InvalidField {
        field,
        message: "no such member in this community".to_owned(),
    };
    let member = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        match (body.staff_id, body.resident_id, body.organisation_id) {
            (Some(s), None, None) => {
                let found = staff::find_staff(&mut ex, StaffId(s)).await?;
                if found.is_none_or(|r| r.community_id != community) {
                    return Err(not_here("staff_id"));
                }
                Member::Staff(StaffId(s))
            }
            (None, Some(r), None) => {
                let found = residents::find_resident(&mut ex, ResidentId(r)).await?;
                if found.is_none_or(|r| r.community_id != community) {
                    return Err(not_here("resident_id"));
                }
                Member::Resident(ResidentId(r))
            }
            (None, None, Some(o)) => {
                let found = organisations::find_organisation(&mut ex, OrganisationId(o)).await?;
                if found.is_none_or(|r| r.community_id != community) {
                    return Err(not_here("organisation_id"));
                }
                Member::Organisation(OrganisationId(o))
            }
            _ => {
                return Err(ApiError::InvalidField {
                    field: "staff_id",
                    message: "give exactly one of staff_id, resident_id, organisation_id"
                        .to_owned(),
                });
            }
        }
    };
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    organisations::add_group_member(
        &mut tx.exec(),
        CommunityId(community),
        GridGroupId(id),
        member,
        &role,
        now,
    )
    .await?;
    audit::append(
        &mut tx.exec(),
        &audit_event(
            &principal,
            community,
            "grid_group_member_added",
            "grid_group",
            id,
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(group_view(&state, group).await?),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub grid_ids: Vec<Uuid>,
}

/// Co-governance zones (共治片区) and the grids each groups.
#[utoipa::path(get, path = "/api/v1/communities/{id}/zones", tag = "directory", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<ZoneView>)))]
pub async fn list_zones(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<ZoneView>>, ApiError> {
    in_community(
        &state,
        &principal,
        id,
        Action::ReadDirectory,
        Deny::AsForbidden,
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    let zones = grids_store::list_zones(&mut conn.exec(), CommunityId(id)).await?;
    Ok(axum::Json(whole(
        zones
            .into_iter()
            .map(|z| ZoneView {
                id: z.id,
                code: z.code,
                name: z.name,
                grid_ids: z.grid_ids,
            })
            .collect(),
    )))
}
