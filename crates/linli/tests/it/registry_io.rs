//! Spreadsheet import and export over HTTP on both engines: every problem reported by row,
//! column and reason with nothing written; dry runs; skipping invalid rows on request;
//! UTF-8 and GBK CSV; a full export that imports again; formula injection neutralised;
//! files that LibreOffice and openpyxl open.

use chrono::Utc;
use linli_domain::auth::Role;
use linli_domain::registry::sheet::COLUMNS;
use serde_json::Value;

use crate::support::{SEEDED_PEOPLE, TestApp, TestDb, World, seed_world, skip_or_fail, valid_id};

/// A CSV file in the template's layout from (column key, value) rows.
fn csv_file(rows: &[Vec<(&str, String)>]) -> String {
    let mut out = COLUMNS
        .iter()
        .map(|c| c.header)
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| {
                row.iter()
                    .find(|(k, _)| *k == c.key)
                    .map(|(_, v)| quote(v))
                    .unwrap_or_default()
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180 quoting for a field that holds a comma, a quote or a line break.
fn quote(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn person(
    building: &str,
    room: &str,
    name: &str,
    relation: &str,
    id17: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut row = vec![
        ("building_code", building.to_owned()),
        ("room", room.to_owned()),
        ("name", name.to_owned()),
        ("relation", relation.to_owned()),
    ];
    if let Some(id) = id17 {
        row.push(("document_number", valid_id(id)));
    }
    row
}

fn new_building(mut row: Vec<(&'static str, String)>, grid: &str) -> Vec<(&'static str, String)> {
    row.push(("building_name", "和谐家园9栋".to_owned()));
    row.push(("building_address", "和平路99号".to_owned()));
    row.push(("grid_code", grid.to_owned()));
    row
}

async fn post_file(
    app: &TestApp,
    token: &str,
    community: impl std::fmt::Display,
    query: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/communities/{community}/imports{query}")))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn resident_total(app: &TestApp, token: &str, world: &World) -> u64 {
    app.get_json(
        &format!("/api/v1/communities/{}/residents?limit=1", world.a.id),
        token,
    )
    .await["total"]
        .as_u64()
        .unwrap()
}

fn problems(report: &Value) -> Vec<(u64, String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["column"].as_str().unwrap().to_owned(),
                p["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bad_file_is_refused_whole_with_every_problem_located() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        // A grid that exists only in another community.
        let mut conn = t.db.acquire().await.unwrap();
        linli_store::registry::create_grid(
            &mut conn.exec(),
            world.c.id,
            "G9",
            "外社区网格",
            Utc::now(),
        )
        .await
        .unwrap();
        drop(conn);
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let before = resident_total(&app, &staff, &world).await;
        let mut bad_checksum = valid_id("44030319800303001");
        bad_checksum.replace_range(
            17..,
            if bad_checksum.ends_with('0') {
                "1"
            } else {
                "0"
            },
        );
        let rows = vec![
            // 2: fine head of household in an existing building
            person("B0", "201", "王一", "户主", Some("44030319700101011")),
            // 3: wrong checksum
            vec![
                ("building_code", "B0".into()),
                ("room", "202".into()),
                ("name", "王二".into()),
                ("relation", "户主".into()),
                ("document_number", bad_checksum),
            ],
            // 4: impossible birth date
            vec![
                ("building_code", "B0".into()),
                ("room", "203".into()),
                ("name", "王三".into()),
                ("relation", "户主".into()),
                ("birth_date", "1990-02-30".into()),
            ],
            // 5: the same document as row 2
            person("B0", "204", "王四", "户主", Some("44030319700101011")),
            // 6: already registered (张伟)
            person("B0", "205", "张伟", "户主", Some(SEEDED_PEOPLE[0].2)),
            // 7: a household without a head
            person("B0", "206", "王六", "家庭成员", None),
            // 8: a new building in another community's grid
            new_building(person("B77", "101", "王七", "户主", None), "G9"),
            // 9 (below, 10): a special group in the free tags column
            // 9: a new building with no name or address
            vec![
                ("building_code", "B78".into()),
                ("room", "101".into()),
                ("name", "王八".into()),
                ("relation", "户主".into()),
                ("grid_code", "G1".into()),
            ],
            // 10: a special group in the free tags column
            {
                let mut row = person("B0", "207", "王九", "户主", None);
                row.push(("tags", "低保户".into()));
                row
            },
            // 11: a new building, fine
            new_building(person("B79", "101", "王十", "户主", None), "G1"),
            // 12: the same new building said to be in another grid
            new_building(person("B79", "102", "王十一", "户主", None), "G2"),
        ];
        let mut file = csv_file(&rows);
        file.push_str(",,,,,,,,,,,,,,,,,,\n"); // an empty row is skipped, not an error
        let (status, report) = post_file(&app, &staff, world.a.id, "", file.into_bytes()).await;
        assert_eq!(status, 422, "{} {report}", t.engine);
        let found = problems(&report);
        for expected in [
            (3, "证件号码", "id_number_checksum"),
            (4, "出生日期", "birth_date_impossible"),
            (5, "证件号码", "duplicate_in_file"),
            (6, "证件号码", "duplicate_resident"),
            (7, "与户关系", "household_without_owner"),
            (8, "网格编号", "unknown_grid"),
            (9, "楼栋名称", "required_for_new_building"),
            (9, "楼栋地址", "required_for_new_building"),
            (10, "标签", "sensitive_tag_in_tags"),
            (12, "网格编号", "building_in_other_grid"),
        ] {
            assert!(
                found.contains(&(expected.0, expected.1.to_owned(), expected.2.to_owned())),
                "{} missing {expected:?} in {found:?}",
                t.engine
            );
        }
        assert!(
            !found.iter().any(|(row, _, _)| *row == 2 || *row == 11),
            "rows 2 and 11 are fine: {found:?}"
        );
        assert_eq!(report["empty_rows"], 1);
        assert_eq!(report["imported"], false);
        assert_eq!(
            resident_total(&app, &staff, &world).await,
            before,
            "nothing written"
        );

        // With skip_invalid the valid row goes in and the others are listed.
        let (status, report) = post_file(
            &app,
            &staff,
            world.a.id,
            "?skip_invalid=true",
            csv_file(&rows).into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["imported"], true);
        assert_eq!(report["created"]["residents"], 2);
        assert_eq!(
            report["skipped_rows"],
            serde_json::json!([3, 4, 5, 6, 7, 8, 9, 10, 12])
        );
        assert_eq!(resident_total(&app, &staff, &world).await, before + 2);

        // Wrong headers refuse the file at row 1.
        let (status, report) = post_file(
            &app,
            &staff,
            world.a.id,
            "",
            "名字,电话\n张三,13800000000\n".as_bytes().to_vec(),
        )
        .await;
        assert_eq!(status, 422);
        let found = problems(&report);
        assert!(
            found.contains(&(1, "楼栋编号".into(), "missing_column".into())),
            "{found:?}"
        );
        assert!(found.contains(&(1, "名字".into(), "unknown_column".into())));

        // Bytes that are neither UTF-8 nor GBK, and a broken workbook, are named as such.
        let (status, body) =
            post_file(&app, &staff, world.a.id, "", vec![b'a', 0xFF, 0xFF, 0x20]).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("unknown_encoding"))
        );
        let (status, body) =
            post_file(&app, &staff, world.a.id, "", b"PK\x03\x04broken".to_vec()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("unreadable_workbook"))
        );

        // The template has the columns the importer reads, and checks clean once its
        // example rows point at one of this community's grids.
        let template = app
            .client
            .get(app.url("/api/v1/registry/template?format=csv"))
            .bearer_auth(&staff)
            .send()
            .await
            .unwrap();
        assert_eq!(template.status(), 200);
        let template = String::from_utf8(template.bytes().await.unwrap().to_vec()).unwrap();
        let header_line = template
            .trim_start_matches('\u{feff}')
            .lines()
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(
            header_line,
            COLUMNS
                .iter()
                .map(|c| c.header)
                .collect::<Vec<_>>()
                .join(",")
        );
        let (status, report) = post_file(
            &app,
            &staff,
            world.a.id,
            "?dry_run=true",
            template.replace("XH-01", "G1").into_bytes(),
        )
        .await;
        assert_eq!(
            (status, report["created"]["residents"].as_u64()),
            (200, Some(2)),
            "{report}"
        );

        // Only staff and administrators import.
        let worker = app.token(world.username(Role::GridWorker)).await;
        let (status, _) =
            post_file(&app, &worker, world.a.id, "", csv_file(&rows).into_bytes()).await;
        assert_eq!(status, 403);
    }
}

#[tokio::test]
async fn a_gbk_file_imports_after_a_dry_run_and_a_full_export_imports_again() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let before = resident_total(&app, &staff, &world).await;
        let mut child = person("B50", "1201", "周小宝", "家庭成员", None);
        child.push(("birth_date", "2020-05-01".into()));
        child.push(("guardian_consent", "是".into()));
        let mut party = person("B50", "1202", "周建党", "户主", Some("44030319560606022"));
        party.push(("party_status", "退休党员".into()));
        party.push(("skills", "书法、摄影".into()));
        party.push(("phone", "13712345678".into()));
        let rows = vec![
            new_building(
                person("B50", "1201", "周大伟", "户主", Some("44030319800808033")),
                "G1",
            ),
            person("B50", "1201", "吴丽", "家庭成员", Some("44030319820909044")),
            child,
            party,
            person(
                "B0",
                "301",
                "=HYPERLINK(\"http://evil\",\"点我\")",
                "户主",
                None,
            ),
        ];
        let text = csv_file(&rows);
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
        assert!(!unmappable);
        let gbk = gbk.into_owned();

        let (status, report) =
            post_file(&app, &staff, world.a.id, "?dry_run=true", gbk.clone()).await;
        assert_eq!(status, 200, "{} {report}", t.engine);
        assert_eq!(
            (report["dry_run"].as_bool(), report["imported"].as_bool()),
            (Some(true), Some(false))
        );
        assert_eq!(report["created"]["residents"], 5);
        assert_eq!(report["created"]["buildings"], 1);
        assert_eq!(report["created"]["households"], 3);
        assert_eq!(
            resident_total(&app, &staff, &world).await,
            before,
            "a dry run writes nothing"
        );

        let (status, report) = post_file(&app, &staff, world.a.id, "", gbk).await;
        assert_eq!(
            (status, report["imported"].as_bool()),
            (200, Some(true)),
            "{report}"
        );
        assert_eq!(resident_total(&app, &staff, &world).await, before + 5);
        let found = app
            .get_json(
                &format!(
                    "/api/v1/communities/{}/residents?q=%E5%91%A8%E5%BB%BA%E5%85%9A",
                    world.a.id
                ),
                &staff,
            )
            .await;
        assert_eq!(found["items"][0]["party_status"], "retired");
        assert_eq!(
            found["items"][0]["skills"],
            serde_json::json!(["书法", "摄影"])
        );

        // A full export is for administrators, and it is audited.
        let export = |token: String, query: &'static str| {
            let app = &app;
            let community = world.a.id;
            async move {
                app.client
                    .get(app.url(&format!(
                        "/api/v1/communities/{community}/exports/residents{query}"
                    )))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(export(staff.clone(), "?full=true").await.status(), 403);
        let masked = export(staff.clone(), "?format=csv").await;
        assert_eq!(masked.status(), 200);
        let masked = String::from_utf8(masked.bytes().await.unwrap().to_vec()).unwrap();
        assert!(masked.starts_with('\u{feff}'), "Excel needs the BOM");
        assert!(masked.contains("137****5678") && !masked.contains("13712345678"));
        assert!(
            masked.contains("'=HYPERLINK"),
            "formula neutralised: {masked}"
        );
        let full = export(admin.clone(), "?full=true").await;
        assert_eq!(full.status(), 200);
        assert!(
            full.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("-full.xlsx")
        );
        let workbook = full.bytes().await.unwrap().to_vec();

        // The full export imports into a community with the same grid codes.
        let fresh = empty_community(&t.db, world.district).await;
        let fresh_staff = {
            let id = crate::support::add_account(&t.db, "fresh-staff", Some(fresh)).await;
            crate::support::grant(&t.db, fresh, id, Role::CommunityStaff, &[]).await;
            app.token("fresh-staff").await
        };
        let (status, report) = post_file(&app, &fresh_staff, fresh, "", workbook.clone()).await;
        let exported = before + 5;
        assert_eq!(status, 200, "{} {report}", t.engine);
        assert_eq!(report["created"]["residents"], exported);
        assert_eq!(
            report["created"]["households"], 5,
            "the two seeded + three imported"
        );
        // What came back is what went out: export the copy and compare, ids aside.
        let again = app
            .client
            .get(app.url(&format!(
                "/api/v1/communities/{fresh}/exports/residents?format=csv"
            )))
            .bearer_auth(&fresh_staff)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let original = String::from_utf8(
            export(staff.clone(), "?format=csv")
                .await
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert_eq!(
            without_household_keys(&again),
            without_household_keys(&original),
            "{}",
            t.engine
        );

        let log: Value = app
            .get_json(
                &format!("/api/v1/communities/{}/audit", world.a.id),
                &app.token(world.username(Role::Auditor)).await,
            )
            .await;
        let exports: Vec<&Value> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "registry_exported")
            .collect();
        assert_eq!(exports.len(), 3, "two masked and one full");
        assert!(
            log["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "registry_imported")
        );

        if t.engine == "sqlite" {
            third_party_readers_open(&workbook);
        }
    }
}

/// A community with grids G1 and G2 and nothing else.
async fn empty_community(
    db: &linli_store::Db,
    district: linli_domain::DistrictId,
) -> linli_domain::CommunityId {
    let now = Utc::now();
    let mut tx = db.begin().await.unwrap();
    let mut ex = tx.exec();
    let sub =
        linli_store::tenancy::ensure_subdistrict(&mut ex, district, "sub-fresh", "新街道", now)
            .await
            .unwrap();
    let id = linli_store::tenancy::create_community(
        &mut ex,
        &linli_store::tenancy::NewCommunity {
            subdistrict: sub,
            code: "fresh",
            name: "新社区",
            time_zone: "Asia/Shanghai",
        },
        now,
    )
    .await
    .unwrap();
    for code in ["G1", "G2"] {
        linli_store::registry::create_grid(&mut ex, id, code, code, now)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    id
}

/// Export lines sorted, with the household column (an internal id) blanked.
fn without_household_keys(csv: &str) -> Vec<String> {
    let household = COLUMNS.iter().position(|c| c.key == "household").unwrap();
    let mut lines: Vec<String> = csv
        .lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            if cells.len() > household {
                cells[household] = "";
            }
            cells.join(",")
        })
        .collect();
    lines.sort();
    lines
}

/// The exported workbook opens in openpyxl and in LibreOffice, with the formula-like
/// name kept as text.
fn third_party_readers_open(workbook: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.xlsx");
    std::fs::write(&path, workbook).unwrap();
    // Debian's python3 carries python3-openpyxl; a pyenv shim on PATH may not.
    let interpreter = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let python = std::process::Command::new(interpreter)
        .arg("-c")
        .arg(
            "import json, sys, openpyxl\n\
             wb = openpyxl.load_workbook(sys.argv[1])\n\
             ws = wb.active\n\
             rows = [[c.value for c in r] for r in ws.iter_rows()]\n\
             kinds = sorted({c.data_type for r in ws.iter_rows() for c in r if c.value is not None})\n\
             print(json.dumps({'title': ws.title, 'rows': rows, 'kinds': kinds}))",
        )
        .arg(&path)
        .output();
    match python {
        Ok(out) if out.status.success() => {
            let read: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(read["title"], "居民");
            assert_eq!(read["rows"][0][6], "姓名");
            assert_eq!(
                read["kinds"],
                serde_json::json!(["s"]),
                "every cell is text, none a formula"
            );
            let text = read["rows"].to_string();
            assert!(text.contains("'=HYPERLINK") && text.contains("13712345678"));
        }
        Ok(out) => skip_or_fail("openpyxl check", &String::from_utf8_lossy(&out.stderr)),
        Err(e) => skip_or_fail("openpyxl check", &format!("python3 is missing: {e}")),
    }
    let soffice = std::process::Command::new("soffice")
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",
            "--outdir",
        ])
        .arg(dir.path())
        .arg(&path)
        .env("HOME", dir.path())
        .output();
    match soffice {
        Ok(out) if out.status.success() => {
            let csv = std::fs::read_to_string(dir.path().join("export.csv")).unwrap();
            assert!(csv.starts_with("楼栋编号,"), "{csv}");
            assert!(
                csv.contains("13712345678") && csv.contains("'=HYPERLINK"),
                "{csv}"
            );
        }
        Ok(out) => skip_or_fail("LibreOffice check", &String::from_utf8_lossy(&out.stderr)),
        Err(e) => skip_or_fail(
            "LibreOffice check",
            &format!("soffice is missing (apt-get install libreoffice-calc-nogui): {e}"),
        ),
    }
}
