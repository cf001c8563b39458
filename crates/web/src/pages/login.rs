//! Sign-in (with the second-factor step), sign-out and the language switch.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use linli_domain::auth::Username;
use linli_domain::locale::Locale;
use serde::Deserialize;

use crate::auth::csrf::PRE_SESSION_COOKIE;
use crate::auth::login::{self, Credentials, IssuedSession, LoginOutcome};
use crate::auth::principal::{SESSION_COOKIE, SessionKind, cookie};
use crate::auth::tokens::new_csrf_token;
use crate::auth::{Principal, account};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::pages::{
    Chrome, LANG_COOKIE, PageForm, cookie_header, render_with_status, request_locale, safe_next,
};
use crate::state::AppState;

/// Holds the five-minute token between the password and the code.
const PENDING_COOKIE: &str = "linli_pending";

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub username: String,
    pub error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "login_totp.html")]
pub struct TotpPage {
    pub chrome: Chrome,
    pub error: Option<&'static str>,
}

/// The pre-session CSRF token: the request's, or a new one (then set as a cookie).
fn pre_session_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, PRE_SESSION_COOKIE).filter(|t| t.len() >= 16) {
        Some(token) => (token, false),
        None => (new_csrf_token(), true),
    }
}

fn with_pre_cookie(
    state: &AppState,
    mut response: Response,
    token: &str,
    is_new: bool,
) -> Response {
    if is_new {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(state, PRE_SESSION_COOKIE, token, 86_400, "Strict"),
        );
    }
    response
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    username: String,
    error: Option<&'static str>,
) -> Response {
    let (csrf, is_new) = pre_session_token(headers);
    let page = LoginPage {
        chrome: Chrome::public(request_locale(headers), csrf.clone(), "/login"),
        username,
        error,
    };
    with_pre_cookie(state, render_with_status(status, &page), &csrf, is_new)
}

pub async fn show_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Option<Principal>,
) -> Response {
    if principal.is_some() {
        return Redirect::to("/").into_response();
    }
    login_page(&state, &headers, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    #[allow(dead_code)]
    pub csrf: String,
}

/// Sets the session cookie and the language cookie, and goes home.
fn signed_in(state: &AppState, session: &IssuedSession) -> Response {
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    let max_age = SessionKind::Browser.absolute_lifetime().num_seconds();
    headers.append(
        header::SET_COOKIE,
        cookie_header(state, SESSION_COOKIE, &session.token, max_age, "Lax"),
    );
    headers.append(
        header::SET_COOKIE,
        cookie_header(state, LANG_COOKIE, &session.locale, 31_536_000, "Lax"),
    );
    headers.append(
        header::SET_COOKIE,
        cookie_header(state, PENDING_COOKIE, "", 0, "Strict"),
    );
    response
}

/// Maps a sign-in failure to the message shown on the form, or passes other errors on.
fn failure_message(error: ApiError) -> Result<(StatusCode, &'static str), ApiError> {
    match error {
        ApiError::InvalidCredentials | ApiError::InvalidField { .. } => {
            Ok((StatusCode::UNAUTHORIZED, "login.error.invalid"))
        }
        ApiError::InvalidTotp => Ok((StatusCode::UNAUTHORIZED, "login.error.totp")),
        ApiError::LoginThrottled { .. } => {
            Ok((StatusCode::TOO_MANY_REQUESTS, "login.error.throttled"))
        }
        other => Err(other),
    }
}

pub async fn submit_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, ApiError> {
    let t = Tr::new(request_locale(&headers));
    let outcome = match Username::parse(&form.username) {
        Ok(username) => {
            let credentials = Credentials {
                username: &username,
                password: &form.password,
                totp: None,
            };
            login::sign_in(&state, credentials, SessionKind::Browser).await
        }
        Err(_) => Err(ApiError::InvalidCredentials),
    };
    match outcome {
        Ok(LoginOutcome::SignedIn(session)) => Ok(signed_in(&state, &session)),
        Ok(LoginOutcome::NeedsTotp { pending_token }) => {
            let mut response = Redirect::to("/login/totp").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(&state, PENDING_COOKIE, &pending_token, 300, "Strict"),
            );
            Ok(response)
        }
        Err(error) => {
            let (status, key) = failure_message(error)?;
            let username: String = form.username.chars().take(Username::MAX_LEN).collect();
            Ok(login_page(
                &state,
                &headers,
                status,
                username,
                Some(t.t(key)),
            ))
        }
    }
}

pub async fn show_totp(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if cookie(&headers, PENDING_COOKIE).is_none() {
        return Redirect::to("/login").into_response();
    }
    let (csrf, is_new) = pre_session_token(&headers);
    let page = TotpPage {
        chrome: Chrome::public(request_locale(&headers), csrf.clone(), "/login/totp"),
        error: None,
    };
    with_pre_cookie(
        &state,
        render_with_status(StatusCode::OK, &page),
        &csrf,
        is_new,
    )
}

#[derive(Deserialize)]
pub struct TotpForm {
    pub code: String,
    #[allow(dead_code)]
    pub csrf: String,
}

pub async fn submit_totp(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<TotpForm>,
) -> Result<Response, ApiError> {
    let Some(pending) = cookie(&headers, PENDING_COOKIE).filter(|p| !p.is_empty()) else {
        return Ok(Redirect::to("/login").into_response());
    };
    match login::complete_totp(&state, &pending, &form.code).await {
        Ok(session) => Ok(signed_in(&state, &session)),
        Err(ApiError::SessionExpired) => Ok(Redirect::to("/login").into_response()),
        Err(error) => {
            let (status, key) = failure_message(error)?;
            let locale = request_locale(&headers);
            let (csrf, _) = pre_session_token(&headers);
            let page = TotpPage {
                chrome: Chrome::public(locale, csrf, "/login/totp"),
                error: Some(Tr::new(locale).t(key)),
            };
            Ok(render_with_status(status, &page))
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    principal: Option<Principal>,
) -> Result<Response, ApiError> {
    if let Some(principal) = principal {
        login::sign_out(&state, principal.account_id, &principal.token_hash).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, "", 0, "Lax"),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct LanguageForm {
    pub lang: String,
    #[serde(default)]
    pub next: String,
    #[allow(dead_code)]
    pub csrf: String,
}

/// Switches the language: remembered on the account when signed in, in a cookie always.
pub async fn switch_language(
    State(state): State<AppState>,
    principal: Option<Principal>,
    PageForm(form): PageForm<LanguageForm>,
) -> Result<Response, ApiError> {
    let locale = Locale::parse(&form.lang).ok_or(ApiError::InvalidField {
        field: "lang",
        message: "use zh-CN or en".to_owned(),
    })?;
    if let Some(principal) = principal {
        account::set_locale(&state, &principal, locale).await?;
    }
    let mut response = Redirect::to(safe_next(&form.next)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, LANG_COOKIE, locale.as_str(), 31_536_000, "Lax"),
    );
    Ok(response)
}
