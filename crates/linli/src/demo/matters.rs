//! A year of the demo community's matters: reports spread over the year and the day, each
//! carried as far as its age makes plausible (most closed and rated, some referred,
//! rejected or shelved, recent ones still open, a few overdue and supervised), with the
//! timeline every step would have written. Deterministic, like the rest of the demo.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use linli_domain::CommunityId;
use linli_domain::auth::GridFilter;
use linli_domain::matters::{
    TimeLimit, TimeUnit, WorkCalendar, WorkingHours, deadlines_for, utc_offset,
};
use linli_store::Db;
use linli_store::matters::categories::{self, CategoryRow};
use linli_store::matters::history::{self, FullEvent, FullMatter};
use linli_store::registry::{self, organisations, places, residents, staff};
use uuid::{NoContext, Timestamp, Uuid};

use super::names::Rng;

/// What one report says, by top-level category: (title, description) with `{b}` for a
/// building name.
const TEXTS: &[(&str, &[(&str, &str)])] = &[
    (
        "01",
        &[
            (
                "楼上漏水引发邻里矛盾",
                "{b}楼上卫生间漏水到楼下，两家多次协商未果，希望社区出面调解。",
            ),
            (
                "宠物狗夜间吠叫",
                "{b}有住户养的狗每天夜里叫，邻居休息不好，沟通后仍未改善。",
            ),
            (
                "公共楼道归属争议",
                "{b}两户因楼道堆放鞋柜发生争执，需要社区协调。",
            ),
        ],
    ),
    (
        "02",
        &[
            (
                "电动车在楼道充电",
                "{b}一楼楼道有电动车拉线充电，存在火灾隐患。",
            ),
            (
                "消防通道被占",
                "{b}旁边的消防通道长期停放车辆，消防车无法通行。",
            ),
            ("燃气管道有异味", "{b}三楼走廊闻到燃气味，担心管道泄漏。"),
            (
                "高空抛物隐患",
                "{b}楼下经常有从楼上扔下的杂物，险些砸到行人。",
            ),
        ],
    ),
    (
        "03",
        &[
            (
                "垃圾桶满溢没人清运",
                "{b}楼下垃圾桶已满两天没人清运，天热有异味。",
            ),
            (
                "广场舞音响太吵",
                "{b}附近广场晚上跳舞音响声音太大，一直到十点多。",
            ),
            (
                "装修噪音扰民",
                "{b}有住户周末早上七点就开始装修电钻，影响休息。",
            ),
            (
                "绿化带垃圾多",
                "{b}旁边绿化带里堆了很多垃圾和杂物，影响环境。",
            ),
        ],
    ),
    (
        "04",
        &[
            ("路灯不亮", "{b}门口的路灯坏了一周多，晚上出行很不方便。"),
            (
                "健身器材损坏",
                "{b}旁边小广场的健身器材螺丝松动，老人使用有危险。",
            ),
            ("井盖松动", "{b}门前道路上的井盖松动，车辆经过声音很大。"),
        ],
    ),
    (
        "05",
        &[
            ("电梯经常故障", "{b}电梯这个月停了三次，老人上下楼很困难。"),
            ("楼道堆放杂物", "{b}楼道里堆满纸箱和旧家具，影响通行。"),
            ("停车位被长期占用", "{b}楼下的公共车位被僵尸车长期占用。"),
            ("外墙渗水", "{b}下雨后外墙渗水到室内，墙皮脱落。"),
        ],
    ),
    (
        "06",
        &[
            (
                "生活困难求助",
                "{b}住户家中有人生病，家庭收入困难，希望了解救助政策。",
            ),
            ("求职帮助", "{b}住户失业半年，希望社区推荐就业岗位。"),
            ("开具居住证明", "{b}住户需要开具居住证明办理孩子入学。"),
        ],
    ),
    (
        "07",
        &[
            (
                "独居老人需要关照",
                "{b}有位独居老人最近几天没出门，邻居担心身体状况。",
            ),
            ("残疾人出行不便", "{b}单元门口台阶没有坡道，轮椅进出困难。"),
            (
                "留守儿童放学无人照看",
                "{b}有孩子放学后常在楼下独自玩到很晚。",
            ),
        ],
    ),
    (
        "08",
        &[
            ("咨询社保缴费", "{b}住户咨询灵活就业人员社保如何缴纳。"),
            ("咨询住房补贴", "{b}住户咨询人才住房补贴申请条件。"),
            ("咨询老年人优待证", "{b}住户咨询老年人优待证怎么办理。"),
        ],
    ),
    (
        "09",
        &[
            ("建议增设快递柜", "{b}附近没有快递柜，建议在小区门口增设。"),
            (
                "建议组织亲子活动",
                "{b}家长们希望社区周末组织亲子手工活动。",
            ),
            (
                "建议增加休息座椅",
                "{b}小区步道边缺少座椅，老人散步没地方休息。",
            ),
        ],
    ),
];

const FEEDBACK: &[&str] = &[
    "已到现场核实并协调处理完毕。",
    "已联系物业当天处理，现场已恢复。",
    "已约双方当面沟通，达成一致。",
    "已上报相关部门，按时完成整改。",
    "已电话回复居民并提供办理指引。",
];

/// How many matters the demo community gets: about a year of a busy community.
pub const YEARLY_MATTERS: usize = 20_000;

/// A report time `days_ago` days back, in office-ish hours (local 08:00–21:00).
fn report_time(rng: &mut Rng, now: DateTime<Utc>, days_ago: i64) -> DateTime<Utc> {
    let day = now - Duration::days(days_ago);
    let local_hour = 8 + rng.below(13) as i64;
    let utc_hour = (local_hour - 8).rem_euclid(24);
    let base = day
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(0, 0, 0).expect("midnight"))
        .and_utc();
    (base
        + Duration::hours(utc_hour)
        + Duration::minutes(rng.below(60) as i64)
        + Duration::seconds(rng.below(60) as i64))
    .min(now - Duration::minutes(5))
}

/// A UUIDv7 carrying the report time, so "newest first" is creation order.
fn id_at(at: DateTime<Utc>, rng: &mut Rng) -> Uuid {
    let ts = Timestamp::from_unix(
        NoContext,
        at.timestamp() as u64,
        at.timestamp_subsec_nanos(),
    );
    let mut bytes = *Uuid::new_v7(ts).as_bytes();
    // The random part from our generator, for the same ids on every run.
    let r = rng.next_u64().to_be_bytes();
    bytes[8] = (bytes[8] & 0xC0) | (r[0] & 0x3F);
    bytes[9..16].copy_from_slice(&r[1..8]);
    Uuid::from_bytes(bytes)
}

struct Places {
    grids: Vec<Uuid>,
    buildings: Vec<(Uuid, Uuid, String)>,
    residents: Vec<(Uuid, Option<Uuid>, Option<Uuid>)>,
    workers: Vec<(Uuid, Uuid, Option<Uuid>)>,
    groups: Vec<(Uuid, Uuid)>,
    leaves: Vec<CategoryRow>,
    tops: Vec<CategoryRow>,
}

async fn places_of(db: &Db, community: CommunityId) -> anyhow::Result<Places> {
    let mut conn = db.acquire().await?;
    let mut ex = conn.exec();
    let grids = registry::list_grids(&mut ex, community, &GridFilter::All)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    let buildings = places::all_buildings(&mut ex, community)
        .await?
        .into_iter()
        .map(|b| (b.id, b.grid_id, b.name))
        .collect();
    let residents = residents::all_residents(&mut ex, community, &GridFilter::All)
        .await?
        .into_iter()
        .filter(|r| r.building_id.is_some())
        .map(|r| (r.id, r.building_id, r.account_id))
        .collect();
    let staff_rows = staff::list_staff(&mut ex, community).await?;
    let assignments = staff::assignments(&mut ex, community, None).await?;
    let workers = assignments
        .iter()
        .filter(|a| a.valid_to.is_none())
        .map(|a| {
            let account = staff_rows
                .iter()
                .find(|s| s.id == a.staff_id)
                .and_then(|s| s.account_id);
            (a.staff_id, a.grid_id, account)
        })
        .collect();
    let groups = organisations::list_grid_groups(&mut ex, community)
        .await?
        .into_iter()
        .map(|g| (g.id, g.grid_id))
        .collect();
    let all = categories::list_categories(&mut ex, community).await?;
    let (leaves, tops) = all.into_iter().partition(|c| c.parent_id.is_some());
    Ok(Places {
        grids,
        buildings,
        residents,
        workers,
        groups,
        leaves,
        tops,
    })
}

/// Builds the timeline of one matter step by step.
struct Story {
    id: Uuid,
    at: DateTime<Utc>,
    status: &'static str,
    events: Vec<FullEvent>,
}

impl Story {
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        rng: &mut Rng,
        gap_minutes: u64,
        actor: Option<Uuid>,
        step: &'static str,
        to: &'static str,
        comment: &str,
        detail: String,
    ) {
        self.at += Duration::minutes(gap_minutes as i64 + rng.below(gap_minutes.max(1)) as i64);
        let seq = self.events.len() as i64 + 1;
        self.events.push(FullEvent {
            matter_id: self.id,
            seq,
            at: self.at,
            actor,
            step,
            from: if seq == 1 { None } else { Some(self.status) },
            to,
            comment: comment.to_owned(),
            detail,
        });
        self.status = to;
    }
}

/// Adds a year of matters to the community unless it already has some. Returns how many.
pub async fn seed_history(
    db: &Db,
    community: CommunityId,
    community_index: u32,
    staff_account: Option<Uuid>,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, usize)> {
    {
        let mut conn = db.acquire().await?;
        if history::count(&mut conn.exec(), community).await? > 0 {
            return Ok((0, 0));
        }
    }
    let p = places_of(db, community).await?;
    if p.buildings.is_empty() || p.leaves.is_empty() || p.grids.is_empty() {
        return Ok((0, 0));
    }
    let mut rng = Rng::new(0x4d41_5454_4552 ^ u64::from(community_index));
    let calendar = WorkCalendar::new(utc_offset("Asia/Shanghai"), WorkingHours::standard(), []);
    let mut matters = Vec::with_capacity(YEARLY_MATTERS);
    let mut events = Vec::with_capacity(YEARLY_MATTERS * 9);
    let mut times: Vec<i64> = (0..YEARLY_MATTERS).map(|_| rng.below(365) as i64).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    for days_ago in times {
        let created = report_time(&mut rng, now, days_ago);
        let id = id_at(created, &mut rng);
        let category = rng.pick(&p.leaves).clone();
        let top = p
            .tops
            .iter()
            .find(|t| Some(t.id) == category.parent_id)
            .map(|t| t.code.as_str())
            .unwrap_or("01");
        let texts = TEXTS
            .iter()
            .find(|(code, _)| *code == top)
            .map(|(_, t)| *t)
            .unwrap_or(TEXTS[0].1);
        let (title, text) = *rng.pick(texts);
        let (building, grid, building_name) = rng.pick(&p.buildings).clone();
        let reporter = p
            .residents
            .iter()
            .filter(|r| r.1 == Some(building))
            .nth(rng.below(4) as usize)
            .or_else(|| p.residents.first())
            .copied();
        let demo_resident = reporter.and_then(|r| r.2);
        let source = *rng.pick(&[
            "resident_app",
            "resident_app",
            "resident_app",
            "grid_patrol",
            "walk_in",
            "phone",
            "hotline_12345",
        ]);
        let default_class: &'static str = match category.default_class.as_str() {
            "major" => "major",
            "private" => "private",
            _ => "minor",
        };
        let class = if rng.chance(10) {
            *rng.pick(&["major", "minor", "private"])
        } else {
            default_class
        };
        let worker = p.workers.iter().find(|w| w.1 == grid).copied();
        let mut story = Story {
            id,
            at: created,
            status: "reported",
            events: Vec::new(),
        };
        story.step(
            &mut rng,
            0,
            demo_resident,
            "report",
            "reported",
            "",
            format!("{{\"source\":\"{source}\"}}"),
        );
        let age = now - created;
        // How far this matter got: older matters are mostly finished.
        let stage = if age > Duration::days(20) {
            100
        } else {
            rng.below(101)
        };
        let triager = worker.and_then(|w| w.2).or(staff_account);
        let mut m = FullMatter {
            id,
            number: format!(
                "{}-{}",
                created.format("%Y%m%d"),
                &id.simple().to_string()[26..32].to_uppercase()
            ),
            category_id: category.id,
            grid_id: Some(grid),
            building_id: Some(building),
            title: title.to_owned(),
            description: text.replace("{b}", &building_name),
            source,
            status: "reported",
            class: None,
            reporter_resident_id: reporter.map(|r| r.0),
            reporter_account_id: demo_resident,
            place: None,
            handler_kind: None,
            handler_id: None,
            referral_kind: None,
            due_at: None,
            remind_at: None,
            yellow_at: None,
            red_at: None,
            reminded_at: None,
            supervise_level: "none",
            fixed_by: None,
            rating: None,
            reopen_count: 0,
            version: 1,
            created_at: created,
            updated_at: created,
            closed_at: None,
        };
        if stage > 8 {
            if rng.chance(3) {
                story.step(
                    &mut rng,
                    30,
                    triager,
                    "reject",
                    "cancelled",
                    "与已有事项重复",
                    "{\"reason\":\"invalid\"}".into(),
                );
                m.closed_at = Some(story.at);
            } else {
                story.step(&mut rng, 30, triager, "accept", "accepted", "", "{}".into());
                if stage > 15 {
                    story.step(
                        &mut rng,
                        20,
                        triager,
                        "triage",
                        "triaged",
                        "",
                        format!("{{\"class\":\"{class}\"}}"),
                    );
                    m.class = Some(class);
                }
            }
        }
        if m.class == Some("private") && stage > 30 {
            let kind = *rng.pick(&["self_help", "mediation", "partner"]);
            story.step(
                &mut rng,
                60,
                triager,
                "refer",
                "referred",
                "已告知居民办理途径",
                format!("{{\"referral\":\"{kind}\"}}"),
            );
            m.referral_kind = Some(kind);
            if stage > 60 {
                let rating = 3 + rng.below(3) as i32;
                story.step(
                    &mut rng,
                    1440,
                    None,
                    "rate",
                    "closed",
                    "",
                    format!("{{\"rating\":{rating}}}"),
                );
                m.rating = Some(rating);
                m.closed_at = Some(story.at);
            }
        } else if m.class.is_some() && stage > 25 {
            story.step(
                &mut rng,
                30,
                staff_account,
                "register",
                "registered",
                "",
                "{}".into(),
            );
            if stage > 35 {
                let (kind, handler) = if m.class == Some("major") {
                    (*rng.pick(&["office", "office", "subdistrict"]), None)
                } else if rng.chance(25) {
                    match p.groups.iter().find(|g| g.1 == grid) {
                        Some(g) => ("grid_group", Some(g.0)),
                        None => ("office", None),
                    }
                } else {
                    match worker {
                        Some(w) => ("grid_worker", Some(w.0)),
                        None => ("office", None),
                    }
                };
                story.step(
                    &mut rng,
                    20,
                    staff_account,
                    "dispatch",
                    "dispatched",
                    "",
                    format!("{{\"handler_kind\":\"{kind}\"}}"),
                );
                m.handler_kind = Some(kind);
                m.handler_id = handler;
                let unit = if category.time_unit == "hours" {
                    TimeUnit::Hours
                } else {
                    TimeUnit::Days
                };
                let limit =
                    TimeLimit::new(i64::from(category.time_limit), unit).unwrap_or(TimeLimit {
                        amount: 5,
                        unit: TimeUnit::Days,
                    });
                let due = calendar.due(story.at, limit);
                let d = deadlines_for(&calendar, story.at, due, 1, 5);
                m.due_at = Some(d.due_at);
                m.remind_at = Some(d.remind_at);
                m.yellow_at = Some(d.yellow_at);
                m.red_at = Some(d.red_at);
                let handler_account = worker.and_then(|w| w.2).or(staff_account);
                if stage > 45 {
                    story.step(
                        &mut rng,
                        40,
                        handler_account,
                        "sign",
                        "in_progress",
                        "",
                        "{}".into(),
                    );
                    let late = rng.chance(12);
                    if late {
                        // Overdue: the sweep reminded, then carded it.
                        story.at = story.at.max(d.due_at);
                        story.step(
                            &mut rng,
                            1,
                            None,
                            "escalate",
                            "in_progress",
                            "",
                            "{\"from_level\":\"none\",\"to_level\":\"normal\"}".into(),
                        );
                        m.supervise_level = "normal";
                        if rng.chance(40) {
                            story.at = story.at.max(d.yellow_at);
                            story.step(
                                &mut rng,
                                1,
                                None,
                                "escalate",
                                "in_progress",
                                "",
                                "{\"from_level\":\"normal\",\"to_level\":\"yellow\"}".into(),
                            );
                            m.supervise_level = "yellow";
                        }
                    }
                    if stage > 55 && rng.chance(3) && !late {
                        story.step(
                            &mut rng,
                            120,
                            staff_account,
                            "shelve",
                            "shelved",
                            "需等待专项资金下达",
                            "{}".into(),
                        );
                    } else if stage > 55 {
                        let fix = *rng.pick(FEEDBACK);
                        let hours = if late { 30 * 60 } else { 60 + rng.below(600) };
                        story.step(
                            &mut rng,
                            hours,
                            handler_account,
                            "feedback",
                            "pending_verification",
                            fix,
                            "{}".into(),
                        );
                        m.fixed_by = handler_account;
                        if stage > 70 {
                            story.step(
                                &mut rng,
                                120,
                                staff_account,
                                "verify",
                                "resolved",
                                "",
                                "{\"passed\":true}".into(),
                            );
                            if stage > 80 {
                                let rating = if rng.chance(85) {
                                    4 + rng.below(2) as i32
                                } else {
                                    1 + rng.below(3) as i32
                                };
                                story.step(
                                    &mut rng,
                                    1440,
                                    None,
                                    "rate",
                                    "closed",
                                    if rating >= 4 {
                                        "满意，谢谢社区"
                                    } else {
                                        ""
                                    },
                                    format!("{{\"rating\":{rating}}}"),
                                );
                                m.rating = Some(rating);
                                m.closed_at = Some(story.at);
                            }
                        }
                    }
                    if late {
                        m.reminded_at = m.remind_at;
                    }
                }
            }
        }
        // A step dated in the future (a long gap on a recent matter) is brought back to now.
        for e in &mut story.events {
            e.at = e.at.min(now);
        }
        m.status = story.status;
        m.version = story.events.len() as i64;
        m.updated_at = story.events.last().map_or(created, |e| e.at);
        m.closed_at = m.closed_at.map(|c| c.min(now));
        if m.status != "closed" && m.status != "cancelled" {
            m.closed_at = None;
        }
        events.extend(story.events);
        matters.push(m);
    }
    let mut tx = db.begin().await?;
    history::insert_matters(&mut tx.exec(), community, &matters).await?;
    history::insert_events(&mut tx.exec(), community, &events).await?;
    tx.commit().await?;
    Ok((matters.len(), events.len()))
}

/// Draws the demo grids on the map: the community as a rectangle near Pingshan, split
/// into equal vertical strips, one per grid, shifted east for each further community.
pub async fn draw_grids(
    db: &Db,
    community: CommunityId,
    community_index: u32,
) -> anyhow::Result<()> {
    let mut conn = db.acquire().await?;
    let mut ex = conn.exec();
    let grids = registry::list_grids(&mut ex, community, &GridFilter::All).await?;
    if grids.is_empty() || grids.iter().any(|g| g.boundary.is_some()) {
        return Ok(());
    }
    let (west, south, north) = (114.340 + 0.03 * f64::from(community_index), 22.690, 22.710);
    let width = 0.02 / grids.len() as f64;
    for (i, grid) in grids.iter().enumerate() {
        let (a, b) = (west + width * i as f64, west + width * (i + 1) as f64);
        let geometry = serde_json::json!({
            "type": "Polygon",
            "coordinates": [[[a, south], [b, south], [b, north], [a, north], [a, south]]]
        });
        registry::set_boundary(
            &mut ex,
            community,
            linli_domain::GridId(grid.id),
            Some(&geometry.to_string()),
        )
        .await?;
    }
    Ok(())
}
