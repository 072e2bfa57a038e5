//! The grid worker's phone page (`/m`): the page with the worker's grid, a report with photos
//! from the page's form, the error for a position outside the worker's area, the roles that may
//! not use it, and the PWA files (manifest, service worker, icons).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use wangge_server::Config;
use wangge_store::Store;

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(s: &common::TestServer, cookie: &str, path: &str) -> (u16, String) {
    let resp = no_redirects()
        .get(s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The value of the page's `_csrf` input.
fn csrf(html: &str) -> String {
    let at = html.find(r#"name="_csrf" value=""#).expect("a CSRF input");
    let rest = &html[at + r#"name="_csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The JSON the page embeds for its script.
fn phone_data(html: &str) -> Value {
    let start = html
        .find(r#"<script type="application/json" id="phone-data">"#)
        .expect("phone data");
    let rest = &html[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(body).unwrap()
}

struct Report<'a> {
    csrf: &'a str,
    category: &'a str,
    description: &'a str,
    lon: f64,
    lat: f64,
    photos: Vec<Vec<u8>>,
    client_ref: Option<&'a str>,
}

async fn post_report(
    s: &common::TestServer,
    cookie: &str,
    r: &Report<'_>,
    json: bool,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().text("_csrf", r.csrf.to_owned());
    if let Some(c) = r.client_ref {
        form = form.text("client_ref", c.to_owned());
    }
    form = form
        .text("category", r.category.to_owned())
        .text("description", r.description.to_owned())
        .text("lon", r.lon.to_string())
        .text("lat", r.lat.to_string());
    for (i, p) in r.photos.iter().enumerate() {
        form = form.part(
            "photo",
            reqwest::multipart::Part::bytes(p.clone())
                .file_name(format!("photo-{i}.png"))
                .mime_str("image/png")
                .unwrap(),
        );
    }
    let mut req = no_redirects()
        .post(s.url("/m/report"))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .multipart(form);
    if json {
        req = req.header("accept", "application/json");
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reports_from_the_phone_page() {
    for s in common::servers(Config::default()).await {
        let cookie = s.session_cookie("demo-worker").await;
        let region = s.region_of("demo-worker").await;
        let (status, html) = page(&s, &cookie, "/m").await;
        assert_eq!(status, 200, "{html}");
        for needle in [
            r#"<form id="report""#,
            r#"enctype="multipart/form-data""#,
            r#"<select name="category""#,
            r#"<textarea name="description""#,
            r#"type="file" name="photo" accept="image/*" capture="environment" multiple"#,
            r#"name="lon""#,
            r#"name="lat""#,
            r#"<link rel="manifest" href="/manifest.webmanifest">"#,
            r##"<meta name="theme-color" content="#1565c0">"##,
            r#"data-testid="queue-count""#,
            r#"/static/js/phone.js"#,
            r#"<option value="06001">"#,
        ] {
            assert!(html.contains(needle), "the page lacks {needle}");
        }
        // The worker's grid, drawn from its stored geometry.
        let data = phone_data(&html);
        assert_eq!(data["region"], region.as_str());
        assert_eq!(data["user"], "demo-worker");
        let kind = data["geometry"]["type"].as_str().unwrap();
        assert!(kind == "Polygon" || kind == "MultiPolygon", "{kind}");
        assert!(
            data["geometry"]["coordinates"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        );
        // The form starts at a point inside the grid, which the script moves to the phone's fix.
        let start = data["start"].as_array().unwrap();
        let (lon, lat) = (start[0].as_f64().unwrap(), start[1].as_f64().unwrap());
        assert_eq!(
            s.state.atlas().locate_code(lon, lat).map(str::to_owned),
            Some(region.clone())
        );

        // A report as the page's script sends it: JSON answer, a case in the grid, the photo
        // attached as report ("before") evidence.
        let token = csrf(&html);
        let report = Report {
            csrf: &token,
            category: "06001",
            description: "路边堆放垃圾",
            lon,
            lat,
            photos: vec![png(64, 48)],
            client_ref: Some("3f2c0d9e-5b1a-4c7e-9d2f-8a6b4e1c0f37"),
        };
        let resp = post_report(&s, &cookie, &report, true).await;
        assert_eq!(resp.status().as_u16(), 201);
        let done: Value = resp.json().await.unwrap();
        let id = done["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (done["attachments"].as_u64(), done["duplicate"].as_bool()),
            (Some(1), Some(false))
        );
        assert_eq!(done["url"], format!("/console/cases/{id}"));

        let bearer = s.login("demo-worker").await;
        let view: Value = s
            .get(&bearer, &format!("/api/v1/cases/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(view["grid"]["code"], region.as_str());
        assert_eq!(view["source"], "patrol");
        assert_eq!(view["state"], done["state"]);
        let attachments = view["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1, "{view}");
        assert_eq!(attachments[0]["stage"], "report");
        assert_eq!(attachments[0]["media_type"], "image/png");
        assert_eq!(attachments[0]["uploaded_by"], view["timeline"][0]["actor"]);

        // The same report again (its answer was lost): the same case, nothing new.
        let before = s.db.store.count_cases().await.unwrap();
        let resp = post_report(&s, &cookie, &report, true).await;
        assert_eq!(resp.status().as_u16(), 200);
        let again: Value = resp.json().await.unwrap();
        assert_eq!(
            (again["id"].as_str(), again["duplicate"].as_bool()),
            (Some(id.as_str()), Some(true))
        );
        assert_eq!(s.db.store.count_cases().await.unwrap(), before);

        // A plain form post (no script) is redirected to the page, which shows the new case.
        let plain = Report {
            client_ref: None,
            description: "井盖缺失",
            ..report
        };
        let resp = post_report(&s, &cookie, &plain, false).await;
        assert_eq!(resp.status().as_u16(), 303);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let new_id = location
            .strip_prefix("/m?reported=")
            .expect("back to the page")
            .to_owned();
        assert_ne!(new_id, id);
        let (status, html) = page(&s, &cookie, &location).await;
        assert_eq!(status, 200);
        assert!(html.contains(&format!(
            r#"data-testid="report-result" data-case-id="{new_id}""#
        )));
        assert!(html.contains(&format!(r#"href="/console/cases/{new_id}""#)));
        // Both reports are in "my reports"; the new one first.
        let mine = &html[html.find(r#"data-testid="my-reports""#).unwrap()..];
        let (a, b) = (mine.find(&new_id).unwrap(), mine.find(&id).unwrap());
        assert!(a < b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_the_server_refuses_says_why() {
    for s in common::servers(Config::default()).await {
        let cookie = s.session_cookie("demo-worker").await;
        let region = s.region_of("demo-worker").await;
        let (_, html) = page(&s, &cookie, "/m").await;
        let token = csrf(&html);
        let (lon, lat) = s.point_in(&region).await;
        // A grid of someone else.
        let other =
            s.db.store
                .current_regions(Some("grid"), None)
                .await
                .unwrap()
                .into_iter()
                .find(|g| !g.code.starts_with(&region))
                .unwrap();
        let (olon, olat) = s.point_in(&other.code).await;
        let cases = s.db.store.count_cases().await.unwrap();

        let outside = Report {
            csrf: &token,
            category: "06001",
            description: "别人网格里的问题",
            lon: olon,
            lat: olat,
            photos: vec![png(8, 8)],
            client_ref: Some("0b7e3c1a-outside-area"),
        };
        let resp = post_report(&s, &cookie, &outside, true).await;
        assert_eq!(resp.status().as_u16(), 403);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["code"], "outside_your_area");
        assert_eq!(e["error"]["details"]["text"], "该位置不在您的辖区内。");
        // Without the script: the error page, in words.
        let resp = post_report(&s, &cookie, &outside, false).await;
        assert_eq!(resp.status().as_u16(), 403);
        let body = resp.text().await.unwrap();
        assert!(body.contains(r#"data-error="outside_your_area""#), "{body}");
        assert!(body.contains("该位置不在您的辖区内"));

        // The refused client_ref is not remembered: corrected, it goes through.
        let corrected = Report {
            lon,
            lat,
            ..outside
        };
        let resp = post_report(&s, &cookie, &corrected, true).await;
        assert_eq!(resp.status().as_u16(), 201);

        for (report, status, code, field) in [
            (
                Report {
                    photos: vec![b"not a photo".to_vec()],
                    client_ref: None,
                    ..corrected
                },
                415,
                "not_an_image",
                Some("photo"),
            ),
            (
                Report {
                    category: "99999",
                    photos: vec![],
                    client_ref: None,
                    ..corrected
                },
                422,
                "unknown_category",
                Some("category"),
            ),
            (
                Report {
                    description: "  ",
                    photos: vec![],
                    client_ref: None,
                    ..corrected
                },
                422,
                "invalid_field",
                Some("description"),
            ),
            (
                Report {
                    csrf: "forged",
                    photos: vec![],
                    client_ref: None,
                    ..corrected
                },
                403,
                "csrf_rejected",
                None,
            ),
            (
                Report {
                    client_ref: Some("bad ref!"),
                    photos: vec![],
                    ..corrected
                },
                422,
                "invalid_field",
                Some("client_ref"),
            ),
        ] {
            let resp = post_report(&s, &cookie, &report, true).await;
            let got = resp.status().as_u16();
            let e: Value = resp.json().await.unwrap();
            assert_eq!(
                (got, e["error"]["code"].as_str().unwrap()),
                (status, code),
                "{e}"
            );
            assert_eq!(e["error"]["details"]["field"].as_str(), field, "{e}");
        }
        // Only the corrected report made a case.
        assert_eq!(s.db.store.count_cases().await.unwrap(), cases + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_page_is_for_field_staff() {
    for s in common::servers(Config::default()).await {
        let cookie = s.session_cookie("demo-receiver").await;
        let (status, html) = page(&s, &cookie, "/m").await;
        assert_eq!(status, 403);
        assert!(html.contains(r#"data-error="page_forbidden""#));
        let resp = no_redirects()
            .post(s.url("/m/report"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin")
            .header("accept", "application/json")
            .multipart(reqwest::multipart::Form::new().text("_csrf", "x"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["code"], "page_forbidden");

        // Community staff patrol too: their page shows their community.
        let cookie = s.session_cookie("demo-community").await;
        let (status, html) = page(&s, &cookie, "/m").await;
        assert_eq!(status, 200);
        assert_eq!(
            phone_data(&html)["region"],
            s.region_of("demo-community").await.as_str()
        );

        // Signed out: to the login page, and back here afterwards.
        let resp = no_redirects().get(s.url("/m")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        assert_eq!(resp.headers()["location"], "/login?next=/m");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_installs_as_an_app() {
    for s in common::servers(Config::default()).await {
        let sw = s.client.get(s.url("/sw.js")).send().await.unwrap();
        assert_eq!(sw.status().as_u16(), 200);
        assert_eq!(
            sw.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(sw.headers()["service-worker-allowed"], "/");
        assert_eq!(sw.headers()["cache-control"], "no-cache");
        let text = sw.text().await.unwrap();
        assert!(text.contains("'/m'") && text.contains("addEventListener('fetch'"));

        for path in ["/manifest.webmanifest", "/static/manifest.webmanifest"] {
            let m = s.client.get(s.url(path)).send().await.unwrap();
            assert_eq!(m.status().as_u16(), 200, "{path}");
            assert_eq!(m.headers()["content-type"], "application/manifest+json");
            let m: Value = m.json().await.unwrap();
            assert_eq!(
                (m["name"].as_str(), m["start_url"].as_str()),
                (Some("网格员"), Some("/m"))
            );
            assert_eq!(
                (m["display"].as_str(), m["theme_color"].as_str()),
                (Some("standalone"), Some("#1565c0"))
            );
            let icons = m["icons"].as_array().unwrap();
            for size in [192u32, 512] {
                let icon = icons
                    .iter()
                    .find(|i| i["sizes"] == format!("{size}x{size}"))
                    .unwrap();
                let resp = s
                    .client
                    .get(s.url(icon["src"].as_str().unwrap()))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.headers()["content-type"], "image/png");
                let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
                assert_eq!((img.width(), img.height()), (size, size));
            }
        }
    }
}
