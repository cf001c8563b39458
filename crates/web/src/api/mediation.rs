//! People's mediation over JSON. Records are seen only by the mediation committee
//! (community staff and administrators) and by the mediators of each case; to anyone else
//! a case does not exist. Parties' phone and ID numbers are sealed and shown masked; the
//! printable agreement shows them in full and is audited.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, NaiveDate, Utc};
use linli_domain::auth::{Action, Target};
use linli_domain::mediation::{
    self as rules, AgreementKind, CaseFacts, CaseSource, CaseStatus, CaseStep, DisputeType,
    MediationRuleError, PartyRole, Performance,
};
use linli_domain::registry::{IdNumber, Phone, mask};
use linli_domain::{AccountId, CommunityId};
use linli_store::mediation::{self as store, CaseChange, CaseRow, NewCase, NewParty};
use linli_store::{audit, auth as accounts, matters};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::residents::expected_version;
use crate::api::{ApiJson, ApiPath};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

impl ApiError {
    pub fn mediation(field: &'static str, e: MediationRuleError) -> ApiError {
        match e {
            MediationRuleError::IllegalTransition { status, .. } => ApiError::IllegalTransition {
                message: e.to_string(),
                status,
            },
            other => ApiError::Rule {
                field,
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

fn phone_purpose(party: Uuid) -> String {
    format!("mediation.party.phone/{party}")
}

fn id_purpose(party: Uuid) -> String {
    format!("mediation.party.id_number/{party}")
}

/// The caller's part in one case.
pub struct CaseAccess {
    pub case: CaseRow,
    pub target: Target,
    pub time_zone: String,
    pub committee: bool,
    /// Assigned and not recused.
    pub active_mediator: bool,
}

/// Loads a case the caller may see, or "not found".
pub async fn case_access(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<CaseAccess, ApiError> {
    let case = {
        let mut conn = state.db.acquire().await?;
        store::find_case(&mut conn.exec(), id)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let community = CommunityId(case.community_id);
    let (target, ctx) = community_target(state, community).await?;
    let committee = principal.can(Action::ManageMediation, &target);
    let mediators = {
        let mut conn = state.db.acquire().await?;
        store::mediators(&mut conn.exec(), community, id).await?
    };
    let mine = mediators
        .iter()
        .find(|m| m.account_id == principal.account_id.0);
    if !committee && mine.is_none() {
        principal
            .authorize(state, Action::ManageMediation, &target, Deny::AsNotFound)
            .await?;
    }
    Ok(CaseAccess {
        active_mediator: mine.is_some_and(|m| m.recused_at.is_none()),
        case,
        target,
        time_zone: ctx.time_zone,
        committee,
    })
}

// ---------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize, ToSchema)]
pub struct PartyView {
    pub id: Uuid,
    pub role: String,
    pub name: String,
    pub gender: Option<String>,
    pub birth_year: Option<i32>,
    pub address: Option<String>,
    /// Masked (138****5678).
    pub phone: Option<String>,
    /// Masked (110105********002X).
    pub id_number: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediatorView {
    pub account_id: Uuid,
    pub name: String,
    pub chosen_by_parties: bool,
    pub assigned_at: DateTime<Utc>,
    pub recused_at: Option<DateTime<Utc>>,
    pub recusal_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub seq: i32,
    pub held_on: NaiveDate,
    pub place: String,
    pub attendees: String,
    pub minutes: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseEventView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_account_id: Option<Uuid>,
    pub step: String,
    pub from_status: Option<String>,
    pub to_status: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub number: String,
    pub matter_id: Option<Uuid>,
    pub source: String,
    pub dispute_type: String,
    pub facts: String,
    pub status: String,
    pub is_public: bool,
    pub accepted_on: Option<NaiveDate>,
    /// A case is normally concluded within a month of acceptance.
    pub conclude_by: Option<NaiveDate>,
    pub agreement_kind: Option<String>,
    pub responsibilities: Option<String>,
    pub agreement_terms: Option<String>,
    pub performance_method: Option<String>,
    pub performance_place: Option<String>,
    pub performance_deadline: Option<NaiveDate>,
    pub effective_on: Option<NaiveDate>,
    /// Last day the parties may jointly ask a court to confirm a written agreement.
    pub judicial_confirmation_last_day: Option<NaiveDate>,
    pub judicial_requested_on: Option<NaiveDate>,
    pub termination_reason: Option<String>,
    pub advice: Option<String>,
    pub performance: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CaseRow> for CaseView {
    fn from(c: CaseRow) -> Self {
        let written = c.agreement_kind.as_deref() == Some("written");
        CaseView {
            conclude_by: c
                .accepted_on
                .map(|d| d + chrono::Duration::days(rules::NORMAL_DURATION_DAYS)),
            judicial_confirmation_last_day: c
                .effective_on
                .filter(|_| written)
                .map(rules::judicial_last_day),
            id: c.id,
            community_id: c.community_id,
            number: c.number,
            matter_id: c.matter_id,
            source: c.source,
            dispute_type: c.dispute_type,
            facts: c.facts,
            status: c.status,
            is_public: c.is_public,
            accepted_on: c.accepted_on,
            agreement_kind: c.agreement_kind,
            responsibilities: c.responsibilities,
            agreement_terms: c.agreement_terms,
            performance_method: c.performance_method,
            performance_place: c.performance_place,
            performance_deadline: c.performance_deadline,
            effective_on: c.effective_on,
            judicial_requested_on: c.judicial_requested_on,
            termination_reason: c.termination_reason,
            advice: c.advice,
            performance: c.performance,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDetail {
    pub case: CaseView,
    pub parties: Vec<PartyView>,
    pub mediators: Vec<MediatorView>,
    pub sessions: Vec<SessionView>,
    pub timeline: Vec<CaseEventView>,
}

/// A sealed value opened, or a placeholder if it cannot be (a key mismatch is reported,
/// not hidden).
fn open_sealed(
    state: &AppState,
    purpose: &str,
    sealed: Option<&Vec<u8>>,
) -> Result<Option<String>, ApiError> {
    sealed
        .map(|s| {
            state
                .data_key
                .open(purpose, s)
                .map_err(|e| {
                    ApiError::internal(anyhow::anyhow!("sealed party data unreadable: {e}"))
                })
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        })
        .transpose()
}

pub async fn case_detail(
    state: &AppState,
    a: &CaseAccess,
    full: bool,
) -> Result<CaseDetail, ApiError> {
    let community = CommunityId(a.case.community_id);
    let id = a.case.id;
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let parties = store::parties(&mut ex, community, id).await?;
    let mediators = store::mediators(&mut ex, community, id).await?;
    let sessions = store::sessions(&mut ex, community, id).await?;
    let events = store::timeline(&mut ex, community, id).await?;
    let mut party_views = Vec::new();
    for p in parties {
        let phone = open_sealed(state, &phone_purpose(p.id), p.phone_enc.as_ref())?;
        let id_number = open_sealed(state, &id_purpose(p.id), p.id_number_enc.as_ref())?;
        party_views.push(PartyView {
            phone: phone.map(|v| if full { v } else { mask::phone(&v) }),
            id_number: id_number.map(|v| if full { v } else { mask::id_number(&v) }),
            id: p.id,
            role: p.role,
            name: p.name,
            gender: p.gender,
            birth_year: p.birth_year,
            address: p.address,
        });
    }
    Ok(CaseDetail {
        case: a.case.clone().into(),
        parties: party_views,
        mediators: mediators
            .into_iter()
            .map(|m| MediatorView {
                account_id: m.account_id,
                name: m.name,
                chosen_by_parties: m.chosen_by_parties,
                assigned_at: m.assigned_at,
                recused_at: m.recused_at,
                recusal_reason: m.recusal_reason,
            })
            .collect(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionView {
                seq: s.seq,
                held_on: s.held_on,
                place: s.place,
                attendees: s.attendees,
                minutes: s.minutes,
            })
            .collect(),
        timeline: events
            .into_iter()
            .map(|e| CaseEventView {
                seq: e.seq,
                at: e.at,
                actor_account_id: e.actor_account_id,
                step: e.step,
                from_status: e.from_status,
                to_status: e.to_status,
                detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------
// Registering a case

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyInput {
    /// `applicant`, `respondent` or `other`.
    pub role: String,
    pub name: String,
    /// `male` or `female`.
    pub gender: Option<String>,
    pub birth_year: Option<i32>,
    pub address: Option<String>,
    pub phone: Option<String>,
    /// Resident ID-card number (checked).
    pub id_number: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// `walk_in`, `grid_referral`, `hotline_12345`, `court_police` or `initiative`.
    pub source: String,
    /// `neighbour`, `marriage_family`, `property`, `tenancy`, `damages`, `labour`, `other`.
    pub dispute_type: String,
    /// The main facts and what is disputed.
    pub facts: String,
    /// The matter this dispute came from, if any.
    pub matter_id: Option<Uuid>,
    /// Whether the mediation may be public (default: private).
    pub is_public: Option<bool>,
    pub parties: Vec<PartyInput>,
}

fn check_party(p: PartyInput) -> Result<(NewParty, Option<Phone>, Option<IdNumber>), ApiError> {
    let field = "parties";
    let name = p.name.trim();
    if !(1..=40).contains(&name.chars().count()) {
        return Err(ApiError::mediation(field, MediationRuleError::PartyName));
    }
    let role = PartyRole::parse(&p.role).map_err(|e| ApiError::mediation(field, e))?;
    let gender = match p.gender.as_deref() {
        None | Some("") => None,
        Some("male") => Some("male"),
        Some("female") => Some("female"),
        Some(other) => {
            return Err(ApiError::mediation(
                field,
                MediationRuleError::UnknownValue {
                    field: "gender",
                    value: other.chars().take(20).collect(),
                },
            ));
        }
    };
    let phone = p
        .phone
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(Phone::parse)
        .transpose()
        .map_err(|e| ApiError::rule("parties.phone", e))?;
    let id_number = p
        .id_number
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(IdNumber::parse)
        .transpose()
        .map_err(|e| ApiError::rule("parties.id_number", e))?;
    if let Some(y) = p.birth_year
        && !(1900..=2100).contains(&y)
    {
        return Err(ApiError::InvalidField {
            field: "parties.birth_year",
            message: "a birth year between 1900 and now".to_owned(),
        });
    }
    Ok((
        NewParty {
            id: Uuid::now_v7(),
            role: role.as_str(),
            name: name.to_owned(),
            gender,
            birth_year: p.birth_year,
            address: p
                .address
                .map(|a| a.trim().chars().take(200).collect())
                .filter(|a: &String| !a.is_empty()),
            phone_enc: None,
            id_number_enc: None,
        },
        phone,
        id_number,
    ))
}

fn case_number(id: Uuid, today: NaiveDate) -> String {
    let tail = &id.simple().to_string()[26..32];
    format!("TJ{}-{}", today.format("%Y%m%d"), tail.to_uppercase())
}

/// Registers a dispute with the mediation committee.
#[utoipa::path(post, path = "/api/v1/communities/{id}/mediation-cases", tag = "mediation", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CaseRequest,
    responses((status = 201, body = CaseDetail), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_case(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CaseRequest>,
) -> Result<(StatusCode, axum::Json<CaseDetail>), ApiError> {
    let (target, ctx) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ManageMediation, &target, Deny::AsForbidden)
        .await?;
    let community = ctx.community();
    let source = CaseSource::parse(&body.source).map_err(|e| ApiError::mediation("source", e))?;
    let dispute = DisputeType::parse(&body.dispute_type)
        .map_err(|e| ApiError::mediation("dispute_type", e))?;
    let facts =
        rules::text("the facts", &body.facts).map_err(|e| ApiError::mediation("facts", e))?;
    let mut parties = Vec::new();
    for p in body.parties {
        let (mut party, phone, id_number) = check_party(p)?;
        party.phone_enc = phone.map(|ph| {
            state
                .data_key
                .seal(&phone_purpose(party.id), ph.as_str().as_bytes())
        });
        party.id_number_enc = id_number.map(|n| {
            state
                .data_key
                .seal(&id_purpose(party.id), n.as_str().as_bytes())
        });
        parties.push(party);
    }
    if parties.len() < 2 || !parties.iter().any(|p| p.role == "applicant") {
        return Err(ApiError::mediation(
            "parties",
            MediationRuleError::PartiesRequired,
        ));
    }
    let case_id = Uuid::now_v7();
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    if let Some(matter) = body.matter_id {
        matters::find_matter(&mut ex, matter)
            .await?
            .filter(|m| m.community_id == community.0)
            .ok_or(ApiError::Rule {
                field: "matter_id",
                code: "unknown_matter",
                message: "no such matter in this community".to_owned(),
            })?;
    }
    let new = NewCase {
        id: case_id,
        number: case_number(case_id, crate::pages::local_today(&ctx.time_zone)),
        matter_id: body.matter_id,
        source: source.as_str(),
        dispute_type: dispute.as_str(),
        facts,
        is_public: body.is_public.unwrap_or(false),
        created_by: principal.account_id,
    };
    store::insert_case(&mut ex, community, &new, &parties, now).await?;
    tx.commit().await?;
    let a = case_access(&state, &principal, case_id).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(case_detail(&state, &a, false).await?),
    ))
}

/// Cases the caller may see: all of them for the committee, one's own for a mediator.
#[utoipa::path(get, path = "/api/v1/communities/{id}/mediation-cases", tag = "mediation", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<CaseView>), (status = 404, body = Problem)))]
pub async fn list_cases(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Vec<CaseView>>, ApiError> {
    let (target, ctx) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let committee = principal.can(Action::ManageMediation, &target);
    let mut conn = state.db.acquire().await?;
    let rows = store::list_cases(
        &mut conn.exec(),
        ctx.community(),
        (!committee).then_some(principal.account_id),
        500,
    )
    .await?;
    Ok(axum::Json(rows.into_iter().map(CaseView::from).collect()))
}

/// One case: parties (masked), mediators, session records and timeline.
#[utoipa::path(get, path = "/api/v1/mediation-cases/{id}", tag = "mediation", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = CaseDetail), (status = 404, body = Problem)))]
pub async fn get_case(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<CaseDetail>, ApiError> {
    let a = case_access(&state, &principal, id).await?;
    Ok(axum::Json(case_detail(&state, &a, false).await?))
}

// ---------------------------------------------------------------------------------------
// Steps

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum CaseStepRequest {
    Accept {},
    Decline {
        reason: String,
    },
    AssignMediator {
        account_id: Uuid,
        /// Chosen by the parties (art. 19) rather than designated by the committee.
        #[serde(default)]
        chosen_by_parties: bool,
    },
    Recuse {
        account_id: Uuid,
        reason: String,
    },
    RecordSession {
        held_on: NaiveDate,
        place: String,
        attendees: String,
        minutes: String,
    },
    ReachAgreement {
        /// `written` or `oral`.
        kind: String,
        /// Each party's responsibility (written agreements).
        responsibilities: Option<String>,
        /// What was agreed.
        terms: String,
        /// How the agreement is carried out (written agreements).
        performance_method: Option<String>,
        performance_place: Option<String>,
        /// By when (written agreements).
        performance_deadline: Option<NaiveDate>,
        /// The day all parties signed (default: today).
        effective_on: Option<NaiveDate>,
    },
    Terminate {
        reason: String,
        /// The other routes the parties were told of (arbitration, administrative, court).
        advice: String,
    },
    StartPerformance {},
    FollowUp {
        /// `performed`, `partly` or `not_performed`.
        performance: String,
        note: String,
    },
    RequestJudicialConfirmation {},
    Archive {},
}

impl CaseStepRequest {
    fn step(&self) -> CaseStep {
        match self {
            CaseStepRequest::Accept {} => CaseStep::Accept,
            CaseStepRequest::Decline { .. } => CaseStep::Decline,
            CaseStepRequest::AssignMediator { .. } => CaseStep::AssignMediator,
            CaseStepRequest::Recuse { .. } => CaseStep::Recuse,
            CaseStepRequest::RecordSession { .. } => CaseStep::RecordSession,
            CaseStepRequest::ReachAgreement { .. } => CaseStep::ReachAgreement,
            CaseStepRequest::Terminate { .. } => CaseStep::Terminate,
            CaseStepRequest::StartPerformance {} => CaseStep::StartPerformance,
            CaseStepRequest::FollowUp { .. } => CaseStep::FollowUp,
            CaseStepRequest::RequestJudicialConfirmation {} => {
                CaseStep::RequestJudicialConfirmation
            }
            CaseStepRequest::Archive {} => CaseStep::Archive,
        }
    }
}

fn text(field: &'static str, raw: &str) -> Result<String, ApiError> {
    rules::text(field, raw).map_err(|e| ApiError::mediation(field, e))
}

/// Takes one step on a case (`If-Match` with the version read).
#[utoipa::path(post, path = "/api/v1/mediation-cases/{id}/steps", tag = "mediation", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CaseStepRequest,
    responses((status = 200, body = CaseDetail), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn take_step(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CaseStepRequest>,
) -> Result<axum::Json<CaseDetail>, ApiError> {
    let version = expected_version(&headers)?;
    let a = case_access(&state, &principal, id).await?;
    let step = body.step();
    if !(a.committee || (a.active_mediator && !step.committee_only())) {
        return Err(ApiError::Forbidden);
    }
    if a.case.version != version {
        return Err(ApiError::StaleVersion);
    }
    let community = CommunityId(a.case.community_id);
    let today = crate::pages::local_today(&a.time_zone);
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    let mediators = store::mediators(&mut ex, community, id).await?;
    let facts = CaseFacts {
        status: CaseStatus::parse(&a.case.status)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?,
        sessions: store::sessions(&mut ex, community, id).await?.len(),
        active_mediators: mediators.iter().filter(|m| m.recused_at.is_none()).count(),
        agreement: a
            .case
            .agreement_kind
            .as_deref()
            .and_then(|k| AgreementKind::parse(k).ok()),
        effective_on: a.case.effective_on,
        judicial_requested: a.case.judicial_requested_on.is_some(),
    };
    let to = rules::plan(&facts, step, today).map_err(|e| ApiError::mediation("step", e))?;
    let mut change = CaseChange {
        status: (to != facts.status).then_some(to.as_str()),
        ..CaseChange::default()
    };
    let detail = match body {
        CaseStepRequest::Accept {} => {
            change.accepted_on = Some(today);
            serde_json::json!({})
        }
        CaseStepRequest::Decline { reason } => {
            serde_json::json!({ "reason": text("reason", &reason)? })
        }
        CaseStepRequest::AssignMediator {
            account_id,
            chosen_by_parties,
        } => {
            if mediators.iter().any(|m| m.account_id == account_id) {
                return Err(ApiError::mediation(
                    "account_id",
                    MediationRuleError::AlreadyMediator,
                ));
            }
            let member = accounts::list_accounts_in_community(&mut ex, community)
                .await?
                .into_iter()
                .find(|acc| acc.id == account_id && acc.disabled_at.is_none())
                .ok_or(ApiError::Rule {
                    field: "account_id",
                    code: "unknown_account",
                    message: "no such account in this community".to_owned(),
                })?;
            store::add_mediator(
                &mut ex,
                community,
                id,
                AccountId(account_id),
                &member.display_name,
                chosen_by_parties,
                now,
            )
            .await?;
            serde_json::json!({ "account_id": account_id, "chosen_by_parties": chosen_by_parties })
        }
        CaseStepRequest::Recuse { account_id, reason } => {
            let reason = text("reason", &reason)?;
            if !store::recuse(&mut ex, community, id, AccountId(account_id), &reason, now).await? {
                return Err(ApiError::mediation(
                    "account_id",
                    MediationRuleError::MediatorRecused,
                ));
            }
            serde_json::json!({ "account_id": account_id, "reason": reason })
        }
        CaseStepRequest::RecordSession {
            held_on,
            place,
            attendees,
            minutes,
        } => {
            let seq = store::add_session(
                &mut ex,
                community,
                id,
                held_on,
                &text("place", &place)?,
                &text("attendees", &attendees)?,
                &text("minutes", &minutes)?,
                principal.account_id,
                now,
            )
            .await?;
            serde_json::json!({ "session": seq })
        }
        CaseStepRequest::ReachAgreement {
            kind,
            responsibilities,
            terms,
            performance_method,
            performance_place,
            performance_deadline,
            effective_on,
        } => {
            let kind = AgreementKind::parse(&kind).map_err(|e| ApiError::mediation("kind", e))?;
            let effective = effective_on.unwrap_or(today);
            change.agreement_kind = Some(kind.as_str());
            change.agreement_terms = Some(text("terms", &terms)?);
            change.effective_on = Some(effective);
            if kind == AgreementKind::Written {
                // Art. 29: responsibilities, the agreed content, and how and by when it
                // is carried out.
                change.responsibilities = Some(text(
                    "responsibilities",
                    responsibilities.as_deref().unwrap_or(""),
                )?);
                change.performance_method = Some(text(
                    "performance_method",
                    performance_method.as_deref().unwrap_or(""),
                )?);
                let deadline = performance_deadline.ok_or_else(|| {
                    ApiError::mediation(
                        "performance_deadline",
                        MediationRuleError::TextRequired("performance_deadline"),
                    )
                })?;
                if deadline < effective {
                    return Err(ApiError::mediation(
                        "performance_deadline",
                        MediationRuleError::DeadlineBeforeEffect,
                    ));
                }
                change.performance_deadline = Some(deadline);
                change.performance_place = performance_place.filter(|p| !p.trim().is_empty());
            }
            serde_json::json!({ "kind": kind.as_str() })
        }
        CaseStepRequest::Terminate { reason, advice } => {
            change.termination_reason = Some(text("reason", &reason)?);
            change.advice = Some(text("advice", &advice)?);
            serde_json::json!({})
        }
        CaseStepRequest::StartPerformance {} => serde_json::json!({}),
        CaseStepRequest::FollowUp { performance, note } => {
            let p = Performance::parse(&performance)
                .map_err(|e| ApiError::mediation("performance", e))?;
            change.performance = Some(p.as_str());
            serde_json::json!({ "performance": p.as_str(), "note": text("note", &note)? })
        }
        CaseStepRequest::RequestJudicialConfirmation {} => {
            change.judicial_requested_on = Some(today);
            serde_json::json!({ "requested_on": today })
        }
        CaseStepRequest::Archive {} => serde_json::json!({}),
    };
    if !store::update_case(&mut ex, community, id, version, &change, now).await? {
        return Err(ApiError::StaleVersion);
    }
    store::insert_event(
        &mut ex,
        community,
        id,
        version + 1,
        Some(principal.account_id),
        step.name(),
        Some(facts.status.as_str()),
        to.as_str(),
        detail,
        now,
    )
    .await?;
    tx.commit().await?;
    let a = case_access(&state, &principal, id).await?;
    Ok(axum::Json(case_detail(&state, &a, false).await?))
}

/// The agreement with parties' details in full, for printing; the print is audited.
pub async fn agreement_for_print(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(CaseAccess, CaseDetail), ApiError> {
    let a = case_access(state, principal, id).await?;
    if a.case.agreement_kind.is_none() {
        return Err(ApiError::NotFound);
    }
    let detail = case_detail(state, &a, true).await?;
    let entry = principal.success_event(
        CommunityId(a.case.community_id),
        "mediation_agreement_printed",
        "mediation_case",
        id,
        serde_json::json!({ "fields": ["phone", "id_number"] }),
    );
    audit::record(&state.db, &entry, Utc::now()).await?;
    Ok((a, detail))
}
