//! Webhook endpoints: where a community's events go (an SMS or WeChat gateway). Deliveries
//! themselves are jobs of kind `webhook` in the job queue, enqueued in the transaction of
//! the step that causes them; failed ones retry with backoff and end as dead letters.

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use sea_query::{Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use crate::schema::Webhooks;
use crate::{Exec, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub url: String,
    pub secret_enc: Vec<u8>,
    /// Comma-separated event kinds, or `*` for every event.
    pub events: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl WebhookRow {
    pub fn wants(&self, kind: &str) -> bool {
        self.active
            && self
                .events
                .split(',')
                .any(|e| e.trim() == "*" || e.trim() == kind)
    }
}

fn columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Webhooks::CommunityId,
            Webhooks::Id,
            Webhooks::Url,
            Webhooks::SecretEnc,
            Webhooks::Events,
            Webhooks::Active,
            Webhooks::CreatedAt,
        ])
        .from(Webhooks::Table)
        .to_owned()
}

pub async fn insert_webhook(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
    url: &str,
    secret_enc: Vec<u8>,
    events: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(Webhooks::Table)
        .columns([
            Webhooks::CommunityId,
            Webhooks::Id,
            Webhooks::Url,
            Webhooks::SecretEnc,
            Webhooks::Events,
            Webhooks::Active,
            Webhooks::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            id.into(),
            url.into(),
            secret_enc.into(),
            events.into(),
            true.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

pub async fn list_webhooks(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<WebhookRow>> {
    let q = columns()
        .and_where(Expr::col(Webhooks::CommunityId).eq(community.0))
        .order_by(Webhooks::Id, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

pub async fn find_webhook(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
) -> Result<Option<WebhookRow>> {
    let q = columns()
        .and_where(Expr::col(Webhooks::CommunityId).eq(community.0))
        .and_where(Expr::col(Webhooks::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Stops deliveries to an endpoint (queued ones then end as failed, not sent).
pub async fn deactivate(ex: &mut Exec<'_>, community: CommunityId, id: Uuid) -> Result<bool> {
    let q = Query::update()
        .table(Webhooks::Table)
        .value(Webhooks::Active, false)
        .and_where(Expr::col(Webhooks::CommunityId).eq(community.0))
        .and_where(Expr::col(Webhooks::Id).eq(id))
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}
