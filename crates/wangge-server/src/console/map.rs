//! The command-centre map (`/console/map`): region layers drawn from the stored GeoJSON (no tile
//! server needed), live cases clustered on the server, a grid's worker and open cases on click.
//!
//! Why the work is split this way: a city has ~18,000 grids and tens of thousands of open cases,
//! far too many for the browser to receive as features or DOM nodes. So
//! - district, street and community outlines go out simplified, once per atlas revision (built
//!   once and cached in memory), and grids only for the visible box when zoomed in;
//! - cases are read once into a short-lived in-memory snapshot per filter and jurisdiction, and
//!   each view gets at most a few hundred screen-sized clusters, or single markers when few;
//! - the page handler starts both loads before the browser asks, so they overlap page loading.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use geo::{BoundingRect, MultiPolygon, Simplify};
use minijinja::context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wangge_domain::role::Role;
use wangge_store::{CaseFilter, CaseOrder, CasePoint, RegionRow, Store};

use super::{ConsoleUser, FINISHED_STATES as FINISHED, OPEN_STATES as OPEN, page_context, render};
use crate::atlas::Atlas;
use crate::case_api::{CaseQuery, case_filter};
use crate::error::ApiError;
use crate::local_day;
use crate::state::AppState;
use wangge_domain::calendar::WorkingCalendar;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/map", get(map_page))
        .route("/console/map/regions", get(regions_layer))
        .route("/console/map/grids", get(grids_in_box))
        .route("/console/map/region/{code}", get(region_feature))
        .route("/console/map/cases", get(cases_in_box))
        .route("/console/map/grid", get(grid_info))
}

/// Starts building what the first map visit needs — the region layers and the whole city's
/// open cases — in the background, so the first visitor after a start does not wait for it.
/// Meant to be called once after the state is loaded (`wangge serve` / `demo`).
pub fn warm_up(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = layers(&state).await {
            tracing::warn!(error = %e.message, "map: could not build the region layers");
            return;
        }
        let filter = CaseFilter {
            states: OPEN.iter().map(|s| (*s).to_owned()).collect(),
            now: Some(Utc::now()),
            order: CaseOrder::NewestFirst,
            ..CaseFilter::default()
        };
        if let Err(e) = snapshot(&state, filter).await {
            tracing::warn!(error = %e.message, "map: could not read the open cases ahead");
        }
    });
}

/// Everyone but handling units, whose work is a list of their own cases, not an area.
const MAP_ROLES: &[Role] = &[
    Role::GridWorker,
    Role::Receiver,
    Role::ShiftLeader,
    Role::Dispatcher,
    Role::Community,
    Role::Street,
    Role::District,
    Role::Supervisor,
    Role::Admin,
];

/// Cases in view up to this many are sent one by one; more are clustered.
const MARKER_LIMIT: usize = 400;
/// From this zoom on (a few streets fill the screen), up to `MARKER_CAP` cases in view are
/// sent one by one; more (many reports at one spot) stay clustered.
const MARKER_ZOOM: f64 = 17.0;
const MARKER_CAP: usize = 3000;
/// Cluster cell edge in screen pixels.
const CELL_PX: f64 = 64.0;
/// Grids for a box larger than this are refused; the page asks only when zoomed in.
const GRID_LIMIT: usize = 5000;
/// A snapshot of cases is fresh this long: pans and zooms in a row read the database once.
const SNAPSHOT_TTL: Duration = Duration::from_secs(5);
/// Most cases one snapshot holds, to bound memory.
const SNAPSHOT_MAX: usize = 500_000;

fn json_error(err: ApiError) -> Response {
    err.into_response()
}

fn forbidden() -> Response {
    json_error(ApiError::new(
        StatusCode::FORBIDDEN,
        "page_forbidden",
        "the map is not for your role",
    ))
}

fn may_use_map(who: &ConsoleUser) -> Result<(), Response> {
    if MAP_ROLES.contains(&who.role()) {
        Ok(())
    } else {
        Err(forbidden())
    }
}

/// JSON text already serialised, with a caching policy.
fn json_text(body: impl Into<axum::body::Body>, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, cache),
        ],
        body.into(),
    )
        .into_response()
}

// ---------------------------------------------------------------- region layers

/// One region's outline, ready to send.
struct Shape {
    level: String,
    bbox: [f64; 4],
    /// A GeoJSON Feature with `code`, `name` and `level` properties.
    feature: String,
}

/// Every current region's simplified outline, built once per atlas revision.
struct Layers {
    shapes: HashMap<String, Shape>,
    /// FeatureCollection text of the district, street and community levels.
    levels: HashMap<&'static str, Arc<String>>,
    /// Grid codes with their boxes, scanned for the visible box (18,000 boxes take ~50 µs).
    grids: Vec<([f64; 4], String)>,
}

struct LayerSlot {
    atlas: Weak<Atlas>,
    cell: tokio::sync::OnceCell<Arc<Layers>>,
}

/// One slot per live atlas (a test process may run several servers); the atlas is replaced
/// on every region change, so a dead weak reference means a stale slot.
static LAYERS: Mutex<Vec<Arc<LayerSlot>>> = Mutex::new(Vec::new());

const LAYER_LEVELS: [&str; 3] = ["district", "street", "community"];

/// Douglas–Peucker tolerance per level, in degrees (1e-4° ≈ 10 m): outlines drawn at city
/// zoom need far fewer points than a grid seen street by street.
fn tolerance(level: &str) -> f64 {
    match level {
        "city" | "district" => 4e-4,
        "street" => 2e-4,
        "community" => 8e-5,
        _ => 5e-6,
    }
}

async fn layers(state: &AppState) -> Result<Arc<Layers>, ApiError> {
    let atlas = state.atlas();
    let slot = {
        let mut slots = LAYERS.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|s| s.atlas.strong_count() > 0);
        match slots
            .iter()
            .find(|s| s.atlas.upgrade().is_some_and(|a| Arc::ptr_eq(&a, &atlas)))
        {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(LayerSlot {
                    atlas: Arc::downgrade(&atlas),
                    cell: tokio::sync::OnceCell::new(),
                });
                slots.push(s.clone());
                s
            }
        }
    };
    drop(atlas);
    slot.cell
        .get_or_try_init(|| async {
            let rows = state
                .store
                .current_regions(None, None)
                .await
                .map_err(ApiError::from)?;
            tokio::task::spawn_blocking(move || Arc::new(build_layers(&rows)))
                .await
                .map_err(ApiError::internal)
        })
        .await
        .cloned()
}

fn build_layers(rows: &[RegionRow]) -> Layers {
    use rayon::prelude::*;
    let shapes: Vec<(String, Shape)> = rows
        .par_iter()
        .filter_map(|row| {
            let geometry = match crate::atlas::parse_geometry(&row.geometry) {
                Ok(g) => g,
                Err(message) => {
                    tracing::warn!(code = %row.code, %message, "region not drawn on the map");
                    return None;
                }
            };
            let rect = geometry.bounding_rect()?;
            let simplified = simplify(&geometry, tolerance(&row.level));
            let props = serde_json::json!({
                "code": row.code,
                "name": row.name,
                "level": row.level,
            });
            let feature = format!(
                r#"{{"type":"Feature","properties":{props},"geometry":{}}}"#,
                geometry_text(&simplified)
            );
            Some((
                row.code.clone(),
                Shape {
                    level: row.level.clone(),
                    bbox: [rect.min().x, rect.min().y, rect.max().x, rect.max().y],
                    feature,
                },
            ))
        })
        .collect();
    let mut levels = HashMap::new();
    for level in LAYER_LEVELS {
        let mut bbox: Option<[f64; 4]> = None;
        let mut body = String::from(r#"{"type":"FeatureCollection","features":["#);
        let mut first = true;
        let mut of_level: Vec<&(String, Shape)> =
            shapes.iter().filter(|(_, s)| s.level == level).collect();
        of_level.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, s) in of_level {
            if !first {
                body.push(',');
            }
            first = false;
            body.push_str(&s.feature);
            bbox = Some(union(bbox, s.bbox));
        }
        body.push(']');
        if let Some(b) = bbox {
            let _ = write!(body, r#","bbox":[{},{},{},{}]"#, b[0], b[1], b[2], b[3]);
        }
        body.push('}');
        levels.insert(level, Arc::new(body));
    }
    let grids = shapes
        .iter()
        .filter(|(_, s)| s.level == "grid")
        .map(|(code, s)| (s.bbox, code.clone()))
        .collect();
    Layers {
        shapes: shapes.into_iter().collect(),
        levels,
        grids,
    }
}

fn union(a: Option<[f64; 4]>, b: [f64; 4]) -> [f64; 4] {
    match a {
        None => b,
        Some(a) => [
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[2].max(b[2]),
            a[3].max(b[3]),
        ],
    }
}

/// Simplifies each ring; a ring that would collapse keeps its original points.
fn simplify(mp: &MultiPolygon<f64>, epsilon: f64) -> MultiPolygon<f64> {
    let simplified = mp.simplify(epsilon);
    let collapsed = simplified.0.iter().any(|p| p.exterior().0.len() < 4);
    if collapsed { mp.clone() } else { simplified }
}

/// A MultiPolygon as GeoJSON, coordinates to 6 decimals (≈ 0.1 m): a third of the text of
/// full precision, which matters for 18,000 grids.
fn geometry_text(mp: &MultiPolygon<f64>) -> String {
    let mut out = String::from(r#"{"type":"MultiPolygon","coordinates":["#);
    for (pi, polygon) in mp.0.iter().enumerate() {
        if pi > 0 {
            out.push(',');
        }
        out.push('[');
        let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
        for (ri, ring) in rings.enumerate() {
            if ri > 0 {
                out.push(',');
            }
            out.push('[');
            for (ci, c) in ring.0.iter().enumerate() {
                if ci > 0 {
                    out.push(',');
                }
                let _ = write!(out, "[{:.6},{:.6}]", c.x, c.y);
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

#[derive(Debug, Deserialize)]
struct LevelQuery {
    level: Option<String>,
}

/// `GET /console/map/regions?level=district|street|community`: the whole city's outlines of
/// one level, simplified.
async fn regions_layer(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<LevelQuery>,
) -> Response {
    if let Err(r) = may_use_map(&who) {
        return r;
    }
    let level = q.level.as_deref().unwrap_or("district");
    let Some(level) = LAYER_LEVELS.iter().find(|l| **l == level) else {
        return json_error(ApiError::invalid_field(
            "level",
            "level must be district, street or community; grids come by box from /console/map/grids",
        ));
    };
    match layers(&state).await {
        Ok(layers) => match layers.levels.get(level) {
            Some(text) => json_text(text.as_str().to_owned(), "private, max-age=60"),
            None => json_error(ApiError::internal("layer missing")),
        },
        Err(e) => json_error(e),
    }
}

#[derive(Debug, Deserialize)]
struct BoxQuery {
    bbox: Option<String>,
}

/// `west,south,east,north` in degrees.
fn parse_bbox(text: Option<&str>) -> Result<[f64; 4], ApiError> {
    let bad = || ApiError::invalid_field("bbox", "bbox must be west,south,east,north in degrees");
    let text = text.ok_or_else(bad)?;
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [w, s, e, n] = <[f64; 4]>::try_from(parts).map_err(|_| bad())?;
    if ![w, s, e, n].iter().all(|v| v.is_finite()) || w > e || s > n {
        return Err(bad());
    }
    Ok([w, s, e, n])
}

fn meets(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

/// `GET /console/map/grids?bbox=w,s,e,n`: the grids whose box meets the given box. Refused
/// (`too_many`) for a box holding more than a few thousand grids.
async fn grids_in_box(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<BoxQuery>,
) -> Response {
    if let Err(r) = may_use_map(&who) {
        return r;
    }
    let bbox = match parse_bbox(q.bbox.as_deref()) {
        Ok(b) => b,
        Err(e) => return json_error(e),
    };
    let layers = match layers(&state).await {
        Ok(l) => l,
        Err(e) => return json_error(e),
    };
    let hits: Vec<&String> = layers
        .grids
        .iter()
        .filter(|(b, _)| meets(b, &bbox))
        .map(|(_, code)| code)
        .collect();
    if hits.len() > GRID_LIMIT {
        return json_text(
            format!(
                r#"{{"type":"FeatureCollection","features":[],"too_many":true,"count":{}}}"#,
                hits.len()
            ),
            "no-store",
        );
    }
    let mut body = String::from(r#"{"type":"FeatureCollection","features":["#);
    for (i, code) in hits.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        if let Some(s) = layers.shapes.get(code) {
            body.push_str(&s.feature);
        }
    }
    body.push_str("]}");
    json_text(body, "private, max-age=60")
}

/// `GET /console/map/region/{code}`: one region's outline as a GeoJSON Feature (with `bbox`),
/// for the small maps of the case and phone pages. Outlines are not confidential, so any
/// signed-in user may ask.
async fn region_feature(
    State(state): State<AppState>,
    _who: ConsoleUser,
    Path(code): Path<String>,
) -> Response {
    let layers = match layers(&state).await {
        Ok(l) => l,
        Err(e) => return json_error(e),
    };
    match layers.shapes.get(&code) {
        Some(s) => {
            let b = s.bbox;
            // Insert the bbox as a foreign member before the closing brace.
            let mut text = s.feature.clone();
            text.pop();
            let _ = write!(text, r#","bbox":[{},{},{},{}]}}"#, b[0], b[1], b[2], b[3]);
            json_text(text, "private, max-age=60")
        }
        None => json_error(ApiError::not_found(
            "region_not_found",
            format!("no current region has code {code}"),
        )),
    }
}

// ---------------------------------------------------------------- cases

/// What the map needs of a case.
#[derive(Debug, Clone)]
struct MapCase {
    id: Uuid,
    lon: f64,
    lat: f64,
    state: String,
    category: String,
    grid: String,
    desc: String,
    /// Whether the case is in a deadline node at all (finished cases are not).
    in_node: bool,
    warn_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
}

impl MapCase {
    fn of(c: CasePoint) -> MapCase {
        MapCase {
            id: c.id,
            lon: c.lon,
            lat: c.lat,
            in_node: c.node.is_some(),
            warn_at: c.warn_at,
            due_at: c.due_at,
            desc: short(&c.description, 60),
            state: c.state,
            category: c.category_code,
            grid: c.grid_code,
        }
    }

    /// The traffic light, as `crate::api::light_of` computes it for the lists.
    fn light(&self, now: DateTime<Utc>) -> Option<&'static str> {
        if !self.in_node {
            return None;
        }
        Some(match (self.warn_at, self.due_at) {
            (_, Some(due)) if due <= now => "red",
            (Some(warn), _) if warn <= now => "yellow",
            (Some(_), Some(_)) => "green",
            _ => "paused",
        })
    }
}

fn short(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        out.push('…');
    }
    out
}

/// The map's filters, as the page and the JSON endpoints take them.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
struct MapFilters {
    #[serde(default)]
    category: Option<String>,
    /// One state, a comma list, `open` (default) or `all`.
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    source: Option<String>,
    /// green, yellow or red
    #[serde(default)]
    light: Option<String>,
    /// First day reported (YYYY-MM-DD, Beijing time).
    #[serde(default)]
    from: Option<String>,
    /// Last day reported, inclusive.
    #[serde(default)]
    to: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl MapFilters {
    /// The store filter for these filters within the user's jurisdiction (the case lists'
    /// rules: a region user sees its subtree, a unit user its unit). The light is applied in
    /// memory, so one snapshot serves all lights.
    fn store_filter(
        &self,
        who: &ConsoleUser,
        cal: &WorkingCalendar,
        now: DateTime<Utc>,
    ) -> Result<CaseFilter, ApiError> {
        let state = match non_empty(&self.state).as_deref() {
            None | Some("open") => Some(OPEN.join(",")),
            Some("all") => None,
            Some(s) => Some(s.to_owned()),
        };
        let from = non_empty(&self.from)
            .map(|d| local_day::parse_day("from", &d).map(|day| local_day::day_start(cal, day)))
            .transpose()?;
        let to = non_empty(&self.to)
            .map(|d| local_day::parse_day("to", &d).map(|day| local_day::day_end(cal, day)))
            .transpose()?;
        let query = CaseQuery {
            state,
            category: non_empty(&self.category),
            source: non_empty(&self.source),
            from,
            to,
            per_page: Some(500),
            ..CaseQuery::default()
        };
        let (mut filter, _, _) = case_filter(&who.user.actor, query, now)?;
        filter.order = CaseOrder::NewestFirst;
        filter.offset = 0;
        Ok(filter)
    }

    fn light(&self) -> Result<Option<&str>, ApiError> {
        match self.light.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(l @ ("green" | "yellow" | "red")) => Ok(Some(l)),
            Some(_) => Err(ApiError::invalid_field(
                "light",
                "light must be green, yellow or red",
            )),
        }
    }
}

struct SnapSlot {
    made: Instant,
    cell: tokio::sync::OnceCell<Arc<Vec<MapCase>>>,
}

/// Recent case snapshots by server and store filter: the newest complete one and, while one is
/// being read, that read. Callers that arrive during a read wait for it instead of starting
/// their own, unless a complete snapshot younger than `SNAPSHOT_STALE` exists: they get that
/// at once while the read finishes in the background.
#[derive(Default)]
struct Snapshots {
    current: HashMap<String, Arc<SnapSlot>>,
    complete: HashMap<String, (Instant, Arc<Vec<MapCase>>)>,
}

static SNAPSHOTS: LazyLock<Mutex<Snapshots>> = LazyLock::new(|| Mutex::new(Snapshots::default()));

/// How old a snapshot may be and still be shown while a newer one is read.
const SNAPSHOT_STALE: Duration = Duration::from_secs(120);

fn snapshot_key(state: &AppState, f: &CaseFilter) -> String {
    // The config's address tells servers of one process apart.
    format!(
        "{:p}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        Arc::as_ptr(&state.config),
        f.region_prefix,
        f.unit,
        f.states,
        f.category,
        f.source,
        f.reported_from,
        f.reported_to,
    )
}

/// The cases for a filter: fresh (read in the last `SNAPSHOT_TTL`), or the last complete read
/// if it is younger than `SNAPSHOT_STALE` while a fresh read runs in the background.
async fn snapshot(state: &AppState, filter: CaseFilter) -> Result<Arc<Vec<MapCase>>, ApiError> {
    let key = snapshot_key(state, &filter);
    let (slot, stale) = {
        let mut snaps = SNAPSHOTS.lock().unwrap_or_else(|p| p.into_inner());
        snaps.current.retain(|_, s| s.made.elapsed() < SNAPSHOT_TTL);
        snaps
            .complete
            .retain(|_, (made, _)| made.elapsed() < SNAPSHOT_STALE);
        let slot = snaps
            .current
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(SnapSlot {
                    made: Instant::now(),
                    cell: tokio::sync::OnceCell::new(),
                })
            })
            .clone();
        let stale = snaps.complete.get(&key).map(|(_, cases)| cases.clone());
        (slot, stale)
    };
    if let Some(cases) = slot.cell.get() {
        return Ok(cases.clone());
    }
    let read = {
        let state = state.clone();
        let slot = slot.clone();
        async move {
            let cases = slot
                .cell
                .get_or_try_init(|| read_cases(&state, filter))
                .await?
                .clone();
            let mut snaps = SNAPSHOTS.lock().unwrap_or_else(|p| p.into_inner());
            let newer = snaps
                .complete
                .get(&key)
                .is_some_and(|(made, _)| *made > slot.made);
            if !newer {
                snaps.complete.insert(key, (slot.made, cases.clone()));
            }
            Ok::<_, ApiError>(cases)
        }
    };
    match stale {
        Some(cases) => {
            tokio::spawn(async move {
                if let Err(e) = read.await {
                    tracing::warn!(error = %e.message, "map: could not refresh cases");
                }
            });
            Ok(cases)
        }
        None => read.await,
    }
}

/// Every case matching the filter, in one unsorted read of the columns the map draws.
async fn read_cases(state: &AppState, filter: CaseFilter) -> Result<Arc<Vec<MapCase>>, ApiError> {
    let points = state.store.case_points(&filter).await?;
    if points.len() > SNAPSHOT_MAX {
        tracing::warn!(
            cases = points.len(),
            "map: more cases than one snapshot holds; drawing the first {SNAPSHOT_MAX}"
        );
    }
    Ok(Arc::new(
        points
            .into_iter()
            .take(SNAPSHOT_MAX)
            .map(MapCase::of)
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
struct CasesQuery {
    bbox: Option<String>,
    /// Text, because numbers do not survive serde's `flatten` in query strings.
    zoom: Option<String>,
    #[serde(flatten)]
    filters: MapFilters,
}

#[derive(Debug, Serialize)]
struct Marker<'a> {
    id: Uuid,
    lon: f64,
    lat: f64,
    state: &'a str,
    light: Option<&'static str>,
    category: &'a str,
    grid: &'a str,
    desc: &'a str,
}

#[derive(Debug, Serialize)]
struct Cluster {
    lon: f64,
    lat: f64,
    count: usize,
    /// The worst light in the cluster: red, yellow, green or null.
    light: Option<&'static str>,
    /// Cases per state.
    states: HashMap<String, usize>,
}

#[derive(Debug, Serialize)]
struct CasesAnswer<'a> {
    /// Cases matching the filters in the whole jurisdiction.
    matching: usize,
    /// Of those, in the box.
    in_view: usize,
    clustered: bool,
    clusters: Vec<Cluster>,
    markers: Vec<Marker<'a>>,
}

fn light_rank(l: Option<&str>) -> u8 {
    match l {
        Some("red") => 3,
        Some("yellow") => 2,
        Some("green") => 1,
        _ => 0,
    }
}

/// Web-Mercator world pixel of a point at a zoom (256-pixel tiles), as Leaflet projects it.
fn world_pixel(lon: f64, lat: f64, zoom: f64) -> (f64, f64) {
    let scale = 256.0 * 2f64.powf(zoom);
    let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
    let x = (lon + 180.0) / 360.0 * scale;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * scale;
    (x, y)
}

/// `GET /console/map/cases?bbox=w,s,e,n&zoom=z&category=&state=&source=&light=&from=&to=`:
/// single markers when few cases are in view, otherwise clusters of screen cells of
/// `CELL_PX` pixels (cells are fixed in world pixels at that zoom, so panning keeps them).
async fn cases_in_box(
    State(state): State<AppState>,
    who: ConsoleUser,
    query: Result<Query<CasesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = may_use_map(&who) {
        return r;
    }
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return json_error(e.into()),
    };
    let now = Utc::now();
    let prepared = (|| -> Result<_, ApiError> {
        let bbox = parse_bbox(q.bbox.as_deref())?;
        let zoom = match q.zoom.as_deref().map(str::trim) {
            None | Some("") => 12.0,
            Some(z) => z.parse::<f64>().unwrap_or(f64::NAN),
        };
        if !(0.0..=22.0).contains(&zoom) {
            return Err(ApiError::invalid_field(
                "zoom",
                "zoom must be between 0 and 22",
            ));
        }
        let light = q.filters.light()?.map(str::to_owned);
        Ok((
            bbox,
            zoom,
            light,
            q.filters.store_filter(&who, &state.calendar(), now)?,
        ))
    })();
    let (bbox, zoom, light, filter) = match prepared {
        Ok(p) => p,
        Err(e) => return json_error(e),
    };
    let cases = match snapshot(&state, filter).await {
        Ok(c) => c,
        Err(e) => return json_error(e),
    };
    let body = cluster(&cases, bbox, zoom, light.as_deref(), now);
    match serde_json::to_string(&body) {
        Ok(text) => json_text(text, "no-store"),
        Err(e) => json_error(ApiError::internal(e)),
    }
}

/// A case in view with its light.
type Lit<'a> = (&'a MapCase, Option<&'static str>);

fn cluster<'a>(
    cases: &'a [MapCase],
    bbox: [f64; 4],
    zoom: f64,
    light: Option<&str>,
    now: DateTime<Utc>,
) -> CasesAnswer<'a> {
    let mut matching = 0;
    let mut in_view: Vec<Lit<'a>> = Vec::new();
    for c in cases {
        let l = c.light(now);
        if light.is_some() && l != light {
            continue;
        }
        matching += 1;
        if c.lon >= bbox[0] && c.lon <= bbox[2] && c.lat >= bbox[1] && c.lat <= bbox[3] {
            in_view.push((c, l));
        }
    }
    let marker = |(c, l): Lit<'a>| Marker {
        id: c.id,
        lon: c.lon,
        lat: c.lat,
        state: &c.state,
        light: l,
        category: &c.category,
        grid: &c.grid,
        desc: &c.desc,
    };
    let count = in_view.len();
    if count <= MARKER_LIMIT || (zoom >= MARKER_ZOOM && count <= MARKER_CAP) {
        return CasesAnswer {
            matching,
            in_view: count,
            clustered: false,
            clusters: Vec::new(),
            markers: in_view.into_iter().map(marker).collect(),
        };
    }
    // Leaflet zooms are fractional only while animating; cells follow the integer zoom.
    let zoom = zoom.floor();
    let mut cells: HashMap<(i64, i64), Vec<Lit<'a>>> = HashMap::new();
    for item in in_view {
        let (x, y) = world_pixel(item.0.lon, item.0.lat, zoom);
        let key = ((x / CELL_PX).floor() as i64, (y / CELL_PX).floor() as i64);
        cells.entry(key).or_default().push(item);
    }
    let mut clusters = Vec::new();
    let mut markers = Vec::new();
    for (_, members) in cells {
        if members.len() == 1 {
            markers.extend(members.into_iter().map(marker));
            continue;
        }
        let n = members.len();
        let (sx, sy) = members
            .iter()
            .fold((0.0, 0.0), |(x, y), (c, _)| (x + c.lon, y + c.lat));
        let mut states: HashMap<String, usize> = HashMap::new();
        let mut worst: Option<&'static str> = None;
        for (c, l) in &members {
            *states.entry(c.state.clone()).or_default() += 1;
            if light_rank(*l) > light_rank(worst) {
                worst = *l;
            }
        }
        clusters.push(Cluster {
            lon: sx / n as f64,
            lat: sy / n as f64,
            count: n,
            light: worst,
            states,
        });
    }
    CasesAnswer {
        matching,
        in_view: count,
        clustered: true,
        clusters,
        markers,
    }
}

// ---------------------------------------------------------------- a grid

#[derive(Debug, Deserialize)]
struct GridQuery {
    code: Option<String>,
    lon: Option<f64>,
    lat: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Worker {
    name: String,
    username: String,
}

#[derive(Debug, Serialize)]
struct GridCase {
    id: Uuid,
    state: String,
    light: Option<&'static str>,
    category: String,
    desc: String,
}

/// `GET /console/map/grid?code=…` or `?lon=…&lat=…`: the grid's code, name and ancestors,
/// its grid workers, its open cases (count and the first 20, soonest due first) and outline.
/// A grid outside the user's region answers 404, as a case there would.
async fn grid_info(
    State(state): State<AppState>,
    who: ConsoleUser,
    query: Result<Query<GridQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = may_use_map(&who) {
        return r;
    }
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return json_error(e.into()),
    };
    match grid_answer(&state, &who, q).await {
        Ok(v) => json_text(v.to_string(), "no-store"),
        Err(e) => json_error(e),
    }
}

async fn grid_answer(
    state: &AppState,
    who: &ConsoleUser,
    q: GridQuery,
) -> Result<serde_json::Value, ApiError> {
    let not_found = || ApiError::not_found("grid_not_found", "no grid of yours there");
    let atlas = state.atlas();
    let code = match (q.code, q.lon, q.lat) {
        (Some(code), _, _) => code,
        (None, Some(lon), Some(lat)) => atlas
            .locate_code(lon, lat)
            .ok_or_else(not_found)?
            .to_owned(),
        _ => {
            return Err(ApiError::invalid_field(
                "code",
                "give a grid code, or lon and lat",
            ));
        }
    };
    let region = atlas.region(&code).ok_or_else(not_found)?;
    if region.level != wangge_domain::region::Level::Grid {
        return Err(not_found());
    }
    if let Some(mine) = &who.user.actor.region
        && !code.starts_with(mine.as_str())
    {
        return Err(not_found());
    }
    let ancestors: Vec<serde_json::Value> = atlas
        .ancestry(&code)
        .into_iter()
        .skip(1)
        .map(|r| serde_json::json!({"code": r.code, "name": r.name, "level": r.level.as_str()}))
        .collect();
    let name = region.name.clone();
    drop(atlas);
    let workers: Vec<Worker> = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.active && u.role == Role::GridWorker.as_str())
        .filter(|u| u.region_code.as_deref() == Some(code.as_str()))
        .map(|u| Worker {
            name: u.display_name,
            username: u.username,
        })
        .collect();
    let now = Utc::now();
    let filter = CaseFilter {
        states: OPEN.iter().map(|s| (*s).to_owned()).collect(),
        region_prefix: Some(code.clone()),
        now: Some(now),
        order: CaseOrder::DueFirst,
        limit: 20,
        offset: 0,
        ..CaseFilter::default()
    };
    let (rows, total) = state.store.list_cases(&filter).await?;
    let cases: Vec<GridCase> = rows
        .into_iter()
        .map(|c| GridCase {
            light: crate::api::light_of(&c, now),
            id: c.id,
            state: c.state,
            category: c.category_code,
            desc: short(&c.description, 40),
        })
        .collect();
    let outline = layers(state)
        .await
        .ok()
        .and_then(|l| l.shapes.get(&code).map(|s| s.feature.clone()))
        .and_then(|f| serde_json::from_str::<serde_json::Value>(&f).ok());
    Ok(serde_json::json!({
        "code": code,
        "name": name,
        "ancestors": ancestors,
        "workers": workers,
        "open_count": total,
        "cases": cases,
        "feature": outline,
    }))
}

// ---------------------------------------------------------------- the page

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    case: Option<String>,
    #[serde(flatten)]
    filters: MapFilters,
}

/// A case the page was asked to show (`?case=`), whatever the filters say.
#[derive(Debug, Serialize)]
struct Focus {
    id: Uuid,
    lon: f64,
    lat: f64,
    state: String,
    light: Option<&'static str>,
    category: String,
    grid: String,
    desc: String,
}

/// The layers if already built, without waiting.
fn layers_ready(state: &AppState) -> Option<Arc<Layers>> {
    let atlas = state.atlas();
    let slots = LAYERS.lock().unwrap_or_else(|p| p.into_inner());
    slots
        .iter()
        .find(|s| s.atlas.upgrade().is_some_and(|a| Arc::ptr_eq(&a, &atlas)))
        .and_then(|s| s.cell.get().cloned())
}

/// The box to open on: the user's region, or the city. Taken from the built layers when they
/// are ready, else from the one stored outline, so a first visit does not wait for the layers.
async fn home_bbox(state: &AppState, who: &ConsoleUser) -> Option<[f64; 4]> {
    let region = who.user.actor.region.clone();
    if let Some(layers) = layers_ready(state) {
        if let Some(s) = region.as_ref().and_then(|c| layers.shapes.get(c)) {
            return Some(s.bbox);
        }
        return layers
            .shapes
            .values()
            .filter(|s| s.level == "district")
            .fold(None, |acc, s| Some(union(acc, s.bbox)));
    }
    let rows: Vec<RegionRow> = match region {
        Some(code) => state
            .store
            .current_region(&code)
            .await
            .ok()?
            .into_iter()
            .collect(),
        None => state.store.current_regions(Some("city"), None).await.ok()?,
    };
    rows.iter()
        .filter_map(|row| crate::atlas::parse_geometry(&row.geometry).ok())
        .filter_map(|g| g.bounding_rect())
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
        .fold(None, |acc, b| Some(union(acc, b)))
}

async fn map_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    who.require(MAP_ROLES)?;
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let now = Utc::now();
    // Start reading this view's cases now, so the browser's request finds them ready.
    if let Ok(filter) = q.filters.store_filter(&who, &state.calendar(), now) {
        let s = state.clone();
        tokio::spawn(async move {
            if let Err(e) = snapshot(&s, filter).await {
                tracing::warn!(error = %e.message, "map: could not read cases ahead");
            }
        });
    }
    if layers_ready(&state).is_none() {
        let s = state.clone();
        tokio::spawn(async move {
            if let Err(e) = layers(&s).await {
                tracing::warn!(error = %e.message, "map: could not build the region layers");
            }
        });
    }
    let bbox = home_bbox(&state, &who).await;
    let mut focus_missing = false;
    let focus = match q.case.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => match Uuid::parse_str(text) {
            Err(_) => {
                focus_missing = true;
                None
            }
            Ok(id) => match crate::cases::readable_case(&state, &who.user.actor, id).await {
                Ok((c, _)) => Some(Focus {
                    light: crate::api::light_of(&c, now),
                    id: c.id,
                    lon: c.lon,
                    lat: c.lat,
                    desc: short(&c.description, 120),
                    state: c.state,
                    category: c.category_code,
                    grid: c.grid_code,
                }),
                Err(_) => {
                    focus_missing = true;
                    None
                }
            },
        },
    };
    let reference = state.reference();
    let config = serde_json::json!({
        "bbox": bbox,
        "focus": focus,
        "tile_url": state.config.map_tile_url,
        "region": who.user.actor.region,
        "filters": q.filters,
    });
    let ctx = context! {
        categories => super::desks::category_groups(&reference),
        open_states => OPEN,
        finished_states => FINISHED,
        sources => wangge_domain::case::Source::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        filters => minijinja::Value::from_serialize(&q.filters),
        map_config => minijinja::Value::from_serialize(&config),
        focus_missing => focus_missing,
    };
    Ok(render(
        "map.html",
        page_context(&state, &who, "/console/map", ctx),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_pixels_match_leaflet() {
        // Leaflet: map.project([0, 0], 0) = (128, 128); the antimeridian is x = 256.
        let (x, y) = world_pixel(0.0, 0.0, 0.0);
        assert!((x - 128.0).abs() < 1e-9 && (y - 128.0).abs() < 1e-9);
        let (x, _) = world_pixel(180.0, 0.0, 1.0);
        assert!((x - 512.0).abs() < 1e-9);
    }

    #[test]
    fn bbox_must_be_four_ordered_numbers() {
        assert!(parse_bbox(Some("1,2,3,4")).is_ok());
        assert!(parse_bbox(Some("3,2,1,4")).is_err());
        assert!(parse_bbox(Some("1,2,3")).is_err());
        assert!(parse_bbox(Some("a,2,3,4")).is_err());
        assert!(parse_bbox(None).is_err());
    }

    fn case(lon: f64, lat: f64, due_in_hours: i64) -> MapCase {
        let now = Utc::now();
        MapCase {
            id: Uuid::now_v7(),
            lon,
            lat,
            state: "reported".into(),
            category: "09009".into(),
            grid: "440303001001001".into(),
            desc: String::new(),
            in_node: true,
            warn_at: Some(now + chrono::Duration::hours(due_in_hours - 1)),
            due_at: Some(now + chrono::Duration::hours(due_in_hours)),
        }
    }

    #[test]
    fn many_cases_cluster_and_few_stay_markers() {
        let now = Utc::now();
        // 1,000 cases in a 0.01° square, one of them overdue, and one lone case far away.
        let mut cases: Vec<MapCase> = (0..1000)
            .map(|i| {
                case(
                    114.0 + (i % 40) as f64 * 0.00025,
                    22.5 + (i / 40) as f64 * 0.0004,
                    48,
                )
            })
            .collect();
        cases[7] = case(114.001, 22.501, -2);
        cases.push(case(114.5, 22.9, 48));
        let all = [113.0, 22.0, 115.0, 23.0];
        let answer = cluster(&cases, all, 12.0, None, now);
        assert!(answer.clustered);
        assert_eq!(answer.in_view, 1001);
        assert_eq!(answer.markers.len(), 1, "the lone case stays a marker");
        let total: usize = answer.clusters.iter().map(|c| c.count).sum();
        assert_eq!(total, 1000);
        assert!(
            answer.clusters.len() <= 4,
            "a 0.01° square is a cell or a few at zoom 12"
        );
        assert!(answer.clusters.iter().any(|c| c.light == Some("red")));
        // Zoomed in to street level, every case is a marker.
        let answer = cluster(&cases, all, 17.0, None, now);
        assert!(!answer.clustered);
        assert_eq!(answer.markers.len(), 1001);
        // The light filter applies before counting.
        let answer = cluster(&cases, all, 12.0, Some("red"), now);
        assert_eq!((answer.matching, answer.markers.len()), (1, 1));
        assert_eq!(answer.markers[0].light, Some("red"));
        // The box narrows what is in view but not what matches.
        let answer = cluster(&cases, [114.4, 22.8, 114.6, 23.0], 12.0, None, now);
        assert_eq!((answer.matching, answer.in_view), (1001, 1));
    }

    #[test]
    fn shortening_marks_the_cut() {
        assert_eq!(short("abc", 5), "abc");
        assert_eq!(short("abcdef", 3), "abc…");
    }
}
