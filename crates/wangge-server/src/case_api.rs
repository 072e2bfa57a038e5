//! `/api/v1/cases` desk work: commands on a case and scoped, filtered case lists.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wangge_domain::case::CaseState;
use wangge_domain::case_loop::{Action, ActionName, Actor};
use wangge_domain::role::Role;
use wangge_store::{CaseFilter, CaseOrder, Light, Store};

use crate::api::{ApiJson, CaseView, case_view, light_of, parse_case_id};
use crate::auth::CurrentUser;
use crate::cases::act;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The version the client acted on, from the body's `version` or an `If-Match` header.
fn acted_on_version(
    body: &mut serde_json::Map<String, Value>,
    headers: &axum::http::HeaderMap,
) -> ApiResult<i64> {
    let from_body = body.remove("version");
    let from_header = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        });
    match (from_body, from_header) {
        (Some(v), _) => v
            .as_i64()
            .ok_or_else(|| ApiError::invalid_field("version", "version must be an integer")),
        (None, Some(h)) => h.parse::<i64>().map_err(|_| {
            ApiError::invalid_field("version", "If-Match must carry the case's version number")
        }),
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "version_required",
            "send the version you acted on, as \"version\" in the body or an If-Match header",
        )),
    }
}

/// A command on a case: `{"action": "<name>", "version": <n>, …fields}`. The version may come as
/// an `If-Match` header instead; of two commands on the same version only the first succeeds.
#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", params(("id" = Uuid, Path)), request_body = Object,
    responses((status = 200, body = CaseView),
              (status = 403, description = "forbidden_action", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "illegal_transition, version_conflict or parts_outstanding", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 428, description = "version_required", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn case_action(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Json<CaseView>> {
    let id = parse_case_id(&id)?;
    let map = body.as_object_mut().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_action",
            "the body must be a JSON object",
        )
    })?;
    let version = acted_on_version(map, &headers)?;
    let action: Action = serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_action",
            format!("the command is not valid: {e}"),
        )
        .with_details(serde_json::json!({
            "actions": ActionName::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>()
        }))
    })?;
    let case = act(&state, &user.actor, id, version, action).await?;
    Ok(Json(case_view(&state, &user, case).await?))
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
pub struct CaseQuery {
    /// Comma-separated states.
    pub state: Option<String>,
    pub category: Option<String>,
    /// A region code: cases in it and below.
    pub region: Option<String>,
    /// Cases dispatched to (or whistling in) this unit.
    pub unit: Option<String>,
    pub source: Option<String>,
    /// green, yellow or red
    pub light: Option<String>,
    /// The deadline node: confirm and check are grid workers' tasks (核实 / 核查).
    pub node: Option<String>,
    /// Reported at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Reported before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// true: only cases with an extension request waiting for the dispatcher.
    pub pending_extension: Option<bool>,
    /// newest (default), oldest or due
    pub order: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    id: Uuid,
    district_code: String,
    category_code: String,
    description: String,
    lon: f64,
    lat: f64,
    grid_code: String,
    source: String,
    external_id: Option<String>,
    state: String,
    version: i64,
    level: String,
    unit_code: Option<String>,
    suspended: bool,
    node: Option<String>,
    due_at: Option<DateTime<Utc>>,
    /// green, yellow, red, or paused while suspended; null once finished.
    light: Option<String>,
    reported_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CasePage {
    total: i64,
    page: i64,
    per_page: i64,
    items: Vec<CaseSummary>,
}

/// Never matches a code, so a query outside the caller's jurisdiction finds nothing.
const NOTHING: &str = "\u{0}";

/// The store filter for a case query, narrowed to what `actor` may see: a user with a region sees
/// that region and below, a unit user its own unit's cases. Answers the filter, page and page size.
pub fn case_filter(
    actor: &Actor,
    q: CaseQuery,
    now: DateTime<Utc>,
) -> ApiResult<(CaseFilter, i64, i64)> {
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=500).contains(&per_page) {
        return Err(ApiError::invalid_field(
            "per_page",
            "per_page must be between 1 and 500",
        ));
    }
    let page = q.page.unwrap_or(1).max(1);
    let states: Vec<String> = q
        .state
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for s in &states {
        s.parse::<CaseState>()
            .map_err(|e| ApiError::invalid_field("state", e.to_string()))?;
    }
    let light = match q.light.as_deref() {
        None => None,
        Some("green") => Some(Light::Green),
        Some("yellow") => Some(Light::Yellow),
        Some("red") => Some(Light::Red),
        Some(other) => {
            return Err(ApiError::invalid_field(
                "light",
                format!("unknown light '{other}': expected green, yellow or red"),
            ));
        }
    };
    const NODES: &[&str] = &[
        "confirm", "register", "dispatch", "handle", "check", "close",
    ];
    if let Some(n) = &q.node
        && !NODES.contains(&n.as_str())
    {
        return Err(ApiError::invalid_field(
            "node",
            format!("unknown node '{n}': expected one of {}", NODES.join(", ")),
        ));
    }
    let order = match q.order.as_deref() {
        None | Some("newest") => CaseOrder::NewestFirst,
        Some("oldest") => CaseOrder::OldestFirst,
        Some("due") => CaseOrder::DueFirst,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "order",
                format!("unknown order '{other}': expected newest, oldest or due"),
            ));
        }
    };
    // Region codes are digits; anything else would act as a LIKE wildcard.
    if let Some(r) = &q.region
        && (r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::invalid_field(
            "region",
            "region must be a region code (digits only)",
        ));
    }
    // The caller's jurisdiction narrows every query.
    let region_prefix = match (&actor.region, q.region) {
        (Some(mine), Some(asked)) if asked.starts_with(mine.as_str()) => Some(asked),
        (Some(mine), Some(asked)) if mine.starts_with(asked.as_str()) => Some(mine.clone()),
        (Some(_), Some(_)) => Some(NOTHING.to_owned()),
        (Some(mine), None) => Some(mine.clone()),
        (None, asked) => asked,
    };
    let unit = if actor.role == Role::UnitUser {
        Some(actor.unit.clone().unwrap_or_else(|| NOTHING.to_owned()))
    } else {
        q.unit
    };
    let filter = CaseFilter {
        states,
        category: q.category,
        region_prefix,
        unit,
        source: q.source,
        reported_from: q.from,
        reported_to: q.to,
        light,
        node: q.node,
        pending_extension: q.pending_extension.unwrap_or(false),
        reported_by: None,
        now: Some(now),
        order,
        limit: per_page,
        offset: (page - 1) * per_page,
    };
    Ok((filter, page, per_page))
}

/// Cases the caller may see, filtered and paged.
#[utoipa::path(get, path = "/api/v1/cases", params(CaseQuery),
    responses((status = 200, body = CasePage), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list_cases(
    State(state): State<AppState>,
    user: CurrentUser,
    query: Result<Query<CaseQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<CasePage>> {
    let Query(q) = query?;
    let now = Utc::now();
    let (filter, page, per_page) = case_filter(&user.actor, q, now)?;
    let (rows, total) = state.store.list_cases(&filter).await?;
    let items = rows
        .into_iter()
        .map(|c| CaseSummary {
            light: light_of(&c, now).map(str::to_owned),
            id: c.id,
            district_code: c.district_code,
            category_code: c.category_code,
            description: c.description,
            lon: c.lon,
            lat: c.lat,
            grid_code: c.grid_code,
            source: c.source,
            external_id: c.external_id,
            state: c.state,
            version: c.version,
            level: c.level,
            unit_code: c.unit_code,
            suspended: c.suspended,
            node: c.node,
            due_at: c.due_at,
            reported_at: c.reported_at,
        })
        .collect();
    Ok(Json(CasePage {
        total,
        page,
        per_page,
        items,
    }))
}
