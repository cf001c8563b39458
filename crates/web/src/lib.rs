//! Linli's HTTP layer: the JSON API, the web pages, sign-in and the gate in front of
//! every action. Handlers parse, authorize, call the store, render: nothing else.

pub mod api;
pub mod assets;
pub mod auth;
pub mod cache;
pub mod context;
pub mod crypto;
pub mod error;
pub mod i18n;
pub mod jobs;
pub mod matters;
pub mod middleware;
pub mod outbox;
pub mod pages;
pub mod pii;
pub mod points;
pub mod server;
pub mod spreadsheet;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use state::{AppState, Settings};

/// The whole application: API, OpenAPI document, pages, assets and operations endpoints,
/// behind the CSRF guard and the observing middleware.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api::router();
    let openapi_json = std::sync::Arc::new(openapi.to_pretty_json().unwrap_or_default());
    let pages = Router::new()
        .route("/", get(pages::home::home))
        .route(
            "/login",
            get(pages::login::show_login).post(pages::login::submit_login),
        )
        .route(
            "/login/totp",
            get(pages::login::show_totp).post(pages::login::submit_totp),
        )
        .route("/logout", post(pages::login::logout))
        .route("/language", post(pages::login::switch_language))
        .route(
            "/open311/v2/{file}",
            get(api::open311::get_root).post(api::open311::post_request),
        )
        .route(
            "/open311/v2/services/{file}",
            get(api::open311::service_definition),
        )
        .route(
            "/open311/v2/requests/{file}",
            get(api::open311::get_request),
        )
        .route(
            "/mediation/{id}/agreement",
            get(pages::mediation::agreement),
        )
        .route(
            "/volunteering/certificates/{id}",
            get(pages::volunteering::certificate),
        )
        .route("/matters", get(pages::matters::queue))
        .route("/matters/mine", get(pages::matters::mine))
        .route(
            "/matters/new",
            get(pages::matters::new_matter).post(pages::matters::submit_matter),
        )
        .route("/matters/board", get(pages::matters::board))
        .route("/matters/supervision", get(pages::matters::supervision))
        .route("/matters/{id}", get(pages::matters::show))
        .route("/matters/{id}/steps", post(pages::matters::take_step))
        .route(
            "/matters/{id}/photos",
            post(pages::matters::upload_photo).layer(DefaultBodyLimit::max(
                matters::photos::MAX_PHOTO_BYTES + 64 * 1024,
            )),
        )
        .route("/points", get(pages::points::mine))
        .route("/points/catalogue", get(pages::points::catalogue))
        .route("/points/hours", get(pages::volunteering::my_hours))
        .route("/points/staff", get(pages::points_staff::console))
        .route("/points/staff/records", post(pages::points_staff::record))
        .route(
            "/points/staff/records/{id}/decide",
            post(pages::points_staff::decide_record),
        )
        .route(
            "/points/staff/approvals/{id}/decide",
            post(pages::points_staff::decide_approval),
        )
        .route(
            "/points/staff/certificates",
            post(pages::points_staff::certificate),
        )
        .route(
            "/points/staff/rankings",
            post(pages::points_staff::publish_ranking),
        )
        .route(
            "/points/staff/proxies",
            post(pages::points_staff::grant_proxy),
        )
        .route(
            "/points/staff/settings",
            post(pages::points_staff::settings),
        )
        .route("/points/rankings", get(pages::rankings::list))
        .route("/points/rankings/{id}", get(pages::rankings::show))
        .route(
            "/points/rankings/{id}/objections",
            post(pages::rankings::object),
        )
        .route(
            "/points/ranking-objections/{id}/answer",
            post(pages::rankings::answer),
        )
        .route("/points/redeem", post(pages::points::redeem))
        .route("/points/redemptions/{id}", get(pages::points::redemption))
        .route(
            "/points/redemptions/{id}/cancel",
            post(pages::points::cancel),
        )
        .route(
            "/points/confirm",
            get(pages::points::confirm_form).post(pages::points::confirm),
        )
        .route("/grids", get(pages::registry::grids))
        .route("/buildings", get(pages::registry::buildings))
        .route("/buildings/{id}", get(pages::registry::building))
        .route("/households/{id}", get(pages::registry::household))
        .route(
            "/households/{id}/members",
            post(pages::registry::register_member),
        )
        .route(
            "/imports",
            get(pages::imports::show)
                .post(pages::imports::submit)
                .layer(DefaultBodyLimit::max(api::imports::MAX_UPLOAD)),
        )
        .route("/directory", get(pages::directory::page))
        .route("/service/{code}", get(pages::directory::public))
        .route("/residents", get(pages::registry::search))
        .route("/residents/{id}", get(pages::registry::resident))
        .route("/residents/{id}/reveal", post(pages::registry::reveal))
        .route("/accounts", get(pages::community::accounts))
        .route("/audit", get(pages::community::audit_log))
        .route("/settings/security", get(pages::account::show))
        .route("/settings/security/totp", post(pages::account::start_totp))
        .route(
            "/settings/security/totp/confirm",
            post(pages::account::confirm_totp),
        )
        .route(
            "/settings/security/password",
            post(pages::account::change_password),
        );
    Router::new()
        .merge(api)
        .merge(pages)
        .route("/metrics", get(api::ops::metrics))
        .route(
            "/api/openapi.json",
            get(move || {
                let json = openapi_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        (*json).clone(),
                    )
                }
            }),
        )
        .route("/assets/{file}", get(assets::serve))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::csrf::guard,
        ))
        .layer(DefaultBodyLimit::max(state.settings.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}
