//! The seed catalogue of matter categories for community governance (DOMAIN §4.4, [U]):
//! two levels, each leaf with a default class and a time limit. Communities edit their
//! own copy; this is only the starting point a new community gets.

use super::{MatterClass, TimeUnit};

/// One category of the seed catalogue. A top-level entry has no parent and no limit of
/// its own (its leaves carry them).
#[derive(Debug, Clone, Copy)]
pub struct SeedCategory {
    pub code: &'static str,
    pub parent: Option<&'static str>,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub class: MatterClass,
    pub limit: u16,
    pub unit: TimeUnit,
}

const fn top(
    code: &'static str,
    zh: &'static str,
    en: &'static str,
    class: MatterClass,
) -> SeedCategory {
    SeedCategory {
        code,
        parent: None,
        name_zh: zh,
        name_en: en,
        class,
        limit: 5,
        unit: TimeUnit::Days,
    }
}

const fn leaf(
    code: &'static str,
    parent: &'static str,
    zh: &'static str,
    en: &'static str,
    class: MatterClass,
    limit: u16,
    unit: TimeUnit,
) -> SeedCategory {
    SeedCategory {
        code,
        parent: Some(parent),
        name_zh: zh,
        name_en: en,
        class,
        limit,
        unit,
    }
}

use MatterClass::{Major, Minor, Private};
use TimeUnit::{Days, Hours};

pub const SEED_CATEGORIES: &[SeedCategory] = &[
    top("01", "矛盾纠纷", "Disputes", Minor),
    leaf(
        "01-01",
        "01",
        "邻里纠纷",
        "Dispute between neighbours",
        Minor,
        5,
        Days,
    ),
    leaf(
        "01-02",
        "01",
        "家庭婚姻纠纷",
        "Family or marriage dispute",
        Private,
        5,
        Days,
    ),
    leaf(
        "01-03",
        "01",
        "物业纠纷",
        "Dispute with the property company",
        Minor,
        5,
        Days,
    ),
    leaf(
        "01-04",
        "01",
        "房屋租赁纠纷",
        "Tenancy dispute",
        Private,
        5,
        Days,
    ),
    leaf(
        "01-05",
        "01",
        "劳资纠纷",
        "Wage or labour dispute",
        Major,
        10,
        Days,
    ),
    top("02", "安全隐患", "Safety hazards", Major),
    leaf("02-01", "02", "消防隐患", "Fire hazard", Major, 4, Hours),
    leaf("02-02", "02", "燃气隐患", "Gas hazard", Major, 2, Hours),
    leaf(
        "02-03",
        "02",
        "电动车违规充电",
        "E-bike charged indoors or in corridors",
        Minor,
        1,
        Days,
    ),
    leaf(
        "02-04",
        "02",
        "高空坠物隐患",
        "Risk of objects falling from height",
        Major,
        1,
        Days,
    ),
    leaf("02-05", "02", "治安问题", "Public order", Major, 1, Days),
    top("03", "环境卫生", "Environment and sanitation", Minor),
    leaf(
        "03-01",
        "03",
        "暴露垃圾",
        "Exposed rubbish",
        Minor,
        4,
        Hours,
    ),
    leaf("03-02", "03", "垃圾分类", "Waste sorting", Minor, 2, Days),
    leaf("03-03", "03", "噪音扰民", "Noise nuisance", Minor, 1, Days),
    leaf(
        "03-04",
        "03",
        "绿地脏乱",
        "Untidy green space",
        Minor,
        5,
        Days,
    ),
    top("04", "公共设施", "Public facilities", Minor),
    leaf(
        "04-01",
        "04",
        "路灯损坏",
        "Broken street light",
        Minor,
        3,
        Days,
    ),
    leaf(
        "04-02",
        "04",
        "道路破损",
        "Damaged road or pavement",
        Major,
        7,
        Days,
    ),
    leaf(
        "04-03",
        "04",
        "井盖缺失",
        "Missing manhole cover",
        Major,
        4,
        Hours,
    ),
    leaf(
        "04-04",
        "04",
        "健身器材损坏",
        "Broken fitness equipment",
        Minor,
        5,
        Days,
    ),
    top("05", "物业管理", "Property management", Minor),
    leaf(
        "05-01",
        "05",
        "电梯故障",
        "Lift out of order",
        Minor,
        1,
        Days,
    ),
    leaf(
        "05-02",
        "05",
        "楼道堆物",
        "Things stored in stairwells",
        Minor,
        2,
        Days,
    ),
    leaf("05-03", "05", "停车管理", "Parking", Minor, 5, Days),
    leaf(
        "05-04",
        "05",
        "漏水渗水",
        "Leaks and seepage",
        Private,
        5,
        Days,
    ),
    top("06", "民生服务", "Livelihood and help", Minor),
    leaf(
        "06-01",
        "06",
        "生活困难求助",
        "Help with hardship",
        Major,
        5,
        Days,
    ),
    leaf(
        "06-02",
        "06",
        "就业求助",
        "Help finding work",
        Minor,
        5,
        Days,
    ),
    leaf(
        "06-03",
        "06",
        "证明办理",
        "Certificates and paperwork",
        Major,
        3,
        Days,
    ),
    top("07", "特殊人群关爱", "Care for special groups", Minor),
    leaf(
        "07-01",
        "07",
        "独居老人关爱",
        "Elderly people living alone",
        Minor,
        1,
        Days,
    ),
    leaf(
        "07-02",
        "07",
        "残障人士帮扶",
        "Help for people with disabilities",
        Minor,
        3,
        Days,
    ),
    leaf(
        "07-03",
        "07",
        "困境儿童关爱",
        "Children in difficulty",
        Major,
        1,
        Days,
    ),
    top("08", "政策咨询", "Policy questions", Minor),
    leaf(
        "08-01",
        "08",
        "社保医保咨询",
        "Social and medical insurance",
        Minor,
        3,
        Days,
    ),
    leaf(
        "08-02",
        "08",
        "住房政策咨询",
        "Housing policy",
        Minor,
        3,
        Days,
    ),
    leaf(
        "08-03",
        "08",
        "其他政策咨询",
        "Other policy questions",
        Minor,
        3,
        Days,
    ),
    top("09", "意见建议", "Suggestions", Minor),
    leaf(
        "09-01",
        "09",
        "社区治理建议",
        "Suggestion on running the community",
        Minor,
        10,
        Days,
    ),
    leaf(
        "09-02",
        "09",
        "活动建议",
        "Suggestion for an activity",
        Minor,
        10,
        Days,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_has_a_top_level_parent_and_codes_are_unique() {
        let mut codes = std::collections::HashSet::new();
        for c in SEED_CATEGORIES {
            assert!(codes.insert(c.code), "{} twice", c.code);
            if let Some(parent) = c.parent {
                assert!(
                    SEED_CATEGORIES
                        .iter()
                        .any(|p| p.code == parent && p.parent.is_none()),
                    "{} has no parent {parent}",
                    c.code
                );
                assert!(c.code.starts_with(parent));
            }
        }
        assert_eq!(
            SEED_CATEGORIES
                .iter()
                .filter(|c| c.parent.is_none())
                .count(),
            9
        );
    }
}
