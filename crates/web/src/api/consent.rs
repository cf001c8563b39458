//! Sensitive data and consent (PIPL art. 28–31): special-group tags are recorded only with
//! a consent for that purpose, read only with a reason (audited), and deleted when the
//! consent is withdrawn. A child under 14 is registered through a guardian, whose consent
//! is recorded first.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use linli_domain::auth::Action;
use linli_domain::registry::{
    BirthDate, Document, DocumentKind, Gender, PersonName, Relation, SensitiveTag,
};
use linli_domain::{CommunityId, ConsentId, GridId, HouseholdId, ResidentId};
use linli_store::audit::{self, AuditEvent};
use linli_store::registry::people::{self, NewConsent, NewGuardian, NewSensitiveTag, purpose};
use linli_store::registry::places::{self, NewMember};
use linli_store::registry::residents::{self, NewResident, ResidentRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::residents::{CONSENT_AGE, ResidentView, check_reason, reachable_resident};
use crate::api::{ApiJson, ApiPath, Page};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::pii;
use crate::state::AppState;

/// How consent was given.
const METHODS: [&str; 3] = ["written", "electronic", "paper"];

fn event(
    principal: &Principal,
    row: &ResidentRow,
    action: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    principal.success_event(
        CommunityId(row.community_id),
        action,
        "resident",
        row.id,
        detail,
    )
}

fn check_method(method: &str) -> Result<&'static str, ApiError> {
    METHODS
        .into_iter()
        .find(|m| *m == method)
        .ok_or(ApiError::InvalidField {
            field: "consent_method",
            message: "written, electronic or paper".to_owned(),
        })
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

/// The consents recorded for a resident.
#[utoipa::path(get, path = "/api/v1/residents/{id}/consents", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<ConsentView>), (status = 404, body = Problem)))]
pub async fn list_consents(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<ConsentView>>, ApiError> {
    let row = reachable_resident(&state, &principal, ResidentId(id), Action::ReadRegistry).await?;
    // A special-group consent exists only where a sensitive tag was recorded: only those
    // who may read the tags learn that it exists.
    let target = crate::api::registry::record_target(&state, row.community_id, row.grid_id).await?;
    let sensitive = principal.can(Action::ReadSensitiveData, &target);
    let mut conn = state.db.acquire().await?;
    let items: Vec<ConsentView> = people::consents_of(
        &mut conn.exec(),
        CommunityId(row.community_id),
        row.resident_id(),
    )
    .await?
    .into_iter()
    .filter(|c| sensitive || c.purpose != purpose::SPECIAL_GROUP_CARE)
    .map(|c| ConsentView {
        id: c.id,
        purpose: c.purpose,
        given_by_resident_id: c.given_by_resident_id,
        method: c.method,
        given_at: c.given_at,
        withdrawn_at: c.withdrawn_at,
    })
    .collect();
    Ok(axum::Json(Page::whole(items)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTagRequest {
    /// `elderly_living_alone`, `disability`, `low_income`, … (or the Chinese label).
    pub tag: String,
    /// How the resident (or a child's guardian) consented: `written`, `electronic`, `paper`.
    pub consent_method: String,
    /// For a child under 14: the guardian who consented.
    pub guardian_id: Option<Uuid>,
}

/// Records a special-group tag together with the consent for it.
#[utoipa::path(post, path = "/api/v1/residents/{id}/sensitive-tags", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewTagRequest,
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_tag(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewTagRequest>,
) -> Result<StatusCode, ApiError> {
    let tag = SensitiveTag::parse(&body.tag).map_err(|e| ApiError::rule("tag", e))?;
    let method = check_method(&body.consent_method)?;
    let row = reachable_resident(
        &state,
        &principal,
        ResidentId(id),
        Action::ReadSensitiveData,
    )
    .await?;
    reachable_resident(&state, &principal, ResidentId(id), Action::EditRegistry).await?;
    let community = CommunityId(row.community_id);
    let today = crate::pages::local_today("Asia/Shanghai");
    let child = row
        .birth_date
        .is_some_and(|b| today.years_since(b).unwrap_or(0) < CONSENT_AGE);
    let given_by = if child {
        let guardian = body.guardian_id.ok_or(ApiError::Rule {
            field: "guardian_id",
            code: "guardian_consent_required",
            message: "a child under 14: name the guardian who consented".to_owned(),
        })?;
        let mut conn = state.db.acquire().await?;
        let guardians =
            people::guardians_of(&mut conn.exec(), community, row.resident_id()).await?;
        if !guardians
            .iter()
            .any(|g| g.minor_id == row.id && g.guardian_id == guardian)
        {
            return Err(ApiError::Rule {
                field: "guardian_id",
                code: "not_the_guardian",
                message: "this person is not a recorded guardian of the child".to_owned(),
            });
        }
        ResidentId(guardian)
    } else {
        row.resident_id()
    };
    let now = Utc::now();
    let consent = ConsentId::new();
    let mut tx = state.db.begin().await?;
    people::insert_consents(
        &mut tx.exec(),
        community,
        &[NewConsent {
            id: consent,
            resident: row.resident_id(),
            purpose: purpose::SPECIAL_GROUP_CARE,
            given_by,
            method,
            given_at: now,
            recorded_by: Some(principal.account_id),
        }],
    )
    .await?;
    people::insert_sensitive_tags(
        &mut tx.exec(),
        community,
        &[NewSensitiveTag {
            resident: row.resident_id(),
            tag: pii::seal_tag(&state.data_key, row.resident_id(), tag),
            consent: Some(consent),
            recorded_by: Some(principal.account_id),
        }],
        now,
    )
    .await
    .map_err(|e| match e {
        linli_store::StoreError::Conflict(_) => ApiError::Conflict {
            code: "tag_already_recorded",
            message: "this tag is already recorded".to_owned(),
        },
        other => other.into(),
    })?;
    // The tag itself stays out of the log: the log says a tag was recorded, not which.
    audit::append(
        &mut tx.exec(),
        &event(
            &principal,
            &row,
            "sensitive_data_recorded",
            serde_json::json!({ "consent_id": consent.0 }),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadTagsRequest {
    /// Why the tags are needed (4 to 200 characters); kept in the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub tag: String,
    pub consent_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

/// A resident's special-group tags, for someone whose role needs them, with a reason.
#[utoipa::path(post, path = "/api/v1/residents/{id}/sensitive-tags/read", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReadTagsRequest,
    responses((status = 200, body = Page<TagView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn read_tags(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReadTagsRequest>,
) -> Result<axum::Json<Page<TagView>>, ApiError> {
    // Reach first: someone who may not read the tags learns nothing from a refusal.
    let row = reachable_resident(
        &state,
        &principal,
        ResidentId(id),
        Action::ReadSensitiveData,
    )
    .await?;
    let reason = check_reason(&body.reason)?;
    audit::record(
        &state.db,
        &event(
            &principal,
            &row,
            "sensitive_data_read",
            serde_json::json!({ "reason": reason }),
        ),
        Utc::now(),
    )
    .await?;
    let mut conn = state.db.acquire().await?;
    let mut items = Vec::new();
    for t in people::sensitive_tags_of(
        &mut conn.exec(),
        CommunityId(row.community_id),
        row.resident_id(),
    )
    .await?
    {
        if let Some(tag) = pii::open_tag(&state.data_key, row.resident_id(), &t.tag_enc)
            .map_err(ApiError::internal)?
        {
            items.push(TagView {
                tag: tag.as_str().to_owned(),
                consent_id: t.consent_id,
                recorded_at: t.recorded_at,
            });
        }
    }
    Ok(axum::Json(Page::whole(items)))
}

/// Withdraws a consent; the sensitive data recorded under it is deleted with it. Staff
/// may do it for anyone they serve; a resident for themselves (through `/me`).
#[utoipa::path(post, path = "/api/v1/residents/{id}/consents/{consent_id}/withdraw", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("consent_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn withdraw(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, consent)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let own = {
        let community = principal.default_community();
        let mut conn = state.db.acquire().await?;
        match community {
            Some(c) => {
                residents::find_resident_by_account(&mut conn.exec(), c, principal.account_id)
                    .await?
                    .filter(|r| r.id == id)
            }
            None => None,
        }
    };
    let row = match own {
        Some(row) => row,
        None => {
            reachable_resident(&state, &principal, ResidentId(id), Action::EditRegistry).await?
        }
    };
    let community = CommunityId(row.community_id);
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let consents = people::consents_of(&mut tx.exec(), community, row.resident_id()).await?;
    if !consents.iter().any(|c| c.id == consent) {
        return Err(ApiError::NotFound);
    }
    if !people::withdraw_consent(&mut tx.exec(), community, ConsentId(consent), now).await? {
        return Err(ApiError::Conflict {
            code: "consent_already_withdrawn",
            message: "this consent was already withdrawn".to_owned(),
        });
    }
    let deleted = people::delete_tags_of_consent(
        &mut tx.exec(),
        community,
        row.resident_id(),
        ConsentId(consent),
    )
    .await?;
    audit::append(
        &mut tx.exec(),
        &event(
            &principal,
            &row,
            "consent_withdrawn",
            serde_json::json!({ "consent_id": consent, "tags_deleted": deleted }),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChildRequest {
    pub name: String,
    /// An ID-card number, or give `birth_date` and `gender`.
    pub document_number: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    /// The guardian's relation to the child, e.g. 父亲, 母亲, 祖母.
    pub guardian_relation: String,
    /// How the guardian consented: `written`, `electronic`, `paper`.
    pub consent_method: String,
}

/// Registers a child under 14 into the guardian's household, recording the guardian and
/// their consent first (PIPL art. 31).
#[utoipa::path(post, path = "/api/v1/residents/{id}/children", tag = "registry", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewChildRequest,
    responses((status = 201, body = ResidentView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_child(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewChildRequest>,
) -> Result<(StatusCode, axum::Json<ResidentView>), ApiError> {
    let guardian =
        reachable_resident(&state, &principal, ResidentId(id), Action::EditRegistry).await?;
    let community = CommunityId(guardian.community_id);
    let today = crate::pages::local_today("Asia/Shanghai");
    let rule = ApiError::rule;
    let name = PersonName::parse(&body.name).map_err(|e| rule("name", e))?;
    let method = check_method(&body.consent_method)?;
    let relation = body.guardian_relation.trim();
    if relation.is_empty() || relation.chars().count() > 10 {
        return Err(ApiError::InvalidField {
            field: "guardian_relation",
            message: "1 to 10 characters, e.g. 母亲".to_owned(),
        });
    }
    let document = match body
        .document_number
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        Some(d) => {
            Some(Document::parse(DocumentKind::IdCard, d).map_err(|e| rule("document_number", e))?)
        }
        None => None,
    };
    let (birth, gender) = match &document {
        Some(Document::IdCard(id)) => (
            BirthDate::new(id.birth_date(), today).map_err(|e| rule("document_number", e))?,
            id.gender(),
        ),
        _ => (
            BirthDate::parse(body.birth_date.as_deref().unwrap_or(""), today)
                .map_err(|e| rule("birth_date", e))?,
            Gender::parse(body.gender.as_deref().unwrap_or("")).map_err(|e| rule("gender", e))?,
        ),
    };
    if birth.age_on(today) >= CONSENT_AGE {
        return Err(ApiError::Rule {
            field: "birth_date",
            code: "not_a_child",
            message: "register residents of 14 and over directly".to_owned(),
        });
    }
    if guardian
        .birth_date
        .is_some_and(|b| today.years_since(b).unwrap_or(0) < 18)
    {
        return Err(ApiError::Rule {
            field: "id",
            code: "guardian_not_adult",
            message: "a guardian is an adult".to_owned(),
        });
    }
    let household = guardian.household_id.ok_or(ApiError::Rule {
        field: "id",
        code: "guardian_without_household",
        message: "the guardian is not registered in a household".to_owned(),
    })?;
    let child = ResidentId::new();
    let key = &state.data_key;
    let sealed = document.as_ref().map(|d| pii::seal_document(key, child, d));
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    if let Some(doc) = &sealed
        && residents::document_registered(&mut tx.exec(), community, &doc.idx)
            .await?
            .is_some()
    {
        return Err(ApiError::Conflict {
            code: "duplicate_resident",
            message: "a resident with this document number is already registered".to_owned(),
        });
    }
    // Consent and guardian first: the child's record exists only with them.
    let new = NewResident {
        id: child,
        name: name.as_str().to_owned(),
        gender: Some(gender.as_str()),
        birth_date: Some(birth.date()),
        document_kind: document.as_ref().map(|d| d.kind().as_str()),
        document: sealed,
        phone: None,
        household_id: Some(HouseholdId(household)),
        building_id: guardian.building_id.map(Into::into),
        grid_id: guardian.grid_id.map(GridId),
        party_status: None,
        party_organisation: None,
        skills: Vec::new(),
        tags: Vec::new(),
        account_id: None,
    };
    residents::insert_residents(&mut tx.exec(), community, std::slice::from_ref(&new), now).await?;
    people::insert_guardians(
        &mut tx.exec(),
        community,
        &[NewGuardian {
            minor: child,
            guardian: guardian.resident_id(),
            relation: relation.to_owned(),
        }],
        now,
    )
    .await?;
    people::insert_consents(
        &mut tx.exec(),
        community,
        &[NewConsent {
            id: ConsentId::new(),
            resident: child,
            purpose: purpose::MINOR_REGISTRATION,
            given_by: guardian.resident_id(),
            method,
            given_at: now,
            recorded_by: Some(principal.account_id),
        }],
    )
    .await?;
    places::insert_members(
        &mut tx.exec(),
        community,
        &[NewMember {
            household_id: HouseholdId(household),
            resident_id: child,
            relation: Relation::Family.as_str(),
            moved_in: today,
        }],
    )
    .await?;
    audit::append(
        &mut tx.exec(),
        &event(
            &principal,
            &guardian,
            "child_registered",
            serde_json::json!({ "child_id": child.0 }),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    let row = residents::find_resident(&mut conn.exec(), child)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ResidentView::masked(key, row)?),
    ))
}
