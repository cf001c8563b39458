//! `linli check` for the ledger: every community's chain of transfers recomputed from the
//! start, each transfer's two entries, every balance against the sum of its entries, and
//! every community's entries summing to zero.

use sea_query::{Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use super::ledger::{TRANSFER_COLUMNS, TransferRow, transfer_hash};
use crate::schema::{PointsChainHeads, PointsTransfers};
use crate::{Exec, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerProblem {
    pub community: Uuid,
    /// The transfer concerned, where there is one.
    pub seq: Option<i64>,
    pub problem: String,
}

/// What the check read, and what it found wrong.
#[derive(Debug, Default)]
pub struct LedgerReport {
    pub transfers_checked: u64,
    pub accounts_checked: u64,
    pub problems: Vec<LedgerProblem>,
}

pub async fn verify(ex: &mut Exec<'_>) -> Result<LedgerReport> {
    let mut report = LedgerReport::default();
    verify_chains(ex, &mut report).await?;
    verify_entries(ex, &mut report).await?;
    verify_balances(ex, &mut report).await?;
    Ok(report)
}

async fn verify_chains(ex: &mut Exec<'_>, report: &mut LedgerReport) -> Result<()> {
    const PAGE: u64 = 10_000;
    let heads_q = Query::select()
        .columns([
            PointsChainHeads::CommunityId,
            PointsChainHeads::Seq,
            PointsChainHeads::Hash,
        ])
        .from(PointsChainHeads::Table)
        .to_owned();
    let heads: Vec<(Uuid, i64, Vec<u8>)> = ex.fetch_all(&heads_q).await?;
    let chains_q = Query::select()
        .distinct()
        .column(PointsTransfers::CommunityId)
        .from(PointsTransfers::Table)
        .to_owned();
    let chains: Vec<(Uuid,)> = ex.fetch_all(&chains_q).await?;
    for (chain,) in &chains {
        if !heads.iter().any(|(c, _, _)| c == chain) {
            report.problems.push(LedgerProblem {
                community: *chain,
                seq: None,
                problem: "transfers exist but the chain head is missing".to_owned(),
            });
        }
    }
    for (community, head_seq, head_hash) in heads {
        let mut expected_seq = 1i64;
        let mut prev_hash = vec![0u8; 32];
        loop {
            let q = Query::select()
                .columns(TRANSFER_COLUMNS)
                .from(PointsTransfers::Table)
                .and_where(Expr::col(PointsTransfers::CommunityId).eq(community))
                .and_where(Expr::col(PointsTransfers::Seq).gte(expected_seq))
                .order_by(PointsTransfers::Seq, Order::Asc)
                .limit(PAGE)
                .to_owned();
            let page: Vec<TransferRow> = ex.fetch_all(&q).await?;
            let page_len = page.len() as u64;
            for t in page {
                report.transfers_checked += 1;
                let problem = if t.seq != expected_seq {
                    Some(format!("transfer {expected_seq} missing"))
                } else if t.prev_hash != prev_hash {
                    Some("link to the previous transfer broken".to_owned())
                } else if transfer_hash(&t) != t.hash {
                    Some("transfer altered (hash mismatch)".to_owned())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    report.problems.push(LedgerProblem {
                        community,
                        seq: Some(t.seq),
                        problem,
                    });
                }
                expected_seq = t.seq + 1;
                prev_hash = t.hash;
            }
            if page_len < PAGE {
                break;
            }
        }
        if expected_seq - 1 != head_seq || prev_hash != head_hash {
            report.problems.push(LedgerProblem {
                community,
                seq: Some(head_seq),
                problem: format!(
                    "the chain head says {head_seq} transfers, the chain ends at {}",
                    expected_seq - 1
                ),
            });
        }
    }
    Ok(())
}

/// Each transfer has exactly its two legs: minus the amount on the account it left, plus
/// on the one it reached; and each community's entries sum to zero.
async fn verify_entries(ex: &mut Exec<'_>, report: &mut LedgerReport) -> Result<()> {
    const LEGS: &str = "SELECT t.community_id, t.seq FROM points_transfers t \
        WHERE (SELECT COUNT(*) FROM points_entries e \
               WHERE e.community_id = t.community_id AND e.seq = t.seq) <> 2 \
           OR NOT EXISTS (SELECT 1 FROM points_entries e WHERE e.community_id = t.community_id \
               AND e.seq = t.seq AND e.account_id = t.from_account AND e.amount = -t.amount) \
           OR NOT EXISTS (SELECT 1 FROM points_entries e WHERE e.community_id = t.community_id \
               AND e.seq = t.seq AND e.account_id = t.to_account AND e.amount = t.amount)";
    let bad_legs: Vec<(Uuid, i64)> = ex.fetch_all_raw(LEGS, LEGS).await?;
    for (community, seq) in bad_legs {
        report.problems.push(LedgerProblem {
            community,
            seq: Some(seq),
            problem: "the transfer's entries do not match it".to_owned(),
        });
    }
    const SUMS: &str = "SELECT community_id, CAST(SUM(amount) AS BIGINT) FROM points_entries \
        GROUP BY community_id HAVING SUM(amount) <> 0";
    let unbalanced: Vec<(Uuid, i64)> = ex.fetch_all_raw(SUMS, SUMS).await?;
    for (community, sum) in unbalanced {
        report.problems.push(LedgerProblem {
            community,
            seq: None,
            problem: format!("the community's entries sum to {sum}, not zero"),
        });
    }
    Ok(())
}

/// Every account's stored balance equals the sum of its entries, and only issuance is
/// below zero.
async fn verify_balances(ex: &mut Exec<'_>, report: &mut LedgerReport) -> Result<()> {
    const BALANCES: &str = "SELECT a.community_id, a.id, a.kind, a.balance, COALESCE(s.total, 0) \
        FROM points_accounts a LEFT JOIN \
            (SELECT community_id, account_id, CAST(SUM(amount) AS BIGINT) AS total FROM points_entries \
             GROUP BY community_id, account_id) s \
            ON s.community_id = a.community_id AND s.account_id = a.id";
    let accounts: Vec<(Uuid, Uuid, String, i64, i64)> =
        ex.fetch_all_raw(BALANCES, BALANCES).await?;
    for (community, account, kind, balance, total) in accounts {
        report.accounts_checked += 1;
        if balance != total {
            report.problems.push(LedgerProblem {
                community,
                seq: None,
                problem: format!(
                    "account {account} holds {balance} but its entries sum to {total}"
                ),
            });
        }
        if balance < 0 && kind != "issuance" {
            report.problems.push(LedgerProblem {
                community,
                seq: None,
                problem: format!("account {account} ({kind}) is below zero: {balance}"),
            });
        }
    }
    Ok(())
}
