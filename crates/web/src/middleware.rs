//! The layer every request passes through: request id and client address, one log line
//! and metrics per request, the time limit, security headers, and the final shape of
//! errors (problem+json for clients, an error page for browsers).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::to_bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::context::{self, RequestContext};
use crate::error::ApiError;
use crate::pages;
use crate::state::AppState;

/// The peer address of the connection, set by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

pub const REQUEST_ID_HEADER: &str = "x-request-id";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Accepts a caller's request id if it is short and plain, else makes one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
}

fn client_ip(state: &AppState, request: &Request) -> Option<String> {
    // Behind our own reverse proxy the last X-Forwarded-For entry is the one the proxy
    // added; everything left of it came from the client and can be forged.
    if state.settings.trust_proxy
        && let Some(forwarded) = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        && let Some(last) = forwarded.rsplit(',').next()
        && let Ok(ip) = last.trim().parse::<std::net::IpAddr>()
    {
        return Some(ip.to_string());
    }
    request
        .extensions()
        .get::<ClientAddr>()
        .map(|a| a.0.ip().to_string())
}

/// Browsers get pages, everything else gets problem+json.
fn wants_html(path: &str, headers: &HeaderMap) -> bool {
    let api = path.starts_with("/api/") || path.starts_with("/open311/") || path == "/metrics";
    !api && headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// Errors produced below our handlers (unknown method, body limit) arrive bare: give them
/// the same problem shape as ours.
fn problem_for_bare_error(status: StatusCode) -> Option<ApiError> {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => Some(ApiError::MethodNotAllowed),
        StatusCode::PAYLOAD_TOO_LARGE => Some(ApiError::PayloadTooLarge),
        StatusCode::NOT_FOUND => Some(ApiError::NotFound),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Some(ApiError::UnsupportedMediaType),
        s if s.is_client_error() => Some(ApiError::BadRequest(
            "the request could not be processed".to_owned(),
        )),
        s if s.is_server_error() => Some(ApiError::internal(anyhow::anyhow!(
            "bare {s} from a lower layer"
        ))),
        _ => None,
    }
}

pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    let ip = client_ip(&state, &request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let html = wants_html(&path, request.headers());
    // Only browsers get error pages, so only they need the language worked out.
    let locale = html.then(|| pages::request_locale(request.headers()));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let ctx = RequestContext {
        request_id: id.clone(),
        client_ip: ip,
    };
    let timeout = state.settings.request_timeout;
    let run = context::scope(
        ctx.clone(),
        tokio::time::timeout(timeout, next.run(request)),
    );
    let mut response = match run.instrument(span.clone()).await {
        Ok(response) => response,
        Err(_) => context::scope(ctx.clone(), async { ApiError::Timeout.into_response() }).await,
    };
    if !method.is_safe() {
        // Whatever it changed has committed by now (or failed): no list answer read
        // before it may be served after it.
        state.matter_lists.written();
    }

    let status = response.status();
    if !is_problem(&response)
        && response.headers().get(header::CONTENT_TYPE).is_none()
        && let Some(error) = problem_for_bare_error(status)
    {
        response = context::scope(ctx.clone(), async move { error.into_response() }).await;
    }
    if let Some(locale) = locale
        && is_problem(&response)
    {
        response = render_problem_page(response, locale).await;
    }
    secure_headers(response.headers_mut(), &id);

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let labels = [
        ("method", method_label(&method).to_owned()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    log_served(&span, status, elapsed);
    response
}

/// Methods outside the standard set share one label, so clients cannot create new
/// metric series (and memory) at will.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Requests slower than this are logged as warnings whatever their status.
const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// One line per request. Successful ones are logged at debug level (the metrics count
/// them; formatting a line for each costs a fifth of the throughput), so the default log
/// holds what needs a look: client errors, server errors and slow requests. For a full
/// access log run with `LINLI_LOG=info,linli_web::middleware=debug`.
fn log_served(span: &tracing::Span, status: u16, elapsed: Duration) {
    let latency_us = elapsed.as_micros() as u64;
    if elapsed >= SLOW_REQUEST || status >= 500 {
        tracing::warn!(parent: span, status, latency_us, "served");
    } else if status >= 400 {
        tracing::info!(parent: span, status, latency_us, "served");
    } else {
        tracing::debug!(parent: span, status, latency_us, "served");
    }
}

async fn render_problem_page(response: Response, locale: linli_domain::locale::Locale) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let code = problem["code"]
        .as_str()
        .unwrap_or("internal_error")
        .to_owned();
    let request_id = problem["request_id"].as_str().map(str::to_owned);
    let mut page = pages::error_page(locale, parts.status, &code, request_id);
    for name in [header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    page
}

fn secure_headers(headers: &mut HeaderMap, request_id: &str) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cache-control", "no-store");
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
}

/// The fallback for paths no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
