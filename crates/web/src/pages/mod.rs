//! Server-rendered pages (askama). Each page is complete HTML that works without
//! JavaScript; the layout adapts from a phone (bottom bar) to a desktop console (side nav).

pub mod account;
pub mod community;
pub mod directory;
pub mod home;
pub mod imports;
pub mod login;
pub mod matters;
pub mod mediation;
pub mod points;
pub mod points_staff;
pub mod rankings;
pub mod registry;
pub mod volunteering;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, FixedOffset, Utc};
use linli_domain::auth::{Action, Target};
use linli_domain::locale::Locale;
use serde::de::DeserializeOwned;

use crate::auth::Principal;
use crate::auth::principal::cookie;
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::state::AppState;

/// Remembers the language for signed-out pages (signed-in pages use the account's setting).
pub const LANG_COOKIE: &str = "linli_lang";

/// The language of a signed-out request: its cookie, else `Accept-Language`, else Chinese.
pub fn request_locale(headers: &HeaderMap) -> Locale {
    cookie(headers, LANG_COOKIE)
        .and_then(|v| Locale::parse(&v))
        .unwrap_or_else(|| {
            Locale::negotiate(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            )
        })
}

/// Renders a template, or a plain 500 if the template itself fails.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => ApiError::internal(error).into_response(),
    }
}

pub fn render_with_status(status: StatusCode, template: &impl Template) -> Response {
    let mut response = render(template);
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// One entry of the navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub icon: &'static str,
    pub active: bool,
}

/// The signed-in person, as the page header shows them.
pub struct UserChrome {
    pub display_name: String,
    pub username: String,
    pub community_name: Option<String>,
}

/// What the layout around every page needs.
pub struct Chrome {
    pub t: Tr,
    /// The CSRF token every form on the page carries.
    pub csrf: String,
    /// The current path, for the language switch to come back to.
    pub path: String,
    pub user: Option<UserChrome>,
    pub nav: Vec<NavItem>,
    /// A signed-out page with content of its own (the service circle), laid out like a
    /// signed-in page rather than centred like the sign-in card.
    pub content_page: bool,
}

mod icons {
    pub const HOME: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 11.5 12 4l9 7.5M5.5 10v10h5v-6h3v6h5V10"/></svg>"#;
    pub const GRID: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z"/></svg>"#;
    pub const PEOPLE: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM2.5 20c.6-3.6 3.2-6 6.5-6s5.9 2.4 6.5 6M16 4.5a3.5 3.5 0 0 1 0 6.5M18 14c2 .7 3.3 2.9 3.5 6"/></svg>"#;
    pub const AUDIT: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 3h9l4 4v14H6zM14 3v5h5M9 12h7M9 16h7"/></svg>"#;
    pub const SEARCH: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M10.5 17a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM15.5 15.5 20 20"/></svg>"#;
    pub const DIRECTORY: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M5 4h12a2 2 0 0 1 2 2v14H7a2 2 0 0 1-2-2zM5 18a2 2 0 0 1 2-2h12M9 8h6M9 11h4"/></svg>"#;
    pub const MATTER: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M5 4h14v12H9l-4 4zM9 8h6M9 11h4"/></svg>"#;
    pub const POINTS: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 3.5l2.6 5.3 5.9.9-4.3 4.1 1 5.8-5.2-2.7-5.2 2.7 1-5.8-4.3-4.1 5.9-.9z"/></svg>"#;
    pub const SHIELD: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 3 4.5 6v5.5c0 4.6 3.1 8.3 7.5 9.5 4.4-1.2 7.5-4.9 7.5-9.5V6zM9 12l2.2 2.2L15.5 10"/></svg>"#;
}

impl Chrome {
    /// The layout for a signed-out page.
    pub fn public(locale: Locale, csrf: String, path: &str) -> Chrome {
        Chrome {
            t: Tr::new(locale),
            csrf,
            path: path.to_owned(),
            user: None,
            nav: Vec::new(),
            content_page: false,
        }
    }

    /// The layout for a signed-in page: navigation shows only what the roles may open.
    pub fn signed_in(
        principal: &Principal,
        target: Option<&Target>,
        community_name: Option<String>,
        path: &str,
    ) -> Chrome {
        let t = Tr::new(principal.locale);
        let can = |action| target.is_some_and(|target| principal.can(action, target));
        let mut nav = vec![NavItem {
            href: "/",
            label: t.t("nav.home"),
            icon: icons::HOME,
            active: path == "/",
        }];
        // Matters come right after home: for most roles they are the daily work.
        if can(Action::ReadMatters) {
            nav.push(NavItem {
                href: "/matters",
                label: t.t("nav.matters"),
                icon: icons::MATTER,
                active: path == "/matters",
            });
        } else if can(Action::ReportMatter) {
            nav.push(NavItem {
                href: "/matters/mine",
                label: t.t("nav.my_matters"),
                icon: icons::MATTER,
                active: path == "/matters/mine",
            });
        }
        if can(Action::ReadCommunity) {
            nav.push(NavItem {
                href: "/points",
                label: t.t("nav.points"),
                icon: icons::POINTS,
                active: path.starts_with("/points"),
            });
        }
        if can(Action::ListGrids) {
            nav.push(NavItem {
                href: "/grids",
                label: t.t("nav.grids"),
                icon: icons::GRID,
                active: path == "/grids",
            });
        }
        if can(Action::ReadRegistry) {
            nav.push(NavItem {
                href: "/residents",
                label: t.t("nav.residents"),
                icon: icons::SEARCH,
                active: path == "/residents",
            });
        }
        if can(Action::ExportRegistry) {
            nav.push(NavItem {
                href: "/imports",
                label: t.t("nav.imports"),
                icon: icons::AUDIT,
                active: path == "/imports",
            });
        }
        if can(Action::ReadDirectory) {
            nav.push(NavItem {
                href: "/directory",
                label: t.t("nav.directory"),
                icon: icons::DIRECTORY,
                active: path == "/directory",
            });
        }
        if can(Action::ListAccounts) {
            nav.push(NavItem {
                href: "/accounts",
                label: t.t("nav.accounts"),
                icon: icons::PEOPLE,
                active: path == "/accounts",
            });
        }
        if can(Action::ReadAudit) {
            nav.push(NavItem {
                href: "/audit",
                label: t.t("nav.audit"),
                icon: icons::AUDIT,
                active: path == "/audit",
            });
        }
        nav.push(NavItem {
            href: "/settings/security",
            label: t.t("nav.security"),
            icon: icons::SHIELD,
            active: path == "/settings/security",
        });
        Chrome {
            t,
            csrf: principal.csrf_token.clone(),
            path: path.to_owned(),
            user: Some(UserChrome {
                display_name: principal.display_name.clone(),
                username: principal.username.clone(),
                community_name,
            }),
            nav,
            content_page: false,
        }
    }
}

/// The community a signed-in page is about (the caller's own) and its authorization target.
pub(crate) async fn home_target(
    state: &AppState,
    principal: &Principal,
) -> Result<(Target, linli_store::tenancy::CommunityContext), ApiError> {
    let id = principal.default_community().ok_or(ApiError::NotFound)?;
    crate::auth::principal::community_target(state, id).await
}

/// The layout of a signed-in page in `community`.
pub(crate) fn chrome(
    principal: &Principal,
    target: &Target,
    community: &str,
    path: &str,
) -> Chrome {
    Chrome::signed_in(principal, Some(target), Some(community.to_owned()), path)
}

/// A signed-in browser; anyone else is sent to the sign-in page.
pub struct SignedIn(pub Principal);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Principal::from_request_parts(parts, state).await {
            Ok(principal) => Ok(SignedIn(principal)),
            Err(ApiError::Unauthenticated | ApiError::SessionExpired) => {
                let mut response = Redirect::to("/login").into_response();
                response.headers_mut().append(
                    header::SET_COOKIE,
                    HeaderValue::from_static(
                        "linli_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
                    ),
                );
                Err(response)
            }
            Err(other) => Err(other.into_response()),
        }
    }
}

/// A form body; a malformed one is a 400 problem (shown as an error page).
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| PageForm(v))
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest("the form is incomplete or malformed".to_owned()),
            })
    }
}

/// A `Set-Cookie` value with the attributes every Linli cookie carries.
pub fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    max_age_secs: i64,
    same_site: &str,
) -> HeaderValue {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Only same-site paths are followed after a form (no open redirects).
pub fn safe_next(next: &str) -> &str {
    let plain_path = next.starts_with('/')
        && !next.starts_with("//")
        && next
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~?=&%".contains(c));
    if plain_path { next } else { "/" }
}

/// Shows a time in the community's zone. Mainland China keeps one offset all year, so the
/// default zone needs no time-zone database; other zones show UTC, labelled.
pub fn local_time(at: &DateTime<Utc>, time_zone: &str) -> String {
    match time_zone {
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Urumqi" | "PRC" => {
            let offset = FixedOffset::east_opt(8 * 3600).expect("valid offset");
            at.with_timezone(&offset)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        }
        _ => at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// Today's date in the community's zone (see [`local_time`]).
pub fn local_today(time_zone: &str) -> chrono::NaiveDate {
    let now = Utc::now();
    match time_zone {
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Urumqi" | "PRC" => {
            let offset = FixedOffset::east_opt(8 * 3600).expect("valid offset");
            now.with_timezone(&offset).date_naive()
        }
        _ => now.date_naive(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub title: &'static str,
    pub message: &'static str,
    pub request_id: Option<String>,
}

/// The page a browser sees for any problem response.
pub fn error_page(
    locale: Locale,
    status: StatusCode,
    code: &str,
    request_id: Option<String>,
) -> Response {
    let t = Tr::new(locale);
    let known = [
        "not_found",
        "forbidden",
        "csrf_failed",
        "service_unavailable",
        "request_timeout",
        "payload_too_large",
        "totp_enrolment_required",
        "login_throttled",
    ];
    let key = if known.contains(&code) {
        code
    } else {
        "generic"
    };
    let page = ErrorPage {
        chrome: Chrome::public(locale, String::new(), "/"),
        status: status.as_u16(),
        title: t.t(&format!("error.{key}.title")),
        message: t.t(&format!("error.{key}.message")),
        request_id,
    };
    render_with_status(status, &page)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_plain_local_paths_are_followed() {
        assert_eq!(safe_next("/accounts?page=2"), "/accounts?page=2");
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "https://evil.example",
            "/%0a\r\nX: y",
            "/\\evil",
            "",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}
