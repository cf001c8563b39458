//! Registry pages: grid overview with counts, the building → household → resident
//! drill-down, resident search, the resident profile with masked values and a reveal
//! that asks for a reason, and registering a household member. Each page goes through
//! the same gate as its API twin.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::Datelike;
use linli_domain::auth::{Action, Target};
use linli_domain::{BuildingId, CommunityId, GridId, HouseholdId, ResidentId};
use linli_store::registry::places::{self, BuildingRow, HouseholdRow};
use linli_store::registry::residents::{self, ResidentFilter, ResidentRow};
use linli_store::{PageRequest, registry};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::registry::{page_request, record_target};
use crate::api::residents::{NewResidentRequest, RevealField, reachable_resident};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::pages::{Chrome, PageForm, SignedIn, chrome, home_target, render};
use crate::pii::Opened;
use crate::state::AppState;

pub struct GridCard {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub buildings: i64,
    pub households: i64,
    pub residents: i64,
}

#[derive(Template)]
#[template(path = "registry_grids.html")]
pub struct GridsPage {
    pub chrome: Chrome,
    pub community: String,
    pub grids: Vec<GridCard>,
}

/// The grids the caller may see, each with its buildings, households and residents.
pub async fn grids(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = home_target(&state, &principal).await?;
    let filter = principal
        .authorize(&state, Action::ListGrids, &target, Deny::AsForbidden)
        .await?;
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let rows = registry::list_grids(&mut ex, ctx.community(), &filter).await?;
    let counts = places::grid_counts(&mut ex, ctx.community()).await?;
    let page = GridsPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/grids"),
        community: ctx.community_name.clone(),
        grids: rows
            .into_iter()
            .map(|g| {
                let c = counts.get(&g.id).cloned().unwrap_or_default();
                GridCard {
                    id: g.id,
                    code: g.code,
                    name: g.name,
                    buildings: c.buildings,
                    households: c.households,
                    residents: c.residents,
                }
            })
            .collect(),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildingsQuery {
    pub grid: Option<Uuid>,
    pub cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "registry_buildings.html")]
pub struct BuildingsPage {
    pub chrome: Chrome,
    pub community: String,
    pub grid_name: Option<String>,
    pub buildings: Vec<BuildingRow>,
    pub total: u64,
    pub next_href: Option<String>,
}

pub async fn buildings(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiQuery(query): crate::api::ApiQuery<BuildingsQuery>,
) -> Result<Response, ApiError> {
    let page = page_request(query.cursor.as_deref(), Some(50))?;
    let (target, ctx) = home_target(&state, &principal).await?;
    let filter = principal
        .authorize(&state, Action::ReadRegistry, &target, Deny::AsForbidden)
        .await?;
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let grid_name = match query.grid {
        Some(g) => registry::find_grid(&mut ex, GridId(g))
            .await?
            .filter(|grid| grid.community_id == ctx.community_id)
            .map(|grid| format!("{} {}", grid.code, grid.name)),
        None => None,
    };
    let rows = places::list_buildings(
        &mut ex,
        ctx.community(),
        &filter,
        query.grid.map(GridId),
        page,
    )
    .await?;
    let next_href = rows.next.map(|n| {
        let grid = query.grid.map(|g| format!("grid={g}&")).unwrap_or_default();
        format!("/buildings?{grid}cursor={n}")
    });
    let page = BuildingsPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/grids"),
        community: ctx.community_name.clone(),
        grid_name,
        total: rows.total,
        buildings: rows.items,
        next_href,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "registry_building.html")]
pub struct BuildingPage {
    pub chrome: Chrome,
    pub building: BuildingRow,
    pub grid_name: String,
    pub households: Vec<HouseholdRow>,
    pub total: u64,
    pub next_href: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorQuery {
    pub cursor: Option<String>,
}

pub async fn building(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
    crate::api::ApiQuery(query): crate::api::ApiQuery<CursorQuery>,
) -> Result<Response, ApiError> {
    let page = page_request(query.cursor.as_deref(), Some(100))?;
    let building = {
        let mut conn = state.db.acquire().await?;
        places::find_building(&mut conn.exec(), BuildingId(id))
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let target = record_target(&state, building.community_id, Some(building.grid_id)).await?;
    principal
        .authorize(&state, Action::ReadRegistry, &target, Deny::AsNotFound)
        .await?;
    let (community_target, ctx) =
        community_target(&state, CommunityId(building.community_id)).await?;
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let grid_name = registry::find_grid(&mut ex, GridId(building.grid_id))
        .await?
        .map(|g| format!("{} {}", g.code, g.name))
        .unwrap_or_default();
    let rows = places::list_households_in_building(
        &mut ex,
        CommunityId(building.community_id),
        BuildingId(building.id),
        page,
    )
    .await?;
    let next_href = rows.next.map(|n| format!("/buildings/{id}?cursor={n}"));
    let page = BuildingPage {
        chrome: chrome(&principal, &community_target, &ctx.community_name, "/grids"),
        grid_name,
        total: rows.total,
        households: rows.items,
        building,
        next_href,
    };
    Ok(render(&page))
}

/// One resident line in a list: masked values only.
pub struct ResidentLine {
    pub id: Uuid,
    pub name: String,
    pub gender: &'static str,
    pub birth_year: String,
    pub phone: String,
    pub relation: String,
}

fn resident_line(
    t: &Tr,
    state: &AppState,
    row: &ResidentRow,
    relation: String,
) -> Result<ResidentLine, ApiError> {
    let masked = Opened::of(&state.data_key, row)
        .map_err(ApiError::internal)?
        .masked(row);
    Ok(ResidentLine {
        id: row.id,
        name: row.name.clone(),
        gender: gender_label(t, row.gender.as_deref()),
        birth_year: row
            .birth_date
            .map(|d| d.year().to_string())
            .unwrap_or_default(),
        phone: masked.phone.unwrap_or_default(),
        relation,
    })
}

fn gender_label(t: &Tr, gender: Option<&str>) -> &'static str {
    match gender {
        Some("male") => t.t("registry.gender.male"),
        Some("female") => t.t("registry.gender.female"),
        _ => "",
    }
}

fn relation_label(t: &Tr, relation: &str) -> String {
    t.try_t(&format!("registry.relation.{relation}"))
        .unwrap_or(relation)
        .to_owned()
}

#[derive(Template)]
#[template(path = "registry_household.html")]
pub struct HouseholdPage {
    pub chrome: Chrome,
    pub household: HouseholdRow,
    pub members: Vec<ResidentLine>,
    pub can_register: bool,
    pub form: MemberForm,
    pub errors: Vec<FieldError>,
}

/// The registration form as typed, so a refused form comes back filled in.
#[derive(Debug, Default, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub document_number: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub relation: String,
}

/// An error shown next to its field and in the summary at the top of the form.
pub struct FieldError {
    pub field: String,
    pub message: String,
}

async fn household_page(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    form: MemberForm,
    errors: Vec<FieldError>,
) -> Result<Response, ApiError> {
    let household =
        crate::api::registry::readable_household(state, principal, HouseholdId(id)).await?;
    let t = Tr::new(principal.locale);
    let (community_target, ctx) =
        community_target(state, CommunityId(household.community_id)).await?;
    let grid_target = Target {
        grid_id: Some(GridId(household.grid_id)),
        ..community_target
    };
    let rows = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        let rows = residents::list_residents(
            &mut ex,
            CommunityId(household.community_id),
            &linli_domain::auth::GridFilter::All,
            &ResidentFilter {
                household: Some(HouseholdId(household.id)),
                ..Default::default()
            },
            PageRequest::first(PageRequest::MAX_LIMIT),
        )
        .await?;
        let memberships = places::memberships(
            &mut ex,
            CommunityId(household.community_id),
            Some(HouseholdId(household.id)),
            None,
        )
        .await?;
        rows.items
            .into_iter()
            .map(|r| {
                let relation = memberships
                    .iter()
                    .rev()
                    .find(|m| m.resident_id == r.id)
                    .map(|m| relation_label(&t, &m.relation))
                    .unwrap_or_default();
                (r, relation)
            })
            .collect::<Vec<_>>()
    };
    let mut members = Vec::new();
    for (row, relation) in &rows {
        members.push(resident_line(&t, state, row, relation.clone())?);
    }
    let page = HouseholdPage {
        chrome: chrome(principal, &community_target, &ctx.community_name, "/grids"),
        can_register: principal.can(Action::EditRegistry, &grid_target),
        household,
        members,
        form,
        errors,
    };
    Ok(render(&page))
}

pub async fn household(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    household_page(&state, &principal, id, MemberForm::default(), Vec::new()).await
}

/// The message for a refused field, in the reader's language.
fn field_error(t: &Tr, error: &ApiError) -> FieldError {
    let problem = error.problem();
    let message = t
        .try_t(&format!("error.{}", problem.code))
        .map(str::to_owned)
        .unwrap_or_else(|| problem.detail.clone().unwrap_or(problem.title.clone()));
    FieldError {
        field: problem.field.unwrap_or_default(),
        message,
    }
}

/// Registers a new member of the household from the form; on a refusal the form comes
/// back with the reason next to the field.
pub async fn register_member(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
    PageForm(form): PageForm<MemberForm>,
) -> Result<Response, ApiError> {
    let household =
        crate::api::registry::readable_household(&state, &principal, HouseholdId(id)).await?;
    let request = NewResidentRequest {
        name: form.name.clone(),
        gender: None,
        birth_date: None,
        document_kind: None,
        document_number: Some(form.document_number.clone()),
        phone: Some(form.phone.clone()),
        household_id: Some(household.id),
        relation: Some(form.relation.clone()),
        moved_in: None,
        party_status: None,
        party_organisation: None,
        skills: Vec::new(),
        tags: Vec::new(),
    };
    match crate::api::residents::register(
        &state,
        &principal,
        CommunityId(household.community_id),
        request,
    )
    .await
    {
        Ok(row) => {
            Ok(axum::response::Redirect::to(&format!("/residents/{}", row.id)).into_response())
        }
        Err(
            error @ (ApiError::Rule { .. }
            | ApiError::InvalidField { .. }
            | ApiError::Conflict { .. }),
        ) => {
            let t = Tr::new(principal.locale);
            let mut err = field_error(&t, &error);
            if err.field.is_empty() {
                err.field = "document_number".to_owned();
            }
            household_page(&state, &principal, id, form, vec![err]).await
        }
        Err(other) => Err(other),
    }
}

use axum::response::IntoResponse;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "registry_residents.html")]
pub struct ResidentsPage {
    pub chrome: Chrome,
    pub community: String,
    pub q: String,
    pub results: Vec<ResidentLine>,
    pub total: u64,
    pub next_href: Option<String>,
    pub error: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiQuery(query): crate::api::ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    let page = page_request(query.cursor.as_deref(), Some(50))?;
    let (target, ctx) = home_target(&state, &principal).await?;
    let grids = principal
        .authorize(&state, Action::ReadRegistry, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let q = query.q.clone().unwrap_or_default();
    let mut results = Vec::new();
    let (mut total, mut next_href, mut error) = (0, None, None);
    match crate::api::residents::store_search(&state.data_key, Some(&q)) {
        Err(e) => error = Some(field_error(&t, &e).message),
        Ok(None) => {}
        Ok(Some(search)) => {
            let rows = {
                let mut conn = state.db.acquire().await?;
                residents::list_residents(
                    &mut conn.exec(),
                    ctx.community(),
                    &grids,
                    &ResidentFilter {
                        search: Some(search),
                        ..Default::default()
                    },
                    page,
                )
                .await?
            };
            total = rows.total;
            next_href = rows.next.map(|n| {
                let q: String = url_encode(&q);
                format!("/residents?q={q}&cursor={n}")
            });
            for row in &rows.items {
                results.push(resident_line(&t, &state, row, String::new())?);
            }
        }
    }
    let page = ResidentsPage {
        chrome: chrome(&principal, &target, &ctx.community_name, "/residents"),
        community: ctx.community_name.clone(),
        q,
        results,
        total,
        next_href,
        error,
    };
    Ok(render(&page))
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

#[derive(Template)]
#[template(path = "registry_resident.html")]
pub struct ResidentPage {
    pub chrome: Chrome,
    pub resident: ResidentRow,
    pub gender: &'static str,
    pub birth_year: String,
    pub phone: String,
    pub id_number: String,
    pub birth_date: String,
    pub revealed: bool,
    pub can_reveal: bool,
    pub reason_error: Option<String>,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
}

async fn resident_page(
    state: &AppState,
    principal: &Principal,
    row: ResidentRow,
    revealed: bool,
    reason_error: Option<String>,
) -> Result<Response, ApiError> {
    let t = Tr::new(principal.locale);
    let (community_target, ctx) = community_target(state, CommunityId(row.community_id)).await?;
    let grid_target = record_target(state, row.community_id, row.grid_id).await?;
    let opened = Opened::of(&state.data_key, &row).map_err(ApiError::internal)?;
    let shown = if revealed {
        opened
    } else {
        opened.masked(&row)
    };
    let page = ResidentPage {
        chrome: chrome(
            principal,
            &community_target,
            &ctx.community_name,
            "/residents",
        ),
        gender: gender_label(&t, row.gender.as_deref()),
        birth_year: row
            .birth_date
            .map(|d| d.year().to_string())
            .unwrap_or_default(),
        birth_date: if revealed {
            row.birth_date.map(|d| d.to_string()).unwrap_or_default()
        } else {
            String::new()
        },
        phone: shown.phone.unwrap_or_default(),
        id_number: shown.document_number.unwrap_or_default(),
        revealed,
        can_reveal: principal.can(Action::RevealPersonalData, &grid_target),
        reason_error,
        skills: row.skills(),
        tags: row.tags(),
        resident: row,
    };
    Ok(render(&page))
}

pub async fn resident(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let row = reachable_resident(&state, &principal, ResidentId(id), Action::ReadRegistry).await?;
    resident_page(&state, &principal, row, false, None).await
}

#[derive(Debug, Deserialize)]
pub struct RevealForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub reason: String,
}

/// Shows the full values once, after recording who asked and why.
pub async fn reveal(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
    PageForm(form): PageForm<RevealForm>,
) -> Result<Response, ApiError> {
    let fields = [
        RevealField::Phone,
        RevealField::IdNumber,
        RevealField::BirthDate,
    ];
    match crate::api::residents::reveal_values(
        &state,
        &principal,
        ResidentId(id),
        &fields,
        &form.reason,
    )
    .await
    {
        Ok(row) => resident_page(&state, &principal, row, true, None).await,
        Err(error @ (ApiError::InvalidField { .. } | ApiError::Rule { .. })) => {
            let row = reachable_resident(&state, &principal, ResidentId(id), Action::ReadRegistry)
                .await?;
            let t = Tr::new(principal.locale);
            let message = field_error(&t, &error).message;
            resident_page(&state, &principal, row, false, Some(message)).await
        }
        Err(other) => Err(other),
    }
}
