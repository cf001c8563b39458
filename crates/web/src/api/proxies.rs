//! Proxies over JSON: a family member or building head acting on an elderly resident's
//! points for them — recorded with the resident's consent, revocable, audited.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Utc};
use linli_domain::auth::{Action, GrantScope};
use linli_domain::{AccountId, CommunityId, ResidentId};
use linli_store::StoreError;
use linli_store::points::proxies::{self, NewProxy, ProxyRow};
use linli_store::registry::residents;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::residents::reachable_resident;
use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Who counts as elderly for a proxy (老年人权益保障法: 60 and over).
pub const ELDERLY_FROM_AGE: i32 = 60;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProxyView {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub proxy_account_id: Uuid,
    /// `family` or `building_head`.
    pub relation: String,
    /// How the resident's consent was given (a signed form, in person…).
    pub consent_evidence: String,
    pub granted_by: Uuid,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

impl From<ProxyRow> for ProxyView {
    fn from(r: ProxyRow) -> Self {
        ProxyView {
            id: r.id,
            resident_id: r.resident_id,
            proxy_account_id: r.proxy_account_id,
            relation: r.relation,
            consent_evidence: r.consent_evidence,
            granted_by: r.granted_by,
            granted_at: r.granted_at,
            revoked_at: r.revoked_at,
            revoke_reason: r.revoke_reason,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProxyRequest {
    /// The elderly resident.
    pub resident_id: Uuid,
    /// The account that will act for them (it must hold a role in the community).
    pub proxy_account_id: Uuid,
    /// `family` or `building_head`.
    pub relation: String,
    /// How the resident consented: "本人签署授权书", "本人到场口头同意，网格员见证"… (4 to 200
    /// characters).
    pub consent_evidence: String,
}

/// Records that an elderly resident lets someone act on their points for them.
#[utoipa::path(post, path = "/api/v1/points/proxies", tag = "points", security(("bearer" = [])),
    request_body = NewProxyRequest,
    responses((status = 201, body = ProxyView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn grant(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewProxyRequest>,
) -> Result<(StatusCode, axum::Json<ProxyView>), ApiError> {
    let resident = reachable_resident(
        &state,
        &principal,
        ResidentId(body.resident_id),
        Action::ManagePointsProxies,
    )
    .await?;
    let community = CommunityId(resident.community_id);
    let relation = match body.relation.as_str() {
        "family" => "family",
        "building_head" => "building_head",
        _ => {
            return Err(ApiError::InvalidField {
                field: "relation",
                message: "relation is `family` or `building_head`".to_owned(),
            });
        }
    };
    let evidence = crate::api::residents::check_reason(&body.consent_evidence).map_err(|_| {
        ApiError::Rule {
            field: "consent_evidence",
            code: "consent_required",
            message: "say how the resident consented (4 to 200 characters)".to_owned(),
        }
    })?;
    if let Some(born) = resident.birth_date {
        let today = Utc::now().date_naive();
        let mut age = today.year() - born.year();
        if (today.month(), today.day()) < (born.month(), born.day()) {
            age -= 1;
        }
        if age < ELDERLY_FROM_AGE {
            return Err(ApiError::Rule {
                field: "resident_id",
                code: "not_elderly",
                message: format!("proxies are for residents aged {ELDERLY_FROM_AGE} and over"),
            });
        }
    }
    let proxy = AccountId(body.proxy_account_id);
    if resident.account_id == Some(proxy.0) {
        return Err(ApiError::Rule {
            field: "proxy_account_id",
            code: "own_proxy",
            message: "a resident does not need a proxy for themselves".to_owned(),
        });
    }
    let in_community = {
        let mut conn = state.db.acquire().await?;
        linli_store::auth::grants_of(&mut conn.exec(), proxy)
            .await?
            .grants
            .iter()
            .any(|g| match &g.scope {
                GrantScope::Community { community_id } | GrantScope::Grids { community_id, .. } => {
                    *community_id == community
                }
                GrantScope::District { .. } => false,
            })
    };
    if !in_community {
        return Err(ApiError::Rule {
            field: "proxy_account_id",
            code: "proxy_not_in_community",
            message: "the proxy must hold a role in this community".to_owned(),
        });
    }
    let event = principal.success_event(
        community,
        "points_proxy_granted",
        "points_proxy",
        Uuid::nil(),
        serde_json::json!({ "resident_id": resident.id, "proxy_account_id": proxy.0, "relation": relation }),
    );
    let row = proxies::grant(
        &state.db,
        &NewProxy {
            community,
            resident: ResidentId(resident.id),
            proxy,
            relation,
            consent_evidence: evidence,
            granted_by: principal.account_id,
        },
        &event,
        Utc::now(),
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict {
            code: "proxy_exists",
            message: "this account already acts for this resident".to_owned(),
        },
        e => e.into(),
    })?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why (4 to 200 characters); kept in the audit log.
    pub reason: String,
}

/// Ends a proxy: staff who keep proxies, the resident, or the proxy themselves.
#[utoipa::path(post, path = "/api/v1/points/proxies/{id}/revoke", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RevokeRequest,
    responses((status = 200, body = ProxyView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<axum::Json<ProxyView>, ApiError> {
    let reason = crate::api::residents::check_reason(&body.reason)?;
    let row = {
        let mut conn = state.db.acquire().await?;
        proxies::find(&mut conn.exec(), id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let community = CommunityId(row.community_id);
    let is_proxy = row.proxy_account_id == principal.account_id.0;
    let is_resident = {
        let mut conn = state.db.acquire().await?;
        residents::find_resident(&mut conn.exec(), ResidentId(row.resident_id))
            .await?
            .is_some_and(|r| r.account_id == Some(principal.account_id.0))
    };
    if !is_proxy && !is_resident {
        reachable_resident(
            &state,
            &principal,
            ResidentId(row.resident_id),
            Action::ManagePointsProxies,
        )
        .await?;
    }
    let event = principal.success_event(
        community,
        "points_proxy_revoked",
        "points_proxy",
        row.id,
        serde_json::json!({ "resident_id": row.resident_id, "reason": reason }),
    );
    if !proxies::revoke(
        &state.db,
        id,
        principal.account_id,
        &reason,
        &event,
        Utc::now(),
    )
    .await?
    {
        return Err(ApiError::Conflict {
            code: "proxy_revoked",
            message: "this proxy has already ended".to_owned(),
        });
    }
    let mut conn = state.db.acquire().await?;
    let row = proxies::find(&mut conn.exec(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(row.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProxyQuery {
    pub resident_id: Uuid,
}

/// A resident's proxies, standing and ended (staff who keep proxies; the resident).
#[utoipa::path(get, path = "/api/v1/points/proxies", tag = "points", security(("bearer" = [])),
    params(ProxyQuery),
    responses((status = 200, body = [ProxyView]), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ProxyQuery>,
) -> Result<axum::Json<Vec<ProxyView>>, ApiError> {
    let own = {
        let mut conn = state.db.acquire().await?;
        residents::find_resident(&mut conn.exec(), ResidentId(query.resident_id))
            .await?
            .filter(|r| r.account_id == Some(principal.account_id.0))
    };
    let resident = match own {
        Some(r) => r,
        None => {
            reachable_resident(
                &state,
                &principal,
                ResidentId(query.resident_id),
                Action::ManagePointsProxies,
            )
            .await?
        }
    };
    let mut conn = state.db.acquire().await?;
    let rows = proxies::of_resident(
        &mut conn.exec(),
        CommunityId(resident.community_id),
        resident.id,
    )
    .await?;
    Ok(axum::Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActingForView {
    pub proxy_id: Uuid,
    pub resident_id: Uuid,
    pub name: String,
    pub relation: String,
    pub balance: i64,
}

/// Whom the signed-in account may act for, with their balances.
#[utoipa::path(get, path = "/api/v1/me/proxies", tag = "points", security(("bearer" = [])),
    responses((status = 200, body = [ActingForView])))]
pub async fn acting_for(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<Vec<ActingForView>>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let mut out = Vec::new();
    for grant in proxies::held_by(&mut ex, principal.account_id).await? {
        let Some(resident) =
            residents::find_resident(&mut ex, ResidentId(grant.resident_id)).await?
        else {
            continue;
        };
        let history = linli_store::points::accounts::history(
            &mut ex,
            CommunityId(grant.community_id),
            grant.resident_id,
            None,
            1,
        )
        .await?;
        out.push(ActingForView {
            proxy_id: grant.id,
            resident_id: grant.resident_id,
            name: resident.name,
            relation: grant.relation,
            balance: history.balance,
        });
    }
    Ok(axum::Json(out))
}

/// The standing proxy letting the principal act for `resident`, if any.
pub async fn standing_proxy(
    state: &AppState,
    principal: &Principal,
    community: CommunityId,
    resident: Uuid,
) -> Result<Option<ProxyRow>, ApiError> {
    let mut conn = state.db.acquire().await?;
    Ok(proxies::standing(&mut conn.exec(), community, resident, principal.account_id).await?)
}
