//! The registry over HTTP on both engines: masking, reveals and their audit, search by
//! name, pinyin, phone and ID number, stable pagination, registration rules, a resident's
//! own record, and grid redraws.

use chrono::Utc;
use linli_domain::auth::Role;
use linli_domain::registry::{Document, IdNumber, Phone};
use linli_domain::{AccountId, CommunityId, GridId, ResidentId};
use linli_store::registry::places;
use linli_store::registry::residents::{self, NewResident};
use linli_web::pii;
use serde_json::{Value, json};

use crate::support::{
    SEEDED_PEOPLE, TestApp, TestDb, World, problem, seed_world, test_key, valid_id,
};

async fn audit_actions(app: &TestApp, world: &World, community: CommunityId) -> Vec<Value> {
    let auditor = app.token(world.username(Role::Auditor)).await;
    let log = app
        .get_json(&format!("/api/v1/communities/{community}/audit"), &auditor)
        .await;
    log["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn residents_come_masked_and_every_reveal_is_audited() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let resident = world.a.residents[0];
        let (name, phone, id17) = SEEDED_PEOPLE[0];
        let id_number = valid_id(id17);

        let view = app
            .get_json(&format!("/api/v1/residents/{resident}"), &staff)
            .await;
        assert_eq!(view["name"], name, "{}", t.engine);
        assert_eq!(view["phone"], "138****8000");
        assert_eq!(
            view["id_number"],
            format!("440303********{}", &id_number[14..])
        );
        assert_eq!(view["birth_year"], 1980);
        assert!(view.get("birth_date").is_none());

        // No reason, no reveal, and nothing is written.
        let reveals = |log: Vec<Value>| -> Vec<Value> {
            log.into_iter()
                .filter(|e| e["action"] == "personal_data_revealed")
                .collect()
        };
        let before = reveals(audit_actions(&app, &world, world.a.id).await).len();
        let (status, body) = problem(
            app.post_json(
                &format!("/api/v1/residents/{resident}/reveal"),
                &staff,
                &json!({ "fields": ["phone"], "reason": "  " }),
            )
            .await,
        )
        .await;
        assert_eq!((status, body["field"].as_str()), (422, Some("reason")));

        let revealed: Value = app
            .post_json(
                &format!("/api/v1/residents/{resident}/reveal"),
                &staff,
                &json!({ "fields": ["phone", "id_number", "birth_date"], "reason": "核实低保申请材料" }),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(revealed["phone"], phone);
        assert_eq!(revealed["id_number"], id_number);
        assert_eq!(revealed["birth_date"], "1980-01-01");

        let log = reveals(audit_actions(&app, &world, world.a.id).await);
        assert_eq!(log.len(), before + 1, "{log:?}");
        let entry = &log[0];
        assert_eq!(entry["action"], "personal_data_revealed");
        assert_eq!(entry["object_id"], resident.to_string());
        let detail = entry["detail"].to_string();
        assert!(
            detail.contains("核实低保申请材料") && detail.contains("id_number"),
            "{detail}"
        );
        assert!(
            !detail.contains(phone) && !detail.contains(&id_number),
            "values never reach the log"
        );

        // A grid worker cannot reveal in another grid: it is "not found" there.
        let worker = app.token(world.username(Role::GridWorker)).await;
        let other = world.a.residents[1];
        let response = app
            .post_json(
                &format!("/api/v1/residents/{other}/reveal"),
                &worker,
                &json!({ "fields": ["phone"], "reason": "上门走访" }),
            )
            .await;
        assert_eq!(response.status(), 404);
    }
}

#[tokio::test]
async fn personal_data_is_stored_sealed() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let linli_store::Db::Sqlite(pool, _) = &t.db else {
        unreachable!()
    };
    let rows: Vec<(Vec<u8>, Vec<u8>, String)> =
        sqlx::query_as("SELECT phone_enc, document_enc, search_text FROM residents")
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(rows.len() >= 6);
    let (_, phone, id17) = SEEDED_PEOPLE[0];
    for (phone_enc, document_enc, search_text) in rows {
        for sealed in [&phone_enc, &document_enc] {
            assert!(!sealed.windows(11).any(|w| w == phone.as_bytes()));
            assert!(!sealed.windows(17).any(|w| w == id17.as_bytes()));
        }
        assert!(!search_text.contains(phone) && !search_text.contains(id17));
    }
    // A sealed value is bound to its row: copied onto another resident it does not open.
    let key = test_key();
    let sealed = pii::seal_phone(&key, world.a.residents[0], &Phone::parse(phone).unwrap());
    let mut moved = residents::find_resident(
        &mut t.db.acquire().await.unwrap().exec(),
        world.a.residents[1],
    )
    .await
    .unwrap()
    .unwrap();
    moved.phone_enc = Some(sealed.enc);
    assert!(pii::Opened::of(&key, &moved).is_err());
}

#[tokio::test]
async fn search_finds_by_name_pinyin_phone_and_id_within_reach() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let worker = app.token(world.username(Role::GridWorker)).await;
        let a = world.a.id;
        let search = |q: &str| format!("/api/v1/communities/{a}/residents?q={}", urlencode(q));
        let names = |v: &Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let (zhang, zhang_phone, zhang_id) = SEEDED_PEOPLE[0];
        for q in [
            "张",
            "伟",
            "张伟",
            "zw",
            "ZhangW",
            "zhangwei",
            zhang_phone,
            &valid_id(zhang_id),
        ] {
            let found = app.get_json(&search(q), &staff).await;
            // Community b has its own 张伟: it never shows here.
            assert_eq!(names(&found), [zhang], "{} q={q}", t.engine);
            assert_eq!(found["total"], 1);
        }
        for q in ["王", "zz", "13800138001"] {
            assert_eq!(app.get_json(&search(q), &staff).await["total"], 0, "q={q}");
        }
        // 李娜 lives in the grid worker's other grid.
        assert_eq!(app.get_json(&search("李娜"), &staff).await["total"], 1);
        assert_eq!(app.get_json(&search("李娜"), &worker).await["total"], 0);
        assert_eq!(app.get_json(&search("张伟"), &worker).await["total"], 1);
        // Search terms that cannot be searched are refused, not passed to the engine.
        for q in ["\"*", "a\"b OR c", "李' OR 1=1 --"] {
            let response = app.get(&search(q), &staff).await;
            assert!(
                matches!(response.status().as_u16(), 200 | 422),
                "q={q}: {}",
                response.status()
            );
        }
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn the_demo_community_pages_stably_and_scopes_its_grid_worker() {
    for t in TestDb::all().await {
        linli::demo::generate(&t.db, &test_key(), 1).await.unwrap();
        let community = {
            let mut conn = t.db.acquire().await.unwrap();
            linli_store::tenancy::community_by_code(&mut conn.exec(), "xinhe")
                .await
                .unwrap()
                .unwrap()
                .community_id
        };
        let app = TestApp::spawn(&t.db).await;
        // The demo's accounts have generated passwords: give two of them the test one.
        let staff = sign_in_demo(&app, &t.db, "demo-staff").await;
        let worker = sign_in_demo(&app, &t.db, "demo-grid-worker").await;
        let all = app
            .get_json(
                &format!("/api/v1/communities/{community}/residents?limit=1"),
                &staff,
            )
            .await;
        let total = all["total"].as_u64().unwrap();
        assert!((13_000..=16_000).contains(&total), "{} residents", total);

        // Walk every page of one surname; ids strictly increase and the walk ends at total.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path =
                format!("/api/v1/communities/{community}/residents?q=%E7%8E%8B&limit=37");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = app.get_json(&path, &staff).await;
            for item in page["items"].as_array().unwrap() {
                assert!(item["name"].as_str().unwrap().contains('王'));
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
            let expected = page["total"].as_u64().unwrap();
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => {
                    assert_eq!(seen.len() as u64, expected, "{}", t.engine);
                    break;
                }
            }
        }
        assert!(seen.len() > 200, "王 is common: {}", seen.len());
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen, "pages are disjoint and in id order");

        // The grid worker's list holds only their grid, and its total says so.
        let theirs = app
            .get_json(
                &format!("/api/v1/communities/{community}/residents?limit=200"),
                &worker,
            )
            .await;
        let grid = theirs["items"][0]["grid_id"].as_str().unwrap().to_owned();
        assert!(
            theirs["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["grid_id"] == grid.as_str())
        );
        let worker_total = theirs["total"].as_u64().unwrap();
        assert!(worker_total < total / 2 && worker_total > total / 8);
    }
}

/// Sets a demo account's password to the test password and signs in.
async fn sign_in_demo(app: &TestApp, db: &linli_store::Db, username: &str) -> String {
    let user = linli_domain::auth::Username::parse(username).unwrap();
    let password = linli_domain::auth::NewPassword::parse(crate::support::PASSWORD, &user).unwrap();
    linli::admin::set_password(db, &user, &password)
        .await
        .unwrap();
    app.token(username).await
}

#[tokio::test]
async fn registration_checks_every_rule_and_writes_nothing_when_one_fails() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let path = format!("/api/v1/communities/{}/residents", world.a.id);
        let count = || async {
            app.get_json(&format!("{path}?limit=1"), &staff).await["total"]
                .as_u64()
                .unwrap()
        };
        let before = count().await;
        let household = world.a.households[0];
        let good = valid_id("44030319751015124");
        let mut wrong_check = good.clone();
        wrong_check.replace_range(17.., if good.ends_with('0') { "1" } else { "0" });
        let cases = [
            (
                json!({ "name": "王芳", "document_number": wrong_check }),
                "id_number_checksum",
                "document_number",
            ),
            (
                json!({ "name": "王芳", "document_number": "4403031975101512" }),
                "id_number_format",
                "document_number",
            ),
            (
                json!({ "name": "王芳", "document_number": good, "birth_date": "1975-10-16" }),
                "birth_date_mismatch",
                "birth_date",
            ),
            (
                json!({ "name": "王芳", "birth_date": "2999-01-01" }),
                "birth_date_impossible",
                "birth_date",
            ),
            (
                json!({ "name": "王芳", "birth_date": "1990-02-30" }),
                "birth_date_impossible",
                "birth_date",
            ),
            (
                json!({ "name": "王芳", "phone": "12345" }),
                "phone_format",
                "phone",
            ),
            (json!({ "name": "" }), "name_format", "name"),
            (
                json!({ "name": "王芳", "household_id": household }),
                "invalid_field",
                "relation",
            ),
            (
                json!({ "name": "王芳", "household_id": household, "relation": "邻居" }),
                "unknown_value",
                "relation",
            ),
            (
                json!({ "name": "王小宝", "birth_date": "2020-06-01", "household_id": household, "relation": "family" }),
                "guardian_consent_required",
                "birth_date",
            ),
            (
                json!({ "name": "王芳", "document_kind": "驾照", "document_number": "X1234567" }),
                "unknown_document_kind",
                "document_kind",
            ),
        ];
        for (body, code, field) in cases {
            let (status, problem_body) = problem(app.post_json(&path, &staff, &body).await).await;
            assert_eq!(
                (
                    status,
                    problem_body["code"].as_str(),
                    problem_body["field"].as_str()
                ),
                (422, Some(code), Some(field)),
                "{} {body}",
                t.engine
            );
        }
        // A document already registered is a conflict.
        let duplicate = json!({ "name": "张伟", "document_number": valid_id(SEEDED_PEOPLE[0].2) });
        let (status, body) = problem(app.post_json(&path, &staff, &duplicate).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("duplicate_resident"))
        );
        assert_eq!(count().await, before, "nothing was written");

        // A valid registration joins the household and comes back masked.
        let created = app
            .post_json(
                &path,
                &staff,
                &json!({ "name": "王芳", "document_number": good, "phone": "+86 137-0000-1234",
                         "household_id": household, "relation": "家庭成员", "skills": ["书法"] }),
            )
            .await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["phone"], "137****1234");
        assert_eq!(created["gender"], "female", "taken from the ID number");
        assert_eq!(created["grid_id"], world.a.grids[0].to_string());
        assert_eq!(count().await, before + 1);
        let members = app
            .get_json(
                &format!(
                    "/api/v1/communities/{}/residents?household={household}",
                    world.a.id
                ),
                &staff,
            )
            .await;
        assert_eq!(members["total"], 2);
    }
}

#[tokio::test]
async fn a_resident_reads_corrects_and_downloads_their_own_record() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let account = world.account_id(Role::Resident);
        let me = link_resident(&t.db, world.a.id, world.a.grids[0], account).await;
        let token = app.token(world.username(Role::Resident)).await;

        let mine = app.get_json("/api/v1/me/resident", &token).await;
        assert_eq!(mine["id"], me.to_string());
        assert_eq!(mine["phone"], "13700001111", "their own data comes in full");
        let version = mine["version"].as_i64().unwrap();

        let patch = |if_match: Option<String>, phone: &'static str| {
            let mut req = app
                .client
                .patch(app.url("/api/v1/me/resident"))
                .bearer_auth(&token)
                .json(&json!({ "phone": phone }));
            if let Some(v) = if_match {
                req = req.header("if-match", v);
            }
            req.send()
        };
        let (status, body) = problem(patch(None, "13700002222").await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (428, Some("version_required"))
        );
        let (status, body) =
            problem(patch(Some("\"999\"".into()), "13700002222").await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (412, Some("stale_version"))
        );
        let (status, body) = problem(
            patch(Some(format!("\"{version}\"")), "1370000")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, body["code"].as_str()), (422, Some("phone_format")));
        let fixed = patch(Some(format!("\"{version}\"")), "13700002222")
            .await
            .unwrap();
        assert_eq!(fixed.status(), 200);
        let fixed: Value = fixed.json().await.unwrap();
        assert_eq!(fixed["phone"], "13700002222");
        assert_eq!(fixed["version"], version + 1);

        // Staff look the record up by the new number, and reveal it: the resident sees that.
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let found = app
            .get_json(
                &format!("/api/v1/communities/{}/residents?q=13700002222", world.a.id),
                &staff,
            )
            .await;
        assert_eq!(found["items"][0]["id"], me.to_string());
        app.post_json(
            &format!("/api/v1/residents/{me}/reveal"),
            &staff,
            &json!({ "fields": ["phone"], "reason": "通知疫苗接种" }),
        )
        .await;
        let data = app.get("/api/v1/me/data", &token).await;
        assert!(
            data.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("attachment")
        );
        let data: Value = data.json().await.unwrap();
        assert_eq!(data["resident"]["phone"], "13700002222");
        assert_eq!(data["households"][0]["relation"], "family");
        let actions: Vec<&str> = data["access_log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["resident_self_corrected", "personal_data_revealed"],
            "{}",
            t.engine
        );

        // Someone with no resident record has none to read.
        let other = app.token(world.username(Role::Volunteer)).await;
        assert_eq!(app.get("/api/v1/me/resident", &other).await.status(), 404);
    }
}

/// Registers the account as a resident of the seeded household in `grid`.
async fn link_resident(
    db: &linli_store::Db,
    community: CommunityId,
    grid: GridId,
    account: AccountId,
) -> ResidentId {
    let key = test_key();
    let id = ResidentId::new();
    let number = IdNumber::parse(&valid_id("44030319850303003")).unwrap();
    let mut tx = db.begin().await.unwrap();
    let mut ex = tx.exec();
    let household = places::list_buildings(
        &mut ex,
        community,
        &linli_domain::auth::GridFilter::All,
        Some(grid),
        linli_store::PageRequest::first(1),
    )
    .await
    .unwrap()
    .items[0]
        .id;
    let households = places::list_households_in_building(
        &mut ex,
        community,
        household.into(),
        linli_store::PageRequest::first(1),
    )
    .await
    .unwrap();
    let household = households.items[0].id;
    residents::insert_residents(
        &mut ex,
        community,
        &[NewResident {
            id,
            name: "王秀兰".into(),
            gender: Some("female"),
            birth_date: Some(number.birth_date()),
            document_kind: Some("id_card"),
            document: Some(pii::seal_document(&key, id, &Document::IdCard(number))),
            phone: Some(pii::seal_phone(
                &key,
                id,
                &Phone::parse("13700001111").unwrap(),
            )),
            household_id: Some(household.into()),
            building_id: None,
            grid_id: Some(grid),
            party_status: None,
            party_organisation: None,
            skills: vec![],
            tags: vec![],
            account_id: Some(account),
        }],
        Utc::now(),
    )
    .await
    .unwrap();
    places::insert_members(
        &mut ex,
        community,
        &[places::NewMember {
            household_id: household.into(),
            resident_id: id,
            relation: "family",
            moved_in: Utc::now().date_naive(),
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn redrawing_a_grid_moves_the_building_and_its_residents_and_keeps_history() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let (community, building) = (world.a.id, world.a.buildings[0]);
        let later = Utc::now() + chrono::Duration::seconds(1);
        let mut tx = t.db.begin().await.unwrap();
        places::reassign_building(&mut tx.exec(), community, building, world.a.grids[1], later)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut conn = t.db.acquire().await.unwrap();
        let mut ex = conn.exec();
        let history = places::grid_history(&mut ex, community, building)
            .await
            .unwrap();
        assert_eq!(history.len(), 2, "{}", t.engine);
        assert_eq!(history[0].grid_id, world.a.grids[0].0);
        assert!(history[0].valid_to.is_some() && history[1].valid_to.is_none());
        assert_eq!(history[1].grid_id, world.a.grids[1].0);
        let moved = residents::find_resident(&mut ex, world.a.residents[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(moved.grid_id, Some(world.a.grids[1].0));
    }
}

#[tokio::test]
async fn the_demo_directory_and_service_circle_are_there() {
    let t = TestDb::sqlite().await;
    linli::demo::generate(&t.db, &test_key(), 1).await.unwrap();
    let community = {
        let mut conn = t.db.acquire().await.unwrap();
        linli_store::tenancy::community_by_code(&mut conn.exec(), "xinhe")
            .await
            .unwrap()
            .unwrap()
            .community_id
    };
    let app = TestApp::spawn(&t.db).await;
    // The service circle is public: one centre, three stations, four grid posts.
    let points: Value = app
        .client
        .get(app.url(&format!("/api/v1/communities/{community}/service-points")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = points["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "centre",
            "station",
            "station",
            "station",
            "grid_post",
            "grid_post",
            "grid_post",
            "grid_post"
        ],
        "centre, then stations, then grid posts"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "centre").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "station").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "grid_post").count(), 4);
    assert!(points["items"][0]["services"].as_array().unwrap().len() >= 8);

    let resident = sign_in_demo(&app, &t.db, "demo-resident").await;
    let staff = app
        .get_json(&format!("/api/v1/communities/{community}/staff"), &resident)
        .await;
    assert_eq!(staff["total"], 12);
    let liu = staff["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "刘芳")
        .expect("the demo grid worker has a staff record");
    assert_eq!(liu["operational_role"], "grid_worker");
    assert_eq!(liu["grids"][0]["is_leader"], true);
    let groups = app
        .get_json(
            &format!("/api/v1/communities/{community}/grid-groups"),
            &resident,
        )
        .await;
    assert_eq!(groups["total"], 4);
    let group = app
        .get_json(
            &format!(
                "/api/v1/grid-groups/{}",
                groups["items"][0]["id"].as_str().unwrap()
            ),
            &resident,
        )
        .await;
    let member_kinds: std::collections::BTreeSet<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        member_kinds.into_iter().collect::<Vec<_>>(),
        ["organisation", "resident", "staff"]
    );
    let orgs = app
        .get_json(
            &format!("/api/v1/communities/{community}/organisations?kind=merchant"),
            &resident,
        )
        .await;
    assert_eq!(orgs["total"], 8);
    assert_eq!(
        app.get_json(
            &format!("/api/v1/communities/{community}/duties"),
            &resident
        )
        .await["total"],
        8
    );

    // Staff register an organisation; a bad or repeated credit code is refused.
    let admin = sign_in_demo(&app, &t.db, "demo-staff").await;
    let path = format!("/api/v1/communities/{community}/organisations");
    let code = linli_domain::registry::Uscc::complete("91440300MA5DC6QX1").unwrap();
    let body = json!({ "kind": "商户", "name": "新开的面馆", "uscc": code.as_str() });
    assert_eq!(app.post_json(&path, &admin, &body).await.status(), 201);
    let (status, problem_body) = problem(app.post_json(&path, &admin, &body).await).await;
    assert_eq!(
        (status, problem_body["code"].as_str()),
        (409, Some("duplicate_organisation"))
    );
    let mut wrong = code.as_str().to_owned();
    wrong.replace_range(17.., if wrong.ends_with('0') { "1" } else { "0" });
    let (status, problem_body) = problem(
        app.post_json(
            &path,
            &admin,
            &json!({ "kind": "merchant", "name": "面馆", "uscc": wrong }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, problem_body["code"].as_str()),
        (422, Some("uscc_checksum"))
    );
}

#[tokio::test]
async fn sensitive_tags_need_consent_and_a_reason_and_go_with_the_consent() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let resident = world.a.residents[0];
        let tags = format!("/api/v1/residents/{resident}/sensitive-tags");
        let record = json!({ "tag": "独居老人", "consent_method": "written" });
        assert_eq!(
            app.post_json(&tags, &staff, &record).await.status(),
            204,
            "{}",
            t.engine
        );
        let (status, body) = problem(app.post_json(&tags, &staff, &record).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("tag_already_recorded"))
        );
        let (status, body) = problem(
            app.post_json(
                &tags,
                &staff,
                &json!({ "tag": "富人", "consent_method": "written" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("unknown_value"))
        );

        // Reading needs a reason, and the reason is kept.
        let read = format!("{tags}/read");
        let (status, body) =
            problem(app.post_json(&read, &staff, &json!({ "reason": "" })).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("reason_required"))
        );
        let seen = app
            .post_json(&read, &staff, &json!({ "reason": "冬季走访独居老人" }))
            .await
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(seen["items"][0]["tag"], "elderly_living_alone");
        let worker = app.token(world.username(Role::GridWorker)).await;
        let response = app
            .post_json(&read, &worker, &json!({ "reason": "网格走访" }))
            .await;
        assert_eq!(response.status(), 200, "the grid worker of this grid may");
        let district = app.token(world.username(Role::DistrictAdmin)).await;
        let response = app
            .post_json(&read, &district, &json!({ "reason": "统计" }))
            .await;
        assert_eq!(
            response.status(),
            404,
            "the district does not see who is tagged"
        );
        let log = audit_actions(&app, &world, world.a.id).await;
        let recorded = log
            .iter()
            .find(|e| e["action"] == "sensitive_data_recorded")
            .unwrap();
        assert!(
            !recorded["detail"].to_string().contains("elderly"),
            "the log says a tag was recorded, not which"
        );
        assert!(log.iter().any(|e| e["action"] == "sensitive_data_read"
            && e["detail"].to_string().contains("冬季走访独居老人")));

        // The district reads the registry but does not learn that a special-group consent exists.
        let seen_by_district = app
            .get_json(&format!("/api/v1/residents/{resident}/consents"), &district)
            .await;
        assert!(
            !seen_by_district.to_string().contains("special_group_care"),
            "{seen_by_district}"
        );
        // A special group cannot be slipped in as an ordinary tag.
        let (status, body) = problem(
            app.post_json(
                &format!("/api/v1/communities/{}/residents", world.a.id),
                &staff,
                &json!({ "name": "某某", "tags": ["低保户"] }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("sensitive_tag_in_tags"))
        );

        // Withdrawing the consent deletes what was recorded under it.
        let consents = app
            .get_json(&format!("/api/v1/residents/{resident}/consents"), &staff)
            .await;
        let consent = consents["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["purpose"] == "special_group_care")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let withdraw = format!("/api/v1/residents/{resident}/consents/{consent}/withdraw");
        assert_eq!(
            app.post_json(&withdraw, &staff, &json!({})).await.status(),
            204
        );
        let (status, body) = problem(app.post_json(&withdraw, &staff, &json!({})).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("consent_already_withdrawn"))
        );
        let seen = app
            .post_json(&read, &staff, &json!({ "reason": "复核撤回结果" }))
            .await
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(seen["total"], 0);
    }
}

#[tokio::test]
async fn a_child_is_registered_through_a_guardian_who_consents() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let worker = app.token(world.username(Role::GridWorker)).await;
        let guardian = world.a.residents[0];
        let path = format!("/api/v1/residents/{guardian}/children");
        let child = json!({ "name": "张小宝", "birth_date": "2019-06-01", "gender": "男",
                            "guardian_relation": "父亲", "consent_method": "written" });
        let created = app.post_json(&path, &worker, &child).await;
        assert_eq!(created.status(), 201, "{}", t.engine);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["grid_id"], world.a.grids[0].to_string());
        let child_id = created["id"].as_str().unwrap().to_owned();
        let consents = app
            .get_json(&format!("/api/v1/residents/{child_id}/consents"), &worker)
            .await;
        assert_eq!(consents["items"][0]["purpose"], "minor_registration");
        assert_eq!(
            consents["items"][0]["given_by_resident_id"],
            guardian.to_string()
        );

        let teen = json!({ "name": "张大宝", "birth_date": "2008-01-01", "gender": "男",
                           "guardian_relation": "父亲", "consent_method": "written" });
        let (status, body) = problem(app.post_json(&path, &worker, &teen).await).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("not_a_child")));
        // Another grid's guardian is out of this worker's reach.
        let other = format!("/api/v1/residents/{}/children", world.a.residents[1]);
        assert_eq!(app.post_json(&other, &worker, &child).await.status(), 404);

        // A child's sensitive data is recorded only with their guardian's consent.
        let tags = format!("/api/v1/residents/{child_id}/sensitive-tags");
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let tag = |guardian: Option<String>| json!({ "tag": "留守儿童", "consent_method": "paper", "guardian_id": guardian });
        let (status, body) = problem(app.post_json(&tags, &staff, &tag(None)).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("guardian_consent_required"))
        );
        let stranger = world.a.residents[1].to_string();
        let (status, body) =
            problem(app.post_json(&tags, &staff, &tag(Some(stranger))).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("not_the_guardian"))
        );
        assert_eq!(
            app.post_json(&tags, &staff, &tag(Some(guardian.to_string())))
                .await
                .status(),
            204
        );
    }
}

#[tokio::test]
async fn a_grid_outline_is_checked_geojson() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let admin = app.token(world.username(Role::CommunityAdmin)).await;
    let path = format!("/api/v1/grids/{}/boundary", world.a.grids[0]);
    let put = |token: String, body: Value| {
        let app = &app;
        let path = path.clone();
        async move {
            app.client
                .put(app.url(&path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let square = json!({ "type": "Polygon", "coordinates": [[[114.35, 22.69], [114.36, 22.69], [114.36, 22.70], [114.35, 22.69]]] });
    let saved: Value = put(admin.clone(), square.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(saved["boundary"], square);
    let (status, body) = problem(
        put(
            admin.clone(),
            json!({ "type": "Polygon", "coordinates": [[[114.35, 22.69]]] }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("boundary_format"))
    );
    let worker = app.token(world.username(Role::GridWorker)).await;
    assert_eq!(put(worker, square).await.status(), 404);
    let grid = app
        .get_json(&format!("/api/v1/grids/{}", world.a.grids[0]), &admin)
        .await;
    assert_eq!(grid["boundary"]["type"], "Polygon");
}
