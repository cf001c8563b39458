//! People's mediation on both engines: registering a case, who may see it, mediators and
//! recusal, session records, the outcomes the law allows, the 30-day judicial window, and
//! the printed agreement.

use chrono::{Duration, Utc};
use linli_domain::auth::Role;
use serde_json::{Value, json};

use crate::support::{
    SEEDED_PEOPLE, TestApp, TestDb, add_account, grant, problem, seed_world, valid_id,
};

async fn step(
    app: &TestApp,
    token: &str,
    id: &str,
    version: i64,
    body: Value,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/mediation-cases/{id}/steps")))
        .bearer_auth(token)
        .header("if-match", version.to_string())
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn ok_step(app: &TestApp, token: &str, id: &str, version: i64, body: Value) -> Value {
    let r = step(app, token, id, version, body.clone()).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body} → {v}");
    v
}

fn version(d: &Value) -> i64 {
    d["case"]["version"].as_i64().unwrap()
}

fn parties() -> Value {
    json!([
        { "role": "applicant", "name": SEEDED_PEOPLE[0].0, "gender": "male", "birth_year": 1980,
          "address": "测试路0号101", "phone": SEEDED_PEOPLE[0].1, "id_number": valid_id(SEEDED_PEOPLE[0].2) },
        { "role": "respondent", "name": SEEDED_PEOPLE[1].0, "gender": "female", "birth_year": 1990,
          "address": "测试路0号201", "phone": SEEDED_PEOPLE[1].1 }
    ])
}

#[tokio::test]
async fn a_dispute_is_mediated_to_a_printed_agreement_seen_only_by_those_who_need_it() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let officer = app.token(world.username(Role::OperationOfficer)).await;
        let worker = app.token(world.username(Role::GridWorker)).await;
        let cases = format!("/api/v1/communities/{}/mediation-cases", world.a.id);

        // Bad registrations are refused with the rule.
        // A real ID-card number with its check character changed.
        let bad_id = {
            let mut id = valid_id(SEEDED_PEOPLE[0].2);
            let last = id.pop().unwrap();
            id.push(if last == '1' { '2' } else { '1' });
            id
        };
        let mut one_party = parties();
        one_party.as_array_mut().unwrap().pop();
        for (body, code) in [
            (
                json!({ "source": "walk_in", "dispute_type": "neighbour", "facts": "楼上漏水", "parties": one_party }),
                "parties_required",
            ),
            (
                json!({ "source": "walk_in", "dispute_type": "noise", "facts": "楼上漏水", "parties": parties() }),
                "unknown_value",
            ),
            (
                json!({ "source": "walk_in", "dispute_type": "neighbour", "facts": "楼上漏水",
                     "parties": [{ "role": "applicant", "name": "甲", "id_number": bad_id }, { "role": "respondent", "name": "乙" }] }),
                "id_number_checksum",
            ),
        ] {
            let (status, p) = problem(app.post_json(&cases, &staff, &body).await).await;
            assert_eq!(
                (status, p["code"].as_str()),
                (422, Some(code)),
                "{} {body}",
                t.engine
            );
        }
        let (status, _) = problem(app.post_json(&cases, &officer, &json!({ "source": "walk_in", "dispute_type": "neighbour", "facts": "楼上漏水", "parties": parties() })).await).await;
        assert_eq!(status, 403, "only the committee registers cases");

        let created: Value = app
            .post_json(&cases, &staff, &json!({
                "source": "grid_referral", "dispute_type": "neighbour", "matter_id": world.a.matters[0],
                "facts": "楼上卫生间漏水渗到楼下天花板，双方对维修费用分担有争议。", "parties": parties()
            }))
            .await
            .json()
            .await
            .unwrap();
        let id = created["case"]["id"].as_str().unwrap().to_owned();
        assert_eq!(created["case"]["status"], "applied");
        assert_eq!(created["parties"][0]["phone"], "138****8000", "masked");
        assert!(
            created["parties"][0]["id_number"]
                .as_str()
                .unwrap()
                .contains("********")
        );

        // Nobody but the committee sees it yet.
        for token in [&officer, &worker] {
            assert_eq!(
                app.get(&format!("/api/v1/mediation-cases/{id}"), token)
                    .await
                    .status(),
                404
            );
            assert_eq!(
                app.get_json(&cases, token).await.as_array().unwrap().len(),
                0
            );
        }
        let d = ok_step(&app, &staff, &id, 1, json!({ "step": "accept" })).await;
        let conclude_by = d["case"]["conclude_by"].as_str().unwrap().to_owned();
        assert!(!conclude_by.is_empty());
        let officer_id = world.account_id(Role::OperationOfficer);
        let d = ok_step(&app, &staff, &id, version(&d), json!({ "step": "assign_mediator", "account_id": officer_id, "chosen_by_parties": true })).await;
        let (status, p) = problem(
            step(
                &app,
                &staff,
                &id,
                version(&d),
                json!({ "step": "assign_mediator", "account_id": officer_id }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("already_mediator"))
        );
        // The mediator now sees and works the case, but cannot archive (committee only).
        assert_eq!(
            app.get_json(&cases, &officer)
                .await
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (status, p) = problem(
            step(
                &app,
                &officer,
                &id,
                version(&d),
                json!({ "step": "reach_agreement", "kind": "oral", "terms": "双方同意各付一半" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("session_required"))
        );
        let d = ok_step(&app, &officer, &id, version(&d), json!({ "step": "record_session", "held_on": Utc::now().date_naive(),
            "place": "和合坊调解室", "attendees": "张伟、李娜、调解员周明", "minutes": "双方陈述漏水经过，查看现场照片，同意共同维修。" })).await;
        assert_eq!(d["case"]["status"], "mediating");
        assert_eq!(d["sessions"][0]["place"], "和合坊调解室");
        let (status, _) = problem(
            step(
                &app,
                &officer,
                &id,
                version(&d),
                json!({ "step": "archive" }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 403);
        // Stale versions change nothing.
        let (status, _) = problem(
            step(
                &app,
                &officer,
                &id,
                1,
                json!({ "step": "start_performance" }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 412);
        // A written agreement needs what art. 29 lists.
        let (status, p) = problem(step(&app, &officer, &id, version(&d), json!({ "step": "reach_agreement", "kind": "written",
            "responsibilities": "楼上住户承担主要责任", "terms": "楼上住户负责维修防水层并承担费用的七成", "performance_method": "现金支付" })).await).await;
        assert_eq!(
            (status, p["field"].as_str()),
            (422, Some("performance_deadline"))
        );
        let deadline = (Utc::now() + Duration::days(14)).date_naive();
        let d = ok_step(&app, &officer, &id, version(&d), json!({ "step": "reach_agreement", "kind": "written",
            "responsibilities": "楼上住户承担主要责任，楼下住户承担次要责任", "terms": "楼上住户负责维修防水层并承担费用的七成，楼下住户承担三成",
            "performance_method": "维修完成后三日内现金支付", "performance_place": "和合坊", "performance_deadline": deadline })).await;
        assert_eq!(d["case"]["status"], "agreement_reached");
        assert!(d["case"]["judicial_confirmation_last_day"].is_string());
        let d = ok_step(
            &app,
            &officer,
            &id,
            version(&d),
            json!({ "step": "request_judicial_confirmation" }),
        )
        .await;
        let (status, p) = problem(
            step(
                &app,
                &officer,
                &id,
                version(&d),
                json!({ "step": "request_judicial_confirmation" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("judicial_already_requested"))
        );

        // The printed agreement shows the parties in full, and the print is audited.
        let page = app
            .get(&format!("/mediation/{id}/agreement"), &officer)
            .await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("人民调解协议书")
                && html.contains(&valid_id(SEEDED_PEOPLE[0].2))
                && html.contains(SEEDED_PEOPLE[1].1)
        );
        assert!(html.contains("三十日内"));
        assert_eq!(
            app.get(&format!("/mediation/{id}/agreement"), &worker)
                .await
                .status(),
            404
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
                .any(|e| e["action"] == "mediation_agreement_printed")
        );

        // Performance, follow-up, archive.
        let d = ok_step(
            &app,
            &officer,
            &id,
            version(&d),
            json!({ "step": "start_performance" }),
        )
        .await;
        let d = ok_step(&app, &officer, &id, version(&d), json!({ "step": "follow_up", "performance": "performed", "note": "回访：维修已完成，费用已付清" })).await;
        let d = ok_step(&app, &staff, &id, version(&d), json!({ "step": "archive" })).await;
        assert_eq!(d["case"]["status"], "archived");
        let steps: Vec<&str> = d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["step"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "apply",
                "accept",
                "assign_mediator",
                "record_session",
                "reach_agreement",
                "request_judicial_confirmation",
                "start_performance",
                "follow_up",
                "archive"
            ]
        );

        // A recused mediator reads but no longer acts; a failed mediation ends with advice.
        let second: Value = app
            .post_json(
                &cases,
                &staff,
                &json!({ "source": "walk_in", "dispute_type": "tenancy",
            "facts": "房东不退押金，租客认为房屋无损坏。", "parties": parties() }),
            )
            .await
            .json()
            .await
            .unwrap();
        let id2 = second["case"]["id"].as_str().unwrap().to_owned();
        let d = ok_step(&app, &staff, &id2, 1, json!({ "step": "accept" })).await;
        let d = ok_step(
            &app,
            &staff,
            &id2,
            version(&d),
            json!({ "step": "assign_mediator", "account_id": officer_id }),
        )
        .await;
        let d = ok_step(&app, &staff, &id2, version(&d), json!({ "step": "recuse", "account_id": officer_id, "reason": "调解员与房东是亲属，当事人申请回避" })).await;
        assert!(d["mediators"][0]["recused_at"].is_string());
        assert_eq!(
            app.get(&format!("/api/v1/mediation-cases/{id2}"), &officer)
                .await
                .status(),
            200
        );
        let (status, _) = problem(
            step(
                &app,
                &officer,
                &id2,
                version(&d),
                json!({ "step": "terminate", "reason": "x", "advice": "y" }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 403);
        let d = ok_step(
            &app,
            &staff,
            &id2,
            version(&d),
            json!({ "step": "terminate", "reason": "租客明确拒绝继续调解",
            "advice": "可向房屋所在地人民法院起诉，或申请仲裁" }),
        )
        .await;
        assert_eq!(
            (d["case"]["status"].as_str(), d["case"]["advice"].as_str()),
            (
                Some("terminated"),
                Some("可向房屋所在地人民法院起诉，或申请仲裁")
            )
        );
        assert_eq!(
            app.get(&format!("/mediation/{id2}/agreement"), &staff)
                .await
                .status(),
            404,
            "no agreement to print"
        );

        // Another community's committee sees nothing.
        let other = add_account(&t.db, "staff-b", Some(world.b.id)).await;
        grant(&t.db, world.b.id, other, Role::CommunityStaff, &[]).await;
        let staff_b = app.token("staff-b").await;
        assert_eq!(
            app.get(&format!("/api/v1/mediation-cases/{id}"), &staff_b)
                .await
                .status(),
            404
        );
    }
}

#[tokio::test]
async fn judicial_confirmation_closes_thirty_days_after_the_agreement() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let cases = format!("/api/v1/communities/{}/mediation-cases", world.a.id);
        let created: Value = app
            .post_json(
                &cases,
                &staff,
                &json!({ "source": "walk_in", "dispute_type": "damages",
            "facts": "电动车剐蹭停放的汽车，双方对赔偿金额有争议。", "parties": parties() }),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = created["case"]["id"].as_str().unwrap().to_owned();
        let d = ok_step(&app, &staff, &id, 1, json!({ "step": "accept" })).await;
        let d = ok_step(&app, &staff, &id, version(&d), json!({ "step": "assign_mediator", "account_id": world.account_id(Role::CommunityStaff) })).await;
        let d = ok_step(&app, &staff, &id, version(&d), json!({ "step": "record_session", "held_on": Utc::now().date_naive(),
            "place": "社区党群服务中心", "attendees": "双方当事人", "minutes": "核实剐蹭经过，协商赔偿。" })).await;
        let long_ago = (Utc::now() - Duration::days(40)).date_naive();
        let d = ok_step(&app, &staff, &id, version(&d), json!({ "step": "reach_agreement", "kind": "written",
            "responsibilities": "电动车车主负全责", "terms": "赔偿修车费八百元", "performance_method": "微信转账",
            "performance_deadline": long_ago + Duration::days(3), "effective_on": long_ago })).await;
        let (status, p) = problem(
            step(
                &app,
                &staff,
                &id,
                version(&d),
                json!({ "step": "request_judicial_confirmation" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (422, Some("judicial_window_closed")),
            "{}",
            t.engine
        );
        let (status, p) =
            problem(step(&app, &staff, &id, version(&d), json!({ "step": "archive" })).await).await;
        assert_eq!(
            (status, p["code"].as_str(), p["current_status"].as_str()),
            (409, Some("illegal_transition"), Some("agreement_reached"))
        );
    }
}
