//! Contribution points over JSON: accounts and their history, awards, reversals, and the
//! earning rules. Every ledger-changing POST takes an `Idempotency-Key` header: a retry
//! with the same key and body gets the first answer again (and changes nothing); the same
//! key with another body is refused with 409 `idempotency_key_reused`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use linli_domain::auth::{Action, GrantScope, Role};
use linli_domain::points::{self as rules, Basis, IdempotencyKey, PointsRuleError, RuleDraft};
use linli_domain::{CommunityId, ResidentId};
use linli_store::points::accounts::{self, HistoryRow};
use linli_store::points::approvals::{self, ApprovalRow, Decide, DecideRefusal, NewApproval};
use linli_store::points::catalogue::{self, NewOffer, OfferChange, OfferRow};
use linli_store::points::expiry;
use linli_store::points::{
    self as ledger, Award, Change, Confirm, LedgerRequest, Receipt, Redeem, Refund, RefundReason,
    Refusal, Reversal, RuleRow,
};
use linli_store::registry::residents;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::registry::record_target;
use crate::api::residents::{expected_version, reachable_resident};
use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

// ---------------------------------------------------------------------------------------
// Views

/// What a ledger request did. A replay of the same request returns this again, byte for
/// byte, with the header `Idempotent-Replayed: true`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptView {
    pub transfer_id: Uuid,
    /// Position in the community's ledger chain.
    pub seq: i64,
    /// `award`, `reversal`, …
    pub kind: String,
    pub amount: i64,
    pub from_account: Uuid,
    pub to_account: Uuid,
    pub resident_id: Option<Uuid>,
    /// The resident's balance after this transfer.
    pub balance: Option<i64>,
    pub rule_code: Option<String>,
    pub rule_version: Option<i32>,
    pub reverses_id: Option<Uuid>,
    pub memo: String,
    pub at: DateTime<Utc>,
}

impl From<Receipt> for ReceiptView {
    fn from(r: Receipt) -> Self {
        ReceiptView {
            transfer_id: r.transfer_id,
            seq: r.seq,
            kind: r.kind,
            amount: r.amount,
            from_account: r.from_account,
            to_account: r.to_account,
            resident_id: r.resident_id,
            balance: r.balance,
            rule_code: r.rule_code,
            rule_version: r.rule_version,
            reverses_id: r.reverses_id,
            memo: r.memo,
            at: r.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub seq: i64,
    /// Plus for points received, minus for points spent or taken back.
    pub amount: i64,
    pub transfer_id: Uuid,
    pub kind: String,
    pub rule_code: Option<String>,
    pub reverses_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub memo: String,
    pub at: DateTime<Utc>,
}

impl From<HistoryRow> for HistoryView {
    fn from(r: HistoryRow) -> Self {
        HistoryView {
            seq: r.seq,
            amount: r.amount,
            transfer_id: r.transfer_id,
            kind: r.kind,
            rule_code: r.rule_code,
            reverses_id: r.reverses_id,
            subject_id: r.subject_id,
            memo: r.memo,
            at: r.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub resident_id: Uuid,
    pub balance: i64,
    /// Newest first.
    pub entries: Vec<HistoryView>,
    /// Pass as `before` for older entries; null on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub id: Uuid,
    pub code: String,
    pub version: i64,
    pub name_zh: String,
    pub name_en: String,
    /// `per_hour`, `per_occasion` or `manual`.
    pub basis: String,
    pub points: i64,
    pub rounding_minutes: i64,
    pub min_minutes: i64,
    pub per_occasion_cap: Option<i64>,
    pub per_day_cap: Option<i64>,
    pub per_month_cap: Option<i64>,
    pub verifier_role: Option<String>,
    pub approval_threshold: Option<i64>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<RuleRow> for RuleView {
    fn from(r: RuleRow) -> Self {
        RuleView {
            id: r.id,
            code: r.code,
            version: r.version,
            name_zh: r.name_zh,
            name_en: r.name_en,
            basis: r.basis,
            points: r.points,
            rounding_minutes: r.rounding_minutes,
            min_minutes: r.min_minutes,
            per_occasion_cap: r.per_occasion_cap,
            per_day_cap: r.per_day_cap,
            per_month_cap: r.per_month_cap,
            verifier_role: r.verifier_role,
            approval_threshold: r.approval_threshold,
            active: r.active,
            created_at: r.created_at,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors

impl From<PointsRuleError> for ApiError {
    fn from(e: PointsRuleError) -> Self {
        let field = match e {
            PointsRuleError::AmountRange
            | PointsRuleError::PointsRequired
            | PointsRuleError::PointsNotExpected => "points",
            PointsRuleError::IdempotencyKey => "Idempotency-Key",
            PointsRuleError::MemoLength { .. } => "memo",
            PointsRuleError::MinutesRequired
            | PointsRuleError::MinutesNotExpected
            | PointsRuleError::TooShort(_) => "minutes",
            PointsRuleError::CapReached => {
                return ApiError::Conflict {
                    code: e.code(),
                    message: e.to_string(),
                };
            }
            _ => "rule",
        };
        ApiError::Rule {
            field,
            code: e.code(),
            message: e.to_string(),
        }
    }
}

pub(crate) fn refusal(r: Refusal) -> ApiError {
    let conflict = |code: &'static str, message: String| ApiError::Conflict { code, message };
    match r {
        Refusal::KeyReused => conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request".to_owned(),
        ),
        Refusal::InsufficientPoints { balance } => conflict(
            "insufficient_points",
            format!("the balance of {balance} points does not cover this"),
        ),
        Refusal::UnknownTransfer => ApiError::Rule {
            field: "transfer_id",
            code: "unknown_transfer",
            message: "no such transfer in this community".to_owned(),
        },
        Refusal::NotReversible(kind) => conflict(
            "not_reversible",
            format!(
                "a {} cannot be reversed (a redemption is cancelled; a reversal is never undone)",
                kind.as_str()
            ),
        ),
        Refusal::AlreadyReversed => conflict(
            "already_reversed",
            "this transfer has already been reversed".to_owned(),
        ),
        Refusal::RuleChanged => conflict(
            "rule_changed",
            "the rule changed while the request was prepared; send it again".to_owned(),
        ),
        Refusal::Rule(e) => e.into(),
        Refusal::OfferUnavailable => conflict(
            "offer_unavailable",
            "this offer is not available now".to_owned(),
        ),
        Refusal::SoldOut => conflict("sold_out", "this offer is sold out".to_owned()),
        Refusal::UnknownRedemption => ApiError::NotFound,
        Refusal::WrongCode => ApiError::Rule {
            field: "code",
            code: "wrong_code",
            message: "this code does not belong to this redemption".to_owned(),
        },
        Refusal::NotPending(status) => conflict(
            "redemption_not_pending",
            format!("this redemption is already {status}"),
        ),
        Refusal::CodeExpired => conflict(
            "code_expired",
            "this redemption's code has expired; the points go back to the resident".to_owned(),
        ),
        Refusal::NotDue => conflict("not_due", "this redemption has not expired yet".to_owned()),
    }
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request's `Idempotency-Key`, required on every ledger-changing POST.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let raw = headers
        .get(IDEMPOTENCY_KEY)
        .ok_or(ApiError::Rule {
            field: "Idempotency-Key",
            code: "idempotency_key_required",
            message:
                "send an Idempotency-Key header (a UUID will do) so a retry cannot count twice"
                    .to_owned(),
        })?
        .to_str()
        .map_err(|_| PointsRuleError::IdempotencyKey)?;
    Ok(IdempotencyKey::parse(raw.trim())?)
}

/// 201 with a ledger answer; a replay says so in a header (the body is the same).
pub(crate) fn created(view: impl Serialize, replayed: bool) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(view)).into_response();
    if replayed {
        response.headers_mut().insert(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    response
}

async fn submit(state: &AppState, request: LedgerRequest) -> Result<Response, ApiError> {
    let answer = ledger::submit(&state.db, request, Utc::now())
        .await?
        .map_err(refusal)?;
    Ok(created(ReceiptView::from(answer.receipt), answer.replayed))
}

// ---------------------------------------------------------------------------------------
// Accounts

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The `next` of the page before.
    pub before: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

fn history_page(query: &HistoryQuery) -> Result<(Option<i64>, u32), ApiError> {
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| ApiError::InvalidField {
            field: "before",
            message: "before is the `next` of the page before".to_owned(),
        })?),
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            message: "limit is 1 to 200".to_owned(),
        });
    }
    Ok((before, limit))
}

async fn account_view(
    state: &AppState,
    community: CommunityId,
    resident: Uuid,
    query: &HistoryQuery,
) -> Result<AccountView, ApiError> {
    let (before, limit) = history_page(query)?;
    let mut conn = state.db.acquire().await?;
    let history = accounts::history(&mut conn.exec(), community, resident, before, limit).await?;
    Ok(AccountView {
        resident_id: resident,
        balance: history.balance,
        entries: history.entries.into_iter().map(Into::into).collect(),
        next: history.next.map(|n| n.to_string()),
    })
}

/// A resident's points: balance and history. Residents read their own; staff those of
/// their community (grid workers: their grids).
#[utoipa::path(get, path = "/api/v1/points/accounts/{resident_id}", tag = "points", security(("bearer" = [])),
    params(("resident_id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = AccountView), (status = 404, body = Problem)))]
pub async fn get_account(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(resident_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let own = {
        let mut conn = state.db.acquire().await?;
        residents::find_resident(&mut conn.exec(), ResidentId(resident_id))
            .await?
            .filter(|r| r.account_id == Some(principal.account_id.0))
    };
    let proxy = match &own {
        Some(_) => None,
        None => {
            let row = {
                let mut conn = state.db.acquire().await?;
                residents::find_resident(&mut conn.exec(), ResidentId(resident_id)).await?
            };
            match row {
                Some(row) => crate::api::proxies::standing_proxy(
                    &state,
                    &principal,
                    CommunityId(row.community_id),
                    resident_id,
                )
                .await?
                .map(|p| p.community_id),
                None => None,
            }
        }
    };
    let community = match (own, proxy) {
        (Some(row), _) => row.community_id,
        (None, Some(community)) => community,
        (None, None) => {
            reachable_resident(
                &state,
                &principal,
                ResidentId(resident_id),
                Action::ReadPoints,
            )
            .await?
            .community_id
        }
    };
    Ok(axum::Json(
        account_view(&state, CommunityId(community), resident_id, &query).await?,
    ))
}

/// The signed-in resident's own points.
#[utoipa::path(get, path = "/api/v1/me/points", tag = "points", security(("bearer" = [])),
    params(HistoryQuery),
    responses((status = 200, body = AccountView), (status = 404, body = Problem)))]
pub async fn my_points(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let community = principal.default_community().ok_or(ApiError::NotFound)?;
    let me = crate::api::residents::own_resident(&state, community, principal.account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(
        account_view(&state, community, me.id, &query).await?,
    ))
}

// ---------------------------------------------------------------------------------------
// Awards

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardRequest {
    pub resident_id: Uuid,
    /// The rule's code, e.g. `volunteer_service`.
    pub rule: String,
    /// Time served, for rules that count hours.
    pub minutes: Option<u32>,
    /// The number of points, for manual rules only.
    pub points: Option<i64>,
    /// What the award is for (a service record, a meeting…), if anything.
    pub subject_id: Option<Uuid>,
    /// A note shown in the resident's history (up to 500 characters).
    pub memo: Option<String>,
}

/// Awards points to a resident under one of the community's rules (issuance → resident),
/// within the rule's caps. A manual award above its rule's threshold is not made yet: it
/// waits for a second approver (202 with the request; see `/api/v1/points/approvals`).
#[utoipa::path(post, path = "/api/v1/points/awards", tag = "points", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "8 to 128 characters, unique per request")),
    request_body = AwardRequest,
    responses((status = 201, body = ReceiptView), (status = 202, body = ApprovalView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn award(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AwardRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let memo = match body.memo.as_deref() {
        Some(m) => rules::memo(m, 0)?,
        None => String::new(),
    };
    let resident = residents::locate(&state.db, ResidentId(body.resident_id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let target = record_target(&state, resident.community_id, resident.grid_id).await?;
    principal
        .authorize(&state, Action::AwardPoints, &target, Deny::AsNotFound)
        .await?;
    let community = CommunityId(resident.community_id);
    let rule_row = rules_in_force(&state, community)
        .await?
        .iter()
        .find(|r| r.code == body.rule && r.active)
        .cloned()
        .ok_or(ApiError::Rule {
            field: "rule",
            code: "unknown_rule",
            message: "no rule of this community in force has this code".to_owned(),
        })?;
    let rule = rule_row.rule()?;
    let earned = rule.points_for(body.minutes, body.points)?;
    if let Some(role) = rule.draft.verifier_role
        && !holds_role(&principal, community, role)
    {
        return Err(ApiError::Forbidden);
    }
    let (_, ctx) = community_target(&state, community).await?;
    let (day_start, month_start) = rules::period_starts(&ctx.time_zone, Utc::now());
    let request = serde_json::json!({
        "op": "award",
        "resident_id": body.resident_id,
        "rule": body.rule,
        "minutes": body.minutes,
        "points": body.points,
        "subject_id": body.subject_id,
        "memo": memo,
    });
    if rule.needs_second_approver(earned) {
        return request_approval(
            &state,
            NewApproval {
                community,
                resident: ResidentId(body.resident_id),
                rule_id: rule_row.id,
                rule_code: rule_row.code.clone(),
                points: earned,
                memo,
                subject: body.subject_id,
                requested_by: principal.account_id,
                key,
                request,
            },
        )
        .await;
    }
    submit(
        &state,
        LedgerRequest {
            community,
            actor: Some(principal.account_id),
            key: Some(key),
            request,
            change: Change::Award(Box::new(Award {
                resident: ResidentId(body.resident_id),
                rule_id: rule_row.id,
                rule,
                earned,
                subject: body.subject_id,
                memo,
                day_start,
                month_start,
                approver: None,
            })),
            audit: None,
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Second approval of large manual awards

/// A manual award waiting for (or decided by) a second approver.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub rule: String,
    pub points: i64,
    pub memo: String,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    /// `pending`, `approved` or `declined`.
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub decision_note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The award's transfer, once approved.
    pub transfer_id: Option<Uuid>,
}

impl From<ApprovalRow> for ApprovalView {
    fn from(r: ApprovalRow) -> Self {
        ApprovalView {
            id: r.id,
            resident_id: r.resident_id,
            rule: r.rule_code,
            points: r.points,
            memo: r.memo,
            requested_by: r.requested_by,
            requested_at: r.requested_at,
            status: r.status,
            decided_by: r.decided_by,
            decision_note: r.decision_note,
            decided_at: r.decided_at,
            transfer_id: r.transfer_id,
        }
    }
}

/// 202: the award waits for a second approver (a retry finds the same request).
async fn request_approval(state: &AppState, new: NewApproval) -> Result<Response, ApiError> {
    let (row, replayed) = approvals::request(&state.db, &new, Utc::now())
        .await?
        .map_err(refusal)?;
    let mut response = (StatusCode::ACCEPTED, axum::Json(ApprovalView::from(row))).into_response();
    if replayed {
        response.headers_mut().insert(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApprovalQuery {
    pub community_id: Uuid,
    /// `pending` (default) or `all`.
    pub status: Option<String>,
}

/// Large manual awards waiting for a second approver (oldest first), or all of them.
#[utoipa::path(get, path = "/api/v1/points/approvals", tag = "points", security(("bearer" = [])),
    params(ApprovalQuery),
    responses((status = 200, body = [ApprovalView]), (status = 403, body = Problem)))]
pub async fn list_approvals(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ApprovalQuery>,
) -> Result<axum::Json<Vec<ApprovalView>>, ApiError> {
    let community = CommunityId(query.community_id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::CorrectPoints, &target, Deny::AsForbidden)
        .await?;
    let pending_only = match query.status.as_deref() {
        None | Some("pending") => true,
        Some("all") => false,
        Some(_) => {
            return Err(ApiError::InvalidField {
                field: "status",
                message: "status is `pending` or `all`".to_owned(),
            });
        }
    };
    let mut conn = state.db.acquire().await?;
    let rows = approvals::list(&mut conn.exec(), community, pending_only, 500).await?;
    Ok(axum::Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `approve` or `decline`.
    pub decision: String,
    /// Up to 500 characters; required to decline.
    pub note: Option<String>,
}

/// Approves (the points are awarded, naming both people) or declines a large manual
/// award. The person who asked cannot approve it.
#[utoipa::path(post, path = "/api/v1/points/approvals/{id}/decision", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "8 to 128 characters, unique per request")),
    request_body = DecisionRequest,
    responses((status = 201, body = ApprovalView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn decide_approval(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let approve = match body.decision.as_str() {
        "approve" => true,
        "decline" => false,
        _ => {
            return Err(ApiError::InvalidField {
                field: "decision",
                message: "decision is `approve` or `decline`".to_owned(),
            });
        }
    };
    let note = rules::memo(body.note.as_deref().unwrap_or(""), 0)?;
    if !approve && note.is_empty() {
        return Err(ApiError::Rule {
            field: "note",
            code: "reason_required",
            message: "say why the award is declined".to_owned(),
        });
    }
    let row = {
        let mut conn = state.db.acquire().await?;
        approvals::find(&mut conn.exec(), id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let (target, ctx) = community_target(&state, CommunityId(row.community_id)).await?;
    principal
        .authorize(&state, Action::CorrectPoints, &target, Deny::AsNotFound)
        .await?;
    let (day_start, month_start) = rules::period_starts(&ctx.time_zone, Utc::now());
    let (row, replayed) = approvals::decide(
        &state.db,
        Decide {
            community: CommunityId(row.community_id),
            approval: id,
            approver: principal.account_id,
            approve,
            note,
            key,
            day_start,
            month_start,
        },
        Utc::now(),
    )
    .await?
    .map_err(|r| match r {
        DecideRefusal::Unknown => ApiError::NotFound,
        DecideRefusal::AlreadyDecided(status) => ApiError::Conflict {
            code: "already_decided",
            message: format!("this award is already {status}"),
        },
        DecideRefusal::SameApprover => ApiError::Conflict {
            code: "same_approver",
            message: "the person who asked for an award cannot also approve it".to_owned(),
        },
        DecideRefusal::KeyReused => refusal(Refusal::KeyReused),
        DecideRefusal::Ledger(r) => refusal(r),
    })?;
    Ok(created(ApprovalView::from(row), replayed))
}

/// The community's rules in force, from the per-process cache.
pub(crate) async fn rules_in_force(
    state: &AppState,
    community: CommunityId,
) -> Result<std::sync::Arc<Vec<RuleRow>>, ApiError> {
    if let Some(rules) = state.points_rules.get(&community.0) {
        return Ok(rules);
    }
    let rows = {
        let mut conn = state.db.acquire().await?;
        ledger::current_rules(&mut conn.exec(), community).await?
    };
    let rules = std::sync::Arc::new(rows);
    state.points_rules.put(community.0, rules.clone());
    Ok(rules)
}

/// Whether the principal holds `role` in the community (a rule's verifier). Community
/// administrators stand in for any staff role.
pub(crate) fn holds_role(principal: &Principal, community: CommunityId, role: Role) -> bool {
    principal.grants.iter().any(|g| {
        let here = match &g.scope {
            GrantScope::Community { community_id } | GrantScope::Grids { community_id, .. } => {
                *community_id == community
            }
            GrantScope::District { .. } => false,
        };
        here && (g.role == role || g.role == Role::CommunityAdmin)
    })
}

// ---------------------------------------------------------------------------------------
// Reversals

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    /// The transfer to undo (an award, or an expiry).
    pub transfer_id: Uuid,
    /// Why (2 to 500 characters); kept in the ledger and the audit log.
    pub reason: String,
}

/// Corrects the ledger: a new transfer that reverses an earlier one, linked to it. An
/// award whose points were already spent cannot be taken back.
#[utoipa::path(post, path = "/api/v1/points/reversals", tag = "points", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "8 to 128 characters, unique per request")),
    request_body = ReversalRequest,
    responses((status = 201, body = ReceiptView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reverse(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReversalRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let reason = rules::memo(&body.reason, 2)?;
    let community = {
        let mut conn = state.db.acquire().await?;
        ledger::transfer_community(&mut conn.exec(), body.transfer_id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::CorrectPoints, &target, Deny::AsNotFound)
        .await?;
    let audit = principal.success_event(
        community,
        "points.reverse",
        "points_transfer",
        body.transfer_id,
        serde_json::json!({ "reverses": body.transfer_id }),
    );
    let request = serde_json::json!({
        "op": "reversal",
        "transfer_id": body.transfer_id,
        "reason": reason,
    });
    submit(
        &state,
        LedgerRequest {
            community,
            actor: Some(principal.account_id),
            key: Some(key),
            request,
            change: Change::Reversal(Reversal {
                transfer: body.transfer_id,
                memo: reason,
            }),
            audit: Some(audit),
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Settings: expiry

/// How long points last. Expiry is off unless a community sets `expiry_months`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsSettingsView {
    /// Points expire this many months (1 to 120) after they were earned, oldest first;
    /// `null`: they never expire (the default).
    pub expiry_months: Option<i64>,
    /// Residents are told this many days (1 to 90) before points expire. Default 30.
    pub notice_days: Option<i64>,
}

impl PointsSettingsView {
    /// The notice period (default 30 days), if both values are in range.
    pub fn checked(&self) -> Result<i64, ApiError> {
        if self.expiry_months.is_some_and(|m| !(1..=120).contains(&m)) {
            return Err(ApiError::InvalidField {
                field: "expiry_months",
                message: "expiry_months is 1 to 120, or null for no expiry".to_owned(),
            });
        }
        let notice_days = self.notice_days.unwrap_or(expiry::DEFAULT_NOTICE_DAYS);
        if !(1..=90).contains(&notice_days) {
            return Err(ApiError::InvalidField {
                field: "notice_days",
                message: "notice_days is 1 to 90".to_owned(),
            });
        }
        Ok(notice_days)
    }
}

/// The community's points settings. Everyone in the community may read them.
#[utoipa::path(get, path = "/api/v1/communities/{id}/points-settings", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = PointsSettingsView), (status = 404, body = Problem)))]
pub async fn get_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<PointsSettingsView>, ApiError> {
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let mut conn = state.db.acquire().await?;
    let row = expiry::settings(&mut conn.exec(), CommunityId(id)).await?;
    Ok(axum::Json(PointsSettingsView {
        expiry_months: row.as_ref().and_then(|r| r.expiry_months),
        notice_days: Some(row.map_or(expiry::DEFAULT_NOTICE_DAYS, |r| r.notice_days)),
    }))
}

/// Turns expiry on or off (community administrators; audited). Turning it on expires,
/// at the next daily sweep, everything earned longer ago than the period.
#[utoipa::path(put, path = "/api/v1/communities/{id}/points-settings", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PointsSettingsView,
    responses((status = 200, body = PointsSettingsView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PointsSettingsView>,
) -> Result<axum::Json<PointsSettingsView>, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::ManagePointsRules,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    let notice_days = body.checked()?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    expiry::put_settings(
        &mut tx.exec(),
        community,
        body.expiry_months,
        notice_days,
        principal.account_id,
        now,
    )
    .await?;
    let event = principal.success_event(
        community,
        "points_settings_changed",
        "community",
        community.0,
        serde_json::json!({ "expiry_months": body.expiry_months, "notice_days": notice_days }),
    );
    linli_store::audit::append(&mut tx.exec(), &event, now).await?;
    tx.commit().await?;
    Ok(axum::Json(PointsSettingsView {
        expiry_months: body.expiry_months,
        notice_days: Some(notice_days),
    }))
}

// ---------------------------------------------------------------------------------------
// Rules

/// The community's earning rules in force. Everyone in the community may read them.
#[utoipa::path(get, path = "/api/v1/communities/{id}/points-rules", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<RuleView>), (status = 404, body = Problem)))]
pub async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Vec<RuleView>>, ApiError> {
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let mut conn = state.db.acquire().await?;
    let rows = ledger::current_rules(&mut conn.exec(), CommunityId(id)).await?;
    Ok(axum::Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    pub name_zh: String,
    pub name_en: String,
    /// `per_hour`, `per_occasion` or `manual`.
    pub basis: String,
    /// Per hour, per occasion, or (manual) the most one award may give.
    pub points: i64,
    /// Hours count in whole steps of this many minutes (default 30).
    pub rounding_minutes: Option<u32>,
    pub min_minutes: Option<u32>,
    pub per_occasion_cap: Option<i64>,
    pub per_day_cap: Option<i64>,
    pub per_month_cap: Option<i64>,
    /// The role that must confirm a contribution before it earns (e.g. `community_staff`).
    pub verifier_role: Option<String>,
    /// Manual rules: awards above this need a second approver.
    pub approval_threshold: Option<i64>,
    pub active: Option<bool>,
}

/// Writes a rule: a new code starts at version 1, a change makes the next version. Awards
/// already made keep the version they were made under.
#[utoipa::path(put, path = "/api/v1/communities/{id}/points-rules/{code}", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("code" = String, Path)), request_body = RuleRequest,
    responses((status = 200, body = RuleView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_rule(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, code)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<RuleRequest>,
) -> Result<axum::Json<RuleView>, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::ManagePointsRules,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    let basis = Basis::parse(&body.basis).ok_or(ApiError::Rule {
        field: "basis",
        code: "unknown_value",
        message: "basis is per_hour, per_occasion or manual".to_owned(),
    })?;
    let verifier_role = match body.verifier_role.as_deref() {
        Some(r) => Some(Role::parse(r).map_err(|_| ApiError::Rule {
            field: "verifier_role",
            code: "unknown_value",
            message: format!("unknown role {r:?}"),
        })?),
        None => None,
    };
    let draft = RuleDraft {
        code,
        name_zh: body.name_zh,
        name_en: body.name_en,
        basis,
        points: body.points,
        rounding_minutes: body.rounding_minutes.unwrap_or(30),
        min_minutes: body.min_minutes.unwrap_or(0),
        per_occasion_cap: body.per_occasion_cap,
        per_day_cap: body.per_day_cap,
        per_month_cap: body.per_month_cap,
        verifier_role,
        approval_threshold: body.approval_threshold,
        active: body.active.unwrap_or(true),
    }
    .check()?;
    let event = principal.success_event(
        community,
        "points.rule.put",
        "points_rule",
        &draft.code,
        serde_json::json!({}),
    );
    let row = ledger::put_rule(
        &state.db,
        community,
        &draft,
        Some(principal.account_id),
        &event,
        Utc::now(),
    )
    .await?;
    state.points_rules.invalidate(&community.0);
    Ok(axum::Json(row.into()))
}

// ---------------------------------------------------------------------------------------
// The catalogue

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub id: Uuid,
    pub community_id: Uuid,
    /// `station` or `partner`.
    pub provider_kind: String,
    pub provider_id: Uuid,
    pub title: String,
    pub description: String,
    /// `service`, `goods` or `discount`.
    pub kind: String,
    pub cost: i64,
    pub stock: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub active: bool,
    /// Send it back as `If-Match` with a change.
    pub version: i64,
}

impl From<OfferRow> for OfferView {
    fn from(r: OfferRow) -> Self {
        OfferView {
            id: r.id,
            community_id: r.community_id,
            provider_kind: r.provider_kind,
            provider_id: r.provider_id,
            title: r.title,
            description: r.description,
            kind: r.kind,
            cost: r.cost,
            stock: r.stock,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            active: r.active,
            version: r.version,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CatalogueQuery {
    /// Defaults to the caller's own community.
    pub community_id: Option<Uuid>,
}

/// The community's catalogue. Residents see what can be redeemed now; staff see every
/// offer, withdrawn and sold-out ones included.
#[utoipa::path(get, path = "/api/v1/points/catalogue", tag = "points", security(("bearer" = [])),
    params(CatalogueQuery), responses((status = 200, body = Vec<OfferView>), (status = 404, body = Problem)))]
pub async fn catalogue(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<CatalogueQuery>,
) -> Result<axum::Json<Vec<OfferView>>, ApiError> {
    let community = query
        .community_id
        .map(CommunityId)
        .or(principal.default_community())
        .ok_or(ApiError::NotFound)?;
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let everything = principal.can(Action::ManagePointsCatalogue, &target);
    let mut conn = state.db.acquire().await?;
    let rows =
        catalogue::list_offers(&mut conn.exec(), community, (!everything).then(Utc::now)).await?;
    Ok(axum::Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    /// Defaults to the caller's own community.
    pub community_id: Option<Uuid>,
    /// `station` (a service point) or `partner` (an organisation).
    pub provider_kind: String,
    pub provider_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    /// `service`, `goods` or `discount`.
    pub kind: String,
    pub cost: i64,
    pub stock: i64,
    /// Defaults to now.
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: DateTime<Utc>,
}

fn offer_kind(raw: &str) -> Result<&'static str, ApiError> {
    ["service", "goods", "discount"]
        .into_iter()
        .find(|k| *k == raw)
        .ok_or(ApiError::Rule {
            field: "kind",
            code: "unknown_value",
            message: "kind is service, goods or discount".to_owned(),
        })
}

fn provider_kind(raw: &str) -> Result<&'static str, ApiError> {
    ["station", "partner"]
        .into_iter()
        .find(|k| *k == raw)
        .ok_or(ApiError::Rule {
            field: "provider_kind",
            code: "unknown_value",
            message: "provider_kind is station or partner".to_owned(),
        })
}

fn stock_and_cost(cost: i64, stock: i64) -> Result<(), ApiError> {
    linli_domain::points::Points::new(cost).map_err(|_| ApiError::Rule {
        field: "cost",
        code: "points_amount_range",
        message: "a cost is 1 to 1,000,000 points".to_owned(),
    })?;
    if !(0..=1_000_000).contains(&stock) {
        return Err(ApiError::Rule {
            field: "stock",
            code: "stock_range",
            message: "stock is 0 to 1,000,000".to_owned(),
        });
    }
    Ok(())
}

/// Adds an offer of a station or partner to the catalogue (community staff).
#[utoipa::path(post, path = "/api/v1/points/catalogue", tag = "points", security(("bearer" = [])),
    request_body = OfferRequest,
    responses((status = 201, body = OfferView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_offer(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<OfferRequest>,
) -> Result<(StatusCode, axum::Json<OfferView>), ApiError> {
    let community = body
        .community_id
        .map(CommunityId)
        .or(principal.default_community())
        .ok_or(ApiError::NotFound)?;
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::ManagePointsCatalogue,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    let provider_kind = provider_kind(&body.provider_kind)?;
    let kind = offer_kind(&body.kind)?;
    stock_and_cost(body.cost, body.stock)?;
    let title = rules::memo(&body.title, 2)
        .ok()
        .filter(|t| t.chars().count() <= 60)
        .ok_or(ApiError::Rule {
            field: "title",
            code: "title_length",
            message: "a title has 2 to 60 characters".to_owned(),
        })?;
    let description = rules::memo(body.description.as_deref().unwrap_or(""), 0)?;
    let now = Utc::now();
    let valid_from = body.valid_from.unwrap_or(now);
    if body.valid_until <= valid_from || body.valid_until <= now {
        return Err(ApiError::Rule {
            field: "valid_until",
            code: "validity_period",
            message: "an offer ends after it starts, and in the future".to_owned(),
        });
    }
    let offer = NewOffer {
        id: Uuid::now_v7(),
        provider_kind,
        provider_id: body.provider_id,
        title,
        description,
        kind,
        cost: body.cost,
        stock: body.stock,
        valid_from,
        valid_until: body.valid_until,
        active: true,
    };
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    if !catalogue::provider_exists(&mut ex, community, provider_kind, body.provider_id).await? {
        return Err(ApiError::Rule {
            field: "provider_id",
            code: "unknown_provider",
            message: "no service point or organisation of this community has this id".to_owned(),
        });
    }
    catalogue::insert_offer(&mut ex, community, &offer, now).await?;
    let row = catalogue::find_offer(&mut ex, community, offer.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferChangeRequest {
    pub cost: i64,
    pub stock: i64,
    pub valid_until: DateTime<Utc>,
    pub active: bool,
}

/// Changes an offer's cost, stock, end or whether it is offered (`If-Match`: its version).
/// Redemptions already made keep the cost they were made at.
#[utoipa::path(put, path = "/api/v1/points/catalogue/{id}", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = String, Header)), request_body = OfferChangeRequest,
    responses((status = 200, body = OfferView), (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn update_offer(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<OfferChangeRequest>,
) -> Result<axum::Json<OfferView>, ApiError> {
    let version = expected_version(&headers)?;
    stock_and_cost(body.cost, body.stock)?;
    let community = {
        let mut conn = state.db.acquire().await?;
        catalogue::offer_community(&mut conn.exec(), id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::ManagePointsCatalogue,
            &target,
            Deny::AsNotFound,
        )
        .await?;
    let change = OfferChange {
        cost: body.cost,
        stock: body.stock,
        valid_until: body.valid_until,
        active: body.active,
    };
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    if !catalogue::update_offer(&mut ex, community, id, version, &change, Utc::now()).await? {
        return Err(ApiError::StaleVersion);
    }
    let row = catalogue::find_offer(&mut ex, community, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(axum::Json(row.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmerRequest {
    /// The station (service point) or partner (organisation).
    pub provider_id: Uuid,
    /// The account that will confirm redemptions for it on their phone.
    pub account_id: Uuid,
}

/// Lets an account confirm redemptions for a station or partner (community staff).
#[utoipa::path(post, path = "/api/v1/communities/{id}/points-confirmers", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ConfirmerRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn add_confirmer(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ConfirmerRequest>,
) -> Result<StatusCode, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::ManagePointsCatalogue,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    let known = catalogue::provider_exists(&mut ex, community, "station", body.provider_id).await?
        || catalogue::provider_exists(&mut ex, community, "partner", body.provider_id).await?;
    if !known {
        return Err(ApiError::Rule {
            field: "provider_id",
            code: "unknown_provider",
            message: "no service point or organisation of this community has this id".to_owned(),
        });
    }
    let account = linli_domain::AccountId(body.account_id);
    catalogue::add_confirmer(&mut ex, community, body.provider_id, account, now)
        .await
        .map_err(|e| match e {
            linli_store::StoreError::ForeignKey(_) => ApiError::Rule {
                field: "account_id",
                code: "unknown_account",
                message: "no such account".to_owned(),
            },
            other => other.into(),
        })?;
    let event = principal.success_event(
        community,
        "points.confirmer.add",
        "points_provider",
        body.provider_id,
        serde_json::json!({ "account": body.account_id }),
    );
    linli_store::audit::append(&mut ex, &event, now).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------
// Redemptions

/// A redemption's receipt with its one-time code: show the code (or its QR) at the
/// station or partner before `expires_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionReceiptView {
    pub redemption_id: Uuid,
    pub code: String,
    pub expires_at: DateTime<Utc>,
    #[serde(flatten)]
    pub receipt: ReceiptView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub offer_id: Uuid,
    /// Redeem for an elderly resident one is a standing proxy for (their points).
    pub on_behalf_of: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActingQuery {
    /// Read the redemptions of a resident one is a standing proxy for.
    pub on_behalf_of: Option<Uuid>,
}

/// Whose points a request spends: the signed-in resident's own, or — for a standing
/// proxy — the resident they act for, with the grant's id (the act's audit entry names it).
pub(crate) async fn acting_resident(
    state: &AppState,
    principal: &Principal,
    on_behalf_of: Option<Uuid>,
) -> Result<(CommunityId, Uuid, Option<Uuid>), ApiError> {
    let Some(resident) = on_behalf_of else {
        let (community, me) = me_as_resident(state, principal).await?;
        return Ok((community, me, None));
    };
    let row = {
        let mut conn = state.db.acquire().await?;
        residents::find_resident(&mut conn.exec(), ResidentId(resident)).await?
    }
    .ok_or(ApiError::NotFound)?;
    let community = CommunityId(row.community_id);
    let proxy = crate::api::proxies::standing_proxy(state, principal, community, resident)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((community, resident, Some(proxy.id)))
}

/// The signed-in resident's record in their community (points belong to residents).
async fn me_as_resident(
    state: &AppState,
    principal: &Principal,
) -> Result<(CommunityId, Uuid), ApiError> {
    let community = principal.default_community().ok_or(ApiError::NotFound)?;
    let me = crate::api::residents::own_resident(state, community, principal.account_id)
        .await?
        .ok_or(ApiError::Rule {
            field: "resident",
            code: "not_a_resident",
            message: "only a registered resident holds points".to_owned(),
        })?;
    Ok((community, me.id))
}

/// Redeems an offer: the cost is held until the station or partner confirms with the
/// one-time code (or given back if nobody does within 7 days).
#[utoipa::path(post, path = "/api/v1/points/redemptions", tag = "points", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "8 to 128 characters, unique per request")),
    request_body = RedeemRequest,
    responses((status = 201, body = RedemptionReceiptView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn redeem(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RedeemRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (community, resident, proxy) =
        acting_resident(&state, &principal, body.on_behalf_of).await?;
    let redemption = Uuid::now_v7();
    let code = crate::points::redemption_code(&state.data_key, redemption);
    let request = serde_json::json!({
        "op": "redeem",
        "offer_id": body.offer_id,
        "on_behalf_of": body.on_behalf_of,
    });
    let audit = proxy.map(|proxy| {
        principal.success_event(
            community,
            "points_redeemed_by_proxy",
            "resident",
            resident,
            serde_json::json!({ "proxy_id": proxy, "offer_id": body.offer_id }),
        )
    });
    let answer = ledger::submit(
        &state.db,
        LedgerRequest {
            community,
            actor: Some(principal.account_id),
            key: Some(key),
            request,
            change: Change::Redeem(Redeem {
                resident: ResidentId(resident),
                redemption,
                offer: body.offer_id,
                code_hash: crate::points::code_hash(&code),
                valid_for: crate::points::REDEMPTION_VALIDITY,
            }),
            audit,
        },
        Utc::now(),
    )
    .await?
    .map_err(refusal)?;
    // On a replay the redemption is the one first made, not the id drawn above.
    let redemption = answer.receipt.subject_id.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "a redemption receipt without its redemption"
        ))
    })?;
    let view = RedemptionReceiptView {
        redemption_id: redemption,
        code: crate::points::redemption_code(&state.data_key, redemption),
        expires_at: crate::points::redemption_expiry(answer.receipt.at),
        receipt: answer.receipt.into(),
    };
    Ok(created(view, answer.replayed))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: Uuid,
    pub offer_id: Uuid,
    pub cost: i64,
    /// `pending`, `confirmed`, `cancelled` or `expired`.
    pub status: String,
    /// While pending: the code to show.
    pub code: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

/// The signed-in resident's redemptions (or those of a resident one is a proxy for),
/// newest first, pending ones with their code.
#[utoipa::path(get, path = "/api/v1/me/redemptions", tag = "points", security(("bearer" = [])),
    params(ActingQuery),
    responses((status = 200, body = Vec<RedemptionView>), (status = 422, body = Problem)))]
pub async fn my_redemptions(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ActingQuery>,
) -> Result<axum::Json<Vec<RedemptionView>>, ApiError> {
    let (community, resident, _) = acting_resident(&state, &principal, query.on_behalf_of).await?;
    let rows = {
        let mut conn = state.db.acquire().await?;
        catalogue::redemptions_of(&mut conn.exec(), community, resident, 100).await?
    };
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| RedemptionView {
                code: (r.status == "pending")
                    .then(|| crate::points::redemption_code(&state.data_key, r.id)),
                id: r.id,
                offer_id: r.offer_id,
                cost: r.cost,
                status: r.status,
                expires_at: r.expires_at,
                created_at: r.created_at,
                settled_at: r.settled_at,
            })
            .collect(),
    ))
}

/// Cancels one's own pending redemption: the points and the stock come back.
#[utoipa::path(post, path = "/api/v1/points/redemptions/{id}/cancel", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = ReceiptView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_redemption(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let row = {
        let mut conn = state.db.acquire().await?;
        catalogue::find_redemption(&mut conn.exec(), id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let community = CommunityId(row.community_id);
    let own = crate::api::residents::own_resident(&state, community, principal.account_id)
        .await?
        .is_some_and(|me| me.id == row.resident_id);
    if !own
        && crate::api::proxies::standing_proxy(&state, &principal, community, row.resident_id)
            .await?
            .is_none()
    {
        return Err(ApiError::NotFound);
    }
    submit(
        &state,
        LedgerRequest {
            community,
            actor: Some(principal.account_id),
            key: Some(key),
            request: serde_json::json!({ "op": "cancel", "redemption": row.id }),
            change: Change::Refund(Refund {
                redemption: row.id,
                why: RefundReason::Cancelled,
            }),
            audit: None,
        },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The one-time code the resident shows (case, spaces and dashes do not matter).
    pub code: String,
}

/// Confirms a redemption at the station or partner (核销): the held points go to them.
/// Open to the accounts registered as their confirmers, and to community staff for
/// stations.
#[utoipa::path(post, path = "/api/v1/points/redemptions/{id}/confirm", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header)), request_body = ConfirmRequest,
    responses((status = 201, body = ReceiptView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn confirm_redemption(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (row, offer) = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        let row = catalogue::find_redemption(&mut ex, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let offer = catalogue::find_offer(&mut ex, CommunityId(row.community_id), row.offer_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        (row, offer)
    };
    let community = CommunityId(row.community_id);
    if !may_confirm(&state, &principal, community, &offer).await? {
        return Err(ApiError::NotFound);
    }
    submit(
        &state,
        LedgerRequest {
            community,
            actor: Some(principal.account_id),
            key: Some(key),
            request: serde_json::json!({ "op": "confirm", "redemption": id, "code": crate::points::code_hash(&body.code) }),
            change: Change::Confirm(Confirm {
                redemption: id,
                code_hash: crate::points::code_hash(&body.code),
            }),
            audit: None,
        },
    )
    .await
}

/// Registered confirmers of the offer's provider; community staff and administrators at
/// the community's own stations.
pub(crate) async fn may_confirm(
    state: &AppState,
    principal: &Principal,
    community: CommunityId,
    offer: &OfferRow,
) -> Result<bool, ApiError> {
    let mut conn = state.db.acquire().await?;
    if catalogue::is_confirmer(
        &mut conn.exec(),
        community,
        offer.provider_id,
        principal.account_id,
    )
    .await?
    {
        return Ok(true);
    }
    Ok(
        offer.provider_kind == "station"
            && (holds_role(principal, community, Role::CommunityStaff)),
    )
}
