//! Photos of a matter over HTTP: upload (the raw image as the body), list, and fetch a
//! thumbnail, the copy without metadata, or (staff only) the original.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use linli_domain::matters::MatterStatus;
use linli_store::matters::photos::{self as store, PhotoRow};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::ApiPath;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::matters::photos::{self, MAX_PHOTOS_PER_MATTER, PhotoError};
use crate::matters::{Access, access};
use crate::state::AppState;

impl From<PhotoError> for ApiError {
    fn from(e: PhotoError) -> Self {
        match e {
            PhotoError::TooLarge => ApiError::PayloadTooLarge,
            other => ApiError::Rule {
                field: "photo",
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoView {
    pub id: Uuid,
    pub content_type: String,
    pub bytes: i64,
    pub width: i32,
    pub height: i32,
    pub thumb_url: String,
    pub display_url: String,
    /// Staff only: the file as sent, with its EXIF data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_url: Option<String>,
    /// Staff only: whether the original says where it was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub had_location: Option<bool>,
    pub created_at: DateTime<Utc>,
}

pub fn photo_view(p: PhotoRow, staff_view: bool) -> PhotoView {
    PhotoView {
        thumb_url: format!("/api/v1/photos/{}/thumb", p.id),
        display_url: format!("/api/v1/photos/{}/display", p.id),
        original_url: staff_view.then(|| format!("/api/v1/photos/{}/original", p.id)),
        had_location: staff_view.then_some(p.had_location),
        id: p.id,
        content_type: p.content_type,
        bytes: p.bytes,
        width: p.width,
        height: p.height,
        created_at: p.created_at,
    }
}

/// Who may add photos: the reporter while the matter is open, and whoever works it.
fn may_attach(a: &Access) -> bool {
    let open = MatterStatus::parse(&a.row.status).is_ok_and(|s| s.is_open());
    let reporter = a
        .capacities
        .contains(&linli_domain::matters::Capacity::Reporter);
    let worker = a
        .capacities
        .iter()
        .any(|c| *c != linli_domain::matters::Capacity::Reporter);
    worker || (reporter && open)
}

/// Adds a photo (send the image itself as the body: JPEG, PNG or WebP, up to 10 MB).
#[utoipa::path(post, path = "/api/v1/matters/{id}/photos", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 201, body = PhotoView), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, axum::Json<PhotoView>), ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest("the photo could not be read".to_owned()),
    })?;
    let (row, staff_view) = attach(&state, &principal, id, body.to_vec()).await?;
    Ok((StatusCode::CREATED, axum::Json(photo_view(row, staff_view))))
}

/// Checks, stores and records one photo of a matter (the API and the matter page).
pub async fn attach(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    original: Vec<u8>,
) -> Result<(PhotoRow, bool), ApiError> {
    let a = access(state, principal, id).await?;
    if !may_attach(&a) {
        return Err(ApiError::Forbidden);
    }
    let community = CommunityId(a.row.community_id);
    {
        let mut conn = state.db.acquire().await?;
        if store::count_for(&mut conn.exec(), community, id).await? >= MAX_PHOTOS_PER_MATTER {
            return Err(ApiError::Conflict {
                code: "too_many_photos",
                message: format!("a matter holds at most {MAX_PHOTOS_PER_MATTER} photos"),
            });
        }
    }
    let processed = {
        let bytes = original.clone();
        tokio::task::spawn_blocking(move || photos::process(&bytes))
            .await
            .map_err(ApiError::internal)??
    };
    let photo = Uuid::now_v7();
    let keys = photos::keys(community.0, id, photo);
    photos::store(&state.objects, &keys, original.clone(), &processed)
        .await
        .map_err(ApiError::internal)?;
    let row = PhotoRow {
        community_id: community.0,
        id: photo,
        matter_id: id,
        uploaded_by: Some(principal.account_id.0),
        content_type: processed.content_type.to_owned(),
        bytes: original.len() as i64,
        width: processed.width as i32,
        height: processed.height as i32,
        had_location: processed.had_location,
        original_key: keys.original.clone(),
        display_key: keys.display.clone(),
        thumb_key: keys.thumb.clone(),
        created_at: Utc::now(),
    };
    let written = async {
        let mut conn = state.db.acquire().await?;
        store::insert_photo(&mut conn.exec(), &row).await
    }
    .await;
    if let Err(error) = written {
        // Nothing half-written: the files go when their record could not be kept.
        photos::remove(&state.objects, &keys).await;
        return Err(error.into());
    }
    Ok((row, a.staff_view))
}

/// The photos of a matter.
#[utoipa::path(get, path = "/api/v1/matters/{id}/photos", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<PhotoView>), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<axum::Json<Vec<PhotoView>>, ApiError> {
    let a = access(&state, &principal, id).await?;
    let mut conn = state.db.acquire().await?;
    let rows = store::photos_of(&mut conn.exec(), CommunityId(a.row.community_id), id).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|p| photo_view(p, a.staff_view))
            .collect(),
    ))
}

/// One photo file: `thumb`, `display` (no metadata) or `original` (staff only).
#[utoipa::path(get, path = "/api/v1/photos/{id}/{variant}", tag = "matters", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("variant" = String, Path)),
    responses((status = 200, content_type = "image/jpeg"), (status = 404, body = Problem)))]
pub async fn file(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, variant)): ApiPath<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let photo = {
        let mut conn = state.db.acquire().await?;
        store::find_photo(&mut conn.exec(), id)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let a = access(&state, &principal, photo.matter_id).await?;
    let (key, content_type) = match variant.as_str() {
        "thumb" => (photo.thumb_key, "image/jpeg".to_owned()),
        "display" => (photo.display_key, "image/jpeg".to_owned()),
        // The original may say where it was taken (EXIF GPS): staff only.
        "original" if a.staff_view => (photo.original_key, photo.content_type),
        _ => return Err(ApiError::NotFound),
    };
    let bytes = photos::read(&state.objects, &key)
        .await
        .map_err(ApiError::internal)?;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
