//! Webhook endpoints of a community and the deliveries made to them (the outbox), kept by
//! community administrators.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::auth::Action;
use linli_store::{jobs, outbox};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::outbox::{Delivery, EVENT_KINDS, WEBHOOK_JOB, secret_purpose};
use crate::state::AppState;

async fn gate(state: &AppState, principal: &Principal, id: Uuid) -> Result<CommunityId, ApiError> {
    let (target, ctx) = community_target(state, CommunityId(id)).await?;
    principal
        .authorize(
            state,
            Action::ManageMatterSettings,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    Ok(ctx.community())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<outbox::WebhookRow> for WebhookView {
    fn from(w: outbox::WebhookRow) -> Self {
        WebhookView {
            id: w.id,
            url: w.url,
            events: w.events.split(',').map(str::to_owned).collect(),
            active: w.active,
            created_at: w.created_at,
        }
    }
}

/// The community's webhook endpoints (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/communities/{id}/webhooks", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<WebhookView>), (status = 403, body = Problem)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Vec<WebhookView>>, ApiError> {
    let community = gate(&state, &principal, id).await?;
    let mut conn = state.db.acquire().await?;
    let rows = outbox::list_webhooks(&mut conn.exec(), community).await?;
    Ok(axum::Json(
        rows.into_iter().map(WebhookView::from).collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// `http://host[:port]/path` of the gateway on the intranet.
    pub url: String,
    /// 16 to 200 characters, shared with the gateway to check `X-Linli-Signature`.
    pub secret: String,
    /// Event kinds to receive, or `["*"]` for all.
    pub events: Vec<String>,
}

fn check_url(url: &str) -> Result<String, ApiError> {
    let bad = |message: &str| ApiError::Rule {
        field: "url",
        code: "webhook_url",
        message: message.to_owned(),
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| bad("not a URL"))?;
    match parsed.scheme() {
        "http" => {}
        "https" => {
            return Err(bad(
                "this build delivers over http on the intranet; reach an https gateway through a local TLS proxy",
            ));
        }
        _ => return Err(bad("use an http:// URL")),
    }
    if parsed.host_str().is_none() || url.len() > 500 || !parsed.username().is_empty() {
        return Err(bad(
            "an http URL with a host, at most 500 characters, no credentials",
        ));
    }
    Ok(parsed.to_string())
}

/// Adds an endpoint.
#[utoipa::path(post, path = "/api/v1/communities/{id}/webhooks", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = WebhookRequest,
    responses((status = 201, body = WebhookView), (status = 422, body = Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, axum::Json<WebhookView>), ApiError> {
    let community = gate(&state, &principal, id).await?;
    let url = check_url(&body.url)?;
    if !(16..=200).contains(&body.secret.chars().count()) {
        return Err(ApiError::Rule {
            field: "secret",
            code: "webhook_secret",
            message: "the secret has 16 to 200 characters".to_owned(),
        });
    }
    let events: Vec<&str> = body.events.iter().map(|e| e.trim()).collect();
    let unknown: Vec<&&str> = events
        .iter()
        .filter(|e| **e != "*" && !EVENT_KINDS.contains(e))
        .collect();
    if events.is_empty() || !unknown.is_empty() {
        return Err(ApiError::Rule {
            field: "events",
            code: "unknown_event",
            message: format!("events are \"*\" or some of: {}", EVENT_KINDS.join(", ")),
        });
    }
    let webhook = Uuid::now_v7();
    let sealed = state
        .data_key
        .seal(&secret_purpose(webhook), body.secret.as_bytes());
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    outbox::insert_webhook(
        &mut tx.exec(),
        community,
        webhook,
        &url,
        sealed,
        &events.join(","),
        now,
    )
    .await?;
    let entry = principal.success_event(
        community,
        "webhook_added",
        "webhook",
        webhook,
        serde_json::json!({ "url": url }),
    );
    linli_store::audit::append(&mut tx.exec(), &entry, now).await?;
    let row = outbox::find_webhook(&mut tx.exec(), community, webhook)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// Switches an endpoint off; deliveries still queued for it are dropped.
#[utoipa::path(delete, path = "/api/v1/communities/{id}/webhooks/{webhook_id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, webhook)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let community = gate(&state, &principal, id).await?;
    let mut conn = state.db.acquire().await?;
    if outbox::deactivate(&mut conn.exec(), community, webhook).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// `queued`, `done` or `dead`.
    pub state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event: String,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The newest 200 deliveries of the community (the outbox; `state=dead` for dead letters).
#[utoipa::path(get, path = "/api/v1/communities/{id}/deliveries", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path), DeliveryQuery), responses((status = 200, body = Vec<DeliveryView>), (status = 403, body = Problem)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<axum::Json<Vec<DeliveryView>>, ApiError> {
    let community = gate(&state, &principal, id).await?;
    let wanted = match query.state.as_deref() {
        None => None,
        Some(s @ (jobs::QUEUED | jobs::DONE | jobs::DEAD)) => Some(s),
        Some(_) => {
            return Err(ApiError::InvalidField {
                field: "state",
                message: "state is queued, done or dead".to_owned(),
            });
        }
    };
    let mut conn = state.db.acquire().await?;
    // Jobs carry their community in the payload: read the kind's newest and keep this
    // community's (an outbox view, not a hot path).
    let rows = jobs::list(&mut conn.exec(), WEBHOOK_JOB, wanted, 2_000).await?;
    let views = rows
        .into_iter()
        .filter_map(|job| {
            let d: Delivery = serde_json::from_str(&job.payload).ok()?;
            (d.community_id == community.0).then(|| DeliveryView {
                id: job.id,
                webhook_id: d.webhook_id,
                event: d.event,
                next_attempt_at: (job.state == jobs::QUEUED).then_some(job.run_at),
                state: job.state,
                attempts: job.attempts,
                max_attempts: job.max_attempts,
                last_error: job.last_error,
                created_at: job.created_at,
                finished_at: job.finished_at,
            })
        })
        .take(200)
        .collect();
    Ok(axum::Json(views))
}
