//! Signing in and out over the real HTTP server: tokens, sessions, revocation, second
//! factor, throttling, the web login with CSRF, and the operations endpoints.

use linli_domain::auth::Role;
use linli_store::{check, tenancy};
use linli_web::Settings;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, TestDb, base32_decode, now_unix, problem, seed_world};

async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({ "username": username, "password": password });
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn token_login_me_logout_on_both_engines() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let token = app.token(world.username(Role::GridWorker)).await;
        let me: Value = app.get("/api/v1/me", &token).await.json().await.unwrap();
        assert_eq!(me["username"], "u-grid-worker", "{}", t.engine);
        assert_eq!(me["roles"][0]["role"], "grid_worker");
        assert_eq!(me["roles"][0]["community_id"], json!(world.a.id.0));
        assert_eq!(me["roles"][0]["grid_ids"], json!([world.a.grids[0].0]));

        let out = app
            .client
            .post(app.url("/api/v1/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        let (status, body) = problem(app.get("/api/v1/me", &token).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("session_expired")),
            "{}",
            t.engine
        );
        assert!(check::run(&t.db).await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let (s1, mut wrong) = problem(login(&app, "u-resident", "not the password", None).await).await;
    let (s2, mut unknown) =
        problem(login(&app, "nobody-here", "not the password", None).await).await;
    wrong.as_object_mut().unwrap().remove("request_id");
    unknown.as_object_mut().unwrap().remove("request_id");
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["code"], "invalid_credentials");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_name_even_for_the_right_password() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    for _ in 0..5 {
        assert_eq!(
            login(&app, "u-resident", "wrong password!", None)
                .await
                .status(),
            401
        );
    }
    let response = login(&app, "u-resident", PASSWORD, None).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("login_throttled"))
    );
    // Unknown names are throttled the same way, so the lock reveals nothing either.
    for _ in 0..5 {
        login(&app, "ghost-user", "wrong password!", None).await;
    }
    assert_eq!(
        login(&app, "ghost-user", "wrong password!", None)
            .await
            .status(),
        429
    );
    // Other accounts are unaffected.
    assert_eq!(login(&app, "u-auditor", PASSWORD, None).await.status(), 200);
}

#[tokio::test]
async fn password_change_ends_every_session() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let first = app.token("u-volunteer").await;
    let second = app.token("u-volunteer").await;
    let change = |current: &str, new: &str| {
        app.client
            .post(app.url("/api/v1/me/password"))
            .bearer_auth(&first)
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
    };
    let (status, body) = problem(
        change("wrong current", "a brand new passphrase")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("current_password"))
    );
    let (status, body) = problem(change(PASSWORD, "password123").await.unwrap()).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("new_password")),
        "common passwords are refused"
    );
    assert_eq!(
        change(PASSWORD, "a brand new passphrase")
            .await
            .unwrap()
            .status(),
        204
    );
    for token in [&first, &second] {
        assert_eq!(app.get("/api/v1/me", token).await.status(), 401);
    }
    assert_eq!(
        login(&app, "u-volunteer", PASSWORD, None).await.status(),
        401
    );
    assert_eq!(
        login(&app, "u-volunteer", "a brand new passphrase", None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn role_change_and_disable_end_the_target_sessions() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let admin = app.token("u-community-admin").await;
    let staff_token = app.token("u-community-staff").await;
    let staff_id = world.account_id(Role::CommunityStaff);
    let path = format!(
        "/api/v1/communities/{}/accounts/{}/roles",
        world.a.id, staff_id
    );
    let response = app
        .client
        .put(app.url(&path))
        .bearer_auth(&admin)
        .json(&json!({ "roles": [{ "role": "grid_worker", "grids": [world.a.grids[1].0] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["roles"], json!(["grid_worker"]));
    assert_eq!(
        app.get("/api/v1/me", &staff_token).await.status(),
        401,
        "role change ends sessions"
    );
    let again = app.token("u-community-staff").await;
    let me: Value = app.get("/api/v1/me", &again).await.json().await.unwrap();
    assert_eq!(me["roles"][0]["grid_ids"], json!([world.a.grids[1].0]));

    // A grid of another community cannot be assigned.
    let bad = app
        .client
        .put(app.url(&path))
        .bearer_auth(&admin)
        .json(&json!({ "roles": [{ "role": "grid_worker", "grids": [world.b.grids[0].0] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(bad).await.1["code"], "invalid_field");

    let disable = format!(
        "/api/v1/communities/{}/accounts/{}/disable",
        world.a.id, staff_id
    );
    let response = app
        .client
        .post(app.url(&disable))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.get("/api/v1/me", &again).await.status(), 401);
    let (status, body) = problem(login(&app, "u-community-staff", PASSWORD, None).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    let audit: Value = app
        .get(
            &format!("/api/v1/communities/{}/audit?limit=200", world.a.id),
            &app.token("u-auditor").await,
        )
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "roles_changed",
        "sessions_revoked",
        "account_disabled",
        "login_failed",
        "login_succeeded",
    ] {
        assert!(
            actions.contains(&expected),
            "audit lacks {expected}: {actions:?}"
        );
    }
    assert!(check::run(&t.db).await.unwrap().is_ok());
}

async fn enrol_totp(app: &TestApp, token: &str) -> Vec<u8> {
    let started: Value = app
        .client
        .post(app.url("/api/v1/me/totp"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = started["otpauth_url"].as_str().unwrap();
    let secret = url
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = base32_decode(secret);
    let code = linli_web::auth::totp::code_at(&secret, now_unix()).unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/me/totp/confirm"))
        .bearer_auth(token)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    secret
}

#[tokio::test]
async fn totp_second_factor_is_required_once_enrolled_and_codes_do_not_replay() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let token = app.token("u-community-staff").await;
    let secret = enrol_totp(&app, &token).await;

    let (status, body) = problem(login(&app, "u-community-staff", PASSWORD, None).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("totp_required"))
    );
    // The enrolment already used the current step: wait for the next window's code.
    let step = now_unix() / 30;
    while now_unix() / 30 == step {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let code = linli_web::auth::totp::code_at(&secret, now_unix()).unwrap();
    assert_eq!(
        login(&app, "u-community-staff", PASSWORD, Some(&code))
            .await
            .status(),
        200
    );
    let (status, body) =
        problem(login(&app, "u-community-staff", PASSWORD, Some(&code)).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_totp")),
        "a code works once"
    );
    let (_, body) = problem(login(&app, "u-community-staff", PASSWORD, Some("000000")).await).await;
    assert_eq!(body["code"], "invalid_totp");
}

#[tokio::test]
async fn a_community_can_make_the_second_factor_mandatory_for_staff() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    {
        let mut conn = t.db.acquire().await.unwrap();
        tenancy::set_totp_required(&mut conn.exec(), world.a.id, true)
            .await
            .unwrap();
    }
    let app = TestApp::spawn(&t.db).await;
    let staff = app.token("u-community-admin").await;
    let me: Value = app.get("/api/v1/me", &staff).await.json().await.unwrap();
    assert_eq!(me["totp_enrolment_required"], true);
    let grids = format!("/api/v1/communities/{}/grids", world.a.id);
    let (status, body) = problem(app.get(&grids, &staff).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("totp_enrolment_required"))
    );
    enrol_totp(&app, &staff).await;
    assert_eq!(app.get(&grids, &staff).await.status(), 200);
    // Residents are not staff: no second factor asked of them.
    let resident = app.token("u-resident").await;
    let me: Value = app.get("/api/v1/me", &resident).await.json().await.unwrap();
    assert_eq!(me["totp_enrolment_required"], false);
}

/// Pulls the CSRF token out of a page's hidden form field.
fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn web_login_sets_a_locked_down_cookie_and_every_form_needs_its_csrf_token() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let settings = Settings {
        secure_cookies: true,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(&t.db, settings).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // reqwest's jar will not send Secure cookies over http; carry them by hand.
    let page = browser
        .get(app.url("/login"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let pre_cookie = set_cookie(&page, "linli_pre").unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.headers().contains_key("referrer-policy"));
    let html = page.text().await.unwrap();
    let csrf = csrf_from(&html);
    let pre = pre_cookie.split(';').next().unwrap().to_owned();

    let form = |csrf: &str| {
        vec![
            ("username", "u-community-admin".to_owned()),
            ("password", PASSWORD.to_owned()),
            ("csrf", csrf.to_owned()),
        ]
    };
    let forged = browser
        .post(app.url("/login"))
        .header("cookie", &pre)
        .header("accept", "text/html")
        .form(&form("not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "wrong CSRF token is refused");

    let response = browser
        .post(app.url("/login"))
        .header("cookie", &pre)
        .form(&form(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let session_cookie = set_cookie(&response, "linli_session").unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(
            session_cookie.contains(attribute),
            "{session_cookie} lacks {attribute}"
        );
    }
    let session = session_cookie.split(';').next().unwrap().to_owned();
    // Once signed in, only the session's own token counts: the sign-in form's will not do.
    let with_pre_token = browser
        .post(app.url("/logout"))
        .header("cookie", format!("{session}; {pre}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(with_pre_token.status(), 403);
    let home = app.get_with_cookie("/", &session).await;
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("u-community-admin"));
    let session_csrf = csrf_from(&html);

    // A cookie-authenticated JSON call needs the token too.
    let me_json = browser
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &session)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(me_json).await.1["code"], "csrf_failed");

    let logout = browser
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf", session_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    let after = app.get_with_cookie("/", &session).await;
    assert_eq!(
        after.status(),
        303,
        "signed-out session goes back to the login page"
    );
    assert_eq!(after.headers()["location"], "/login");
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let t = TestDb::sqlite().await;
    let app = TestApp::spawn(&t.db).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(app.status("/readyz").await, 200);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    let openapi: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/grids/{id}",
    ] {
        assert!(openapi["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
}

#[tokio::test]
async fn administrators_cannot_appoint_auditors_change_their_own_roles_or_disable_beyond_their_reach()
 {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let admin = app.token("u-community-admin").await;
    let admin_id = world.account_id(Role::CommunityAdmin);
    let roles = |account: uuid::Uuid| {
        format!(
            "/api/v1/communities/{}/accounts/{account}/roles",
            world.a.id
        )
    };
    let put = |path: String, token: String, body: Value| {
        let client = app.client.clone();
        async move {
            client
                .put(path)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let auditor = json!({ "roles": [{ "role": "auditor" }] });
    let (status, body) = problem(
        put(
            app.url(&roles(world.targets[0].0)),
            admin.clone(),
            auditor.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "separation of duties"
    );
    let (status, body) = problem(
        put(
            app.url(&roles(admin_id.0)),
            admin.clone(),
            json!({ "roles": [] }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("cannot_change_own_roles"))
    );
    let district = app.token("u-district-admin").await;
    assert_eq!(
        put(app.url(&roles(world.targets[0].0)), district, auditor)
            .await
            .status(),
        200
    );

    // target-0 now also becomes a resident of community b: disabling it would reach beyond a.
    crate::support::grant(&t.db, world.b.id, world.targets[0], Role::Resident, &[]).await;
    let disable = format!(
        "/api/v1/communities/{}/accounts/{}/disable",
        world.a.id, world.targets[0]
    );
    let response = app
        .client
        .post(app.url(&disable))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("account_spans_communities"))
    );
}

/// Signs in through the web form and returns the session cookie (`linli_session=…`).
async fn web_sign_in(app: &TestApp, username: &str) -> reqwest::Response {
    let page = app.client.get(app.url("/login")).send().await.unwrap();
    let pre = cookie_named(&page, "linli_pre").unwrap();
    let csrf = csrf_from(&page.text().await.unwrap());
    app.client
        .post(app.url("/login"))
        .header("cookie", &pre)
        .form(&[
            ("username", username),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap()
}

/// The whole `Set-Cookie` value (with its attributes) that sets a non-empty `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")) && !c.starts_with(&format!("{name}=;")))
}

/// `name=value`, ready to send back in a `Cookie` header.
fn cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    set_cookie(response, name).map(|c| c.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn every_role_gets_a_home_page_with_only_the_navigation_it_may_use() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    for (role, username, _) in &world.accounts {
        let response = web_sign_in(&app, username).await;
        assert_eq!(response.status(), 303, "{role}");
        let session = cookie_named(&response, "linli_session").unwrap();
        let home = app
            .client
            .get(app.url("/"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(home.status(), 200, "{role}");
        let html = home.text().await.unwrap();
        let role_name = linli_web::i18n::Tr::new(linli_domain::locale::Locale::ZhCn).role(role);
        assert!(html.contains(role_name), "{role}'s home names the role");
        let has = |href: &str| html.contains(&format!("href=\"{href}\""));
        // The console pages work on the account's own community; a district administrator
        // has none and sees the district's communities on the home page instead.
        assert_eq!(
            has("/grids"),
            matches!(
                role,
                Role::GridWorker | Role::CommunityStaff | Role::CommunityAdmin | Role::Auditor
            ),
            "{role} grids link"
        );
        if *role == Role::DistrictAdmin {
            assert!(
                html.contains("a社区") && html.contains("b社区"),
                "the district's communities are listed"
            );
            assert!(
                !html.contains("c社区"),
                "another district's community is not"
            );
        }
        assert_eq!(
            has("/accounts"),
            matches!(role, Role::CommunityAdmin | Role::Auditor),
            "{role} accounts link"
        );
        assert_eq!(has("/audit"), *role == Role::Auditor, "{role} audit link");
        // The pages behind links that are not shown refuse too.
        let audit = app
            .client
            .get(app.url("/audit"))
            .header("cookie", &session)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(
            audit.status().as_u16(),
            match role {
                Role::Auditor => 200,
                // No community of its own to show the audit log of.
                Role::DistrictAdmin => 404,
                _ => 403,
            },
            "{role} /audit page"
        );
        if *role == Role::Auditor {
            let html = audit.text().await.unwrap();
            assert!(
                html.contains("登录成功") && html.contains("成功"),
                "audit actions are shown in the reader's language"
            );
        }
    }
}

#[tokio::test]
async fn web_sign_in_asks_for_the_code_once_a_second_factor_is_enrolled() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let token = app.token("u-auditor").await;
    let secret = enrol_totp(&app, &token).await;
    let step = now_unix() / 30;
    while now_unix() / 30 == step {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let response = web_sign_in(&app, "u-auditor").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login/totp");
    assert!(
        cookie_named(&response, "linli_session").is_none(),
        "no session before the code"
    );
    let pending = cookie_named(&response, "linli_pending").unwrap();
    // The pending token is no session: it opens nothing.
    let (_, token_value) = pending.split_once('=').unwrap();
    assert_eq!(app.get("/api/v1/me", token_value).await.status(), 401);
    let forged_session = format!("linli_session={token_value}");
    assert_eq!(
        app.get_with_cookie("/", &forged_session).await.status(),
        303
    );

    let page = app
        .client
        .get(app.url("/login/totp"))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    let pre = cookie_named(&page, "linli_pre").unwrap();
    let csrf = csrf_from(&page.text().await.unwrap());
    let cookies = format!("{pending}; {pre}");
    let wrong = app
        .client
        .post(app.url("/login/totp"))
        .header("cookie", &cookies)
        .form(&[("code", "000000"), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let code = linli_web::auth::totp::code_at(&secret, now_unix()).unwrap();
    let right = app
        .client
        .post(app.url("/login/totp"))
        .header("cookie", &cookies)
        .form(&[("code", code.as_str()), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    let session = cookie_named(&right, "linli_session").expect("signed in after the code");
    assert_eq!(app.get_with_cookie("/", &session).await.status(), 200);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = TestDb::sqlite().await;
    let settings = Settings {
        header_read_timeout: std::time::Duration::from_millis(500),
        ..Settings::default()
    };
    let app = TestApp::spawn_with(&t.db, settings).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    assert!(
        read.is_ok(),
        "the server closed the slow connection within the header-read timeout"
    );
    assert_eq!(app.status("/healthz").await, 200, "and kept serving others");
}

#[tokio::test]
async fn two_servers_on_one_database_share_sessions_revocation_and_throttling() {
    for t in TestDb::all().await {
        seed_world(&t.db).await;
        let one = TestApp::spawn(&t.db).await;
        let two = TestApp::spawn(&t.db).await;
        let token = one.token("u-grid-worker").await;
        assert_eq!(
            two.get("/api/v1/me", &token).await.status(),
            200,
            "{}",
            t.engine
        );
        let out = two
            .client
            .post(two.url("/api/v1/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        // The other server may reuse its cached lookup for up to the session cache's lifetime.
        let deadline = std::time::Instant::now()
            + Settings::default().session_cache
            + std::time::Duration::from_millis(500);
        while one.get("/api/v1/me", &token).await.status() != 401 {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: revocation must reach the other server within the cache lifetime",
                t.engine
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        for i in 0..5 {
            let app = if i % 2 == 0 { &one } else { &two };
            assert_eq!(
                login(app, "u-partner", "wrong password!", None)
                    .await
                    .status(),
                401
            );
        }
        assert_eq!(
            login(&one, "u-partner", PASSWORD, None).await.status(),
            429,
            "{}: failures add up across servers",
            t.engine
        );
        assert_eq!(login(&two, "u-partner", PASSWORD, None).await.status(), 429);
    }
}

#[tokio::test]
async fn the_password_form_explains_refusals_in_the_readers_language() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let session = cookie_named(&web_sign_in(&app, "u-resident").await, "linli_session").unwrap();
    let page = app
        .client
        .get(app.url("/settings/security"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let csrf = csrf_from(&page.text().await.unwrap());
    let change = |current: &'static str, new: &'static str| {
        let (client, url, session, csrf) = (
            app.client.clone(),
            app.url("/settings/security/password"),
            session.clone(),
            csrf.clone(),
        );
        async move {
            client
                .post(url)
                .header("cookie", session)
                .form(&[
                    ("current_password", current),
                    ("new_password", new),
                    ("csrf", csrf.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let common = change(PASSWORD, "iloveyou123").await;
    assert_eq!(common.status(), 422);
    assert!(common.text().await.unwrap().contains("这个密码太常见"));
    let wrong = change("not my password", "一个足够长的新口令").await;
    assert!(wrong.text().await.unwrap().contains("当前密码不正确"));
    let done = change(PASSWORD, "一个足够长的新口令").await;
    assert_eq!(
        done.status(),
        303,
        "changed: every session ends, back to sign-in"
    );
    assert_eq!(app.get_with_cookie("/", &session).await.status(), 303);
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_past_the_limit() {
    for t in TestDb::all().await {
        seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let guesses = (0..20).map(|i| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
            async move {
                let body =
                    json!({ "username": "u-volunteer", "password": format!("guess number {i}") });
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_join_all(guesses).await;
        let checked = statuses.iter().filter(|s| **s == 401).count();
        assert!(
            checked <= 5,
            "{}: {checked} guesses were checked, the limit is 5 ({statuses:?})",
            t.engine
        );
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20 - checked);
        assert_eq!(
            login(&app, "u-volunteer", PASSWORD, None).await.status(),
            429
        );
    }
}

/// Runs futures concurrently on the test runtime and collects their results in order.
async fn futures_join_all<
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn guessing_the_current_password_with_a_stolen_session_is_throttled() {
    let t = TestDb::sqlite().await;
    seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let token = app.token("u-party-member").await;
    let attempt = || {
        app.client
            .post(app.url("/api/v1/me/password"))
            .bearer_auth(&token)
            .json(&json!({ "current_password": "a wrong guess", "new_password": "a brand new passphrase" }))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt().await.unwrap().status(), 422);
    }
    let (status, body) = problem(attempt().await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("login_throttled"))
    );
}

#[tokio::test]
async fn behind_a_proxy_the_client_address_is_the_one_the_proxy_saw() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let settings = Settings {
        trust_proxy: true,
        ..Settings::default()
    };
    let app = TestApp::spawn_with(&t.db, settings).await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "6.6.6.6, 10.1.2.3")
        .json(&json!({ "username": "u-resident", "password": "wrong password!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let mut conn = t.db.acquire().await.unwrap();
    let entries = linli_store::audit::recent(&mut conn.exec(), world.a.id.0, 5)
        .await
        .unwrap();
    let failed = entries.iter().find(|e| e.action == "login_failed").unwrap();
    assert_eq!(
        failed.actor_ip.as_deref(),
        Some("10.1.2.3"),
        "the forgeable left-hand entries are ignored"
    );
}

#[tokio::test]
async fn a_community_admin_cannot_disable_the_auditor() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let auditor = world.account_id(Role::Auditor);
    let path = format!(
        "/api/v1/communities/{}/accounts/{}/disable",
        world.a.id, auditor
    );
    let admin = app.token("u-community-admin").await;
    let (status, body) = problem(
        app.client
            .post(app.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("account_spans_communities"))
    );
    let district = app.token("u-district-admin").await;
    assert_eq!(
        app.client
            .post(app.url(&path))
            .bearer_auth(&district)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

/// A session's idle expiry slides forward once a minute, a write. While a long write holds
/// SQLite's lock (a large import), requests must not wait for that write: they used to,
/// and held pool connections until reads had none left.
#[tokio::test]
async fn requests_do_not_wait_for_the_session_touch_behind_a_long_write() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let token = app.token(world.username(Role::CommunityAdmin)).await;
    let linli_store::Db::Sqlite(pool, _) = &t.db else {
        unreachable!("a SQLite test database")
    };
    let stale = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    sqlx::query("UPDATE sessions SET last_seen_at = ?")
        .bind(&stale)
        .execute(pool)
        .await
        .unwrap();
    tokio::time::sleep(Settings::default().session_cache + std::time::Duration::from_millis(50))
        .await;

    // Hold the write lock the way an import does, then ask who we are.
    let long_write = t.db.begin().await.unwrap();
    let me = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        app.get("/api/v1/me", &token),
    )
    .await
    .expect("answered while the write lock is held (SQLite's busy timeout is 5 s)");
    assert_eq!(me.status(), 200);
    drop(long_write);

    // The touch lands once the lock is free.
    let mut touched = false;
    for _ in 0..100 {
        let (seen,): (String,) =
            sqlx::query_as("SELECT last_seen_at FROM sessions ORDER BY last_seen_at DESC")
                .fetch_one(pool)
                .await
                .unwrap();
        if seen != stale {
            touched = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(touched, "the session's expiry slid forward after the write");
}
