//! Volunteer service records (志愿服务记录, DOMAIN §6): the hours a resident served, as the
//! 2021 civil-affairs rules want them kept — by whoever organised the service, checked by
//! someone other than the volunteer, in hours, and never edited: a mistake is put right by
//! a new record that names the one it corrects and says why.
//!
//! Hours are the official record; points (issue 5's ledger) are an incentive layered on
//! top, awarded when a record is verified.

use chrono::{DateTime, Datelike, Utc};
use thiserror::Error;

/// The longest single service one record may hold. A longer stint is two records.
pub const MAX_SERVICE_MINUTES: i64 = 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VolunteerError {
    #[error("{field} must be {min} to {max} characters")]
    TextLength {
        field: &'static str,
        min: usize,
        max: usize,
    },
    #[error("the service must end after it starts")]
    EndsBeforeStart,
    #[error("one record holds at most 24 hours; record a longer service as several")]
    TooLong,
    #[error("the service cannot end in the future")]
    InFuture,
    #[error("a decision is `verified` or `rejected`")]
    Decision,
}

impl VolunteerError {
    /// The field a client should highlight.
    pub fn field(&self) -> &'static str {
        match self {
            VolunteerError::TextLength { field, .. } => field,
            VolunteerError::EndsBeforeStart | VolunteerError::TooLong => "ended_at",
            VolunteerError::InFuture => "ended_at",
            VolunteerError::Decision => "decision",
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            VolunteerError::TextLength { .. } => "text_length",
            VolunteerError::EndsBeforeStart => "ends_before_start",
            VolunteerError::TooLong => "service_too_long",
            VolunteerError::InFuture => "service_in_future",
            VolunteerError::Decision => "unknown_decision",
        }
    }
}

/// When a service began and ended (check-in and check-out), and so how long it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpan {
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

impl ServiceSpan {
    /// A span that has ended by `now` (a few minutes of clock skew allowed) and lasts at
    /// most a day. A zero-length span is allowed only for corrections that void a record.
    pub fn new(
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ServiceSpan, VolunteerError> {
        if ended_at < started_at {
            return Err(VolunteerError::EndsBeforeStart);
        }
        if ended_at > now + chrono::Duration::minutes(5) {
            return Err(VolunteerError::InFuture);
        }
        let span = ServiceSpan {
            started_at,
            ended_at,
        };
        if span.minutes() > MAX_SERVICE_MINUTES {
            return Err(VolunteerError::TooLong);
        }
        Ok(span)
    }

    /// Whole minutes served (seconds dropped: check-in clocks are not that precise).
    pub fn minutes(&self) -> i64 {
        (self.ended_at - self.started_at).num_minutes()
    }
}

/// A verifier's decision on a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Verified,
    Rejected,
}

impl Decision {
    pub fn parse(raw: &str) -> Result<Decision, VolunteerError> {
        match raw {
            "verified" => Ok(Decision::Verified),
            "rejected" => Ok(Decision::Rejected),
            _ => Err(VolunteerError::Decision),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Verified => "verified",
            Decision::Rejected => "rejected",
        }
    }
}

/// Where a record stands: waiting for a verifier, verified (and counted unless a
/// verified correction replaced it), or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    Pending,
    Verified,
    Rejected,
    /// Verified, then replaced by a verified correction: no longer counted.
    Superseded,
}

impl RecordStatus {
    pub fn of(decision: Option<&str>, superseded: bool) -> RecordStatus {
        match (decision, superseded) {
            (Some("verified"), true) => RecordStatus::Superseded,
            (Some("verified"), false) => RecordStatus::Verified,
            (Some(_), _) => RecordStatus::Rejected,
            (None, _) => RecordStatus::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Pending => "pending",
            RecordStatus::Verified => "verified",
            RecordStatus::Rejected => "rejected",
            RecordStatus::Superseded => "superseded",
        }
    }

    /// Whether the record's hours count towards the volunteer's total.
    pub fn counts(self) -> bool {
        self == RecordStatus::Verified
    }
}

/// Trims and checks a free-text field's length in characters.
pub fn text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, VolunteerError> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if (min..=max).contains(&length) {
        Ok(trimmed.to_owned())
    } else {
        Err(VolunteerError::TextLength { field, min, max })
    }
}

/// Minutes as the hours a certificate states: two decimals, so 90 minutes is "1.50".
pub fn hours(minutes: i64) -> String {
    format!("{}.{:02}", minutes / 60, (minutes % 60) * 100 / 60)
}

/// A certificate's number: the community's own sequence, per year of issue.
pub fn certificate_number(issued_at: DateTime<Utc>, seq: i64) -> String {
    format!("{}-{:06}", issued_at.year(), seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, 0).unwrap()
    }

    #[test]
    fn a_span_counts_whole_minutes_and_refuses_impossible_times() {
        let now = at(20, 0);
        assert_eq!(
            ServiceSpan::new(at(9, 0), at(11, 30), now)
                .unwrap()
                .minutes(),
            150
        );
        assert_eq!(
            ServiceSpan::new(at(11, 0), at(9, 0), now),
            Err(VolunteerError::EndsBeforeStart)
        );
        assert_eq!(
            ServiceSpan::new(at(19, 0), at(21, 0), now),
            Err(VolunteerError::InFuture)
        );
        let day_before = at(9, 0) - chrono::Duration::days(1);
        assert_eq!(
            ServiceSpan::new(day_before - chrono::Duration::minutes(1), at(9, 0), now),
            Err(VolunteerError::TooLong)
        );
        assert!(ServiceSpan::new(day_before, at(9, 0), now).is_ok());
    }

    #[test]
    fn status_follows_the_decision_and_later_corrections() {
        assert_eq!(RecordStatus::of(None, false), RecordStatus::Pending);
        assert_eq!(
            RecordStatus::of(Some("verified"), false),
            RecordStatus::Verified
        );
        assert_eq!(
            RecordStatus::of(Some("verified"), true),
            RecordStatus::Superseded
        );
        assert_eq!(
            RecordStatus::of(Some("rejected"), false),
            RecordStatus::Rejected
        );
        assert!(RecordStatus::Verified.counts());
        assert!(!RecordStatus::Superseded.counts());
    }

    #[test]
    fn hours_and_certificate_numbers_read_as_printed() {
        assert_eq!(hours(90), "1.50");
        assert_eq!(hours(20), "0.33");
        assert_eq!(hours(600), "10.00");
        assert_eq!(certificate_number(at(9, 0), 42), "2026-000042");
        assert_eq!(
            text("activity", "  敬老 ", 1, 100).unwrap(),
            "敬老".to_owned()
        );
        assert!(text("reason", "x", 2, 500).is_err());
    }
}
