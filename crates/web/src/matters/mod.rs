//! Matters as the API, the pages and the background jobs all use them: reporting, taking
//! a step, and who is told. Handlers parse and render; the decisions are made here (with
//! the domain's workflow) so every door follows the same rules.

pub mod photos;
pub mod sweep;

use chrono::{DateTime, Utc};
use linli_domain::auth::{Action, GridFilter, Target};
use linli_domain::matters::{
    Capacity, DispatchTarget, HandlerKind, MatterClass, MatterFacts, MatterRuleError, MatterSource,
    MatterStatus, Step, StepOutcome, SuperviseLevel, TimeLimit, TimeUnit, deadlines_for, plan_step,
};
use linli_domain::registry::Boundary;
use linli_domain::{AccountId, BuildingId, CommunityId, GridGroupId, GridId, ResidentId, StaffId};
use linli_store::matters::calendar::work_calendar;
use linli_store::matters::categories::{self, CategoryRow};
use linli_store::matters::inbox::{self, NewNotification};
use linli_store::matters::{self, MatterChange, MatterRow, NewEvent, NewMatter};
use linli_store::registry::residents::Reporter;
use linli_store::registry::{self, organisations, places, residents, staff};
use linli_store::{Exec, StoreError, audit, auth as store_auth};
use uuid::Uuid;

use crate::api::registry::record_target;
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::ApiError;
use crate::state::AppState;

impl ApiError {
    /// A matter rule broken by the request (`field` names the part at fault).
    pub fn matter(field: &'static str, error: MatterRuleError) -> ApiError {
        match error {
            MatterRuleError::IllegalTransition { status, .. } => ApiError::IllegalTransition {
                message: error.to_string(),
                status,
            },
            MatterRuleError::NotYourStep => ApiError::Forbidden,
            other => ApiError::Rule {
                field,
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(anyhow::anyhow!("stored {what} is invalid: {e}"))
}

/// The parsed state of a stored matter.
pub fn facts_of(row: &MatterRow) -> Result<MatterFacts, ApiError> {
    Ok(MatterFacts {
        status: MatterStatus::parse(&row.status).map_err(|e| corrupt("status", e))?,
        class: row
            .class
            .as_deref()
            .map(MatterClass::parse)
            .transpose()
            .map_err(|e| corrupt("class", e))?,
        assigned: row.handler_kind.is_some(),
        due_at: row.due_at,
        extension_requested_until: row.extension_until,
        fixed_by: row.fixed_by,
        supervise_level: SuperviseLevel::parse(&row.supervise_level)
            .map_err(|e| corrupt("supervise level", e))?,
    })
}

/// Where a reported matter is.
#[derive(Debug, Clone)]
pub enum Location {
    /// A building of the community (the reporter's own, usually).
    Building(BuildingId),
    /// A public place described in words ("3号楼与4号楼之间的花园").
    Place(String),
    /// A point on the map, which must fall inside one of the community's grids.
    Point { latitude: f64, longitude: f64 },
    /// Not given: the reporter's own grid is used.
    Unknown,
}

/// A report as it arrives, from the API, a page or an Open311 client.
#[derive(Debug, Clone)]
pub struct Report {
    pub community: CommunityId,
    pub category_id: Uuid,
    pub title: Option<String>,
    pub description: String,
    pub location: Location,
    pub proposed_class: Option<MatterClass>,
    pub source: MatterSource,
    /// For staff entering a matter on someone's behalf.
    pub on_behalf_of: Option<ResidentId>,
    /// Contact details a reporter gave with the report (Open311 clients send name, e-mail
    /// and phone): sealed before storage, bound to the matter.
    pub contact: Option<String>,
}

/// A community's category catalogue, through the per-process cache.
pub async fn catalogue(
    state: &AppState,
    community: CommunityId,
) -> Result<std::sync::Arc<Vec<CategoryRow>>, ApiError> {
    if let Some(rows) = state.catalogues.get(&community.0) {
        return Ok(rows);
    }
    let mut conn = state.db.acquire().await?;
    let rows = std::sync::Arc::new(categories::list_categories(&mut conn.exec(), community).await?);
    state.catalogues.put(community.0, rows.clone());
    Ok(rows)
}

/// A leaf category of this community that is still offered.
pub async fn reportable_category(
    state: &AppState,
    community: CommunityId,
    id: Uuid,
) -> Result<CategoryRow, ApiError> {
    let unknown = || {
        ApiError::matter(
            "category_id",
            MatterRuleError::UnknownValue {
                field: "category",
                value: id.to_string(),
            },
        )
    };
    let category = catalogue(state, community)
        .await?
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or_else(unknown)?;
    if !category.active || category.parent_id.is_none() {
        return Err(unknown());
    }
    Ok(category)
}

fn check_description(raw: &str) -> Result<String, ApiError> {
    linli_domain::matters::clean_text(raw, 5, 2000)
        .ok_or_else(|| ApiError::matter("description", MatterRuleError::DescriptionLength))
}

/// The title given, or the description's first words.
fn title_of(given: Option<&str>, description: &str) -> Result<String, ApiError> {
    match given.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => linli_domain::matters::clean_text(t, 2, 60)
            .ok_or_else(|| ApiError::matter("title", MatterRuleError::TitleLength)),
        None => Ok(description.chars().take(30).collect()),
    }
}

fn outside_community() -> ApiError {
    ApiError::Rule {
        field: "location",
        code: "outside_community",
        message: "the point is not inside any grid of this community; choose a building or describe the place".to_owned(),
    }
}

/// The grid and building a location falls in.
async fn place_of(
    db: &linli_store::Db,
    community: CommunityId,
    location: &Location,
    fallback_grid: Option<Uuid>,
) -> Result<(Option<Uuid>, Option<Uuid>), ApiError> {
    match location {
        Location::Building(id) => {
            let b = places::find_building(&mut db.acquire().await?.exec(), *id)
                .await?
                .filter(|b| b.community_id == community.0)
                .ok_or(ApiError::Rule {
                    field: "location.building_id",
                    code: "unknown_building",
                    message: "no such building in this community".to_owned(),
                })?;
            Ok((Some(b.grid_id), Some(b.id)))
        }
        Location::Point {
            latitude,
            longitude,
        } => {
            if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) {
                return Err(outside_community());
            }
            let grids =
                registry::list_grids(&mut db.acquire().await?.exec(), community, &GridFilter::All)
                    .await?;
            let inside = grids.iter().find(|g| {
                g.boundary
                    .as_deref()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .and_then(|v| Boundary::parse(&v).ok())
                    .is_some_and(|b| b.contains(*longitude, *latitude))
            });
            let grid = inside.ok_or_else(outside_community)?;
            Ok((Some(grid.id), None))
        }
        Location::Place(_) | Location::Unknown => Ok((fallback_grid, None)),
    }
}

/// What a matter's sealed contact details are bound to.
pub fn contact_purpose(matter: Uuid) -> String {
    format!("matter.contact/{matter}")
}

/// A short, unique, speakable number: the local date and six characters of the id
/// (Crockford base32, no I/L/O/U), e.g. `20261130-7KX2QD`.
pub fn matter_number(id: Uuid, today: chrono::NaiveDate) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let bits = u128::from_be_bytes(*id.as_bytes());
    let tail: String = (0..6)
        .map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize] as char)
        .collect();
    format!("{}-{tail}", today.format("%Y%m%d"))
}

/// Records a report. A resident reports as themselves; staff may report on someone's
/// behalf (walk-in, phone, patrol), limited to their grids for grid workers.
pub async fn report(
    state: &AppState,
    principal: &Principal,
    r: Report,
) -> Result<MatterRow, ApiError> {
    let (target, ctx) = community_target(state, r.community).await?;
    let description = check_description(&r.description)?;
    let title = title_of(r.title.as_deref(), &description)?;
    let on_behalf = r.source.is_on_behalf();
    if !on_behalf {
        principal
            .authorize(state, Action::ReportMatter, &target, Deny::AsForbidden)
            .await?;
    }
    // Cached reference data first: nothing below holds two pool connections at once.
    let category = reportable_category(state, r.community, r.category_id).await?;
    let (reporter, reporter_account) = if on_behalf {
        let resident = match r.on_behalf_of {
            Some(id) => {
                let mut conn = state.db.acquire().await?;
                let row = residents::find_resident(&mut conn.exec(), id)
                    .await?
                    .filter(|row| row.community_id == r.community.0)
                    .ok_or(ApiError::Rule {
                        field: "on_behalf_of",
                        code: "unknown_resident",
                        message: "no such resident in this community".to_owned(),
                    })?;
                Some(Reporter {
                    id: row.id,
                    grid_id: row.grid_id,
                    account_id: row.account_id,
                })
            }
            None => None,
        };
        (resident, None)
    } else {
        let own =
            crate::api::residents::own_resident(state, r.community, principal.account_id).await?;
        (own, Some(principal.account_id))
    };
    let fallback = reporter.and_then(|res| res.grid_id);
    let (grid, building) = place_of(&state.db, r.community, &r.location, fallback).await?;
    if on_behalf {
        let grid_target = Target {
            grid_id: Some(GridId(grid.unwrap_or(Uuid::nil()))),
            ..target
        };
        principal
            .authorize(
                state,
                Action::ReportOnBehalf,
                &grid_target,
                Deny::AsForbidden,
            )
            .await?;
    }
    let (latitude, longitude) = match r.location {
        Location::Point {
            latitude,
            longitude,
        } => (Some(latitude), Some(longitude)),
        _ => (None, None),
    };
    let place = match &r.location {
        Location::Place(p) => Some(linli_domain::matters::clean_text(p, 2, 200).ok_or(
            ApiError::Rule {
                field: "location.place",
                code: "place_length",
                message: "describe the place in 2 to 200 characters".to_owned(),
            },
        )?),
        _ => None,
    };
    let mut new = NewMatter {
        id: Uuid::nil(),
        number: String::new(),
        category_id: category.id,
        grid_id: grid.map(GridId),
        building_id: building,
        title,
        description,
        source: r.source.as_str(),
        proposed_class: r.proposed_class,
        reporter_resident_id: reporter.map(|res| res.id),
        reporter_account_id: reporter_account
            .or_else(|| reporter.and_then(|res| res.account_id.map(AccountId))),
        recorded_by: on_behalf.then_some(principal.account_id),
        contact_enc: None,
        place,
        latitude,
        longitude,
    };
    // A number holds 30 random bits of the id: a busy day may draw one twice, so a taken
    // number means "draw again", never an error for the resident.
    let mut attempts_left = 3;
    loop {
        let id = Uuid::now_v7();
        new.id = id;
        new.number = matter_number(id, crate::pages::local_today(&ctx.time_zone));
        new.contact_enc = r
            .contact
            .as_deref()
            .map(|c| state.data_key.seal(&contact_purpose(id), c.as_bytes()));
        let now = Utc::now();
        let row = MatterRow::reported(r.community, &new, now);
        let actor = Some(principal.account_id);
        match matters::report_matter(&state.db, r.community, new.clone(), actor, now).await {
            Ok(()) => return Ok(row),
            Err(StoreError::Conflict(_)) if attempts_left > 0 => attempts_left -= 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What the caller may do with one matter: read it, and in which capacities act.
pub struct Access {
    pub row: MatterRow,
    pub target: Target,
    pub capacities: Vec<Capacity>,
    /// Staff who may read every part of the matter (not only the reporter's view).
    pub staff_view: bool,
}

/// Whether the caller is the handler a matter was dispatched to.
async fn is_handler(
    state: &AppState,
    principal: &Principal,
    row: &MatterRow,
    target: &Target,
) -> Result<bool, ApiError> {
    let Some(kind) = row.handler_kind.as_deref() else {
        return Ok(false);
    };
    if !principal.can(Action::HandleMatter, target) {
        return Ok(false);
    }
    let community = CommunityId(row.community_id);
    Ok(
        match HandlerKind::parse(kind).map_err(|e| corrupt("handler", e))? {
            HandlerKind::GridWorker => {
                let mut conn = state.db.acquire().await?;
                let me =
                    staff::find_staff_by_account(&mut conn.exec(), community, principal.account_id)
                        .await?;
                me.is_some_and(|s| Some(s.id) == row.handler_id)
            }
            // A grid group's work is signed for by a grid worker of its grid or by staff.
            HandlerKind::GridGroup => true,
            // The office and the subdistrict's progress are recorded by community staff.
            HandlerKind::Office | HandlerKind::Subdistrict => {
                principal.can(Action::DispatchMatter, target)
            }
        },
    )
}

/// Loads a matter the caller may see, or "not found" (another community's, another
/// grid's, or another resident's matter all look missing).
pub async fn access(state: &AppState, principal: &Principal, id: Uuid) -> Result<Access, ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        matters::find_matter(&mut conn.exec(), id)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let target = record_target(state, row.community_id, row.grid_id).await?;
    let reporter = row.reporter_account_id == Some(principal.account_id.0);
    let staff_view = principal.can(Action::ReadMatters, &target);
    if !reporter && !staff_view {
        principal
            .authorize(state, Action::ReadMatters, &target, Deny::AsNotFound)
            .await?;
    }
    let mut capacities = Vec::new();
    if reporter {
        capacities.push(Capacity::Reporter);
    }
    if principal.can(Action::TriageMatter, &target) {
        capacities.push(Capacity::Triager);
    }
    if principal.can(Action::DispatchMatter, &target) {
        capacities.push(Capacity::Dispatcher);
    }
    if is_handler(state, principal, &row, &target).await? {
        capacities.push(Capacity::Handler);
    }
    Ok(Access {
        row,
        target,
        capacities,
        staff_view,
    })
}

/// Checks that what a step points at belongs to the matter's community.
async fn check_references(
    ex: &mut Exec<'_>,
    community: CommunityId,
    step: &Step,
) -> Result<(), ApiError> {
    match step {
        Step::Dispatch { target } => {
            let unknown = || ApiError::Rule {
                field: "target.id",
                code: "unknown_handler",
                message: "no such grid worker or grid group in this community".to_owned(),
            };
            match (target.kind, target.id) {
                (HandlerKind::GridWorker, Some(id)) => {
                    staff::find_staff(ex, StaffId(id))
                        .await?
                        .filter(|s| s.community_id == community.0 && s.left_at.is_none())
                        .ok_or_else(unknown)?;
                }
                (HandlerKind::GridGroup, Some(id)) => {
                    organisations::find_grid_group(ex, GridGroupId(id))
                        .await?
                        .filter(|g| g.community_id == community.0)
                        .ok_or_else(unknown)?;
                }
                (HandlerKind::GridWorker | HandlerKind::GridGroup, None) => {
                    return Err(ApiError::Rule {
                        field: "target.id",
                        code: "handler_required",
                        message: "name the grid worker or grid group".to_owned(),
                    });
                }
                (HandlerKind::Office | HandlerKind::Subdistrict, Some(_)) => {
                    return Err(ApiError::Rule {
                        field: "target.id",
                        code: "handler_not_expected",
                        message: "the office and the subdistrict take no id".to_owned(),
                    });
                }
                (HandlerKind::Office | HandlerKind::Subdistrict, None) => {}
            }
        }
        Step::Reject {
            duplicate_of: Some(original),
            ..
        } => {
            matters::find_matter(ex, *original)
                .await?
                .filter(|m| m.community_id == community.0)
                .ok_or(ApiError::Rule {
                    field: "duplicate_of",
                    code: "unknown_matter",
                    message: "no such matter in this community".to_owned(),
                })?;
        }
        _ => {}
    }
    Ok(())
}

/// The step's own words for the timeline, and its particulars.
fn describe(step: &Step) -> (String, serde_json::Value) {
    use serde_json::json;
    match step {
        Step::Reject {
            reason,
            duplicate_of,
            comment,
        } => (
            comment.clone(),
            json!({ "reason": reason.as_str(), "duplicate_of": duplicate_of }),
        ),
        Step::Triage { class } => (String::new(), json!({ "class": class.as_str() })),
        Step::Reclassify { class, reason } => (reason.clone(), json!({ "class": class.as_str() })),
        Step::Refer { kind, guidance } => (guidance.clone(), json!({ "referral": kind.as_str() })),
        Step::Dispatch { target } => (
            String::new(),
            json!({ "handler_kind": target.kind.as_str(), "handler_id": target.id }),
        ),
        Step::Verify { passed, comment } => (comment.clone(), json!({ "passed": passed })),
        Step::Rate { rating, comment } => (comment.clone(), json!({ "rating": rating })),
        Step::RequestExtension { until, reason } => (reason.clone(), json!({ "until": until })),
        Step::DecideExtension { approve, comment } => {
            (comment.clone(), json!({ "approved": approve }))
        }
        Step::Withdraw { comment }
        | Step::Feedback { comment }
        | Step::HandleOnSite { comment }
        | Step::Reactivate { comment }
        | Step::Supervise { comment } => (comment.clone(), json!({})),
        Step::Return { reason } | Step::Reopen { reason } | Step::Shelve { reason } => {
            (reason.clone(), json!({}))
        }
        Step::Comment { text } => (text.clone(), json!({})),
        Step::Accept | Step::Register | Step::Sign => (String::new(), json!({})),
    }
}

/// Turns the workflow's outcome into the columns to write, computing deadlines on the
/// community's calendar when a clock starts or moves.
async fn change_for(
    ex: &mut Exec<'_>,
    row: &MatterRow,
    step: &Step,
    outcome: &StepOutcome,
    actor_staff: Option<Uuid>,
    time_zone: &str,
    now: DateTime<Utc>,
) -> Result<MatterChange, ApiError> {
    let community = CommunityId(row.community_id);
    let mut change = MatterChange {
        status: outcome.to,
        class: outcome.class,
        handler: outcome.assign,
        extension_until: outcome.extension_request,
        supervise_level: outcome.supervise,
        rating: outcome.rating.map(i32::from),
        reopened: outcome.reopened,
        ..MatterChange::default()
    };
    if outcome.assign_to_actor {
        change.handler = Some(Some(match actor_staff {
            Some(id) => DispatchTarget {
                kind: HandlerKind::GridWorker,
                id: Some(id),
            },
            None => DispatchTarget {
                kind: HandlerKind::Office,
                id: None,
            },
        }));
    }
    if let Step::Refer { kind, .. } = step {
        change.referral_kind = Some(kind.as_str());
    }
    let restart =
        outcome.start_clock || (outcome.reopened && outcome.to == Some(MatterStatus::InProgress));
    if restart || outcome.extend_to.is_some() {
        let (calendar, settings) = work_calendar(ex, community, time_zone).await?;
        let due = match outcome.extend_to {
            Some(until) => until,
            None => {
                let category = categories::find_category(ex, community, row.category_id)
                    .await?
                    .ok_or_else(|| corrupt("category", row.category_id))?;
                let unit = TimeUnit::parse(&category.time_unit).map_err(|e| corrupt("unit", e))?;
                let limit = TimeLimit::new(i64::from(category.time_limit), unit)
                    .map_err(|e| corrupt("time limit", e))?;
                calendar.due(now, limit)
            }
        };
        change.deadlines = Some(Some(deadlines_for(
            &calendar,
            now,
            due,
            settings.yellow_after_days.max(1) as u32,
            settings.red_after_days.max(2) as u32,
        )));
        change.supervise_level = Some(SuperviseLevel::None);
    }
    if matches!(step, Step::Reclassify { .. }) {
        change.deadlines = Some(None);
        change.supervise_level = Some(SuperviseLevel::None);
    }
    match outcome.to {
        Some(MatterStatus::Closed | MatterStatus::Cancelled) => change.closed_at = Some(Some(now)),
        Some(_) if outcome.reopened => change.closed_at = Some(None),
        _ => {}
    }
    Ok(change)
}

/// Accounts of the people a dispatch target names: the worker, or the group's staff.
pub async fn handler_accounts(
    ex: &mut Exec<'_>,
    community: CommunityId,
    kind: Option<&str>,
    id: Option<Uuid>,
) -> Result<Vec<AccountId>, ApiError> {
    let (Some(kind), Some(id)) = (kind, id) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    match kind {
        "grid_worker" => {
            if let Some(s) = staff::find_staff(ex, StaffId(id)).await? {
                out.extend(s.account_id.map(AccountId));
            }
        }
        "grid_group" => {
            for m in organisations::group_members(ex, community, GridGroupId(id)).await? {
                if let Some(staff_id) = m.staff_id
                    && let Some(s) = staff::find_staff(ex, StaffId(staff_id)).await?
                {
                    out.extend(s.account_id.map(AccountId));
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

/// The roles that decide returns, verifications and extensions.
pub const DECIDERS: &[&str] = &["community_staff", "community_admin"];

/// Who a step concerns, besides the one taking it.
async fn notifications_for(
    ex: &mut Exec<'_>,
    after: &MatterRow,
    before: &MatterRow,
    step: &Step,
    actor: AccountId,
) -> Result<Vec<NewNotification>, ApiError> {
    let community = CommunityId(after.community_id);
    let mut out = Vec::new();
    let mut tell = |accounts: Vec<AccountId>, kind: &'static str| {
        for account in accounts {
            if account != actor
                && !out
                    .iter()
                    .any(|n: &NewNotification| n.account == account && n.kind == kind)
            {
                out.push(NewNotification {
                    account,
                    matter: Some(after.id),
                    kind,
                    title: after.number.clone(),
                    body: after.title.clone(),
                });
            }
        }
    };
    let kind = after.handler_kind.as_deref();
    match step {
        Step::Dispatch { .. } => tell(
            handler_accounts(ex, community, kind, after.handler_id).await?,
            "matter_dispatched",
        ),
        Step::Verify { passed: false, .. } | Step::DecideExtension { .. } | Step::Reopen { .. } => {
            tell(
                handler_accounts(ex, community, kind, after.handler_id).await?,
                "matter_returned_to_handler",
            )
        }
        Step::Supervise { .. } => tell(
            handler_accounts(ex, community, kind, after.handler_id).await?,
            "matter_supervised",
        ),
        Step::Return { .. }
        | Step::Feedback { .. }
        | Step::RequestExtension { .. }
        | Step::HandleOnSite { .. } => {
            let staff = store_auth::accounts_with_roles(ex, community, DECIDERS).await?;
            tell(staff, "matter_needs_decision")
        }
        _ => {}
    }
    if after.status != before.status
        && let Some(reporter) = after.reporter_account_id
    {
        tell(vec![AccountId(reporter)], "matter_progress");
    }
    Ok(out)
}

/// Takes one step on a matter at `version` (from `If-Match`): checks who may, checks the
/// workflow, writes the change, the timeline entry and the notifications together.
pub async fn take_step(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    version: i64,
    step: Step,
) -> Result<MatterRow, ApiError> {
    let Access {
        row, capacities, ..
    } = access(state, principal, id).await?;
    if row.version != version {
        return Err(ApiError::StaleVersion);
    }
    let facts = facts_of(&row)?;
    let now = Utc::now();
    let outcome = plan_step(&facts, &step, &capacities, principal.account_id.0, now)
        .map_err(|e| ApiError::matter(step_field(&step), e))?;
    let community = CommunityId(row.community_id);
    let (_, ctx) = community_target(state, community).await?;
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    check_references(&mut ex, community, &step).await?;
    let actor_staff = staff::find_staff_by_account(&mut ex, community, principal.account_id)
        .await?
        .map(|s| s.id);
    let mut change = change_for(
        &mut ex,
        &row,
        &step,
        &outcome,
        actor_staff,
        &ctx.time_zone,
        now,
    )
    .await?;
    if outcome.fixed_by_actor {
        change.fixed_by = Some(Some(principal.account_id.0));
    }
    let (comment, detail) = describe(&step);
    let event = NewEvent {
        seq: version + 1,
        actor: Some(principal.account_id),
        step: step.name(),
        from: Some(facts.status),
        to: outcome.to.unwrap_or(facts.status),
        comment,
        detail,
    };
    if !matters::apply_change(&mut ex, community, id, version, &change, &event, now).await? {
        return Err(ApiError::StaleVersion);
    }
    let after = matters::find_matter(&mut ex, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let notes = notifications_for(&mut ex, &after, &row, &step, principal.account_id).await?;
    inbox::notify(&mut ex, community, &notes, now).await?;
    crate::outbox::enqueue(&mut ex, community, &notes, now).await?;
    if let Step::Reclassify { class, reason } = &step {
        let entry = principal.success_event(
            community,
            "matter_reclassified",
            "matter",
            id,
            serde_json::json!({ "from": row.class, "to": class.as_str(), "reason": reason }),
        );
        audit::append(&mut ex, &entry, now).await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// The request field a rule error belongs to.
fn step_field(step: &Step) -> &'static str {
    match step {
        Step::Rate { .. } => "rating",
        Step::RequestExtension { .. } => "until",
        Step::Dispatch { .. } => "target",
        Step::Reclassify { .. } | Step::Triage { .. } => "class",
        Step::Reject { .. } => "duplicate_of",
        _ => "step",
    }
}
