//! A year of the demo community's points: a catalogue at the service stations and partner
//! merchants, and the ledger history of about a quarter of the residents taking part —
//! volunteer service (recorded hours, verified — which awards their points), council
//! meetings, building-head duty, valid reports, adopted proposals — and redeeming (most
//! vouchers confirmed, some cancelled, a few expired).
//! Everything goes through the ledger itself, in time order, so the chain, balances and
//! caps are exactly what live use would have produced. Deterministic.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use linli_domain::auth::GridFilter;
use linli_domain::points::{IdempotencyKey, PointsRule, period_starts};
use linli_domain::volunteering::{Decision, ServiceSpan};
use linli_domain::{AccountId, CommunityId, ResidentId};
use linli_store::Db;
use linli_store::points::catalogue::{self, NewOffer};
use linli_store::points::rankings;
use linli_store::points::{
    self as ledger, Award, Change, Confirm, LedgerRequest, Redeem, Refund, RefundReason,
};
use linli_store::registry::{organisations, residents, service};
use linli_store::volunteering::{self, HistoryStep, NewRecord, VerifyRequest};
use linli_web::crypto::DataKey;
use linli_web::points::{REDEMPTION_VALIDITY, code_hash, redemption_code};
use uuid::Uuid;

use super::names::Rng;

/// Offers of the stations, by position in the service circle (0 is the centre).
const STATION_OFFERS: &[(usize, &str, &str, i64, i64)] = &[
    (0, "社区食堂饺子一份", "goods", 25, 400),
    (0, "长者理发一次", "service", 40, 200),
    (0, "手工课程体验一次", "service", 50, 120),
    (1, "便民维修上门一次", "service", 80, 100),
    (2, "图书借阅延期卡", "service", 10, 600),
];

/// Offers of partner merchants, by name.
const PARTNER_OFFERS: &[(&str, &str, &str, i64, i64)] = &[
    ("新和便民超市", "鸡蛋一盒", "goods", 30, 300),
    ("阳光理发店", "理发八折", "discount", 100, 150),
    ("邻里早餐店", "早餐套餐券", "goods", 20, 400),
    ("和顺药房", "常用药品九折", "discount", 15, 800),
    ("家家乐家政服务部", "家政服务一小时", "service", 120, 60),
];

/// What each kind of service involved, as its records describe it.
const SERVICE_CONTENT: &[(&str, &str)] = &[
    ("垃圾分类督导", "在小区投放点指导居民分类投放、二次分拣"),
    (
        "关爱长者探访",
        "上门探访独居长者，陪伴聊天、检查用电用气安全",
    ),
    ("社区巡逻", "夜间治安巡逻，排查消防通道堵塞等隐患"),
    ("文明交通劝导", "在路口劝导电动车佩戴头盔、不闯红灯"),
    ("四点半课堂", "放学后为双职工家庭的孩子辅导作业"),
];

/// What happens on the demo's ledger, in time order.
enum Event {
    /// A volunteer's service, recorded and verified (which awards its points).
    Service {
        resident: ResidentId,
        minutes: u32,
        activity: &'static str,
    },
    Award {
        resident: ResidentId,
        rule: &'static str,
        minutes: Option<u32>,
        memo: &'static str,
    },
    Redeem {
        resident: ResidentId,
        offer: usize,
        redemption: Uuid,
    },
    Confirm {
        redemption: Uuid,
    },
    Cancel {
        redemption: Uuid,
    },
    Expire {
        redemption: Uuid,
    },
}

/// Seeds the catalogue and a year of history unless the community's ledger has begun.
/// Returns (offers, transfers).
pub async fn seed_points(
    db: &Db,
    key: &DataKey,
    community: CommunityId,
    staff: AccountId,
    partner: AccountId,
    demo_resident: Option<ResidentId>,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize)> {
    let mut conn = db.acquire().await?;
    let mut ex = conn.exec();
    if !catalogue::list_offers(&mut ex, community, None)
        .await?
        .is_empty()
    {
        return Ok((0, 0));
    }
    let stations = service::list_service_points(&mut ex, community).await?;
    let merchants = organisations::list_organisations(&mut ex, community, Some("merchant")).await?;
    let people: Vec<ResidentId> = residents::all_residents(&mut ex, community, &GridFilter::All)
        .await?
        .into_iter()
        .map(|r| ResidentId(r.id))
        .collect();
    let rules: Vec<(String, Uuid, PointsRule)> = ledger::current_rules(&mut ex, community)
        .await?
        .into_iter()
        .map(|r| Ok((r.code.clone(), r.id, r.rule()?)))
        .collect::<anyhow::Result<_>>()?;
    drop(conn);

    // The catalogue, offered from a year ago to a year ahead.
    let start = now - Duration::days(366);
    let mut offers: Vec<(Uuid, i64)> = Vec::new();
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    for (station, title, kind, cost, stock) in STATION_OFFERS {
        let Some(point) = stations.get(*station) else {
            continue;
        };
        let id = insert_offer(
            &mut ex, community, "station", point.id, title, kind, *cost, *stock, start, now,
        )
        .await?;
        offers.push((id, *cost));
    }
    for (name, title, kind, cost, stock) in PARTNER_OFFERS {
        let Some(org) = merchants.iter().find(|m| m.name == *name) else {
            continue;
        };
        let id = insert_offer(
            &mut ex, community, "partner", org.id, title, kind, *cost, *stock, start, now,
        )
        .await?;
        catalogue::add_confirmer(&mut ex, community, org.id, partner, now).await?;
        offers.push((id, *cost));
    }
    tx.commit().await?;
    if offers.is_empty() || people.is_empty() || rules.is_empty() {
        return Ok((offers.len(), 0));
    }

    let events = plan_year(&people, demo_resident, offers.len(), now);
    let mut transfers = 0;
    let mut batch = Vec::new();
    // Small batches first: PostgreSQL's statistics are refreshed after each one, and until
    // then the ledger's reads are planned as for empty tables.
    let mut batch_size = 250;
    for (at, event) in events {
        let Some(request) = to_request(key, community, staff, partner, &rules, &offers, at, event)
        else {
            continue;
        };
        batch.push((request, at));
        if batch.len() == batch_size {
            transfers += submit(db, std::mem::take(&mut batch)).await?;
            batch_size = (batch_size * 2).min(2_000);
        }
    }
    transfers += submit(db, batch).await?;
    publish_last_month(db, community, staff, now).await?;
    Ok((offers.len(), transfers))
}

/// Last month's ranking of every grid, on public notice from now (so the pages show one
/// open to objections).
async fn publish_last_month(
    db: &Db,
    community: CommunityId,
    staff: AccountId,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let local = now.with_timezone(&china).date_naive();
    let this_month = local.with_day(1).unwrap_or(local);
    let last_month = (this_month - Duration::days(1))
        .with_day(1)
        .unwrap_or(this_month);
    let start = |d: chrono::NaiveDate| {
        china
            .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(from), Some(until)) = (start(last_month), start(this_month)) else {
        return Ok(());
    };
    let month = last_month.format("%Y-%m").to_string();
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    for grid in linli_store::registry::list_grids(&mut ex, community, &GridFilter::All).await? {
        let lines = rankings::compute(&mut ex, community, grid.id, from, until, 20).await?;
        rankings::publish(
            &mut ex,
            community,
            grid.id,
            &month,
            &lines,
            staff,
            now,
            now + Duration::days(7),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn submit(db: &Db, batch: Vec<(HistoryStep, DateTime<Utc>)>) -> anyhow::Result<usize> {
    Ok(volunteering::load_history(db, batch).await?)
}

#[allow(clippy::too_many_arguments)]
async fn insert_offer(
    ex: &mut linli_store::Exec<'_>,
    community: CommunityId,
    provider_kind: &'static str,
    provider: Uuid,
    title: &str,
    kind: &str,
    cost: i64,
    stock: i64,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let kind = match kind {
        "goods" => "goods",
        "discount" => "discount",
        _ => "service",
    };
    catalogue::insert_offer(
        ex,
        community,
        &NewOffer {
            id,
            provider_kind,
            provider_id: provider,
            title: title.to_owned(),
            description: String::new(),
            kind,
            cost,
            stock,
            valid_from: start,
            valid_until: now + Duration::days(365),
            active: true,
        },
        start,
    )
    .await?;
    Ok(id)
}

/// The year's events, sorted by time. A redemption's confirmation (or cancellation, or
/// expiry) is planned with it, a little later.
fn plan_year(
    people: &[ResidentId],
    demo_resident: Option<ResidentId>,
    offers: usize,
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Event)> {
    let mut rng = Rng::new(0x0090_1175);
    let year_ago = now - Duration::days(365);
    // About a quarter take part; a third of those volunteer regularly; sixty are building
    // heads. The demo resident is a regular volunteer, so the demo has a full account.
    let mut taking_part: Vec<ResidentId> =
        people.iter().copied().filter(|_| rng.chance(25)).collect();
    if let Some(me) = demo_resident {
        taking_part.retain(|r| *r != me);
        taking_part.insert(0, me);
    }
    let volunteers: Vec<ResidentId> = taking_part
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| *i == 0 || i % 3 == 0)
        .map(|(_, r)| r)
        .collect();
    let building_heads: Vec<ResidentId> = taking_part
        .iter()
        .copied()
        .skip(1)
        .step_by(37)
        .take(60)
        .collect();
    let mut events: Vec<(DateTime<Utc>, Event)> = Vec::new();
    let at = |rng: &mut Rng, day: i64| {
        year_ago + Duration::days(day) + Duration::minutes(8 * 60 + rng.below(11 * 60) as i64)
    };
    for &resident in &volunteers {
        let mut day = rng.below(20) as i64;
        while day < 365 {
            let minutes = [60, 90, 120, 150, 180, 240][rng.below(6) as usize];
            let memo = *rng.pick(&[
                "垃圾分类督导",
                "关爱长者探访",
                "社区巡逻",
                "文明交通劝导",
                "四点半课堂",
            ]);
            events.push((
                at(&mut rng, day),
                Event::Service {
                    resident,
                    minutes,
                    activity: memo,
                },
            ));
            day += 10 + rng.below(25) as i64;
        }
    }
    for month in 0..12 {
        let day = month * 30 + 12;
        for _ in 0..(40 + rng.below(40)) {
            let resident = *rng.pick(&taking_part);
            events.push((
                at(&mut rng, day),
                Event::Award {
                    resident,
                    rule: "council_meeting",
                    minutes: None,
                    memo: "居民议事会",
                },
            ));
        }
        for &resident in &building_heads {
            events.push((
                at(&mut rng, day + 15),
                Event::Award {
                    resident,
                    rule: "building_head_duty",
                    minutes: None,
                    memo: "楼栋长月度履职",
                },
            ));
        }
        for _ in 0..(3 + rng.below(4)) {
            let resident = *rng.pick(&taking_part);
            events.push((
                at(&mut rng, day + 5),
                Event::Award {
                    resident,
                    rule: "proposal_adopted",
                    minutes: None,
                    memo: "议事提案被采纳",
                },
            ));
        }
    }
    for _ in 0..1_500 {
        let resident = *rng.pick(&taking_part);
        let day = rng.below(365) as i64;
        events.push((
            at(&mut rng, day),
            Event::Award {
                resident,
                rule: "valid_report",
                minutes: None,
                memo: "上报有效事项",
            },
        ));
    }
    // Redemptions, mostly in the second half of the year when balances have grown.
    // Most vouchers are confirmed within three days, some cancelled, a few left to expire
    // (and given back by the sweep a week later). A redemption the balance or the stock
    // did not allow is refused by the ledger, and so is its ending.
    for _ in 0..2_500 {
        let resident = *rng.pick(&taking_part);
        let day = 120 + rng.below(240) as i64;
        let when = at(&mut rng, day);
        let redemption = Uuid::now_v7();
        let offer = rng.below(offers as u64) as usize;
        events.push((
            when,
            Event::Redeem {
                resident,
                offer,
                redemption,
            },
        ));
        let roll = rng.below(100);
        let ending = if roll < 82 {
            (
                when + Duration::minutes(30 + rng.below(72 * 60) as i64),
                Event::Confirm { redemption },
            )
        } else if roll < 94 {
            (
                when + Duration::minutes(10 + rng.below(24 * 60) as i64),
                Event::Cancel { redemption },
            )
        } else {
            (
                when + REDEMPTION_VALIDITY + Duration::hours(1),
                Event::Expire { redemption },
            )
        };
        if ending.0 < now {
            events.push(ending);
        }
    }
    events.sort_by_key(|(t, _)| *t);
    events
}

#[allow(clippy::too_many_arguments)]
fn to_request(
    key: &DataKey,
    community: CommunityId,
    staff: AccountId,
    partner: AccountId,
    rules: &[(String, Uuid, PointsRule)],
    offers: &[(Uuid, i64)],
    at: DateTime<Utc>,
    event: Event,
) -> Option<HistoryStep> {
    let request = |actor: AccountId, change: Change| {
        HistoryStep::Ledger(LedgerRequest {
            community,
            actor: Some(actor),
            key: None::<IdempotencyKey>,
            request: serde_json::Value::Null,
            change,
            audit: None,
        })
    };
    match event {
        Event::Service {
            resident,
            minutes,
            activity,
        } => {
            // Served the day before it was verified, checked out from a sign-in sheet.
            let ended = at - Duration::hours(20);
            let span = ServiceSpan {
                started_at: ended - Duration::minutes(i64::from(minutes)),
                ended_at: ended,
            };
            let (day_start, month_start) = period_starts("Asia/Shanghai", at);
            let record = Uuid::now_v7();
            Some(HistoryStep::Service {
                record: NewRecord {
                    id: record,
                    volunteer: resident,
                    activity: activity.to_owned(),
                    content: SERVICE_CONTENT
                        .iter()
                        .find(|(a, _)| *a == activity)
                        .map_or(activity, |(_, c)| c)
                        .to_owned(),
                    organiser: "新和社区党群服务中心".to_owned(),
                    rule_code: Some("volunteer_service".to_owned()),
                    span,
                    evidence: "签到表".to_owned(),
                    corrects: None,
                },
                recorded_by: staff,
                decision: VerifyRequest {
                    community,
                    record,
                    verifier: staff,
                    decision: Decision::Verified,
                    note: "核对签到表".to_owned(),
                    key: IdempotencyKey::parse(&format!("demo-{record}")).ok()?,
                    day_start,
                    month_start,
                },
            })
        }
        Event::Award {
            resident,
            rule,
            minutes,
            memo,
        } => {
            let (_, id, rule) = rules.iter().find(|(code, _, _)| code == rule)?;
            let earned = rule.points_for(minutes, None).ok()?;
            let (day_start, month_start) = period_starts("Asia/Shanghai", at);
            Some(request(
                staff,
                Change::Award(Box::new(Award {
                    resident,
                    rule_id: *id,
                    rule: rule.clone(),
                    earned,
                    subject: None,
                    memo: memo.to_owned(),
                    day_start,
                    month_start,
                    approver: None,
                })),
            ))
        }
        Event::Redeem {
            resident,
            offer,
            redemption,
        } => {
            let (offer, _) = offers[offer];
            Some(request(
                staff,
                Change::Redeem(Redeem {
                    resident,
                    redemption,
                    offer,
                    code_hash: code_hash(&redemption_code(key, redemption)),
                    valid_for: REDEMPTION_VALIDITY,
                }),
            ))
        }
        Event::Confirm { redemption } => Some(request(
            partner,
            Change::Confirm(Confirm {
                redemption,
                code_hash: code_hash(&redemption_code(key, redemption)),
            }),
        )),
        Event::Cancel { redemption } => Some(request(
            staff,
            Change::Refund(Refund {
                redemption,
                why: RefundReason::Cancelled,
            }),
        )),
        Event::Expire { redemption } => Some(request(
            staff,
            Change::Refund(Refund {
                redemption,
                why: RefundReason::Expired,
            }),
        )),
    }
}
