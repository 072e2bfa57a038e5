//! Importing base data from the tables departments send (Excel .xlsx or CSV): a column
//! mapping, a check of every row that reports each problem with its row, column and what was
//! expected, and an import that is all or nothing — upserting by the natural key (house code,
//! identity number, credit code, component code).
//!
//! One pass: rows are checked in order and, unless it is a dry run, streamed into one database
//! transaction as they pass; the first bad row turns the transaction into a rollback, but the
//! check goes on so the report lists every bad row.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Utc;
use serde::Serialize;
use wangge_domain::registry::{
    ChangeOp, Component, ComponentCode, FieldErrors, Fields, House, HouseCode, Organisation,
    Person, RecordKind, Residence,
};
use wangge_store::registry::{Registry, RegistryWrite};

use crate::error::{ApiError, ApiResult};
use crate::registry::{self as reg, Ctx, Place, Reader};
use crate::state::AppState;
use crate::tabular::{Format, Mapping, read_table};

/// Rows per write set sent to the store.
const CHUNK: usize = 2_000;
/// Bad rows listed in a report; the count goes on beyond.
const MAX_LISTED: usize = 1_000;

#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub dry_run: bool,
    pub sheet: Option<String>,
    /// (field, header) chosen by the user; the rest is matched by name and known aliases.
    pub mapping: Vec<(String, String)>,
    /// The district imported into, for readers whose jurisdiction is wider.
    pub district: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// The spreadsheet row number (the header is row 1 when the table starts at the top).
    pub row: usize,
    pub column: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub kind: &'static str,
    pub dry_run: bool,
    /// Whether the rows are now stored (never when a row was bad).
    pub stored: bool,
    pub rows: usize,
    pub valid: usize,
    pub bad_rows: usize,
    pub created: usize,
    pub updated: usize,
    /// The first bad rows (up to 1,000), each problem on its own line.
    pub errors: Vec<RowError>,
    /// (field, header) as used.
    pub mapped: Vec<(String, String)>,
    pub unmapped_headers: Vec<String>,
}

/// How far an import is, for a progress bar.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

pub type OnProgress = Arc<dyn Fn(Progress) + Send + Sync>;

pub fn kind_fields(kind: RecordKind) -> Vec<&'static str> {
    match kind {
        RecordKind::House => House::FIELDS.to_vec(),
        RecordKind::Person => Person::FIELDS
            .iter()
            .chain(Residence::FIELDS.iter())
            .copied()
            .collect(),
        RecordKind::Organisation => Organisation::FIELDS.to_vec(),
        RecordKind::Component => Component::FIELDS.to_vec(),
    }
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// Imports `bytes` (a CSV or .xlsx file) as records of `kind`.
pub async fn import(
    state: &AppState,
    reader: &Reader,
    kind: RecordKind,
    bytes: Vec<u8>,
    file_name: Option<String>,
    req: &ImportRequest,
    progress: OnProgress,
) -> ApiResult<ImportReport> {
    if !wangge_domain::registry::Change::may_review(reader.actor.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "imports write the base data directly: they are for street, district and admin users; grid workers register through proposals",
        ));
    }
    if kind.personal() {
        reg::vault(state)?;
    }
    let place = import_place(state, reader, req)?;
    let sheet = req.sheet.clone();
    let table = tokio::task::spawn_blocking(move || {
        let format = Format::sniff(&bytes, file_name.as_deref()).ok_or_else(|| {
            unprocessable(
                "unreadable_file",
                "the file is neither an .xlsx workbook nor CSV text: save it as .xlsx or \"CSV UTF-8\"",
            )
        })?;
        read_table(&bytes, format, sheet.as_deref())
            .map_err(|e| unprocessable("unreadable_file", e.to_string()))
    })
    .await
    .map_err(ApiError::internal)??;
    let fields = kind_fields(kind);
    let mapping = Mapping::new(&table.headers, &fields, &req.mapping).map_err(|errors| {
        unprocessable("bad_mapping", errors.join("; "))
            .with_details(serde_json::json!({ "errors": errors }))
    })?;
    let key_field = reg::key_field(kind);
    if !mapping.mapped().iter().any(|(f, _)| f == key_field) {
        return Err(unprocessable(
            "bad_mapping",
            format!("no column is mapped to {key_field}, the key every row is matched by"),
        ));
    }
    let column_of: HashMap<String, String> = mapping.mapped().into_iter().collect();
    let district = place.district.clone().unwrap_or_default();

    let mut report = ImportReport {
        kind: kind.as_str(),
        dry_run: req.dry_run,
        stored: false,
        rows: table.rows.len(),
        valid: 0,
        bad_rows: 0,
        created: 0,
        updated: 0,
        errors: Vec::new(),
        mapped: mapping.mapped(),
        unmapped_headers: mapping.unmapped_headers(),
    };
    // Each row with the key it is matched by, worked out once (for people an HMAC).
    let mut rows: Vec<(usize, Fields, Vec<RowError>, Option<String>)> =
        Vec::with_capacity(table.rows.len());
    for r in &table.rows {
        let errors = r
            .errors
            .iter()
            .map(|e| RowError {
                row: e.row,
                column: Some(e.column.clone()),
                field: None,
                message: e.message.clone(),
            })
            .collect();
        let fields = mapping.fields(r);
        let natural = natural_key(state, kind, &fields)?;
        rows.push((r.number, fields, errors, natural));
    }
    drop(table);

    // What is stored already, looked up in a few large queries rather than one per row.
    let mut houses: HashMap<String, String> = state
        .store
        .house_grids(&district)
        .await?
        .into_iter()
        .collect();
    let existing = existing_versions(state, kind, &district, &rows).await?;

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let writer = if req.dry_run {
        None
    } else {
        let store = state.store.clone();
        Some(tokio::spawn(async move {
            store.registry_write_stream(rx).await
        }))
    };
    let mut failed = false;
    let mut chunk = RegistryWrite::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut buildings: HashMap<String, (String, usize)> = HashMap::new();
    let now = Utc::now();
    let total = rows.len();
    for (i, (number, fields, mut errors, natural)) in rows.into_iter().enumerate() {
        if let Some(k) = &natural
            && let Some(first) = seen.insert(k.clone(), number)
        {
            errors.push(RowError {
                row: number,
                column: column_of.get(key_field).cloned(),
                field: Some(key_field.to_owned()),
                message: format!("repeats the {key_field} of row {first}"),
            });
        }
        if errors.is_empty() {
            let ctx = Ctx {
                state,
                actor: &reader.actor,
                place: &place,
                now,
                change_id: None,
                op: ChangeOp::Create,
                houses: Some(&houses),
            };
            let prepared = prepare_row(&ctx, kind, &fields, natural.as_deref(), &existing).await?;
            match prepared {
                Ok((p, created)) => {
                    if kind == RecordKind::House
                        && let Some(h) = p.write.houses.first()
                    {
                        if let Some(b) = &h.row.building_key {
                            match buildings.get(b) {
                                Some((grid, row)) if *grid != h.row.grid_code => {
                                    errors.push(RowError {
                                        row: number,
                                        column: column_of.get("grid_code").cloned(),
                                        field: Some("grid_code".into()),
                                        message: format!(
                                            "the building's rooms in row {row} are in grid {grid}, this one in {}",
                                            h.row.grid_code
                                        ),
                                    });
                                }
                                Some(_) => {}
                                None => {
                                    buildings.insert(b.clone(), (h.row.grid_code.clone(), number));
                                }
                            }
                        }
                        houses.insert(h.row.house_code.clone(), h.row.grid_code.clone());
                    }
                    if errors.is_empty() {
                        if created {
                            report.created += 1;
                        } else {
                            report.updated += 1;
                        }
                        if !failed && writer.is_some() {
                            merge(&mut chunk, p.write);
                        }
                    }
                }
                Err(bad) => errors.extend(row_errors(number, bad, &column_of)),
            }
        }
        if errors.is_empty() {
            report.valid += 1;
        } else {
            report.bad_rows += 1;
            if !failed && writer.is_some() {
                // Nothing of this import may stay: the transaction is rolled back.
                let _ = tx.send(Err(format!("row {number} is bad"))).await;
            }
            failed = true;
            let room = MAX_LISTED.saturating_sub(report.errors.len());
            report.errors.extend(errors.into_iter().take(room));
        }
        if (i + 1) % CHUNK == 0 {
            if !failed && writer.is_some() {
                let full = std::mem::take(&mut chunk);
                if tx.send(Ok(Some(full))).await.is_err() {
                    break;
                }
            }
            progress(Progress { done: i + 1, total });
        }
    }
    if let Some(writer) = writer {
        if !failed {
            let _ = tx.send(Ok(Some(chunk))).await;
            let _ = tx.send(Ok(None)).await;
        }
        drop(tx);
        let written = writer.await.map_err(ApiError::internal)?;
        if !failed {
            written?;
            report.stored = true;
        }
    }
    progress(Progress { done: total, total });
    Ok(report)
}

/// The jurisdiction an import writes into: one district.
fn import_place(state: &AppState, reader: &Reader, req: &ImportRequest) -> ApiResult<Place> {
    let place = Place::of(&reader.actor, req.district.as_deref())?;
    if place.district.is_none() {
        return Err(ApiError::invalid_field(
            "district",
            "an import writes into one district: choose it (district=…)",
        ));
    }
    let atlas = state.atlas();
    if let Some(d) = &place.district
        && !atlas.districts().contains(&d.as_str())
    {
        return Err(ApiError::invalid_field(
            "district",
            format!("{d} is not a district of the city, or outside your jurisdiction"),
        ));
    }
    Ok(place)
}

fn merge(into: &mut RegistryWrite, w: RegistryWrite) {
    into.houses.extend(w.houses);
    into.people.extend(w.people);
    into.organisations.extend(w.organisations);
    into.components.extend(w.components);
    into.residences.extend(w.residences);
    into.versions.extend(w.versions);
    into.changes.extend(w.changes);
    into.access.extend(w.access);
}

fn row_errors(row: usize, bad: FieldErrors, column_of: &HashMap<String, String>) -> Vec<RowError> {
    bad.0
        .into_iter()
        .map(|e| RowError {
            row,
            column: column_of.get(&e.field).cloned(),
            message: e.message,
            field: Some(e.field),
        })
        .collect()
}

/// The key a row is matched by: the normalised house, credit or component code, or the blind
/// index (hex) of the identity number. `None` when it is missing or malformed (the row's check
/// reports that).
fn natural_key(state: &AppState, kind: RecordKind, fields: &Fields) -> ApiResult<Option<String>> {
    let Some(raw) = fields.get(reg::key_field(kind)) else {
        return Ok(None);
    };
    Ok(match kind {
        RecordKind::House => HouseCode::parse(raw).ok().map(|c| c.as_str().to_owned()),
        RecordKind::Organisation => Some(raw.trim().to_ascii_uppercase()),
        RecordKind::Component => ComponentCode::parse(raw)
            .ok()
            .map(|c| c.as_str().to_owned()),
        RecordKind::Person => Some(hex(&reg::blind_identity(reg::vault(state)?, raw.trim()))),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stored versions of the rows' records, by natural key; for people, (id, version).
struct ExistingRecords {
    versions: HashMap<String, i64>,
    people: HashMap<String, uuid::Uuid>,
}

async fn existing_versions(
    state: &AppState,
    kind: RecordKind,
    district: &str,
    rows: &[(usize, Fields, Vec<RowError>, Option<String>)],
) -> ApiResult<ExistingRecords> {
    let keys: Vec<String> = rows.iter().filter_map(|r| r.3.clone()).collect();
    let mut out = ExistingRecords {
        versions: HashMap::new(),
        people: HashMap::new(),
    };
    if kind == RecordKind::Person {
        let indexes: Vec<Vec<u8>> = keys.iter().filter_map(|k| unhex(k)).collect();
        for (index, id, version) in state.store.people_by_index(district, &indexes).await? {
            let k = hex(&index);
            out.versions.insert(k.clone(), version);
            out.people.insert(k, id);
        }
    } else {
        for (k, v) in state
            .store
            .record_versions_of(kind.as_str(), district, &keys)
            .await?
        {
            out.versions.insert(k, v);
        }
    }
    Ok(out)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// One row made ready: its write set and whether it creates a record.
async fn prepare_row(
    ctx: &Ctx<'_>,
    kind: RecordKind,
    fields: &Fields,
    natural: Option<&str>,
    existing: &ExistingRecords,
) -> ApiResult<Result<(reg::Prepared, bool), FieldErrors>> {
    let version = natural.and_then(|k| existing.versions.get(k).copied());
    let created = version.is_none();
    let prepared = match kind {
        RecordKind::House => reg::prepare_house(ctx, fields, version).await?,
        RecordKind::Organisation => {
            let merged = match (version, natural) {
                (Some(_), Some(k)) => reg::load_fields(ctx.state, ctx.place, kind, k)
                    .await?
                    .0
                    .overlaid(fields),
                _ => fields.clone(),
            };
            reg::prepare_organisation(ctx, &merged, version).await?
        }
        RecordKind::Component => reg::prepare_component(ctx, fields, version).await?,
        RecordKind::Person => {
            let current = match natural.and_then(|k| existing.people.get(k)) {
                Some(id) => {
                    let district = ctx.place.district.clone().unwrap_or_default();
                    reg::load_person(ctx.state, &district, *id).await?
                }
                None => None,
            };
            let ctx = Ctx {
                op: if current.is_some() {
                    ChangeOp::Update
                } else {
                    ChangeOp::Create
                },
                ..*ctx
            };
            reg::prepare_person(&ctx, fields, current.as_ref()).await?
        }
    };
    Ok(prepared.map(|p| (p, created)))
}

/// An import running in the background, so a browser can show its progress and leave.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: uuid::Uuid,
    pub kind: &'static str,
    /// running | done | failed
    pub state: &'static str,
    pub done: usize,
    pub total: usize,
    pub started_at: chrono::DateTime<Utc>,
    pub report: Option<ImportReport>,
    /// Why the import could not run at all (an unreadable file, a bad mapping …).
    pub error: Option<String>,
    #[serde(skip)]
    owner: String,
}

/// The background imports of this server, each visible to the user who started it, kept for
/// an hour after they end.
#[derive(Debug, Default)]
pub struct ImportJobs {
    jobs: std::sync::Mutex<HashMap<uuid::Uuid, ImportJob>>,
}

const JOB_KEPT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl ImportJobs {
    fn update(&self, id: uuid::Uuid, f: impl FnOnce(&mut ImportJob)) {
        if let Ok(mut jobs) = self.jobs.lock()
            && let Some(job) = jobs.get_mut(&id)
        {
            f(job);
        }
    }

    pub fn get(&self, id: uuid::Uuid, owner: &str) -> Option<ImportJob> {
        let jobs = self.jobs.lock().ok()?;
        jobs.get(&id).filter(|j| j.owner == owner).cloned()
    }

    /// Starts an import in the background and answers its job.
    pub fn start(
        state: &AppState,
        reader: Reader,
        kind: RecordKind,
        bytes: Vec<u8>,
        file_name: Option<String>,
        req: ImportRequest,
    ) -> ImportJob {
        let id = wangge_domain::new_id();
        let job = ImportJob {
            id,
            kind: kind.as_str(),
            state: "running",
            done: 0,
            total: 0,
            started_at: Utc::now(),
            report: None,
            error: None,
            owner: reader.username.clone(),
        };
        if let Ok(mut jobs) = state.imports.jobs.lock() {
            let now = Utc::now();
            jobs.retain(|_, j| j.state == "running" || now - j.started_at < JOB_KEPT);
            jobs.insert(id, job.clone());
        }
        let state = state.clone();
        tokio::spawn(async move {
            let jobs = state.imports.clone();
            let progress: OnProgress = {
                let jobs = jobs.clone();
                Arc::new(move |p: Progress| {
                    jobs.update(id, |j| {
                        j.done = p.done;
                        j.total = p.total;
                    });
                })
            };
            let result = import(&state, &reader, kind, bytes, file_name, &req, progress).await;
            jobs.update(id, |j| match result {
                Ok(report) => {
                    j.state = "done";
                    j.report = Some(report);
                }
                Err(e) => {
                    j.state = "failed";
                    j.error = Some(e.message);
                }
            });
        });
        job
    }
}
