//! People's mediation records. Mirrors `linli_domain::mediation`.

use chrono::{DateTime, NaiveDate, Utc};
use linli_domain::{AccountId, CommunityId};
use sea_query::{Expr, ExprTrait, Func, Order, Query};
use uuid::Uuid;

use crate::schema::{
    MediationCases, MediationEvents, MediationMediators, MediationParties, MediationSessions,
};
use crate::{Exec, Result};

#[derive(Debug, Clone)]
pub struct NewParty {
    pub id: Uuid,
    pub role: &'static str,
    pub name: String,
    pub gender: Option<&'static str>,
    pub birth_year: Option<i32>,
    pub address: Option<String>,
    pub phone_enc: Option<Vec<u8>>,
    pub id_number_enc: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct NewCase {
    pub id: Uuid,
    pub number: String,
    pub matter_id: Option<Uuid>,
    pub source: &'static str,
    pub dispute_type: &'static str,
    pub facts: String,
    pub is_public: bool,
    pub created_by: AccountId,
}

pub async fn insert_case(
    ex: &mut Exec<'_>,
    community: CommunityId,
    c: &NewCase,
    parties: &[NewParty],
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(MediationCases::Table)
        .columns([
            MediationCases::CommunityId,
            MediationCases::Id,
            MediationCases::Number,
            MediationCases::MatterId,
            MediationCases::Source,
            MediationCases::DisputeType,
            MediationCases::Facts,
            MediationCases::Status,
            MediationCases::IsPublic,
            MediationCases::CreatedBy,
            MediationCases::Version,
            MediationCases::CreatedAt,
            MediationCases::UpdatedAt,
        ])
        .values_panic([
            community.0.into(),
            c.id.into(),
            c.number.clone().into(),
            c.matter_id.into(),
            c.source.into(),
            c.dispute_type.into(),
            c.facts.clone().into(),
            "applied".into(),
            c.is_public.into(),
            c.created_by.0.into(),
            1i64.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    let mut p = Query::insert()
        .into_table(MediationParties::Table)
        .columns([
            MediationParties::CommunityId,
            MediationParties::CaseId,
            MediationParties::Id,
            MediationParties::Role,
            MediationParties::Name,
            MediationParties::Gender,
            MediationParties::BirthYear,
            MediationParties::Address,
            MediationParties::PhoneEnc,
            MediationParties::IdNumberEnc,
            MediationParties::Position,
        ])
        .to_owned();
    for (i, party) in parties.iter().enumerate() {
        p.values_panic([
            community.0.into(),
            c.id.into(),
            party.id.into(),
            party.role.into(),
            party.name.clone().into(),
            party.gender.into(),
            party.birth_year.into(),
            party.address.clone().into(),
            party.phone_enc.clone().into(),
            party.id_number_enc.clone().into(),
            (i as i32).into(),
        ]);
    }
    ex.execute(&p).await?;
    insert_event(
        ex,
        community,
        c.id,
        1,
        Some(c.created_by),
        "apply",
        None,
        "applied",
        serde_json::json!({}),
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_event(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
    seq: i64,
    actor: Option<AccountId>,
    step: &str,
    from: Option<&str>,
    to: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(MediationEvents::Table)
        .columns([
            MediationEvents::CommunityId,
            MediationEvents::CaseId,
            MediationEvents::Seq,
            MediationEvents::At,
            MediationEvents::ActorAccountId,
            MediationEvents::Step,
            MediationEvents::FromStatus,
            MediationEvents::ToStatus,
            MediationEvents::Detail,
        ])
        .values_panic([
            community.0.into(),
            case.into(),
            seq.into(),
            now.into(),
            actor.map(|a| a.0).into(),
            step.into(),
            from.map(str::to_owned).into(),
            to.into(),
            detail.to_string().into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub number: String,
    pub matter_id: Option<Uuid>,
    pub source: String,
    pub dispute_type: String,
    pub facts: String,
    pub status: String,
    pub is_public: bool,
    pub created_by: Option<Uuid>,
    pub accepted_on: Option<NaiveDate>,
    pub agreement_kind: Option<String>,
    pub responsibilities: Option<String>,
    pub agreement_terms: Option<String>,
    pub performance_method: Option<String>,
    pub performance_place: Option<String>,
    pub performance_deadline: Option<NaiveDate>,
    pub effective_on: Option<NaiveDate>,
    pub termination_reason: Option<String>,
    pub advice: Option<String>,
    pub performance: Option<String>,
    pub judicial_requested_on: Option<NaiveDate>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CASE_COLUMNS: [MediationCases; 25] = [
    MediationCases::CommunityId,
    MediationCases::Id,
    MediationCases::Number,
    MediationCases::MatterId,
    MediationCases::Source,
    MediationCases::DisputeType,
    MediationCases::Facts,
    MediationCases::Status,
    MediationCases::IsPublic,
    MediationCases::CreatedBy,
    MediationCases::AcceptedOn,
    MediationCases::AgreementKind,
    MediationCases::Responsibilities,
    MediationCases::AgreementTerms,
    MediationCases::PerformanceMethod,
    MediationCases::PerformancePlace,
    MediationCases::PerformanceDeadline,
    MediationCases::EffectiveOn,
    MediationCases::TerminationReason,
    MediationCases::Advice,
    MediationCases::Performance,
    MediationCases::JudicialRequestedOn,
    MediationCases::Version,
    MediationCases::CreatedAt,
    MediationCases::UpdatedAt,
];

fn case_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns(CASE_COLUMNS.map(|c| (MediationCases::Table, c)))
        .from(MediationCases::Table)
        .to_owned()
}

pub async fn find_case(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<CaseRow>> {
    let q = case_columns()
        .and_where(Expr::col((MediationCases::Table, MediationCases::Id)).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Cases of a community, newest first: all of them, or (for a mediator who is not on the
/// committee) only those they mediate or mediated.
pub async fn list_cases(
    ex: &mut Exec<'_>,
    community: CommunityId,
    mediator: Option<AccountId>,
    limit: u64,
) -> Result<Vec<CaseRow>> {
    let mut q = case_columns()
        .and_where(Expr::col((MediationCases::Table, MediationCases::CommunityId)).eq(community.0))
        .order_by((MediationCases::Table, MediationCases::Id), Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(account) = mediator {
        let mine = Query::select()
            .column(MediationMediators::CaseId)
            .from(MediationMediators::Table)
            .and_where(Expr::col(MediationMediators::CommunityId).eq(community.0))
            .and_where(Expr::col(MediationMediators::AccountId).eq(account.0))
            .to_owned();
        q.and_where(Expr::col((MediationCases::Table, MediationCases::Id)).in_subquery(mine));
    }
    ex.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartyRow {
    pub id: Uuid,
    pub role: String,
    pub name: String,
    pub gender: Option<String>,
    pub birth_year: Option<i32>,
    pub address: Option<String>,
    pub phone_enc: Option<Vec<u8>>,
    pub id_number_enc: Option<Vec<u8>>,
}

pub async fn parties(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
) -> Result<Vec<PartyRow>> {
    let q = Query::select()
        .columns([
            MediationParties::Id,
            MediationParties::Role,
            MediationParties::Name,
            MediationParties::Gender,
            MediationParties::BirthYear,
            MediationParties::Address,
            MediationParties::PhoneEnc,
            MediationParties::IdNumberEnc,
        ])
        .from(MediationParties::Table)
        .and_where(Expr::col(MediationParties::CommunityId).eq(community.0))
        .and_where(Expr::col(MediationParties::CaseId).eq(case))
        .order_by(MediationParties::Position, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediatorRow {
    pub account_id: Uuid,
    pub name: String,
    pub chosen_by_parties: bool,
    pub assigned_at: DateTime<Utc>,
    pub recused_at: Option<DateTime<Utc>>,
    pub recusal_reason: Option<String>,
}

pub async fn mediators(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
) -> Result<Vec<MediatorRow>> {
    let q = Query::select()
        .columns([
            MediationMediators::AccountId,
            MediationMediators::Name,
            MediationMediators::ChosenByParties,
            MediationMediators::AssignedAt,
            MediationMediators::RecusedAt,
            MediationMediators::RecusalReason,
        ])
        .from(MediationMediators::Table)
        .and_where(Expr::col(MediationMediators::CommunityId).eq(community.0))
        .and_where(Expr::col(MediationMediators::CaseId).eq(case))
        .order_by(MediationMediators::AssignedAt, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

pub async fn add_mediator(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
    account: AccountId,
    name: &str,
    chosen_by_parties: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(MediationMediators::Table)
        .columns([
            MediationMediators::CommunityId,
            MediationMediators::CaseId,
            MediationMediators::AccountId,
            MediationMediators::Name,
            MediationMediators::ChosenByParties,
            MediationMediators::AssignedAt,
        ])
        .values_panic([
            community.0.into(),
            case.into(),
            account.0.into(),
            name.into(),
            chosen_by_parties.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

pub async fn recuse(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
    account: AccountId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(MediationMediators::Table)
        .value(MediationMediators::RecusedAt, now)
        .value(MediationMediators::RecusalReason, reason)
        .and_where(Expr::col(MediationMediators::CommunityId).eq(community.0))
        .and_where(Expr::col(MediationMediators::CaseId).eq(case))
        .and_where(Expr::col(MediationMediators::AccountId).eq(account.0))
        .and_where(Expr::col(MediationMediators::RecusedAt).is_null())
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub seq: i32,
    pub held_on: NaiveDate,
    pub place: String,
    pub attendees: String,
    pub minutes: String,
    pub recorded_by: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

pub async fn sessions(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
) -> Result<Vec<SessionRow>> {
    let q = Query::select()
        .columns([
            MediationSessions::Seq,
            MediationSessions::HeldOn,
            MediationSessions::Place,
            MediationSessions::Attendees,
            MediationSessions::Minutes,
            MediationSessions::RecordedBy,
            MediationSessions::RecordedAt,
        ])
        .from(MediationSessions::Table)
        .and_where(Expr::col(MediationSessions::CommunityId).eq(community.0))
        .and_where(Expr::col(MediationSessions::CaseId).eq(case))
        .order_by(MediationSessions::Seq, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

#[allow(clippy::too_many_arguments)]
pub async fn add_session(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
    held_on: NaiveDate,
    place: &str,
    attendees: &str,
    minutes: &str,
    by: AccountId,
    now: DateTime<Utc>,
) -> Result<i32> {
    let count = Query::select()
        .expr(Func::count(Expr::col(MediationSessions::Seq)))
        .from(MediationSessions::Table)
        .and_where(Expr::col(MediationSessions::CommunityId).eq(community.0))
        .and_where(Expr::col(MediationSessions::CaseId).eq(case))
        .to_owned();
    let (n,): (i64,) = ex.fetch_one(&count).await?;
    let seq = n as i32 + 1;
    let q = Query::insert()
        .into_table(MediationSessions::Table)
        .columns([
            MediationSessions::CommunityId,
            MediationSessions::CaseId,
            MediationSessions::Seq,
            MediationSessions::HeldOn,
            MediationSessions::Place,
            MediationSessions::Attendees,
            MediationSessions::Minutes,
            MediationSessions::RecordedBy,
            MediationSessions::RecordedAt,
        ])
        .values_panic([
            community.0.into(),
            case.into(),
            seq.into(),
            held_on.into(),
            place.into(),
            attendees.into(),
            minutes.into(),
            by.0.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(seq)
}

/// The case columns a step sets (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct CaseChange {
    pub status: Option<&'static str>,
    pub accepted_on: Option<NaiveDate>,
    pub agreement_kind: Option<&'static str>,
    pub responsibilities: Option<String>,
    pub agreement_terms: Option<String>,
    pub performance_method: Option<String>,
    pub performance_place: Option<String>,
    pub performance_deadline: Option<NaiveDate>,
    pub effective_on: Option<NaiveDate>,
    pub termination_reason: Option<String>,
    pub advice: Option<String>,
    pub performance: Option<&'static str>,
    pub judicial_requested_on: Option<NaiveDate>,
}

/// Applies a change if the case is still at `version`. `false`: changed meanwhile.
pub async fn update_case(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
    version: i64,
    c: &CaseChange,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut q = Query::update()
        .table(MediationCases::Table)
        .value(MediationCases::Version, version + 1)
        .value(MediationCases::UpdatedAt, now)
        .and_where(Expr::col(MediationCases::CommunityId).eq(community.0))
        .and_where(Expr::col(MediationCases::Id).eq(id))
        .and_where(Expr::col(MediationCases::Version).eq(version))
        .to_owned();
    if let Some(v) = c.status {
        q.value(MediationCases::Status, v);
    }
    if let Some(v) = c.accepted_on {
        q.value(MediationCases::AcceptedOn, v);
    }
    if let Some(v) = c.agreement_kind {
        q.value(MediationCases::AgreementKind, v);
    }
    if let Some(v) = &c.responsibilities {
        q.value(MediationCases::Responsibilities, v.clone());
    }
    if let Some(v) = &c.agreement_terms {
        q.value(MediationCases::AgreementTerms, v.clone());
    }
    if let Some(v) = &c.performance_method {
        q.value(MediationCases::PerformanceMethod, v.clone());
    }
    if let Some(v) = &c.performance_place {
        q.value(MediationCases::PerformancePlace, v.clone());
    }
    if let Some(v) = c.performance_deadline {
        q.value(MediationCases::PerformanceDeadline, v);
    }
    if let Some(v) = c.effective_on {
        q.value(MediationCases::EffectiveOn, v);
    }
    if let Some(v) = &c.termination_reason {
        q.value(MediationCases::TerminationReason, v.clone());
    }
    if let Some(v) = &c.advice {
        q.value(MediationCases::Advice, v.clone());
    }
    if let Some(v) = c.performance {
        q.value(MediationCases::Performance, v);
    }
    if let Some(v) = c.judicial_requested_on {
        q.value(MediationCases::JudicialRequestedOn, v);
    }
    Ok(ex.execute(&q).await? == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseEventRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_account_id: Option<Uuid>,
    pub step: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub detail: String,
}

pub async fn timeline(
    ex: &mut Exec<'_>,
    community: CommunityId,
    case: Uuid,
) -> Result<Vec<CaseEventRow>> {
    let q = Query::select()
        .columns([
            MediationEvents::Seq,
            MediationEvents::At,
            MediationEvents::ActorAccountId,
            MediationEvents::Step,
            MediationEvents::FromStatus,
            MediationEvents::ToStatus,
            MediationEvents::Detail,
        ])
        .from(MediationEvents::Table)
        .and_where(Expr::col(MediationEvents::CommunityId).eq(community.0))
        .and_where(Expr::col(MediationEvents::CaseId).eq(case))
        .order_by(MediationEvents::Seq, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}
