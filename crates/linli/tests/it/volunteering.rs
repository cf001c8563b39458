//! Volunteer service records on both engines: recorded, verified by someone else (which
//! awards points in the ledger's transaction), corrected by new records, certified and
//! exported; bad input and a verifier race.

use chrono::{DateTime, Duration, DurationRound, Utc};
use linli_domain::ResidentId;
use linli_domain::auth::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, add_resident, problem, seed_world, signed_in_resident};

/// Yesterday at `hour`:`minute` UTC.
fn yesterday(hour: i64, minute: i64) -> DateTime<Utc> {
    let midnight = (Utc::now() - Duration::days(1))
        .duration_trunc(Duration::days(1))
        .unwrap();
    midnight + Duration::hours(hour) + Duration::minutes(minute)
}

fn service(volunteer: ResidentId, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    json!({
        "volunteer_id": volunteer,
        "activity": "重阳敬老活动",
        "content": "陪伴长者、协助助餐",
        "organiser": "新和社区党群服务中心",
        "started_at": from,
        "ended_at": to,
        "evidence": "签到表",
        "rule": "volunteer_service",
    })
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let r = app.get("/api/v1/me/points", token).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["balance"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn hours_are_recorded_verified_corrected_certified_and_exported() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let volunteer = signed_in_resident(&t.db, &world, "vol-resident", 3).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let worker = app.token(world.username(Role::GridWorker)).await;
        let me = app.token("vol-resident").await;

        // A grid worker records 2.5 hours in their grid; it waits for a verifier.
        let record = created(
            app.post_json(
                "/api/v1/service-records",
                &worker,
                &service(volunteer, yesterday(1, 0), yesterday(3, 30)),
            )
            .await,
        )
        .await;
        assert_eq!(
            (
                record["status"].as_str(),
                record["minutes"].as_i64(),
                record["hours"].as_str()
            ),
            (Some("pending"), Some(150), Some("2.50")),
            "{}",
            t.engine
        );
        let id = record["id"].as_str().unwrap().to_owned();
        let mine: Value = app
            .get("/api/v1/me/service-records", &me)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(mine["counted_minutes"], 0);
        assert_eq!(mine["records"].as_array().unwrap().len(), 1);

        // Neither the volunteer nor the grid worker may verify; the volunteer service
        // rule wants community staff.
        let verify_path = format!("/api/v1/service-records/{id}/verification");
        let ok = json!({ "decision": "verified", "note": "核对签到表" });
        let (status, _) =
            problem(app.post_keyed(&verify_path, &me, "verify-0001", &ok).await).await;
        assert_eq!(status, 404);
        let (status, _) = problem(
            app.post_keyed(&verify_path, &worker, "verify-0001", &ok)
                .await,
        )
        .await;
        assert_eq!(status, 404);

        // Staff verify: 150 minutes at 10 points an hour earn 25, in the same transaction.
        let first = app
            .post_keyed(&verify_path, &staff, "verify-0001", &ok)
            .await;
        assert_eq!(first.status(), 201);
        let first_body = first.text().await.unwrap();
        let decision: Value = serde_json::from_str(&first_body).unwrap();
        assert_eq!(
            (decision["decision"].as_str(), decision["points"].as_i64()),
            (Some("verified"), Some(25))
        );
        assert_eq!(balance(&app, &me).await, 25);
        // A retry answers the same; another decision under the key, or another verifier,
        // is refused.
        let again = app
            .post_keyed(&verify_path, &staff, "verify-0001", &ok)
            .await;
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.text().await.unwrap(), first_body);
        let reject = json!({ "decision": "rejected", "note": "重复" });
        let (status, p) = problem(
            app.post_keyed(&verify_path, &staff, "verify-0001", &reject)
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (409, Some("idempotency_key_reused"))
        );
        let (status, p) = problem(
            app.post_keyed(&verify_path, &admin, "verify-0002", &ok)
                .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str()), (409, Some("already_decided")));
        assert_eq!(balance(&app, &me).await, 25);

        // The check-out was wrong: a correction to one hour, with a reason. Until it is
        // verified the original still counts.
        let correction = created(
            app.post_json(
                &format!("/api/v1/service-records/{id}/corrections"),
                &worker,
                &json!({ "started_at": yesterday(1, 0), "ended_at": yesterday(2, 0), "reason": "签退时间登记错误" }),
            )
            .await,
        )
        .await;
        assert_eq!(correction["corrects_id"].as_str(), Some(id.as_str()));
        assert_eq!(correction["status"], "pending");
        let fix = correction["id"].as_str().unwrap().to_owned();
        let mine: Value = app
            .get("/api/v1/me/service-records", &me)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(mine["counted_minutes"], 150);
        // Verified, it replaces the original: the 25 points go back and 10 are awarded.
        let d = created(
            app.post_keyed(
                &format!("/api/v1/service-records/{fix}/verification"),
                &admin,
                "verify-0003",
                &ok,
            )
            .await,
        )
        .await;
        assert_eq!(d["points"], -15);
        assert_eq!(balance(&app, &me).await, 10);
        let original: Value = app
            .get(&format!("/api/v1/service-records/{id}"), &staff)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(original["status"], "superseded");
        let mine: Value = app
            .get("/api/v1/me/service-records", &me)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                mine["counted_minutes"].as_i64(),
                mine["counted_hours"].as_str()
            ),
            (Some(60), Some("1.00"))
        );
        // Only the record that counts can be corrected.
        let (status, p) = problem(
            app.post_json(
                &format!("/api/v1/service-records/{id}/corrections"),
                &worker,
                &json!({ "started_at": yesterday(1, 0), "ended_at": yesterday(4, 0), "reason": "再改" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (409, Some("record_not_counted"))
        );
        // Correcting upwards awards the difference.
        let up = created(
            app.post_json(
                &format!("/api/v1/service-records/{fix}/corrections"),
                &staff,
                &json!({ "started_at": yesterday(1, 0), "ended_at": yesterday(4, 0), "reason": "补录后段服务" }),
            )
            .await,
        )
        .await;
        let up_id = up["id"].as_str().unwrap();
        let d = created(
            app.post_keyed(
                &format!("/api/v1/service-records/{up_id}/verification"),
                &admin,
                "verify-0004",
                &ok,
            )
            .await,
        )
        .await;
        assert_eq!(d["points"], 20);
        assert_eq!(balance(&app, &me).await, 30);

        // A record entered in error is rejected, with a reason, and earns nothing.
        let wrong = created(
            app.post_json(
                "/api/v1/service-records",
                &staff,
                &service(volunteer, yesterday(5, 0), yesterday(6, 0)),
            )
            .await,
        )
        .await;
        let wrong_path = format!(
            "/api/v1/service-records/{}/verification",
            wrong["id"].as_str().unwrap()
        );
        let (status, p) = problem(
            app.post_keyed(
                &wrong_path,
                &admin,
                "verify-0005",
                &json!({ "decision": "rejected" }),
            )
            .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str()), (422, Some("reason_required")));
        let d = created(
            app.post_keyed(&wrong_path, &admin, "verify-0006", &reject)
                .await,
        )
        .await;
        assert_eq!(
            (d["decision"].as_str(), d["points"].as_i64()),
            (Some("rejected"), Some(0))
        );
        // A pending record cannot be corrected (reject it instead).
        let pending = created(
            app.post_json(
                "/api/v1/service-records",
                &staff,
                &service(volunteer, yesterday(7, 0), yesterday(8, 0)),
            )
            .await,
        )
        .await;
        let (status, p) = problem(
            app.post_json(
                &format!("/api/v1/service-records/{}/corrections", pending["id"].as_str().unwrap()),
                &staff,
                &json!({ "started_at": yesterday(7, 0), "ended_at": yesterday(7, 30), "reason": "改时间" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (409, Some("record_not_counted"))
        );

        // Nobody verifies their own hours: a staff member who volunteers.
        let staff_self = add_resident(
            &t.db,
            world.a.id,
            world.a.grids[0],
            4,
            Some(world.account_id(Role::CommunityStaff)),
        )
        .await;
        let own = created(
            app.post_json(
                "/api/v1/service-records",
                &admin,
                &service(staff_self, yesterday(1, 0), yesterday(2, 0)),
            )
            .await,
        )
        .await;
        let (status, p) = problem(
            app.post_keyed(
                &format!(
                    "/api/v1/service-records/{}/verification",
                    own["id"].as_str().unwrap()
                ),
                &staff,
                "verify-0007",
                &ok,
            )
            .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str()), (409, Some("own_hours")));

        // The certificate states the hours that count (3.00: the last correction), with
        // the document number in full; numbers run per year.
        let cert = created(
            app.post_json(
                "/api/v1/service-certificates",
                &staff,
                &json!({ "volunteer_id": volunteer }),
            )
            .await,
        )
        .await;
        let year = Utc::now().format("%Y").to_string();
        assert_eq!(cert["number"], format!("{year}-000001"));
        assert_eq!(
            (cert["hours"].as_str(), cert["records"].as_i64()),
            (Some("3.00"), Some(1))
        );
        let second = created(
            app.post_json(
                "/api/v1/service-certificates",
                &staff,
                &json!({ "volunteer_id": volunteer }),
            )
            .await,
        )
        .await;
        assert_eq!(second["number"], format!("{year}-000002"));
        let page = app.get(cert["url"].as_str().unwrap(), &staff).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("志愿服务记录证明") && html.contains("3.00"),
            "{html}"
        );
        assert!(
            html.contains("44030319850505003"),
            "document number in full"
        );
        // The volunteer prints their own; another resident cannot.
        assert_eq!(
            app.get(cert["url"].as_str().unwrap(), &me).await.status(),
            200
        );
        signed_in_resident(&t.db, &world, "vol-other", 5).await;
        let other = app.token("vol-other").await;
        assert_eq!(
            app.get(cert["url"].as_str().unwrap(), &other)
                .await
                .status(),
            404
        );

        // The export for the civil-affairs system: only records that count, in full.
        let csv = app
            .get(
                &format!(
                    "/api/v1/communities/{}/exports/service-records?format=csv",
                    world.a.id
                ),
                &staff,
            )
            .await;
        assert_eq!(csv.status(), 200);
        let text = csv.text().await.unwrap();
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
        assert!(
            lines[0].starts_with("姓名,证件类型,证件号码"),
            "{}",
            lines[0]
        );
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[1].contains("居民3")
                && lines[1].contains("3.00")
                && lines[1].contains("补录后段服务"),
            "{}",
            lines[1]
        );

        // Certificates and exports are audited.
        let auditor = app.token(world.username(Role::Auditor)).await;
        let log: Value = app
            .get(
                &format!("/api/v1/communities/{}/audit", world.a.id),
                &auditor,
            )
            .await
            .json()
            .await
            .unwrap();
        let actions: Vec<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert!(
            actions.contains(&"service_certificate_issued"),
            "{actions:?}"
        );
        assert!(actions.contains(&"service_records_exported"), "{actions:?}");

        let report = linli_store::check::run(&t.db).await.unwrap();
        assert!(report.is_ok(), "{:?}", report.ledger.problems);
    }
}

#[tokio::test]
async fn bad_service_records_are_refused_with_nothing_stored() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let volunteer = signed_in_resident(&t.db, &world, "vol-bad", 3).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let later = Utc::now() + Duration::hours(2);
        let mut cases: Vec<(Value, u16, &str)> = vec![
            (
                service(volunteer, yesterday(3, 0), yesterday(1, 0)),
                422,
                "ends_before_start",
            ),
            (
                service(volunteer, Utc::now(), later),
                422,
                "service_in_future",
            ),
            (
                service(
                    volunteer,
                    yesterday(0, 0) - Duration::hours(2),
                    yesterday(0, 0) + Duration::hours(23),
                ),
                422,
                "service_too_long",
            ),
            (
                service(volunteer, yesterday(1, 0), yesterday(1, 0)),
                422,
                "no_time_served",
            ),
        ];
        let mut unknown_rule = service(volunteer, yesterday(1, 0), yesterday(2, 0));
        unknown_rule["rule"] = json!("no_such_rule");
        cases.push((unknown_rule, 422, "unknown_rule"));
        let mut manual = service(volunteer, yesterday(1, 0), yesterday(2, 0));
        manual["rule"] = json!("commendation");
        cases.push((manual, 422, "rule_not_for_service"));
        let mut empty = service(volunteer, yesterday(1, 0), yesterday(2, 0));
        empty["activity"] = json!("  ");
        cases.push((empty, 422, "text_length"));
        let mut extra = service(volunteer, yesterday(1, 0), yesterday(2, 0));
        extra["hours"] = json!(3);
        cases.push((extra, 422, "unknown_field"));
        let mut stranger = service(volunteer, yesterday(1, 0), yesterday(2, 0));
        stranger["volunteer_id"] = json!(world.c.residents[0]);
        cases.push((stranger, 404, "not_found"));
        for (body, want_status, want_code) in cases {
            let (status, p) = problem(
                app.post_json("/api/v1/service-records", &staff, &body)
                    .await,
            )
            .await;
            assert_eq!(
                (status, p["code"].as_str().unwrap_or_default()),
                (want_status, want_code),
                "{body}"
            );
        }
        let list: Value = app
            .get(
                &format!("/api/v1/service-records?community_id={}", world.a.id),
                &staff,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["records"].as_array().unwrap().len(), 0, "{}", t.engine);
        // A decision other than verified/rejected, and a missing key.
        let record = created(
            app.post_json(
                "/api/v1/service-records",
                &staff,
                &service(volunteer, yesterday(1, 0), yesterday(2, 0)),
            )
            .await,
        )
        .await;
        let path = format!(
            "/api/v1/service-records/{}/verification",
            record["id"].as_str().unwrap()
        );
        let (status, p) = problem(
            app.post_keyed(
                &path,
                &staff,
                "verify-bad1",
                &json!({ "decision": "maybe" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("unknown_decision"))
        );
        let (status, p) = problem(
            app.post_json(&path, &staff, &json!({ "decision": "verified" }))
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("idempotency_key_required"))
        );
        let again: Value = app
            .get(
                &format!("/api/v1/service-records/{}", record["id"].as_str().unwrap()),
                &staff,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(again["status"], "pending");
    }
}

#[tokio::test]
async fn two_verifiers_at_once_decide_once() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let volunteer = signed_in_resident(&t.db, &world, "vol-race", 3).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let record = created(
            app.post_json(
                "/api/v1/service-records",
                &staff,
                &service(volunteer, yesterday(1, 0), yesterday(3, 0)),
            )
            .await,
        )
        .await;
        let path = format!(
            "/api/v1/service-records/{}/verification",
            record["id"].as_str().unwrap()
        );
        let ok = json!({ "decision": "verified", "note": "核对" });
        let attempts = (0..20).map(|i| {
            let token = if i % 2 == 0 {
                staff.clone()
            } else {
                admin.clone()
            };
            let (app, path, ok) = (&app, path.clone(), ok.clone());
            async move {
                app.post_keyed(&path, &token, &format!("race-key-{i:04}"), &ok)
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures::future::join_all(attempts).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?} {}",
            t.engine
        );
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 409),
            "{statuses:?}"
        );
        let account: Value = app
            .get(&format!("/api/v1/points/accounts/{volunteer}"), &staff)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(account["balance"], 20);
    }
}

#[tokio::test]
async fn the_engagement_ladder_counts_stages_per_grid_and_moves_between_windows() {
    use linli_store::points::{self as ledger, Award, Change, LedgerRequest};
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let worker = app.token(world.username(Role::GridWorker)).await;
        let grid = world.a.grids[0];
        let volunteer = add_resident(&t.db, world.a.id, grid, 60, None).await;
        let participant = add_resident(&t.db, world.a.id, grid, 61, None).await;
        let drifted = add_resident(&t.db, world.a.id, grid, 62, None).await;
        add_resident(&t.db, world.a.id, grid, 63, None).await;
        add_resident(&t.db, world.a.id, world.a.grids[1], 64, None).await;

        // Five hours of verified service this week; a council meeting ten days ago; and
        // one a hundred days ago (the window before).
        let record = created(
            app.post_json(
                "/api/v1/service-records",
                &staff,
                &service(volunteer, yesterday(1, 0), yesterday(6, 0)),
            )
            .await,
        )
        .await;
        let verify = format!(
            "/api/v1/service-records/{}/verification",
            record["id"].as_str().unwrap()
        );
        created(
            app.post_keyed(
                &verify,
                &admin,
                "ladder-0001",
                &json!({ "decision": "verified" }),
            )
            .await,
        )
        .await;
        let rule = {
            let mut conn = t.db.acquire().await.unwrap();
            ledger::current_rule(&mut conn.exec(), world.a.id, "council_meeting")
                .await
                .unwrap()
                .unwrap()
        };
        for (resident, days_ago) in [(participant, 10), (drifted, 100)] {
            let at = Utc::now() - Duration::days(days_ago);
            let request = LedgerRequest {
                community: world.a.id,
                actor: Some(world.account_id(Role::CommunityStaff)),
                key: None,
                request: serde_json::Value::Null,
                change: Change::Award(Box::new(Award {
                    resident,
                    rule_id: rule.id,
                    rule: rule.rule().unwrap(),
                    earned: 5,
                    subject: None,
                    memo: "居民议事会".into(),
                    day_start: at - Duration::hours(1),
                    month_start: at - Duration::hours(1),
                    approver: None,
                })),
                audit: None,
            };
            assert!(ledger::submit(&t.db, request, at).await.unwrap().is_ok());
        }

        let path = format!("/api/v1/communities/{}/engagement", world.a.id);
        let view = app.get_json(&path, &staff).await;
        let total: i64 = ["bystander", "participant", "volunteer"]
            .iter()
            .map(|s| view["totals"][s].as_i64().unwrap())
            .sum();
        assert_eq!(
            (
                view["totals"]["volunteer"].as_i64(),
                view["totals"]["participant"].as_i64()
            ),
            (Some(1), Some(1)),
            "{}: {view}",
            t.engine
        );
        let moved = |from: &str, to: &str| {
            view["transitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["from"] == from && m["to"] == to)
                .map_or(0, |m| m["residents"].as_i64().unwrap())
        };
        assert_eq!(
            (
                moved("bystander", "volunteer"),
                moved("bystander", "participant"),
                moved("participant", "bystander")
            ),
            (1, 1, 1)
        );
        assert_eq!(moved("bystander", "bystander"), total - 3);
        // The grid worker sees their grid only.
        let theirs = app.get_json(&path, &worker).await;
        assert_eq!(theirs["grids"].as_array().unwrap().len(), 1);
        assert!(
            theirs["totals"]["bystander"].as_i64().unwrap()
                < view["totals"]["bystander"].as_i64().unwrap()
        );
        assert_eq!(theirs["totals"]["volunteer"], 1);

        // Stricter thresholds: five hours no longer make a volunteer.
        let ladder_path = format!("/api/v1/communities/{}/engagement-ladder", world.a.id);
        let strict =
            json!({ "window_days": 90, "participant_occasions": 1, "volunteer_minutes": 600 });
        assert_eq!(
            app.put_json(&ladder_path, &staff, &strict).await.status(),
            403
        );
        let (status, _) = problem(
            app.put_json(
                &ladder_path,
                &admin,
                &json!({ "window_days": 3, "participant_occasions": 1, "volunteer_minutes": 600 }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(
            app.put_json(&ladder_path, &admin, &strict).await.status(),
            200
        );
        let view = app.get_json(&path, &staff).await;
        assert_eq!(
            (
                view["totals"]["volunteer"].as_i64(),
                view["totals"]["participant"].as_i64()
            ),
            (Some(0), Some(2))
        );
    }
}
