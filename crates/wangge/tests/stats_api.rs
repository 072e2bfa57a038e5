//! `/api/v1/stats`: a case driven round the loop through the API, then its unit's and area's
//! indicators with known answers — on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use serde_json::{Value, json};
use wangge_server::Config;
use wangge_store::Store;

async fn act(server: &TestServer, user: &str, id: &str, command: Value) {
    let token = server.login(user).await;
    let case: Value = server
        .get(&token, &format!("/api/v1/cases/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let mut body = command.clone();
    body["version"] = case["version"].clone();
    let resp = server
        .post(&token, &format!("/api/v1/cases/{id}/actions"), &body)
        .await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{user} {command}: {}",
        resp.text().await.unwrap()
    );
}

/// demo-worker reports a parked car (09009) in its grid; answers the case id and the grid.
async fn patrol_report(server: &TestServer, description: &str) -> (String, String) {
    let worker = server.login("demo-worker").await;
    let grid = server.region_of("demo-worker").await;
    let (lon, lat) = server.point_in(&grid).await;
    let resp = server
        .post(
            &worker,
            "/api/v1/cases",
            &json!({"category": "09009", "description": description,
            "lon": lon, "lat": lat, "source": "patrol"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, grid)
}

#[tokio::test]
async fn a_reworked_case_counts_for_its_unit_and_its_area() {
    for server in common::servers(Config::default()).await {
        // The seeded sample cases happened before this instant: only ours is counted. Figures
        // are counted to the second, so the seeds are left a second behind.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let start = chrono::Utc::now().to_rfc3339();
        let (id, grid) = patrol_report(&server, "统计").await;
        let unit = server.unit_of("demo-unit").await;
        act(&server, "demo-receiver", &id, json!({"action": "register"})).await;
        act(
            &server,
            "demo-dispatcher",
            &id,
            json!({"action": "dispatch", "unit": unit}),
        )
        .await;
        act(&server, "demo-unit", &id, json!({"action": "accept"})).await;
        act(&server, "demo-unit", &id, json!({"action": "handle"})).await;
        act(
            &server,
            "demo-worker",
            &id,
            json!({"action": "check_fail", "reason": "仍有车辆"}),
        )
        .await;
        act(&server, "demo-unit", &id, json!({"action": "handle"})).await;
        act(&server, "demo-worker", &id, json!({"action": "check_pass"})).await;
        act(&server, "demo-leader", &id, json!({"action": "close"})).await;

        let leader = server.login("demo-district").await;
        let from = urlencode(&start);
        let units: Value = server
            .get(&leader, &format!("/api/v1/stats/units?from={from}"))
            .await
            .json()
            .await
            .unwrap();
        let row = units["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unit"] == unit.as_str())
            .unwrap();
        assert_eq!(row["due"], 2, "{row}");
        assert_eq!(row["handled"], 2);
        assert_eq!(row["handled_on_time"], 2);
        assert_eq!(row["overdue"], 0);
        assert_eq!(row["rework_count"], 1);
        assert_eq!(row["rework_rate"], 50.0);
        assert_eq!(row["on_time_handling_rate"], 100.0);
        assert!(row["unit_name"].is_string());
        // 40 × 100 (on time) + 30 × 100 (handled) + 30 × (100 − 50) (rework), over 100.
        assert_eq!(
            (
                row["score"].as_f64(),
                row["grade"].as_str(),
                row["rank"].as_u64()
            ),
            (Some(85.0), Some("B"), Some(1))
        );

        let areas: Value = server
            .get(
                &leader,
                &format!("/api/v1/stats/areas?level=street&from={from}"),
            )
            .await
            .json()
            .await
            .unwrap();
        let street = &grid[..9];
        let row = areas["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == street)
            .unwrap();
        assert_eq!(
            (
                row["reported"].as_u64(),
                row["registered"].as_u64(),
                row["closed"].as_u64()
            ),
            (Some(1), Some(1), Some(1))
        );
        assert_eq!(row["closure_rate"], 100.0);
        assert_eq!(row["patrol_share"], 100.0);
        // Found by patrol, nothing missed: all of it found before any citizen called.
        assert_eq!(
            (row["missed"].as_u64(), row["discovery_rate"].as_f64()),
            (Some(0), Some(100.0))
        );
        assert!(
            row["cases_per_km2"].as_f64().is_some_and(|d| d > 0.0),
            "{row}"
        );
        // The change is against the period of the same length just before (the demo's seeding).
        if let Some(before) = row["previous_score"].as_f64() {
            assert_eq!(
                row["score_change"].as_f64(),
                Some(((100.0 - before) * 100.0).round() / 100.0)
            );
        } else {
            assert!(row["score_change"].is_null());
        }
        assert!(row["last_year_score"].is_null(), "nothing a year ago");
        assert_eq!(
            (row["score"].as_f64(), row["grade"].as_str()),
            (Some(100.0), Some("A"))
        );
        assert_eq!(
            areas["rows"].as_array().unwrap().len(),
            1,
            "nothing else happened since start"
        );

        let people: Value = server
            .get(&leader, &format!("/api/v1/stats/workers?from={from}"))
            .await
            .json()
            .await
            .unwrap();
        let person = |name: &str| {
            people["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["username"] == name)
                .cloned()
                .unwrap()
        };
        let worker = person("demo-worker");
        assert_eq!(
            (
                worker["reported"].as_u64(),
                worker["valid_reports"].as_u64(),
                worker["checked"].as_u64()
            ),
            (Some(1), Some(1), Some(2))
        );
        assert_eq!(worker["role"], "grid_worker");
        // A grid worker who reported and checked is scored, and ranked among grid workers.
        assert!(worker["score"].as_f64().is_some(), "{worker}");
        assert_eq!(worker["rank"], 1);
        assert_eq!(worker["missed"], 0);
        assert_eq!(person("demo-leader")["closed"], 1);
        assert_eq!(person("demo-receiver")["registered"], 1);
        assert_eq!(person("demo-dispatcher")["dispatched"], 1);
        assert_eq!(person("demo-dispatcher")["dispatch_accuracy"], 100.0);
        let categories: Value = server
            .get(&leader, &format!("/api/v1/stats/categories?from={from}"))
            .await
            .json()
            .await
            .unwrap();
        let row = &categories["rows"][0];
        assert_eq!(
            (row["code"].as_str(), row["closed"].as_u64()),
            (Some("09009"), Some(1))
        );
        assert_eq!(row["name"], "机动车乱停放");

        // Reports: CSV for Excel, and a workbook with a sheet per level.
        let resp = server
            .get(
                &leader,
                &format!("/api/v1/stats/units?from={from}&format=csv"),
            )
            .await;
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = resp.bytes().await.unwrap();
        assert!(
            csv.starts_with(b"\xEF\xBB\xBF"),
            "a BOM, so Excel reads UTF-8"
        );
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        assert!(text.starts_with("unit,unit_name,due,handled,"), "{text}");
        assert!(text.contains(&format!("{unit},")));
        let resp = server
            .get(
                &leader,
                &format!("/api/v1/stats/areas?from={from}&format=xlsx"),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let bytes = resp.bytes().await.unwrap().to_vec();
        {
            use calamine::{DataType, Reader};
            let mut book: calamine::Xlsx<_> =
                calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
            assert_eq!(book.sheet_names(), ["区", "街道", "社区", "网格"]);
            let streets = book.worksheet_range("街道").unwrap();
            assert_eq!(streets.get((0, 0)).unwrap().to_string(), "编码");
            let header: Vec<String> = streets
                .rows()
                .next()
                .unwrap()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let closed = header.iter().position(|h| h == "结案数").unwrap();
            assert_eq!(
                streets.get((1, 0)).unwrap().to_string(),
                street,
                "codes stay text"
            );
            assert_eq!(
                streets.get((1, closed)).unwrap().as_f64(),
                Some(1.0),
                "counts are numbers"
            );
        }
        let resp = server.get(&leader, "/api/v1/stats/units?format=pdf").await;
        assert_eq!(resp.status().as_u16(), 422);

        // Two more reports of the same problem at the same place make it a hotspot.
        let worker = server.login("demo-worker").await;
        let (lon, lat) = server.point_in(&grid).await;
        for _ in 0..2 {
            let resp = server
                .post(
                    &worker,
                    "/api/v1/cases",
                    &json!({"category": "09009", "description": "又停满了",
                    "lon": lon, "lat": lat, "source": "patrol"}),
                )
                .await;
            assert_eq!(resp.status().as_u16(), 201);
        }
        let spots: Value = server
            .get(
                &leader,
                &format!("/api/v1/stats/hotspots?from={from}&min=3"),
            )
            .await
            .json()
            .await
            .unwrap();
        let rows = spots["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{spots}");
        assert_eq!(
            (rows[0]["category_code"].as_str(), rows[0]["count"].as_u64()),
            (Some("09009"), Some(3))
        );
        assert!((rows[0]["lon"].as_f64().unwrap() - lon).abs() < 1e-5);
        let resp = server.get(&leader, "/api/v1/stats/hotspots?cell_m=1").await;
        assert_eq!(resp.status().as_u16(), 422);

        // A community user sees its own community only; bad input is named.
        let community = server.login("demo-community").await;
        let mine = server.region_of("demo-community").await;
        let areas: Value = server
            .get(&community, "/api/v1/stats/areas?level=grid&from=2020-01-01")
            .await
            .json()
            .await
            .unwrap();
        assert!(
            areas["rows"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["code"].as_str().unwrap().starts_with(&mine))
        );
        let resp = server
            .get(&community, "/api/v1/stats/areas?level=planet")
            .await;
        assert_eq!(resp.status().as_u16(), 422);
        let resp = server
            .get(&community, "/api/v1/stats/areas?from=yesterday")
            .await;
        assert_eq!(resp.status().as_u16(), 422);
        assert_eq!(
            server
                .get(&community, "/api/v1/stats/planets")
                .await
                .status()
                .as_u16(),
            404
        );
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// The ledger statistics count from is stored: a restarted server reads it back instead of
/// replaying timelines, and afterwards remakes only the cases that changed — including a change
/// made by another server on the same database, which it finds by the case's update time.
#[tokio::test]
async fn the_ledger_is_read_back_and_caught_up_incrementally() {
    for server in common::servers(Config::default()).await {
        let first = server.state.ledger.catch_up(&server.state).await.unwrap();
        let cases = server.state.store.count_cases().await.unwrap() as usize;
        assert!(cases > 0);
        assert_eq!(
            first.remade, cases,
            "a new database: every case is made once"
        );
        let again = server.state.ledger.catch_up(&server.state).await.unwrap();
        assert_eq!(again.remade, 0, "nothing changed");

        // Another server on the same database: it loads what the first one stored.
        let other = wangge_server::AppState::load(server.state.store.clone(), Config::default())
            .await
            .unwrap();
        let loaded = other.ledger.catch_up(&other).await.unwrap();
        assert_eq!((loaded.loaded, loaded.remade), (cases, 0));
        assert!(!loaded.from_image, "no image written yet: read row by row");
        // Once an image is written, a third server reads that instead.
        server
            .state
            .ledger
            .write_image(&server.state)
            .await
            .unwrap();
        let third = wangge_server::AppState::load(server.state.store.clone(), Config::default())
            .await
            .unwrap();
        let from_image = third.ledger.catch_up(&third).await.unwrap();
        assert_eq!(
            (from_image.loaded, from_image.remade, from_image.from_image),
            (cases, 0, true)
        );

        // A case registered through the first server …
        let (id, _) = patrol_report(&server, "台账").await;
        act(&server, "demo-receiver", &id, json!({"action": "register"})).await;
        // … is remade alone by it, and found and remade alone by the other one.
        let mine = server.state.ledger.catch_up(&server.state).await.unwrap();
        assert_eq!(mine.remade, 1);
        let theirs = other.ledger.catch_up(&other).await.unwrap();
        assert_eq!(theirs.remade, 1);

        // A rebuild forgets every record; the next server makes them all again.
        let forgotten = server.state.store.clear_ledger().await.unwrap();
        assert_eq!(forgotten as usize, cases + 1);
        let fourth = wangge_server::AppState::load(server.state.store.clone(), Config::default())
            .await
            .unwrap();
        let rebuilt = fourth.ledger.catch_up(&fourth).await.unwrap();
        assert_eq!((rebuilt.loaded, rebuilt.remade), (0, cases + 1));

        // Today's trend counts it on today's line.
        let leader = server.login("demo-district").await;
        let trend: Value = server
            .get(&leader, "/api/v1/stats/trend")
            .await
            .json()
            .await
            .unwrap();
        let days = trend["rows"].as_array().unwrap();
        let today = days.last().unwrap();
        assert!(today["reported"].as_u64().unwrap() >= 1, "{today}");
        assert!(today["registered"].as_u64().unwrap() >= 1, "{today}");
        assert!(
            days.windows(2)
                .all(|w| w[0]["day"].as_str() < w[1]["day"].as_str())
        );
    }
}

/// A public report at `(lon, lat)`, confirmed by the grid worker and registered; answers its id.
async fn registered_report(
    server: &TestServer,
    category: &str,
    source: &str,
    (lon, lat): (f64, f64),
) -> String {
    let receiver = server.login("demo-receiver").await;
    let resp = server
        .post(
            &receiver,
            "/api/v1/cases",
            &json!({"category": category, "description": "热线反映", "lon": lon, "lat": lat,
            "source": source, "external_id": format!("T-{}", wangge_domain::new_id())}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    act(server, "demo-worker", &id, json!({"action": "confirm"})).await;
    act(server, "demo-receiver", &id, json!({"action": "register"})).await;
    id
}

#[tokio::test]
async fn hotline_reports_a_patrol_had_not_found_lower_the_hotline_discovery_rate() {
    for server in common::servers(Config::default()).await {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let start = chrono::Utc::now().to_rfc3339();
        // A patrol finds a parked car (09009) and it is registered.
        let (id, grid) = patrol_report(&server, "巡查发现").await;
        act(&server, "demo-receiver", &id, json!({"action": "register"})).await;
        let point = server.point_in(&grid).await;
        // The hotline reports the same car: the patrol was there first. Then a different
        // problem at the same place (a 12345 report no patrol had made), and an app report.
        registered_report(&server, "09009", "hotline_12345", point).await;
        registered_report(&server, "01001", "hotline_12345", point).await;
        registered_report(&server, "01001", "app", point).await;

        let leader = server.login("demo-district").await;
        let from = urlencode(&start);
        let areas: Value = server
            .get(
                &leader,
                &format!("/api/v1/stats/areas?level=street&from={from}"),
            )
            .await
            .json()
            .await
            .unwrap();
        let row = areas["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == grid[..9])
            .cloned()
            .unwrap();
        assert_eq!(
            (
                row["registered"].as_u64(),
                row["registered_by_patrol"].as_u64(),
                row["registered_by_hotline"].as_u64()
            ),
            (Some(4), Some(1), Some(2)),
            "{row}"
        );
        // Missed: the 12345 report of 01001 and the app report; of them one from the hotline.
        assert_eq!(
            (row["missed"].as_u64(), row["hotline_missed"].as_u64()),
            (Some(2), Some(1))
        );
        // Patrol 1 against the hotline's 1: 50 %; against every public channel 1 ÷ 3.
        assert_eq!(row["hotline_discovery_rate"], 50.0);
        assert_eq!(row["discovery_rate"], 33.33);

        // The Excel report names the new columns in Chinese.
        let resp = server
            .get(
                &leader,
                &format!("/api/v1/stats/areas?level=street&format=xlsx&from={from}"),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let bytes = resp.bytes().await.unwrap();
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        use calamine::Reader;
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        let header: Vec<String> = sheet
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        for name in [
            "热线立案数",
            "热线漏报数",
            "热线对比发现率(%)",
            "未诉先办率(%)",
        ] {
            assert!(header.iter().any(|h| h == name), "{name} in {header:?}");
        }
    }
}

#[tokio::test]
async fn a_grid_workers_patrols_count_in_their_row() {
    use wangge_store::field_work::{FieldWork, PatrolRow};
    for server in common::servers(Config::default()).await {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let start = chrono::Utc::now();
        let grid = server.region_of("demo-worker").await;
        let worker = server
            .state
            .store
            .user_by_username("demo-worker")
            .await
            .unwrap()
            .unwrap();
        // Two patrols of 1.5 km and 0.5 km covering 60 % and 20 % of the grid.
        for (length_m, coverage) in [(1500.0, 0.6), (500.0, 0.2)] {
            let id = wangge_domain::new_id();
            let patrol = PatrolRow {
                district_code: grid[..6].to_owned(),
                id,
                worker_id: worker.id,
                worker: worker.username.clone(),
                grid_code: grid.clone(),
                started_at: start,
                ended_at: None,
                length_m: None,
                coverage: None,
                points: 0,
                status: "running".into(),
            };
            let store = &server.state.store;
            store.create_patrol(&patrol).await.unwrap();
            let ended = store
                .end_patrol(&grid[..6], id, chrono::Utc::now(), length_m, coverage)
                .await
                .unwrap();
            assert!(ended);
        }
        let leader = server.login("demo-district").await;
        let from = urlencode(&start.to_rfc3339());
        let people: Value = server
            .get(&leader, &format!("/api/v1/stats/workers?from={from}"))
            .await
            .json()
            .await
            .unwrap();
        let row = people["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["username"] == "demo-worker")
            .cloned()
            .unwrap();
        assert_eq!(
            (
                row["patrols"].as_u64(),
                row["patrol_km"].as_f64(),
                row["patrol_coverage"].as_f64()
            ),
            (Some(2), Some(2.0), Some(40.0)),
            "{row}"
        );
        // Other roles have no patrol figures.
        let receiver = people["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["username"] == "demo-receiver");
        if let Some(r) = receiver {
            assert!(r["patrol_km"].is_null(), "{r}");
        }
    }
}
