//! `/api/v1/me`: the signed-in account, its roles and its own settings.

use axum::extract::State;
use axum::http::StatusCode;
use linli_domain::auth::GrantScope;
use linli_domain::locale::Locale;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::ApiJson;
use crate::auth::{Principal, account};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    /// `zh-CN` or `en`.
    pub locale: String,
    pub home_community_id: Option<Uuid>,
    pub totp_enabled: bool,
    /// A community requires a second factor: until enrolled, other endpoints answer 403.
    pub totp_enrolment_required: bool,
    pub roles: Vec<RoleView>,
}

/// One role and where it applies.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district_id: Option<Uuid>,
    /// Present for grid-scoped roles: the only grids the role reaches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid_ids: Option<Vec<Uuid>>,
}

pub fn role_views(principal: &Principal) -> Vec<RoleView> {
    principal
        .grants
        .iter()
        .map(|g| {
            let (community_id, district_id, grid_ids) = match &g.scope {
                GrantScope::Community { community_id } => (Some(community_id.0), None, None),
                GrantScope::Grids {
                    community_id,
                    grid_ids,
                } => (
                    Some(community_id.0),
                    None,
                    Some(grid_ids.iter().map(|g| g.0).collect()),
                ),
                GrantScope::District { district_id } => (None, Some(district_id.0), None),
            };
            RoleView {
                role: g.role.as_str().to_owned(),
                community_id,
                district_id,
                grid_ids,
            }
        })
        .collect()
}

/// The signed-in account with its roles and scopes.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = Problem)))]
pub async fn me(principal: Principal) -> axum::Json<MeResponse> {
    axum::Json(me_response(&principal))
}

pub fn me_response(principal: &Principal) -> MeResponse {
    MeResponse {
        id: principal.account_id.0,
        username: principal.username.clone(),
        display_name: principal.display_name.clone(),
        locale: principal.locale.as_str().to_owned(),
        home_community_id: principal.home_community.map(|c| c.0),
        totp_enabled: principal.totp_enabled,
        totp_enrolment_required: principal.must_enrol_totp,
        roles: role_views(principal),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocaleRequest {
    /// `zh-CN` or `en`.
    pub locale: String,
}

/// Remember the interface language for this account.
#[utoipa::path(put, path = "/api/v1/me/locale", tag = "me", security(("bearer" = [])), request_body = LocaleRequest,
    responses((status = 204), (status = 422, body = Problem)))]
pub async fn set_locale(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<LocaleRequest>,
) -> Result<StatusCode, ApiError> {
    let locale = Locale::parse(&body.locale).ok_or(ApiError::InvalidField {
        field: "locale",
        message: "use zh-CN or en".to_owned(),
    })?;
    account::set_locale(&state, &principal, locale).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Change the password. Every session and token of the account ends, this one included.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", security(("bearer" = [])), request_body = PasswordChangeRequest,
    responses((status = 204), (status = 422, body = Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    account::change_password(
        &state,
        &principal,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The `otpauth://` URL (what a QR code would carry).
    pub otpauth_url: String,
}

/// Start enrolling a TOTP second factor.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolment), (status = 409, body = Problem)))]
pub async fn start_totp(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<TotpEnrolment>, ApiError> {
    let pending = account::start_totp_enrolment(&state, &principal).await?;
    Ok(axum::Json(TotpEnrolment {
        secret: pending.secret_base32,
        otpauth_url: pending.otpauth_url,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    pub code: String,
}

/// Confirm enrolment with the first code the app shows.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "me", security(("bearer" = [])), request_body = TotpConfirmRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 409, body = Problem)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<TotpConfirmRequest>,
) -> Result<StatusCode, ApiError> {
    account::confirm_totp_enrolment(&state, &principal, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}
