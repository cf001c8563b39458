//! Test harness: real databases (a temporary SQLite file, a fresh PostgreSQL database),
//! a real HTTP server on a loopback port, and a seeded world of communities and accounts.

use std::net::SocketAddr;
use std::sync::LazyLock;

use chrono::Utc;
use linli_domain::auth::{NewPassword, Role, Username};
use linli_domain::registry::{Document, IdNumber, Phone};
use linli_domain::{
    AccountId, BuildingId, CommunityId, DistrictId, DwellingId, GridId, HouseholdId, ResidentId,
};
use linli_store::auth::{self as accounts, NewAccount};
use linli_store::registry::places::{self, NewBuilding, NewDwelling, NewHousehold, NewMember};
use linli_store::registry::residents::{self, NewResident};
use linli_store::tenancy::{self, NewCommunity};
use linli_store::{Db, registry};
use linli_web::crypto::DataKey;
use linli_web::pii;
use linli_web::{AppState, Settings};
use serde_json::Value;

/// Whether this run must exercise every engine and the browser (CI) or may skip them.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (printing why) or, under CI, fails.
pub fn skip_or_fail(what: &str, why: &str) {
    if ci() {
        panic!("{what} is required when CI=true, but {why}");
    }
    // Written past the test harness's output capture so the reason shows in every run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}: {why}");
}

fn pg_admin_url() -> String {
    std::env::var("LINLI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database for one test, removed afterwards.
pub struct TestDb {
    #[allow(dead_code)]
    pub url: String,
    pub db: Db,
    pub engine: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("linli.db").display());
        let db = Db::connect(&url).await.expect("open sqlite");
        db.migrate().await.expect("migrate sqlite");
        TestDb {
            url,
            db,
            engine: "sqlite",
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh database on the local PostgreSQL server, or `None` (skipped) if there is none.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = pg_admin_url();
        let admin = match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::PgPool::connect(&admin_url),
        )
        .await
        {
            Ok(Ok(pool)) => pool,
            Ok(Err(e)) => {
                skip_or_fail(
                    "PostgreSQL tests",
                    &format!("cannot connect to {admin_url}: {e}"),
                );
                return None;
            }
            Err(_) => {
                skip_or_fail(
                    "PostgreSQL tests",
                    &format!("timed out connecting to {admin_url}"),
                );
                return None;
            }
        };
        let name = format!("linli_t_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("LINLI_TEST_PG must end in /database"),
        };
        let db = Db::connect(&url).await.expect("open postgres");
        db.migrate().await.expect("migrate postgres");
        Some(TestDb {
            url,
            db,
            engine: "postgres",
            _dir: None,
            pg_name: Some(name),
        })
    }

    /// SQLite, plus PostgreSQL when available (required under CI).
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres().await {
            dbs.push(pg);
        }
        dbs
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop cannot await, and the test's runtime is the one blocked here: finish on a
        // thread with its own runtime. FORCE ends this test's pooled connections.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The password every seeded account shares, and its hash (hashed once: argon2 is slow on purpose).
pub const PASSWORD: &str = "邻里守望 相助一家亲";
static PASSWORD_HASH: LazyLock<String> = LazyLock::new(|| {
    let user = Username::parse("seeded").unwrap();
    linli_web::auth::password::hash_now(&NewPassword::parse(PASSWORD, &user).unwrap()).unwrap()
});

/// A seeded community with two grids; each grid has one building with one household of
/// one resident (张伟 in g1, 李娜 in g2).
#[derive(Debug, Clone, Copy)]
pub struct SeedCommunity {
    pub id: CommunityId,
    pub grids: [GridId; 2],
    pub buildings: [BuildingId; 2],
    pub households: [HouseholdId; 2],
    pub residents: [ResidentId; 2],
    /// A reported matter in each grid, filed under the seed category 03-01.
    pub matters: [uuid::Uuid; 2],
    /// The seed category 03-01 (exposed rubbish).
    pub category: uuid::Uuid,
}

/// The data key every test server runs with, so tests can seal what they seed.
pub fn test_key() -> DataKey {
    DataKey::from_bytes([0x5a; 32])
}

/// A valid ID-card number from its first 17 digits.
pub fn valid_id(first17: &str) -> String {
    let check = IdNumber::check_char(first17.as_bytes()) as char;
    format!("{first17}{check}")
}

/// The seeded residents' names, phones and ID numbers, per grid.
pub const SEEDED_PEOPLE: [(&str, &str, &str); 2] = [
    ("张伟", "13800138000", "44030319800101001"),
    ("李娜", "13900139000", "44030319900202002"),
];

/// One building, dwelling, household and resident in `grid`.
async fn seed_place(
    ex: &mut linli_store::Exec<'_>,
    community: CommunityId,
    grid: GridId,
    index: usize,
) -> (BuildingId, HouseholdId, ResidentId) {
    let (name, phone, id17) = SEEDED_PEOPLE[index];
    let person = (name.to_owned(), phone.to_owned(), id17.to_owned());
    seed_person(ex, community, grid, index, person, None).await
}

/// Another resident in `grid`, with a building of their own, signed in as `account` if
/// given (`index` from 2 up keeps their building code and ID number apart).
pub async fn add_resident(
    db: &Db,
    community: CommunityId,
    grid: GridId,
    index: usize,
    account: Option<AccountId>,
) -> ResidentId {
    let person = (
        format!("居民{index}"),
        format!("1370000{index:04}"),
        format!("44030319850505{index:03}"),
    );
    let mut tx = db.begin().await.unwrap();
    let (_, _, resident) =
        seed_person(&mut tx.exec(), community, grid, index, person, account).await;
    tx.commit().await.unwrap();
    resident
}

/// A resident of community `a`'s first grid who signs in as `username`.
pub async fn signed_in_resident(
    db: &Db,
    world: &World,
    username: &str,
    index: usize,
) -> ResidentId {
    let account = add_account(db, username, Some(world.a.id)).await;
    grant(db, world.a.id, account, Role::Resident, &[]).await;
    add_resident(db, world.a.id, world.a.grids[0], index, Some(account)).await
}

/// A resident with the given name, phone and first 17 ID digits (so a chosen birth date).
pub async fn add_person(
    db: &Db,
    community: CommunityId,
    grid: GridId,
    index: usize,
    person: (String, String, String),
    account: Option<AccountId>,
) -> ResidentId {
    let mut tx = db.begin().await.unwrap();
    let (_, _, resident) =
        seed_person(&mut tx.exec(), community, grid, index, person, account).await;
    tx.commit().await.unwrap();
    resident
}

async fn seed_person(
    ex: &mut linli_store::Exec<'_>,
    community: CommunityId,
    grid: GridId,
    index: usize,
    (name, phone, id17): (String, String, String),
    account: Option<AccountId>,
) -> (BuildingId, HouseholdId, ResidentId) {
    let now = Utc::now();
    let key = test_key();
    let building = BuildingId::new();
    places::insert_buildings(
        ex,
        community,
        &[NewBuilding {
            id: building,
            code: format!("B{index}"),
            name: format!("测试楼{index}栋"),
            address: format!("测试路{index}号"),
            address_code: None,
            floors: Some(6),
            grid_id: grid,
        }],
        now,
    )
    .await
    .unwrap();
    let dwelling = DwellingId::new();
    places::insert_dwellings(
        ex,
        community,
        &[NewDwelling {
            id: dwelling,
            building_id: building,
            room: "101".into(),
            address_code: None,
        }],
        now,
    )
    .await
    .unwrap();
    let household = HouseholdId::new();
    places::insert_households(
        ex,
        community,
        &[NewHousehold {
            id: household,
            dwelling_id: dwelling,
        }],
        now,
    )
    .await
    .unwrap();
    let resident = ResidentId::new();
    let id = IdNumber::parse(&valid_id(&id17)).unwrap();
    residents::insert_residents(
        ex,
        community,
        &[NewResident {
            id: resident,
            name,
            gender: Some(id.gender().as_str()),
            birth_date: Some(id.birth_date()),
            document_kind: Some("id_card"),
            document: Some(pii::seal_document(&key, resident, &Document::IdCard(id))),
            phone: Some(pii::seal_phone(
                &key,
                resident,
                &Phone::parse(&phone).unwrap(),
            )),
            household_id: Some(household),
            building_id: Some(building),
            grid_id: Some(grid),
            party_status: None,
            party_organisation: None,
            skills: vec![],
            tags: vec![],
            account_id: account,
        }],
        now,
    )
    .await
    .unwrap();
    places::insert_members(
        ex,
        community,
        &[NewMember {
            household_id: household,
            resident_id: resident,
            relation: "owner",
            moved_in: now.date_naive(),
        }],
    )
    .await
    .unwrap();
    (building, household, resident)
}

/// Two districts; the first holds communities `a` (home of every seeded role) and `b`, the
/// second holds `c`. Each community has grids g1 and g2 and a `target` resident account.
pub struct World {
    #[allow(dead_code)]
    pub district: DistrictId,
    pub a: SeedCommunity,
    pub b: SeedCommunity,
    pub c: SeedCommunity,
    /// Username of the account holding each role in community `a` (district admin: over the first district).
    pub accounts: Vec<(Role, String, AccountId)>,
    /// A resident of each community, for role and disable calls to aim at.
    pub targets: [AccountId; 3],
}

impl World {
    pub fn account_id(&self, role: Role) -> AccountId {
        self.accounts
            .iter()
            .find(|(r, _, _)| *r == role)
            .expect("seeded role")
            .2
    }

    pub fn username(&self, role: Role) -> &str {
        &self
            .accounts
            .iter()
            .find(|(r, _, _)| *r == role)
            .expect("seeded role")
            .1
    }
}

async fn seed_community(db: &Db, district: DistrictId, suffix: &str) -> SeedCommunity {
    let now = Utc::now();
    let mut tx = db.begin().await.unwrap();
    let mut ex = tx.exec();
    let sub = tenancy::ensure_subdistrict(
        &mut ex,
        district,
        &format!("sub-{suffix}"),
        &format!("{suffix}街道"),
        now,
    )
    .await
    .unwrap();
    let new = NewCommunity {
        subdistrict: sub,
        code: suffix,
        name: &format!("{suffix}社区"),
        time_zone: "Asia/Shanghai",
    };
    let id = tenancy::create_community(&mut ex, &new, now).await.unwrap();
    let g1 = registry::create_grid(&mut ex, id, "G1", "第一网格", now)
        .await
        .unwrap();
    let g2 = registry::create_grid(&mut ex, id, "G2", "第二网格", now)
        .await
        .unwrap();
    let (b1, h1, r1) = seed_place(&mut ex, id, g1, 0).await;
    let (b2, h2, r2) = seed_place(&mut ex, id, g2, 1).await;
    let category = linli_store::matters::categories::find_category_by_code(&mut ex, id, "03-01")
        .await
        .unwrap()
        .expect("seed catalogue");
    let mut matters = [uuid::Uuid::nil(); 2];
    for (i, (grid, building)) in [(g1, b1), (g2, b2)].into_iter().enumerate() {
        let matter = uuid::Uuid::now_v7();
        let new = linli_store::matters::NewMatter {
            id: matter,
            number: format!("{suffix}-{i}"),
            category_id: category.id,
            grid_id: Some(grid),
            building_id: Some(building.0),
            title: "测试用事项".into(),
            description: "测试用事项的说明".into(),
            source: "grid_patrol",
            proposed_class: None,
            reporter_resident_id: None,
            reporter_account_id: None,
            recorded_by: None,
            contact_enc: None,
            place: None,
            latitude: None,
            longitude: None,
        };
        linli_store::matters::insert_matter(&mut ex, id, &new, None, now)
            .await
            .unwrap();
        matters[i] = matter;
    }
    tx.commit().await.unwrap();
    SeedCommunity {
        id,
        grids: [g1, g2],
        buildings: [b1, b2],
        households: [h1, h2],
        residents: [r1, r2],
        matters,
        category: category.id,
    }
}

pub async fn add_account(db: &Db, username: &str, home: Option<CommunityId>) -> AccountId {
    let id = AccountId::new();
    let mut conn = db.acquire().await.unwrap();
    let new = NewAccount {
        id,
        username,
        display_name: username,
        password_hash: &PASSWORD_HASH,
        locale: "zh-CN",
        home_community: home,
    };
    accounts::insert_account(&mut conn.exec(), &new, Utc::now())
        .await
        .unwrap();
    id
}

pub async fn grant(
    db: &Db,
    community: CommunityId,
    account: AccountId,
    role: Role,
    grids: &[GridId],
) {
    let mut conn = db.acquire().await.unwrap();
    accounts::grant_role(
        &mut conn.exec(),
        community,
        account,
        role,
        grids,
        Utc::now(),
    )
    .await
    .unwrap();
}

pub async fn seed_world(db: &Db) -> World {
    let now = Utc::now();
    let (d1, d2) = {
        let mut conn = db.acquire().await.unwrap();
        let mut ex = conn.exec();
        (
            tenancy::ensure_district(&mut ex, "D1", "第一区", now)
                .await
                .unwrap(),
            tenancy::ensure_district(&mut ex, "D2", "第二区", now)
                .await
                .unwrap(),
        )
    };
    let a = seed_community(db, d1, "a").await;
    let b = seed_community(db, d1, "b").await;
    let c = seed_community(db, d2, "c").await;
    let mut accounts_out = Vec::new();
    for role in Role::ALL {
        let username = format!("u-{}", role.as_str().replace('_', "-"));
        if role == Role::DistrictAdmin {
            let id = add_account(db, &username, None).await;
            let mut conn = db.acquire().await.unwrap();
            accounts::grant_district_admin(&mut conn.exec(), d1, id, now)
                .await
                .unwrap();
            accounts_out.push((role, username, id));
        } else {
            let id = add_account(db, &username, Some(a.id)).await;
            let grids: Vec<GridId> = if role.is_grid_scoped() {
                vec![a.grids[0]]
            } else {
                vec![]
            };
            grant(db, a.id, id, role, &grids).await;
            accounts_out.push((role, username, id));
        }
    }
    let mut targets = [AccountId::new(); 3];
    for (i, community) in [a, b, c].iter().enumerate() {
        let id = add_account(db, &format!("target-{i}"), Some(community.id)).await;
        grant(db, community.id, id, Role::Resident, &[]).await;
        targets[i] = id;
    }
    World {
        district: d1,
        a,
        b,
        c,
        accounts: accounts_out,
        targets,
    }
}

/// Server logs for a failing test: `LINLI_TEST_LOG=debug cargo test …` prints them.
fn init_test_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("LINLI_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A running server on a loopback port, stopped when dropped.
pub struct TestApp {
    pub base: String,
    #[allow(dead_code)]
    pub addr: SocketAddr,
    #[allow(dead_code)]
    pub db: Db,
    /// The server's own state: background work run on it is this server's, not another's.
    #[allow(dead_code)]
    pub state: AppState,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn(db: &Db) -> TestApp {
        TestApp::spawn_with(db, Settings::default()).await
    }

    pub async fn spawn_with(db: &Db, settings: Settings) -> TestApp {
        init_test_logging();
        let state = AppState::new(db.clone(), test_key(), settings.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            linli_web::server::serve(listener, linli_web::app(served), &settings, shutdown)
                .await
                .unwrap();
        });
        TestApp {
            base: format!("http://{addr}"),
            addr,
            db: db.clone(),
            state,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs in through the API and returns the bearer token.
    pub async fn token(&self, username: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login as {username}");
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The status of an anonymous GET.
    pub async fn status(&self, path: &str) -> u16 {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A GET carrying browser cookies (`name=value; …`).
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A POST with an `Idempotency-Key`, as every ledger-changing request carries.
    pub async fn post_keyed(
        &self,
        path: &str,
        token: &str,
        key: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A GET expected to succeed, as JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, token).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Reads a problem response and checks its shape.
pub async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)));
    assert!(
        body["code"].is_string() && body["request_id"].is_string(),
        "{body}"
    );
    (status, body)
}

/// Decodes RFC 4648 base32 (as in otpauth URLs).
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
