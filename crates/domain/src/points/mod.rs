//! Contribution points (党群共治积分, DOMAIN §6): what residents earn for what they give the
//! community and spend at service stations and partner merchants.
//!
//! Points are treated like money. Amounts are whole numbers; every change is a transfer
//! between two accounts of one community (double entry), so a community's entries always
//! sum to zero and a resident's balance is the sum of their entries. The rules here are
//! pure: how many points a contribution earns under a rule, the caps, and what a ledger
//! request may or may not do. The store enforces them inside one transaction.

mod rules;

pub use rules::{Basis, PointsRule, RuleDraft, Usage};

use std::fmt;

use thiserror::Error;

/// The most points one transfer may move. Far above any award or catalogue price, low
/// enough that no sum of a year of transfers can overflow.
pub const MAX_TRANSFER: i64 = 1_000_000;

/// A positive number of points moved by one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Points(i64);

impl Points {
    pub fn new(value: i64) -> Result<Points, PointsRuleError> {
        if (1..=MAX_TRANSFER).contains(&value) {
            Ok(Points(value))
        } else {
            Err(PointsRuleError::AmountRange)
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The client's name for one ledger-changing request (`Idempotency-Key` header). The
/// same key with the same request returns the first answer and changes nothing; with a
/// different request it is refused. Keys belong to the account that sent them, so two
/// clients cannot collide or read each other's answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<IdempotencyKey, PointsRuleError> {
        let ok = (8..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if ok {
            Ok(IdempotencyKey(raw.to_owned()))
        } else {
            Err(PointsRuleError::IdempotencyKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<$name> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

string_enum! {
    /// Whose points an account holds.
    AccountKind {
        /// The community's source of points. Its balance is minus the points in
        /// circulation; the only account allowed below zero.
        Issuance => "issuance",
        /// Points a resident has redeemed and a station or partner has not yet confirmed:
        /// held here until confirmed (then paid on) or expired (then returned).
        Escrow => "escrow",
        Resident => "resident",
        /// A service station (a service point of the community's service circle).
        Station => "station",
        /// A partner organisation (merchant, charity, property company).
        Partner => "partner",
    }
}

string_enum! {
    /// What a transfer is, which fixes the kinds of account it runs between.
    TransferKind {
        /// Earned: issuance → resident.
        Award => "award",
        /// Redeemed, awaiting confirmation: resident → escrow.
        Redeem => "redeem",
        /// Confirmed at the station or partner: escrow → station/partner.
        Settle => "settle",
        /// An unconfirmed redemption expired or was cancelled: escrow → resident.
        Refund => "refund",
        /// A correction: the reverse of an earlier transfer, linked to it.
        Reversal => "reversal",
        /// Points that ran out their validity: resident → issuance.
        Expiry => "expiry",
    }
}

impl TransferKind {
    /// Whether staff may correct a transfer of this kind with a reversal. Redemptions are
    /// undone by refund (cancel or expiry) instead, and a reversal is never reversed: a
    /// wrong correction is put right by a new award.
    pub fn is_reversible(self) -> bool {
        matches!(self, TransferKind::Award | TransferKind::Expiry)
    }
}

/// Where the day and the month containing `now` began in the community's time zone, in
/// UTC: the periods the daily and monthly caps count in.
pub fn period_starts(
    time_zone: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, TimeZone};
    let offset = crate::matters::utc_offset(time_zone);
    let local = now.with_timezone(&offset).date_naive();
    let start = |date: chrono::NaiveDate| {
        offset
            .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
            .single()
            .map_or(now, |t| t.with_timezone(&chrono::Utc))
    };
    (start(local), start(local.with_day(1).unwrap_or(local)))
}

/// A text a person wrote on a ledger request (a reason, a note), whitespace tidied and
/// its length checked in characters.
pub fn memo(raw: &str, min: usize) -> Result<String, PointsRuleError> {
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = text.chars().count();
    if (min..=500).contains(&len) {
        Ok(text)
    } else {
        Err(PointsRuleError::MemoLength { min })
    }
}

/// Why a points request was refused. Each variant has a stable `code`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PointsRuleError {
    #[error("an amount of points is a whole number from 1 to 1,000,000")]
    AmountRange,
    #[error("an Idempotency-Key is 8 to 128 characters: letters, digits, '-', '_', '.' or ':'")]
    IdempotencyKey,
    #[error("a note has {min} to 500 characters")]
    MemoLength { min: usize },
    #[error("a rule code is 2 to 32 lowercase letters, digits or '_'")]
    RuleCode,
    #[error("a rule name has 1 to 40 characters")]
    RuleName,
    #[error("{0}")]
    RuleShape(&'static str),
    #[error("this rule counts time: give the minutes served")]
    MinutesRequired,
    #[error("this rule counts occasions, not time")]
    MinutesNotExpected,
    #[error("the service was shorter than this rule's minimum of {0} minutes")]
    TooShort(u32),
    #[error("this rule takes the number of points from whoever awards them")]
    PointsRequired,
    #[error("this rule fixes the points; do not send them")]
    PointsNotExpected,
    #[error("the cap for this contribution is reached for that day or month")]
    CapReached,
}

impl PointsRuleError {
    pub fn code(&self) -> &'static str {
        use PointsRuleError::*;
        match self {
            AmountRange => "points_amount_range",
            IdempotencyKey => "idempotency_key_invalid",
            MemoLength { .. } => "memo_length",
            RuleCode => "rule_code",
            RuleName => "rule_name",
            RuleShape(_) => "rule_shape",
            MinutesRequired => "minutes_required",
            MinutesNotExpected => "minutes_not_expected",
            TooShort(_) => "service_too_short",
            PointsRequired => "points_required",
            PointsNotExpected => "points_not_expected",
            CapReached => "points_cap_reached",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_positive_and_bounded() {
        assert!(Points::new(0).is_err());
        assert!(Points::new(-5).is_err());
        assert_eq!(Points::new(1).unwrap().get(), 1);
        assert_eq!(Points::new(MAX_TRANSFER).unwrap().get(), MAX_TRANSFER);
        assert!(Points::new(MAX_TRANSFER + 1).is_err());
    }

    #[test]
    fn idempotency_keys_are_plain_and_bounded() {
        assert!(IdempotencyKey::parse("0190c0de-7a1b-7c3d-8e4f-123456789abc").is_ok());
        assert!(IdempotencyKey::parse("award:2026-11-30:42").is_ok());
        assert!(IdempotencyKey::parse("short").is_err());
        assert!(IdempotencyKey::parse("has space in it").is_err());
        assert!(IdempotencyKey::parse("中文的幂等键不可以用").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
    }

    #[test]
    fn kinds_round_trip_and_only_awards_and_expiries_are_reversed() {
        for kind in TransferKind::ALL {
            assert_eq!(TransferKind::parse(kind.as_str()), Some(*kind));
        }
        for kind in AccountKind::ALL {
            assert_eq!(AccountKind::parse(kind.as_str()), Some(*kind));
        }
        assert!(TransferKind::Award.is_reversible());
        assert!(!TransferKind::Reversal.is_reversible());
        assert!(!TransferKind::Redeem.is_reversible());
    }

    #[test]
    fn days_and_months_begin_at_local_midnight() {
        use chrono::TimeZone;
        // 2026-12-01 01:30 in Shanghai is 2026-11-30 17:30 UTC.
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, 17, 30, 0)
            .unwrap();
        let (day, month) = period_starts("Asia/Shanghai", now);
        assert_eq!(
            day,
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 30, 16, 0, 0)
                .unwrap()
        );
        assert_eq!(month, day);
        let (day, month) = period_starts("Asia/Shanghai", now - chrono::Duration::hours(2));
        assert_eq!(
            day,
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 29, 16, 0, 0)
                .unwrap()
        );
        assert_eq!(
            month,
            chrono::Utc
                .with_ymd_and_hms(2026, 10, 31, 16, 0, 0)
                .unwrap()
        );
    }

    #[test]
    fn memos_are_tidied_and_counted_in_characters() {
        assert_eq!(memo("  扫  楼道 ", 2).unwrap(), "扫 楼道");
        assert_eq!(memo("错", 2), Err(PointsRuleError::MemoLength { min: 2 }));
        assert!(memo(&"好".repeat(500), 2).is_ok());
        assert!(memo(&"好".repeat(501), 2).is_err());
    }
}
