//! Volunteer service records: hours as recorded, the verifier's decision, corrections, and
//! the certificates issued on them.
//!
//! Verifying a record and awarding its points happen in one transaction with the points
//! ledger (see [`crate::points::ledger`]): the decision row and the transfer land together
//! or not at all. A correction, once verified, replaces the record it names; its points
//! are settled against what the replaced records earned (more: the difference is awarded;
//! less: those awards are reversed and the corrected service earns afresh).

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use linli_domain::points::{Basis, IdempotencyKey, TransferKind};
use linli_domain::volunteering::{Decision, RecordStatus, ServiceSpan};
use linli_domain::{AccountId, CommunityId, ResidentId};
use sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use uuid::Uuid;

use crate::points::RuleRow;
use crate::points::ledger::{
    self, Award, Change, LedgerRequest, Refusal, Reversal, balance_of, take_chain_head,
    truncate_to_micros,
};
use crate::points::rules::current_rule_query;
use crate::run::{FromLite, LiteRun, Run, finish_now};
use crate::schema::{
    PointsTransfers, VolunteerCertificates, VolunteerRecords, VolunteerVerifications,
};
use crate::{Db, Exec, Result, StoreError};

/// A record as entered: the service, or a correction of an earlier record.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub id: Uuid,
    pub volunteer: ResidentId,
    pub activity: String,
    pub content: String,
    pub organiser: String,
    pub rule_code: Option<String>,
    pub span: ServiceSpan,
    pub evidence: String,
    /// The record this one corrects, and why.
    pub corrects: Option<(Uuid, String)>,
}

/// A record with its decision, as lists and the certificate read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRow {
    pub id: Uuid,
    pub community_id: Uuid,
    pub volunteer_id: Uuid,
    pub activity: String,
    pub content: String,
    pub organiser: String,
    pub rule_code: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub minutes: i64,
    pub evidence: String,
    pub corrects_id: Option<Uuid>,
    pub reason: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub decision: Option<String>,
    pub verifier_id: Option<Uuid>,
    pub note: Option<String>,
    pub points: Option<i64>,
    pub points_note: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub superseded: bool,
}

impl RecordRow {
    pub fn status(&self) -> RecordStatus {
        RecordStatus::of(self.decision.as_deref(), self.superseded)
    }
}

pub async fn insert_record(
    ex: &mut Exec<'_>,
    community: CommunityId,
    record: &NewRecord,
    recorded_by: AccountId,
    now: DateTime<Utc>,
) -> Result<()> {
    insert_record_in(ex, community, record, recorded_by, now).await
}

async fn insert_record_in<R: Run>(
    run: &mut R,
    community: CommunityId,
    record: &NewRecord,
    recorded_by: AccountId,
    now: DateTime<Utc>,
) -> Result<()> {
    let (corrects, reason) = match &record.corrects {
        Some((id, reason)) => (Some(*id), Some(reason.clone())),
        None => (None, None),
    };
    let insert = Query::insert()
        .into_table(VolunteerRecords::Table)
        .columns([
            VolunteerRecords::CommunityId,
            VolunteerRecords::Id,
            VolunteerRecords::VolunteerId,
            VolunteerRecords::Activity,
            VolunteerRecords::Content,
            VolunteerRecords::Organiser,
            VolunteerRecords::RuleCode,
            VolunteerRecords::StartedAt,
            VolunteerRecords::EndedAt,
            VolunteerRecords::Minutes,
            VolunteerRecords::Evidence,
            VolunteerRecords::CorrectsId,
            VolunteerRecords::Reason,
            VolunteerRecords::RecordedBy,
            VolunteerRecords::RecordedAt,
        ])
        .values_panic([
            community.0.into(),
            record.id.into(),
            record.volunteer.0.into(),
            record.activity.clone().into(),
            record.content.clone().into(),
            record.organiser.clone().into(),
            record.rule_code.clone().into(),
            record.span.started_at.into(),
            record.span.ended_at.into(),
            record.span.minutes().into(),
            record.evidence.clone().into(),
            corrects.into(),
            reason.into(),
            recorded_by.0.into(),
            now.into(),
        ])
        .to_owned();
    run.execute(&insert).await?;
    Ok(())
}

#[derive(sea_query::Iden)]
struct Corrections;
#[derive(sea_query::Iden)]
struct CorrectionDecisions;

/// A condition on `volunteer_records` (unaliased) in a query: a verified correction
/// names the record, so it no longer counts.
pub(crate) fn superseded() -> sea_query::SimpleExpr {
    let r = VolunteerRecords::Table;
    let correction = Query::select()
        .expr(Expr::val(1))
        .from_as(VolunteerRecords::Table, Corrections)
        .join_as(
            JoinType::InnerJoin,
            VolunteerVerifications::Table,
            CorrectionDecisions,
            Expr::col((CorrectionDecisions, VolunteerVerifications::CommunityId))
                .equals((Corrections, VolunteerRecords::CommunityId))
                .and(
                    Expr::col((CorrectionDecisions, VolunteerVerifications::RecordId))
                        .equals((Corrections, VolunteerRecords::Id)),
                ),
        )
        .and_where(
            Expr::col((Corrections, VolunteerRecords::CommunityId))
                .equals((r, VolunteerRecords::CommunityId)),
        )
        .and_where(
            Expr::col((Corrections, VolunteerRecords::CorrectsId))
                .equals((r, VolunteerRecords::Id)),
        )
        .and_where(
            Expr::col((CorrectionDecisions, VolunteerVerifications::Decision)).eq("verified"),
        )
        .to_owned();
    Expr::exists(correction)
}

/// Records with their decision and whether a verified correction replaced them.
fn record_columns() -> SelectStatement {
    let r = VolunteerRecords::Table;
    let v = VolunteerVerifications::Table;
    Query::select()
        .columns([
            (r, VolunteerRecords::Id),
            (r, VolunteerRecords::CommunityId),
            (r, VolunteerRecords::VolunteerId),
            (r, VolunteerRecords::Activity),
            (r, VolunteerRecords::Content),
            (r, VolunteerRecords::Organiser),
            (r, VolunteerRecords::RuleCode),
            (r, VolunteerRecords::StartedAt),
            (r, VolunteerRecords::EndedAt),
            (r, VolunteerRecords::Minutes),
            (r, VolunteerRecords::Evidence),
            (r, VolunteerRecords::CorrectsId),
            (r, VolunteerRecords::Reason),
            (r, VolunteerRecords::RecordedBy),
            (r, VolunteerRecords::RecordedAt),
        ])
        .columns([
            (v, VolunteerVerifications::Decision),
            (v, VolunteerVerifications::VerifierId),
            (v, VolunteerVerifications::Note),
            (v, VolunteerVerifications::Points),
            (v, VolunteerVerifications::PointsNote),
            (v, VolunteerVerifications::VerifiedAt),
        ])
        .expr_as(superseded(), Alias::new("superseded"))
        .from(r)
        .left_join(
            v,
            Expr::col((v, VolunteerVerifications::CommunityId))
                .equals((r, VolunteerRecords::CommunityId))
                .and(
                    Expr::col((v, VolunteerVerifications::RecordId))
                        .equals((r, VolunteerRecords::Id)),
                ),
        )
        .to_owned()
}

pub async fn find_record(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
) -> Result<Option<RecordRow>> {
    let q = record_columns()
        .and_where(
            Expr::col((VolunteerRecords::Table, VolunteerRecords::CommunityId)).eq(community.0),
        )
        .and_where(Expr::col((VolunteerRecords::Table, VolunteerRecords::Id)).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Which community a record belongs to (the API names records by id alone).
pub async fn record_community(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<CommunityId>> {
    let q = Query::select()
        .column(VolunteerRecords::CommunityId)
        .from(VolunteerRecords::Table)
        .and_where(Expr::col(VolunteerRecords::Id).eq(id))
        .to_owned();
    Ok(ex
        .fetch_optional::<(Uuid,), _>(&q)
        .await?
        .map(|(c,)| CommunityId(c)))
}

/// What a list of records is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub volunteer: Option<Uuid>,
    /// Only records whose volunteer lives in one of these grids.
    pub grids: Option<Vec<Uuid>>,
    pub pending_only: bool,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Records of a community, newest service first, up to `limit`.
pub async fn list_records(
    ex: &mut Exec<'_>,
    community: CommunityId,
    filter: &RecordFilter,
    limit: u64,
) -> Result<Vec<RecordRow>> {
    use crate::schema::Residents;
    let r = VolunteerRecords::Table;
    let mut q = record_columns()
        .and_where(Expr::col((r, VolunteerRecords::CommunityId)).eq(community.0))
        .order_by((r, VolunteerRecords::StartedAt), Order::Desc)
        .order_by((r, VolunteerRecords::Id), Order::Desc)
        .limit(limit)
        .to_owned();
    if let Some(volunteer) = filter.volunteer {
        q.and_where(Expr::col((r, VolunteerRecords::VolunteerId)).eq(volunteer));
    }
    if let Some(grids) = &filter.grids {
        let in_grids = Query::select()
            .column(Residents::Id)
            .from(Residents::Table)
            .and_where(Expr::col(Residents::CommunityId).eq(community.0))
            .and_where(Expr::col(Residents::GridId).is_in(grids.iter().copied()))
            .to_owned();
        q.and_where(Expr::col((r, VolunteerRecords::VolunteerId)).in_subquery(in_grids));
    }
    if filter.pending_only {
        q.and_where(
            Expr::col((
                VolunteerVerifications::Table,
                VolunteerVerifications::Decision,
            ))
            .is_null(),
        );
    }
    if let Some(from) = filter.from {
        q.and_where(Expr::col((r, VolunteerRecords::StartedAt)).gte(from));
    }
    if let Some(until) = filter.until {
        q.and_where(Expr::col((r, VolunteerRecords::StartedAt)).lt(until));
    }
    ex.fetch_all(&q).await
}

/// Minutes that count (verified, not replaced) and how many records hold them.
pub fn counted(records: &[RecordRow]) -> (i64, usize) {
    records
        .iter()
        .filter(|r| r.status().counts())
        .fold((0, 0), |(minutes, n), r| (minutes + r.minutes, n + 1))
}

// ---------------------------------------------------------------------------------------
// Verification

#[derive(Debug, Clone)]
pub struct VerifyRequest {
    pub community: CommunityId,
    pub record: Uuid,
    pub verifier: AccountId,
    pub decision: Decision,
    pub note: String,
    pub key: IdempotencyKey,
    /// Where the community's current day and month began (for the rule's caps).
    pub day_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
}

/// A decision as stored (and answered again, unchanged, to a retry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub record: Uuid,
    pub decision: String,
    pub verifier: Uuid,
    pub note: String,
    /// Points the decision moved: positive awarded, negative taken back by a correction.
    pub points: i64,
    /// Why it moved fewer points than the service earns, if it did.
    pub points_note: Option<String>,
    pub verified_at: DateTime<Utc>,
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyRefusal {
    UnknownRecord,
    /// Somebody already decided on this record.
    AlreadyDecided(String),
    /// The same key was sent before with another decision.
    KeyReused,
    /// A correction of a record that is not (or no longer) the counted one.
    CorrectsUncounted(String),
}

pub type VerifyOutcome = std::result::Result<Verification, VerifyRefusal>;

/// Decides on a record and settles its points, in one transaction.
pub async fn verify(db: &Db, request: VerifyRequest, now: DateTime<Utc>) -> Result<VerifyOutcome> {
    let now = truncate_to_micros(now);
    if let Some(lite) = db.lite() {
        let request = Arc::new(request);
        return lite
            .write(move |conn| finish_now(verify_in(&mut LiteRun(conn), &request, now)))
            .await;
    }
    let mut tx = db.begin().await?;
    let outcome = verify_in(&mut tx.exec(), &request, now).await?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// One step of a bulk load of history (the demo's year): a ledger request, or a service
/// recorded and decided on at once.
#[derive(Debug, Clone)]
pub enum HistoryStep {
    Ledger(LedgerRequest),
    Service {
        record: NewRecord,
        recorded_by: AccountId,
        decision: VerifyRequest,
    },
}

/// Runs history steps in order, in one transaction, each at its own time; refusals are
/// skipped as the live paths would answer them. Returns how many steps took effect.
pub async fn load_history(db: &Db, steps: Vec<(HistoryStep, DateTime<Utc>)>) -> Result<usize> {
    if let Some(lite) = db.lite() {
        let steps = Arc::new(steps);
        return lite
            .write(move |conn| {
                let mut run = LiteRun(conn);
                let mut done = 0;
                for (step, at) in steps.iter() {
                    done += finish_now(load_step(&mut run, step, truncate_to_micros(*at)))?;
                }
                Ok(done)
            })
            .await;
    }
    let mut tx = db.begin().await?;
    let mut done = 0;
    for (step, at) in &steps {
        done += load_step(&mut tx.exec(), step, truncate_to_micros(*at)).await?;
    }
    tx.commit().await?;
    // The next batch's caps and balances read what this one wrote: planned for tables
    // the size they are now, not the size they were when the load began.
    db.analyze_tables(
        "ANALYZE points_transfers, points_entries, points_accounts, volunteer_records",
    )
    .await?;
    Ok(done)
}

async fn load_step<R: Run>(run: &mut R, step: &HistoryStep, at: DateTime<Utc>) -> Result<usize> {
    Ok(match step {
        HistoryStep::Ledger(request) => usize::from(ledger::apply(run, request, at).await?.is_ok()),
        HistoryStep::Service {
            record,
            recorded_by,
            decision,
        } => {
            let recorded_at = std::cmp::min(record.span.ended_at, at);
            insert_record_in(run, decision.community, record, *recorded_by, recorded_at).await?;
            usize::from(verify_in(run, decision, at).await?.is_ok())
        }
    })
}

/// What verification needs of a record.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Subject {
    volunteer_id: Uuid,
    minutes: i64,
    rule_code: Option<String>,
    corrects_id: Option<Uuid>,
    activity: String,
}

impl FromLite for Subject {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::{opt_uuid, uuid};
        Ok(Subject {
            volunteer_id: uuid(r, 0)?,
            minutes: r.get(1)?,
            rule_code: r.get(2)?,
            corrects_id: opt_uuid(r, 3)?,
            activity: r.get(4)?,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct StoredDecision {
    decision: String,
    verifier_id: Uuid,
    note: String,
    idempotency_key: String,
    points: i64,
    points_note: Option<String>,
    verified_at: DateTime<Utc>,
}

impl FromLite for StoredDecision {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::{time, uuid};
        Ok(StoredDecision {
            decision: r.get(0)?,
            verifier_id: uuid(r, 1)?,
            note: r.get(2)?,
            idempotency_key: r.get(3)?,
            points: r.get(4)?,
            points_note: r.get(5)?,
            verified_at: time(r, 6)?,
        })
    }
}

async fn verify_in<R: Run>(
    run: &mut R,
    req: &VerifyRequest,
    now: DateTime<Utc>,
) -> Result<VerifyOutcome> {
    // The chain head's lock orders this against every other ledger change of the
    // community (and so against a second verifier of the same record).
    take_chain_head(run, req.community).await?;
    let Some(subject) = find_subject(run, req.community, req.record).await? else {
        return Ok(Err(VerifyRefusal::UnknownRecord));
    };
    if let Some(stored) = find_decision(run, req.community, req.record).await? {
        let same_sender =
            stored.verifier_id == req.verifier.0 && stored.idempotency_key == req.key.as_str();
        return Ok(
            match (same_sender, stored.decision == req.decision.as_str()) {
                (true, true) => Ok(Verification {
                    record: req.record,
                    decision: stored.decision,
                    verifier: stored.verifier_id,
                    note: stored.note,
                    points: stored.points,
                    points_note: stored.points_note,
                    verified_at: stored.verified_at,
                    replayed: true,
                }),
                (true, false) => Err(VerifyRefusal::KeyReused),
                (false, _) => Err(VerifyRefusal::AlreadyDecided(stored.decision)),
            },
        );
    }
    if let Some(corrected) = subject.corrects_id {
        let status = status_of(run, req.community, corrected).await?;
        if status != RecordStatus::Verified {
            return Ok(Err(VerifyRefusal::CorrectsUncounted(
                status.as_str().to_owned(),
            )));
        }
    }
    let (points, points_note) = match req.decision {
        Decision::Rejected => (0, None),
        Decision::Verified => settle_points(run, req, &subject, now).await?,
    };
    let insert = Query::insert()
        .into_table(VolunteerVerifications::Table)
        .columns([
            VolunteerVerifications::CommunityId,
            VolunteerVerifications::RecordId,
            VolunteerVerifications::Decision,
            VolunteerVerifications::VerifierId,
            VolunteerVerifications::Note,
            VolunteerVerifications::IdempotencyKey,
            VolunteerVerifications::Points,
            VolunteerVerifications::PointsNote,
            VolunteerVerifications::VerifiedAt,
        ])
        .values_panic([
            req.community.0.into(),
            req.record.into(),
            req.decision.as_str().into(),
            req.verifier.0.into(),
            req.note.clone().into(),
            req.key.as_str().into(),
            points.into(),
            points_note.clone().into(),
            now.into(),
        ])
        .to_owned();
    run.execute(&insert).await?;
    Ok(Ok(Verification {
        record: req.record,
        decision: req.decision.as_str().to_owned(),
        verifier: req.verifier.0,
        note: req.note.clone(),
        points,
        points_note,
        verified_at: now,
        replayed: false,
    }))
}

async fn find_subject<R: Run>(
    run: &mut R,
    community: CommunityId,
    id: Uuid,
) -> Result<Option<Subject>> {
    let q = Query::select()
        .columns([
            VolunteerRecords::VolunteerId,
            VolunteerRecords::Minutes,
            VolunteerRecords::RuleCode,
            VolunteerRecords::CorrectsId,
            VolunteerRecords::Activity,
        ])
        .from(VolunteerRecords::Table)
        .and_where(Expr::col(VolunteerRecords::CommunityId).eq(community.0))
        .and_where(Expr::col(VolunteerRecords::Id).eq(id))
        .to_owned();
    run.fetch_optional(&q).await
}

async fn find_decision<R: Run>(
    run: &mut R,
    community: CommunityId,
    record: Uuid,
) -> Result<Option<StoredDecision>> {
    let q = Query::select()
        .columns([
            VolunteerVerifications::Decision,
            VolunteerVerifications::VerifierId,
            VolunteerVerifications::Note,
            VolunteerVerifications::IdempotencyKey,
            VolunteerVerifications::Points,
            VolunteerVerifications::PointsNote,
            VolunteerVerifications::VerifiedAt,
        ])
        .from(VolunteerVerifications::Table)
        .and_where(Expr::col(VolunteerVerifications::CommunityId).eq(community.0))
        .and_where(Expr::col(VolunteerVerifications::RecordId).eq(record))
        .to_owned();
    run.fetch_optional(&q).await
}

/// A record's status inside the transaction.
async fn status_of<R: Run>(
    run: &mut R,
    community: CommunityId,
    record: Uuid,
) -> Result<RecordStatus> {
    let decision = find_decision(run, community, record)
        .await?
        .map(|d| d.decision);
    let q = Query::select()
        .expr(Expr::val(1))
        .from(VolunteerRecords::Table)
        .inner_join(
            VolunteerVerifications::Table,
            Expr::col((
                VolunteerVerifications::Table,
                VolunteerVerifications::CommunityId,
            ))
            .equals((VolunteerRecords::Table, VolunteerRecords::CommunityId))
            .and(
                Expr::col((
                    VolunteerVerifications::Table,
                    VolunteerVerifications::RecordId,
                ))
                .equals((VolunteerRecords::Table, VolunteerRecords::Id)),
            ),
        )
        .and_where(
            Expr::col((VolunteerRecords::Table, VolunteerRecords::CommunityId)).eq(community.0),
        )
        .and_where(Expr::col((VolunteerRecords::Table, VolunteerRecords::CorrectsId)).eq(record))
        .and_where(
            Expr::col((
                VolunteerVerifications::Table,
                VolunteerVerifications::Decision,
            ))
            .eq("verified"),
        )
        .to_owned();
    let superseded = !run.fetch_all::<(i64,)>(&q).await?.is_empty();
    Ok(RecordStatus::of(decision.as_deref(), superseded))
}

/// Awards (or, for a correction, re-settles) the points a verified record earns. Returns
/// the points moved and, when fewer than earned, why.
async fn settle_points<R: Run>(
    run: &mut R,
    req: &VerifyRequest,
    subject: &Subject,
    now: DateTime<Utc>,
) -> Result<(i64, Option<String>)> {
    let Some(code) = &subject.rule_code else {
        return Ok((0, None));
    };
    let Some(row) = run
        .fetch_optional::<RuleRow>(&current_rule_query(req.community, code))
        .await?
        .filter(|r| r.active)
    else {
        return Ok((0, Some("no_rule".to_owned())));
    };
    let rule = row.rule()?;
    let earned = if subject.minutes == 0 {
        0
    } else {
        let minutes = match rule.draft.basis {
            Basis::PerHour => Some(u32::try_from(subject.minutes).unwrap_or(u32::MAX)),
            _ => None,
        };
        match rule.points_for(minutes, None) {
            Ok(points) => points,
            Err(e) => return Ok((0, Some(e.code().to_owned()))),
        }
    };
    let held = held_awards(run, req.community, subject).await?;
    let held_sum: i64 = held.iter().map(|h| h.amount).sum();
    let award = |earned: i64| -> LedgerRequest {
        LedgerRequest {
            community: req.community,
            actor: Some(req.verifier),
            key: None,
            request: serde_json::Value::Null,
            change: Change::Award(Box::new(Award {
                resident: ResidentId(subject.volunteer_id),
                rule_id: row.id,
                rule: rule.clone(),
                earned,
                subject: Some(req.record),
                memo: subject.activity.clone(),
                day_start: req.day_start,
                month_start: req.month_start,
                approver: None,
            })),
            audit: None,
        }
    };
    if earned >= held_sum {
        if earned == held_sum {
            return Ok((0, None));
        }
        return match ledger::apply(run, &award(earned - held_sum), now).await? {
            Ok(answer) => Ok((answer.receipt.amount, None)),
            Err(refusal) => Ok((0, Some(refusal_note(&refusal)))),
        };
    }
    // Fewer points than the replaced records earned: take those awards back whole, then
    // award what the corrected service earns (the caps then count it afresh).
    let balance = balance_of(run, req.community, subject.volunteer_id).await?;
    if balance < held_sum {
        return Ok((0, Some("points_spent".to_owned())));
    }
    for Held { id: transfer, .. } in &held {
        let reversal = LedgerRequest {
            community: req.community,
            actor: Some(req.verifier),
            key: None,
            request: serde_json::Value::Null,
            change: Change::Reversal(Reversal {
                transfer: *transfer,
                memo: format!("correction {}", req.record),
            }),
            audit: None,
        };
        if let Err(refusal) = ledger::apply(run, &reversal, now).await? {
            return Err(StoreError::Corrupt(format!(
                "reversing award {transfer} for a correction: {refusal:?}"
            )));
        }
    }
    let awarded = if earned > 0 {
        match ledger::apply(run, &award(earned), now).await? {
            Ok(answer) => answer.receipt.amount,
            Err(_) => 0,
        }
    } else {
        0
    };
    let note = (awarded < earned).then(|| "cap_reached".to_owned());
    Ok((awarded - held_sum, note))
}

fn refusal_note(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Rule(e) => e.code().to_owned(),
        Refusal::RuleChanged => "rule_changed".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Held {
    id: Uuid,
    amount: i64,
}

impl FromLite for Held {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Held {
            id: crate::lite::decode::uuid(r, 0)?,
            amount: r.get(1)?,
        })
    }
}

/// The awards still standing for the records a correction replaces (every record up its
/// chain of corrections): transfer id and amount.
async fn held_awards<R: Run>(
    run: &mut R,
    community: CommunityId,
    subject: &Subject,
) -> Result<Vec<Held>> {
    let mut chain = Vec::new();
    let mut next = subject.corrects_id;
    while let Some(id) = next {
        chain.push(id);
        next = find_subject(run, community, id)
            .await?
            .and_then(|s| s.corrects_id);
        if chain.len() > 1_000 {
            return Err(StoreError::Corrupt(format!(
                "correction chain at {id} loops"
            )));
        }
    }
    if chain.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns([
            (PointsTransfers::Table, PointsTransfers::Id),
            (PointsTransfers::Table, PointsTransfers::Amount),
        ])
        .from(PointsTransfers::Table)
        .and_where(
            Expr::col((PointsTransfers::Table, PointsTransfers::CommunityId)).eq(community.0),
        )
        .and_where(Expr::col((PointsTransfers::Table, PointsTransfers::SubjectId)).is_in(chain))
        .and_where(
            Expr::col((PointsTransfers::Table, PointsTransfers::Kind))
                .eq(TransferKind::Award.as_str()),
        )
        .and_where(crate::points::ledger::not_reversed(community))
        .to_owned();
    run.fetch_all(&q).await
}

// ---------------------------------------------------------------------------------------
// Certificates

/// One record as a certificate states it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CertificateLine {
    pub record: Uuid,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub activity: String,
    pub content: String,
    pub organiser: String,
    pub minutes: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertificateRow {
    pub id: Uuid,
    pub community_id: Uuid,
    pub number: String,
    pub volunteer_id: Uuid,
    pub minutes: i64,
    pub records: i64,
    /// JSON: the records stated, as [`CertificateLine`]s.
    pub lines: String,
    pub period_from: Option<DateTime<Utc>>,
    pub period_until: Option<DateTime<Utc>>,
    pub issued_by: Uuid,
    pub issued_at: DateTime<Utc>,
}

/// Numbers and files a certificate for the hours counted now (within the period, if one
/// is given). Numbers run per community and year; two issuers at once get consecutive
/// numbers.
pub async fn issue_certificate(
    db: &Db,
    community: CommunityId,
    volunteer: ResidentId,
    period: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    issued_by: AccountId,
    now: DateTime<Utc>,
) -> Result<CertificateRow> {
    let now = truncate_to_micros(now);
    for _ in 0..5 {
        let mut tx = db.begin().await?;
        let filter = RecordFilter {
            volunteer: Some(volunteer.0),
            from: period.0,
            until: period.1,
            ..RecordFilter::default()
        };
        let records = list_records(&mut tx.exec(), community, &filter, 100_000).await?;
        let (minutes, count) = counted(&records);
        let lines: Vec<CertificateLine> = records
            .iter()
            .rev()
            .filter(|r| r.status().counts())
            .map(|r| CertificateLine {
                record: r.id,
                started_at: r.started_at,
                ended_at: r.ended_at,
                activity: r.activity.clone(),
                content: r.content.clone(),
                organiser: r.organiser.clone(),
                minutes: r.minutes,
            })
            .collect();
        let lines = serde_json::to_string(&lines)
            .map_err(|e| StoreError::Corrupt(format!("certificate lines: {e}")))?;
        let year_prefix = format!("{}-", now.year());
        let taken = Query::select()
            .expr(Expr::col(VolunteerCertificates::Number).count())
            .from(VolunteerCertificates::Table)
            .and_where(Expr::col(VolunteerCertificates::CommunityId).eq(community.0))
            .and_where(Expr::col(VolunteerCertificates::Number).like(format!("{year_prefix}%")))
            .to_owned();
        let (issued,): (i64,) = tx.exec().fetch_one(&taken).await?;
        let row = CertificateRow {
            id: Uuid::now_v7(),
            community_id: community.0,
            number: linli_domain::volunteering::certificate_number(now, issued + 1),
            volunteer_id: volunteer.0,
            minutes,
            records: count as i64,
            lines: lines.clone(),
            period_from: period.0,
            period_until: period.1,
            issued_by: issued_by.0,
            issued_at: now,
        };
        let insert = Query::insert()
            .into_table(VolunteerCertificates::Table)
            .columns([
                VolunteerCertificates::CommunityId,
                VolunteerCertificates::Number,
                VolunteerCertificates::Id,
                VolunteerCertificates::VolunteerId,
                VolunteerCertificates::Minutes,
                VolunteerCertificates::Records,
                VolunteerCertificates::Lines,
                VolunteerCertificates::PeriodFrom,
                VolunteerCertificates::PeriodUntil,
                VolunteerCertificates::IssuedBy,
                VolunteerCertificates::IssuedAt,
            ])
            .values_panic([
                community.0.into(),
                row.number.clone().into(),
                row.id.into(),
                volunteer.0.into(),
                minutes.into(),
                row.records.into(),
                lines.into(),
                period.0.into(),
                period.1.into(),
                issued_by.0.into(),
                now.into(),
            ])
            .to_owned();
        match tx.exec().execute(&insert).await {
            Ok(_) => {
                tx.commit().await?;
                return Ok(row);
            }
            // Another issuer took the number between our count and insert (PostgreSQL).
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(
        "certificate numbers kept colliding".into(),
    ))
}

pub async fn find_certificate(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<CertificateRow>> {
    let q = Query::select()
        .columns([
            VolunteerCertificates::Id,
            VolunteerCertificates::CommunityId,
            VolunteerCertificates::Number,
            VolunteerCertificates::VolunteerId,
            VolunteerCertificates::Minutes,
            VolunteerCertificates::Records,
            VolunteerCertificates::Lines,
            VolunteerCertificates::PeriodFrom,
            VolunteerCertificates::PeriodUntil,
            VolunteerCertificates::IssuedBy,
            VolunteerCertificates::IssuedAt,
        ])
        .from(VolunteerCertificates::Table)
        .and_where(Expr::col(VolunteerCertificates::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}
