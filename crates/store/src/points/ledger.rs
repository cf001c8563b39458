//! The points ledger: double entry, hash-chained per community, every change under an
//! idempotency key.
//!
//! One request is one transaction that (1) takes the community's chain head — on
//! PostgreSQL a row lock, so a community's ledger changes happen one after another and
//! every read below is exact; on SQLite the single writer already does that; (2) answers
//! a replayed key from the stored result, or refuses a key reused for another request;
//! (3) checks the change (balance, caps, what may be reversed) *before* writing anything,
//! so a refusal leaves nothing behind; (4) moves the balances (guarded, and a CHECK
//! constraint keeps every account but issuance at or above zero), appends the transfer
//! and its two entries, advances the chain, and stores the result under the key.
//!
//! On SQLite the request runs in the lane's group commit (many requests, one `fsync`),
//! through the ledger queue (`lite_ledger`), which plans the batch's awards and
//! redemptions in memory by these same rules; a refusal is an answer, not a failure, so it does not disturb the
//! batch.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use linli_domain::points::{
    AccountKind, IdempotencyKey, Points, PointsRule, PointsRuleError, TransferKind, Usage,
};
use linli_domain::{AccountId, CommunityId, ResidentId};
use sea_query::{
    Alias, Expr, ExprTrait, Func, JoinType, LockType, OnConflict, Query, SelectStatement,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{AuditEvent, append_with};
use crate::run::{FromLite, LiteRun, Run, finish_now};
use crate::schema::{
    PointsAccounts, PointsChainHeads, PointsEntries, PointsOffers, PointsOperations,
    PointsRedemptions, PointsRules, PointsTransfers,
};
use crate::{Db, Result, StoreError};

/// A ledger-changing request, as the web layer parsed and authorised it.
#[derive(Debug, Clone)]
pub struct LedgerRequest {
    pub community: CommunityId,
    /// Who sent it; idempotency keys are theirs. `None` for the server's own work (the
    /// expiry sweep), which is made safe to repeat by the state it changes instead.
    pub actor: Option<AccountId>,
    pub key: Option<IdempotencyKey>,
    /// What was asked, as JSON: its hash tells a replay from a key reused for something
    /// else. Serialised with sorted keys (serde_json's map), so field order never matters.
    pub request: serde_json::Value,
    pub change: Change,
    /// Written to the audit log in the same transaction when the change is made (ledger
    /// corrections are audited, DESIGN §4); not on a replay or a refusal.
    pub audit: Option<AuditEvent>,
}

#[derive(Debug, Clone)]
pub enum Change {
    Award(Box<Award>),
    Reversal(Reversal),
    Redeem(Redeem),
    Confirm(Confirm),
    Refund(Refund),
    Expire(Expire),
}

impl Change {
    fn name(&self) -> &'static str {
        match self {
            Change::Award(_) => "award",
            Change::Reversal(_) => "reversal",
            Change::Redeem(_) => "redeem",
            Change::Confirm(_) => "confirm",
            Change::Refund(_) => "refund",
            Change::Expire(_) => "expire",
        }
    }
}

/// Points earned under a rule: issuance → the resident.
#[derive(Debug, Clone)]
pub struct Award {
    pub resident: ResidentId,
    /// The rule version the award is made under; refused if it is no longer current.
    pub rule_id: Uuid,
    pub rule: PointsRule,
    /// What the contribution earns under the rule before the day and month caps.
    pub earned: i64,
    /// What it is for (a service record, a council meeting…), if anything.
    pub subject: Option<Uuid>,
    pub memo: String,
    /// Where the community's current day and month began, in UTC (for the caps).
    pub day_start: DateTime<Utc>,
    pub month_start: DateTime<Utc>,
    /// The second approver of a manual award above its rule's threshold.
    pub approver: Option<AccountId>,
}

/// Points earned before `cutoff` and not spent since go back to issuance (expiry, when the
/// community turned it on). Oldest points are spent first, so what expires is what was
/// earned before the cutoff less everything ever taken out of the account.
#[derive(Debug, Clone)]
pub struct Expire {
    pub resident: ResidentId,
    pub cutoff: DateTime<Utc>,
    pub memo: String,
}

/// A correction: the reverse of an earlier transfer, linked to it.
#[derive(Debug, Clone)]
pub struct Reversal {
    pub transfer: Uuid,
    pub memo: String,
}

/// A resident redeems an offer: the cost goes to escrow, the stock goes down by one, and a
/// pending redemption waits for the one-time code.
#[derive(Debug, Clone)]
pub struct Redeem {
    pub resident: ResidentId,
    /// Chosen by the caller, which derives the one-time code from it.
    pub redemption: Uuid,
    pub offer: Uuid,
    /// SHA-256 of the one-time code: the code itself is never stored.
    pub code_hash: Vec<u8>,
    /// How long it waits for confirmation, from the moment it is made.
    pub valid_for: chrono::Duration,
}

/// The station or partner confirms a redemption (核销): escrow → their account.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub redemption: Uuid,
    pub code_hash: Vec<u8>,
}

/// An unconfirmed redemption is given back: escrow → the resident, stock restored.
#[derive(Debug, Clone)]
pub struct Refund {
    pub redemption: Uuid,
    pub why: RefundReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    /// The resident changed their mind.
    Cancelled,
    /// Nobody confirmed it in time (the expiry sweep).
    Expired,
}

/// What a ledger request did. Kept under its key by reference ([`StoredOperation`]) and
/// rebuilt, identical, on replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub transfer_id: Uuid,
    /// Position in the community's chain.
    pub seq: i64,
    pub kind: String,
    pub amount: i64,
    pub from_account: Uuid,
    pub to_account: Uuid,
    /// The resident whose points moved, and their balance after the transfer.
    pub resident_id: Option<Uuid>,
    pub balance: Option<i64>,
    pub rule_code: Option<String>,
    pub rule_version: Option<i32>,
    pub reverses_id: Option<Uuid>,
    /// What the transfer is for: a redemption's id, a service record's…
    pub subject_id: Option<Uuid>,
    pub memo: String,
    pub at: DateTime<Utc>,
}

/// Why a ledger request changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The idempotency key was used before for a different request.
    KeyReused,
    InsufficientPoints {
        balance: i64,
    },
    UnknownTransfer,
    NotReversible(TransferKind),
    AlreadyReversed,
    /// The rule was changed or retired after the request was prepared.
    RuleChanged,
    Rule(PointsRuleError),
    /// The offer is unknown, withdrawn, or outside the period it is offered in.
    OfferUnavailable,
    SoldOut,
    UnknownRedemption,
    /// The one-time code does not belong to this redemption.
    WrongCode,
    /// The redemption is no longer pending (confirmed, cancelled or expired).
    NotPending(String),
    /// The redemption's time ran out before it was confirmed.
    CodeExpired,
    /// An expiry for a redemption whose time has not run out.
    NotDue,
}

/// A request's answer: its receipt, and whether it was made just now or is a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub receipt: Receipt,
    pub replayed: bool,
}

pub type Outcome = std::result::Result<Answer, Refusal>;

/// Runs a ledger request and answers once it is durable (or refused).
pub async fn submit(db: &Db, request: LedgerRequest, now: DateTime<Utc>) -> Result<Outcome> {
    let now = truncate_to_micros(now);
    if let Some(queue) = db.lite_ledger() {
        return queue.submit(request, now).await;
    }
    if let Some(batch) = db.pg_ledger() {
        return batch.submit(request, now).await;
    }
    let mut tx = db.begin().await?;
    let outcome = apply(&mut tx.exec(), &request, now).await?;
    if outcome.is_ok() {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// Runs many ledger requests, in order, in one transaction (bulk loads such as the demo's
/// year of history; each request has its own `now`). Refusals are answers as usual; any
/// failure undoes the whole batch.
pub async fn submit_all(
    db: &Db,
    requests: Vec<(LedgerRequest, DateTime<Utc>)>,
) -> Result<Vec<Outcome>> {
    if let Some(lite) = db.lite() {
        let requests = Arc::new(requests);
        return lite
            .write(move |conn| {
                let mut outcomes = Vec::with_capacity(requests.len());
                let mut run = LiteRun(conn);
                for (request, now) in requests.iter() {
                    let outcome = apply(&mut run, request, truncate_to_micros(*now));
                    outcomes.push(finish_now(outcome)?);
                }
                Ok(outcomes)
            })
            .await;
    }
    let mut tx = db.begin().await?;
    let mut outcomes = Vec::with_capacity(requests.len());
    for (request, now) in &requests {
        outcomes.push(apply(&mut tx.exec(), request, truncate_to_micros(*now)).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

pub(crate) async fn apply<R: Run>(
    run: &mut R,
    req: &LedgerRequest,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    apply_hashed(run, req, &request_hash(req), now).await
}

/// What tells a replay from a key reused for another request: the hash of the request as
/// asked (see [`LedgerRequest::request`]).
pub(crate) fn request_hash(req: &LedgerRequest) -> Vec<u8> {
    Sha256::digest(req.request.to_string().as_bytes()).to_vec()
}

/// The answer to a key seen before: the stored receipt if the request is the same one.
pub(crate) fn replay(stored_hash: &[u8], receipt: &Receipt, request_hash: &[u8]) -> Outcome {
    if stored_hash != request_hash {
        return Err(Refusal::KeyReused);
    }
    Ok(Answer {
        receipt: receipt.clone(),
        replayed: true,
    })
}

/// [`apply`], with the request's hash already taken.
pub(crate) async fn apply_hashed<R: Run>(
    run: &mut R,
    req: &LedgerRequest,
    request_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let head = take_chain_head(run, req.community).await?;
    if let Some((stored_hash, receipt)) = find_operation(run, req).await? {
        return Ok(replay(&stored_hash, &receipt, request_hash));
    }
    let planned = match &req.change {
        Change::Award(award) => plan_award(run, req.community, award).await?,
        Change::Reversal(reversal) => plan_reversal(run, req.community, reversal).await?,
        Change::Redeem(redeem) => plan_redeem(run, req.community, redeem, now).await?,
        Change::Confirm(confirm) => plan_confirm(run, req, confirm, now).await?,
        Change::Refund(refund) => plan_refund(run, req, refund, now).await?,
        Change::Expire(expire) => plan_expire(run, req.community, expire).await?,
    };
    let posting = match planned {
        Ok(posting) => posting,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let receipt = post(run, req, head, posting, now).await?;
    if let Some(event) = &req.audit {
        let mut event = event.clone();
        if let serde_json::Value::Object(detail) = &mut event.detail {
            detail.insert(
                "transfer_id".to_owned(),
                receipt.transfer_id.to_string().into(),
            );
        }
        append_with(run, &event, now).await?;
    }
    record_operation(run, req, request_hash.to_vec(), &receipt, now).await?;
    Ok(Ok(Answer {
        receipt,
        replayed: false,
    }))
}

// ---------------------------------------------------------------------------------------
// Accounts

/// The community's issuance account: a fixed id derived from the community's, so it needs
/// no lookup and two servers agree on it.
pub fn issuance_account(community: CommunityId) -> Uuid {
    community_account(community, "issuance")
}

/// Where redeemed points wait for the station's or partner's confirmation.
pub fn escrow_account(community: CommunityId) -> Uuid {
    community_account(community, "escrow")
}

fn community_account(community: CommunityId, kind: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"linli points account\0")
        .chain_update(kind.as_bytes())
        .chain_update(community.0.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

async fn open_account<R: Run>(
    run: &mut R,
    community: CommunityId,
    kind: AccountKind,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let insert = Query::insert()
        .into_table(PointsAccounts::Table)
        .columns([
            PointsAccounts::CommunityId,
            PointsAccounts::Id,
            PointsAccounts::Kind,
            PointsAccounts::Balance,
            PointsAccounts::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            id.into(),
            kind.as_str().into(),
            0i64.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns([PointsAccounts::CommunityId, PointsAccounts::Id])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    run.execute(&insert).await?;
    Ok(())
}

pub(super) fn balance_query(community: CommunityId, account: Uuid) -> SelectStatement {
    Query::select()
        .column(PointsAccounts::Balance)
        .from(PointsAccounts::Table)
        .and_where(Expr::col(PointsAccounts::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsAccounts::Id).eq(account))
        .to_owned()
}

pub(crate) async fn balance_of<R: Run>(
    run: &mut R,
    community: CommunityId,
    account: Uuid,
) -> Result<i64> {
    let row: Option<(i64,)> = run
        .fetch_optional(&balance_query(community, account))
        .await?;
    Ok(row.map_or(0, |(b,)| b))
}

// ---------------------------------------------------------------------------------------
// The chain

pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) hash: Vec<u8>,
}

pub(crate) async fn take_chain_head<R: Run>(run: &mut R, community: CommunityId) -> Result<Head> {
    let head = Query::select()
        .columns([PointsChainHeads::Seq, PointsChainHeads::Hash])
        .from(PointsChainHeads::Table)
        .and_where(Expr::col(PointsChainHeads::CommunityId).eq(community.0))
        .lock(LockType::Update)
        .to_owned();
    if let Some((seq, hash)) = run.fetch_optional::<(i64, Vec<u8>)>(&head).await? {
        return Ok(Head { seq, hash });
    }
    // A community's first ledger request: plant the head (two servers may race; the
    // loser's insert does nothing and both then lock the same row).
    let seed = Query::insert()
        .into_table(PointsChainHeads::Table)
        .columns([
            PointsChainHeads::CommunityId,
            PointsChainHeads::Seq,
            PointsChainHeads::Hash,
        ])
        .values_panic([community.0.into(), 0i64.into(), vec![0u8; 32].into()])
        .on_conflict(
            OnConflict::column(PointsChainHeads::CommunityId)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    run.execute(&seed).await?;
    let (seq, hash): (i64, Vec<u8>) = run.fetch_one(&head).await?;
    Ok(Head { seq, hash })
}

/// A transfer as stored: every field the hash covers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransferRow {
    pub community_id: Uuid,
    pub seq: i64,
    pub id: Uuid,
    pub kind: String,
    pub from_account: Uuid,
    pub to_account: Uuid,
    pub amount: i64,
    pub reverses_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
    pub rule_code: Option<String>,
    pub subject_id: Option<Uuid>,
    pub actor_account_id: Option<Uuid>,
    pub approver_account_id: Option<Uuid>,
    pub memo: String,
    pub at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl FromLite for TransferRow {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::{opt_uuid, time, uuid};
        Ok(TransferRow {
            community_id: uuid(r, 0)?,
            seq: r.get(1)?,
            id: uuid(r, 2)?,
            kind: r.get(3)?,
            from_account: uuid(r, 4)?,
            to_account: uuid(r, 5)?,
            amount: r.get(6)?,
            reverses_id: opt_uuid(r, 7)?,
            rule_id: opt_uuid(r, 8)?,
            rule_code: r.get(9)?,
            subject_id: opt_uuid(r, 10)?,
            actor_account_id: opt_uuid(r, 11)?,
            approver_account_id: opt_uuid(r, 12)?,
            memo: r.get(13)?,
            at: time(r, 14)?,
            prev_hash: r.get(15)?,
            hash: r.get(16)?,
        })
    }
}

pub(crate) const TRANSFER_COLUMNS: [PointsTransfers; 17] = [
    PointsTransfers::CommunityId,
    PointsTransfers::Seq,
    PointsTransfers::Id,
    PointsTransfers::Kind,
    PointsTransfers::FromAccount,
    PointsTransfers::ToAccount,
    PointsTransfers::Amount,
    PointsTransfers::ReversesId,
    PointsTransfers::RuleId,
    PointsTransfers::RuleCode,
    PointsTransfers::SubjectId,
    PointsTransfers::ActorAccountId,
    PointsTransfers::ApproverAccountId,
    PointsTransfers::Memo,
    PointsTransfers::At,
    PointsTransfers::PrevHash,
    PointsTransfers::Hash,
];

/// SHA-256 over a canonical JSON array of every stored field and the previous hash.
/// Times are hashed at microsecond precision, which both engines keep.
pub(crate) fn transfer_hash(t: &TransferRow) -> Vec<u8> {
    // A tuple serialises as the same compact JSON array as `json!([...])` would, without
    // building a tree of values first (`linli check` hashes every transfer).
    let canonical = serde_json::to_string(&(
        t.community_id,
        t.seq,
        t.id,
        &t.kind,
        t.from_account,
        t.to_account,
        t.amount,
        t.reverses_id,
        t.rule_id,
        &t.rule_code,
        t.subject_id,
        t.actor_account_id,
        t.approver_account_id,
        &t.memo,
        t.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        hex::encode(&t.prev_hash),
    ))
    .expect("plain values serialise");
    Sha256::digest(canonical.as_bytes()).to_vec()
}

pub(crate) fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

// ---------------------------------------------------------------------------------------
// Planning: every check, before anything is written

/// A transfer that passed its checks.
pub(crate) struct Posting {
    pub(crate) kind: TransferKind,
    pub(crate) from: (AccountKind, Uuid),
    pub(crate) to: (AccountKind, Uuid),
    pub(crate) amount: Points,
    pub(crate) reverses: Option<Uuid>,
    pub(crate) rule: Option<(Uuid, String, i32)>,
    pub(crate) subject: Option<Uuid>,
    pub(crate) memo: String,
    /// The resident whose balance the receipt reports.
    pub(crate) resident: Option<Uuid>,
    /// Who approved it, besides who asked (a manual award above its threshold).
    pub(crate) approver: Option<Uuid>,
    /// What else the change writes (a redemption's row, the stock), each expected to
    /// touch exactly one row.
    pub(crate) effects: Vec<Effect>,
}

/// The transfer a posting makes, next in the chain after `head` and hashed: what both
/// the ordinary path and the in-memory runs ([`super::memory_run`]) store.
pub(crate) fn chained_transfer(
    community: CommunityId,
    posting: &Posting,
    head: Head,
    actor: Option<Uuid>,
    now: DateTime<Utc>,
) -> TransferRow {
    let mut transfer = TransferRow {
        community_id: community.0,
        seq: head.seq + 1,
        id: Uuid::now_v7(),
        kind: posting.kind.as_str().to_owned(),
        from_account: posting.from.1,
        to_account: posting.to.1,
        amount: posting.amount.get(),
        reverses_id: posting.reverses,
        rule_id: posting.rule.as_ref().map(|r| r.0),
        rule_code: posting.rule.as_ref().map(|r| r.1.clone()),
        subject_id: posting.subject,
        actor_account_id: actor,
        approver_account_id: posting.approver,
        memo: posting.memo.clone(),
        at: now,
        prev_hash: head.hash,
        hash: Vec::new(),
    };
    transfer.hash = transfer_hash(&transfer);
    transfer
}

/// An award's transfer, once its rule and caps allowed `amount`: issuance → resident.
pub(crate) fn award_posting(community: CommunityId, award: &Award, amount: Points) -> Posting {
    let resident = award.resident.0;
    Posting {
        kind: TransferKind::Award,
        from: (AccountKind::Issuance, issuance_account(community)),
        to: (AccountKind::Resident, resident),
        amount,
        reverses: None,
        rule: Some((
            award.rule_id,
            award.rule.draft.code.clone(),
            award.rule.version,
        )),
        subject: award.subject,
        memo: award.memo.clone(),
        resident: Some(resident),
        approver: award.approver.map(|a| a.0),
        effects: Vec::new(),
    }
}

/// A redemption's transfer of the offer's cost (resident → escrow), with what else it
/// writes (none when the SQLite queue writes the stock and the pending row itself).
pub(crate) fn redeem_posting(
    community: CommunityId,
    redeem: &Redeem,
    cost: Points,
    effects: Vec<Effect>,
) -> Posting {
    Posting {
        kind: TransferKind::Redeem,
        from: (AccountKind::Resident, redeem.resident.0),
        to: (AccountKind::Escrow, escrow_account(community)),
        amount: cost,
        reverses: None,
        rule: None,
        subject: Some(redeem.redemption),
        memo: String::new(),
        resident: Some(redeem.resident.0),
        approver: None,
        effects,
    }
}

pub(crate) enum Effect {
    Insert(sea_query::InsertStatement),
    Update(sea_query::UpdateStatement),
}

async fn plan_award<R: Run>(
    run: &mut R,
    community: CommunityId,
    award: &Award,
) -> Result<std::result::Result<Posting, Refusal>> {
    if !rule_is_current(run, community, award.rule_id).await? {
        return Ok(Err(Refusal::RuleChanged));
    }
    let resident = award.resident.0;
    // What was already earned counts only under a rule with a day or month cap (reading it
    // costs a scan of the resident's awards in the period).
    let rule = &award.rule.draft;
    let usage = if rule.per_day_cap.is_some() || rule.per_month_cap.is_some() {
        Usage {
            today: awarded_since(run, community, resident, &rule.code, award.day_start).await?,
            this_month: awarded_since(run, community, resident, &rule.code, award.month_start)
                .await?,
        }
    } else {
        Usage::default()
    };
    let amount = match award.rule.within_caps(award.earned, usage) {
        Ok(amount) => amount,
        Err(e) => return Ok(Err(Refusal::Rule(e))),
    };
    Ok(Ok(award_posting(community, award, amount)))
}

pub(crate) async fn rule_is_current<R: Run>(
    run: &mut R,
    community: CommunityId,
    rule: Uuid,
) -> Result<bool> {
    let q = Query::select()
        .column(PointsRules::Version)
        .from(PointsRules::Table)
        .and_where(Expr::col(PointsRules::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRules::Id).eq(rule))
        .and_where(Expr::col(PointsRules::SupersededAt).is_null())
        .and_where(Expr::col(PointsRules::Active).eq(true))
        .to_owned();
    Ok(run.fetch_optional::<(i64,)>(&q).await?.is_some())
}

/// How far apart, at most, a transfer's time (`now`, taken when its request arrives) and
/// its place in the chain (given when the writer reaches it) can be. A transfer whose time
/// is before `t - SEQUENCING_MARGIN` was therefore sequenced before every transfer whose
/// time is `t` or later. A request gives up long before this: the server's request
/// timeout is seconds, and a stalled writer stalls every request.
const SEQUENCING_MARGIN: chrono::Duration = chrono::Duration::days(1);

#[derive(sea_query::Iden)]
struct PeriodStart;

/// Points a resident was awarded under one rule since `since`, less any reversed since.
///
/// Read from the resident's own entries (the primary key orders them by sequence) after
/// the last transfer made a margin before the period, found through the time index: a
/// few of the resident's rows, and no index of its own to keep up at every award.
pub(crate) async fn awarded_since<R: Run>(
    run: &mut R,
    community: CommunityId,
    resident: Uuid,
    rule_code: &str,
    since: DateTime<Utc>,
) -> Result<i64> {
    // The last transfer made a margin before the period: everything in the period comes
    // after it in the chain. None when the community's ledger is younger than that.
    let before_period = Query::select()
        .column((PeriodStart, PointsTransfers::Seq))
        .from_as(PointsTransfers::Table, PeriodStart)
        .and_where(Expr::col((PeriodStart, PointsTransfers::CommunityId)).eq(community.0))
        .and_where(Expr::col((PeriodStart, PointsTransfers::At)).lt(since - SEQUENCING_MARGIN))
        .order_by((PeriodStart, PointsTransfers::At), sea_query::Order::Desc)
        .limit(1)
        .to_owned();
    let e = PointsEntries::Table;
    let t = PointsTransfers::Table;
    // The resident's credit leg of an award is the award's amount. The transfer is
    // checked in a correlated EXISTS rather than joined, so that the resident's entries
    // drive the read: joined, SQLite chose to walk every transfer of the period by time.
    let standing_award = Query::select()
        .expr(Expr::val(1))
        .from(t)
        .and_where(
            Expr::col((t, PointsTransfers::CommunityId)).equals((e, PointsEntries::CommunityId)),
        )
        .and_where(Expr::col((t, PointsTransfers::Seq)).equals((e, PointsEntries::Seq)))
        .and_where(Expr::col((t, PointsTransfers::Kind)).eq(TransferKind::Award.as_str()))
        .and_where(Expr::col((t, PointsTransfers::RuleCode)).eq(rule_code))
        .and_where(Expr::col((t, PointsTransfers::At)).gte(since))
        .and_where(not_reversed(community))
        .to_owned();
    let q = Query::select()
        .expr(
            Expr::col((e, PointsEntries::Amount))
                .sum()
                .cast_as("BIGINT"),
        )
        .from(e)
        .and_where(Expr::col((e, PointsEntries::CommunityId)).eq(community.0))
        .and_where(Expr::col((e, PointsEntries::AccountId)).eq(resident))
        .and_where(Expr::col((e, PointsEntries::Seq)).gt(Func::coalesce([
            Expr::SubQuery(None, Box::new(before_period.into())),
            Expr::val(i64::MIN),
        ])))
        .and_where(Expr::col((e, PointsEntries::Amount)).gt(0))
        .and_where(Expr::exists(standing_award))
        .to_owned();
    let (sum,): (Option<i64>,) = run.fetch_one(&q).await?;
    Ok(sum.unwrap_or(0))
}

#[derive(sea_query::Iden)]
struct Reversals;

/// A condition on `points_transfers` (unaliased) in a query: the transfer has not been
/// reversed. What "an award that stands" means to caps, corrections, rankings and the
/// engagement ladder.
pub(crate) fn not_reversed(community: CommunityId) -> sea_query::SimpleExpr {
    let reversal = Query::select()
        .expr(Expr::val(1))
        .from_as(PointsTransfers::Table, Reversals)
        .and_where(Expr::col((Reversals, PointsTransfers::CommunityId)).eq(community.0))
        .and_where(
            Expr::col((Reversals, PointsTransfers::ReversesId))
                .equals((PointsTransfers::Table, PointsTransfers::Id)),
        )
        .to_owned();
    Expr::exists(reversal).not()
}

async fn plan_reversal<R: Run>(
    run: &mut R,
    community: CommunityId,
    reversal: &Reversal,
) -> Result<std::result::Result<Posting, Refusal>> {
    let Some(original) = find_transfer(run, community, reversal.transfer).await? else {
        return Ok(Err(Refusal::UnknownTransfer));
    };
    let kind = TransferKind::parse(&original.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("transfer kind {:?}", original.kind)))?;
    if !kind.is_reversible() {
        return Ok(Err(Refusal::NotReversible(kind)));
    }
    let already = Query::select()
        .column(PointsTransfers::Seq)
        .from(PointsTransfers::Table)
        .and_where(Expr::col(PointsTransfers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsTransfers::ReversesId).eq(original.id))
        .to_owned();
    if run.fetch_optional::<(i64,)>(&already).await?.is_some() {
        return Ok(Err(Refusal::AlreadyReversed));
    }
    let (from, to, resident) = match kind {
        // Taking back an award: the resident must still hold the points.
        TransferKind::Award => (
            (AccountKind::Resident, original.to_account),
            (AccountKind::Issuance, original.from_account),
            original.to_account,
        ),
        // Restoring expired points.
        _ => (
            (AccountKind::Issuance, original.to_account),
            (AccountKind::Resident, original.from_account),
            original.from_account,
        ),
    };
    if from.0 == AccountKind::Resident {
        let balance = balance_of(run, community, from.1).await?;
        if balance < original.amount {
            return Ok(Err(Refusal::InsufficientPoints { balance }));
        }
    }
    Ok(Ok(Posting {
        kind: TransferKind::Reversal,
        from,
        to,
        amount: amount_of(original.amount)?,
        reverses: Some(original.id),
        rule: None,
        subject: original.subject_id,
        memo: reversal.memo.clone(),
        resident: Some(resident),
        approver: None,
        effects: Vec::new(),
    }))
}

// ---------------------------------------------------------------------------------------
// Redemptions

/// What the ledger needs of an offer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OfferTerms {
    pub cost: i64,
    pub stock: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub active: bool,
}

impl FromLite for OfferTerms {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::time;
        Ok(OfferTerms {
            cost: r.get(0)?,
            stock: r.get(1)?,
            valid_from: time(r, 2)?,
            valid_until: time(r, 3)?,
            active: r.get(4)?,
        })
    }
}

/// What the ledger needs of a redemption, with its offer's provider.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RedemptionTerms {
    pub offer_id: Uuid,
    pub resident_id: Uuid,
    pub cost: i64,
    pub code_hash: Vec<u8>,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub provider_kind: String,
    pub provider_id: Uuid,
}

impl FromLite for RedemptionTerms {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::{time, uuid};
        Ok(RedemptionTerms {
            offer_id: uuid(r, 0)?,
            resident_id: uuid(r, 1)?,
            cost: r.get(2)?,
            code_hash: r.get(3)?,
            status: r.get(4)?,
            expires_at: time(r, 5)?,
            provider_kind: r.get(6)?,
            provider_id: uuid(r, 7)?,
        })
    }
}

async fn plan_redeem<R: Run>(
    run: &mut R,
    community: CommunityId,
    redeem: &Redeem,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Posting, Refusal>> {
    let q = offer_terms_query(community, redeem.offer);
    let offer = run.fetch_optional::<OfferTerms>(&q).await?;
    if let Err(refusal) = offer_can_be_taken(offer.as_ref(), 0, now) {
        return Ok(Err(refusal));
    }
    let Some(offer) = offer else {
        return Ok(Err(Refusal::OfferUnavailable));
    };
    let resident = redeem.resident.0;
    let balance = balance_of(run, community, resident).await?;
    if balance < offer.cost {
        return Ok(Err(Refusal::InsufficientPoints { balance }));
    }
    let take_one = Query::update()
        .table(PointsOffers::Table)
        .value(PointsOffers::Stock, Expr::col(PointsOffers::Stock).sub(1))
        .and_where(Expr::col(PointsOffers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsOffers::Id).eq(redeem.offer))
        .and_where(Expr::col(PointsOffers::Stock).gte(1))
        .to_owned();
    let pending = Query::insert()
        .into_table(PointsRedemptions::Table)
        .columns([
            PointsRedemptions::CommunityId,
            PointsRedemptions::Id,
            PointsRedemptions::OfferId,
            PointsRedemptions::ResidentId,
            PointsRedemptions::Cost,
            PointsRedemptions::CodeHash,
            PointsRedemptions::Status,
            PointsRedemptions::ExpiresAt,
            PointsRedemptions::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            redeem.redemption.into(),
            redeem.offer.into(),
            resident.into(),
            offer.cost.into(),
            redeem.code_hash.clone().into(),
            "pending".into(),
            (now + redeem.valid_for).into(),
            now.into(),
        ])
        .to_owned();
    Ok(Ok(redeem_posting(
        community,
        redeem,
        amount_of(offer.cost)?,
        vec![Effect::Update(take_one), Effect::Insert(pending)],
    )))
}

/// The terms of one of the community's offers.
pub(crate) fn offer_terms_query(community: CommunityId, offer: Uuid) -> SelectStatement {
    Query::select()
        .columns([
            PointsOffers::Cost,
            PointsOffers::Stock,
            PointsOffers::ValidFrom,
            PointsOffers::ValidUntil,
            PointsOffers::Active,
        ])
        .from(PointsOffers::Table)
        .and_where(Expr::col(PointsOffers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsOffers::Id).eq(offer))
        .to_owned()
}

/// Whether one more of an offer can be redeemed now, `taken` of its stored stock being
/// already spoken for: it exists, is active and valid, and is not sold out.
pub(crate) fn offer_can_be_taken(
    offer: Option<&OfferTerms>,
    taken: i64,
    now: DateTime<Utc>,
) -> std::result::Result<(), Refusal> {
    let Some(offer) = offer else {
        return Err(Refusal::OfferUnavailable);
    };
    if !offer.active || now < offer.valid_from || now >= offer.valid_until {
        return Err(Refusal::OfferUnavailable);
    }
    if offer.stock - taken < 1 {
        return Err(Refusal::SoldOut);
    }
    Ok(())
}

/// A redemption and its provider, as the ledger sees it.
pub(crate) async fn redemption_terms<R: Run>(
    run: &mut R,
    community: CommunityId,
    redemption: Uuid,
) -> Result<Option<RedemptionTerms>> {
    let q = Query::select()
        .columns([
            (PointsRedemptions::Table, PointsRedemptions::OfferId),
            (PointsRedemptions::Table, PointsRedemptions::ResidentId),
            (PointsRedemptions::Table, PointsRedemptions::Cost),
            (PointsRedemptions::Table, PointsRedemptions::CodeHash),
            (PointsRedemptions::Table, PointsRedemptions::Status),
            (PointsRedemptions::Table, PointsRedemptions::ExpiresAt),
        ])
        .columns([
            (PointsOffers::Table, PointsOffers::ProviderKind),
            (PointsOffers::Table, PointsOffers::ProviderId),
        ])
        .from(PointsRedemptions::Table)
        .inner_join(
            PointsOffers::Table,
            Expr::col((PointsOffers::Table, PointsOffers::CommunityId))
                .equals((PointsRedemptions::Table, PointsRedemptions::CommunityId))
                .and(
                    Expr::col((PointsOffers::Table, PointsOffers::Id))
                        .equals((PointsRedemptions::Table, PointsRedemptions::OfferId)),
                ),
        )
        .and_where(
            Expr::col((PointsRedemptions::Table, PointsRedemptions::CommunityId)).eq(community.0),
        )
        .and_where(Expr::col((PointsRedemptions::Table, PointsRedemptions::Id)).eq(redemption))
        .to_owned();
    run.fetch_optional(&q).await
}

/// Moves a pending redemption to its end state (the status guard makes a second
/// confirmation or refund touch nothing, which fails the batch instead of paying twice).
fn settle_redemption(
    community: CommunityId,
    redemption: Uuid,
    status: &str,
    by: Option<AccountId>,
    now: DateTime<Utc>,
) -> sea_query::UpdateStatement {
    Query::update()
        .table(PointsRedemptions::Table)
        .value(PointsRedemptions::Status, status)
        .value(PointsRedemptions::SettledAt, now)
        .value(PointsRedemptions::SettledBy, by.map(|a| a.0))
        .and_where(Expr::col(PointsRedemptions::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRedemptions::Id).eq(redemption))
        .and_where(Expr::col(PointsRedemptions::Status).eq("pending"))
        .to_owned()
}

async fn plan_confirm<R: Run>(
    run: &mut R,
    req: &LedgerRequest,
    confirm: &Confirm,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Posting, Refusal>> {
    let community = req.community;
    let Some(r) = redemption_terms(run, community, confirm.redemption).await? else {
        return Ok(Err(Refusal::UnknownRedemption));
    };
    if r.code_hash != confirm.code_hash {
        return Ok(Err(Refusal::WrongCode));
    }
    if r.status != "pending" {
        return Ok(Err(Refusal::NotPending(r.status)));
    }
    if now >= r.expires_at {
        return Ok(Err(Refusal::CodeExpired));
    }
    let provider_kind = AccountKind::parse(&r.provider_kind)
        .ok_or_else(|| StoreError::Corrupt(format!("provider kind {:?}", r.provider_kind)))?;
    Ok(Ok(Posting {
        kind: TransferKind::Settle,
        from: (AccountKind::Escrow, escrow_account(community)),
        to: (provider_kind, r.provider_id),
        amount: amount_of(r.cost)?,
        reverses: None,
        rule: None,
        subject: Some(confirm.redemption),
        memo: String::new(),
        resident: Some(r.resident_id),
        approver: None,
        effects: vec![Effect::Update(settle_redemption(
            community,
            confirm.redemption,
            "confirmed",
            req.actor,
            now,
        ))],
    }))
}

async fn plan_refund<R: Run>(
    run: &mut R,
    req: &LedgerRequest,
    refund: &Refund,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Posting, Refusal>> {
    let community = req.community;
    let Some(r) = redemption_terms(run, community, refund.redemption).await? else {
        return Ok(Err(Refusal::UnknownRedemption));
    };
    if r.status != "pending" {
        return Ok(Err(Refusal::NotPending(r.status)));
    }
    let status = match refund.why {
        RefundReason::Cancelled => "cancelled",
        RefundReason::Expired => {
            if now < r.expires_at {
                return Ok(Err(Refusal::NotDue));
            }
            "expired"
        }
    };
    let put_back = Query::update()
        .table(PointsOffers::Table)
        .value(PointsOffers::Stock, Expr::col(PointsOffers::Stock).add(1))
        .and_where(Expr::col(PointsOffers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsOffers::Id).eq(r.offer_id))
        .to_owned();
    Ok(Ok(Posting {
        kind: TransferKind::Refund,
        from: (AccountKind::Escrow, escrow_account(community)),
        to: (AccountKind::Resident, r.resident_id),
        amount: amount_of(r.cost)?,
        reverses: None,
        rule: None,
        subject: Some(refund.redemption),
        memo: status.to_owned(),
        resident: Some(r.resident_id),
        approver: None,
        effects: vec![
            Effect::Update(settle_redemption(
                community,
                refund.redemption,
                status,
                req.actor,
                now,
            )),
            Effect::Update(put_back),
        ],
    }))
}

async fn plan_expire<R: Run>(
    run: &mut R,
    community: CommunityId,
    expire: &Expire,
) -> Result<std::result::Result<Posting, Refusal>> {
    let resident = expire.resident.0;
    let expiring = expiring_points(run, community, resident, expire.cutoff).await?;
    if expiring <= 0 {
        return Ok(Err(Refusal::NotDue));
    }
    Ok(Ok(Posting {
        kind: TransferKind::Expiry,
        from: (AccountKind::Resident, resident),
        to: (AccountKind::Issuance, issuance_account(community)),
        amount: amount_of(expiring)?,
        reverses: None,
        rule: None,
        subject: None,
        memo: expire.memo.clone(),
        resident: Some(resident),
        approver: None,
        effects: Vec::new(),
    }))
}

/// What would expire at `cutoff`: points received before it, less everything the account
/// ever gave (spending takes the oldest points first).
pub(crate) async fn expiring_points<R: Run>(
    run: &mut R,
    community: CommunityId,
    resident: Uuid,
    cutoff: DateTime<Utc>,
) -> Result<i64> {
    let received = Query::select()
        .expr(
            Expr::col((PointsEntries::Table, PointsEntries::Amount))
                .sum()
                .cast_as("BIGINT"),
        )
        .from(PointsEntries::Table)
        .inner_join(
            PointsTransfers::Table,
            Expr::col((PointsTransfers::Table, PointsTransfers::CommunityId))
                .equals((PointsEntries::Table, PointsEntries::CommunityId))
                .and(
                    Expr::col((PointsTransfers::Table, PointsTransfers::Seq))
                        .equals((PointsEntries::Table, PointsEntries::Seq)),
                ),
        )
        .and_where(Expr::col((PointsEntries::Table, PointsEntries::CommunityId)).eq(community.0))
        .and_where(Expr::col((PointsEntries::Table, PointsEntries::AccountId)).eq(resident))
        .and_where(Expr::col((PointsEntries::Table, PointsEntries::Amount)).gt(0))
        .and_where(Expr::col((PointsTransfers::Table, PointsTransfers::At)).lt(cutoff))
        .to_owned();
    let given = Query::select()
        .expr(Expr::col(PointsEntries::Amount).sum().cast_as("BIGINT"))
        .from(PointsEntries::Table)
        .and_where(Expr::col(PointsEntries::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsEntries::AccountId).eq(resident))
        .and_where(Expr::col(PointsEntries::Amount).lt(0))
        .to_owned();
    let (received,): (Option<i64>,) = run.fetch_one(&received).await?;
    let (given,): (Option<i64>,) = run.fetch_one(&given).await?;
    Ok(received.unwrap_or(0) + given.unwrap_or(0))
}

pub(crate) fn amount_of(points: i64) -> Result<Points> {
    Points::new(points).map_err(|_| StoreError::Corrupt(format!("amount {points} out of range")))
}

/// One transfer of a community, by id.
pub(crate) async fn find_transfer<R: Run>(
    run: &mut R,
    community: CommunityId,
    id: Uuid,
) -> Result<Option<TransferRow>> {
    let q = Query::select()
        .columns(TRANSFER_COLUMNS)
        .from(PointsTransfers::Table)
        .and_where(Expr::col(PointsTransfers::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsTransfers::Id).eq(id))
        .to_owned();
    run.fetch_optional(&q).await
}

/// The community a transfer belongs to, found by its id alone (the API names transfers
/// by id).
/// The community's latest transfers, newest first (the staff ledger view).
pub async fn recent_transfers(
    ex: &mut crate::Exec<'_>,
    community: CommunityId,
    limit: u64,
) -> Result<Vec<TransferRow>> {
    let q = Query::select()
        .columns(TRANSFER_COLUMNS)
        .from(PointsTransfers::Table)
        .and_where(Expr::col(PointsTransfers::CommunityId).eq(community.0))
        .order_by(PointsTransfers::Seq, sea_query::Order::Desc)
        .limit(limit)
        .to_owned();
    ex.fetch_all(&q).await
}

pub async fn transfer_community(ex: &mut crate::Exec<'_>, id: Uuid) -> Result<Option<CommunityId>> {
    let q = Query::select()
        .column(PointsTransfers::CommunityId)
        .from(PointsTransfers::Table)
        .and_where(Expr::col(PointsTransfers::Id).eq(id))
        .to_owned();
    let row: Option<(Uuid,)> = ex.fetch_optional(&q).await?;
    Ok(row.map(|(c,)| CommunityId(c)))
}

// ---------------------------------------------------------------------------------------
// Writing

async fn post<R: Run>(
    run: &mut R,
    req: &LedgerRequest,
    head: Head,
    posting: Posting,
    now: DateTime<Utc>,
) -> Result<Receipt> {
    let community = req.community;
    let amount = posting.amount.get();
    let from_balance = move_balance(run, community, posting.from, -amount, now).await?;
    let to_balance = move_balance(run, community, posting.to, amount, now).await?;
    let transfer = chained_transfer(community, &posting, head, req.actor.map(|a| a.0), now);
    run.execute(&transfer_insert(&transfer)).await?;
    let entries = Query::insert()
        .into_table(PointsEntries::Table)
        .columns([
            PointsEntries::CommunityId,
            PointsEntries::AccountId,
            PointsEntries::Seq,
            PointsEntries::Amount,
        ])
        .values_panic([
            community.0.into(),
            transfer.from_account.into(),
            transfer.seq.into(),
            (-amount).into(),
        ])
        .values_panic([
            community.0.into(),
            transfer.to_account.into(),
            transfer.seq.into(),
            amount.into(),
        ])
        .to_owned();
    run.execute(&entries).await?;
    let advance = Query::update()
        .table(PointsChainHeads::Table)
        .value(PointsChainHeads::Seq, transfer.seq)
        .value(PointsChainHeads::Hash, transfer.hash.clone())
        .and_where(Expr::col(PointsChainHeads::CommunityId).eq(community.0))
        .to_owned();
    run.execute(&advance).await?;
    for effect in &posting.effects {
        let touched = match effect {
            Effect::Insert(stmt) => run.execute(stmt).await?,
            Effect::Update(stmt) => run.execute(stmt).await?,
        };
        if touched != 1 {
            return Err(StoreError::Corrupt(format!(
                "a {} changed {touched} rows instead of one",
                req.change.name()
            )));
        }
    }
    // The resident's balance as this transfer leaves it: read back by the update of their
    // leg when they are on one (awards, redemptions, reversals), otherwise read.
    let balance = match posting.resident {
        Some(resident) if resident == posting.from.1 => Some(from_balance),
        Some(resident) if resident == posting.to.1 => Some(to_balance),
        Some(resident) => Some(balance_of(run, community, resident).await?),
        None => None,
    };
    Ok(Receipt {
        transfer_id: transfer.id,
        seq: transfer.seq,
        kind: transfer.kind,
        amount,
        from_account: transfer.from_account,
        to_account: transfer.to_account,
        resident_id: posting.resident,
        balance,
        rule_code: transfer.rule_code,
        rule_version: posting.rule.map(|r| r.2),
        reverses_id: transfer.reverses_id,
        subject_id: transfer.subject_id,
        memo: transfer.memo,
        at: transfer.at,
    })
}

/// Adds `delta` to an account's balance, opening the account on its first transfer, and
/// returns the new balance. A debit is guarded: the checks before already made sure it is
/// covered, and the CHECK constraint stands behind both.
async fn move_balance<R: Run>(
    run: &mut R,
    community: CommunityId,
    (kind, account): (AccountKind, Uuid),
    delta: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    let mut update = Query::update()
        .table(PointsAccounts::Table)
        .value(
            PointsAccounts::Balance,
            Expr::col(PointsAccounts::Balance).add(delta),
        )
        .and_where(Expr::col(PointsAccounts::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsAccounts::Id).eq(account))
        .returning_col(PointsAccounts::Balance)
        .to_owned();
    if delta < 0 && kind != AccountKind::Issuance {
        update.and_where(Expr::col(PointsAccounts::Balance).gte(-delta));
    }
    if let Some((balance,)) = run.returning::<(i64,), _>(&update).await? {
        return Ok(balance);
    }
    // Most transfers find both accounts open; the first one to reach an account opens it.
    open_account(run, community, kind, account, now).await?;
    match run.returning::<(i64,), _>(&update).await? {
        Some((balance,)) => Ok(balance),
        None => Err(StoreError::Corrupt(format!(
            "points account {account} could not move by {delta}"
        ))),
    }
}

fn transfer_insert(t: &TransferRow) -> sea_query::InsertStatement {
    Query::insert()
        .into_table(PointsTransfers::Table)
        .columns(TRANSFER_COLUMNS)
        .values_panic([
            t.community_id.into(),
            t.seq.into(),
            t.id.into(),
            t.kind.clone().into(),
            t.from_account.into(),
            t.to_account.into(),
            t.amount.into(),
            t.reverses_id.into(),
            t.rule_id.into(),
            t.rule_code.clone().into(),
            t.subject_id.into(),
            t.actor_account_id.into(),
            t.approver_account_id.into(),
            t.memo.clone().into(),
            t.at.into(),
            t.prev_hash.clone().into(),
            t.hash.clone().into(),
        ])
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Idempotency

/// What `points_operations` keeps of a request: the hash of the request as asked, the
/// transfer it made, and what the transfer does not hold (whose balance the answer
/// showed, and what it was). The receipt is rebuilt from the transfer and its rule
/// ([`ReceiptTransfer`]); both are never edited, so it is the one first given.
///
/// The two are read apart, the transfer only for a key found: the hot path asks for keys
/// that are new, and a lookup of `points_operations` alone stays one index probe per key
/// under any statistics (joined to the transfers, a plan made while the table was empty
/// scanned it for every key: 0.5 ms each).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StoredOperation {
    pub(crate) request_hash: Vec<u8>,
    pub(crate) transfer_seq: i64,
    pub(crate) resident_id: Option<Uuid>,
    pub(crate) balance: Option<i64>,
}

impl FromLite for StoredOperation {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredOperation {
            request_hash: r.get(0)?,
            transfer_seq: r.get(1)?,
            resident_id: crate::lite::decode::opt_uuid(r, 2)?,
            balance: r.get(3)?,
        })
    }
}

/// The columns of [`StoredOperation`], in order.
pub(crate) const STORED_OPERATION_COLUMNS: &str =
    "request_hash, transfer_seq, resident_id, balance";

/// The rest of a stored request's receipt: its transfer, with the version of the rule it
/// was made under.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ReceiptTransfer {
    transfer_id: Uuid,
    pub(crate) seq: i64,
    kind: String,
    amount: i64,
    from_account: Uuid,
    to_account: Uuid,
    rule_code: Option<String>,
    rule_version: Option<i64>,
    reverses_id: Option<Uuid>,
    subject_id: Option<Uuid>,
    memo: String,
    at: DateTime<Utc>,
}

impl FromLite for ReceiptTransfer {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::{opt_uuid, time, uuid};
        Ok(ReceiptTransfer {
            transfer_id: uuid(r, 0)?,
            seq: r.get(1)?,
            kind: r.get(2)?,
            amount: r.get(3)?,
            from_account: uuid(r, 4)?,
            to_account: uuid(r, 5)?,
            rule_code: r.get(6)?,
            rule_version: r.get(7)?,
            reverses_id: opt_uuid(r, 8)?,
            subject_id: opt_uuid(r, 9)?,
            memo: r.get(10)?,
            at: time(r, 11)?,
        })
    }
}

/// The columns of [`ReceiptTransfer`], in order, from [`RECEIPT_TRANSFER_FROM`].
pub(crate) const RECEIPT_TRANSFER_COLUMNS: &str = "t.id AS transfer_id, t.seq, t.kind, \
     t.amount, t.from_account, t.to_account, t.rule_code, r.version AS rule_version, \
     t.reverses_id, t.subject_id, t.memo, t.at";

/// A transfer `t` and its rule `r`.
pub(crate) const RECEIPT_TRANSFER_FROM: &str = "points_transfers t \
     LEFT JOIN points_rules r ON r.community_id = t.community_id AND r.id = t.rule_id";

impl StoredOperation {
    /// The request hash, and the receipt rebuilt from the operation's transfer.
    pub(crate) fn answer(self, transfer: ReceiptTransfer) -> Result<(Vec<u8>, Receipt)> {
        if transfer.seq != self.transfer_seq {
            return Err(StoreError::Corrupt(format!(
                "a stored operation names transfer {}, not {}",
                self.transfer_seq, transfer.seq
            )));
        }
        let rule_version = transfer
            .rule_version
            .map(i32::try_from)
            .transpose()
            .map_err(|_| StoreError::Corrupt("a rule version out of range".into()))?;
        let receipt = Receipt {
            transfer_id: transfer.transfer_id,
            seq: transfer.seq,
            kind: transfer.kind,
            amount: transfer.amount,
            from_account: transfer.from_account,
            to_account: transfer.to_account,
            resident_id: self.resident_id,
            balance: self.balance,
            rule_code: transfer.rule_code,
            rule_version,
            reverses_id: transfer.reverses_id,
            subject_id: transfer.subject_id,
            memo: transfer.memo,
            at: transfer.at,
        };
        Ok((self.request_hash, receipt))
    }
}

/// A stored operation's transfer went missing: transfers are append-only, so only damage
/// to the database does this.
pub(crate) fn missing_transfer(seq: i64) -> StoreError {
    StoreError::Corrupt(format!(
        "a stored operation names transfer {seq}, which is missing"
    ))
}

async fn find_operation<R: Run>(
    run: &mut R,
    req: &LedgerRequest,
) -> Result<Option<(Vec<u8>, Receipt)>> {
    let (Some(actor), Some(key)) = (req.actor, &req.key) else {
        return Ok(None);
    };
    let q = Query::select()
        .columns([
            PointsOperations::RequestHash,
            PointsOperations::TransferSeq,
            PointsOperations::ResidentId,
            PointsOperations::Balance,
        ])
        .from(PointsOperations::Table)
        .and_where(Expr::col(PointsOperations::CommunityId).eq(req.community.0))
        .and_where(Expr::col(PointsOperations::ActorAccountId).eq(actor.0))
        .and_where(Expr::col(PointsOperations::IdempotencyKey).eq(key.as_str()))
        .to_owned();
    let Some(stored) = run.fetch_optional::<StoredOperation>(&q).await? else {
        return Ok(None);
    };
    let (t, r) = (Alias::new("t"), Alias::new("r"));
    let q = Query::select()
        .expr(Expr::cust(RECEIPT_TRANSFER_COLUMNS))
        .from_as(PointsTransfers::Table, t.clone())
        .join_as(
            JoinType::LeftJoin,
            PointsRules::Table,
            r.clone(),
            Expr::col((r.clone(), PointsRules::CommunityId))
                .equals((t.clone(), PointsTransfers::CommunityId))
                .and(Expr::col((r, PointsRules::Id)).equals((t.clone(), PointsTransfers::RuleId))),
        )
        .and_where(Expr::col((t.clone(), PointsTransfers::CommunityId)).eq(req.community.0))
        .and_where(Expr::col((t, PointsTransfers::Seq)).eq(stored.transfer_seq))
        .to_owned();
    let transfer: ReceiptTransfer = run
        .fetch_optional(&q)
        .await?
        .ok_or_else(|| missing_transfer(stored.transfer_seq))?;
    stored.answer(transfer).map(Some)
}

/// Stores what a replay of the request needs: a reference to its transfer, and the
/// balance the receipt showed.
async fn record_operation<R: Run>(
    run: &mut R,
    req: &LedgerRequest,
    request_hash: Vec<u8>,
    receipt: &Receipt,
    now: DateTime<Utc>,
) -> Result<()> {
    let (Some(actor), Some(key)) = (req.actor, &req.key) else {
        return Ok(());
    };
    let operation = req.change.name();
    let insert = Query::insert()
        .into_table(PointsOperations::Table)
        .columns([
            PointsOperations::CommunityId,
            PointsOperations::ActorAccountId,
            PointsOperations::IdempotencyKey,
            PointsOperations::Operation,
            PointsOperations::RequestHash,
            PointsOperations::TransferSeq,
            PointsOperations::ResidentId,
            PointsOperations::Balance,
            PointsOperations::CreatedAt,
        ])
        .values_panic([
            req.community.0.into(),
            actor.0.into(),
            key.as_str().into(),
            operation.into(),
            request_hash.into(),
            receipt.seq.into(),
            receipt.resident_id.into(),
            receipt.balance.into(),
            now.into(),
        ])
        .to_owned();
    run.execute(&insert).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash written by earlier versions (a `json!` array) and the one computed now must
    /// agree byte for byte, or every stored chain would look broken.
    #[test]
    fn the_transfer_hash_is_the_canonical_json_array() {
        let mut t = TransferRow {
            community_id: Uuid::now_v7(),
            seq: 42,
            id: Uuid::now_v7(),
            kind: "award".into(),
            from_account: Uuid::now_v7(),
            to_account: Uuid::now_v7(),
            amount: 15,
            reverses_id: None,
            rule_id: Some(Uuid::now_v7()),
            rule_code: Some("volunteer_service".into()),
            subject_id: None,
            actor_account_id: Some(Uuid::now_v7()),
            approver_account_id: None,
            memo: "关爱长者探访 \"quoted\" \\ slash".into(),
            at: DateTime::from_timestamp_micros(1_764_500_000_123_456).unwrap(),
            prev_hash: vec![7; 32],
            hash: Vec::new(),
        };
        for _ in 0..2 {
            let canonical = serde_json::json!([
                t.community_id,
                t.seq,
                t.id,
                t.kind,
                t.from_account,
                t.to_account,
                t.amount,
                t.reverses_id,
                t.rule_id,
                t.rule_code,
                t.subject_id,
                t.actor_account_id,
                t.approver_account_id,
                t.memo,
                t.at.to_rfc3339_opts(SecondsFormat::Micros, true),
                hex::encode(&t.prev_hash),
            ]);
            let expected = Sha256::digest(canonical.to_string().as_bytes()).to_vec();
            assert_eq!(transfer_hash(&t), expected);
            t.reverses_id = Some(Uuid::now_v7());
            t.rule_code = None;
            t.memo = String::new();
        }
    }
}
