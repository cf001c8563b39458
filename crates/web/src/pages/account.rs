//! The account's own security page: second factor and password.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::principal::community_target;
use crate::auth::{Principal, account};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::pages::{Chrome, PageForm, SignedIn, render_with_status};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    pub chrome: Chrome,
    pub totp_enabled: bool,
    pub must_enrol_totp: bool,
    /// While enrolling: the key in base32, the otpauth URL and its QR code as SVG.
    pub enrolment: Option<(String, String, String)>,
    pub message: Option<&'static str>,
    pub error: Option<String>,
}

async fn page(state: &AppState, principal: &Principal) -> Result<SecurityPage, ApiError> {
    let (target, name) = match principal.default_community() {
        Some(id) => {
            let (target, ctx) = community_target(state, id).await?;
            (Some(target), Some(ctx.community_name))
        }
        None => (None, None),
    };
    Ok(SecurityPage {
        chrome: Chrome::signed_in(principal, target.as_ref(), name, "/settings/security"),
        totp_enabled: principal.totp_enabled,
        must_enrol_totp: principal.must_enrol_totp,
        enrolment: None,
        message: None,
        error: None,
    })
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    Ok(render_with_status(
        StatusCode::OK,
        &page(&state, &principal).await?,
    ))
}

pub async fn start_totp(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let pending = account::start_totp_enrolment(&state, &principal).await?;
    let mut p = page(&state, &principal).await?;
    let qr = crate::auth::totp::qr_svg(&pending.otpauth_url).unwrap_or_default();
    p.enrolment = Some((pending.secret_base32, pending.otpauth_url, qr));
    Ok(render_with_status(StatusCode::OK, &p))
}

#[derive(Deserialize)]
pub struct CodeForm {
    pub code: String,
    #[allow(dead_code)]
    pub csrf: String,
}

pub async fn confirm_totp(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, ApiError> {
    let t = Tr::new(principal.locale);
    match account::confirm_totp_enrolment(&state, &principal, &form.code).await {
        Ok(()) => {
            let mut p = page(&state, &principal).await?;
            p.totp_enabled = true;
            p.must_enrol_totp = false;
            p.message = Some(t.t("security.totp.done"));
            Ok(render_with_status(StatusCode::OK, &p))
        }
        Err(ApiError::InvalidTotp) => {
            let mut p = page(&state, &principal).await?;
            p.error = Some(t.t("security.totp.wrong").to_owned());
            Ok(render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    pub current_password: String,
    pub new_password: String,
    #[allow(dead_code)]
    pub csrf: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, ApiError> {
    match account::change_password(
        &state,
        &principal,
        &form.current_password,
        &form.new_password,
    )
    .await
    {
        // Every session ended, this one too: sign in again with the new password.
        Ok(()) => Ok(Redirect::to("/login").into_response()),
        Err(ApiError::InvalidField { field, .. }) => {
            let t = Tr::new(principal.locale);
            let mut p = page(&state, &principal).await?;
            p.error = Some(
                t.t(password_error_key(field, &principal, &form.new_password))
                    .to_owned(),
            );
            Ok(render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(other) => Err(other),
    }
}

/// The message key for a refused password change, in the reader's language.
fn password_error_key(field: &str, principal: &Principal, new_password: &str) -> &'static str {
    use linli_domain::auth::{AuthRuleError, NewPassword, Username};
    if field == "current_password" {
        return "security.password.error.current";
    }
    let rule =
        Username::parse(&principal.username).and_then(|u| NewPassword::parse(new_password, &u));
    match rule {
        Err(AuthRuleError::PasswordTooShort { .. }) => "security.password.error.short",
        Err(AuthRuleError::PasswordTooLong { .. }) => "security.password.error.long",
        Err(AuthRuleError::PasswordTooCommon) => "security.password.error.common",
        Err(AuthRuleError::PasswordIsUsername) => "security.password.error.username",
        _ => "security.password.error.generic",
    }
}
