//! The demo community's directory: comprehensive grid workers (one of them the demo grid
//! worker), the shared duty catalogue, organisations with valid credit codes, a grid group
//! per grid, two co-governance zones and the service circle (one centre, three stations,
//! four grid posts) — as the Xinhe article describes.

use chrono::{DateTime, Utc};
use linli_domain::registry::Uscc;
use linli_domain::{
    AccountId, CommunityId, GridGroupId, GridId, OrganisationId, ResidentId, ServicePointId,
    StaffId,
};
use linli_store::Exec;
use linli_store::registry::organisations::{self, Member, NewOrganisation};
use linli_store::registry::service::{self, NewServicePoint};
use linli_store::registry::staff::{self, NewStaff};

use super::names::{self, Rng};

/// The one duty catalogue of every comprehensive grid worker (DOMAIN §2).
pub const DUTIES: [(&str, &str, &str); 8] = [
    (
        "patrol",
        "网格巡查",
        "每日巡查网格，发现并上报公共设施、环境、安全隐患问题",
    ),
    (
        "collect",
        "信息采集",
        "采集、核实和更新人口、房屋、商户等基础信息",
    ),
    (
        "mediate",
        "矛盾排查",
        "排查矛盾纠纷，开展初步调解，重大纠纷上报和合坊",
    ),
    (
        "care",
        "特殊人群关爱",
        "定期走访独居老人、残疾人、留守儿童等特殊人群",
    ),
    ("publicity", "政策宣传", "宣传惠民政策，收集居民意见建议"),
    ("emergency", "应急处置", "参与突发事件先期处置和信息报送"),
    ("proxy", "代办服务", "为行动不便居民代办政务服务事项"),
    (
        "triage",
        "三事分流",
        "受理居民诉求，按大事、小事、私事分流办理",
    ),
];

pub const SERVICES: [(&str, &str, &str); 10] = [
    ("government", "政务服务", "Government services"),
    ("book_bar", "共享书吧", "Shared book bar"),
    ("recreation", "文体活动", "Recreation"),
    ("learning", "学习课堂", "Learning"),
    ("heritage", "非遗传承", "Cultural heritage"),
    ("childcare", "四点半课堂", "After-school childcare"),
    ("elderly", "长者饭堂", "Elderly canteen"),
    ("legal", "法律援助", "Legal aid"),
    ("mediation", "和合坊调解", "Mediation studio"),
    ("health", "家庭医生", "Family doctor"),
];

const ORGANISATIONS: [(&str, &str); 20] = [
    ("property_company", "深圳市新和物业管理有限公司"),
    ("property_company", "坪山和谐物业服务有限公司"),
    ("property_company", "龙坪物业服务中心"),
    ("owners_committee", "新和花园业主委员会"),
    ("owners_committee", "和谐家园业主委员会"),
    ("co_building_unit", "坪山区教育局"),
    ("co_building_unit", "坪山区人民医院"),
    ("co_building_unit", "比亚迪股份有限公司第十事业部"),
    ("co_building_unit", "坪山区税务局"),
    ("co_building_unit", "深圳技术大学"),
    ("merchant", "新和便民超市"),
    ("merchant", "邻里早餐店"),
    ("merchant", "和顺药房"),
    ("merchant", "阳光理发店"),
    ("merchant", "家家乐家政服务部"),
    ("merchant", "新和文具店"),
    ("merchant", "坪山老字号茶餐厅"),
    ("merchant", "乐活健身房"),
    ("social_organisation", "坪山区春晖社工服务中心"),
    ("social_organisation", "新和社区志愿者协会"),
];

/// The demo grid worker is the first worker and serves the first grid.
pub struct DirectoryLinks {
    pub grid_worker: Option<AccountId>,
}

fn uscc(rng: &mut Rng, index: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut body = String::from("914403");
    for _ in 0..10 {
        body.push(CHARS[rng.below(CHARS.len() as u64) as usize] as char);
    }
    body.push(CHARS[index % CHARS.len()] as char);
    Uscc::complete(&body)
        .expect("valid characters")
        .as_str()
        .to_owned()
}

/// Seeds the directory. `people` are residents to draw grid-group representatives from,
/// one list per grid.
pub async fn seed(
    ex: &mut Exec<'_>,
    community: CommunityId,
    community_index: u32,
    grids: &[GridId],
    people: &[Vec<ResidentId>],
    links: &DirectoryLinks,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut rng = Rng::new(0xD1EC_0000 + u64::from(community_index));
    for (i, (code, title, description)) in DUTIES.iter().enumerate() {
        staff::insert_duty(ex, community, code, title, description, i as i32).await?;
    }
    // Three workers per grid; the first of each grid leads it.
    let origins = ["community_staff", "grid_worker", "social_worker"];
    let mut workers: Vec<Vec<StaffId>> = Vec::new();
    for (g, grid) in grids.iter().enumerate() {
        let mut here = Vec::new();
        for w in 0..3 {
            let id = StaffId::new();
            let first = g == 0 && w == 0;
            let name = if first {
                "刘芳".to_owned()
            } else {
                let male = rng.chance(50);
                format!(
                    "{}{}",
                    names::surname(&mut rng),
                    names::given_name(&mut rng, male)
                )
            };
            staff::insert_staff(
                ex,
                community,
                &NewStaff {
                    id,
                    name,
                    origin_role: origins[(g + w) % 3],
                    work_phone: Some(names::phone(
                        90_000_000 + (community_index as u64) * 100 + (g * 3 + w) as u64,
                        3,
                    )),
                    account_id: if first { links.grid_worker } else { None },
                },
                now,
            )
            .await?;
            staff::assign_grids(ex, community, id, &[(*grid, w == 0)], now).await?;
            here.push(id);
        }
        workers.push(here);
    }
    let mut orgs = Vec::new();
    for (i, (kind, name)) in ORGANISATIONS.iter().enumerate() {
        let id = OrganisationId::new();
        let registered = *kind != "owners_committee";
        organisations::insert_organisation(
            ex,
            community,
            &NewOrganisation {
                id,
                kind,
                name: (*name).to_owned(),
                uscc: registered.then(|| uscc(&mut rng, i)),
                contact_name: None,
                contact_phone: Some(names::phone(
                    91_000_000 + (community_index as u64) * 100 + i as u64,
                    5,
                )),
                address: Some(format!("深圳市坪山区坪山街道新和社区新和路{}号", 100 + i)),
            },
            now,
        )
        .await?;
        orgs.push((*kind, id));
    }
    let of_kind = |kind: &str| -> Vec<OrganisationId> {
        orgs.iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, id)| *id)
            .collect()
    };
    let (property, committees, units) = (
        of_kind("property_company"),
        of_kind("owners_committee"),
        of_kind("co_building_unit"),
    );
    for (g, grid) in grids.iter().enumerate() {
        let group = GridGroupId::new();
        organisations::insert_grid_group(
            ex,
            community,
            group,
            *grid,
            &format!("第{}网格综合网格小组", g + 1),
            now,
        )
        .await?;
        organisations::add_group_member(
            ex,
            community,
            group,
            Member::Staff(workers[g][0]),
            "组长",
            now,
        )
        .await?;
        organisations::add_group_member(
            ex,
            community,
            group,
            Member::Staff(workers[g][1]),
            "网格员",
            now,
        )
        .await?;
        organisations::add_group_member(
            ex,
            community,
            group,
            Member::Organisation(property[g % property.len()]),
            "物业代表",
            now,
        )
        .await?;
        organisations::add_group_member(
            ex,
            community,
            group,
            Member::Organisation(committees[g % committees.len()]),
            "业委会代表",
            now,
        )
        .await?;
        organisations::add_group_member(
            ex,
            community,
            group,
            Member::Organisation(units[g % units.len()]),
            "共建单位党员代表",
            now,
        )
        .await?;
        for resident in people.get(g).into_iter().flatten().take(2) {
            organisations::add_group_member(
                ex,
                community,
                group,
                Member::Resident(*resident),
                "居民代表",
                now,
            )
            .await?;
        }
    }
    let half = grids.len() / 2;
    linli_store::registry::create_zone(ex, community, "Z1", "东片区共治片区", &grids[..half], now)
        .await?;
    linli_store::registry::create_zone(ex, community, "Z2", "西片区共治片区", &grids[half..], now)
        .await?;
    for (code, zh, en) in SERVICES {
        service::upsert_service_kind(ex, community, code, zh, en).await?;
    }
    let all: Vec<String> = SERVICES.iter().map(|s| s.0.to_owned()).collect();
    let centre = NewServicePoint {
        id: ServicePointId::new(),
        kind: "centre",
        code: "C1".into(),
        name: "新和社区党群服务中心".into(),
        address: "深圳市坪山区坪山街道新和路1号".into(),
        opening_hours: "周一至周日 9:00-21:00".into(),
        phone: Some("0755-28331234".into()),
        grid_id: None,
        services: all,
        venues: vec![
            ("多功能厅".into(), 120),
            ("和合坊调解室".into(), 12),
            ("共享书吧".into(), 40),
            ("议事厅".into(), 60),
        ],
    };
    service::insert_service_point(ex, community, &centre, now).await?;
    let stations = [
        (
            "S1",
            "新和花园服务站",
            vec!["government", "elderly", "health", "book_bar"],
        ),
        (
            "S2",
            "和谐家园服务站",
            vec!["childcare", "learning", "recreation", "heritage"],
        ),
        (
            "S3",
            "六和城服务站",
            vec!["government", "legal", "mediation", "recreation"],
        ),
    ];
    for (i, (code, name, services)) in stations.into_iter().enumerate() {
        service::insert_service_point(
            ex,
            community,
            &NewServicePoint {
                id: ServicePointId::new(),
                kind: "station",
                code: code.into(),
                name: name.into(),
                address: format!("深圳市坪山区坪山街道新和社区和平路{}号", 20 + i * 10),
                opening_hours: "周一至周六 9:00-18:00".into(),
                phone: Some(format!("0755-2833{:04}", 2000 + i)),
                grid_id: grids.get(i).copied(),
                services: services.into_iter().map(str::to_owned).collect(),
                venues: vec![("活动室".into(), 30), ("阅览室".into(), 20)],
            },
            now,
        )
        .await?;
    }
    for (g, grid) in grids.iter().enumerate() {
        service::insert_service_point(
            ex,
            community,
            &NewServicePoint {
                id: ServicePointId::new(),
                kind: "grid_post",
                code: format!("P{}", g + 1),
                name: format!("第{}网格服务点", g + 1),
                address: format!("深圳市坪山区坪山街道新和社区东纵路{}号", 5 + g * 7),
                opening_hours: "周一至周五 9:00-12:00, 14:00-18:00".into(),
                phone: None,
                grid_id: Some(*grid),
                services: vec!["government".into()],
                venues: vec![],
            },
            now,
        )
        .await?;
    }
    Ok(())
}
