//! The case workflow (DOMAIN §4.2) as one function: given a matter's state, a step and the
//! capacities of whoever asks, either the change to make or the rule that forbids it.
//! Storage applies the change and writes the timeline; nothing else decides.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{
    DispatchTarget, HandlerKind, MatterClass, MatterRuleError, MatterStatus, ReferralKind,
    RejectReason, SuperviseLevel, WorkCalendar,
};

/// In what capacity someone acts on one matter. The web layer derives these from the
/// caller's roles, grids and relation to the matter; the workflow only reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// The resident who raised the matter.
    Reporter,
    /// Accepts, rejects and classes reports (grid workers in their grids, staff).
    Triager,
    /// Registers, dispatches, verifies, decides extensions and shelving (community staff).
    Dispatcher,
    /// Works the matter it was dispatched to (the assigned worker, or staff for the office).
    Handler,
}

/// What the workflow needs to know about a matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatterFacts {
    pub status: MatterStatus,
    pub class: Option<MatterClass>,
    pub assigned: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub extension_requested_until: Option<DateTime<Utc>>,
    /// The account that reported the fix (feedback or on-site handling).
    pub fixed_by: Option<Uuid>,
    pub supervise_level: SuperviseLevel,
}

/// A step someone asks for, with what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Accept,
    Reject {
        reason: RejectReason,
        duplicate_of: Option<Uuid>,
        comment: String,
    },
    Withdraw {
        comment: String,
    },
    Triage {
        class: MatterClass,
    },
    Reclassify {
        class: MatterClass,
        reason: String,
    },
    Refer {
        kind: ReferralKind,
        guidance: String,
    },
    Register,
    Dispatch {
        target: DispatchTarget,
    },
    Sign,
    Return {
        reason: String,
    },
    Feedback {
        comment: String,
    },
    HandleOnSite {
        comment: String,
    },
    Verify {
        passed: bool,
        comment: String,
    },
    Rate {
        rating: u8,
        comment: String,
    },
    Reopen {
        reason: String,
    },
    RequestExtension {
        until: DateTime<Utc>,
        reason: String,
    },
    DecideExtension {
        approve: bool,
        comment: String,
    },
    Shelve {
        reason: String,
    },
    Reactivate {
        comment: String,
    },
    Supervise {
        comment: String,
    },
    Comment {
        text: String,
    },
}

impl Step {
    /// The step's stable name, as written to the timeline and used in URLs.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Accept => "accept",
            Step::Reject { .. } => "reject",
            Step::Withdraw { .. } => "withdraw",
            Step::Triage { .. } => "triage",
            Step::Reclassify { .. } => "reclassify",
            Step::Refer { .. } => "refer",
            Step::Register => "register",
            Step::Dispatch { .. } => "dispatch",
            Step::Sign => "sign",
            Step::Return { .. } => "return",
            Step::Feedback { .. } => "feedback",
            Step::HandleOnSite { .. } => "handle_on_site",
            Step::Verify { .. } => "verify",
            Step::Rate { .. } => "rate",
            Step::Reopen { .. } => "reopen",
            Step::RequestExtension { .. } => "request_extension",
            Step::DecideExtension { .. } => "decide_extension",
            Step::Shelve { .. } => "shelve",
            Step::Reactivate { .. } => "reactivate",
            Step::Supervise { .. } => "supervise",
            Step::Comment { .. } => "comment",
        }
    }

    /// The capacity the step needs (any one of them).
    fn needs(&self) -> &'static [Capacity] {
        use Capacity::*;
        match self {
            Step::Accept
            | Step::Reject { .. }
            | Step::Triage { .. }
            | Step::Reclassify { .. }
            | Step::Refer { .. }
            | Step::HandleOnSite { .. } => &[Triager],
            Step::Register
            | Step::Dispatch { .. }
            | Step::Verify { .. }
            | Step::Reopen { .. }
            | Step::DecideExtension { .. }
            | Step::Shelve { .. }
            | Step::Reactivate { .. }
            | Step::Supervise { .. } => &[Dispatcher],
            Step::Sign
            | Step::Return { .. }
            | Step::Feedback { .. }
            | Step::RequestExtension { .. } => &[Handler],
            Step::Withdraw { .. } => &[Reporter],
            Step::Rate { .. } => &[Reporter, Dispatcher],
            Step::Comment { .. } => &[Reporter, Triager, Dispatcher, Handler],
        }
    }

    /// The statuses the step may be taken from.
    fn from(&self) -> &'static [MatterStatus] {
        use MatterStatus::*;
        match self {
            Step::Accept => &[Reported],
            Step::Reject { .. } => &[Reported, Accepted],
            Step::Withdraw { .. } => &[Reported, Accepted, Triaged],
            Step::Triage { .. } => &[Accepted],
            Step::Reclassify { .. } => &[Triaged, Registered, Dispatched, InProgress, Shelved],
            Step::Refer { .. } | Step::Register => &[Triaged],
            Step::Dispatch { .. } => &[Registered],
            Step::Sign => &[Dispatched],
            Step::Return { .. } => &[Dispatched, InProgress],
            Step::Feedback { .. } => &[InProgress],
            Step::HandleOnSite { .. } => &[Reported, Accepted],
            Step::Verify { .. } => &[PendingVerification],
            Step::Rate { .. } => &[Resolved, Referred],
            Step::Reopen { .. } => &[Resolved, Closed],
            Step::RequestExtension { .. } | Step::DecideExtension { .. } => {
                &[Dispatched, InProgress]
            }
            Step::Shelve { .. } => &[InProgress],
            Step::Reactivate { .. } => &[Shelved],
            Step::Supervise { .. } => &[
                Accepted,
                Triaged,
                Registered,
                Dispatched,
                InProgress,
                PendingVerification,
                Shelved,
            ],
            Step::Comment { .. } => MatterStatus::ALL,
        }
    }
}

/// The names of the steps these capacities may take from the matter's current state
/// (what a page offers as buttons; the step's own data may still be refused).
pub fn available_steps(facts: &MatterFacts, capacities: &[Capacity]) -> Vec<&'static str> {
    let placeholder = DispatchTarget {
        kind: HandlerKind::Office,
        id: None,
    };
    let templates = [
        Step::Accept,
        Step::Reject {
            reason: RejectReason::Invalid,
            duplicate_of: None,
            comment: String::new(),
        },
        Step::Withdraw {
            comment: String::new(),
        },
        Step::Triage {
            class: MatterClass::Minor,
        },
        Step::Reclassify {
            class: MatterClass::Minor,
            reason: String::new(),
        },
        Step::Refer {
            kind: ReferralKind::SelfHelp,
            guidance: String::new(),
        },
        Step::Register,
        Step::Dispatch {
            target: placeholder,
        },
        Step::Sign,
        Step::Return {
            reason: String::new(),
        },
        Step::Feedback {
            comment: String::new(),
        },
        Step::HandleOnSite {
            comment: String::new(),
        },
        Step::Verify {
            passed: true,
            comment: String::new(),
        },
        Step::Rate {
            rating: 5,
            comment: String::new(),
        },
        Step::Reopen {
            reason: String::new(),
        },
        Step::RequestExtension {
            until: Utc::now(),
            reason: String::new(),
        },
        Step::DecideExtension {
            approve: true,
            comment: String::new(),
        },
        Step::Shelve {
            reason: String::new(),
        },
        Step::Reactivate {
            comment: String::new(),
        },
        Step::Supervise {
            comment: String::new(),
        },
        Step::Comment {
            text: String::new(),
        },
    ];
    templates
        .iter()
        .filter(|s| s.needs().iter().any(|c| capacities.contains(c)))
        .filter(|s| s.from().contains(&facts.status))
        .filter(|s| match s {
            Step::Refer { .. } => facts.class == Some(MatterClass::Private),
            Step::Register => facts.class != Some(MatterClass::Private),
            Step::RequestExtension { .. } => {
                facts.due_at.is_some() && facts.extension_requested_until.is_none()
            }
            Step::DecideExtension { .. } => facts.extension_requested_until.is_some(),
            _ => true,
        })
        .map(Step::name)
        .collect()
}

/// The change a permitted step makes. Fields left `None`/`false` stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepOutcome {
    pub to: Option<MatterStatus>,
    pub class: Option<MatterClass>,
    /// `Some(None)` clears the assignment; `Some(Some(t))` sets it.
    pub assign: Option<Option<DispatchTarget>>,
    /// Assign the matter to the acting grid worker (on-site handling).
    pub assign_to_actor: bool,
    /// Start the working-time clock now (first dispatch).
    pub start_clock: bool,
    /// An approved extension: the new due time.
    pub extend_to: Option<DateTime<Utc>>,
    /// `Some(None)` clears a pending extension request; `Some(Some(t))` records one.
    pub extension_request: Option<Option<DateTime<Utc>>>,
    pub supervise: Option<SuperviseLevel>,
    pub reopened: bool,
    pub rating: Option<u8>,
    /// Record the actor as the one who reported the fix.
    pub fixed_by_actor: bool,
}

/// A transition as the timeline records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub step: &'static str,
    pub from: MatterStatus,
    pub to: MatterStatus,
}

/// Decides a step. `actor` is the account asking (to stop people verifying their own fix).
pub fn plan_step(
    facts: &MatterFacts,
    step: &Step,
    capacities: &[Capacity],
    actor: Uuid,
    now: DateTime<Utc>,
) -> Result<StepOutcome, MatterRuleError> {
    // The state first: a step no one may take now is a conflict with the matter's state,
    // whoever asks (and whoever asks can already read that state).
    if !step.from().contains(&facts.status) {
        return Err(MatterRuleError::IllegalTransition {
            step: step.name(),
            status: facts.status.as_str(),
        });
    }
    if !step.needs().iter().any(|c| capacities.contains(c)) {
        return Err(MatterRuleError::NotYourStep);
    }
    use MatterStatus::*;
    let to = |s| StepOutcome {
        to: Some(s),
        ..StepOutcome::default()
    };
    let outcome = match step {
        Step::Accept => to(Accepted),
        Step::Reject {
            reason,
            duplicate_of,
            ..
        } => {
            if *reason == RejectReason::Duplicate && duplicate_of.is_none() {
                return Err(MatterRuleError::DuplicateNeedsOriginal);
            }
            to(Cancelled)
        }
        Step::Withdraw { .. } => to(Cancelled),
        Step::Triage { class } => StepOutcome {
            class: Some(*class),
            ..to(Triaged)
        },
        Step::Reclassify { class, .. } => {
            if facts.class == Some(*class) {
                return Err(MatterRuleError::SameClass(class.as_str()));
            }
            StepOutcome {
                class: Some(*class),
                assign: Some(None),
                extension_request: Some(None),
                ..to(Triaged)
            }
        }
        Step::Refer { .. } => {
            if facts.class != Some(MatterClass::Private) {
                return Err(MatterRuleError::OnlyPrivateIsReferred);
            }
            to(Referred)
        }
        Step::Register => {
            if facts.class == Some(MatterClass::Private) {
                return Err(MatterRuleError::PrivateIsReferred);
            }
            to(Registered)
        }
        Step::Dispatch { target } => {
            let community_level =
                matches!(target.kind, HandlerKind::Office | HandlerKind::Subdistrict);
            if facts.class == Some(MatterClass::Major) && !community_level {
                return Err(MatterRuleError::MajorNeedsCommunityHandler);
            }
            StepOutcome {
                assign: Some(Some(*target)),
                // A matter dispatched again after a return keeps its first due time:
                // sending it back does not buy time.
                start_clock: facts.due_at.is_none(),
                ..to(Dispatched)
            }
        }
        Step::Sign => to(InProgress),
        Step::Return { .. } => StepOutcome {
            assign: Some(None),
            extension_request: Some(None),
            ..to(Registered)
        },
        Step::Feedback { .. } => StepOutcome {
            fixed_by_actor: true,
            extension_request: Some(None),
            ..to(PendingVerification)
        },
        Step::HandleOnSite { .. } => StepOutcome {
            class: Some(facts.class.unwrap_or(MatterClass::Minor)),
            assign_to_actor: true,
            fixed_by_actor: true,
            ..to(PendingVerification)
        },
        Step::Verify { passed, .. } => {
            if facts.fixed_by == Some(actor) {
                return Err(MatterRuleError::SelfVerification);
            }
            to(if *passed { Resolved } else { InProgress })
        }
        Step::Rate { rating, .. } => {
            if !(1..=5).contains(rating) {
                return Err(MatterRuleError::RatingRange);
            }
            StepOutcome {
                rating: Some(*rating),
                ..to(Closed)
            }
        }
        Step::Reopen { .. } => StepOutcome {
            reopened: true,
            ..to(if facts.assigned { InProgress } else { Triaged })
        },
        Step::RequestExtension { until, .. } => {
            let Some(due) = facts.due_at else {
                return Err(MatterRuleError::ExtensionAfterDue);
            };
            if facts.extension_requested_until.is_some() {
                return Err(MatterRuleError::ExtensionPending);
            }
            if now >= due {
                return Err(MatterRuleError::ExtensionAfterDue);
            }
            if *until <= due {
                return Err(MatterRuleError::ExtensionNotLater);
            }
            StepOutcome {
                extension_request: Some(Some(*until)),
                ..StepOutcome::default()
            }
        }
        Step::DecideExtension { approve, .. } => {
            let Some(until) = facts.extension_requested_until else {
                return Err(MatterRuleError::NoPendingExtension);
            };
            StepOutcome {
                extension_request: Some(None),
                extend_to: approve.then_some(until),
                supervise: approve.then_some(SuperviseLevel::None),
                ..StepOutcome::default()
            }
        }
        Step::Shelve { .. } => to(Shelved),
        Step::Reactivate { .. } => to(InProgress),
        Step::Supervise { .. } => StepOutcome {
            supervise: Some(next_level(facts.supervise_level)),
            ..StepOutcome::default()
        },
        Step::Comment { .. } => StepOutcome::default(),
    };
    Ok(outcome)
}

/// One rung up the supervision ladder (red stays red).
pub fn next_level(level: SuperviseLevel) -> SuperviseLevel {
    match level {
        SuperviseLevel::None => SuperviseLevel::Normal,
        SuperviseLevel::Normal => SuperviseLevel::Yellow,
        SuperviseLevel::Yellow | SuperviseLevel::Red => SuperviseLevel::Red,
    }
}

/// When a running matter is reminded and climbs the supervision ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub due_at: DateTime<Utc>,
    /// Three quarters of the working time gone: the handler is reminded.
    pub remind_at: DateTime<Utc>,
    /// Overdue by `yellow_after_days` working days: yellow card.
    pub yellow_at: DateTime<Utc>,
    /// Overdue by `red_after_days` working days: red card.
    pub red_at: DateTime<Utc>,
}

/// The deadlines of a limit running from `start` to `due`. Overdue matters get a normal
/// reminder at `due`, then the yellow and red cards after the given working days.
pub fn deadlines_for(
    calendar: &WorkCalendar,
    start: DateTime<Utc>,
    due: DateTime<Utc>,
    yellow_after_days: u32,
    red_after_days: u32,
) -> Deadlines {
    let span = calendar.working_minutes_between(start, due);
    Deadlines {
        due_at: due,
        remind_at: calendar.add_working_minutes(start, span * 3 / 4).min(due),
        yellow_at: calendar.add_working_days(due, yellow_after_days.max(1)),
        red_at: calendar.add_working_days(due, red_after_days.max(yellow_after_days + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capacity::*;
    use MatterStatus::*;

    fn facts(status: MatterStatus, class: Option<MatterClass>) -> MatterFacts {
        MatterFacts {
            status,
            class,
            assigned: false,
            due_at: None,
            extension_requested_until: None,
            fixed_by: None,
            supervise_level: SuperviseLevel::None,
        }
    }

    const STAFF: &[Capacity] = &[Triager, Dispatcher, Handler];

    fn plan(
        f: &MatterFacts,
        step: Step,
        caps: &[Capacity],
    ) -> Result<StepOutcome, MatterRuleError> {
        plan_step(f, &step, caps, Uuid::nil(), Utc::now())
    }

    #[test]
    fn the_main_path_runs_from_report_to_close() {
        let mut f = facts(Reported, None);
        let target = DispatchTarget {
            kind: HandlerKind::GridWorker,
            id: Some(Uuid::now_v7()),
        };
        let path = [
            (Step::Accept, Accepted),
            (
                Step::Triage {
                    class: MatterClass::Minor,
                },
                Triaged,
            ),
            (Step::Register, Registered),
            (Step::Dispatch { target }, Dispatched),
            (Step::Sign, InProgress),
            (
                Step::Feedback {
                    comment: "修好了".into(),
                },
                PendingVerification,
            ),
            (
                Step::Verify {
                    passed: true,
                    comment: String::new(),
                },
                Resolved,
            ),
            (
                Step::Rate {
                    rating: 5,
                    comment: String::new(),
                },
                Closed,
            ),
        ];
        for (step, expected) in path {
            let out = plan(&f, step.clone(), STAFF).unwrap_or_else(|e| panic!("{step:?}: {e}"));
            assert_eq!(out.to, Some(expected), "{step:?}");
            f.status = expected;
            if let Some(c) = out.class {
                f.class = Some(c);
            }
            if out.start_clock {
                f.due_at = Some(Utc::now());
            }
        }
    }

    #[test]
    fn every_step_outside_its_states_is_refused_with_the_current_state() {
        let steps = [
            Step::Accept,
            Step::Sign,
            Step::Register,
            Step::Verify {
                passed: true,
                comment: String::new(),
            },
            Step::Shelve {
                reason: "等待资金".into(),
            },
            Step::Reactivate {
                comment: String::new(),
            },
        ];
        for status in MatterStatus::ALL {
            for step in &steps {
                let result = plan(
                    &facts(*status, Some(MatterClass::Minor)),
                    step.clone(),
                    STAFF,
                );
                if step.from().contains(status) {
                    assert!(result.is_ok(), "{step:?} from {status}: {result:?}");
                } else {
                    assert_eq!(
                        result,
                        Err(MatterRuleError::IllegalTransition {
                            step: step.name(),
                            status: status.as_str()
                        })
                    );
                }
            }
        }
    }

    /// Every step from every state: allowed exactly from the states the table lists (with
    /// every capacity at hand), refused from all others with the state named.
    #[test]
    fn every_step_from_every_state() {
        let everyone = [Reporter, Triager, Dispatcher, Handler];
        let target = DispatchTarget {
            kind: HandlerKind::Office,
            id: None,
        };
        let steps = [
            Step::Accept,
            Step::Reject {
                reason: RejectReason::Invalid,
                duplicate_of: None,
                comment: String::new(),
            },
            Step::Withdraw {
                comment: String::new(),
            },
            Step::Triage {
                class: MatterClass::Minor,
            },
            Step::Reclassify {
                class: MatterClass::Major,
                reason: "核实后".into(),
            },
            Step::Refer {
                kind: ReferralKind::SelfHelp,
                guidance: "指引".into(),
            },
            Step::Register,
            Step::Dispatch { target },
            Step::Sign,
            Step::Return {
                reason: "非本职".into(),
            },
            Step::Feedback {
                comment: "已处理".into(),
            },
            Step::HandleOnSite {
                comment: "现场处理".into(),
            },
            Step::Verify {
                passed: true,
                comment: String::new(),
            },
            Step::Rate {
                rating: 4,
                comment: String::new(),
            },
            Step::Reopen {
                reason: "仍未解决".into(),
            },
            Step::Shelve {
                reason: "等待资金".into(),
            },
            Step::Reactivate {
                comment: String::new(),
            },
            Step::Supervise {
                comment: String::new(),
            },
            Step::Comment {
                text: "备注".into(),
            },
        ];
        let mut allowed = 0;
        for status in MatterStatus::ALL {
            for step in &steps {
                // Facts that satisfy each step's own rules, so only the state decides.
                let class = match step {
                    Step::Refer { .. } => MatterClass::Private,
                    Step::Reclassify { .. } => MatterClass::Minor,
                    _ => MatterClass::Minor,
                };
                let f = facts(*status, Some(class));
                let result = plan_step(&f, step, &everyone, Uuid::now_v7(), Utc::now());
                if step.from().contains(status) {
                    assert!(result.is_ok(), "{} from {status}: {result:?}", step.name());
                    allowed += 1;
                } else {
                    assert_eq!(
                        result,
                        Err(MatterRuleError::IllegalTransition {
                            step: step.name(),
                            status: status.as_str()
                        }),
                        "{} from {status}",
                        step.name()
                    );
                }
            }
        }
        assert_eq!(allowed, 47, "allowed (step, state) pairs");
    }

    #[test]
    fn capacities_decide_who_may_act() {
        let f = facts(Reported, None);
        assert_eq!(
            plan(&f, Step::Accept, &[Reporter]),
            Err(MatterRuleError::NotYourStep)
        );
        assert!(
            plan(
                &f,
                Step::Withdraw {
                    comment: String::new()
                },
                &[Reporter]
            )
            .is_ok()
        );
        let f = facts(Dispatched, Some(MatterClass::Minor));
        assert_eq!(
            plan(&f, Step::Sign, &[Triager, Dispatcher]),
            Err(MatterRuleError::NotYourStep)
        );
        assert!(plan(&f, Step::Sign, &[Handler]).is_ok());
        let f = facts(Resolved, Some(MatterClass::Minor));
        assert!(
            plan(
                &f,
                Step::Rate {
                    rating: 4,
                    comment: String::new()
                },
                &[Reporter]
            )
            .is_ok()
        );
        assert_eq!(
            plan(
                &f,
                Step::Rate {
                    rating: 6,
                    comment: String::new()
                },
                &[Reporter]
            ),
            Err(MatterRuleError::RatingRange)
        );
    }

    #[test]
    fn triage_rules_bind_dispatch_and_referral() {
        let major = facts(Registered, Some(MatterClass::Major));
        let to_worker = DispatchTarget {
            kind: HandlerKind::GridWorker,
            id: Some(Uuid::nil()),
        };
        assert_eq!(
            plan(&major, Step::Dispatch { target: to_worker }, STAFF),
            Err(MatterRuleError::MajorNeedsCommunityHandler)
        );
        let up = DispatchTarget {
            kind: HandlerKind::Subdistrict,
            id: None,
        };
        assert!(
            plan(&major, Step::Dispatch { target: up }, STAFF)
                .unwrap()
                .start_clock
        );
        let private = facts(Triaged, Some(MatterClass::Private));
        assert_eq!(
            plan(&private, Step::Register, STAFF),
            Err(MatterRuleError::PrivateIsReferred)
        );
        let refer = Step::Refer {
            kind: ReferralKind::Mediation,
            guidance: "和合坊".into(),
        };
        assert_eq!(
            plan(&private, refer.clone(), STAFF).unwrap().to,
            Some(Referred)
        );
        let minor = facts(Triaged, Some(MatterClass::Minor));
        assert_eq!(
            plan(&minor, refer, STAFF),
            Err(MatterRuleError::OnlyPrivateIsReferred)
        );
        assert_eq!(
            plan(
                &minor,
                Step::Reclassify {
                    class: MatterClass::Minor,
                    reason: "核实".into()
                },
                STAFF
            ),
            Err(MatterRuleError::SameClass("minor"))
        );
    }

    #[test]
    fn nobody_verifies_their_own_fix() {
        let me = Uuid::now_v7();
        let mut f = facts(PendingVerification, Some(MatterClass::Minor));
        f.fixed_by = Some(me);
        let verify = Step::Verify {
            passed: true,
            comment: String::new(),
        };
        assert_eq!(
            plan_step(&f, &verify, STAFF, me, Utc::now()),
            Err(MatterRuleError::SelfVerification)
        );
        assert!(plan_step(&f, &verify, STAFF, Uuid::now_v7(), Utc::now()).is_ok());
    }

    #[test]
    fn extensions_are_asked_before_due_and_decided_once() {
        let now = Utc::now();
        let mut f = facts(InProgress, Some(MatterClass::Minor));
        f.due_at = Some(now + chrono::Duration::hours(2));
        let ask = |until| Step::RequestExtension {
            until,
            reason: "等配件".into(),
        };
        assert_eq!(
            plan(&f, ask(now + chrono::Duration::hours(1)), STAFF),
            Err(MatterRuleError::ExtensionNotLater)
        );
        let out = plan(&f, ask(now + chrono::Duration::days(2)), STAFF).unwrap();
        assert_eq!(out.to, None, "an extension request changes no status");
        f.extension_requested_until = Some(now + chrono::Duration::days(2));
        assert_eq!(
            plan(&f, ask(now + chrono::Duration::days(3)), STAFF),
            Err(MatterRuleError::ExtensionPending)
        );
        let decide = Step::DecideExtension {
            approve: true,
            comment: String::new(),
        };
        let out = plan(&f, decide.clone(), STAFF).unwrap();
        assert_eq!(out.extend_to, f.extension_requested_until);
        let mut late = facts(InProgress, Some(MatterClass::Minor));
        late.due_at = Some(now - chrono::Duration::minutes(1));
        assert_eq!(
            plan(&late, ask(now + chrono::Duration::days(1)), STAFF),
            Err(MatterRuleError::ExtensionAfterDue)
        );
        assert_eq!(
            plan(&late, decide, STAFF),
            Err(MatterRuleError::NoPendingExtension)
        );
    }

    #[test]
    fn redispatch_after_a_return_keeps_the_first_due_time() {
        let mut f = facts(Registered, Some(MatterClass::Minor));
        f.due_at = Some(Utc::now());
        let target = DispatchTarget {
            kind: HandlerKind::Office,
            id: None,
        };
        assert!(
            !plan(&f, Step::Dispatch { target }, STAFF)
                .unwrap()
                .start_clock
        );
    }

    #[test]
    fn supervision_climbs_and_stops_at_red() {
        assert_eq!(next_level(SuperviseLevel::None), SuperviseLevel::Normal);
        assert_eq!(next_level(SuperviseLevel::Yellow), SuperviseLevel::Red);
        assert_eq!(next_level(SuperviseLevel::Red), SuperviseLevel::Red);
    }
}
