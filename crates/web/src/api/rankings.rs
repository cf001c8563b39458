//! Monthly points rankings per grid over JSON: published for public notice (公示) with
//! names masked, open to objections for seven days, every objection answered by staff.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use linli_domain::auth::{Action, Target};
use linli_domain::registry::mask;
use linli_domain::{CommunityId, GridId};
use linli_store::StoreError;
use linli_store::points::rankings::{self, ObjectionRow, RankingRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// How long a published ranking stays open to objections (民发〔2015〕149号: at least 7
/// days of public notice).
pub const OBJECTION_WINDOW: chrono::Duration = chrono::Duration::days(7);
/// Lines per ranking.
pub const RANKING_SIZE: u64 = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicLine {
    pub line: i64,
    pub rank: i64,
    /// Masked: `张*`.
    pub name: String,
    pub points: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectionView {
    pub id: Uuid,
    /// The line objected to, if one.
    pub line: Option<i64>,
    /// Seen by staff and by whoever filed it.
    pub reason: Option<String>,
    pub filed_at: DateTime<Utc>,
    /// `upheld` or `dismissed` once answered.
    pub outcome: Option<String>,
    pub answer: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankingView {
    pub id: Uuid,
    pub grid_id: Uuid,
    pub month: String,
    pub published_at: DateTime<Utc>,
    pub objections_until: DateTime<Utc>,
    pub open_for_objections: bool,
    pub lines: Vec<PublicLine>,
    pub objections: Vec<ObjectionView>,
}

fn grid_target(target: Target, grid: Uuid) -> Target {
    Target {
        grid_id: Some(GridId(grid)),
        ..target
    }
}

/// `YYYY-MM` of a month that is over, as `[from, until)` in the community's time.
fn month_bounds(
    raw: &str,
    time_zone: &str,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let bad = || ApiError::InvalidField {
        field: "month",
        message: "month is YYYY-MM".to_owned(),
    };
    let (y, m) = raw.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .ok_or_else(bad)?;
    let offset = linli_domain::matters::utc_offset(time_zone);
    let at = |d: NaiveDate| {
        offset
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(bad)
    };
    let (from, until) = (at(first)?, at(next)?);
    if until > now {
        return Err(ApiError::Rule {
            field: "month",
            code: "month_not_over",
            message: "a month is ranked once it is over".to_owned(),
        });
    }
    Ok((from, until))
}

fn view(
    row: &RankingRow,
    objections: Vec<ObjectionRow>,
    full: bool,
    me: Uuid,
) -> Result<RankingView, ApiError> {
    let now = Utc::now();
    Ok(RankingView {
        id: row.id,
        grid_id: row.grid_id,
        month: row.month.clone(),
        published_at: row.published_at,
        objections_until: row.objections_until,
        open_for_objections: now < row.objections_until,
        lines: row
            .lines()?
            .into_iter()
            .enumerate()
            .map(|(i, l)| PublicLine {
                line: i as i64 + 1,
                rank: l.rank,
                name: mask::name(&l.name),
                points: l.points,
            })
            .collect(),
        objections: objections
            .into_iter()
            .map(|o| ObjectionView {
                id: o.id,
                line: o.line,
                reason: (full || o.filed_by == me).then_some(o.reason),
                filed_at: o.filed_at,
                outcome: o.outcome,
                answer: o.answer,
                answered_at: o.answered_at,
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub grid_id: Uuid,
    /// A month that is over, `YYYY-MM`.
    pub month: String,
}

/// Publishes a grid's ranking for a month: the top 20 by points earned, names masked,
/// open to objections for 7 days. Once per grid and month.
#[utoipa::path(post, path = "/api/v1/points/rankings", tag = "points", security(("bearer" = [])),
    request_body = PublishRequest,
    responses((status = 201, body = RankingView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<PublishRequest>,
) -> Result<(StatusCode, axum::Json<RankingView>), ApiError> {
    let grid = {
        let mut conn = state.db.acquire().await?;
        linli_store::registry::find_grid(&mut conn.exec(), GridId(body.grid_id)).await?
    }
    .ok_or(ApiError::NotFound)?;
    let community = CommunityId(grid.community_id);
    let (target, ctx) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::PublishRankings,
            &grid_target(target, grid.id),
            Deny::AsNotFound,
        )
        .await?;
    let now = Utc::now();
    let (from, until) = month_bounds(&body.month, &ctx.time_zone, now)?;
    let month = format!(
        "{}",
        from.with_timezone(&linli_domain::matters::utc_offset(&ctx.time_zone))
            .format("%Y-%m")
    );
    let mut tx = state.db.begin().await?;
    let lines = rankings::compute(
        &mut tx.exec(),
        community,
        grid.id,
        from,
        until,
        RANKING_SIZE,
    )
    .await?;
    let id = rankings::publish(
        &mut tx.exec(),
        community,
        grid.id,
        &month,
        &lines,
        principal.account_id,
        now,
        now + OBJECTION_WINDOW,
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict {
            code: "ranking_published",
            message: "this grid's ranking for this month is already published".to_owned(),
        },
        e => e.into(),
    })?;
    let event = principal.success_event(
        community,
        "points_ranking_published",
        "points_ranking",
        id,
        serde_json::json!({ "grid_id": grid.id, "month": month, "lines": lines.len() }),
    );
    linli_store::audit::append(&mut tx.exec(), &event, now).await?;
    let row = rankings::find(&mut tx.exec(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&row, Vec::new(), true, principal.account_id.0)?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RankingQuery {
    pub community_id: Uuid,
    pub grid_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RankingSummary {
    pub id: Uuid,
    pub grid_id: Uuid,
    pub month: String,
    pub published_at: DateTime<Utc>,
    pub objections_until: DateTime<Utc>,
}

/// Published rankings of a community (everyone in it may read them), newest first.
#[utoipa::path(get, path = "/api/v1/points/rankings", tag = "points", security(("bearer" = [])),
    params(RankingQuery),
    responses((status = 200, body = [RankingSummary]), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<RankingQuery>,
) -> Result<axum::Json<Vec<RankingSummary>>, ApiError> {
    let community = CommunityId(query.community_id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let mut conn = state.db.acquire().await?;
    let rows = rankings::list(&mut conn.exec(), community, query.grid_id).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| RankingSummary {
                id: r.id,
                grid_id: r.grid_id,
                month: r.month,
                published_at: r.published_at,
                objections_until: r.objections_until,
            })
            .collect(),
    ))
}

async fn reachable_ranking(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<(RankingRow, Target), ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        rankings::find(&mut conn.exec(), id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let (target, _) = community_target(state, CommunityId(row.community_id)).await?;
    principal
        .authorize(state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let target = grid_target(target, row.grid_id);
    Ok((row, target))
}

/// A published ranking with its objections (their reasons to staff and to whoever filed
/// them).
#[utoipa::path(get, path = "/api/v1/points/rankings/{id}", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RankingView), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<RankingView>, ApiError> {
    let (row, target) = reachable_ranking(&state, &principal, id).await?;
    let full = principal.can(Action::PublishRankings, &target);
    let mut conn = state.db.acquire().await?;
    let objections = rankings::objections(&mut conn.exec(), &row).await?;
    Ok(axum::Json(view(
        &row,
        objections,
        full,
        principal.account_id.0,
    )?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectionRequest {
    /// The line objected to (1-based), if one.
    pub line: Option<i64>,
    /// What is wrong (4 to 200 characters).
    pub reason: String,
}

/// Objects to a ranking while its notice period runs. Anyone who lives or serves in the
/// community may.
#[utoipa::path(post, path = "/api/v1/points/rankings/{id}/objections", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ObjectionRequest,
    responses((status = 201, body = ObjectionView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn object(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ObjectionRequest>,
) -> Result<(StatusCode, axum::Json<ObjectionView>), ApiError> {
    let (row, target) = reachable_ranking(&state, &principal, id).await?;
    principal
        .authorize(&state, Action::ReportMatter, &target, Deny::AsForbidden)
        .await?;
    let reason = crate::api::residents::check_reason(&body.reason)?;
    let lines = row.lines()?.len() as i64;
    if body.line.is_some_and(|l| !(1..=lines).contains(&l)) {
        return Err(ApiError::InvalidField {
            field: "line",
            message: format!("line is 1 to {lines}"),
        });
    }
    let now = Utc::now();
    if now >= row.objections_until {
        return Err(ApiError::Conflict {
            code: "objection_window_closed",
            message: "the notice period for this ranking is over".to_owned(),
        });
    }
    let mut conn = state.db.acquire().await?;
    let o = rankings::object(
        &mut conn.exec(),
        &row,
        body.line,
        &reason,
        principal.account_id,
        now,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ObjectionView {
            id: o.id,
            line: o.line,
            reason: Some(o.reason),
            filed_at: o.filed_at,
            outcome: None,
            answer: None,
            answered_at: None,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// `upheld` (the ranking was wrong; correct the points with a reversal) or
    /// `dismissed`.
    pub outcome: String,
    /// The answer the objector sees (4 to 200 characters).
    pub answer: String,
}

/// Answers an objection, once (audited).
#[utoipa::path(post, path = "/api/v1/points/ranking-objections/{id}/answer", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AnswerRequest,
    responses((status = 200, body = ObjectionView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn answer(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AnswerRequest>,
) -> Result<axum::Json<ObjectionView>, ApiError> {
    let upheld = match body.outcome.as_str() {
        "upheld" => true,
        "dismissed" => false,
        _ => {
            return Err(ApiError::InvalidField {
                field: "outcome",
                message: "outcome is `upheld` or `dismissed`".to_owned(),
            });
        }
    };
    let text = crate::api::residents::check_reason(&body.answer).map_err(|_| ApiError::Rule {
        field: "answer",
        code: "answer_required",
        message: "give an answer of 4 to 200 characters".to_owned(),
    })?;
    let objection = {
        let mut conn = state.db.acquire().await?;
        rankings::find_objection(&mut conn.exec(), id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let (_, target) = reachable_ranking(&state, &principal, objection.ranking_id).await?;
    principal
        .authorize(&state, Action::PublishRankings, &target, Deny::AsNotFound)
        .await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    if !rankings::answer(&mut tx.exec(), id, upheld, &text, principal.account_id, now).await? {
        return Err(ApiError::Conflict {
            code: "objection_answered",
            message: "this objection has already been answered".to_owned(),
        });
    }
    let event = principal.success_event(
        CommunityId(objection.community_id),
        "points_ranking_objection_answered",
        "points_ranking_objection",
        id,
        serde_json::json!({ "outcome": body.outcome }),
    );
    linli_store::audit::append(&mut tx.exec(), &event, now).await?;
    let o = rankings::find_objection(&mut tx.exec(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(axum::Json(ObjectionView {
        id: o.id,
        line: o.line,
        reason: Some(o.reason),
        filed_at: o.filed_at,
        outcome: o.outcome,
        answer: o.answer,
        answered_at: o.answered_at,
    }))
}
