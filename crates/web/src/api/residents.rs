//! Residents: listed and searched by those who serve them, personal data masked; revealed
//! in full only with a reason, and every reveal is written to the audit log.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use linli_domain::auth::Action;
use linli_domain::registry::search::ResidentQuery;
use linli_domain::registry::{
    BirthDate, Document, DocumentKind, Gender, PartyStatus, PersonName, Phone, Relation,
};
use linli_domain::{AccountId, CommunityId, GridId, HouseholdId, ResidentId};
use linli_store::audit;
use linli_store::registry::places::{self, NewMember};
use linli_store::registry::residents::{
    self, NewResident, ResidentFilter, ResidentRow, ResidentSearch,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::registry::{page_of, page_request, readable_household, record_target};
use crate::api::{ApiJson, ApiPath, ApiQuery, Page};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::crypto::DataKey;
use crate::error::{ApiError, Problem};
use crate::pii::{self, Opened};
use crate::state::AppState;

/// The resident record of the signed-in account in this community, through the
/// per-process cache. Every report and redemption asks for it, and on PostgreSQL that was
/// a round trip of its own per request. The link from account to resident is made when
/// the record is created and no request changes it; a grid move reaches the cached copy
/// within the cache's lifetime, as role changes reach cached sessions. Only found records
/// are kept, so an account linked a moment ago is not refused from the cache.
pub async fn own_resident(
    state: &AppState,
    community: CommunityId,
    account: AccountId,
) -> Result<Option<residents::Reporter>, ApiError> {
    let key = (community.0, account.0);
    if let Some(found) = state.own_residents.get(&key) {
        return Ok(Some(found));
    }
    let found = residents::find_reporter(&state.db, community, account).await?;
    if let Some(found) = found {
        state.own_residents.put(key, found);
    }
    Ok(found)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResidentView {
    pub id: Uuid,
    pub community_id: Uuid,
    pub name: String,
    pub gender: Option<String>,
    /// Year of birth; the full date is personal data and comes with a reveal.
    pub birth_year: Option<i32>,
    pub document_kind: Option<String>,
    /// Masked (`110105********002X`) unless revealed.
    pub id_number: Option<String>,
    /// Masked (`138****5678`) unless revealed.
    pub phone: Option<String>,
    pub household_id: Option<Uuid>,
    pub building_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub party_status: Option<String>,
    pub party_organisation: Option<String>,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
    /// Increases with every change; send it back as `If-Match` when correcting.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

impl ResidentView {
    /// The view with personal values as given (masked or full).
    fn build(row: ResidentRow, values: Opened) -> ResidentView {
        ResidentView {
            id: row.id,
            community_id: row.community_id,
            birth_year: row.birth_date.map(|d| d.year()),
            skills: row.skills(),
            tags: row.tags(),
            name: row.name,
            gender: row.gender,
            document_kind: row.document_kind,
            id_number: values.document_number,
            phone: values.phone,
            household_id: row.household_id,
            building_id: row.building_id,
            grid_id: row.grid_id,
            party_status: row.party_status,
            party_organisation: row.party_organisation,
            version: row.version,
            updated_at: row.updated_at,
        }
    }

    pub fn masked(key: &DataKey, row: ResidentRow) -> Result<ResidentView, ApiError> {
        let opened = Opened::of(key, &row).map_err(ApiError::internal)?;
        let masked = opened.masked(&row);
        Ok(ResidentView::build(row, masked))
    }

    pub fn full(key: &DataKey, row: ResidentRow) -> Result<ResidentView, ApiError> {
        let opened = Opened::of(key, &row).map_err(ApiError::internal)?;
        Ok(ResidentView::build(row, opened))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResidentQueryParams {
    /// A name (or part, or pinyin initials), a phone number or an ID-card number.
    pub q: Option<String>,
    pub grid: Option<Uuid>,
    pub building: Option<Uuid>,
    pub household: Option<Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Turns the search box into a store search: numbers go through the blind index.
pub fn store_search(key: &DataKey, q: Option<&str>) -> Result<Option<ResidentSearch>, ApiError> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().count() > 40 {
        return Err(ApiError::InvalidField {
            field: "q",
            message: "a search is at most 40 characters".to_owned(),
        });
    }
    match ResidentQuery::parse(q) {
        Some(ResidentQuery::IdNumber(id)) => Ok(Some(ResidentSearch::DocumentIdx(
            pii::document_index(key, DocumentKind::IdCard, id.as_str()),
        ))),
        Some(ResidentQuery::Phone(phone)) => Ok(Some(ResidentSearch::PhoneIdx(pii::phone_index(
            key, &phone,
        )))),
        Some(ResidentQuery::Name(terms)) if !terms.is_empty() => {
            Ok(Some(ResidentSearch::Name(terms)))
        }
        _ => Err(ApiError::InvalidField {
            field: "q",
            message: "search by name, pinyin initials, phone number or ID-card number".to_owned(),
        }),
    }
}

/// Residents of a community, searched and filtered; a grid worker sees their grids only.
#[utoipa::path(get, path = "/api/v1/communities/{id}/residents", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path), ResidentQueryParams),
    responses((status = 200, body = Page<ResidentView>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_residents(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ResidentQueryParams>,
) -> Result<axum::Json<Page<ResidentView>>, ApiError> {
    let page = page_request(query.cursor.as_deref(), query.limit)?;
    let search = store_search(&state.data_key, query.q.as_deref())?;
    let (target, _) = community_target(&state, CommunityId(id)).await?;
    let grids = principal
        .authorize(&state, Action::ReadRegistry, &target, Deny::AsForbidden)
        .await?;
    let filter = ResidentFilter {
        building: query.building.map(Into::into),
        household: query.household.map(Into::into),
        grid: query.grid.map(GridId),
        search,
    };
    let rows = {
        let mut conn = state.db.acquire().await?;
        residents::list_residents(&mut conn.exec(), CommunityId(id), &grids, &filter, page).await?
    };
    let mut failed = None;
    let page = page_of(rows, |row| {
        ResidentView::masked(&state.data_key, row).unwrap_or_else(|e| {
            failed.get_or_insert(e);
            placeholder()
        })
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(axum::Json(page)),
    }
}

fn placeholder() -> ResidentView {
    ResidentView {
        id: Uuid::nil(),
        community_id: Uuid::nil(),
        name: String::new(),
        gender: None,
        birth_year: None,
        document_kind: None,
        id_number: None,
        phone: None,
        household_id: None,
        building_id: None,
        grid_id: None,
        party_status: None,
        party_organisation: None,
        skills: Vec::new(),
        tags: Vec::new(),
        version: 0,
        updated_at: DateTime::<Utc>::MIN_UTC,
    }
}

/// A resident the caller may act on with `action`, or "not found".
pub async fn reachable_resident(
    state: &AppState,
    principal: &Principal,
    id: ResidentId,
    action: Action,
) -> Result<ResidentRow, ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        residents::find_resident(&mut conn.exec(), id)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let target = record_target(state, row.community_id, row.grid_id).await?;
    principal
        .authorize(state, action, &target, Deny::AsNotFound)
        .await?;
    Ok(row)
}

/// One resident, personal data masked.
#[utoipa::path(get, path = "/api/v1/residents/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = ResidentView), (status = 404, body = Problem)))]
pub async fn get_resident(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<ResidentView>, ApiError> {
    let row = reachable_resident(&state, &principal, ResidentId(id), Action::ReadRegistry).await?;
    Ok(axum::Json(ResidentView::masked(&state.data_key, row)?))
}

/// Personal fields that can be revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevealField {
    Phone,
    IdNumber,
    BirthDate,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    pub fields: Vec<RevealField>,
    /// Why the full value is needed (4 to 200 characters); kept in the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedView {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
}

/// A reason for seeing personal data: 4 to 200 characters once whitespace is collapsed.
pub fn check_reason(reason: &str) -> Result<String, ApiError> {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = reason.chars().count();
    if !(4..=200).contains(&len) {
        return Err(ApiError::Rule {
            field: "reason",
            code: "reason_required",
            message: "give a reason of 4 to 200 characters".to_owned(),
        });
    }
    Ok(reason)
}

/// The reveal itself, shared by the API and the resident page: checks the reason and the
/// caller's reach, writes the audit entry, and hands back the record to open.
pub async fn reveal_values(
    state: &AppState,
    principal: &Principal,
    id: ResidentId,
    fields: &[RevealField],
    reason: &str,
) -> Result<ResidentRow, ApiError> {
    // Reach first: someone who may not reveal learns nothing from a refusal.
    let row = reachable_resident(state, principal, id, Action::RevealPersonalData).await?;
    let reason = check_reason(reason)?;
    if fields.is_empty() {
        return Err(ApiError::InvalidField {
            field: "fields",
            message: "name at least one of phone, id_number, birth_date".to_owned(),
        });
    }
    let mut fields = fields.to_vec();
    fields.sort_by_key(|f| *f as u8);
    fields.dedup();
    let event = principal.success_event(
        CommunityId(row.community_id),
        "personal_data_revealed",
        "resident",
        row.id,
        serde_json::json!({ "fields": fields, "reason": reason }),
    );
    audit::record(&state.db, &event, Utc::now()).await?;
    Ok(row)
}

/// The full value of some personal fields, for someone whose role needs it. The reason,
/// the fields and who asked go to the audit log before anything is answered.
#[utoipa::path(post, path = "/api/v1/residents/{id}/reveal", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RevealRequest,
    responses((status = 200, body = RevealedView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn reveal(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> Result<axum::Json<RevealedView>, ApiError> {
    let row = reveal_values(
        &state,
        &principal,
        ResidentId(id),
        &body.fields,
        &body.reason,
    )
    .await?;
    let opened = Opened::of(&state.data_key, &row).map_err(ApiError::internal)?;
    let fields = body.fields;
    let wants = |f| fields.contains(&f);
    Ok(axum::Json(RevealedView {
        id: row.id,
        phone: opened.phone.filter(|_| wants(RevealField::Phone)),
        id_number: opened
            .document_number
            .filter(|_| wants(RevealField::IdNumber)),
        birth_date: row.birth_date.filter(|_| wants(RevealField::BirthDate)),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResidentRequest {
    pub name: String,
    /// `male` or `female`; taken from the ID-card number when omitted.
    pub gender: Option<String>,
    /// `YYYY-MM-DD`; taken from the ID-card number when omitted.
    pub birth_date: Option<String>,
    /// `id_card` (default when a number is given), `passport`, `hk_macau_permit`, …
    pub document_kind: Option<String>,
    pub document_number: Option<String>,
    pub phone: Option<String>,
    /// The household the resident joins, with their relation to it.
    pub household_id: Option<Uuid>,
    pub relation: Option<String>,
    /// `YYYY-MM-DD`; today when omitted.
    pub moved_in: Option<String>,
    pub party_status: Option<String>,
    pub party_organisation: Option<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A checked registration, ready to store.
pub struct CheckedResident {
    pub name: PersonName,
    pub gender: Option<Gender>,
    pub birth_date: Option<BirthDate>,
    pub document: Option<Document>,
    pub phone: Option<Phone>,
    pub relation: Option<Relation>,
    pub moved_in: NaiveDate,
    pub party_status: Option<PartyStatus>,
    pub party_organisation: Option<String>,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
}

fn short_list(field: &'static str, items: &[String]) -> Result<Vec<String>, ApiError> {
    if items.len() > 20
        || items
            .iter()
            .any(|s| s.trim().is_empty() || s.chars().count() > 30)
    {
        return Err(ApiError::InvalidField {
            field,
            message: "up to 20 entries of 1 to 30 characters".to_owned(),
        });
    }
    Ok(items.iter().map(|s| s.trim().to_owned()).collect())
}

impl NewResidentRequest {
    /// Every field parsed into its domain type; the first broken rule names its field.
    pub fn check(&self, today: NaiveDate) -> Result<CheckedResident, ApiError> {
        let rule = ApiError::rule;
        let name = PersonName::parse(&self.name).map_err(|e| rule("name", e))?;
        let document = match self.document_number.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(number) => {
                let kind = match self.document_kind.as_deref() {
                    None | Some("") => DocumentKind::IdCard,
                    Some(k) => DocumentKind::parse(k).map_err(|e| rule("document_kind", e))?,
                };
                Some(Document::parse(kind, number).map_err(|e| rule("document_number", e))?)
            }
        };
        let mut gender = self
            .gender
            .as_deref()
            .map(Gender::parse)
            .transpose()
            .map_err(|e| rule("gender", e))?;
        let mut birth_date = self
            .birth_date
            .as_deref()
            .map(|d| BirthDate::parse(d, today))
            .transpose()
            .map_err(|e| rule("birth_date", e))?;
        if let Some(Document::IdCard(id)) = &document {
            let embedded =
                BirthDate::new(id.birth_date(), today).map_err(|e| rule("document_number", e))?;
            match birth_date {
                Some(given) if given != embedded => {
                    return Err(rule(
                        "birth_date",
                        linli_domain::registry::RegistryRuleError::BirthDateMismatch,
                    ));
                }
                _ => birth_date = Some(embedded),
            }
            match gender {
                Some(given) if given != id.gender() => {
                    return Err(rule(
                        "gender",
                        linli_domain::registry::RegistryRuleError::GenderMismatch,
                    ));
                }
                _ => gender = Some(id.gender()),
            }
        }
        let phone = match self.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(Phone::parse(p).map_err(|e| rule("phone", e))?),
        };
        let relation = self
            .relation
            .as_deref()
            .map(Relation::parse)
            .transpose()
            .map_err(|e| rule("relation", e))?;
        if self.household_id.is_some() != relation.is_some() {
            return Err(ApiError::InvalidField {
                field: "relation",
                message: "a household and the relation to it go together".to_owned(),
            });
        }
        let moved_in = match self.moved_in.as_deref() {
            None => today,
            Some(d) => NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .ok()
                .filter(|d| *d <= today)
                .ok_or(ApiError::InvalidField {
                    field: "moved_in",
                    message: "a move-in date is YYYY-MM-DD and not in the future".to_owned(),
                })?,
        };
        let party_status = self
            .party_status
            .as_deref()
            .map(PartyStatus::parse)
            .transpose()
            .map_err(|e| rule("party_status", e))?;
        let party_organisation = self
            .party_organisation
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.chars().count() > 100 {
                    Err(ApiError::InvalidField {
                        field: "party_organisation",
                        message: "at most 100 characters".to_owned(),
                    })
                } else {
                    Ok(s.to_owned())
                }
            })
            .transpose()?;
        Ok(CheckedResident {
            name,
            gender,
            birth_date,
            document,
            phone,
            relation,
            moved_in,
            party_status,
            party_organisation,
            skills: short_list("skills", &self.skills)?,
            tags: free_tags(&self.tags)?,
        })
    }
}

/// Ordinary tags, which must not name a special group: those are sensitive data and go
/// through the consent path (`/residents/{id}/sensitive-tags`).
fn free_tags(items: &[String]) -> Result<Vec<String>, ApiError> {
    let tags = short_list("tags", items)?;
    if tags
        .iter()
        .any(|t| linli_domain::registry::SensitiveTag::parse(t).is_ok())
    {
        return Err(ApiError::Rule {
            field: "tags",
            code: "sensitive_tag_in_tags",
            message: "a special-group tag is sensitive data: record it with consent, not as a tag"
                .to_owned(),
        });
    }
    Ok(tags)
}

/// The age below which a guardian's consent comes first (PIPL art. 31).
pub const CONSENT_AGE: u32 = 14;

/// Registers a resident, optionally into a household. A duplicate document number is a
/// conflict; a child under 14 is registered through the guardian-consent flow instead.
#[utoipa::path(post, path = "/api/v1/communities/{id}/residents", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewResidentRequest,
    responses((status = 201, body = ResidentView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_resident(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewResidentRequest>,
) -> Result<(StatusCode, axum::Json<ResidentView>), ApiError> {
    let row = register(&state, &principal, CommunityId(id), body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ResidentView::masked(&state.data_key, row)?),
    ))
}

/// Registration itself, shared by the API and the household page.
pub async fn register(
    state: &AppState,
    principal: &Principal,
    community: CommunityId,
    body: NewResidentRequest,
) -> Result<ResidentRow, ApiError> {
    let (community_target, ctx) = community_target(state, community).await?;
    principal
        .authorize(
            state,
            Action::EditRegistry,
            &community_target,
            Deny::AsForbidden,
        )
        .await?;
    let today = crate::pages::local_today(&ctx.time_zone);
    let checked = body.check(today)?;
    if checked
        .birth_date
        .is_some_and(|b| b.age_on(today) < CONSENT_AGE)
    {
        return Err(ApiError::Rule {
            field: "birth_date",
            code: "guardian_consent_required",
            message: "a child under 14 is registered with a guardian's consent: use the guardian's record".to_owned(),
        });
    }
    // Where the resident will live decides whose grid they are in; a household outside
    // the caller's reach (or community) is as unknown as a missing one.
    let household = match body.household_id {
        Some(h) => Some(readable_household(state, principal, HouseholdId(h)).await?),
        None => None,
    };
    if household
        .as_ref()
        .is_some_and(|h| h.community_id != community.0)
    {
        return Err(ApiError::NotFound);
    }
    let target = linli_domain::auth::Target {
        grid_id: Some(GridId(
            household.as_ref().map(|h| h.grid_id).unwrap_or(Uuid::nil()),
        )),
        ..community_target
    };
    principal
        .authorize(state, Action::EditRegistry, &target, Deny::AsForbidden)
        .await?;
    let resident = ResidentId::new();
    let key = &state.data_key;
    let new = NewResident {
        id: resident,
        name: checked.name.as_str().to_owned(),
        gender: checked.gender.map(Gender::as_str),
        birth_date: checked.birth_date.map(BirthDate::date),
        document_kind: checked.document.as_ref().map(|d| d.kind().as_str()),
        document: checked
            .document
            .as_ref()
            .map(|d| pii::seal_document(key, resident, d)),
        phone: checked
            .phone
            .as_ref()
            .map(|p| pii::seal_phone(key, resident, p)),
        household_id: household.as_ref().map(|h| HouseholdId(h.id)),
        building_id: household.as_ref().map(|h| h.building_id.into()),
        grid_id: household.as_ref().map(|h| GridId(h.grid_id)),
        party_status: checked.party_status.map(PartyStatus::as_str),
        party_organisation: checked.party_organisation.clone(),
        skills: checked.skills.clone(),
        tags: checked.tags.clone(),
        account_id: None,
    };
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    if let Some(doc) = &new.document
        && residents::document_registered(&mut tx.exec(), community, &doc.idx)
            .await?
            .is_some()
    {
        return Err(ApiError::Conflict {
            code: "duplicate_resident",
            message: "a resident with this document number is already registered".to_owned(),
        });
    }
    residents::insert_residents(&mut tx.exec(), community, std::slice::from_ref(&new), now).await?;
    if let (Some(h), Some(relation)) = (&household, checked.relation) {
        places::insert_members(
            &mut tx.exec(),
            community,
            &[NewMember {
                household_id: HouseholdId(h.id),
                resident_id: resident,
                relation: relation.as_str(),
                moved_in: checked.moved_in,
            }],
        )
        .await?;
    }
    audit::append(
        &mut tx.exec(),
        &principal.success_event(
            community,
            "resident_registered",
            "resident",
            resident,
            serde_json::json!({ "household_id": body.household_id }),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    residents::find_resident(&mut conn.exec(), resident)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The caller's own resident record in their community, or "not found".
async fn own_record(state: &AppState, principal: &Principal) -> Result<ResidentRow, ApiError> {
    let community = principal.default_community().ok_or(ApiError::NotFound)?;
    let mut conn = state.db.acquire().await?;
    residents::find_resident_by_account(&mut conn.exec(), community, principal.account_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The caller's own resident record, in full: it is their data.
#[utoipa::path(get, path = "/api/v1/me/resident", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = ResidentView), (status = 404, body = Problem)))]
pub async fn my_record(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<ResidentView>, ApiError> {
    let row = own_record(&state, &principal).await?;
    Ok(axum::Json(ResidentView::full(&state.data_key, row)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// The new phone number; `null` or empty removes it.
    pub phone: Option<String>,
}

/// `If-Match: "<version>"` (quotes optional), as read from the record.
pub fn expected_version(headers: &axum::http::HeaderMap) -> Result<i64, ApiError> {
    let raw = headers
        .get(axum::http::header::IF_MATCH)
        .ok_or(ApiError::VersionRequired)?
        .to_str()
        .map_err(|_| ApiError::VersionRequired)?;
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| ApiError::InvalidField {
            field: "If-Match",
            message: "If-Match carries the record's version number".to_owned(),
        })
}

/// A resident corrects their own contact details (PIPL art. 46). Guarded by `If-Match`,
/// so a correction made from two phones at once is not silently lost.
#[utoipa::path(patch, path = "/api/v1/me/resident", tag = "me", security(("bearer" = [])),
    request_body = CorrectionRequest,
    responses((status = 200, body = ResidentView), (status = 412, body = Problem), (status = 428, body = Problem)))]
pub async fn correct_my_record(
    State(state): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<CorrectionRequest>,
) -> Result<axum::Json<ResidentView>, ApiError> {
    let version = expected_version(&headers)?;
    let phone = match body.phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(Phone::parse(p).map_err(|e| ApiError::rule("phone", e))?),
    };
    let row = own_record(&state, &principal).await?;
    let community = CommunityId(row.community_id);
    let sealed = phone
        .as_ref()
        .map(|p| pii::seal_phone(&state.data_key, row.resident_id(), p));
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let changed = residents::update_contact(
        &mut tx.exec(),
        community,
        row.resident_id(),
        version,
        sealed.as_ref(),
        now,
    )
    .await?;
    if !changed {
        return Err(ApiError::StaleVersion);
    }
    audit::append(
        &mut tx.exec(),
        &principal.success_event(
            community,
            "resident_self_corrected",
            "resident",
            row.id,
            serde_json::json!({ "fields": ["phone"] }),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    let row = own_record(&state, &principal).await?;
    Ok(axum::Json(ResidentView::full(&state.data_key, row)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub household_id: Uuid,
    pub relation: String,
    pub moved_in: NaiveDate,
    pub moved_out: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: Uuid,
    pub purpose: String,
    pub given_by_resident_id: Uuid,
    pub method: String,
    pub given_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    pub at: DateTime<Utc>,
    pub action: String,
    pub actor_account_id: Option<Uuid>,
    pub outcome: String,
}

/// Everything the community holds about the caller (PIPL art. 45).
#[derive(Debug, Serialize, ToSchema)]
pub struct MyData {
    pub generated_at: DateTime<Utc>,
    pub account: crate::api::me::MeResponse,
    pub resident: Option<ResidentView>,
    pub birth_date: Option<NaiveDate>,
    pub households: Vec<MembershipView>,
    pub guardians: Vec<Uuid>,
    pub wards: Vec<Uuid>,
    pub consents: Vec<ConsentView>,
    pub sensitive_tags: Vec<String>,
    /// Who read or changed this record, and when (reveals included).
    pub access_log: Vec<AccessView>,
}

/// A download of all data held about the caller.
#[utoipa::path(get, path = "/api/v1/me/data", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = MyData)))]
pub async fn my_data(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<
    (
        [(axum::http::HeaderName, &'static str); 1],
        axum::Json<MyData>,
    ),
    ApiError,
> {
    let record = match own_record(&state, &principal).await {
        Ok(row) => Some(row),
        Err(ApiError::NotFound) => None,
        Err(e) => return Err(e),
    };
    let mut data = MyData {
        generated_at: Utc::now(),
        account: crate::api::me::me_response(&principal),
        resident: None,
        birth_date: None,
        households: Vec::new(),
        guardians: Vec::new(),
        wards: Vec::new(),
        consents: Vec::new(),
        sensitive_tags: Vec::new(),
        access_log: Vec::new(),
    };
    if let Some(row) = record {
        let community = CommunityId(row.community_id);
        let resident = row.resident_id();
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        use linli_store::registry::people;
        data.households = places::memberships(&mut ex, community, None, Some(resident))
            .await?
            .into_iter()
            .map(|m| MembershipView {
                household_id: m.household_id,
                relation: m.relation,
                moved_in: m.moved_in,
                moved_out: m.moved_out,
            })
            .collect();
        for g in people::guardians_of(&mut ex, community, resident).await? {
            if g.minor_id == row.id {
                data.guardians.push(g.guardian_id);
            } else {
                data.wards.push(g.minor_id);
            }
        }
        data.consents = people::consents_of(&mut ex, community, resident)
            .await?
            .into_iter()
            .map(|c| ConsentView {
                id: c.id,
                purpose: c.purpose,
                given_by_resident_id: c.given_by_resident_id,
                method: c.method,
                given_at: c.given_at,
                withdrawn_at: c.withdrawn_at,
            })
            .collect();
        for tag in people::sensitive_tags_of(&mut ex, community, resident).await? {
            let opened = pii::open_tag(&state.data_key, resident, &tag.tag_enc)
                .map_err(ApiError::internal)?;
            if let Some(t) = opened {
                data.sensitive_tags.push(t.as_str().to_owned());
            }
        }
        data.access_log = audit::about(
            &mut ex,
            row.community_id,
            "resident",
            &row.id.to_string(),
            1000,
        )
        .await?
        .into_iter()
        .map(|e| AccessView {
            at: e.at,
            action: e.action,
            actor_account_id: e.actor_account_id,
            outcome: e.outcome,
        })
        .collect();
        data.birth_date = row.birth_date;
        data.resident = Some(ResidentView::full(&state.data_key, row)?);
    }
    Ok((
        [(
            axum::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"linli-my-data.json\"",
        )],
        axum::Json(data),
    ))
}
