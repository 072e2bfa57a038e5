//! The built binary, as an operator runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn wangge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wangge"))
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["generate", "city", "--help"],
        vec!["import", "regions", "--help"],
        vec!["locate", "--help"],
        vec!["migrate", "--help"],
    ] {
        let out = wangge().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn generate_is_deterministic_and_locate_streams_with_row_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let st = wangge()
            .args(["generate", "city", "--grids", "300", "--seed", "5", "--out"])
            .arg(out)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let fa = std::fs::read(a.join("regions.geojson")).unwrap();
    assert_eq!(fa, std::fs::read(b.join("regions.geojson")).unwrap());
    let fc: serde_json::Value = serde_json::from_slice(&fa).unwrap();
    let features = fc["features"].as_array().unwrap();
    let levels: std::collections::BTreeSet<&str> = features
        .iter()
        .map(|f| f["properties"]["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels.len(), 5);
    for key in ["code", "name", "level", "parent_code", "area_class"] {
        assert!(features[1]["properties"].get(key).is_some(), "{key}");
    }

    // Points: a good one, one outside, garbage, out of range, a short row, then a good one again.
    let grid = features
        .iter()
        .find(|f| f["properties"]["level"] == "grid")
        .unwrap();
    let coords = &grid["geometry"]["coordinates"];
    let ring = match grid["geometry"]["type"].as_str().unwrap() {
        "MultiPolygon" => coords[0][0].as_array().unwrap(),
        _ => coords[0].as_array().unwrap(),
    };
    let n = (ring.len() - 1) as f64;
    let (sx, sy) = ring[..ring.len() - 1].iter().fold((0.0, 0.0), |(x, y), p| {
        (x + p[0].as_f64().unwrap(), y + p[1].as_f64().unwrap())
    });
    let (lon, lat) = (sx / n, sy / n);
    let input = dir.path().join("points.csv");
    std::fs::write(
        &input,
        format!("id,lon,lat\np1,{lon},{lat}\np2,0.5,0.5\np3,abc,30\np4,200,30\np5,1\n\"p,6\",{lon},{lat}\n"),
    )
    .unwrap();
    let output = dir.path().join("out.csv");
    let st = wangge()
        .args(["locate", "--regions"])
        .arg(a.join("regions.geojson"))
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .status()
        .unwrap();
    assert!(st.success());
    let mut rdr = csv::Reader::from_path(&output).unwrap();
    assert_eq!(
        rdr.headers().unwrap(),
        vec!["id", "lon", "lat", "grid_code", "error"]
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids,
        ["p1", "p2", "p3", "p4", "p5", "p,6"],
        "input order kept"
    );
    let code = grid["properties"]["code"].as_str().unwrap();
    assert_eq!((&rows[0][3], &rows[0][4]), (code, ""));
    assert_eq!(&rows[1][4], "outside_jurisdiction");
    assert!(rows[2][4].contains("not a number"), "{:?}", rows[2]);
    assert!(rows[3][4].contains("lon"), "{:?}", rows[3]);
    assert!(rows[4][4].contains("lat is missing"), "{:?}", rows[4]);
    assert_eq!(&rows[5][3], code);
}

#[test]
fn a_bad_import_exits_non_zero_and_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.geojson");
    std::fs::write(&file, "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"properties\":{\"code\":\"11010\",\"name\":\"x\",\"level\":\"district\",\"parent_code\":\"110000\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[116,39],[117,39],[117,40],[116,39]]]}}]}").unwrap();
    let db = dir.path().join("w.db");
    let out = wangge()
        .args(["import", "regions"])
        .arg(&file)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("feature 0") && err.contains("11010") && err.contains("nothing was stored"),
        "{err}"
    );

    std::fs::write(&file, "").unwrap();
    let out = wangge()
        .args(["import", "regions"])
        .arg(&file)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn bad_evaluation_settings_stop_the_start_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evaluation.json");
    std::fs::write(&file, r#"{"units": {"no_rework": -5}}"#).unwrap();
    let out = wangge()
        .args(["serve", "--addr", "127.0.0.1:0", "--evaluation"])
        .arg(&file)
        .arg("--db")
        .arg(dir.path().join("w.db"))
        .arg("--files")
        .arg(dir.path().join("files"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("units.no_rework") && err.contains("evaluation.json"),
        "{err}"
    );
}
