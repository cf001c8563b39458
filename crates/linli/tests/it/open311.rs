//! Open311 GeoReport v2 driven with the spec's own example requests (form-encoded POST,
//! `.json` and `.xml` paths, `jurisdiction_id`, `api_key`), on both engines. XML answers
//! are parsed with Python's standard XML parser, as a client would.

use std::io::Write;
use std::process::{Command, Stdio};

use linli_domain::auth::Role;
use serde_json::Value;

use crate::support::{TestApp, TestDb, add_account, grant, seed_world, skip_or_fail};

/// Parses XML with Python's ElementTree and returns the root's tag and its children's
/// tags with their text (`tag=text` per line), or None where Python is missing.
fn parse_xml(xml: &str) -> Option<Vec<String>> {
    let child = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E\n\
             r = E.fromstring(sys.stdin.buffer.read())\n\
             print(r.tag)\n\
             for item in r:\n\
             \x20   print(item.tag + ':' + '|'.join(f'{c.tag}={c.text or \"\"}' for c in item))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        skip_or_fail("Open311 XML check", "python3 is not installed");
        return None;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not well-formed XML: {xml}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

async fn post_form(app: &TestApp, path: &str, body: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get_text(app: &TestApp, path: &str) -> (u16, String, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        response.status().as_u16(),
        ct,
        response.text().await.unwrap(),
    )
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn open311_clients_list_services_file_and_follow_requests() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = app.token(world.username(Role::Resident)).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        {
            let mut conn = t.db.acquire().await.unwrap();
            let square = r#"{"type":"Polygon","coordinates":[[[114.34,22.69],[114.36,22.69],[114.36,22.71],[114.34,22.71],[114.34,22.69]]]}"#;
            linli_store::registry::set_boundary(
                &mut conn.exec(),
                world.a.id,
                world.a.grids[0],
                Some(square),
            )
            .await
            .unwrap();
        }

        // GET services.json / services.xml?jurisdiction_id=… (the spec's first example).
        let leaves = app
            .get_json(
                &format!("/api/v1/communities/{}/matter-categories", world.a.id),
                &staff,
            )
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| !c["parent_id"].is_null())
            .count();
        let (status, ct, body) =
            get_text(&app, "/open311/v2/services.json?jurisdiction_id=a").await;
        assert_eq!(
            (status, ct.as_str()),
            (200, "application/json; charset=utf-8"),
            "{}",
            t.engine
        );
        let services: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(services.as_array().unwrap().len(), leaves);
        let lamp = services
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service_code"] == "04-01")
            .unwrap();
        assert_eq!(
            (lamp["service_name"].as_str(), lamp["group"].as_str()),
            (Some("路灯损坏"), Some("公共设施"))
        );
        assert_eq!(
            (lamp["metadata"].as_bool(), lamp["type"].as_str()),
            (Some(false), Some("realtime"))
        );
        let (status, ct, xml) = get_text(&app, "/open311/v2/services.xml?jurisdiction_id=a").await;
        assert_eq!((status, ct.as_str()), (200, "text/xml; charset=utf-8"));
        if let Some(lines) = parse_xml(&xml) {
            assert_eq!(lines[0], "services");
            assert_eq!(lines.len() - 1, leaves);
            assert!(
                lines.iter().any(
                    |l| l.contains("service_code=04-01") && l.contains("service_name=路灯损坏")
                )
            );
        }
        let (status, _, body) =
            get_text(&app, "/open311/v2/services/04-01.json?jurisdiction_id=a").await;
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["attributes"],
            serde_json::json!([])
        );

        // POST requests.xml with the spec's example fields.
        let form = format!(
            "api_key={resident}&jurisdiction_id=a&service_code=04-01&lat=22.70&long=114.35\
             &email=smit333%40sfgov.edu&device_id=tt222111&account_id=123456&first_name=john&last_name=smith\
             &phone=111111111&description={}&media_url=http%3A%2F%2Fexample.com%2Fimage.jpg",
            encode("东门路灯一直不亮，晚上看不清路")
        );
        let (status, xml) = post_form(&app, "/open311/v2/requests.xml", &form).await;
        assert_eq!(status, 201, "{xml}");
        let number = match parse_xml(&xml) {
            Some(lines) => {
                assert_eq!(lines[0], "service_requests");
                let item = &lines[1];
                let id = item
                    .split('|')
                    .find_map(|f| {
                        f.strip_prefix("request:service_request_id=")
                            .or_else(|| f.strip_prefix("service_request_id="))
                    })
                    .unwrap()
                    .to_owned();
                assert!(item.contains("service_notice="));
                id
            }
            None => xml
                .split("<service_request_id>")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_owned(),
        };
        // The contact details went in sealed, never as text.
        {
            let mut conn = t.db.acquire().await.unwrap();
            let m =
                linli_store::matters::find_matter_by_number(&mut conn.exec(), world.a.id, &number)
                    .await
                    .unwrap()
                    .unwrap();
            assert_eq!(
                (m.source.as_str(), m.grid_id),
                ("open311", Some(world.a.grids[0].0))
            );
            let sealed = m.contact_enc.unwrap();
            assert!(!String::from_utf8_lossy(&sealed).contains("sfgov"));
        }

        // GET requests/{id}.json and requests.xml?service_request_id=… with the reporter's key.
        let (status, _, body) = get_text(
            &app,
            &format!("/open311/v2/requests/{number}.json?jurisdiction_id=a&api_key={resident}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let request = &serde_json::from_str::<Value>(&body).unwrap()[0];
        assert_eq!(
            (
                request["service_request_id"].as_str(),
                request["status"].as_str()
            ),
            (Some(number.as_str()), Some("open"))
        );
        assert_eq!(request["service_code"], "04-01");
        assert_eq!(request["lat"], 22.70);
        let (status, _, xml) = get_text(&app, &format!("/open311/v2/requests.xml?jurisdiction_id=a&service_request_id={number}&api_key={resident}")).await;
        assert_eq!(status, 200);
        if let Some(lines) = parse_xml(&xml) {
            assert_eq!((lines[0].as_str(), lines.len()), ("service_requests", 2));
            assert!(lines[1].contains(&format!("service_request_id={number}")));
        }
        // Staff list open requests of their community; the seeded matters show too.
        let (status, _, body) = get_text(
            &app,
            &format!("/open311/v2/requests.json?api_key={staff}&status=open"),
        )
        .await;
        assert_eq!(status, 200);
        let listed: Value = serde_json::from_str(&body).unwrap();
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["service_request_id"] == number.as_str())
        );

        // Errors, in the spec's shape and in the format asked for.
        let missing =
            format!("api_key={resident}&jurisdiction_id=a&lat=22.70&long=114.35&description=x");
        let (status, body) = post_form(&app, "/open311/v2/requests.json", &missing).await;
        assert_eq!(status, 400);
        let errors: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(errors[0]["code"], 400);
        assert!(
            errors[0]["description"]
                .as_str()
                .unwrap()
                .contains("service_code")
        );
        let (status, xml) = post_form(&app, "/open311/v2/requests.xml", &missing).await;
        assert_eq!(status, 400);
        if let Some(lines) = parse_xml(&xml) {
            assert_eq!(lines[0], "errors");
            assert!(lines[1].contains("code=400"));
        }
        let nowhere = format!(
            "api_key={resident}&jurisdiction_id=a&service_code=04-01&description={}",
            encode("路灯坏了好几天")
        );
        let (status, body) = post_form(&app, "/open311/v2/requests.json", &nowhere).await;
        assert!(
            status == 400 && body.contains("location"),
            "{status} {body}"
        );
        let outside = format!(
            "api_key={resident}&jurisdiction_id=a&service_code=04-01&lat=23.5&long=114.35&description={}",
            encode("路灯坏了好几天")
        );
        let (status, body) = post_form(&app, "/open311/v2/requests.json", &outside).await;
        assert!(
            status == 400 && body.contains("location"),
            "{status} {body}"
        );
        let (status, _) = post_form(
            &app,
            "/open311/v2/requests.json",
            "api_key=not-a-key&service_code=04-01",
        )
        .await;
        assert_eq!(status, 403);
        let (status, _, _) =
            get_text(&app, "/open311/v2/services.json?jurisdiction_id=nowhere").await;
        assert_eq!(status, 404);
        let (status, _, _) = get_text(&app, "/open311/v2/requests.json?jurisdiction_id=a").await;
        assert_eq!(status, 403, "requests are not published without a key");
        let (status, _, _) = get_text(&app, "/open311/v2/services.csv").await;
        assert_eq!(status, 404);
        // Another resident cannot follow this request.
        let other = add_account(&t.db, "neighbour", Some(world.a.id)).await;
        grant(&t.db, world.a.id, other, Role::Resident, &[]).await;
        let neighbour = app.token("neighbour").await;
        let (status, _, _) = get_text(
            &app,
            &format!("/open311/v2/requests/{number}.json?api_key={neighbour}"),
        )
        .await;
        assert_eq!(status, 404);
    }
}
