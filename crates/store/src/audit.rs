//! The audit log: append-only (enforced by triggers on both engines) and hash-chained per
//! community, so a deleted, edited or reordered entry shows up in `linli check`.
//!
//! Events that belong to no community (a failed sign-in with an unknown name, a district
//! administrator's sign-in) go to the platform chain, keyed by the nil UUID.

use chrono::{DateTime, SecondsFormat, Utc};
use linli_domain::CommunityId;
use sea_query::{Expr, ExprTrait, LockType, OnConflict, Order, Query};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::run::Run;
use crate::schema::{AuditChainHeads, AuditLog};
use crate::{Db, Exec, Result, StoreError};

/// The chain of events that concern no single community.
pub const PLATFORM_CHAIN: Uuid = Uuid::nil();

#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// `None` files the event on the platform chain.
    pub community: Option<CommunityId>,
    pub actor: Option<Uuid>,
    pub actor_ip: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Structured detail. Never raw personal data: ids and field names, not values.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditEntry {
    pub community_id: Uuid,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_account_id: Option<Uuid>,
    pub actor_ip: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub outcome: String,
    pub detail: String,
    #[serde(skip)]
    pub prev_hash: Vec<u8>,
    #[serde(skip)]
    pub hash: Vec<u8>,
}

/// The hash of an entry: SHA-256 over a canonical JSON array of every stored field and the
/// previous hash. Times are hashed at microsecond precision, which both engines keep.
fn entry_hash(entry: &AuditEntry) -> Vec<u8> {
    let canonical = serde_json::json!([
        entry.community_id,
        entry.seq,
        entry.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        entry.actor_account_id,
        entry.actor_ip,
        entry.request_id,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.outcome,
        entry.detail,
        hex::encode(&entry.prev_hash),
    ]);
    Sha256::digest(canonical.to_string().as_bytes()).to_vec()
}

fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// Appends an event inside the caller's transaction, so the entry commits or rolls back
/// with the change it records. Returns the entry's sequence number in its chain.
pub async fn append(ex: &mut Exec<'_>, event: &AuditEvent, now: DateTime<Utc>) -> Result<i64> {
    append_with(ex, event, now).await
}

/// [`append`] on either write path (a sqlx transaction or the SQLite lane's writer).
pub(crate) async fn append_with<R: Run>(
    ex: &mut R,
    event: &AuditEvent,
    now: DateTime<Utc>,
) -> Result<i64> {
    let chain = event.community.map(|c| c.0).unwrap_or(PLATFORM_CHAIN);
    let seed = Query::insert()
        .into_table(AuditChainHeads::Table)
        .columns([
            AuditChainHeads::CommunityId,
            AuditChainHeads::Seq,
            AuditChainHeads::Hash,
        ])
        .values_panic([chain.into(), 0i64.into(), vec![0u8; 32].into()])
        .on_conflict(
            OnConflict::column(AuditChainHeads::CommunityId)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    ex.execute(&seed).await?;
    // On PostgreSQL the row lock serialises appends to one chain; SQLite's write
    // transaction (BEGIN IMMEDIATE) already does.
    let head = Query::select()
        .columns([AuditChainHeads::Seq, AuditChainHeads::Hash])
        .from(AuditChainHeads::Table)
        .and_where(Expr::col(AuditChainHeads::CommunityId).eq(chain))
        .lock(LockType::Update)
        .to_owned();
    let (seq, prev_hash): (i64, Vec<u8>) = ex.fetch_one(&head).await?;
    let mut entry = AuditEntry {
        community_id: chain,
        seq: seq + 1,
        at: truncate_to_micros(now),
        actor_account_id: event.actor,
        actor_ip: event.actor_ip.clone(),
        request_id: event.request_id.clone(),
        action: event.action.clone(),
        object_type: event.object_type.clone(),
        object_id: event.object_id.clone(),
        outcome: event.outcome.clone(),
        detail: event.detail.to_string(),
        prev_hash,
        hash: Vec::new(),
    };
    entry.hash = entry_hash(&entry);
    let insert = Query::insert()
        .into_table(AuditLog::Table)
        .columns([
            AuditLog::CommunityId,
            AuditLog::Seq,
            AuditLog::At,
            AuditLog::ActorAccountId,
            AuditLog::ActorIp,
            AuditLog::RequestId,
            AuditLog::Action,
            AuditLog::ObjectType,
            AuditLog::ObjectId,
            AuditLog::Outcome,
            AuditLog::Detail,
            AuditLog::PrevHash,
            AuditLog::Hash,
        ])
        .values_panic([
            entry.community_id.into(),
            entry.seq.into(),
            entry.at.into(),
            entry.actor_account_id.into(),
            entry.actor_ip.clone().into(),
            entry.request_id.clone().into(),
            entry.action.clone().into(),
            entry.object_type.clone().into(),
            entry.object_id.clone().into(),
            entry.outcome.clone().into(),
            entry.detail.clone().into(),
            entry.prev_hash.clone().into(),
            entry.hash.clone().into(),
        ])
        .to_owned();
    ex.execute(&insert).await?;
    let advance = Query::update()
        .table(AuditChainHeads::Table)
        .value(AuditChainHeads::Seq, entry.seq)
        .value(AuditChainHeads::Hash, entry.hash.clone())
        .and_where(Expr::col(AuditChainHeads::CommunityId).eq(chain))
        .to_owned();
    ex.execute(&advance).await?;
    Ok(entry.seq)
}

/// Appends an event in a transaction of its own (for events that change nothing else,
/// such as a failed sign-in or a denied request).
pub async fn record(db: &Db, event: &AuditEvent, now: DateTime<Utc>) -> Result<i64> {
    let mut tx = db.begin().await?;
    let seq = append(&mut tx.exec(), event, now).await?;
    tx.commit().await?;
    Ok(seq)
}

fn entry_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            AuditLog::CommunityId,
            AuditLog::Seq,
            AuditLog::At,
            AuditLog::ActorAccountId,
            AuditLog::ActorIp,
            AuditLog::RequestId,
            AuditLog::Action,
            AuditLog::ObjectType,
            AuditLog::ObjectId,
            AuditLog::Outcome,
            AuditLog::Detail,
            AuditLog::PrevHash,
            AuditLog::Hash,
        ])
        .from(AuditLog::Table)
        .to_owned()
}

/// The newest entries of one chain, newest first.
pub async fn recent(ex: &mut Exec<'_>, chain: Uuid, limit: u64) -> Result<Vec<AuditEntry>> {
    let q = entry_columns()
        .and_where(Expr::col(AuditLog::CommunityId).eq(chain))
        .order_by(AuditLog::Seq, Order::Desc)
        .limit(limit)
        .to_owned();
    ex.fetch_all(&q).await
}

/// The newest `limit` entries about one object (e.g. reveals of a resident's data),
/// oldest first.
pub async fn about(
    ex: &mut Exec<'_>,
    chain: Uuid,
    object_type: &str,
    object_id: &str,
    limit: u64,
) -> Result<Vec<AuditEntry>> {
    let q = entry_columns()
        .and_where(Expr::col(AuditLog::CommunityId).eq(chain))
        .and_where(Expr::col(AuditLog::ObjectType).eq(object_type))
        .and_where(Expr::col(AuditLog::ObjectId).eq(object_id))
        .order_by(AuditLog::Seq, Order::Desc)
        .limit(limit)
        .to_owned();
    let mut entries: Vec<AuditEntry> = ex.fetch_all(&q).await?;
    entries.reverse();
    Ok(entries)
}

/// A place where a chain does not hold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub chain: Uuid,
    pub seq: i64,
    pub problem: String,
}

/// Verifies every chain: sequence numbers without gaps, each entry's hash recomputed, each
/// entry linked to its predecessor, and the head pointing at the last entry.
pub async fn verify_chains(ex: &mut Exec<'_>) -> Result<(u64, Vec<ChainBreak>)> {
    const PAGE: u64 = 5_000;
    let heads_q = Query::select()
        .columns([
            AuditChainHeads::CommunityId,
            AuditChainHeads::Seq,
            AuditChainHeads::Hash,
        ])
        .from(AuditChainHeads::Table)
        .to_owned();
    let heads: Vec<(Uuid, i64, Vec<u8>)> = ex.fetch_all(&heads_q).await?;
    let chains_q = Query::select()
        .distinct()
        .column(AuditLog::CommunityId)
        .from(AuditLog::Table)
        .to_owned();
    let chains: Vec<(Uuid,)> = ex.fetch_all(&chains_q).await?;
    let mut checked = 0u64;
    let mut breaks = Vec::new();
    // Entries whose chain has no head were cut loose from the chain they belonged to.
    for (chain,) in &chains {
        if !heads.iter().any(|(c, _, _)| c == chain) {
            breaks.push(ChainBreak {
                chain: *chain,
                seq: 0,
                problem: "entries exist but the chain head is missing".to_owned(),
            });
        }
    }
    for (chain, head_seq, head_hash) in heads {
        let mut expected_seq = 1i64;
        let mut prev_hash = vec![0u8; 32];
        loop {
            let q = entry_columns()
                .and_where(Expr::col(AuditLog::CommunityId).eq(chain))
                .and_where(Expr::col(AuditLog::Seq).gte(expected_seq))
                .order_by(AuditLog::Seq, Order::Asc)
                .limit(PAGE)
                .to_owned();
            let page: Vec<AuditEntry> = ex.fetch_all(&q).await?;
            let page_len = page.len() as u64;
            for entry in page {
                checked += 1;
                let mut problem = None;
                if entry.seq != expected_seq {
                    problem = Some(format!("entry {} missing", expected_seq));
                } else if entry.prev_hash != prev_hash {
                    problem = Some("link to the previous entry broken".to_owned());
                } else if entry_hash(&entry) != entry.hash {
                    problem = Some("entry altered (hash mismatch)".to_owned());
                }
                if let Some(problem) = problem {
                    breaks.push(ChainBreak {
                        chain,
                        seq: entry.seq,
                        problem,
                    });
                }
                expected_seq = entry.seq + 1;
                prev_hash = entry.hash;
            }
            if page_len < PAGE {
                break;
            }
        }
        if expected_seq - 1 != head_seq || (head_seq > 0 && prev_hash != head_hash) {
            breaks.push(ChainBreak {
                chain,
                seq: head_seq,
                problem: format!(
                    "chain ends at {} but its head says {}",
                    expected_seq - 1,
                    head_seq
                ),
            });
        }
    }
    Ok((checked, breaks))
}

impl From<ChainBreak> for StoreError {
    fn from(b: ChainBreak) -> Self {
        StoreError::Corrupt(format!(
            "audit chain {} at {}: {}",
            b.chain, b.seq, b.problem
        ))
    }
}
