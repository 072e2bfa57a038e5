//! `/api/v1/units` and `/api/v1/dispatch-rules`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use wangge_domain::role::Role;
use wangge_store::{DispatchRuleRow, Store};

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitView {
    code: String,
    name: String,
    kind: String,
    district_code: Option<String>,
    active: bool,
}

/// Handling units (专业部门).
#[utoipa::path(get, path = "/api/v1/units", responses((status = 200, body = Vec<UnitView>)), security(("bearer" = [])))]
pub async fn list_units(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> ApiResult<Json<Vec<UnitView>>> {
    Ok(Json(
        state
            .store
            .units()
            .await?
            .into_iter()
            .map(|u| UnitView {
                code: u.code,
                name: u.name,
                kind: u.kind,
                district_code: u.district_code,
                active: u.active,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DispatchRuleView {
    #[serde(default)]
    pub id: Option<Uuid>,
    /// A 5-digit subclass, a 2-digit class, or null for any.
    pub category: Option<String>,
    /// A region code (the rule covers it and below), or null for anywhere.
    pub region: Option<String>,
    /// The responsible unit of the case's component, or null.
    pub component_unit: Option<String>,
    pub unit: String,
    #[serde(default)]
    pub auto_dispatch: bool,
}

impl From<DispatchRuleRow> for DispatchRuleView {
    fn from(r: DispatchRuleRow) -> Self {
        DispatchRuleView {
            id: Some(r.id),
            category: r.category_code,
            region: r.region_code,
            component_unit: r.component_unit,
            unit: r.unit_code,
            auto_dispatch: r.auto_dispatch,
        }
    }
}

fn require(user: &CurrentUser, roles: &[Role]) -> ApiResult<()> {
    if roles.contains(&user.actor.role) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {} may not do this", user.actor.role),
        ))
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Dispatch rules: (category, region, component's unit) → unit; the most specific wins.
#[utoipa::path(get, path = "/api/v1/dispatch-rules", responses((status = 200, body = Vec<DispatchRuleView>)), security(("bearer" = [])))]
pub async fn list_dispatch_rules(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> ApiResult<Json<Vec<DispatchRuleView>>> {
    Ok(Json(
        state
            .store
            .dispatch_rules()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Adds a dispatch rule (administrators and dispatchers).
#[utoipa::path(post, path = "/api/v1/dispatch-rules", request_body = DispatchRuleView,
    responses((status = 201, body = DispatchRuleView), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_dispatch_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(rule): ApiJson<DispatchRuleView>,
) -> ApiResult<(StatusCode, Json<DispatchRuleView>)> {
    require(&user, &[Role::Admin, Role::Dispatcher])?;
    let row = add_dispatch_rule(&state, rule).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Checks and stores a dispatch rule, then reloads the reference tables. Shared by the API and
/// the console's rules page.
pub async fn add_dispatch_rule(
    state: &AppState,
    rule: DispatchRuleView,
) -> ApiResult<DispatchRuleRow> {
    let unit = state.store.unit(rule.unit.trim()).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_unit",
            format!("unknown handling unit '{}'", rule.unit),
        )
        .with_details(serde_json::json!({"field": "unit"}))
    })?;
    if let Some(c) = &rule.category
        && !(digits(c) && (c.len() == 2 || c.len() == 5))
    {
        return Err(ApiError::invalid_field(
            "category",
            "category must be a 2-digit class or a 5-digit subclass code",
        ));
    }
    if let Some(r) = &rule.region
        && !digits(r)
    {
        return Err(ApiError::invalid_field(
            "region",
            "region must be a region code (digits)",
        ));
    }
    let row = DispatchRuleRow {
        id: wangge_domain::new_id(),
        category_code: rule.category,
        region_code: rule.region,
        component_unit: rule.component_unit,
        unit_code: unit.code,
        auto_dispatch: rule.auto_dispatch,
        created_at: Utc::now(),
    };
    state.store.insert_dispatch_rule(&row).await?;
    state.reload_reference().await.map_err(ApiError::internal)?;
    Ok(row)
}

/// Removes a dispatch rule.
#[utoipa::path(delete, path = "/api/v1/dispatch-rules/{id}", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_dispatch_rule(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    require(&user, &[Role::Admin, Role::Dispatcher])?;
    remove_dispatch_rule(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a dispatch rule and reloads the reference tables; `rule_not_found` if there is none.
pub async fn remove_dispatch_rule(state: &AppState, id: Uuid) -> ApiResult<()> {
    if state.store.delete_dispatch_rule(id).await? {
        state.reload_reference().await.map_err(ApiError::internal)?;
        Ok(())
    } else {
        Err(ApiError::not_found(
            "rule_not_found",
            format!("no dispatch rule has id {id}"),
        ))
    }
}
