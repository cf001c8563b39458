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
//! The planning is [`super::memory_run`]'s, shared with PostgreSQL's batch; this module
//! reads for it straight from the writer's connection and writes its runs. Every other
//! request (a confirmation, a refund, a reversal, a request written with an
//! audit event) runs through [`apply_hashed`] after the requests before it are written,
//! so it reads what they wrote.
//!
//! A failure is rare and handled like the lane's: the whole batch is undone and run again
//! with each request in a savepoint of its own through the ordinary path, so one bad
//! request never takes the others with it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::points::AccountKind;
use rusqlite::{Connection, OptionalExtension, Statement};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::ledger::{
    LedgerRequest, OfferTerms, Outcome, RECEIPT_TRANSFER_COLUMNS, RECEIPT_TRANSFER_FROM, Receipt,
    ReceiptTransfer, STORED_OPERATION_COLUMNS, StoredOperation, TransferRow, apply_hashed,
    awarded_since, missing_transfer, offer_terms_query, rule_is_current, take_chain_head,
};
use super::memory_run::{MemoryRun, Queued, Reads, in_memory};
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
        let (reply, answer) = oneshot::channel();
        let request = Queued::new(request, now);
        let first = {
            let mut queue = lock(&self.queue);
            queue.waiting.push(Waiting { request, reply });
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
                            write_run(run, conn)?;
                        }
                        let head = finish_now(take_chain_head(&mut LiteRun(conn), community))?;
                        MemoryRun::start(community, head)
                    }
                };
                let run = planned.insert(run);
                let mut reads = LiteReads(conn);
                let outcome = finish_now(run.plan(&mut reads, queued, actor, key, plain))?;
                outcomes.push(Ok(outcome));
            }
            None => {
                if let Some(run) = planned.take() {
                    write_run(run, conn)?;
                }
                let mut run = LiteRun(conn);
                let outcome = apply_hashed(&mut run, &queued.request, &queued.hash, queued.now);
                outcomes.push(Ok(finish_now(outcome)?));
            }
        }
    }
    if let Some(run) = planned.take() {
        write_run(run, conn)?;
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

/// The writer's connection, read directly (prepared statements, no sea-query): every read
/// completes at once, so a run's futures finish on their first poll ([`finish_now`]).
struct LiteReads<'c>(&'c Connection);

impl Reads for LiteReads<'_> {
    async fn stored_operation(
        &mut self,
        community: CommunityId,
        actor: Uuid,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Receipt)>> {
        static KEY: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {STORED_OPERATION_COLUMNS} FROM points_operations \
                 WHERE community_id = ?1 AND actor_account_id = ?2 AND idempotency_key = ?3"
            )
        });
        static TRANSFER: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {RECEIPT_TRANSFER_COLUMNS} FROM {RECEIPT_TRANSFER_FROM} \
                 WHERE t.community_id = ?1 AND t.seq = ?2"
            )
        });
        let Some(stored) = self
            .0
            .prepare_cached(&KEY)?
            .query_row(
                (community.0.as_bytes(), actor.as_bytes(), key),
                StoredOperation::from_lite,
            )
            .optional()?
        else {
            return Ok(None);
        };
        let transfer = self
            .0
            .prepare_cached(&TRANSFER)?
            .query_row(
                (community.0.as_bytes(), stored.transfer_seq),
                ReceiptTransfer::from_lite,
            )
            .optional()?
            .ok_or_else(|| missing_transfer(stored.transfer_seq))?;
        stored.answer(transfer).map(Some)
    }

    async fn rule_is_current(&mut self, community: CommunityId, rule: Uuid) -> Result<bool> {
        rule_is_current(&mut LiteRun(self.0), community, rule).await
    }

    async fn awarded_since(
        &mut self,
        community: CommunityId,
        resident: Uuid,
        rule_code: &str,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        awarded_since(&mut LiteRun(self.0), community, resident, rule_code, since).await
    }

    async fn balance(&mut self, community: CommunityId, account: Uuid) -> Result<Option<i64>> {
        let stored = self
            .0
            .prepare_cached(
                "SELECT balance FROM points_accounts WHERE community_id = ?1 AND id = ?2",
            )?
            .query_row((community.0.as_bytes(), account.as_bytes()), |row| {
                row.get(0)
            })
            .optional()?;
        Ok(stored)
    }

    async fn offer_terms(
        &mut self,
        community: CommunityId,
        offer: Uuid,
    ) -> Result<Option<OfferTerms>> {
        let q = offer_terms_query(community, offer);
        Ok(crate::lite::fetch_all(self.0, &q, OfferTerms::from_lite)?
            .into_iter()
            .next())
    }
}

/// Writes the run: balances (accounts opened on their first transfer), transfers, their
/// entries, the chain head, and the results under their keys. One row per statement:
/// a statement that writes several rows and may fail part-way keeps a journal of its
/// own to undo itself, which for a batch's worth of rows spilled to a temporary file
/// and doubled the bytes the writer wrote (measured).
fn write_run(run: MemoryRun, conn: &Connection) -> Result<()> {
    if run.transfers.is_empty() {
        return Ok(());
    }
    let community = run.community.0;
    let opened_at = time_text(&run.transfers[0].at);
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
    for (id, credit) in run.balances.iter().filter(|(_, c)| c.moved) {
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
    for t in &run.transfers {
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
    .execute((run.head.seq, &run.head.hash, community.as_bytes()))?;
    let mut operation = conn.prepare_cached(
        "INSERT INTO points_operations (community_id, actor_account_id, idempotency_key, \
             operation, request_hash, transfer_seq, resident_id, balance, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    write_redemptions(&run, conn)?;
    for op in &run.operations {
        operation.execute((
            community.as_bytes(),
            op.actor.as_bytes(),
            &op.key,
            op.operation,
            &op.request_hash,
            op.receipt.seq,
            op.receipt.resident_id.as_ref().map(Uuid::as_bytes),
            op.receipt.balance,
            time_text(&op.at),
        ))?;
    }
    Ok(())
}

/// The redemptions of the run, pending, and what they took of each offer's stock. The
/// stock guard fails the batch (to be run again request by request) if the stock
/// changed under the run, which the lane's single writer rules out.
fn write_redemptions(run: &MemoryRun, conn: &Connection) -> Result<()> {
    let community = run.community.0;
    let mut take = conn.prepare_cached(
        "UPDATE points_offers SET stock = stock - ?1 \
             WHERE community_id = ?2 AND id = ?3 AND stock >= ?1",
    )?;
    for (id, offer) in run.offers.iter().filter(|(_, o)| o.taken > 0) {
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
    for r in &run.redemptions {
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
