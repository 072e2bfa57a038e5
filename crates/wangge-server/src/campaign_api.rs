//! `/api/v1/campaigns`, `/campaign-tasks`, `/campaign-queue`: campaigns over HTTP. The rules
//! are in `campaign.rs`; this file is the wire, the scoping of each endpoint and the masking.
//!
//! - create (from a table or a registry query), close: district, street and admin users;
//! - tasks and results: grid workers, in their grid;
//! - the queue of unmatched records and matching by hand: street users in their street (and
//!   district and admin users);
//! - lists, progress and exports: everyone but handling units, within their jurisdiction.

use axum::Json;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wangge_domain::case_loop::Actor;
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_store::campaign::{
    CampaignRecordFilter, CampaignRecordRow, CampaignResultRow, CampaignRow, Campaigns,
    RecordUpdate, TaskFilter, TaskSummary,
};
use wangge_store::registry::{Registry, RegistryWrite};

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::campaign::{
    self as camp, Columns, Created, Form, Header, Progress, Totals, find_campaign, view_prefix,
};
use crate::error::{ApiError, ApiResult};
use crate::registry::Place;
use crate::registry_api::ClientAddr;
use crate::state::AppState;

const MAX_PAGE: i64 = 500;
const MAX_EXPORT: i64 = camp::MAX_RECORDS as i64;
/// Largest table a campaign is made from.
pub const MAX_CAMPAIGN_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub district: String,
    pub name: String,
    pub kind: String,
    /// file | people | houses
    pub source: String,
    pub source_note: Option<String>,
    pub region_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// open | closed
    pub status: String,
    pub form: Form,
    pub threshold: f64,
}

pub(crate) fn campaign_view(c: &CampaignRow) -> CampaignView {
    CampaignView {
        id: c.id,
        district: c.district_code.clone(),
        name: c.name.clone(),
        kind: c.kind.clone(),
        source: c.source.clone(),
        source_note: c.source_note.clone(),
        region_code: c.region_code.clone(),
        created_by: c.created_by.clone(),
        created_at: c.created_at,
        status: c.status.clone(),
        form: Form::of(c),
        threshold: c.threshold,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignDetail {
    #[serde(flatten)]
    pub campaign: CampaignView,
    /// Within your view of the campaign.
    pub totals: Totals,
    /// How duplicates are found and merged.
    pub merge_rule: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    pub campaign_id: Uuid,
    pub seq: i64,
    /// The row of the uploaded table (or the position in the registry query).
    pub source_row: i64,
    pub address: String,
    pub name: Option<String>,
    /// Masked.
    pub id_masked: Option<String>,
    /// Masked.
    pub phone_masked: Option<String>,
    pub house_code: Option<String>,
    pub grid_code: Option<String>,
    /// The street whose queue an unmatched record waits in.
    pub queue_region: Option<String>,
    pub confidence: f64,
    pub reason: String,
    #[schema(value_type = Object)]
    pub candidates: Value,
    /// matched | unmatched | duplicate | manual
    pub status: String,
    /// The record this one duplicates (kept), and the rule that found it.
    pub duplicate_of: Option<i64>,
    pub dup_rule: Option<String>,
    pub matched_by: Option<String>,
    pub outcome: Option<String>,
    pub notes: Option<String>,
    pub has_photo: bool,
    pub done_by: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
    pub version: i64,
    /// The original fields, in full: only on a full read with a purpose (logged).
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Value>,
}

pub(crate) fn record_view(r: &CampaignRecordRow) -> RecordView {
    RecordView {
        campaign_id: r.campaign_id,
        seq: r.seq,
        source_row: r.source_row,
        address: r.address.clone(),
        name: r.name.clone(),
        id_masked: r.id_masked.clone(),
        phone_masked: r.phone_masked.clone(),
        house_code: r.house_code.clone(),
        grid_code: r.grid_code.clone(),
        queue_region: r.queue_region.clone(),
        confidence: r.confidence,
        reason: r.reason.clone(),
        candidates: serde_json::from_str(&r.candidates).unwrap_or(Value::Array(Vec::new())),
        status: r.status.clone(),
        duplicate_of: r.duplicate_of,
        dup_rule: r.dup_rule.clone(),
        matched_by: r.matched_by.clone(),
        outcome: r.outcome.clone(),
        notes: r.notes.clone(),
        has_photo: r.photo.is_some(),
        done_by: r.done_by.clone(),
        done_at: r.done_at,
        version: r.version,
        fields: None,
    }
}

/// A record as exported: masked, flat.
#[derive(Debug, Serialize)]
struct RecordCsv {
    seq: i64,
    source_row: i64,
    address: String,
    name: Option<String>,
    id_masked: Option<String>,
    phone_masked: Option<String>,
    status: String,
    house_code: Option<String>,
    grid_code: Option<String>,
    confidence: String,
    reason: String,
    duplicate_of: Option<i64>,
    dup_rule: Option<String>,
    outcome: Option<String>,
    notes: Option<String>,
    done_by: Option<String>,
    done_at: Option<DateTime<Utc>>,
}

fn record_csv(r: CampaignRecordRow) -> RecordCsv {
    RecordCsv {
        seq: r.seq,
        source_row: r.source_row,
        address: r.address,
        name: r.name,
        id_masked: r.id_masked,
        phone_masked: r.phone_masked,
        status: r.status,
        house_code: r.house_code,
        grid_code: r.grid_code,
        confidence: format!("{:.3}", r.confidence),
        reason: r.reason,
        duplicate_of: r.duplicate_of,
        dup_rule: r.dup_rule,
        outcome: r.outcome,
        notes: r.notes,
        done_by: r.done_by,
        done_at: r.done_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub campaign_id: Uuid,
    pub campaign_name: String,
    pub campaign_kind: String,
    pub campaign_status: String,
    pub grid_code: String,
    pub grid_name: String,
    pub worker: Option<String>,
    pub total: i64,
    pub done: i64,
    /// open | done
    pub status: &'static str,
}

pub(crate) fn task_view(state: &AppState, t: TaskSummary) -> TaskView {
    TaskView {
        grid_name: state
            .atlas()
            .region(&t.task.grid_code)
            .map(|r| r.name.clone())
            .unwrap_or_default(),
        campaign_id: t.task.campaign_id,
        campaign_name: t.campaign_name,
        campaign_kind: t.campaign_kind,
        campaign_status: t.campaign_status,
        grid_code: t.task.grid_code,
        worker: t.task.worker,
        status: if t.total > 0 && t.done >= t.total {
            "done"
        } else {
            "open"
        },
        total: t.total,
        done: t.done,
    }
}

// ---------------------------------------------------------------------------------------------
// Creating

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFromQuery {
    pub name: String,
    /// e.g. 疫情核查, 安全隐患排查, 普查 (default 核查).
    pub kind: Option<String>,
    /// The outcomes the form offers (default 已核实, 不在住, 信息有误, 无法联系).
    pub outcomes: Option<Vec<String>>,
    pub threshold: Option<f64>,
    /// The campaign's district, when your jurisdiction holds more than one.
    pub district: Option<String>,
    /// people | houses
    pub source: String,
    /// people: with this tag.
    pub tag: Option<String>,
    /// houses: of this use.
    #[serde(rename = "use")]
    pub use_kind: Option<String>,
    /// Narrow to a region within your jurisdiction.
    pub region: Option<String>,
}

/// Creates a campaign from a query over the registry (people with a tag, houses of a use).
#[utoipa::path(post, path = "/api/v1/campaigns", request_body = CreateFromQuery,
    responses((status = 201, body = Created), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_campaign(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<CreateFromQuery>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let header = Header::parse(
        Some(&req.name),
        req.kind.as_deref(),
        req.outcomes,
        req.threshold,
        req.district.as_deref(),
    )?;
    let created = camp::create_from_query(
        &state,
        &user.actor,
        &user.username,
        header,
        camp::Query {
            source: req.source,
            tag: req.tag,
            use_kind: req.use_kind,
            region: req.region,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportCampaignQuery {
    pub name: Option<String>,
    pub kind: Option<String>,
    /// Outcomes separated by commas.
    pub outcomes: Option<String>,
    pub threshold: Option<f64>,
    pub district: Option<String>,
    /// The column holding the address (required).
    pub address_column: Option<String>,
    pub identity_column: Option<String>,
    pub name_column: Option<String>,
    pub phone_column: Option<String>,
    /// The worksheet of a workbook (default: the first visible one).
    pub sheet: Option<String>,
    /// The file's name, a hint to its format.
    pub file_name: Option<String>,
}

pub fn split_outcomes(text: Option<&str>) -> Option<Vec<String>> {
    text.filter(|t| !t.trim().is_empty()).map(|t| {
        t.split([',', '，', '、', ';'])
            .map(|s| s.trim().to_owned())
            .collect()
    })
}

/// Reads an uploaded table (CSV or .xlsx).
pub async fn read_upload(
    bytes: Vec<u8>,
    file_name: Option<String>,
    sheet: Option<String>,
) -> ApiResult<crate::tabular::Table> {
    let format = crate::tabular::Format::sniff(&bytes, file_name.as_deref()).ok_or_else(|| {
        ApiError::invalid_field(
            "file",
            "the file is neither CSV nor an .xlsx workbook (save an old .xls as .xlsx)",
        )
    })?;
    tokio::task::spawn_blocking(move || {
        crate::tabular::read_table(&bytes, format, sheet.as_deref())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::invalid_field("file", e.to_string()))
}

/// Creates a campaign from a table (CSV or .xlsx as the body): every row matched to a house,
/// de-duplicated, grouped by grid into tasks. A bad row fails the whole table with a 422 that
/// names every bad row and column.
#[utoipa::path(post, path = "/api/v1/campaigns/import", params(ImportCampaignQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Created), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn import_campaign(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ImportCampaignQuery>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Created>)> {
    camp::require_creator(&user.actor)?;
    let header = Header::parse(
        q.name.as_deref(),
        q.kind.as_deref(),
        split_outcomes(q.outcomes.as_deref()),
        q.threshold,
        q.district.as_deref(),
    )?;
    let address = q
        .address_column
        .clone()
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid_field("address_column", "name the column that holds the address")
        })?;
    let cols = Columns {
        address,
        identity: q.identity_column.clone(),
        name: q.name_column.clone(),
        phone: q.phone_column.clone(),
    };
    let table = read_upload(body.to_vec(), q.file_name.clone(), q.sheet.clone()).await?;
    let created =
        camp::create_from_table(&state, &user.actor, &user.username, header, cols, table).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The campaigns you see (your jurisdiction and theirs overlap), newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", responses((status = 200, body = Vec<CampaignView>)), security(("bearer" = [])))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Vec<CampaignView>>> {
    Ok(Json(
        visible_campaigns(&state, &user.actor)
            .await?
            .iter()
            .map(campaign_view)
            .collect(),
    ))
}

pub(crate) async fn visible_campaigns(
    state: &AppState,
    actor: &Actor,
) -> ApiResult<Vec<CampaignRow>> {
    camp::require_reader(actor)?;
    let place = Place::of(actor, None)?;
    let mut out = Vec::new();
    for d in crate::registry::candidate_districts(state, &place, None) {
        out.extend(
            state
                .store
                .campaigns(Some(&d))
                .await?
                .into_iter()
                .filter(|c| camp::sees(actor, c)),
        );
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    Ok(out)
}

/// A campaign with its figures within your view.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", responses((status = 200, body = CampaignDetail), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_campaign(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignDetail>> {
    camp::require_reader(&user.actor)?;
    let c = find_campaign(&state, &user.actor, &id).await?;
    let prefix = view_prefix(&user.actor, &c);
    let (totals, _) = camp::progress(&state, &c, prefix.as_deref(), Level::Grid).await?;
    Ok(Json(CampaignDetail {
        campaign: campaign_view(&c),
        totals,
        merge_rule: wangge_address::dedup::MERGE_RULE,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// grid (default), community or street.
    pub level: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressAnswer {
    pub level: String,
    pub totals: Totals,
    pub rows: Vec<Progress>,
}

pub fn parse_level(level: Option<&str>) -> ApiResult<Level> {
    match level.unwrap_or("grid") {
        "grid" => Ok(Level::Grid),
        "community" => Ok(Level::Community),
        "street" => Ok(Level::Street),
        other => Err(ApiError::invalid_field(
            "level",
            format!("level must be grid, community or street, not '{other}'"),
        )),
    }
}

/// Progress per grid, community or street: records to verify, done, by outcome.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/progress", params(ProgressQuery), responses((status = 200, body = ProgressAnswer), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn campaign_progress(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ProgressQuery>,
) -> ApiResult<Json<ProgressAnswer>> {
    camp::require_reader(&user.actor)?;
    let level = parse_level(q.level.as_deref())?;
    let c = find_campaign(&state, &user.actor, &id).await?;
    let prefix = view_prefix(&user.actor, &c);
    let (totals, rows) = camp::progress(&state, &c, prefix.as_deref(), level).await?;
    Ok(Json(ProgressAnswer {
        level: level.as_str().to_owned(),
        totals,
        rows,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    /// matched | unmatched | duplicate | manual
    pub status: Option<String>,
    /// Narrow to a region (grid, community, street) within your view.
    pub region: Option<String>,
    /// Address or name contains.
    pub q: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    /// json (default), csv or xlsx (masked; the export is logged).
    pub format: Option<String>,
}

fn check_status(s: Option<&str>) -> ApiResult<Option<String>> {
    match s.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s @ ("matched" | "unmatched" | "duplicate" | "manual")) => Ok(Some(s.to_owned())),
        Some(other) => Err(ApiError::invalid_field(
            "status",
            format!("status must be matched, unmatched, duplicate or manual, not '{other}'"),
        )),
    }
}

/// The grid prefix a reader's list of a campaign's records is narrowed to.
fn records_prefix(
    actor: &Actor,
    c: &CampaignRow,
    asked: Option<&str>,
) -> ApiResult<Option<String>> {
    let mine = view_prefix(actor, c);
    let Some(asked) = asked.filter(|a| !a.is_empty()) else {
        return Ok(mine);
    };
    if !asked.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_field(
            "region",
            "region must be a region code (digits only)",
        ));
    }
    let base = mine.clone().unwrap_or_else(|| c.region_code.clone());
    if asked.starts_with(&base) {
        Ok(Some(asked.to_owned()))
    } else if base.starts_with(asked) {
        Ok(mine)
    } else {
        Ok(Some("-".into()))
    }
}

/// The records of a campaign within your view, masked; `format=csv|xlsx` exports them.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/records", params(RecordsQuery), responses((status = 200, body = Vec<RecordView>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list_records(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<RecordsQuery>,
) -> ApiResult<Response> {
    camp::require_reader(&user.actor)?;
    let c = find_campaign(&state, &user.actor, &id).await?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "xlsx") {
        return Err(ApiError::invalid_field(
            "format",
            format!("format must be json, csv or xlsx, not '{format}'"),
        ));
    }
    let exporting = format != "json";
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid_field(
            "offset",
            "offset must be 0 or more",
        ));
    }
    let max = if exporting { MAX_EXPORT } else { MAX_PAGE };
    let limit = q.limit.unwrap_or(if exporting { MAX_EXPORT } else { 50 });
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be 1 to {max}"),
        ));
    }
    let rows = state
        .store
        .campaign_records(&CampaignRecordFilter {
            district: c.district_code.clone(),
            campaign: Some(c.id),
            grid_prefix: records_prefix(&user.actor, &c, q.region.as_deref())?,
            status: check_status(q.status.as_deref())?,
            q: q.q.clone().filter(|s| !s.trim().is_empty()),
            offset,
            limit,
            ..Default::default()
        })
        .await?;
    if !exporting {
        return Ok(Json(rows.iter().map(record_view).collect::<Vec<_>>()).into_response());
    }
    export_records(&state, &user, client, &headers, &c, format, rows).await
}

/// Records as CSV (with a BOM) or a workbook: masked, and logged.
pub(crate) async fn export_records(
    state: &AppState,
    user: &CurrentUser,
    client: Option<String>,
    headers: &HeaderMap,
    c: &CampaignRow,
    format: &str,
    rows: Vec<CampaignRecordRow>,
) -> ApiResult<Response> {
    let n = rows.len();
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(record_csv(r)).map_err(ApiError::internal)?;
    }
    let csv_bytes = w.into_inner().map_err(ApiError::internal)?;
    state
        .store
        .registry_write(&RegistryWrite {
            access: vec![camp::access_line(
                &c.district_code,
                user,
                "export",
                format!("campaign {}: {n} records", c.id),
                None,
                client,
            )],
            ..Default::default()
        })
        .await?;
    let file = format!("wangge-campaign-{}", Utc::now().format("%Y%m%d"));
    crate::console::report::download(
        format,
        &file,
        "campaign_records",
        csv_bytes,
        crate::console::Lang::from_headers(headers),
    )
}

/// Whether a reader may see this record of a campaign they see: in their part of it, or
/// waiting in their street's queue.
pub(crate) fn record_visible(actor: &Actor, c: &CampaignRow, r: &CampaignRecordRow) -> bool {
    let Some(mine) = view_prefix(actor, c) else {
        return true;
    };
    r.grid_code.as_deref().is_some_and(|g| g.starts_with(&mine))
        || r.queue_region
            .as_deref()
            .is_some_and(|q| q.starts_with(&mine))
}

pub(crate) async fn find_record(
    state: &AppState,
    actor: &Actor,
    c: &CampaignRow,
    seq: &str,
) -> ApiResult<CampaignRecordRow> {
    let missing =
        || ApiError::not_found("not_found", format!("no record {seq} in campaign {}", c.id));
    let n: i64 = seq.parse().map_err(|_| missing())?;
    match state
        .store
        .campaign_record(&c.district_code, c.id, n)
        .await?
    {
        Some(r) if record_visible(actor, c, &r) => Ok(r),
        _ => Err(missing()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// Read the original fields in full (roles granted full reads; logged with this purpose).
    pub purpose: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResultView {
    pub outcome: String,
    pub notes: Option<String>,
    pub has_photo: bool,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordDetail {
    #[serde(flatten)]
    pub record: RecordView,
    pub results: Vec<ResultView>,
}

/// One record: masked, or in full with a purpose (logged before the answer is sent).
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/records/{seq}", params(RecordQuery), responses((status = 200, body = RecordDetail), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_record(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path((id, seq)): Path<(String, String)>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<Json<RecordDetail>> {
    camp::require_reader(&user.actor)?;
    let c = find_campaign(&state, &user.actor, &id).await?;
    let r = find_record(&state, &user.actor, &c, &seq).await?;
    let mut view = record_view(&r);
    if q.purpose.is_some() {
        let purpose = crate::registry_api::full_read_purpose(&state, &user, q.purpose.as_deref())?;
        let vault = crate::registry::vault(&state)?;
        let key = format!("{}/{}", c.id, r.seq);
        if let Some(body) = &r.body {
            let json = vault
                .open(camp::RECORD_KIND, &key, body)
                .map_err(|e| ApiError::internal(format!("campaign record {key}: {e}")))?;
            state
                .store
                .registry_write(&RegistryWrite {
                    access: vec![camp::access_line(
                        &c.district_code,
                        &user,
                        "read_full",
                        key,
                        Some(purpose),
                        client,
                    )],
                    ..Default::default()
                })
                .await?;
            view.fields = Some(serde_json::from_str(&json).map_err(ApiError::internal)?);
        }
    }
    let results = state
        .store
        .campaign_results(&c.district_code, c.id, r.seq)
        .await?
        .into_iter()
        .map(|x| ResultView {
            outcome: x.outcome,
            notes: x.notes,
            has_photo: x.photo.is_some(),
            recorded_by: x.recorded_by,
            recorded_at: x.recorded_at,
        })
        .collect();
    Ok(Json(RecordDetail {
        record: view,
        results,
    }))
}

/// The photo of a record's latest result.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/records/{seq}/photo", responses((status = 200, content_type = "image/jpeg"), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn record_photo(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, seq)): Path<(String, String)>,
) -> ApiResult<Response> {
    camp::require_reader(&user.actor)?;
    let c = find_campaign(&state, &user.actor, &id).await?;
    let r = find_record(&state, &user.actor, &c, &seq).await?;
    let missing = || ApiError::not_found("not_found", format!("record {seq} has no photo"));
    let sha = r.photo.ok_or_else(missing)?;
    let store = state.evidence.clone();
    let bytes = tokio::task::spawn_blocking(move || store.get(&sha))
        .await
        .map_err(ApiError::internal)??
        .ok_or_else(missing)?;
    let mime = crate::evidence::sniff(&bytes)
        .map(|m| m.as_str())
        .unwrap_or("application/octet-stream");
    Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response())
}

// ---------------------------------------------------------------------------------------------
// Tasks and results

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    /// One campaign only.
    pub campaign: Option<Uuid>,
    /// Also tasks of closed campaigns.
    pub all: Option<bool>,
}

/// Tasks in your jurisdiction (a grid worker: their grid's), of open campaigns, with counts.
#[utoipa::path(get, path = "/api/v1/campaign-tasks", params(TasksQuery), responses((status = 200, body = Vec<TaskView>)), security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<TasksQuery>,
) -> ApiResult<Json<Vec<TaskView>>> {
    Ok(Json(
        tasks_of(&state, &user.actor, q.campaign, !q.all.unwrap_or(false)).await?,
    ))
}

pub(crate) async fn tasks_of(
    state: &AppState,
    actor: &Actor,
    campaign: Option<Uuid>,
    open_only: bool,
) -> ApiResult<Vec<TaskView>> {
    camp::require_reader(actor)?;
    let place = Place::of(actor, None)?;
    let mut out = Vec::new();
    for s in camp::scopes(state, &place) {
        let rows = state
            .store
            .campaign_tasks(&TaskFilter {
                district: Some(s.district.clone()),
                campaign,
                grid_prefix: s.prefix.clone(),
                open_only,
            })
            .await?;
        out.extend(rows.into_iter().map(|t| task_view(state, t)));
    }
    Ok(out)
}

/// The records of one grid's task (masked), in source order.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/tasks/{grid}", responses((status = 200, body = Vec<RecordView>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn task_records(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, grid)): Path<(String, String)>,
) -> ApiResult<Json<Vec<RecordView>>> {
    camp::require_reader(&user.actor)?;
    let c = find_campaign(&state, &user.actor, &id).await?;
    Ok(Json(
        grid_records(&state, &user.actor, &c, &grid)
            .await?
            .iter()
            .map(record_view)
            .collect(),
    ))
}

pub(crate) async fn grid_records(
    state: &AppState,
    actor: &Actor,
    c: &CampaignRow,
    grid: &str,
) -> ApiResult<Vec<CampaignRecordRow>> {
    let inside = actor.region.as_deref().is_none_or(|r| grid.starts_with(r));
    if grid.len() != 15 || !grid.bytes().all(|b| b.is_ascii_digit()) || !inside {
        return Err(ApiError::not_found(
            "not_found",
            format!("no task of grid {grid} in your jurisdiction"),
        ));
    }
    let mut out = Vec::new();
    for status in ["matched", "manual"] {
        out.extend(
            state
                .store
                .campaign_records(&CampaignRecordFilter {
                    district: c.district_code.clone(),
                    campaign: Some(c.id),
                    grid_prefix: Some(grid.to_owned()),
                    status: Some(status.into()),
                    offset: 0,
                    limit: MAX_EXPORT,
                    ..Default::default()
                })
                .await?,
        );
    }
    out.sort_by_key(|r| r.seq);
    Ok(out)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultRequest {
    /// One of the campaign form's outcomes.
    pub outcome: String,
    pub notes: Option<String>,
    /// The record's version you saw (a conflict if it changed since).
    pub version: Option<i64>,
}

/// A result as submitted, from JSON or a form with a photo.
pub struct Submitted {
    pub outcome: String,
    pub notes: Option<String>,
    pub version: Option<i64>,
    pub photo: Option<Vec<u8>>,
}

/// Records the result of verifying a record: the grid worker of its grid. A JSON body, or
/// multipart/form-data with `outcome`, `notes`, `version` and an optional `photo` file.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/records/{seq}/result", request_body = ResultRequest,
    responses((status = 200, body = RecordView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn record_result(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, seq)): Path<(String, String)>,
    request: Request,
) -> ApiResult<Json<RecordView>> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let submitted = if multipart {
        let mut form = axum::extract::Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?;
        read_result_form(&mut form).await?
    } else {
        let ApiJson(r) = ApiJson::<ResultRequest>::from_request(request, &state).await?;
        Submitted {
            outcome: r.outcome,
            notes: r.notes,
            version: r.version,
            photo: None,
        }
    };
    let c = find_campaign(&state, &user.actor, &id).await?;
    let r = find_record(&state, &user.actor, &c, &seq).await?;
    Ok(Json(record_view(
        &save_result(&state, &user, &c, r, submitted).await?,
    )))
}

pub async fn read_result_form(form: &mut axum::extract::Multipart) -> ApiResult<Submitted> {
    let mut s = Submitted {
        outcome: String::new(),
        notes: None,
        version: None,
        photo: None,
    };
    while let Some(field) = form
        .next_field()
        .await
        .map_err(crate::evidence_api::multipart_error)?
    {
        match field.name() {
            Some("photo") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(crate::evidence_api::multipart_error)?;
                if !bytes.is_empty() {
                    s.photo = Some(bytes.to_vec());
                }
            }
            Some(name @ ("outcome" | "notes" | "version")) => {
                let name = name.to_owned();
                let text = field
                    .text()
                    .await
                    .map_err(crate::evidence_api::multipart_error)?
                    .trim()
                    .to_owned();
                match name.as_str() {
                    "outcome" => s.outcome = text,
                    "notes" => s.notes = Some(text).filter(|t| !t.is_empty()),
                    _ if text.is_empty() => {}
                    _ => {
                        s.version = Some(text.parse().map_err(|_| {
                            ApiError::invalid_field("version", "version must be a whole number")
                        })?)
                    }
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

/// Checks and stores a result (and its photo first).
pub async fn save_result(
    state: &AppState,
    user: &CurrentUser,
    c: &CampaignRow,
    r: CampaignRecordRow,
    s: Submitted,
) -> ApiResult<CampaignRecordRow> {
    let grid = r.grid_code.clone().unwrap_or_default();
    let mine = user.actor.role == Role::GridWorker
        && user
            .actor
            .region
            .as_deref()
            .is_some_and(|g| grid.starts_with(g));
    if !mine {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "results are recorded by the grid worker of the record's grid",
        ));
    }
    if c.status != "open" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "campaign_closed",
            format!("campaign “{}” is closed: no more results", c.name),
        ));
    }
    if !matches!(r.status.as_str(), "matched" | "manual") || grid.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_task",
            format!(
                "record {} is {}: only matched records are verified",
                r.seq, r.status
            ),
        ));
    }
    let form = Form::of(c);
    let outcome = s.outcome.trim().to_owned();
    if !form.outcomes.contains(&outcome) {
        return Err(ApiError::invalid_field(
            "outcome",
            format!(
                "'{outcome}' is not an outcome of this campaign: expected one of {}",
                form.outcomes.join(", ")
            ),
        ));
    }
    if let Some(n) = &s.notes
        && n.chars().count() > 1000
    {
        return Err(ApiError::invalid_field(
            "notes",
            "notes are at most 1000 characters",
        ));
    }
    let expected = s.version.unwrap_or(r.version);
    let photo = match s.photo {
        None => None,
        Some(bytes) => {
            let store = state.evidence.clone();
            Some(
                tokio::task::spawn_blocking(move || store.put(&bytes))
                    .await
                    .map_err(ApiError::internal)??
                    .sha256,
            )
        }
    };
    let now = state.config.clock.now();
    let result = CampaignResultRow {
        district_code: c.district_code.clone(),
        campaign_id: c.id,
        seq: r.seq,
        id: wangge_domain::new_id(),
        outcome,
        notes: s.notes.filter(|n| !n.trim().is_empty()),
        photo,
        recorded_by: user.username.clone(),
        recorded_at: now,
    };
    state
        .store
        .update_campaign_record(
            &c.district_code,
            c.id,
            r.seq,
            expected,
            &RecordUpdate::Result(result),
        )
        .await?;
    state
        .store
        .campaign_record(&c.district_code, c.id, r.seq)
        .await?
        .ok_or_else(|| ApiError::internal("a record vanished after its result"))
}

// ---------------------------------------------------------------------------------------------
// The street queue

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    pub campaign: Option<Uuid>,
    /// Address or name contains.
    pub q: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// Who works a queue: street users (their street), district and admin users.
pub fn require_queue_worker(actor: &Actor) -> ApiResult<()> {
    if matches!(actor.role, Role::Street | Role::District | Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the queue of unmatched records is worked by street users (and district and admin users)",
        ))
    }
}

/// Unmatched records of open campaigns waiting in your street's queue.
#[utoipa::path(get, path = "/api/v1/campaign-queue", params(QueueQuery), responses((status = 200, body = Vec<RecordView>), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<QueueQuery>,
) -> ApiResult<Json<Vec<RecordView>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let rows = queue_records(
        &state,
        &user.actor,
        q.campaign,
        q.q.as_deref(),
        q.offset.unwrap_or(0).max(0),
        limit,
    )
    .await?;
    Ok(Json(rows.iter().map(record_view).collect()))
}

pub(crate) async fn queue_records(
    state: &AppState,
    actor: &Actor,
    campaign: Option<Uuid>,
    q: Option<&str>,
    offset: i64,
    limit: i64,
) -> ApiResult<Vec<CampaignRecordRow>> {
    require_queue_worker(actor)?;
    let place = Place::of(actor, None)?;
    let mut out = Vec::new();
    for s in camp::scopes(state, &place) {
        out.extend(
            state
                .store
                .campaign_records(&CampaignRecordFilter {
                    district: s.district.clone(),
                    campaign,
                    queue_prefix: s.prefix.clone(),
                    status: Some("unmatched".into()),
                    open_only: true,
                    q: q.map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned),
                    offset,
                    limit,
                    ..Default::default()
                })
                .await?,
        );
    }
    Ok(out)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualMatchRequest {
    pub house_code: String,
    pub version: Option<i64>,
}

/// Assigns a house to an unmatched record by hand: it becomes manually matched and joins its
/// grid's task (made when the grid had none).
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/records/{seq}/match", request_body = ManualMatchRequest,
    responses((status = 200, body = RecordView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn manual_match(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, seq)): Path<(String, String)>,
    ApiJson(req): ApiJson<ManualMatchRequest>,
) -> ApiResult<Json<RecordView>> {
    let c = find_campaign(&state, &user.actor, &id).await?;
    let r = find_record(&state, &user.actor, &c, &seq).await?;
    Ok(Json(record_view(
        &assign_house(&state, &user, &c, r, &req.house_code, req.version).await?,
    )))
}

pub async fn assign_house(
    state: &AppState,
    user: &CurrentUser,
    c: &CampaignRow,
    r: CampaignRecordRow,
    house_code: &str,
    version: Option<i64>,
) -> ApiResult<CampaignRecordRow> {
    require_queue_worker(&user.actor)?;
    if r.status != "unmatched" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_unmatched",
            format!("record {} is {}, not waiting for a house", r.seq, r.status),
        ));
    }
    if c.status != "open" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "campaign_closed",
            format!("campaign “{}” is closed", c.name),
        ));
    }
    let code = house_code.trim().to_ascii_uppercase();
    let place = Place::of(&user.actor, None)?;
    let house = state
        .store
        .house(&c.district_code, &code)
        .await?
        .filter(|h| place.contains(&h.grid_code));
    let Some(house) = house else {
        return Err(ApiError::invalid_field(
            "house_code",
            format!(
                "no house {code} in district {} within your jurisdiction",
                c.district_code
            ),
        ));
    };
    let now = state.config.clock.now();
    let task = camp::task_for(state, &c.district_code, c.id, &house.grid_code, now).await?;
    state
        .store
        .update_campaign_record(
            &c.district_code,
            c.id,
            r.seq,
            version.unwrap_or(r.version),
            &RecordUpdate::ManualMatch {
                house_code: house.house_code.clone(),
                grid_code: house.grid_code.clone(),
                by: user.username.clone(),
                at: now,
                task,
            },
        )
        .await?;
    state
        .store
        .campaign_record(&c.district_code, c.id, r.seq)
        .await?
        .ok_or_else(|| ApiError::internal("a record vanished after matching"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// open | closed
    pub status: String,
}

/// Closes (or reopens) a campaign: district, street and admin users who see it whole.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/status", request_body = StatusRequest,
    responses((status = 200, body = CampaignView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_status(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> ApiResult<Json<CampaignView>> {
    camp::require_creator(&user.actor)?;
    let mut c = find_campaign(&state, &user.actor, &id).await?;
    if view_prefix(&user.actor, &c).is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only users who see the whole campaign may close it",
        ));
    }
    if !matches!(req.status.as_str(), "open" | "closed") {
        return Err(ApiError::invalid_field(
            "status",
            format!("status must be open or closed, not '{}'", req.status),
        ));
    }
    state
        .store
        .set_campaign_status(&c.district_code, c.id, &req.status)
        .await?;
    c.status = req.status;
    Ok(Json(campaign_view(&c)))
}

pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/match", post(crate::match_api::match_addresses))
        .route("/campaigns", get(list_campaigns).post(create_campaign))
        .route(
            "/campaigns/import",
            post(import_campaign).layer(axum::extract::DefaultBodyLimit::max(MAX_CAMPAIGN_BYTES)),
        )
        .route("/campaigns/{id}", get(get_campaign))
        .route("/campaigns/{id}/status", post(set_status))
        .route("/campaigns/{id}/progress", get(campaign_progress))
        .route("/campaigns/{id}/records", get(list_records))
        .route("/campaigns/{id}/records/{seq}", get(get_record))
        .route("/campaigns/{id}/records/{seq}/photo", get(record_photo))
        .route("/campaigns/{id}/records/{seq}/result", post(record_result))
        .route("/campaigns/{id}/records/{seq}/match", post(manual_match))
        .route("/campaigns/{id}/tasks/{grid}", get(task_records))
        .route("/campaign-tasks", get(list_tasks))
        .route("/campaign-queue", get(queue))
}
