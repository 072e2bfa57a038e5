//! The command-centre map: the page, its JSON endpoints (region layers, grids by box, cases as
//! markers or clusters, a grid's worker and cases), jurisdiction, and `?case=` — signed in with
//! a session cookie as the browser is, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use wangge::bench_map;

use common::{Session, TestServer};
use serde_json::Value;
use wangge_server::Config;
use wangge_store::Store;

async fn get_json(session: &Session<'_>, path: &str) -> (u16, Value) {
    let resp = session.get(path).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text:.200}"));
    (status, body)
}

/// Reports a hotline case at an interior point of a grid, as a receiver with no region (so any
/// grid of the city will do).
async fn report_in(server: &TestServer, grid: &str, description: &str) -> String {
    let (lon, lat) = server.point_in(grid).await;
    let input = wangge_domain::case::ReportInput {
        category: "09009".into(),
        description: description.into(),
        lon: Some(lon),
        lat: Some(lat),
        source: "hotline_12345".into(),
        external_id: Some(description.into()),
        address: None,
        component_code: None,
    };
    let receiver = wangge_domain::case_loop::Actor {
        id: "demo-receiver".into(),
        role: wangge_domain::role::Role::Receiver,
        region: None,
        unit: None,
    };
    let case = wangge_server::cases::report_case(&server.state, input, None, false, &receiver)
        .await
        .unwrap();
    assert_eq!(case.grid_code, grid);
    case.id.to_string()
}

/// The whole city's box, generous.
const CITY_BOX: &str = "bbox=100,10,130,40";

fn ids_of(answer: &Value) -> Vec<String> {
    answer["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_map() {
    for server in common::servers(Config::default()).await {
        check_server(&server).await;
    }
}

async fn check_server(server: &TestServer) {
    let community = server.region_of("demo-community").await;
    let district = server.region_of("demo-dispatcher").await;
    let grids = server
        .db
        .store
        .current_regions(Some("grid"), None)
        .await
        .unwrap();
    let inside = server.region_of("demo-worker").await;
    assert!(inside.starts_with(&community));
    // Another community's grid, in the same district if there is one.
    let outside = grids
        .iter()
        .filter(|g| !g.code.starts_with(&community))
        .min_by_key(|g| !g.code.starts_with(&district))
        .expect("a grid outside the community")
        .code
        .clone();
    let near = report_in(server, &inside, "MAP-IN").await;
    let far = report_in(server, &outside, "MAP-OUT").await;

    // The page, signed in by the JSON login's session cookie. The administrator has no
    // region, so sees every case.
    let dispatcher = server.session("demo-admin").await;
    let cookie = server.session_cookie("demo-dispatcher").await;
    let resp = server
        .client
        .get(server.url("/console/map"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"map\""), "map element");
    assert!(html.contains("/static/vendor/leaflet-1.9.4/leaflet.js"));
    assert!(html.contains("/static/js/map.js"));
    assert!(html.contains("<main class=\"full\">"), "full-width page");
    assert!(html.contains("name=\"category\"") && html.contains("09009"));
    assert!(html.contains("id=\"map-config\""));

    // Static files are served, Leaflet included.
    for path in [
        "/static/vendor/leaflet-1.9.4/leaflet.js",
        "/static/vendor/leaflet-1.9.4/leaflet.css",
        "/static/js/map.js",
        "/static/js/minimap.js",
        "/static/css/map.css",
    ] {
        let resp = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }

    // Region layers: whole-city levels; grids only by box.
    for level in ["district", "street", "community"] {
        let (status, body) =
            get_json(&dispatcher, &format!("/console/map/regions?level={level}")).await;
        assert_eq!(status, 200, "{level}");
        assert_eq!(body["type"], "FeatureCollection");
        let features = body["features"].as_array().unwrap();
        assert!(!features.is_empty(), "{level} has features");
        assert!(features.iter().all(|f| f["properties"]["level"] == level));
        assert_eq!(body["bbox"].as_array().unwrap().len(), 4);
    }
    let (status, _) = get_json(&dispatcher, "/console/map/regions?level=grid").await;
    assert_eq!(status, 422, "grids are never sent for the whole city");
    let (lon, lat) = server.point_in(&inside).await;
    let small = format!(
        "bbox={},{},{},{}",
        lon - 0.002,
        lat - 0.002,
        lon + 0.002,
        lat + 0.002
    );
    let (status, body) = get_json(&dispatcher, &format!("/console/map/grids?{small}")).await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = body["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&inside.as_str()), "{codes:?}");
    assert!(codes.len() < grids.len());
    let (status, _) = get_json(&dispatcher, "/console/map/grids?bbox=1,2,x,4").await;
    assert_eq!(status, 422);

    // One region's outline, for the small maps.
    let (status, body) = get_json(&dispatcher, &format!("/console/map/region/{inside}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["type"], "Feature");
    assert_eq!(body["properties"]["code"], inside.as_str());
    let (status, _) = get_json(&dispatcher, "/console/map/region/999").await;
    assert_eq!(status, 404);

    // Cases: few, so markers.
    let (status, body) = get_json(
        &dispatcher,
        &format!("/console/map/cases?{CITY_BOX}&zoom=12"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clustered"], false);
    let ids = ids_of(&body);
    assert!(
        ids.contains(&near) && ids.contains(&far),
        "the whole city sees both"
    );
    let marker = body["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == near.as_str())
        .unwrap();
    assert_eq!(marker["state"], "reported");
    assert_eq!(marker["grid"], inside.as_str());
    assert_eq!(marker["category"], "09009");
    assert!(marker["lon"].is_f64() && marker["lat"].is_f64());
    assert!(["green", "yellow", "red", "paused"].contains(&marker["light"].as_str().unwrap()));
    // Filters narrow it.
    let (_, body) = get_json(
        &dispatcher,
        &format!("/console/map/cases?{CITY_BOX}&zoom=12&category=01001"),
    )
    .await;
    assert!(!ids_of(&body).contains(&near));
    let (_, body) = get_json(
        &dispatcher,
        &format!("/console/map/cases?{CITY_BOX}&zoom=12&source=hotline_12345&state=reported"),
    )
    .await;
    let ids = ids_of(&body);
    assert!(ids.contains(&near) && ids.contains(&far));
    let (_, body) = get_json(
        &dispatcher,
        &format!("/console/map/cases?{CITY_BOX}&zoom=12&state=closed"),
    )
    .await;
    assert!(!ids_of(&body).contains(&near));
    let (_, body) = get_json(
        &dispatcher,
        &format!("/console/map/cases?{CITY_BOX}&zoom=12&from=2000-01-01&to=2000-01-02"),
    )
    .await;
    assert_eq!(body["matching"], 0);
    for bad in [
        "light=purple",
        "state=nonsense",
        "from=yesterday",
        "zoom=40",
        "zoom=x",
    ] {
        let (status, _) =
            get_json(&dispatcher, &format!("/console/map/cases?{CITY_BOX}&{bad}")).await;
        assert_eq!(status, 422, "{bad}");
    }
    let (status, _) = get_json(&dispatcher, "/console/map/cases?bbox=1,2,3").await;
    assert_eq!(status, 422, "a box of three numbers");
    // A box elsewhere holds none of them.
    let (_, body) = get_json(&dispatcher, "/console/map/cases?bbox=0,0,1,1&zoom=12").await;
    assert_eq!(body["in_view"], 0);

    // Jurisdiction: the community centre sees only its community's cases.
    let community_user = server.session("demo-community").await;
    let (status, body) = get_json(
        &community_user,
        &format!("/console/map/cases?{CITY_BOX}&zoom=12"),
    )
    .await;
    assert_eq!(status, 200);
    let ids = ids_of(&body);
    assert!(ids.contains(&near), "own community's case");
    assert!(!ids.contains(&far), "another community's case is hidden");
    assert!(
        body["markers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["grid"].as_str().unwrap().starts_with(&community))
    );

    // A grid's card, by code or by point.
    let (status, body) = get_json(&dispatcher, &format!("/console/map/grid?code={inside}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], inside.as_str());
    let workers = body["workers"].as_array().unwrap();
    assert!(
        workers.iter().any(|w| w["username"] == "demo-worker"),
        "{workers:?}"
    );
    assert!(body["open_count"].as_i64().unwrap() >= 1);
    assert!(
        body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == near.as_str())
    );
    assert_eq!(body["feature"]["type"], "Feature");
    let (status, body) = get_json(
        &dispatcher,
        &format!("/console/map/grid?lon={lon}&lat={lat}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["code"], inside.as_str());
    let (status, _) = get_json(
        &community_user,
        &format!("/console/map/grid?code={outside}"),
    )
    .await;
    assert_eq!(status, 404, "another community's grid");

    // ?case= shows the case whatever the filters, and only within jurisdiction.
    let (status, html) = dispatcher
        .page(&format!("/console/map?case={far}&state=closed"))
        .await;
    assert_eq!(status, 200);
    let config = map_config(&html);
    assert_eq!(config["focus"]["id"], far.as_str());
    assert_eq!(config["focus"]["state"], "reported");
    assert!(!html.contains("map-flash"));
    let (status, html) = community_user
        .page(&format!("/console/map?case={far}"))
        .await;
    assert_eq!(status, 200);
    assert!(map_config(&html)["focus"].is_null());
    assert!(
        html.contains("map-flash"),
        "says the case is not to be found"
    );
    let (_, html) = community_user
        .page(&format!("/console/map?case={near}"))
        .await;
    assert_eq!(map_config(&html)["focus"]["id"], near.as_str());
    // The community user's map opens on its community.
    let bbox = map_config(&html)["bbox"].as_array().unwrap().clone();
    assert!(bbox[0].as_f64().unwrap() <= lon && lon <= bbox[2].as_f64().unwrap());

    // A handling unit has no map; signed out goes to the login page.
    let unit = server.session("demo-unit").await;
    let (status, html) = unit.page("/console/map").await;
    assert_eq!(status, 403);
    assert!(html.contains("data-error=\"page_forbidden\""));
    let (status, _) = get_json(&unit, &format!("/console/map/cases?{CITY_BOX}")).await;
    assert_eq!(status, 403);
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/console/map"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
}

fn map_config(html: &str) -> Value {
    let start = html.find("id=\"map-config\">").unwrap() + "id=\"map-config\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// The benchmark's seeding: a city of open cases spread over many grids, none closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_benchmark_seed() {
    let dbs = common::databases().await;
    let db = &dbs[0];
    bench_map::seed_map_city(&db.store, 60, 120, 3, false)
        .await
        .unwrap();
    let (rows, total) = db
        .store
        .list_cases(&wangge_store::CaseFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(total >= 110, "most points land in their grid: {total}");
    assert!(
        rows.iter()
            .all(|c| !["closed", "invalid", "merged"].contains(&c.state.as_str()))
    );
    let grids: std::collections::HashSet<_> = rows.iter().map(|c| &c.grid_code).collect();
    assert!(
        grids.len() > 20,
        "spread over the city: {} grids",
        grids.len()
    );
    let states: std::collections::HashSet<_> = rows.iter().map(|c| c.state.as_str()).collect();
    assert!(states.len() >= 2, "a mix of states: {states:?}");
}
