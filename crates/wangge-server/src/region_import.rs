//! Importing a region layer: every feature checked (code, parent, geometry, containment, overlap,
//! gaps) before anything is stored; any problem and nothing changes.
//!
//! Re-cutting keeps history: a changed region gets a new version and the old one is closed
//! (valid_to), so a case keeps the grid it was reported in. A file that brings children of a
//! parent brings *all* of that parent's children: current children it does not name are retired
//! together with their descendants.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use geo::{ChamberlainDuquetteArea, InteriorPoint, MultiPolygon};
use serde::Serialize;
use serde_json::Value;
use wangge_domain::region::{AreaClass, Level, RegionCode};
use wangge_geo::crs::{self, Crs};
use wangge_geo::io::RawFeature;
use wangge_geo::validate::{self, LayerFeature};
use wangge_store::{RegionChange, RegionRow, Store, StoreError};

use crate::atlas::{geometry_json, parse_geometry};

/// A region as it arrives in an import, already in WGS-84.
#[derive(Debug, Clone)]
pub struct RegionFeature {
    pub index: usize,
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent_code: Option<String>,
    pub area_class: AreaClass,
    pub geometry: MultiPolygon<f64>,
}

/// One thing wrong with an import, located as precisely as we can.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImportProblem {
    /// 0-based index of the feature in the file.
    pub index: Option<usize>,
    pub code: Option<String>,
    /// snake_case kind: invalid_property, invalid_code, duplicate_code, unknown_parent,
    /// invalid_geometry, self_intersection, outside_parent, overlap, gap …
    pub kind: String,
    pub message: String,
    /// [lon, lat] of a point of the problem.
    pub location: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportReport {
    pub features: usize,
    pub inserted: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub retired: usize,
    pub problems: Vec<ImportProblem>,
}

impl ImportReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub crs: Crs,
    /// Overlaps, gaps and parts outside the parent up to this area (m²) are tolerated.
    pub tolerance_m2: f64,
    pub valid_from: DateTime<Utc>,
    /// Check everything, store nothing.
    pub dry_run: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            crs: Crs::Wgs84,
            tolerance_m2: 1.0,
            valid_from: Utc::now(),
            dry_run: false,
        }
    }
}

fn representative(mp: &MultiPolygon<f64>) -> Option<[f64; 2]> {
    mp.interior_point().map(|p| [p.x(), p.y()])
}

fn problem(
    f: Option<&RawFeature>,
    code: Option<String>,
    kind: &str,
    message: String,
) -> ImportProblem {
    ImportProblem {
        index: f.map(|f| f.index),
        code,
        kind: kind.into(),
        message,
        location: f
            .and_then(|f| f.geometry.as_ref().ok())
            .and_then(representative),
    }
}

fn text_property(props: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match props.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        // Codes often arrive as numbers from shapefiles and spreadsheets.
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Turns raw features into region features, converting coordinates to WGS-84; every feature
/// with a missing or bad property is reported.
pub fn parse_features(raw: Vec<RawFeature>, crs: Crs) -> (Vec<RegionFeature>, Vec<ImportProblem>) {
    let mut features = Vec::with_capacity(raw.len());
    let mut problems = Vec::new();
    for f in raw {
        let code = text_property(&f.properties, "code");
        let geometry = match &f.geometry {
            Ok(g) => Some(g),
            Err(e) => {
                problems.push(problem(
                    Some(&f),
                    code.clone(),
                    "invalid_geometry",
                    e.to_string(),
                ));
                None
            }
        };
        let Some(code) = code else {
            problems.push(problem(
                Some(&f),
                None,
                "invalid_property",
                "property 'code' is missing or empty".into(),
            ));
            continue;
        };
        let Some(name) = text_property(&f.properties, "name") else {
            problems.push(problem(
                Some(&f),
                Some(code),
                "invalid_property",
                "property 'name' is missing or empty".into(),
            ));
            continue;
        };
        let parent_code = text_property(&f.properties, "parent_code");
        let level = match text_property(&f.properties, "level") {
            Some(l) => match l.parse::<Level>() {
                Ok(l) => l,
                Err(e) => {
                    problems.push(problem(
                        Some(&f),
                        Some(code),
                        "invalid_property",
                        format!("property 'level': {e}"),
                    ));
                    continue;
                }
            },
            None => match (code.len(), parent_code.is_some()) {
                (6, false) => Level::City,
                (6, true) => Level::District,
                (9, _) => Level::Street,
                (12, _) => Level::Community,
                (15, _) => Level::Grid,
                _ => {
                    problems.push(problem(
                        Some(&f),
                        Some(code),
                        "invalid_property",
                        "property 'level' is missing and cannot be told from the code's length"
                            .into(),
                    ));
                    continue;
                }
            },
        };
        let area_class = match text_property(&f.properties, "area_class")
            .unwrap_or_default()
            .parse::<AreaClass>()
        {
            Ok(a) => a,
            Err(e) => {
                problems.push(problem(
                    Some(&f),
                    Some(code),
                    "invalid_property",
                    format!("property 'area_class': {e}"),
                ));
                continue;
            }
        };
        if let Err(e) = RegionCode::parse_with_parent(&code, level, parent_code.as_deref()) {
            problems.push(problem(
                Some(&f),
                Some(code.clone()),
                "invalid_code",
                e.to_string(),
            ));
            continue;
        }
        let Some(geometry) = geometry else { continue };
        features.push(RegionFeature {
            index: f.index,
            geometry: crs::convert_multipolygon(crs, geometry),
            code,
            name,
            level,
            parent_code,
            area_class,
        });
    }
    (features, problems)
}

/// Checks `features` against each other and the current tree in `store`, and stores them when
/// nothing is wrong (and `dry_run` is off). All or nothing.
pub async fn import_regions<S: Store>(
    store: &S,
    features: Vec<RegionFeature>,
    mut problems: Vec<ImportProblem>,
    options: &ImportOptions,
) -> Result<ImportReport, StoreError> {
    let current: HashMap<String, RegionRow> = store
        .current_regions(None, None)
        .await?
        .into_iter()
        .map(|r| (r.code.clone(), r))
        .collect();
    let mut report = ImportReport {
        features: features.len() + problems.iter().filter(|p| p.index.is_some()).count(),
        ..ImportReport::default()
    };
    let loc = |f: &RegionFeature| representative(&f.geometry);

    // Codes unique in the file; parents known and of the right level.
    let mut by_code: HashMap<&str, &RegionFeature> = HashMap::new();
    for f in &features {
        if let Some(first) = by_code.insert(&f.code, f) {
            problems.push(ImportProblem {
                index: Some(f.index),
                code: Some(f.code.clone()),
                kind: "duplicate_code".into(),
                message: format!(
                    "code {} appears again (first at feature {})",
                    f.code, first.index
                ),
                location: loc(f),
            });
        }
    }
    for f in &features {
        let Some(parent) = &f.parent_code else {
            continue;
        };
        let parent_level = by_code
            .get(parent.as_str())
            .map(|p| Some(p.level))
            .or_else(|| current.get(parent).map(|r| r.level.parse::<Level>().ok()));
        match parent_level {
            None => problems.push(ImportProblem {
                index: Some(f.index),
                code: Some(f.code.clone()),
                kind: "unknown_parent".into(),
                message: format!("parent {parent} is neither in the file nor a current region"),
                location: loc(f),
            }),
            Some(l) if l != f.level.parent() => problems.push(ImportProblem {
                index: Some(f.index),
                code: Some(f.code.clone()),
                kind: "invalid_code".into(),
                message: format!(
                    "parent {parent} is not a {}",
                    f.level.parent().map(Level::as_str).unwrap_or("-")
                ),
                location: loc(f),
            }),
            Some(_) => {}
        }
    }

    // Each geometry on its own.
    let mut geometry_ok: HashSet<&str> = HashSet::new();
    for f in &features {
        let found = validate::validate_geometry(Some(f.index), Some(&f.code), &f.geometry);
        if found.is_empty() {
            geometry_ok.insert(&f.code);
        }
        problems.extend(found.into_iter().map(convert_problem));
    }

    // The tree after the import: current regions, minus retired subtrees, overlaid with the file.
    let mut children_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in current.values() {
        if let Some(p) = &r.parent_code {
            children_of.entry(p.as_str()).or_default().push(&r.code);
        }
    }
    let parents_in_file: HashSet<&str> = features
        .iter()
        .filter_map(|f| f.parent_code.as_deref())
        .collect();
    let mut retired: HashSet<&str> = HashSet::new();
    for parent in &parents_in_file {
        for child in children_of.get(parent).into_iter().flatten() {
            if !by_code.contains_key(child) {
                let mut stack = vec![*child];
                while let Some(c) = stack.pop() {
                    if retired.insert(c) {
                        stack.extend(children_of.get(c).into_iter().flatten().copied());
                    }
                }
            }
        }
    }
    let mut merged_children: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in current.values() {
        if retired.contains(r.code.as_str()) || by_code.contains_key(r.code.as_str()) {
            continue;
        }
        if let Some(p) = &r.parent_code {
            merged_children.entry(p.as_str()).or_default().push(&r.code);
        }
    }
    for f in &features {
        if let Some(p) = &f.parent_code {
            merged_children.entry(p.as_str()).or_default().push(&f.code);
        }
    }

    // Only the families the file touches need checking.
    let mut affected: HashSet<&str> = parents_in_file.clone();
    for f in &features {
        if merged_children.contains_key(f.code.as_str()) {
            affected.insert(&f.code);
        }
    }
    let mut subset: HashSet<&str> = affected.clone();
    for a in &affected {
        subset.extend(merged_children.get(a).into_iter().flatten().copied());
    }
    let all_geometry_ok = by_code.keys().all(|c| geometry_ok.contains(c));
    if all_geometry_ok && problems.is_empty() {
        let mut owned: Vec<(usize, String, Option<String>, MultiPolygon<f64>)> = Vec::new();
        for code in &subset {
            if let Some(f) = by_code.get(code) {
                owned.push((
                    f.index,
                    f.code.clone(),
                    f.parent_code.clone(),
                    f.geometry.clone(),
                ));
            } else if let Some(r) = current.get(*code) {
                let g = parse_geometry(&r.geometry)
                    .map_err(|m| StoreError::Corrupt(format!("region {}: {m}", r.code)))?;
                owned.push((usize::MAX, r.code.clone(), r.parent_code.clone(), g));
            }
        }
        owned.sort_by(|a, b| a.1.cmp(&b.1));
        let layer: Vec<LayerFeature> = owned
            .iter()
            .map(|(index, code, parent, g)| LayerFeature {
                index: *index,
                code,
                parent_code: parent.as_deref().filter(|p| subset.contains(p)),
                geometry: g,
            })
            .collect();
        let tolerance = options.tolerance_m2;
        let found = validate::validate_tree(&layer, tolerance);
        problems.extend(found.into_iter().map(|mut p| {
            if p.index == Some(usize::MAX) {
                p.index = None;
            }
            convert_problem(p)
        }));
    }

    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.index.unwrap_or(usize::MAX), p.code.clone()));
        report.problems = problems;
        return Ok(report);
    }

    let mut change = RegionChange {
        at: options.valid_from,
        retire: retired.iter().map(|c| (*c).to_owned()).collect(),
        insert: Vec::new(),
    };
    report.retired = retired.len();
    for f in &features {
        let geometry = geometry_json(&f.geometry);
        if let Some(old) = current.get(&f.code) {
            let same = old.name == f.name
                && old.level == f.level.as_str()
                && old.parent_code == f.parent_code
                && old.area_class == f.area_class.as_str()
                && old.geometry == geometry;
            if same {
                report.unchanged += 1;
                continue;
            }
            report.changed += 1;
            change.retire.push(f.code.clone());
        } else {
            report.inserted += 1;
        }
        change.insert.push(RegionRow {
            id: wangge_domain::new_id(),
            code: f.code.clone(),
            name: f.name.clone(),
            level: f.level.as_str().into(),
            parent_code: f.parent_code.clone(),
            area_class: f.area_class.as_str().into(),
            area_m2: f.geometry.chamberlain_duquette_unsigned_area(),
            geometry,
            source_crs: options.crs.to_string(),
            valid_from: options.valid_from,
            valid_to: None,
        });
    }
    if !options.dry_run {
        store.apply_region_change(&change).await?;
    }
    Ok(report)
}

fn convert_problem(p: validate::Problem) -> ImportProblem {
    ImportProblem {
        index: p.index,
        code: p.code,
        kind: p.kind.as_str().into(),
        message: p.message,
        location: p.location.map(|(x, y)| [x, y]),
    }
}
