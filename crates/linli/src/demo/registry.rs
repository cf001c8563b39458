//! The demo community's registry, modelled on Xinhe: 60 buildings over 4 grids, about
//! 5,000 households and 14,000 residents with plausible names, unique synthetic phones and
//! checksum-valid synthetic ID numbers, party members, 108 operation-officer candidates,
//! guardians and consents for children, and a few special-group tags.
//! Everything derives from one seed, so two runs build the same community.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use linli_domain::registry::{Document, DocumentKind, IdNumber, Phone, SensitiveTag};
use linli_domain::{
    AccountId, BuildingId, CommunityId, ConsentId, DwellingId, GridId, HouseholdId, ResidentId,
};
use linli_store::Db;
use linli_store::registry::people::{self, NewConsent, NewGuardian, NewSensitiveTag, purpose};
use linli_store::registry::places::{self, NewBuilding, NewDwelling, NewHousehold, NewMember};
use linli_store::registry::residents::{self, NewResident};
use linli_web::crypto::DataKey;
use linli_web::pii;

use super::names::{self, Rng};

/// Buildings per grid: 4 × 15 = 60, as in Xinhe.
const BUILDINGS_PER_GRID: usize = 15;
/// Households per building, on average: 60 × 84 ≈ 5,000.
const HOUSEHOLDS_PER_BUILDING: u64 = 84;
/// Operation-officer candidates among retired professionals (the article's 108).
const OFFICER_CANDIDATES: usize = 108;

const ESTATES: &[&str] = &[
    "新和花园",
    "和谐家园",
    "坪山新村",
    "六和城",
    "聚龙苑",
    "翠湖居",
    "金域缇香",
    "东城雅苑",
];
const STREETS: &[&str] = &["新和路", "和平路", "东纵路", "坪环路", "六联路", "龙坪路"];
const PARTY_ORGS: &[&str] = &[
    "坪山区教育局党委",
    "坪山区人民医院党委",
    "比亚迪股份有限公司党委",
    "坪山街道机关党委",
    "新和社区党委",
    "坪山区税务局党委",
    "深圳技术大学党委",
];
const SKILLS: &[&str] = &[
    "书法",
    "摄影",
    "维修家电",
    "急救",
    "法律咨询",
    "心理疏导",
    "烹饪",
    "舞蹈",
    "编程",
    "手工",
    "理发",
    "太极拳",
];

/// What the demo's accounts are in the registry: the resident-side accounts get a record.
pub struct AccountLink {
    pub account: AccountId,
    pub name: &'static str,
    /// The name's gender, so the linked record's ID number agrees with it.
    pub male: bool,
}

/// Counts of what was generated, for the terminal and the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    pub buildings: usize,
    pub households: usize,
    pub residents: usize,
}

struct Plan {
    buildings: Vec<NewBuilding>,
    dwellings: Vec<NewDwelling>,
    households: Vec<NewHousehold>,
    residents: Vec<NewResident>,
    members: Vec<NewMember>,
    guardians: Vec<NewGuardian>,
    consents: Vec<NewConsent>,
    tags: Vec<NewSensitiveTag>,
}

/// One person before sealing.
struct Person {
    id: ResidentId,
    name: String,
    male: bool,
    birth: NaiveDate,
    relation: &'static str,
}

/// Whether the community already has a registry (the demo then leaves it as it is).
pub async fn has_registry(db: &Db, community: CommunityId) -> anyhow::Result<bool> {
    let mut conn = db.acquire().await?;
    let page = places::list_buildings(
        &mut conn.exec(),
        community,
        &linli_domain::auth::GridFilter::All,
        None,
        linli_store::PageRequest::first(1),
    )
    .await?;
    Ok(page.total > 0)
}

/// Generates and stores one community's registry in one transaction.
#[allow(clippy::too_many_arguments)]
pub async fn seed(
    db: &Db,
    key: &DataKey,
    community: CommunityId,
    community_index: u32,
    grids: &[GridId],
    links: &[AccountLink],
    directory: &super::directory::DirectoryLinks,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<Generated> {
    let mut plan = plan(key, community_index, grids, links, today, now);
    let generated = Generated {
        buildings: plan.buildings.len(),
        households: plan.households.len(),
        residents: plan.residents.len(),
    };
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    places::insert_buildings(&mut ex, community, &plan.buildings, now).await?;
    places::insert_dwellings(&mut ex, community, &plan.dwellings, now).await?;
    places::insert_households(&mut ex, community, &plan.households, now).await?;
    residents::insert_residents(&mut ex, community, &plan.residents, now).await?;
    places::insert_members(&mut ex, community, &plan.members).await?;
    people::insert_guardians(&mut ex, community, &plan.guardians, now).await?;
    people::insert_consents(&mut ex, community, &plan.consents).await?;
    people::insert_sensitive_tags(&mut ex, community, &std::mem::take(&mut plan.tags), now).await?;
    // Two adults per grid become residents' representatives in the grid groups.
    let representatives: Vec<Vec<ResidentId>> = grids
        .iter()
        .map(|g| {
            plan.residents
                .iter()
                .filter(|r| r.grid_id == Some(*g) && r.account_id.is_none())
                .filter(|r| {
                    r.birth_date
                        .is_some_and(|b| today.years_since(b).unwrap_or(0) >= 30)
                })
                .take(2)
                .map(|r| r.id)
                .collect()
        })
        .collect();
    super::directory::seed(
        &mut ex,
        community,
        community_index,
        grids,
        &representatives,
        directory,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(generated)
}

fn plan(
    key: &DataKey,
    community_index: u32,
    grids: &[GridId],
    links: &[AccountLink],
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Plan {
    let mut rng = Rng::new(0x5EED_0000 + u64::from(community_index));
    let mut plan = Plan {
        buildings: Vec::new(),
        dwellings: Vec::new(),
        households: Vec::new(),
        residents: Vec::new(),
        members: Vec::new(),
        guardians: Vec::new(),
        consents: Vec::new(),
        tags: Vec::new(),
    };
    let mut id_sequences: HashMap<NaiveDate, u32> = HashMap::new();
    let mut officers = 0usize;
    let mut phone_index = u64::from(community_index) * 1_000_000;
    let mut links = links.iter().peekable();
    for (g, grid) in grids.iter().enumerate() {
        for b in 0..BUILDINGS_PER_GRID {
            let number = g * BUILDINGS_PER_GRID + b + 1;
            let building = BuildingId::new();
            let estate = ESTATES[(number - 1) / 8 % ESTATES.len()];
            let floors = rng.range(6, 33) as i32;
            plan.buildings.push(NewBuilding {
                id: building,
                code: format!("B{number:02}"),
                name: format!("{estate}{}栋", (number - 1) % 8 + 1),
                address: format!(
                    "深圳市坪山区坪山街道新和社区{}{}号",
                    STREETS[number % STREETS.len()],
                    10 + number * 2
                ),
                address_code: Some(format!("44031000100{:04}{:010}", community_index, number)),
                floors: Some(floors),
                grid_id: *grid,
            });
            let households = rng.range(HOUSEHOLDS_PER_BUILDING - 8, HOUSEHOLDS_PER_BUILDING + 8);
            let per_floor = households.div_ceil(floors as u64).max(1);
            for h in 0..households {
                let dwelling = DwellingId::new();
                let room = format!("{}{:02}", h / per_floor + 1, h % per_floor + 1);
                plan.dwellings.push(NewDwelling {
                    id: dwelling,
                    building_id: building,
                    room,
                    address_code: None,
                });
                let household = HouseholdId::new();
                plan.households.push(NewHousehold {
                    id: household,
                    dwelling_id: dwelling,
                });
                let people = household_people(&mut rng, today);
                let head = people[0].id;
                let alone = people.len() == 1;
                for (i, mut person) in people.into_iter().enumerate() {
                    // The demo's resident-side accounts live in the first grid.
                    let mut account = None;
                    if i == 0
                        && g == 0
                        && links.peek().is_some_and(|l| l.male == person.male)
                        && let Some(link) = links.next()
                    {
                        person.name = link.name.to_owned();
                        account = Some(link.account);
                    }
                    let age = today.years_since(person.birth).unwrap_or(0);
                    add_person(
                        &mut plan,
                        &mut rng,
                        key,
                        &mut id_sequences,
                        &mut phone_index,
                        &mut officers,
                        PersonPlace {
                            household,
                            building,
                            grid: *grid,
                            head,
                            alone,
                            account,
                        },
                        person,
                        age,
                        now,
                    );
                }
            }
        }
    }
    plan
}

struct PersonPlace {
    household: HouseholdId,
    building: BuildingId,
    grid: GridId,
    head: ResidentId,
    alone: bool,
    account: Option<AccountId>,
}

#[allow(clippy::too_many_arguments)]
fn add_person(
    plan: &mut Plan,
    rng: &mut Rng,
    key: &DataKey,
    id_sequences: &mut HashMap<NaiveDate, u32>,
    phone_index: &mut u64,
    officers: &mut usize,
    place: PersonPlace,
    person: Person,
    age: u32,
    now: DateTime<Utc>,
) {
    let seq = id_sequences.entry(person.birth).or_insert(0);
    *seq += 1;
    let id_text = names::id_number(person.birth, *seq, person.male);
    let id = IdNumber::parse(&id_text).expect("the demo makes valid ID numbers");
    let document = Document::IdCard(id);
    let phone = (age >= 12).then(|| {
        *phone_index += 1;
        Phone::parse(&names::phone(*phone_index, 7)).expect("the demo makes valid phones")
    });
    let mut skills = Vec::new();
    let mut tags = Vec::new();
    let (mut party_status, mut party_organisation) = (None, None);
    if age >= 18 && rng.chance(7) {
        party_status = Some(if age >= 60 { "retired" } else { "in_service" });
        party_organisation = Some((*rng.pick(PARTY_ORGS)).to_owned());
    }
    if age >= 55 && *officers < OFFICER_CANDIDATES && rng.chance(12) {
        let profession = ["退休教师", "律师", "医生"][*officers % 3];
        skills.push(profession.to_owned());
        tags.push("运营官候选".to_owned());
        *officers += 1;
    } else if age >= 16 && rng.chance(10) {
        skills.push((*rng.pick(SKILLS)).to_owned());
    }
    if age >= 16 && rng.chance(6) {
        tags.push("志愿者".to_owned());
    }
    plan.residents.push(NewResident {
        id: person.id,
        name: person.name,
        gender: Some(if person.male { "male" } else { "female" }),
        birth_date: Some(person.birth),
        document_kind: Some(DocumentKind::IdCard.as_str()),
        document: Some(pii::seal_document(key, person.id, &document)),
        phone: phone.as_ref().map(|p| pii::seal_phone(key, person.id, p)),
        household_id: Some(place.household),
        building_id: Some(place.building),
        grid_id: Some(place.grid),
        party_status,
        party_organisation,
        skills,
        tags,
        account_id: place.account,
    });
    let moved_in = person
        .birth
        .max(NaiveDate::from_ymd_opt(2005, 1, 1).expect("date"))
        + Duration::days(rng.below(3000) as i64);
    plan.members.push(NewMember {
        household_id: place.household,
        resident_id: person.id,
        relation: person.relation,
        moved_in: moved_in.min(now.date_naive()),
    });
    if age < 14 && person.id != place.head {
        plan.guardians.push(NewGuardian {
            minor: person.id,
            guardian: place.head,
            relation: "父母".to_owned(),
        });
        plan.consents.push(NewConsent {
            id: ConsentId::new(),
            resident: person.id,
            purpose: purpose::MINOR_REGISTRATION,
            given_by: place.head,
            method: "written",
            given_at: now,
            recorded_by: None,
        });
    }
    let tag = if place.alone && age >= 70 {
        Some(SensitiveTag::ElderlyLivingAlone)
    } else if rng.chance(2) {
        Some(*rng.pick(&[
            SensitiveTag::Disability,
            SensitiveTag::LowIncome,
            SensitiveTag::SeriousIllness,
        ]))
    } else {
        None
    };
    if let Some(tag) = tag {
        let consent = ConsentId::new();
        plan.consents.push(NewConsent {
            id: consent,
            resident: person.id,
            purpose: purpose::SPECIAL_GROUP_CARE,
            given_by: person.id,
            method: "written",
            given_at: now,
            recorded_by: None,
        });
        plan.tags.push(NewSensitiveTag {
            resident: person.id,
            tag: pii::seal_tag(key, person.id, tag),
            consent: Some(consent),
            recorded_by: None,
        });
    }
}

fn birth_for_age(rng: &mut Rng, today: NaiveDate, age: u32) -> NaiveDate {
    let year = today.year() - age as i32;
    let day = rng.range(0, 364) as i64;
    let date = NaiveDate::from_ymd_opt(year, 1, 1).expect("date") + Duration::days(day);
    // Stay on the right side of the birthday, so the age is as asked.
    if date > today - Duration::days(365 * age as i64) {
        date - Duration::days(365)
    } else {
        date
    }
    .max(NaiveDate::from_ymd_opt(1900, 1, 1).expect("date"))
}

fn person(
    rng: &mut Rng,
    surname: &str,
    male: bool,
    age: u32,
    relation: &'static str,
    today: NaiveDate,
) -> Person {
    Person {
        id: ResidentId::new(),
        name: format!("{surname}{}", names::given_name(rng, male)),
        male,
        birth: birth_for_age(rng, today, age),
        relation,
    }
}

/// A household: its head first, then spouse, children, a parent, sometimes a tenant.
fn household_people(rng: &mut Rng, today: NaiveDate) -> Vec<Person> {
    let surname = names::surname(rng);
    let size = match rng.below(100) {
        0..15 => 1,
        15..40 => 2,
        40..70 => 3,
        70..90 => 4,
        _ => 5,
    };
    let head_age = if size == 1 && rng.chance(40) {
        rng.range(65, 90) as u32
    } else {
        rng.range(28, 78) as u32
    };
    let head_male = rng.chance(55);
    let mut people = vec![person(rng, surname, head_male, head_age, "owner", today)];
    if size >= 2 {
        let spouse_age = (head_age as i64 + rng.range(0, 8) as i64 - 4).max(22) as u32;
        let spouse_surname = names::surname(rng);
        people.push(person(
            rng,
            spouse_surname,
            !head_male,
            spouse_age,
            "family",
            today,
        ));
    }
    for _ in 2..size {
        if rng.chance(75) && head_age >= 24 {
            let child_age = rng.range(0, u64::from(head_age - 22).min(40)) as u32;
            let male = rng.chance(50);
            people.push(person(rng, surname, male, child_age, "family", today));
        } else if rng.chance(50) && head_age + 26 <= 95 {
            let parent_age = head_age + rng.range(24, 32) as u32;
            let male = rng.chance(45);
            people.push(person(
                rng,
                surname,
                male,
                parent_age.min(98),
                "family",
                today,
            ));
        } else {
            let tenant_surname = names::surname(rng);
            let male = rng.chance(50);
            let age = rng.range(20, 40) as u32;
            people.push(person(rng, tenant_surname, male, age, "tenant", today));
        }
    }
    people
}
