//! Region import: all or nothing, every problem reported with its feature, code and place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use wangge_geo::crs::Crs;
use wangge_server::region_import::{ImportOptions, ImportReport, import_regions, parse_features};
use wangge_store::{AnyStore, Store};

const X0: f64 = 116.30;
const Y0: f64 = 39.90;
const D: f64 = 0.01; // about 850 m × 1,100 m

/// A rectangle in lattice units of D from (X0, Y0), as a closed ring.
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
    let p = |x: f64, y: f64| [X0 + x * D, Y0 + y * D];
    vec![p(x0, y0), p(x1, y0), p(x1, y1), p(x0, y1), p(x0, y0)]
}

fn feature(code: &str, level: &str, parent: Option<&str>, ring: Vec<[f64; 2]>) -> Value {
    json!({"type": "Feature",
           "properties": {"code": code, "name": format!("区域{code}"), "level": level, "parent_code": parent},
           "geometry": {"type": "Polygon", "coordinates": [ring]}})
}

fn collection(features: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features})).unwrap()
}

/// City, district, street and community on the square [0,2]², four grids of one unit each.
fn base_tree() -> Vec<Value> {
    vec![
        feature("110000", "city", None, rect(0.0, 0.0, 2.0, 2.0)),
        feature(
            "110105",
            "district",
            Some("110000"),
            rect(0.0, 0.0, 2.0, 2.0),
        ),
        feature(
            "110105001",
            "street",
            Some("110105"),
            rect(0.0, 0.0, 2.0, 2.0),
        ),
        feature(
            "110105001001",
            "community",
            Some("110105001"),
            rect(0.0, 0.0, 2.0, 2.0),
        ),
        feature(
            "110105001001001",
            "grid",
            Some("110105001001"),
            rect(0.0, 1.0, 1.0, 2.0),
        ),
        feature(
            "110105001001002",
            "grid",
            Some("110105001001"),
            rect(1.0, 1.0, 2.0, 2.0),
        ),
        feature(
            "110105001001003",
            "grid",
            Some("110105001001"),
            rect(0.0, 0.0, 1.0, 1.0),
        ),
        feature(
            "110105001001004",
            "grid",
            Some("110105001001"),
            rect(1.0, 0.0, 2.0, 1.0),
        ),
    ]
}

async fn import(store: &AnyStore, bytes: &[u8]) -> Result<ImportReport, String> {
    let raw = wangge_geo::io::read_geojson(bytes).map_err(|e| e.to_string())?;
    let (features, problems) = parse_features(raw, Crs::Wgs84);
    import_regions(store, features, problems, &ImportOptions::default())
        .await
        .map_err(|e| e.to_string())
}

async fn region_count(store: &AnyStore) -> usize {
    store.current_regions(None, None).await.unwrap().len()
}

#[tokio::test]
async fn a_clean_tree_imports_and_a_recut_keeps_history() {
    for db in common::databases().await {
        let store = &db.store;
        let report = import(store, &collection(base_tree())).await.unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.inserted, 8);
        // The same file again changes nothing.
        let again = import(store, &collection(base_tree())).await.unwrap();
        assert_eq!((again.unchanged, again.inserted, again.changed), (8, 0, 0));

        // Re-cut the community into two grids: west and east halves. Grids 003 and 004 are gone.
        let recut = vec![
            feature(
                "110105001001001",
                "grid",
                Some("110105001001"),
                rect(0.0, 0.0, 1.0, 2.0),
            ),
            feature(
                "110105001001002",
                "grid",
                Some("110105001001"),
                rect(1.0, 0.0, 2.0, 2.0),
            ),
        ];
        let report = import(store, &collection(recut)).await.unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!((report.changed, report.retired), (2, 2));
        let grids = store.current_regions(Some("grid"), None).await.unwrap();
        assert_eq!(grids.len(), 2);
        assert_eq!(
            store.region_history("110105001001001").await.unwrap().len(),
            2
        );
        assert_eq!(
            store.region_history("110105001001004").await.unwrap().len(),
            1
        );
        assert!(
            store
                .current_region("110105001001004")
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn every_bad_file_is_refused_whole_with_located_problems() {
    let mut overlapping = base_tree();
    overlapping[5] = feature(
        "110105001001002",
        "grid",
        Some("110105001001"),
        rect(0.5, 1.0, 2.0, 2.0),
    );
    let mut gap = base_tree();
    gap[7] = feature(
        "110105001001004",
        "grid",
        Some("110105001001"),
        rect(1.0, 0.0, 1.8, 1.0),
    );
    let mut outside = base_tree();
    outside[7] = feature(
        "110105001001004",
        "grid",
        Some("110105001001"),
        rect(1.0, -0.5, 2.0, 1.0),
    );
    let mut bowtie = base_tree();
    let b = rect(0.0, 0.0, 1.0, 1.0);
    bowtie[6] = feature(
        "110105001001003",
        "grid",
        Some("110105001001"),
        vec![b[0], b[2], b[1], b[3], b[0]],
    );
    let mut short_code = base_tree();
    short_code[7] = feature(
        "11010500100104",
        "grid",
        Some("110105001001"),
        rect(1.0, 0.0, 2.0, 1.0),
    );
    let mut letters = base_tree();
    letters[7] = feature(
        "11010500100100A",
        "grid",
        Some("110105001001"),
        rect(1.0, 0.0, 2.0, 1.0),
    );
    let mut foreign = base_tree();
    foreign[7] = feature(
        "110105001002004",
        "grid",
        Some("110105001001"),
        rect(1.0, 0.0, 2.0, 1.0),
    );
    let mut point = base_tree();
    point[7] = json!({"type": "Feature", "properties": {"code": "110105001001004", "name": "x", "level": "grid", "parent_code": "110105001001"},
                      "geometry": {"type": "Point", "coordinates": [116.3, 39.9]}});
    let mut no_parent = base_tree();
    no_parent[7] = feature(
        "110105001002001",
        "grid",
        Some("110105001002"),
        rect(1.0, 0.0, 2.0, 1.0),
    );

    let cases: Vec<(&str, Vec<u8>, &str, Option<usize>)> = vec![
        ("overlap", collection(overlapping), "overlap", None),
        ("gap", collection(gap), "gap", None),
        (
            "outside parent",
            collection(outside),
            "outside_parent",
            Some(7),
        ),
        (
            "self-intersection",
            collection(bowtie),
            "self_intersection",
            Some(6),
        ),
        (
            "short code",
            collection(short_code),
            "invalid_code",
            Some(7),
        ),
        ("letters", collection(letters), "invalid_code", Some(7)),
        (
            "foreign prefix",
            collection(foreign),
            "invalid_code",
            Some(7),
        ),
        (
            "point geometry",
            collection(point),
            "invalid_geometry",
            Some(7),
        ),
        (
            "unknown parent",
            collection(no_parent),
            "unknown_parent",
            Some(7),
        ),
    ];
    for db in common::databases().await {
        let store = &db.store;
        for (what, bytes, kind, index) in &cases {
            let report = import(store, bytes).await.unwrap();
            assert!(!report.ok(), "{what}: accepted");
            let p = report
                .problems
                .iter()
                .find(|p| p.kind == *kind)
                .unwrap_or_else(|| panic!("{what}: no {kind} problem in {:?}", report.problems));
            if let Some(i) = index {
                assert_eq!(p.index, Some(*i), "{what}: {p:?}");
            }
            // A geometry that could not be read has no place to point at; the rest have one.
            if *kind != "invalid_geometry" {
                assert!(
                    p.location.is_some(),
                    "{what}: problem has no location: {p:?}"
                );
            }
            assert!(!p.message.is_empty());
            assert_eq!(region_count(store).await, 0, "{what}: something was stored");
        }
        for (what, bytes) in [
            (
                "malformed",
                b"{\"type\": \"FeatureCollection\", \"features\": [".to_vec(),
            ),
            ("empty", Vec::new()),
            (
                "not a collection",
                b"{\"type\": \"Point\", \"coordinates\": [1, 2]}".to_vec(),
            ),
        ] {
            assert!(import(store, &bytes).await.is_err(), "{what}: accepted");
        }
        assert_eq!(region_count(store).await, 0);
    }
}

#[tokio::test]
async fn gcj02_input_is_converted_to_wgs84() {
    let db = common::databases().await.remove(0);
    let to_gcj = |ring: Vec<[f64; 2]>| -> Vec<[f64; 2]> {
        ring.into_iter()
            .map(|[x, y]| {
                let (a, b) = wangge_geo::crs::wgs84_to_gcj02(x, y);
                [a, b]
            })
            .collect()
    };
    let features = vec![feature(
        "110000",
        "city",
        None,
        to_gcj(rect(0.0, 0.0, 1.0, 1.0)),
    )];
    let raw = wangge_geo::io::read_geojson(&collection(features)).unwrap();
    let (features, problems) = parse_features(raw, Crs::Gcj02);
    let options = ImportOptions {
        crs: Crs::Gcj02,
        ..ImportOptions::default()
    };
    let report = import_regions(&db.store, features, problems, &options)
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    let row = db.store.current_region("110000").await.unwrap().unwrap();
    assert_eq!(row.source_crs, "gcj02");
    let g: Value = serde_json::from_str(&row.geometry).unwrap();
    let first = &g["coordinates"][0][0];
    assert!((first[0].as_f64().unwrap() - X0).abs() < 1e-6, "{first}");
    assert!((first[1].as_f64().unwrap() - Y0).abs() < 1e-6, "{first}");
}

#[tokio::test]
async fn a_running_server_picks_up_an_import_made_elsewhere() {
    for db in common::databases().await {
        let state = wangge_server::AppState::load(db.store.clone(), Default::default())
            .await
            .unwrap();
        assert_eq!(state.atlas().grid_count(), 0);
        assert!(!state.refresh_atlas().await.unwrap(), "nothing changed yet");
        import(&db.store, &collection(base_tree())).await.unwrap();
        assert!(state.refresh_atlas().await.unwrap());
        assert_eq!(state.atlas().grid_count(), 4);
        let (lon, lat) = (X0 + 0.5 * D, Y0 + 1.5 * D);
        assert_eq!(state.atlas().locate_code(lon, lat), Some("110105001001001"));
    }
}
