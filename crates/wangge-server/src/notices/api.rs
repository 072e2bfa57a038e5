//! `/api/v1/notifications` and `/api/v1/announcements`: the wire, who may post where, and who
//! sees what. The console pages call the same functions.
//!
//! - notifications: every signed-in user, their own only;
//! - posting announcements: district, street, community, shift-leader and admin users, to an
//!   audience region inside their own jurisdiction (an admin names any district or region in
//!   one);
//! - reading announcements: those whose audience roles hold the reader's role (or name none)
//!   and whose region holds the reader's, until they expire.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wangge_domain::case_loop::Actor;
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_store::notices::{AnnouncementRow, Notices, NotificationRow};

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Roles that may post announcements.
pub const POSTERS: &[Role] = &[
    Role::District,
    Role::Street,
    Role::Community,
    Role::ShiftLeader,
    Role::Admin,
];
pub const MAX_TITLE_CHARS: usize = 100;
pub const MAX_BODY_CHARS: usize = 5000;
const MAX_LIST: i64 = 200;
const DEFAULT_LIST: i64 = 50;

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub district: String,
    /// assigned | urged | returned | rework | confirm_task | check_task | due_soon | overdue
    pub kind: String,
    pub case_id: Option<Uuid>,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

pub fn notification_view(n: &NotificationRow) -> NotificationView {
    NotificationView {
        id: n.id,
        district: n.district_code.clone(),
        kind: n.kind.clone(),
        case_id: n.case_id,
        text: n.text.clone(),
        created_at: n.created_at,
        read_at: n.read_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnnouncementView {
    pub id: Uuid,
    pub district: String,
    pub title: String,
    pub body: String,
    /// Role names; empty = every role.
    pub roles: Vec<String>,
    /// Users in this region (and below) see it.
    pub region: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether you have read it.
    pub read: bool,
}

pub fn announcement_view(a: &AnnouncementRow, read: bool) -> AnnouncementView {
    AnnouncementView {
        id: a.id,
        district: a.district_code.clone(),
        title: a.title.clone(),
        body: a.body.clone(),
        roles: a.audience_roles.clone(),
        region: a.region_code.clone(),
        author: a.author.clone(),
        created_at: a.created_at,
        expires_at: a.expires_at,
        read,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    /// Only unread notifications.
    #[serde(default)]
    pub unread: bool,
    /// At most this many (50 unless set, 200 at most).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    pub unread: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAnnouncement {
    pub title: String,
    pub body: String,
    /// Role names (grid_worker, unit_user, …); empty or absent = every role.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The audience region (a district or a region inside one); your own region when absent.
    #[serde(default)]
    pub region: Option<String>,
    /// When it stops showing; never when absent.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

fn parse_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::invalid_field("id", format!("'{id}' is not an id")))
}

/// A user's place for announcements: their region, a unit user's district, or None (everywhere).
fn reader_region(state: &AppState, actor: &Actor) -> Option<String> {
    match (&actor.region, &actor.unit) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(unit)) => state
            .reference()
            .unit(unit)
            .and_then(|u| u.district_code.clone()),
        _ => None,
    }
}

/// Whether an announcement is for this user.
pub fn is_for(a: &AnnouncementRow, actor: &Actor, place: Option<&str>) -> bool {
    if a.author == actor.id {
        return true;
    }
    let role_ok =
        a.audience_roles.is_empty() || a.audience_roles.iter().any(|r| r == actor.role.as_str());
    let region_ok = match place {
        Some(p) => p.starts_with(a.region_code.as_str()),
        // Users bound to no region (administrators) see every district's.
        None => true,
    };
    role_ok && region_ok
}

/// The current announcements for a user, newest first, with whether each was read.
pub async fn visible_announcements(
    state: &AppState,
    actor: &Actor,
) -> ApiResult<Vec<(AnnouncementRow, bool)>> {
    let place = reader_region(state, actor);
    let district = place.as_deref().map(|p| p.get(..6).unwrap_or(p));
    let now = state.config.clock.now();
    let list: Vec<AnnouncementRow> = state
        .store
        .current_announcements(district, now, MAX_LIST)
        .await?
        .into_iter()
        .filter(|a| is_for(a, actor, place.as_deref()))
        .collect();
    let ids: Vec<Uuid> = list.iter().map(|a| a.id).collect();
    let read = state.store.announcements_read(&actor.id, &ids).await?;
    Ok(list
        .into_iter()
        .map(|a| {
            let r = read.contains(&a.id);
            (a, r)
        })
        .collect())
}

/// Checks a new announcement and stores it: every problem names its field.
pub async fn post_announcement(
    state: &AppState,
    actor: &Actor,
    req: NewAnnouncement,
) -> ApiResult<AnnouncementRow> {
    if !POSTERS.contains(&actor.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {} may not post announcements", actor.role),
        ));
    }
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::invalid_field(
            "title",
            format!("title: give 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    let body = req.body.trim();
    if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::invalid_field(
            "body",
            format!("body: give 1 to {MAX_BODY_CHARS} characters"),
        ));
    }
    let mut roles = Vec::new();
    for r in &req.roles {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        let role: Role = r
            .parse()
            .map_err(|_| ApiError::invalid_field("roles", format!("roles: '{r}' is not a role")))?;
        if !roles.contains(&role.as_str().to_owned()) {
            roles.push(role.as_str().to_owned());
        }
    }
    let region = match req
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(r) => r.to_owned(),
        None => actor.region.clone().ok_or_else(|| {
            ApiError::invalid_field("region", "region: name the district or region to post to")
        })?,
    };
    let atlas = state.atlas();
    let info = atlas.region(&region).ok_or_else(|| {
        ApiError::invalid_field(
            "region",
            format!("region: no current region has code '{region}'"),
        )
    })?;
    if info.level == Level::City {
        return Err(ApiError::invalid_field(
            "region",
            "region: choose a district or a region inside one",
        ));
    }
    if let Some(own) = &actor.region
        && !region.starts_with(own.as_str())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_jurisdiction",
            format!("region: {region} is outside your jurisdiction {own}"),
        )
        .with_details(serde_json::json!({ "field": "region" })));
    }
    let now = state.config.clock.now();
    if let Some(t) = req.expires_at
        && t <= now
    {
        return Err(ApiError::invalid_field(
            "expires_at",
            "expires_at: give a time in the future",
        ));
    }
    let row = AnnouncementRow {
        district_code: region.get(..6).unwrap_or(&region).to_owned(),
        id: wangge_domain::new_id(),
        title: title.to_owned(),
        body: body.to_owned(),
        audience_roles: roles,
        region_code: region,
        author: actor.id.clone(),
        created_at: now,
        expires_at: req.expires_at,
    };
    state.store.insert_announcement(&row).await?;
    Ok(row)
}

/// Marks an announcement the user can see read.
pub async fn read_announcement(state: &AppState, actor: &Actor, id: Uuid) -> ApiResult<()> {
    let place = reader_region(state, actor);
    let a = state
        .store
        .announcement(id)
        .await?
        .filter(|a| is_for(a, actor, place.as_deref()))
        .ok_or_else(|| ApiError::not_found("not_found", format!("no announcement {id} for you")))?;
    state
        .store
        .mark_announcement_read(&a.district_code, a.id, &actor.id, state.config.clock.now())
        .await?;
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/notifications", params(NotificationQuery),
    responses((status = 200, body = Vec<NotificationView>)), security(("bearer" = [])))]
pub async fn list_notifications(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<NotificationQuery>,
) -> ApiResult<Json<Vec<NotificationView>>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
    let rows = state
        .store
        .notifications(&user.username, q.unread, limit)
        .await?;
    Ok(Json(rows.iter().map(notification_view).collect()))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read",
    responses((status = 200, body = NotificationView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn read_notification(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationView>> {
    let id = parse_id(&id)?;
    let row = state
        .store
        .mark_notification_read(&user.username, id, state.config.clock.now())
        .await?
        .ok_or_else(|| {
            ApiError::not_found("not_found", format!("you have no notification {id}"))
        })?;
    Ok(Json(notification_view(&row)))
}

#[utoipa::path(post, path = "/api/v1/notifications/read-all",
    responses((status = 200, body = MarkedRead)), security(("bearer" = [])))]
pub async fn read_all_notifications(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<MarkedRead>> {
    let marked = state
        .store
        .mark_all_notifications_read(&user.username, state.config.clock.now())
        .await?;
    Ok(Json(MarkedRead { marked }))
}

#[utoipa::path(get, path = "/api/v1/notifications/unread-count",
    responses((status = 200, body = UnreadCount)), security(("bearer" = [])))]
pub async fn unread_count(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<UnreadCount>> {
    let unread = state.store.unread_notifications(&user.username).await?;
    Ok(Json(UnreadCount { unread }))
}

#[utoipa::path(post, path = "/api/v1/announcements", request_body = NewAnnouncement,
    responses((status = 201, body = AnnouncementView), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_announcement(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<NewAnnouncement>,
) -> ApiResult<(StatusCode, Json<AnnouncementView>)> {
    let row = post_announcement(&state, &user.actor, req).await?;
    Ok((StatusCode::CREATED, Json(announcement_view(&row, false))))
}

#[utoipa::path(get, path = "/api/v1/announcements",
    responses((status = 200, body = Vec<AnnouncementView>)), security(("bearer" = [])))]
pub async fn list_announcements(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<Vec<AnnouncementView>>> {
    let list = visible_announcements(&state, &user.actor).await?;
    Ok(Json(
        list.iter()
            .map(|(a, read)| announcement_view(a, *read))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/announcements/{id}/read",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn mark_announcement_read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    read_announcement(&state, &user.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Routes under `/api/v1`.
pub fn api_routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/notifications", get(list_notifications))
        .route("/notifications/unread-count", get(unread_count))
        .route("/notifications/read-all", post(read_all_notifications))
        .route("/notifications/{id}/read", post(read_notification))
        .route(
            "/announcements",
            get(list_announcements).post(create_announcement),
        )
        .route("/announcements/{id}/read", post(mark_announcement_read))
}

/// This module's part of `/api/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_notifications,
        read_notification,
        read_all_notifications,
        unread_count,
        create_announcement,
        list_announcements,
        mark_announcement_read
    ),
    components(schemas(
        NotificationView,
        AnnouncementView,
        NewAnnouncement,
        UnreadCount,
        MarkedRead
    ))
)]
pub struct ApiDoc;
