//! People's mediation (人民调解, DOMAIN §8): a case from application to archive, with the
//! rules of the People's Mediation Law that a record must show — voluntary (a party may
//! decline), mediators chosen or designated (and recused on request), a record of each
//! session, an outcome that is a written agreement with the contents art. 29 requires, a
//! recorded oral agreement (art. 28), or termination with advice on other routes (art.
//! 26), then performance follow-up and the 30-day window to ask a court to confirm it
//! (art. 33).

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum MediationRuleError {
    #[error("a case cannot be {step} while it is {status}")]
    IllegalTransition {
        step: &'static str,
        status: &'static str,
    },
    #[error("unknown {field} {value:?}")]
    UnknownValue { field: &'static str, value: String },
    #[error("a case needs at least two parties, one of them the applicant")]
    PartiesRequired,
    #[error("a party's name has 1 to 40 characters")]
    PartyName,
    #[error("{0} needs 2 to 2,000 characters")]
    TextRequired(&'static str),
    #[error("an agreement is reached after at least one recorded session")]
    SessionRequired,
    #[error("a mediator must be assigned first")]
    MediatorRequired,
    #[error("this mediator has withdrawn from the case")]
    MediatorRecused,
    #[error("this person already mediates the case")]
    AlreadyMediator,
    #[error("the performance deadline cannot be before the agreement takes effect")]
    DeadlineBeforeEffect,
    #[error(
        "judicial confirmation is asked for jointly within 30 days of the agreement taking effect (last day {last_day})"
    )]
    JudicialWindowClosed { last_day: NaiveDate },
    #[error("only a written agreement goes to a court for confirmation")]
    JudicialNeedsWrittenAgreement,
    #[error("judicial confirmation was already requested")]
    JudicialAlreadyRequested,
}

impl MediationRuleError {
    pub fn code(&self) -> &'static str {
        use MediationRuleError::*;
        match self {
            IllegalTransition { .. } => "illegal_transition",
            UnknownValue { .. } => "unknown_value",
            PartiesRequired => "parties_required",
            PartyName => "party_name",
            TextRequired(_) => "text_required",
            SessionRequired => "session_required",
            MediatorRequired => "mediator_required",
            MediatorRecused => "mediator_recused",
            AlreadyMediator => "already_mediator",
            DeadlineBeforeEffect => "deadline_before_effect",
            JudicialWindowClosed { .. } => "judicial_window_closed",
            JudicialNeedsWrittenAgreement => "judicial_needs_written_agreement",
            JudicialAlreadyRequested => "judicial_already_requested",
        }
    }
}

macro_rules! codes {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $code:literal, $zh:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $code,)+ } }
            pub fn label_zh(self) -> &'static str { match self { $($name::$variant => $zh,)+ } }
            pub fn parse(raw: &str) -> Result<$name, MediationRuleError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw.trim()).ok_or_else(|| {
                    MediationRuleError::UnknownValue { field: $field, value: raw.chars().take(40).collect() }
                })
            }
        }
    };
}

codes!(
    /// Where a case stands.
    CaseStatus, "status" {
        Applied => "applied", "已申请";
        Accepted => "accepted", "已受理";
        Declined => "declined", "不予调解";
        Mediating => "mediating", "调解中";
        AgreementReached => "agreement_reached", "达成协议";
        Terminated => "terminated", "调解终止";
        Performing => "performing", "履行中";
        FollowedUp => "followed_up", "已回访";
        Archived => "archived", "已归档";
    }
);

codes!(
    DisputeType, "dispute type" {
        Neighbour => "neighbour", "邻里纠纷";
        MarriageFamily => "marriage_family", "婚姻家庭纠纷";
        Property => "property", "物业纠纷";
        Tenancy => "tenancy", "房屋租赁纠纷";
        Damages => "damages", "损害赔偿纠纷";
        Labour => "labour", "劳务纠纷";
        Other => "other", "其他纠纷";
    }
);

codes!(
    CaseSource, "source" {
        WalkIn => "walk_in", "当事人申请";
        GridReferral => "grid_referral", "网格转介";
        Hotline12345 => "hotline_12345", "12345转办";
        CourtPolice => "court_police", "法院、公安委托";
        Initiative => "initiative", "主动调解";
    }
);

codes!(
    PartyRole, "party role" {
        Applicant => "applicant", "申请人";
        Respondent => "respondent", "被申请人";
        Other => "other", "其他当事人";
    }
);

codes!(
    AgreementKind, "agreement kind" {
        Written => "written", "书面协议";
        Oral => "oral", "口头协议";
    }
);

codes!(
    Performance, "performance" {
        Performed => "performed", "已履行";
        Partly => "partly", "部分履行";
        NotPerformed => "not_performed", "未履行";
    }
);

/// Days after an agreement takes effect in which the parties may jointly ask a court to
/// confirm it (People's Mediation Law art. 33).
pub const JUDICIAL_WINDOW_DAYS: i64 = 30;
/// A case is normally concluded within a month of acceptance (2002 rules).
pub const NORMAL_DURATION_DAYS: i64 = 30;

/// The last day judicial confirmation may be asked for.
pub fn judicial_last_day(effective: NaiveDate) -> NaiveDate {
    effective + Duration::days(JUDICIAL_WINDOW_DAYS)
}

/// A step on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStep {
    Accept,
    Decline,
    AssignMediator,
    Recuse,
    RecordSession,
    ReachAgreement,
    Terminate,
    StartPerformance,
    FollowUp,
    RequestJudicialConfirmation,
    Archive,
}

impl CaseStep {
    pub fn name(self) -> &'static str {
        match self {
            CaseStep::Accept => "accept",
            CaseStep::Decline => "decline",
            CaseStep::AssignMediator => "assign_mediator",
            CaseStep::Recuse => "recuse",
            CaseStep::RecordSession => "record_session",
            CaseStep::ReachAgreement => "reach_agreement",
            CaseStep::Terminate => "terminate",
            CaseStep::StartPerformance => "start_performance",
            CaseStep::FollowUp => "follow_up",
            CaseStep::RequestJudicialConfirmation => "request_judicial_confirmation",
            CaseStep::Archive => "archive",
        }
    }

    /// Whether only the committee (not a mediator of the case) takes this step.
    pub fn committee_only(self) -> bool {
        matches!(
            self,
            CaseStep::Accept | CaseStep::Decline | CaseStep::AssignMediator | CaseStep::Archive
        )
    }

    fn from(self) -> &'static [CaseStatus] {
        use CaseStatus::*;
        match self {
            CaseStep::Accept | CaseStep::Decline => &[Applied],
            CaseStep::AssignMediator | CaseStep::Recuse => &[Applied, Accepted, Mediating],
            CaseStep::RecordSession => &[Accepted, Mediating],
            CaseStep::ReachAgreement | CaseStep::Terminate => &[Accepted, Mediating],
            CaseStep::StartPerformance => &[AgreementReached],
            CaseStep::FollowUp => &[AgreementReached, Performing, FollowedUp],
            CaseStep::RequestJudicialConfirmation => &[AgreementReached, Performing, FollowedUp],
            CaseStep::Archive => &[Declined, Terminated, FollowedUp],
        }
    }

    /// The status after the step (None: unchanged).
    fn to(self) -> Option<CaseStatus> {
        use CaseStatus::*;
        match self {
            CaseStep::Accept => Some(Accepted),
            CaseStep::Decline => Some(Declined),
            CaseStep::RecordSession => Some(Mediating),
            CaseStep::ReachAgreement => Some(AgreementReached),
            CaseStep::Terminate => Some(Terminated),
            CaseStep::StartPerformance => Some(Performing),
            CaseStep::FollowUp => Some(FollowedUp),
            CaseStep::Archive => Some(Archived),
            CaseStep::AssignMediator | CaseStep::Recuse | CaseStep::RequestJudicialConfirmation => {
                None
            }
        }
    }
}

/// What the rules need to know about a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub status: CaseStatus,
    pub sessions: usize,
    pub active_mediators: usize,
    pub agreement: Option<AgreementKind>,
    pub effective_on: Option<NaiveDate>,
    pub judicial_requested: bool,
}

/// Decides a step: the status after it, or the rule it breaks. `today` is the community's
/// local date (for the judicial-confirmation window).
pub fn plan(
    facts: &CaseFacts,
    step: CaseStep,
    today: NaiveDate,
) -> Result<CaseStatus, MediationRuleError> {
    if !step.from().contains(&facts.status) {
        return Err(MediationRuleError::IllegalTransition {
            step: step.name(),
            status: facts.status.as_str(),
        });
    }
    match step {
        CaseStep::RecordSession | CaseStep::ReachAgreement if facts.active_mediators == 0 => {
            return Err(MediationRuleError::MediatorRequired);
        }
        CaseStep::ReachAgreement if facts.sessions == 0 => {
            return Err(MediationRuleError::SessionRequired);
        }
        CaseStep::RequestJudicialConfirmation => {
            if facts.agreement != Some(AgreementKind::Written) {
                return Err(MediationRuleError::JudicialNeedsWrittenAgreement);
            }
            if facts.judicial_requested {
                return Err(MediationRuleError::JudicialAlreadyRequested);
            }
            let effective = facts.effective_on.unwrap_or(today);
            let last_day = judicial_last_day(effective);
            if today > last_day {
                return Err(MediationRuleError::JudicialWindowClosed { last_day });
            }
        }
        _ => {}
    }
    Ok(step.to().unwrap_or(facts.status))
}

/// Free text of 2 to 2,000 characters (facts, agreement terms, minutes, reasons).
pub fn text(what: &'static str, raw: &str) -> Result<String, MediationRuleError> {
    let t = raw.trim();
    let len = t.chars().count();
    if (2..=2000).contains(&len) {
        Ok(t.to_owned())
    } else {
        Err(MediationRuleError::TextRequired(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: CaseStatus) -> CaseFacts {
        CaseFacts {
            status,
            sessions: 1,
            active_mediators: 1,
            agreement: Some(AgreementKind::Written),
            effective_on: NaiveDate::from_ymd_opt(2026, 11, 1),
            judicial_requested: false,
        }
    }

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    #[test]
    fn a_case_runs_from_application_to_archive() {
        let mut f = facts(CaseStatus::Applied);
        for (step, to) in [
            (CaseStep::Accept, CaseStatus::Accepted),
            (CaseStep::RecordSession, CaseStatus::Mediating),
            (CaseStep::ReachAgreement, CaseStatus::AgreementReached),
            (CaseStep::StartPerformance, CaseStatus::Performing),
            (CaseStep::FollowUp, CaseStatus::FollowedUp),
            (CaseStep::Archive, CaseStatus::Archived),
        ] {
            assert_eq!(plan(&f, step, day(11, 5)), Ok(to), "{step:?}");
            f.status = to;
        }
    }

    #[test]
    fn steps_outside_their_states_name_the_state() {
        assert_eq!(
            plan(
                &facts(CaseStatus::Applied),
                CaseStep::ReachAgreement,
                day(11, 5)
            ),
            Err(MediationRuleError::IllegalTransition {
                step: "reach_agreement",
                status: "applied"
            })
        );
        assert!(plan(&facts(CaseStatus::Archived), CaseStep::Archive, day(11, 5)).is_err());
    }

    #[test]
    fn an_agreement_needs_a_mediator_and_a_session() {
        let mut f = facts(CaseStatus::Accepted);
        f.sessions = 0;
        assert_eq!(
            plan(&f, CaseStep::ReachAgreement, day(11, 5)),
            Err(MediationRuleError::SessionRequired)
        );
        f.active_mediators = 0;
        assert_eq!(
            plan(&f, CaseStep::RecordSession, day(11, 5)),
            Err(MediationRuleError::MediatorRequired)
        );
    }

    #[test]
    fn judicial_confirmation_is_asked_within_thirty_days_of_a_written_agreement() {
        let f = facts(CaseStatus::Performing);
        assert!(
            plan(&f, CaseStep::RequestJudicialConfirmation, day(12, 1)).is_ok(),
            "day 30"
        );
        assert_eq!(
            plan(&f, CaseStep::RequestJudicialConfirmation, day(12, 2)),
            Err(MediationRuleError::JudicialWindowClosed {
                last_day: day(12, 1)
            })
        );
        let mut oral = f.clone();
        oral.agreement = Some(AgreementKind::Oral);
        assert_eq!(
            plan(&oral, CaseStep::RequestJudicialConfirmation, day(11, 5)),
            Err(MediationRuleError::JudicialNeedsWrittenAgreement)
        );
        let mut again = f;
        again.judicial_requested = true;
        assert_eq!(
            plan(&again, CaseStep::RequestJudicialConfirmation, day(11, 5)),
            Err(MediationRuleError::JudicialAlreadyRequested)
        );
    }
}
