//! Volunteer service records over JSON: recording hours, correcting them with new records,
//! verifying (which awards the points, in the ledger's transaction), the volunteer's own
//! hours, certificates, and the export for the civil-affairs system.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use linli_domain::auth::{Action, GridFilter};
use linli_domain::points::{self as rules, Basis};
use linli_domain::volunteering::{self, Decision, RecordStatus, ServiceSpan};
use linli_domain::{CommunityId, ResidentId};
use linli_store::audit;
use linli_store::registry::residents::{self, ResidentRow};
use linli_store::volunteering::{
    self as store, NewRecord, RecordFilter, RecordRow, VerifyRefusal, VerifyRequest,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::points::{created, holds_role, idempotency_key, rules_in_force};
use crate::api::residents::reachable_resident;
use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

impl From<volunteering::VolunteerError> for ApiError {
    fn from(e: volunteering::VolunteerError) -> Self {
        ApiError::Rule {
            field: e.field(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    pub id: Uuid,
    pub volunteer_id: Uuid,
    pub activity: String,
    pub content: String,
    pub organiser: String,
    /// The contribution type whose points a verified record earns (none: hours only).
    pub rule: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub minutes: i64,
    /// The same, as a certificate states it ("2.50").
    pub hours: String,
    pub evidence: String,
    /// The record this one corrects, and why.
    pub corrects_id: Option<Uuid>,
    pub reason: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    /// `pending`, `verified`, `rejected`, or `superseded` (replaced by a verified
    /// correction; no longer counted).
    pub status: String,
    pub verifier_id: Option<Uuid>,
    pub verification_note: Option<String>,
    /// Points the decision moved (negative: a correction took some back).
    pub points: Option<i64>,
    pub points_note: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
}

impl From<RecordRow> for RecordView {
    fn from(r: RecordRow) -> Self {
        let status = r.status().as_str().to_owned();
        RecordView {
            id: r.id,
            volunteer_id: r.volunteer_id,
            activity: r.activity,
            content: r.content,
            organiser: r.organiser,
            rule: r.rule_code,
            started_at: r.started_at,
            ended_at: r.ended_at,
            minutes: r.minutes,
            hours: volunteering::hours(r.minutes),
            evidence: r.evidence,
            corrects_id: r.corrects_id,
            reason: r.reason,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
            status,
            verifier_id: r.verifier_id,
            verification_note: r.note,
            points: r.points,
            points_note: r.points_note,
            verified_at: r.verified_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordListView {
    pub records: Vec<RecordView>,
    /// With a volunteer named: the minutes that count (verified, not replaced), over the
    /// records listed.
    pub counted_minutes: Option<i64>,
    pub counted_hours: Option<String>,
}

/// A decision on a record. A retry with the same `Idempotency-Key` returns it again.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    pub record_id: Uuid,
    pub decision: String,
    pub verifier_id: Uuid,
    pub note: String,
    pub points: i64,
    /// Why fewer points moved than the service earns: `per_day_cap`, `points_spent`
    /// (a correction could not take back points already redeemed), `no_rule`, …
    pub points_note: Option<String>,
    pub verified_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------
// Recording

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecordRequest {
    pub volunteer_id: Uuid,
    /// What the service was part of (1 to 100 characters), e.g. "重阳敬老活动".
    pub activity: String,
    /// What the volunteer did (1 to 500 characters).
    pub content: String,
    /// Who organised it and so records it (1 to 100 characters).
    pub organiser: String,
    /// Check-in and check-out.
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// How the times are known: sign-in sheet, QR check-in, organiser's count… (up to 500).
    pub evidence: Option<String>,
    /// The points rule the service earns under once verified (per hour or per occasion);
    /// omit for hours only.
    pub rule: Option<String>,
}

/// Records hours a resident served. They count (and earn points) once someone other
/// than the volunteer verifies them.
#[utoipa::path(post, path = "/api/v1/service-records", tag = "volunteering", security(("bearer" = [])),
    request_body = NewRecordRequest,
    responses((status = 201, body = RecordView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn record(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewRecordRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<RecordView>), ApiError> {
    let volunteer = reachable_resident(
        &state,
        &principal,
        ResidentId(body.volunteer_id),
        Action::RecordServiceHours,
    )
    .await?;
    let community = CommunityId(volunteer.community_id);
    let span = ServiceSpan::new(body.started_at, body.ended_at, Utc::now())?;
    if span.minutes() == 0 {
        return Err(ApiError::Rule {
            field: "ended_at",
            code: "no_time_served",
            message: "a service record needs at least a minute of service".to_owned(),
        });
    }
    let rule_code = match body.rule.as_deref() {
        None | Some("") => None,
        Some(code) => Some(hours_rule(&state, community, code).await?),
    };
    let record = NewRecord {
        id: Uuid::now_v7(),
        volunteer: ResidentId(volunteer.id),
        activity: volunteering::text("activity", &body.activity, 1, 100)?,
        content: volunteering::text("content", &body.content, 1, 500)?,
        organiser: volunteering::text("organiser", &body.organiser, 1, 100)?,
        rule_code,
        span,
        evidence: volunteering::text("evidence", body.evidence.as_deref().unwrap_or(""), 0, 500)?,
        corrects: None,
    };
    insert_and_read(&state, &principal, community, record).await
}

/// A rule a service record may earn under: one in force that counts hours or occasions
/// (manual awards are not for recorded service).
async fn hours_rule(
    state: &AppState,
    community: CommunityId,
    code: &str,
) -> Result<String, ApiError> {
    let rules = rules_in_force(state, community).await?;
    let rule = rules
        .iter()
        .find(|r| r.code == code && r.active)
        .ok_or(ApiError::Rule {
            field: "rule",
            code: "unknown_rule",
            message: "no rule of this community in force has this code".to_owned(),
        })?;
    if rule.rule()?.draft.basis == Basis::Manual {
        return Err(ApiError::Rule {
            field: "rule",
            code: "rule_not_for_service",
            message: "this rule is for manual awards, not recorded service".to_owned(),
        });
    }
    Ok(rule.code.clone())
}

async fn insert_and_read(
    state: &AppState,
    principal: &Principal,
    community: CommunityId,
    record: NewRecord,
) -> Result<(axum::http::StatusCode, axum::Json<RecordView>), ApiError> {
    let mut tx = state.db.begin().await?;
    store::insert_record(
        &mut tx.exec(),
        community,
        &record,
        principal.account_id,
        Utc::now(),
    )
    .await?;
    let row = store::find_record(&mut tx.exec(), community, record.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(row.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// The corrected check-in and check-out. Equal times void the record (it was entered
    /// in error).
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Why (2 to 500 characters); stays with the record.
    pub reason: String,
    /// Corrected descriptions, if they were wrong too.
    pub activity: Option<String>,
    pub content: Option<String>,
    pub evidence: Option<String>,
}

/// Corrects a verified record: a new record naming it and saying why. Once verified (by
/// someone other than the volunteer) it replaces the old one, and the points follow.
#[utoipa::path(post, path = "/api/v1/service-records/{id}/corrections", tag = "volunteering", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CorrectionRequest,
    responses((status = 201, body = RecordView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn correct(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CorrectionRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<RecordView>), ApiError> {
    let (original, _) =
        reachable_record(&state, &principal, id, Action::RecordServiceHours).await?;
    let status = original.status();
    if status != RecordStatus::Verified {
        return Err(ApiError::Conflict {
            code: "record_not_counted",
            message: match status {
                RecordStatus::Pending => {
                    "this record is not verified yet: reject it and record it again".to_owned()
                }
                _ => format!(
                    "this record is {}; correct the one that counts",
                    status.as_str()
                ),
            },
        });
    }
    let record = NewRecord {
        id: Uuid::now_v7(),
        volunteer: ResidentId(original.volunteer_id),
        activity: match &body.activity {
            Some(a) => volunteering::text("activity", a, 1, 100)?,
            None => original.activity.clone(),
        },
        content: match &body.content {
            Some(c) => volunteering::text("content", c, 1, 500)?,
            None => original.content.clone(),
        },
        organiser: original.organiser.clone(),
        rule_code: original.rule_code.clone(),
        span: ServiceSpan::new(body.started_at, body.ended_at, Utc::now())?,
        evidence: match &body.evidence {
            Some(e) => volunteering::text("evidence", e, 0, 500)?,
            None => original.evidence.clone(),
        },
        corrects: Some((
            original.id,
            volunteering::text("reason", &body.reason, 2, 500)?,
        )),
    };
    insert_and_read(
        &state,
        &principal,
        CommunityId(original.community_id),
        record,
    )
    .await
}

/// A record the caller may act on, with its volunteer. Unknown and out-of-reach records
/// are both 404.
async fn reachable_record(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    action: Action,
) -> Result<(RecordRow, ResidentRow), ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        match store::record_community(&mut ex, id).await? {
            Some(community) => store::find_record(&mut ex, community, id).await?,
            None => None,
        }
    }
    .ok_or(ApiError::NotFound)?;
    let volunteer =
        reachable_resident(state, principal, ResidentId(row.volunteer_id), action).await?;
    Ok((row, volunteer))
}

// ---------------------------------------------------------------------------------------
// Verification

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    /// `verified` or `rejected`.
    pub decision: String,
    /// What was checked, or why it was rejected (up to 500 characters; required to
    /// reject).
    pub note: Option<String>,
}

/// Verifies or rejects a record. Verifying awards the points its rule gives (within the
/// caps) in the same transaction; verifying a correction replaces the record it names and
/// settles the difference. Nobody decides on their own hours.
#[utoipa::path(post, path = "/api/v1/service-records/{id}/verification", tag = "volunteering", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "8 to 128 characters, unique per request")),
    request_body = VerificationRequest,
    responses((status = 201, body = VerificationView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<VerificationRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let decision = Decision::parse(&body.decision)?;
    let note = volunteering::text("note", body.note.as_deref().unwrap_or(""), 0, 500)?;
    if decision == Decision::Rejected && note.is_empty() {
        return Err(ApiError::Rule {
            field: "note",
            code: "reason_required",
            message: "say why the record is rejected".to_owned(),
        });
    }
    let (record, volunteer) =
        reachable_record(&state, &principal, id, Action::VerifyServiceHours).await?;
    if volunteer.account_id == Some(principal.account_id.0) {
        return Err(ApiError::Conflict {
            code: "own_hours",
            message: "nobody verifies their own hours".to_owned(),
        });
    }
    let community = CommunityId(record.community_id);
    if decision == Decision::Verified
        && let Some(code) = &record.rule_code
        && let Some(rule) = rules_in_force(&state, community)
            .await?
            .iter()
            .find(|r| &r.code == code)
        && let Some(role) = rule.rule()?.draft.verifier_role
        && !holds_role(&principal, community, role)
    {
        return Err(ApiError::Forbidden);
    }
    let (_, ctx) = community_target(&state, community).await?;
    let (day_start, month_start) = rules::period_starts(&ctx.time_zone, Utc::now());
    let outcome = store::verify(
        &state.db,
        VerifyRequest {
            community,
            record: id,
            verifier: principal.account_id,
            decision,
            note,
            key,
            day_start,
            month_start,
        },
        Utc::now(),
    )
    .await?;
    let verification = outcome.map_err(|refusal| match refusal {
        VerifyRefusal::UnknownRecord => ApiError::NotFound,
        VerifyRefusal::AlreadyDecided(decision) => ApiError::Conflict {
            code: "already_decided",
            message: format!("this record is already {decision}"),
        },
        VerifyRefusal::KeyReused => ApiError::Conflict {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for a different request".to_owned(),
        },
        VerifyRefusal::CorrectsUncounted(status) => ApiError::Conflict {
            code: "record_not_counted",
            message: format!(
                "the record this corrects is {status}; only the record that counts can be corrected"
            ),
        },
    })?;
    let replayed = verification.replayed;
    Ok(created(
        VerificationView {
            record_id: verification.record,
            decision: verification.decision,
            verifier_id: verification.verifier,
            note: verification.note,
            points: verification.points,
            points_note: verification.points_note,
            verified_at: verification.verified_at,
        },
        replayed,
    ))
}

// ---------------------------------------------------------------------------------------
// Reading

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    pub community_id: Uuid,
    pub volunteer_id: Option<Uuid>,
    /// `pending` for the records waiting for a verifier.
    pub status: Option<String>,
    /// Service that started on or after `from` and before `until`.
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
}

/// A community's service records, newest first (grid workers: their grids' volunteers).
#[utoipa::path(get, path = "/api/v1/service-records", tag = "volunteering", security(("bearer" = [])),
    params(RecordQuery),
    responses((status = 200, body = RecordListView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<RecordQuery>,
) -> Result<axum::Json<RecordListView>, ApiError> {
    let community = CommunityId(query.community_id);
    let (target, _) = community_target(&state, community).await?;
    let grids = principal
        .authorize(&state, Action::ReadServiceHours, &target, Deny::AsForbidden)
        .await?;
    let pending_only = match query.status.as_deref() {
        None | Some("") => false,
        Some("pending") => true,
        Some(_) => {
            return Err(ApiError::InvalidField {
                field: "status",
                message: "status is `pending` or left out".to_owned(),
            });
        }
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            message: "limit is 1 to 500".to_owned(),
        });
    }
    let filter = RecordFilter {
        volunteer: query.volunteer_id,
        grids: match grids {
            GridFilter::All => None,
            GridFilter::Only(grids) => Some(grids.into_iter().map(|g| g.0).collect()),
        },
        pending_only,
        from: query.from,
        until: query.until,
    };
    let rows = {
        let mut conn = state.db.acquire().await?;
        store::list_records(&mut conn.exec(), community, &filter, u64::from(limit)).await?
    };
    Ok(axum::Json(list_view(rows, query.volunteer_id.is_some())))
}

fn list_view(rows: Vec<RecordRow>, one_volunteer: bool) -> RecordListView {
    let (minutes, _) = store::counted(&rows);
    RecordListView {
        counted_minutes: one_volunteer.then_some(minutes),
        counted_hours: one_volunteer.then(|| volunteering::hours(minutes)),
        records: rows.into_iter().map(Into::into).collect(),
    }
}

/// One record with its decision.
#[utoipa::path(get, path = "/api/v1/service-records/{id}", tag = "volunteering", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = Problem)))]
pub async fn get_record(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<RecordView>, ApiError> {
    let (row, _) = reachable_record(&state, &principal, id, Action::ReadServiceHours).await?;
    Ok(axum::Json(row.into()))
}

/// The signed-in resident's own service records and the hours that count.
#[utoipa::path(get, path = "/api/v1/me/service-records", tag = "volunteering", security(("bearer" = [])),
    responses((status = 200, body = RecordListView), (status = 404, body = Problem)))]
pub async fn my_records(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<RecordListView>, ApiError> {
    let community = principal.default_community().ok_or(ApiError::NotFound)?;
    let me = crate::api::residents::own_resident(&state, community, principal.account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let filter = RecordFilter {
        volunteer: Some(me.id),
        ..RecordFilter::default()
    };
    let rows = {
        let mut conn = state.db.acquire().await?;
        store::list_records(&mut conn.exec(), community, &filter, 100_000).await?
    };
    Ok(axum::Json(list_view(rows, true)))
}

// ---------------------------------------------------------------------------------------
// Certificates and export

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    pub volunteer_id: Uuid,
    /// Count only service in this period (both optional).
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    pub id: Uuid,
    /// Per community and year: `2026-000042`.
    pub number: String,
    pub volunteer_id: Uuid,
    pub minutes: i64,
    pub hours: String,
    pub records: i64,
    pub issued_at: DateTime<Utc>,
    /// The printable certificate.
    pub url: String,
}

/// Issues a numbered certificate of the hours that count now, kept on file. It carries
/// the volunteer's document number in full, so issuing one is audited.
#[utoipa::path(post, path = "/api/v1/service-certificates", tag = "volunteering", security(("bearer" = [])),
    request_body = CertificateRequest,
    responses((status = 201, body = CertificateView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn issue_certificate(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CertificateRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<CertificateView>), ApiError> {
    let volunteer = reachable_resident(
        &state,
        &principal,
        ResidentId(body.volunteer_id),
        Action::CertifyServiceHours,
    )
    .await?;
    if let (Some(from), Some(until)) = (body.from, body.until)
        && until <= from
    {
        return Err(ApiError::InvalidField {
            field: "until",
            message: "until must be after from".to_owned(),
        });
    }
    let community = CommunityId(volunteer.community_id);
    let row = store::issue_certificate(
        &state.db,
        community,
        ResidentId(volunteer.id),
        (body.from, body.until),
        principal.account_id,
        Utc::now(),
    )
    .await?;
    let event = principal.success_event(
        community,
        "service_certificate_issued",
        "resident",
        volunteer.id,
        serde_json::json!({ "certificate": row.number, "minutes": row.minutes }),
    );
    audit::record(&state.db, &event, Utc::now()).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(CertificateView {
            id: row.id,
            url: format!("/volunteering/certificates/{}", row.id),
            number: row.number,
            volunteer_id: row.volunteer_id,
            minutes: row.minutes,
            hours: volunteering::hours(row.minutes),
            records: row.records,
            issued_at: row.issued_at,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Service that started on or after `from` and before `until` (default: everything).
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
}

/// The headers of the export, in the order the civil-affairs volunteer system's bulk
/// import of service hours lists them.
pub const EXPORT_HEADERS: [&str; 13] = [
    "姓名",
    "证件类型",
    "证件号码",
    "服务项目",
    "服务内容",
    "开始时间",
    "结束时间",
    "服务时长（小时）",
    "组织单位",
    "证明材料",
    "记录编号",
    "更正说明",
    "审核时间",
];

/// Verified hours that count, one row per record, with document numbers in full for the
/// civil-affairs system (audited).
#[utoipa::path(get, path = "/api/v1/communities/{id}/exports/service-records", tag = "volunteering", security(("bearer" = [])),
    params(("id" = Uuid, Path), ExportQuery),
    responses((status = 200, description = "the file"), (status = 403, body = Problem)))]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let csv = crate::api::imports::wants_csv(query.format.as_deref())?;
    let community = CommunityId(id);
    let (target, ctx) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::CertifyServiceHours,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    let filter = RecordFilter {
        from: query.from,
        until: query.until,
        ..RecordFilter::default()
    };
    let (records, people) = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        let records = store::list_records(&mut ex, community, &filter, 1_000_000).await?;
        let mut people = std::collections::HashMap::new();
        for r in records.iter().filter(|r| r.status().counts()) {
            if !people.contains_key(&r.volunteer_id)
                && let Some(row) =
                    residents::find_resident(&mut ex, ResidentId(r.volunteer_id)).await?
            {
                people.insert(r.volunteer_id, row);
            }
        }
        (records, people)
    };
    let tz = linli_domain::matters::utc_offset(&ctx.time_zone);
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let mut rows = Vec::new();
    for r in records.iter().rev().filter(|r| r.status().counts()) {
        let Some(person) = people.get(&r.volunteer_id) else {
            continue;
        };
        let opened = crate::pii::Opened::of(&state.data_key, person).map_err(ApiError::internal)?;
        rows.push(vec![
            person.name.clone(),
            document_kind_zh(person.document_kind.as_deref()).to_owned(),
            opened.document_number.unwrap_or_default(),
            r.activity.clone(),
            r.content.clone(),
            local(r.started_at),
            local(r.ended_at),
            volunteering::hours(r.minutes),
            r.organiser.clone(),
            r.evidence.clone(),
            r.id.to_string(),
            r.reason.clone().unwrap_or_default(),
            r.verified_at.map(local).unwrap_or_default(),
        ]);
    }
    let event = principal.success_event(
        community,
        "service_records_exported",
        "community",
        community.0,
        serde_json::json!({ "rows": rows.len(), "format": if csv { "csv" } else { "xlsx" } }),
    );
    audit::record(&state.db, &event, Utc::now()).await?;
    let headers: Vec<String> = EXPORT_HEADERS.iter().map(|h| (*h).to_owned()).collect();
    let bytes = if csv {
        crate::spreadsheet::write_csv(&headers, &rows).map_err(ApiError::internal)?
    } else {
        crate::spreadsheet::write_xlsx(&crate::spreadsheet::Sheet {
            name: "志愿服务记录",
            headers,
            rows,
            text_columns: vec![2, 10],
            notes: None,
        })
        .map_err(ApiError::internal)?
    };
    Ok(crate::api::imports::file_response(
        bytes,
        csv,
        &format!("{}-service-records", ctx.community_code),
    ))
}

/// The document kind as the civil-affairs forms name it.
pub fn document_kind_zh(kind: Option<&str>) -> &'static str {
    match kind {
        Some("id_card") => "居民身份证",
        Some("passport") => "护照",
        Some("hk_macau_permit") => "港澳居民来往内地通行证",
        Some("taiwan_permit") => "台湾居民来往大陆通行证",
        Some("foreign_permanent_resident") => "外国人永久居留身份证",
        Some(_) => "其他",
        None => "",
    }
}
