//! Faults: PostgreSQL going away and coming back, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linli_store::points as ledger;
use linli_store::{Db, matters};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{TestApp, TestDb, problem, seed_world};

/// A TCP relay in front of PostgreSQL that the test can cut and restore.
struct Relay {
    accept: JoinHandle<()>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(listener: TcpListener, upstream: String) -> Relay {
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let registry = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                registry.lock().unwrap().push(link);
            }
        });
        Relay { accept, links }
    }

    /// Cuts every connection and stops listening, like a database host going down.
    fn cut(self) {
        self.accept.abort();
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

#[tokio::test]
async fn postgres_outage_answers_503_with_retry_after_and_recovers_by_itself() {
    let Some(direct) = TestDb::postgres().await else {
        return;
    };
    seed_world(&direct.db).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = listener.local_addr().unwrap();
    let relay = Relay::start(listener, "127.0.0.1:5432".to_owned()).await;
    let via_relay = direct
        .url
        .replacen("127.0.0.1:5432", &relay_addr.to_string(), 1);
    assert_ne!(
        via_relay, direct.url,
        "the test database URL names 127.0.0.1:5432"
    );
    let db = Db::connect(&via_relay).await.unwrap();
    let app = TestApp::spawn(&db).await;
    let token = app.token("u-community-admin").await;
    assert_eq!(app.get("/api/v1/me", &token).await.status(), 200);

    relay.cut();
    // Let the session looked up above age out of the per-process cache.
    tokio::time::sleep(linli_web::Settings::default().session_cache + Duration::from_millis(100))
        .await;
    let started = Instant::now();
    let response = app.get("/api/v1/me", &token).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no hang: {:?}",
        started.elapsed()
    );
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service_unavailable"))
    );
    assert!(
        !body.to_string().contains("5432"),
        "no connection details leak: {body}"
    );
    assert_eq!(app.status("/readyz").await, 503);

    let listener = TcpListener::bind(relay_addr)
        .await
        .expect("rebind the relay port");
    let relay = Relay::start(listener, "127.0.0.1:5432".to_owned()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if app.get("/api/v1/me", &token).await.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not recover after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.status("/readyz").await, 200);
    relay.cut();
}

/// PostgreSQL ending the backends of the report and ledger lanes (a restart, an
/// administrator, an idle timeout): the next reports and award still go in. Each lane keeps
/// one connection of its own, not a pool that would notice: the batch on the dead socket
/// fails, the lane finds the connection gone and opens a new one for the requests it
/// retries. The two report lanes take turns at the queue, so two reports one after the
/// other reach both of them, before and after.
#[tokio::test]
async fn the_lanes_open_a_new_connection_after_postgres_ends_theirs() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let world = seed_world(&t.db).await;
    let c = &world.a;
    let staff = world.account_id(linli_domain::auth::Role::CommunityStaff);
    let rule = crate::points::current_rule(&t.db, c.id, "proposal_adopted").await;
    let award =
        |key: &str| crate::points::award_request(c.id, staff, key, c.residents[0], &rule, 10);
    let before = [
        crate::lite::new_matter(c, 1, "断开之前的事项"),
        crate::lite::new_matter(c, 2, "断开之前的另一事项"),
    ];
    let after = [
        crate::lite::new_matter(c, 3, "断开之后的事项"),
        crate::lite::new_matter(c, 4, "断开之后的另一事项"),
    ];
    let now = chrono::Utc::now();
    for m in &before {
        matters::report_matter(&t.db, c.id, m.clone(), None, now)
            .await
            .unwrap();
    }
    let first = ledger::submit(&t.db, award("lane-before"), now)
        .await
        .unwrap();
    assert!(first.is_ok(), "{first:?}");

    let admin = sqlx::PgPool::connect(&t.url).await.unwrap();
    let ended: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND (query LIKE '%matter_events%' OR query LIKE '%points_%')",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(
        ended.len() >= 3 && ended.iter().all(|(done,)| *done),
        "the report lanes' and the ledger lane's backends ended: {ended:?}"
    );

    for m in &after {
        matters::report_matter(&t.db, c.id, m.clone(), None, now)
            .await
            .expect("a report after the lanes' connections were ended");
    }
    let second = ledger::submit(&t.db, award("lane-after"), now)
        .await
        .expect("an award after the lane's connection was ended");
    assert!(second.is_ok(), "{second:?}");
    let mut conn = t.db.acquire().await.unwrap();
    for m in before.iter().chain(&after) {
        assert!(
            matters::find_matter(&mut conn.exec(), m.id)
                .await
                .unwrap()
                .is_some()
        );
    }
    admin.close().await;
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--database")
        .arg(format!(
            "sqlite://{}",
            dir.path().join("linli.db").display()
        ))
        .arg("--data-key-file")
        .arg(dir.path().join("keys/data.key"))
        .env_remove("LINLI_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "server exited early: {seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.strip_prefix("Listening on ") {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    assert!(
        seen.contains("journal_mode=wal") && seen.contains("synchronous=FULL"),
        "pragmas are printed: {seen}"
    );
    let ready = blocking_get(&format!("{url}/readyz"));
    assert_eq!(ready, 200);
    #[cfg(unix)]
    {
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "clean exit code, got {exit:?}");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert!(rest.contains("Stopped cleanly"), "{rest}");
    }
    #[cfg(not(unix))]
    let _ = child.kill();
}

/// A tiny blocking GET (this test runs outside a runtime).
fn blocking_get(url: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::get(url)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

/// Starts `linli serve` on `database` with the tests' data key and returns it with its
/// base URL once it listens.
fn start_server(database: &str, dir: &std::path::Path) -> (std::process::Child, String) {
    let key_file = dir.join("data.key");
    if !key_file.exists() {
        std::fs::write(&key_file, "5a".repeat(32)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .arg("--data-key-file")
        .arg(&key_file)
        .env_remove("LINLI_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "server exited early"
        );
        if let Some(rest) = line.strip_prefix("Listening on ") {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, url)
}

/// Kills the server mid-load (SIGKILL: no draining, no clean shutdown) and checks, after a
/// restart, that every award the clients were told about is in the ledger, that retrying
/// its key returns the same transfer, and that `linli check` passes.
#[tokio::test]
async fn acknowledged_ledger_writes_survive_a_kill() {
    use linli_domain::auth::Role;
    use serde_json::{Value, json};

    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let resident =
            crate::support::add_resident(&t.db, world.a.id, world.a.grids[0], 7, None).await;
        let dir = tempfile::tempdir().unwrap();
        let (mut child, url) = start_server(&t.url, dir.path());
        let client = reqwest::Client::new();
        let login = |url: String| {
            let client = client.clone();
            let username = world.username(Role::CommunityStaff).to_owned();
            async move {
                let r: Value = client
                    .post(format!("{url}/api/v1/auth/login"))
                    .json(&json!({ "username": username, "password": crate::support::PASSWORD }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                r["token"].as_str().unwrap().to_owned()
            }
        };
        let token = login(url.clone()).await;
        let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let body = json!({ "resident_id": resident, "rule": "proposal_adopted" });
        let mut writers = Vec::new();
        for w in 0..16 {
            let (client, url, token, body, acked) = (
                client.clone(),
                url.clone(),
                token.clone(),
                body.clone(),
                acked.clone(),
            );
            writers.push(tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("crash-{w:02}-{n:06}");
                    let sent = client
                        .post(format!("{url}/api/v1/points/awards"))
                        .bearer_auth(&token)
                        .header("idempotency-key", &key)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status() != 201 {
                        break;
                    }
                    let Ok(receipt) = response.json::<Value>().await else {
                        break;
                    };
                    let transfer = receipt["transfer_id"].as_str().unwrap().to_owned();
                    acked.lock().unwrap().push((key, transfer));
                }
            }));
        }
        // Let the load build up, then pull the plug.
        let deadline = Instant::now() + Duration::from_secs(20);
        while acked.lock().unwrap().len() < 400 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        for w in writers {
            w.await.unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            acked.len() >= 400,
            "only {} awards acknowledged before the kill",
            acked.len()
        );

        let (mut child, url) = start_server(&t.url, dir.path());
        let token = login(url.clone()).await;
        // Every acknowledged transfer is in the resident's history…
        let mut stored = std::collections::HashSet::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = format!("{url}/api/v1/points/accounts/{resident}?limit=200");
            if let Some(b) = &before {
                path.push_str(&format!("&before={b}"));
            }
            let page: Value = client
                .get(path)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for e in page["entries"].as_array().unwrap() {
                stored.insert(e["transfer_id"].as_str().unwrap().to_owned());
            }
            match page["next"].as_str() {
                Some(next) => before = Some(next.to_owned()),
                None => break,
            }
        }
        let lost: Vec<_> = acked
            .iter()
            .filter(|(_, id)| !stored.contains(id))
            .collect();
        assert!(
            lost.is_empty(),
            "{}: {} acknowledged awards lost, e.g. {:?}",
            t.engine,
            lost.len(),
            lost.first()
        );
        // …and a retry of its key answers with that transfer, changing nothing.
        for (key, transfer) in acked.iter().step_by(25) {
            let r = client
                .post(format!("{url}/api/v1/points/awards"))
                .bearer_auth(&token)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.headers()["idempotent-replayed"], "true");
            let receipt: Value = r.json().await.unwrap();
            assert_eq!(receipt["transfer_id"].as_str(), Some(transfer.as_str()));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let report = linli_store::check::run(&t.db).await.unwrap();
        assert!(
            report.is_ok(),
            "{}: {:?} {:?}",
            t.engine,
            report.database_problems,
            report.ledger.problems
        );
        eprintln!(
            "{}: killed with {} awards acknowledged; {} stored after restart",
            t.engine,
            acked.len(),
            stored.len()
        );
        // Nothing beyond what was acknowledged or in flight: at most one request per
        // writer was cut off between its commit and its answer.
        assert!(
            stored.len() <= acked.len() + 16,
            "{} stored, {} acknowledged",
            stored.len(),
            acked.len()
        );
    }
}
