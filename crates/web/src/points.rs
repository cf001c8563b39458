//! Points work shared by the API, the pages and the background worker: one-time
//! redemption codes, and the sweep that gives back redemptions nobody confirmed in time.

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_store::points::catalogue;
use linli_store::points::{self as ledger, Change, LedgerRequest, Refund, RefundReason};
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
