//! Rankings on public notice (公示): the list for the community, one ranking with its
//! masked lines and objections, the objection form for residents, and the answer form
//! for staff.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use linli_domain::auth::Action;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Chrome, PageForm, SignedIn, chrome, home_target, local_time, render, render_with_status,
};
use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::state::AppState;

pub struct ListedRanking {
    pub id: Uuid,
    pub month: String,
    pub open: bool,
}

#[derive(Template)]
#[template(path = "points_rankings.html")]
pub struct RankingsPage {
    pub chrome: Chrome,
    pub rankings: Vec<ListedRanking>,
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_target(&state, &principal).await?;
    let rows = crate::api::rankings::list(
        State(state.clone()),
        principal.clone(),
        ApiQuery(crate::api::rankings::RankingQuery {
            community_id: ctx.community_id,
            grid_id: None,
        }),
    )
    .await?
    .0;
    let now = chrono::Utc::now();
    Ok(render(&RankingsPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/points"),
        rankings: rows
            .into_iter()
            .map(|r| ListedRanking {
                id: r.id,
                month: r.month,
                open: now < r.objections_until,
            })
            .collect(),
    }))
}

pub struct ObjectionLine {
    pub id: Uuid,
    pub line: Option<i64>,
    pub reason: Option<String>,
    pub when: String,
    pub outcome: Option<&'static str>,
    pub answer: Option<String>,
}

#[derive(Template)]
#[template(path = "points_ranking.html")]
pub struct RankingPage {
    pub chrome: Chrome,
    pub view: crate::api::rankings::RankingView,
    pub grid: String,
    pub until: String,
    pub objections: Vec<ObjectionLine>,
    pub can_answer: bool,
    pub error: Option<String>,
}

async fn ranking_page(
    state: &AppState,
    principal: &crate::auth::Principal,
    id: Uuid,
    error: Option<String>,
) -> Result<RankingPage, ApiError> {
    let (target, ctx) = home_target(state, principal).await?;
    let t = Tr::new(principal.locale);
    let view = crate::api::rankings::get(State(state.clone()), principal.clone(), ApiPath(id))
        .await?
        .0;
    let grid = {
        let mut conn = state.db.acquire().await?;
        linli_store::registry::find_grid(&mut conn.exec(), linli_domain::GridId(view.grid_id))
            .await?
            .map(|g| g.code)
            .unwrap_or_default()
    };
    let grid_target = linli_domain::auth::Target {
        grid_id: Some(linli_domain::GridId(view.grid_id)),
        ..target
    };
    let objections = view
        .objections
        .iter()
        .map(|o| ObjectionLine {
            id: o.id,
            line: o.line,
            reason: o.reason.clone(),
            when: local_time(&o.filed_at, &ctx.time_zone),
            outcome: o.outcome.as_deref().map(|x| {
                if x == "upheld" {
                    t.t("points.ranking.upheld")
                } else {
                    t.t("points.ranking.dismissed")
                }
            }),
            answer: o.answer.clone(),
        })
        .collect();
    Ok(RankingPage {
        chrome: chrome(principal, &target, &ctx.community_name, "/points"),
        until: local_time(&view.objections_until, &ctx.time_zone),
        grid,
        objections,
        can_answer: principal.can(Action::PublishRankings, &grid_target),
        view,
        error,
    })
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(render(&ranking_page(&state, &principal, id, None).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectionForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub line: String,
    pub reason: String,
}

pub async fn object(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    ApiPath(id): ApiPath<Uuid>,
    PageForm(form): PageForm<ObjectionForm>,
) -> Result<Response, ApiError> {
    let line = match form.line.trim() {
        "" => None,
        raw => Some(raw.parse::<i64>().map_err(|_| ApiError::InvalidField {
            field: "line",
            message: "line is a number".to_owned(),
        })?),
    };
    let body = crate::api::rankings::ObjectionRequest {
        line,
        reason: form.reason.clone(),
    };
    match crate::api::rankings::object(
        State(state.clone()),
        principal.clone(),
        ApiPath(id),
        ApiJson(body),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/points/rankings/{id}")).into_response()),
        Err(error) => {
            let status = error.status();
            let page = ranking_page(&state, &principal, id, Some(error.to_string())).await?;
            Ok(render_with_status(status, &page))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerForm {
    #[serde(default)]
    pub csrf: String,
    pub ranking: Uuid,
    pub outcome: String,
    pub answer: String,
}

pub async fn answer(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    ApiPath(id): ApiPath<Uuid>,
    PageForm(form): PageForm<AnswerForm>,
) -> Result<Response, ApiError> {
    let body = crate::api::rankings::AnswerRequest {
        outcome: form.outcome.clone(),
        answer: form.answer.clone(),
    };
    match crate::api::rankings::answer(
        State(state.clone()),
        principal.clone(),
        ApiPath(id),
        ApiJson(body),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/points/rankings/{}", form.ranking)).into_response()),
        Err(error) => {
            let status = error.status();
            let page =
                ranking_page(&state, &principal, form.ranking, Some(error.to_string())).await?;
            Ok(render_with_status(status, &page))
        }
    }
}
