//! Every malformed thing a client can send gets a specific 4xx problem, changes nothing,
//! and leaves the server serving.

use linli_store::{audit, auth as accounts};
use serde_json::json;

use crate::support::{TestApp, TestDb, problem, seed_world};

struct Case {
    name: &'static str,
    method: reqwest::Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    bearer: Option<String>,
    status: u16,
    code: &'static str,
}

fn post(
    name: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method: reqwest::Method::POST,
        path: path.to_owned(),
        content_type: Some("application/json"),
        body: body.into(),
        bearer: None,
        status,
        code,
    }
}

#[tokio::test]
async fn malformed_requests_get_specific_problems_and_change_nothing() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let admin = app.token("u-community-admin").await;
    let login = "/api/v1/auth/login";
    let roles = format!(
        "/api/v1/communities/{}/accounts/{}/roles",
        world.a.id, world.targets[0]
    );
    let huge = format!(
        r#"{{"username":"a","password":"{}"}}"#,
        "x".repeat(200 * 1024)
    );

    let mut cases = vec![
        post(
            "malformed JSON",
            login,
            r#"{"username": "a", "password": "#,
            400,
            "malformed_json",
        ),
        post(
            "not JSON at all",
            login,
            "username=a&password=b",
            400,
            "malformed_json",
        ),
        post(
            "invalid UTF-8",
            login,
            b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}".to_vec(),
            400,
            "malformed_json",
        ),
        post(
            "unknown field",
            login,
            r#"{"username":"u-resident","password":"x","remember":true}"#,
            422,
            "unknown_field",
        ),
        post(
            "missing field",
            login,
            r#"{"username":"u-resident"}"#,
            422,
            "missing_field",
        ),
        post(
            "wrong type",
            login,
            r#"{"username":42,"password":"x"}"#,
            422,
            "invalid_type",
        ),
        post(
            "JSON array instead of object",
            login,
            "[]",
            422,
            "invalid_type",
        ),
        post(
            "over-long username",
            login,
            json!({"username": "u".repeat(300), "password": "x"}).to_string(),
            422,
            "invalid_field",
        ),
        post(
            "over-long password",
            login,
            json!({"username": "u-resident", "password": "p".repeat(500)}).to_string(),
            422,
            "invalid_field",
        ),
        post("oversized body", login, huge, 413, "payload_too_large"),
    ];
    let mut no_type = post(
        "no content type",
        login,
        r#"{"username":"a","password":"b"}"#,
        415,
        "unsupported_media_type",
    );
    no_type.content_type = Some("application/xml");
    cases.push(no_type);
    let mut bad_token = post(
        "bad bearer token",
        "/api/v1/auth/logout",
        "{}",
        401,
        "unauthenticated",
    );
    bad_token.bearer = Some("lnl_not-a-real-token".into());
    cases.push(bad_token);
    let mut bad_role = post(
        "unknown role",
        "",
        json!({"roles": [{"role": "emperor"}]}).to_string(),
        422,
        "invalid_field",
    );
    bad_role.method = reqwest::Method::PUT;
    bad_role.path = roles.clone();
    bad_role.bearer = Some(admin.clone());
    cases.push(bad_role);
    let mut grids_for_resident = post(
        "grids on a non-grid role",
        "",
        json!({"roles": [{"role": "resident", "grids": [world.a.grids[0].0]}]}).to_string(),
        422,
        "invalid_field",
    );
    grids_for_resident.method = reqwest::Method::PUT;
    grids_for_resident.path = roles.clone();
    grids_for_resident.bearer = Some(admin.clone());
    cases.push(grids_for_resident);
    let mut bad_id = post(
        "malformed id in path",
        "/api/v1/grids/not-a-uuid",
        "",
        400,
        "bad_request",
    );
    bad_id.method = reqwest::Method::GET;
    bad_id.content_type = None;
    bad_id.bearer = Some(admin.clone());
    cases.push(bad_id);
    let mut bad_query = post("bad query value", "", "", 400, "bad_request");
    bad_query.method = reqwest::Method::GET;
    bad_query.path = format!("/api/v1/communities/{}/audit?limit=lots", world.a.id);
    bad_query.content_type = None;
    bad_query.bearer = Some(admin.clone());
    cases.push(bad_query);
    let mut wrong_method = post("wrong method", "/api/v1/me", "", 405, "method_not_allowed");
    wrong_method.method = reqwest::Method::DELETE;
    wrong_method.content_type = None;
    wrong_method.bearer = Some(admin.clone());
    cases.push(wrong_method);
    let mut no_route = post(
        "no such route",
        "/api/v1/nothing-here",
        "",
        404,
        "not_found",
    );
    no_route.method = reqwest::Method::GET;
    no_route.content_type = None;
    cases.push(no_route);
    let mut bad_locale = post(
        "unsupported locale",
        "/api/v1/me/locale",
        json!({"locale": "fr"}).to_string(),
        422,
        "invalid_field",
    );
    bad_locale.method = reqwest::Method::PUT;
    bad_locale.bearer = Some(admin.clone());
    cases.push(bad_locale);

    let accounts_before = count_accounts(&t).await;
    let audit_before = audit_len(&t, world.a.id.0).await;
    for case in cases {
        let mut request = app
            .client
            .request(case.method.clone(), app.url(&case.path))
            .body(case.body.clone());
        if let Some(ct) = case.content_type {
            request = request.header("content-type", ct);
        }
        if let Some(token) = &case.bearer {
            request = request.bearer_auth(token);
        }
        let (status, body) = problem(request.send().await.unwrap()).await;
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (case.status, case.code),
            "{}: {body}",
            case.name
        );
        let text = body.to_string();
        for leak in ["SELECT", "sqlx", "panicked", ".rs:", "/home/", "/work/"] {
            assert!(!text.contains(leak), "{} leaks {leak}: {text}", case.name);
        }
    }
    assert_eq!(
        count_accounts(&t).await,
        accounts_before,
        "nothing was written"
    );
    assert_eq!(
        audit_len(&t, world.a.id.0).await,
        audit_before,
        "nothing was written to the audit log either"
    );
    let roles_now: serde_json::Value = app
        .get(
            &format!("/api/v1/communities/{}/accounts", world.a.id),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let target = roles_now["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "target-0")
        .unwrap();
    assert_eq!(
        target["roles"],
        json!(["resident"]),
        "rejected role changes left the roles alone"
    );
    assert_eq!(app.status("/healthz").await, 200, "still serving");
}

async fn count_accounts(t: &TestDb) -> usize {
    let mut conn = t.db.acquire().await.unwrap();
    accounts::list_accounts(&mut conn.exec())
        .await
        .unwrap()
        .len()
}

async fn audit_len(t: &TestDb, chain: uuid::Uuid) -> usize {
    let mut conn = t.db.acquire().await.unwrap();
    audit::recent(&mut conn.exec(), chain, 10_000)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn browsers_get_error_pages_not_json() {
    let t = TestDb::sqlite().await;
    let app = TestApp::spawn(&t.db).await;
    let response = app
        .client
        .get(app.url("/no/such/page"))
        .header("accept", "text/html")
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Not found") && html.contains("lang=\"en\""),
        "{html}"
    );
    // A form posted without its token is refused with an explanation, in Chinese by default.
    let response = app
        .client
        .post(app.url("/logout"))
        .header("accept", "text/html")
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("页面已过期"));
}

#[tokio::test]
async fn expired_and_revoked_sessions_are_refused_with_their_own_code() {
    use chrono::{Duration, Utc};
    use linli_store::sessions::{self, NewSession};
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let account = world.accounts[0].2;
    let expired = "lnl_expired-token-for-the-test";
    {
        let mut conn = t.db.acquire().await.unwrap();
        let new = NewSession {
            token_hash: &linli_web::auth::tokens::token_hash(expired),
            account,
            kind: "api",
            csrf_token: "c",
            expires_at: Utc::now() - Duration::minutes(1),
        };
        sessions::insert_session(&mut conn.exec(), &new, Utc::now() - Duration::hours(2))
            .await
            .unwrap();
    }
    let (status, body) = problem(app.get("/api/v1/me", expired).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("session_expired"))
    );
    let (status, body) = problem(app.get("/api/v1/me", "lnl_never-issued").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, body) = problem(app.client.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
}
