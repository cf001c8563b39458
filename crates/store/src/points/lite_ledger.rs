//! SQLite's ledger queue: the ledger requests waiting when the writer comes to them are
//! answered together, awards and redemptions planned in memory and written in the lane's
//! group commit.
//!
//! Why: on the lane every request already shares one commit, but each award still ran a
//! dozen statements of its own (chain head, idempotency record, rule, two balances read
//! back, transfer, entries, head, result) built by sea-query on the writer thread — and
//! the writer thread is what bounds the award rate (it was busy 93 % of the time, the
//! statements about half of that). Here a run of awards of one community reads the chain
//! head once, each resident's balance once, and writes every balance, transfer, entry,
//! and result once per batch, advancing the head once.
//!
//! Redemptions went the same way for the same reason: the writer spent half the server's
//! CPU on them, a dozen sea-query statements each (perf, 10,000 redemptions/s). A run
//! reads each offer once and counts what it takes of the stock in memory.
//!
//! The ledger's rules are those of [`super::ledger`]: the same checks in the same order
//! (a replayed or reused key, the rule still current, the caps counting this batch's
//! earlier awards; the offer valid and in stock, the balance covering the cost, both
//! counting this batch's earlier requests), the same rows, the same hashes and receipts.
//! Every other request (a confirmation, a refund, a reversal, a request written with an
//! audit event) runs through [`apply_hashed`] after the requests before it are written,
//! so it reads what they wrote.
//!
//! A failure is rare and handled like the lane's: the whole batch is undone and run again
//! with each request in a savepoint of its own through the ordinary path, so one bad
//! request never takes the others with it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::points::{AccountKind, Usage};
use rusqlite::{Connection, OptionalExtension, Statement};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::ledger::{
    Answer, Award, Change, Head, LedgerRequest, OfferTerms, Outcome, Posting, Receipt, Redeem,
    Refusal, TransferRow, amount_of, apply_hashed, award_posting, awarded_since,
    offer_can_be_taken, offer_terms_query, redeem_posting, replay, request_hash, rule_is_current,
    take_chain_head, transfer_hash,
};
use crate::lite::{Lite, in_savepoint, time_text};
use crate::run::{FromLite, LiteRun, finish_now};
use crate::{Result, StoreError};

/// The ledger requests of one SQLite database waiting for the writer. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LiteLedger {
    lite: Lite,
    queue: Arc<Mutex<Queue>>,
    /// Batches that failed as a whole and ran again one by one.
    run_again: Arc<AtomicU64>,
}

impl std::fmt::Debug for LiteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteLedger").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// A drain is in the lane's queue and has not taken the waiting requests yet.
    drain_queued: bool,
}

struct Waiting {
    request: Queued,
    reply: oneshot::Sender<Result<Outcome>>,
}

struct Queued {
    request: LedgerRequest,
    /// Taken on the caller's thread, not the writer's.
    hash: Vec<u8>,
    now: DateTime<Utc>,
}

impl LiteLedger {
    pub(crate) fn new(lite: Lite) -> LiteLedger {
        LiteLedger {
            lite,
            queue: Arc::default(),
            run_again: Arc::default(),
        }
    }

    pub(crate) fn batches_run_again(&self) -> u64 {
        self.run_again.load(Ordering::Relaxed)
    }

    /// Runs a request with the others waiting; answers once they are durable.
    pub(crate) async fn submit(
        &self,
        request: LedgerRequest,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let hash = request_hash(&request);
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut queue = lock(&self.queue);
            queue.waiting.push(Waiting {
                request: Queued { request, hash, now },
                reply,
            });
            !std::mem::replace(&mut queue.drain_queued, true)
        };
        if first {
            self.queue_drain();
        }
        answer.await.map_err(|_| closed())?
    }

    /// Puts one write in the lane that takes the requests waiting when it runs.
    fn queue_drain(&self) {
        let drain = Arc::new(Drain {
            ledger: self.clone(),
            taken: OnceLock::new(),
            ran: AtomicBool::new(false),
        });
        let work = {
            let drain = drain.clone();
            move |conn: &Connection| drain.run(conn)
        };
        self.lite
            .write_then(work, move |outcome| drain.answer(outcome));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is closing".into())
}

/// Requests one drain takes at most: bounds how long a batch holds the writer, as the
/// lane's own limit does. The rest wait for the next drain, queued at once.
const MAX_DRAIN: usize = 512;

/// One write of the lane: the requests it took, and who waits for them.
struct Drain {
    ledger: LiteLedger,
    taken: OnceLock<Taken>,
    /// Set by the first run; a second run means the lane is retrying the batch.
    ran: AtomicBool,
}

struct Taken {
    requests: Vec<Queued>,
    replies: Mutex<Vec<oneshot::Sender<Result<Outcome>>>>,
}

impl Drain {
    /// The requests waiting when the drain first ran (or was answered without running),
    /// up to [`MAX_DRAIN`]; the same ones on a second run.
    fn taken(&self) -> &Taken {
        self.taken.get_or_init(|| {
            let (waiting, more) = {
                let mut queue = lock(&self.ledger.queue);
                let cut = queue.waiting.len().min(MAX_DRAIN);
                let rest = queue.waiting.split_off(cut);
                let waiting = std::mem::replace(&mut queue.waiting, rest);
                queue.drain_queued = !queue.waiting.is_empty();
                (waiting, queue.drain_queued)
            };
            if more {
                self.ledger.queue_drain();
            }
            let (requests, replies) = waiting.into_iter().map(|w| (w.request, w.reply)).unzip();
            Taken {
                requests,
                replies: Mutex::new(replies),
            }
        })
    }

    fn run(&self, conn: &Connection) -> Result<Vec<Result<Outcome>>> {
        let requests = &self.taken().requests;
        if self.ran.swap(true, Ordering::Relaxed) {
            return Ok(one_by_one(conn, requests));
        }
        together(conn, requests).inspect_err(|e| {
            self.ledger.run_again.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = ?e, "ledger batch failed; its requests run again one by one");
        })
    }

    fn answer(&self, outcome: Result<Vec<Result<Outcome>>>) {
        let replies = std::mem::take(&mut *lock(&self.taken().replies));
        match outcome {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // The caller may have gone (request cancelled): the write stands.
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                let why = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(why.clone().into())));
                }
            }
        }
    }
}

/// The normal path: every request in the one transaction, awards and redemptions written
/// together. Any error undoes the batch (the lane then runs it again, [`one_by_one`]).
fn together(conn: &Connection, requests: &[Queued]) -> Result<Vec<Result<Outcome>>> {
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut planned: Option<MemoryRun> = None;
    for queued in requests {
        let community = queued.request.community;
        match in_memory(&queued.request) {
            Some((actor, key, plain)) => {
                let run = match planned.take() {
                    Some(run) if run.community == community => run,
                    other => {
                        if let Some(run) = other {
                            run.write(conn)?;
                        }
                        MemoryRun::start(conn, community)?
                    }
                };
                let run = planned.insert(run);
                outcomes.push(Ok(run.plan(conn, queued, actor, key, plain)?));
            }
            None => {
                if let Some(run) = planned.take() {
                    run.write(conn)?;
                }
                let mut run = LiteRun(conn);
                let outcome = apply_hashed(&mut run, &queued.request, &queued.hash, queued.now);
                outcomes.push(Ok(finish_now(outcome)?));
            }
        }
    }
    if let Some(run) = planned.take() {
        run.write(conn)?;
    }
    Ok(outcomes)
}

/// The retry after a failed batch: each request through the ordinary path in a savepoint
/// of its own, so a failure undoes only its own request.
fn one_by_one(conn: &Connection, requests: &[Queued]) -> Vec<Result<Outcome>> {
    requests
        .iter()
        .map(|q| {
            in_savepoint(conn, |conn| {
                finish_now(apply_hashed(&mut LiteRun(conn), &q.request, &q.hash, q.now))
            })
        })
        .collect()
}

/// A request the queue plans in memory.
#[derive(Clone, Copy)]
enum Plain<'r> {
    Award(&'r Award),
    Redeem(&'r Redeem),
}

impl Plain<'_> {
    /// The operation its result is stored under, as on the ordinary path.
    fn operation(self) -> &'static str {
        match self {
            Plain::Award(_) => "award",
            Plain::Redeem(_) => "redeem",
        }
    }
}

/// A request the queue plans in memory: an award or a redemption with a key and no audit
/// event (the API's).
fn in_memory(req: &LedgerRequest) -> Option<(Uuid, &str, Plain<'_>)> {
    let plain = match &req.change {
        Change::Award(award) => Plain::Award(award),
        Change::Redeem(redeem) => Plain::Redeem(redeem),
        _ => return None,
    };
    match (req.actor, &req.key, &req.audit) {
        (Some(actor), Some(key), None) => Some((actor.0, key.as_str(), plain)),
        _ => None,
    }
}

/// Consecutive awards and redemptions of one community, checked and chained in memory,
/// written at once.
struct MemoryRun {
    community: CommunityId,
    /// The chain head as the requests so far leave it.
    head: Head,
    /// Accounts moved, with their balance now and how much of it is this run's.
    balances: BTreeMap<Uuid, Credit>,
    /// Rules looked up in this run: still current or not.
    rules: BTreeMap<Uuid, bool>,
    /// Offers looked up in this run, with how many of each this run took.
    offers: BTreeMap<Uuid, Offer>,
    transfers: Vec<TransferRow>,
    redemptions: Vec<Pending>,
    operations: Vec<Operation>,
}

struct Credit {
    kind: AccountKind,
    balance: i64,
    added: i64,
    /// On a transfer of this run (an account is opened by its first transfer only, not
    /// by being read for a refused request).
    moved: bool,
}

struct Offer {
    /// `None`: no such offer in the community.
    terms: Option<OfferTerms>,
    taken: i64,
}

/// A redemption made in this run, waiting for its station or partner.
struct Pending {
    id: Uuid,
    offer: Uuid,
    resident: Uuid,
    cost: i64,
    code_hash: Vec<u8>,
    expires_at: DateTime<Utc>,
    at: DateTime<Utc>,
}

/// The stored result of one request, under its key.
struct Operation {
    actor: Uuid,
    key: String,
    operation: &'static str,
    request_hash: Vec<u8>,
    result: String,
    at: DateTime<Utc>,
}

impl MemoryRun {
    fn start(conn: &Connection, community: CommunityId) -> Result<MemoryRun> {
        let head = finish_now(take_chain_head(&mut LiteRun(conn), community))?;
        Ok(MemoryRun {
            community,
            head,
            balances: BTreeMap::new(),
            rules: BTreeMap::new(),
            offers: BTreeMap::new(),
            transfers: Vec::new(),
            redemptions: Vec::new(),
            operations: Vec::new(),
        })
    }

    /// Checks and plans one request, as [`super::ledger::apply`] would make it.
    fn plan(
        &mut self,
        conn: &Connection,
        queued: &Queued,
        actor: Uuid,
        key: &str,
        plain: Plain<'_>,
    ) -> Result<Outcome> {
        if let Some(op) = self
            .operations
            .iter()
            .rev()
            .find(|op| op.actor == actor && op.key == key)
        {
            return replay(&op.request_hash, &op.result, &queued.hash);
        }
        if let Some((stored_hash, result)) = self.stored_operation(conn, actor, key)? {
            return replay(&stored_hash, &result, &queued.hash);
        }
        let planned = match plain {
            Plain::Award(award) => self.plan_award(conn, award)?,
            Plain::Redeem(redeem) => self.plan_redeem(conn, redeem, queued.now)?,
        };
        let planned = match planned {
            Ok(planned) => planned,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if let Plain::Redeem(redeem) = plain {
            self.take_one(redeem, planned.amount.get(), queued.now);
        }
        let receipt = self.post(conn, planned, actor, queued.now)?;
        let result = serde_json::to_string(&receipt)
            .map_err(|e| StoreError::Corrupt(format!("ledger result: {e}")))?;
        self.operations.push(Operation {
            actor,
            key: key.to_owned(),
            operation: plain.operation(),
            request_hash: queued.hash.clone(),
            result,
            at: queued.now,
        });
        Ok(Ok(Answer {
            receipt,
            replayed: false,
        }))
    }

    fn plan_award(
        &mut self,
        conn: &Connection,
        award: &Award,
    ) -> Result<std::result::Result<Posting, Refusal>> {
        if !self.rule_is_current(conn, award.rule_id)? {
            return Ok(Err(Refusal::RuleChanged));
        }
        let usage = self.usage(conn, award)?;
        match award.rule.within_caps(award.earned, usage) {
            Ok(amount) => Ok(Ok(award_posting(self.community, award, amount))),
            Err(e) => Ok(Err(Refusal::Rule(e))),
        }
    }

    /// The checks of [`super::ledger`]'s `plan_redeem`, in its order, against the offer's
    /// stock and the resident's balance as this run leaves them.
    fn plan_redeem(
        &mut self,
        conn: &Connection,
        redeem: &Redeem,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Posting, Refusal>> {
        let offer = self.offer(conn, redeem.offer)?;
        if let Err(refusal) = offer_can_be_taken(offer.terms.as_ref(), offer.taken, now) {
            return Ok(Err(refusal));
        }
        let Some(cost) = offer.terms.as_ref().map(|t| t.cost) else {
            return Ok(Err(Refusal::OfferUnavailable));
        };
        let resident = redeem.resident.0;
        let balance = self.balance(conn, AccountKind::Resident, resident)?.balance;
        if balance < cost {
            return Ok(Err(Refusal::InsufficientPoints { balance }));
        }
        // Out of range fails as on the ordinary path (an offer stored by other means than
        // the API, which checks the cost).
        Ok(Ok(redeem_posting(
            self.community,
            redeem,
            amount_of(cost)?,
            Vec::new(),
        )))
    }

    fn take_one(&mut self, redeem: &Redeem, cost: i64, now: DateTime<Utc>) {
        if let Some(offer) = self.offers.get_mut(&redeem.offer) {
            offer.taken += 1;
        }
        self.redemptions.push(Pending {
            id: redeem.redemption,
            offer: redeem.offer,
            resident: redeem.resident.0,
            cost,
            code_hash: redeem.code_hash.clone(),
            expires_at: now + redeem.valid_for,
            at: now,
        });
    }

    /// Moves the balances in memory, chains the transfer and returns its receipt.
    fn post(
        &mut self,
        conn: &Connection,
        planned: Posting,
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Receipt> {
        let amount = planned.amount.get();
        let from = self.move_balance(conn, planned.from, -amount)?;
        let to = self.move_balance(conn, planned.to, amount)?;
        // Awards and redemptions are the resident's, on one leg or the other.
        let balance = match planned.resident {
            Some(resident) if resident == planned.from.1 => Some(from),
            Some(resident) if resident == planned.to.1 => Some(to),
            _ => None,
        };
        let mut transfer = TransferRow {
            community_id: self.community.0,
            seq: self.head.seq + 1,
            id: Uuid::now_v7(),
            kind: planned.kind.as_str().to_owned(),
            from_account: planned.from.1,
            to_account: planned.to.1,
            amount,
            reverses_id: planned.reverses,
            rule_id: planned.rule.as_ref().map(|r| r.0),
            rule_code: planned.rule.as_ref().map(|r| r.1.clone()),
            subject_id: planned.subject,
            actor_account_id: Some(actor),
            approver_account_id: planned.approver,
            memo: planned.memo,
            at: now,
            prev_hash: std::mem::take(&mut self.head.hash),
            hash: Vec::new(),
        };
        transfer.hash = transfer_hash(&transfer);
        self.head = Head {
            seq: transfer.seq,
            hash: transfer.hash.clone(),
        };
        let receipt = Receipt {
            transfer_id: transfer.id,
            seq: transfer.seq,
            kind: transfer.kind.clone(),
            amount,
            from_account: transfer.from_account,
            to_account: transfer.to_account,
            resident_id: planned.resident,
            balance,
            rule_code: transfer.rule_code.clone(),
            rule_version: planned.rule.map(|r| r.2),
            reverses_id: transfer.reverses_id,
            subject_id: transfer.subject_id,
            memo: transfer.memo.clone(),
            at: now,
        };
        self.transfers.push(transfer);
        Ok(receipt)
    }

    fn stored_operation(
        &self,
        conn: &Connection,
        actor: Uuid,
        key: &str,
    ) -> Result<Option<(Vec<u8>, String)>> {
        let mut stmt = conn.prepare_cached(
            "SELECT request_hash, result FROM points_operations \
             WHERE community_id = ?1 AND actor_account_id = ?2 AND idempotency_key = ?3",
        )?;
        let found = stmt
            .query_row(
                (self.community.0.as_bytes(), actor.as_bytes(), key),
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        Ok(found)
    }

    fn rule_is_current(&mut self, conn: &Connection, rule: Uuid) -> Result<bool> {
        if let Some(&current) = self.rules.get(&rule) {
            return Ok(current);
        }
        let current = finish_now(rule_is_current(&mut LiteRun(conn), self.community, rule))?;
        self.rules.insert(rule, current);
        Ok(current)
    }

    /// What the resident earned under the rule today and this month: what is stored, and
    /// what this run awarded so far. Read only under a rule with a day or month cap.
    fn usage(&self, conn: &Connection, award: &Award) -> Result<Usage> {
        let rule = &award.rule.draft;
        if rule.per_day_cap.is_none() && rule.per_month_cap.is_none() {
            return Ok(Usage::default());
        }
        let resident = award.resident.0;
        let in_run = |since: DateTime<Utc>| -> i64 {
            self.transfers
                .iter()
                .filter(|t| t.to_account == resident && t.at >= since)
                .filter(|t| t.rule_code.as_deref() == Some(rule.code.as_str()))
                .map(|t| t.amount)
                .sum()
        };
        let stored = |since| {
            finish_now(awarded_since(
                &mut LiteRun(conn),
                self.community,
                resident,
                &rule.code,
                since,
            ))
        };
        Ok(Usage {
            today: stored(award.day_start)? + in_run(award.day_start),
            this_month: stored(award.month_start)? + in_run(award.month_start),
        })
    }

    /// The account as this run leaves it, read on first use. The issuance account is not
    /// read: only its change is written, as on the ordinary path it is never checked.
    fn balance(
        &mut self,
        conn: &Connection,
        kind: AccountKind,
        account: Uuid,
    ) -> Result<&mut Credit> {
        let credit = match self.balances.entry(account) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(first) => {
                let stored: Option<i64> = if kind == AccountKind::Issuance {
                    None
                } else {
                    conn.prepare_cached(
                        "SELECT balance FROM points_accounts WHERE community_id = ?1 AND id = ?2",
                    )?
                    .query_row((self.community.0.as_bytes(), account.as_bytes()), |row| {
                        row.get(0)
                    })
                    .optional()?
                };
                first.insert(Credit {
                    kind,
                    balance: stored.unwrap_or(0),
                    added: 0,
                    moved: false,
                })
            }
        };
        Ok(credit)
    }

    /// Moves an account's balance in memory and returns it after the move. The checks
    /// before made sure a debit is covered; this stands behind them, as the CHECK
    /// constraint does on the ordinary path.
    fn move_balance(
        &mut self,
        conn: &Connection,
        (kind, account): (AccountKind, Uuid),
        delta: i64,
    ) -> Result<i64> {
        let credit = self.balance(conn, kind, account)?;
        if credit.kind != kind {
            return Err(StoreError::Corrupt(format!(
                "points account {account} is not a {} account",
                kind.as_str()
            )));
        }
        if delta < 0 && kind != AccountKind::Issuance && credit.balance + delta < 0 {
            return Err(StoreError::Corrupt(format!(
                "points account {account} could not move by {delta}"
            )));
        }
        credit.balance += delta;
        credit.added += delta;
        credit.moved = true;
        Ok(credit.balance)
    }

    /// The offer's terms and what this run took of it, read on first use.
    fn offer(&mut self, conn: &Connection, offer: Uuid) -> Result<&Offer> {
        let offer = match self.offers.entry(offer) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(first) => {
                let q = offer_terms_query(self.community, offer);
                let terms = crate::lite::fetch_all(conn, &q, OfferTerms::from_lite)?
                    .into_iter()
                    .next();
                first.insert(Offer { terms, taken: 0 })
            }
        };
        Ok(offer)
    }

    /// Writes the run: balances (accounts opened on their first transfer), transfers, their
    /// entries, the chain head, and the results under their keys. One row per statement:
    /// a statement that writes several rows and may fail part-way keeps a journal of its
    /// own to undo itself, which for a batch's worth of rows spilled to a temporary file
    /// and doubled the bytes the writer wrote (measured).
    fn write(self, conn: &Connection) -> Result<()> {
        if self.transfers.is_empty() {
            return Ok(());
        }
        let community = self.community.0;
        let opened_at = time_text(&self.transfers[0].at);
        let mut account = conn.prepare_cached(
            "INSERT INTO points_accounts (community_id, id, kind, balance, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (community_id, id) DO UPDATE \
             SET balance = points_accounts.balance + excluded.balance",
        )?;
        // SQLite checks an inserted row's CHECK constraints before it finds the conflict,
        // so an account this run took points from (which therefore exists) is updated.
        let mut debit = conn.prepare_cached(
            "UPDATE points_accounts SET balance = balance + ?1 WHERE community_id = ?2 AND id = ?3",
        )?;
        for (id, credit) in self.balances.iter().filter(|(_, c)| c.moved) {
            if credit.added < 0 && credit.kind != AccountKind::Issuance {
                if debit.execute((credit.added, community.as_bytes(), id.as_bytes()))? != 1 {
                    return Err(StoreError::Corrupt(format!(
                        "points account {id} was debited but does not exist"
                    )));
                }
                continue;
            }
            account.execute((
                community.as_bytes(),
                id.as_bytes(),
                credit.kind.as_str(),
                credit.added,
                &opened_at,
            ))?;
        }
        let mut transfer = conn.prepare_cached(
            "INSERT INTO points_transfers (community_id, seq, id, kind, from_account, \
             to_account, amount, reverses_id, rule_id, rule_code, subject_id, \
             actor_account_id, approver_account_id, memo, at, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?;
        let mut entry = conn.prepare_cached(
            "INSERT INTO points_entries (community_id, account_id, seq, amount) \
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for t in &self.transfers {
            bind_transfer(&mut transfer, t)?;
            transfer.raw_execute()?;
            entry.execute((
                community.as_bytes(),
                t.from_account.as_bytes(),
                t.seq,
                -t.amount,
            ))?;
            entry.execute((
                community.as_bytes(),
                t.to_account.as_bytes(),
                t.seq,
                t.amount,
            ))?;
        }
        conn.prepare_cached(
            "UPDATE points_chain_heads SET seq = ?1, hash = ?2 WHERE community_id = ?3",
        )?
        .execute((self.head.seq, &self.head.hash, community.as_bytes()))?;
        let mut operation = conn.prepare_cached(
            "INSERT INTO points_operations (community_id, actor_account_id, idempotency_key, \
             operation, request_hash, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        self.write_redemptions(conn)?;
        for op in &self.operations {
            operation.execute((
                community.as_bytes(),
                op.actor.as_bytes(),
                &op.key,
                op.operation,
                &op.request_hash,
                &op.result,
                time_text(&op.at),
            ))?;
        }
        Ok(())
    }
}

impl MemoryRun {
    /// The redemptions of the run, pending, and what they took of each offer's stock. The
    /// stock guard fails the batch (to be run again request by request) if the stock
    /// changed under the run, which the lane's single writer rules out.
    fn write_redemptions(&self, conn: &Connection) -> Result<()> {
        let community = self.community.0;
        let mut take = conn.prepare_cached(
            "UPDATE points_offers SET stock = stock - ?1 \
             WHERE community_id = ?2 AND id = ?3 AND stock >= ?1",
        )?;
        for (id, offer) in self.offers.iter().filter(|(_, o)| o.taken > 0) {
            if take.execute((offer.taken, community.as_bytes(), id.as_bytes()))? != 1 {
                return Err(StoreError::Corrupt(format!(
                    "offer {id} had not the {} left that redemptions took",
                    offer.taken
                )));
            }
        }
        let mut pending = conn.prepare_cached(
            "INSERT INTO points_redemptions (community_id, id, offer_id, resident_id, cost, \
             code_hash, status, expires_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
        )?;
        for r in &self.redemptions {
            pending.execute((
                community.as_bytes(),
                r.id.as_bytes(),
                r.offer.as_bytes(),
                r.resident.as_bytes(),
                r.cost,
                &r.code_hash,
                time_text(&r.expires_at),
                time_text(&r.at),
            ))?;
        }
        Ok(())
    }
}

fn bind_transfer(stmt: &mut Statement<'_>, t: &TransferRow) -> rusqlite::Result<()> {
    let blob = |u: &Option<Uuid>| u.as_ref().map(|u| u.as_bytes().to_vec());
    stmt.raw_bind_parameter(1, t.community_id.as_bytes())?;
    stmt.raw_bind_parameter(2, t.seq)?;
    stmt.raw_bind_parameter(3, t.id.as_bytes())?;
    stmt.raw_bind_parameter(4, t.kind.as_str())?;
    stmt.raw_bind_parameter(5, t.from_account.as_bytes())?;
    stmt.raw_bind_parameter(6, t.to_account.as_bytes())?;
    stmt.raw_bind_parameter(7, t.amount)?;
    stmt.raw_bind_parameter(8, blob(&t.reverses_id))?;
    stmt.raw_bind_parameter(9, blob(&t.rule_id))?;
    stmt.raw_bind_parameter(10, t.rule_code.as_deref())?;
    stmt.raw_bind_parameter(11, blob(&t.subject_id))?;
    stmt.raw_bind_parameter(12, blob(&t.actor_account_id))?;
    stmt.raw_bind_parameter(13, blob(&t.approver_account_id))?;
    stmt.raw_bind_parameter(14, t.memo.as_str())?;
    stmt.raw_bind_parameter(15, time_text(&t.at))?;
    stmt.raw_bind_parameter(16, t.prev_hash.as_slice())?;
    stmt.raw_bind_parameter(17, t.hash.as_slice())
}
