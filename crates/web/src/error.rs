//! Every failure a client can see, mapped once to an HTTP status and a stable machine
//! `code` (clients translate codes, not strings). Rendered as `application/problem+json`
//! (RFC 9457) for the API and as an error page for browsers.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use linli_store::StoreError;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

use crate::context;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON")]
    MalformedJson(String),
    #[error("the request body has a field this endpoint does not take")]
    UnknownField(String),
    #[error("the request body is missing a required field")]
    MissingField(String),
    #[error("a field of the request body has the wrong type or value")]
    InvalidType(String),
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("the request could not be read")]
    BadRequest(String),
    #[error("{message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// A value broke a domain rule; `code` names the rule (e.g. `id_number_checksum`).
    #[error("{message}")]
    Rule {
        field: &'static str,
        code: &'static str,
        message: String,
    },
    #[error("the record changed since you read it; reload and try again")]
    StaleVersion,
    #[error("send If-Match with the version you read")]
    VersionRequired,
    #[error("sign in first")]
    Unauthenticated,
    #[error("your session has ended; sign in again")]
    SessionExpired,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("enter the code from your authenticator app")]
    TotpRequired,
    #[error("that code is wrong or was already used")]
    InvalidTotp,
    #[error("too many failed sign-ins; try again later")]
    LoginThrottled { retry_after: Duration },
    #[error("the form has expired or did not come from this site; reload the page and try again")]
    CsrfFailed,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("this community requires a second factor; enrol one first")]
    TotpEnrolmentRequired,
    #[error("not found")]
    NotFound,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A workflow step that the matter's current state does not allow.
    #[error("{message}")]
    IllegalTransition {
        message: String,
        status: &'static str,
    },
    #[error("the request took too long")]
    Timeout,
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:linli:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `illegal_transition`: the state the matter is in now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// Quote this when reporting a problem: it finds the request in the server log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MalformedJson(_) | BadRequest(_) => StatusCode::BAD_REQUEST,
            UnknownField(_)
            | MissingField(_)
            | InvalidType(_)
            | InvalidField { .. }
            | Rule { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Unauthenticated | SessionExpired | InvalidCredentials | TotpRequired | InvalidTotp => {
                StatusCode::UNAUTHORIZED
            }
            LoginThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            CsrfFailed | Forbidden | TotpEnrolmentRequired => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            StaleVersion => StatusCode::PRECONDITION_FAILED,
            VersionRequired => StatusCode::PRECONDITION_REQUIRED,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict { .. } | IllegalTransition { .. } => StatusCode::CONFLICT,
            Timeout | Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            MalformedJson(_) => "malformed_json",
            UnknownField(_) => "unknown_field",
            MissingField(_) => "missing_field",
            InvalidType(_) => "invalid_type",
            UnsupportedMediaType => "unsupported_media_type",
            PayloadTooLarge => "payload_too_large",
            BadRequest(_) => "bad_request",
            InvalidField { .. } => "invalid_field",
            Rule { code, .. } => code,
            StaleVersion => "stale_version",
            VersionRequired => "version_required",
            Unauthenticated => "unauthenticated",
            SessionExpired => "session_expired",
            InvalidCredentials => "invalid_credentials",
            TotpRequired => "totp_required",
            InvalidTotp => "invalid_totp",
            LoginThrottled { .. } => "login_throttled",
            CsrfFailed => "csrf_failed",
            Forbidden => "forbidden",
            TotpEnrolmentRequired => "totp_enrolment_required",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict { code, .. } => code,
            IllegalTransition { .. } => "illegal_transition",
            Timeout => "request_timeout",
            Unavailable => "service_unavailable",
            Internal(_) => "internal_error",
        }
    }

    /// The problem body. Internal errors say nothing about their cause: that goes to the log.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (detail, field) = match self {
            ApiError::InvalidField { field, message } | ApiError::Rule { field, message, .. } => {
                (Some(message.clone()), Some((*field).to_owned()))
            }
            ApiError::IllegalTransition { message, .. } => (Some(message.clone()), None),
            ApiError::MalformedJson(d)
            | ApiError::UnknownField(d)
            | ApiError::MissingField(d)
            | ApiError::InvalidType(d)
            | ApiError::BadRequest(d) => (Some(d.clone()), None),
            _ => (None, None),
        };
        Problem {
            type_uri: format!("urn:linli:problem:{}", self.code()),
            title: match self {
                ApiError::Internal(_) => "internal error".to_owned(),
                other => other.to_string(),
            },
            status: status.as_u16(),
            code: self.code().to_owned(),
            detail,
            field,
            current_status: match self {
                ApiError::IllegalTransition { status, .. } => Some((*status).to_owned()),
                _ => None,
            },
            request_id: context::request_id(),
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(error.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::Unavailable,
            StoreError::Conflict(_) => ApiError::Conflict {
                code: "already_exists",
                message: "a record with the same key already exists".to_owned(),
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<linli_domain::auth::AuthRuleError> for ApiError {
    fn from(error: linli_domain::auth::AuthRuleError) -> Self {
        use linli_domain::auth::AuthRuleError as E;
        let field = match error {
            E::UnknownRole(_) | E::GridScopeMismatch => "roles",
            E::InvalidUsername => "username",
            _ => "password",
        };
        ApiError::InvalidField {
            field,
            message: error.to_string(),
        }
    }
}

impl ApiError {
    /// A registry rule broken by the value of `field`.
    pub fn rule(field: &'static str, error: linli_domain::registry::RegistryRuleError) -> ApiError {
        ApiError::Rule {
            field,
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// Writes the problem as `application/problem+json`, logging internal errors with their cause.
pub fn problem_response(error: &ApiError) -> Response {
    if let ApiError::Internal(cause) = error {
        tracing::error!(error = format!("{cause:#}"), "internal error");
    }
    let problem = error.problem();
    let mut response = (
        error.status(),
        serde_json::to_string(&problem).unwrap_or_default(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    match error {
        ApiError::Unavailable | ApiError::Timeout => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(RETRY_AFTER_UNAVAILABLE),
            );
        }
        ApiError::LoginThrottled { retry_after } => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        _ => {}
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem_response(&self)
    }
}
