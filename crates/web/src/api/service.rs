//! The service circle: one centre, its stations and the grid-group posts, what each offers
//! and its rooms. Public: a resident finds the nearest station without signing in.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use linli_domain::auth::Action;
use linli_domain::{CommunityId, GridId, ServicePointId};
use linli_store::audit;
use linli_store::registry::service::{self, NewServicePoint, ServicePointRow};
use linli_store::tenancy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::{ApiJson, ApiPath, Page};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Kinds of service point.
pub const KINDS: [(&str, &str, &str); 3] = [
    ("centre", "党群服务中心", "Party-mass service centre"),
    ("station", "服务站", "Service station"),
    ("grid_post", "网格服务点", "Grid service post"),
];

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueView {
    pub id: Uuid,
    pub name: String,
    pub capacity: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServicePointView {
    pub id: Uuid,
    pub community_id: Uuid,
    /// `centre`, `station` or `grid_post`.
    pub kind: String,
    pub code: String,
    pub name: String,
    pub address: String,
    pub opening_hours: String,
    pub phone: Option<String>,
    pub grid_id: Option<Uuid>,
    pub services: Vec<ServiceView>,
    pub venues: Vec<VenueView>,
}

/// A service point with its services (named) and rooms.
pub async fn point_view(
    state: &AppState,
    row: ServicePointRow,
) -> Result<ServicePointView, ApiError> {
    let community = CommunityId(row.community_id);
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let kinds = service::service_kinds(&mut ex, community).await?;
    let codes = service::services_of(&mut ex, community, ServicePointId(row.id)).await?;
    let venues = service::venues_of(&mut ex, community, ServicePointId(row.id)).await?;
    Ok(ServicePointView {
        id: row.id,
        community_id: row.community_id,
        kind: row.kind,
        code: row.code,
        name: row.name,
        address: row.address,
        opening_hours: row.opening_hours,
        phone: row.phone,
        grid_id: row.grid_id,
        services: codes
            .into_iter()
            .filter_map(|code| kinds.iter().find(|k| k.code == code))
            .map(|k| ServiceView {
                code: k.code.clone(),
                name_zh: k.name_zh.clone(),
                name_en: k.name_en.clone(),
            })
            .collect(),
        venues: venues
            .into_iter()
            .map(|v| VenueView {
                id: v.id,
                name: v.name,
                capacity: v.capacity,
            })
            .collect(),
    })
}

/// The community's service points, for anyone.
pub async fn directory(
    state: &AppState,
    community: CommunityId,
) -> Result<Vec<ServicePointView>, ApiError> {
    let rows = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        tenancy::community_context(&mut ex, community)
            .await?
            .ok_or(ApiError::NotFound)?;
        service::list_service_points(&mut ex, community).await?
    };
    // The centre first, then the stations, then the grid posts: the order a resident looks.
    let mut rows = rows;
    rows.sort_by_key(|r| {
        (
            KINDS
                .iter()
                .position(|k| k.0 == r.kind)
                .unwrap_or(KINDS.len()),
            r.code.clone(),
        )
    });
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(point_view(state, row).await?);
    }
    Ok(views)
}

/// The service circle of a community. No sign-in needed.
#[utoipa::path(get, path = "/api/v1/communities/{id}/service-points", tag = "service",
    params(("id" = Uuid, Path)), responses((status = 200, body = Page<ServicePointView>), (status = 404, body = Problem)))]
pub async fn list_service_points(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Page<ServicePointView>>, ApiError> {
    let items = directory(&state, CommunityId(id)).await?;
    Ok(axum::Json(Page::whole(items)))
}

/// One service point. No sign-in needed.
#[utoipa::path(get, path = "/api/v1/service-points/{id}", tag = "service",
    params(("id" = Uuid, Path)), responses((status = 200, body = ServicePointView), (status = 404, body = Problem)))]
pub async fn get_service_point(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<ServicePointView>, ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        service::find_service_point(&mut conn.exec(), ServicePointId(id))
            .await?
            .ok_or(ApiError::NotFound)?
    };
    Ok(axum::Json(point_view(&state, row).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServicePointRequest {
    pub kind: String,
    pub code: String,
    pub name: String,
    pub address: String,
    /// Free text, e.g. 周一至周五 9:00-18:00.
    pub opening_hours: String,
    pub phone: Option<String>,
    pub grid_id: Option<Uuid>,
    /// Codes from the community's service list.
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub venues: Vec<NewVenue>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    pub name: String,
    pub capacity: i32,
}

fn field(name: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::InvalidField {
            field: name,
            message: format!("1 to {max} characters"),
        });
    }
    Ok(value)
}

/// Opens a service point.
#[utoipa::path(post, path = "/api/v1/communities/{id}/service-points", tag = "service", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewServicePointRequest,
    responses((status = 201, body = ServicePointView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_service_point(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewServicePointRequest>,
) -> Result<(StatusCode, axum::Json<ServicePointView>), ApiError> {
    let community = CommunityId(id);
    let (target, _) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::ManageDirectory, &target, Deny::AsForbidden)
        .await?;
    let kind = KINDS
        .iter()
        .find(|(code, zh, _)| *code == body.kind || *zh == body.kind)
        .map(|(code, _, _)| *code)
        .ok_or(ApiError::InvalidField {
            field: "kind",
            message: "centre, station or grid_post".to_owned(),
        })?;
    let known = {
        let mut conn = state.db.acquire().await?;
        service::service_kinds(&mut conn.exec(), community).await?
    };
    if let Some(unknown) = body
        .services
        .iter()
        .find(|s| !known.iter().any(|k| &k.code == *s))
    {
        return Err(ApiError::InvalidField {
            field: "services",
            message: format!("unknown service {unknown:?}"),
        });
    }
    if body
        .venues
        .iter()
        .any(|v| !(1..=10_000).contains(&v.capacity))
    {
        return Err(ApiError::InvalidField {
            field: "venues",
            message: "a room holds 1 to 10,000 people".to_owned(),
        });
    }
    if let Some(grid) = body.grid_id {
        let mut conn = state.db.acquire().await?;
        let found = linli_store::registry::find_grid(&mut conn.exec(), GridId(grid)).await?;
        if found.is_none_or(|g| g.community_id != id) {
            return Err(ApiError::InvalidField {
                field: "grid_id",
                message: "not a grid of this community".to_owned(),
            });
        }
    }
    let point = NewServicePoint {
        id: ServicePointId::new(),
        kind,
        code: field("code", &body.code, 20)?,
        name: field("name", &body.name, 60)?,
        address: field("address", &body.address, 200)?,
        opening_hours: field("opening_hours", &body.opening_hours, 100)?,
        phone: body
            .phone
            .as_deref()
            .map(|p| field("phone", p, 20))
            .transpose()?,
        grid_id: body.grid_id.map(GridId),
        services: body.services.clone(),
        venues: body
            .venues
            .iter()
            .map(|v| Ok((field("venues", &v.name, 40)?, v.capacity)))
            .collect::<Result<_, ApiError>>()?,
    };
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    service::insert_service_point(&mut tx.exec(), community, &point, now).await?;
    audit::append(
        &mut tx.exec(),
        &principal.success_event(
            community,
            "service_point_opened",
            "service_point",
            point.id,
            serde_json::json!({ "code": point.code }),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    let row = {
        let mut conn = state.db.acquire().await?;
        service::find_service_point(&mut conn.exec(), point.id)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(point_view(&state, row).await?),
    ))
}
