//! Bulk writing of whole matters with their timelines: the demo's year of history and
//! benchmark data. Rows go in as multi-row INSERTs, far faster than one step at a time.

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use sea_query::{Alias, Expr, ExprTrait, Query};
use uuid::Uuid;

use super::records::{EVENT_COLUMNS, search_text};
use crate::registry::INSERT_BATCH;
use crate::schema::{MatterEvents, MatterSearch, Matters};
use crate::{Engine, Exec, Result};

/// A matter as it stands at the end of its history.
#[derive(Debug, Clone)]
pub struct FullMatter {
    pub id: Uuid,
    pub number: String,
    pub category_id: Uuid,
    pub grid_id: Option<Uuid>,
    pub building_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub source: &'static str,
    pub status: &'static str,
    pub class: Option<&'static str>,
    pub reporter_resident_id: Option<Uuid>,
    pub reporter_account_id: Option<Uuid>,
    pub place: Option<String>,
    pub handler_kind: Option<&'static str>,
    pub handler_id: Option<Uuid>,
    pub referral_kind: Option<&'static str>,
    pub due_at: Option<DateTime<Utc>>,
    pub remind_at: Option<DateTime<Utc>>,
    pub yellow_at: Option<DateTime<Utc>>,
    pub red_at: Option<DateTime<Utc>>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub supervise_level: &'static str,
    pub fixed_by: Option<Uuid>,
    pub rating: Option<i32>,
    pub reopen_count: i32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// One entry of a matter's timeline.
#[derive(Debug, Clone)]
pub struct FullEvent {
    pub matter_id: Uuid,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<Uuid>,
    pub step: &'static str,
    pub from: Option<&'static str>,
    pub to: &'static str,
    pub comment: String,
    pub detail: String,
}

pub async fn insert_matters(
    ex: &mut Exec<'_>,
    community: CommunityId,
    rows: &[FullMatter],
) -> Result<()> {
    // SQLite's full-text entries are written after the rows (no trigger does it, see
    // migration 0007): for every matter past the last rowid before this load.
    let before = match ex.engine() {
        Engine::Sqlite => Some(
            ex.fetch_one::<(i64,), _>(
                &Query::select()
                    .expr(Expr::cust("coalesce(max(rowid), 0)"))
                    .from(Matters::Table)
                    .to_owned(),
            )
            .await?
            .0,
        ),
        Engine::Postgres => None,
    };
    // Fewer rows per statement than elsewhere: a matter has many columns.
    for chunk in rows.chunks(INSERT_BATCH / 2) {
        let mut q = Query::insert()
            .into_table(Matters::Table)
            .columns([
                Matters::CommunityId,
                Matters::Id,
                Matters::Number,
                Matters::CategoryId,
                Matters::GridId,
                Matters::BuildingId,
                Matters::Title,
                Matters::Description,
                Matters::Source,
                Matters::Status,
                Matters::Class,
                Matters::ReporterResidentId,
                Matters::ReporterAccountId,
                Matters::Place,
                Matters::HandlerKind,
                Matters::HandlerId,
                Matters::ReferralKind,
                Matters::DueAt,
                Matters::RemindAt,
                Matters::YellowAt,
                Matters::RedAt,
                Matters::RemindedAt,
                Matters::SuperviseLevel,
                Matters::FixedBy,
                Matters::Rating,
                Matters::ReopenCount,
                Matters::SearchText,
                Matters::Version,
                Matters::CreatedAt,
                Matters::UpdatedAt,
                Matters::ClosedAt,
            ])
            .to_owned();
        for m in chunk {
            q.values_panic([
                community.0.into(),
                m.id.into(),
                m.number.clone().into(),
                m.category_id.into(),
                m.grid_id.into(),
                m.building_id.into(),
                m.title.clone().into(),
                m.description.clone().into(),
                m.source.into(),
                m.status.into(),
                m.class.into(),
                m.reporter_resident_id.into(),
                m.reporter_account_id.into(),
                m.place.clone().into(),
                m.handler_kind.into(),
                m.handler_id.into(),
                m.referral_kind.into(),
                m.due_at.into(),
                m.remind_at.into(),
                m.yellow_at.into(),
                m.red_at.into(),
                m.reminded_at.into(),
                m.supervise_level.into(),
                m.fixed_by.into(),
                m.rating.into(),
                m.reopen_count.into(),
                search_text(community, &m.title, &m.description).into(),
                m.version.into(),
                m.created_at.into(),
                m.updated_at.into(),
                m.closed_at.into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    if let Some(before) = before {
        let entries = Query::select()
            .column(Alias::new("rowid"))
            .column(Matters::SearchText)
            .from(Matters::Table)
            .and_where(Expr::col(Alias::new("rowid")).gt(before))
            .to_owned();
        ex.execute(
            &Query::insert()
                .into_table(MatterSearch::Table)
                .columns([MatterSearch::Rowid, MatterSearch::SearchText])
                .select_from(entries)
                .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

pub async fn insert_events(
    ex: &mut Exec<'_>,
    community: CommunityId,
    rows: &[FullEvent],
) -> Result<()> {
    for chunk in rows.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(MatterEvents::Table)
            .columns(EVENT_COLUMNS)
            .to_owned();
        for e in chunk {
            q.values_panic([
                community.0.into(),
                e.matter_id.into(),
                e.seq.into(),
                e.at.into(),
                e.actor.into(),
                e.step.into(),
                e.from.into(),
                e.to.into(),
                e.comment.clone().into(),
                e.detail.clone().into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

/// How many matters a community holds (the demo adds history only to an empty one).
pub async fn count(ex: &mut Exec<'_>, community: CommunityId) -> Result<i64> {
    use sea_query::{Expr, ExprTrait, Func};
    let q = Query::select()
        .expr(Func::count(Expr::col(Matters::Id)))
        .from(Matters::Table)
        .and_where(Expr::col(Matters::CommunityId).eq(community.0))
        .to_owned();
    let (n,): (i64,) = ex.fetch_one(&q).await?;
    Ok(n)
}
