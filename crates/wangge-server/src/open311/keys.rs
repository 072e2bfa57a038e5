//! API keys for Open311 clients: issued by an administrator for one jurisdiction, shown once,
//! kept only as a SHA-256 with a short prefix to recognise it by, revoked by an administrator.
//! `/api/v1/api-keys` here; the console page (`console/admin/api_keys.rs`) uses the same
//! functions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use wangge_domain::case_loop::Actor;
use wangge_domain::role::Role;
use wangge_store::api_keys::{ApiKeyRow, ApiKeys};

use crate::api::ApiJson;
use crate::auth::{CurrentUser, token_hash};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Characters of a key kept to recognise it by.
const PREFIX_CHARS: usize = 9;
const MAX_NAME_CHARS: usize = 60;

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    /// Requests sent with the key must fall inside this region.
    pub region_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub fn key_view(k: &ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        region_code: k.region_code.clone(),
        created_by: k.created_by.clone(),
        created_at: k.created_at,
        revoked_at: k.revoked_at,
        last_used_at: k.last_used_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The key itself: shown this once, never again (only its hash is kept).
    pub api_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// Who the key is for (the client or organisation), shown in lists and in case timelines.
    pub name: String,
    /// The jurisdiction of the key: a current region code inside your own.
    pub region_code: String,
}

/// Why a key cannot be issued: the field and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueProblem {
    pub field: &'static str,
    pub message: String,
}

fn admin_only(actor: &Actor) -> ApiResult<()> {
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an administrator manages API keys",
        ))
    }
}

/// A new random key: `o311_` and 40 hex digits.
fn new_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("o311_{hex}")
}

/// The checks of a new key's name and region, each naming its field.
pub fn check_issue(
    state: &AppState,
    actor: &Actor,
    name: &str,
    region_code: &str,
) -> Result<(), IssueProblem> {
    let name = name.trim();
    if name.is_empty() {
        return Err(IssueProblem {
            field: "name",
            message: "name must not be empty".into(),
        });
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(IssueProblem {
            field: "name",
            message: format!("name must be at most {MAX_NAME_CHARS} characters"),
        });
    }
    let region = region_code.trim();
    if state.atlas().region(region).is_none() {
        return Err(IssueProblem {
            field: "region_code",
            message: format!("region_code: '{region}' is not a current region"),
        });
    }
    if let Some(mine) = &actor.region
        && !region.starts_with(mine.as_str())
    {
        return Err(IssueProblem {
            field: "region_code",
            message: format!("region_code: {region} is outside your jurisdiction ({mine})"),
        });
    }
    Ok(())
}

/// Stores a key (a new random one unless `key` is given) and answers it with its row.
pub async fn issue_key(
    state: &AppState,
    created_by: &str,
    name: &str,
    region_code: &str,
    key: Option<&str>,
) -> Result<(ApiKeyRow, String), wangge_store::StoreError> {
    let key = key.map_or_else(new_key, str::to_owned);
    let row = ApiKeyRow {
        id: wangge_domain::new_id(),
        name: name.trim().to_owned(),
        prefix: key.chars().take(PREFIX_CHARS).collect(),
        key_hash: token_hash(&key),
        region_code: region_code.trim().to_owned(),
        created_by: created_by.to_owned(),
        created_at: state.config.clock.now(),
        revoked_at: None,
        last_used_at: None,
    };
    state.store.create_api_key(&row).await?;
    Ok((row, key))
}

/// Issues an API key for an Open311 client (administrators). The key is in this answer only.
#[utoipa::path(post, path = "/api/v1/api-keys", request_body = IssueRequest,
    responses((status = 201, body = IssuedKey), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<IssueRequest>,
) -> ApiResult<(StatusCode, Json<IssuedKey>)> {
    admin_only(&user.actor)?;
    check_issue(&state, &user.actor, &req.name, &req.region_code)
        .map_err(|p| ApiError::invalid_field(p.field, p.message))?;
    let (row, key) = issue_key(&state, &user.username, &req.name, &req.region_code, None).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedKey {
            key: key_view(&row),
            api_key: key,
        }),
    ))
}

/// Every API key (administrators): never the keys themselves, only their prefixes.
#[utoipa::path(get, path = "/api/v1/api-keys",
    responses((status = 200, body = Vec<ApiKeyView>), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    admin_only(&user.actor)?;
    let keys = state.store.api_keys().await?;
    Ok(Json(
        keys.iter()
            .filter(|k| visible(&user.actor, k))
            .map(key_view)
            .collect(),
    ))
}

/// An administrator bound to a region sees and revokes the keys of that region only.
pub fn visible(actor: &Actor, key: &ApiKeyRow) -> bool {
    actor
        .region
        .as_deref()
        .is_none_or(|mine| key.region_code.starts_with(mine))
}

/// Revokes an API key (administrators): requests sent with it are refused from now on.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    admin_only(&user.actor)?;
    revoke(&state, &user.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a key the actor may see; any other id answers as if it did not exist.
pub async fn revoke(state: &AppState, actor: &Actor, id: Uuid) -> ApiResult<()> {
    let missing = || ApiError::not_found("no_such_api_key", format!("no API key has id {id}"));
    let key = state.store.api_key(id).await?.ok_or_else(missing)?;
    if !visible(actor, &key) {
        return Err(missing());
    }
    state
        .store
        .revoke_api_key(id, state.config.clock.now())
        .await?;
    Ok(())
}
