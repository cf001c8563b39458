//! The working-time calendar: time limits run in working hours or working days (DOMAIN
//! §4.3), on the community's clock, skipping weekends and public holidays and counting
//! make-up working days (调休上班).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::MatterRuleError;

/// An exception to the weekly pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A public holiday: no work even on a weekday.
    Holiday,
    /// A make-up working day: work even on a weekend.
    Workday,
}

impl DayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }

    pub fn parse(raw: &str) -> Result<DayKind, MatterRuleError> {
        match raw.trim() {
            "holiday" => Ok(DayKind::Holiday),
            "workday" => Ok(DayKind::Workday),
            other => Err(MatterRuleError::UnknownValue {
                field: "day kind",
                value: other.chars().take(40).collect(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Working hours (工作时): counted inside office hours only.
    Hours,
    /// Working days (工作日): due at the close of the n-th working day after the start day.
    Days,
}

impl TimeUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Hours => "hours",
            TimeUnit::Days => "days",
        }
    }

    pub fn parse(raw: &str) -> Result<TimeUnit, MatterRuleError> {
        match raw.trim() {
            "hours" => Ok(TimeUnit::Hours),
            "days" => Ok(TimeUnit::Days),
            other => Err(MatterRuleError::UnknownValue {
                field: "time unit",
                value: other.chars().take(40).collect(),
            }),
        }
    }
}

/// A category's time limit: 1 to 999 working hours or days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeLimit {
    pub amount: u16,
    pub unit: TimeUnit,
}

impl TimeLimit {
    pub fn new(amount: i64, unit: TimeUnit) -> Result<TimeLimit, MatterRuleError> {
        if (1..=999).contains(&amount) {
            Ok(TimeLimit {
                amount: amount as u16,
                unit,
            })
        } else {
            Err(MatterRuleError::TimeLimitRange)
        }
    }
}

/// Office hours of a working day, as intervals in local time (a lunch break splits the day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours(Vec<(NaiveTime, NaiveTime)>);

impl WorkingHours {
    /// Intervals must be non-empty, ordered and not overlap.
    pub fn new(intervals: Vec<(NaiveTime, NaiveTime)>) -> Option<WorkingHours> {
        let ordered = intervals.windows(2).all(|w| w[0].1 <= w[1].0);
        let non_empty = intervals.iter().all(|(a, b)| a < b);
        (!intervals.is_empty() && ordered && non_empty).then_some(WorkingHours(intervals))
    }

    /// 09:00–12:00 and 14:00–18:00, the usual hours of a community office.
    pub fn standard() -> WorkingHours {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("valid hour");
        WorkingHours(vec![(t(9), t(12)), (t(14), t(18))])
    }

    pub fn intervals(&self) -> &[(NaiveTime, NaiveTime)] {
        &self.0
    }
}

/// The fixed offset of a community's time zone. China keeps one offset all year (no
/// daylight saving), so a fixed offset is exact for every Chinese zone name.
pub fn utc_offset(time_zone: &str) -> FixedOffset {
    let hours = match time_zone {
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Urumqi" | "Asia/Harbin" | "PRC"
        | "Asia/Hong_Kong" | "Asia/Macau" | "Asia/Taipei" => 8,
        _ => 0,
    };
    FixedOffset::east_opt(hours * 3600).expect("offset within a day")
}

/// How far the calendar looks ahead before giving up (a limit of 999 working days fits).
const MAX_DAYS_AHEAD: i64 = 5 * 366;

/// A community's working calendar.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    offset: FixedOffset,
    hours: WorkingHours,
    overrides: BTreeMap<NaiveDate, DayKind>,
}

impl WorkCalendar {
    pub fn new(
        offset: FixedOffset,
        hours: WorkingHours,
        overrides: impl IntoIterator<Item = (NaiveDate, DayKind)>,
    ) -> WorkCalendar {
        WorkCalendar {
            offset,
            hours,
            overrides: overrides.into_iter().collect(),
        }
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        match self.overrides.get(&day) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    fn local(&self, at: DateTime<Utc>) -> chrono::NaiveDateTime {
        at.with_timezone(&self.offset).naive_local()
    }

    fn utc(&self, local: chrono::NaiveDateTime) -> DateTime<Utc> {
        (local - Duration::seconds(i64::from(self.offset.local_minus_utc()))).and_utc()
    }

    /// Working time of each office interval of `day`, as local date-times.
    fn intervals_of(
        &self,
        day: NaiveDate,
    ) -> impl Iterator<Item = (chrono::NaiveDateTime, chrono::NaiveDateTime)> + '_ {
        let working = self.is_working_day(day);
        self.hours
            .intervals()
            .iter()
            .filter(move |_| working)
            .map(move |(a, b)| (day.and_time(*a), day.and_time(*b)))
    }

    /// The moment `minutes` of working time after `start`. A start outside office hours
    /// counts from the next opening.
    pub fn add_working_minutes(&self, start: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let cursor = self.local(start);
        let mut left = minutes.max(0);
        let mut day = cursor.date();
        for _ in 0..MAX_DAYS_AHEAD {
            for (open, close) in self.intervals_of(day) {
                let from = open.max(cursor);
                if from >= close {
                    continue;
                }
                let available = (close - from).num_minutes();
                if left <= available {
                    return self.utc(from + Duration::minutes(left));
                }
                left -= available;
            }
            day = day.succ_opt().expect("date in range");
        }
        self.utc(cursor + Duration::days(MAX_DAYS_AHEAD))
    }

    /// The close of the `days`-th working day after the day of `start` (the start day does
    /// not count, as in the 12345 rules: "from the next day").
    pub fn add_working_days(&self, start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let mut day = self.local(start).date();
        let mut counted = 0;
        for _ in 0..MAX_DAYS_AHEAD {
            day = day.succ_opt().expect("date in range");
            if self.is_working_day(day) {
                counted += 1;
                if counted >= days {
                    let close = self.hours.intervals().last().expect("non-empty").1;
                    return self.utc(day.and_time(close));
                }
            }
        }
        self.utc(day.and_hms_opt(23, 59, 0).expect("valid time"))
    }

    /// Working minutes between two moments (zero if `end` is not after `start`).
    pub fn working_minutes_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
        if end <= start {
            return 0;
        }
        let (from, to) = (self.local(start), self.local(end));
        let mut total = 0;
        let mut day = from.date();
        while day <= to.date() {
            for (open, close) in self.intervals_of(day) {
                let a = open.max(from);
                let b = close.min(to);
                if a < b {
                    total += (b - a).num_minutes();
                }
            }
            day = day.succ_opt().expect("date in range");
        }
        total
    }

    /// When a limit that starts at `start` falls due.
    pub fn due(&self, start: DateTime<Utc>, limit: TimeLimit) -> DateTime<Utc> {
        match limit.unit {
            TimeUnit::Hours => self.add_working_minutes(start, i64::from(limit.amount) * 60),
            TimeUnit::Days => self.add_working_days(start, u32::from(limit.amount)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> FixedOffset {
        utc_offset("Asia/Shanghai")
    }

    /// A local Shanghai time as UTC.
    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
            .and_local_timezone(shanghai())
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// National Day 2026: 1–7 October off, Saturday 10 October worked (make-up day).
    fn calendar() -> WorkCalendar {
        let holidays = (1..=7).map(|d| (day(2026, 10, d), DayKind::Holiday));
        WorkCalendar::new(
            shanghai(),
            WorkingHours::standard(),
            holidays.chain([(day(2026, 10, 10), DayKind::Workday)]),
        )
    }

    #[test]
    fn hours_skip_lunch_evening_and_weekend() {
        let cal = calendar();
        // Friday 27 November 2026, 16:00: two hours left that day, then Monday.
        assert_eq!(
            cal.due(
                at(2026, 11, 27, 16, 0),
                TimeLimit::new(4, TimeUnit::Hours).unwrap()
            ),
            at(2026, 11, 30, 11, 0)
        );
        // Reported at 11:30: half an hour before lunch, then from 14:00.
        assert_eq!(
            cal.add_working_minutes(at(2026, 11, 30, 11, 30), 90),
            at(2026, 11, 30, 15, 0)
        );
        // Reported at night: counts from the next opening.
        assert_eq!(
            cal.add_working_minutes(at(2026, 11, 30, 22, 0), 60),
            at(2026, 12, 1, 10, 0)
        );
    }

    #[test]
    fn days_count_from_the_next_day_and_skip_holidays() {
        let cal = calendar();
        // Wednesday 30 September, 1 working day: the holiday runs 1–7 October, 8 and 9
        // October are Thursday and Friday.
        assert_eq!(
            cal.due(
                at(2026, 9, 30, 10, 0),
                TimeLimit::new(1, TimeUnit::Days).unwrap()
            ),
            at(2026, 10, 8, 18, 0)
        );
        // 3 working days: 8, 9 and the make-up Saturday 10 October.
        assert_eq!(
            cal.due(
                at(2026, 9, 30, 10, 0),
                TimeLimit::new(3, TimeUnit::Days).unwrap()
            ),
            at(2026, 10, 10, 18, 0)
        );
        assert!(!cal.is_working_day(day(2026, 10, 5)), "a holiday Monday");
        assert!(cal.is_working_day(day(2026, 10, 10)), "a make-up Saturday");
        assert!(!cal.is_working_day(day(2026, 10, 11)), "an ordinary Sunday");
    }

    #[test]
    fn a_make_up_day_counts_working_hours() {
        let cal = calendar();
        // Friday 9 October 17:00 + 3 h: 1 h Friday, 2 h on the make-up Saturday.
        assert_eq!(
            cal.add_working_minutes(at(2026, 10, 9, 17, 0), 180),
            at(2026, 10, 10, 11, 0)
        );
    }

    #[test]
    fn minutes_between_is_the_inverse_of_adding() {
        let cal = calendar();
        let start = at(2026, 9, 29, 15, 20);
        for minutes in [0, 1, 59, 60, 400, 421, 2000] {
            let end = cal.add_working_minutes(start, minutes);
            assert_eq!(
                cal.working_minutes_between(start, end),
                minutes,
                "{minutes}"
            );
        }
    }

    #[test]
    fn time_limits_and_working_hours_are_checked() {
        assert!(TimeLimit::new(0, TimeUnit::Hours).is_err());
        assert!(TimeLimit::new(1000, TimeUnit::Days).is_err());
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        assert!(WorkingHours::new(vec![(t(14), t(12))]).is_none());
        assert!(WorkingHours::new(vec![(t(9), t(13)), (t(12), t(18))]).is_none());
        assert!(WorkingHours::new(vec![]).is_none());
    }
}
