//! CSRF protection for everything a browser can be tricked into sending.
//!
//! One middleware guards every unsafe request that relies on ambient credentials (the
//! session cookie): it must carry the session's CSRF token, in an `X-CSRF-Token` header or
//! a `csrf` form field. Before sign-in, the login form is protected the same way with a
//! double-submit cookie. Requests with a bearer token are not ambient and pass through, as
//! do cookie-less JSON requests (a browser cannot send those cross-site without a CORS
//! preflight, which Linli never answers).
//! Because the check sits in front of the router, no form can forget it.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use linli_store::sessions;

use crate::auth::principal::{SESSION_COOKIE, cookie};
use crate::auth::tokens::{constant_time_eq, token_hash};
use crate::error::ApiError;
use crate::state::AppState;

/// Cookie holding the pre-session CSRF token used by the sign-in forms.
pub const PRE_SESSION_COOKIE: &str = "linli_pre";
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How far into a multipart body the token is looked for.
const MULTIPART_SCAN: usize = 8 * 1024;

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_form(request: &Request) -> bool {
    content_type(request).starts_with("application/x-www-form-urlencoded")
}

fn content_type(request: &Request) -> &str {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether a browser on another site could make this request without our consent: it
/// carries the session cookie, or it has a body type a plain HTML form can send (anything
/// else, such as JSON, needs a CORS preflight that Linli never grants).
fn is_cross_site_capable(request: &Request) -> bool {
    let simple_body = {
        let ct = content_type(request);
        ct.is_empty()
            || ct.starts_with("application/x-www-form-urlencoded")
            || ct.starts_with("multipart/form-data")
            || ct.starts_with("text/plain")
    };
    cookie(request.headers(), SESSION_COOKIE).is_some() || simple_body
}

/// The token a request must present: its live session's if it has one, else the
/// pre-session token of the sign-in forms.
async fn expected_token(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<String>, ApiError> {
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        let mut conn = state.db.acquire().await?;
        if let Some(row) = sessions::find_session(&mut conn.exec(), &token_hash(&token)).await?
            && row.revoked_at.is_none()
            && row.disabled_at.is_none()
            && chrono::Utc::now() < row.expires_at
        {
            return Ok(Some(row.csrf_token));
        }
    }
    Ok(cookie(headers, PRE_SESSION_COOKIE).filter(|pre| pre.len() >= 16))
}

fn is_multipart(request: &Request) -> bool {
    content_type(request).starts_with("multipart/form-data")
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// A small text field of a `multipart/form-data` body (the full parse happens in the
/// handler): the part named `name`, up to the next boundary.
fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Option<String> {
    let delimiter = format!("--{boundary}");
    let disposition = format!("name=\"{name}\"");
    let text = body;
    let mut start = 0;
    while let Some(pos) = find(&text[start..], delimiter.as_bytes()) {
        let part_start = start + pos + delimiter.len();
        let next = find(&text[part_start..], delimiter.as_bytes()).map(|n| part_start + n)?;
        let part = &text[part_start..next];
        if let Some(header_end) = find(part, b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&part[..header_end]);
            if headers.contains(&disposition) && !headers.contains("filename=") {
                let value = &part[header_end + 4..];
                let value = value.strip_suffix(b"\r\n").unwrap_or(value);
                return String::from_utf8(value.to_vec()).ok();
            }
        }
        start = next;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded_pairs(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Minimal `application/x-www-form-urlencoded` parsing (the full parse happens in the handler).
pub fn form_urlencoded_pairs(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let key = percent_decode(it.next().unwrap_or_default());
            let value = percent_decode(it.next().unwrap_or_default());
            (key, value)
        })
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                match std::str::from_utf8(&input[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_safe(request.method())
        || request.headers().contains_key(header::AUTHORIZATION)
        // Open311 authenticates by its api_key field alone, never by the session cookie
        // (see api::open311), so a forged form there carries no credential to abuse.
        || request.uri().path().starts_with("/open311/")
        || !is_cross_site_capable(&request)
    {
        return next.run(request).await;
    }
    let headers = request.headers().clone();
    let expected = match expected_token(&state, &headers).await {
        Ok(expected) => expected,
        Err(error) => return error.into_response(),
    };
    let header_token = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (request, presented) = match header_token {
        Some(token) => (request, Some(token)),
        None if is_form(&request) => {
            let (parts, body) = request.into_parts();
            let bytes = match to_bytes(body, state.settings.body_limit).await {
                Ok(bytes) => bytes,
                Err(_) => return ApiError::PayloadTooLarge.into_response(),
            };
            let token = form_field(&bytes, CSRF_FIELD);
            (Request::from_parts(parts, Body::from(bytes)), token)
        }
        None if is_multipart(&request) && expected.is_some() => {
            // Only the import page takes large uploads; anywhere else the usual limit holds.
            let limit = if request.uri().path() == "/imports" {
                crate::api::imports::MAX_UPLOAD
            } else {
                state.settings.body_limit
            };
            let boundary = multipart_boundary(content_type(&request));
            let (parts, body) = request.into_parts();
            let bytes = match to_bytes(body, limit).await {
                Ok(bytes) => bytes,
                Err(_) => return ApiError::PayloadTooLarge.into_response(),
            };
            // The forms put the token first; a token buried further in is not looked for.
            let head = &bytes[..bytes.len().min(MULTIPART_SCAN)];
            let token = boundary.and_then(|b| multipart_field(head, &b, CSRF_FIELD));
            (Request::from_parts(parts, Body::from(bytes)), token)
        }
        None => (request, None),
    };
    let ok = matches!((&expected, &presented), (Some(e), Some(p)) if constant_time_eq(e.as_bytes(), p.as_bytes()));
    if ok {
        next.run(request).await
    } else {
        ApiError::CsrfFailed.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        let body = b"username=li.si&password=a%26b+c%E9%82%BB&csrf=tok";
        assert_eq!(form_field(body, "password").as_deref(), Some("a&b c邻"));
        assert_eq!(form_field(body, "csrf").as_deref(), Some("tok"));
        assert_eq!(form_field(b"x=%zz%4", "x").as_deref(), Some("%zz%4"));
    }

    #[test]
    fn multipart_fields_are_found_and_files_ignored() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"csrf\"\r\n\r\nname=\"csrf\"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok123\r\n--XyZ--\r\n";
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=XyZ").as_deref(),
            Some("XyZ")
        );
        assert_eq!(
            multipart_field(body, "XyZ", "csrf").as_deref(),
            Some("tok123")
        );
        assert_eq!(multipart_field(body, "XyZ", "other"), None);
    }
}
