//! The base data from the command line: importing a department's file with a progress bar, and
//! the demo city's houses, people, organisations and components.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wangge_domain::case_loop::Actor;
use wangge_domain::registry::RecordKind;
use wangge_domain::role::Role;
use wangge_server::AppState;
use wangge_server::registry::Reader;
use wangge_server::registry_import::{ImportReport, ImportRequest, OnProgress, import};

/// The reader an import from the command line acts as: the administrator at the console of
/// the machine, with the whole city in view.
pub fn cli_reader() -> Reader {
    Reader {
        user_id: None,
        username: "cli".into(),
        actor: Actor {
            id: "cli".into(),
            role: Role::Admin,
            region: None,
            unit: None,
        },
        client: Some("command line".into()),
    }
}

pub fn parse_kind(text: &str) -> Result<RecordKind> {
    RecordKind::from_plural(text).with_context(|| {
        format!("'{text}' is not imported: houses, people, organisations or components")
    })
}

/// Imports a file, drawing a progress bar on the terminal.
pub async fn import_file(
    state: &AppState,
    kind: RecordKind,
    path: &Path,
    req: &ImportRequest,
    show_progress: bool,
) -> Result<ImportReport> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bar = if show_progress {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(if req.dry_run { "checking" } else { "importing" });
    let progress: OnProgress = {
        let bar = bar.clone();
        Arc::new(move |p| {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        })
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let report = import(state, &cli_reader(), kind, bytes, name, req, progress)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    bar.finish_and_clear();
    Ok(report)
}

/// Splits a CSV file's rows by the district their key column starts with (generated codes
/// begin with the grid's code), so each district is imported as its own, all-or-nothing file.
pub fn split_by_district(text: &str, column: &str) -> Result<HashMap<String, Vec<u8>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers()?.clone();
    let at = header
        .iter()
        .position(|h| h == column)
        .with_context(|| format!("no column {column}"))?;
    let mut out: HashMap<String, csv::Writer<Vec<u8>>> = HashMap::new();
    for record in reader.records() {
        let record = record?;
        let Some(district) = record.get(at).and_then(|k| k.get(..6)) else {
            continue;
        };
        let w = match out.entry(district.to_owned()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(&header)?;
                e.insert(w)
            }
        };
        w.write_record(&record)?;
    }
    out.into_iter()
        .map(|(d, w)| Ok((d, w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)))
        .collect()
}

/// How much base data the demo city gets for its grids.
fn demo_counts(grids: usize) -> crate::generate_registry::RegistryCounts {
    crate::generate_registry::RegistryCounts {
        houses: grids * crate::generate_registry::DEMO_HOUSES_PER_GRID,
        people: grids * 8,
        organisations: grids / 4,
        components: grids * 2,
    }
}

/// Fills the demo city with generated base data, district by district.
pub async fn seed_demo(state: &AppState, grids: usize, seed: u64) -> Result<()> {
    let city = crate::generate::generate_city(grids, seed);
    let dir = std::env::temp_dir().join(format!("wangge-demo-base-{}", std::process::id()));
    let files = crate::generate_registry::write_registry(&city, &demo_counts(grids), seed, &dir)?;
    let result = import_demo_files(state, &files).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn import_demo_files(
    state: &AppState,
    files: &crate::generate_registry::RegistryFiles,
) -> Result<()> {
    for (kind, path, column) in [
        (RecordKind::House, &files.houses, "house_code"),
        (RecordKind::Component, &files.components, "component_code"),
        (RecordKind::Organisation, &files.organisations, "grid_code"),
        (RecordKind::Person, &files.people, "house_code"),
    ] {
        let text = std::fs::read_to_string(path)?;
        let mut parts: Vec<_> = split_by_district(&text, column)?.into_iter().collect();
        parts.sort();
        for (district, csv) in parts {
            let req = ImportRequest {
                dry_run: false,
                district: Some(district.clone()),
                ..Default::default()
            };
            let report = import(
                state,
                &cli_reader(),
                kind,
                csv,
                Some("demo.csv".into()),
                &req,
                Arc::new(|_| {}),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            if !report.stored {
                bail!(
                    "the demo's {} of district {district} did not import: {:?}",
                    kind.as_str(),
                    report.errors.first()
                );
            }
        }
    }
    Ok(())
}
