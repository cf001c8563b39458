//! Matters on both engines: a report followed to its rating, every refused step changing
//! nothing, triage rules, the calendar API, search and filters, escalation by the sweep,
//! and the job queue's claims.

use chrono::{Duration, Utc};
use linli_domain::auth::Role;
use linli_domain::{AccountId, CommunityId, StaffId};
use linli_store::jobs::{self, NewJob};
use linli_store::registry::{self, staff};
use linli_web::matters::sweep;
use linli_web::{AppState, Settings};
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, World, add_account, grant, problem, seed_world, test_key};

/// The id of a category by code.
async fn category(app: &TestApp, token: &str, community: CommunityId, code: &str) -> String {
    let list = app
        .get_json(
            &format!("/api/v1/communities/{community}/matter-categories"),
            token,
        )
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("category {code}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Gives the seeded grid worker a staff record, so matters can be dispatched to them.
async fn staff_record(db: &linli_store::Db, community: CommunityId, account: AccountId) -> StaffId {
    let id = StaffId::new();
    let mut conn = db.acquire().await.unwrap();
    staff::insert_staff(
        &mut conn.exec(),
        community,
        &staff::NewStaff {
            id,
            name: "刘芳".into(),
            origin_role: "grid_worker",
            work_phone: None,
            account_id: Some(account),
        },
        Utc::now(),
    )
    .await
    .unwrap();
    id
}

async fn report(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post_json("/api/v1/matters", token, &body).await;
    let status = response.status();
    let value: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{value}");
    value
}

/// Takes a step with `If-Match`, expecting success; returns the matter detail.
async fn step(app: &TestApp, token: &str, id: &str, version: i64, body: Value) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/matters/{id}/steps")))
        .bearer_auth(token)
        .header("if-match", format!("\"{version}\""))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body} → {value}");
    value
}

async fn step_problem(
    app: &TestApp,
    token: &str,
    id: &str,
    version: Option<i64>,
    body: Value,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/matters/{id}/steps")))
        .bearer_auth(token)
        .json(&body);
    if let Some(v) = version {
        request = request.header("if-match", v.to_string());
    }
    problem(request.send().await.unwrap()).await
}

fn version(detail: &Value) -> i64 {
    detail["matter"]["version"].as_i64().unwrap()
}

async fn inbox_kinds(app: &TestApp, token: &str) -> Vec<String> {
    let inbox = app.get_json("/api/v1/me/notifications", token).await;
    inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

struct Cast {
    resident: String,
    worker: String,
    staff: String,
    worker_staff: StaffId,
}

async fn cast(app: &TestApp, world: &World) -> Cast {
    let worker_staff = staff_record(&app.db, world.a.id, world.account_id(Role::GridWorker)).await;
    Cast {
        resident: app.token(world.username(Role::Resident)).await,
        worker: app.token(world.username(Role::GridWorker)).await,
        staff: app.token(world.username(Role::CommunityStaff)).await,
        worker_staff,
    }
}

#[tokio::test]
async fn a_matter_runs_from_a_residents_report_to_their_rating() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let rubbish = category(&app, &c.resident, world.a.id, "03-01").await;

        let created = report(
            &app,
            &c.resident,
            json!({
                "category_id": rubbish,
                "description": "1栋楼下垃圾桶满了，两天没人清运，味道很大。",
                "location": { "kind": "building", "building_id": world.a.buildings[0] },
                "proposed_class": "minor"
            }),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["status"], "reported", "{}", t.engine);
        assert_eq!(created["grid_id"], json!(world.a.grids[0]));
        assert_eq!(created["version"], 1);
        assert!(created["number"].as_str().unwrap().len() == 15);

        // The grid worker finds it in their grid's queue, accepts and classes it.
        let queue = app
            .get_json(
                &format!("/api/v1/communities/{}/matters?status=reported", world.a.id),
                &c.worker,
            )
            .await;
        assert_eq!(queue["items"][0]["id"], id.as_str());
        let d = step(&app, &c.worker, &id, 1, json!({ "step": "accept" })).await;
        let d = step(
            &app,
            &c.worker,
            &id,
            version(&d),
            json!({ "step": "triage", "class": "minor" }),
        )
        .await;
        assert_eq!(d["matter"]["class"], "minor");

        // Staff register and dispatch to the grid worker: the clock starts.
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "register" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "dispatch", "target": { "kind": "grid_worker", "id": c.worker_staff } }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "dispatched");
        assert!(d["matter"]["due_at"].is_string());
        assert!(
            inbox_kinds(&app, &c.worker)
                .await
                .contains(&"matter_dispatched".to_owned())
        );

        let d = step(&app, &c.worker, &id, version(&d), json!({ "step": "sign" })).await;
        let d = step(
            &app,
            &c.worker,
            &id,
            version(&d),
            json!({ "step": "feedback", "comment": "已联系物业清运，现场已清理干净。" }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "pending_verification");
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "verify", "passed": true }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "resolved");

        // The resident sees their progress and rates the result, which closes it.
        let mine = app.get_json("/api/v1/me/matters", &c.resident).await;
        assert_eq!(mine["items"][0]["status"], "resolved");
        let seen = app
            .get_json(&format!("/api/v1/matters/{id}"), &c.resident)
            .await;
        assert_eq!(seen["available_steps"], json!(["rate", "comment"]));
        assert!(seen["matter"].get("reporter_resident_id").is_none());
        let d = step(
            &app,
            &c.resident,
            &id,
            version(&seen),
            json!({ "step": "rate", "rating": 5, "comment": "很快，谢谢" }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "closed");
        assert_eq!(d["matter"]["rating"], 5);
        assert!(d["matter"]["closed_at"].is_string());
        let steps: Vec<&str> = d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["step"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "report", "accept", "triage", "register", "dispatch", "sign", "feedback", "verify",
                "rate"
            ]
        );
        assert!(
            inbox_kinds(&app, &c.resident)
                .await
                .contains(&"matter_progress".to_owned())
        );
        assert!(
            inbox_kinds(&app, &c.staff)
                .await
                .contains(&"matter_needs_decision".to_owned())
        );
    }
}

#[tokio::test]
async fn refused_steps_answer_clearly_and_change_nothing() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let lamp = category(&app, &c.resident, world.a.id, "04-01").await;
        let created = report(
            &app,
            &c.resident,
            json!({ "category_id": lamp, "description": "小区东门路灯不亮已经一周。",
                    "location": { "kind": "place", "place": "东门" } }),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();

        // A step the state does not allow: 409 naming the current state.
        let (status, body) =
            step_problem(&app, &c.staff, &id, Some(1), json!({ "step": "sign" })).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("illegal_transition")),
            "{}",
            t.engine
        );
        assert_eq!(body["current_status"], "reported");
        // Without If-Match, 428; with a stale one, 412.
        let (status, _) =
            step_problem(&app, &c.staff, &id, None, json!({ "step": "accept" })).await;
        assert_eq!(status, 428);
        let (status, body) =
            step_problem(&app, &c.staff, &id, Some(7), json!({ "step": "accept" })).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (412, Some("stale_version"))
        );
        // The reporter may not accept their own report.
        let (status, _) =
            step_problem(&app, &c.resident, &id, Some(1), json!({ "step": "accept" })).await;
        assert_eq!(status, 403);
        // Another resident, and another grid's worker, see nothing.
        let other = add_account(&t.db, "neighbour", Some(world.a.id)).await;
        grant(&t.db, world.a.id, other, Role::Resident, &[]).await;
        let neighbour = app.token("neighbour").await;
        let (status, _) = step_problem(
            &app,
            &neighbour,
            &id,
            Some(1),
            json!({ "step": "comment", "text": "我也看到了" }),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(
            app.get(&format!("/api/v1/matters/{id}"), &neighbour)
                .await
                .status(),
            404
        );
        // Unknown fields and bad values are named.
        let (status, body) = step_problem(
            &app,
            &c.staff,
            &id,
            Some(1),
            json!({ "step": "triage", "class": "huge" }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("unknown_value"))
        );
        let (status, body) = step_problem(
            &app,
            &c.staff,
            &id,
            Some(1),
            json!({ "step": "accept", "why": 1 }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("unknown_field"))
        );
        // A duplicate must name its original.
        let (status, body) = step_problem(
            &app,
            &c.staff,
            &id,
            Some(1),
            json!({ "step": "reject", "reason": "duplicate" }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("duplicate_needs_original"))
        );
        // Nothing above changed the matter.
        let seen = app
            .get_json(&format!("/api/v1/matters/{id}"), &c.staff)
            .await;
        assert_eq!(
            (
                seen["matter"]["version"].as_i64(),
                seen["matter"]["status"].as_str()
            ),
            (Some(1), Some("reported"))
        );
        assert_eq!(seen["timeline"].as_array().unwrap().len(), 1);

        // A major matter goes to the office or the subdistrict, not a grid worker.
        let d = step(&app, &c.staff, &id, 1, json!({ "step": "accept" })).await;
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "triage", "class": "major" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "register" }),
        )
        .await;
        let (status, body) = step_problem(
            &app, &c.staff, &id, Some(version(&d)),
            json!({ "step": "dispatch", "target": { "kind": "grid_worker", "id": c.worker_staff } }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("major_needs_community_handler"))
        );
        // Reclassifying needs a reason, and is audited.
        let (status, body) = step_problem(
            &app,
            &c.staff,
            &id,
            Some(version(&d)),
            json!({ "step": "reclassify", "class": "minor", "reason": "" }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("step_reason_required"))
        );
        let d = step(&app, &c.staff, &id, version(&d), json!({ "step": "reclassify", "class": "minor", "reason": "只涉及本小区路灯，物业可修" })).await;
        assert_eq!(
            (
                d["matter"]["status"].as_str(),
                d["matter"]["class"].as_str()
            ),
            (Some("triaged"), Some("minor"))
        );
        let auditor = app.token(world.username(Role::Auditor)).await;
        let log = app
            .get_json(
                &format!("/api/v1/communities/{}/audit", world.a.id),
                &auditor,
            )
            .await;
        assert!(
            log["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "matter_reclassified")
        );

        // Whoever reports a fix cannot verify it.
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "register" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "dispatch", "target": { "kind": "office" } }),
        )
        .await;
        let d = step(&app, &c.staff, &id, version(&d), json!({ "step": "sign" })).await;
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "feedback", "comment": "已更换灯泡" }),
        )
        .await;
        let (status, body) = step_problem(
            &app,
            &c.staff,
            &id,
            Some(version(&d)),
            json!({ "step": "verify", "passed": true }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("self_verification"))
        );
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        step(
            &app,
            &admin,
            &id,
            version(&d),
            json!({ "step": "verify", "passed": true }),
        )
        .await;

        // Reports with a category of another community, or a point outside, are refused.
        let foreign = {
            let admin_b = add_account(&t.db, "admin-b", Some(world.b.id)).await;
            grant(&t.db, world.b.id, admin_b, Role::CommunityAdmin, &[]).await;
            let token = app.token("admin-b").await;
            category(&app, &token, world.b.id, "04-01").await
        };
        let (status, body) = problem(
            app.post_json(
                "/api/v1/matters",
                &c.resident,
                &json!({ "category_id": foreign, "description": "路灯坏了好几天" }),
            )
            .await,
        )
        .await;
        assert_eq!((status, body["field"].as_str()), (422, Some("category_id")));
        {
            let mut conn = t.db.acquire().await.unwrap();
            let square = r#"{"type":"Polygon","coordinates":[[[114.34,22.69],[114.36,22.69],[114.36,22.71],[114.34,22.71],[114.34,22.69]]]}"#;
            registry::set_boundary(&mut conn.exec(), world.a.id, world.a.grids[1], Some(square))
                .await
                .unwrap();
        }
        let at = |lat: f64, lon: f64| {
            json!({ "category_id": lamp, "description": "这里的路灯不亮了",
            "location": { "kind": "point", "latitude": lat, "longitude": lon } })
        };
        let (status, body) = problem(
            app.post_json("/api/v1/matters", &c.resident, &at(22.8, 114.35))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("outside_community"))
        );
        let inside = report(&app, &c.resident, at(22.70, 114.35)).await;
        assert_eq!(inside["grid_id"], json!(world.a.grids[1]));
        // The grid worker of the other grid cannot see it.
        let id2 = inside["id"].as_str().unwrap();
        assert_eq!(
            app.get(&format!("/api/v1/matters/{id2}"), &c.worker)
                .await
                .status(),
            404
        );
        let (status, body) = problem(
            app.post_json(
                "/api/v1/matters",
                &c.resident,
                &json!({ "category_id": lamp, "description": "短" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("description_length"))
        );
    }
}

#[tokio::test]
async fn private_matters_end_as_referrals_and_still_get_rated() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let leak = category(&app, &c.resident, world.a.id, "05-04").await;
        let proposal: Value = app
            .post_json(
                &format!("/api/v1/communities/{}/triage-proposals", world.a.id),
                &c.resident,
                &json!({ "category_id": leak, "answers": { "dispute": true } }),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            proposal,
            json!({ "class": "private", "rule": "one_household", "suggest_mediation": true }),
            "{}",
            t.engine
        );
        let created = report(
            &app,
            &c.resident,
            json!({ "category_id": leak, "description": "楼上卫生间漏水到我家天花板，协商不成。",
            "location": { "kind": "building", "building_id": world.a.buildings[0] } }),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let d = step(&app, &c.worker, &id, 1, json!({ "step": "accept" })).await;
        let d = step(
            &app,
            &c.worker,
            &id,
            version(&d),
            json!({ "step": "triage", "class": "private" }),
        )
        .await;
        let (status, body) = step_problem(
            &app,
            &c.staff,
            &id,
            Some(version(&d)),
            json!({ "step": "register" }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("private_is_referred"))
        );
        let d = step(&app, &c.worker, &id, version(&d), json!({ "step": "refer", "kind": "mediation", "guidance": "请到和合坊预约调解，周二、周四下午" })).await;
        assert_eq!(
            (
                d["matter"]["status"].as_str(),
                d["matter"]["referral_kind"].as_str()
            ),
            (Some("referred"), Some("mediation"))
        );
        let d = step(
            &app,
            &c.resident,
            &id,
            version(&d),
            json!({ "step": "rate", "rating": 4 }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "closed");
    }
}

#[tokio::test]
async fn lists_filter_search_and_page_stably() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let lift = category(&app, &c.resident, world.a.id, "05-01").await;
        let noise = category(&app, &c.resident, world.a.id, "03-03").await;
        let texts = [
            (lift.as_str(), "2栋电梯故障，老人下楼困难，LED屏黑了"),
            (noise.as_str(), "晚上广场舞音响声音太大"),
            (lift.as_str(), "电梯按钮失灵，经常停在3楼"),
            (noise.as_str(), "装修电钻噪音，周末早上七点就开始"),
        ];
        for (category_id, description) in texts {
            report(
                &app,
                &c.resident,
                json!({ "category_id": category_id, "description": description,
                "location": { "kind": "building", "building_id": world.a.buildings[0] } }),
            )
            .await;
        }
        let base = format!("/api/v1/communities/{}/matters", world.a.id);
        let found = app
            .get_json(&format!("{base}?q=%E7%94%B5%E6%A2%AF"), &c.staff)
            .await; // 电梯
        assert_eq!(found["total"], 2, "{} {found}", t.engine);
        let found = app
            .get_json(&format!("{base}?q=%E5%99%AA%E9%9F%B3"), &c.staff)
            .await; // 噪音
        assert_eq!(found["total"], 1);
        // Latin words and numbers are found whole, whatever their case.
        for (q, matches) in [("led", 1), ("LED", 1), ("le", 0), ("3%E6%A5%BC", 1)] {
            let found = app.get_json(&format!("{base}?q={q}"), &c.staff).await;
            assert_eq!(found["total"], matches, "{} q={q}", t.engine);
        }
        let parent = {
            let list = app
                .get_json(
                    &format!("/api/v1/communities/{}/matter-categories", world.a.id),
                    &c.staff,
                )
                .await;
            list.as_array()
                .unwrap()
                .iter()
                .find(|x| x["code"] == "05")
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let by_parent = app
            .get_json(&format!("{base}?category={parent}"), &c.staff)
            .await;
        assert_eq!(by_parent["total"], 2);
        let first = app.get_json(&format!("{base}?limit=4"), &c.staff).await;
        assert_eq!(
            (
                first["total"].as_u64(),
                first["items"].as_array().unwrap().len()
            ),
            (Some(6), 4)
        );
        let next = first["next"].as_str().unwrap();
        let rest = app
            .get_json(&format!("{base}?limit=4&cursor={next}"), &c.staff)
            .await;
        let mut all: Vec<String> = first["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest["items"].as_array().unwrap())
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(all.len(), 6, "four reports and the two seeded matters");
        assert!(rest["next"].is_null());
        let sorted = {
            let mut s = all.clone();
            s.sort();
            s.reverse();
            s
        };
        assert_eq!(all, sorted, "newest first");
        all.dedup();
        assert_eq!(all.len(), 6);
        assert_eq!(
            app.get_json(&format!("{base}?status=closed"), &c.staff)
                .await["total"],
            0
        );
        let (status, body) = problem(app.get(&format!("{base}?status=done"), &c.staff).await).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("status")));
        let (status, _) = problem(app.get(&format!("{base}?q=%EF%BC%8C"), &c.staff).await).await;
        assert_eq!(status, 422, "a search of punctuation only");
        // Residents do not list the community's matters.
        let (status, _) = problem(app.get(&base, &c.resident).await).await;
        assert_eq!(status, 403);
        let counts = app
            .get_json(
                &format!("/api/v1/communities/{}/matter-counts", world.a.id),
                &c.worker,
            )
            .await;
        let reported: i64 = counts
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "reported")
            .map(|r| r["count"].as_i64().unwrap())
            .sum();
        assert_eq!(
            reported, 5,
            "the grid worker counts their grid: four reports, one seeded"
        );
    }
}

/// Any run of two or more characters is found, in any script, on both engines: the
/// store's terms are the index's lexemes as they are (PostgreSQL migration 0014).
#[tokio::test]
async fn search_finds_any_part_of_a_text_in_any_script() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let noise = category(&app, &c.resident, world.a.id, "03-03").await;
        let texts = [
            "Wi-Fi密码忘了，物业说找O'Brien",
            "Café门口的ＬＥＤ灯不亮",
            "ภาษาไทย 住户反映噪音",
            "１２３号楼楼道灯坏了 C:\\temp",
        ];
        let mut ids = Vec::new();
        for text in texts {
            let created = report(
                &app,
                &c.resident,
                json!({ "category_id": noise, "description": text,
                "location": { "kind": "building", "building_id": world.a.buildings[0] } }),
            )
            .await;
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
        let base = format!("/api/v1/communities/{}/matters", world.a.id);
        for (q, expected) in [
            ("wi-fi", vec![0]),
            ("WI", vec![0]),
            ("o'brien", vec![0]),
            ("café", vec![1]),
            ("ＬＥＤ", vec![1]),
            ("ｌｅｄ灯", vec![1]),
            ("ษาไ", vec![2]),
            ("噪音", vec![2]),
            ("１２３号", vec![3]),
            ("c:\\temp", vec![3]),
            ("灯", vec![1, 3]),
            ("楼道灯坏", vec![3]),
            ("灯坏了吗", vec![]),
        ] {
            let url = url::Url::parse_with_params(&app.url(&base), [("q", q)]).unwrap();
            let found = app
                .get_json(&url[url::Position::BeforePath..], &c.staff)
                .await;
            let mut got: Vec<usize> = found["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| ids.iter().position(|id| m["id"] == id.as_str()))
                .collect();
            got.sort_unstable();
            assert_eq!(got, expected, "{} q={q}: {found}", t.engine);
        }
    }
}

/// List answers are shared between callers (`cache::AnswerCache`); none may outlive a
/// write through this server, nor a caller's reach.
#[tokio::test]
async fn a_kept_list_answer_never_hides_a_write_or_crosses_grids() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let base = format!("/api/v1/communities/{}/matters", world.a.id);
        let ids = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let reported = format!("{base}?status=reported");
        let before = app.get_json(&reported, &c.staff).await;
        assert_eq!(
            app.get_json(&reported, &c.staff).await,
            before,
            "{}",
            t.engine
        );

        // A report through this server is listed at once.
        let rubbish = category(&app, &c.resident, world.a.id, "03-01").await;
        let created = report(
            &app,
            &c.resident,
            json!({ "category_id": rubbish, "description": "楼道里堆满了纸箱",
            "location": { "kind": "building", "building_id": world.a.buildings[0] } }),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let after = app.get_json(&reported, &c.staff).await;
        assert_eq!(ids(&after)[0], id, "{}", t.engine);
        assert_eq!(after["total"], before["total"].as_u64().unwrap() + 1);

        // So is a step: the matter leaves one status's list and joins the next.
        step(&app, &c.staff, &id, 1, json!({ "step": "accept" })).await;
        assert!(!ids(&app.get_json(&reported, &c.staff).await).contains(&id));
        let accepted = app
            .get_json(&format!("{base}?status=accepted"), &c.staff)
            .await;
        assert_eq!(ids(&accepted), vec![id.clone()]);

        // The same question from a grid worker gets their grids' answer, not the staff's.
        let everything = app.get_json(&base, &c.staff).await;
        let theirs = app.get_json(&base, &c.worker).await;
        assert!(
            theirs["total"].as_u64() < everything["total"].as_u64(),
            "{theirs} {everything}"
        );

        // A step taken through another server is listed within the lifetime of a kept
        // answer.
        let accepted_query = format!("{base}?status=accepted&limit=5");
        assert_eq!(
            ids(&app.get_json(&accepted_query, &c.staff).await),
            vec![id.clone()]
        );
        let other_server = TestApp::spawn(&t.db).await;
        let staff_there = other_server
            .token(world.username(Role::CommunityStaff))
            .await;
        let detail = step(
            &other_server,
            &staff_there,
            &id,
            2,
            json!({ "step": "triage", "class": "minor" }),
        )
        .await;
        tokio::time::sleep(
            Settings::default().session_cache + std::time::Duration::from_millis(50),
        )
        .await;
        assert!(
            ids(&app.get_json(&accepted_query, &c.staff).await).is_empty(),
            "{}",
            t.engine
        );

        // The supervision sweep writes too: a card it gives is listed at once.
        let mut v = version(&detail);
        for body in [
            json!({ "step": "register" }),
            json!({ "step": "dispatch", "target": { "kind": "grid_worker", "id": c.worker_staff } }),
        ] {
            v = version(&step(&app, &c.staff, &id, v, body).await);
        }
        let red = format!("{base}?supervise=red");
        assert_eq!(app.get_json(&red, &c.staff).await["total"], 0);
        let red_at = {
            let mut conn = t.db.acquire().await.unwrap();
            linli_store::matters::find_matter(&mut conn.exec(), id.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
                .red_at
                .unwrap()
        };
        let run = sweep::run(&app.state, red_at + Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(run.escalated, 1);
        assert_eq!(
            ids(&app.get_json(&red, &c.staff).await),
            vec![id.clone()],
            "{}",
            t.engine
        );
    }
}

#[tokio::test]
async fn the_calendar_is_kept_by_community_admins() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let path = format!("/api/v1/communities/{}/calendar", world.a.id);
        let put = |token: &str, day: &str, body: Value| {
            app.client
                .put(app.url(&format!("{path}/{day}")))
                .bearer_auth(token.to_owned())
                .json(&body)
                .send()
        };
        assert_eq!(
            put(
                &admin,
                "2026-10-01",
                json!({ "kind": "holiday", "note": "国庆节" })
            )
            .await
            .unwrap()
            .status(),
            200,
            "{}",
            t.engine
        );
        assert_eq!(
            put(
                &admin,
                "2026-10-10",
                json!({ "kind": "workday", "note": "调休上班" })
            )
            .await
            .unwrap()
            .status(),
            200
        );
        let (status, _) = problem(
            put(&staff, "2026-10-02", json!({ "kind": "holiday" }))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 403);
        let (status, body) = problem(
            put(&admin, "2026-10-02", json!({ "kind": "vacation" }))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, body["field"].as_str()), (422, Some("kind")));
        let (status, _) = problem(
            put(&admin, "2026-13-02", json!({ "kind": "holiday" }))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400);
        let view = app.get_json(&path, &staff).await;
        assert_eq!(view["working_hours"], "09:00-12:00,14:00-18:00");
        assert_eq!(
            view["days"],
            json!([
                { "day": "2026-10-01", "kind": "holiday", "note": "国庆节" },
                { "day": "2026-10-10", "kind": "workday", "note": "调休上班" }
            ])
        );
        let set = |body: Value| {
            app.client
                .put(app.url(&path))
                .bearer_auth(admin.clone())
                .json(&body)
                .send()
        };
        let (status, body) = problem(set(json!({ "working_hours": "14:00-12:00", "yellow_after_days": 1, "red_after_days": 5 })).await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("working_hours_format"))
        );
        let (status, body) = problem(set(json!({ "working_hours": "08:30-17:30", "yellow_after_days": 3, "red_after_days": 2 })).await.unwrap()).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("ladder_order")));
        assert_eq!(set(json!({ "working_hours": "08:30-12:00,13:30-17:30", "yellow_after_days": 2, "red_after_days": 4 })).await.unwrap().status(), 200);
        let view = app.get_json(&path, &staff).await;
        assert_eq!(
            (
                view["working_hours"].as_str(),
                view["red_after_days"].as_i64()
            ),
            (Some("08:30-12:00,13:30-17:30"), Some(4))
        );
        let deleted = app
            .client
            .delete(app.url(&format!("{path}/2026-10-10")))
            .bearer_auth(admin.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
        assert_eq!(
            app.get_json(&path, &staff).await["days"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn overdue_matters_climb_the_ladder_once_whatever_the_sweeps() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let rubbish = category(&app, &c.resident, world.a.id, "03-01").await;
        let created = report(
            &app,
            &c.resident,
            json!({ "category_id": rubbish, "description": "垃圾堆在路边没人管",
            "location": { "kind": "building", "building_id": world.a.buildings[0] } }),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let mut v = 1;
        for body in [
            json!({ "step": "accept" }),
            json!({ "step": "triage", "class": "minor" }),
            json!({ "step": "register" }),
            json!({ "step": "dispatch", "target": { "kind": "grid_worker", "id": c.worker_staff } }),
        ] {
            v = version(&step(&app, &c.staff, &id, v, body).await);
        }
        let matter = {
            let mut conn = t.db.acquire().await.unwrap();
            linli_store::matters::find_matter(&mut conn.exec(), id.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
        };
        let (remind, due, yellow, red) = (
            matter.remind_at.unwrap(),
            matter.due_at.unwrap(),
            matter.yellow_at.unwrap(),
            matter.red_at.unwrap(),
        );
        assert!(
            remind < due && due < yellow && yellow < red,
            "{remind} {due} {yellow} {red}"
        );
        let state = AppState::new(t.db.clone(), test_key(), Settings::default());

        let before = sweep::run(&state, remind - Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(before, sweep::SweepReport::default(), "{}", t.engine);
        let r = sweep::run(&state, remind).await.unwrap();
        assert_eq!((r.reminded, r.escalated), (1, 0));
        assert!(
            inbox_kinds(&app, &c.worker)
                .await
                .contains(&"matter_reminder".to_owned())
        );
        let r = sweep::run(&state, due + Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!((r.reminded, r.escalated), (0, 1));
        // Several servers sweeping at the red-card time: the matter climbs once.
        let at = red + Duration::minutes(1);
        let runs = futures_join(&state, at).await;
        assert_eq!(runs.iter().map(|r| r.escalated).sum::<u64>(), 1, "{runs:?}");
        let detail = app
            .get_json(&format!("/api/v1/matters/{id}"), &c.staff)
            .await;
        assert_eq!(detail["matter"]["supervise_level"], "red");
        let escalations: Vec<&Value> = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["step"] == "escalate")
            .collect();
        assert_eq!(escalations.len(), 2, "normal, then straight to red");
        assert_eq!(escalations[1]["detail"]["to_level"], "red");
        assert_eq!(escalations[1]["automatic"], true);
        assert!(
            inbox_kinds(&app, &c.staff)
                .await
                .contains(&"matter_red_card".to_owned())
        );
        // Overdue filters and the supervision levels list it.
        let overdue = app
            .get_json(
                &format!("/api/v1/communities/{}/matters?overdue=true", world.a.id),
                &c.staff,
            )
            .await;
        assert_eq!(overdue["total"], 0, "not overdue yet by the real clock");
        let red_list = app
            .get_json(
                &format!("/api/v1/communities/{}/matters?supervise=red", world.a.id),
                &c.staff,
            )
            .await;
        assert_eq!(red_list["total"], 1);
        // An approved extension resets the ladder with new deadlines.
        let d = step(
            &app,
            &c.worker,
            &id,
            version(&detail),
            json!({ "step": "sign" }),
        )
        .await;
        let until = (Utc::now() + Duration::days(20)).to_rfc3339();
        let d = step(
            &app,
            &c.worker,
            &id,
            version(&d),
            json!({ "step": "request_extension", "until": until, "reason": "需要采购新垃圾桶" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            &id,
            version(&d),
            json!({ "step": "decide_extension", "approve": true }),
        )
        .await;
        assert_eq!(d["matter"]["supervise_level"], "none");
        assert!(d["matter"]["extension_requested_until"].is_null());
    }
}

async fn futures_join(state: &AppState, at: chrono::DateTime<Utc>) -> Vec<sweep::SweepReport> {
    let (a, b, c) = tokio::join!(
        sweep::run(state, at),
        sweep::run(state, at),
        sweep::run(state, at)
    );
    vec![a.unwrap(), b.unwrap(), c.unwrap()]
}

#[tokio::test]
async fn jobs_are_claimed_once_retried_with_backoff_and_kept_when_dead() {
    for t in TestDb::all().await {
        let now = Utc::now();
        let lease = Duration::minutes(5);
        {
            let mut conn = t.db.acquire().await.unwrap();
            let job = NewJob {
                kind: "test",
                payload: json!({ "n": 1 }),
                run_at: now,
                max_attempts: 2,
                unique_key: Some("only-one".into()),
            };
            jobs::enqueue(&mut conn.exec(), &job, now).await.unwrap();
            jobs::enqueue(&mut conn.exec(), &job, now).await.unwrap();
        }
        async fn claim(
            db: &linli_store::Db,
            worker: &str,
            at: chrono::DateTime<Utc>,
        ) -> Vec<jobs::JobRow> {
            let mut tx = db.begin().await.unwrap();
            let rows = jobs::claim(&mut tx.exec(), worker, at, Duration::minutes(5), 10)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            rows
        }
        let (a, b) = tokio::join!(claim(&t.db, "w1", now), claim(&t.db, "w2", now));
        assert_eq!(
            a.len() + b.len(),
            1,
            "{} one job (unique key), claimed once",
            t.engine
        );
        let (job, holder) = if a.is_empty() {
            (b[0].clone(), "w2")
        } else {
            (a[0].clone(), "w1")
        };
        assert_eq!(job.attempts, 1);
        assert!(
            claim(&t.db, "w3", now + Duration::minutes(1))
                .await
                .is_empty(),
            "held by its lease"
        );
        // The lease runs out: another worker takes it; the first one's result is refused.
        let taken = claim(&t.db, "w3", now + lease + Duration::seconds(1)).await;
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].attempts, 2);
        let mut conn = t.db.acquire().await.unwrap();
        assert!(
            !jobs::complete(&mut conn.exec(), job.id, holder, now)
                .await
                .unwrap()
        );
        // Its last attempt fails: kept as dead, with the error.
        assert!(
            jobs::fail(
                &mut conn.exec(),
                &taken[0],
                "w3",
                "gateway said 500",
                now + Duration::hours(1),
                now
            )
            .await
            .unwrap()
        );
        let dead = jobs::find(&mut conn.exec(), job.id).await.unwrap().unwrap();
        assert_eq!(
            (dead.state.as_str(), dead.last_error.as_deref()),
            (jobs::DEAD, Some("gateway said 500"))
        );
        drop(conn);
        assert!(claim(&t.db, "w4", now + Duration::days(1)).await.is_empty());
    }
}

#[tokio::test]
async fn the_exception_paths_work_on_both_engines() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let c = cast(&app, &world).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let rubbish = category(&app, &c.resident, world.a.id, "03-01").await;
        let new = |text: &str| {
            json!({ "category_id": rubbish, "description": text,
                    "location": { "kind": "building", "building_id": world.a.buildings[0] } })
        };

        // The reporter withdraws a report nobody has handled yet.
        let m = report(&app, &c.resident, new("楼下有人乱扔垃圾，已自行处理")).await;
        let id = m["id"].as_str().unwrap();
        let d = step(
            &app,
            &c.resident,
            id,
            1,
            json!({ "step": "withdraw", "comment": "已经解决了" }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "cancelled", "{}", t.engine);
        assert!(d["matter"]["closed_at"].is_string());

        // A grid worker fixes one on the spot; the fix fails verification, is done again,
        // passes, and is reopened after a dissatisfied rating call.
        let m = report(&app, &c.resident, new("单元门口垃圾袋堆放")).await;
        let id = m["id"].as_str().unwrap();
        let d = step(
            &app,
            &c.worker,
            id,
            1,
            json!({ "step": "handle_on_site", "comment": "巡查时已清理" }),
        )
        .await;
        assert_eq!(
            (
                d["matter"]["status"].as_str(),
                d["matter"]["class"].as_str()
            ),
            (Some("pending_verification"), Some("minor"))
        );
        assert_eq!(d["matter"]["handler_kind"], "grid_worker");
        let (status, p) = step_problem(
            &app,
            &c.worker,
            id,
            Some(version(&d)),
            json!({ "step": "verify", "passed": true }),
        )
        .await;
        assert_eq!(status, 403, "a grid worker does not verify: {p}");
        let d = step(
            &app,
            &c.staff,
            id,
            version(&d),
            json!({ "step": "verify", "passed": false, "comment": "现场仍有垃圾" }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "in_progress");
        let d = step(
            &app,
            &c.worker,
            id,
            version(&d),
            json!({ "step": "feedback", "comment": "再次清理并通知物业" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            id,
            version(&d),
            json!({ "step": "verify", "passed": true }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            id,
            version(&d),
            json!({ "step": "reopen", "reason": "回访时居民反映又堆满了" }),
        )
        .await;
        assert_eq!(
            (
                d["matter"]["status"].as_str(),
                d["matter"]["reopen_count"].as_i64()
            ),
            (Some("in_progress"), Some(1))
        );
        assert!(
            d["matter"]["due_at"].is_string(),
            "a reopened matter runs on a new clock"
        );

        // Shelved while waiting, then taken up again; supervised by staff.
        let d = step(
            &app,
            &admin,
            id,
            version(&d),
            json!({ "step": "shelve", "reason": "等待更换大容量垃圾桶" }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "shelved");
        let (status, p) = step_problem(
            &app,
            &c.worker,
            id,
            Some(version(&d)),
            json!({ "step": "feedback", "comment": "已经处理好了" }),
        )
        .await;
        assert_eq!(
            (status, p["current_status"].as_str()),
            (409, Some("shelved"))
        );
        let d = step(
            &app,
            &admin,
            id,
            version(&d),
            json!({ "step": "reactivate" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            id,
            version(&d),
            json!({ "step": "supervise", "comment": "请本周内完成" }),
        )
        .await;
        assert_eq!(d["matter"]["supervise_level"], "normal");
        assert!(
            inbox_kinds(&app, &c.worker)
                .await
                .contains(&"matter_supervised".to_owned())
        );

        // A handler returns a matter that is not theirs; it is dispatched again.
        let m = report(&app, &c.resident, new("小区外马路上的井盖松动")).await;
        let id = m["id"].as_str().unwrap();
        let mut v = 1;
        for body in [
            json!({ "step": "accept" }),
            json!({ "step": "triage", "class": "minor" }),
            json!({ "step": "register" }),
            json!({ "step": "dispatch", "target": { "kind": "grid_worker", "id": c.worker_staff } }),
        ] {
            v = version(&step(&app, &c.staff, id, v, body).await);
        }
        let d = step(
            &app,
            &c.worker,
            id,
            v,
            json!({ "step": "return", "reason": "市政道路不属于社区管辖" }),
        )
        .await;
        assert_eq!(
            (
                d["matter"]["status"].as_str(),
                d["matter"]["handler_kind"].as_str()
            ),
            (Some("registered"), None)
        );
        let d = step(
            &app,
            &c.staff,
            id,
            version(&d),
            json!({ "step": "reclassify", "class": "major", "reason": "需市政部门处理" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            id,
            version(&d),
            json!({ "step": "register" }),
        )
        .await;
        let d = step(
            &app,
            &c.staff,
            id,
            version(&d),
            json!({ "step": "dispatch", "target": { "kind": "subdistrict" } }),
        )
        .await;
        assert_eq!(
            (
                d["matter"]["status"].as_str(),
                d["matter"]["handler_kind"].as_str()
            ),
            (Some("dispatched"), Some("subdistrict"))
        );
        // A report rejected as a duplicate names the original.
        let dup = report(&app, &c.resident, new("马路井盖松动，车过很响")).await;
        let d = step(
            &app,
            &c.staff,
            dup["id"].as_str().unwrap(),
            1,
            json!({ "step": "reject", "reason": "duplicate", "duplicate_of": id }),
        )
        .await;
        assert_eq!(d["matter"]["status"], "cancelled");
        assert_eq!(d["timeline"][1]["detail"]["duplicate_of"], id);
    }
}

/// On PostgreSQL, the full-text index's pending entries (GIN `fastupdate`) are merged soon
/// after reports arrive, so searches do not read them one by one
/// (`pg_reports::merge_search_index`).
#[tokio::test]
async fn reports_leave_no_search_entries_pending_on_postgres() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let c = cast(&app, &world).await;
    let lift = category(&app, &c.resident, world.a.id, "05-01").await;
    for n in 0..20 {
        report(
            &app,
            &c.resident,
            json!({ "category_id": lift, "description": format!("{n}号楼电梯停在半层"),
            "location": { "kind": "building", "building_id": world.a.buildings[0] } }),
        )
        .await;
    }
    // The merge runs about SEARCH_MERGE_EVERY after the reports; allow eight times that,
    // for a test machine busy with other tests.
    tokio::time::sleep(linli_store::matters::pg_reports::SEARCH_MERGE_EVERY * 8).await;
    let linli_store::Db::Postgres(pool, _) = &t.db else {
        unreachable!("a PostgreSQL test database")
    };
    let still_pending: i64 =
        sqlx::query_scalar("SELECT gin_clean_pending_list('matters_search'::regclass)")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(still_pending, 0, "pages of the search index left pending");
    let found = app
        .get_json(
            &format!(
                "/api/v1/communities/{}/matters?q=%E7%94%B5%E6%A2%AF",
                world.a.id
            ),
            &c.staff,
        )
        .await; // 电梯
    assert_eq!(found["total"], 20, "{found}");
}
