//! The home page: what this person can do here, by role.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use linli_domain::auth::{Action, Role, Target};
use linli_store::{registry, tenancy};

use crate::auth::Deny;
use crate::auth::principal::community_target;
use crate::error::ApiError;
use crate::pages::{Chrome, SignedIn, render};
use crate::state::AppState;

/// A tile on the home page.
pub struct Card {
    pub title: &'static str,
    pub body: String,
    pub href: Option<&'static str>,
    pub action: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub greeting: String,
    pub place: Option<String>,
    pub roles: Vec<&'static str>,
    pub role_notes: Vec<&'static str>,
    pub must_enrol_totp: bool,
    pub cards: Vec<Card>,
    pub district_communities: Vec<String>,
}

pub async fn home(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let t = crate::i18n::Tr::new(principal.locale);
    let community = match principal.default_community() {
        Some(id) => Some(community_target(&state, id).await?),
        None => None,
    };
    let target: Option<Target> = community.as_ref().map(|(target, _)| *target);
    let place = community.as_ref().map(|(_, c)| {
        format!(
            "{} · {} · {}",
            c.district_name, c.subdistrict_name, c.community_name
        )
    });

    let mut roles: Vec<Role> = principal.grants.iter().map(|g| g.role).collect();
    roles.sort();
    roles.dedup();
    let role_notes = roles
        .iter()
        .map(|r| t.t(&format!("home.note.{}", r.as_str())))
        .collect();

    let mut cards = Vec::new();
    if let Some((target, ctx)) = &community {
        let can = |action| principal.can(action, target);
        if can(Action::ListGrids) {
            let filter = principal
                .authorize(&state, Action::ListGrids, target, Deny::AsForbidden)
                .await?;
            let mut conn = state.db.acquire().await?;
            let grids = registry::list_grids(&mut conn.exec(), ctx.community(), &filter).await?;
            let names: Vec<String> = grids.iter().map(|g| g.name.clone()).collect();
            cards.push(Card {
                title: t.t("home.card.grids"),
                body: format!(
                    "{} {} · {}",
                    grids.len(),
                    t.t("home.unit.grids"),
                    names.join("、")
                ),
                href: Some("/grids"),
                action: t.t("home.open"),
            });
        }
        if can(Action::ListAccounts) {
            cards.push(Card {
                title: t.t("home.card.accounts"),
                body: t.t("home.card.accounts.body").to_owned(),
                href: Some("/accounts"),
                action: t.t("home.open"),
            });
        }
        if can(Action::ReadAudit) {
            cards.push(Card {
                title: t.t("home.card.audit"),
                body: t.t("home.card.audit.body").to_owned(),
                href: Some("/audit"),
                action: t.t("home.open"),
            });
        }
    }
    cards.push(Card {
        title: t.t("home.card.security"),
        body: if principal.totp_enabled {
            t.t("home.card.security.on").to_owned()
        } else {
            t.t("home.card.security.off").to_owned()
        },
        href: Some("/settings/security"),
        action: t.t("home.open"),
    });

    let mut district_communities = Vec::new();
    if !principal.district_ids().is_empty() {
        let all = {
            let mut conn = state.db.acquire().await?;
            tenancy::list_communities(&mut conn.exec()).await?
        };
        for c in all {
            let target = Target {
                district_id: c.district(),
                community_id: c.community(),
                grid_id: None,
            };
            if principal.can(Action::ReadCommunity, &target) {
                district_communities.push(format!("{} · {}", c.subdistrict_name, c.community_name));
            }
        }
    }

    let page = HomePage {
        chrome: Chrome::signed_in(
            &principal,
            target.as_ref(),
            community.as_ref().map(|(_, c)| c.community_name.clone()),
            "/",
        ),
        greeting: t.t("home.hello").replace("{name}", &principal.display_name),
        place,
        roles: roles.iter().map(|r| t.role(r)).collect(),
        role_notes,
        must_enrol_totp: principal.must_enrol_totp,
        cards,
        district_communities,
    };
    Ok(render(&page))
}
