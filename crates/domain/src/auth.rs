//! Accounts, roles and the authorization policy.
//!
//! The policy lives here, in one table, so every endpoint asks the same question the same
//! way: "may these grants do this action to this target?" Handlers never inspect roles.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{CommunityId, DistrictId, GridId};

/// The roles of DESIGN §4. Stored and sent as their snake_case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    BuildingHead,
    Volunteer,
    PartyMember,
    GridWorker,
    CommunityStaff,
    OperationOfficer,
    Partner,
    CommunityAdmin,
    DistrictAdmin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::Resident,
        Role::BuildingHead,
        Role::Volunteer,
        Role::PartyMember,
        Role::GridWorker,
        Role::CommunityStaff,
        Role::OperationOfficer,
        Role::Partner,
        Role::CommunityAdmin,
        Role::DistrictAdmin,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::BuildingHead => "building_head",
            Role::Volunteer => "volunteer",
            Role::PartyMember => "party_member",
            Role::GridWorker => "grid_worker",
            Role::CommunityStaff => "community_staff",
            Role::OperationOfficer => "operation_officer",
            Role::Partner => "partner",
            Role::CommunityAdmin => "community_admin",
            Role::DistrictAdmin => "district_admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(name: &str) -> Result<Role, AuthRuleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| AuthRuleError::UnknownRole(name.chars().take(40).collect()))
    }

    /// Staff and administrators may enrol a second factor, and a community can require it
    /// of them. Residents and partners sign in with a password alone.
    pub fn is_staff(self) -> bool {
        matches!(
            self,
            Role::GridWorker
                | Role::CommunityStaff
                | Role::CommunityAdmin
                | Role::DistrictAdmin
                | Role::Auditor
        )
    }

    /// Grid workers act only inside the grids they are assigned to.
    pub fn is_grid_scoped(self) -> bool {
        matches!(self, Role::GridWorker)
    }

    /// District administrators hold their role over a district, every other role over one community.
    pub fn is_district_wide(self) -> bool {
        matches!(self, Role::DistrictAdmin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a granted role applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrantScope {
    /// The whole of one community.
    Community { community_id: CommunityId },
    /// Only the listed grids of one community (grid workers).
    Grids {
        community_id: CommunityId,
        grid_ids: Vec<GridId>,
    },
    /// Every community of one district (district administrators).
    District { district_id: DistrictId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub role: Role,
    pub scope: GrantScope,
}

/// Everything an endpoint can ask permission for. Each module adds its own actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the community's name, settings and counts.
    ReadCommunity,
    /// List the grids of a community (grid workers see only their own).
    ListGrids,
    /// Read one grid.
    ReadGrid,
    /// List the accounts that hold roles in a community.
    ListAccounts,
    /// Grant or withdraw roles.
    ChangeRoles,
    /// Disable an account (and so end all its sessions).
    DisableAccount,
    /// Read the audit log. Kept apart from administration (separation of duties, MLPS 2.0).
    ReadAudit,
    /// Browse the registry: buildings, households and residents, personal data masked.
    ReadRegistry,
    /// See a resident's full phone or document number, giving a reason (audited).
    RevealPersonalData,
    /// See a resident's sensitive tags, giving a reason (audited).
    ReadSensitiveData,
    /// Register or correct residents, households and buildings.
    EditRegistry,
    /// Import spreadsheets into the registry.
    ImportRegistry,
    /// Export the registry with personal data masked.
    ExportRegistry,
    /// Export the registry with personal data in full (audited).
    ExportRegistryFull,
    /// See who serves the community: staff and their grids, organisations, grid groups.
    ReadDirectory,
    /// Keep that directory: staff records and assignments, organisations, grid groups,
    /// service points.
    ManageDirectory,
    /// Raise a matter as oneself (a resident's own report).
    ReportMatter,
    /// Enter a matter on a resident's behalf (walk-in, phone call, grid patrol).
    ReportOnBehalf,
    /// See matters, their timelines and counts (grid workers: their grids').
    ReadMatters,
    /// Accept, reject, class and refer reports; handle on the spot.
    TriageMatter,
    /// Register, dispatch, verify, decide extensions and shelving, reopen, supervise.
    DispatchMatter,
    /// Work a matter dispatched to oneself, one's grid group or the office.
    HandleMatter,
    /// See the supervision board of late matters.
    SuperviseMatters,
    /// Keep the category catalogue, the working calendar and supervision settings.
    ManageMatterSettings,
    /// Act as the people's mediation committee: register cases, see them all, assign
    /// mediators, archive. (Mediators see and work the cases they are assigned to.)
    ManageMediation,
    /// See residents' points accounts and the ledger (grid workers: their grids').
    ReadPoints,
    /// Award points under the community's rules (grid workers: in their grids).
    AwardPoints,
    /// Correct the ledger with reversals (audited).
    CorrectPoints,
    /// Keep the earning rules.
    ManagePointsRules,
    /// Keep the redemption catalogue and who confirms redemptions for stations and
    /// partners.
    ManagePointsCatalogue,
    /// See volunteer service records and hours (grid workers: their grids').
    ReadServiceHours,
    /// Record hours served and corrections to them (grid workers: in their grids).
    RecordServiceHours,
    /// Verify or reject recorded hours (never one's own), which awards their points.
    VerifyServiceHours,
    /// Issue volunteer service certificates and export the records for the civil-affairs
    /// system (both carry document numbers in full).
    CertifyServiceHours,
    /// Record (with the resident's consent) or end who may act on an elderly resident's
    /// points for them (grid workers: in their grids).
    ManagePointsProxies,
    /// Publish a grid's monthly points ranking for public notice and answer objections to
    /// it (grid workers: their grids).
    PublishRankings,
}

/// How far a role reaches for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Anywhere inside the grant's scope.
    Scope,
    /// Only the grids listed in a grid-scoped grant; a community-wide target is allowed but
    /// filtered to those grids.
    OwnGrids,
}

/// The policy table: which role may do what, and how far.
fn reach(role: Role, action: Action) -> Option<Reach> {
    use Action::*;
    use Role::*;
    match (action, role) {
        (ReadCommunity, _) => Some(Reach::Scope),
        (ListGrids | ReadGrid, GridWorker) => Some(Reach::OwnGrids),
        (ListGrids | ReadGrid, CommunityStaff | CommunityAdmin | DistrictAdmin | Auditor) => {
            Some(Reach::Scope)
        }
        (ListAccounts, CommunityAdmin | DistrictAdmin | Auditor) => Some(Reach::Scope),
        (ChangeRoles | DisableAccount, CommunityAdmin | DistrictAdmin) => Some(Reach::Scope),
        (ReadAudit, Auditor) => Some(Reach::Scope),
        // Grid workers collect and keep their grids' base data (DOMAIN §2): they read,
        // correct and, with a reason, reveal there, and nowhere else.
        (ReadRegistry | RevealPersonalData | ReadSensitiveData | EditRegistry, GridWorker) => {
            Some(Reach::OwnGrids)
        }
        (ReadRegistry, CommunityStaff | CommunityAdmin | DistrictAdmin) => Some(Reach::Scope),
        (
            RevealPersonalData | ReadSensitiveData | EditRegistry | ImportRegistry | ExportRegistry,
            CommunityStaff | CommunityAdmin,
        ) => Some(Reach::Scope),
        (ExportRegistryFull, CommunityAdmin) => Some(Reach::Scope),
        // Residents are meant to know who serves them.
        (ReadDirectory, _) => Some(Reach::Scope),
        (ManageDirectory, CommunityStaff | CommunityAdmin) => Some(Reach::Scope),
        // Anyone who lives or serves in the community may raise a matter; district
        // administrators and auditors only watch.
        (ReportMatter, DistrictAdmin | Auditor) => None,
        (ReportMatter, _) => Some(Reach::Scope),
        (ReportOnBehalf | ReadMatters | TriageMatter | HandleMatter, GridWorker) => {
            Some(Reach::OwnGrids)
        }
        (
            ReportOnBehalf | ReadMatters | TriageMatter | DispatchMatter | HandleMatter
            | SuperviseMatters,
            CommunityStaff | CommunityAdmin,
        ) => Some(Reach::Scope),
        (ReadMatters | SuperviseMatters | ManageMatterSettings, DistrictAdmin) => {
            Some(Reach::Scope)
        }
        (ManageMatterSettings, CommunityAdmin) => Some(Reach::Scope),
        (ManageMediation, CommunityStaff | CommunityAdmin) => Some(Reach::Scope),
        (ReadPoints | AwardPoints, GridWorker) => Some(Reach::OwnGrids),
        (ReadPoints | AwardPoints | CorrectPoints, CommunityStaff | CommunityAdmin) => {
            Some(Reach::Scope)
        }
        (ReadPoints, DistrictAdmin | Auditor) => Some(Reach::Scope),
        (ManagePointsRules, CommunityAdmin) => Some(Reach::Scope),
        (ManagePointsCatalogue, CommunityStaff | CommunityAdmin) => Some(Reach::Scope),
        (ReadServiceHours | RecordServiceHours, GridWorker) => Some(Reach::OwnGrids),
        (
            ReadServiceHours | RecordServiceHours | VerifyServiceHours | CertifyServiceHours,
            CommunityStaff | CommunityAdmin,
        ) => Some(Reach::Scope),
        (ReadServiceHours, DistrictAdmin | Auditor) => Some(Reach::Scope),
        (ManagePointsProxies, GridWorker) => Some(Reach::OwnGrids),
        (ManagePointsProxies, CommunityStaff | CommunityAdmin) => Some(Reach::Scope),
        (PublishRankings, GridWorker) => Some(Reach::OwnGrids),
        (PublishRankings, CommunityStaff | CommunityAdmin) => Some(Reach::Scope),
        _ => None,
    }
}

/// What an action is aimed at: always a community (with its district), sometimes one grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub district_id: DistrictId,
    pub community_id: CommunityId,
    pub grid_id: Option<GridId>,
}

/// Which grids of a community a caller may see for an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GridFilter {
    All,
    Only(Vec<GridId>),
}

/// The single authorization decision. `None` means denied; otherwise the grid filter any
/// list must apply.
pub fn authorize(grants: &[Grant], action: Action, target: &Target) -> Option<GridFilter> {
    let mut own_grids: Option<Vec<GridId>> = None;
    for grant in grants {
        let Some(reach) = reach(grant.role, action) else {
            continue;
        };
        match (&grant.scope, reach) {
            (GrantScope::District { district_id }, _) if *district_id == target.district_id => {
                return Some(GridFilter::All);
            }
            (GrantScope::Community { community_id }, _) if *community_id == target.community_id => {
                return Some(GridFilter::All);
            }
            (
                GrantScope::Grids {
                    community_id,
                    grid_ids,
                },
                _,
            ) if *community_id == target.community_id => {
                if reach == Reach::Scope {
                    // A grid-scoped grant whose role reaches the whole scope (e.g. reading
                    // the community page) still only covers that community.
                    if target.grid_id.is_none() {
                        return Some(GridFilter::All);
                    }
                }
                own_grids
                    .get_or_insert_with(Vec::new)
                    .extend(grid_ids.iter().copied());
            }
            _ => {}
        }
    }
    let grids = own_grids?;
    match target.grid_id {
        Some(grid) if grids.contains(&grid) => Some(GridFilter::Only(grids)),
        Some(_) => None,
        None => Some(GridFilter::Only(grids)),
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthRuleError {
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error(
        "username must be 3 to 32 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidUsername,
    #[error("password must be at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("password must be at most {max} characters")]
    PasswordTooLong { max: usize },
    #[error("this password is too common; choose a less guessable one")]
    PasswordTooCommon,
    #[error("password must not be the same as the username")]
    PasswordIsUsername,
    #[error("a grid worker needs at least one grid, and only grid workers take grids")]
    GridScopeMismatch,
}

/// A sign-in name: case-insensitive, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Username, AuthRuleError> {
        let name = raw.trim().to_ascii_lowercase();
        let len = name.chars().count();
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let all_ok = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if (3..=Self::MAX_LEN).contains(&len) && first_ok && all_ok {
            Ok(Username(name))
        } else {
            Err(AuthRuleError::InvalidUsername)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that passed the policy: NIST SP 800-63B style, length and a blocklist, no
/// composition rules (they push people to predictable patterns).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn is_common_password(candidate: &str) -> bool {
    let lowered = candidate.to_lowercase();
    COMMON_PASSWORDS.lines().any(|line| line == lowered)
}

impl NewPassword {
    pub const MIN_LEN: usize = 8;
    /// Long enough for any passphrase, short enough that hashing stays cheap.
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str, username: &Username) -> Result<NewPassword, AuthRuleError> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(AuthRuleError::PasswordTooShort { min: Self::MIN_LEN });
        }
        if len > Self::MAX_LEN {
            return Err(AuthRuleError::PasswordTooLong { max: Self::MAX_LEN });
        }
        if raw.to_lowercase() == username.as_str() {
            return Err(AuthRuleError::PasswordIsUsername);
        }
        if is_common_password(raw) {
            return Err(AuthRuleError::PasswordTooCommon);
        }
        Ok(NewPassword(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn ids() -> (DistrictId, CommunityId, GridId, GridId) {
        (
            DistrictId(Uuid::now_v7()),
            CommunityId(Uuid::now_v7()),
            GridId(Uuid::now_v7()),
            GridId(Uuid::now_v7()),
        )
    }

    #[test]
    fn grid_worker_reaches_only_assigned_grids() {
        let (d, c, own, other) = ids();
        let grants = [Grant {
            role: Role::GridWorker,
            scope: GrantScope::Grids {
                community_id: c,
                grid_ids: vec![own],
            },
        }];
        let target = |grid| Target {
            district_id: d,
            community_id: c,
            grid_id: grid,
        };
        assert_eq!(
            authorize(&grants, Action::ReadGrid, &target(Some(own))),
            Some(GridFilter::Only(vec![own]))
        );
        assert_eq!(
            authorize(&grants, Action::ReadGrid, &target(Some(other))),
            None
        );
        assert_eq!(
            authorize(&grants, Action::ListGrids, &target(None)),
            Some(GridFilter::Only(vec![own]))
        );
        assert_eq!(
            authorize(&grants, Action::ListAccounts, &target(None)),
            None
        );
    }

    #[test]
    fn community_grants_stop_at_the_community_boundary() {
        let (d, c, g, _) = ids();
        let other_community = CommunityId(Uuid::now_v7());
        let grants = [Grant {
            role: Role::CommunityAdmin,
            scope: GrantScope::Community { community_id: c },
        }];
        let here = Target {
            district_id: d,
            community_id: c,
            grid_id: Some(g),
        };
        let there = Target {
            community_id: other_community,
            ..here
        };
        assert_eq!(
            authorize(&grants, Action::ReadGrid, &here),
            Some(GridFilter::All)
        );
        assert_eq!(authorize(&grants, Action::ReadGrid, &there), None);
        assert_eq!(authorize(&grants, Action::ReadAudit, &here), None);
    }

    #[test]
    fn district_admin_reaches_every_community_of_the_district() {
        let (d, c, _, _) = ids();
        let grants = [Grant {
            role: Role::DistrictAdmin,
            scope: GrantScope::District { district_id: d },
        }];
        let target = Target {
            district_id: d,
            community_id: c,
            grid_id: None,
        };
        assert!(authorize(&grants, Action::ChangeRoles, &target).is_some());
        let elsewhere = Target {
            district_id: DistrictId(Uuid::now_v7()),
            ..target
        };
        assert!(authorize(&grants, Action::ChangeRoles, &elsewhere).is_none());
    }

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(
            Username::parse(" Zhang.San ").unwrap().as_str(),
            "zhang.san"
        );
        for bad in ["ab", "-abc", "张三", "a b c", &"x".repeat(33)] {
            assert_eq!(
                Username::parse(bad),
                Err(AuthRuleError::InvalidUsername),
                "{bad}"
            );
        }
    }

    #[test]
    fn password_policy_is_length_and_blocklist_only() {
        let user = Username::parse("lisi").unwrap();
        assert!(NewPassword::parse("correct horse battery", &user).is_ok());
        assert!(
            NewPassword::parse("邻里和睦共建家园", &user).is_ok(),
            "8 CJK characters are enough"
        );
        assert_eq!(
            NewPassword::parse("short", &user),
            Err(AuthRuleError::PasswordTooShort { min: 8 })
        );
        assert_eq!(
            NewPassword::parse("12345678", &user),
            Err(AuthRuleError::PasswordTooCommon)
        );
        assert_eq!(
            NewPassword::parse("PassWord", &user),
            Err(AuthRuleError::PasswordTooCommon)
        );
        assert_eq!(
            NewPassword::parse(&"x".repeat(129), &user),
            Err(AuthRuleError::PasswordTooLong { max: 128 })
        );
        let long_name = Username::parse("longusername").unwrap();
        assert_eq!(
            NewPassword::parse("LongUsername", &long_name),
            Err(AuthRuleError::PasswordIsUsername)
        );
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("superuser").is_err());
    }
}

/// Login throttling: a rule over counters the store keeps.
pub mod throttle {
    use chrono::{DateTime, Duration, Utc};

    /// Counters for one key (an account name or a client address).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ThrottleState {
        pub failures: u32,
        pub window_started_at: DateTime<Utc>,
        pub locked_until: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Clone, Copy)]
    pub struct ThrottlePolicy {
        pub max_failures: u32,
        pub window: Duration,
        pub lockout: Duration,
    }

    impl ThrottlePolicy {
        /// Per account name: five wrong passwords in 15 minutes lock it for 15 minutes.
        pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
            max_failures: 5,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        };
        /// Per client address: generous, since a community office shares one address.
        pub const ADDRESS: ThrottlePolicy = ThrottlePolicy {
            max_failures: 50,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        };

        /// When the key may try again, if it is locked now.
        pub fn locked_until(
            &self,
            state: Option<&ThrottleState>,
            now: DateTime<Utc>,
        ) -> Option<DateTime<Utc>> {
            state
                .and_then(|s| s.locked_until)
                .filter(|until| *until > now)
        }

        /// The counters after one more failure.
        pub fn after_failure(
            &self,
            state: Option<&ThrottleState>,
            now: DateTime<Utc>,
        ) -> ThrottleState {
            let fresh = ThrottleState {
                failures: 0,
                window_started_at: now,
                locked_until: None,
            };
            let mut next = match state {
                Some(s) if now - s.window_started_at < self.window => s.clone(),
                _ => fresh,
            };
            next.failures += 1;
            if next.failures >= self.max_failures {
                next.locked_until = Some(now + self.lockout);
                next.failures = 0;
                next.window_started_at = now;
            }
            next
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn fifth_failure_in_window_locks_and_window_expiry_forgets() {
            let p = ThrottlePolicy::ACCOUNT;
            let t0 = Utc::now();
            let mut s = None;
            for i in 0..4 {
                let next = p.after_failure(s.as_ref(), t0 + Duration::seconds(i));
                assert_eq!(next.locked_until, None);
                s = Some(next);
            }
            let locked = p.after_failure(s.as_ref(), t0 + Duration::seconds(5));
            assert_eq!(
                locked.locked_until,
                Some(t0 + Duration::seconds(5) + p.lockout)
            );
            assert!(
                p.locked_until(Some(&locked), t0 + Duration::minutes(1))
                    .is_some()
            );
            assert!(
                p.locked_until(Some(&locked), t0 + Duration::minutes(21))
                    .is_none()
            );

            let stale = p.after_failure(s.as_ref(), t0 + Duration::minutes(16));
            assert_eq!(
                stale.failures, 1,
                "failures outside the window are forgotten"
            );
        }
    }
}
