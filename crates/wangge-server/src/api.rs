//! `/api/v1`: the JSON API. Wire types live here, at the edge; handlers translate between them
//! and the domain/store.

use std::str::FromStr;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Json, Router, routing::get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wangge_domain::case::ReportInput;
use wangge_domain::case_loop::{self, LoopError};
use wangge_domain::dispatch::Suggestion;
use wangge_domain::position::Position;
use wangge_domain::region::Level;
use wangge_geo::crs::{self, Crs};
use wangge_store::{CaseEventRow, CaseRow, CategoryRow, RegionRow, Store};

use crate::atlas::{Atlas, RegionInfo};
use crate::auth::CurrentUser;
use crate::cases::{ActError, Cached, IntakeError, readable_case, report_case};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use axum_extra_json::ApiJson;

/// JSON extraction whose rejections use the API's error shape.
mod axum_extra_json {
    use axum::extract::{FromRequest, Request};
    use serde::de::DeserializeOwned;

    use crate::error::ApiError;

    pub struct ApiJson<T>(pub T);

    impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
        type Rejection = ApiError;
        async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
            let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
            Ok(ApiJson(v))
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(crate::registry_api::routes())
        .merge(crate::campaign_api::routes())
        .merge(crate::hotline::api_routes())
        .merge(crate::field_work::api_routes())
        .merge(crate::notices::api_routes())
        .merge(crate::open311::api_routes())
        .route("/locate", get(locate_one).post(locate_many))
        .route("/regions", get(list_regions))
        .route("/regions.geojson", get(regions_geojson))
        .route("/regions/{code}", get(get_region))
        .route("/categories", get(list_categories))
        .route("/cases", get(crate::case_api::list_cases).post(create_case))
        .route("/cases/{id}", get(get_case))
        .route(
            "/cases/{id}/actions",
            axum::routing::post(crate::case_api::case_action),
        )
        .route(
            "/cases/{id}/attachments",
            get(crate::evidence_api::list).post(crate::evidence_api::upload),
        )
        .route(
            "/cases/{id}/attachments/{attachment}",
            get(crate::evidence_api::download),
        )
        .route(
            "/cases/{id}/attachments/{attachment}/thumbnail",
            get(crate::evidence_api::thumbnail),
        )
        .route("/calendar", get(crate::config_api::get_calendar))
        .route(
            "/calendar/days",
            axum::routing::put(crate::config_api::set_calendar_days),
        )
        .route(
            "/categories/{kind}/{code}",
            axum::routing::patch(crate::config_api::change_category),
        )
        .route("/units", get(crate::rules_api::list_units))
        .route(
            "/dispatch-rules",
            get(crate::rules_api::list_dispatch_rules).post(crate::rules_api::create_dispatch_rule),
        )
        .route(
            "/dispatch-rules/{id}",
            axum::routing::delete(crate::rules_api::delete_dispatch_rule),
        )
        .route("/auth/login", axum::routing::post(crate::auth::login))
        .route("/auth/logout", axum::routing::post(crate::auth::logout))
        .route("/auth/me", get(crate::auth::whoami))
        .route("/stats/{what}", get(crate::stats::stats))
}

// ---------------------------------------------------------------- locate

#[derive(Debug, Deserialize, IntoParams)]
pub struct LocateQuery {
    /// Longitude.
    lon: f64,
    /// Latitude.
    lat: f64,
    /// Coordinate system of the input: wgs84 (default), gcj02 or bd09.
    crs: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionRef {
    code: String,
    name: String,
    level: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocateAnswer {
    /// The point in WGS-84.
    lon: f64,
    lat: f64,
    grid: RegionRef,
    /// The grid's ancestors, nearest first: community, street, district, city.
    ancestors: Vec<RegionRef>,
}

fn region_ref(r: &RegionInfo) -> RegionRef {
    RegionRef {
        code: r.code.clone(),
        name: r.name.clone(),
        level: r.level.as_str().into(),
    }
}

fn parse_crs(name: Option<&str>) -> ApiResult<Crs> {
    match name {
        None => Ok(Crs::Wgs84),
        Some(n) => n.parse().map_err(|_| {
            ApiError::invalid_field(
                "crs",
                format!("unknown coordinate system '{n}': expected wgs84, gcj02 or bd09"),
            )
        }),
    }
}

fn outside(lon: f64, lat: f64) -> ApiError {
    ApiError::not_found(
        "outside_jurisdiction",
        format!("the point ({lon}, {lat}) lies outside every unit grid of this jurisdiction"),
    )
}

/// Finds the unit grid containing a point, with all its ancestors.
#[utoipa::path(get, path = "/api/v1/locate", params(LocateQuery),
    responses((status = 200, body = LocateAnswer), (status = 404, description = "outside_jurisdiction", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn locate_one(
    State(state): State<AppState>,
    query: Result<Query<LocateQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<LocateAnswer>> {
    let Query(q) = query?;
    let crs = parse_crs(q.crs.as_deref())?;
    let p = Position::new(q.lon, q.lat)
        .map_err(|e| ApiError::invalid_field("lon/lat", e.to_string()))?;
    let (lon, lat) = crs::to_wgs84(crs, p.lon(), p.lat());
    let atlas = state.atlas();
    let located = atlas.locate(lon, lat).ok_or_else(|| outside(lon, lat))?;
    let mut chain = located.chain.iter().map(|r| region_ref(r));
    let grid = chain.next().ok_or_else(|| outside(lon, lat))?;
    Ok(Json(LocateAnswer {
        lon,
        lat,
        grid,
        ancestors: chain.collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LocatePoint {
    /// The caller's own id for the point, echoed back.
    #[schema(value_type = Object)]
    id: Value,
    lon: Option<f64>,
    lat: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocatedPoint {
    #[schema(value_type = Object)]
    id: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    grid_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    community_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    street_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    district_code: Option<String>,
    /// Why the point has no grid: a bad coordinate, or outside_jurisdiction.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn locate_point(atlas: &Atlas, p: LocatePoint) -> LocatedPoint {
    let mut out = LocatedPoint {
        id: p.id,
        grid_code: None,
        community_code: None,
        street_code: None,
        district_code: None,
        error: None,
    };
    let (Some(lon), Some(lat)) = (p.lon, p.lat) else {
        out.error = Some("lon and lat are required".into());
        return out;
    };
    if let Err(e) = Position::new(lon, lat) {
        out.error = Some(e.to_string());
        return out;
    }
    match atlas.locate(lon, lat) {
        None => out.error = Some("outside_jurisdiction".into()),
        Some(l) => {
            let code = |level| l.at(level).map(|r| r.code.clone());
            out.grid_code = code(Level::Grid);
            out.community_code = code(Level::Community);
            out.street_code = code(Level::Street);
            out.district_code = code(Level::District);
        }
    }
    out
}

/// Locates many points (WGS-84) at once; answers in input order. A bad point gets an `error`
/// and never fails the batch.
#[utoipa::path(post, path = "/api/v1/locate", request_body = Vec<LocatePoint>,
    responses((status = 200, body = Vec<LocatedPoint>), (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn locate_many(
    State(state): State<AppState>,
    ApiJson(points): ApiJson<Vec<LocatePoint>>,
) -> ApiResult<Json<Vec<LocatedPoint>>> {
    let max = state.config.max_locate_points;
    if points.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_points",
            format!("{} points sent; at most {max} per request", points.len()),
        ));
    }
    let atlas = state.atlas();
    let out = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        points
            .into_par_iter()
            .map(|p| locate_point(&atlas, p))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(Json(out))
}

// ---------------------------------------------------------------- regions

#[derive(Debug, Deserialize, IntoParams)]
pub struct RegionQuery {
    /// city, district, street, community or grid
    level: Option<String>,
    /// Only children of this region code.
    parent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionSummary {
    code: String,
    name: String,
    level: String,
    parent_code: Option<String>,
    area_class: String,
    area_m2: f64,
    valid_from: DateTime<Utc>,
    valid_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDetail {
    #[serde(flatten)]
    summary: RegionSummary,
    /// GeoJSON geometry in WGS-84.
    #[schema(value_type = Object)]
    geometry: Value,
    ancestors: Vec<RegionRef>,
    children: usize,
    /// Earlier versions (re-cuts) of this region, newest first.
    history: Vec<RegionSummary>,
}

fn summary(r: &RegionRow) -> RegionSummary {
    RegionSummary {
        code: r.code.clone(),
        name: r.name.clone(),
        level: r.level.clone(),
        parent_code: r.parent_code.clone(),
        area_class: r.area_class.clone(),
        area_m2: r.area_m2,
        valid_from: r.valid_from,
        valid_to: r.valid_to,
    }
}

fn check_level(level: Option<&str>) -> ApiResult<()> {
    if let Some(l) = level {
        Level::from_str(l).map_err(|e| ApiError::invalid_field("level", e.to_string()))?;
    }
    Ok(())
}

/// Lists current regions, by level and/or parent (no geometries).
#[utoipa::path(get, path = "/api/v1/regions", params(RegionQuery), responses((status = 200, body = Vec<RegionSummary>)))]
async fn list_regions(
    State(state): State<AppState>,
    query: Result<Query<RegionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<RegionSummary>>> {
    let Query(q) = query?;
    check_level(q.level.as_deref())?;
    let rows = state
        .store
        .current_regions(q.level.as_deref(), q.parent.as_deref())
        .await?;
    Ok(Json(rows.iter().map(summary).collect()))
}

/// One region with its geometry, ancestors and history.
#[utoipa::path(get, path = "/api/v1/regions/{code}", params(("code" = String, Path)),
    responses((status = 200, body = RegionDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_region(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<RegionDetail>> {
    let row = state.store.current_region(&code).await?.ok_or_else(|| {
        ApiError::not_found(
            "region_not_found",
            format!("no current region has code '{code}'"),
        )
    })?;
    let geometry: Value = serde_json::from_str(&row.geometry).map_err(ApiError::internal)?;
    let atlas = state.atlas();
    let ancestors = atlas
        .ancestry(&code)
        .into_iter()
        .skip(1)
        .map(region_ref)
        .collect();
    let children = state.store.current_regions(None, Some(&code)).await?.len();
    let mut history: Vec<RegionSummary> = state
        .store
        .region_history(&code)
        .await?
        .iter()
        .filter(|r| r.valid_to.is_some())
        .map(summary)
        .collect();
    history.reverse();
    Ok(Json(RegionDetail {
        summary: summary(&row),
        geometry,
        ancestors,
        children,
        history,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct GeoJsonQuery {
    /// Only this level (default: every level).
    level: Option<String>,
    parent: Option<String>,
}

/// The current regions as a GeoJSON FeatureCollection (WGS-84).
#[utoipa::path(get, path = "/api/v1/regions.geojson", params(GeoJsonQuery), responses((status = 200, content_type = "application/geo+json", body = Object)))]
async fn regions_geojson(
    State(state): State<AppState>,
    query: Result<Query<GeoJsonQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<impl IntoResponse> {
    let Query(q) = query?;
    check_level(q.level.as_deref())?;
    let rows = state
        .store
        .current_regions(q.level.as_deref(), q.parent.as_deref())
        .await?;
    // Geometries are stored as GeoJSON already: splice them in rather than re-parse 18,000 polygons.
    let mut body = String::with_capacity(rows.iter().map(|r| r.geometry.len() + 200).sum());
    body.push_str(r#"{"type":"FeatureCollection","features":["#);
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let props = serde_json::json!({
            "code": r.code, "name": r.name, "level": r.level,
            "parent_code": r.parent_code, "area_class": r.area_class, "area_m2": r.area_m2,
        });
        body.push_str(r#"{"type":"Feature","properties":"#);
        body.push_str(&props.to_string());
        body.push_str(r#","geometry":"#);
        body.push_str(&r.geometry);
        body.push('}');
    }
    body.push_str("]}");
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body))
}

// ---------------------------------------------------------------- categories

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    kind: String,
    code: String,
    class_code: String,
    class_name: String,
    name: String,
    /// 立案条件
    registration_standard: String,
    /// 结案条件
    closing_standard: String,
    deadline: DeadlineView,
    active: bool,
    /// Checked cases close without the shift leader.
    auto_close: bool,
    /// This category's own node limits (confirm, register, dispatch, check, close) and the
    /// handling limit of urgent cases ("urgent"), each {"amount", "type"}.
    #[schema(value_type = Object)]
    node_limits: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineView {
    amount: i64,
    /// urgent_hours, working_hours, working_days or natural_days
    #[serde(rename = "type")]
    kind: String,
}

pub(crate) fn category_view(c: CategoryRow) -> CategoryView {
    CategoryView {
        deadline: DeadlineView {
            amount: c.deadline_amount,
            kind: c.deadline_type,
        },
        kind: c.kind,
        code: c.code,
        class_code: c.class_code,
        class_name: c.class_name,
        name: c.name,
        registration_standard: c.registration_standard,
        closing_standard: c.closing_standard,
        active: c.active,
        auto_close: c.auto_close,
        node_limits: serde_json::from_str(&c.node_limits)
            .unwrap_or(Value::Object(Default::default())),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CategoryQuery {
    /// component or matter
    kind: Option<String>,
}

/// The case category catalogue (GB/T 47678.5-2026 by default).
#[utoipa::path(get, path = "/api/v1/categories", params(CategoryQuery), responses((status = 200, body = Vec<CategoryView>)))]
async fn list_categories(
    State(state): State<AppState>,
    query: Result<Query<CategoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<CategoryView>>> {
    let Query(q) = query?;
    let rows = state.store.categories().await?;
    Ok(Json(
        rows.into_iter()
            .filter(|c| q.kind.as_deref().is_none_or(|k| k == c.kind))
            .map(category_view)
            .collect(),
    ))
}

// ---------------------------------------------------------------- cases

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCase {
    /// 5-digit matter code from the catalogue, e.g. "06001".
    category: String,
    description: String,
    lon: Option<f64>,
    lat: Option<f64>,
    /// wgs84 (default), gcj02 or bd09; converted to WGS-84 on entry.
    crs: Option<String>,
    /// patrol, hotline_12345, hotline_96181, video, app, open311, department, leader or media
    source: String,
    /// The source's own ticket id (e.g. the 12345 work order number).
    external_id: Option<String>,
    address: Option<String>,
    /// 紧急: handled against the category's urgent limit.
    #[serde(default)]
    urgent: bool,
    /// The registered city component the case is about (17 or 16 digits); its responsible unit
    /// is what the dispatch rules for components match.
    component_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    id: Uuid,
    district_code: String,
    category: Option<CategoryView>,
    description: String,
    address: Option<String>,
    lon: f64,
    lat: f64,
    grid: RegionRef,
    community: Option<RegionRef>,
    street: Option<RegionRef>,
    source: String,
    external_id: Option<String>,
    state: String,
    version: i64,
    reported_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// 紧急: the handling clock uses the category's urgent limit.
    urgent: bool,
    /// The level holding the case: grid, community, street or district.
    level: String,
    unit_code: Option<String>,
    suspended: bool,
    returns: u32,
    reworks: u32,
    /// An open consultation (会商) and the level that holds it.
    consultation: Option<String>,
    /// Units whistled in (吹哨报到) and how far each has got.
    parts: Vec<PartView>,
    pending_extension: Option<u32>,
    extension_granted: u32,
    solved_level: Option<String>,
    merged_into: Option<Uuid>,
    /// For a merged case: the state of the case it was merged into, which is this report's
    /// outcome too (its reporter is told from here).
    surviving_state: Option<String>,
    clock: Option<ClockView>,
    /// The unit the dispatch rules suggest, when the case waits for dispatch.
    suggested_unit: Option<String>,
    /// The city component the case is about.
    component_code: Option<String>,
    /// What the caller may do to the case now.
    allowed_actions: Vec<String>,
    /// Photos: before (report), after (handling), at the check (verification).
    attachments: Vec<crate::evidence_api::AttachmentView>,
    /// Open cases of the same subcategory close by and shortly before: possible duplicates,
    /// shown while the case waits for registration.
    duplicate_candidates: Vec<DuplicateView>,
    timeline: Vec<EventView>,
}

impl CaseView {
    /// What the viewer may do to the case now.
    pub fn allowed_actions(&self) -> &[String] {
        &self.allowed_actions
    }

    pub fn district_code(&self) -> &str {
        &self.district_code
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateView {
    id: Uuid,
    distance_m: f64,
    state: String,
    source: String,
    reported_at: DateTime<Utc>,
    description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartView {
    unit: String,
    joined: bool,
    done: bool,
    /// When the unit had to report (报到) by.
    join_due_at: Option<DateTime<Utc>>,
    joined_at: Option<DateTime<Utc>>,
    done_at: Option<DateTime<Utc>>,
    /// Joined after the deadline, or not yet joined and past it.
    late: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    /// confirm, register, dispatch, handle, check or close
    node: String,
    started_at: DateTime<Utc>,
    /// Null while the clock is stopped (suspended).
    warn_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    /// green, yellow, red — or paused while suspended
    light: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    seq: i64,
    action: String,
    actor: String,
    role: Option<String>,
    at: DateTime<Utc>,
    from: Option<String>,
    to: String,
    #[schema(value_type = Object)]
    payload: Value,
}

fn event_view(e: CaseEventRow) -> EventView {
    EventView {
        seq: e.seq,
        action: e.action,
        actor: e.actor,
        role: e.role,
        at: e.at,
        from: e.from_state,
        to: e.to_state,
        payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
    }
}

/// Whistle parts with their times, read off the timeline: the whistle sets the joining
/// deadline, each unit's join and report_part events its times.
fn part_views(
    st: &case_loop::CaseStatus,
    events: &[CaseEventRow],
    now: DateTime<Utc>,
) -> Vec<PartView> {
    let payload =
        |e: &CaseEventRow| serde_json::from_str::<Value>(&e.payload).unwrap_or(Value::Null);
    let join_due_at = events
        .iter()
        .rev()
        .find(|e| e.action == "whistle")
        .and_then(|e| {
            let hours = payload(e)["join_hours"].as_i64()?;
            Some(e.at + chrono::Duration::hours(hours))
        });
    let time_of = |action: &str, unit: &str| {
        events
            .iter()
            .find(|e| e.action == action && payload(e)["actor_unit"].as_str() == Some(unit))
            .map(|e| e.at)
    };
    st.parts
        .iter()
        .map(|p| {
            let joined_at = time_of("join", &p.unit);
            let late = join_due_at.is_some_and(|due| joined_at.unwrap_or(now) > due);
            PartView {
                unit: p.unit.clone(),
                joined: p.joined,
                done: p.done,
                join_due_at,
                joined_at,
                done_at: time_of("report_part", &p.unit),
                late,
            }
        })
        .collect()
}

pub(crate) fn light_of(c: &CaseRow, now: DateTime<Utc>) -> Option<&'static str> {
    c.node.as_ref()?;
    Some(match (c.warn_at, c.due_at) {
        (_, Some(due)) if due <= now => "red",
        (Some(warn), _) if warn <= now => "yellow",
        (Some(_), Some(_)) => "green",
        _ => "paused",
    })
}

pub(crate) async fn case_view(
    state: &AppState,
    user: &CurrentUser,
    c: CaseRow,
) -> ApiResult<CaseView> {
    let events = match state.cases.events(c.id, c.version) {
        Some(events) => events,
        None => {
            let events = state.store.case_events(&c.district_code, c.id).await?;
            if events.len() as i64 == c.version {
                state.cases.put(c.clone(), Some(events.clone()));
            }
            events
        }
    };
    let cached = Cached::of(&c)?;
    let st = &cached.status;
    let now = Utc::now();
    let clock = c
        .node
        .clone()
        .zip(c.node_started_at)
        .map(|(node, started_at)| ClockView {
            node,
            started_at,
            warn_at: c.warn_at,
            due_at: c.due_at,
            light: light_of(&c, now).unwrap_or("paused").into(),
        });
    let waiting_for_dispatch = matches!(c.state.as_str(), "registered" | "returned");
    let suggested_unit = if waiting_for_dispatch {
        match crate::cases::suggestion(state, &c) {
            Suggestion::One { unit, .. } => Some(unit),
            _ => None,
        }
    } else {
        None
    };
    // Duplicates matter while the receiver decides whether to register.
    let duplicate_candidates = if c.state == "reported" {
        crate::cases::duplicate_candidates(state, &c)
            .await?
            .into_iter()
            .map(|(d, distance_m)| DuplicateView {
                id: d.id,
                distance_m: (distance_m * 10.0).round() / 10.0,
                state: d.state,
                source: d.source,
                reported_at: d.reported_at,
                description: d.description,
            })
            .collect()
    } else {
        Vec::new()
    };
    // Every attachment has an attach event, so a timeline without one needs no lookup.
    let attachments = if events.iter().any(|e| e.action == "attach") {
        state
            .store
            .attachments(&c.district_code, c.id)
            .await?
            .into_iter()
            .map(crate::evidence_api::attachment_view)
            .collect()
    } else {
        Vec::new()
    };
    let surviving_state = match st.merged_into {
        Some(survivor) => state.store.case(survivor).await?.map(|s| s.state),
        None => None,
    };
    let allowed_actions = case_loop::allowed_actions(st, &user.actor)
        .into_iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    let category = state
        .reference()
        .category(&c.category_kind, &c.category_code)
        .cloned()
        .map(category_view);
    let atlas = state.atlas();
    // The case keeps the grid it was reported in, even if the grid was re-cut since.
    let name_of = |code: &str, level: Level| RegionRef {
        code: code.to_owned(),
        name: atlas
            .region(code)
            .map(|r| r.name.clone())
            .unwrap_or_default(),
        level: level.as_str().into(),
    };
    Ok(CaseView {
        id: c.id,
        grid: name_of(&c.grid_code, Level::Grid),
        community: Some(name_of(&c.community_code, Level::Community)),
        street: Some(name_of(&c.street_code, Level::Street)),
        district_code: c.district_code,
        category,
        description: c.description,
        address: c.address,
        lon: c.lon,
        lat: c.lat,
        source: c.source,
        external_id: c.external_id,
        state: c.state,
        version: c.version,
        reported_at: c.reported_at,
        updated_at: c.updated_at,
        urgent: c.urgent,
        level: st.level.as_str().into(),
        unit_code: st.unit.clone(),
        suspended: st.suspended,
        returns: st.returns,
        reworks: st.reworks,
        consultation: st.consultation.map(|l| l.as_str().to_owned()),
        parts: part_views(st, &events, now),
        pending_extension: st.pending_extension,
        extension_granted: st.extension_granted,
        solved_level: st.solved_level.map(|l| l.as_str().to_owned()),
        merged_into: st.merged_into,
        surviving_state,
        clock,
        suggested_unit,
        component_code: c.component_code.clone(),
        allowed_actions,
        attachments,
        duplicate_candidates,
        timeline: events.into_iter().map(event_view).collect(),
    })
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Invalid(ref ce) => {
                ApiError::invalid_field(ce.field().unwrap_or("body"), e.to_string())
            }
            IntakeError::UnknownComponent(_) | IntakeError::ComponentCategory { .. } => {
                ApiError::invalid_field("component_code", e.to_string())
            }
            IntakeError::UnknownCategory(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_category",
                e.to_string(),
            )
            .with_details(serde_json::json!({"field": "category"})),
            IntakeError::OutsideJurisdiction { lon, lat } => outside(lon, lat),
            IntakeError::UnknownCrs(_) => ApiError::invalid_field("crs", e.to_string()),
            IntakeError::OutsideYourArea { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "outside_your_area", e.to_string())
            }
            IntakeError::MayNotReport(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden_action", e.to_string())
            }
            IntakeError::Store(s) => s.into(),
        }
    }
}

fn names(list: &[case_loop::ActionName]) -> Vec<&'static str> {
    list.iter().map(|a| a.as_str()).collect()
}

impl From<ActError> for ApiError {
    fn from(e: ActError) -> Self {
        let message = e.to_string();
        match e {
            ActError::NotFound(_) => ApiError::not_found("case_not_found", message),
            ActError::Loop(LoopError::NotAllowedInState { state, suspended, allowed, .. }) => {
                ApiError::new(StatusCode::CONFLICT, "illegal_transition", message).with_details(
                    serde_json::json!({ "state": state.as_str(), "suspended": suspended, "allowed": names(&allowed) }),
                )
            }
            ActError::Loop(LoopError::Forbidden { role, allowed, .. }) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden_action", message)
                    .with_details(serde_json::json!({ "role": role.as_str(), "allowed": names(&allowed) }))
            }
            ActError::Loop(LoopError::OutOfScope) => ApiError::not_found("case_not_found", message),
            ActError::Loop(LoopError::Invalid { field, message }) => {
                ApiError::invalid_field(field, format!("{field}: {message}"))
            }
            ActError::Loop(LoopError::PartsOutstanding { units }) => {
                ApiError::new(StatusCode::CONFLICT, "parts_outstanding", message)
                    .with_details(serde_json::json!({ "units": units }))
            }
            ActError::Stale { current, .. } => {
                ApiError::new(StatusCode::CONFLICT, "version_conflict", message)
                    .with_details(serde_json::json!({ "current_version": current }))
            }
            ActError::UnknownUnit(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_unit", message)
                .with_details(serde_json::json!({ "field": "unit" })),
            ActError::InactiveUnit(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "inactive_unit", message)
                .with_details(serde_json::json!({ "field": "unit" })),
            ActError::BadMerge(_) => ApiError::invalid_field("into", message),
            ActError::Store(s) => s.into(),
            ActError::Retry => ApiError::internal(message),
        }
    }
}

/// Reports a new case; its grid and ancestors are resolved from the location.
#[utoipa::path(post, path = "/api/v1/cases", request_body = NewCase,
    responses((status = 201, body = CaseView), (status = 404, description = "outside_jurisdiction", body = crate::error::ErrorBody),
              (status = 409, description = "the source's ticket id exists already", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
async fn create_case(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<NewCase>,
) -> ApiResult<(StatusCode, Json<CaseView>)> {
    let input = ReportInput {
        category: body.category,
        description: body.description,
        lon: body.lon,
        lat: body.lat,
        source: body.source,
        external_id: body.external_id,
        address: body.address,
        component_code: body.component_code,
    };
    let case = report_case(&state, input, body.crs.as_deref(), body.urgent, &user.actor).await?;
    Ok((
        StatusCode::CREATED,
        Json(case_view(&state, &user, case).await?),
    ))
}

/// A case with its whole timeline.
#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, body = CaseView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_case(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseView>> {
    let id = parse_case_id(&id)?;
    let (case, _) = readable_case(&state, &user.actor, id).await?;
    Ok(Json(case_view(&state, &user, case).await?))
}

pub(crate) fn parse_case_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::not_found("case_not_found", format!("'{id}' is not a case id")))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "wangge API",
        description = "Grid-based city governance (网格化管理): regions, point lookup, cases."
    ),
    paths(
        locate_one, locate_many, list_regions, get_region, regions_geojson, list_categories,
        create_case, get_case, crate::case_api::case_action, crate::case_api::list_cases,
        crate::rules_api::list_units, crate::rules_api::list_dispatch_rules,
        crate::rules_api::create_dispatch_rule, crate::rules_api::delete_dispatch_rule,
        crate::auth::login, crate::auth::logout, crate::auth::whoami,
        crate::evidence_api::upload, crate::evidence_api::list, crate::evidence_api::download,
        crate::evidence_api::thumbnail, crate::config_api::get_calendar,
        crate::config_api::set_calendar_days, crate::config_api::change_category,
        crate::stats::stats,
        crate::registry_api::list_houses, crate::registry_api::get_house,
        crate::registry_api::create_house, crate::registry_api::update_house,
        crate::registry_api::list_people, crate::registry_api::get_person,
        crate::registry_api::create_person, crate::registry_api::update_person,
        crate::registry_api::list_residences, crate::registry_api::move_in,
        crate::registry_api::move_out, crate::registry_api::anonymise,
        crate::registry_api::list_organisations, crate::registry_api::get_organisation,
        crate::registry_api::create_organisation, crate::registry_api::update_organisation,
        crate::registry_api::list_components, crate::registry_api::get_component,
        crate::registry_api::create_component, crate::registry_api::update_component,
        crate::registry_api::record_versions, crate::registry_api::list_changes,
        crate::registry_api::get_change, crate::registry_api::review_change,
        crate::registry_api::access_log, crate::registry_api::import,
        crate::registry_api::start_import_job, crate::registry_api::import_job,
        crate::match_api::match_addresses,
        crate::campaign_api::create_campaign, crate::campaign_api::import_campaign,
        crate::campaign_api::list_campaigns, crate::campaign_api::get_campaign,
        crate::campaign_api::campaign_progress, crate::campaign_api::list_records,
        crate::campaign_api::get_record, crate::campaign_api::record_photo,
        crate::campaign_api::list_tasks, crate::campaign_api::task_records,
        crate::campaign_api::record_result, crate::campaign_api::queue,
        crate::campaign_api::manual_match, crate::campaign_api::set_status
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
