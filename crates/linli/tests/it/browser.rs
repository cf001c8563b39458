//! The web shell in a real browser (headless Chromium through chromedriver): sign in as a
//! community administrator, see the home page, switch language (remembered per account),
//! sign out. Screenshots at phone and desktop sizes go to target/screenshots/.

use std::net::TcpListener as StdListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use linli_domain::auth::Role;

use crate::support::{TestApp, TestDb, skip_or_fail};

/// chromedriver in a process group of its own. Each test ends its browser session
/// (`client.close()`), which quits Chromium; if a test fails before that, dropping the
/// driver kills the whole group, Chromium included, instead of leaving it running.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start_browser() -> Option<(Driver, Client)> {
    let Some(chromedriver) = find_on_path("chromedriver") else {
        skip_or_fail(
            "browser tests",
            "chromedriver is not installed (apt-get install chromium chromium-driver)",
        );
        return None;
    };
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Driver(
        Command::new(chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": find_on_path("chromium").unwrap_or_else(|| PathBuf::from("/usr/bin/chromium")),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-dev-shm-usage", "--no-first-run", "--disable-sync",
                     "--window-size=390,844", "--lang=zh-CN"],
            // Chinese first, as for most Linli users; the language switch is tested below.
            "prefs": { "intl.accept_languages": "zh-CN,zh" }
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return Some((driver, client)),
            Err(error) if Instant::now() > deadline => {
                panic!("cannot start a browser session: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn click(client: &Client, css: &str) {
    let element = client.find(Locator::Css(css)).await.unwrap();
    // Bring it to the middle of the screen, clear of the phone layout's bottom bar.
    client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'})",
            vec![serde_json::to_value(&element).unwrap()],
        )
        .await
        .unwrap();
    element.click().await.unwrap();
}

async fn type_into(client: &Client, id: &str, text: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Fills in and sends the sign-in form.
async fn submit_login(client: &Client, app: &TestApp, username: &str, password: &str) {
    client.goto(&app.url("/login")).await.unwrap();
    type_into(client, "username", username).await;
    type_into(client, "password", password).await;
    click(client, "[data-testid=login-submit]").await;
}

/// Signs in and waits for the home page.
async fn sign_in(client: &Client, app: &TestApp, username: &str, password: &str) {
    submit_login(client, app, username, password).await;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-testid=greeting]"))
        .await
        .unwrap();
}

#[tokio::test]
async fn community_admin_signs_in_switches_language_and_signs_out() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let t = TestDb::sqlite().await;
    let logins = linli::demo::generate(&t.db, &crate::support::test_key(), 1)
        .await
        .unwrap();
    let admin = logins
        .iter()
        .find(|l| l.role == Role::CommunityAdmin)
        .unwrap();
    let app = TestApp::spawn(&t.db).await;

    client.set_window_size(390, 844).await.unwrap();
    client.goto(&app.url("/login")).await.unwrap();
    assert_eq!(client.title().await.unwrap(), "登录邻里 · 邻里");
    shot(&client, "login-phone").await;

    // A wrong password is refused with a message next to the form.
    submit_login(&client, &app, &admin.username, "not the password").await;
    assert_eq!(text_of(&client, "#login-error").await, "用户名或密码错误。");

    sign_in(&client, &app, &admin.username, &admin.password).await;
    assert_eq!(
        text_of(&client, "[data-testid=greeting]").await,
        "您好，林海"
    );
    assert!(client.source().await.unwrap().contains("社区管理员"));
    shot(&client, "home-phone").await;
    client.goto(&app.url("/settings/security")).await.unwrap();
    assert!(client.source().await.unwrap().contains("开启两步验证"));
    shot(&client, "security-phone").await;
    client.goto(&app.url("/")).await.unwrap();

    click(&client, "[data-testid=lang-en]").await;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("html[lang=en]"))
        .await
        .unwrap();
    assert_eq!(
        text_of(&client, "[data-testid=greeting]").await,
        "Hello, 林海"
    );
    shot(&client, "home-phone-en").await;

    client.set_window_size(1440, 900).await.unwrap();
    shot(&client, "home-desktop-en").await;
    client.goto(&app.url("/accounts")).await.unwrap();
    assert!(client.source().await.unwrap().contains("demo-grid-worker"));
    shot(&client, "accounts-desktop-en").await;

    // Every resource the pages loaded came from this server.
    let urls = client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            vec![],
        )
        .await
        .unwrap();
    for url in urls.as_array().unwrap() {
        assert!(
            url.as_str().unwrap().starts_with(&app.base),
            "page loaded {url} from elsewhere"
        );
    }

    click(&client, "[data-testid=logout]").await;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_url(&url::Url::parse(&app.url("/login")).unwrap())
        .await
        .unwrap();

    // The language was remembered on the account, not just in this browser.
    client.delete_all_cookies().await.unwrap();
    sign_in(&client, &app, &admin.username, &admin.password).await;
    assert_eq!(
        text_of(&client, "[data-testid=greeting]").await,
        "Hello, 林海"
    );
    click(&client, "[data-testid=lang-zh]").await;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("html[lang=zh-CN]"))
        .await
        .unwrap();
    shot(&client, "home-desktop").await;

    // Enrol a second factor from the security page: scan the QR code (here: read the key).
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&app.url("/settings/security")).await.unwrap();
    click(&client, "form[action='/settings/security/totp'] button").await;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-testid=totp-qr] svg"))
        .await
        .unwrap();
    shot(&client, "totp-enrol-phone").await;
    let key = text_of(&client, "[data-testid=totp-secret]").await;
    let secret = crate::support::base32_decode(&key);
    let code = linli_web::auth::totp::code_at(&secret, crate::support::now_unix()).unwrap();
    type_into(&client, "code", &code).await;
    click(
        &client,
        "form[action='/settings/security/totp/confirm'] button",
    )
    .await;
    assert_eq!(text_of(&client, ".alert-success").await, "两步验证已开启。");
    client.close().await.unwrap();
}

/// Sets a demo account's password to one the test knows.
async fn known_password(db: &linli_store::Db, username: &str) -> String {
    let user = linli_domain::auth::Username::parse(username).unwrap();
    let password = linli_domain::auth::NewPassword::parse(crate::support::PASSWORD, &user).unwrap();
    linli::admin::set_password(db, &user, &password)
        .await
        .unwrap();
    crate::support::PASSWORD.to_owned()
}

#[tokio::test]
async fn grid_worker_walks_grid_building_household_resident_and_is_refused_another_grid() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let t = TestDb::sqlite().await;
    linli::demo::generate(&t.db, &crate::support::test_key(), 1)
        .await
        .unwrap();
    let app = TestApp::spawn(&t.db).await;
    let password = known_password(&t.db, "demo-grid-worker").await;

    // The public service circle needs no sign-in.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&app.url("/service/xinhe")).await.unwrap();
    let points = client
        .find_all(Locator::Css("[data-testid=service-point]"))
        .await
        .unwrap();
    assert_eq!(
        points.len(),
        8,
        "one centre, three stations, four grid posts"
    );
    // Laid out as a page, not centred beside its own heading like the sign-in card.
    let stacked = client
        .execute(
            "return document.querySelector('h1').getBoundingClientRect().bottom <= \
             document.querySelector('[data-testid=service-point]').getBoundingClientRect().top",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        stacked,
        serde_json::json!(true),
        "the heading sits above the cards"
    );
    shot(&client, "service-circle-phone").await;

    sign_in(&client, &app, "demo-grid-worker", &password).await;
    client.goto(&app.url("/grids")).await.unwrap();
    let cards = client
        .find_all(Locator::Css("[data-testid=grid-card]"))
        .await
        .unwrap();
    assert_eq!(cards.len(), 1, "a grid worker sees their own grid only");
    assert!(cards[0].text().await.unwrap().contains("新和第一网格"));
    shot(&client, "grids-phone").await;
    click(&client, "[data-testid=grid-card] .card-action").await;
    let buildings = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-testid=building-link]"))
        .await
        .unwrap();
    shot(&client, "buildings-phone").await;
    buildings.click().await.unwrap();
    click(&client, "[data-testid=household-link]").await;
    shot(&client, "household-phone").await;
    click(&client, "[data-testid=resident-link]").await;
    let phone = text_of(&client, "[data-testid=phone]").await;
    assert!(
        phone.len() == 11 && &phone[3..7] == "****",
        "masked by default: {phone}"
    );
    shot(&client, "resident-phone").await;

    // Revealing asks for a reason; then the full number shows and the view is recorded.
    type_into(&client, "reason", "入户走访核实联系方式").await;
    click(&client, "[data-testid=reveal]").await;
    text_of(&client, "[data-testid=revealed-note]").await;
    let full = text_of(&client, "[data-testid=phone]").await;
    assert!(
        full.len() == 11 && full.chars().all(|c| c.is_ascii_digit()),
        "{full}"
    );
    assert_eq!(full[7..], phone[7..]);
    shot(&client, "resident-revealed-phone").await;

    // A resident of the second grid is not there for this worker.
    let other = {
        let mut conn = t.db.acquire().await.unwrap();
        let mut ex = conn.exec();
        let community = linli_store::tenancy::community_by_code(&mut ex, "xinhe")
            .await
            .unwrap()
            .unwrap();
        let second =
            linli_store::registry::find_grid_by_code(&mut ex, community.community(), "XH-02")
                .await
                .unwrap()
                .unwrap();
        linli_store::registry::residents::list_residents(
            &mut ex,
            community.community(),
            &linli_domain::auth::GridFilter::All,
            &linli_store::registry::residents::ResidentFilter {
                grid: Some(linli_domain::GridId(second.id)),
                ..Default::default()
            },
            linli_store::PageRequest::first(1),
        )
        .await
        .unwrap()
        .items
        .remove(0)
    };
    client
        .goto(&app.url(&format!("/residents/{}", other.id)))
        .await
        .unwrap();
    let refused = client.source().await.unwrap();
    assert!(refused.contains("404"), "refused as not found");
    assert!(!refused.contains(&other.name));
    shot(&client, "other-grid-refused-phone").await;

    // Search finds people in the worker's grid only.
    client.set_window_size(1440, 900).await.unwrap();
    client
        .goto(&app.url(&format!("/residents?q={}", "%E7%8E%8B")))
        .await
        .unwrap();
    let count = text_of(&client, "[data-testid=result-count]").await;
    assert!(count.starts_with("找到"), "{count}");
    shot(&client, "residents-search-desktop").await;

    // Registering a member with a mistyped ID number explains the mistake next to the field.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&app.url("/grids")).await.unwrap();
    click(&client, "[data-testid=grid-card] .card-action").await;
    click(&client, "[data-testid=building-link]").await;
    click(&client, "[data-testid=household-link]").await;
    type_into(&client, "f-name", "王小明").await;
    type_into(&client, "f-document_number", "110105194912310021").await;
    click(&client, "[data-testid=register-submit]").await;
    let error = text_of(&client, "[data-testid=error-document_number]").await;
    assert!(error.contains("校验位"), "{error}");
    assert_eq!(
        client
            .find(Locator::Id("f-name"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("王小明"),
        "the form comes back filled in"
    );
    shot(&client, "register-error-phone").await;

    client.set_window_size(1440, 900).await.unwrap();
    client.goto(&app.url("/directory")).await.unwrap();
    assert!(client.source().await.unwrap().contains("刘芳"));
    shot(&client, "directory-desktop").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn staff_check_a_spreadsheet_and_read_each_problem_in_chinese() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let t = TestDb::sqlite().await;
    linli::demo::generate(&t.db, &crate::support::test_key(), 1)
        .await
        .unwrap();
    let app = TestApp::spawn(&t.db).await;
    let password = known_password(&t.db, "demo-staff").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("居民.csv");
    let headers: Vec<&str> = linli_domain::registry::sheet::COLUMNS
        .iter()
        .map(|c| c.header)
        .collect();
    let blank = vec![""; headers.len() - 4].join(",");
    std::fs::write(
        &file,
        format!(
            "{}\nB01,101,王小明,户主,{blank}\nB01,102,李小红,邻居,{blank}\n",
            ["楼栋编号", "房号", "姓名", "与户关系"]
                .into_iter()
                .chain(
                    headers
                        .iter()
                        .copied()
                        .filter(|h| !["楼栋编号", "房号", "姓名", "与户关系"].contains(h))
                )
                .collect::<Vec<_>>()
                .join(",")
        ),
    )
    .unwrap();
    client.set_window_size(1440, 900).await.unwrap();
    sign_in(&client, &app, "demo-staff", &password).await;
    client.goto(&app.url("/imports")).await.unwrap();
    client
        .find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    click(&client, "[data-testid=import-submit]").await;
    let report = text_of(&client, "[data-testid=import-report]").await;
    assert!(report.contains("文件有问题，未导入"), "{report}");
    assert!(
        report.contains("与户关系") && report.contains("选项无效"),
        "{report}"
    );
    shot(&client, "import-report-desktop").await;
    client.close().await.unwrap();
}

/// Signs out whoever is signed in (a fresh cookie jar) and signs in as `username`.
async fn switch_to(client: &Client, app: &TestApp, username: &str, password: &str) {
    client.delete_all_cookies().await.unwrap();
    sign_in(client, app, username, password).await;
}

/// Waits for the matter page and returns its status text.
async fn matter_status(client: &Client) -> String {
    text_of(client, "[data-testid=matter-status]").await
}

/// Unfolds a step's form (folded ones are a `<details>`; open ones stay open).
async fn open_step(client: &Client, step: &str) {
    client
        .execute(
            &format!(
                "document.querySelector('[data-testid=open-{step}]').parentElement.open = true"
            ),
            vec![],
        )
        .await
        .unwrap();
}

/// Clicks a step's button and waits for the page the form posts to (a new document, not
/// the one still showing).
async fn take(client: &Client, testid: &str) {
    post_and_wait(client, testid, "[data-testid=timeline]").await;
}

#[tokio::test]
async fn a_matter_goes_from_a_residents_phone_through_the_grid_worker_to_a_rating() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let t = TestDb::sqlite().await;
    linli::demo::generate(&t.db, &crate::support::test_key(), 1)
        .await
        .unwrap();
    let app = TestApp::spawn(&t.db).await;
    let mut passwords = std::collections::HashMap::new();
    for user in ["demo-resident", "demo-grid-worker", "demo-staff"] {
        passwords.insert(user, known_password(&t.db, user).await);
    }
    client.set_window_size(390, 844).await.unwrap();

    // The resident reports from their phone: category, words, their own building.
    sign_in(&client, &app, "demo-resident", &passwords["demo-resident"]).await;
    client.goto(&app.url("/matters/mine")).await.unwrap();
    click(&client, "[data-testid=new-matter]").await;
    client
        .find(Locator::Id("category_id"))
        .await
        .unwrap()
        .select_by_label("暴露垃圾")
        .await
        .unwrap();
    // Too few words: refused, with the reason next to the field and the choice kept.
    type_into(&client, "description", "垃圾").await;
    click(&client, "[data-testid=report-submit]").await;
    assert_eq!(
        text_of(&client, "#description ~ .field-error").await,
        "具体情况请写 5 到 2000 字。"
    );
    client
        .find(Locator::Id("description"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(
        &client,
        "description",
        "3栋楼下垃圾桶满了两天没人清运，天热有味道。",
    )
    .await;
    shot(&client, "matter-report-phone").await;
    click(&client, "[data-testid=report-submit]").await;
    assert_eq!(matter_status(&client).await, "已上报");
    let number = text_of(&client, "[data-testid=matter-number]").await;
    shot(&client, "matter-reported-phone").await;

    // The grid worker finds it among new reports, accepts it and classes it as minor.
    switch_to(
        &client,
        &app,
        "demo-grid-worker",
        &passwords["demo-grid-worker"],
    )
    .await;
    client.goto(&app.url("/matters?view=triage")).await.unwrap();
    let first = text_of(&client, "[data-testid=matter-link]").await;
    assert!(first.contains(&number), "{first}");
    shot(&client, "matter-queue-phone").await;
    click(&client, "[data-testid=matter-link]").await;
    take(&client, "step-accept").await;
    assert_eq!(matter_status(&client).await, "已受理");
    open_step(&client, "triage").await;
    click(&client, "[data-testid=triage-minor]").await;
    take(&client, "submit-triage").await;
    assert_eq!(text_of(&client, "[data-testid=matter-class]").await, "小事");
    let matter_url = client.current_url().await.unwrap();

    // Staff register it and dispatch it to 刘芳 at the console.
    switch_to(&client, &app, "demo-staff", &passwords["demo-staff"]).await;
    client.set_window_size(1440, 900).await.unwrap();
    client.goto(matter_url.as_str()).await.unwrap();
    take(&client, "step-register").await;
    open_step(&client, "dispatch").await;
    client
        .find(Locator::Css("[data-testid=dispatch-target]"))
        .await
        .unwrap()
        .select_by_label("网格员 · 刘芳")
        .await
        .unwrap();
    take(&client, "submit-dispatch").await;
    assert_eq!(matter_status(&client).await, "已派遣");
    assert_eq!(
        text_of(&client, "[data-testid=matter-handler]").await,
        "网格员 · 刘芳"
    );
    shot(&client, "matter-dispatched-desktop").await;
    client.goto(&app.url("/matters/board")).await.unwrap();
    assert!(
        text_of(&client, "[data-testid=board-minor]")
            .await
            .contains(&number)
    );
    shot(&client, "matter-board-desktop").await;
    client.goto(&app.url("/matters/supervision")).await.unwrap();
    text_of(&client, "[data-testid=counts-by-grid]").await;
    shot(&client, "matter-supervision-desktop").await;

    // The grid worker signs for it on the phone and reports the fix.
    switch_to(
        &client,
        &app,
        "demo-grid-worker",
        &passwords["demo-grid-worker"],
    )
    .await;
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&app.url("/matters?view=mine")).await.unwrap();
    click(&client, "[data-testid=matter-link]").await;
    take(&client, "step-sign").await;
    assert_eq!(matter_status(&client).await, "处置中");
    open_step(&client, "feedback").await;
    type_into(
        &client,
        "comment-feedback",
        "已联系物业清运，垃圾桶已清洗。",
    )
    .await;
    take(&client, "submit-feedback").await;
    assert_eq!(matter_status(&client).await, "待核查");
    shot(&client, "matter-feedback-phone").await;

    // Staff verify the fix.
    switch_to(&client, &app, "demo-staff", &passwords["demo-staff"]).await;
    client.goto(matter_url.as_str()).await.unwrap();
    open_step(&client, "verify").await;
    take(&client, "submit-verify").await;
    assert_eq!(matter_status(&client).await, "已办结");

    // The resident sees the progress and rates the result.
    switch_to(&client, &app, "demo-resident", &passwords["demo-resident"]).await;
    client.goto(&app.url("/matters/mine")).await.unwrap();
    click(&client, "[data-testid=matter-link]").await;
    assert_eq!(matter_status(&client).await, "已办结");
    open_step(&client, "rate").await;
    click(&client, "[data-testid=rate-5]").await;
    take(&client, "submit-rate").await;
    assert_eq!(matter_status(&client).await, "已结案");
    assert_eq!(text_of(&client, "[data-testid=matter-rating]").await, "5/5");
    let timeline = text_of(&client, "[data-testid=timeline]").await;
    for step in [
        "上报",
        "受理",
        "分流",
        "立案",
        "派遣",
        "签收",
        "处置反馈",
        "核查",
        "评价",
    ] {
        assert!(timeline.contains(step), "{step} in {timeline}");
    }
    shot(&client, "matter-closed-phone").await;
    client.close().await.unwrap();
}

/// Clicks something that posts a form and waits until the next page has loaded (a new
/// document) and shows `css`.
async fn post_and_wait(client: &Client, testid: &str, css: &str) {
    client
        .execute("window.__linliOldPage = true", vec![])
        .await
        .unwrap();
    click(client, &format!("[data-testid={testid}]")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while client
        .execute("return window.__linliOldPage === undefined", vec![])
        .await
        .map(|v| v != serde_json::json!(true))
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "{testid} did not load a new page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_resident_redeems_points_on_a_phone_and_the_partner_confirms_the_code() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let t = TestDb::sqlite().await;
    linli::demo::generate(&t.db, &crate::support::test_key(), 1)
        .await
        .unwrap();
    let app = TestApp::spawn(&t.db).await;
    let resident = known_password(&t.db, "demo-resident").await;
    let partner = known_password(&t.db, "demo-partner").await;
    client.set_window_size(390, 844).await.unwrap();

    // The demo resident has a year of volunteering behind them.
    sign_in(&client, &app, "demo-resident", &resident).await;
    client.goto(&app.url("/points")).await.unwrap();
    let before: i64 = text_of(&client, "[data-testid=points-balance]")
        .await
        .parse()
        .unwrap();
    assert!(
        before >= 100,
        "the demo resident has points to spend: {before}"
    );
    assert!(client.source().await.unwrap().contains("获得积分"));
    shot(&client, "points-phone").await;

    // Redeem the barber's discount (100 points), from a partner merchant.
    click(&client, "[data-testid=catalogue-link]").await;
    text_of(&client, "[data-testid=catalogue-balance]").await;
    shot(&client, "points-catalogue-phone").await;
    let offers = client
        .find_all(Locator::Css("[data-testid=offer]"))
        .await
        .unwrap();
    let mut chosen = None;
    for (i, offer) in offers.iter().enumerate() {
        if offer.text().await.unwrap().contains("理发八折") {
            chosen = Some(i);
        }
    }
    let chosen = chosen.expect("the barber's offer is in the catalogue");
    client
        .execute("window.__linliOldPage = true", vec![])
        .await
        .unwrap();
    let button = offers[chosen]
        .find(Locator::Css("[data-testid=redeem]"))
        .await
        .unwrap();
    client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'})",
            vec![serde_json::to_value(&button).unwrap()],
        )
        .await
        .unwrap();
    button.click().await.unwrap();
    let code = text_of(&client, "[data-testid=redemption-code]").await;
    assert_eq!(code.len(), 10);
    assert_eq!(
        text_of(&client, "[data-testid=redemption-status]").await,
        "待核销"
    );
    client
        .find(Locator::Css("[data-testid=redemption-qr] svg"))
        .await
        .unwrap();
    shot(&client, "points-voucher-phone").await;
    client.goto(&app.url("/points")).await.unwrap();
    let after: i64 = text_of(&client, "[data-testid=points-balance]")
        .await
        .parse()
        .unwrap();
    assert_eq!(after, before - 100);

    // At the counter, the partner types the code (lower case, with a dash: forgiven).
    switch_to(&client, &app, "demo-partner", &partner).await;
    client.goto(&app.url("/points/confirm")).await.unwrap();
    type_into(&client, "code", "0000000000").await;
    post_and_wait(&client, "confirm-submit", "[data-testid=points-error]").await;
    assert_eq!(
        text_of(&client, "[data-testid=points-error]").await,
        "找不到这个核销码，或您不能为它核销。"
    );
    let typed = format!("{}-{}", &code[..5], code[5..].to_lowercase());
    type_into(&client, "code", &typed).await;
    post_and_wait(&client, "confirm-submit", "[data-testid=confirm-done]").await;
    assert!(
        text_of(&client, "[data-testid=confirm-done]")
            .await
            .contains("理发八折")
    );
    shot(&client, "points-confirm-phone").await;
    // The same code a second time is refused.
    type_into(&client, "code", &code).await;
    post_and_wait(&client, "confirm-submit", "[data-testid=points-error]").await;
    assert_eq!(
        text_of(&client, "[data-testid=points-error]").await,
        "这张凭证已经核销、取消或过期。"
    );

    // The resident's voucher now shows it was confirmed.
    switch_to(&client, &app, "demo-resident", &resident).await;
    client.goto(&app.url("/points")).await.unwrap();
    let history = text_of(&client, "[data-testid=points-history]").await;
    assert!(history.contains("-100"), "{history}");
    linli_store::check::run(&t.db)
        .await
        .map(|r| assert!(r.is_ok()))
        .unwrap();
    client.close().await.unwrap();
}

/// Sets a form field's value directly (date and time inputs take typed keys in the
/// browser's locale format; the value property is the same everywhere).
async fn set_value(client: &Client, id: &str, value: &str) {
    client
        .execute(
            "document.getElementById(arguments[0]).value = arguments[1]",
            vec![serde_json::json!(id), serde_json::json!(value)],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn staff_record_and_verify_hours_then_print_a_certificate() {
    let Some((_driver, client)) = start_browser().await else {
        return;
    };
    let t = TestDb::sqlite().await;
    let world = crate::support::seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    client.set_window_size(1280, 900).await.unwrap();
    sign_in(
        &client,
        &app,
        world.username(Role::CommunityStaff),
        crate::support::PASSWORD,
    )
    .await;
    client.goto(&app.url("/points")).await.unwrap();
    click(&client, "[data-testid=staff-link]").await;
    text_of(&client, "[data-testid=rules]").await;

    // Record two hours of yesterday's service for the first seeded resident.
    let id_number = crate::support::valid_id(crate::support::SEEDED_PEOPLE[0].2);
    let yesterday = (chrono::Utc::now() + chrono::Duration::hours(8) - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    client
        .execute(
            "document.getElementById('record-hours').open = true",
            vec![],
        )
        .await
        .unwrap();
    for (id, value) in [
        ("id_number", id_number.as_str()),
        ("activity", "重阳敬老活动"),
        ("content", "陪伴长者、协助助餐"),
        ("organiser", "社区党群服务中心"),
        ("date", yesterday.as_str()),
        ("start", "09:00"),
        ("end", "11:00"),
        ("evidence", "签到表"),
    ] {
        set_value(&client, id, value).await;
    }
    post_and_wait(&client, "record-submit", "[data-testid=staff-notice]").await;
    let pending = text_of(&client, "[data-testid=pending-records]").await;
    assert!(
        pending.contains("张伟") && pending.contains("2.00"),
        "{pending}"
    );
    shot(&client, "points-staff-desktop").await;

    // Verify it: the console says so and the record leaves the queue.
    post_and_wait(&client, "verify-record", "[data-testid=staff-notice]").await;
    assert!(
        client
            .find(Locator::Css("[data-testid=pending-records]"))
            .await
            .is_err(),
        "the verified record left the queue"
    );
    let ledger = text_of(&client, "[data-testid=ledger]").await;
    assert!(ledger.contains("重阳敬老活动"), "{ledger}");

    // Issue and print the certificate.
    client
        .execute(
            "document.getElementById('issue-certificate').open = true",
            vec![],
        )
        .await
        .unwrap();
    set_value(&client, "cert_id_number", &id_number).await;
    post_and_wait(
        &client,
        "certificate-submit",
        "[data-testid=certificate-hours]",
    )
    .await;
    assert_eq!(
        text_of(&client, "[data-testid=certificate-hours]").await,
        "2.00"
    );
    assert_eq!(
        text_of(&client, "[data-testid=certificate-name]").await,
        "张伟"
    );
    assert_eq!(
        text_of(&client, "[data-testid=certificate-document]").await,
        id_number
    );
    let centred = client
        .execute(
            "return getComputedStyle(document.querySelector('h1')).textAlign",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        centred,
        serde_json::json!("center"),
        "the print stylesheet applies (the CSP allows no inline style)"
    );
    shot(&client, "volunteer-certificate").await;

    // Record that a daughter acts for her 80-year-old mother, with her consent.
    crate::support::add_person(
        &t.db,
        world.a.id,
        world.a.grids[0],
        80,
        (
            "王奶奶".into(),
            "13700000080".into(),
            "44030319460303008".into(),
        ),
        None,
    )
    .await;
    let daughter = crate::support::add_account(&t.db, "daughter-wang", Some(world.a.id)).await;
    crate::support::grant(&t.db, world.a.id, daughter, Role::Resident, &[]).await;
    client.goto(&app.url("/points/staff")).await.unwrap();
    client
        .execute("document.getElementById('grant-proxy').open = true", vec![])
        .await
        .unwrap();
    for (id, value) in [
        (
            "proxy_id_number",
            crate::support::valid_id("44030319460303008"),
        ),
        ("proxy_username", "daughter-wang".to_owned()),
        ("consent_evidence", "本人签署授权书，网格员见证".to_owned()),
    ] {
        set_value(&client, id, &value).await;
    }
    post_and_wait(&client, "proxy-submit", "[data-testid=staff-notice]").await;
    assert!(
        text_of(&client, "[data-testid=staff-notice]")
            .await
            .contains("代理人")
    );

    // The administrator turns expiry on; a bad value changes nothing.
    switch_to(
        &client,
        &app,
        world.username(Role::CommunityAdmin),
        crate::support::PASSWORD,
    )
    .await;
    client.goto(&app.url("/points/staff")).await.unwrap();
    client
        .execute("document.getElementById('settings').open = true", vec![])
        .await
        .unwrap();
    // (Past the browser's own check, as a hand-made request would be.)
    client
        .execute(
            "document.getElementById('window_days').removeAttribute('min')",
            vec![],
        )
        .await
        .unwrap();
    set_value(&client, "expiry_months", "12").await;
    set_value(&client, "window_days", "3").await;
    post_and_wait(&client, "settings-submit", "[data-testid=staff-error]").await;
    let settings = |db: linli_store::Db| async move {
        let mut conn = db.acquire().await.unwrap();
        linli_store::points::expiry::settings(&mut conn.exec(), world.a.id)
            .await
            .unwrap()
    };
    assert_eq!(settings(t.db.clone()).await, None, "nothing saved");
    client
        .execute("document.getElementById('settings').open = true", vec![])
        .await
        .unwrap();
    set_value(&client, "expiry_months", "12").await;
    set_value(&client, "window_days", "90").await;
    post_and_wait(&client, "settings-submit", "[data-testid=staff-notice]").await;
    assert_eq!(
        settings(t.db.clone()).await.and_then(|s| s.expiry_months),
        Some(12)
    );
    client.close().await.unwrap();
}
