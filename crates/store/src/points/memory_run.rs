//! Awards and redemptions planned in memory: the part of both group commits (SQLite's
//! ledger queue, [`super::lite_ledger`], and PostgreSQL's batch, [`super::pg_ledger`])
//! that decides what a run of one community's requests does, before either writes it
//! in its own way.
//!
//! Why: on the ordinary path ([`super::ledger::apply`]) each request runs a dozen
//! statements of its own. On SQLite that made the writer thread the bound; on PostgreSQL
//! each statement is a round trip inside the batch's transaction while the community's
//! chain head is locked, which held the award rate near a thousand a second. A run reads
//! the chain head once, each account's balance, rule and offer once, and leaves the
//! writing of every balance, transfer, entry and result to one pass per run.
//!
//! The ledger's rules are those of [`super::ledger`]: the same checks in the same order
//! (a replayed or reused key, the rule still current, the caps counting this run's
//! earlier awards; the offer valid and in stock, the balance covering the cost, both
//! counting this run's earlier requests), the same rows, the same hashes and receipts.
//! What the run reads comes through [`Reads`]: each engine reads in its own way, and
//! PostgreSQL reads a run's keys and balances in one statement each beforehand.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::points::{AccountKind, Usage};
use uuid::Uuid;

use super::ledger::{
    Answer, Award, Change, Head, LedgerRequest, OfferTerms, Outcome, Posting, Receipt, Redeem,
    Refusal, TransferRow, amount_of, award_posting, chained_transfer, offer_can_be_taken,
    redeem_posting, replay, request_hash,
};
use crate::{Result, StoreError};

/// A ledger request waiting for its group commit.
pub(crate) struct Queued {
    pub(crate) request: LedgerRequest,
    /// Taken on the caller's thread, not the writer's.
    pub(crate) hash: Vec<u8>,
    pub(crate) now: DateTime<Utc>,
}

impl Queued {
    pub(crate) fn new(request: LedgerRequest, now: DateTime<Utc>) -> Queued {
        let hash = request_hash(&request);
        Queued { request, hash, now }
    }
}

/// A request planned in memory.
#[derive(Clone, Copy)]
pub(crate) enum Plain<'r> {
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

/// A request planned in memory: an award or a redemption with a key and no audit event
/// (the API's). Every other one goes through [`super::ledger::apply_hashed`] after the
/// run before it is written, so it reads what that run wrote.
pub(crate) fn in_memory(req: &LedgerRequest) -> Option<(Uuid, &str, Plain<'_>)> {
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

/// What a run reads of the stored ledger, inside the transaction that holds the chain
/// head. Each is asked at most once per run for a rule, an account or an offer.
pub(crate) trait Reads {
    /// The request hash and receipt stored under an actor's key, if any.
    async fn stored_operation(
        &mut self,
        community: CommunityId,
        actor: Uuid,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Receipt)>>;

    async fn rule_is_current(&mut self, community: CommunityId, rule: Uuid) -> Result<bool>;

    /// See [`super::ledger::awarded_since`].
    async fn awarded_since(
        &mut self,
        community: CommunityId,
        resident: Uuid,
        rule_code: &str,
        since: DateTime<Utc>,
    ) -> Result<i64>;

    /// An account's stored balance; `None` before its first transfer.
    async fn balance(&mut self, community: CommunityId, account: Uuid) -> Result<Option<i64>>;

    async fn offer_terms(
        &mut self,
        community: CommunityId,
        offer: Uuid,
    ) -> Result<Option<OfferTerms>>;
}

/// Consecutive awards and redemptions of one community, checked and chained in memory,
/// written at once.
pub(crate) struct MemoryRun {
    pub(crate) community: CommunityId,
    /// The chain head as the requests so far leave it.
    pub(crate) head: Head,
    /// Accounts moved, with their balance now and how much of it is this run's.
    pub(crate) balances: BTreeMap<Uuid, Credit>,
    /// Rules looked up in this run: still current or not.
    rules: BTreeMap<Uuid, bool>,
    /// Offers looked up in this run, with how many of each this run took.
    pub(crate) offers: BTreeMap<Uuid, Offer>,
    pub(crate) transfers: Vec<TransferRow>,
    pub(crate) redemptions: Vec<PendingRedemption>,
    pub(crate) operations: Vec<Operation>,
}

pub(crate) struct Credit {
    pub(crate) kind: AccountKind,
    balance: i64,
    pub(crate) added: i64,
    /// On a transfer of this run (an account is opened by its first transfer only, not
    /// by being read for a refused request).
    pub(crate) moved: bool,
}

pub(crate) struct Offer {
    /// `None`: no such offer in the community.
    terms: Option<OfferTerms>,
    pub(crate) taken: i64,
}

/// A redemption made in this run, waiting for its station or partner.
pub(crate) struct PendingRedemption {
    pub(crate) id: Uuid,
    pub(crate) offer: Uuid,
    pub(crate) resident: Uuid,
    pub(crate) cost: i64,
    pub(crate) code_hash: Vec<u8>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) at: DateTime<Utc>,
}

/// One request's answer, to be stored under its key (by reference to its transfer: see
/// [`super::ledger::StoredOperation`]).
pub(crate) struct Operation {
    pub(crate) actor: Uuid,
    pub(crate) key: String,
    pub(crate) operation: &'static str,
    pub(crate) request_hash: Vec<u8>,
    pub(crate) receipt: Receipt,
    pub(crate) at: DateTime<Utc>,
}

impl MemoryRun {
    /// A run starting from the chain head its transaction holds.
    pub(crate) fn start(community: CommunityId, head: Head) -> MemoryRun {
        MemoryRun {
            community,
            head,
            balances: BTreeMap::new(),
            rules: BTreeMap::new(),
            offers: BTreeMap::new(),
            transfers: Vec::new(),
            redemptions: Vec::new(),
            operations: Vec::new(),
        }
    }

    /// Checks and plans one request, as [`super::ledger::apply`] would make it.
    pub(crate) async fn plan<R: Reads>(
        &mut self,
        reads: &mut R,
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
            return Ok(replay(&op.request_hash, &op.receipt, &queued.hash));
        }
        if let Some((stored_hash, receipt)) =
            reads.stored_operation(self.community, actor, key).await?
        {
            return Ok(replay(&stored_hash, &receipt, &queued.hash));
        }
        let planned = match plain {
            Plain::Award(award) => self.plan_award(reads, award).await?,
            Plain::Redeem(redeem) => self.plan_redeem(reads, redeem, queued.now).await?,
        };
        let planned = match planned {
            Ok(planned) => planned,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if let Plain::Redeem(redeem) = plain {
            self.take_one(redeem, planned.amount.get(), queued.now);
        }
        let receipt = self.post(reads, planned, actor, queued.now).await?;
        self.operations.push(Operation {
            actor,
            key: key.to_owned(),
            operation: plain.operation(),
            request_hash: queued.hash.clone(),
            receipt: receipt.clone(),
            at: queued.now,
        });
        Ok(Ok(Answer {
            receipt,
            replayed: false,
        }))
    }

    async fn plan_award<R: Reads>(
        &mut self,
        reads: &mut R,
        award: &Award,
    ) -> Result<std::result::Result<Posting, Refusal>> {
        if !self.rule_is_current(reads, award.rule_id).await? {
            return Ok(Err(Refusal::RuleChanged));
        }
        let usage = self.usage(reads, award).await?;
        match award.rule.within_caps(award.earned, usage) {
            Ok(amount) => Ok(Ok(award_posting(self.community, award, amount))),
            Err(e) => Ok(Err(Refusal::Rule(e))),
        }
    }

    /// The checks of [`super::ledger`]'s `plan_redeem`, in its order, against the offer's
    /// stock and the resident's balance as this run leaves them.
    async fn plan_redeem<R: Reads>(
        &mut self,
        reads: &mut R,
        redeem: &Redeem,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Posting, Refusal>> {
        let offer = self.offer(reads, redeem.offer).await?;
        if let Err(refusal) = offer_can_be_taken(offer.terms.as_ref(), offer.taken, now) {
            return Ok(Err(refusal));
        }
        let Some(cost) = offer.terms.as_ref().map(|t| t.cost) else {
            return Ok(Err(Refusal::OfferUnavailable));
        };
        let resident = redeem.resident.0;
        let balance = self
            .balance(reads, AccountKind::Resident, resident)
            .await?
            .balance;
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
        self.redemptions.push(PendingRedemption {
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
    async fn post<R: Reads>(
        &mut self,
        reads: &mut R,
        planned: Posting,
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Receipt> {
        let amount = planned.amount.get();
        let from = self.move_balance(reads, planned.from, -amount).await?;
        let to = self.move_balance(reads, planned.to, amount).await?;
        // Awards and redemptions are the resident's, on one leg or the other.
        let balance = match planned.resident {
            Some(resident) if resident == planned.from.1 => Some(from),
            Some(resident) if resident == planned.to.1 => Some(to),
            _ => None,
        };
        let head = std::mem::replace(
            &mut self.head,
            Head {
                seq: 0,
                hash: Vec::new(),
            },
        );
        let transfer = chained_transfer(self.community, &planned, head, Some(actor), now);
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

    async fn rule_is_current<R: Reads>(&mut self, reads: &mut R, rule: Uuid) -> Result<bool> {
        if let Some(&current) = self.rules.get(&rule) {
            return Ok(current);
        }
        let current = reads.rule_is_current(self.community, rule).await?;
        self.rules.insert(rule, current);
        Ok(current)
    }

    /// What the resident earned under the rule today and this month: what is stored, and
    /// what this run awarded so far. Read only under a rule with a day or month cap.
    async fn usage<R: Reads>(&self, reads: &mut R, award: &Award) -> Result<Usage> {
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
        let today = reads
            .awarded_since(self.community, resident, &rule.code, award.day_start)
            .await?;
        let this_month = reads
            .awarded_since(self.community, resident, &rule.code, award.month_start)
            .await?;
        Ok(Usage {
            today: today + in_run(award.day_start),
            this_month: this_month + in_run(award.month_start),
        })
    }

    /// The account as this run leaves it, read on first use. Two accounts are not read,
    /// because only their change is written (as an increment) and nothing asks for their
    /// balance: the issuance account, which is never checked, as on the ordinary path, and
    /// the escrow account, which the requests planned in memory only ever credit (a
    /// redemption) and whose balance is in no receipt. Not reading the escrow account
    /// saves PostgreSQL's lane a round trip in every batch of redemptions. Should a run
    /// ever debit it, the check in [`Self::move_balance`] stays sound, only stricter: the
    /// balance it sees is what the run added, never more than the account holds.
    async fn balance<R: Reads>(
        &mut self,
        reads: &mut R,
        kind: AccountKind,
        account: Uuid,
    ) -> Result<&mut Credit> {
        let credit = match self.balances.entry(account) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(first) => {
                let stored = match kind {
                    AccountKind::Issuance | AccountKind::Escrow => None,
                    _ => reads.balance(self.community, account).await?,
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
    async fn move_balance<R: Reads>(
        &mut self,
        reads: &mut R,
        (kind, account): (AccountKind, Uuid),
        delta: i64,
    ) -> Result<i64> {
        let credit = self.balance(reads, kind, account).await?;
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
    async fn offer<R: Reads>(&mut self, reads: &mut R, offer: Uuid) -> Result<&Offer> {
        let offer = match self.offers.entry(offer) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(first) => {
                let terms = reads.offer_terms(self.community, offer).await?;
                first.insert(Offer { terms, taken: 0 })
            }
        };
        Ok(offer)
    }
}
