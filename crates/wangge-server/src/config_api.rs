//! Administration of what deadlines count on: the working calendar (holidays and make-up days)
//! and each category's handling deadline, standards and automation.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wangge_domain::calendar::{CalendarError, parse_special_days};
use wangge_domain::category::DeadlineType;
use wangge_domain::role::Role;
use wangge_store::Store;

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn admin_only(user: &CurrentUser) -> ApiResult<()> {
    if user.actor.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an administrator may change this",
        ))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct YearQuery {
    /// The year to show (default: this year).
    year: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarView {
    year: i32,
    /// Working periods of a working day, local time, e.g. ["09:00", "12:00"].
    periods: Vec<[String; 2]>,
    utc_offset: String,
    /// Holidays and make-up working days of the year.
    days: Vec<DayView>,
    working_days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    date: NaiveDate,
    /// holiday or workday
    kind: String,
}

/// The working calendar of a year.
#[utoipa::path(get, path = "/api/v1/calendar", params(YearQuery), responses((status = 200, body = CalendarView)), security(("bearer" = [])))]
pub async fn get_calendar(
    State(state): State<AppState>,
    _user: CurrentUser,
    query: Result<Query<YearQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<CalendarView>> {
    let Query(q) = query?;
    let year = q.year.unwrap_or_else(|| chrono::Utc::now().year());
    let cal = state.calendar();
    let first = NaiveDate::from_ymd_opt(year, 1, 1)
        .ok_or_else(|| ApiError::invalid_field("year", "not a year the calendar can show"))?;
    let working_days = first
        .iter_days()
        .take_while(|d| d.year() == year)
        .filter(|d| cal.is_working_day(*d))
        .count() as u32;
    Ok(Json(CalendarView {
        year,
        periods: cal
            .periods()
            .iter()
            .map(|(a, b)| [a.format("%H:%M").to_string(), b.format("%H:%M").to_string()])
            .collect(),
        utc_offset: cal.offset().to_string(),
        days: cal
            .special_days()
            .into_iter()
            .filter(|d| d.date.year() == year)
            .map(|d| DayView {
                date: d.date,
                kind: d.kind.as_str().into(),
            })
            .collect(),
        working_days,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CalendarTable {
    /// One `YYYY-MM-DD holiday|workday` per line (休/班 also accepted), `#` comments.
    table: String,
}

/// Sets holidays and make-up working days (administrators); all lines or none.
#[utoipa::path(put, path = "/api/v1/calendar/days", request_body = CalendarTable,
    responses((status = 200, body = CalendarView), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_calendar_days(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CalendarTable>,
) -> ApiResult<Json<CalendarView>> {
    admin_only(&user)?;
    let year = store_calendar_table(&state, &body.table).await?;
    get_calendar(State(state), user, Ok(Query(YearQuery { year }))).await
}

/// Stores a table of holidays and make-up days (all lines or none) and applies it; answers the
/// year of its first day. Shared by the API and the console's calendar page.
pub async fn store_calendar_table(state: &AppState, table: &str) -> ApiResult<Option<i32>> {
    let days = parse_special_days(table).map_err(|e| match e {
        CalendarError::BadLine { line, message } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_table",
            format!("line {line}: {message}"),
        )
        .with_details(serde_json::json!({ "field": "table", "line": line })),
        other => ApiError::invalid_field("table", other.to_string()),
    })?;
    let year = days.first().map(|d| d.date.year());
    let rows: Vec<(String, String)> = days
        .iter()
        .map(|d| {
            (
                d.date.format("%Y-%m-%d").to_string(),
                d.kind.as_str().to_owned(),
            )
        })
        .collect();
    state.store.set_calendar_days(&rows).await?;
    state.reload_calendar().await.map_err(ApiError::internal)?;
    Ok(year)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CategoryChange {
    /// Handling deadline amount (≥ 1).
    pub deadline_amount: Option<i64>,
    /// urgent_hours, working_hours, working_days or natural_days
    pub deadline_type: Option<String>,
    pub registration_standard: Option<String>,
    pub closing_standard: Option<String>,
    pub active: Option<bool>,
    /// Close checked cases without the shift leader.
    pub auto_close: Option<bool>,
    /// Node limits of this category, replacing any set before: keys confirm, register,
    /// dispatch, check, close and urgent (handling of urgent cases), values {"amount", "type"}.
    #[schema(value_type = Object)]
    pub node_limits: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Changes a category's deadline, standards or automation (administrators).
#[utoipa::path(patch, path = "/api/v1/categories/{kind}/{code}", params(("kind" = String, Path), ("code" = String, Path)),
    request_body = CategoryChange,
    responses((status = 200, body = crate::api::CategoryView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_category(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, code)): Path<(String, String)>,
    ApiJson(change): ApiJson<CategoryChange>,
) -> ApiResult<Json<crate::api::CategoryView>> {
    admin_only(&user)?;
    let row = apply_category_change(&state, &kind, &code, change).await?;
    Ok(Json(crate::api::category_view(row)))
}

/// Checks and stores a change to one category, then reloads the reference tables; answers the
/// stored row. Shared by the API and the console's category page.
pub async fn apply_category_change(
    state: &AppState,
    kind: &str,
    code: &str,
    change: CategoryChange,
) -> ApiResult<wangge_store::CategoryRow> {
    let mut row = state.store.category(kind, code).await?.ok_or_else(|| {
        ApiError::not_found("category_not_found", format!("no {kind} category {code}"))
    })?;
    if let Some(amount) = change.deadline_amount {
        if !(1..=10_000).contains(&amount) {
            return Err(ApiError::invalid_field(
                "deadline_amount",
                "deadline_amount must be between 1 and 10000",
            ));
        }
        row.deadline_amount = amount;
    }
    if let Some(kind) = change.deadline_type {
        kind.parse::<DeadlineType>()
            .map_err(|e| ApiError::invalid_field("deadline_type", e.to_string()))?;
        row.deadline_type = kind;
    }
    for (field, value, target) in [
        (
            "registration_standard",
            change.registration_standard,
            &mut row.registration_standard,
        ),
        (
            "closing_standard",
            change.closing_standard,
            &mut row.closing_standard,
        ),
    ] {
        if let Some(v) = value {
            let v = v.trim().to_owned();
            if v.is_empty() || v.chars().count() > 2000 {
                return Err(ApiError::invalid_field(
                    field,
                    format!("{field} must be 1 to 2000 characters"),
                ));
            }
            *target = v;
        }
    }
    if let Some(a) = change.active {
        row.active = a;
    }
    if let Some(a) = change.auto_close {
        row.auto_close = a;
    }
    if let Some(limits) = change.node_limits {
        const NODES: &[&str] = &[
            "confirm", "register", "dispatch", "check", "close", "urgent",
        ];
        for (node, limit) in &limits {
            if !NODES.contains(&node.as_str()) {
                return Err(ApiError::invalid_field(
                    "node_limits",
                    format!(
                        "unknown node '{node}': expected one of {}",
                        NODES.join(", ")
                    ),
                ));
            }
            let amount = limit.get("amount").and_then(serde_json::Value::as_u64);
            let kind = limit.get("type").and_then(serde_json::Value::as_str);
            let ok = amount.is_some_and(|a| (1..=10_000).contains(&a))
                && kind.is_some_and(|k| k.parse::<DeadlineType>().is_ok());
            if !ok {
                return Err(ApiError::invalid_field(
                    "node_limits",
                    format!(
                        "{node}: give {{\"amount\": 1–10000, \"type\": urgent_hours | working_hours | working_days | natural_days}}"
                    ),
                ));
            }
        }
        row.node_limits = serde_json::Value::Object(limits).to_string();
    }
    state
        .store
        .upsert_categories(std::slice::from_ref(&row))
        .await?;
    state.reload_reference().await.map_err(ApiError::internal)?;
    Ok(row)
}
