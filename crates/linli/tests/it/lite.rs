//! Concurrent reports on both engines, and the direct SQLite lane (`linli_store::lite`):
//! what the lane writes reads back through sqlx unchanged, its lists and searches match
//! sqlx's page for page, and a write that fails in a group commit fails alone.

use chrono::Utc;
use linli_domain::auth::{GridFilter, Role};
use linli_domain::matters::search::query_terms;
use linli_domain::matters::{MatterStatus, SuperviseLevel};
use linli_store::matters::history::{self, FullMatter};
use linli_store::matters::{self, MatterFilter, MatterRow, MatterSummaryRow, NewMatter};
use linli_store::{PageRequest, StoreError};
use uuid::Uuid;

use crate::support::{SeedCommunity, TestApp, TestDb, seed_world};

pub(crate) fn new_matter(c: &SeedCommunity, i: usize, description: &str) -> NewMatter {
    let id = Uuid::now_v7();
    NewMatter {
        id,
        number: format!("LANE-{i:04}"),
        category_id: c.category,
        grid_id: Some(c.grids[i % 2]),
        building_id: Some(c.buildings[i % 2].0),
        title: format!("第{i}件"),
        description: description.to_owned(),
        source: "resident_app",
        proposed_class: None,
        reporter_resident_id: Some(c.residents[i % 2].0),
        reporter_account_id: None,
        recorded_by: None,
        contact_enc: Some(vec![1, 2, 3, i as u8]),
        place: i.is_multiple_of(3).then(|| "小区东门".to_owned()),
        latitude: i.is_multiple_of(4).then_some(22.7 + i as f64 / 1000.0),
        longitude: i.is_multiple_of(4).then_some(114.3),
    }
}

#[tokio::test]
async fn the_direct_sqlite_lane_agrees_with_sqlx_and_commits_in_groups() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let c = &world.a;
    let now = Utc::now();

    // Forty reports at once: they share group commits, and every one is stored.
    let texts = ["电梯门关不上，困过人", "楼道灯坏了", "垃圾桶满了没人清运"];
    let news: Vec<NewMatter> = (0..40)
        .map(|i| new_matter(c, i, texts[i % texts.len()]))
        .collect();
    let mut writes = tokio::task::JoinSet::new();
    for m in news.iter().cloned() {
        let (db, community) = (t.db.clone(), c.id);
        writes.spawn(async move { matters::report_matter(&db, community, m, None, now).await });
    }
    while let Some(outcome) = writes.join_next().await {
        outcome.unwrap().expect("every report is stored");
    }

    // In one batch, a report reusing a taken number fails alone, as a conflict.
    let mut taken = new_matter(c, 99, "重复编号的事项");
    taken.number = news[0].number.clone();
    let fresh = new_matter(c, 100, "编号没有重复的事项");
    let (refused, stored) = tokio::join!(
        matters::report_matter(&t.db, c.id, taken.clone(), None, now),
        matters::report_matter(&t.db, c.id, fresh.clone(), None, now),
    );
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    stored.expect("the other write of the batch stands");

    // Read back through sqlx: every column as the lane wrote it.
    let mut conn = t.db.acquire().await.unwrap();
    for m in news.iter().chain([&fresh]) {
        let read = matters::find_matter(&mut conn.exec(), m.id)
            .await
            .unwrap()
            .expect("stored");
        let written = MatterRow::reported(c.id, m, now);
        assert_eq!(format!("{read:?}"), format!("{written:?}"));
    }
    assert!(
        matters::find_matter(&mut conn.exec(), taken.id)
            .await
            .unwrap()
            .is_none(),
        "nothing of the refused write remains"
    );
    let timeline = matters::timeline(&mut conn.exec(), c.id, fresh.id)
        .await
        .unwrap();
    assert_eq!(timeline.len(), 1, "the report's timeline entry");
    // The full-text index holds exactly the stored matters: FTS5 compares it with its
    // content table (no entry of the refused write, none missing; the store writes them,
    // not a trigger). An inconsistency is an error here.
    let checked: Result<Vec<(i64,)>, _> = conn
        .exec()
        .fetch_all_raw(
            "INSERT INTO matter_search (matter_search, rank) VALUES ('integrity-check', 1)",
            "SELECT 1 WHERE false",
        )
        .await;
    checked.expect("the full-text index matches the matters");

    // Lists and searches: the lane's pages equal sqlx's, page after page.
    let filters = [
        MatterFilter::default(),
        MatterFilter {
            statuses: vec![MatterStatus::Reported],
            ..MatterFilter::default()
        },
        MatterFilter {
            grid: Some(c.grids[0]),
            statuses: vec![MatterStatus::Reported, MatterStatus::InProgress],
            ..MatterFilter::default()
        },
        MatterFilter {
            terms: query_terms("电梯"),
            ..MatterFilter::default()
        },
        MatterFilter {
            terms: query_terms("灯"),
            grid: Some(c.grids[1]),
            ..MatterFilter::default()
        },
        MatterFilter {
            supervise_levels: vec![SuperviseLevel::Red],
            ..MatterFilter::default()
        },
    ];
    let scopes = [GridFilter::All, GridFilter::Only(vec![c.grids[1]])];
    for filter in &filters {
        for grids in &scopes {
            let mut after = None;
            let mut pages = 0;
            loop {
                let page = PageRequest { after, limit: 7 };
                let first = after.is_none();
                let lane = matters::list_matters_pooled::<MatterRow>(
                    &t.db, c.id, grids, filter, page, first,
                )
                .await
                .unwrap();
                let sqlx =
                    matters::list_matters(&mut conn.exec(), c.id, grids, filter, page, first)
                        .await
                        .unwrap();
                assert_eq!(
                    format!("{:?}", (&lane.items, lane.total, lane.next)),
                    format!("{:?}", (&sqlx.items, sqlx.total, sqlx.next)),
                    "{filter:?} {grids:?} after {after:?}"
                );
                // The summaries a list page sends: the same matters, read either way.
                let lane_summaries = matters::list_matters_pooled::<MatterSummaryRow>(
                    &t.db, c.id, grids, filter, page, first,
                )
                .await
                .unwrap();
                let sqlx_summaries = matters::list_matters_as::<MatterSummaryRow>(
                    &mut conn.exec(),
                    c.id,
                    grids,
                    filter,
                    page,
                    first,
                )
                .await
                .unwrap();
                assert_eq!(lane_summaries.items, sqlx_summaries.items);
                assert_eq!(
                    (lane_summaries.total, lane_summaries.next),
                    (lane.total, lane.next)
                );
                let summarised: Vec<Uuid> = lane_summaries.items.iter().map(|r| r.id).collect();
                let whole: Vec<Uuid> = lane.items.iter().map(|r| r.id).collect();
                assert_eq!(summarised, whole);
                let ids: Vec<Uuid> = lane.items.iter().map(|r| r.id).collect();
                let mut newest_first = ids.clone();
                newest_first.sort_by(|a, b| b.cmp(a));
                assert_eq!(ids, newest_first);
                pages += 1;
                match lane.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert!(pages >= 1);
        }
    }
    let lifts = matters::list_matters_pooled::<MatterSummaryRow>(
        &t.db,
        c.id,
        &GridFilter::All,
        &filters[3],
        PageRequest::first(50),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        lifts.total, 14,
        "every third of the forty reports is about the lift"
    );
}

/// Concurrent reports on both engines (group commits on both): all are stored, and one
/// with a taken number and one with an unknown category each fail alone, leaving nothing
/// behind.
#[tokio::test]
async fn reports_commit_in_groups_and_fail_alone_on_both_engines() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let c = &world.a;
        let now = Utc::now();
        let news: Vec<NewMatter> = (0..30).map(|i| new_matter(c, i, "楼道灯坏了")).collect();
        let mut taken = new_matter(c, 99, "重复编号的事项");
        taken.number = news[0].number.clone();
        // A category that does not exist: a failure other than a taken number, which
        // fails a whole batch statement (the batch is then retried report by report).
        let mut stray = new_matter(c, 98, "类别不存在的事项");
        stray.category_id = Uuid::now_v7();
        matters::report_matter(&t.db, c.id, news[0].clone(), None, now)
            .await
            .unwrap();
        let mut writes = tokio::task::JoinSet::new();
        for m in news[1..]
            .iter()
            .cloned()
            .chain([taken.clone(), stray.clone()])
        {
            let (db, community) = (t.db.clone(), c.id);
            writes.spawn(async move {
                let id = m.id;
                (
                    id,
                    matters::report_matter(&db, community, m, None, now).await,
                )
            });
        }
        while let Some(joined) = writes.join_next().await {
            let (id, outcome) = joined.unwrap();
            if id == taken.id {
                assert!(
                    matches!(outcome, Err(StoreError::Conflict(_))),
                    "{} {outcome:?}",
                    t.engine
                );
            } else if id == stray.id {
                assert!(
                    matches!(outcome, Err(StoreError::ForeignKey(_))),
                    "{} {outcome:?}",
                    t.engine
                );
            } else {
                outcome.unwrap_or_else(|e| panic!("{} {e:?}", t.engine));
            }
        }
        let mut conn = t.db.acquire().await.unwrap();
        for m in &news {
            assert!(
                matters::find_matter(&mut conn.exec(), m.id)
                    .await
                    .unwrap()
                    .is_some(),
                "{}",
                t.engine
            );
        }
        for refused in [&taken, &stray] {
            assert!(
                matters::find_matter(&mut conn.exec(), refused.id)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        assert!(
            matters::timeline(&mut conn.exec(), c.id, taken.id)
                .await
                .unwrap()
                .is_empty(),
            "no timeline entry of the refused report"
        );
    }
}

/// One page of a search read through the SQLite lane (where there is one) and through sqlx.
async fn both_read_paths(
    db: &linli_store::Db,
    community: linli_domain::CommunityId,
    filter: &MatterFilter,
    page: PageRequest,
    with_total: bool,
) -> (
    linli_store::PageOf<MatterSummaryRow>,
    linli_store::PageOf<MatterSummaryRow>,
) {
    let lane = matters::list_matters_pooled::<MatterSummaryRow>(
        db,
        community,
        &GridFilter::All,
        filter,
        page,
        with_total,
    )
    .await
    .unwrap();
    let mut conn = db.acquire().await.unwrap();
    let sqlx = matters::list_matters_as::<MatterSummaryRow>(
        &mut conn.exec(),
        community,
        &GridFilter::All,
        filter,
        page,
        with_total,
    )
    .await
    .unwrap();
    (lane, sqlx)
}

/// A word in more matters than a search counts (1,000): the total says "at least 1,000"
/// and the search walks newest first. Loaded in bulk (the demo's loader, which writes the
/// full-text entries after its rows): pages follow each other without gaps on both read
/// paths, and they agree; a word at exactly the cap, and one in few matters, are counted
/// exactly. Only one in a hundred of the newest 1,100 matters holds the word: on SQLite a
/// dense search tests the newest 512 itself, keeps what it found there, and asks the
/// full-text index from where it stopped; on PostgreSQL the first page is not within the
/// newest 1,024 and needs the walk, the next ones are.
#[tokio::test]
async fn a_word_in_thousands_of_matters_is_counted_up_to_the_cap_and_paged_on_both_engines() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let c = &world.a;
        let start = Utc::now() - chrono::Duration::days(30);
        let common = matters::SEARCH_TOTAL_CAP as usize + 50;
        let at_cap = matters::SEARCH_TOTAL_CAP as usize;
        let newer = 1_100;
        let holds_word = |i: usize| i < common || (i - common).is_multiple_of(100);
        let rows: Vec<FullMatter> = (0..common + newer)
            .map(|i| {
                let at = start + chrono::Duration::seconds(i as i64 * 20);
                let id = Uuid::now_v7();
                FullMatter {
                    id,
                    number: format!("BULK-{i:05}"),
                    category_id: c.category,
                    grid_id: Some(c.grids[i % 2].0),
                    building_id: None,
                    title: format!("第{i}件"),
                    description: match holds_word(i) {
                        true if i < at_cap => "楼下垃圾桶满了两天没人清运，井盖松动".to_owned(),
                        true => "楼下垃圾桶满了两天没人清运".to_owned(),
                        false if i.is_multiple_of(2) => "楼道灯坏了".to_owned(),
                        false => "路面积水".to_owned(),
                    },
                    source: "resident_app",
                    status: "reported",
                    class: None,
                    reporter_resident_id: None,
                    reporter_account_id: None,
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
                    created_at: at,
                    updated_at: at,
                    closed_at: None,
                }
            })
            .collect();
        {
            let mut tx = t.db.begin().await.unwrap();
            history::insert_matters(&mut tx.exec(), c.id, &rows)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let filter = MatterFilter {
            terms: query_terms("垃圾桶满"),
            ..MatterFilter::default()
        };
        let mut after = None;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let page = PageRequest { after, limit: 50 };
            let first = after.is_none();
            let (lane, sqlx) = both_read_paths(&t.db, c.id, &filter, page, first).await;
            assert_eq!(lane.items, sqlx.items, "{}", t.engine);
            assert_eq!(
                (lane.total, lane.total_capped, lane.next),
                (sqlx.total, sqlx.total_capped, sqlx.next)
            );
            if first {
                assert_eq!(
                    (lane.total, lane.total_capped),
                    (matters::SEARCH_TOTAL_CAP, true),
                    "counted up to the cap, said to be more"
                );
            }
            assert_eq!(lane.items.len(), 50);
            seen.extend(lane.items.iter().map(|r| r.id));
            after = lane.next;
        }
        let mut newest: Vec<Uuid> = (0..rows.len())
            .filter(|&i| holds_word(i))
            .map(|i| rows[i].id)
            .collect();
        newest.sort_by(|a, b| b.cmp(a));
        newest.truncate(150);
        assert_eq!(seen, newest, "the newest matches, in order, without gaps");
        // The other word, among few matters, is found through the same bulk-written index.
        let lamps = matters::list_matters_pooled::<MatterSummaryRow>(
            &t.db,
            c.id,
            &GridFilter::All,
            &MatterFilter {
                terms: query_terms("楼道灯"),
                ..MatterFilter::default()
            },
            PageRequest::first(50),
            true,
        )
        .await
        .unwrap();
        let lamp_rows = (common..common + newer)
            .filter(|&i| !holds_word(i) && i.is_multiple_of(2))
            .count();
        assert_eq!((lamps.total, lamps.total_capped), (lamp_rows as u64, false));
        // A word in exactly as many matters as the cap is still counted exactly, on both
        // read paths, and its pages are read by id.
        let covers = MatterFilter {
            terms: query_terms("井盖"),
            ..MatterFilter::default()
        };
        let (lane, sqlx) =
            both_read_paths(&t.db, c.id, &covers, PageRequest::first(50), true).await;
        for found in [&lane, &sqlx] {
            assert_eq!(
                (found.total, found.total_capped),
                (at_cap as u64, false),
                "{}",
                t.engine
            );
        }
        assert_eq!(lane.items, sqlx.items);
        // A common word narrowed by a grid: counted through the filter, exactly.
        let in_grid = MatterFilter {
            grid: Some(c.grids[0]),
            ..filter.clone()
        };
        let lane = matters::list_matters_pooled::<MatterSummaryRow>(
            &t.db,
            c.id,
            &GridFilter::All,
            &in_grid,
            PageRequest::first(50),
            true,
        )
        .await
        .unwrap();
        assert_eq!(
            (lane.total, lane.total_capped),
            (
                (0..rows.len())
                    .filter(|&i| holds_word(i) && i % 2 == 0)
                    .count() as u64,
                false
            ),
            "half the matches are in the grid: {}",
            t.engine
        );
        assert!(lane.items.iter().all(|m| m.grid_id == Some(c.grids[0].0)));
        // What an API client sees: a floor it can show as "1,000+", and an exact count.
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let base = format!("/api/v1/communities/{}/matters", c.id.0);
        let common_word = app
            .get_json(&format!("{base}?q=垃圾桶满&limit=5"), &staff)
            .await;
        assert_eq!(
            (&common_word["total"], &common_word["total_capped"]),
            (&serde_json::json!(1000), &serde_json::json!(true)),
            "{common_word}"
        );
        assert_eq!(common_word["items"].as_array().map(Vec::len), Some(5));
        let at_the_cap = app
            .get_json(&format!("{base}?q=井盖&limit=5"), &staff)
            .await;
        assert_eq!(
            (&at_the_cap["total"], &at_the_cap["total_capped"]),
            (&serde_json::json!(1000), &serde_json::json!(false))
        );
    }
}
