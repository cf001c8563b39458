//! Matters (事项): what residents raise, sorted three ways (三事分流, DOMAIN §5) and carried
//! through the case workflow (DOMAIN §4.2) against working-time limits, with supervision
//! when they run late.
//!
//! The rules live here, free of I/O: which step may follow which, who may take it, how a
//! class is proposed, and when a time limit falls due on the community's calendar.

mod calendar;
mod catalogue;
mod codes;
pub mod search;
mod triage;
mod workflow;

pub use calendar::{DayKind, TimeLimit, TimeUnit, WorkCalendar, WorkingHours, utc_offset};
pub use catalogue::{SEED_CATEGORIES, SeedCategory};
pub use codes::{
    DispatchTarget, HandlerKind, MatterClass, MatterSource, MatterStatus, ReferralKind,
    RejectReason, SuperviseLevel,
};
pub use triage::{TriageAnswers, TriageProposal, propose_class};
pub use workflow::{
    Capacity, Deadlines, MatterFacts, Step, StepOutcome, Transition, available_steps,
    deadlines_for, next_level, plan_step,
};

use thiserror::Error;

/// Why a matter request was refused. Each variant has a stable `code`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum MatterRuleError {
    #[error("a matter cannot be {step} while it is {status}")]
    IllegalTransition {
        step: &'static str,
        status: &'static str,
    },
    #[error("you cannot take this step on this matter")]
    NotYourStep,
    #[error("a reason of 2 to 500 characters is needed")]
    ReasonRequired,
    #[error("a description of 5 to 2,000 characters is needed")]
    DescriptionLength,
    #[error("a title has 2 to 60 characters")]
    TitleLength,
    #[error("a comment has at most 2,000 characters")]
    CommentTooLong,
    #[error(
        "a major matter is handled at community level or above (the office or the subdistrict)"
    )]
    MajorNeedsCommunityHandler,
    #[error("a private matter is referred, not dispatched")]
    PrivateIsReferred,
    #[error("only a private matter is referred")]
    OnlyPrivateIsReferred,
    #[error("the class is already {0}")]
    SameClass(&'static str),
    #[error("the extension must end after the current due time")]
    ExtensionNotLater,
    #[error("an extension is asked for before the matter falls due")]
    ExtensionAfterDue,
    #[error("no extension is waiting for a decision")]
    NoPendingExtension,
    #[error("an extension is already waiting for a decision")]
    ExtensionPending,
    #[error("the one who reported the fix cannot also verify it")]
    SelfVerification,
    #[error("a rating is a whole number from 1 (very dissatisfied) to 5 (very satisfied)")]
    RatingRange,
    #[error("unknown {field} {value:?}")]
    UnknownValue { field: &'static str, value: String },
    #[error("a time limit is 1 to 999 working hours or days")]
    TimeLimitRange,
    #[error("a category code is 2 to 16 letters, digits, '-' or '_'")]
    CategoryCode,
    #[error("a duplicate names the matter it repeats")]
    DuplicateNeedsOriginal,
}

impl MatterRuleError {
    pub fn code(&self) -> &'static str {
        use MatterRuleError::*;
        match self {
            IllegalTransition { .. } => "illegal_transition",
            NotYourStep => "not_your_step",
            ReasonRequired => "step_reason_required",
            DescriptionLength => "description_length",
            TitleLength => "title_length",
            CommentTooLong => "comment_too_long",
            MajorNeedsCommunityHandler => "major_needs_community_handler",
            PrivateIsReferred => "private_is_referred",
            OnlyPrivateIsReferred => "only_private_is_referred",
            SameClass(_) => "same_class",
            ExtensionNotLater => "extension_not_later",
            ExtensionAfterDue => "extension_after_due",
            NoPendingExtension => "no_pending_extension",
            ExtensionPending => "extension_pending",
            SelfVerification => "self_verification",
            RatingRange => "rating_range",
            UnknownValue { .. } => "unknown_value",
            TimeLimitRange => "time_limit_range",
            CategoryCode => "category_code",
            DuplicateNeedsOriginal => "duplicate_needs_original",
        }
    }
}

/// Free text a person typed, with whitespace runs collapsed and a length checked in
/// characters (not bytes: Chinese text is three bytes a character).
pub fn clean_text(raw: &str, min: usize, max: usize) -> Option<String> {
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = text.chars().count();
    (min..=max).contains(&len).then_some(text)
}

/// A reason for a step that needs one (reject, reclassify, return, shelve, extension).
pub fn reason(raw: &str) -> Result<String, MatterRuleError> {
    clean_text(raw, 2, 500).ok_or(MatterRuleError::ReasonRequired)
}
