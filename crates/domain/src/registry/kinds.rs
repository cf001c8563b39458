//! The closed vocabularies of the registry. Each is stored and sent as its snake_case code
//! and accepted from spreadsheets as the code or its Chinese label.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::RegistryRuleError;

/// Declares a vocabulary: variants with their code and Chinese label.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $code:literal, $zh:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// The label used in the Chinese import template and pages.
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh,)+ }
            }

            pub fn parse(raw: &str) -> Result<$name, RegistryRuleError> {
                let raw = raw.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == raw || v.label_zh() == raw)
                    .ok_or_else(|| RegistryRuleError::UnknownValue {
                        field: $field,
                        value: raw.chars().take(40).collect(),
                    })
            }
        }
    };
}

vocabulary!(
    Gender, "gender" {
        Male => "male", "男";
        Female => "female", "女";
    }
);

vocabulary!(
    /// How a resident belongs to a household (DOMAIN §3 `Residency.relation`).
    Relation, "relation" {
        Owner => "owner", "户主";
        Tenant => "tenant", "租户";
        Family => "family", "家庭成员";
    }
);

vocabulary!(
    /// Where a comprehensive grid worker came from before the Xinhe merger.
    OriginRole, "origin role" {
        CommunityStaff => "community_staff", "社区工作人员";
        GridWorker => "grid_worker", "网格员";
        SocialWorker => "social_worker", "社工";
    }
);

vocabulary!(
    /// Kinds of organisation in and around the community (DOMAIN §3 `Organization.type`).
    OrgKind, "organisation kind" {
        PropertyCompany => "property_company", "物业服务企业";
        OwnersCommittee => "owners_committee", "业主委员会";
        CoBuildingUnit => "co_building_unit", "共建单位";
        Merchant => "merchant", "商户";
        SocialOrganisation => "social_organisation", "社会组织";
        Partner => "partner", "社区合伙人";
    }
);

vocabulary!(
    /// Party membership as the registry records it.
    PartyStatus, "party status" {
        InService => "in_service", "在职党员";
        Retired => "retired", "退休党员";
        Other => "other", "其他党员";
    }
);

vocabulary!(
    /// Tags that mark a resident as belonging to a group with special needs. They are
    /// sensitive personal information (PIPL art. 28): stored encrypted, in their own table,
    /// seen only with a reason.
    SensitiveTag, "sensitive tag" {
        ElderlyLivingAlone => "elderly_living_alone", "独居老人";
        Disability => "disability", "残疾人";
        LowIncome => "low_income", "低保户";
        ExtremeHardship => "extreme_hardship", "特困人员";
        LeftBehindChild => "left_behind_child", "留守儿童";
        SeriousIllness => "serious_illness", "重病患者";
        CommunityCorrection => "community_correction", "社区矫正对象";
        ReleasedPrisoner => "released_prisoner", "刑满释放人员";
    }
);

/// A birth date that could be real: not before 1900, not after today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct BirthDate(NaiveDate);

impl BirthDate {
    pub fn new(date: NaiveDate, today: NaiveDate) -> Result<BirthDate, RegistryRuleError> {
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
        if date < earliest || date > today {
            return Err(RegistryRuleError::BirthDateImpossible);
        }
        Ok(BirthDate(date))
    }

    /// Parses `YYYY-MM-DD` (also `YYYY/MM/DD` and `YYYYMMDD`, as spreadsheets write them).
    pub fn parse(raw: &str, today: NaiveDate) -> Result<BirthDate, RegistryRuleError> {
        let raw = raw.trim();
        let date = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(raw, f).ok())
            .ok_or(RegistryRuleError::BirthDateImpossible)?;
        BirthDate::new(date, today)
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// Completed years of age on `today`.
    pub fn age_on(self, today: NaiveDate) -> u32 {
        today.years_since(self.0).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_accept_code_or_chinese_label() {
        assert_eq!(Relation::parse("户主").unwrap(), Relation::Owner);
        assert_eq!(Relation::parse("tenant").unwrap(), Relation::Tenant);
        assert_eq!(Relation::parse("邻居").unwrap_err().code(), "unknown_value");
        assert_eq!(
            SensitiveTag::parse("独居老人").unwrap(),
            SensitiveTag::ElderlyLivingAlone
        );
    }

    #[test]
    fn birth_dates_must_be_possible() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert!(BirthDate::parse("1950/03/01", today).is_ok());
        assert_eq!(
            BirthDate::parse("2026-12-01", today),
            Err(RegistryRuleError::BirthDateImpossible)
        );
        assert_eq!(
            BirthDate::parse("1899-12-31", today),
            Err(RegistryRuleError::BirthDateImpossible)
        );
        assert_eq!(
            BirthDate::parse("2001-02-29", today),
            Err(RegistryRuleError::BirthDateImpossible)
        );
        let born = BirthDate::parse("2012-12-01", today).unwrap();
        assert_eq!(born.age_on(today), 13);
    }
}
