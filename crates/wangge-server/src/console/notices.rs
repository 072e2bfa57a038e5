//! Notice pages: `/console/notices` (my notifications with links to their cases, mark read, and
//! the announcements for me), `/console/announcements/new` (for the roles that may post) and the
//! grid worker's phone page `/m/notices`. The bell in the header counts unread notifications
//! with `static/js/notices.js` (the frame is rendered without waiting for the database).
//! Everything goes through `notices/api.rs`, the API's own code.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;
use wangge_domain::role::Role;
use wangge_store::notices::Notices;

use crate::console::{ConsoleUser, OrPage, page_context, render};
use crate::error::ApiError;
use crate::notices::api::{
    NewAnnouncement, POSTERS, announcement_view, notification_view, post_announcement,
    read_announcement, visible_announcements,
};
use crate::state::AppState;

const LIST: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/notices", get(notices_page))
        .route("/console/notices/read-all", post(read_all))
        .route("/console/notices/{id}/read", post(read_one))
        .route(
            "/console/announcements/{id}/read",
            post(read_one_announcement),
        )
        .route(
            "/console/announcements/new",
            get(new_announcement).post(create_announcement),
        )
        .route("/m/notices", get(phone_page))
}

/// Navigation entries (path, message key) for a role.
pub fn nav_entries(role: Role) -> Vec<(&'static str, &'static str)> {
    match role {
        Role::GridWorker => vec![("/m/notices", "nav.notices")],
        _ => vec![("/console/notices", "nav.notices")],
    }
}

#[derive(Debug, Deserialize)]
struct Flash {
    posted: Option<String>,
}

/// Where a form sends the user back to: one of our notice pages only.
fn back_to(back: Option<&str>) -> &'static str {
    match back {
        Some("/m/notices") => "/m/notices",
        _ => "/console/notices",
    }
}

async fn page_values(state: &AppState, who: &ConsoleUser) -> Result<Value, Response> {
    let notes = state
        .store
        .notifications(&who.user.username, false, LIST)
        .await
        .or_page(who)?;
    let unread = notes.iter().filter(|n| n.read_at.is_none()).count();
    let views: Vec<_> = notes.iter().map(notification_view).collect();
    let anns = visible_announcements(state, &who.user.actor)
        .await
        .or_page(who)?;
    // Each announcement with its body in paragraphs, for the template.
    let ann_views: Vec<serde_json::Value> = anns
        .iter()
        .map(|(a, r)| {
            let mut v = serde_json::to_value(announcement_view(a, *r)).unwrap_or_default();
            v["paragraphs"] = a
                .body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .into();
            v
        })
        .collect();
    Ok(context! {
        notifications => Value::from_serialize(&views),
        unread => unread,
        announcements => Value::from_serialize(&ann_views),
        may_post => POSTERS.contains(&who.role()),
    })
}

async fn notices_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(flash): Query<Flash>,
) -> Result<Response, Response> {
    let values = page_values(&state, &who).await?;
    let ctx = context! { ..values, ..context! { posted => flash.posted.is_some(), back => "/console/notices" } };
    Ok(render(
        "notices/index.html",
        page_context(&state, &who, "/console/notices", ctx),
    ))
}

async fn phone_page(State(state): State<AppState>, who: ConsoleUser) -> Result<Response, Response> {
    let values = page_values(&state, &who).await?;
    let ctx = context! { ..values, ..context! { back => "/m/notices" } };
    Ok(render(
        "notices/phone.html",
        page_context(&state, &who, "/m/notices", ctx),
    ))
}

#[derive(Debug, Deserialize)]
struct ReadForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    back: Option<String>,
    /// Open the notification's case after marking it read.
    open: Option<String>,
}

async fn read_one(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ReadForm>,
) -> Result<Response, Response> {
    who.check_csrf(&form.csrf)?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| ApiError::invalid_field("id", format!("'{id}' is not an id")))
        .or_page(&who)?;
    let row = state
        .store
        .mark_notification_read(&who.user.username, id, state.config.clock.now())
        .await
        .or_page(&who)?
        .ok_or_else(|| ApiError::not_found("not_found", format!("you have no notification {id}")))
        .or_page(&who)?;
    if form.open.is_some()
        && let Some(case) = row.case_id
    {
        return Ok(Redirect::to(&format!("/console/cases/{case}")).into_response());
    }
    Ok(Redirect::to(back_to(form.back.as_deref())).into_response())
}

async fn read_all(
    State(state): State<AppState>,
    who: ConsoleUser,
    axum::Form(form): axum::Form<ReadForm>,
) -> Result<Response, Response> {
    who.check_csrf(&form.csrf)?;
    state
        .store
        .mark_all_notifications_read(&who.user.username, state.config.clock.now())
        .await
        .or_page(&who)?;
    Ok(Redirect::to(back_to(form.back.as_deref())).into_response())
}

async fn read_one_announcement(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ReadForm>,
) -> Result<Response, Response> {
    who.check_csrf(&form.csrf)?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| ApiError::invalid_field("id", format!("'{id}' is not an id")))
        .or_page(&who)?;
    read_announcement(&state, &who.user.actor, id)
        .await
        .or_page(&who)?;
    Ok(Redirect::to(back_to(form.back.as_deref())).into_response())
}

fn form_page(
    state: &AppState,
    who: &ConsoleUser,
    problem: Option<(String, String)>,
    values: &NewAnnouncement,
) -> Response {
    let problem_field_set = problem.is_some();
    let roles: Vec<_> = Role::ALL
        .iter()
        .map(|r| {
            context! {
                name => r.as_str(),
                checked => values.roles.iter().any(|v| v == r.as_str()),
            }
        })
        .collect();
    let ctx = context! {
        roles => roles,
        title => values.title.clone(),
        body => values.body.clone(),
        region => values.region.clone().or_else(|| who.user.actor.region.clone()),
        expires_at => values.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()),
        problem => problem.as_ref().map(|p| p.1.clone()),
        problem_field => problem.map(|p| p.0),
    };
    let status = if problem_field_set {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    crate::console::render_status(
        status,
        "notices/new.html",
        page_context(state, who, "/console/announcements/new", ctx),
    )
}

async fn new_announcement(
    State(state): State<AppState>,
    who: ConsoleUser,
) -> Result<Response, Response> {
    who.require(POSTERS)?;
    Ok(form_page(&state, &who, None, &NewAnnouncement::default()))
}

/// `POST /console/announcements/new`: urlencoded, `roles` repeated once per ticked role.
async fn create_announcement(
    State(state): State<AppState>,
    who: ConsoleUser,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let mut csrf = String::new();
    let mut req = NewAnnouncement::default();
    let mut expires: Option<String> = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "_csrf" => csrf = v.into_owned(),
            "title" => req.title = v.into_owned(),
            "body" => req.body = v.into_owned(),
            "roles" => req.roles.push(v.into_owned()),
            "region" => req.region = Some(v.into_owned()).filter(|r| !r.trim().is_empty()),
            "expires_at" => expires = Some(v.into_owned()).filter(|t| !t.trim().is_empty()),
            _ => {}
        }
    }
    who.check_csrf(&csrf)?;
    who.require(POSTERS)?;
    if let Some(t) = expires {
        // A datetime-local field: the centre's local time (the working calendar's zone).
        let zone = state.calendar().offset();
        let parsed = chrono::NaiveDateTime::parse_from_str(t.trim(), "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|n| n.and_local_timezone(zone).single())
            .map(|t| t.with_timezone(&chrono::Utc));
        match parsed {
            Some(t) => req.expires_at = Some(t),
            None => {
                let msg = format!("expires_at: '{t}' is not a date and time");
                return Ok(form_page(
                    &state,
                    &who,
                    Some(("expires_at".into(), msg)),
                    &req,
                ));
            }
        }
    }
    let kept = NewAnnouncement {
        title: req.title.clone(),
        body: req.body.clone(),
        roles: req.roles.clone(),
        region: req.region.clone(),
        expires_at: req.expires_at,
    };
    match post_announcement(&state, &who.user.actor, req).await {
        Ok(a) => Ok(Redirect::to(&format!("/console/notices?posted={}", a.id)).into_response()),
        Err(e) if e.details.as_ref().and_then(|d| d.get("field")).is_some() => {
            let field = e
                .details
                .as_ref()
                .and_then(|d| d.get("field"))
                .and_then(|f| f.as_str())
                .unwrap_or("")
                .to_owned();
            Ok(form_page(&state, &who, Some((field, e.message)), &kept))
        }
        Err(e) => Err(crate::console::error_page(who.lang, Some(&who), &e)),
    }
}
