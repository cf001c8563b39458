//! The demo community's year of people's mediation: 180 cases from the mediation studio
//! (和合坊), most ending in an agreement that was followed up, some terminated with
//! advice, a few still open. Parties are demo residents; their phones are sealed as in
//! real records.

use chrono::{DateTime, Duration, Utc};
use linli_domain::auth::GridFilter;
use linli_domain::{AccountId, CommunityId};
use linli_store::Db;
use linli_store::mediation::{self as store, CaseChange, NewCase, NewParty};
use linli_store::registry::residents;
use linli_web::crypto::DataKey;
use uuid::Uuid;

use super::names::Rng;

/// How cases come in, grid referrals twice as often as the others.
const SOURCES: &[&str] = &[
    "walk_in",
    "grid_referral",
    "grid_referral",
    "hotline_12345",
    "court_police",
];

/// Mediation cases in the demo year.
pub const YEARLY_CASES: usize = 180;

const DISPUTES: &[(&str, &str, &str)] = &[
    (
        "neighbour",
        "楼上卫生间漏水渗到楼下，双方对维修费用分担有争议。",
        "楼上住户负责维修防水层，费用双方七三分担。",
    ),
    (
        "neighbour",
        "邻居在公共楼道堆放杂物，多次沟通未果，发生口角。",
        "杂物三日内清理，楼道保持通畅。",
    ),
    (
        "property",
        "业主认为物业费上涨不合理，拒交三个月物业费。",
        "物业公开收支明细，业主补交物业费。",
    ),
    (
        "tenancy",
        "租期届满房东以墙面污损为由扣留押金，租客不认可。",
        "房东退还押金的八成，其余用于粉刷。",
    ),
    (
        "damages",
        "电动车剐蹭停放的汽车，双方对赔偿金额有争议。",
        "电动车车主赔偿修车费八百元。",
    ),
    (
        "marriage_family",
        "老人赡养费分担，子女之间意见不一。",
        "三名子女每月各负担赡养费五百元。",
    ),
    (
        "labour",
        "装修工人称工钱未结清，业主认为工程未完工。",
        "完工验收后三日内结清尾款。",
    ),
];

pub async fn seed_cases(
    db: &Db,
    key: &DataKey,
    community: CommunityId,
    mediators: &[(AccountId, String)],
    committee: AccountId,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    {
        let mut conn = db.acquire().await?;
        if !store::list_cases(&mut conn.exec(), community, None, 1)
            .await?
            .is_empty()
        {
            return Ok(0);
        }
    }
    if mediators.is_empty() {
        return Ok(0);
    }
    let people: Vec<(String, Option<i32>)> = {
        let mut conn = db.acquire().await?;
        residents::all_residents(&mut conn.exec(), community, &GridFilter::All)
            .await?
            .into_iter()
            .take(4000)
            .map(|r| (r.name, r.birth_date.map(|d| chrono::Datelike::year(&d))))
            .collect()
    };
    let mut rng = Rng::new(0x004d_4544_4941_5445);
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    for n in 0..YEARLY_CASES {
        let days_ago = 365 - (n as i64 * 365 / YEARLY_CASES as i64);
        let created = now - Duration::days(days_ago) - Duration::minutes(rng.below(600) as i64);
        let (dispute, facts, terms) = *rng.pick(DISPUTES);
        let id = Uuid::now_v7();
        let source = SOURCES[rng.below(SOURCES.len() as u64) as usize];
        let case = NewCase {
            id,
            number: format!("TJ{}-{:04}", created.format("%Y%m%d"), n),
            matter_id: None,
            source,
            dispute_type: dispute,
            facts: facts.to_owned(),
            is_public: false,
            created_by: committee,
        };
        let mut parties = Vec::new();
        for role in ["applicant", "respondent"] {
            let (name, year) = rng.pick(&people).clone();
            let party = Uuid::now_v7();
            let phone = format!("13{}{:08}", rng.below(10), rng.below(100_000_000));
            parties.push(NewParty {
                id: party,
                role,
                name,
                gender: None,
                birth_year: year,
                address: Some(format!("新和社区{}栋", 1 + rng.below(60))),
                phone_enc: Some(
                    key.seal(&format!("mediation.party.phone/{party}"), phone.as_bytes()),
                ),
                id_number_enc: None,
            });
        }
        store::insert_case(&mut ex, community, &case, &parties, created).await?;
        let mut version = 1;
        let mut at = created;
        let mut status = "applied";
        let mut advance = |ex_status: &'static str| {
            let from = status;
            status = ex_status;
            from
        };
        let recent = days_ago < 20;
        // Accepted, a mediator assigned, one or two sessions.
        at += Duration::hours(2);
        let from = advance("accepted");
        store::update_case(
            &mut ex,
            community,
            id,
            version,
            &CaseChange {
                status: Some("accepted"),
                accepted_on: Some(at.date_naive()),
                ..CaseChange::default()
            },
            at,
        )
        .await?;
        store::insert_event(
            &mut ex,
            community,
            id,
            version + 1,
            Some(committee),
            "accept",
            Some(from),
            "accepted",
            serde_json::json!({}),
            at,
        )
        .await?;
        version += 1;
        let (mediator, mediator_name) = rng.pick(mediators).clone();
        store::add_mediator(
            &mut ex,
            community,
            id,
            mediator,
            &mediator_name,
            rng.chance(30),
            at,
        )
        .await?;
        store::update_case(&mut ex, community, id, version, &CaseChange::default(), at).await?;
        store::insert_event(
            &mut ex,
            community,
            id,
            version + 1,
            Some(committee),
            "assign_mediator",
            Some("accepted"),
            "accepted",
            serde_json::json!({ "account_id": mediator.0 }),
            at,
        )
        .await?;
        version += 1;
        if recent && rng.chance(50) {
            continue;
        }
        for _ in 0..(1 + rng.below(2)) {
            at += Duration::days(1 + rng.below(5) as i64);
            let from = advance("mediating");
            store::add_session(
                &mut ex,
                community,
                id,
                at.date_naive(),
                "和合坊调解室",
                "双方当事人、调解员",
                "双方陈述纠纷经过，调解员释法说理，双方各退一步。",
                mediator,
                at,
            )
            .await?;
            store::update_case(
                &mut ex,
                community,
                id,
                version,
                &CaseChange {
                    status: Some("mediating"),
                    ..CaseChange::default()
                },
                at,
            )
            .await?;
            store::insert_event(
                &mut ex,
                community,
                id,
                version + 1,
                Some(mediator),
                "record_session",
                Some(from),
                "mediating",
                serde_json::json!({}),
                at,
            )
            .await?;
            version += 1;
        }
        at += Duration::days(1);
        if rng.chance(12) {
            let from = advance("terminated");
            let change = CaseChange {
                status: Some("terminated"),
                termination_reason: Some("一方当事人明确表示不再接受调解".to_owned()),
                advice: Some("可向人民法院起诉或申请仲裁".to_owned()),
                ..CaseChange::default()
            };
            store::update_case(&mut ex, community, id, version, &change, at).await?;
            store::insert_event(
                &mut ex,
                community,
                id,
                version + 1,
                Some(mediator),
                "terminate",
                Some(from),
                "terminated",
                serde_json::json!({}),
                at,
            )
            .await?;
            continue;
        }
        let written = rng.chance(75);
        let from = advance("agreement_reached");
        let change = CaseChange {
            status: Some("agreement_reached"),
            agreement_kind: Some(if written { "written" } else { "oral" }),
            agreement_terms: Some(terms.to_owned()),
            responsibilities: written.then(|| "双方对纠纷的发生均有一定责任".to_owned()),
            performance_method: written.then(|| "按协议约定履行".to_owned()),
            performance_deadline: written.then(|| (at + Duration::days(15)).date_naive()),
            effective_on: Some(at.date_naive()),
            ..CaseChange::default()
        };
        store::update_case(&mut ex, community, id, version, &change, at).await?;
        store::insert_event(
            &mut ex,
            community,
            id,
            version + 1,
            Some(mediator),
            "reach_agreement",
            Some(from),
            "agreement_reached",
            serde_json::json!({ "kind": if written { "written" } else { "oral" } }),
            at,
        )
        .await?;
        version += 1;
        if recent {
            continue;
        }
        at += Duration::days(20);
        let from = advance("followed_up");
        let performance = if rng.chance(90) {
            "performed"
        } else {
            "partly"
        };
        store::update_case(
            &mut ex,
            community,
            id,
            version,
            &CaseChange {
                status: Some("followed_up"),
                performance: Some(performance),
                ..CaseChange::default()
            },
            at,
        )
        .await?;
        store::insert_event(
            &mut ex,
            community,
            id,
            version + 1,
            Some(mediator),
            "follow_up",
            Some(from),
            "followed_up",
            serde_json::json!({ "performance": performance }),
            at,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(YEARLY_CASES)
}
