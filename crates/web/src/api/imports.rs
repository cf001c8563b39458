//! Spreadsheet import and export of the registry (buildings, households, residents).
//!
//! An import is planned in full before anything is written: every row is checked, then
//! the rows are checked against each other (one head per household, no document twice)
//! and against the community (grids, buildings, documents already registered). A dry run
//! stops there and reports. A real run writes everything in one transaction, or nothing:
//! invalid rows refuse the whole file unless the operator asked to skip them, in which
//! case the skipped rows are listed.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use linli_domain::auth::{Action, GridFilter};
use linli_domain::registry::sheet::{self, COLUMNS, HeaderMap, Problem, RowRecord};
use linli_domain::registry::{DocumentKind, Relation};
use linli_domain::{
    BuildingId, CommunityId, ConsentId, DwellingId, GridId, HouseholdId, ResidentId,
};
use linli_store::audit::{self, AuditEvent};
use linli_store::registry::people::{self, NewConsent, NewGuardian, purpose};
use linli_store::registry::places::{self, NewBuilding, NewDwelling, NewHousehold, NewMember};
use linli_store::registry::residents::{self, NewResident};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::{ApiPath, ApiQuery};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::context;
use crate::crypto::DataKey;
use crate::error::{ApiError, Problem as ApiProblem};
use crate::pii::{self, Opened};
use crate::spreadsheet::{self, Sheet, Table};
use crate::state::AppState;

/// Largest upload accepted (a 100,000-row workbook is about 6 MB).
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
}

pub(crate) fn wants_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("xlsx") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(ApiError::InvalidField {
            field: "format",
            message: "xlsx or csv".to_owned(),
        }),
    }
}

pub(crate) fn file_response(bytes: Vec<u8>, csv: bool, name: &str) -> Response {
    let (content_type, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        (XLSX, "xlsx")
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{ext}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn template_headers() -> Vec<String> {
    COLUMNS.iter().map(|c| c.header.to_owned()).collect()
}

fn text_columns() -> Vec<usize> {
    COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(
                c.key,
                "document_number" | "phone" | "room" | "building_code" | "birth_date" | "moved_in"
            )
        })
        .map(|(i, _)| i)
        .collect()
}

/// The residents template: the columns with a note each and one example household.
pub fn template_bytes(csv: bool) -> Result<Vec<u8>, ApiError> {
    let example = |values: &[(&str, &str)]| -> Vec<String> {
        COLUMNS
            .iter()
            .map(|c| {
                values
                    .iter()
                    .find(|(k, _)| *k == c.key)
                    .map(|(_, v)| (*v).to_owned())
                    .unwrap_or_default()
            })
            .collect()
    };
    let rows = vec![
        example(&[
            ("building_code", "B01"),
            ("building_name", "新和花园1栋"),
            ("building_address", "新和路12号"),
            ("grid_code", "XH-01"),
            ("room", "101"),
            ("name", "张伟"),
            ("document_number", "11010519491231002X"),
            ("phone", "13800138000"),
            ("relation", "户主"),
        ]),
        example(&[
            ("building_code", "B01"),
            ("room", "101"),
            ("name", "李娜"),
            ("gender", "女"),
            ("birth_date", "1952-03-08"),
            ("relation", "家庭成员"),
        ]),
    ];
    if csv {
        return spreadsheet::write_csv(&template_headers(), &rows).map_err(ApiError::internal);
    }
    spreadsheet::write_xlsx(&Sheet {
        name: "居民",
        headers: template_headers(),
        rows,
        text_columns: text_columns(),
        notes: Some(
            COLUMNS
                .iter()
                .map(|c| {
                    let required = if c.required { "必填。" } else { "" };
                    format!("{required}{}", c.note)
                })
                .collect(),
        ),
    })
    .map_err(ApiError::internal)
}

/// The import template (Chinese headers, an example household, a note on every column).
#[utoipa::path(get, path = "/api/v1/registry/template", tag = "registry", security(("bearer" = [])),
    params(FormatQuery), responses((status = 200, description = "the template file")))]
pub async fn template(
    _principal: Principal,
    ApiQuery(query): ApiQuery<FormatQuery>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(query.format.as_deref())?;
    Ok(file_response(
        template_bytes(csv)?,
        csv,
        "linli-residents-template",
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Check only; write nothing (default false).
    pub dry_run: Option<bool>,
    /// Import the valid rows and list the skipped ones, instead of refusing the file.
    pub skip_invalid: Option<bool>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Created {
    pub buildings: usize,
    pub households: usize,
    pub residents: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Whether anything was written.
    pub imported: bool,
    pub rows: usize,
    pub valid_rows: usize,
    pub empty_rows: usize,
    /// Rows left out because `skip_invalid` was asked for.
    pub skipped_rows: Vec<usize>,
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<Problem>,
    pub created: Created,
}

/// What the community holds already, read once before planning.
struct Existing {
    grids: HashMap<String, Uuid>,
    buildings: HashMap<String, (Uuid, Uuid)>,
    dwellings: HashMap<(Uuid, String), Uuid>,
    documents: HashSet<Vec<u8>>,
}

async fn load_existing(state: &AppState, community: CommunityId) -> Result<Existing, ApiError> {
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let grids = linli_store::registry::list_grids(&mut ex, community, &GridFilter::All)
        .await?
        .into_iter()
        .map(|g| (g.code, g.id))
        .collect();
    let buildings = places::all_buildings(&mut ex, community)
        .await?
        .into_iter()
        .map(|b| (b.code, (b.id, b.grid_id)))
        .collect();
    let dwellings = places::all_dwellings(&mut ex, community)
        .await?
        .into_iter()
        .map(|d| ((d.building_id, d.room), d.id))
        .collect();
    let documents = residents::document_indexes(&mut ex, community).await?;
    Ok(Existing {
        grids,
        buildings,
        dwellings,
        documents,
    })
}

/// Everything to write, ready for one transaction.
#[derive(Default)]
struct Plan {
    buildings: Vec<NewBuilding>,
    dwellings: Vec<NewDwelling>,
    households: Vec<NewHousehold>,
    residents: Vec<NewResident>,
    members: Vec<NewMember>,
    guardians: Vec<NewGuardian>,
    consents: Vec<NewConsent>,
}

fn header_of(key: &str) -> &'static str {
    COLUMNS
        .iter()
        .find(|c| c.key == key)
        .map(|c| c.header)
        .unwrap_or("")
}

/// Checks every row, then the rows together and against the community.
fn plan(
    table: &Table,
    existing: &Existing,
    key: &DataKey,
    today: NaiveDate,
    skip_invalid: bool,
) -> (Plan, ImportReport) {
    let mut report = ImportReport {
        dry_run: false,
        imported: false,
        rows: 0,
        valid_rows: 0,
        empty_rows: 0,
        skipped_rows: Vec::new(),
        problems: Vec::new(),
        created: Created::default(),
    };
    let mut rows = table.rows.iter().filter(|(_, cells)| {
        let empty = sheet::is_empty_row(cells);
        if empty {
            report.empty_rows += 1;
        }
        !empty
    });
    let Some((header_row, headers)) = rows.next() else {
        report.problems.push(Problem::new(
            1,
            "",
            "empty_file",
            "the file holds no header row",
        ));
        return (Plan::default(), report);
    };
    let map = match HeaderMap::parse(headers, *header_row) {
        Ok(map) => map,
        Err(problems) => {
            report.problems = problems;
            return (Plan::default(), report);
        }
    };
    let mut records: Vec<RowRecord> = Vec::new();
    let mut bad_rows: HashSet<usize> = HashSet::new();
    let mut lossy_by_row: HashMap<usize, Vec<usize>> = HashMap::new();
    for (row, column) in &table.lossy_numbers {
        lossy_by_row.entry(*row).or_default().push(*column);
    }
    for (row, cells) in rows {
        report.rows += 1;
        let lossy: &[usize] = lossy_by_row.get(row).map(Vec::as_slice).unwrap_or(&[]);
        if !lossy.is_empty() {
            for &c in lossy {
                let column = headers.get(c).cloned().unwrap_or_default();
                report.problems.push(Problem::new(*row, &column, "stored_as_number",
                    "the spreadsheet stored this as a number and lost digits: format the column as text and type it again"));
            }
            bad_rows.insert(*row);
            continue;
        }
        match sheet::check_row(&map, cells, *row, today) {
            Ok(record) => records.push(record),
            Err(problems) => {
                bad_rows.insert(*row);
                report.problems.extend(problems);
            }
        }
    }
    // Places: a new building needs its name, address and a grid of this community.
    let mut new_buildings: HashMap<String, NewBuilding> = HashMap::new();
    for r in &records {
        if existing.buildings.contains_key(&r.building_code)
            || new_buildings.contains_key(&r.building_code)
        {
            // The building's grid: as stored, or as the file's first row of it said.
            let grid = existing
                .buildings
                .get(&r.building_code)
                .map(|(_, grid)| *grid)
                .or_else(|| new_buildings.get(&r.building_code).map(|b| b.grid_id.0));
            if let (Some(code), Some(grid)) = (&r.grid_code, grid)
                && existing.grids.get(code) != Some(&grid)
            {
                report.problems.push(Problem::new(r.row, header_of("grid_code"), "building_in_other_grid",
                    "this building belongs to another grid; move it in the building's page, not by import"));
                bad_rows.insert(r.row);
            }
            continue;
        }
        let mut missing = Vec::new();
        if r.building_name.is_none() {
            missing.push("building_name");
        }
        if r.building_address.is_none() {
            missing.push("building_address");
        }
        let grid = match &r.grid_code {
            None => {
                missing.push("grid_code");
                None
            }
            Some(code) => match existing.grids.get(code) {
                Some(id) => Some(*id),
                None => {
                    report.problems.push(Problem::new(
                        r.row,
                        header_of("grid_code"),
                        "unknown_grid",
                        format!("{code:?} is not a grid of this community"),
                    ));
                    bad_rows.insert(r.row);
                    continue;
                }
            },
        };
        if !missing.is_empty() {
            for key in missing {
                report.problems.push(Problem::new(
                    r.row,
                    header_of(key),
                    "required_for_new_building",
                    format!(
                        "building {} is new: this column is required",
                        r.building_code
                    ),
                ));
            }
            bad_rows.insert(r.row);
            continue;
        }
        new_buildings.insert(
            r.building_code.clone(),
            NewBuilding {
                id: BuildingId::new(),
                code: r.building_code.clone(),
                name: r.building_name.clone().unwrap_or_default(),
                address: r.building_address.clone().unwrap_or_default(),
                address_code: None,
                floors: None,
                grid_id: GridId(grid.expect("checked above")),
            },
        );
    }
    // People: no document twice, in the file or in the community.
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut indexes: HashMap<usize, Vec<u8>> = HashMap::new();
    for r in &records {
        if let Some(doc) = &r.document {
            let idx = pii::document_index(key, doc.kind(), doc.number());
            if existing.documents.contains(&idx) {
                report.problems.push(Problem::new(
                    r.row,
                    header_of("document_number"),
                    "duplicate_resident",
                    "a resident with this document number is already registered",
                ));
                bad_rows.insert(r.row);
            } else if let Some(first) = seen.get(&idx) {
                report.problems.push(Problem::new(
                    r.row,
                    header_of("document_number"),
                    "duplicate_in_file",
                    format!("the same document number is on row {first}"),
                ));
                bad_rows.insert(r.row);
            } else {
                seen.insert(idx.clone(), r.row);
            }
            indexes.insert(r.row, idx);
        }
    }
    // Households: one place each, exactly one head, and a guardian's consent for a child.
    let mut households: Vec<(String, Vec<&RowRecord>)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        match position.get(r.household_key.as_str()) {
            Some(&i) => households[i].1.push(r),
            None => {
                position.insert(&r.household_key, households.len());
                households.push((r.household_key.clone(), vec![r]));
            }
        }
    }
    loop {
        let mut changed = false;
        for (_, members) in &households {
            let live: Vec<&&RowRecord> = members
                .iter()
                .filter(|r| !bad_rows.contains(&r.row))
                .collect();
            if live.is_empty() {
                continue;
            }
            let first = live[0];
            let owners: Vec<&&&RowRecord> = live
                .iter()
                .filter(|r| r.relation == Relation::Owner)
                .collect();
            let mut fail = |row: usize,
                            column: &str,
                            code: &str,
                            message: String,
                            report: &mut ImportReport| {
                report
                    .problems
                    .push(Problem::new(row, column, code, message));
                bad_rows.insert(row);
                changed = true;
            };
            if let Some(other) = live
                .iter()
                .find(|r| r.building_code != first.building_code || r.room != first.room)
            {
                fail(
                    other.row,
                    header_of("household"),
                    "household_in_two_places",
                    format!(
                        "the household of row {} lives in {} {}",
                        first.row, first.building_code, first.room
                    ),
                    &mut report,
                );
                continue;
            }
            if owners.len() != 1 {
                let code = if owners.is_empty() {
                    "household_without_owner"
                } else {
                    "household_two_owners"
                };
                let message = if owners.is_empty() {
                    "this household has no 户主 (head of household)".to_owned()
                } else {
                    "this household has more than one 户主 (head of household)".to_owned()
                };
                for r in &live {
                    fail(
                        r.row,
                        header_of("relation"),
                        code,
                        message.clone(),
                        &mut report,
                    );
                }
                continue;
            }
            let owner = owners[0];
            let owner_adult = owner.birth_date.is_none_or(|b| b.age_on(today) >= 18);
            for r in &live {
                if r.birth_date.is_some_and(|b| b.age_on(today) < 14)
                    && r.row != owner.row
                    && (!r.guardian_consent || !owner_adult)
                {
                    fail(
                        r.row,
                        header_of("guardian_consent"),
                        "guardian_consent_required",
                        "a child under 14 needs 监护人同意 = 是 and an adult 户主 as guardian"
                            .to_owned(),
                        &mut report,
                    );
                }
                if r.row == owner.row && r.birth_date.is_some_and(|b| b.age_on(today) < 14) {
                    fail(
                        r.row,
                        header_of("relation"),
                        "owner_is_a_child",
                        "a child under 14 cannot be the 户主".to_owned(),
                        &mut report,
                    );
                }
            }
        }
        if !changed {
            break;
        }
    }
    report
        .problems
        .sort_by(|a, b| (a.row, &a.column).cmp(&(b.row, &b.column)));
    report.problems.dedup();
    let mut skipped: Vec<usize> = bad_rows.iter().copied().collect();
    skipped.sort_unstable();
    report.valid_rows = report.rows - skipped.len();
    if !skipped.is_empty() && !skip_invalid {
        return (Plan::default(), report);
    }
    report.skipped_rows = skipped;
    // Build the plan from the rows that stand.
    let mut plan = Plan::default();
    let mut used_buildings: HashSet<String> = HashSet::new();
    let mut dwellings: HashMap<(Uuid, String), Uuid> = existing.dwellings.clone();
    for (_, members) in &households {
        let live: Vec<&&RowRecord> = members
            .iter()
            .filter(|r| !bad_rows.contains(&r.row))
            .collect();
        let Some(first) = live.first() else { continue };
        let (building, grid) = match existing.buildings.get(&first.building_code) {
            Some((id, grid)) => (*id, *grid),
            None => {
                let new = &new_buildings[&first.building_code];
                if used_buildings.insert(first.building_code.clone()) {
                    plan.buildings.push(new.clone());
                }
                (new.id.0, new.grid_id.0)
            }
        };
        let dwelling = *dwellings
            .entry((building, first.room.clone()))
            .or_insert_with(|| {
                let id = DwellingId::new();
                plan.dwellings.push(NewDwelling {
                    id,
                    building_id: BuildingId(building),
                    room: first.room.clone(),
                    address_code: None,
                });
                id.0
            });
        let household = HouseholdId::new();
        plan.households.push(NewHousehold {
            id: household,
            dwelling_id: DwellingId(dwelling),
        });
        let owner_id = ResidentId::new();
        for r in &live {
            let id = if r.relation == Relation::Owner {
                owner_id
            } else {
                ResidentId::new()
            };
            plan.residents.push(NewResident {
                id,
                name: r.name.as_str().to_owned(),
                gender: r.gender.map(|g| g.as_str()),
                birth_date: r.birth_date.map(|b| b.date()),
                document_kind: r.document.as_ref().map(|d| d.kind().as_str()),
                document: r.document.as_ref().map(|d| pii::seal_document(key, id, d)),
                phone: r.phone.as_ref().map(|p| pii::seal_phone(key, id, p)),
                household_id: Some(household),
                building_id: Some(BuildingId(building)),
                grid_id: Some(GridId(grid)),
                party_status: r.party_status.map(|p| p.as_str()),
                party_organisation: r.party_organisation.clone(),
                skills: r.skills.clone(),
                tags: r.tags.clone(),
                account_id: None,
            });
            plan.members.push(NewMember {
                household_id: household,
                resident_id: id,
                relation: r.relation.as_str(),
                moved_in: r.moved_in,
            });
            if r.birth_date.is_some_and(|b| b.age_on(today) < 14) && r.relation != Relation::Owner {
                plan.guardians.push(NewGuardian {
                    minor: id,
                    guardian: owner_id,
                    relation: "户主".to_owned(),
                });
                plan.consents.push(NewConsent {
                    id: ConsentId::new(),
                    resident: id,
                    purpose: purpose::MINOR_REGISTRATION,
                    given_by: owner_id,
                    method: "paper",
                    given_at: Utc::now(),
                    recorded_by: None,
                });
            }
        }
    }
    // The guardian rows must point at residents inserted before them: owners come first
    // in each household's rows only if the file put them first, so order does not matter
    // here (all residents are inserted before any guardian).
    report.created = Created {
        buildings: plan.buildings.len(),
        households: plan.households.len(),
        residents: plan.residents.len(),
    };
    (plan, report)
}

/// Imports residents (with their buildings and households) from an `.xlsx` or `.csv`
/// body. Refuses the whole file on any invalid row unless `skip_invalid`; `dry_run`
/// only reports.
#[utoipa::path(post, path = "/api/v1/communities/{id}/imports", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path), ImportQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportReport), (status = 422, body = ImportReport), (status = 403, body = ApiProblem)))]
pub async fn import(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (report, refused) = run_import(
        &state,
        &principal,
        CommunityId(id),
        body,
        query.dry_run.unwrap_or(false),
        query.skip_invalid.unwrap_or(false),
    )
    .await?;
    let status = if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(report)).into_response())
}

/// The import itself, shared by the API and the import page. Returns the report and
/// whether the file was refused.
pub async fn run_import(
    state: &AppState,
    principal: &Principal,
    community: CommunityId,
    body: Bytes,
    dry_run: bool,
    skip_invalid: bool,
) -> Result<(ImportReport, bool), ApiError> {
    let (target, ctx) = community_target(state, community).await?;
    principal
        .authorize(state, Action::ImportRegistry, &target, Deny::AsForbidden)
        .await?;
    if body.is_empty() {
        return Err(ApiError::InvalidField {
            field: "body",
            message: "send the .xlsx or .csv file as the request body".to_owned(),
        });
    }
    let existing = load_existing(state, community).await?;
    let today = crate::pages::local_today(&ctx.time_zone);
    let key = state.data_key.clone();
    // Parsing and checking a large file is CPU work: keep it off the request threads.
    let planned = tokio::task::spawn_blocking(move || {
        let table = spreadsheet::read_table(&body)?;
        Ok::<_, spreadsheet::ReadError>(plan(&table, &existing, &key, today, skip_invalid))
    })
    .await
    .map_err(ApiError::internal)?;
    let (plan, mut report) = match planned {
        Ok(done) => done,
        Err(error) => {
            return Err(ApiError::Rule {
                field: "body",
                code: error.code(),
                message: error.to_string(),
            });
        }
    };
    report.dry_run = dry_run;
    let refused = !report.problems.is_empty() && !skip_invalid;
    if dry_run || refused || plan.residents.is_empty() {
        return Ok((report, refused));
    }
    write_plan(state, principal, community, &plan, &report).await?;
    report.imported = true;
    Ok((report, false))
}

async fn write_plan(
    state: &AppState,
    principal: &Principal,
    community: CommunityId,
    plan: &Plan,
    report: &ImportReport,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    places::insert_buildings(&mut ex, community, &plan.buildings, now).await?;
    places::insert_dwellings(&mut ex, community, &plan.dwellings, now).await?;
    places::insert_households(&mut ex, community, &plan.households, now).await?;
    residents::insert_residents(&mut ex, community, &plan.residents, now)
        .await
        .map_err(|e| match e {
            // Someone registered one of these documents while the file was being checked.
            linli_store::StoreError::Conflict(_) => ApiError::Conflict {
                code: "duplicate_resident",
                message: "a document in the file was registered meanwhile; check the file again"
                    .to_owned(),
            },
            other => other.into(),
        })?;
    places::insert_members(&mut ex, community, &plan.members).await?;
    people::insert_guardians(&mut ex, community, &plan.guardians, now).await?;
    people::insert_consents(&mut ex, community, &plan.consents).await?;
    audit::append(
        &mut ex,
        &AuditEvent {
            community: Some(community),
            actor: Some(principal.account_id.0),
            actor_ip: context::client_ip(),
            request_id: context::request_id(),
            action: "registry_imported".to_owned(),
            object_type: "community".to_owned(),
            object_id: Some(community.to_string()),
            outcome: "success".to_owned(),
            detail: serde_json::json!({
                "buildings": report.created.buildings,
                "households": report.created.households,
                "residents": report.created.residents,
                "skipped_rows": report.skipped_rows.len(),
            }),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
    /// Personal data in full (community administrators only; audited). Default masked.
    pub full: Option<bool>,
}

/// The community's residents in the template's layout, so a full export imports again.
/// Masked unless `full`; formula-like values are neutralised; every export is audited.
#[utoipa::path(get, path = "/api/v1/communities/{id}/exports/residents", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path), ExportQuery), responses((status = 200, description = "the file"), (status = 403, body = ApiProblem)))]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(query.format.as_deref())?;
    let full = query.full.unwrap_or(false);
    let community = CommunityId(id);
    let (target, ctx) = community_target(&state, community).await?;
    let action = if full {
        Action::ExportRegistryFull
    } else {
        Action::ExportRegistry
    };
    let grids = principal
        .authorize(&state, action, &target, Deny::AsForbidden)
        .await?;
    let rows = export_rows(&state, community, &grids, full).await?;
    audit::record(
        &state.db,
        &principal.success_event(community, "registry_exported", "community", community, serde_json::json!({ "rows": rows.len(), "full": full, "format": if csv { "csv" } else { "xlsx" } })),
        Utc::now(),
    )
    .await?;
    let name = format!(
        "{}-residents{}",
        ctx.community_code,
        if full { "-full" } else { "" }
    );
    let bytes = if csv {
        spreadsheet::write_csv(&template_headers(), &rows).map_err(ApiError::internal)?
    } else {
        spreadsheet::write_xlsx(&Sheet {
            name: "居民",
            headers: template_headers(),
            rows,
            text_columns: text_columns(),
            notes: None,
        })
        .map_err(ApiError::internal)?
    };
    Ok(file_response(bytes, csv, &name))
}

async fn export_rows(
    state: &AppState,
    community: CommunityId,
    grids: &GridFilter,
    full: bool,
) -> Result<Vec<Vec<String>>, ApiError> {
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let all_grids: HashMap<Uuid, String> =
        linli_store::registry::list_grids(&mut ex, community, &GridFilter::All)
            .await?
            .into_iter()
            .map(|g| (g.id, g.code))
            .collect();
    let buildings: HashMap<Uuid, places::BuildingRow> = places::all_buildings(&mut ex, community)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let dwellings: HashMap<Uuid, places::DwellingRow> = places::all_dwellings(&mut ex, community)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let households: HashMap<Uuid, Uuid> = places::all_households(&mut ex, community)
        .await?
        .into_iter()
        .collect();
    let mut relations: HashMap<(Uuid, Uuid), (String, NaiveDate)> = HashMap::new();
    for m in places::memberships(&mut ex, community, None, None).await? {
        if m.moved_out.is_none() {
            relations.insert((m.household_id, m.resident_id), (m.relation, m.moved_in));
        }
    }
    let residents = residents::all_residents(&mut ex, community, grids).await?;
    drop(conn);
    let mut rows = Vec::with_capacity(residents.len());
    for r in residents {
        let opened = Opened::of(&state.data_key, &r).map_err(ApiError::internal)?;
        let shown = if full { opened } else { opened.masked(&r) };
        let place = r
            .household_id
            .and_then(|h| households.get(&h))
            .and_then(|d| dwellings.get(d));
        let building = place.and_then(|d| buildings.get(&d.building_id));
        let membership = r.household_id.and_then(|h| relations.get(&(h, r.id)));
        let relation = membership.and_then(|(rel, _)| Relation::parse(rel).ok());
        let kind = r
            .document_kind
            .as_deref()
            .and_then(|k| DocumentKind::parse(k).ok());
        let minor = r.birth_date.is_some_and(|b| {
            crate::pages::local_today("Asia/Shanghai")
                .years_since(b)
                .unwrap_or(0)
                < 14
        });
        let value = |key: &str| -> String {
            match key {
                "building_code" => building.map(|b| b.code.clone()).unwrap_or_default(),
                "building_name" => building.map(|b| b.name.clone()).unwrap_or_default(),
                "building_address" => building.map(|b| b.address.clone()).unwrap_or_default(),
                "grid_code" => building
                    .and_then(|b| all_grids.get(&b.grid_id).cloned())
                    .unwrap_or_default(),
                "room" => place.map(|d| d.room.clone()).unwrap_or_default(),
                "household" => r
                    .household_id
                    .map(|h| h.simple().to_string())
                    .unwrap_or_default(),
                "name" => r.name.clone(),
                "gender" => match r.gender.as_deref() {
                    Some("male") => "男".into(),
                    Some("female") => "女".into(),
                    _ => String::new(),
                },
                "birth_date" => match (full, r.birth_date) {
                    (true, Some(d)) => d.to_string(),
                    (false, Some(d)) => format!("{}", chrono::Datelike::year(&d)),
                    _ => String::new(),
                },
                "document_kind" => kind
                    .map(|k| {
                        match k {
                            DocumentKind::IdCard => "居民身份证",
                            DocumentKind::HkMacauPermit => "港澳居民证件",
                            DocumentKind::TaiwanPermit => "台湾居民证件",
                            DocumentKind::Passport => "护照",
                            DocumentKind::ForeignPermanentResident => "外国人永久居留证",
                            DocumentKind::Other => "其他",
                        }
                        .to_owned()
                    })
                    .unwrap_or_default(),
                "document_number" => shown.document_number.clone().unwrap_or_default(),
                "phone" => shown.phone.clone().unwrap_or_default(),
                "relation" => relation
                    .map(|rel| rel.label_zh().to_owned())
                    .unwrap_or_default(),
                "moved_in" => membership.map(|(_, d)| d.to_string()).unwrap_or_default(),
                "party_status" => r
                    .party_status
                    .as_deref()
                    .and_then(|p| linli_domain::registry::PartyStatus::parse(p).ok())
                    .map(|p| p.label_zh().to_owned())
                    .unwrap_or_default(),
                "party_organisation" => r.party_organisation.clone().unwrap_or_default(),
                "skills" => r.skills().join("、"),
                "tags" => r.tags().join("、"),
                "guardian_consent" => {
                    if minor {
                        "是".into()
                    } else {
                        String::new()
                    }
                }
                _ => String::new(),
            }
        };
        rows.push(
            COLUMNS
                .iter()
                .map(|c| sheet::neutralise_formula(&value(c.key)))
                .collect(),
        );
    }
    Ok(rows)
}
