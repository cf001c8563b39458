//! The JSON API under `/api/v1`, described by the OpenAPI document its handlers generate.

pub mod auth;
pub mod communities;
pub mod consent;
pub mod directory;
pub mod engagement;
pub mod imports;
pub mod json_time;
pub mod matters;
pub mod me;
pub mod mediation;
pub mod open311;
pub mod ops;
pub mod photos;
pub mod points;
pub mod proxies;
pub mod rankings;
pub mod registry;
pub mod residents;
pub mod service;
pub mod volunteering;
pub mod webhooks;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Linli API", description = "Linli (邻里): running an acquaintance community. Errors are application/problem+json with a stable `code`."),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and the OpenAPI document generated from them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(me::me))
        .routes(routes!(me::set_locale))
        .routes(routes!(me::change_password))
        .routes(routes!(me::start_totp))
        .routes(routes!(me::confirm_totp))
        .routes(routes!(communities::get_community))
        .routes(routes!(communities::list_grids))
        .routes(routes!(communities::get_grid))
        .routes(routes!(communities::set_boundary))
        .routes(routes!(communities::list_accounts))
        .routes(routes!(communities::set_roles))
        .routes(routes!(communities::disable_account))
        .routes(routes!(communities::list_audit))
        .routes(routes!(registry::list_buildings))
        .routes(routes!(registry::get_building))
        .routes(routes!(registry::list_households))
        .routes(routes!(registry::get_household))
        .routes(routes!(
            residents::list_residents,
            residents::create_resident
        ))
        .routes(routes!(residents::get_resident))
        .routes(routes!(residents::reveal))
        .routes(routes!(consent::list_consents))
        .routes(routes!(consent::add_tag))
        .routes(routes!(consent::read_tags))
        .routes(routes!(consent::withdraw))
        .routes(routes!(consent::register_child))
        .routes(routes!(residents::my_record, residents::correct_my_record))
        .routes(routes!(residents::my_data))
        .routes(with_upload_limit(routes!(imports::import)))
        .routes(routes!(imports::template))
        .routes(routes!(imports::export))
        .routes(routes!(directory::list_staff, directory::create_staff))
        .routes(routes!(directory::get_staff))
        .routes(routes!(directory::assign_staff))
        .routes(routes!(directory::list_duties))
        .routes(routes!(
            directory::list_organisations,
            directory::create_organisation
        ))
        .routes(routes!(directory::get_organisation))
        .routes(routes!(
            directory::list_grid_groups,
            directory::create_grid_group
        ))
        .routes(routes!(directory::get_grid_group))
        .routes(routes!(directory::add_grid_group_member))
        .routes(routes!(directory::list_zones))
        .routes(routes!(
            service::list_service_points,
            service::create_service_point
        ))
        .routes(routes!(service::get_service_point))
        .routes(routes!(matters::report))
        .routes(routes!(matters::get_matter))
        .routes(routes!(matters::take_step))
        .routes(routes!(matters::list_matters))
        .routes(routes!(matters::my_matters))
        .routes(routes!(matters::matter_counts))
        .routes(routes!(matters::propose))
        .routes(routes!(matters::list_categories, matters::create_category))
        .routes(routes!(matters::update_category))
        .routes(routes!(matters::get_calendar, matters::set_settings))
        .routes(routes!(matters::set_day, matters::clear_day))
        .routes(routes!(matters::my_notifications))
        .routes(routes!(matters::read_notification))
        .routes(with_body_limit(
            routes!(photos::upload, photos::list),
            crate::matters::photos::MAX_PHOTO_BYTES,
        ))
        .routes(routes!(photos::file))
        .routes(routes!(mediation::list_cases, mediation::create_case))
        .routes(routes!(mediation::get_case))
        .routes(routes!(mediation::take_step))
        .routes(routes!(points::get_account))
        .routes(routes!(points::my_points))
        .routes(routes!(points::award))
        .routes(routes!(points::reverse))
        .routes(routes!(points::list_rules))
        .routes(routes!(points::put_rule))
        .routes(routes!(points::catalogue, points::create_offer))
        .routes(routes!(points::update_offer))
        .routes(routes!(points::add_confirmer))
        .routes(routes!(points::list_approvals))
        .routes(routes!(engagement::engagement))
        .routes(routes!(rankings::publish, rankings::list))
        .routes(routes!(rankings::get))
        .routes(routes!(rankings::object))
        .routes(routes!(rankings::answer))
        .routes(routes!(engagement::put_ladder))
        .routes(routes!(points::get_settings, points::put_settings))
        .routes(routes!(proxies::grant, proxies::list))
        .routes(routes!(proxies::revoke))
        .routes(routes!(proxies::acting_for))
        .routes(routes!(points::decide_approval))
        .routes(routes!(volunteering::record, volunteering::list))
        .routes(routes!(volunteering::get_record))
        .routes(routes!(volunteering::correct))
        .routes(routes!(volunteering::verify))
        .routes(routes!(volunteering::my_records))
        .routes(routes!(volunteering::issue_certificate))
        .routes(routes!(volunteering::export))
        .routes(routes!(points::redeem))
        .routes(routes!(points::my_redemptions))
        .routes(routes!(points::cancel_redemption))
        .routes(routes!(points::confirm_redemption))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .split_for_parts()
}

/// Spreadsheet uploads are larger than any JSON body: this route alone takes up to
/// [`imports::MAX_UPLOAD`].
fn with_upload_limit(
    route: utoipa_axum::router::UtoipaMethodRouter<AppState>,
) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    with_body_limit(route, imports::MAX_UPLOAD)
}

/// A route that takes bodies up to `limit` bytes (uploads) instead of the JSON default.
fn with_body_limit(
    route: utoipa_axum::router::UtoipaMethodRouter<AppState>,
    limit: usize,
) -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    let (schemas, paths, method_router) = route;
    (
        schemas,
        paths,
        method_router.layer(axum::extract::DefaultBodyLimit::max(limit)),
    )
}

/// A JSON body parsed into `T`, with every way it can be wrong mapped to its own code.
/// Request types use `#[serde(deny_unknown_fields)]`, so a misspelt field is an error,
/// not silently ignored.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => {
            if text.contains("unknown field") {
                ApiError::UnknownField(serde_message(&text))
            } else if text.contains("missing field") {
                ApiError::MissingField(serde_message(&text))
            } else {
                ApiError::InvalidType(serde_message(&text))
            }
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::MalformedJson(serde_message(&text)),
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::BytesRejection(_) if rejection_is_too_large(&text) => {
            ApiError::PayloadTooLarge
        }
        _ => ApiError::BadRequest("the request body could not be read".to_owned()),
    }
}

fn rejection_is_too_large(text: &str) -> bool {
    text.contains("length limit") || text.contains("too large")
}

/// The serde part of axum's rejection text ("Failed to deserialize …: <serde message>").
fn serde_message(text: &str) -> String {
    let message = text.rsplit_once(": ").map(|(_, m)| m).unwrap_or(text);
    message.chars().take(200).collect()
}

/// A path parameter; a malformed id gets a problem response, not axum's plain text.
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|_| ApiError::BadRequest("the path holds an invalid id".to_owned()))
    }
}

/// Query parameters; unknown or malformed ones get a problem response.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::BadRequest(serde_message(&e.body_text())))
    }
}

/// Every list answers in this shape.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    /// True when `total` is a floor rather than a count: more items match, and counting
    /// stopped there. Text searches count up to 1,000 matches (a client shows "1,000+").
    pub total_capped: bool,
    /// Cursor for the next page, or null on the last one.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A list answered whole, on one page.
    pub fn whole(items: Vec<T>) -> Page<T> {
        Page {
            total: items.len() as u64,
            total_capped: false,
            items,
            next: None,
        }
    }
}
