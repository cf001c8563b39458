//! Faults: PostgreSQL going away and coming back, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linli_store::Db;
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
