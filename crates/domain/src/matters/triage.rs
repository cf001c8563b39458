//! The triage decision helper (DOMAIN §5): the degree of public attribute decides the
//! class. It proposes; the person triaging decides.

use serde::{Deserialize, Serialize};

use super::MatterClass;

/// The few questions the helper asks. Unanswered questions count as "no".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageAnswers {
    /// Does it touch public space, common property, a whole building or several households?
    #[serde(default)]
    pub public_or_shared: bool,
    /// Does it need administrative power, law enforcement or public money?
    #[serde(default)]
    pub needs_public_power: bool,
    /// Is it a dispute between households or people?
    #[serde(default)]
    pub dispute: bool,
}

/// The helper's proposal, with the rule that decided it (a stable code for the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TriageProposal {
    pub class: MatterClass,
    /// `public_power`, `public_or_shared`, `one_household` or `category_default`.
    pub rule: &'static str,
    /// A dispute is best taken to the mediation studio, whatever its class.
    pub suggest_mediation: bool,
}

/// Proposes a class from the category's default and, when given, the answers.
pub fn propose_class(
    category_default: MatterClass,
    answers: Option<&TriageAnswers>,
) -> TriageProposal {
    let Some(a) = answers else {
        return TriageProposal {
            class: category_default,
            rule: "category_default",
            suggest_mediation: false,
        };
    };
    let (class, rule) = if a.needs_public_power {
        (MatterClass::Major, "public_power")
    } else if a.public_or_shared {
        // Shared matters are at least "small"; a category that is "big" stays big.
        let class = if category_default == MatterClass::Major {
            MatterClass::Major
        } else {
            MatterClass::Minor
        };
        (class, "public_or_shared")
    } else {
        (MatterClass::Private, "one_household")
    };
    TriageProposal {
        class,
        rule,
        suggest_mediation: a.dispute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(public_or_shared: bool, needs_public_power: bool, dispute: bool) -> TriageAnswers {
        TriageAnswers {
            public_or_shared,
            needs_public_power,
            dispute,
        }
    }

    #[test]
    fn public_power_makes_a_matter_major() {
        for default in MatterClass::ALL {
            let p = propose_class(*default, Some(&answers(false, true, false)));
            assert_eq!(p.class, MatterClass::Major);
            assert_eq!(p.rule, "public_power");
        }
    }

    #[test]
    fn shared_matters_are_at_least_minor() {
        let p = propose_class(MatterClass::Private, Some(&answers(true, false, false)));
        assert_eq!(p.class, MatterClass::Minor);
        let p = propose_class(MatterClass::Major, Some(&answers(true, false, false)));
        assert_eq!(p.class, MatterClass::Major);
    }

    #[test]
    fn one_households_matter_is_private_and_a_dispute_suggests_mediation() {
        let p = propose_class(MatterClass::Minor, Some(&answers(false, false, true)));
        assert_eq!(p.class, MatterClass::Private);
        assert!(p.suggest_mediation);
        assert_eq!(p.rule, "one_household");
    }

    #[test]
    fn without_answers_the_category_decides() {
        let p = propose_class(MatterClass::Major, None);
        assert_eq!((p.class, p.rule), (MatterClass::Major, "category_default"));
    }
}
