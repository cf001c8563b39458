//! Contribution points over JSON: accounts and their history, awards, reversals, and the
//! earning rules. Every ledger-changing POST takes an `Idempotency-Key` header: a retry
//! with the same key and body gets the first answer again (and changes nothing); the same
//! key with another body is refused with 409 `idempotency_key_reused`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use linli_domain::auth::{Action, GrantScope, Role};
use linli_domain::matters::utc_offset;
use linli_domain::points::{self as rules, Basis, IdempotencyKey, PointsRuleError, RuleDraft};
use linli_domain::{CommunityId, ResidentId};
use linli_store::points::accounts::{self, HistoryRow};
use linli_store::points::{
    self as ledger, Award, Change, LedgerRequest, Receipt, Refusal, Reversal, RuleRow,
};
use linli_store::registry::residents;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::residents::reachable_resident;
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

fn refusal(r: Refusal) -> ApiError {
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
    }
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request's `Idempotency-Key`, required on every ledger-changing POST.
fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
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

/// 201 with the receipt; a replay says so in a header (the body is the same).
fn receipt_response(receipt: Receipt, replayed: bool) -> Response {
    let mut response =
        (StatusCode::CREATED, axum::Json(ReceiptView::from(receipt))).into_response();
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
    Ok(receipt_response(answer.receipt, answer.replayed))
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
    let community = match own {
        Some(row) => row.community_id,
        None => {
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
    let me = residents::find_reporter(&state.db, community, principal.account_id)
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
/// within the rule's caps.
#[utoipa::path(post, path = "/api/v1/points/awards", tag = "points", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "8 to 128 characters, unique per request")),
    request_body = AwardRequest,
    responses((status = 201, body = ReceiptView), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
    let resident = reachable_resident(
        &state,
        &principal,
        ResidentId(body.resident_id),
        Action::AwardPoints,
    )
    .await?;
    let community = CommunityId(resident.community_id);
    let rule_row = {
        let mut conn = state.db.acquire().await?;
        ledger::current_rule(&mut conn.exec(), community, &body.rule).await?
    }
    .filter(|r| r.active)
    .ok_or(ApiError::Rule {
        field: "rule",
        code: "unknown_rule",
        message: "no rule of this community in force has this code".to_owned(),
    })?;
    let rule = rule_row.rule()?;
    let earned = rule.points_for(body.minutes, body.points)?;
    if rule.needs_second_approver(earned) {
        return Err(ApiError::Conflict {
            code: "second_approver_required",
            message: format!(
                "awards above {} points under this rule need a second approver",
                rule.draft.approval_threshold.unwrap_or_default()
            ),
        });
    }
    if let Some(role) = rule.draft.verifier_role
        && !holds_role(&principal, community, role)
    {
        return Err(ApiError::Forbidden);
    }
    let (_, ctx) = community_target(&state, community).await?;
    let (day_start, month_start) = day_and_month_start(&ctx.time_zone, Utc::now());
    let request = serde_json::json!({
        "op": "award",
        "resident_id": body.resident_id,
        "rule": body.rule,
        "minutes": body.minutes,
        "points": body.points,
        "subject_id": body.subject_id,
        "memo": memo,
    });
    submit(
        &state,
        LedgerRequest {
            community,
            actor: principal.account_id,
            key,
            request,
            change: Change::Award(Box::new(Award {
                resident: ResidentId(resident.id),
                rule_id: rule_row.id,
                rule,
                earned,
                subject: body.subject_id,
                memo,
                day_start,
                month_start,
            })),
            audit: None,
        },
    )
    .await
}

/// Whether the principal holds `role` in the community (a rule's verifier). Community
/// administrators stand in for any staff role.
fn holds_role(principal: &Principal, community: CommunityId, role: Role) -> bool {
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

/// Where the community's current day and month began, in UTC (the caps count in the
/// community's own time).
fn day_and_month_start(time_zone: &str, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let offset = utc_offset(time_zone);
    let local = now.with_timezone(&offset).date_naive();
    let start = |date: chrono::NaiveDate| {
        offset
            .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
            .single()
            .map_or(now, |t| t.with_timezone(&Utc))
    };
    let month = local.with_day(1).unwrap_or(local);
    (start(local), start(month))
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
            actor: principal.account_id,
            key,
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
    Ok(axum::Json(row.into()))
}
