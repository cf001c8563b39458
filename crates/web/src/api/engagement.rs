//! The engagement ladder over JSON: how many residents of each grid are bystanders,
//! participants and volunteers in the current window, and how people moved between
//! stages since the window before. This feeds the outcome dashboard.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::auth::{Action, GridFilter};
use linli_domain::engagement::{Ladder, Stage};
use linli_store::engagement;
use linli_store::registry as grids;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{ApiJson, ApiPath, ApiQuery};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LadderView {
    /// The rolling window, 7 to 730 days.
    pub window_days: i64,
    /// Occasions (council meetings, activities) to count as a participant, at least 1.
    pub participant_occasions: i64,
    /// Verified service minutes to count as a volunteer, at least 1.
    pub volunteer_minutes: i64,
}

impl LadderView {
    /// The thresholds, if each is in range.
    pub fn checked(&self) -> Result<Ladder, ApiError> {
        let bad = |field: &'static str, message: &str| ApiError::InvalidField {
            field,
            message: message.to_owned(),
        };
        if !(7..=730).contains(&self.window_days) {
            return Err(bad("window_days", "window_days is 7 to 730"));
        }
        if self.participant_occasions < 1 {
            return Err(bad(
                "participant_occasions",
                "participant_occasions is at least 1",
            ));
        }
        if self.volunteer_minutes < 1 {
            return Err(bad("volunteer_minutes", "volunteer_minutes is at least 1"));
        }
        Ok(Ladder {
            window_days: self.window_days,
            participant_occasions: self.participant_occasions,
            volunteer_minutes: self.volunteer_minutes,
        })
    }
}

impl From<Ladder> for LadderView {
    fn from(l: Ladder) -> Self {
        LadderView {
            window_days: l.window_days,
            participant_occasions: l.participant_occasions,
            volunteer_minutes: l.volunteer_minutes,
        }
    }
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StageCounts {
    pub bystander: u64,
    pub participant: u64,
    pub volunteer: u64,
}

impl StageCounts {
    fn add(&mut self, stage: Stage) {
        match stage {
            Stage::Bystander => self.bystander += 1,
            Stage::Participant => self.participant += 1,
            Stage::Volunteer => self.volunteer += 1,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GridStages {
    pub grid_id: Option<Uuid>,
    pub grid_code: Option<String>,
    #[serde(flatten)]
    pub counts: StageCounts,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Transition {
    /// `bystander`, `participant` or `volunteer` in the window before.
    pub from: String,
    /// The stage now.
    pub to: String,
    pub residents: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EngagementView {
    pub ladder: LadderView,
    /// The current window is `[window_from, as_of)`; the one before ends where it starts.
    pub as_of: DateTime<Utc>,
    pub window_from: DateTime<Utc>,
    pub previous_from: DateTime<Utc>,
    pub totals: StageCounts,
    pub grids: Vec<GridStages>,
    /// Residents by (stage before, stage now), the stable ones included.
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EngagementQuery {
    /// The end of the current window (default now).
    pub as_of: Option<DateTime<Utc>>,
}

/// Stage counts per grid and transitions since the window before (grid workers: their
/// grids).
#[utoipa::path(get, path = "/api/v1/communities/{id}/engagement", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path), EngagementQuery),
    responses((status = 200, body = EngagementView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn engagement(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<EngagementQuery>,
) -> Result<axum::Json<EngagementView>, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    let filter = principal
        .authorize(&state, Action::ReadPoints, &target, Deny::AsForbidden)
        .await?;
    let as_of = query.as_of.unwrap_or_else(Utc::now);
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let ladder = engagement::ladder(&mut ex, community).await?;
    let window = chrono::Duration::days(ladder.window_days);
    let (window_from, previous_from) = (as_of - window, as_of - window - window);
    let now = engagement::activity(&mut ex, community, window_from, as_of).await?;
    let before = engagement::activity(&mut ex, community, previous_from, window_from).await?;
    let codes: HashMap<Uuid, String> = grids::list_grids(&mut ex, community, &filter)
        .await?
        .into_iter()
        .map(|g| (g.id, g.code))
        .collect();
    let visible = |grid: Option<Uuid>| match &filter {
        GridFilter::All => true,
        GridFilter::Only(_) => grid.is_some_and(|g| codes.contains_key(&g)),
    };
    let mut per_grid: BTreeMap<Option<String>, (Option<Uuid>, StageCounts)> = BTreeMap::new();
    let mut totals = StageCounts::default();
    let mut moves: BTreeMap<(Stage, Stage), u64> = BTreeMap::new();
    for (resident, grid) in engagement::residents_by_grid(&mut ex, community).await? {
        if !visible(grid) {
            continue;
        }
        let stage = ladder.stage(now.get(&resident).copied().unwrap_or_default());
        let earlier = ladder.stage(before.get(&resident).copied().unwrap_or_default());
        let code = grid.and_then(|g| codes.get(&g).cloned());
        per_grid
            .entry(code)
            .or_insert_with(|| (grid, StageCounts::default()))
            .1
            .add(stage);
        totals.add(stage);
        *moves.entry((earlier, stage)).or_default() += 1;
    }
    Ok(axum::Json(EngagementView {
        ladder: ladder.into(),
        as_of,
        window_from,
        previous_from,
        totals,
        grids: per_grid
            .into_iter()
            .map(|(grid_code, (grid_id, counts))| GridStages {
                grid_id,
                grid_code,
                counts,
            })
            .collect(),
        transitions: moves
            .into_iter()
            .map(|((from, to), residents)| Transition {
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                residents,
            })
            .collect(),
    }))
}

/// Sets the ladder's thresholds (community administrators; audited).
#[utoipa::path(put, path = "/api/v1/communities/{id}/engagement-ladder", tag = "points", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = LadderView,
    responses((status = 200, body = LadderView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_ladder(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<LadderView>,
) -> Result<axum::Json<LadderView>, ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(
            &state,
            Action::ManagePointsRules,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    let ladder = body.checked()?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    engagement::put_ladder(
        &mut tx.exec(),
        community,
        &ladder,
        principal.account_id,
        now,
    )
    .await?;
    let event = principal.success_event(
        community,
        "engagement_ladder_changed",
        "community",
        community.0,
        serde_json::to_value(body).map_err(ApiError::internal)?,
    );
    linli_store::audit::append(&mut tx.exec(), &event, now).await?;
    tx.commit().await?;
    Ok(axum::Json(body))
}
