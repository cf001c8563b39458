//! Open311 GeoReport v2 (<https://wiki.open311.org/GeoReport_v2>), so existing civic-issue
//! clients can list services and file and follow requests unchanged. Services are the
//! community's leaf categories; requests are matters filed with source `open311`.
//!
//! Authentication is the spec's `api_key` (an API token), never the session cookie, which
//! is why these routes need no CSRF token: a forged cross-site form carries no key.
//! Formats: `.json` and `.xml`; errors are the spec's list of `{code, description}`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use linli_domain::auth::{Action, GridFilter};
use linli_domain::matters::{MatterSource, MatterStatus};
use linli_domain::{BuildingId, CommunityId};
use linli_store::matters::categories::{self, CategoryRow};
use linli_store::matters::{self, MatterFilter, MatterRow};
use linli_store::registry::places;
use linli_store::{PageRequest, tenancy};
use serde::Serialize;
use std::collections::HashMap;

use crate::auth::Principal;
use crate::auth::principal::SessionKind;
use crate::auth::principal::community_target;
use crate::error::ApiError;
use crate::matters::{self as service, Location, Report};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// Splits `requests.json` into its name and format.
fn file(name: &str) -> Result<(&str, Format), Open311Error> {
    match name.rsplit_once('.') {
        Some((stem, "json")) => Ok((stem, Format::Json)),
        Some((stem, "xml")) => Ok((stem, Format::Xml)),
        _ => Err(Open311Error::new(
            StatusCode::NOT_FOUND,
            "use a .json or .xml path",
        )),
    }
}

/// An error in the spec's shape: `[{"code": 400, "description": "…"}]`.
#[derive(Debug)]
pub struct Open311Error {
    status: StatusCode,
    description: String,
    format: Format,
}

impl Open311Error {
    fn new(status: StatusCode, description: impl Into<String>) -> Open311Error {
        Open311Error {
            status,
            description: description.into(),
            format: Format::Json,
        }
    }

    fn bad(description: impl Into<String>) -> Open311Error {
        Open311Error::new(StatusCode::BAD_REQUEST, description)
    }

    fn in_format(mut self, format: Format) -> Open311Error {
        self.format = format;
        self
    }
}

impl From<ApiError> for Open311Error {
    fn from(e: ApiError) -> Self {
        let description = match &e {
            ApiError::Rule { field, message, .. } | ApiError::InvalidField { field, message } => {
                format!("{field}: {message}")
            }
            other => other.to_string(),
        };
        let status = match e.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        if let ApiError::Internal(cause) = &e {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        Open311Error::new(status, description)
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        let body = match self.format {
            Format::Json => {
                serde_json::json!([{ "code": code, "description": self.description }]).to_string()
            }
            Format::Xml => format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<errors><error><code>{code}</code><description>{}</description></error></errors>",
                xml_escape(&self.description)
            ),
        };
        respond(self.status, self.format, body)
    }
}

fn respond(status: StatusCode, format: Format, body: String) -> Response {
    let mut response = (status, body).into_response();
    let content_type = match format {
        Format::Json => "application/json; charset=utf-8",
        Format::Xml => "text/xml; charset=utf-8",
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Renders a list of flat records: JSON array, or `<root><item>…</item></root>`.
fn render_list<T: Serialize>(format: Format, root: &str, item: &str, items: &[T]) -> Response {
    let body = match format {
        Format::Json => serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned()),
        Format::Xml => {
            let mut out = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{root}>");
            for value in items {
                out.push_str(&format!("<{item}>"));
                if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(value) {
                    for (key, v) in fields {
                        let text = match v {
                            serde_json::Value::Null => String::new(),
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        out.push_str(&format!("<{key}>{}</{key}>", xml_escape(&text)));
                    }
                }
                out.push_str(&format!("</{item}>"));
            }
            out.push_str(&format!("</{root}>"));
            out
        }
    };
    respond(StatusCode::OK, format, body)
}

/// The caller of an Open311 request, by its `api_key`.
async fn caller(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Option<Principal>, Open311Error> {
    let Some(key) = params
        .get("api_key")
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
    else {
        return Ok(None);
    };
    match Principal::from_token(state, key, SessionKind::Api).await {
        Ok(p) => Ok(Some(p)),
        Err(ApiError::Unauthenticated | ApiError::SessionExpired) => Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "the api_key is not valid",
        )),
        Err(other) => Err(other.into()),
    }
}

/// The community a request is about: `jurisdiction_id` (a community code), else the
/// caller's own community.
async fn jurisdiction(
    state: &AppState,
    params: &HashMap<String, String>,
    principal: Option<&Principal>,
) -> Result<tenancy::CommunityContext, Open311Error> {
    let unknown = || Open311Error::new(StatusCode::NOT_FOUND, "unknown jurisdiction_id");
    match params
        .get("jurisdiction_id")
        .map(|j| j.trim())
        .filter(|j| !j.is_empty())
    {
        Some(code) => {
            let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
            tenancy::community_by_code(&mut conn.exec(), code)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(unknown)
        }
        None => {
            let community = principal
                .and_then(Principal::default_community)
                .ok_or_else(|| Open311Error::bad("jurisdiction_id is required"))?;
            let (_, ctx) = community_target(state, community).await?;
            Ok(ctx)
        }
    }
}

#[derive(Debug, Serialize)]
struct ServiceView {
    service_code: String,
    service_name: String,
    description: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    keywords: String,
    group: String,
}

fn service_view(c: &CategoryRow, parent: Option<&CategoryRow>) -> ServiceView {
    ServiceView {
        service_code: c.code.clone(),
        service_name: c.name_zh.clone(),
        description: c.name_en.clone(),
        metadata: false,
        kind: "realtime",
        keywords: c.name_en.to_lowercase(),
        group: parent.map(|p| p.name_zh.clone()).unwrap_or_default(),
    }
}

async fn leaves(
    state: &AppState,
    community: CommunityId,
) -> Result<Vec<(CategoryRow, Option<CategoryRow>)>, Open311Error> {
    let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
    let all = categories::list_categories(&mut conn.exec(), community)
        .await
        .map_err(ApiError::from)?;
    Ok(all
        .iter()
        .filter(|c| c.parent_id.is_some() && c.active)
        .map(|c| {
            (
                c.clone(),
                all.iter().find(|p| Some(p.id) == c.parent_id).cloned(),
            )
        })
        .collect())
}

/// `GET /open311/v2/services.{json,xml}` and `GET /open311/v2/requests.{json,xml}`.
pub async fn get_root(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (stem, format) = match file(&name) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let result = match stem {
        "services" => services(&state, &params, format).await,
        "requests" => find_requests(&state, &params)
            .await
            .map(|views| render_list(format, "service_requests", "request", &views)),
        _ => Err(Open311Error::new(StatusCode::NOT_FOUND, "no such resource")),
    };
    result.unwrap_or_else(|e| e.in_format(format).into_response())
}

async fn services(
    state: &AppState,
    params: &HashMap<String, String>,
    format: Format,
) -> Result<Response, Open311Error> {
    let principal = caller(state, params).await?;
    let ctx = jurisdiction(state, params, principal.as_ref()).await?;
    let views: Vec<ServiceView> = leaves(state, ctx.community())
        .await?
        .iter()
        .map(|(c, p)| service_view(c, p.as_ref()))
        .collect();
    Ok(render_list(format, "services", "service", &views))
}

/// `GET /open311/v2/services/{code}.{json,xml}`: Linli's services take no extra attributes.
pub async fn service_definition(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (code, format) = match file(&name) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let result = async {
        let principal = caller(&state, &params).await?;
        let ctx = jurisdiction(&state, &params, principal.as_ref()).await?;
        let known = leaves(&state, ctx.community()).await?.iter().any(|(c, _)| c.code == code);
        if !known {
            return Err(Open311Error::new(StatusCode::NOT_FOUND, "unknown service_code"));
        }
        let body = match format {
            Format::Json => serde_json::json!({ "service_code": code, "attributes": [] }).to_string(),
            Format::Xml => format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<service_definition><service_code>{}</service_code><attributes></attributes></service_definition>",
                xml_escape(code)
            ),
        };
        Ok(respond(StatusCode::OK, format, body))
    }
    .await;
    result.unwrap_or_else(|e: Open311Error| e.in_format(format).into_response())
}

#[derive(Debug, Serialize)]
struct RequestView {
    service_request_id: String,
    status: &'static str,
    status_notes: Option<String>,
    service_name: String,
    service_code: String,
    description: String,
    agency_responsible: Option<String>,
    service_notice: Option<String>,
    requested_datetime: String,
    updated_datetime: String,
    expected_datetime: Option<String>,
    address: Option<String>,
    address_id: Option<String>,
    zipcode: Option<String>,
    lat: Option<f64>,
    long: Option<f64>,
    media_url: Option<String>,
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn request_view(m: &MatterRow, category: Option<&CategoryRow>, agency: &str) -> RequestView {
    let closed = matches!(m.status.as_str(), "closed" | "cancelled");
    RequestView {
        service_request_id: m.number.clone(),
        status: if closed { "closed" } else { "open" },
        status_notes: MatterStatus::parse(&m.status)
            .ok()
            .map(|s| s.label_zh().to_owned()),
        service_name: category.map(|c| c.name_zh.clone()).unwrap_or_default(),
        service_code: category.map(|c| c.code.clone()).unwrap_or_default(),
        description: m.description.clone(),
        agency_responsible: Some(agency.to_owned()),
        service_notice: None,
        requested_datetime: stamp(m.created_at),
        updated_datetime: stamp(m.updated_at),
        expected_datetime: m.due_at.map(stamp),
        address: m.place.clone(),
        address_id: None,
        zipcode: None,
        lat: m.latitude,
        long: m.longitude,
        media_url: None,
    }
}

/// Who may see which requests: staff see the community's (within their grids); anyone
/// else with a key sees only their own. Without a key, nothing: requests carry residents'
/// words and places (PIPL), so Linli does not publish them anonymously.
async fn visible_filter(
    state: &AppState,
    principal: &Principal,
    ctx: &tenancy::CommunityContext,
) -> Result<(GridFilter, Option<linli_domain::AccountId>), Open311Error> {
    let (target, _) = community_target(state, ctx.community()).await?;
    match linli_domain::auth::authorize(&principal.grants, Action::ReadMatters, &target) {
        Some(grids) => Ok((grids, None)),
        None => Ok((GridFilter::All, Some(principal.account_id))),
    }
}

async fn find_requests(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<Vec<RequestView>, Open311Error> {
    let principal = caller(state, params).await?.ok_or_else(|| {
        Open311Error::new(
            StatusCode::FORBIDDEN,
            "an api_key is required to read requests",
        )
    })?;
    let ctx = jurisdiction(state, params, Some(&principal)).await?;
    let (grids, reporter) = visible_filter(state, &principal, &ctx).await?;
    let community = ctx.community();
    let cats = leaves(state, community).await?;
    let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
    let mut ex = conn.exec();
    let mut rows = Vec::new();
    if let Some(ids) = params
        .get("service_request_id")
        .filter(|s| !s.trim().is_empty())
    {
        for number in ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .take(50)
        {
            if let Some(m) = matters::find_matter_by_number(&mut ex, community, number)
                .await
                .map_err(ApiError::from)?
            {
                rows.push(m);
            }
        }
        rows.retain(|m| visible(m, &grids, reporter));
    } else {
        let date = |key: &str| -> Result<Option<DateTime<Utc>>, Open311Error> {
            match params.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => DateTime::parse_from_rfc3339(s)
                    .map(|d| Some(d.with_timezone(&Utc)))
                    .or_else(|_| {
                        NaiveDate::parse_from_str(s, "%Y-%m-%d")
                            .map(|d| Some(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
                    })
                    .map_err(|_| Open311Error::bad(format!("{key} must be a w3c datetime"))),
            }
        };
        let mut filter = MatterFilter {
            reporter,
            created_from: date("start_date")?,
            created_before: date("end_date")?,
            ..MatterFilter::default()
        };
        if let Some(codes) = params.get("service_code").filter(|s| !s.trim().is_empty()) {
            for code in codes.split(',').map(str::trim) {
                let (c, _) = cats
                    .iter()
                    .find(|(c, _)| c.code == code)
                    .ok_or_else(|| Open311Error::bad(format!("unknown service_code {code}")))?;
                filter.categories.push(c.id);
            }
        }
        match params.get("status").map(|s| s.trim()) {
            None | Some("") => {}
            Some("open") => {
                filter.statuses = MatterStatus::ALL
                    .iter()
                    .copied()
                    .filter(|s| !matches!(s, MatterStatus::Closed | MatterStatus::Cancelled))
                    .collect()
            }
            Some("closed") => filter.statuses = vec![MatterStatus::Closed, MatterStatus::Cancelled],
            Some(_) => return Err(Open311Error::bad("status is open or closed")),
        }
        // The spec's default window: the last 90 days, at most 1,000 requests.
        if filter.created_from.is_none() && filter.created_before.is_none() {
            filter.created_from = Some(Utc::now() - chrono::Duration::days(90));
        }
        rows = matters::list_matters(
            &mut ex,
            community,
            &grids,
            &filter,
            PageRequest::first(200),
            false,
        )
        .await
        .map_err(ApiError::from)?
        .items;
    }
    Ok(rows
        .iter()
        .map(|m| {
            request_view(
                m,
                cats.iter().map(|(c, _)| c).find(|c| c.id == m.category_id),
                &ctx.community_name,
            )
        })
        .collect())
}

fn visible(m: &MatterRow, grids: &GridFilter, reporter: Option<linli_domain::AccountId>) -> bool {
    if let Some(me) = reporter {
        return m.reporter_account_id == Some(me.0);
    }
    match grids {
        GridFilter::All => true,
        GridFilter::Only(ids) => m.grid_id.is_some_and(|g| ids.iter().any(|i| i.0 == g)),
    }
}

/// `GET /open311/v2/requests/{id}.{json,xml}`: one request, as a one-item list.
pub async fn get_request(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(mut params): Query<HashMap<String, String>>,
) -> Response {
    let (id, format) = match file(&name) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    params.insert("service_request_id".to_owned(), id.to_owned());
    params.remove("status");
    match find_requests(&state, &params).await {
        Ok(views) if views.is_empty() => {
            Open311Error::new(StatusCode::NOT_FOUND, "no such service request")
                .in_format(format)
                .into_response()
        }
        Ok(views) => render_list(format, "service_requests", "request", &views),
        Err(e) => e.in_format(format).into_response(),
    }
}

/// `POST /open311/v2/requests.{json,xml}` (form-encoded, as the spec has it).
pub async fn post_request(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (stem, format) = match file(&name) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if stem != "requests" {
        return Open311Error::new(StatusCode::NOT_FOUND, "no such resource")
            .in_format(format)
            .into_response();
    }
    let params: HashMap<String, String> = crate::auth::csrf::form_urlencoded_pairs(&body).collect();
    create_request(&state, &params, format)
        .await
        .unwrap_or_else(|e| e.in_format(format).into_response())
}

async fn create_request(
    state: &AppState,
    params: &HashMap<String, String>,
    format: Format,
) -> Result<Response, Open311Error> {
    let principal = caller(state, params).await?.ok_or_else(|| {
        Open311Error::new(
            StatusCode::FORBIDDEN,
            "an api_key is required to file a request",
        )
    })?;
    let ctx = jurisdiction(state, params, Some(&principal)).await?;
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let code = get("service_code").ok_or_else(|| Open311Error::bad("service_code is required"))?;
    let (category, _) = leaves(state, ctx.community())
        .await?
        .into_iter()
        .find(|(c, _)| c.code == code)
        .ok_or_else(|| Open311Error::bad(format!("unknown service_code {code}")))?;
    let number = |k: &str| -> Result<Option<f64>, Open311Error> {
        get(k)
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|_| Open311Error::bad(format!("{k} must be a number")))
            })
            .transpose()
    };
    let location = match (
        number("lat")?,
        number("long")?,
        get("address_string"),
        get("address_id"),
    ) {
        (Some(latitude), Some(longitude), _, _) => Location::Point {
            latitude,
            longitude,
        },
        (Some(_), None, _, _) | (None, Some(_), _, _) => {
            return Err(Open311Error::bad("lat and long go together"));
        }
        (None, None, _, Some(address_id)) => {
            let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
            let b = places::find_building_by_code(&mut conn.exec(), ctx.community(), address_id)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| Open311Error::bad("unknown address_id"))?;
            Location::Building(BuildingId(b.id))
        }
        (None, None, Some(address), None) => Location::Place(address.to_owned()),
        (None, None, None, None) => {
            return Err(Open311Error::bad(
                "a location is required: lat and long, address_string or address_id",
            ));
        }
    };
    let description =
        get("description").ok_or_else(|| Open311Error::bad("description is required"))?;
    let contact: serde_json::Map<String, serde_json::Value> = [
        "first_name",
        "last_name",
        "email",
        "phone",
        "device_id",
        "account_id",
    ]
    .into_iter()
    .filter_map(|k| {
        get(k).map(|v| {
            (
                k.to_owned(),
                serde_json::Value::String(v.chars().take(100).collect()),
            )
        })
    })
    .collect();
    let report = Report {
        community: ctx.community(),
        category_id: category.id,
        title: None,
        description: description.to_owned(),
        location,
        proposed_class: None,
        source: MatterSource::Open311,
        on_behalf_of: None,
        contact: (!contact.is_empty()).then(|| serde_json::Value::Object(contact).to_string()),
    };
    let row = service::report(state, &principal, report).await?;
    #[derive(Serialize)]
    struct Created {
        service_request_id: String,
        service_notice: String,
        account_id: Option<String>,
    }
    let created = [Created {
        service_request_id: row.number,
        service_notice: format!("{}已收到您的反映，将在受理后告知进度。", ctx.community_name),
        account_id: None,
    }];
    let mut response = render_list(format, "service_requests", "request", &created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}
