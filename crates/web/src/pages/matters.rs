//! Matter pages: a resident's report form and "my matters" with progress; the work queue
//! (grid workers on phones, staff at the console); the matter page with its timeline and
//! the steps the caller may take; the triage board and the supervision board. Each goes
//! through the same service and gate as the API.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use linli_domain::auth::{Action, GridFilter, Target};
use linli_domain::matters::search::query_terms;
use linli_domain::matters::{
    HandlerKind, MatterClass, MatterSource, MatterStatus, ReferralKind, SuperviseLevel,
};
use linli_domain::{BuildingId, CommunityId, GridGroupId, GridId, StaffId};
use linli_store::PageRequest;
use linli_store::matters::categories::{self, CategoryRow};
use linli_store::matters::{self, MatterFilter, MatterRow};
use linli_store::registry::{self, organisations, places, residents, staff};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::matters::{StepRequest, TargetInput, detail};
use crate::api::registry::page_request;
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::matters::{self as service, Location, Report};
use crate::pages::{
    Chrome, PageForm, SignedIn, chrome, home_target, local_time, render, render_with_status,
};
use crate::state::AppState;

/// A label in the page's language from a vocabulary's two labels.
fn pick(t: &Tr, zh: &'static str, en: &'static str) -> &'static str {
    if t.lang() == "zh-CN" { zh } else { en }
}

fn status_label(t: &Tr, code: &str) -> &'static str {
    MatterStatus::parse(code).map_or("?", |s| pick(t, s.label_zh(), s.label_en()))
}

fn class_label(t: &Tr, code: Option<&str>) -> Option<&'static str> {
    code.and_then(|c| MatterClass::parse(c).ok())
        .map(|c| pick(t, c.label_zh(), c.label_en()))
}

fn level_label(t: &Tr, code: &str) -> &'static str {
    SuperviseLevel::parse(code).map_or("?", |l| pick(t, l.label_zh(), l.label_en()))
}

/// The text of an error for a person: the translated message for its code, else the
/// error's own words.
fn error_text(t: &Tr, error: &ApiError) -> String {
    t.try_t(&format!("error.{}", error.code()))
        .map(str::to_owned)
        .unwrap_or_else(|| error.to_string())
}

/// One matter in a list.
pub struct MatterCard {
    pub id: Uuid,
    pub number: String,
    pub title: String,
    pub status: String,
    pub status_label: &'static str,
    pub class: Option<String>,
    pub class_label: Option<&'static str>,
    pub level: String,
    pub level_label: &'static str,
    pub reported: String,
    pub due: Option<String>,
    pub overdue: bool,
    /// 0–100: how far along the main path it is (for the resident's progress bar).
    pub progress: u8,
}

fn progress_of(status: &str) -> u8 {
    match status {
        "reported" => 10,
        "accepted" => 25,
        "triaged" => 35,
        "registered" => 45,
        "dispatched" => 55,
        "in_progress" => 65,
        "pending_verification" => 80,
        "resolved" | "referred" | "shelved" => 90,
        _ => 100,
    }
}

fn card(t: &Tr, row: MatterRow, time_zone: &str, now: DateTime<Utc>) -> MatterCard {
    let running = matches!(row.status.as_str(), "dispatched" | "in_progress");
    MatterCard {
        id: row.id,
        status_label: status_label(t, &row.status),
        class_label: class_label(t, row.class.as_deref()),
        level_label: level_label(t, &row.supervise_level),
        reported: local_time(&row.created_at, time_zone),
        due: row.due_at.map(|d| local_time(&d, time_zone)),
        overdue: running && row.due_at.is_some_and(|d| d < now),
        progress: progress_of(&row.status),
        number: row.number,
        title: row.title,
        status: row.status,
        class: row.class,
        level: row.supervise_level,
    }
}

// ---------------------------------------------------------------------------------------
// Report form

pub struct CategoryGroup {
    pub name: String,
    pub options: Vec<(Uuid, String)>,
}

fn category_groups(t: &Tr, rows: &[CategoryRow]) -> Vec<CategoryGroup> {
    let name = |c: &CategoryRow| {
        if t.lang() == "zh-CN" {
            c.name_zh.clone()
        } else {
            c.name_en.clone()
        }
    };
    rows.iter()
        .filter(|c| c.parent_id.is_none() && c.active)
        .map(|top| CategoryGroup {
            name: name(top),
            options: rows
                .iter()
                .filter(|c| c.parent_id == Some(top.id) && c.active)
                .map(|c| (c.id, name(c)))
                .collect(),
        })
        .filter(|g| !g.options.is_empty())
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub category_id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub place: String,
    #[serde(default)]
    pub proposed_class: String,
}

#[derive(Template)]
#[template(path = "matters_new.html")]
pub struct ReportPage {
    pub chrome: Chrome,
    pub groups: Vec<CategoryGroup>,
    pub home_building: Option<(Uuid, String)>,
    pub form: ReportForm,
    pub errors: Vec<(String, String)>,
}

impl ReportPage {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

async fn report_page(
    state: &AppState,
    principal: &Principal,
    form: ReportForm,
    errors: Vec<(String, String)>,
) -> Result<ReportPage, ApiError> {
    let (target, ctx) = home_target(state, principal).await?;
    let t = Tr::new(principal.locale);
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let rows = categories::list_categories(&mut ex, ctx.community()).await?;
    let me =
        residents::find_resident_by_account(&mut ex, ctx.community(), principal.account_id).await?;
    let home_building = match me.and_then(|r| r.building_id) {
        Some(b) => places::find_building(&mut ex, BuildingId(b))
            .await?
            .map(|b| (b.id, b.name)),
        None => None,
    };
    Ok(ReportPage {
        chrome: chrome(principal, &target, &ctx.community_name, "/matters/new"),
        groups: category_groups(&t, &rows),
        home_building,
        form,
        errors,
    })
}

/// The report form (a resident's phone first).
pub async fn new_matter(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, _) = home_target(&state, &principal).await?;
    principal
        .authorize(&state, Action::ReportMatter, &target, Deny::AsForbidden)
        .await?;
    let form = ReportForm {
        location: "home".to_owned(),
        ..ReportForm::default()
    };
    Ok(render(
        &report_page(&state, &principal, form, Vec::new()).await?,
    ))
}

pub async fn submit_matter(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    PageForm(form): PageForm<ReportForm>,
) -> Result<Response, ApiError> {
    let (target, _) = home_target(&state, &principal).await?;
    principal
        .authorize(&state, Action::ReportMatter, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let mut errors = Vec::new();
    let category = Uuid::parse_str(form.category_id.trim()).ok();
    if category.is_none() {
        errors.push((
            "category_id".to_owned(),
            t.t("matter.form.category.required").to_owned(),
        ));
    }
    let page = report_page(&state, &principal, ReportForm::default(), Vec::new()).await?;
    let location = match form.location.as_str() {
        "home" => match &page.home_building {
            Some((id, _)) => Location::Building(BuildingId(*id)),
            None => Location::Unknown,
        },
        "place" => Location::Place(form.place.clone()),
        _ => Location::Unknown,
    };
    let proposed = match form.proposed_class.as_str() {
        "" => None,
        c => MatterClass::parse(c).ok(),
    };
    if errors.is_empty() {
        let report = Report {
            community: principal.default_community().ok_or(ApiError::NotFound)?,
            category_id: category.unwrap_or_default(),
            title: Some(form.title.clone()).filter(|s| !s.trim().is_empty()),
            description: form.description.clone(),
            location,
            proposed_class: proposed,
            source: MatterSource::ResidentApp,
            on_behalf_of: None,
            contact: None,
        };
        match service::report(&state, &principal, report).await {
            Ok(row) => return Ok(Redirect::to(&format!("/matters/{}", row.id)).into_response()),
            Err(e @ ApiError::Rule { field, .. }) => {
                let field = match field {
                    "location.place" | "location" => "place",
                    other => other,
                };
                errors.push((field.to_owned(), error_text(&t, &e)));
            }
            Err(other) => return Err(other),
        }
    }
    let page = report_page(&state, &principal, form, errors).await?;
    Ok(render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

// ---------------------------------------------------------------------------------------
// My matters

#[derive(Template)]
#[template(path = "matters_mine.html")]
pub struct MinePage {
    pub chrome: Chrome,
    pub matters: Vec<MatterCard>,
    pub next_href: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorQuery {
    pub cursor: Option<String>,
}

/// The matters the caller raised, with how far along each is.
pub async fn mine(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiQuery(query): crate::api::ApiQuery<CursorQuery>,
) -> Result<Response, ApiError> {
    let page = page_request(query.cursor.as_deref(), Some(20))?;
    let (target, ctx) = home_target(&state, &principal).await?;
    let t = Tr::new(principal.locale);
    let filter = MatterFilter {
        reporter: Some(principal.account_id),
        ..MatterFilter::default()
    };
    let mut conn = state.db.acquire().await?;
    let rows = matters::list_matters(
        &mut conn.exec(),
        ctx.community(),
        &GridFilter::All,
        &filter,
        page,
        false,
    )
    .await?;
    let now = Utc::now();
    let page = MinePage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/matters/mine"),
        next_href: rows.next.map(|n| format!("/matters/mine?cursor={n}")),
        matters: rows
            .items
            .into_iter()
            .map(|r| card(&t, r, &ctx.time_zone, now))
            .collect(),
    };
    Ok(render(&page))
}

// ---------------------------------------------------------------------------------------
// Work queue

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// `triage` (new reports), `mine` (dispatched to me), `open`, `overdue`, `closed`.
    pub view: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "matters_queue.html")]
pub struct QueuePage {
    pub chrome: Chrome,
    pub view: String,
    pub views: Vec<(&'static str, &'static str)>,
    pub q: String,
    pub matters: Vec<MatterCard>,
    /// The number of matches, "1000+" past the search's counting cap.
    pub total: String,
    pub next_href: Option<String>,
    pub error: Option<String>,
    pub can_board: bool,
}

fn open_statuses() -> Vec<MatterStatus> {
    MatterStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.is_open())
        .collect()
}

/// The queue: what needs the caller now, first.
pub async fn queue(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiQuery(query): crate::api::ApiQuery<QueueQuery>,
) -> Result<Response, ApiError> {
    let page = page_request(query.cursor.as_deref(), Some(30))?;
    let (target, ctx) = home_target(&state, &principal).await?;
    let grids = principal
        .authorize(&state, Action::ReadMatters, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let view = query.view.clone().unwrap_or_else(|| "triage".to_owned());
    // The connection goes back before the list takes its own (PostgreSQL: from the same
    // pool, where holding two at once could leave every request waiting for a second).
    let me = {
        let mut conn = state.db.acquire().await?;
        staff::find_staff_by_account(&mut conn.exec(), ctx.community(), principal.account_id)
            .await?
    };
    let mut filter = MatterFilter::default();
    match view.as_str() {
        "triage" => filter.statuses = vec![MatterStatus::Reported, MatterStatus::Accepted],
        "mine" => {
            filter.statuses = open_statuses();
            filter.handler_id = Some(me.as_ref().map_or(Uuid::nil(), |s| s.id));
        }
        "overdue" => filter.overdue_at = Some(Utc::now()),
        "closed" => filter.statuses = vec![MatterStatus::Closed, MatterStatus::Cancelled],
        _ => filter.statuses = open_statuses(),
    }
    let q = query.q.clone().unwrap_or_default();
    let mut error = None;
    if !q.trim().is_empty() {
        filter.terms = query_terms(&q);
        if filter.terms.is_empty() {
            error = Some(t.t("matter.search.empty").to_owned());
        }
    }
    // On its own connection (SQLite: the lane), where a common word's page is cheap.
    let rows = if error.is_none() {
        matters::list_matters_pooled::<MatterRow>(
            &state.db,
            ctx.community(),
            &grids,
            &filter,
            page,
            page.after.is_none(),
        )
        .await?
    } else {
        linli_store::PageOf::empty()
    };
    let now = Utc::now();
    let views = ["triage", "mine", "open", "overdue", "closed"]
        .into_iter()
        .map(|v| (v, t.t(&format!("matter.view.{v}"))))
        .collect();
    let encoded_q: String = url_encode(&q);
    let page_view = QueuePage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/matters"),
        next_href: rows
            .next
            .map(|n| format!("/matters?view={view}&q={encoded_q}&cursor={n}")),
        total: match rows.total_capped {
            true => format!("{}+", rows.total),
            false => rows.total.to_string(),
        },
        matters: rows
            .items
            .into_iter()
            .map(|r| card(&t, r, &ctx.time_zone, now))
            .collect(),
        views,
        view,
        q,
        error,
        can_board: principal.can(Action::TriageMatter, &target),
    };
    Ok(render(&page_view))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The matter page

pub struct EventLine {
    pub step_label: &'static str,
    pub at: String,
    pub comment: String,
    pub note: Option<String>,
    pub automatic: bool,
}

/// Steps that carry nothing but an optional comment: shown as plain buttons.
const BUTTON_STEPS: &[&str] = &[
    "accept",
    "register",
    "sign",
    "supervise",
    "reactivate",
    "withdraw",
];

pub struct StepForm {
    pub name: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "matter.html")]
pub struct MatterPage {
    pub chrome: Chrome,
    pub m: MatterCard,
    pub description: String,
    pub category: String,
    pub place: Option<String>,
    pub grid: Option<String>,
    pub handler: Option<String>,
    pub referral: Option<&'static str>,
    pub rating: Option<i32>,
    pub extension_until: Option<String>,
    pub version: i64,
    pub timeline: Vec<EventLine>,
    pub steps: Vec<StepForm>,
    pub targets: Vec<(String, String)>,
    pub error: Option<String>,
    pub staff_view: bool,
    pub rating_labels: Vec<(u8, &'static str)>,
    /// Steps with a form of their own; a single one is shown unfolded.
    pub form_steps: usize,
    pub photos: Vec<crate::api::photos::PhotoView>,
    pub can_attach: bool,
}

impl MatterPage {
    pub fn has(&self, step: &str) -> bool {
        self.steps.iter().any(|s| s.name == step)
    }
}

async fn dispatch_targets(
    ex: &mut linli_store::Exec<'_>,
    t: &Tr,
    community: CommunityId,
    grid: Option<Uuid>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for s in staff::list_staff(ex, community).await? {
        if s.left_at.is_none() && s.account_id.is_some() {
            out.push((
                format!("grid_worker:{}", s.id),
                format!("{} · {}", t.t("matter.handler.grid_worker"), s.name),
            ));
        }
    }
    for g in organisations::list_grid_groups(ex, community).await? {
        if grid.is_none() || Some(g.grid_id) == grid {
            out.push((
                format!("grid_group:{}", g.id),
                format!("{} · {}", t.t("matter.handler.grid_group"), g.name),
            ));
        }
    }
    out.push(("office".to_owned(), t.t("matter.handler.office").to_owned()));
    out.push((
        "subdistrict".to_owned(),
        t.t("matter.handler.subdistrict").to_owned(),
    ));
    Ok(out)
}

async fn handler_name(
    ex: &mut linli_store::Exec<'_>,
    t: &Tr,
    kind: Option<&str>,
    id: Option<Uuid>,
) -> Result<Option<String>, ApiError> {
    let Some(kind) = kind else { return Ok(None) };
    let label = HandlerKind::parse(kind).map_or("?", |k| pick(t, k.label_zh(), k.label_en()));
    let name = match (kind, id) {
        ("grid_worker", Some(id)) => staff::find_staff(ex, StaffId(id)).await?.map(|s| s.name),
        ("grid_group", Some(id)) => organisations::find_grid_group(ex, GridGroupId(id))
            .await?
            .map(|g| g.name),
        _ => None,
    };
    Ok(Some(match name {
        Some(n) => format!("{label} · {n}"),
        None => label.to_owned(),
    }))
}

async fn matter_page(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    error: Option<String>,
) -> Result<MatterPage, ApiError> {
    let d = detail(state, principal, id).await?;
    let community = CommunityId(d.matter.community_id);
    let (target, ctx) = community_target(state, community).await?;
    let t = Tr::new(principal.locale);
    let staff_view = principal.can(
        Action::ReadMatters,
        &Target {
            grid_id: Some(GridId(d.matter.grid_id.unwrap_or(Uuid::nil()))),
            ..target
        },
    );
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let row = matters::find_matter(&mut ex, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let category = categories::find_category(&mut ex, community, row.category_id)
        .await?
        .map(|c| {
            if t.lang() == "zh-CN" {
                c.name_zh
            } else {
                c.name_en
            }
        })
        .unwrap_or_default();
    let grid = match row.grid_id {
        Some(g) => registry::find_grid(&mut ex, GridId(g))
            .await?
            .map(|g| format!("{} {}", g.code, g.name)),
        None => None,
    };
    let building = match row.building_id {
        Some(b) => places::find_building(&mut ex, BuildingId(b))
            .await?
            .map(|b| b.name),
        None => None,
    };
    let place = building.or_else(|| row.place.clone()).or_else(|| {
        row.latitude
            .zip(row.longitude)
            .map(|(lat, lon)| format!("{lat:.5}, {lon:.5}"))
    });
    let handler = if staff_view {
        handler_name(&mut ex, &t, row.handler_kind.as_deref(), row.handler_id).await?
    } else {
        row.handler_kind
            .as_deref()
            .and_then(|k| HandlerKind::parse(k).ok())
            .map(|k| pick(&t, k.label_zh(), k.label_en()).to_owned())
    };
    let targets = if d.available_steps.contains(&"dispatch") {
        dispatch_targets(&mut ex, &t, community, row.grid_id).await?
    } else {
        Vec::new()
    };
    let timeline = d
        .timeline
        .iter()
        .map(|e| {
            let detail = &e.detail;
            let note = if let Some(c) = detail.get("class").and_then(|v| v.as_str()) {
                class_label(&t, Some(c)).map(str::to_owned)
            } else if let Some(r) = detail.get("rating").and_then(|v| v.as_i64()) {
                Some(format!("{} {r}/5", t.t("matter.rating")))
            } else if let Some(l) = detail.get("to_level").and_then(|v| v.as_str()) {
                Some(level_label(&t, l).to_owned())
            } else if let Some(p) = detail.get("passed").and_then(|v| v.as_bool()) {
                Some(
                    t.t(if p {
                        "matter.verify.passed"
                    } else {
                        "matter.verify.failed"
                    })
                    .to_owned(),
                )
            } else if let Some(a) = detail.get("approved").and_then(|v| v.as_bool()) {
                Some(
                    t.t(if a {
                        "matter.extension.approved"
                    } else {
                        "matter.extension.refused"
                    })
                    .to_owned(),
                )
            } else {
                detail
                    .get("referral")
                    .and_then(|v| v.as_str())
                    .and_then(|k| ReferralKind::parse(k).ok())
                    .map(|k| pick(&t, k.label_zh(), k.label_en()).to_owned())
            };
            EventLine {
                step_label: t.t(&format!("matter.step.{}", e.step)),
                at: local_time(&e.at, &ctx.time_zone),
                comment: e.comment.clone(),
                note,
                automatic: e.automatic,
            }
        })
        .collect();
    let form_steps = d
        .available_steps
        .iter()
        // Reclassifying and rejecting are the exception, never the step to offer first.
        .filter(|s| !BUTTON_STEPS.contains(s) && !["comment", "reclassify", "reject"].contains(s))
        .count();
    let steps = d
        .available_steps
        .iter()
        .map(|s| StepForm {
            name: s,
            label: t.t(&format!("matter.step.{s}")),
        })
        .collect();
    let referral = row
        .referral_kind
        .as_deref()
        .and_then(|k| ReferralKind::parse(k).ok())
        .map(|k| pick(&t, k.label_zh(), k.label_en()));
    let open = MatterStatus::parse(&row.status).is_ok_and(|s| s.is_open());
    let can_attach = !d.available_steps.is_empty() && (open || staff_view);
    Ok(MatterPage {
        photos: d.photos,
        can_attach,
        chrome: chrome(
            principal,
            &target,
            &ctx.community_name,
            if staff_view {
                "/matters"
            } else {
                "/matters/mine"
            },
        ),
        description: row.description.clone(),
        category,
        place,
        grid,
        handler,
        referral,
        rating: row.rating,
        extension_until: row.extension_until.map(|u| local_time(&u, &ctx.time_zone)),
        version: row.version,
        m: card(&t, row, &ctx.time_zone, Utc::now()),
        timeline,
        steps,
        targets,
        error,
        staff_view,
        form_steps,
        rating_labels: [5u8, 4, 3, 2, 1]
            .into_iter()
            .map(|r| (r, t.t(&format!("matter.rate.{r}"))))
            .collect(),
    })
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    Ok(render(&matter_page(&state, &principal, id, None).await?))
}

#[derive(Debug, Default, Deserialize)]
pub struct StepFormData {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub rating: String,
    #[serde(default)]
    pub passed: String,
    #[serde(default)]
    pub approve: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub guidance: String,
    #[serde(default)]
    pub duplicate_of: String,
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The form's fields as the API's step request.
async fn step_request(
    state: &AppState,
    community: CommunityId,
    time_zone: &str,
    f: &StepFormData,
) -> Result<StepRequest, ApiError> {
    let yes = |v: &str| v == "yes";
    let bad = |field: &'static str| ApiError::InvalidField {
        field,
        message: format!("{field} is missing or malformed"),
    };
    Ok(match f.step.as_str() {
        "accept" => StepRequest::Accept {},
        "register" => StepRequest::Register {},
        "sign" => StepRequest::Sign {},
        "reject" => {
            let duplicate_of = match optional(&f.duplicate_of) {
                None => None,
                Some(number) => {
                    let mut conn = state.db.acquire().await?;
                    Some(
                        matters::find_matter_by_number(&mut conn.exec(), community, &number)
                            .await?
                            .map(|m| m.id)
                            .ok_or(ApiError::Rule {
                                field: "duplicate_of",
                                code: "unknown_matter",
                                message: "no such matter in this community".to_owned(),
                            })?,
                    )
                }
            };
            StepRequest::Reject {
                reason: f.reason.clone(),
                duplicate_of,
                comment: optional(&f.comment),
            }
        }
        "withdraw" => StepRequest::Withdraw {
            comment: optional(&f.comment),
        },
        "triage" => StepRequest::Triage {
            class: f.class.clone(),
        },
        "reclassify" => StepRequest::Reclassify {
            class: f.class.clone(),
            reason: f.reason.clone(),
        },
        "refer" => StepRequest::Refer {
            kind: f.kind.clone(),
            guidance: f.guidance.clone(),
        },
        "dispatch" => {
            let (kind, id) = match f.target.split_once(':') {
                Some((k, id)) => (
                    k.to_owned(),
                    Some(Uuid::parse_str(id).map_err(|_| bad("target"))?),
                ),
                None => (f.target.clone(), None),
            };
            StepRequest::Dispatch {
                target: TargetInput { kind, id },
            }
        }
        "return" => StepRequest::Return {
            reason: f.reason.clone(),
        },
        "feedback" => StepRequest::Feedback {
            comment: f.comment.clone(),
        },
        "handle_on_site" => StepRequest::HandleOnSite {
            comment: f.comment.clone(),
        },
        "verify" => StepRequest::Verify {
            passed: yes(&f.passed),
            comment: optional(&f.comment),
        },
        "rate" => StepRequest::Rate {
            rating: f.rating.trim().parse().map_err(|_| ApiError::Rule {
                field: "rating",
                code: "rating_range",
                message: "choose a rating from 1 to 5".to_owned(),
            })?,
            comment: optional(&f.comment),
        },
        "reopen" => StepRequest::Reopen {
            reason: f.reason.clone(),
        },
        "request_extension" => {
            let day =
                NaiveDate::parse_from_str(f.until.trim(), "%Y-%m-%d").map_err(|_| bad("until"))?;
            let offset = linli_domain::matters::utc_offset(time_zone);
            let close = day.and_hms_opt(18, 0, 0).expect("valid time")
                - chrono::Duration::seconds(i64::from(offset.local_minus_utc()));
            StepRequest::RequestExtension {
                until: close.and_utc(),
                reason: f.reason.clone(),
            }
        }
        "decide_extension" => StepRequest::DecideExtension {
            approve: yes(&f.approve),
            comment: optional(&f.comment),
        },
        "shelve" => StepRequest::Shelve {
            reason: f.reason.clone(),
        },
        "reactivate" => StepRequest::Reactivate {
            comment: optional(&f.comment),
        },
        "supervise" => StepRequest::Supervise {
            comment: optional(&f.comment),
        },
        "comment" => StepRequest::Comment {
            text: f.comment.clone(),
        },
        _ => return Err(bad("step")),
    })
}

/// The matter page again, with why the form was refused shown above the steps.
async fn refused(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    error: &ApiError,
) -> Result<Response, ApiError> {
    let t = Tr::new(principal.locale);
    let page = matter_page(state, principal, id, Some(error_text(&t, error))).await?;
    Ok(render_with_status(error.status(), &page))
}

/// Takes a step from the matter page; a refusal shows on the page, next to the steps.
pub async fn take_step(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
    PageForm(form): PageForm<StepFormData>,
) -> Result<Response, ApiError> {
    let access = service::access(&state, &principal, id).await?;
    let community = CommunityId(access.row.community_id);
    let (_, ctx) = community_target(&state, community).await?;
    let result = async {
        let version: i64 = form
            .version
            .trim()
            .parse()
            .map_err(|_| ApiError::VersionRequired)?;
        let step = step_request(&state, community, &ctx.time_zone, &form)
            .await?
            .into_step()?;
        service::take_step(&state, &principal, id, version, step).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/matters/{id}")).into_response()),
        Err(error @ (ApiError::Unavailable | ApiError::Internal(_))) => Err(error),
        Err(error) => refused(&state, &principal, id, &error).await,
    }
}

// ---------------------------------------------------------------------------------------
// Triage and supervision boards

pub struct BoardColumn {
    pub class: &'static str,
    pub label: &'static str,
    pub matters: Vec<MatterCard>,
    pub count: usize,
}

#[derive(Template)]
#[template(path = "matters_board.html")]
pub struct BoardPage {
    pub chrome: Chrome,
    pub columns: Vec<BoardColumn>,
}

/// The triage board: new reports, then each class's open queue.
pub async fn board(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_target(&state, &principal).await?;
    let grids = principal
        .authorize(&state, Action::TriageMatter, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let now = Utc::now();
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let mut columns = Vec::new();
    let untriaged = MatterFilter {
        statuses: vec![MatterStatus::Reported, MatterStatus::Accepted],
        ..MatterFilter::default()
    };
    let rows = matters::list_matters(
        &mut ex,
        ctx.community(),
        &grids,
        &untriaged,
        PageRequest::first(30),
        true,
    )
    .await?;
    columns.push(BoardColumn {
        class: "untriaged",
        label: t.t("matter.board.untriaged"),
        count: rows.total as usize,
        matters: rows
            .items
            .into_iter()
            .map(|r| card(&t, r, &ctx.time_zone, now))
            .collect(),
    });
    for class in MatterClass::ALL {
        let f = MatterFilter {
            statuses: open_statuses()
                .into_iter()
                .filter(|s| !matches!(s, MatterStatus::Reported | MatterStatus::Accepted))
                .collect(),
            class: Some(*class),
            ..MatterFilter::default()
        };
        let rows = matters::list_matters(
            &mut ex,
            ctx.community(),
            &grids,
            &f,
            PageRequest::first(30),
            true,
        )
        .await?;
        columns.push(BoardColumn {
            class: class.as_str(),
            label: pick(&t, class.label_zh(), class.label_en()),
            count: rows.total as usize,
            matters: rows
                .items
                .into_iter()
                .map(|r| card(&t, r, &ctx.time_zone, now))
                .collect(),
        });
    }
    let page = BoardPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/matters/board"),
        columns,
    };
    Ok(render(&page))
}

pub struct CountLine {
    pub grid: String,
    pub cells: Vec<i64>,
    pub total: i64,
}

#[derive(Template)]
#[template(path = "matters_supervision.html")]
pub struct SupervisionPage {
    pub chrome: Chrome,
    pub levels: Vec<(&'static str, &'static str, Vec<MatterCard>)>,
    pub extensions: Vec<MatterCard>,
    pub status_heads: Vec<&'static str>,
    pub class_heads: Vec<&'static str>,
    pub by_grid: Vec<CountLine>,
    pub by_class: Vec<(&'static str, i64)>,
}

/// Late matters by rung of the ladder, extensions waiting for a decision, and counts per
/// grid and status.
pub async fn supervision(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_target(&state, &principal).await?;
    let grids = principal
        .authorize(&state, Action::SuperviseMatters, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let now = Utc::now();
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let mut levels = Vec::new();
    for level in [
        SuperviseLevel::Red,
        SuperviseLevel::Yellow,
        SuperviseLevel::Normal,
    ] {
        let f = MatterFilter {
            statuses: open_statuses(),
            supervise_levels: vec![level],
            ..MatterFilter::default()
        };
        let rows = matters::list_matters(
            &mut ex,
            ctx.community(),
            &grids,
            &f,
            PageRequest::first(50),
            false,
        )
        .await?;
        levels.push((
            level.as_str(),
            pick(&t, level.label_zh(), level.label_en()),
            rows.items
                .into_iter()
                .map(|r| card(&t, r, &ctx.time_zone, now))
                .collect(),
        ));
    }
    let running = MatterFilter {
        statuses: vec![MatterStatus::Dispatched, MatterStatus::InProgress],
        ..MatterFilter::default()
    };
    let rows = matters::list_matters(
        &mut ex,
        ctx.community(),
        &grids,
        &running,
        PageRequest::first(200),
        false,
    )
    .await?;
    let extensions = rows
        .items
        .into_iter()
        .filter(|r| r.extension_until.is_some())
        .map(|r| card(&t, r, &ctx.time_zone, now))
        .collect();
    let counts = matters::counts(&mut ex, ctx.community(), &grids).await?;
    let grid_rows = registry::list_grids(&mut ex, ctx.community(), &grids).await?;
    let statuses = MatterStatus::ALL;
    let mut by_grid: Vec<CountLine> = grid_rows
        .iter()
        .map(|g| (Some(g.id), format!("{} {}", g.code, g.name)))
        .chain(std::iter::once((None, t.t("matter.no_grid").to_owned())))
        .map(|(id, name)| {
            let cells: Vec<i64> = statuses
                .iter()
                .map(|s| {
                    counts
                        .iter()
                        .filter(|c| c.grid_id == id && c.status == s.as_str())
                        .map(|c| c.n)
                        .sum()
                })
                .collect();
            CountLine {
                grid: name,
                total: cells.iter().sum(),
                cells,
            }
        })
        .filter(|line| line.total > 0)
        .collect();
    by_grid.sort_by(|a, b| a.grid.cmp(&b.grid));
    let by_class = MatterClass::ALL
        .iter()
        .map(|c| {
            (
                pick(&t, c.label_zh(), c.label_en()),
                counts
                    .iter()
                    .filter(|r| r.class.as_deref() == Some(c.as_str()))
                    .map(|r| r.n)
                    .sum(),
            )
        })
        .collect();
    let page = SupervisionPage {
        chrome: chrome(
            &principal,
            &target,
            &ctx.community_name,
            "/matters/supervision",
        ),
        levels,
        extensions,
        status_heads: statuses
            .iter()
            .map(|s| pick(&t, s.label_zh(), s.label_en()))
            .collect(),
        class_heads: Vec::new(),
        by_grid,
        by_class,
    };
    Ok(render(&page))
}

/// Adds a photo from the matter page (a multipart form with one `photo` file).
pub async fn upload_photo(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
    mut form: axum::extract::Multipart,
) -> Result<Response, ApiError> {
    let mut photo = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|_| ApiError::BadRequest("the form could not be read".to_owned()))?
    {
        if field.name() == Some("photo") {
            let bytes = field.bytes().await.map_err(|_| ApiError::PayloadTooLarge)?;
            photo = Some(bytes.to_vec());
        }
    }
    let result = match photo.filter(|p| !p.is_empty()) {
        Some(bytes) => crate::api::photos::attach(&state, &principal, id, bytes)
            .await
            .map(|_| ()),
        None => Err(ApiError::Rule {
            field: "photo",
            code: "photo_missing",
            message: "choose a photo".to_owned(),
        }),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/matters/{id}")).into_response()),
        Err(error @ (ApiError::Unavailable | ApiError::Internal(_) | ApiError::NotFound)) => {
            Err(error)
        }
        Err(error) => refused(&state, &principal, id, &error).await,
    }
}
