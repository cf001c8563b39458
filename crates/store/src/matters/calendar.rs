//! The working calendar and supervision settings of a community.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use linli_domain::CommunityId;
use linli_domain::matters::{DayKind, WorkCalendar, WorkingHours, utc_offset};
use sea_query::{Expr, ExprTrait, OnConflict, Order, Query};

use crate::schema::{CalendarDays, MatterSettings};
use crate::{Exec, Result, StoreError};

/// Supervision ladder defaults: a yellow card one working day after the due time, a red
/// card five (the local 12345 rule's "public criticism" point, DOMAIN §4.2).
pub const DEFAULT_YELLOW_AFTER_DAYS: i32 = 1;
pub const DEFAULT_RED_AFTER_DAYS: i32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub working_hours: WorkingHours,
    pub yellow_after_days: i32,
    pub red_after_days: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            working_hours: WorkingHours::standard(),
            yellow_after_days: DEFAULT_YELLOW_AFTER_DAYS,
            red_after_days: DEFAULT_RED_AFTER_DAYS,
        }
    }
}

/// "09:00-12:00,14:00-18:00" ⇄ working hours.
pub fn format_hours(hours: &WorkingHours) -> String {
    hours
        .intervals()
        .iter()
        .map(|(a, b)| format!("{}-{}", a.format("%H:%M"), b.format("%H:%M")))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn parse_hours(text: &str) -> Option<WorkingHours> {
    let mut intervals = Vec::new();
    for part in text.split(',') {
        let (a, b) = part.trim().split_once('-')?;
        let a = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
        let b = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
        intervals.push((a, b));
    }
    WorkingHours::new(intervals)
}

pub async fn settings(ex: &mut Exec<'_>, community: CommunityId) -> Result<Settings> {
    let q = Query::select()
        .columns([
            MatterSettings::WorkingHours,
            MatterSettings::YellowAfterDays,
            MatterSettings::RedAfterDays,
        ])
        .from(MatterSettings::Table)
        .and_where(Expr::col(MatterSettings::CommunityId).eq(community.0))
        .to_owned();
    let row: Option<(String, i32, i32)> = ex.fetch_optional(&q).await?;
    match row {
        None => Ok(Settings::default()),
        Some((hours, yellow, red)) => Ok(Settings {
            working_hours: parse_hours(&hours)
                .ok_or_else(|| StoreError::Corrupt(format!("working hours {hours:?}")))?,
            yellow_after_days: yellow,
            red_after_days: red,
        }),
    }
}

pub async fn save_settings(
    ex: &mut Exec<'_>,
    community: CommunityId,
    s: &Settings,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(MatterSettings::Table)
        .columns([
            MatterSettings::CommunityId,
            MatterSettings::WorkingHours,
            MatterSettings::YellowAfterDays,
            MatterSettings::RedAfterDays,
            MatterSettings::UpdatedAt,
        ])
        .values_panic([
            community.0.into(),
            format_hours(&s.working_hours).into(),
            s.yellow_after_days.into(),
            s.red_after_days.into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::column(MatterSettings::CommunityId)
                .update_columns([
                    MatterSettings::WorkingHours,
                    MatterSettings::YellowAfterDays,
                    MatterSettings::RedAfterDays,
                    MatterSettings::UpdatedAt,
                ])
                .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CalendarDayRow {
    pub day: NaiveDate,
    pub kind: String,
    pub note: String,
}

pub async fn days(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<CalendarDayRow>> {
    let q = Query::select()
        .columns([CalendarDays::Day, CalendarDays::Kind, CalendarDays::Note])
        .from(CalendarDays::Table)
        .and_where(Expr::col(CalendarDays::CommunityId).eq(community.0))
        .order_by(CalendarDays::Day, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Sets (or replaces) the kind of one day.
pub async fn set_day(
    ex: &mut Exec<'_>,
    community: CommunityId,
    day: NaiveDate,
    kind: DayKind,
    note: &str,
) -> Result<()> {
    let q = Query::insert()
        .into_table(CalendarDays::Table)
        .columns([
            CalendarDays::CommunityId,
            CalendarDays::Day,
            CalendarDays::Kind,
            CalendarDays::Note,
        ])
        .values_panic([
            community.0.into(),
            day.into(),
            kind.as_str().into(),
            note.into(),
        ])
        .on_conflict(
            OnConflict::columns([CalendarDays::CommunityId, CalendarDays::Day])
                .update_columns([CalendarDays::Kind, CalendarDays::Note])
                .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

/// Returns a day to the ordinary weekly pattern.
pub async fn clear_day(ex: &mut Exec<'_>, community: CommunityId, day: NaiveDate) -> Result<bool> {
    let q = Query::delete()
        .from_table(CalendarDays::Table)
        .and_where(Expr::col(CalendarDays::CommunityId).eq(community.0))
        .and_where(Expr::col(CalendarDays::Day).eq(day))
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// The community's calendar, ready to count working time.
pub async fn work_calendar(
    ex: &mut Exec<'_>,
    community: CommunityId,
    time_zone: &str,
) -> Result<(WorkCalendar, Settings)> {
    let settings = settings(ex, community).await?;
    let overrides = days(ex, community)
        .await?
        .into_iter()
        .filter_map(|d| DayKind::parse(&d.kind).ok().map(|k| (d.day, k)));
    let calendar = WorkCalendar::new(
        utc_offset(time_zone),
        settings.working_hours.clone(),
        overrides,
    );
    Ok((calendar, settings))
}
