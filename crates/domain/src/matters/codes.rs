//! The closed vocabularies of matters, each stored and sent as its snake_case code.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::MatterRuleError;

macro_rules! codes {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident => $code:literal, $zh:literal, $en:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh,)+ }
            }

            pub fn label_en(self) -> &'static str {
                match self { $($name::$variant => $en,)+ }
            }

            pub fn parse(raw: &str) -> Result<$name, MatterRuleError> {
                let raw = raw.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == raw)
                    .ok_or_else(|| MatterRuleError::UnknownValue {
                        field: $field,
                        value: raw.chars().take(40).collect(),
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

codes!(
    /// Where a matter stands (DOMAIN §4.2).
    MatterStatus, "status" {
        Reported => "reported", "已上报", "reported";
        Accepted => "accepted", "已受理", "accepted";
        Triaged => "triaged", "已分流", "triaged";
        Registered => "registered", "已立案", "registered";
        Dispatched => "dispatched", "已派遣", "dispatched";
        InProgress => "in_progress", "处置中", "in progress";
        PendingVerification => "pending_verification", "待核查", "awaiting verification";
        Resolved => "resolved", "已办结", "resolved";
        Closed => "closed", "已结案", "closed";
        Cancelled => "cancelled", "已注销", "cancelled";
        Referred => "referred", "已转介", "referred";
        Shelved => "shelved", "已挂账", "shelved";
    }
);

impl MatterStatus {
    /// Whether the matter still needs someone to act (counted in queues and supervised).
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            MatterStatus::Closed | MatterStatus::Cancelled | MatterStatus::Referred
        )
    }

    /// Whether a working-time limit is running: from dispatch until the fix is reported.
    pub fn is_on_the_clock(self) -> bool {
        matches!(self, MatterStatus::Dispatched | MatterStatus::InProgress)
    }
}

codes!(
    /// The three-way triage (三事分流).
    MatterClass, "class" {
        /// 大事社区办: the community (or above) handles it.
        Major => "major", "大事", "major";
        /// 小事党群办: the party-mass centre and grid groups handle it.
        Minor => "minor", "小事", "minor";
        /// 私事居民办: residents handle it themselves, with guidance.
        Private => "private", "私事", "private";
    }
);

codes!(
    /// How a matter came in (DOMAIN §3 `Case.source`).
    MatterSource, "source" {
        ResidentApp => "resident_app", "居民上报", "resident's phone";
        WalkIn => "walk_in", "来访", "walk-in";
        Phone => "phone", "来电", "phone call";
        GridPatrol => "grid_patrol", "网格巡查", "grid patrol";
        Hotline12345 => "hotline_12345", "12345转办", "12345 hotline";
        Council => "council", "议事会", "council";
        Open311 => "open311", "Open311", "Open311 client";
    }
);

impl MatterSource {
    /// Sources a member of staff records on a resident's behalf.
    pub fn is_on_behalf(self) -> bool {
        !matches!(self, MatterSource::ResidentApp | MatterSource::Open311)
    }
}

codes!(
    /// Who a matter is dispatched to.
    HandlerKind, "handler kind" {
        GridWorker => "grid_worker", "网格员", "grid worker";
        GridGroup => "grid_group", "网格小组", "grid group";
        /// The community office or party-mass service centre.
        Office => "office", "社区", "community office";
        /// Up to the subdistrict (街道), for what is beyond the community's powers.
        Subdistrict => "subdistrict", "街道", "subdistrict";
    }
);

codes!(
    /// Supervision ladder for late matters (普通 → 黄牌 → 红牌督办).
    SuperviseLevel, "supervise level" {
        None => "none", "未督办", "not supervised";
        Normal => "normal", "普通督办", "reminded";
        Yellow => "yellow", "黄牌督办", "yellow card";
        Red => "red", "红牌督办", "red card";
    }
);

codes!(
    /// Why a report is not accepted.
    RejectReason, "reject reason" {
        Duplicate => "duplicate", "重复上报", "duplicate";
        Invalid => "invalid", "无效上报", "invalid";
    }
);

codes!(
    /// How a private matter ends: pointed to someone who can help.
    ReferralKind, "referral kind" {
        Partner => "partner", "转介合作伙伴", "referred to a partner";
        Mediation => "mediation", "转人民调解", "referred to mediation";
        SelfHelp => "self_help", "自助指引", "self-help guidance";
    }
);

/// Where a dispatched matter goes: a kind and, for a worker or a group, which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchTarget {
    pub kind: HandlerKind,
    /// The staff record (grid worker) or grid group; none for the office or subdistrict.
    pub id: Option<Uuid>,
}
