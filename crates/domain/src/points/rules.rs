//! Earning rules: how many points a contribution earns (DOMAIN §6, "recommended rules
//! engine"). Every value is the community's to set; a change makes a new version, and
//! each award records the version that produced it, so a rule changed mid-activity never
//! rewrites what was already earned.

use super::{Points, PointsRuleError};
use crate::auth::Role;

/// How a rule counts a contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Points for every hour served, counted in whole steps of `rounding_minutes`
    /// (volunteer service, patrols).
    PerHour,
    /// A fixed number of points each time (attending a council meeting, an adopted
    /// proposal, a building-head duty).
    PerOccasion,
    /// Whoever awards decides the number (a commendation); large ones need a second
    /// approver.
    Manual,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::PerHour => "per_hour",
            Basis::PerOccasion => "per_occasion",
            Basis::Manual => "manual",
        }
    }

    pub fn parse(raw: &str) -> Option<Basis> {
        match raw {
            "per_hour" => Some(Basis::PerHour),
            "per_occasion" => Some(Basis::PerOccasion),
            "manual" => Some(Basis::Manual),
            _ => None,
        }
    }
}

/// A rule as an administrator writes it; [`RuleDraft::check`] refuses shapes that make
/// no sense before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDraft {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub basis: Basis,
    /// Per hour or per occasion; for a manual rule, the most one award may give.
    pub points: i64,
    pub rounding_minutes: u32,
    pub min_minutes: u32,
    pub per_occasion_cap: Option<i64>,
    pub per_day_cap: Option<i64>,
    pub per_month_cap: Option<i64>,
    /// The role whose member must confirm the contribution (e.g. the organiser's).
    pub verifier_role: Option<Role>,
    /// Manual awards above this many points wait for a second approver.
    pub approval_threshold: Option<i64>,
    pub active: bool,
}

impl RuleDraft {
    pub fn check(self) -> Result<RuleDraft, PointsRuleError> {
        let code_ok = (2..=32).contains(&self.code.len())
            && self
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !code_ok {
            return Err(PointsRuleError::RuleCode);
        }
        for name in [&self.name_zh, &self.name_en] {
            if !(1..=40).contains(&name.trim().chars().count()) {
                return Err(PointsRuleError::RuleName);
            }
        }
        if !(1..=super::MAX_TRANSFER).contains(&self.points) {
            return Err(PointsRuleError::RuleShape(
                "points are 1 to 1,000,000 (per hour, per occasion, or at most per manual award)",
            ));
        }
        if !(1..=480).contains(&self.rounding_minutes) {
            return Err(PointsRuleError::RuleShape("rounding is 1 to 480 minutes"));
        }
        if self.min_minutes > 24 * 60 {
            return Err(PointsRuleError::RuleShape(
                "the minimum service is at most 1,440 minutes",
            ));
        }
        for cap in [self.per_occasion_cap, self.per_day_cap, self.per_month_cap]
            .into_iter()
            .flatten()
        {
            if !(1..=super::MAX_TRANSFER).contains(&cap) {
                return Err(PointsRuleError::RuleShape("a cap is 1 to 1,000,000 points"));
            }
        }
        if let (Some(day), Some(month)) = (self.per_day_cap, self.per_month_cap)
            && day > month
        {
            return Err(PointsRuleError::RuleShape(
                "the daily cap cannot exceed the monthly cap",
            ));
        }
        match (self.basis, self.approval_threshold) {
            (Basis::Manual, Some(t)) if !(1..=super::MAX_TRANSFER).contains(&t) => {
                return Err(PointsRuleError::RuleShape(
                    "the approval threshold is 1 to 1,000,000 points",
                ));
            }
            (Basis::PerHour | Basis::PerOccasion, Some(_)) => {
                return Err(PointsRuleError::RuleShape(
                    "only manual rules have an approval threshold",
                ));
            }
            _ => {}
        }
        Ok(self)
    }
}

/// One stored version of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsRule {
    pub version: i32,
    pub draft: RuleDraft,
}

/// What a resident has already earned under one rule, for the caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub today: i64,
    pub this_month: i64,
}

impl PointsRule {
    /// The points one contribution earns, before the daily and monthly caps. `minutes`
    /// is the time served (per-hour rules only); `points` the amount an awarder chose
    /// (manual rules only).
    pub fn points_for(
        &self,
        minutes: Option<u32>,
        points: Option<i64>,
    ) -> Result<i64, PointsRuleError> {
        let rule = &self.draft;
        let earned = match rule.basis {
            Basis::PerHour => {
                if points.is_some() {
                    return Err(PointsRuleError::PointsNotExpected);
                }
                let minutes = minutes.ok_or(PointsRuleError::MinutesRequired)?;
                if minutes < rule.min_minutes || minutes == 0 {
                    return Err(PointsRuleError::TooShort(rule.min_minutes.max(1)));
                }
                // Whole steps only: 50 minutes at 30-minute rounding counts as 30.
                let counted = i64::from(minutes / rule.rounding_minutes * rule.rounding_minutes);
                counted * rule.points / 60
            }
            Basis::PerOccasion => {
                if minutes.is_some() {
                    return Err(PointsRuleError::MinutesNotExpected);
                }
                if points.is_some() {
                    return Err(PointsRuleError::PointsNotExpected);
                }
                rule.points
            }
            Basis::Manual => {
                if minutes.is_some() {
                    return Err(PointsRuleError::MinutesNotExpected);
                }
                let points = points.ok_or(PointsRuleError::PointsRequired)?;
                Points::new(points)?;
                if points > rule.points {
                    return Err(PointsRuleError::RuleShape(
                        "more points than this rule allows in one award",
                    ));
                }
                points
            }
        };
        Ok(match rule.per_occasion_cap {
            Some(cap) => earned.min(cap),
            None => earned,
        })
    }

    /// What may be credited now, given what was earned under this rule today and this
    /// month: the award cut down to what the caps leave, refused if they leave nothing
    /// (or if the contribution earns nothing after rounding).
    pub fn within_caps(&self, earned: i64, usage: Usage) -> Result<Points, PointsRuleError> {
        let rule = &self.draft;
        let mut allowed = earned;
        if let Some(cap) = rule.per_day_cap {
            allowed = allowed.min(cap - usage.today);
        }
        if let Some(cap) = rule.per_month_cap {
            allowed = allowed.min(cap - usage.this_month);
        }
        if earned <= 0 {
            return Err(PointsRuleError::TooShort(rule.rounding_minutes));
        }
        if allowed <= 0 {
            return Err(PointsRuleError::CapReached);
        }
        Points::new(allowed)
    }

    /// Whether an award of `points` under this rule waits for a second approver.
    pub fn needs_second_approver(&self, points: i64) -> bool {
        self.draft.basis == Basis::Manual
            && self.draft.approval_threshold.is_some_and(|t| points > t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(basis: Basis, points: i64) -> PointsRule {
        PointsRule {
            version: 1,
            draft: RuleDraft {
                code: "volunteer_service".into(),
                name_zh: "志愿服务".into(),
                name_en: "Volunteer service".into(),
                basis,
                points,
                rounding_minutes: 30,
                min_minutes: 30,
                per_occasion_cap: None,
                per_day_cap: None,
                per_month_cap: None,
                verifier_role: None,
                approval_threshold: None,
                active: true,
            }
            .check()
            .unwrap(),
        }
    }

    #[test]
    fn hours_count_in_whole_rounding_steps() {
        let r = rule(Basis::PerHour, 10);
        assert_eq!(r.points_for(Some(60), None), Ok(10));
        assert_eq!(r.points_for(Some(59), None), Ok(5));
        assert_eq!(r.points_for(Some(89), None), Ok(10));
        assert_eq!(r.points_for(Some(90), None), Ok(15));
        assert_eq!(
            r.points_for(Some(29), None),
            Err(PointsRuleError::TooShort(30))
        );
        assert_eq!(
            r.points_for(None, None),
            Err(PointsRuleError::MinutesRequired)
        );
        assert_eq!(
            r.points_for(Some(60), Some(3)),
            Err(PointsRuleError::PointsNotExpected)
        );
    }

    #[test]
    fn an_occasion_cap_and_the_day_and_month_caps_cut_an_award_down() {
        let mut r = rule(Basis::PerHour, 10);
        r.draft.per_occasion_cap = Some(20);
        r.draft.per_day_cap = Some(30);
        r.draft.per_month_cap = Some(100);
        // Eight hours at 10 an hour is 80, cut to 20 by the per-occasion cap.
        assert_eq!(r.points_for(Some(480), None), Ok(20));
        assert_eq!(r.within_caps(20, Usage::default()).unwrap().get(), 20);
        assert_eq!(
            r.within_caps(
                20,
                Usage {
                    today: 20,
                    this_month: 20
                }
            )
            .unwrap()
            .get(),
            10
        );
        assert_eq!(
            r.within_caps(
                20,
                Usage {
                    today: 30,
                    this_month: 30
                }
            ),
            Err(PointsRuleError::CapReached)
        );
        assert_eq!(
            r.within_caps(
                20,
                Usage {
                    today: 0,
                    this_month: 95
                }
            )
            .unwrap()
            .get(),
            5
        );
    }

    #[test]
    fn manual_awards_are_bounded_and_large_ones_need_a_second_approver() {
        let mut r = rule(Basis::Manual, 200);
        r.draft.approval_threshold = Some(50);
        let r = PointsRule {
            version: 1,
            draft: r.draft.check().unwrap(),
        };
        assert_eq!(r.points_for(None, Some(40)), Ok(40));
        assert_eq!(
            r.points_for(None, None),
            Err(PointsRuleError::PointsRequired)
        );
        assert!(r.points_for(None, Some(201)).is_err());
        assert!(!r.needs_second_approver(50));
        assert!(r.needs_second_approver(51));
    }

    #[test]
    fn nonsense_rules_are_refused() {
        let base = rule(Basis::PerOccasion, 5).draft;
        let mut bad = base.clone();
        bad.code = "Bad Code".into();
        assert_eq!(bad.check(), Err(PointsRuleError::RuleCode));
        let mut bad = base.clone();
        bad.per_day_cap = Some(50);
        bad.per_month_cap = Some(10);
        assert!(matches!(bad.check(), Err(PointsRuleError::RuleShape(_))));
        let mut bad = base.clone();
        bad.approval_threshold = Some(10);
        assert!(matches!(bad.check(), Err(PointsRuleError::RuleShape(_))));
        let mut bad = base;
        bad.points = 0;
        assert!(matches!(bad.check(), Err(PointsRuleError::RuleShape(_))));
    }
}
