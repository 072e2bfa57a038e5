//! The HTTP API, through a real server on a random port, on every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use wangge_domain::region::Level;
use wangge_server::Config;
use wangge_store::Store;

/// A point inside some grid of the served city, with that grid's code.
fn inside_point(s: &common::TestServer) -> (f64, f64, String) {
    let atlas = s.state.atlas();
    // Walk a line across the city until a grid answers.
    for k in 0..10_000 {
        let (lon, lat) = (114.30 + (k as f64) * 1e-5, 30.58 + (k as f64) * 7e-6);
        if let Some(code) = atlas.locate_code(lon, lat) {
            return (lon, lat, code.to_owned());
        }
    }
    panic!("no grid found near the city centre");
}

async fn error_code(resp: reqwest::Response) -> (u16, String, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_openapi_and_regions() {
    for s in common::servers(Config::default()).await {
        let h: Value = s
            .client
            .get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(h["status"], "ok");
        assert!(h["grids"].as_u64().unwrap() >= 120);

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
            "/api/v1/locate",
            "/api/v1/regions",
            "/api/v1/regions/{code}",
            "/api/v1/regions.geojson",
            "/api/v1/cases",
            "/api/v1/cases/{id}",
        ] {
            assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
        }

        let districts: Vec<Value> = s
            .client
            .get(s.url("/api/v1/regions?level=district"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(!districts.is_empty());
        let d = districts[0]["code"].as_str().unwrap().to_owned();
        let streets: Vec<Value> = s
            .client
            .get(s.url(&format!("/api/v1/regions?parent={d}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            streets
                .iter()
                .all(|x| x["level"] == "street" && x["parent_code"] == d.as_str())
        );

        let (_, _, grid) = inside_point(&s);
        let detail: Value = s
            .client
            .get(s.url(&format!("/api/v1/regions/{grid}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(detail["level"], "grid");
        assert_eq!(detail["ancestors"].as_array().unwrap().len(), 4);
        assert!(
            detail["geometry"]["type"]
                .as_str()
                .unwrap()
                .contains("Polygon")
        );

        let (status, code, _) = error_code(
            s.client
                .get(s.url("/api/v1/regions/999999999999999"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, code.as_str()), (404, "region_not_found"));
        let (status, code, _) = error_code(
            s.client
                .get(s.url("/api/v1/regions?level=planet"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, code.as_str()), (422, "invalid_field"));

        let resp = s
            .client
            .get(s.url("/api/v1/regions.geojson?level=grid"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "application/geo+json");
        let fc: Value = resp.json().await.unwrap();
        assert_eq!(fc["type"], "FeatureCollection");
        assert_eq!(
            fc["features"].as_array().unwrap().len() as u64,
            h["grids"].as_u64().unwrap()
        );

        let page = s
            .client
            .get(s.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The start page is the console's sign-in (reqwest follows `/` → `/console` → `/login`).
        assert!(page.contains("网格") && page.contains("name=\"password\""));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locate_one_and_many() {
    let config = Config {
        max_locate_points: 10,
        ..Config::default()
    };
    for s in common::servers(config).await {
        let (lon, lat, grid) = inside_point(&s);
        let a: Value = s
            .client
            .get(s.url(&format!("/api/v1/locate?lon={lon}&lat={lat}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(a["grid"]["code"], grid.as_str());
        let levels: Vec<&str> = a["ancestors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["level"].as_str().unwrap())
            .collect();
        assert_eq!(levels, ["community", "street", "district", "city"]);

        // GCJ-02 input is converted: the same place given in GCJ-02 finds the same grid.
        let (glon, glat) = wangge_geo::crs::wgs84_to_gcj02(lon, lat);
        let g: Value = s
            .client
            .get(s.url(&format!("/api/v1/locate?lon={glon}&lat={glat}&crs=gcj02")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(g["grid"]["code"], grid.as_str());

        for (q, status, code) in [
            ("lon=0.5&lat=0.5", 404, "outside_jurisdiction"),
            ("lon=NaN&lat=30", 422, "invalid_field"),
            ("lon=30.5&lat=114.3", 422, "invalid_field"),
            ("lon=200&lat=30", 422, "invalid_field"),
            ("lon=abc&lat=30", 400, "invalid_query"),
            ("lat=30", 400, "invalid_query"),
            ("lon=114.3&lat=30.5&crs=mars", 422, "invalid_field"),
        ] {
            let (st, c, body) = error_code(
                s.client
                    .get(s.url(&format!("/api/v1/locate?{q}")))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!((st, c.as_str()), (status, code), "{q}: {body}");
        }

        let batch = json!([
            {"id": 1, "lon": lon, "lat": lat},
            {"id": "b", "lon": 0.5, "lat": 0.5},
            {"id": 3, "lon": 500.0, "lat": 30.0},
            {"id": 4, "lat": 30.0}
        ]);
        let out: Vec<Value> = s
            .client
            .post(s.url("/api/v1/locate"))
            .json(&batch)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out[0]["grid_code"], grid.as_str());
        assert_eq!(out[0]["district_code"], &grid[..6]);
        assert_eq!(out[1]["id"], "b");
        assert_eq!(out[1]["error"], "outside_jurisdiction");
        assert!(out[2]["error"].as_str().unwrap().contains("lon"));
        assert!(out[3]["error"].as_str().unwrap().contains("required"));

        let too_many: Vec<Value> = (0..11)
            .map(|i| json!({"id": i, "lon": lon, "lat": lat}))
            .collect();
        let (st, c, _) = error_code(
            s.client
                .post(s.url("/api/v1/locate"))
                .json(&too_many)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, c.as_str()), (413, "too_many_points"));
        let (st, c, _) = error_code(
            s.client
                .post(s.url("/api/v1/locate"))
                .header("content-type", "application/json")
                .body("[{\"id\":1,")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, c.as_str()), (400, "malformed_json"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_case_end_to_end() {
    let config = Config {
        body_limit_bytes: 64 * 1024,
        ..Config::default()
    };
    for s in common::servers(config).await {
        let token = s.login("demo-receiver").await;
        let district = s.region_of("demo-receiver").await;
        let (lon, lat) = s.point_in(&s.region_of("demo-worker").await).await;
        let grid = s.state.atlas().locate_code(lon, lat).unwrap().to_owned();
        assert!(grid.starts_with(&district));
        let body = json!({
            "category": "06001",
            "description": "<script>alert('x')</script> 路边有暴露垃圾",
            "lon": lon, "lat": lat,
            "source": "hotline_12345",
            "external_id": "12345-20261124-0001"
        });
        let resp = s
            .client
            .post(s.url("/api/v1/cases"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            401,
            "reporting needs a signed-in user"
        );
        let resp = s.post(&token, "/api/v1/cases", &body).await;
        assert_eq!(resp.status().as_u16(), 201);
        let case: Value = resp.json().await.unwrap();
        assert_eq!(case["grid"]["code"], grid.as_str());
        assert_eq!(case["community"]["code"], &grid[..12]);
        assert_eq!(case["street"]["code"], &grid[..9]);
        assert_eq!(case["district_code"], &grid[..6]);
        assert_eq!(case["state"], "reported");
        assert_eq!(
            case["description"],
            "<script>alert('x')</script> 路边有暴露垃圾"
        );
        assert!(
            case["category"]["registration_standard"]
                .as_str()
                .unwrap()
                .len()
                > 4
        );
        let id = case["id"].as_str().unwrap();

        let got: Value = s
            .get(&token, &format!("/api/v1/cases/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let timeline = got["timeline"].as_array().unwrap();
        assert_eq!(timeline.len(), 1);
        assert_eq!(timeline[0]["action"], "report");
        assert_eq!(timeline[0]["to"], "reported");
        assert_eq!(timeline[0]["payload"]["needs_confirmation"], true);

        let before = s.db.store.count_cases().await.unwrap();
        let bad = |patch: Value| {
            let mut b = body.clone();
            b["external_id"] = Value::Null;
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    b.as_object_mut().unwrap().remove(k);
                } else {
                    b[k] = v.clone();
                }
            }
            b
        };
        for (patch, status, code, field) in [
            (
                json!({"category": "99999"}),
                422,
                "unknown_category",
                "category",
            ),
            (
                json!({"category": "6001"}),
                422,
                "invalid_field",
                "category",
            ),
            (
                json!({"lon": null, "lat": null}),
                422,
                "invalid_field",
                "location",
            ),
            (json!({"lat": 95.0}), 422, "invalid_field", "location"),
            (
                json!({"lon": 0.5, "lat": 0.5}),
                404,
                "outside_jurisdiction",
                "",
            ),
            (json!({"source": "pigeon"}), 422, "invalid_field", "source"),
            (
                json!({"description": "   "}),
                422,
                "invalid_field",
                "description",
            ),
            (json!({"lon": "east"}), 422, "invalid_body", ""),
        ] {
            let (st, c, err) = error_code(
                s.client
                    .post(s.url("/api/v1/cases"))
                    .bearer_auth(&token)
                    .json(&bad(patch.clone()))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!((st, c.as_str()), (status, code), "{patch}: {err}");
            if !field.is_empty() {
                assert_eq!(err["error"]["details"]["field"], field, "{patch}: {err}");
            }
        }
        // The same hotline ticket again is refused.
        let (st, c, _) = error_code(
            s.client
                .post(s.url("/api/v1/cases"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, c.as_str()), (409, "conflict"));
        // Malformed JSON and a body over the limit.
        let (st, c, _) = error_code(
            s.client
                .post(s.url("/api/v1/cases"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{\"category\":")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, c.as_str()), (400, "malformed_json"));
        let huge = bad(json!({"description": "垃".repeat(40_000)}));
        let (st, c, _) = error_code(
            s.client
                .post(s.url("/api/v1/cases"))
                .bearer_auth(&token)
                .json(&huge)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, c.as_str()), (413, "payload_too_large"));
        assert_eq!(
            s.db.store.count_cases().await.unwrap(),
            before,
            "a refused request stored nothing"
        );

        let (st, c, _) = error_code(
            s.client
                .get(s.url("/api/v1/cases/0193a8f0-0000-7000-8000-000000000000"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, c.as_str()), (404, "case_not_found"));
        let (st, c, _) = error_code(
            s.client
                .get(s.url("/api/v1/cases/not-an-id"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, c.as_str()), (404, "case_not_found"));
        let _ = Level::Grid;
    }
}
