//! Photo evidence through the API: checked by content, stored once, visible only with the case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use wangge_server::Config;
use wangge_store::Store;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(
    s: &common::TestServer,
    token: &str,
    case: &str,
    bytes: Vec<u8>,
    name: &str,
    stage: &str,
) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("stage", stage.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    let resp = s
        .client
        .post(s.url(&format!("/api/v1/cases/{case}/attachments")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_checked_stored_once_and_scoped() {
    for s in common::servers(Config::default()).await {
        let worker = s.login("demo-worker").await;
        let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
        let resp = s
            .post(&worker, "/api/v1/cases", &json!({"category": "06001", "description": "垃圾", "lon": lon, "lat": lat, "source": "patrol"}))
            .await;
        let case: Value = resp.json().await.unwrap();
        let id = case["id"].as_str().unwrap();

        let photo = png(640, 480);
        let (st, a) = upload(&s, &worker, id, photo.clone(), "before.png", "report").await;
        assert_eq!(st, 201, "{a}");
        assert_eq!(
            (
                a["media_type"].as_str(),
                a["width"].as_i64(),
                a["stage"].as_str()
            ),
            (Some("image/png"), Some(640), Some("report"))
        );
        // The same photo again is a second attachment of the same stored file.
        let (st, b) = upload(&s, &worker, id, photo.clone(), "again.png", "report").await;
        assert_eq!(st, 201);
        assert_eq!(a["sha256"], b["sha256"]);

        let bytes = s
            .client
            .get(s.url(a["url"].as_str().unwrap()))
            .bearer_auth(&worker)
            .send()
            .await
            .unwrap();
        assert_eq!(bytes.headers()["content-type"], "image/png");
        assert_eq!(bytes.bytes().await.unwrap().to_vec(), photo);
        let thumb = s
            .client
            .get(s.url(a["thumbnail_url"].as_str().unwrap()))
            .bearer_auth(&worker)
            .send()
            .await
            .unwrap();
        assert_eq!(thumb.headers()["content-type"], "image/jpeg");
        let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
        assert!(thumb.width() <= 320 && thumb.height() <= 320);

        for (bytes, name, stage, status, code) in [
            (b"hello".to_vec(), "fake.jpg", "report", 415, "not_an_image"),
            (Vec::new(), "empty.jpg", "report", 422, "invalid_field"),
            (photo.clone(), "x.png", "sometime", 422, "invalid_field"),
        ] {
            let (st, e) = upload(&s, &worker, id, bytes, name, stage).await;
            assert_eq!(
                (st, e["error"]["code"].as_str().unwrap()),
                (status, code),
                "{name}: {e}"
            );
        }

        let (_, view) = (
            0,
            s.get(&worker, &format!("/api/v1/cases/{id}"))
                .await
                .json::<Value>()
                .await
                .unwrap(),
        );
        assert_eq!(view["attachments"].as_array().unwrap().len(), 2);
        assert_eq!(
            view["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == "attach")
                .count(),
            2
        );
        let row =
            s.db.store
                .case(uuid::Uuid::parse_str(id).unwrap())
                .await
                .unwrap()
                .unwrap();
        wangge_server::cases::verify_timeline(&s.state, &row)
            .await
            .unwrap();

        // A unit that was never dispatched the case cannot see its photos.
        let unit = s.login("demo-unit").await;
        let resp = s
            .client
            .get(s.url(a["url"].as_str().unwrap()))
            .bearer_auth(&unit)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        let (st, _) = upload(&s, &unit, id, photo.clone(), "x.png", "handling").await;
        assert_eq!(st, 404);
    }
}
