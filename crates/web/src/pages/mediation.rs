//! The printable people's-mediation agreement (人民调解协议书) with the contents art. 29 of
//! the People's Mediation Law requires, laid out for A4 paper and signatures.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use linli_domain::mediation::{AgreementKind, PartyRole, judicial_last_day};
use uuid::Uuid;

use crate::api::mediation::agreement_for_print;
use crate::error::ApiError;
use crate::pages::{SignedIn, render};
use crate::state::AppState;

pub struct PrintParty {
    pub role: &'static str,
    pub name: String,
    pub gender: &'static str,
    pub birth_year: String,
    pub id_number: String,
    pub phone: String,
    pub address: String,
}

#[derive(Template)]
#[template(path = "mediation_agreement.html")]
pub struct AgreementPage {
    pub number: String,
    pub parties: Vec<PrintParty>,
    pub facts: String,
    pub responsibilities: Option<String>,
    pub terms: String,
    pub kind: &'static str,
    pub method: Option<String>,
    pub place: Option<String>,
    pub deadline: Option<String>,
    pub copies: usize,
    pub mediators: String,
    pub committee: String,
    pub effective_on: String,
    pub judicial_last_day: String,
}

pub async fn agreement(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let (access, d) = agreement_for_print(&state, &principal, id).await?;
    let (_, ctx) = crate::auth::principal::community_target(
        &state,
        linli_domain::CommunityId(access.case.community_id),
    )
    .await?;
    let c = d.case;
    let effective = c.effective_on.unwrap_or_default();
    let page = AgreementPage {
        number: c.number,
        copies: d.parties.len() + 1,
        parties: d
            .parties
            .into_iter()
            .map(|p| PrintParty {
                role: PartyRole::parse(&p.role).map_or("当事人", |r| r.label_zh()),
                name: p.name,
                gender: match p.gender.as_deref() {
                    Some("male") => "男",
                    Some("female") => "女",
                    _ => "",
                },
                birth_year: p.birth_year.map(|y| y.to_string()).unwrap_or_default(),
                id_number: p.id_number.unwrap_or_default(),
                phone: p.phone.unwrap_or_default(),
                address: p.address.unwrap_or_default(),
            })
            .collect(),
        facts: c.facts,
        responsibilities: c.responsibilities,
        terms: c.agreement_terms.unwrap_or_default(),
        kind: c
            .agreement_kind
            .as_deref()
            .and_then(|k| AgreementKind::parse(k).ok())
            .map_or("", |k| k.label_zh()),
        method: c.performance_method,
        place: c.performance_place,
        deadline: c
            .performance_deadline
            .map(|d| d.format("%Y年%m月%d日").to_string()),
        mediators: d
            .mediators
            .iter()
            .filter(|m| m.recused_at.is_none())
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join("、"),
        committee: ctx.community_name,
        effective_on: effective.format("%Y年%m月%d日").to_string(),
        judicial_last_day: judicial_last_day(effective)
            .format("%Y年%m月%d日")
            .to_string(),
    };
    Ok(render(&page))
}
