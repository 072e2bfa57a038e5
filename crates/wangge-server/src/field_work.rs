//! The grid worker's field day (issue 8; `docs/field-work.md`): patrols with their tracks,
//! visit logs with follow-ups, and the daily quotas (patrols, reports, visits) a district sets.
//!
//! - a patrol: only a grid worker starts one, in their grid; one runs per worker at a time, and
//!   starting again answers the running one (200 instead of 201), so a phone that lost the
//!   answer does not make a second. Positions come in batches (≤ 5,000; a fix at an instant the
//!   patrol has already is ignored, so batches may be resent). Ending computes the length and
//!   the share of the grid covered (`wangge_domain::patrol`); ending again answers the figures.
//! - reads are scoped like everything else: a grid worker sees their own patrols and visits,
//!   a community/street/district user those in their area, a handling unit none; a patrol or
//!   visit outside your view answers 404.
//! - quotas: per district, defaults 2 patrols / 1 report / 0 visits a day; district and admin
//!   users change them. `daily` counts each grid worker's day (Beijing time) against them.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wangge_domain::case_loop::Actor;
use wangge_domain::patrol::{CoverageRules, Fix, TrackRules};
use wangge_domain::position::Position;
use wangge_domain::role::Role;
use wangge_geo::crs::{self, Crs};
use wangge_store::field_work::{
    DEFAULT_PATROLS_PER_DAY, DEFAULT_REPORTS_PER_DAY, DEFAULT_VISITS_PER_DAY, FieldWork,
    PatrolFilter, PatrolRow, PositionRow, QuotaRow, VisitFilter, VisitRow,
};
use wangge_store::registry::Registry;
use wangge_store::{Store, StoreError};

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::local_day::{day_end, day_of, day_start, parse_day};
use crate::registry::{Place, candidate_districts};
use crate::state::AppState;

/// Positions one request may carry.
pub const MAX_BATCH: usize = 5_000;
/// A fix may be this far ahead of the server's clock (phones' clocks drift).
const FUTURE_SLACK_S: i64 = 300;
/// A fix may be this far before the patrol started (the phone was already recording).
const EARLY_SLACK_S: i64 = 120;
const MAX_LIST: i64 = 500;

// ---------------------------------------------------------------------------------------------
// Wire

#[derive(Debug, Serialize, ToSchema)]
pub struct PatrolView {
    pub id: Uuid,
    pub district: String,
    pub worker: String,
    pub grid_code: String,
    pub grid_name: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Metres; set when the patrol ends.
    pub length_m: Option<f64>,
    /// Share of the grid within the radius of the track, 0..=1; set when the patrol ends.
    pub coverage: Option<f64>,
    pub points: i64,
    /// running | ended
    pub status: String,
}

pub fn patrol_view(state: &AppState, p: &PatrolRow) -> PatrolView {
    PatrolView {
        id: p.id,
        district: p.district_code.clone(),
        worker: p.worker.clone(),
        grid_code: p.grid_code.clone(),
        grid_name: state.atlas().region(&p.grid_code).map(|r| r.name.clone()),
        started_at: p.started_at,
        ended_at: p.ended_at,
        length_m: p.length_m,
        coverage: p.coverage,
        points: p.points,
        status: p.status.clone(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatrolDetail {
    #[serde(flatten)]
    pub patrol: PatrolView,
    /// The track as stored (every fix, oldest first): a GeoJSON LineString in WGS-84.
    #[schema(value_type = Object)]
    pub track: serde_json::Value,
    /// When each fix was taken, in the order of the track's coordinates.
    pub times: Vec<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionIn {
    pub at: DateTime<Utc>,
    pub lon: f64,
    pub lat: f64,
    /// Metres, as the phone reports it.
    pub accuracy: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionsIn {
    /// wgs84 (default), gcj02 or bd09.
    pub crs: Option<String>,
    pub positions: Vec<PositionIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionsAnswer {
    pub patrol_id: Uuid,
    pub received: usize,
    /// New fixes (a fix at an instant the patrol had is not added twice).
    pub added: u64,
    /// Fixes the patrol has now.
    pub points: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitView {
    pub id: Uuid,
    pub district: String,
    pub worker: String,
    pub grid_code: String,
    pub at: DateTime<Utc>,
    /// person | house | organisation | other
    pub kind: String,
    pub target: Option<String>,
    /// What lists show; never a name, phone or identity number.
    pub label: String,
    pub notes: Option<String>,
    pub follow_up: Option<String>,
    pub follow_up_due: Option<String>,
    pub follow_up_done_at: Option<DateTime<Utc>>,
    pub follow_up_done_by: Option<String>,
    /// none | open | done
    pub follow_up_status: &'static str,
}

pub fn visit_view(v: &VisitRow) -> VisitView {
    VisitView {
        id: v.id,
        district: v.district_code.clone(),
        worker: v.worker.clone(),
        grid_code: v.grid_code.clone(),
        at: v.at,
        kind: v.kind.clone(),
        target: v.target.clone(),
        label: v.label.clone(),
        notes: v.notes.clone(),
        follow_up: v.follow_up.clone(),
        follow_up_due: v.follow_up_due.clone(),
        follow_up_done_at: v.follow_up_done_at,
        follow_up_done_by: v.follow_up_done_by.clone(),
        follow_up_status: match (&v.follow_up, v.follow_up_done_at) {
            (None, _) => "none",
            (Some(_), None) => "open",
            (Some(_), Some(_)) => "done",
        },
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitIn {
    /// When the visit happened (default: now).
    pub at: Option<DateTime<Utc>>,
    /// person | house | organisation | other
    pub kind: String,
    /// house: the house code; person / organisation: the record's id in the base data.
    pub target: Option<String>,
    /// other: what was visited (no names or numbers of people).
    pub label: Option<String>,
    pub notes: Option<String>,
    /// What is still to be done, if anything.
    pub follow_up: Option<String>,
    /// YYYY-MM-DD
    pub follow_up_due: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub patrols_per_day: i64,
    pub reports_per_day: i64,
    pub visits_per_day: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            patrols_per_day: DEFAULT_PATROLS_PER_DAY,
            reports_per_day: DEFAULT_REPORTS_PER_DAY,
            visits_per_day: DEFAULT_VISITS_PER_DAY,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotasView {
    pub district: String,
    #[serde(flatten)]
    pub quotas: Quotas,
    /// True while the district has not set its own.
    pub default: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotasIn {
    /// Needed when your jurisdiction holds more than one district.
    pub district: Option<String>,
    pub patrols_per_day: i64,
    pub reports_per_day: i64,
    pub visits_per_day: i64,
}

#[derive(Debug, Serialize, ToSchema, Clone)]
pub struct DailyRow {
    pub username: String,
    pub display_name: String,
    pub grid_code: String,
    pub grid_name: Option<String>,
    pub patrols: i64,
    pub patrol_length_m: f64,
    pub mean_coverage: Option<f64>,
    pub reports: i64,
    pub visits: i64,
    pub quotas: Quotas,
    pub patrols_met: bool,
    pub reports_met: bool,
    pub visits_met: bool,
    pub met: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyAnswer {
    pub date: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub workers: i64,
    pub met: i64,
    /// Who did not meet a quota first.
    pub rows: Vec<DailyRow>,
}

// ---------------------------------------------------------------------------------------------
// Scope

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn require_reader(actor: &Actor) -> ApiResult<()> {
    if actor.role == Role::UnitUser {
        return Err(forbidden(
            "handling units do not see grid workers' field work",
        ));
    }
    Ok(())
}

/// What a reader sees: a grid worker only their own; others their area.
struct Scope {
    place: Place,
    own: Option<String>,
}

impl Scope {
    fn of(actor: &Actor, asked: Option<&str>) -> ApiResult<Scope> {
        require_reader(actor)?;
        Ok(Scope {
            place: Place::of(actor, asked.filter(|a| !a.is_empty()))?,
            own: (actor.role == Role::GridWorker).then(|| actor.id.clone()),
        })
    }

    fn sees(&self, worker: &str, grid_code: &str) -> bool {
        self.own.as_deref().is_none_or(|w| w == worker) && self.place.contains(grid_code)
    }

    /// The worker filter: your own, or the one asked for; `None` when you may see nobody's.
    fn worker(&self, asked: Option<&str>) -> Option<Option<String>> {
        match (&self.own, asked.filter(|a| !a.is_empty())) {
            (Some(me), Some(a)) if a != me => None,
            (Some(me), _) => Some(Some(me.clone())),
            (None, a) => Some(a.map(str::to_owned)),
        }
    }
}

fn parse_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::not_found("not_found", format!("no patrol or visit {id}")))
}

pub async fn find_patrol(state: &AppState, actor: &Actor, id: &str) -> ApiResult<PatrolRow> {
    let scope = Scope::of(actor, None)?;
    let uuid = parse_id(id)?;
    for d in candidate_districts(state, &scope.place, None) {
        if let Some(p) = state.store.patrol(&d, uuid).await?
            && scope.sees(&p.worker, &p.grid_code)
        {
            return Ok(p);
        }
    }
    Err(ApiError::not_found(
        "patrol_not_found",
        format!("no patrol {id} in your view"),
    ))
}

async fn find_visit(state: &AppState, actor: &Actor, id: &str) -> ApiResult<VisitRow> {
    let scope = Scope::of(actor, None)?;
    let uuid = parse_id(id)?;
    for d in candidate_districts(state, &scope.place, None) {
        if let Some(v) = state.store.visit(&d, uuid).await?
            && scope.sees(&v.worker, &v.grid_code)
        {
            return Ok(v);
        }
    }
    Err(ApiError::not_found(
        "visit_not_found",
        format!("no visit {id} in your view"),
    ))
}

/// The bounds of a period; either may be open.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A `from`/`to` pair of days (inclusive) as instants; either may be missing.
fn period(state: &AppState, from: Option<&str>, to: Option<&str>) -> ApiResult<Bounds> {
    let cal = state.calendar();
    let from = from
        .filter(|s| !s.is_empty())
        .map(|s| parse_day("from", s).map(|d| day_start(&cal, d)))
        .transpose()?;
    let to = to
        .filter(|s| !s.is_empty())
        .map(|s| parse_day("to", s).map(|d| day_end(&cal, d)))
        .transpose()?;
    Ok((from, to))
}

// ---------------------------------------------------------------------------------------------
// Patrols

/// Starts a patrol of your grid (grid workers). A worker runs one patrol at a time: while one
/// runs, this answers it (200) instead of starting another (201).
#[utoipa::path(post, path = "/api/v1/patrols",
    responses((status = 201, body = PatrolView), (status = 200, description = "the patrol already running", body = PatrolView),
              (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_patrol(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<(StatusCode, Json<PatrolView>)> {
    let (status, p) = start(&state, &user).await?;
    Ok((status, Json(patrol_view(&state, &p))))
}

pub async fn start(state: &AppState, user: &CurrentUser) -> ApiResult<(StatusCode, PatrolRow)> {
    let actor = &user.actor;
    if actor.role != Role::GridWorker {
        return Err(forbidden("only grid workers patrol a grid"));
    }
    let grid = actor
        .region
        .clone()
        .filter(|g| {
            state
                .atlas()
                .region(g)
                .is_some_and(|r| r.level == wangge_domain::region::Level::Grid)
        })
        .ok_or_else(|| forbidden("your account is not bound to a current unit grid"))?;
    if let Some(p) = state.store.running_patrol(&user.username).await? {
        return Ok((StatusCode::OK, p));
    }
    let row = PatrolRow {
        district_code: crate::registry::district_of(&grid).to_owned(),
        id: wangge_domain::new_id(),
        worker_id: user.user_id,
        worker: user.username.clone(),
        grid_code: grid,
        started_at: state.config.clock.now(),
        ended_at: None,
        length_m: None,
        coverage: None,
        points: 0,
        status: "running".into(),
    };
    match state.store.create_patrol(&row).await {
        Ok(()) => Ok((StatusCode::CREATED, row)),
        // Two starts at once: the other one won.
        Err(StoreError::Conflict { .. }) => state
            .store
            .running_patrol(&user.username)
            .await?
            .map(|p| (StatusCode::OK, p))
            .ok_or_else(|| ApiError::internal("a running patrol conflicted and then vanished")),
        Err(e) => Err(e.into()),
    }
}

/// Checks a batch: every fix in range, its time plausible; the error names the index.
pub fn check_positions(
    crs_name: Option<&str>,
    positions: &[PositionIn],
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<PositionRow>> {
    if positions.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "positions",
            format!(
                "at most {MAX_BATCH} positions per request, not {}",
                positions.len()
            ),
        ));
    }
    let crs = match crs_name {
        None => Crs::Wgs84,
        Some(n) => n.parse().map_err(|_| {
            ApiError::invalid_field(
                "crs",
                format!("unknown coordinate system '{n}': expected wgs84, gcj02 or bd09"),
            )
        })?,
    };
    let earliest = started_at - Duration::seconds(EARLY_SLACK_S);
    let latest = now + Duration::seconds(FUTURE_SLACK_S);
    let bad = |i: usize, field: &str, msg: String| {
        ApiError::invalid_field(
            &format!("positions[{i}].{field}"),
            format!("position {i}: {msg}"),
        )
        .with_details(serde_json::json!({ "field": format!("positions[{i}].{field}"), "index": i }))
    };
    let mut out = Vec::with_capacity(positions.len());
    for (i, p) in positions.iter().enumerate() {
        let pos = Position::new(p.lon, p.lat).map_err(|e| {
            let field = if e.to_string().starts_with("lat") {
                "lat"
            } else {
                "lon"
            };
            bad(i, field, e.to_string())
        })?;
        if p.at < earliest || p.at > latest {
            return Err(bad(
                i,
                "at",
                format!(
                    "{} is outside the patrol (started {started_at}, now {now})",
                    p.at.to_rfc3339()
                ),
            ));
        }
        if let Some(a) = p.accuracy
            && !(a.is_finite() && (0.0..=100_000.0).contains(&a))
        {
            return Err(bad(
                i,
                "accuracy",
                format!("accuracy {a} must be 0..100000 metres"),
            ));
        }
        let (lon, lat) = crs::to_wgs84(crs, pos.lon(), pos.lat());
        out.push(PositionRow {
            at_ms: p.at.timestamp_millis(),
            lon,
            lat,
            accuracy: p.accuracy,
        });
    }
    Ok(out)
}

/// Adds checked fixes to the worker's running patrol: the one function the API and the
/// benchmark share.
pub async fn ingest(state: &AppState, patrol: &PatrolRow, rows: &[PositionRow]) -> ApiResult<u64> {
    state
        .store
        .add_positions(&patrol.district_code, patrol.id, rows)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => patrol_ended(patrol),
            other => other.into(),
        })
}

fn patrol_ended(p: &PatrolRow) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "patrol_ended",
        format!("patrol {} has ended; start a new one", p.id),
    )
}

/// Adds a batch of positions (≤ 5,000) to your running patrol. A fix at an instant the patrol
/// has already is ignored, so a batch may be sent again. A bad fix fails the batch with a 422
/// naming its index (`details.index`).
#[utoipa::path(post, path = "/api/v1/patrols/{id}/positions", request_body = PositionsIn,
    responses((status = 200, body = PositionsAnswer), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_positions(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PositionsIn>,
) -> ApiResult<Json<PositionsAnswer>> {
    let p = find_patrol(&state, &user.actor, &id).await?;
    if p.worker != user.username {
        return Err(forbidden("only the worker on the patrol adds to its track"));
    }
    if p.status != "running" {
        return Err(patrol_ended(&p));
    }
    let rows = check_positions(
        req.crs.as_deref(),
        &req.positions,
        p.started_at,
        state.config.clock.now(),
    )?;
    let added = ingest(&state, &p, &rows).await?;
    Ok(Json(PositionsAnswer {
        patrol_id: p.id,
        received: rows.len(),
        added,
        points: p.points + i64::try_from(added).unwrap_or(0),
    }))
}

/// A grid's outline as the domain reads it.
pub async fn grid_outline(state: &AppState, grid: &str) -> ApiResult<Vec<Vec<Vec<(f64, f64)>>>> {
    let Some(row) = state.store.current_region(grid).await? else {
        return Ok(Vec::new());
    };
    let mp = crate::atlas::parse_geometry(&row.geometry).map_err(ApiError::internal)?;
    Ok(mp
        .0
        .iter()
        .map(|poly| {
            std::iter::once(poly.exterior())
                .chain(poly.interiors())
                .map(|ring| ring.coords().map(|c| (c.x, c.y)).collect())
                .collect()
        })
        .collect())
}

fn fixes(rows: &[PositionRow]) -> Vec<Fix> {
    rows.iter()
        .filter_map(|r| {
            Some(Fix {
                at: Utc.timestamp_millis_opt(r.at_ms).single()?,
                lon: r.lon,
                lat: r.lat,
                accuracy: r.accuracy,
            })
        })
        .collect()
}

/// Ends a running patrol: its length and coverage are computed and stored.
pub async fn finish(state: &AppState, p: &PatrolRow, at: DateTime<Utc>) -> ApiResult<PatrolRow> {
    let rows = state.store.positions(&p.district_code, p.id).await?;
    let outline = grid_outline(state, &p.grid_code).await?;
    let (length, coverage) = tokio::task::spawn_blocking(move || {
        let fixes = fixes(&rows);
        let rules = TrackRules::default();
        let runs = wangge_domain::patrol::runs(&fixes, &rules);
        let length: f64 = runs
            .iter()
            .map(|r| {
                r.windows(2)
                    .map(|w| wangge_domain::patrol::haversine_m(w[0], w[1]))
                    .sum::<f64>()
            })
            .sum();
        let coverage =
            wangge_domain::patrol::coverage_of_runs(&outline, &runs, &CoverageRules::default());
        (length, coverage)
    })
    .await
    .map_err(ApiError::internal)?;
    state
        .store
        .end_patrol(&p.district_code, p.id, at, length, coverage)
        .await?;
    state
        .store
        .patrol(&p.district_code, p.id)
        .await?
        .ok_or_else(|| ApiError::internal("a patrol vanished as it ended"))
}

/// Ends your patrol, computing its length and the share of your grid it covered. Ending an
/// ended patrol answers its figures.
#[utoipa::path(post, path = "/api/v1/patrols/{id}/end",
    responses((status = 200, body = PatrolView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn end_patrol(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PatrolView>> {
    let p = find_patrol(&state, &user.actor, &id).await?;
    if p.worker != user.username {
        return Err(forbidden("only the worker on the patrol ends it"));
    }
    if p.status != "running" {
        return Ok(Json(patrol_view(&state, &p)));
    }
    let ended = finish(&state, &p, state.config.clock.now()).await?;
    Ok(Json(patrol_view(&state, &ended)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatrolQuery {
    /// A worker's username.
    pub worker: Option<String>,
    /// A grid (or any region) code within your jurisdiction.
    pub grid: Option<String>,
    /// Started on or after this day (YYYY-MM-DD, Beijing time).
    pub from: Option<String>,
    /// Started on or before this day.
    pub to: Option<String>,
    /// running | ended
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// Patrols in your view, newest first.
#[utoipa::path(get, path = "/api/v1/patrols", params(PatrolQuery),
    responses((status = 200, body = Vec<PatrolView>), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_patrols(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PatrolQuery>,
) -> ApiResult<Json<Vec<PatrolView>>> {
    let rows = patrols_of(&state, &user.actor, &q).await?;
    Ok(Json(rows.iter().map(|p| patrol_view(&state, p)).collect()))
}

pub async fn patrols_of(
    state: &AppState,
    actor: &Actor,
    q: &PatrolQuery,
) -> ApiResult<Vec<PatrolRow>> {
    let scope = Scope::of(actor, q.grid.as_deref())?;
    let (from, to) = period(state, q.from.as_deref(), q.to.as_deref())?;
    if let Some(s) = q
        .status
        .as_deref()
        .filter(|s| !matches!(*s, "" | "running" | "ended"))
    {
        return Err(ApiError::invalid_field(
            "status",
            format!("status must be running or ended, not '{s}'"),
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let Some(worker) = scope.worker(q.worker.as_deref()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in candidate_districts(state, &scope.place, None) {
        out.extend(
            state
                .store
                .patrols(&PatrolFilter {
                    district: Some(d),
                    grid_prefix: scope.place.prefix.clone(),
                    worker: worker.clone(),
                    from,
                    to,
                    status: q.status.clone().filter(|s| !s.is_empty()),
                    limit,
                })
                .await?,
        );
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.started_at));
    out.truncate(limit as usize);
    Ok(out)
}

/// A patrol with its track (GeoJSON LineString).
#[utoipa::path(get, path = "/api/v1/patrols/{id}",
    responses((status = 200, body = PatrolDetail), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_patrol(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<PatrolDetail>> {
    let p = find_patrol(&state, &user.actor, &id).await?;
    Ok(Json(patrol_detail(&state, &p).await?))
}

pub async fn patrol_detail(state: &AppState, p: &PatrolRow) -> ApiResult<PatrolDetail> {
    let rows = state.store.positions(&p.district_code, p.id).await?;
    let coords: Vec<[f64; 2]> = rows.iter().map(|r| [r.lon, r.lat]).collect();
    let times = rows
        .iter()
        .filter_map(|r| Utc.timestamp_millis_opt(r.at_ms).single())
        .collect();
    Ok(PatrolDetail {
        patrol: patrol_view(state, p),
        track: serde_json::json!({ "type": "LineString", "coordinates": coords }),
        times,
    })
}

// ---------------------------------------------------------------------------------------------
// Visits

const VISIT_ROLES: &[Role] = &[Role::GridWorker, Role::Community, Role::Street];

fn text_field(field: &str, v: Option<String>, max: usize) -> ApiResult<Option<String>> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(s) = &v
        && s.chars().count() > max
    {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(v)
}

/// Checks a visit and makes its row; the label is made here so it never carries a person's
/// name or numbers.
pub async fn new_visit(state: &AppState, user: &CurrentUser, req: VisitIn) -> ApiResult<VisitRow> {
    let actor = &user.actor;
    if !VISIT_ROLES.contains(&actor.role) {
        return Err(forbidden(
            "visit logs are kept by grid workers and community and street staff",
        ));
    }
    let region = actor
        .region
        .clone()
        .filter(|r| r.len() >= 6)
        .ok_or_else(|| forbidden("your account is not bound to an area"))?;
    let district = crate::registry::district_of(&region).to_owned();
    let now = state.config.clock.now();
    let at = req.at.unwrap_or(now);
    if at > now + Duration::seconds(FUTURE_SLACK_S) {
        return Err(ApiError::invalid_field("at", "at lies in the future"));
    }
    let target = text_field("target", req.target, 64)?;
    let label_in = text_field("label", req.label, 60)?;
    let label = match req.kind.as_str() {
        "house" => {
            let code = target
                .as_deref()
                .map(str::to_ascii_uppercase)
                .ok_or_else(|| ApiError::invalid_field("target", "name the house code"))?;
            let house = state
                .store
                .house(&district, &code)
                .await?
                .filter(|h| h.grid_code.starts_with(&region));
            if house.is_none() {
                return Err(ApiError::invalid_field(
                    "target",
                    format!("no house {code} in your area"),
                ));
            }
            format!("房屋 {code}")
        }
        "person" => {
            let id = target
                .as_deref()
                .ok_or_else(|| ApiError::invalid_field("target", "name the person's record id"))?;
            // The record id's tail tells two visits apart without naming anyone.
            let tail: String = id
                .chars()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("人员 …{tail}")
        }
        "organisation" => {
            let id = target.as_deref().ok_or_else(|| {
                ApiError::invalid_field(
                    "target",
                    "name the organisation's record id or credit code",
                )
            })?;
            format!("单位 {id}")
        }
        "other" => {
            label_in.ok_or_else(|| ApiError::invalid_field("label", "say what was visited"))?
        }
        other => {
            return Err(ApiError::invalid_field(
                "kind",
                format!("kind must be person, house, organisation or other, not '{other}'"),
            ));
        }
    };
    let follow_up = text_field("follow_up", req.follow_up, 500)?;
    let due = text_field("follow_up_due", req.follow_up_due, 10)?
        .map(|d| parse_day("follow_up_due", &d).map(|d| d.format("%Y-%m-%d").to_string()))
        .transpose()?;
    if due.is_some() && follow_up.is_none() {
        return Err(ApiError::invalid_field(
            "follow_up",
            "a due date needs a follow-up to be due",
        ));
    }
    Ok(VisitRow {
        district_code: district,
        id: wangge_domain::new_id(),
        worker: user.username.clone(),
        grid_code: region,
        at,
        kind: req.kind,
        target,
        label,
        notes: text_field("notes", req.notes, 2000)?,
        follow_up,
        follow_up_due: due,
        follow_up_done_at: None,
        follow_up_done_by: None,
        created_at: now,
    })
}

/// Logs a visit (grid workers, community and street staff), with a follow-up if one is due.
#[utoipa::path(post, path = "/api/v1/visits", request_body = VisitIn,
    responses((status = 201, body = VisitView), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_visit(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<VisitIn>,
) -> ApiResult<(StatusCode, Json<VisitView>)> {
    let row = new_visit(&state, &user, req).await?;
    state.store.insert_visit(&row).await?;
    Ok((StatusCode::CREATED, Json(visit_view(&row))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VisitQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub worker: Option<String>,
    /// A region code within your jurisdiction.
    pub region: Option<String>,
    /// open: only visits with a follow-up not done yet.
    pub follow_up: Option<String>,
    pub limit: Option<i64>,
}

/// Visit logs in your view, newest first.
#[utoipa::path(get, path = "/api/v1/visits", params(VisitQuery),
    responses((status = 200, body = Vec<VisitView>), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_visits(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<VisitQuery>,
) -> ApiResult<Json<Vec<VisitView>>> {
    Ok(Json(
        visits_of(&state, &user.actor, &q)
            .await?
            .iter()
            .map(visit_view)
            .collect(),
    ))
}

pub async fn visits_of(
    state: &AppState,
    actor: &Actor,
    q: &VisitQuery,
) -> ApiResult<Vec<VisitRow>> {
    let scope = Scope::of(actor, q.region.as_deref())?;
    let (from, to) = period(state, q.from.as_deref(), q.to.as_deref())?;
    let open = match q.follow_up.as_deref() {
        None | Some("") | Some("any") => false,
        Some("open") => true,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "follow_up",
                format!("follow_up must be open or any, not '{other}'"),
            ));
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let Some(worker) = scope.worker(q.worker.as_deref()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in candidate_districts(state, &scope.place, None) {
        out.extend(
            state
                .store
                .visits(&VisitFilter {
                    district: Some(d),
                    grid_prefix: scope.place.prefix.clone(),
                    worker: worker.clone(),
                    from,
                    to,
                    open_follow_up: open,
                    limit,
                })
                .await?,
        );
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.at));
    out.truncate(limit as usize);
    Ok(out)
}

/// Marks a visit's follow-up done.
#[utoipa::path(post, path = "/api/v1/visits/{id}/follow-up-done",
    responses((status = 200, body = VisitView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn follow_up_done(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<VisitView>> {
    Ok(Json(visit_view(&mark_done(&state, &user, &id).await?)))
}

pub async fn mark_done(state: &AppState, user: &CurrentUser, id: &str) -> ApiResult<VisitRow> {
    let v = find_visit(state, &user.actor, id).await?;
    let now = state.config.clock.now();
    if !state
        .store
        .follow_up_done(&v.district_code, v.id, now, &user.username)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_open_follow_up",
            format!("visit {} has no open follow-up", v.id),
        ));
    }
    state
        .store
        .visit(&v.district_code, v.id)
        .await?
        .ok_or_else(|| ApiError::internal("a visit vanished"))
}

// ---------------------------------------------------------------------------------------------
// Quotas and the day

/// The district a request is about: the asked one (within your jurisdiction) or yours.
fn district_for(state: &AppState, actor: &Actor, asked: Option<&str>) -> ApiResult<String> {
    let place = Place::of(actor, asked.filter(|a| !a.is_empty()))?;
    if let Some(d) = place.district {
        if state.atlas().region(&d).is_none() {
            return Err(ApiError::invalid_field(
                "district",
                format!("no current district {d} in your jurisdiction"),
            ));
        }
        return Ok(d);
    }
    let all = candidate_districts(state, &place, None);
    match all.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ApiError::invalid_field(
            "district",
            "name the district (your jurisdiction holds more than one)",
        )),
    }
}

pub async fn quotas_of(state: &AppState, district: &str) -> ApiResult<QuotasView> {
    let row = state.store.quotas(district).await?;
    Ok(QuotasView {
        district: district.to_owned(),
        quotas: row.as_ref().map_or_else(Quotas::default, |r| Quotas {
            patrols_per_day: r.patrols_per_day,
            reports_per_day: r.reports_per_day,
            visits_per_day: r.visits_per_day,
        }),
        default: row.is_none(),
        updated_by: row.as_ref().map(|r| r.updated_by.clone()),
        updated_at: row.as_ref().map(|r| r.updated_at),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuotaQuery {
    pub district: Option<String>,
}

/// A district's daily quotas (defaults 2 patrols, 1 report, 0 visits).
#[utoipa::path(get, path = "/api/v1/field/quotas", params(QuotaQuery),
    responses((status = 200, body = QuotasView), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_quotas(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<QuotaQuery>,
) -> ApiResult<Json<QuotasView>> {
    require_reader(&user.actor)?;
    let d = district_for(&state, &user.actor, q.district.as_deref())?;
    Ok(Json(quotas_of(&state, &d).await?))
}

pub async fn set_quotas(
    state: &AppState,
    user: &CurrentUser,
    req: QuotasIn,
) -> ApiResult<QuotasView> {
    if !matches!(user.actor.role, Role::District | Role::Admin) {
        return Err(forbidden("district and admin users set the daily quotas"));
    }
    for (field, v) in [
        ("patrols_per_day", req.patrols_per_day),
        ("reports_per_day", req.reports_per_day),
        ("visits_per_day", req.visits_per_day),
    ] {
        if !(0..=50).contains(&v) {
            return Err(ApiError::invalid_field(
                field,
                format!("{field} must be 0..50, not {v}"),
            ));
        }
    }
    let d = district_for(state, &user.actor, req.district.as_deref())?;
    state
        .store
        .put_quotas(&QuotaRow {
            district_code: d.clone(),
            patrols_per_day: req.patrols_per_day,
            reports_per_day: req.reports_per_day,
            visits_per_day: req.visits_per_day,
            updated_by: user.username.clone(),
            updated_at: state.config.clock.now(),
        })
        .await?;
    quotas_of(state, &d).await
}

/// Sets a district's daily quotas (district and admin users).
#[utoipa::path(put, path = "/api/v1/field/quotas", request_body = QuotasIn,
    responses((status = 200, body = QuotasView), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_quotas(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<QuotasIn>,
) -> ApiResult<Json<QuotasView>> {
    Ok(Json(set_quotas(&state, &user, req).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// YYYY-MM-DD (Beijing time); default today.
    pub date: Option<String>,
    /// A region code within your jurisdiction.
    pub region: Option<String>,
    /// json (default), csv or xlsx.
    pub format: Option<String>,
}

/// Each grid worker's day against the quotas.
pub async fn daily(
    state: &AppState,
    actor: &Actor,
    date: Option<&str>,
    region: Option<&str>,
) -> ApiResult<DailyAnswer> {
    let scope = Scope::of(actor, region)?;
    let cal = state.calendar();
    let day: NaiveDate = match date.filter(|d| !d.is_empty()) {
        Some(d) => parse_day("date", d)?,
        None => day_of(&cal, state.config.clock.now()),
    };
    let (from, to) = (day_start(&cal, day), day_end(&cal, day));
    let users = state.store.users().await?;
    let mut rows = Vec::new();
    for d in candidate_districts(state, &scope.place, None) {
        let workers: Vec<_> = users
            .iter()
            .filter(|u| u.active && u.role == Role::GridWorker.as_str())
            .filter_map(|u| u.region_code.as_deref().map(|g| (u, g)))
            .filter(|(u, g)| g.starts_with(&d) && scope.sees(&u.username, g))
            .collect();
        if workers.is_empty() {
            continue;
        }
        let quotas = quotas_of(state, &d).await?.quotas;
        let prefix = scope.place.prefix.clone().unwrap_or_else(|| d.clone());
        let mut patrols: HashMap<&str, (i64, f64, f64)> = HashMap::new();
        let totals = state.store.patrol_totals(from, to, Some(&prefix)).await?;
        for t in &totals {
            let e = patrols.entry(t.worker.as_str()).or_default();
            e.0 += t.patrols;
            e.1 += t.length_m;
            e.2 += t.mean_coverage * t.patrols as f64;
        }
        let names: Vec<String> = workers.iter().map(|(u, _)| u.username.clone()).collect();
        let reports: HashMap<String, i64> = state
            .store
            .reports_by(&d, from, to, &names)
            .await?
            .into_iter()
            .collect();
        let visits = state
            .store
            .visits(&VisitFilter {
                district: Some(d.clone()),
                grid_prefix: Some(prefix.clone()),
                from: Some(from),
                to: Some(to),
                limit: 100_000,
                ..VisitFilter::default()
            })
            .await?;
        let mut visit_count: HashMap<&str, i64> = HashMap::new();
        for v in &visits {
            *visit_count.entry(v.worker.as_str()).or_default() += 1;
        }
        for (u, g) in workers {
            let (n, len, cov) = patrols
                .get(u.username.as_str())
                .copied()
                .unwrap_or_default();
            let r = reports.get(&u.username).copied().unwrap_or(0);
            let v = visit_count.get(u.username.as_str()).copied().unwrap_or(0);
            let (pm, rm, vm) = (
                n >= quotas.patrols_per_day,
                r >= quotas.reports_per_day,
                v >= quotas.visits_per_day,
            );
            rows.push(DailyRow {
                username: u.username.clone(),
                display_name: u.display_name.clone(),
                grid_code: g.to_owned(),
                grid_name: state.atlas().region(g).map(|r| r.name.clone()),
                patrols: n,
                patrol_length_m: (len * 10.0).round() / 10.0,
                mean_coverage: (n > 0).then(|| cov / n as f64),
                reports: r,
                visits: v,
                quotas,
                patrols_met: pm,
                reports_met: rm,
                visits_met: vm,
                met: pm && rm && vm,
            });
        }
    }
    rows.sort_by(|a, b| {
        a.met
            .cmp(&b.met)
            .then_with(|| a.grid_code.cmp(&b.grid_code))
    });
    Ok(DailyAnswer {
        date: day.format("%Y-%m-%d").to_string(),
        from,
        to,
        workers: rows.len() as i64,
        met: rows.iter().filter(|r| r.met).count() as i64,
        rows,
    })
}

/// The rows as CSV with the headers the workbook translates (`stats.col.*`).
fn daily_csv(rows: &[DailyRow]) -> ApiResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let e = |e: csv::Error| ApiError::internal(e);
    w.write_record([
        "username",
        "display_name",
        "region_code",
        "name",
        "patrols",
        "field_length_m",
        "field_coverage",
        "field_reports",
        "field_visits",
        "field_patrols_quota",
        "field_reports_quota",
        "field_visits_quota",
        "field_met",
    ])
    .map_err(e)?;
    for r in rows {
        w.write_record([
            r.username.clone(),
            r.display_name.clone(),
            r.grid_code.clone(),
            r.grid_name.clone().unwrap_or_default(),
            r.patrols.to_string(),
            format!("{:.0}", r.patrol_length_m),
            r.mean_coverage
                .map(|c| format!("{:.3}", c))
                .unwrap_or_default(),
            r.reports.to_string(),
            r.visits.to_string(),
            r.quotas.patrols_per_day.to_string(),
            r.quotas.reports_per_day.to_string(),
            r.quotas.visits_per_day.to_string(),
            if r.met { "1" } else { "0" }.to_owned(),
        ])
        .map_err(e)?;
    }
    w.into_inner().map_err(ApiError::internal)
}

/// The day's quota list: each grid worker of the region with their patrols (ended that day,
/// Beijing time), reports (cases they reported) and visits, and whether they met each quota;
/// who did not meet them first. `format=csv|xlsx` for a file.
#[utoipa::path(get, path = "/api/v1/field/daily", params(DailyQuery),
    responses((status = 200, body = DailyAnswer), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_daily(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<DailyQuery>,
) -> ApiResult<Response> {
    let format = q.format.as_deref().unwrap_or("json");
    if !["json", "csv", "xlsx"].contains(&format) {
        return Err(ApiError::invalid_field(
            "format",
            format!("unknown format '{format}': expected json, csv or xlsx"),
        ));
    }
    let answer = daily(&state, &user.actor, q.date.as_deref(), q.region.as_deref()).await?;
    let file = format!("wangge-field-daily-{}", answer.date.replace('-', ""));
    match format {
        "csv" | "xlsx" => crate::console::report::download(
            format,
            &file,
            "field_daily",
            daily_csv(&answer.rows)?,
            crate::console::Lang::from_headers(&headers),
        ),
        _ => Ok(Json(answer).into_response()),
    }
}

// ---------------------------------------------------------------------------------------------
// Routes, demo, OpenAPI

/// Routes under `/api/v1`.
pub fn api_routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/patrols", get(list_patrols).post(start_patrol))
        .route("/patrols/{id}", get(get_patrol))
        .route("/patrols/{id}/positions", post(post_positions))
        .route("/patrols/{id}/end", post(end_patrol))
        .route("/visits", get(list_visits).post(post_visit))
        .route("/visits/{id}/follow-up-done", post(follow_up_done))
        .route("/field/quotas", get(get_quotas).put(put_quotas))
        .route("/field/daily", get(get_daily))
}

/// A walk over the grid's bounding box in lanes `lane` metres apart, a fix every ~10 m.
fn demo_walk(outline: &[Vec<Vec<(f64, f64)>>], lane_offset: f64) -> Vec<(f64, f64)> {
    let pts = outline.iter().flatten().flatten();
    let (mut x0, mut y0, mut x1, mut y1) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for p in pts {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    if !(x0 < x1 && y0 < y1) {
        return Vec::new();
    }
    let m_per_deg = 111_195.0;
    let (w, h) = (
        (x1 - x0) * m_per_deg * y0.to_radians().cos(),
        (y1 - y0) * m_per_deg,
    );
    let lanes = ((h / 60.0).round() as usize).clamp(2, 12);
    let steps = ((w / 10.0).round() as usize).clamp(4, 200);
    let mut out = Vec::new();
    for lane in 0..lanes {
        let fy = ((lane as f64 + 0.5 + lane_offset) / lanes as f64).clamp(0.02, 0.98);
        for s in 0..=steps {
            let fx = s as f64 / steps as f64;
            let fx = if lane % 2 == 0 { fx } else { 1.0 - fx };
            out.push((
                x0 + fx * (x1 - x0) * 0.9 + (x1 - x0) * 0.05,
                y0 + fy * (y1 - y0),
            ));
        }
    }
    out
}

/// Sample data for the demo: two ended patrols of today for the demo grid worker, and two visit
/// logs (one with an open follow-up).
pub async fn seed_demo(state: &AppState) -> Result<(), StoreError> {
    let Some(user) = state.store.user_by_username("demo-worker").await? else {
        return Ok(());
    };
    let Some(grid) = user.region_code.clone() else {
        return Ok(());
    };
    if state.store.running_patrol(&user.username).await?.is_some()
        || !state
            .store
            .patrols(&PatrolFilter {
                worker: Some(user.username.clone()),
                limit: 1,
                ..PatrolFilter::default()
            })
            .await?
            .is_empty()
    {
        return Ok(());
    }
    let outline = match grid_outline(state, &grid).await {
        Ok(o) => o,
        Err(e) => return Err(StoreError::Corrupt(e.message)),
    };
    let now = state.config.clock.now();
    let cal = state.calendar();
    // Both patrols end today (Beijing time) even just after midnight.
    let span = (now - day_start(&cal, day_of(&cal, now)))
        .min(Duration::minutes(100))
        .max(Duration::seconds(40));
    let district = crate::registry::district_of(&grid).to_owned();
    for (k, offset) in [(0i32, 0.0), (1, 0.25)] {
        let walk = demo_walk(&outline, offset);
        let end = now - span * (1 + 2 * k) / 5;
        let start = end - span / 5;
        let step_ms = ((end - start).num_milliseconds() / walk.len().max(1) as i64).max(1);
        let p = PatrolRow {
            district_code: district.clone(),
            id: wangge_domain::new_id(),
            worker_id: user.id,
            worker: user.username.clone(),
            grid_code: grid.clone(),
            started_at: start,
            ended_at: None,
            length_m: None,
            coverage: None,
            points: 0,
            status: "running".into(),
        };
        state.store.create_patrol(&p).await?;
        let rows: Vec<PositionRow> = walk
            .iter()
            .enumerate()
            .map(|(i, (lon, lat))| PositionRow {
                at_ms: start.timestamp_millis() + i as i64 * step_ms,
                lon: *lon,
                lat: *lat,
                accuracy: Some(8.0),
            })
            .collect();
        state.store.add_positions(&district, p.id, &rows).await?;
        if let Err(e) = finish(state, &p, end).await {
            return Err(StoreError::Corrupt(e.message));
        }
    }
    for (kind, label, notes, follow_up) in [
        (
            "other",
            "楼道消防通道",
            Some("楼道堆放杂物已提醒清理"),
            Some("三天后复查楼道"),
        ),
        ("other", "小区垃圾分类点", Some("分类点运行正常"), None),
    ] {
        state
            .store
            .insert_visit(&VisitRow {
                district_code: district.clone(),
                id: wangge_domain::new_id(),
                worker: user.username.clone(),
                grid_code: grid.clone(),
                at: now - span / 10,
                kind: kind.into(),
                target: None,
                label: label.into(),
                notes: notes.map(str::to_owned),
                follow_up: follow_up.map(str::to_owned),
                follow_up_due: follow_up.map(|_| {
                    (day_of(&cal, now) + Duration::days(3))
                        .format("%Y-%m-%d")
                        .to_string()
                }),
                follow_up_done_at: None,
                follow_up_done_by: None,
                created_at: now,
            })
            .await?;
    }
    Ok(())
}

/// This module's part of `/api/openapi.json` (merged into `api::ApiDoc`).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        start_patrol,
        post_positions,
        end_patrol,
        list_patrols,
        get_patrol,
        post_visit,
        list_visits,
        follow_up_done,
        get_quotas,
        put_quotas,
        get_daily
    ),
    components(schemas(
        PatrolView,
        PatrolDetail,
        PositionIn,
        PositionsIn,
        PositionsAnswer,
        VisitView,
        VisitIn,
        Quotas,
        QuotasView,
        QuotasIn,
        DailyRow,
        DailyAnswer
    ))
)]
pub struct ApiDoc;
