//! What the engagement ladder reads: each resident's occasions and verified service in a
//! window, their grid, and the community's thresholds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use linli_domain::engagement::{Activity, Ladder};
use linli_domain::{AccountId, CommunityId};
use sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use uuid::Uuid;

use crate::schema::{
    PointsRules, PointsSettings, PointsTransfers, Residents, VolunteerRecords,
    VolunteerVerifications,
};
use crate::{Exec, Result};

/// The community's thresholds (the defaults until it sets its own).
pub async fn ladder(ex: &mut Exec<'_>, community: CommunityId) -> Result<Ladder> {
    let q = Query::select()
        .columns([
            PointsSettings::LadderWindowDays,
            PointsSettings::LadderParticipantOccasions,
            PointsSettings::LadderVolunteerMinutes,
        ])
        .from(PointsSettings::Table)
        .and_where(Expr::col(PointsSettings::CommunityId).eq(community.0))
        .to_owned();
    Ok(ex
        .fetch_optional::<(i64, i64, i64), _>(&q)
        .await?
        .map_or_else(
            Ladder::default,
            |(window_days, participant_occasions, volunteer_minutes)| Ladder {
                window_days,
                participant_occasions,
                volunteer_minutes,
            },
        ))
}

pub async fn put_ladder(
    ex: &mut Exec<'_>,
    community: CommunityId,
    ladder: &Ladder,
    by: AccountId,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(PointsSettings::Table)
        .columns([
            PointsSettings::CommunityId,
            PointsSettings::NoticeDays,
            PointsSettings::LadderWindowDays,
            PointsSettings::LadderParticipantOccasions,
            PointsSettings::LadderVolunteerMinutes,
            PointsSettings::UpdatedBy,
            PointsSettings::UpdatedAt,
        ])
        .values_panic([
            community.0.into(),
            crate::points::expiry::DEFAULT_NOTICE_DAYS.into(),
            ladder.window_days.into(),
            ladder.participant_occasions.into(),
            ladder.volunteer_minutes.into(),
            by.0.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column(PointsSettings::CommunityId)
                .update_columns([
                    PointsSettings::LadderWindowDays,
                    PointsSettings::LadderParticipantOccasions,
                    PointsSettings::LadderVolunteerMinutes,
                    PointsSettings::UpdatedBy,
                    PointsSettings::UpdatedAt,
                ])
                .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

/// Every resident of the community and their grid.
pub async fn residents_by_grid(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<Vec<(Uuid, Option<Uuid>)>> {
    let q = Query::select()
        .columns([Residents::Id, Residents::GridId])
        .from(Residents::Table)
        .and_where(Expr::col(Residents::CommunityId).eq(community.0))
        .to_owned();
    ex.fetch_all(&q).await
}

/// What each resident who did anything did in `[from, until)`: occasions (awards under
/// per-occasion rules that stand) and verified service minutes (records that count).
pub async fn activity(
    ex: &mut Exec<'_>,
    community: CommunityId,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<HashMap<Uuid, Activity>> {
    let t = PointsTransfers::Table;
    let occasions = Query::select()
        .column((t, PointsTransfers::ToAccount))
        .expr_as(
            Expr::col((t, PointsTransfers::Seq))
                .count()
                .cast_as("BIGINT"),
            Alias::new("n"),
        )
        .from(t)
        .inner_join(
            PointsRules::Table,
            Expr::col((PointsRules::Table, PointsRules::CommunityId))
                .equals((t, PointsTransfers::CommunityId))
                .and(
                    Expr::col((PointsRules::Table, PointsRules::Id))
                        .equals((t, PointsTransfers::RuleId)),
                ),
        )
        .and_where(Expr::col((t, PointsTransfers::CommunityId)).eq(community.0))
        .and_where(Expr::col((t, PointsTransfers::Kind)).eq("award"))
        .and_where(Expr::col((PointsRules::Table, PointsRules::Basis)).eq("per_occasion"))
        .and_where(Expr::col((t, PointsTransfers::At)).gte(from))
        .and_where(Expr::col((t, PointsTransfers::At)).lt(until))
        .and_where(crate::points::ledger::not_reversed(community))
        .group_by_col((t, PointsTransfers::ToAccount))
        .to_owned();
    let mut out: HashMap<Uuid, Activity> = HashMap::new();
    for (resident, n) in ex.fetch_all::<(Uuid, i64), _>(&occasions).await? {
        out.entry(resident).or_default().occasions = n;
    }
    let r = VolunteerRecords::Table;
    let v = VolunteerVerifications::Table;
    let service = Query::select()
        .column((r, VolunteerRecords::VolunteerId))
        .expr_as(
            Expr::col((r, VolunteerRecords::Minutes))
                .sum()
                .cast_as("BIGINT"),
            Alias::new("m"),
        )
        .from(r)
        .inner_join(
            v,
            Expr::col((v, VolunteerVerifications::CommunityId))
                .equals((r, VolunteerRecords::CommunityId))
                .and(
                    Expr::col((v, VolunteerVerifications::RecordId))
                        .equals((r, VolunteerRecords::Id)),
                ),
        )
        .and_where(Expr::col((r, VolunteerRecords::CommunityId)).eq(community.0))
        .and_where(Expr::col((v, VolunteerVerifications::Decision)).eq("verified"))
        .and_where(Expr::col((r, VolunteerRecords::StartedAt)).gte(from))
        .and_where(Expr::col((r, VolunteerRecords::StartedAt)).lt(until))
        .and_where(crate::volunteering::superseded().not())
        .group_by_col((r, VolunteerRecords::VolunteerId))
        .to_owned();
    for (resident, minutes) in ex.fetch_all::<(Uuid, i64), _>(&service).await? {
        out.entry(resident).or_default().service_minutes = minutes;
    }
    Ok(out)
}
