//! The printable volunteer service certificate (志愿服务记录证明) with the contents the
//! 2021 civil-affairs rules require: who (name, document, volunteer number), how many
//! hours doing what, who issued it and how to reach them, its number and date.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use linli_domain::auth::Action;
use linli_domain::volunteering;
use linli_domain::{CommunityId, ResidentId};
use linli_store::registry::residents;
use linli_store::volunteering::{self as store, CertificateLine};
use uuid::Uuid;

use crate::api::residents::reachable_resident;
use crate::api::volunteering::document_kind_zh;
use crate::error::ApiError;
use crate::pages::{SignedIn, render};
use crate::state::AppState;

pub struct PrintLine {
    pub date: String,
    pub activity: String,
    pub content: String,
    pub organiser: String,
    pub hours: String,
}

#[derive(Template)]
#[template(path = "volunteer_certificate.html")]
pub struct CertificatePage {
    pub number: String,
    pub name: String,
    pub volunteer_no: String,
    pub document_kind: &'static str,
    pub document_number: String,
    pub period: Option<String>,
    pub hours: String,
    pub records: i64,
    pub lines: Vec<PrintLine>,
    pub issuer: String,
    pub person_in_charge: String,
    pub issued_by: String,
    pub contact: String,
    pub issued_on: String,
}

/// A certificate as issued. The volunteer may print their own; otherwise whoever may
/// issue certificates for them.
pub async fn certificate(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    crate::api::ApiPath(id): crate::api::ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let row = {
        let mut conn = state.db.acquire().await?;
        store::find_certificate(&mut conn.exec(), id).await?
    }
    .ok_or(ApiError::NotFound)?;
    let volunteer = {
        let mut conn = state.db.acquire().await?;
        residents::find_resident(&mut conn.exec(), ResidentId(row.volunteer_id)).await?
    }
    .ok_or(ApiError::NotFound)?;
    let volunteer = if volunteer.account_id == Some(principal.account_id.0) {
        volunteer
    } else {
        reachable_resident(
            &state,
            &principal,
            ResidentId(row.volunteer_id),
            Action::CertifyServiceHours,
        )
        .await?
    };
    let (_, ctx) =
        crate::auth::principal::community_target(&state, CommunityId(row.community_id)).await?;
    let issuer_name = {
        let mut conn = state.db.acquire().await?;
        linli_store::auth::find_account(&mut conn.exec(), linli_domain::AccountId(row.issued_by))
            .await?
            .map(|a| a.display_name)
            .unwrap_or_default()
    };
    let opened = crate::pii::Opened::of(&state.data_key, &volunteer).map_err(ApiError::internal)?;
    let tz = linli_domain::matters::utc_offset(&ctx.time_zone);
    let day =
        |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%Y年%m月%d日").to_string();
    let lines: Vec<CertificateLine> = serde_json::from_str(&row.lines)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("certificate lines: {e}")))?;
    let period = match (row.period_from, row.period_until) {
        (None, None) => None,
        (from, until) => Some(format!(
            "{}至{}",
            from.map(day).unwrap_or_default(),
            until.map(day).unwrap_or_else(|| day(row.issued_at))
        )),
    };
    let page = CertificatePage {
        number: row.number,
        name: volunteer.name.clone(),
        volunteer_no: format!(
            "{}-{}",
            ctx.community_code,
            volunteer.id.simple().to_string()[..8].to_uppercase()
        ),
        document_kind: document_kind_zh(volunteer.document_kind.as_deref()),
        document_number: opened.document_number.unwrap_or_default(),
        period,
        hours: volunteering::hours(row.minutes),
        records: row.records,
        lines: lines
            .into_iter()
            .map(|l| PrintLine {
                date: day(l.started_at),
                activity: l.activity,
                content: l.content,
                organiser: l.organiser,
                hours: volunteering::hours(l.minutes),
            })
            .collect(),
        issuer: ctx.community_name,
        person_in_charge: "__________（签名）".to_owned(),
        issued_by: issuer_name,
        contact: "__________".to_owned(),
        issued_on: day(row.issued_at),
    };
    Ok(render(&page))
}

pub struct HoursLine {
    pub activity: String,
    pub when: String,
    pub hours: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub reason: Option<String>,
}

#[derive(Template)]
#[template(path = "points_hours.html")]
pub struct HoursPage {
    pub chrome: crate::pages::Chrome,
    pub total: Option<String>,
    pub lines: Vec<HoursLine>,
}

/// A resident's own service records and the hours that count.
pub async fn my_hours(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    let (target, ctx) = crate::pages::home_target(&state, &principal).await?;
    let t = crate::i18n::Tr::new(principal.locale);
    let mine =
        crate::api::residents::own_resident(&state, ctx.community(), principal.account_id).await?;
    let (total, lines) = match mine {
        None => (None, Vec::new()),
        Some(me) => {
            let filter = store::RecordFilter {
                volunteer: Some(me.id),
                ..store::RecordFilter::default()
            };
            let rows = {
                let mut conn = state.db.acquire().await?;
                store::list_records(&mut conn.exec(), ctx.community(), &filter, 500).await?
            };
            let (minutes, _) = store::counted(&rows);
            let lines = rows
                .into_iter()
                .map(|r| {
                    let status = r.status();
                    HoursLine {
                        activity: r.activity,
                        when: crate::pages::local_time(&r.started_at, &ctx.time_zone),
                        hours: volunteering::hours(r.minutes),
                        status: t.t(match status {
                            linli_domain::volunteering::RecordStatus::Pending => {
                                "points.hours.status.pending"
                            }
                            linli_domain::volunteering::RecordStatus::Verified => {
                                "points.hours.status.verified"
                            }
                            linli_domain::volunteering::RecordStatus::Rejected => {
                                "points.hours.status.rejected"
                            }
                            linli_domain::volunteering::RecordStatus::Superseded => {
                                "points.hours.status.superseded"
                            }
                        }),
                        status_class: match status {
                            linli_domain::volunteering::RecordStatus::Verified => "status-ok",
                            linli_domain::volunteering::RecordStatus::Pending => "status-info",
                            _ => "status-danger",
                        },
                        reason: r.reason,
                    }
                })
                .collect();
            (Some(volunteering::hours(minutes)), lines)
        }
    };
    Ok(render(&HoursPage {
        chrome: crate::pages::chrome(&principal, &target, &ctx.community_name, "/points"),
        total,
        lines,
    }))
}
