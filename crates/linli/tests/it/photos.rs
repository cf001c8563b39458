//! Matter photos on both engines: type checked by content, size bounded, thumbnails made,
//! and the original (with its EXIF location) shown to staff only.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};
use linli_domain::auth::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, add_account, grant, problem, seed_world};

/// A JPEG whose EXIF block says where it was taken (IFD0 points at a GPS block).
fn jpeg_with_location() -> Vec<u8> {
    let mut plain = Vec::new();
    DynamicImage::new_rgb8(2000, 1500)
        .write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg)
        .unwrap();
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x8825u16.to_le_bytes());
    tiff.extend_from_slice(&[4, 0, 1, 0, 0, 0, 26, 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&0u16.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&plain[2..]);
    out
}

fn small_png() -> Vec<u8> {
    let mut png = Vec::new();
    DynamicImage::new_rgb8(40, 30)
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    png
}

async fn upload(
    app: &TestApp,
    token: &str,
    matter: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/matters/{matter}/photos")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn fetch(app: &TestApp, token: &str, path: &str) -> (u16, Vec<u8>) {
    let r = app.get(path, token).await;
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn photos_are_checked_shrunk_and_stripped_of_location_for_all_but_staff() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = app.token(world.username(Role::Resident)).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let category = world.a.category;
        let created: Value = app
            .post_json(
                "/api/v1/matters",
                &resident,
                &json!({ "category_id": category, "description": "楼下垃圾堆了好几天，附照片",
                "location": { "kind": "building", "building_id": world.a.buildings[0] } }),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();

        let original = jpeg_with_location();
        let r = upload(&app, &resident, &id, original.clone(), "image/jpeg").await;
        assert_eq!(r.status(), 201, "{}", t.engine);
        let photo: Value = r.json().await.unwrap();
        assert_eq!(
            (photo["width"].as_i64(), photo["height"].as_i64()),
            (Some(2000), Some(1500))
        );
        assert!(
            photo.get("original_url").is_none() && photo.get("had_location").is_none(),
            "{photo}"
        );

        // Staff see that it carries a location and may fetch the original as sent.
        let detail = app.get_json(&format!("/api/v1/matters/{id}"), &staff).await;
        let seen = &detail["photos"][0];
        assert_eq!(seen["had_location"], true);
        let (status, bytes) = fetch(&app, &staff, seen["original_url"].as_str().unwrap()).await;
        assert_eq!((status, bytes == original), (200, true));
        // Everyone else gets copies without EXIF, and no original.
        let photo_id = photo["id"].as_str().unwrap();
        let (status, display) = fetch(
            &app,
            &resident,
            &format!("/api/v1/photos/{photo_id}/display"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            !display.windows(6).any(|w| w == b"Exif\0\0"),
            "the copy carries no EXIF"
        );
        let shown = image::load_from_memory(&display).unwrap();
        assert_eq!((shown.width(), shown.height()), (1600, 1200));
        let (_, thumb) = fetch(&app, &resident, &format!("/api/v1/photos/{photo_id}/thumb")).await;
        let thumb = image::load_from_memory(&thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
        let (status, _) = fetch(
            &app,
            &resident,
            &format!("/api/v1/photos/{photo_id}/original"),
        )
        .await;
        assert_eq!(status, 404);

        // Wrong content (whatever the header says), too large, someone else's matter.
        let (status, body) = problem(
            upload(
                &app,
                &resident,
                &id,
                b"%PDF-1.7 fake".to_vec(),
                "image/jpeg",
            )
            .await,
        )
        .await;
        assert_eq!((status, body["code"].as_str()), (422, Some("photo_type")));
        let (status, _) = problem(
            upload(
                &app,
                &resident,
                &id,
                vec![0xFF; 10 * 1024 * 1024 + 10],
                "image/jpeg",
            )
            .await,
        )
        .await;
        assert_eq!(status, 413);
        let other = add_account(&t.db, "neighbour", Some(world.a.id)).await;
        grant(&t.db, world.a.id, other, Role::Resident, &[]).await;
        let neighbour = app.token("neighbour").await;
        let (status, _) =
            problem(upload(&app, &neighbour, &id, small_png(), "image/png").await).await;
        assert_eq!(status, 404);
        let (status, _) = fetch(
            &app,
            &neighbour,
            &format!("/api/v1/photos/{photo_id}/thumb"),
        )
        .await;
        assert_eq!(status, 404);
        // At most nine photos to a matter.
        for _ in 0..8 {
            assert_eq!(
                upload(&app, &resident, &id, small_png(), "image/png")
                    .await
                    .status(),
                201
            );
        }
        let (status, body) =
            problem(upload(&app, &resident, &id, small_png(), "image/png").await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("too_many_photos"))
        );
        let listed = app
            .get_json(&format!("/api/v1/matters/{id}/photos"), &resident)
            .await;
        assert_eq!(listed.as_array().unwrap().len(), 9);
    }
}
