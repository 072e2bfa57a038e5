//! The administrators' console pages: users, units, categories, dispatch rules, the calendar
//! and region import, on every database under test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, TestServer};
use wangge_server::Config;
use wangge_store::Store;

const PAGES: &[&str] = &[
    "/console/admin/users",
    "/console/admin/units",
    "/console/admin/categories",
    "/console/admin/rules",
    "/console/admin/calendar",
    "/console/admin/regions",
];

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A page shows no catalogue key in place of its text.
fn assert_translated(path: &str, html: &str) {
    for raw in [">admin.", "\"admin.", "> admin."] {
        assert!(
            !html.contains(raw),
            "{path} shows a raw key ({raw}): {html}"
        );
    }
}

async fn post(session: &Session<'_>, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
    let resp = session.post_form(path, fields).await;
    let status = resp.status().as_u16();
    let to = location(&resp);
    (status, to, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_open_the_admin_pages() {
    for s in common::servers(Config::default()).await {
        let admin = s.session("demo-admin").await;
        for path in PAGES {
            let (status, html) = admin.page(path).await;
            assert_eq!(status, 200, "{path}: {html}");
            assert_translated(path, &html);
            assert!(
                html.contains("name=\"_csrf\""),
                "{path} has forms with the token"
            );
        }
        for user in ["demo-receiver", "demo-dispatcher", "demo-supervisor"] {
            let other = s.session(user).await;
            for path in PAGES {
                let (status, html) = other.page(path).await;
                assert_eq!(status, 403, "{user} {path}");
                assert!(
                    html.contains("data-error=\"page_forbidden\""),
                    "{user} {path}: {html}"
                );
            }
            // Posting is refused as well, and stores nothing.
            let csrf = other.csrf().await;
            let (status, _, _) = post(
                &other,
                "/console/admin/units",
                &[
                    ("_csrf", &csrf),
                    ("code", "sneaky"),
                    ("name", "x"),
                    ("kind", "x"),
                ],
            )
            .await;
            assert_eq!(status, 403);
            assert!(s.db.store.unit("sneaky").await.unwrap().is_none());
        }
        // Signed out: the login page.
        let resp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(s.url("/console/admin/users"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        assert!(location(&resp).starts_with("/login"));
    }
}

async fn api_login(s: &TestServer, username: &str, password: &str) -> (u16, serde_json::Value) {
    let resp = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_users() {
    for s in common::servers(Config::default()).await {
        let admin = s.session("demo-admin").await;
        let csrf = admin.csrf().await;
        let grid = s.region_of("demo-worker").await;
        let district = s.region_of("demo-receiver").await;

        // A form without the token is refused.
        let (status, _, html) = post(
            &admin,
            "/console/admin/users",
            &[
                ("username", "no-token"),
                ("display_name", "x"),
                ("role", "admin"),
                ("password", "long-enough-1"),
            ],
        )
        .await;
        assert_eq!(status, 403);
        assert!(html.contains("data-error=\"csrf_rejected\""));

        // A region code that does not exist is named, and nothing is stored.
        let (status, _, html) = post(
            &admin,
            "/console/admin/users",
            &[
                ("_csrf", &csrf),
                ("username", "new-worker"),
                ("display_name", "新网格员 <script>"),
                ("role", "grid_worker"),
                ("region", "999999999999999"),
                ("password", "long-enough-1"),
            ],
        )
        .await;
        assert_eq!(status, 422, "{html}");
        assert!(html.contains("data-field=\"region\""), "{html}");
        assert!(html.contains("999999999999999"), "{html}");
        // What was typed comes back, escaped.
        assert!(html.contains("新网格员 &lt;script&gt;"), "{html}");
        assert!(!html.contains("新网格员 <script>"));
        assert!(
            s.db.store
                .user_by_username("new-worker")
                .await
                .unwrap()
                .is_none()
        );

        // A district code for a grid worker: the wrong level.
        let (status, _, html) = post(
            &admin,
            "/console/admin/users",
            &[
                ("_csrf", &csrf),
                ("username", "new-worker"),
                ("display_name", "新网格员"),
                ("role", "grid_worker"),
                ("region", &district),
                ("password", "long-enough-1"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            html.contains("data-field=\"region\"") && html.contains(&district),
            "{html}"
        );
        // A unit user without a unit; a short password.
        let (status, _, html) = post(
            &admin,
            "/console/admin/users",
            &[
                ("_csrf", &csrf),
                ("username", "u1"),
                ("display_name", "u"),
                ("role", "unit_user"),
                ("password", "long-enough-1"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"unit\""), "{html}");
        let (status, _, html) = post(
            &admin,
            "/console/admin/users",
            &[
                ("_csrf", &csrf),
                ("username", "u1"),
                ("display_name", "u"),
                ("role", "admin"),
                ("password", "short"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"password\""), "{html}");
        assert!(s.db.store.user_by_username("u1").await.unwrap().is_none());

        // A good one: stored, listed, and able to sign in.
        let (status, to, _) = post(
            &admin,
            "/console/admin/users",
            &[
                ("_csrf", &csrf),
                ("username", "new-worker"),
                ("display_name", "新网格员 <script>"),
                ("role", "grid_worker"),
                ("region", &grid),
                ("password", "long-enough-1"),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(to, "/console/admin/users?done=user_created");
        let (_, html) = admin.page(&to).await;
        assert!(html.contains("data-username=\"new-worker\""), "{html}");
        assert!(html.contains("class=\"flash ok\""), "{html}");
        assert!(html.contains("新网格员 &lt;script&gt;"));
        assert_translated(&to, &html);
        let (status, signed) = api_login(&s, "new-worker", "long-enough-1").await;
        assert_eq!(status, 200, "{signed}");
        let token = signed["token"].as_str().unwrap().to_owned();
        let me: serde_json::Value = s.get(&token, "/api/v1/auth/me").await.json().await.unwrap();
        assert_eq!(me["role"], "grid_worker", "{me}");

        // The same name again is refused.
        let (status, _, html) = post(
            &admin,
            "/console/admin/users",
            &[
                ("_csrf", &csrf),
                ("username", "new-worker"),
                ("display_name", "x"),
                ("role", "grid_worker"),
                ("region", &grid),
                ("password", "long-enough-1"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"username\""));

        // Its page; a new role and region apply at once, even to a signed-in session.
        let (status, html) = admin.page("/console/admin/users/new-worker").await;
        assert_eq!(status, 200);
        assert_translated("user page", &html);
        let (status, to, html) = post(
            &admin,
            "/console/admin/users/new-worker",
            &[
                ("_csrf", &csrf),
                ("display_name", "改名"),
                ("role", "receiver"),
                ("region", &district),
                ("active", "1"),
            ],
        )
        .await;
        assert_eq!(status, 303, "{html}");
        assert_eq!(to, "/console/admin/users/new-worker?done=user_saved");
        let me: serde_json::Value = s.get(&token, "/api/v1/auth/me").await.json().await.unwrap();
        assert_eq!(me["role"], "receiver", "{me}");

        // A new password works, the old one no longer does.
        let (status, _, _) = post(
            &admin,
            "/console/admin/users/new-worker/password",
            &[("_csrf", &csrf), ("password", "another-pass-2")],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(api_login(&s, "new-worker", "long-enough-1").await.0, 401);
        let (status, signed) = api_login(&s, "new-worker", "another-pass-2").await;
        assert_eq!(status, 200);
        let token = signed["token"].as_str().unwrap().to_owned();

        // Deactivated: the session stops working at once, and signing in fails.
        let (status, _, _) = post(
            &admin,
            "/console/admin/users/new-worker",
            &[
                ("_csrf", &csrf),
                ("display_name", "改名"),
                ("role", "receiver"),
                ("region", &district),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(
            s.get(&token, "/api/v1/auth/me").await.status().as_u16(),
            401
        );
        assert_ne!(api_login(&s, "new-worker", "another-pass-2").await.0, 200);
        let row =
            s.db.store
                .user_by_username("new-worker")
                .await
                .unwrap()
                .unwrap();
        assert!(!row.active);
        assert_eq!(row.display_name, "改名");

        // An administrator cannot lock themself out.
        let (status, _, html) = post(
            &admin,
            "/console/admin/users/demo-admin",
            &[
                ("_csrf", &csrf),
                ("display_name", "管理员"),
                ("role", "admin"),
            ],
        )
        .await;
        assert_eq!(status, 422, "{html}");
        assert!(
            s.db.store
                .user_by_username("demo-admin")
                .await
                .unwrap()
                .unwrap()
                .active
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_units_rules_and_categories() {
    for s in common::servers(Config::default()).await {
        let admin = s.session("demo-admin").await;
        let csrf = admin.csrf().await;
        let district = s.region_of("demo-receiver").await;

        // Units.
        let (status, _, html) = post(
            &admin,
            "/console/admin/units",
            &[
                ("_csrf", &csrf),
                ("code", "t-unit"),
                ("name", "测试部门"),
                ("kind", "chengguan"),
                ("district", "123"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"district\""), "{html}");
        let (status, to, _) = post(
            &admin,
            "/console/admin/units",
            &[
                ("_csrf", &csrf),
                ("code", "t-unit"),
                ("name", "测试部门"),
                ("kind", "chengguan"),
                ("district", &district),
            ],
        )
        .await;
        assert_eq!(
            (status, to.as_str()),
            (303, "/console/admin/units?done=unit_created")
        );
        assert!(s.state.reference().unit("t-unit").is_some_and(|u| u.active));
        let (status, _, html) = post(
            &admin,
            "/console/admin/units",
            &[
                ("_csrf", &csrf),
                ("code", "t-unit"),
                ("name", "again"),
                ("kind", "chengguan"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"code\""));

        // Dispatch rules: a region that does not exist is named; a good rule is stored and
        // listed, then deleted.
        let (status, _, html) = post(
            &admin,
            "/console/admin/rules",
            &[
                ("_csrf", &csrf),
                ("category", "01"),
                ("region", "440399"),
                ("unit", "t-unit"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            html.contains("data-field=\"region\"") && html.contains("440399"),
            "{html}"
        );
        let before = s.db.store.dispatch_rules().await.unwrap().len();
        let (status, _, _) = post(
            &admin,
            "/console/admin/rules",
            &[
                ("_csrf", &csrf),
                ("category", "01"),
                ("region", &district),
                ("unit", "t-unit"),
                ("auto_dispatch", "1"),
            ],
        )
        .await;
        assert_eq!(status, 303);
        let rules = s.db.store.dispatch_rules().await.unwrap();
        assert_eq!(rules.len(), before + 1);
        let rule = rules.iter().find(|r| r.unit_code == "t-unit").unwrap();
        assert!(rule.auto_dispatch);
        let (_, html) = admin.page("/console/admin/rules").await;
        assert!(html.contains(&format!("data-rule-id=\"{}\"", rule.id)));
        let (status, to, _) = post(
            &admin,
            &format!("/console/admin/rules/{}/delete", rule.id),
            &[("_csrf", &csrf)],
        )
        .await;
        assert_eq!(
            (status, to.as_str()),
            (303, "/console/admin/rules?done=rule_deleted")
        );
        assert_eq!(s.db.store.dispatch_rules().await.unwrap().len(), before);

        // The unit switched off and on again.
        let (status, _, _) = post(
            &admin,
            "/console/admin/units/t-unit/active",
            &[("_csrf", &csrf), ("active", "false")],
        )
        .await;
        assert_eq!(status, 303);
        assert!(!s.db.store.unit("t-unit").await.unwrap().unwrap().active);
        assert!(
            s.state
                .reference()
                .unit("t-unit")
                .is_some_and(|u| !u.active)
        );
        let (status, _, _) = post(
            &admin,
            "/console/admin/units/t-unit/active",
            &[("_csrf", &csrf), ("active", "true")],
        )
        .await;
        assert_eq!(status, 303);
        assert!(s.db.store.unit("t-unit").await.unwrap().unwrap().active);

        // Categories: the filter, then a new registration standard and deadline.
        let (status, html) = admin
            .page("/console/admin/categories?kind=matter&class=09")
            .await;
        assert_eq!(status, 200);
        assert!(html.contains("data-category=\"09006\""), "{html}");
        assert!(!html.contains("data-category=\"01001\""));
        let (status, html) = admin.page("/console/admin/categories/matter/09006").await;
        assert_eq!(status, 200);
        assert_translated("category page", &html);
        let standard = "占道经营面积超过 1 平方米 <b>即立案</b>";
        let (status, _, html) = post(
            &admin,
            "/console/admin/categories/matter/09006",
            &[
                ("_csrf", &csrf),
                ("deadline_amount", "0"),
                ("deadline_type", "working_days"),
                ("registration_standard", standard),
                ("closing_standard", "清理完毕"),
                ("active", "1"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"deadline_amount\""), "{html}");
        let (status, to, _) = post(
            &admin,
            "/console/admin/categories/matter/09006",
            &[
                ("_csrf", &csrf),
                ("deadline_amount", "4"),
                ("deadline_type", "working_days"),
                ("registration_standard", standard),
                ("closing_standard", "清理完毕"),
                ("active", "1"),
                ("auto_close", "1"),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert!(to.contains("done=category_saved"), "{to}");
        let row =
            s.db.store
                .category("matter", "09006")
                .await
                .unwrap()
                .unwrap();
        assert_eq!(row.registration_standard, standard);
        assert_eq!(
            (
                row.deadline_amount,
                row.deadline_type.as_str(),
                row.auto_close
            ),
            (4, "working_days", true)
        );
        assert_eq!(
            s.state
                .reference()
                .category("matter", "09006")
                .unwrap()
                .registration_standard,
            standard
        );
        let (_, html) = admin.page(&to).await;
        assert!(html.contains("&lt;b&gt;即立案"), "{html}");
        assert!(!html.contains("<b>即立案"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_keep_the_calendar() {
    for s in common::servers(Config::default()).await {
        let admin = s.session("demo-admin").await;
        let csrf = admin.csrf().await;
        let day = chrono::NaiveDate::from_ymd_opt(2027, 3, 3).unwrap();
        assert!(s.state.calendar().is_working_day(day));
        let (status, to, _) = post(
            &admin,
            "/console/admin/calendar/days",
            &[
                ("_csrf", &csrf),
                ("date", "2027-03-03"),
                ("kind", "holiday"),
                ("year", "2027"),
            ],
        )
        .await;
        assert_eq!(
            (status, to.as_str()),
            (303, "/console/admin/calendar?year=2027&done=day_added")
        );
        let (status, html) = admin.page(&to).await;
        assert_eq!(status, 200);
        assert!(
            html.contains("data-date=\"2027-03-03\" data-kind=\"holiday\""),
            "{html}"
        );
        assert!(!s.state.calendar().is_working_day(day));

        // Back to an ordinary Wednesday.
        let (status, _, _) = post(
            &admin,
            "/console/admin/calendar/remove",
            &[("_csrf", &csrf), ("date", "2027-03-03")],
        )
        .await;
        assert_eq!(status, 303);
        assert!(s.state.calendar().is_working_day(day));
        let (_, html) = admin.page("/console/admin/calendar?year=2027").await;
        assert!(!html.contains("data-date=\"2027-03-03\""));

        // A built-in holiday (1 October 2026, a Thursday) can be made a working day again.
        let national = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        assert!(!s.state.calendar().is_working_day(national));
        let (status, _, _) = post(
            &admin,
            "/console/admin/calendar/remove",
            &[("_csrf", &csrf), ("date", "2026-10-01")],
        )
        .await;
        assert_eq!(status, 303);
        assert!(s.state.calendar().is_working_day(national));

        // A pasted table: all lines or none; a bad line is named.
        let (status, _, html) = post(
            &admin,
            "/console/admin/calendar/table",
            &[
                ("_csrf", &csrf),
                ("table", "2027-05-06 holiday\n2027-02-30 holiday\n"),
                ("year", "2027"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"table\""), "{html}");
        assert!(html.contains("2027-02-30"), "{html}");
        assert!(
            s.state
                .calendar()
                .is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 5, 6).unwrap())
        );
        let (status, _, _) = post(
            &admin,
            "/console/admin/calendar/table",
            &[
                ("_csrf", &csrf),
                ("table", "# spring\n2027-05-06 休\n2027-05-08 班\n"),
                ("year", "2027"),
            ],
        )
        .await;
        assert_eq!(status, 303);
        let cal = s.state.calendar();
        assert!(!cal.is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 5, 6).unwrap()));
        assert!(cal.is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 5, 8).unwrap()));

        // A date that is not one.
        let (status, _, html) = post(
            &admin,
            "/console/admin/calendar/days",
            &[
                ("_csrf", &csrf),
                ("date", "next tuesday"),
                ("kind", "holiday"),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(html.contains("data-field=\"date\"") && html.contains("next tuesday"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_import_reports_every_problem_and_stores_nothing() {
    for s in common::servers(Config::default()).await {
        let admin = s.session("demo-admin").await;
        let csrf = admin.csrf().await;
        let before = s.db.store.current_regions(None, None).await.unwrap().len();
        let revision = s.db.store.regions_revision().await.unwrap();
        let file = serde_json::json!({
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"code": "12AB", "name": "坏编码", "level": "grid"},
                 "geometry": {"type": "Polygon", "coordinates": [[[114.0, 22.5], [114.01, 22.5], [114.01, 22.51], [114.0, 22.51], [114.0, 22.5]]]}},
                {"type": "Feature", "properties": {"code": "440303999999001", "name": "<i>蝴蝶</i>", "level": "grid", "parent_code": "440303999999"},
                 "geometry": {"type": "Polygon", "coordinates": [[[114.0, 22.5], [114.01, 22.51], [114.01, 22.5], [114.0, 22.51], [114.0, 22.5]]]}}
            ]
        });
        for dry_run in [true, false] {
            let mut form = reqwest::multipart::Form::new()
                .text("_csrf", csrf.clone())
                .text("crs", "wgs84")
                .text("tolerance_m2", "1")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(file.to_string().into_bytes())
                        .file_name("bad.geojson")
                        .mime_str("application/geo+json")
                        .unwrap(),
                );
            if dry_run {
                form = form.text("dry_run", "1");
            }
            let resp = admin.post_multipart("/console/admin/regions", form).await;
            let status = resp.status().as_u16();
            let html = resp.text().await.unwrap();
            assert_eq!(status, 422, "{html}");
            assert_translated("import report", &html);
            assert!(html.contains("data-testid=\"import-problems\""), "{html}");
            let rows = html.matches("<tr data-problem=").count();
            assert!(rows >= 2, "{rows} problems: {html}");
            assert!(html.contains("data-code=\"12AB\""), "{html}");
            assert!(html.contains("data-code=\"440303999999001\""), "{html}");
            // The location of a problem, in degrees.
            assert!(html.contains("114.00"), "{html}");
            assert_eq!(
                s.db.store.current_regions(None, None).await.unwrap().len(),
                before
            );
            assert_eq!(s.db.store.regions_revision().await.unwrap(), revision);
        }

        // Not GeoJSON at all; no file; a zip archive.
        for (name, bytes, expect) in [
            ("x.geojson", b"not json".to_vec(), "file"),
            ("x.zip", b"PK\x03\x04".to_vec(), "file"),
        ] {
            let form = reqwest::multipart::Form::new()
                .text("_csrf", csrf.clone())
                .text("crs", "wgs84")
                .text("tolerance_m2", "1")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes).file_name(name),
                );
            let resp = admin.post_multipart("/console/admin/regions", form).await;
            assert_eq!(resp.status().as_u16(), 422);
            let html = resp.text().await.unwrap();
            assert!(
                html.contains(&format!("data-field=\"{expect}\"")),
                "{name}: {html}"
            );
        }
        assert_eq!(s.db.store.regions_revision().await.unwrap(), revision);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_region_file_is_validated_then_imported() {
    for s in common::servers(Config::default()).await {
        let admin = s.session("demo-admin").await;
        let csrf = admin.csrf().await;
        // Re-import an existing community's grids unchanged: valid, nothing new.
        let grid = s.region_of("demo-worker").await;
        let community = &grid[..12];
        let grids =
            s.db.store
                .current_regions(Some("grid"), Some(community))
                .await
                .unwrap();
        let features: Vec<serde_json::Value> = grids
            .iter()
            .map(|g| {
                serde_json::json!({
                    "type": "Feature",
                    "properties": {"code": g.code, "name": g.name, "level": "grid", "parent_code": community, "area_class": g.area_class},
                    "geometry": serde_json::from_str::<serde_json::Value>(&g.geometry).unwrap()
                })
            })
            .collect();
        let file =
            serde_json::json!({"type": "FeatureCollection", "features": features}).to_string();
        for dry_run in [true, false] {
            let mut form = reqwest::multipart::Form::new()
                .text("_csrf", csrf.clone())
                .text("crs", "wgs84")
                .text("tolerance_m2", "1")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(file.clone().into_bytes())
                        .file_name("grids.geojson"),
                );
            if dry_run {
                form = form.text("dry_run", "1");
            }
            let resp = admin.post_multipart("/console/admin/regions", form).await;
            let status = resp.status().as_u16();
            let to = location(&resp);
            let html = resp.text().await.unwrap();
            if dry_run {
                assert_eq!(status, 200, "{html}");
                assert!(
                    html.contains("data-testid=\"import-report\" data-ok=\"true\""),
                    "{html}"
                );
            } else {
                assert_eq!(status, 303, "{html}");
                assert!(
                    to.starts_with("/console/admin/regions?done=imported"),
                    "{to}"
                );
                let n = |key: &str| -> usize {
                    to.split(['?', '&'])
                        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                        .and_then(|v| v.parse().ok())
                        .unwrap()
                };
                assert_eq!(n("features"), grids.len(), "{to}");
                assert_eq!((n("inserted"), n("retired")), (0, 0), "{to}");
                assert_eq!(n("changed") + n("unchanged"), grids.len(), "{to}");
                let (_, html) = admin.page(&to).await;
                assert!(html.contains("class=\"flash ok\""), "{html}");
            }
        }
    }
}
