//! Matters over JSON: report, list and search, read with the timeline, take steps, and the
//! catalogue, calendar and settings behind them.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use linli_domain::auth::Action;
use linli_domain::matters::search::query_terms;
use linli_domain::matters::{
    self as rules, DayKind, DispatchTarget, MatterClass, MatterRuleError, MatterSource,
    MatterStatus, ReferralKind, RejectReason, Step, SuperviseLevel, TimeLimit, TimeUnit,
    TriageAnswers, available_steps, propose_class,
};
use linli_domain::{BuildingId, CommunityId, GridId, ResidentId};
use linli_store::matters::calendar::{self as cal, Settings};
use linli_store::matters::categories::{self, CategoryRow, NewCategory};
use linli_store::matters::inbox::{self, NotificationRow};
use linli_store::matters::{self, EventRow, MatterFilter, MatterRow, MatterSummaryRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::json_time;
use crate::api::registry::{page_of, page_request};
use crate::api::residents::expected_version;
use crate::api::{ApiJson, ApiPath, ApiQuery, Page};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::matters::{self as service, Location, Report, facts_of};
use crate::state::AppState;

// ---------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize, ToSchema)]
pub struct MatterView {
    pub id: Uuid,
    pub community_id: Uuid,
    /// Short number to quote on the phone, e.g. `20261130-7KX2QD`.
    pub number: String,
    pub category_id: Uuid,
    pub grid_id: Option<Uuid>,
    pub building_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub source: String,
    pub status: String,
    pub class: Option<String>,
    pub proposed_class: Option<String>,
    pub place: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub handler_kind: Option<String>,
    pub handler_id: Option<Uuid>,
    pub referral_kind: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub supervise_level: String,
    /// An extension asked for and not decided yet.
    pub extension_requested_until: Option<DateTime<Utc>>,
    pub rating: Option<i32>,
    pub reopen_count: i32,
    /// Send it back as `If-Match` with the next step.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The resident who raised it (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter_resident_id: Option<Uuid>,
}

impl MatterView {
    pub fn new(row: MatterRow, staff_view: bool) -> MatterView {
        MatterView {
            id: row.id,
            community_id: row.community_id,
            number: row.number,
            category_id: row.category_id,
            grid_id: row.grid_id,
            building_id: row.building_id,
            title: row.title,
            description: row.description,
            source: row.source,
            status: row.status,
            class: row.class,
            proposed_class: row.proposed_class,
            place: row.place,
            latitude: row.latitude,
            longitude: row.longitude,
            handler_kind: row.handler_kind,
            handler_id: if staff_view { row.handler_id } else { None },
            referral_kind: row.referral_kind,
            due_at: row.due_at,
            supervise_level: row.supervise_level,
            extension_requested_until: row.extension_until,
            rating: row.rating,
            reopen_count: row.reopen_count,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            closed_at: row.closed_at,
            reporter_resident_id: if staff_view {
                row.reporter_resident_id
            } else {
                None
            },
        }
    }
}

/// One matter in a list: what a queue or search result shows. The description, place,
/// reporter and the rest are on the matter's own page (`GET /api/v1/matters/{id}`); a
/// list of fifty whole matters is several times the bytes, and list pages are the
/// busiest reads there are.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatterSummary {
    pub id: Uuid,
    /// Short number to quote on the phone, e.g. `20261130-7KX2QD`.
    pub number: String,
    pub title: String,
    pub category_id: Uuid,
    pub grid_id: Option<Uuid>,
    pub status: String,
    pub class: Option<String>,
    pub handler_kind: Option<String>,
    #[serde(serialize_with = "json_time::option::serialize")]
    pub due_at: Option<DateTime<Utc>>,
    pub supervise_level: String,
    pub rating: Option<i32>,
    /// Send it back as `If-Match` with the next step.
    pub version: i64,
    #[serde(serialize_with = "json_time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "json_time::serialize")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "json_time::option::serialize")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl MatterSummary {
    pub fn new(row: MatterSummaryRow) -> MatterSummary {
        MatterSummary {
            id: row.id,
            number: row.number,
            title: row.title,
            category_id: row.category_id,
            grid_id: row.grid_id,
            status: row.status,
            class: row.class,
            handler_kind: row.handler_kind,
            due_at: row.due_at,
            supervise_level: row.supervise_level,
            rating: row.rating,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            closed_at: row.closed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub step: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub comment: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// Who took the step (staff see the account; a resident sees only whether it was them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_account_id: Option<Uuid>,
    pub by_me: bool,
    /// Taken by the system (escalation).
    pub automatic: bool,
}

fn event_view(e: EventRow, me: Uuid, staff_view: bool) -> EventView {
    EventView {
        seq: e.seq,
        at: e.at,
        step: e.step,
        from_status: e.from_status,
        to_status: e.to_status,
        comment: e.comment,
        detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
        actor_account_id: if staff_view { e.actor_account_id } else { None },
        by_me: e.actor_account_id == Some(me),
        automatic: e.actor_account_id.is_none(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatterDetail {
    pub matter: MatterView,
    pub timeline: Vec<EventView>,
    /// The steps the caller may take now.
    pub available_steps: Vec<&'static str>,
    pub photos: Vec<crate::api::photos::PhotoView>,
}

// ---------------------------------------------------------------------------------------
// Report

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LocationInput {
    Building { building_id: Uuid },
    Place { place: String },
    Point { latitude: f64, longitude: f64 },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// Defaults to the caller's own community.
    pub community_id: Option<Uuid>,
    pub category_id: Uuid,
    /// 2 to 60 characters; the description's start when left out.
    pub title: Option<String>,
    /// 5 to 2,000 characters.
    pub description: String,
    pub location: Option<LocationInput>,
    /// The class the reporter thinks it is (`major`, `minor`, `private`).
    pub proposed_class: Option<String>,
    /// `resident_app` (default) for one's own report; staff entering a matter on someone's
    /// behalf give `walk_in`, `phone`, `grid_patrol`, `hotline_12345` or `council`.
    pub source: Option<String>,
    /// Staff: the resident the matter is entered for.
    pub on_behalf_of: Option<Uuid>,
}

fn parse_class(field: &'static str, raw: Option<&str>) -> Result<Option<MatterClass>, ApiError> {
    raw.map(|c| MatterClass::parse(c).map_err(|e| ApiError::matter(field, e)))
        .transpose()
}

/// The community a request is about: the one named, else the caller's own.
fn community_of(principal: &Principal, given: Option<Uuid>) -> Result<CommunityId, ApiError> {
    given
        .map(CommunityId)
        .or_else(|| principal.default_community())
        .ok_or(ApiError::InvalidField {
            field: "community_id",
            message: "name the community".to_owned(),
        })
}

/// Raise a matter: a resident from their phone, or staff on a resident's behalf.
#[utoipa::path(post, path = "/api/v1/matters", tag = "matters", security(("bearer" = [])),
    request_body = ReportRequest,
    responses((status = 201, body = MatterView), (status = 422, body = Problem)))]
pub async fn report(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ReportRequest>,
) -> Result<(StatusCode, axum::Json<MatterView>), ApiError> {
    let source = match body.source.as_deref() {
        None => MatterSource::ResidentApp,
        Some(s) => MatterSource::parse(s).map_err(|e| ApiError::matter("source", e))?,
    };
    if source == MatterSource::Open311 {
        return Err(ApiError::matter(
            "source",
            MatterRuleError::UnknownValue {
                field: "source",
                value: "open311".to_owned(),
            },
        ));
    }
    if body.on_behalf_of.is_some() && !source.is_on_behalf() {
        return Err(ApiError::Rule {
            field: "source",
            code: "source_required",
            message: "say how the matter came in (walk_in, phone, grid_patrol …) when entering it for someone".to_owned(),
        });
    }
    let location = match body.location {
        None => Location::Unknown,
        Some(LocationInput::Building { building_id }) => {
            Location::Building(BuildingId(building_id))
        }
        Some(LocationInput::Place { place }) => Location::Place(place),
        Some(LocationInput::Point {
            latitude,
            longitude,
        }) => Location::Point {
            latitude,
            longitude,
        },
    };
    let report = Report {
        community: community_of(&principal, body.community_id)?,
        category_id: body.category_id,
        title: body.title,
        description: body.description,
        location,
        proposed_class: parse_class("proposed_class", body.proposed_class.as_deref())?,
        source,
        on_behalf_of: body.on_behalf_of.map(ResidentId),
        contact: None,
    };
    let row = service::report(&state, &principal, report).await?;
    let staff_view = source.is_on_behalf();
    Ok((
        StatusCode::CREATED,
        axum::Json(MatterView::new(row, staff_view)),
    ))
}

// ---------------------------------------------------------------------------------------
// Read

/// One matter with its timeline and the steps the caller may take.
#[utoipa::path(get, path = "/api/v1/matters/{id}", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = MatterDetail), (status = 404, body = Problem)))]
pub async fn get_matter(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<MatterDetail>, ApiError> {
    Ok(axum::Json(detail(&state, &principal, id).await?))
}

pub async fn detail(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<MatterDetail, ApiError> {
    let access = service::access(state, principal, id).await?;
    let facts = facts_of(&access.row)?;
    let (events, photos) = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        let community = CommunityId(access.row.community_id);
        (
            matters::timeline(&mut ex, community, id).await?,
            linli_store::matters::photos::photos_of(&mut ex, community, id).await?,
        )
    };
    let me = principal.account_id.0;
    Ok(MatterDetail {
        available_steps: available_steps(&facts, &access.capacities),
        timeline: events
            .into_iter()
            .map(|e| event_view(e, me, access.staff_view))
            .collect(),
        photos: photos
            .into_iter()
            .map(|p| crate::api::photos::photo_view(p, access.staff_view))
            .collect(),
        matter: MatterView::new(access.row, access.staff_view),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MatterQuery {
    /// Comma-separated statuses (e.g. `reported,accepted`).
    pub status: Option<String>,
    pub class: Option<String>,
    /// A category id; a top-level category includes its leaves.
    pub category: Option<Uuid>,
    pub grid: Option<Uuid>,
    /// A staff record or grid group the matters are dispatched to.
    pub assignee: Option<Uuid>,
    /// Only running matters past their due time.
    pub overdue: Option<bool>,
    /// Comma-separated supervision levels (`normal,yellow,red`).
    pub supervise: Option<String>,
    /// Reported on or after this day (community time).
    pub from: Option<NaiveDate>,
    /// Reported on or before this day.
    pub to: Option<NaiveDate>,
    /// Words from the title or description.
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

fn parse_list<T>(
    raw: Option<&str>,
    field: &'static str,
    parse: impl Fn(&str) -> Result<T, MatterRuleError>,
) -> Result<Vec<T>, ApiError> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse(s).map_err(|e| ApiError::matter(field, e)))
        .collect()
}

/// Start of a local day as UTC.
fn day_start(day: NaiveDate, time_zone: &str) -> DateTime<Utc> {
    let offset = rules::utc_offset(time_zone);
    (day.and_hms_opt(0, 0, 0).expect("midnight")
        - chrono::Duration::seconds(i64::from(offset.local_minus_utc())))
    .and_utc()
}

async fn filter_of(
    state: &AppState,
    community: CommunityId,
    time_zone: &str,
    q: &MatterQuery,
) -> Result<MatterFilter, ApiError> {
    let mut categories = Vec::new();
    if let Some(c) = q.category {
        let mut conn = state.db.acquire().await?;
        let all = categories::list_categories(&mut conn.exec(), community).await?;
        if !all.iter().any(|row| row.id == c) {
            return Err(ApiError::matter(
                "category",
                MatterRuleError::UnknownValue {
                    field: "category",
                    value: c.to_string(),
                },
            ));
        }
        categories.push(c);
        categories.extend(
            all.iter()
                .filter(|row| row.parent_id == Some(c))
                .map(|row| row.id),
        );
    }
    let terms = match q.q.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(text) => {
            let terms = query_terms(text);
            if terms.is_empty() {
                return Err(ApiError::InvalidField {
                    field: "q",
                    message: "the search holds no letters, digits or characters".to_owned(),
                });
            }
            terms
        }
    };
    Ok(MatterFilter {
        statuses: parse_list(q.status.as_deref(), "status", MatterStatus::parse)?,
        class: parse_class("class", q.class.as_deref())?,
        categories,
        grid: q.grid.map(GridId),
        handler_id: q.assignee,
        reporter: None,
        overdue_at: q.overdue.unwrap_or(false).then(Utc::now),
        supervise_levels: parse_list(q.supervise.as_deref(), "supervise", SuperviseLevel::parse)?,
        created_from: q.from.map(|d| day_start(d, time_zone)),
        created_before: q
            .to
            .and_then(|d| d.succ_opt())
            .map(|d| day_start(d, time_zone)),
        terms,
    })
}

/// Matters of a community, newest first; grid workers see their grids'.
#[utoipa::path(get, path = "/api/v1/communities/{id}/matters", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path), MatterQuery),
    responses((status = 200, body = Page<MatterSummary>), (status = 403, body = Problem)))]
///
/// The answer depends only on the query and the caller's grids, so it is shared between
/// callers through `AppState::matter_lists` (see `cache::AnswerCache` for when it is read
/// again).
pub async fn list_matters(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    RawQuery(raw): RawQuery,
    ApiQuery(query): ApiQuery<MatterQuery>,
) -> Result<Response, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let (target, ctx) = community_target(&state, CommunityId(id)).await?;
    let grids = principal
        .authorize(&state, Action::ReadMatters, &target, Deny::AsForbidden)
        .await?;
    let key = format!("{id}|{grids:?}|{}", raw.unwrap_or_default());
    let body = state
        .matter_lists
        .get_or_read(key, || async {
            let filter = filter_of(&state, CommunityId(id), &ctx.time_zone, &query).await?;
            let rows = matters::list_matters_pooled(
                &state.db,
                CommunityId(id),
                &grids,
                &filter,
                page,
                page.after.is_none(),
            )
            .await?;
            json_bytes(&page_of(rows, MatterSummary::new))
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A JSON body serialised once, to be kept and sent as it is.
fn json_bytes(value: &impl Serialize) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MyMattersQuery {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// The matters the caller raised, newest first.
#[utoipa::path(get, path = "/api/v1/me/matters", tag = "matters", security(("bearer" = [])),
    params(MyMattersQuery), responses((status = 200, body = Page<MatterSummary>)))]
pub async fn my_matters(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<MyMattersQuery>,
) -> Result<axum::Json<Page<MatterSummary>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let Some(community) = principal.default_community() else {
        return Ok(axum::Json(Page::whole(Vec::new())));
    };
    let filter = MatterFilter {
        reporter: Some(principal.account_id),
        ..MatterFilter::default()
    };
    let rows = matters::list_matters_pooled(
        &state.db,
        community,
        &linli_domain::auth::GridFilter::All,
        &filter,
        page,
        page.after.is_none(),
    )
    .await?;
    Ok(axum::Json(page_of(rows, MatterSummary::new)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountView {
    pub grid_id: Option<Uuid>,
    pub status: String,
    pub class: Option<String>,
    pub count: i64,
}

/// Matters counted by grid, status and class (the triage board and the dashboard).
#[utoipa::path(get, path = "/api/v1/communities/{id}/matter-counts", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<CountView>), (status = 403, body = Problem)))]
pub async fn matter_counts(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Vec<CountView>>, ApiError> {
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    let grids = principal
        .authorize(&state, Action::ReadMatters, &target, Deny::AsForbidden)
        .await?;
    let mut conn = state.db.acquire().await?;
    let rows = matters::counts(&mut conn.exec(), CommunityId(id), &grids).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| CountView {
                grid_id: r.grid_id,
                status: r.status,
                class: r.class,
                count: r.n,
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------
// Steps

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    /// `grid_worker`, `grid_group`, `office` or `subdistrict`.
    pub kind: String,
    /// The staff record or grid group; none for the office or subdistrict.
    pub id: Option<Uuid>,
}

/// One workflow step. `step` names it; the other fields are what that step carries.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepRequest {
    Accept {},
    Reject {
        /// `duplicate` or `invalid`.
        reason: String,
        duplicate_of: Option<Uuid>,
        comment: Option<String>,
    },
    Withdraw {
        comment: Option<String>,
    },
    Triage {
        class: String,
    },
    Reclassify {
        class: String,
        reason: String,
    },
    Refer {
        /// `partner`, `mediation` or `self_help`.
        kind: String,
        guidance: String,
    },
    Register {},
    Dispatch {
        target: TargetInput,
    },
    Sign {},
    Return {
        reason: String,
    },
    Feedback {
        comment: String,
    },
    HandleOnSite {
        comment: String,
    },
    Verify {
        passed: bool,
        comment: Option<String>,
    },
    Rate {
        /// 1 (very dissatisfied) to 5 (very satisfied).
        rating: i64,
        comment: Option<String>,
    },
    Reopen {
        reason: String,
    },
    RequestExtension {
        until: DateTime<Utc>,
        reason: String,
    },
    DecideExtension {
        approve: bool,
        comment: Option<String>,
    },
    Shelve {
        reason: String,
    },
    Reactivate {
        comment: Option<String>,
    },
    Supervise {
        comment: Option<String>,
    },
    Comment {
        text: String,
    },
}

fn comment(raw: Option<String>) -> Result<String, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    rules::clean_text(&raw, 1, 2000)
        .ok_or_else(|| ApiError::matter("comment", MatterRuleError::CommentTooLong))
}

fn reason(field: &'static str, raw: &str) -> Result<String, ApiError> {
    rules::reason(raw).map_err(|e| ApiError::matter(field, e))
}

impl StepRequest {
    /// The domain step, its free text checked.
    pub fn into_step(self) -> Result<Step, ApiError> {
        Ok(match self {
            StepRequest::Accept {} => Step::Accept,
            StepRequest::Reject {
                reason,
                duplicate_of,
                comment: c,
            } => Step::Reject {
                reason: RejectReason::parse(&reason).map_err(|e| ApiError::matter("reason", e))?,
                duplicate_of,
                comment: comment(c)?,
            },
            StepRequest::Withdraw { comment: c } => Step::Withdraw {
                comment: comment(c)?,
            },
            StepRequest::Triage { class } => Step::Triage {
                class: MatterClass::parse(&class).map_err(|e| ApiError::matter("class", e))?,
            },
            StepRequest::Reclassify { class, reason: r } => Step::Reclassify {
                class: MatterClass::parse(&class).map_err(|e| ApiError::matter("class", e))?,
                reason: reason("reason", &r)?,
            },
            StepRequest::Refer { kind, guidance } => Step::Refer {
                kind: ReferralKind::parse(&kind).map_err(|e| ApiError::matter("kind", e))?,
                guidance: reason("guidance", &guidance)?,
            },
            StepRequest::Register {} => Step::Register,
            StepRequest::Dispatch { target } => Step::Dispatch {
                target: DispatchTarget {
                    kind: rules::HandlerKind::parse(&target.kind)
                        .map_err(|e| ApiError::matter("target.kind", e))?,
                    id: target.id,
                },
            },
            StepRequest::Sign {} => Step::Sign,
            StepRequest::Return { reason: r } => Step::Return {
                reason: reason("reason", &r)?,
            },
            StepRequest::Feedback { comment: c } => Step::Feedback {
                comment: reason("comment", &c)?,
            },
            StepRequest::HandleOnSite { comment: c } => Step::HandleOnSite {
                comment: reason("comment", &c)?,
            },
            StepRequest::Verify { passed, comment: c } => Step::Verify {
                passed,
                comment: comment(c)?,
            },
            StepRequest::Rate { rating, comment: c } => Step::Rate {
                rating: u8::try_from(rating)
                    .ok()
                    .filter(|r| (1..=5).contains(r))
                    .ok_or_else(|| ApiError::matter("rating", MatterRuleError::RatingRange))?,
                comment: comment(c)?,
            },
            StepRequest::Reopen { reason: r } => Step::Reopen {
                reason: reason("reason", &r)?,
            },
            StepRequest::RequestExtension { until, reason: r } => Step::RequestExtension {
                until,
                reason: reason("reason", &r)?,
            },
            StepRequest::DecideExtension {
                approve,
                comment: c,
            } => Step::DecideExtension {
                approve,
                comment: comment(c)?,
            },
            StepRequest::Shelve { reason: r } => Step::Shelve {
                reason: reason("reason", &r)?,
            },
            StepRequest::Reactivate { comment: c } => Step::Reactivate {
                comment: comment(c)?,
            },
            StepRequest::Supervise { comment: c } => Step::Supervise {
                comment: comment(c)?,
            },
            StepRequest::Comment { text } => Step::Comment {
                text: rules::clean_text(&text, 1, 2000)
                    .ok_or_else(|| ApiError::matter("text", MatterRuleError::CommentTooLong))?,
            },
        })
    }
}

/// Takes one step. Send `If-Match` with the version you read: a step taken meanwhile by
/// someone else answers 412 and changes nothing; a step the state does not allow answers
/// 409 `illegal_transition` with `current_status`.
#[utoipa::path(post, path = "/api/v1/matters/{id}/steps", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = StepRequest,
    responses((status = 200, body = MatterDetail), (status = 409, body = Problem),
        (status = 412, body = Problem), (status = 428, body = Problem)))]
pub async fn take_step(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StepRequest>,
) -> Result<axum::Json<MatterDetail>, ApiError> {
    let version = expected_version(&headers)?;
    let step = body.into_step()?;
    service::take_step(&state, &principal, id, version, step).await?;
    Ok(axum::Json(detail(&state, &principal, id).await?))
}

// ---------------------------------------------------------------------------------------
// Triage helper

/// The helper's questions; unanswered counts as "no".
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersInput {
    /// Touches public space, common property, a whole building or several households.
    #[serde(default)]
    pub public_or_shared: bool,
    /// Needs administrative power, law enforcement or public money.
    #[serde(default)]
    pub needs_public_power: bool,
    /// A dispute between households or people.
    #[serde(default)]
    pub dispute: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    pub category_id: Uuid,
    pub answers: Option<AnswersInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalView {
    pub class: &'static str,
    /// Which rule decided: `public_power`, `public_or_shared`, `one_household`,
    /// `category_default`.
    pub rule: &'static str,
    pub suggest_mediation: bool,
}

/// Proposes a class from a category and the helper's questions.
#[utoipa::path(post, path = "/api/v1/communities/{id}/triage-proposals", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ProposalRequest,
    responses((status = 200, body = ProposalView), (status = 422, body = Problem)))]
pub async fn propose(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ProposalRequest>,
) -> Result<axum::Json<ProposalView>, ApiError> {
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let category = service::reportable_category(&state, CommunityId(id), body.category_id).await?;
    let default = MatterClass::parse(&category.default_class).map_err(ApiError::internal_rule)?;
    let answers = body.answers.map(|a| TriageAnswers {
        public_or_shared: a.public_or_shared,
        needs_public_power: a.needs_public_power,
        dispute: a.dispute,
    });
    let p = propose_class(default, answers.as_ref());
    Ok(axum::Json(ProposalView {
        class: p.class.as_str(),
        rule: p.rule,
        suggest_mediation: p.suggest_mediation,
    }))
}

impl ApiError {
    fn internal_rule(e: MatterRuleError) -> ApiError {
        ApiError::internal(anyhow::anyhow!("stored value is invalid: {e}"))
    }
}

// ---------------------------------------------------------------------------------------
// Catalogue

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    pub id: Uuid,
    pub code: String,
    pub parent_id: Option<Uuid>,
    pub name_zh: String,
    pub name_en: String,
    pub default_class: String,
    pub time_limit: i32,
    /// `hours` (working hours) or `days` (working days).
    pub time_unit: String,
    pub active: bool,
}

impl From<CategoryRow> for CategoryView {
    fn from(c: CategoryRow) -> Self {
        CategoryView {
            id: c.id,
            code: c.code,
            parent_id: c.parent_id,
            name_zh: c.name_zh,
            name_en: c.name_en,
            default_class: c.default_class,
            time_limit: c.time_limit,
            time_unit: c.time_unit,
            active: c.active,
        }
    }
}

/// The community's category catalogue (everyone in the community reads it to report).
#[utoipa::path(get, path = "/api/v1/communities/{id}/matter-categories", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<CategoryView>), (status = 404, body = Problem)))]
pub async fn list_categories(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Vec<CategoryView>>, ApiError> {
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    let mut conn = state.db.acquire().await?;
    let rows = categories::list_categories(&mut conn.exec(), CommunityId(id)).await?;
    Ok(axum::Json(
        rows.into_iter().map(CategoryView::from).collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    /// 2 to 16 letters, digits, `-` or `_`; unique in the community.
    pub code: String,
    /// The top-level category this one belongs to; none for a top-level category.
    pub parent_id: Option<Uuid>,
    pub name_zh: String,
    pub name_en: String,
    pub default_class: String,
    pub time_limit: i64,
    pub time_unit: String,
    /// Offered to reporters (default true).
    pub active: Option<bool>,
}

struct CheckedCategory {
    code: String,
    category: NewCategory,
    active: bool,
}

fn check_category(body: CategoryRequest) -> Result<CheckedCategory, ApiError> {
    let code = body.code.trim().to_owned();
    let code_ok = (2..=16).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !code_ok {
        return Err(ApiError::matter("code", MatterRuleError::CategoryCode));
    }
    let name = |field, raw: &str| {
        rules::clean_text(raw, 1, 40).ok_or(ApiError::InvalidField {
            field,
            message: "a name has 1 to 40 characters".to_owned(),
        })
    };
    let unit = TimeUnit::parse(&body.time_unit).map_err(|e| ApiError::matter("time_unit", e))?;
    let limit =
        TimeLimit::new(body.time_limit, unit).map_err(|e| ApiError::matter("time_limit", e))?;
    let class = MatterClass::parse(&body.default_class)
        .map_err(|e| ApiError::matter("default_class", e))?;
    Ok(CheckedCategory {
        category: NewCategory {
            id: Uuid::now_v7(),
            code: code.clone(),
            parent_id: body.parent_id,
            name_zh: name("name_zh", &body.name_zh)?,
            name_en: name("name_en", &body.name_en)?,
            default_class: class.as_str(),
            time_limit: i32::from(limit.amount),
            time_unit: limit.unit.as_str(),
            position: 10_000,
        },
        code,
        active: body.active.unwrap_or(true),
    })
}

async fn settings_gate(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<String, ApiError> {
    let (target, ctx) = community_target(state, CommunityId(id)).await?;
    principal
        .authorize(
            state,
            Action::ManageMatterSettings,
            &target,
            Deny::AsForbidden,
        )
        .await?;
    Ok(ctx.time_zone)
}

/// Adds a category to the catalogue.
#[utoipa::path(post, path = "/api/v1/communities/{id}/matter-categories", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CategoryRequest,
    responses((status = 201, body = CategoryView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_category(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CategoryRequest>,
) -> Result<(StatusCode, axum::Json<CategoryView>), ApiError> {
    settings_gate(&state, &principal, id).await?;
    let checked = check_category(body)?;
    let community = CommunityId(id);
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    if let Some(parent) = checked.category.parent_id {
        let p = categories::find_category(&mut ex, community, parent).await?;
        if p.is_none_or(|p| p.parent_id.is_some()) {
            return Err(ApiError::Rule {
                field: "parent_id",
                code: "unknown_parent",
                message: "the parent must be a top-level category of this community".to_owned(),
            });
        }
    }
    if categories::find_category_by_code(&mut ex, community, &checked.code)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "category_code_taken",
            message: "another category has this code".to_owned(),
        });
    }
    categories::insert_category(&mut ex, community, &checked.category, Utc::now()).await?;
    let row = categories::find_category(&mut ex, community, checked.category.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    state.catalogues.invalidate(&community.0);
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// Changes a category's names, class, time limit or whether it is offered (its code and
/// parent stay: matters already filed under it keep their meaning).
#[utoipa::path(put, path = "/api/v1/communities/{id}/matter-categories/{category_id}", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("category_id" = Uuid, Path)), request_body = CategoryRequest,
    responses((status = 200, body = CategoryView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_category(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, category_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<CategoryRequest>,
) -> Result<axum::Json<CategoryView>, ApiError> {
    settings_gate(&state, &principal, id).await?;
    let checked = check_category(body)?;
    let community = CommunityId(id);
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    let existing = categories::find_category(&mut ex, community, category_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if existing.code != checked.code || existing.parent_id != checked.category.parent_id {
        return Err(ApiError::Rule {
            field: "code",
            code: "category_identity_fixed",
            message: "a category's code and parent cannot change".to_owned(),
        });
    }
    categories::update_category(
        &mut ex,
        community,
        category_id,
        &checked.category,
        checked.active,
    )
    .await?;
    let row = categories::find_category(&mut ex, community, category_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    state.catalogues.invalidate(&community.0);
    Ok(axum::Json(row.into()))
}

// ---------------------------------------------------------------------------------------
// Calendar and settings

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarDayView {
    pub day: NaiveDate,
    /// `holiday` or `workday` (a make-up working day).
    pub kind: String,
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarView {
    /// Office hours, e.g. `09:00-12:00,14:00-18:00`.
    pub working_hours: String,
    pub yellow_after_days: i32,
    pub red_after_days: i32,
    /// Exceptions to the Monday-to-Friday week.
    pub days: Vec<CalendarDayView>,
}

async fn calendar_view(state: &AppState, community: CommunityId) -> Result<CalendarView, ApiError> {
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let s = cal::settings(&mut ex, community).await?;
    let days = cal::days(&mut ex, community).await?;
    Ok(CalendarView {
        working_hours: cal::format_hours(&s.working_hours),
        yellow_after_days: s.yellow_after_days,
        red_after_days: s.red_after_days,
        days: days
            .into_iter()
            .map(|d| CalendarDayView {
                day: d.day,
                kind: d.kind,
                note: d.note,
            })
            .collect(),
    })
}

/// The working calendar: office hours, supervision ladder and holiday exceptions.
#[utoipa::path(get, path = "/api/v1/communities/{id}/calendar", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = CalendarView), (status = 404, body = Problem)))]
pub async fn get_calendar(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<CalendarView>, ApiError> {
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    principal
        .authorize(&state, Action::ReadCommunity, &target, Deny::AsNotFound)
        .await?;
    Ok(axum::Json(calendar_view(&state, CommunityId(id)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    pub working_hours: String,
    pub yellow_after_days: i32,
    pub red_after_days: i32,
}

/// Sets office hours and the supervision ladder (deadlines already running keep theirs).
#[utoipa::path(put, path = "/api/v1/communities/{id}/calendar", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SettingsRequest,
    responses((status = 200, body = CalendarView), (status = 422, body = Problem)))]
pub async fn set_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SettingsRequest>,
) -> Result<axum::Json<CalendarView>, ApiError> {
    settings_gate(&state, &principal, id).await?;
    let hours = cal::parse_hours(&body.working_hours).ok_or(ApiError::Rule {
        field: "working_hours",
        code: "working_hours_format",
        message: "office hours are ordered HH:MM-HH:MM intervals separated by commas".to_owned(),
    })?;
    if !(1..=30).contains(&body.yellow_after_days)
        || !(body.yellow_after_days + 1..=60).contains(&body.red_after_days)
    {
        return Err(ApiError::Rule {
            field: "red_after_days",
            code: "ladder_order",
            message: "a yellow card comes 1 to 30 working days after the due time, a red card later (up to 60)".to_owned(),
        });
    }
    let s = Settings {
        working_hours: hours,
        yellow_after_days: body.yellow_after_days,
        red_after_days: body.red_after_days,
    };
    let mut conn = state.db.acquire().await?;
    cal::save_settings(&mut conn.exec(), CommunityId(id), &s, Utc::now()).await?;
    drop(conn);
    Ok(axum::Json(calendar_view(&state, CommunityId(id)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayRequest {
    /// `holiday` or `workday`.
    pub kind: String,
    pub note: Option<String>,
}

/// Marks a day as a public holiday or a make-up working day.
#[utoipa::path(put, path = "/api/v1/communities/{id}/calendar/{day}", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("day" = NaiveDate, Path)), request_body = DayRequest,
    responses((status = 200, body = CalendarView), (status = 422, body = Problem)))]
pub async fn set_day(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, day)): ApiPath<(Uuid, NaiveDate)>,
    ApiJson(body): ApiJson<DayRequest>,
) -> Result<axum::Json<CalendarView>, ApiError> {
    settings_gate(&state, &principal, id).await?;
    let kind = DayKind::parse(&body.kind).map_err(|e| ApiError::matter("kind", e))?;
    let note = rules::clean_text(body.note.as_deref().unwrap_or(""), 0, 60).ok_or(
        ApiError::InvalidField {
            field: "note",
            message: "a note has at most 60 characters".to_owned(),
        },
    )?;
    let mut conn = state.db.acquire().await?;
    cal::set_day(&mut conn.exec(), CommunityId(id), day, kind, &note).await?;
    drop(conn);
    Ok(axum::Json(calendar_view(&state, CommunityId(id)).await?))
}

/// Returns a day to the ordinary week.
#[utoipa::path(delete, path = "/api/v1/communities/{id}/calendar/{day}", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("day" = NaiveDate, Path)),
    responses((status = 200, body = CalendarView), (status = 404, body = Problem)))]
pub async fn clear_day(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, day)): ApiPath<(Uuid, NaiveDate)>,
) -> Result<axum::Json<CalendarView>, ApiError> {
    settings_gate(&state, &principal, id).await?;
    let mut conn = state.db.acquire().await?;
    if !cal::clear_day(&mut conn.exec(), CommunityId(id), day).await? {
        return Err(ApiError::NotFound);
    }
    drop(conn);
    Ok(axum::Json(calendar_view(&state, CommunityId(id)).await?))
}

// ---------------------------------------------------------------------------------------
// Inbox

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub matter_id: Option<Uuid>,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for NotificationView {
    fn from(n: NotificationRow) -> Self {
        NotificationView {
            id: n.id,
            community_id: n.community_id,
            matter_id: n.matter_id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    pub unread: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// The caller's inbox, newest first; `total` is the number unread.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "me", security(("bearer" = [])),
    params(InboxQuery), responses((status = 200, body = Page<NotificationView>)))]
pub async fn my_notifications(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<axum::Json<Page<NotificationView>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let mut conn = state.db.acquire().await?;
    let rows = inbox::list(
        &mut conn.exec(),
        principal.account_id,
        query.unread.unwrap_or(false),
        page,
    )
    .await?;
    Ok(axum::Json(page_of(rows, NotificationView::from)))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/me/notifications/{id}/read", tag = "me", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn read_notification(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.db.acquire().await?;
    if inbox::mark_read(&mut conn.exec(), principal.account_id, id, Utc::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
