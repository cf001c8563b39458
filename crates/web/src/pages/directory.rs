//! The directory page (who serves the community) and the public service-circle pages
//! that a resident opens without signing in.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use linli_domain::CommunityId;
use linli_domain::auth::Action;
use linli_store::registry::{organisations, staff};
use linli_store::tenancy;

use crate::api::service::{KINDS, ServicePointView, directory};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::pages::{Chrome, SignedIn, render, request_locale};
use crate::state::AppState;

pub struct StaffLine {
    pub name: String,
    pub origin: String,
    pub grids: String,
    pub leader: bool,
    pub phone: String,
}

pub struct GroupLine {
    pub name: String,
    pub grid: String,
    pub members: Vec<(String, String)>,
}

pub struct OrgLine {
    pub kind: String,
    pub name: String,
    pub uscc: String,
}

#[derive(Template)]
#[template(path = "directory.html")]
pub struct DirectoryPage {
    pub chrome: Chrome,
    pub community: String,
    pub community_code: String,
    pub staff: Vec<StaffLine>,
    pub groups: Vec<GroupLine>,
    pub organisations: Vec<OrgLine>,
}

fn label(t: &Tr, prefix: &str, code: &str) -> String {
    t.try_t(&format!("{prefix}.{code}"))
        .unwrap_or(code)
        .to_owned()
}

pub async fn page(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let community = principal.default_community().ok_or(ApiError::NotFound)?;
    let (target, ctx) = community_target(&state, community).await?;
    principal
        .authorize(&state, Action::ReadDirectory, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let mut conn = state.db.acquire().await?;
    let mut ex = conn.exec();
    let grids =
        linli_store::registry::list_grids(&mut ex, community, &linli_domain::auth::GridFilter::All)
            .await?;
    let grid_name = |id: uuid::Uuid| {
        grids
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.clone())
            .unwrap_or_default()
    };
    let assignments = staff::assignments(&mut ex, community, None).await?;
    let staff_lines = staff::list_staff(&mut ex, community)
        .await?
        .into_iter()
        .map(|s| {
            let current: Vec<_> = assignments
                .iter()
                .filter(|a| a.staff_id == s.id && a.valid_to.is_none())
                .collect();
            StaffLine {
                grids: current
                    .iter()
                    .map(|a| grid_name(a.grid_id))
                    .collect::<Vec<_>>()
                    .join("、"),
                leader: current.iter().any(|a| a.is_leader),
                origin: label(&t, "directory.origin", &s.origin_role),
                phone: s.work_phone.unwrap_or_default(),
                name: s.name,
            }
        })
        .collect();
    let mut groups = Vec::new();
    for g in organisations::list_grid_groups(&mut ex, community).await? {
        let members =
            organisations::group_members(&mut ex, community, linli_domain::GridGroupId(g.id))
                .await?
                .into_iter()
                .map(|m| (m.name.unwrap_or_default(), m.role))
                .collect();
        groups.push(GroupLine {
            grid: grid_name(g.grid_id),
            name: g.name,
            members,
        });
    }
    let orgs = organisations::list_organisations(&mut ex, community, None)
        .await?
        .into_iter()
        .map(|o| OrgLine {
            kind: label(&t, "directory.kind", &o.kind),
            name: o.name,
            uscc: o.uscc.unwrap_or_default(),
        })
        .collect();
    let page = DirectoryPage {
        chrome: Chrome::signed_in(
            &principal,
            Some(&target),
            Some(ctx.community_name.clone()),
            "/directory",
        ),
        community: ctx.community_name.clone(),
        community_code: ctx.community_code.clone(),
        staff: staff_lines,
        groups,
        organisations: orgs,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "service.html")]
pub struct ServicePage {
    pub chrome: Chrome,
    pub community: String,
    pub points: Vec<(String, ServicePointView)>,
    pub english: bool,
}

/// The public service circle of one community: where to go, when, for what.
pub async fn public(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Option<Principal>,
    crate::api::ApiPath(code): crate::api::ApiPath<String>,
) -> Result<Response, ApiError> {
    let ctx = {
        let mut conn = state.db.acquire().await?;
        tenancy::community_by_code(&mut conn.exec(), &code)
            .await?
            .ok_or(ApiError::NotFound)?
    };
    let locale = principal
        .as_ref()
        .map(|p| p.locale)
        .unwrap_or_else(|| request_locale(&headers));
    let english = locale == linli_domain::locale::Locale::En;
    let points = directory(&state, CommunityId(ctx.community_id))
        .await?
        .into_iter()
        .map(|p| {
            let kind = KINDS
                .iter()
                .find(|k| k.0 == p.kind)
                .map(|k| if english { k.2 } else { k.1 })
                .unwrap_or("")
                .to_owned();
            (kind, p)
        })
        .collect();
    let chrome = match &principal {
        Some(p) => Chrome::signed_in(p, None, Some(ctx.community_name.clone()), "/service"),
        None => Chrome {
            content_page: true,
            ..Chrome::public(locale, String::new(), &format!("/service/{code}"))
        },
    };
    let page = ServicePage {
        chrome,
        community: ctx.community_name,
        points,
        english,
    };
    Ok(render(&page))
}
