//! Community-scoped resources of the foundation: the community itself, its grids, the
//! accounts holding roles in it and its audit log.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use linli_domain::auth::{Action, GrantScope, Role, Target};
use linli_domain::{AccountId, CommunityId, GridId};
use linli_store::audit::{self, AuditEntry, AuditEvent};
use linli_store::{auth as accounts, registry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::{ApiJson, ApiPath, ApiQuery, Page};
use crate::auth::login::revoke_everywhere;
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::context;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub subdistrict: String,
    pub district: String,
    pub time_zone: String,
    pub totp_required: bool,
}

/// A community with the names of its subdistrict and district.
#[utoipa::path(get, path = "/api/v1/communities/{id}", tag = "communities", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = CommunityView), (status = 404, body = Problem)))]
pub async fn get_community(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<CommunityView>, ApiError> {
    let (target, ctx) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    Ok(axum::Json(CommunityView {
        id: ctx.community_id,
        code: ctx.community_code,
        name: ctx.community_name,
        subdistrict: ctx.subdistrict_name,
        district: ctx.district_name,
        time_zone: ctx.time_zone,
        totp_required: ctx.totp_required,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GridView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub code: String,
    pub name: String,
    /// The grid's outline (GeoJSON Polygon or MultiPolygon), when drawn.
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<serde_json::Value>,
}

impl From<registry::GridRow> for GridView {
    fn from(g: registry::GridRow) -> Self {
        GridView {
            id: g.id,
            community_id: g.community_id,
            code: g.code,
            name: g.name,
            boundary: g.boundary.and_then(|b| serde_json::from_str(&b).ok()),
        }
    }
}

/// Draws (or, with `null`, clears) a grid's outline.
#[utoipa::path(put, path = "/api/v1/grids/{id}/boundary", tag = "communities", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Object,
    responses((status = 200, body = GridView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_boundary(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<axum::Json<GridView>, ApiError> {
    let grid = {
        let mut conn = state.db.acquire().await?;
        registry::find_grid(&mut conn.exec(), GridId(id))
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let (target, _) = community_target(&state, CommunityId(grid.community_id)).await?;
    principal
        .authorize(&state, Action::ManageDirectory, &target, Deny::AsNotFound)
        .await?;
    let boundary = if body.is_null() {
        None
    } else {
        Some(
            linli_domain::registry::Boundary::parse(&body)
                .map_err(|e| ApiError::rule("boundary", e))?,
        )
    };
    let mut tx = state.db.begin().await?;
    registry::set_boundary(
        &mut tx.exec(),
        CommunityId(grid.community_id),
        GridId(id),
        boundary.as_ref().map(|b| b.as_json()),
    )
    .await?;
    audit::append(
        &mut tx.exec(),
        &principal.success_event(
            CommunityId(grid.community_id),
            "grid_boundary_set",
            "grid",
            id,
            serde_json::json!({ "cleared": boundary.is_none() }),
        ),
        Utc::now(),
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    let grid = registry::find_grid(&mut conn.exec(), GridId(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(grid.into()))
}

/// The community's grids; a grid worker sees only the grids assigned to them.
#[utoipa::path(get, path = "/api/v1/communities/{id}/grids", tag = "communities", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<GridView>), (status = 403, body = Problem)))]
pub async fn list_grids(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<GridView>>, ApiError> {
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    let filter = principal
        .authorize(&state, Action::ListGrids, &target, Deny::AsForbidden)
        .await?;
    let mut conn = state.db.acquire().await?;
    let grids = registry::list_grids(&mut conn.exec(), CommunityId(id), &filter).await?;
    Ok(axum::Json(Page::whole(
        grids.into_iter().map(GridView::from).collect(),
    )))
}

/// One grid. A grid outside the caller's reach is answered exactly like a missing one.
#[utoipa::path(get, path = "/api/v1/grids/{id}", tag = "communities", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = GridView), (status = 404, body = Problem)))]
pub async fn get_grid(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<GridView>, ApiError> {
    let grid = {
        let mut conn = state.db.acquire().await?;
        registry::find_grid(&mut conn.exec(), GridId(id))
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let (community_target, _) = community_target(&state, CommunityId(grid.community_id)).await?;
    let target = Target {
        grid_id: Some(GridId(grid.id)),
        ..community_target
    };
    principal
        .authorize(&state, Action::ReadGrid, &target, Deny::AsNotFound)
        .await?;
    Ok(axum::Json(grid.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub disabled: bool,
    pub totp_enabled: bool,
    /// The roles held in this community.
    pub roles: Vec<String>,
}

/// Accounts holding a role in the community.
#[utoipa::path(get, path = "/api/v1/communities/{id}/accounts", tag = "communities", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<AccountView>), (status = 403, body = Problem)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<AccountView>>, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::ListAccounts, &target, Deny::AsForbidden)
        .await?;
    let items = account_views(&state, community).await?;
    Ok(axum::Json(Page::whole(items)))
}

pub async fn account_views(
    state: &AppState,
    community: CommunityId,
) -> Result<Vec<AccountView>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let rows = accounts::list_accounts_in_community(&mut ex, community).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(account_view(&mut ex, row, community).await?);
    }
    Ok(items)
}

/// One account as the community sees it: its roles there, not elsewhere.
async fn account_view(
    ex: &mut linli_store::Exec<'_>,
    row: accounts::AccountRow,
    community: CommunityId,
) -> Result<AccountView, ApiError> {
    let grants = accounts::grants_of(ex, row.account_id()).await?;
    let roles = grants
        .grants
        .iter()
        .filter(|g| grant_community(g) == Some(community))
        .map(|g| g.role.as_str().to_owned())
        .collect();
    Ok(AccountView {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        disabled: row.disabled_at.is_some(),
        totp_enabled: row.totp_enabled,
        roles,
    })
}

fn grant_community(grant: &linli_domain::auth::Grant) -> Option<CommunityId> {
    use linli_domain::auth::GrantScope;
    match grant.scope {
        GrantScope::Community { community_id } | GrantScope::Grids { community_id, .. } => {
            Some(community_id)
        }
        GrantScope::District { .. } => None,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignment {
    /// A community role, e.g. `grid_worker`, `community_staff`, `resident`.
    pub role: String,
    /// Grid ids, for `grid_worker` only (and required for it).
    #[serde(default)]
    pub grids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// The complete set of roles the account should hold in this community.
    pub roles: Vec<RoleAssignment>,
}

/// Does the account belong to the community (holds a role there or lives there)?
async fn member_of(
    state: &AppState,
    community: CommunityId,
    account: AccountId,
) -> Result<accounts::AccountRow, ApiError> {
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let row = accounts::find_account(&mut ex, account)
        .await?
        .ok_or(ApiError::NotFound)?;
    let grants = accounts::grants_of(&mut ex, account).await?;
    let member = row.home_community_id == Some(community.0)
        || grants
            .grants
            .iter()
            .any(|g| grant_community(g) == Some(community));
    if member {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Replace the roles an account holds in the community. Its sessions and tokens end, so
/// the new roles apply from its next sign-in.
#[utoipa::path(put, path = "/api/v1/communities/{id}/accounts/{account_id}/roles", tag = "communities",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("account_id" = Uuid, Path)), request_body = SetRolesRequest,
    responses((status = 200, body = AccountView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_roles(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, account_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<SetRolesRequest>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::ChangeRoles, &target, Deny::AsNotFound)
        .await?;
    let account = member_of(&state, community, AccountId(account_id)).await?;
    if account.id == principal.account_id.0 {
        return Err(ApiError::Conflict {
            code: "cannot_change_own_roles",
            message: "ask another administrator to change your own roles".to_owned(),
        });
    }
    let wanted = parse_assignments(&state, community, &body.roles).await?;

    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    let before: Vec<Role> = accounts::grants_of(&mut ex, account.account_id())
        .await?
        .grants
        .iter()
        .filter(|g| grant_community(g) == Some(community))
        .map(|g| g.role)
        .collect();
    // Separation of duties: whoever administers accounts does not also appoint the people
    // who audit them. Only a district administrator grants or withdraws the auditor role.
    let auditor_changes =
        before.contains(&Role::Auditor) != wanted.iter().any(|(r, _)| *r == Role::Auditor);
    if auditor_changes && !principal.district_ids().contains(&target.district_id) {
        return Err(ApiError::Forbidden);
    }
    for role in &before {
        if !wanted.iter().any(|(r, _)| r == role) {
            accounts::revoke_role(&mut ex, community, account.account_id(), *role).await?;
        }
    }
    for (role, grids) in &wanted {
        accounts::grant_role(&mut ex, community, account.account_id(), *role, grids, now).await?;
    }
    let event = AuditEvent {
        community: Some(community),
        actor: Some(principal.account_id.0),
        actor_ip: context::client_ip(),
        request_id: context::request_id(),
        action: "roles_changed".to_owned(),
        object_type: "account".to_owned(),
        object_id: Some(account.id.to_string()),
        outcome: "success".to_owned(),
        detail: serde_json::json!({
            "before": before.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "after": wanted.iter().map(|(r, g)| serde_json::json!({"role": r.as_str(), "grids": g})).collect::<Vec<_>>(),
        }),
    };
    audit::append(&mut ex, &event, now).await?;
    revoke_everywhere(
        &mut ex,
        &account,
        Some(principal.account_id),
        "roles_changed",
        now,
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_account(account.id);

    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let row = accounts::find_account(&mut ex, account.account_id())
        .await?
        .ok_or(ApiError::NotFound)?;
    let view = account_view(&mut ex, row, community).await?;
    Ok(axum::Json(view))
}

const MAX_ROLES: usize = Role::ALL.len();

/// Validates a role list: known community roles, each once, grids only (and always) for
/// grid workers, and only grids of this community.
async fn parse_assignments(
    state: &AppState,
    community: CommunityId,
    assignments: &[RoleAssignment],
) -> Result<Vec<(Role, Vec<GridId>)>, ApiError> {
    let invalid = |message: String| ApiError::InvalidField {
        field: "roles",
        message,
    };
    if assignments.len() > MAX_ROLES {
        return Err(invalid(format!("at most {MAX_ROLES} roles")));
    }
    let mut out: Vec<(Role, Vec<GridId>)> = Vec::new();
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    for a in assignments {
        let role = Role::parse(&a.role)?;
        if role.is_district_wide() {
            return Err(invalid(
                "district_admin is granted per district with `linli user add`, not per community"
                    .to_owned(),
            ));
        }
        if out.iter().any(|(r, _)| *r == role) {
            return Err(invalid(format!("{role} is listed twice")));
        }
        if role.is_grid_scoped() == a.grids.is_empty() {
            return Err(linli_domain::auth::AuthRuleError::GridScopeMismatch.into());
        }
        let mut grids = Vec::new();
        for id in &a.grids {
            match registry::find_grid(&mut ex, GridId(*id)).await? {
                Some(g) if g.community_id == community.0 => grids.push(GridId(g.id)),
                _ => {
                    return Err(invalid(format!(
                        "grid {id} is not a grid of this community"
                    )));
                }
            }
        }
        out.push((role, grids));
    }
    Ok(out)
}

/// Disable an account: it can no longer sign in and every session and token ends.
#[utoipa::path(post, path = "/api/v1/communities/{id}/accounts/{account_id}/disable", tag = "communities",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("account_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn disable_account(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, account_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::DisableAccount, &target, Deny::AsNotFound)
        .await?;
    let account = member_of(&state, community, AccountId(account_id)).await?;
    if spans_other_communities(&state, &principal, &target, account.account_id()).await? {
        return Err(ApiError::Conflict {
            code: "account_spans_communities",
            message: "the account holds roles beyond your reach; ask a district administrator"
                .to_owned(),
        });
    }
    if account.id == principal.account_id.0 {
        return Err(ApiError::Conflict {
            code: "cannot_disable_self",
            message: "you cannot disable your own account".to_owned(),
        });
    }
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    accounts::set_disabled(&mut ex, account.account_id(), Some(now)).await?;
    let event = principal.success_event(
        community,
        "account_disabled",
        "account",
        account.id,
        serde_json::json!({}),
    );
    audit::append(&mut ex, &event, now).await?;
    revoke_everywhere(
        &mut ex,
        &account,
        Some(principal.account_id),
        "account_disabled",
        now,
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_account(account.id);
    Ok(StatusCode::NO_CONTENT)
}

/// Disabling ends every role of an account. A community administrator may do that only
/// to accounts whose roles all lie in communities they administer.
async fn spans_other_communities(
    state: &AppState,
    principal: &Principal,
    target: &Target,
    account: AccountId,
) -> Result<bool, ApiError> {
    let grants = {
        let mut conn = state.db.acquire().await?;
        accounts::grants_of(&mut conn.exec(), account).await?
    };
    let district_admin_here = principal.district_ids().contains(&target.district_id);
    for grant in &grants.grants {
        match grant.scope {
            // Another district administrator: only a district administrator of that same
            // district reaches them.
            GrantScope::District { district_id } => {
                if !principal.district_ids().contains(&district_id) {
                    return Ok(true);
                }
            }
            // Auditors are appointed by the district; a community admin cannot remove one.
            _ if grant.role == Role::Auditor && !district_admin_here => return Ok(true),
            GrantScope::Community { community_id } | GrantScope::Grids { community_id, .. } => {
                if community_id == target.community_id {
                    continue;
                }
                let (other, _) = community_target(state, community_id).await?;
                if !principal.can(Action::DisableAccount, &other) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// How many of the newest entries (1–200, default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_account_id: Option<Uuid>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        AuditEntryView {
            seq: e.seq,
            at: e.at,
            actor_account_id: e.actor_account_id,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            outcome: e.outcome,
            request_id: e.request_id,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The newest audit entries of the community (auditors only: separation of duties).
#[utoipa::path(get, path = "/api/v1/communities/{id}/audit", tag = "communities", security(("bearer" = [])),
    params(("id" = Uuid, Path), AuditQuery), responses((status = 200, body = Page<AuditEntryView>), (status = 403, body = Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<axum::Json<Page<AuditEntryView>>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            message: "limit must be between 1 and 200".to_owned(),
        });
    }
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadAudit, &target, Deny::AsForbidden)
        .await?;
    let mut conn = state.db.acquire().await?;
    let entries = audit::recent(&mut conn.exec(), id, u64::from(limit)).await?;
    Ok(axum::Json(Page::whole(
        entries.into_iter().map(AuditEntryView::from).collect(),
    )))
}
