//! `POST /api/v1/auth/login` and `/logout`: bearer tokens for API clients.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use linli_domain::auth::Username;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ApiJson;
use crate::auth::Principal;
use crate::auth::login::{self, Credentials, LoginOutcome};
use crate::auth::principal::SessionKind;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The current code from the authenticator app, once a second factor is enrolled.
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: DateTime<Utc>,
    pub account_id: uuid::Uuid,
}

/// The longest password the login endpoint will hash (the policy allows 128 characters).
const MAX_PASSWORD_CHARS: usize = 128;

/// Sign in and receive a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "invalid_credentials, totp_required or invalid_totp", body = Problem),
        (status = 422, description = "a field is malformed", body = Problem),
        (status = 429, description = "login_throttled", body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let username = Username::parse(&body.username)?;
    if body.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::InvalidField {
            field: "password",
            message: format!("password must be at most {MAX_PASSWORD_CHARS} characters"),
        });
    }
    let credentials = Credentials {
        username: &username,
        password: &body.password,
        totp: body.totp.as_deref(),
    };
    match login::sign_in(&state, credentials, SessionKind::Api).await? {
        LoginOutcome::SignedIn(session) => Ok(axum::Json(LoginResponse {
            token: session.token,
            token_type: "Bearer",
            expires_at: session.expires_at,
            account_id: session.account_id.0,
        })),
        LoginOutcome::NeedsTotp { .. } => Err(ApiError::TotpRequired),
    }
}

/// Revoke the token this request carries.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    login::sign_out(&state, principal.account_id, &principal.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}
