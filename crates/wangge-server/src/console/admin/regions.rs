//! Region import: a GeoJSON file or a Shapefile (its parts, or zipped) checked by the shared
//! importer, shown as a validation report (a dry run), and stored when it is clean.

use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_geo::crs::Crs;
use wangge_geo::io::RawFeature;

use super::{Problem, Shown, admin, checked, done_text, page, tr};
use crate::console::{ConsoleUser, Lang, OrPage, i18n};
use crate::error::ApiError;
use crate::region_import::{ImportOptions, ImportReport, import_regions, parse_features};
use crate::state::AppState;

/// Largest region file (or set of Shapefile parts) one upload may carry.
pub(super) const REGION_UPLOAD_LIMIT_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Deserialize, Default)]
pub(super) struct RegionsQuery {
    done: Option<String>,
    features: Option<usize>,
    inserted: Option<usize>,
    changed: Option<usize>,
    unchanged: Option<usize>,
    retired: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
struct ImportForm {
    #[serde(skip_serializing)]
    csrf: String,
    crs: String,
    tolerance_m2: String,
    dry_run: bool,
    #[serde(skip_serializing)]
    files: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Serialize)]
struct ProblemRow {
    index: Option<usize>,
    code: Option<String>,
    kind: String,
    kind_label: String,
    message: String,
    lon: Option<String>,
    lat: Option<String>,
}

pub(super) async fn regions_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<RegionsQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let n = |v: Option<usize>| v.unwrap_or(0).to_string();
    let done = done_text(
        who.lang,
        q.done.as_deref(),
        &[
            ("features", &n(q.features)),
            ("inserted", &n(q.inserted)),
            ("changed", &n(q.changed)),
            ("unchanged", &n(q.unchanged)),
            ("retired", &n(q.retired)),
        ],
    );
    let form = ImportForm {
        crs: "wgs84".into(),
        tolerance_m2: "1".into(),
        dry_run: true,
        ..ImportForm::default()
    };
    Ok(show_regions(&state, &who, &Shown::with(form, done), None))
}

fn show_regions(
    state: &AppState,
    who: &ConsoleUser,
    shown: &Shown<ImportForm>,
    report: Option<&ImportReport>,
) -> Response {
    let lang = who.lang;
    let catalogues = i18n::catalogues();
    let problems: Vec<ProblemRow> = report
        .map(|r| {
            r.problems
                .iter()
                .map(|p| {
                    let key = format!("admin.regions.kind.{}", p.kind);
                    ProblemRow {
                        index: p.index,
                        code: p.code.clone(),
                        kind_label: if catalogues.has(lang, &key) {
                            catalogues.text(lang, &key).to_owned()
                        } else {
                            p.kind.clone()
                        },
                        kind: p.kind.clone(),
                        message: p.message.clone(),
                        lon: p.location.map(|[x, _]| format!("{x:.6}")),
                        lat: p.location.map(|[_, y]| format!("{y:.6}")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = report.map(|r| {
        tr(
            lang,
            if r.ok() {
                "admin.regions.dry_run_ok"
            } else {
                "admin.regions.report_failed"
            },
            &[
                ("features", &r.features.to_string()),
                ("inserted", &r.inserted.to_string()),
                ("changed", &r.changed.to_string()),
                ("unchanged", &r.unchanged.to_string()),
                ("retired", &r.retired.to_string()),
                ("problems", &r.problems.len().to_string()),
            ],
        )
    });
    // A report with problems is an answer of its own: the upload was read but cannot be stored.
    let status = if problems.is_empty() {
        shown.status()
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let ctx = context! {
        region_count => state.atlas().region_count(),
        grid_count => state.atlas().grid_count(),
        report_ok => report.map(ImportReport::ok),
        summary => summary,
        problems => Value::from_serialize(&problems),
        limit_mb => REGION_UPLOAD_LIMIT_BYTES / (1024 * 1024),
    };
    page(
        state,
        who,
        status,
        "/console/admin/regions",
        "admin/regions.html",
        shown.context(ctx),
    )
}

async fn read_import_form(mut multipart: Multipart) -> Result<ImportForm, ApiError> {
    let mut form = ImportForm::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(crate::evidence_api::multipart_error)?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field
                .bytes()
                .await
                .map_err(crate::evidence_api::multipart_error)?;
            // An empty file input still sends a part with no bytes.
            if !bytes.is_empty() {
                form.files.push((file_name, bytes.to_vec()));
            }
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(crate::evidence_api::multipart_error)?;
        match name.as_str() {
            "_csrf" => form.csrf = text.trim().to_owned(),
            "crs" => form.crs = text.trim().to_owned(),
            "tolerance_m2" => form.tolerance_m2 = text.trim().to_owned(),
            "dry_run" => form.dry_run = checked(&Some(text)),
            _ => {}
        }
    }
    Ok(form)
}

/// The coordinate system and area tolerance of an import form.
fn import_options(lang: Lang, form: &ImportForm) -> Result<(Crs, f64), Problem> {
    let crs: Crs = form.crs.parse().map_err(|_| {
        Problem::new(
            lang,
            "crs",
            "admin.regions.problem.crs",
            &[("value", &form.crs)],
        )
    })?;
    match form.tolerance_m2.parse::<f64>() {
        Ok(t) if t.is_finite() && (0.0..=1_000_000.0).contains(&t) => Ok((crs, t)),
        _ => Err(Problem::new(
            lang,
            "tolerance_m2",
            "admin.regions.problem.tolerance",
            &[],
        )),
    }
}

/// Why a region upload could not be read as a whole.
#[derive(Debug)]
enum UploadError {
    /// A sentence key with arguments.
    Form(&'static str, Vec<(&'static str, String)>),
    /// The reader's own account of the file.
    Read(String),
}

impl UploadError {
    /// What to show with the form: the file could not be read.
    fn problem(self, lang: Lang) -> Problem {
        match self {
            UploadError::Form(key, args) => {
                let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                Problem::new(lang, "file", key, &args)
            }
            UploadError::Read(detail) => Problem::new(
                lang,
                "file",
                "admin.regions.problem.unreadable",
                &[("detail", &detail)],
            ),
        }
    }
}

/// The last part of an uploaded file's name, with nothing that could climb out of a folder.
fn base_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?.trim();
    (!base.is_empty() && base != "." && base != ".." && !base.contains('\0'))
        .then(|| base.to_owned())
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Most a zipped upload may unpack to: a city's grids are megabytes, so more is a zip bomb.
const UNZIPPED_LIMIT: u64 = 512 * 1024 * 1024;

/// The region-file parts inside a .zip (folders and other files, such as `__MACOSX/` copies, are
/// skipped), unpacked in memory up to [`UNZIPPED_LIMIT`].
fn unzip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, UploadError> {
    use std::io::Read;
    let unreadable =
        |e: &dyn std::fmt::Display| UploadError::Read(format!("the .zip file cannot be read: {e}"));
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let mut parts = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| unreadable(&e))?;
        let name = entry.name().map_err(|e| unreadable(&e))?.into_owned();
        let wanted = ["shp", "shx", "dbf", "prj", "cpg", "geojson", "json"]
            .contains(&extension(&name).as_str());
        if entry.is_dir() || name.contains("__MACOSX") || !wanted {
            continue;
        }
        let mut data = Vec::new();
        (&mut entry)
            .take(UNZIPPED_LIMIT - total + 1)
            .read_to_end(&mut data)
            .map_err(|e| unreadable(&e))?;
        total += data.len() as u64;
        if total > UNZIPPED_LIMIT {
            return Err(UploadError::Read(format!(
                "the .zip file unpacks to more than {} MiB",
                UNZIPPED_LIMIT / 1024 / 1024
            )));
        }
        parts.push((name, data));
    }
    Ok(parts)
}

/// Reads the uploaded files: one GeoJSON file, or the parts of a Shapefile (.shp with its
/// .shx, .dbf and optionally .prj/.cpg), written to a private temporary folder for the reader.
fn read_upload(files: Vec<(String, Vec<u8>)>) -> Result<Vec<RawFeature>, UploadError> {
    // Shapefiles travel zipped: unpack one .zip into its parts and read those.
    let files = match files.as_slice() {
        [(name, bytes)] if extension(name) == "zip" => unzip(bytes)?,
        _ => files,
    };
    if files.is_empty() {
        return Err(UploadError::Form("admin.regions.problem.no_file", vec![]));
    }
    let shp = files.iter().filter(|(n, _)| extension(n) == "shp").count();
    if shp == 0 {
        if files.len() > 1 {
            return Err(UploadError::Form(
                "admin.regions.problem.one_geojson",
                vec![],
            ));
        }
        let Some((_, bytes)) = files.into_iter().next() else {
            return Err(UploadError::Form("admin.regions.problem.no_file", vec![]));
        };
        return wangge_geo::io::read_geojson(&bytes).map_err(|e| UploadError::Read(e.to_string()));
    }
    if shp > 1 {
        return Err(UploadError::Form(
            "admin.regions.problem.one_shapefile",
            vec![],
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| UploadError::Read(e.to_string()))?;
    let mut shp_path = None;
    let mut stem = None;
    for (name, _) in &files {
        if extension(name) == "shp" {
            stem = base_name(name).and_then(|b| b.rsplit_once('.').map(|(s, _)| s.to_owned()));
        }
    }
    let stem = stem.ok_or(UploadError::Form("admin.regions.problem.no_file", vec![]))?;
    for (name, bytes) in &files {
        let ext = extension(name);
        if !["shp", "shx", "dbf", "prj", "cpg"].contains(&ext.as_str()) {
            return Err(UploadError::Form(
                "admin.regions.problem.part",
                vec![("name", base_name(name).unwrap_or_default())],
            ));
        }
        // Every part under the .shp's name, so the reader finds its siblings whatever the
        // browser sent.
        let path = dir.path().join(format!("{stem}.{ext}"));
        std::fs::write(&path, bytes).map_err(|e| UploadError::Read(e.to_string()))?;
        if ext == "shp" {
            shp_path = Some(path);
        }
    }
    let shp_path = shp_path.ok_or(UploadError::Form("admin.regions.problem.no_file", vec![]))?;
    let prefix = format!("{}{}", dir.path().display(), std::path::MAIN_SEPARATOR);
    wangge_geo::io::read_shapefile(&shp_path)
        // The temporary folder means nothing to the person uploading.
        .map_err(|e| UploadError::Read(e.to_string().replace(&prefix, "")))
}

pub(super) async fn import_regions_form(
    State(state): State<AppState>,
    who: ConsoleUser,
    multipart: Multipart,
) -> Result<Response, Response> {
    admin(&who)?;
    let mut form = read_import_form(multipart).await.or_page(&who)?;
    who.check_csrf(&form.csrf)?;
    let lang = who.lang;
    let (crs, tolerance_m2) = match import_options(lang, &form) {
        Ok(v) => v,
        Err(p) => return Ok(show_regions(&state, &who, &Shown::again(form, p), None)),
    };
    let files = std::mem::take(&mut form.files);
    let read = tokio::task::spawn_blocking(move || read_upload(files))
        .await
        .map_err(ApiError::internal)
        .or_page(&who)?;
    let raw = match read {
        Ok(raw) => raw,
        Err(e) => {
            let p = e.problem(lang);
            return Ok(show_regions(&state, &who, &Shown::again(form, p), None));
        }
    };
    let (features, problems) = parse_features(raw, crs);
    let options = ImportOptions {
        crs,
        tolerance_m2,
        dry_run: form.dry_run,
        ..ImportOptions::default()
    };
    let report = import_regions(&state.store, features, problems, &options)
        .await
        .map_err(ApiError::from)
        .or_page(&who)?;
    if !report.ok() || form.dry_run {
        let shown = Shown::with(form, None);
        return Ok(show_regions(&state, &who, &shown, Some(&report)));
    }
    state
        .reload_atlas()
        .await
        .map_err(ApiError::internal)
        .or_page(&who)?;
    tracing::info!(
        admin = %who.user.username,
        features = report.features,
        inserted = report.inserted,
        changed = report.changed,
        retired = report.retired,
        "regions imported"
    );
    Ok(Redirect::to(&format!(
        "/console/admin/regions?done=imported&features={}&inserted={}&changed={}&unchanged={}&retired={}",
        report.features, report.inserted, report.changed, report.unchanged, report.retired
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zipped(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(*name, options)
                .unwrap_or_else(|e| panic!("{e}"));
            zip.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        }
        zip.finish().unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    #[test]
    fn a_zipped_upload_is_read_as_its_parts() {
        let geojson = br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"990100","name":"x","level":"city"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;
        let zip = zipped(&[
            ("city/regions.geojson", geojson),
            ("__MACOSX/._regions.geojson", b"junk"),
            ("readme.txt", b"hi"),
        ]);
        let features = match read_upload(vec![("regions.zip".into(), zip)]) {
            Ok(f) => f,
            Err(_) => panic!("the zipped GeoJSON is read"),
        };
        assert_eq!(features.len(), 1);
        assert!(matches!(
            read_upload(vec![("broken.zip".into(), b"PK not really".to_vec())]),
            Err(UploadError::Read(m)) if m.contains(".zip")
        ));
    }
}
