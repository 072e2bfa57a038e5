//! The console's desks and case page, driven as a browser drives them: form sign-in, the session
//! cookie, CSRF tokens, multipart action forms, redirects — on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, TestServer};
use wangge_server::Config;

/// A PNG of a few pixels, as a phone would send a photo.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 6, image::Rgb([200, 30, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Reports a street-order case (09009, handled by the city management unit, dispatched by hand)
/// in the demo worker's grid.
async fn report(server: &TestServer, description: &str) -> String {
    let token = server.login("demo-worker").await;
    let grid = server.region_of("demo-worker").await;
    let (lon, lat) = server.point_in(&grid).await;
    let resp = server
        .post(
            &token,
            "/api/v1/cases",
            &serde_json::json!({"category": "09009", "description": description,
                "lon": lon, "lat": lat, "source": "patrol"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// The version a case page's forms carry.
async fn version(session: &Session<'_>, id: &str) -> String {
    let (status, html) = session.page(&format!("/console/cases/{id}")).await;
    assert_eq!(status, 200, "case page for {}", session.cookie);
    let at = html.find("name=\"version\" value=\"").unwrap() + 22;
    html[at..].split('"').next().unwrap().to_owned()
}

/// Posts an action form of the case page; answers where it redirected to.
async fn act(session: &Session<'_>, id: &str, action: &str, fields: &[(&str, &str)]) -> String {
    let mut form = reqwest::multipart::Form::new()
        .text("_csrf", session.csrf().await)
        .text("action", action.to_owned())
        .text("version", version(session, id).await);
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if action == "handle" {
        form = form.part(
            "photos",
            reqwest::multipart::Part::bytes(png())
                .file_name("done.png")
                .mime_str("image/png")
                .unwrap(),
        );
    }
    let resp = session
        .post_multipart(&format!("/console/cases/{id}/act"), form)
        .await;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.text().await.unwrap();
    assert_eq!(status, 303, "{action} on {id}: {body}");
    location.unwrap()
}

#[tokio::test]
async fn every_role_lands_on_its_desk_and_sees_who_it_is() {
    for server in common::servers(Config::default()).await {
        for (user, landing, label) in [
            ("demo-worker", "/m", "网格员"),
            ("demo-receiver", "/console/desk/intake", "受理员"),
            ("demo-leader", "/console/desk/intake", "值班长"),
            ("demo-dispatcher", "/console/desk/dispatch", "派遣员"),
            ("demo-unit", "/console/desk/unit", "专业部门"),
            ("demo-community", "/console/desk/area", "社区工作站"),
            ("demo-street", "/console/desk/area", "街道分中心"),
            ("demo-district", "/console/desk/area", "区指挥中心"),
            (
                "demo-supervisor",
                "/console/desk/supervise",
                "监督指挥中心领导",
            ),
            ("demo-admin", "/console/admin/users", "系统管理员"),
        ] {
            let session = server.session(user).await;
            let desk = session.get("/console").await;
            assert_eq!(desk.status().as_u16(), 303);
            assert_eq!(desk.headers()["location"], landing, "{user}");
            if landing != "/m" {
                let (status, html) = session.page(landing).await;
                assert_eq!(status, 200, "{user} on {landing}");
                assert!(html.contains(label), "{user}'s role label on {landing}");
                assert!(html.contains("data-testid=\"who\""));
            }
        }
    }
}

#[tokio::test]
async fn signed_out_pages_redirect_to_login_and_wrong_passwords_say_so() {
    for server in common::servers(Config::default()).await {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client
            .get(server.url("/console/desk/intake?light=red"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        assert_eq!(
            resp.headers()["location"],
            "/login?next=/console/desk/intake%3Flight%3Dred"
        );
        let resp = client
            .post(server.url("/login"))
            .header("Sec-Fetch-Site", "same-origin")
            .form(&[("username", "demo-receiver"), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        let to = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.starts_with("/login?error=invalid_credentials"), "{to}");
        let html = client
            .get(server.url(&to))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("用户名或密码错误"));
        // A login form posted from another site is refused.
        let resp = client
            .post(server.url("/login"))
            .header("Sec-Fetch-Site", "cross-site")
            .form(&[("username", "demo-receiver"), ("password", "demo")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        // Signing out ends the session.
        let session = server.session("demo-receiver").await;
        let csrf = session.csrf().await;
        let resp = session.post_form("/logout", &[("_csrf", &csrf)]).await;
        assert_eq!(resp.status().as_u16(), 303);
        assert_eq!(
            session.get("/console/desk/intake").await.status().as_u16(),
            303
        );
    }
}

#[tokio::test]
async fn a_case_goes_round_the_loop_through_the_desks() {
    for server in common::servers(Config::default()).await {
        let id = report(&server, "机动车占用人行道 <b>粗体</b>").await;

        let receiver = server.session("demo-receiver").await;
        let (_, intake) = receiver.page("/console/desk/intake").await;
        assert!(
            intake.contains(&format!("data-case-id=\"{id}\"")),
            "intake lists the report"
        );
        assert!(
            intake.contains("&lt;b&gt;粗体&lt;&#x2f;b&gt;"),
            "user text is escaped"
        );
        assert!(!intake.contains("<b>粗体"));
        let to = act(
            &receiver,
            &id,
            "register",
            &[("back", "/console/desk/intake")],
        )
        .await;
        assert_eq!(to, "/console/desk/intake?done=register");

        let dispatcher = server.session("demo-dispatcher").await;
        let (_, desk) = dispatcher.page("/console/desk/dispatch").await;
        let row = desk
            .split(&format!("data-case-id=\"{id}\""))
            .nth(1)
            .unwrap();
        let row = row.split("</tr>").next().unwrap();
        assert!(row.contains("data-action=\"dispatch\""));
        // The suggested unit is preselected: dispatch is one click.
        let suggested = row
            .split("\" selected>")
            .next()
            .unwrap()
            .rsplit('"')
            .next()
            .unwrap();
        let unit = server.unit_of("demo-unit").await;
        assert_eq!(suggested, unit);
        act(&dispatcher, &id, "dispatch", &[("unit", &unit)]).await;

        let handler = server.session("demo-unit").await;
        let (_, desk) = handler.page("/console/desk/unit").await;
        assert!(desk.contains(&format!("data-case-id=\"{id}\"")));
        act(&handler, &id, "accept", &[]).await;
        act(&handler, &id, "handle", &[("note", "已拖离")]).await;

        let worker = server.session("demo-worker").await;
        let (_, checks) = worker.page("/console/desk/verify").await;
        assert!(
            checks.contains(&format!("data-case-id=\"{id}\"")),
            "the check task is listed"
        );
        act(&worker, &id, "check_pass", &[]).await;

        let leader = server.session("demo-leader").await;
        let (_, closing) = leader.page("/console/desk/close").await;
        assert!(closing.contains(&format!("data-case-id=\"{id}\"")));
        act(&leader, &id, "close", &[]).await;

        let (_, page) = leader.page(&format!("/console/cases/{id}")).await;
        assert!(page.contains("data-testid=\"case-state\" data-state=\"closed\""));
        assert!(page.contains("处置后"), "the handling photo is shown");
        for step in ["立案", "派遣", "签收", "处置完成", "核查通过", "结案"] {
            assert!(page.contains(step), "timeline shows {step}");
        }
    }
}

#[tokio::test]
async fn desks_refuse_other_roles_and_bad_input_in_words() {
    for server in common::servers(Config::default()).await {
        let receiver = server.session("demo-receiver").await;
        let (status, html) = receiver.page("/console/desk/unit").await;
        assert_eq!(status, 403);
        assert!(html.contains("data-error=\"page_forbidden\""));
        let (status, html) = receiver.page("/console/desk/intake?from=yesterday").await;
        assert_eq!(status, 422);
        assert!(html.contains("from must be a date"), "names the field");
        assert!(!html.contains("panicked"));

        let id = report(&server, "待驳回").await;
        let csrf = receiver.csrf().await;
        let v = version(&receiver, &id).await;
        let form = reqwest::multipart::Form::new()
            .text("_csrf", csrf.clone())
            .text("action", "reject")
            .text("version", v.clone())
            .text("reason", "");
        let resp = receiver
            .post_multipart(&format!("/console/cases/{id}/act"), form)
            .await;
        assert_eq!(resp.status().as_u16(), 422);
        let html = resp.text().await.unwrap();
        assert!(html.contains("填写的内容不完整"), "{html}");
        assert!(html.contains("reason"));
        // A form without the session's CSRF token changes nothing.
        let form = reqwest::multipart::Form::new()
            .text("_csrf", "0".repeat(32))
            .text("action", "register")
            .text("version", v);
        let resp = receiver
            .post_multipart(&format!("/console/cases/{id}/act"), form)
            .await;
        assert_eq!(resp.status().as_u16(), 403);
        let (_, page) = receiver.page(&format!("/console/cases/{id}")).await;
        assert!(page.contains("data-state=\"reported\""));
    }
}

#[tokio::test]
async fn a_community_sees_only_its_own_cases() {
    for server in common::servers(Config::default()).await {
        report(&server, "社区内").await;
        let community = server.region_of("demo-community").await;
        let session = server.session("demo-community").await;
        let (status, html) = session.page("/console/desk/all?per_page=500").await;
        assert_eq!(status, 200);
        let grids: Vec<&str> = html
            .split("data-grid=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
            .collect();
        assert!(!grids.is_empty(), "the community has cases");
        assert!(grids.iter().all(|g| g.starts_with(&community)), "{grids:?}");
    }
}

#[tokio::test]
async fn the_list_exports_to_excel_as_filtered_and_speaks_english_on_request() {
    use calamine::Reader;
    for server in common::servers(Config::default()).await {
        report(&server, "导出测试").await;
        let session = server.session("demo-district").await;
        let (_, html) = session.page("/console/desk/all?per_page=500").await;
        let rows = html.matches("data-case-id=").count();
        let resp = session.get("/console/desk/all?format=xlsx").await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let bytes = resp.bytes().await.unwrap().to_vec();
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let sheet = book.worksheet_range("案件查询").unwrap();
        assert_eq!(sheet.height(), rows + 1, "a header and every listed case");
        assert_eq!(sheet.get((0, 0)).unwrap().to_string(), "案件编号");
        assert!(sheet.rows().any(|r| r[2] == "导出测试"));

        let resp = session.get("/lang/en?back=/console/desk/all").await;
        assert_eq!(resp.status().as_u16(), 303);
        let lang = resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = session
            .server
            .client
            .get(server.url("/console/desk/all"))
            .header("Cookie", format!("{}; {lang}", session.cookie))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("All cases"));
        assert!(html.contains("District centre"));
    }
}

#[tokio::test]
async fn the_dispatcher_decides_extension_requests_from_the_supervision_desk() {
    for server in common::servers(Config::default()).await {
        let id = report(&server, "需延期").await;
        let receiver = server.session("demo-receiver").await;
        act(&receiver, &id, "register", &[]).await;
        let dispatcher = server.session("demo-dispatcher").await;
        let unit = server.unit_of("demo-unit").await;
        act(&dispatcher, &id, "dispatch", &[("unit", &unit)]).await;
        let handler = server.session("demo-unit").await;
        act(&handler, &id, "accept", &[]).await;
        let (_, desk) = dispatcher
            .page("/console/desk/supervise?pending=extension")
            .await;
        assert!(
            !desk.contains(&format!("data-case-id=\"{id}\"")),
            "no request yet"
        );
        act(
            &handler,
            &id,
            "request_extension",
            &[("amount", "1"), ("reason", "需要采购配件")],
        )
        .await;
        let (_, desk) = dispatcher
            .page("/console/desk/supervise?pending=extension")
            .await;
        let row = desk
            .split(&format!("data-case-id=\"{id}\""))
            .nth(1)
            .expect("the request is listed");
        let row = row.split("</tr>").next().unwrap();
        assert!(row.contains("data-action=\"approve_extension\""));
        assert!(row.contains("data-action=\"deny_extension\""));
        act(&dispatcher, &id, "approve_extension", &[]).await;
        let (_, desk) = dispatcher
            .page("/console/desk/supervise?pending=extension")
            .await;
        assert!(
            !desk.contains(&format!("data-case-id=\"{id}\"")),
            "decided requests leave the list"
        );
    }
}

#[tokio::test]
async fn session_cookies_are_secure_when_configured() {
    let config = Config {
        secure_cookies: true,
        ..Config::default()
    };
    for server in common::servers(config).await {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client
            .post(server.url("/login"))
            .header("Sec-Fetch-Site", "same-origin")
            .form(&[("username", "demo-receiver"), ("password", "demo")])
            .send()
            .await
            .unwrap();
        let cookie = resp.headers()["set-cookie"].to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.ends_with("; Secure"),
            "{cookie}"
        );
    }
}
