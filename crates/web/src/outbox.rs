//! Webhook delivery for SMS or WeChat gateways. Each notification a step creates is also
//! queued, in the same transaction, as one delivery job per subscribed endpoint. The
//! worker POSTs it as JSON signed with the endpoint's secret (`X-Linli-Signature:
//! sha256=<hex HMAC of the body>`); a failure retries with backoff (10 s, 20 s, 40 s …)
//! and after the last attempt the job stays as a dead letter for an administrator.
//! Bodies carry account ids, matter numbers and titles, never phone numbers: the gateway
//! keeps its own contact list.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use linli_domain::CommunityId;
use linli_store::jobs::{self, JobRow, NewJob};
use linli_store::matters::inbox::NewNotification;
use linli_store::outbox;
use linli_store::{Exec, Result};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::state::AppState;

pub const WEBHOOK_JOB: &str = "webhook";
/// Attempts before a delivery becomes a dead letter (the last waits about 21 minutes).
pub const MAX_ATTEMPTS: i32 = 8;
/// How long a gateway may take to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The events an endpoint may subscribe to (the inbox's notification kinds).
pub const EVENT_KINDS: &[&str] = &[
    "matter_dispatched",
    "matter_returned_to_handler",
    "matter_supervised",
    "matter_needs_decision",
    "matter_progress",
    "matter_reminder",
    "matter_overdue",
    "matter_yellow_card",
    "matter_red_card",
];

/// What a webhook secret is bound to when sealed.
pub fn secret_purpose(webhook: Uuid) -> String {
    format!("webhook.secret/{webhook}")
}

/// The body of one delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub community_id: Uuid,
    pub webhook_id: Uuid,
    pub event: String,
    pub account_id: Uuid,
    pub matter_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// Queues deliveries of `notes` to the community's subscribed endpoints (call it in the
/// transaction that created the notifications).
pub async fn enqueue(
    ex: &mut Exec<'_>,
    community: CommunityId,
    notes: &[NewNotification],
    now: DateTime<Utc>,
) -> Result<usize> {
    if notes.is_empty() {
        return Ok(0);
    }
    let hooks = outbox::list_webhooks(ex, community).await?;
    let mut queued = 0;
    for hook in hooks.iter().filter(|h| h.active) {
        for note in notes.iter().filter(|n| hook.wants(n.kind)) {
            let delivery = Delivery {
                community_id: community.0,
                webhook_id: hook.id,
                event: note.kind.to_owned(),
                account_id: note.account.0,
                matter_id: note.matter,
                title: note.title.clone(),
                body: note.body.clone(),
                at: now,
            };
            let job = NewJob {
                kind: WEBHOOK_JOB,
                payload: serde_json::to_value(&delivery).unwrap_or_default(),
                run_at: now,
                max_attempts: MAX_ATTEMPTS,
                unique_key: None,
            };
            jobs::enqueue(ex, &job, now).await?;
            queued += 1;
        }
    }
    Ok(queued)
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client without TLS builds")
    })
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends one delivery. An endpoint removed or switched off meanwhile is not called.
pub async fn deliver(state: &AppState, job: &JobRow) -> anyhow::Result<()> {
    let delivery: Delivery = serde_json::from_str(&job.payload)?;
    let hook = {
        let mut conn = state.db.acquire().await?;
        outbox::find_webhook(
            &mut conn.exec(),
            CommunityId(delivery.community_id),
            delivery.webhook_id,
        )
        .await?
    };
    let Some(hook) = hook.filter(|h| h.active) else {
        tracing::info!(job = %job.id, "webhook removed or inactive; delivery dropped");
        return Ok(());
    };
    let secret = state
        .data_key
        .open(&secret_purpose(hook.id), &hook.secret_enc)
        .map_err(|e| anyhow::anyhow!("webhook secret unreadable: {e}"))?;
    let body = serde_json::to_vec(&delivery)?;
    let response = client()
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-linli-event", &delivery.event)
        .header("x-linli-delivery", job.id.to_string())
        .header("x-linli-signature", signature(&secret, &body))
        .body(body)
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "the endpoint answered HTTP {}",
        status.as_u16()
    );
    Ok(())
}
