//! Points pages: a resident's points, history, the catalogue and a redemption's code with
//! its QR (on a phone), and the page stations and partners confirm redemptions on (核销).
//!
//! Every form carries a key drawn when the page was drawn, sent as the ledger request's
//! idempotency key: a double tap or a resubmitted form cannot redeem or confirm twice.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use linli_domain::auth::{GrantScope, Role};
use linli_domain::points::{IdempotencyKey, TransferKind};
use linli_domain::{CommunityId, ResidentId};
use linli_store::points::catalogue::{self, OfferRow};
use linli_store::points::{
    self as ledger, Change, Confirm, LedgerRequest, Redeem, Refund, RefundReason,
};
use linli_store::registry::residents;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Chrome, PageForm, SignedIn, chrome, home_target, local_time, render, render_with_status,
};
use crate::api::ApiPath;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::points::{REDEMPTION_VALIDITY, code_hash, redemption_code};
use crate::state::AppState;

pub struct EntryLine {
    pub when: String,
    pub label: &'static str,
    pub memo: String,
    pub amount: String,
    pub positive: bool,
}

pub struct PendingLine {
    pub id: Uuid,
    pub title: String,
    pub cost: i64,
    pub code: String,
    pub expires: String,
}

pub struct AccountPart {
    pub balance: i64,
    pub entries: Vec<EntryLine>,
    pub pending: Vec<PendingLine>,
}

#[derive(Template)]
#[template(path = "points_mine.html")]
pub struct MinePage {
    pub chrome: Chrome,
    /// `None` for someone with no resident record (staff, partners).
    pub account: Option<AccountPart>,
    pub can_confirm: bool,
    /// Staff who keep points and volunteering see the console link.
    pub can_staff: bool,
    /// Elderly residents this person acts for as a proxy: (id, name, balance).
    pub acting_for: Vec<(Uuid, String, i64)>,
}

pub(crate) fn kind_label(t: &Tr, kind: &str) -> &'static str {
    match TransferKind::parse(kind) {
        Some(TransferKind::Award) => t.t("points.kind.award"),
        Some(TransferKind::Redeem) => t.t("points.kind.redeem"),
        Some(TransferKind::Settle) => t.t("points.kind.settle"),
        Some(TransferKind::Refund) => t.t("points.kind.refund"),
        Some(TransferKind::Reversal) => t.t("points.kind.reversal"),
        Some(TransferKind::Expiry) | None => t.t("points.kind.expiry"),
    }
}

/// The signed-in person's resident record in their community, if they have one.
async fn my_resident(
    state: &AppState,
    principal: &Principal,
) -> Result<Option<(CommunityId, Uuid)>, ApiError> {
    let Some(community) = principal.default_community() else {
        return Ok(None);
    };
    Ok(
        crate::api::residents::own_resident(state, community, principal.account_id)
            .await?
            .map(|r| (community, r.id)),
    )
}

/// Whether this person confirms redemptions somewhere (community staff at stations, or a
/// registered confirmer; the confirmation page checks each code's provider).
fn may_open_confirm_page(principal: &Principal, community: CommunityId) -> bool {
    principal.grants.iter().any(|g| {
        matches!(
            g.role,
            Role::Partner | Role::CommunityStaff | Role::CommunityAdmin | Role::OperationOfficer
        ) && match &g.scope {
            GrantScope::Community { community_id } | GrantScope::Grids { community_id, .. } => {
                *community_id == community
            }
            GrantScope::District { .. } => false,
        }
    })
}

/// A resident's points: balance, what waits for confirmation, and the history.
pub async fn mine(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_target(&state, &principal).await?;
    let t = Tr::new(principal.locale);
    let account = match my_resident(&state, &principal).await? {
        None => None,
        Some((community, resident)) => {
            let mut conn = state.db.acquire().await?;
            let mut ex = conn.exec();
            let history =
                linli_store::points::accounts::history(&mut ex, community, resident, None, 30)
                    .await?;
            let redemptions = catalogue::redemptions_of(&mut ex, community, resident, 20).await?;
            let mut pending = Vec::new();
            for r in redemptions.into_iter().filter(|r| r.status == "pending") {
                let title = catalogue::find_offer(&mut ex, community, r.offer_id)
                    .await?
                    .map_or_else(String::new, |o| o.title);
                pending.push(PendingLine {
                    code: redemption_code(&state.data_key, r.id),
                    id: r.id,
                    title,
                    cost: r.cost,
                    expires: local_time(&r.expires_at, &ctx.time_zone),
                });
            }
            Some(AccountPart {
                balance: history.balance,
                entries: history
                    .entries
                    .into_iter()
                    .map(|e| EntryLine {
                        when: local_time(&e.at, &ctx.time_zone),
                        label: kind_label(&t, &e.kind),
                        memo: e.memo,
                        amount: if e.amount > 0 {
                            format!("+{}", e.amount)
                        } else {
                            e.amount.to_string()
                        },
                        positive: e.amount > 0,
                    })
                    .collect(),
                pending,
            })
        }
    };
    let acting_for = crate::api::proxies::acting_for(State(state.clone()), principal.clone())
        .await?
        .0
        .into_iter()
        .map(|a| (a.resident_id, a.name, a.balance))
        .collect();
    let page = MinePage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/points"),
        account,
        can_confirm: may_open_confirm_page(&principal, ctx.community()),
        can_staff: principal.can(linli_domain::auth::Action::ReadServiceHours, &target)
            || principal.can(linli_domain::auth::Action::ReadPoints, &target),
        acting_for,
    };
    Ok(render(&page))
}

pub struct OfferLine {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub kind_label: &'static str,
    pub cost: i64,
    pub stock: i64,
    pub affordable: bool,
    pub key: String,
}

#[derive(Template)]
#[template(path = "points_catalogue.html")]
pub struct CataloguePage {
    pub chrome: Chrome,
    pub balance: i64,
    /// Redeeming for an elderly resident as their proxy: who.
    pub on_behalf_of: Option<(Uuid, String)>,
    pub offers: Vec<OfferLine>,
    pub error: Option<String>,
}

fn offer_line(t: &Tr, o: OfferRow, balance: i64) -> OfferLine {
    OfferLine {
        kind_label: match o.kind.as_str() {
            "service" => t.t("points.offer.service"),
            "goods" => t.t("points.offer.goods"),
            _ => t.t("points.offer.discount"),
        },
        affordable: o.cost <= balance && o.stock > 0,
        id: o.id,
        title: o.title,
        description: o.description,
        cost: o.cost,
        stock: o.stock,
        key: Uuid::now_v7().to_string(),
    }
}

async fn catalogue_page(
    state: &AppState,
    principal: &Principal,
    error: Option<String>,
    on_behalf_of: Option<Uuid>,
) -> Result<CataloguePage, ApiError> {
    let (target, ctx) = home_target(state, principal).await?;
    let t = Tr::new(principal.locale);
    let acting = match on_behalf_of {
        None => my_resident(state, principal).await?,
        Some(resident) => {
            let (community, resident, _) =
                crate::api::points::acting_resident(state, principal, Some(resident)).await?;
            Some((community, resident))
        }
    };
    let proxied = match on_behalf_of {
        Some(resident) => {
            let mut conn = state.db.acquire().await?;
            residents::find_resident(&mut conn.exec(), ResidentId(resident))
                .await?
                .map(|r| (r.id, r.name))
        }
        None => None,
    };
    let balance = match acting {
        Some((community, resident)) => {
            let mut conn = state.db.acquire().await?;
            linli_store::points::accounts::history(&mut conn.exec(), community, resident, None, 1)
                .await?
                .balance
        }
        None => 0,
    };
    let offers = {
        let mut conn = state.db.acquire().await?;
        catalogue::list_offers(&mut conn.exec(), ctx.community(), Some(Utc::now())).await?
    };
    Ok(CataloguePage {
        chrome: chrome(principal, &target, &ctx.community_name, "/points"),
        balance,
        on_behalf_of: proxied,
        offers: offers
            .into_iter()
            .map(|o| offer_line(&t, o, balance))
            .collect(),
        error,
    })
}

/// What can be redeemed now, with the resident's balance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueQuery {
    /// Redeem for the resident one is a standing proxy for.
    #[serde(rename = "for")]
    pub for_resident: Option<Uuid>,
}

pub async fn catalogue(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    axum::extract::Query(query): axum::extract::Query<CatalogueQuery>,
) -> Result<Response, ApiError> {
    Ok(render(
        &catalogue_page(&state, &principal, None, query.for_resident).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemForm {
    #[serde(default)]
    pub csrf: String,
    pub offer_id: Uuid,
    pub key: String,
    /// Set when a proxy redeems for the resident they act for.
    pub on_behalf_of: Option<Uuid>,
}

/// A refusal as the person at the phone or counter reads it.
fn refusal_text(t: &Tr, error: &ApiError) -> String {
    let key = match error.code() {
        "insufficient_points" => "points.error.insufficient_points",
        "sold_out" => "points.error.sold_out",
        "offer_unavailable" => "points.error.offer_unavailable",
        "wrong_code" => "points.error.wrong_code",
        "redemption_not_pending" => "points.error.redemption_not_pending",
        "code_expired" => "points.error.code_expired",
        "not_found" => "points.error.not_found",
        "not_a_resident" => "points.not_resident",
        _ => "points.error.other",
    };
    t.t(key).to_owned()
}

fn form_key(raw: &str) -> Result<IdempotencyKey, ApiError> {
    IdempotencyKey::parse(raw).map_err(|_| {
        ApiError::BadRequest("the form is missing its key; reload the page".to_owned())
    })
}

/// Redeems from the catalogue, then shows the voucher with its code.
pub async fn redeem(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<RedeemForm>,
) -> Result<Response, ApiError> {
    let key = form_key(&form.key)?;
    let t = Tr::new(principal.locale);
    let acting = match form.on_behalf_of {
        None => Ok(my_resident(&state, &principal)
            .await?
            .map(|(c, r)| (c, r, None))),
        Some(_) => crate::api::points::acting_resident(&state, &principal, form.on_behalf_of)
            .await
            .map(Some),
    };
    let outcome = match acting {
        Err(error) => Err(error),
        Ok(None) => Err(ApiError::Rule {
            field: "resident",
            code: "not_a_resident",
            message: String::new(),
        }),
        Ok(Some((community, resident, proxy))) => {
            let redemption = Uuid::now_v7();
            let audit = proxy.map(|proxy| {
                principal.success_event(
                    community,
                    "points_redeemed_by_proxy",
                    "resident",
                    resident,
                    serde_json::json!({ "proxy_id": proxy, "offer_id": form.offer_id }),
                )
            });
            let request = LedgerRequest {
                community,
                actor: Some(principal.account_id),
                key: Some(key),
                request: serde_json::json!({
                    "op": "redeem",
                    "offer_id": form.offer_id,
                    "on_behalf_of": form.on_behalf_of,
                }),
                change: Change::Redeem(Redeem {
                    resident: ResidentId(resident),
                    redemption,
                    offer: form.offer_id,
                    code_hash: code_hash(&redemption_code(&state.data_key, redemption)),
                    valid_for: REDEMPTION_VALIDITY,
                }),
                audit,
            };
            match ledger::submit(&state.db, request, Utc::now()).await? {
                Ok(answer) => Ok(answer.receipt.subject_id.unwrap_or(redemption)),
                Err(refusal) => Err(crate::api::points::refusal(refusal)),
            }
        }
    };
    match outcome {
        Ok(id) => Ok(Redirect::to(&format!("/points/redemptions/{id}")).into_response()),
        Err(error) => {
            let page = catalogue_page(
                &state,
                &principal,
                Some(refusal_text(&t, &error)),
                form.on_behalf_of,
            )
            .await?;
            Ok(render_with_status(error.status(), &page))
        }
    }
}

#[derive(Template)]
#[template(path = "points_redemption.html")]
pub struct RedemptionPage {
    pub chrome: Chrome,
    pub id: Uuid,
    pub title: String,
    pub cost: i64,
    pub status_label: &'static str,
    pub status_class: &'static str,
    /// Only while it waits for confirmation.
    pub code: Option<String>,
    pub qr: String,
    pub expires: String,
    pub cancel_key: String,
}

/// A voucher: the code and its QR to show at the counter, while it is pending.
pub async fn redemption(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_target(&state, &principal).await?;
    let t = Tr::new(principal.locale);
    let (community, resident) = my_resident(&state, &principal)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let row = catalogue::find_redemption(&mut ex, id)
        .await?
        .filter(|r| r.community_id == community.0 && r.resident_id == resident)
        .ok_or(ApiError::NotFound)?;
    let title = catalogue::find_offer(&mut ex, community, row.offer_id)
        .await?
        .map_or_else(String::new, |o| o.title);
    let pending = row.status == "pending";
    let code = pending.then(|| redemption_code(&state.data_key, row.id));
    let qr = code
        .as_deref()
        .and_then(crate::auth::totp::qr_svg)
        .unwrap_or_default();
    let (status_label, status_class) = match row.status.as_str() {
        "pending" => (t.t("points.status.pending"), "status-info"),
        "confirmed" => (t.t("points.status.confirmed"), "status-ok"),
        "cancelled" => (t.t("points.status.cancelled"), "status-cancelled"),
        _ => (t.t("points.status.expired"), "status-cancelled"),
    };
    let page = RedemptionPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/points"),
        id: row.id,
        title,
        cost: row.cost,
        status_label,
        status_class,
        code,
        qr,
        expires: local_time(&row.expires_at, &ctx.time_zone),
        cancel_key: Uuid::now_v7().to_string(),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyForm {
    #[serde(default)]
    pub csrf: String,
    pub key: String,
}

/// Cancels one's own pending redemption.
pub async fn cancel(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    ApiPath(id): ApiPath<Uuid>,
    PageForm(form): PageForm<KeyForm>,
) -> Result<Response, ApiError> {
    let key = form_key(&form.key)?;
    let (community, resident) = my_resident(&state, &principal)
        .await?
        .ok_or(ApiError::NotFound)?;
    {
        let mut conn = state.db.acquire().await?;
        catalogue::find_redemption(&mut conn.exec(), id)
            .await?
            .filter(|r| r.community_id == community.0 && r.resident_id == resident)
            .ok_or(ApiError::NotFound)?;
    }
    let request = LedgerRequest {
        community,
        actor: Some(principal.account_id),
        key: Some(key),
        request: serde_json::json!({ "op": "cancel", "redemption": id }),
        change: Change::Refund(Refund {
            redemption: id,
            why: RefundReason::Cancelled,
        }),
        audit: None,
    };
    // Already settled: the voucher page shows how it ended.
    let _ = ledger::submit(&state.db, request, Utc::now()).await?;
    Ok(Redirect::to(&format!("/points/redemptions/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "points_confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub code: String,
    pub key: String,
    pub done: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmQuery {
    pub code: Option<String>,
}

/// The counter: type or scan a resident's code.
pub async fn confirm_form(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiQuery(query): crate::api::ApiQuery<ConfirmQuery>,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_target(&state, &principal).await?;
    if !may_open_confirm_page(&principal, ctx.community()) {
        return Err(ApiError::Forbidden);
    }
    let page = ConfirmPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/points/confirm"),
        code: query.code.unwrap_or_default(),
        key: Uuid::now_v7().to_string(),
        done: None,
        error: None,
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmForm {
    #[serde(default)]
    pub csrf: String,
    pub key: String,
    pub code: String,
}

/// Confirms the redemption a code belongs to, if this person confirms for its provider.
pub async fn confirm(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, ApiError> {
    let key = form_key(&form.key)?;
    let (target, ctx) = home_target(&state, &principal).await?;
    let community = ctx.community();
    if !may_open_confirm_page(&principal, community) {
        return Err(ApiError::Forbidden);
    }
    let t = Tr::new(principal.locale);
    let hash = code_hash(&form.code);
    let found = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        match catalogue::find_by_code(&mut ex, community, &hash).await? {
            Some(r) => catalogue::find_offer(&mut ex, community, r.offer_id)
                .await?
                .map(|offer| (r, offer)),
            None => None,
        }
    };
    let mut outcome = Err(ApiError::NotFound);
    if let Some((row, offer)) = found
        && crate::api::points::may_confirm(&state, &principal, community, &offer).await?
    {
        let request = LedgerRequest {
            community,
            actor: Some(principal.account_id),
            key: Some(key),
            request: serde_json::json!({ "op": "confirm", "redemption": row.id, "code": hash }),
            change: Change::Confirm(Confirm {
                redemption: row.id,
                code_hash: hash,
            }),
            audit: None,
        };
        outcome = match ledger::submit(&state.db, request, Utc::now()).await? {
            Ok(answer) => Ok(format!(
                "{} · {} {}",
                offer.title,
                answer.receipt.amount,
                t.t("points.unit")
            )),
            Err(refusal) => Err(crate::api::points::refusal(refusal)),
        };
    }
    let (status, done, error) = match outcome {
        Ok(done) => (StatusCode::OK, Some(done), None),
        Err(e) => (e.status(), None, Some(refusal_text(&t, &e))),
    };
    let page = ConfirmPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/points/confirm"),
        code: String::new(),
        key: Uuid::now_v7().to_string(),
        done,
        error,
    };
    Ok(render_with_status(status, &page))
}
