//! The grid worker's field day over HTTP (issue 8): patrols with tracks, visit logs, quotas and
//! the daily list, on SQLite and (with WANGGE_TEST_DATABASE_URL) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use wangge_server::Config;
use wangge_store::{Store, UserRow};

/// Metres per degree of latitude (the domain's sphere).
const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

async fn put(s: &common::TestServer, token: &str, path: &str, body: &Value) -> reqwest::Response {
    s.client
        .put(s.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A second grid worker, in another grid of the demo worker's district.
async fn other_worker(s: &common::TestServer, grid: &str) -> String {
    let other_grid =
        s.db.store
            .current_regions(Some("grid"), None)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.level == "grid" && r.code != grid && r.code.starts_with(&grid[..6]))
            .unwrap()
            .code;
    let now = Utc::now();
    s.db.store
        .insert_users(&[UserRow {
            id: wangge_domain::new_id(),
            username: "field-other".into(),
            display_name: "另一网格员".into(),
            role: "grid_worker".into(),
            region_code: Some(other_grid),
            unit_id: None,
            password_hash: wangge_server::auth::hash_password("demo").unwrap(),
            active: true,
            created_at: now,
        }])
        .await
        .unwrap();
    s.login("field-other").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patrol_from_start_to_end() {
    for s in common::servers(Config::default()).await {
        let token = s.login("demo-worker").await;
        let grid = s.region_of("demo-worker").await;
        let resp = s.post(&token, "/api/v1/patrols", &json!({})).await;
        assert_eq!(resp.status().as_u16(), 201);
        let patrol: Value = resp.json().await.unwrap();
        let id = patrol["id"].as_str().unwrap().to_owned();
        assert_eq!(patrol["status"], "running");
        assert_eq!(patrol["grid_code"], grid.as_str());
        // Starting again answers the running patrol.
        let again = s.post(&token, "/api/v1/patrols", &json!({})).await;
        assert_eq!(again.status().as_u16(), 200);
        assert_eq!(again.json::<Value>().await.unwrap()["id"], id.as_str());

        // 200 m due east from a point inside the grid, a fix every 10 m at 2 m/s.
        let (lon0, lat0) = s.point_in(&grid).await;
        let m_per_deg_lon = M_PER_DEG * lat0.to_radians().cos();
        let t0 = Utc::now() - Duration::seconds(100);
        let fixes: Vec<Value> = (0..=20)
            .map(|i| {
                json!({
                    "at": (t0 + Duration::seconds(5 * i)).to_rfc3339(),
                    "lon": lon0 + (10.0 * i as f64) / m_per_deg_lon,
                    "lat": lat0,
                    "accuracy": 6.0
                })
            })
            .collect();
        let path = format!("/api/v1/patrols/{id}/positions");
        let resp = s
            .post(&token, &path, &json!({ "positions": fixes[..12] }))
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap()["added"], 12);
        // A resent batch overlapping the first adds only what is new.
        let resp = s.post(&token, &path, &json!({ "positions": fixes })).await;
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["added"], 9);
        assert_eq!(body["points"], 21);

        // A fix out of range fails the batch, naming its index.
        let mut bad = fixes.clone();
        bad[3]["lat"] = json!(95.5);
        let resp = s.post(&token, &path, &json!({ "positions": bad })).await;
        assert_eq!(resp.status().as_u16(), 422);
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["details"]["index"], 3, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("position 3")
        );
        let mut late = fixes.clone();
        late[7]["at"] = json!((Utc::now() + Duration::hours(2)).to_rfc3339());
        let resp = s.post(&token, &path, &json!({ "positions": late })).await;
        assert_eq!(resp.status().as_u16(), 422);
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"]["details"]["field"],
            "positions[7].at"
        );
        let resp = s
            .post(&token, &path, &json!({ "crs": "mars", "positions": [] }))
            .await;
        assert_eq!(resp.status().as_u16(), 422);

        // Another worker neither sees nor adds to it.
        let other = other_worker(&s, &grid).await;
        let resp = s.post(&other, &path, &json!({ "positions": fixes })).await;
        assert_eq!(resp.status().as_u16(), 404);
        let resp = s
            .post(&other, &format!("/api/v1/patrols/{id}/end"), &json!({}))
            .await;
        assert_eq!(resp.status().as_u16(), 404);

        let resp = s
            .post(&token, &format!("/api/v1/patrols/{id}/end"), &json!({}))
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let ended: Value = resp.json().await.unwrap();
        assert_eq!(ended["status"], "ended");
        let length = ended["length_m"].as_f64().unwrap();
        assert!((length - 200.0).abs() <= 4.0, "length {length}");
        let coverage = ended["coverage"].as_f64().unwrap();
        assert!(coverage > 0.0 && coverage <= 1.0, "coverage {coverage}");
        // Positions after the end are refused.
        let resp = s.post(&token, &path, &json!({ "positions": fixes })).await;
        assert_eq!(resp.status().as_u16(), 409);

        // The track, and the lists by scope.
        let detail: Value = s
            .get(&token, &format!("/api/v1/patrols/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(detail["track"]["type"], "LineString");
        assert_eq!(detail["track"]["coordinates"].as_array().unwrap().len(), 21);
        let mine: Vec<Value> = s.get(&token, "/api/v1/patrols").await.json().await.unwrap();
        assert!(mine.iter().any(|p| p["id"] == id.as_str()));
        assert!(mine.iter().all(|p| p["worker"] == "demo-worker"));
        let theirs: Vec<Value> = s
            .get(&other, "/api/v1/patrols?worker=demo-worker")
            .await
            .json()
            .await
            .unwrap();
        assert!(theirs.is_empty());
        let community = s.login("demo-community").await;
        let seen: Vec<Value> = s
            .get(&community, "/api/v1/patrols?worker=demo-worker")
            .await
            .json()
            .await
            .unwrap();
        assert!(seen.iter().any(|p| p["id"] == id.as_str()));
        let resp = s.get(&s.login("demo-unit").await, "/api/v1/patrols").await;
        assert_eq!(resp.status().as_u16(), 403);
        // Only grid workers patrol.
        let resp = s.post(&community, "/api/v1/patrols", &json!({})).await;
        assert_eq!(resp.status().as_u16(), 403);

        // The evaluation read.
        let totals = wangge_store::field_work::FieldWork::patrol_totals(
            &s.db.store,
            Utc::now() - Duration::days(1),
            Utc::now() + Duration::minutes(1),
            Some(&grid[..9]),
        )
        .await
        .unwrap();
        let t = totals.iter().find(|t| t.worker == "demo-worker").unwrap();
        assert_eq!(t.patrols, 3, "two demo patrols and this one");
        assert!(t.length_m > length);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visits_quotas_and_the_day() {
    for s in common::servers(Config::default()).await {
        let token = s.login("demo-worker").await;
        let grid = s.region_of("demo-worker").await;

        // A visit with a follow-up: open, then done.
        let resp = s
            .post(
                &token,
                "/api/v1/visits",
                &json!({"kind": "other", "label": "社区广场", "notes": "夜间照明不足", "follow_up": "联系物业维修路灯", "follow_up_due": "2026-12-01"}),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 201);
        let visit: Value = resp.json().await.unwrap();
        assert_eq!(visit["follow_up_status"], "open");
        let vid = visit["id"].as_str().unwrap().to_owned();
        let open: Vec<Value> = s
            .get(&token, "/api/v1/visits?follow_up=open")
            .await
            .json()
            .await
            .unwrap();
        assert!(open.iter().any(|v| v["id"] == vid.as_str()));
        let resp = s
            .post(&token, "/api/v1/visits", &json!({"kind": "alien"}))
            .await;
        assert_eq!(resp.status().as_u16(), 422);
        let resp = s
            .post(
                &token,
                "/api/v1/visits",
                &json!({"kind": "house", "target": "NOPE"}),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 422);
        let resp = s
            .post(
                &token,
                &format!("/api/v1/visits/{vid}/follow-up-done"),
                &json!({}),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.json::<Value>().await.unwrap()["follow_up_status"],
            "done"
        );
        let resp = s
            .post(
                &token,
                &format!("/api/v1/visits/{vid}/follow-up-done"),
                &json!({}),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 409);
        let open: Vec<Value> = s
            .get(&token, "/api/v1/visits?follow_up=open")
            .await
            .json()
            .await
            .unwrap();
        assert!(open.iter().all(|v| v["id"] != vid.as_str()));

        // Quotas: the defaults; only district and admin users change them.
        let district = s.login("demo-district").await;
        let q: Value = s
            .get(&district, "/api/v1/field/quotas")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                q["patrols_per_day"].as_i64(),
                q["reports_per_day"].as_i64(),
                q["default"].as_bool()
            ),
            (Some(2), Some(1), Some(true))
        );
        let body = json!({"patrols_per_day": 3, "reports_per_day": 1, "visits_per_day": 0});
        let resp = put(
            &s,
            &s.login("demo-street").await,
            "/api/v1/field/quotas",
            &body,
        )
        .await;
        assert_eq!(resp.status().as_u16(), 403);
        let resp = put(&s, &token, "/api/v1/field/quotas", &body).await;
        assert_eq!(resp.status().as_u16(), 403);

        // The demo worker's day: two seeded patrols and one report meet the defaults.
        let (lon, lat) = s.point_in(&grid).await;
        let resp = s
            .post(&token, "/api/v1/cases", &json!({"category": "06001", "description": "路边有暴露垃圾", "lon": lon, "lat": lat, "source": "patrol"}))
            .await;
        assert_eq!(resp.status().as_u16(), 201);
        let day: Value = s
            .get(&district, "/api/v1/field/daily")
            .await
            .json()
            .await
            .unwrap();
        let row = day["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["username"] == "demo-worker")
            .unwrap()
            .clone();
        assert_eq!(row["patrols"], 2, "{row}");
        assert_eq!(row["reports"], 1, "{row}");
        assert_eq!(row["met"], true, "{row}");
        let mine: Value = s
            .get(&token, "/api/v1/field/daily")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            mine["rows"].as_array().unwrap().len(),
            1,
            "a worker sees their own day"
        );

        let resp = put(&s, &district, "/api/v1/field/quotas", &body).await;
        assert_eq!(resp.status().as_u16(), 200);
        let day: Value = s
            .get(&district, "/api/v1/field/daily")
            .await
            .json()
            .await
            .unwrap();
        let rows = day["rows"].as_array().unwrap();
        let row = rows
            .iter()
            .find(|r| r["username"] == "demo-worker")
            .unwrap();
        assert_eq!(row["met"], false);
        assert_eq!(row["patrols_met"], false);
        assert_eq!(row["reports_met"], true);
        assert_eq!(
            rows[0]["met"], false,
            "who did not meet the quotas comes first"
        );

        // As files.
        let resp = s.get(&district, "/api/v1/field/daily?format=csv").await;
        assert_eq!(resp.status().as_u16(), 200);
        let csv = resp.text().await.unwrap();
        assert!(csv.contains("demo-worker"), "{csv}");
        let resp = s.get(&district, "/api/v1/field/daily?format=xlsx").await;
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.bytes().await.unwrap().starts_with(b"PK"));
        let resp = s.get(&district, "/api/v1/field/daily?date=yesterday").await;
        assert_eq!(resp.status().as_u16(), 422);

        // The documents list the endpoints.
        let doc: Value = s
            .client
            .get(s.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for path in [
            "/api/v1/patrols",
            "/api/v1/patrols/{id}/positions",
            "/api/v1/field/daily",
            "/api/v1/visits",
        ] {
            assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages() {
    for s in common::servers(Config::default()).await {
        let worker = s.session("demo-worker").await;
        for path in ["/m/patrol", "/m/visits"] {
            let (status, html) = worker.page(path).await;
            assert_eq!(status, 200, "{path}: {html}");
            assert!(!html.contains("<script>"), "no inline scripts on {path}");
        }
        let centre = s.session("demo-district").await;
        let (status, html) = centre.page("/console/field").await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("demo-worker"));
        let patrols: Vec<Value> = s
            .get(&s.login("demo-district").await, "/api/v1/patrols")
            .await
            .json()
            .await
            .unwrap();
        let id = patrols[0]["id"].as_str().unwrap();
        let (status, html) = centre.page(&format!("/console/field/patrols/{id}")).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("leaflet"));
        let (status, _) = s.session("demo-unit").await.page("/console/field").await;
        assert_eq!(status, 403);
    }
}
