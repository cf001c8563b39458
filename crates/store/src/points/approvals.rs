//! Manual awards waiting for a second approver. Asking writes a pending request (a retry
//! with the same key finds it again); approving runs the award through the ledger — with
//! both people on the transfer — and closes the request in the same transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use linli_domain::points::IdempotencyKey;
use linli_domain::{AccountId, CommunityId, ResidentId};
use sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ledger::{
    self, Award, Change, LedgerRequest, Refusal, take_chain_head, truncate_to_micros,
};
use super::rules::RuleRow;
use crate::run::{FromLite, LiteRun, Run, finish_now};
use crate::schema::{PointsApprovals, PointsRules};
use crate::{Db, Exec, Result, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: Uuid,
    pub community_id: Uuid,
    pub resident_id: Uuid,
    pub rule_id: Uuid,
    pub rule_code: String,
    pub points: i64,
    pub memo: String,
    pub subject_id: Option<Uuid>,
    pub requested_by: Uuid,
    pub request_key: String,
    pub request_hash: Vec<u8>,
    pub requested_at: DateTime<Utc>,
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub decision_key: Option<String>,
    pub decision_note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub transfer_id: Option<Uuid>,
}

impl FromLite for ApprovalRow {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::{opt_time, opt_uuid, time, uuid};
        Ok(ApprovalRow {
            id: uuid(r, 0)?,
            community_id: uuid(r, 1)?,
            resident_id: uuid(r, 2)?,
            rule_id: uuid(r, 3)?,
            rule_code: r.get(4)?,
            points: r.get(5)?,
            memo: r.get(6)?,
            subject_id: opt_uuid(r, 7)?,
            requested_by: uuid(r, 8)?,
            request_key: r.get(9)?,
            request_hash: r.get(10)?,
            requested_at: time(r, 11)?,
            status: r.get(12)?,
            decided_by: opt_uuid(r, 13)?,
            decision_key: r.get(14)?,
            decision_note: r.get(15)?,
            decided_at: opt_time(r, 16)?,
            transfer_id: opt_uuid(r, 17)?,
        })
    }
}

fn approval_columns() -> SelectStatement {
    Query::select()
        .columns([
            PointsApprovals::Id,
            PointsApprovals::CommunityId,
            PointsApprovals::ResidentId,
            PointsApprovals::RuleId,
            PointsApprovals::RuleCode,
            PointsApprovals::Points,
            PointsApprovals::Memo,
            PointsApprovals::SubjectId,
            PointsApprovals::RequestedBy,
            PointsApprovals::RequestKey,
            PointsApprovals::RequestHash,
            PointsApprovals::RequestedAt,
            PointsApprovals::Status,
            PointsApprovals::DecidedBy,
            PointsApprovals::DecisionKey,
            PointsApprovals::DecisionNote,
            PointsApprovals::DecidedAt,
            PointsApprovals::TransferId,
        ])
        .from(PointsApprovals::Table)
        .to_owned()
}

/// A manual award that needs a second approver.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub community: CommunityId,
    pub resident: ResidentId,
    pub rule_id: Uuid,
    pub rule_code: String,
    pub points: i64,
    pub memo: String,
    pub subject: Option<Uuid>,
    pub requested_by: AccountId,
    pub key: IdempotencyKey,
    /// The request as JSON: tells a retry from a key reused for something else.
    pub request: serde_json::Value,
}

/// Files the request, or finds the one filed under the same key. `Err(KeyReused)` when
/// the key was used for another request.
pub async fn request(
    db: &Db,
    new: &NewApproval,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(ApprovalRow, bool), Refusal>> {
    match request_once(db, new, now).await {
        // Two retries of one key raced (PostgreSQL): the loser finds the winner's row.
        Err(StoreError::Conflict(_)) => request_once(db, new, now).await,
        other => other,
    }
}

async fn request_once(
    db: &Db,
    new: &NewApproval,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(ApprovalRow, bool), Refusal>> {
    let hash = Sha256::digest(new.request.to_string().as_bytes()).to_vec();
    let mut tx = db.begin().await?;
    let existing = approval_columns()
        .and_where(Expr::col(PointsApprovals::CommunityId).eq(new.community.0))
        .and_where(Expr::col(PointsApprovals::RequestedBy).eq(new.requested_by.0))
        .and_where(Expr::col(PointsApprovals::RequestKey).eq(new.key.as_str()))
        .to_owned();
    if let Some(row) = tx
        .exec()
        .fetch_optional::<ApprovalRow, _>(&existing)
        .await?
    {
        return Ok(if row.request_hash == hash {
            Ok((row, true))
        } else {
            Err(Refusal::KeyReused)
        });
    }
    let id = Uuid::now_v7();
    let insert = Query::insert()
        .into_table(PointsApprovals::Table)
        .columns([
            PointsApprovals::CommunityId,
            PointsApprovals::Id,
            PointsApprovals::ResidentId,
            PointsApprovals::RuleId,
            PointsApprovals::RuleCode,
            PointsApprovals::Points,
            PointsApprovals::Memo,
            PointsApprovals::SubjectId,
            PointsApprovals::RequestedBy,
            PointsApprovals::RequestKey,
            PointsApprovals::RequestHash,
            PointsApprovals::RequestedAt,
            PointsApprovals::Status,
        ])
        .values_panic([
            new.community.0.into(),
            id.into(),
            new.resident.0.into(),
            new.rule_id.into(),
            new.rule_code.clone().into(),
            new.points.into(),
            new.memo.clone().into(),
            new.subject.into(),
            new.requested_by.0.into(),
            new.key.as_str().into(),
            hash.into(),
            truncate_to_micros(now).into(),
            "pending".into(),
        ])
        .to_owned();
    tx.exec().execute(&insert).await?;
    let row = find_in(&mut tx.exec(), new.community, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("approval vanished".to_owned()))?;
    tx.commit().await?;
    Ok(Ok((row, false)))
}

async fn find_in<R: Run>(
    run: &mut R,
    community: CommunityId,
    id: Uuid,
) -> Result<Option<ApprovalRow>> {
    let q = approval_columns()
        .and_where(Expr::col(PointsApprovals::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsApprovals::Id).eq(id))
        .to_owned();
    run.fetch_optional(&q).await
}

/// One request by id alone (the API's address), with its community.
pub async fn find(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<ApprovalRow>> {
    let q = approval_columns()
        .and_where(Expr::col(PointsApprovals::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// A community's requests, oldest pending first (or all, newest first).
pub async fn list(
    ex: &mut Exec<'_>,
    community: CommunityId,
    pending_only: bool,
    limit: u64,
) -> Result<Vec<ApprovalRow>> {
    let mut q = approval_columns()
        .and_where(Expr::col(PointsApprovals::CommunityId).eq(community.0))
        .limit(limit)
        .to_owned();
    if pending_only {
        q.and_where(Expr::col(PointsApprovals::Status).eq("pending"))
            .order_by(PointsApprovals::RequestedAt, Order::Asc);
    } else {
        q.order_by(PointsApprovals::RequestedAt, Order::Desc);
    }
    ex.fetch_all(&q).await
}

#[derive(Debug, Clone)]
pub struct Decide {
    pub community: CommunityId,
    pub approval: Uuid,
    pub approver: AccountId,
    pub approve: bool,
    pub note: String,
    pub key: IdempotencyKey,
    pub day_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideRefusal {
    Unknown,
    /// Somebody already decided (approved or declined).
    AlreadyDecided(String),
    /// The person who asked cannot also approve.
    SameApprover,
    /// The same key was sent before with the other decision.
    KeyReused,
    /// The ledger refused the award (a cap reached, the rule changed…): still pending.
    Ledger(Refusal),
}

/// Approves (awarding the points) or declines a pending request, once. Answers
/// `(row, replayed)`.
pub async fn decide(
    db: &Db,
    decide: Decide,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(ApprovalRow, bool), DecideRefusal>> {
    let now = truncate_to_micros(now);
    if let Some(lite) = db.lite() {
        let decide = Arc::new(decide);
        return lite
            .write(move |conn| finish_now(decide_in(&mut LiteRun(conn), &decide, now)))
            .await;
    }
    let mut tx = db.begin().await?;
    let outcome = decide_in(&mut tx.exec(), &decide, now).await?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

async fn decide_in<R: Run>(
    run: &mut R,
    d: &Decide,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(ApprovalRow, bool), DecideRefusal>> {
    take_chain_head(run, d.community).await?;
    let Some(row) = find_in(run, d.community, d.approval).await? else {
        return Ok(Err(DecideRefusal::Unknown));
    };
    let status = if d.approve { "approved" } else { "declined" };
    if row.status != "pending" {
        let mine = row.decided_by == Some(d.approver.0)
            && row.decision_key.as_deref() == Some(d.key.as_str());
        return Ok(match (mine, row.status == status) {
            (true, true) => Ok((row, true)),
            (true, false) => Err(DecideRefusal::KeyReused),
            (false, _) => Err(DecideRefusal::AlreadyDecided(row.status)),
        });
    }
    if row.requested_by == d.approver.0 {
        return Ok(Err(DecideRefusal::SameApprover));
    }
    let transfer = if d.approve {
        let rule_q = super::rules::rule_columns()
            .and_where(Expr::col(PointsRules::CommunityId).eq(d.community.0))
            .and_where(Expr::col(PointsRules::Id).eq(row.rule_id))
            .to_owned();
        let rule_row: RuleRow = run
            .fetch_optional(&rule_q)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("rule {} of an approval", row.rule_id)))?;
        let award = LedgerRequest {
            community: d.community,
            actor: Some(AccountId(row.requested_by)),
            key: None,
            request: serde_json::Value::Null,
            change: Change::Award(Box::new(Award {
                resident: ResidentId(row.resident_id),
                rule_id: row.rule_id,
                rule: rule_row.rule()?,
                earned: row.points,
                subject: row.subject_id,
                memo: row.memo.clone(),
                day_start: d.day_start,
                month_start: d.month_start,
                approver: Some(d.approver),
            })),
            audit: None,
        };
        match ledger::apply(run, &award, now).await? {
            Ok(answer) => Some(answer.receipt.transfer_id),
            Err(refusal) => return Ok(Err(DecideRefusal::Ledger(refusal))),
        }
    } else {
        None
    };
    let close = Query::update()
        .table(PointsApprovals::Table)
        .value(PointsApprovals::Status, status)
        .value(PointsApprovals::DecidedBy, d.approver.0)
        .value(PointsApprovals::DecisionKey, d.key.as_str())
        .value(PointsApprovals::DecisionNote, d.note.clone())
        .value(PointsApprovals::DecidedAt, now)
        .value(PointsApprovals::TransferId, transfer)
        .and_where(Expr::col(PointsApprovals::CommunityId).eq(d.community.0))
        .and_where(Expr::col(PointsApprovals::Id).eq(d.approval))
        .and_where(Expr::col(PointsApprovals::Status).eq("pending"))
        .to_owned();
    if run.execute(&close).await? != 1 {
        return Err(StoreError::Corrupt(format!(
            "approval {} moved under its lock",
            d.approval
        )));
    }
    let row = find_in(run, d.community, d.approval)
        .await?
        .ok_or_else(|| StoreError::Corrupt("approval vanished".to_owned()))?;
    Ok(Ok((row, false)))
}
