//! Who is calling, and the one gate every endpoint passes through to act.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Duration, Utc};
use linli_domain::auth::{Action, Grant, GridFilter, Target, authorize};
use linli_domain::locale::Locale;
use linli_domain::{AccountId, CommunityId, DistrictId};
use linli_store::audit::{self, AuditEvent};
use linli_store::{sessions, tenancy};

use crate::auth::tokens::token_hash;
use crate::context;
use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "linli_session";

/// The kinds of session, with their lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser session behind an HttpOnly cookie.
    Browser,
    /// An API client's bearer token.
    Api,
    /// Password accepted, second factor still to come: not a principal yet.
    PendingTotp,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
            SessionKind::PendingTotp => "pending_totp",
        }
    }

    pub fn parse(s: &str) -> Option<SessionKind> {
        match s {
            "browser" => Some(SessionKind::Browser),
            "api" => Some(SessionKind::Api),
            "pending_totp" => Some(SessionKind::PendingTotp),
            _ => None,
        }
    }

    /// Idle time after which the session ends (each use pushes it back).
    pub fn idle_timeout(self) -> Duration {
        match self {
            SessionKind::Browser => Duration::hours(8),
            SessionKind::Api => Duration::days(30),
            SessionKind::PendingTotp => Duration::minutes(5),
        }
    }

    /// Age after which the session ends however busy it is.
    pub fn absolute_lifetime(self) -> Duration {
        match self {
            SessionKind::Browser => Duration::days(7),
            SessionKind::Api => Duration::days(30),
            SessionKind::PendingTotp => Duration::minutes(5),
        }
    }
}

/// How to answer a denial: a missing-looking 404 for anything addressed by id (so ids from
/// other communities or grids reveal nothing), a 403 for collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deny {
    AsNotFound,
    AsForbidden,
}

/// A signed-in account, with its roles, for the length of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: AccountId,
    pub username: String,
    pub display_name: String,
    pub locale: Locale,
    pub home_community: Option<CommunityId>,
    pub grants: Vec<Grant>,
    pub totp_enabled: bool,
    /// A community requires a second factor this account has not enrolled: until it does,
    /// it may only enrol, read itself and sign out.
    pub must_enrol_totp: bool,
    pub session_kind: SessionKind,
    pub token_hash: Vec<u8>,
    pub csrf_token: String,
}

/// The session secret a request carries: a bearer token, else the session cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<(String, SessionKind)> {
    // A request that sends an Authorization header is judged by it alone: a malformed one
    // does not fall back to the cookie.
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some((token.trim().to_owned(), SessionKind::Api));
    }
    cookie(headers, SESSION_COOKIE).map(|t| (t, SessionKind::Browser))
}

/// Reads one cookie from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether a session row is still good at `now`.
fn session_is_live(row: &sessions::SessionRow, kind: SessionKind, now: DateTime<Utc>) -> bool {
    row.revoked_at.is_none()
        && row.disabled_at.is_none()
        && now < row.expires_at
        && now - row.created_at < kind.absolute_lifetime()
}

/// Slides a session's idle expiry forward without making the request wait for it. The
/// touch is a write: on SQLite it queues behind any long write transaction (a 100,000-row
/// import holds the lock for seconds), and when requests waited for it they held pool
/// connections until reads had none left (search p99 1.3 s during an import). One touch per
/// session at a time; if it fails, the session simply keeps its earlier expiry.
fn touch_in_background(state: &AppState, hash: &[u8], now: DateTime<Utc>, expires: DateTime<Utc>) {
    if !state.sessions.start_touch(hash) {
        return;
    }
    let (state, hash) = (state.clone(), hash.to_vec());
    tokio::spawn(async move {
        // Through the write queue (on SQLite, the group-commit writer's): a bare
        // connection would meet the busy handler while the writer holds the lock (seen:
        // 3 s under ledger load). Waiting for the queue holds no pool connection.
        if let Err(e) = sessions::touch_session(&state.db, &hash, now, expires).await {
            tracing::warn!(error = %e, "could not slide a session's expiry; it keeps the old one");
        }
        state.sessions.end_touch(&hash);
    });
}

impl Principal {
    /// Resolves a presented secret to a principal, or says why not.
    pub async fn from_token(
        state: &AppState,
        token: &str,
        via: SessionKind,
    ) -> Result<Principal, ApiError> {
        let hash = token_hash(token);
        let epoch = state.sessions.epoch();
        let (mut row, grants, from_cache) = match state.sessions.get(&hash) {
            Some((row, grants)) => (row, grants, true),
            None => {
                let mut conn = state.db.acquire().await?;
                let (row, grants) = sessions::find_session_with_grants(&mut conn.exec(), &hash)
                    .await?
                    .ok_or(ApiError::Unauthenticated)?;
                (row, grants, false)
            }
        };
        let kind = SessionKind::parse(&row.kind).ok_or(ApiError::Unauthenticated)?;
        // A cookie must carry a browser session and a bearer header an API token: a
        // pending second-factor session is neither.
        if kind != via {
            return Err(ApiError::Unauthenticated);
        }
        let now = Utc::now();
        if !session_is_live(&row, kind, now) {
            return Err(ApiError::SessionExpired);
        }
        if !from_cache {
            if now - row.last_seen_at > Duration::minutes(1) {
                let expires =
                    (now + kind.idle_timeout()).min(row.created_at + kind.absolute_lifetime());
                touch_in_background(state, &hash, now, expires);
                row.last_seen_at = now;
                row.expires_at = expires;
            }
            state.sessions.put(&hash, &row, &grants, epoch);
        }
        let account_id = AccountId(row.account_id);
        Ok(Principal {
            account_id,
            username: row.username,
            display_name: row.display_name,
            locale: Locale::parse(&row.locale).unwrap_or_default(),
            home_community: row.home_community_id.map(CommunityId),
            grants: grants.grants,
            totp_enabled: row.totp_enabled,
            must_enrol_totp: grants.totp_required && !row.totp_enabled,
            session_kind: kind,
            token_hash: hash,
            csrf_token: row.csrf_token,
        })
    }

    /// The community the account works in by default: its home, else its first grant's.
    pub fn default_community(&self) -> Option<CommunityId> {
        self.home_community.or_else(|| {
            self.grants.iter().find_map(|g| match g.scope {
                linli_domain::auth::GrantScope::Community { community_id }
                | linli_domain::auth::GrantScope::Grids { community_id, .. } => Some(community_id),
                linli_domain::auth::GrantScope::District { .. } => None,
            })
        })
    }

    pub fn district_ids(&self) -> Vec<DistrictId> {
        self.grants
            .iter()
            .filter_map(|g| match g.scope {
                linli_domain::auth::GrantScope::District { district_id } => Some(district_id),
                _ => None,
            })
            .collect()
    }

    /// Whether the grants allow `action` on `target`, without recording anything: for
    /// deciding what to show (navigation), never for deciding what to do.
    pub fn can(&self, action: Action, target: &Target) -> bool {
        !self.must_enrol_totp && authorize(&self.grants, action, target).is_some()
    }

    /// The audit entry for something this principal just did successfully in a community,
    /// carrying the request's id and client address.
    pub fn success_event(
        &self,
        community: CommunityId,
        action: &str,
        object_type: &str,
        object_id: impl ToString,
        detail: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            community: Some(community),
            actor: Some(self.account_id.0),
            actor_ip: context::client_ip(),
            request_id: context::request_id(),
            action: action.to_owned(),
            object_type: object_type.to_owned(),
            object_id: Some(object_id.to_string()),
            outcome: "success".to_owned(),
            detail,
        }
    }

    /// The gate. Allowed: the grid filter lists must apply. Denied: the denial is audited
    /// and answered as `deny` says.
    pub async fn authorize(
        &self,
        state: &AppState,
        action: Action,
        target: &Target,
        deny: Deny,
    ) -> Result<GridFilter, ApiError> {
        if let Some(filter) = authorize(&self.grants, action, target) {
            // Checked only once the grants allow the action, so that ids in other
            // communities stay "not found" for this account as for any other.
            if self.must_enrol_totp {
                return Err(ApiError::TotpEnrolmentRequired);
            }
            return Ok(filter);
        }
        let event = AuditEvent {
            community: Some(target.community_id),
            actor: Some(self.account_id.0),
            actor_ip: context::client_ip(),
            request_id: context::request_id(),
            action: "access_denied".to_owned(),
            object_type: format!("{action:?}"),
            object_id: target.grid_id.map(|g| g.to_string()),
            outcome: "denied".to_owned(),
            detail: serde_json::json!({ "action": format!("{action:?}") }),
        };
        audit::record(&state.db, &event, Utc::now()).await?;
        // A collection in a community the caller has no part in is as invisible as a
        // missing one: only members of the community learn that they lack a permission.
        let member = authorize(&self.grants, Action::ReadCommunity, target).is_some();
        Err(match deny {
            Deny::AsForbidden if member => ApiError::Forbidden,
            _ => ApiError::NotFound,
        })
    }
}

/// The authorization target for a community id; an unknown community is "not found".
pub async fn community_target(
    state: &AppState,
    community: CommunityId,
) -> Result<(Target, tenancy::CommunityContext), ApiError> {
    let ctx = match state.communities.get(&community.0) {
        Some(ctx) => ctx,
        None => {
            let mut conn = state.db.acquire().await?;
            let ctx = tenancy::community_context(&mut conn.exec(), community)
                .await?
                .ok_or(ApiError::NotFound)?;
            state.communities.put(community.0, ctx.clone());
            ctx
        }
    };
    let target = Target {
        district_id: ctx.district(),
        community_id: ctx.community(),
        grid_id: None,
    };
    Ok((target, ctx))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let (token, via) = presented_token(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        let principal = Principal::from_token(state, &token, via).await?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// Signed out (no, unknown or ended session) is `None`; a failing database is an error.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        match <Principal as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(principal) => Ok(Some(principal)),
            Err(ApiError::Unauthenticated | ApiError::SessionExpired) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
