//! The engagement ladder (DOMAIN §6, §9): where each resident stands — bystander,
//! participant, volunteer — from what they did over a rolling window. Participation is
//! taking part in the community's occasions (council meetings, activities: the per-occasion
//! points rules); volunteering is verified service hours. Thresholds are the community's.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Bystander,
    Participant,
    Volunteer,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Bystander, Stage::Participant, Stage::Volunteer];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Bystander => "bystander",
            Stage::Participant => "participant",
            Stage::Volunteer => "volunteer",
        }
    }
}

/// A community's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ladder {
    /// The rolling window, in days.
    pub window_days: i64,
    /// Occasions taken part in (council meetings, activities) to count as a participant.
    pub participant_occasions: i64,
    /// Verified service minutes to count as a volunteer.
    pub volunteer_minutes: i64,
}

impl Default for Ladder {
    fn default() -> Self {
        Ladder {
            window_days: 90,
            participant_occasions: 1,
            volunteer_minutes: 240,
        }
    }
}

/// What one resident did in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    pub occasions: i64,
    pub service_minutes: i64,
}

impl Ladder {
    /// Volunteering outranks participating: someone with enough verified hours is a
    /// volunteer whether or not they came to meetings.
    pub fn stage(&self, activity: Activity) -> Stage {
        if activity.service_minutes >= self.volunteer_minutes {
            Stage::Volunteer
        } else if activity.occasions >= self.participant_occasions || activity.service_minutes > 0 {
            Stage::Participant
        } else {
            Stage::Bystander
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_the_thresholds() {
        let ladder = Ladder::default();
        let stage = |occasions, service_minutes| {
            ladder.stage(Activity {
                occasions,
                service_minutes,
            })
        };
        assert_eq!(stage(0, 0), Stage::Bystander);
        assert_eq!(stage(1, 0), Stage::Participant);
        assert_eq!(
            stage(0, 60),
            Stage::Participant,
            "some service is taking part"
        );
        assert_eq!(stage(0, 239), Stage::Participant);
        assert_eq!(stage(0, 240), Stage::Volunteer);
        assert_eq!(stage(5, 600), Stage::Volunteer);
        let strict = Ladder {
            participant_occasions: 3,
            ..Ladder::default()
        };
        assert_eq!(
            strict.stage(Activity {
                occasions: 2,
                service_minutes: 0
            }),
            Stage::Bystander
        );
    }
}
