//! Points work shared by the API, the pages and the background worker: one-time
//! redemption codes, the sweep that gives back redemptions nobody confirmed in time, and
//! the daily expiry of old points where a community turned it on.

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId, ResidentId};
use linli_store::matters::inbox::{self, NewNotification};
use linli_store::points::{self as ledger, Change, Expire, LedgerRequest, Refund, RefundReason};
use linli_store::points::{catalogue, expiry};
use linli_store::registry::residents;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crypto::DataKey;
use crate::state::AppState;

/// How long a redemption waits for the station or partner to confirm it.
pub const REDEMPTION_VALIDITY: chrono::Duration = chrono::Duration::days(7);

/// Crockford's base-32 alphabet: no I, L, O or U to misread at a counter.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A redemption's one-time code: ten characters (50 bits) derived from its id with the
/// server's key, so it can be shown again (and a replayed request answered identically)
/// without ever being stored. The database keeps only [`code_hash`].
pub fn redemption_code(key: &DataKey, redemption: Uuid) -> String {
    let mac = key.blind_index("points_redemption_code", &redemption.to_string());
    let mut bits: u64 = 0;
    for byte in &mac[..8] {
        bits = (bits << 8) | u64::from(*byte);
    }
    (0..10)
        .map(|i| ALPHABET[((bits >> (64 - 5 * (i + 1))) & 31) as usize] as char)
        .collect()
}

/// What the database keeps of a code. Codes are read back from paper or a screen, so
/// case, spaces and dashes do not count.
pub fn code_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// When a redemption made at `at` (its receipt's time) expires.
pub fn redemption_expiry(at: DateTime<Utc>) -> DateTime<Utc> {
    at + REDEMPTION_VALIDITY
}

/// Gives back every pending redemption whose time ran out: escrow → resident, stock
/// restored. Safe with several servers: each refund checks, under the community's ledger
/// lock, that the redemption is still pending, so a second sweep changes nothing.
pub async fn expire_redemptions(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let due = {
        let mut conn = state.db.acquire().await?;
        catalogue::due_redemptions(&mut conn.exec(), now, 500).await?
    };
    let mut expired = 0;
    for (community, redemption) in due {
        let request = LedgerRequest {
            community: CommunityId(community),
            actor: None,
            key: None,
            request: serde_json::json!({ "op": "expire", "redemption": redemption }),
            change: Change::Refund(Refund {
                redemption,
                why: RefundReason::Expired,
            }),
            audit: None,
        };
        if ledger::submit(&state.db, request, now).await?.is_ok() {
            expired += 1;
        }
    }
    Ok(expired)
}

/// Where points earned before now expire, for a community that expires them after
/// `months`: the same day `months` back.
pub fn expiry_cutoff(now: DateTime<Utc>, months: i64) -> DateTime<Utc> {
    now.checked_sub_months(chrono::Months::new(u32::try_from(months).unwrap_or(0)))
        .unwrap_or(now)
}

/// What one day's expiry sweep did in one community.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryRun {
    pub expired_accounts: usize,
    pub expired_points: i64,
    pub notices: usize,
}

/// Expires points in every community that turned expiry on, once a day each (several
/// servers agree through the settings row), and tells residents whose points will
/// expire within the notice period (once per period).
pub async fn expire_points(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<ExpiryRun> {
    let since = now - chrono::Duration::days(1);
    let due = {
        let mut conn = state.db.acquire().await?;
        expiry::due_communities(&mut conn.exec(), since).await?
    };
    let mut total = ExpiryRun::default();
    for settings in due {
        let community = CommunityId(settings.community_id);
        let claimed = {
            let mut conn = state.db.acquire().await?;
            expiry::claim_run(&mut conn.exec(), community, since, now).await?
        };
        if !claimed {
            continue;
        }
        let run = expire_in(state, community, &settings, now).await?;
        total.expired_accounts += run.expired_accounts;
        total.expired_points += run.expired_points;
        total.notices += run.notices;
    }
    Ok(total)
}

async fn expire_in(
    state: &AppState,
    community: CommunityId,
    settings: &expiry::SettingsRow,
    now: DateTime<Utc>,
) -> anyhow::Result<ExpiryRun> {
    let Some(months) = settings.expiry_months else {
        return Ok(ExpiryRun::default());
    };
    let cutoff = expiry_cutoff(now, months);
    let holders = {
        let mut conn = state.db.acquire().await?;
        expiry::holders(&mut conn.exec(), community).await?
    };
    let mut run = ExpiryRun::default();
    for resident in &holders {
        let request = LedgerRequest {
            community,
            actor: None,
            key: None,
            request: serde_json::json!({ "op": "expire", "resident": resident, "cutoff": cutoff }),
            change: Change::Expire(Expire {
                resident: ResidentId(*resident),
                cutoff,
                memo: format!("积分有效期 {months} 个月，到期清零"),
            }),
            audit: None,
        };
        if let Ok(answer) = ledger::submit(&state.db, request, now).await? {
            run.expired_accounts += 1;
            run.expired_points += answer.receipt.amount;
        }
    }
    // Notices: points that will pass the cutoff within the notice period.
    let soon = cutoff + chrono::Duration::days(settings.notice_days);
    let quiet_since = now - chrono::Duration::days(settings.notice_days);
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    for resident in &holders {
        let amount = expiry::expiring(&mut ex, community, *resident, soon).await?;
        if amount <= 0 {
            continue;
        }
        if expiry::last_notice(&mut ex, community, *resident)
            .await?
            .is_some_and(|t| t > quiet_since)
        {
            continue;
        }
        let Some(account) = residents::find_resident(&mut ex, ResidentId(*resident))
            .await?
            .and_then(|r| r.account_id)
        else {
            continue;
        };
        let notice = NewNotification {
            account: AccountId(account),
            matter: None,
            kind: "points_expiring",
            title: "积分即将过期".to_owned(),
            body: format!(
                "您有 {amount} 积分将在 {} 天内过期，可到积分商城兑换。",
                settings.notice_days
            ),
        };
        inbox::notify(&mut ex, community, &[notice], now).await?;
        expiry::record_notice(&mut ex, community, *resident, amount, now).await?;
        run.notices += 1;
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_readable_and_forgiving_to_type() {
        let key = DataKey::from_bytes([7; 32]);
        let id = Uuid::now_v7();
        let code = redemption_code(&key, id);
        assert_eq!(code.len(), 10);
        assert_eq!(code, redemption_code(&key, id));
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(code, redemption_code(&key, Uuid::now_v7()));
        assert_ne!(code, redemption_code(&DataKey::from_bytes([8; 32]), id));
        let typed = format!("{}-{}", &code[..5], code[5..].to_lowercase());
        assert_eq!(code_hash(&typed), code_hash(&code));
    }
}
