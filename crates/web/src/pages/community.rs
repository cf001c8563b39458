//! Console pages over the community: grids, accounts and roles, the audit log.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use linli_domain::auth::{Action, Target};
use linli_store::audit;
use linli_store::tenancy::CommunityContext;

use crate::api::communities::{AccountView, account_views};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::pages::{Chrome, SignedIn, local_time, render};
use crate::state::AppState;

async fn home_community(
    state: &AppState,
    principal: &Principal,
) -> Result<(Target, CommunityContext), ApiError> {
    let id = principal.default_community().ok_or(ApiError::NotFound)?;
    community_target(state, id).await
}

pub struct AccountLine {
    pub view: AccountView,
    pub role_names: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
pub struct AccountsPage {
    pub chrome: Chrome,
    pub community: String,
    pub accounts: Vec<AccountLine>,
}

pub async fn accounts(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_community(&state, &principal).await?;
    principal
        .authorize(&state, Action::ListAccounts, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let accounts = account_views(&state, ctx.community())
        .await?
        .into_iter()
        .map(|view| AccountLine {
            role_names: view
                .roles
                .iter()
                .filter_map(|r| linli_domain::auth::Role::parse(r).ok())
                .map(|r| t.role(&r))
                .collect(),
            view,
        })
        .collect();
    let page = AccountsPage {
        chrome: Chrome::signed_in(
            &principal,
            Some(&target),
            Some(ctx.community_name.clone()),
            "/accounts",
        ),
        community: ctx.community_name,
        accounts,
    };
    Ok(render(&page))
}

pub struct AuditLine {
    pub seq: i64,
    pub at: String,
    pub action: String,
    pub outcome: String,
    pub object: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub community: String,
    pub entries: Vec<AuditLine>,
}

pub async fn audit_log(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_community(&state, &principal).await?;
    principal
        .authorize(&state, Action::ReadAudit, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let mut conn = state.db.acquire().await?;
    let entries = audit::recent(&mut conn.exec(), ctx.community_id, 100).await?;
    let page = AuditPage {
        chrome: Chrome::signed_in(
            &principal,
            Some(&target),
            Some(ctx.community_name.clone()),
            "/audit",
        ),
        community: ctx.community_name.clone(),
        entries: entries
            .into_iter()
            .map(|e| AuditLine {
                seq: e.seq,
                at: local_time(&e.at, &ctx.time_zone),
                action: t
                    .try_t(&format!("audit.action.{}", e.action))
                    .map(str::to_owned)
                    .unwrap_or(e.action),
                outcome: t
                    .try_t(&format!("audit.outcome.{}", e.outcome))
                    .map(str::to_owned)
                    .unwrap_or(e.outcome),
                object: format!("{} {}", e.object_type, e.object_id.unwrap_or_default()),
            })
            .collect(),
    };
    Ok(render(&page))
}
