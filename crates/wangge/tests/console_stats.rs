//! The statistics dashboard (`/console/stats`) and its big screen (`/console/stats/wall`): who may
//! open them, the menu item, the vendored ECharts, the page's settings for its script, both
//! languages — signed in with a session cookie as the browser is, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, TestServer};
use serde_json::Value;
use wangge_server::Config;

const ECHARTS: &str = "/static/vendor/echarts-6.1.0/echarts.min.js";
/// The menu's link to the dashboard, as the frame writes it (minijinja escapes slashes).
const MENU_LINK: &str = "href=\"&#x2f;console&#x2f;stats\"";

/// The JSON of the page's `<script type="application/json" id="dashboard-config">`.
fn dashboard_config(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"dashboard-config\">";
    let start = html.find(open).expect("the dashboard-config script tag") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).expect("dashboard-config is JSON")
}

/// A page in English: the session's cookie and the language switch's.
async fn page_in_english(session: &Session<'_>, path: &str) -> (u16, String) {
    let resp = session
        .server
        .client
        .get(session.server.url(path))
        .header("Cookie", format!("{}; wangge_lang=en", session.cookie))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards() {
    for server in common::servers(Config::default()).await {
        the_dashboard_renders_for_an_area_user(&server).await;
        the_wall_is_one_screen_without_the_menu(&server).await;
        other_roles(&server).await;
        the_vendored_library_is_served(&server).await;
        the_address_presets_the_page_and_nothing_else(&server).await;
    }
}

async fn the_dashboard_renders_for_an_area_user(server: &TestServer) {
    let district = server.session("demo-district").await;
    let (status, html) = district.page("/console/stats").await;
    assert_eq!(status, 200, "{html:.400}");
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains(&format!("<script src=\"{ECHARTS}\"></script>")));
    assert!(html.contains("<script src=\"/static/js/stats.js\"></script>"));
    assert!(
        html.contains(&format!(
            "<a {MENU_LINK} class=\"active\" aria-current=\"page\">统计分析</a>"
        )),
        "the menu item, marked as the page"
    );
    assert!(html.contains("id=\"dashboard\" data-mode=\"page\""));
    for chart in ["trend", "heat", "areas", "units", "categories"] {
        assert!(
            html.contains(&format!("data-chart=\"{chart}\"")),
            "the {chart} panel"
        );
    }
    for kpi in [
        "reported",
        "registered",
        "closed",
        "closure_rate",
        "on_time_handling_rate",
    ] {
        assert!(html.contains(&format!("data-kpi=\"{kpi}\"")), "KPI {kpi}");
    }
    for preset in ["today", "week", "month", "last_month", "year"] {
        assert!(
            html.contains(&format!("data-preset=\"{preset}\"")),
            "{preset}"
        );
    }
    for report in ["areas", "units", "categories", "workers"] {
        assert!(
            html.contains(&format!(
                "data-report=\"{report}\" href=\"/api/v1/stats/{report}?format=xlsx\""
            )),
            "the {report} download"
        );
    }
    assert!(
        html.contains("href=\"/console/stats/wall\""),
        "the wall link"
    );
    assert!(html.contains("本月") && html.contains("区域考核排名"));
    let cfg = dashboard_config(&html);
    assert_eq!(cfg["mode"], "page");
    assert_eq!(cfg["level"], "street", "a district ranks its streets");
    assert_eq!(cfg["outlines"], true);
    assert_eq!(cfg["map_links"], true);
    assert_eq!(cfg["offset_minutes"], 480, "Beijing time");
    assert_eq!(cfg["refresh_seconds"], 60);
    assert!(cfg["preset"].is_null() && cfg["from"].is_null());
    assert_eq!(
        cfg["region"].as_str(),
        Some(server.region_of("demo-district").await.as_str())
    );
    let today = cfg["today"].as_str().unwrap();
    assert!(
        chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d").is_ok(),
        "{today}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(cfg["now"].as_str().unwrap()).is_ok());

    // What the page's script asks for answers to the same session cookie.
    for path in [
        "/api/v1/stats/areas?from=2026-01-01&to=2026-12-31&level=street",
        "/api/v1/stats/units?from=2026-01-01&to=2026-12-31",
        "/api/v1/stats/categories?from=2026-01-01&to=2026-12-31",
        "/api/v1/stats/hotspots?from=2026-01-01&to=2026-12-31&min=1&cell_m=300",
        "/console/map/regions?level=street",
    ] {
        let resp = district.get(path).await;
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
    }

    // The same page in English.
    let (status, html) = page_in_english(&district, "/console/stats").await;
    assert_eq!(status, 200);
    assert!(html.contains("<html lang=\"en\">"));
    assert!(
        html.contains(&format!(
            "{MENU_LINK} class=\"active\" aria-current=\"page\">Statistics</a>"
        )),
        "the menu item in English"
    );
    assert!(html.contains("This month") && html.contains("Areas by score"));
    assert!(!html.contains("本月"));
}

async fn the_wall_is_one_screen_without_the_menu(server: &TestServer) {
    let street = server.session("demo-street").await;
    let (status, html) = street.page("/console/stats/wall").await;
    assert_eq!(status, 200, "{html:.400}");
    assert!(html.contains("id=\"dashboard\" data-mode=\"wall\""));
    assert!(html.contains("<body class=\"stats-wall\">"));
    assert!(html.contains(&format!("<script src=\"{ECHARTS}\"></script>")));
    assert!(html.contains("<script src=\"/static/js/stats.js\"></script>"));
    assert!(!html.contains("main-nav"), "no menu on the big screen");
    assert!(html.contains("id=\"wall-clock\""));
    assert!(html.contains("id=\"wall-fullscreen\"") && html.contains("全屏"));
    assert!(html.contains("id=\"i18n\""), "the script's messages");
    for chart in ["trend", "heat", "areas", "units", "categories"] {
        assert!(html.contains(&format!("data-chart=\"{chart}\"")), "{chart}");
    }
    let cfg = dashboard_config(&html);
    assert_eq!(cfg["mode"], "wall");
    assert_eq!(cfg["level"], "community", "a street ranks its communities");
    assert_eq!(cfg["map_links"], false);

    let (status, html) = page_in_english(&street, "/console/stats/wall").await;
    assert_eq!(status, 200);
    assert!(html.contains("<html lang=\"en\">") && html.contains("Full screen"));
}

async fn other_roles(server: &TestServer) {
    // Grid workers and receivers work on single cases: no dashboard, no menu item.
    for username in ["demo-worker", "demo-receiver"] {
        let session = server.session(username).await;
        for path in ["/console/stats", "/console/stats/wall"] {
            let (status, html) = session.page(path).await;
            assert_eq!(status, 403, "{username} {path}");
            assert!(html.contains("data-error=\"page_forbidden\""), "{username}");
            assert!(!html.contains(ECHARTS));
        }
        let (_, html) = session.page("/console/desk/verify").await;
        assert!(
            html.contains("data-testid=\"who\""),
            "{username}'s own page"
        );
        assert!(!html.contains(MENU_LINK), "{username} has no menu item");
    }
    // A handling unit sees its own figures, without the outlines (the map is not theirs).
    let unit = server.session("demo-unit").await;
    let (status, html) = unit.page("/console/stats").await;
    assert_eq!(status, 200);
    assert!(html.contains(MENU_LINK), "a unit's menu item");
    assert!(
        !html.contains("data-chart=\"heat\""),
        "no outlines for a unit"
    );
    let cfg = dashboard_config(&html);
    assert_eq!(cfg["outlines"], false);
    assert_eq!(cfg["level"], "district");
    // Everyone else who oversees work.
    for username in [
        "demo-leader",
        "demo-dispatcher",
        "demo-community",
        "demo-supervisor",
        "demo-admin",
    ] {
        let session = server.session(username).await;
        let (status, html) = session.page("/console/stats").await;
        assert_eq!(status, 200, "{username}");
        assert!(html.contains(ECHARTS), "{username}");
    }
    let community = server.session("demo-community").await;
    let (_, html) = community.page("/console/stats").await;
    assert_eq!(dashboard_config(&html)["level"], "grid");

    // Signed out, the page asks to sign in and comes back.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .get(server.url("/console/stats/wall"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/login?next=/console/stats/wall"
    );
}

async fn the_vendored_library_is_served(server: &TestServer) {
    let resp = server.client.get(server.url(ECHARTS)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    assert!(text.len() > 500_000, "the full build");
    assert!(text.contains("registerMap"), "with maps");
    for path in [
        "/static/vendor/echarts-6.1.0/LICENSE",
        "/static/vendor/echarts-6.1.0/NOTICE",
        "/static/vendor/echarts-6.1.0/LICENSE-zrender",
        "/static/js/stats.js",
        "/static/css/console.css",
    ] {
        let resp = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
}

async fn the_address_presets_the_page_and_nothing_else(server: &TestServer) {
    let district = server.session("demo-district").await;
    let (status, html) = district
        .page("/console/stats?from=2026-11-01&to=2026-11-15&level=grid&preset=year")
        .await;
    assert_eq!(status, 200);
    let cfg = dashboard_config(&html);
    assert_eq!(cfg["from"], "2026-11-01");
    assert_eq!(cfg["to"], "2026-11-15");
    assert_eq!(cfg["level"], "grid");
    assert_eq!(cfg["preset"], "year");
    assert!(html.contains("<option value=\"grid\" selected>"));

    // Malformed values are dropped, never echoed.
    let (status, html) = district
        .page("/console/stats?from=%3Cscript%3E&to=2026-11-15&level=%3Cb%3E&preset=%22x")
        .await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script>") && !html.contains("<b>"));
    let cfg = dashboard_config(&html);
    assert!(cfg["from"].is_null() && cfg["to"].is_null() && cfg["preset"].is_null());
    assert_eq!(cfg["level"], "street");
    // A period that ends before it starts is no period.
    let (_, html) = district
        .page("/console/stats?from=2026-11-15&to=2026-11-01")
        .await;
    assert!(dashboard_config(&html)["from"].is_null());
    // Anything the query cannot read at all still gives the page.
    let (status, _) = district.page("/console/stats?from=a&from=b").await;
    assert_eq!(status, 200);
}
