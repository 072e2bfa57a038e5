//! Issue 7 from the command line: `generate city` writes the city's houses, `generate declared`
//! makes noisy records with known truth from them, `match` gives them house codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

fn wangge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wangge"))
}

fn run(args: &[&str]) -> std::process::Output {
    let out = wangge()
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Header and rows of a CSV written with a BOM.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM");
    let mut r = csv::ReaderBuilder::new().from_reader(body);
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// A city of 150 grids with its houses; answers the directory.
fn city(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("city");
    run(&[
        "generate",
        "city",
        "--grids",
        "150",
        "--seed",
        "9",
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

#[test]
fn every_new_subcommand_has_help() {
    for args in [
        vec!["generate", "declared", "--help"],
        vec!["match", "--help"],
        vec!["bench", "match", "--help"],
    ] {
        let out = wangge().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn generate_city_writes_the_houses_with_their_address_parts() {
    let dir = tempfile::tempdir().unwrap();
    let out = city(dir.path());
    let (header, rows) = read_csv(&out.join("houses.csv"));
    for name in [
        "house_code",
        "province",
        "city",
        "district",
        "street",
        "community",
        "road",
        "number",
        "building",
        "unit",
        "room",
        "grid_code",
        "lon",
        "lat",
    ] {
        column(&header, name);
    }
    // Four rooms a grid by default (the demo's), buildings whole: up to 15 more.
    assert!((600..=615).contains(&rows.len()), "{}", rows.len());
    let (code, grid, road) = (
        column(&header, "house_code"),
        column(&header, "grid_code"),
        column(&header, "road"),
    );
    let regions: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("regions.geojson")).unwrap()).unwrap();
    let grids: HashSet<&str> = regions["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["level"] == "grid")
        .map(|f| f["properties"]["code"].as_str().unwrap())
        .collect();
    let mut codes = HashSet::new();
    for r in &rows {
        assert!(codes.insert(r[code].clone()), "{} twice", r[code]);
        assert!(grids.contains(r[grid].as_str()), "{}", r[grid]);
        assert!(r[code].starts_with(&r[grid]));
        assert!(!r[road].is_empty());
    }

    // --houses sets the count; 0 writes none.
    let few = dir.path().join("few");
    run(&[
        "generate",
        "city",
        "--grids",
        "150",
        "--seed",
        "9",
        "--houses",
        "40",
        "--out",
        few.to_str().unwrap(),
    ]);
    let (_, rows) = read_csv(&few.join("houses.csv"));
    assert!((40..=55).contains(&rows.len()));
    let none = dir.path().join("none");
    run(&[
        "generate",
        "city",
        "--grids",
        "150",
        "--houses",
        "0",
        "--out",
        none.to_str().unwrap(),
    ]);
    assert!(!none.join("houses.csv").exists());
}

#[test]
fn declared_records_are_deterministic_and_name_real_houses() {
    let dir = tempfile::tempdir().unwrap();
    let out = city(dir.path());
    let houses = out.join("houses.csv");
    let declare = |seed: &str, name: &str| {
        let path = dir.path().join(name);
        run(&[
            "generate",
            "declared",
            "--houses",
            houses.to_str().unwrap(),
            "--count",
            "40000",
            "--seed",
            seed,
            "--out",
            path.to_str().unwrap(),
        ]);
        path
    };
    let (a, b, c) = (
        declare("1", "a.csv"),
        declare("1", "b.csv"),
        declare("2", "c.csv"),
    );
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap());
    assert_ne!(bytes, std::fs::read(&c).unwrap());

    let (hh, hrows) = read_csv(&houses);
    let house_codes: HashSet<String> = hrows
        .iter()
        .map(|r| r[column(&hh, "house_code")].clone())
        .collect();
    let (header, rows) = read_csv(&a);
    assert_eq!(
        header,
        [
            "record_id",
            "name",
            "identity_number",
            "phone",
            "address",
            "true_house_code",
            "true_duplicate_of",
            "noise"
        ]
    );
    assert_eq!(rows.len(), 40_000);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let mut absent = 0;
    let mut kinds: HashMap<String, usize> = HashMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    let by_id: HashMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    let mut duplicates = 0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i + 1).to_string());
        assert!(!r[1].is_empty() && !r[4].is_empty());
        if r[5].is_empty() {
            absent += 1;
        } else {
            assert!(house_codes.contains(&r[5]), "{}", r[5]);
        }
        for k in r[7].split('+') {
            *kinds.entry(k.to_owned()).or_default() += 1;
        }
        if !r[6].is_empty() {
            // The same person, declared before, at the same house.
            duplicates += 1;
            let first = by_id[r[6].as_str()];
            assert!(first[0].parse::<u64>().unwrap() < r[0].parse::<u64>().unwrap());
            assert_eq!((&first[1], &first[3], &first[5]), (&r[1], &r[3], &r[5]));
            assert!(r[2].is_empty() || r[2] == first[2]);
            continue;
        }
        wangge_domain::identity::IdentityNumber::parse(&r[2], today)
            .unwrap_or_else(|e| panic!("{}: {e}", r[2]));
        // Different people never share an identity number.
        assert!(ids.insert(r[2].clone(), r[0].clone()).is_none(), "{}", r[2]);
    }
    let share = |n: usize| n as f64 / rows.len() as f64;
    assert!((0.02..0.04).contains(&share(absent)), "{absent}");
    assert!((0.02..0.04).contains(&share(duplicates)), "{duplicates}");
    for k in [
        "clean", "typo", "numerals", "variant", "missing", "order", "extra",
    ] {
        assert!(share(kinds[k]) > 0.05, "{k}: {kinds:?}");
    }
    assert!(kinds.len() == 7, "{kinds:?}");
}

#[test]
fn match_keeps_the_rows_and_their_order_and_adds_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = city(dir.path());
    let houses = out.join("houses.csv");
    let declared = dir.path().join("declared.csv");
    run(&[
        "generate",
        "declared",
        "--houses",
        houses.to_str().unwrap(),
        "--count",
        "3000",
        "--seed",
        "4",
        "--out",
        declared.to_str().unwrap(),
    ]);
    let matched = dir.path().join("matched.csv");
    let done = run(&[
        "match",
        "--input",
        declared.to_str().unwrap(),
        "--address-column",
        "address",
        "--houses",
        houses.to_str().unwrap(),
        "--output",
        matched.to_str().unwrap(),
        "--dedup",
    ]);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("3000 records"), "{stderr}");
    assert!(stderr.contains("records/s"), "{stderr}");

    let (in_header, in_rows) = read_csv(&declared);
    let (header, rows) = read_csv(&matched);
    let mut expected = in_header.clone();
    expected.extend(
        [
            "house_code",
            "confidence",
            "reason",
            "grid_code",
            "candidates",
            "duplicate_of",
            "duplicate_rule",
        ]
        .map(String::from),
    );
    assert_eq!(header, expected);
    assert_eq!(rows.len(), in_rows.len());
    let n = in_header.len();
    let (code, conf, reason, grid, dup) = (
        column(&header, "house_code"),
        column(&header, "confidence"),
        column(&header, "reason"),
        column(&header, "grid_code"),
        column(&header, "duplicate_of"),
    );
    let truth = column(&header, "true_house_code");
    let true_dup = column(&header, "true_duplicate_of");
    let (mut matched_n, mut right, mut dups_right) = (0, 0, 0);
    for (r, i) in rows.iter().zip(&in_rows) {
        assert_eq!(&r[..n], &i[..], "the input's fields, in order");
        let c: f64 = r[conf].parse().unwrap();
        assert!((0.0..=1.0).contains(&c));
        assert!(!r[reason].is_empty());
        if !r[code].is_empty() {
            matched_n += 1;
            right += usize::from(r[code] == r[truth]);
            assert!(r[code].starts_with(&r[grid]));
            assert!(c >= wangge_address::DEFAULT_THRESHOLD);
        }
        if !r[dup].is_empty() && r[dup] == r[true_dup] {
            dups_right += 1;
        }
    }
    // The matcher's accuracy is measured by `bench match`; here only that it works at all.
    assert!(matched_n > rows.len() / 2, "{matched_n}");
    assert!(right * 10 > matched_n * 9, "{right} of {matched_n}");
    assert!(dups_right > 0);

    // A GB18030 file, without the BOM, reads the same.
    let text = std::fs::read_to_string(&declared).unwrap();
    let gbk = encoding_rs::GB18030
        .encode(text.trim_start_matches('\u{feff}'))
        .0
        .into_owned();
    let gbk_in = dir.path().join("gbk.csv");
    std::fs::write(&gbk_in, gbk).unwrap();
    let gbk_out = dir.path().join("gbk-matched.csv");
    run(&[
        "match",
        "--input",
        gbk_in.to_str().unwrap(),
        "--houses",
        houses.to_str().unwrap(),
        "--output",
        gbk_out.to_str().unwrap(),
        "--dedup",
    ]);
    assert_eq!(
        std::fs::read(&gbk_out).unwrap(),
        std::fs::read(&matched).unwrap()
    );
}

#[test]
fn match_names_a_missing_column() {
    let dir = tempfile::tempdir().unwrap();
    let out = city(dir.path());
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "id,addr\n1,示范市和平路12号\n").unwrap();
    let output = dir.path().join("out.csv");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "match".to_owned(),
            "--input".into(),
            input.to_str().unwrap().into(),
            "--houses".into(),
            out.join("houses.csv").to_str().unwrap().into(),
            "--output".into(),
            output.to_str().unwrap().into(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    for (extra, wanted) in [
        (
            vec!["--address-column", "地址"],
            "no column '地址' (--address-column)",
        ),
        (vec![], "--address-column"),
        (
            vec!["--address-column", "addr", "--dedup"],
            "--dedup needs an identity number column",
        ),
        (
            vec!["--address-column", "addr", "--dedup", "--id-column", "sfz"],
            "no column 'sfz' (--id-column)",
        ),
    ] {
        let o = wangge()
            .args(args(&extra))
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        assert!(!o.status.success(), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(wanted), "{extra:?}: {err}");
        assert!(err.contains("id, addr"), "lists the columns: {err}");
    }
    // A houses file without its codes.
    let bad = dir.path().join("bad-houses.csv");
    std::fs::write(&bad, "code,road\n1,和平路\n").unwrap();
    let o = wangge()
        .args([
            "match",
            "--input",
            input.to_str().unwrap(),
            "--address-column",
            "addr",
            "--houses",
            bad.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no 'house_code' column"));
}

/// The demo database holds the houses `generate city` writes for the same grids and seed:
/// matching against `--db` answers exactly as against `--houses`.
#[test]
fn the_demo_database_holds_the_generated_city_houses() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let db_text = db.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = wangge_store::AnyStore::open(&db_text).await.unwrap();
        assert!(wangge::demo::seed(&store, 60, 42, 0).await.unwrap());
        let key = wangge_store::vault::Vault::new_key_text();
        let config = wangge_server::Config {
            vault: Some(std::sync::Arc::new(
                wangge_store::vault::Vault::from_key_text(&key).unwrap(),
            )),
            evidence_dir: Some(dir.path().join("files")),
            ..Default::default()
        };
        let state = wangge_server::AppState::load(store, config).await.unwrap();
        wangge::base_data::seed_demo(&state, 60, 42).await.unwrap();
    });
    drop(rt);
    let out = dir.path().join("city");
    run(&[
        "generate",
        "city",
        "--grids",
        "60",
        "--out",
        out.to_str().unwrap(),
    ]);
    let houses = out.join("houses.csv");
    let declared = dir.path().join("declared.csv");
    run(&[
        "generate",
        "declared",
        "--houses",
        houses.to_str().unwrap(),
        "--count",
        "500",
        "--out",
        declared.to_str().unwrap(),
    ]);
    let (from_db, from_csv) = (dir.path().join("db.csv"), dir.path().join("csv.csv"));
    let answer = run(&[
        "match",
        "--input",
        declared.to_str().unwrap(),
        "--db",
        &db_text,
        "--output",
        from_db.to_str().unwrap(),
    ]);
    let (_, rows) = read_csv(&houses);
    let said = String::from_utf8_lossy(&answer.stderr);
    assert!(
        said.contains(&format!("address base: {} houses", rows.len())),
        "{said}"
    );
    run(&[
        "match",
        "--input",
        declared.to_str().unwrap(),
        "--houses",
        houses.to_str().unwrap(),
        "--output",
        from_csv.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&from_db).unwrap(),
        std::fs::read(&from_csv).unwrap()
    );
}
