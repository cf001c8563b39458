//! Webhook delivery on both engines: a step's notification reaches a gateway signed with
//! its secret, failures retry with growing delays, and a gateway that never answers ends
//! as a dead letter the administrator can see.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use chrono::{Duration, Utc};
use linli_domain::StaffId;
use linli_domain::auth::Role;
use linli_web::{AppState, Settings};
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, problem, seed_world, test_key};

/// What a gateway received: each call's headers and body.
type Calls = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A gateway on a loopback port that fails its first `failures` calls.
struct Gateway {
    url: String,
    calls: Calls,
}

async fn gateway(failures: usize) -> Gateway {
    let calls: Calls = Arc::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let (c, s) = (calls.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (c, s) = (c.clone(), s.clone());
            async move {
                c.lock().unwrap().push((headers, body.to_vec()));
                if s.fetch_add(1, Ordering::SeqCst) < failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Gateway {
        url: format!("http://{addr}/hook"),
        calls,
    }
}

#[tokio::test]
async fn notifications_reach_gateways_signed_and_retried_until_dead() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let hooks = format!("/api/v1/communities/{}/webhooks", world.a.id);
        let flaky = gateway(2).await;
        let secret = "s3cret-shared-with-the-sms-gateway";

        // Bad endpoints are refused with the reason; staff may not add one.
        for (body, code) in [
            (
                json!({ "url": "https://sms.example/hook", "secret": secret, "events": ["*"] }),
                "webhook_url",
            ),
            (
                json!({ "url": "ftp://sms/hook", "secret": secret, "events": ["*"] }),
                "webhook_url",
            ),
            (
                json!({ "url": flaky.url, "secret": "short", "events": ["*"] }),
                "webhook_secret",
            ),
            (
                json!({ "url": flaky.url, "secret": secret, "events": ["matter_exploded"] }),
                "unknown_event",
            ),
        ] {
            let (status, p) = problem(app.post_json(&hooks, &admin, &body).await).await;
            assert_eq!(
                (status, p["code"].as_str()),
                (422, Some(code)),
                "{} {body}",
                t.engine
            );
        }
        let (status, _) = problem(
            app.post_json(
                &hooks,
                &staff,
                &json!({ "url": flaky.url, "secret": secret, "events": ["*"] }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 403);

        let created: Value = app
            .post_json(
                &hooks,
                &admin,
                &json!({ "url": flaky.url, "secret": secret, "events": ["matter_dispatched"] }),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(created["events"], json!(["matter_dispatched"]));
        assert!(created.get("secret").is_none());
        let dead_end = gateway(usize::MAX).await;
        app.post_json(
            &hooks,
            &admin,
            &json!({ "url": dead_end.url, "secret": secret, "events": ["*"] }),
        )
        .await;

        // Dispatching a seeded matter to the grid worker notifies them.
        let worker_staff = StaffId::new();
        {
            let mut conn = t.db.acquire().await.unwrap();
            linli_store::registry::staff::insert_staff(
                &mut conn.exec(),
                world.a.id,
                &linli_store::registry::staff::NewStaff {
                    id: worker_staff,
                    name: "刘芳".into(),
                    origin_role: "grid_worker",
                    work_phone: None,
                    account_id: Some(world.account_id(Role::GridWorker)),
                },
                Utc::now(),
            )
            .await
            .unwrap();
        }
        let matter = world.a.matters[0];
        for (version, body) in (1..).zip([
            json!({ "step": "accept" }),
            json!({ "step": "triage", "class": "minor" }),
            json!({ "step": "register" }),
            json!({ "step": "dispatch", "target": { "kind": "grid_worker", "id": worker_staff } }),
        ]) {
            let r = app
                .client
                .post(app.url(&format!("/api/v1/matters/{matter}/steps")))
                .bearer_auth(&staff)
                .header("if-match", version.to_string())
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }

        let state = AppState::new(t.db.clone(), test_key(), Settings::default());
        let mut now = Utc::now();
        // First try and first retry fail (HTTP 500); the third try is delivered.
        for _ in 0..3 {
            linli_web::jobs::run_due_at(&state, "test-worker", now)
                .await
                .unwrap();
            now += Duration::minutes(2);
        }
        let calls = flaky.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "two failures and a success");
        let (headers, body) = &calls[2];
        assert_eq!(headers["x-linli-event"], "matter_dispatched");
        assert_eq!(
            headers["x-linli-signature"].to_str().unwrap(),
            linli_web::outbox::signature(secret.as_bytes(), body)
        );
        let payload: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(payload["matter_id"], json!(matter));
        assert_eq!(
            payload["account_id"],
            json!(world.account_id(Role::GridWorker))
        );
        assert_eq!(payload["title"], "a-0");
        // The seeded residents' phone numbers appear nowhere in what leaves Linli.
        let text = String::from_utf8_lossy(body);
        for (_, phone, _) in crate::support::SEEDED_PEOPLE {
            assert!(!text.contains(phone), "no phone numbers leave Linli");
        }

        // The gateway that never answers: after its last attempt the delivery is dead.
        for _ in 0..10 {
            now += Duration::hours(1);
            linli_web::jobs::run_due_at(&state, "test-worker", now)
                .await
                .unwrap();
        }
        assert_eq!(
            dead_end.calls.lock().unwrap().len(),
            linli_web::outbox::MAX_ATTEMPTS as usize
        );
        let deliveries = format!("/api/v1/communities/{}/deliveries", world.a.id);
        let dead = app
            .get_json(&format!("{deliveries}?state=dead"), &admin)
            .await;
        assert_eq!(dead.as_array().unwrap().len(), 1, "{dead}");
        assert_eq!(dead[0]["attempts"], linli_web::outbox::MAX_ATTEMPTS);
        assert!(dead[0]["last_error"].as_str().unwrap().contains("500"));
        let done = app
            .get_json(&format!("{deliveries}?state=done"), &admin)
            .await;
        assert_eq!(done.as_array().unwrap().len(), 1);
        let (status, _) = problem(app.get(&format!("{deliveries}?state=lost"), &admin).await).await;
        assert_eq!(status, 422);
    }
}
