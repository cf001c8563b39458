//! The staff side of points and volunteering (积分管理): service hours waiting for a
//! verifier, recording hours and issuing certificates, large awards waiting for a second
//! approver, the rules in force, the ledger as chained, monthly rankings and the
//! engagement ladder. Each form goes through the same handler as the JSON API, so the
//! checks (role, scope, idempotency, bad input) are the API's.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use linli_domain::CommunityId;
use linli_domain::auth::Action;
use linli_domain::registry::DocumentKind;
use linli_domain::volunteering;
use linli_store::points::{self as ledger, approvals, rankings};
use linli_store::registry::residents;
use linli_store::volunteering::{self as records, RecordFilter};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Chrome, PageForm, SignedIn, chrome, home_target, local_time, render, render_with_status,
};
use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::state::AppState;

pub struct RecordLine {
    pub id: Uuid,
    pub volunteer: String,
    pub activity: String,
    pub when: String,
    pub hours: String,
    pub correction: Option<String>,
    pub key: String,
}

pub struct ApprovalLine {
    pub id: Uuid,
    pub resident: String,
    pub rule: String,
    pub points: i64,
    pub memo: String,
    pub when: String,
    pub key: String,
}

pub struct RuleLine {
    pub code: String,
    pub name: String,
    pub basis: &'static str,
    pub points: i64,
    pub caps: String,
    pub verifier: String,
    pub version: i64,
    pub active: bool,
}

pub struct TransferLine {
    pub seq: i64,
    pub when: String,
    pub kind: &'static str,
    pub amount: i64,
    pub memo: String,
    pub hash: String,
}

pub struct RankingLine {
    pub id: Uuid,
    pub grid: String,
    pub month: String,
    pub open: bool,
}

pub struct StageLine {
    pub grid: String,
    pub bystander: u64,
    pub participant: u64,
    pub volunteer: u64,
}

#[derive(Template)]
#[template(path = "points_staff.html")]
pub struct StaffPage {
    pub chrome: Chrome,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
    pub can_record: bool,
    pub can_verify: bool,
    pub can_certify: bool,
    pub can_approve: bool,
    pub can_publish: bool,
    pub records: Vec<RecordLine>,
    pub service_rules: Vec<(String, String)>,
    pub today: String,
    pub approvals: Vec<ApprovalLine>,
    pub rules: Vec<RuleLine>,
    pub ledger: Vec<TransferLine>,
    pub rankings: Vec<RankingLine>,
    pub grids: Vec<(Uuid, String)>,
    pub last_month: String,
    pub stages: Vec<StageLine>,
    pub moves: Vec<(String, String, u64)>,
    pub can_proxy: bool,
    pub can_settings: bool,
    /// Current settings: expiry months ("" when off), notice days, ladder thresholds.
    pub expiry_months: String,
    pub notice_days: i64,
    pub ladder: linli_domain::engagement::Ladder,
}

#[derive(Debug, Deserialize)]
pub struct StaffQuery {
    pub done: Option<String>,
}

async fn staff_page(
    state: &AppState,
    principal: &crate::auth::Principal,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<StaffPage, ApiError> {
    let (target, ctx) = home_target(state, principal).await?;
    if !principal.can(Action::ReadPoints, &target)
        && !principal.can(Action::ReadServiceHours, &target)
    {
        return Err(ApiError::Forbidden);
    }
    let t = Tr::new(principal.locale);
    let community = ctx.community();
    let tz = ctx.time_zone.clone();
    let when = |at: &chrono::DateTime<Utc>| local_time(at, &tz);
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let grid_filter = principal
        .authorize(
            state,
            Action::ReadServiceHours,
            &target,
            crate::auth::Deny::AsForbidden,
        )
        .await
        .ok();
    let mut record_lines = Vec::new();
    if let Some(grids) = &grid_filter {
        let filter = RecordFilter {
            pending_only: true,
            grids: match grids {
                linli_domain::auth::GridFilter::All => None,
                linli_domain::auth::GridFilter::Only(g) => Some(g.iter().map(|g| g.0).collect()),
            },
            ..RecordFilter::default()
        };
        for r in records::list_records(&mut ex, community, &filter, 50).await? {
            let name = residents::find_resident(&mut ex, linli_domain::ResidentId(r.volunteer_id))
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            record_lines.push(RecordLine {
                id: r.id,
                volunteer: name,
                activity: r.activity,
                when: format!("{} – {}", when(&r.started_at), when(&r.ended_at)),
                hours: volunteering::hours(r.minutes),
                correction: r.reason,
                key: Uuid::now_v7().to_string(),
            });
        }
    }
    let can_approve = principal.can(Action::CorrectPoints, &target);
    let mut approval_lines = Vec::new();
    if can_approve {
        for a in approvals::list(&mut ex, community, true, 50).await? {
            let name = residents::find_resident(&mut ex, linli_domain::ResidentId(a.resident_id))
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            approval_lines.push(ApprovalLine {
                id: a.id,
                resident: name,
                rule: a.rule_code,
                points: a.points,
                memo: a.memo,
                when: when(&a.requested_at),
                key: Uuid::now_v7().to_string(),
            });
        }
    }
    let rule_rows = ledger::current_rules(&mut ex, community).await?;
    let service_rules = rule_rows
        .iter()
        .filter(|r| r.active && r.basis != "manual")
        .map(|r| (r.code.clone(), r.name_zh.clone()))
        .collect();
    let rules = rule_rows
        .into_iter()
        .map(|r| {
            let caps = [
                r.per_occasion_cap
                    .map(|c| format!("{} {c}", t.t("points.staff.cap_occasion"))),
                r.per_day_cap
                    .map(|c| format!("{} {c}", t.t("points.staff.cap_day"))),
                r.per_month_cap
                    .map(|c| format!("{} {c}", t.t("points.staff.cap_month"))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            RuleLine {
                basis: match r.basis.as_str() {
                    "per_hour" => t.t("points.staff.per_hour"),
                    "per_occasion" => t.t("points.staff.per_occasion"),
                    _ => t.t("points.staff.manual"),
                },
                name: if principal.locale == linli_domain::locale::Locale::En {
                    r.name_en
                } else {
                    r.name_zh
                },
                code: r.code,
                points: r.points,
                caps,
                verifier: r.verifier_role.unwrap_or_default(),
                version: r.version,
                active: r.active,
            }
        })
        .collect();
    let ledger_lines = if principal.can(Action::ReadPoints, &target) {
        ledger::recent_transfers(&mut ex, community, 30)
            .await?
            .into_iter()
            .map(|tr| TransferLine {
                seq: tr.seq,
                when: when(&tr.at),
                kind: super::points::kind_label(&t, &tr.kind),
                amount: tr.amount,
                memo: tr.memo,
                hash: tr.hash.iter().take(6).map(|b| format!("{b:02x}")).collect(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let grid_rows = linli_store::registry::list_grids(
        &mut ex,
        community,
        grid_filter
            .as_ref()
            .unwrap_or(&linli_domain::auth::GridFilter::All),
    )
    .await?;
    let codes: std::collections::HashMap<Uuid, String> =
        grid_rows.iter().map(|g| (g.id, g.code.clone())).collect();
    let ranking_lines = rankings::list(&mut ex, community, None)
        .await?
        .into_iter()
        .map(|r| RankingLine {
            id: r.id,
            grid: codes.get(&r.grid_id).cloned().unwrap_or_default(),
            month: r.month,
            open: Utc::now() < r.objections_until,
        })
        .collect();
    drop(conn);
    let (stages, moves) = if principal.can(Action::ReadPoints, &target) {
        let view = crate::api::engagement::engagement(
            State(state.clone()),
            principal.clone(),
            ApiPath(community.0),
            ApiQuery(crate::api::engagement::EngagementQuery { as_of: None }),
        )
        .await?
        .0;
        (
            view.grids
                .into_iter()
                .map(|g| StageLine {
                    grid: g.grid_code.unwrap_or_default(),
                    bystander: g.counts.bystander,
                    participant: g.counts.participant,
                    volunteer: g.counts.volunteer,
                })
                .collect(),
            view.transitions
                .into_iter()
                .filter(|m| m.from != m.to)
                .map(|m| {
                    (
                        stage_label(&t, &m.from),
                        stage_label(&t, &m.to),
                        m.residents,
                    )
                })
                .collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let (expiry_months, notice_days, ladder) = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        let settings = linli_store::points::expiry::settings(&mut ex, community).await?;
        let ladder = linli_store::engagement::ladder(&mut ex, community).await?;
        (
            settings
                .as_ref()
                .and_then(|s| s.expiry_months)
                .map(|m| m.to_string())
                .unwrap_or_default(),
            settings.map_or(linli_store::points::expiry::DEFAULT_NOTICE_DAYS, |s| {
                s.notice_days
            }),
            ladder,
        )
    };
    let offset = linli_domain::matters::utc_offset(&ctx.time_zone);
    let local_now = Utc::now().with_timezone(&offset);
    let last_month = (local_now
        .date_naive()
        .with_day0(0)
        .unwrap_or(local_now.date_naive())
        - chrono::Duration::days(1))
    .format("%Y-%m")
    .to_string();
    Ok(StaffPage {
        chrome: chrome(principal, &target, &ctx.community_name, "/points/staff"),
        error,
        notice,
        can_record: principal.can(Action::RecordServiceHours, &target),
        can_verify: principal.can(Action::VerifyServiceHours, &target),
        can_certify: principal.can(Action::CertifyServiceHours, &target),
        can_approve,
        can_publish: principal.can(Action::PublishRankings, &target),
        records: record_lines,
        service_rules,
        today: local_now.format("%Y-%m-%d").to_string(),
        approvals: approval_lines,
        rules,
        ledger: ledger_lines,
        rankings: ranking_lines,
        grids: grid_rows.into_iter().map(|g| (g.id, g.code)).collect(),
        last_month,
        stages,
        moves,
        can_proxy: principal.can(Action::ManagePointsProxies, &target),
        can_settings: principal.can(Action::ManagePointsRules, &target),
        expiry_months,
        notice_days,
        ladder,
    })
}

fn stage_label(t: &Tr, stage: &str) -> String {
    match stage {
        "volunteer" => t.t("points.stage.volunteer"),
        "participant" => t.t("points.stage.participant"),
        _ => t.t("points.stage.bystander"),
    }
    .to_owned()
}

/// The points console for staff.
pub async fn console(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    Query(query): Query<StaffQuery>,
) -> Result<Response, ApiError> {
    let notice = match query.done.as_deref() {
        Some("recorded") => Some("points.staff.done.recorded"),
        Some("proxy") => Some("points.staff.done.proxy"),
        Some("settings") => Some("points.staff.done.settings"),
        Some("decided") => Some("points.staff.done.decided"),
        Some("approved") => Some("points.staff.done.approved"),
        _ => None,
    };
    let t = Tr::new(principal.locale);
    Ok(render(
        &staff_page(&state, &principal, None, notice.map(|k| t.t(k))).await?,
    ))
}

/// A refused form: the console again, with the reason.
async fn refused(
    state: &AppState,
    principal: &crate::auth::Principal,
    error: ApiError,
) -> Result<Response, ApiError> {
    let status = error.status();
    let page = staff_page(state, principal, Some(error.to_string()), None).await?;
    Ok(render_with_status(status, &page))
}

fn keyed(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(key) {
        headers.insert("idempotency-key", value);
    }
    headers
}

/// A resident of the community by ID-card number (the blind index; nothing decrypted).
async fn resident_by_id_number(
    state: &AppState,
    community: CommunityId,
    raw: &str,
) -> Result<Uuid, ApiError> {
    let number = raw.trim().to_uppercase();
    let idx = crate::pii::document_index(&state.data_key, DocumentKind::IdCard, &number);
    let mut conn = state.db.acquire().await?;
    residents::document_registered(&mut conn.exec(), community, &idx)
        .await?
        .map(|r| r.0)
        .ok_or(ApiError::Rule {
            field: "id_number",
            code: "unknown_resident",
            message: "no resident of this community has this ID-card number".to_owned(),
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordForm {
    #[serde(default)]
    pub csrf: String,
    pub id_number: String,
    pub activity: String,
    pub content: String,
    pub organiser: String,
    pub date: String,
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub evidence: String,
    #[serde(default)]
    pub rule: String,
}

/// Records hours from the console: the volunteer by ID-card number, times in local time.
pub async fn record(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<RecordForm>,
) -> Result<Response, ApiError> {
    let outcome = async {
        let (_, ctx) = home_target(&state, &principal).await?;
        let volunteer = resident_by_id_number(&state, ctx.community(), &form.id_number).await?;
        let offset = linli_domain::matters::utc_offset(&ctx.time_zone);
        let bad = |field: &'static str| ApiError::InvalidField {
            field,
            message: format!("{field} is not a valid date or time"),
        };
        let date =
            NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d").map_err(|_| bad("date"))?;
        let at = |raw: &str, field: &'static str| -> Result<chrono::DateTime<Utc>, ApiError> {
            let time = NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| bad(field))?;
            offset
                .from_local_datetime(&date.and_time(time))
                .single()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| bad(field))
        };
        let body = crate::api::volunteering::NewRecordRequest {
            volunteer_id: volunteer,
            activity: form.activity.clone(),
            content: form.content.clone(),
            organiser: form.organiser.clone(),
            started_at: at(&form.start, "start")?,
            ended_at: at(&form.end, "end")?,
            evidence: Some(form.evidence.clone()),
            rule: Some(form.rule.clone()).filter(|r| !r.is_empty()),
        };
        crate::api::volunteering::record(State(state.clone()), principal.clone(), ApiJson(body))
            .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to("/points/staff?done=recorded").into_response()),
        Err(error) => refused(&state, &principal, error).await,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionForm {
    #[serde(default)]
    pub csrf: String,
    pub key: String,
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

/// Verifies or rejects a service record from the console.
pub async fn decide_record(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    ApiPath(id): ApiPath<Uuid>,
    PageForm(form): PageForm<DecisionForm>,
) -> Result<Response, ApiError> {
    let body = crate::api::volunteering::VerificationRequest {
        decision: form.decision.clone(),
        note: Some(form.note.clone()),
    };
    match crate::api::volunteering::verify(
        State(state.clone()),
        principal.clone(),
        keyed(&form.key),
        ApiPath(id),
        ApiJson(body),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/points/staff?done=decided").into_response()),
        Err(error) => refused(&state, &principal, error).await,
    }
}

/// Approves or declines a large manual award from the console.
pub async fn decide_approval(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    ApiPath(id): ApiPath<Uuid>,
    PageForm(form): PageForm<DecisionForm>,
) -> Result<Response, ApiError> {
    let body = crate::api::points::DecisionRequest {
        decision: form.decision.clone(),
        note: Some(form.note.clone()),
    };
    match crate::api::points::decide_approval(
        State(state.clone()),
        principal.clone(),
        keyed(&form.key),
        ApiPath(id),
        ApiJson(body),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/points/staff?done=approved").into_response()),
        Err(error) => refused(&state, &principal, error).await,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateForm {
    #[serde(default)]
    pub csrf: String,
    pub id_number: String,
}

/// Issues a certificate from the console and opens it for printing.
pub async fn certificate(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<CertificateForm>,
) -> Result<Response, ApiError> {
    let outcome = async {
        let (_, ctx) = home_target(&state, &principal).await?;
        let volunteer = resident_by_id_number(&state, ctx.community(), &form.id_number).await?;
        let body = crate::api::volunteering::CertificateRequest {
            volunteer_id: volunteer,
            from: None,
            until: None,
        };
        crate::api::volunteering::issue_certificate(
            State(state.clone()),
            principal.clone(),
            ApiJson(body),
        )
        .await
    }
    .await;
    match outcome {
        Ok((_, cert)) => Ok(Redirect::to(&cert.0.url).into_response()),
        Err(error) => refused(&state, &principal, error).await,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishForm {
    #[serde(default)]
    pub csrf: String,
    pub grid_id: Uuid,
    pub month: String,
}

/// Publishes a grid's monthly ranking from the console.
pub async fn publish_ranking(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<PublishForm>,
) -> Result<Response, ApiError> {
    let body = crate::api::rankings::PublishRequest {
        grid_id: form.grid_id,
        month: form.month.clone(),
    };
    match crate::api::rankings::publish(State(state.clone()), principal.clone(), ApiJson(body))
        .await
    {
        Ok((_, view)) => {
            Ok(Redirect::to(&format!("/points/rankings/{}", view.0.id)).into_response())
        }
        Err(error) => refused(&state, &principal, error).await,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyForm {
    #[serde(default)]
    pub csrf: String,
    pub id_number: String,
    pub proxy_username: String,
    pub relation: String,
    pub consent_evidence: String,
}

/// Records a proxy from the console: the elderly resident by ID-card number, the proxy by
/// their sign-in name.
pub async fn grant_proxy(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<ProxyForm>,
) -> Result<Response, ApiError> {
    let outcome = async {
        let (_, ctx) = home_target(&state, &principal).await?;
        let resident = resident_by_id_number(&state, ctx.community(), &form.id_number).await?;
        let proxy = {
            let mut conn = state.db.acquire().await?;
            linli_store::auth::find_account_by_username(
                &mut conn.exec(),
                form.proxy_username.trim(),
            )
            .await?
        }
        .ok_or(ApiError::Rule {
            field: "proxy_username",
            code: "unknown_account",
            message: "no account has this sign-in name".to_owned(),
        })?;
        let body = crate::api::proxies::NewProxyRequest {
            resident_id: resident,
            proxy_account_id: proxy.id,
            relation: form.relation.clone(),
            consent_evidence: form.consent_evidence.clone(),
        };
        crate::api::proxies::grant(State(state.clone()), principal.clone(), ApiJson(body)).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to("/points/staff?done=proxy").into_response()),
        Err(error) => refused(&state, &principal, error).await,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub expiry_months: String,
    pub notice_days: i64,
    pub window_days: i64,
    pub participant_occasions: i64,
    pub volunteer_minutes: i64,
}

/// Expiry and the engagement ladder's thresholds (community administrators).
pub async fn settings(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<SettingsForm>,
) -> Result<Response, ApiError> {
    let outcome = async {
        let (_, ctx) = home_target(&state, &principal).await?;
        let expiry_months = match form.expiry_months.trim() {
            "" => None,
            raw => Some(raw.parse::<i64>().map_err(|_| ApiError::InvalidField {
                field: "expiry_months",
                message: "expiry_months is a number of months, or empty for no expiry".to_owned(),
            })?),
        };
        let settings = crate::api::points::PointsSettingsView {
            expiry_months,
            notice_days: Some(form.notice_days),
        };
        let ladder = crate::api::engagement::LadderView {
            window_days: form.window_days,
            participant_occasions: form.participant_occasions,
            volunteer_minutes: form.volunteer_minutes,
        };
        // Both checked before either is saved, so a bad value changes nothing.
        settings.checked()?;
        ladder.checked()?;
        let _saved = crate::api::points::put_settings(
            State(state.clone()),
            principal.clone(),
            ApiPath(ctx.community_id),
            ApiJson(settings),
        )
        .await?;
        crate::api::engagement::put_ladder(
            State(state.clone()),
            principal.clone(),
            ApiPath(ctx.community_id),
            ApiJson(ladder),
        )
        .await
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to("/points/staff?done=settings").into_response()),
        Err(error) => refused(&state, &principal, error).await,
    }
}
