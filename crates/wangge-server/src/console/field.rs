//! Field-work pages (issue 8): the grid worker's phone pages `/m/patrol` (start and end a
//! patrol; `field.js` records positions at an interval, queues them in the phone's storage and
//! sends them in batches to the API) and `/m/visits` (log a visit, list open follow-ups), and
//! the centre's `/console/field` (the day's quota list with a date picker, the day's patrols)
//! with `/console/field/patrols/{id}` (a patrol's track on the map with its figures).
//! Everything goes through `field_work.rs`, the API's own code.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{Value, context};
use serde::Deserialize;
use wangge_domain::role::Role;
use wangge_store::field_work::FieldWork;

use crate::console::{ConsoleUser, OrPage, page_context, render};
use crate::field_work::{self as fw, PatrolQuery, VisitIn, VisitQuery, patrol_view, visit_view};
use crate::state::AppState;

/// Who reads the centre's pages.
const CENTRE_ROLES: &[Role] = &[
    Role::Community,
    Role::Street,
    Role::District,
    Role::ShiftLeader,
    Role::Supervisor,
    Role::Admin,
];
const VISIT_ROLES: &[Role] = &[Role::GridWorker, Role::Community, Role::Street];

/// Seconds between recorded positions unless the worker picks another.
const DEFAULT_INTERVAL_S: u32 = 30;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/patrol", get(patrol_page))
        .route("/m/visits", get(visits_page).post(log_visit))
        .route("/m/visits/{id}/done", post(visit_done))
        .route("/console/field", get(centre_page))
        .route("/console/field/patrols/{id}", get(patrol_detail_page))
}

/// Navigation entries (path, message key) for a role.
pub fn nav_entries(role: Role) -> Vec<(&'static str, &'static str)> {
    match role {
        Role::GridWorker => vec![("/m/patrol", "nav.field_patrol")],
        r if CENTRE_ROLES.contains(&r) => vec![("/console/field", "nav.field_centre")],
        _ => Vec::new(),
    }
}

async fn patrol_page(
    State(state): State<AppState>,
    who: ConsoleUser,
) -> Result<Response, Response> {
    who.require(&[Role::GridWorker])?;
    let running = state
        .store
        .running_patrol(&who.user.username)
        .await
        .or_page(&who)?;
    let cal = state.calendar();
    let today = crate::local_day::day_of(&cal, state.config.clock.now())
        .format("%Y-%m-%d")
        .to_string();
    let today_patrols = fw::patrols_of(
        &state,
        &who.user.actor,
        &PatrolQuery {
            worker: None,
            grid: None,
            from: Some(today.clone()),
            to: Some(today),
            status: None,
            limit: Some(20),
        },
    )
    .await
    .or_page(&who)?;
    let data = serde_json::json!({
        "user": who.user.username,
        "interval_s": DEFAULT_INTERVAL_S,
        "max_batch": 500,
        "patrol": running.as_ref().map(|p| patrol_view(&state, p)),
    });
    let views: Vec<_> = today_patrols
        .iter()
        .map(|p| patrol_view(&state, p))
        .collect();
    let ctx = context! {
        field_data => Value::from_serialize(&data),
        running => Value::from_serialize(running.as_ref().map(|p| patrol_view(&state, p))),
        patrols => Value::from_serialize(&views),
        grid_code => who.user.actor.region.clone(),
    };
    Ok(render(
        "field/patrol.html",
        page_context(&state, &who, "/m/patrol", ctx),
    ))
}

#[derive(Debug, Deserialize)]
struct Flash {
    logged: Option<String>,
    done: Option<String>,
}

async fn visits_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(flash): Query<Flash>,
) -> Result<Response, Response> {
    who.require(VISIT_ROLES)?;
    visits_view(&state, &who, flash, None).await
}

async fn visits_view(
    state: &AppState,
    who: &ConsoleUser,
    flash: Flash,
    problem: Option<String>,
) -> Result<Response, Response> {
    let q = |open: bool| VisitQuery {
        from: None,
        to: None,
        worker: None,
        region: None,
        follow_up: open.then(|| "open".to_owned()),
        limit: Some(50),
    };
    let open = fw::visits_of(state, &who.user.actor, &q(true))
        .await
        .or_page(who)?;
    let recent = fw::visits_of(state, &who.user.actor, &q(false))
        .await
        .or_page(who)?;
    let ctx = context! {
        open => Value::from_serialize(open.iter().map(visit_view).collect::<Vec<_>>()),
        recent => Value::from_serialize(recent.iter().map(visit_view).collect::<Vec<_>>()),
        logged => flash.logged,
        done => flash.done,
        problem => problem,
    };
    Ok(render(
        "field/visits.html",
        page_context(state, who, "/m/visits", ctx),
    ))
}

#[derive(Debug, Deserialize)]
struct VisitForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    kind: String,
    target: Option<String>,
    label: Option<String>,
    notes: Option<String>,
    follow_up: Option<String>,
    follow_up_due: Option<String>,
}

async fn log_visit(
    State(state): State<AppState>,
    who: ConsoleUser,
    Form(form): Form<VisitForm>,
) -> Result<Response, Response> {
    who.check_csrf(&form.csrf)?;
    who.require(VISIT_ROLES)?;
    let req = VisitIn {
        at: None,
        kind: form.kind,
        target: form.target,
        label: form.label,
        notes: form.notes,
        follow_up: form.follow_up,
        follow_up_due: form.follow_up_due,
    };
    let saved = async {
        let row = fw::new_visit(&state, &who.user, req).await?;
        state.store.insert_visit(&row).await?;
        Ok::<_, crate::error::ApiError>(row)
    }
    .await;
    match saved {
        Ok(row) => Ok(Redirect::to(&format!("/m/visits?logged={}", row.id)).into_response()),
        Err(e) if e.status.is_client_error() && e.status.as_u16() != 403 => {
            visits_view(
                &state,
                &who,
                Flash {
                    logged: None,
                    done: None,
                },
                Some(e.message),
            )
            .await
        }
        Err(e) => Err(crate::console::error_page(who.lang, Some(&who), &e)),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn visit_done(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    who.check_csrf(&form.csrf)?;
    let v = fw::mark_done(&state, &who.user, &id).await.or_page(&who)?;
    Ok(Redirect::to(&format!("/m/visits?done={}", v.id)).into_response())
}

#[derive(Debug, Deserialize)]
struct CentreQuery {
    date: Option<String>,
    region: Option<String>,
}

async fn centre_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<CentreQuery>,
) -> Result<Response, Response> {
    who.require(CENTRE_ROLES)?;
    let day = fw::daily(
        &state,
        &who.user.actor,
        q.date.as_deref(),
        q.region.as_deref(),
    )
    .await
    .or_page(&who)?;
    let patrols = fw::patrols_of(
        &state,
        &who.user.actor,
        &PatrolQuery {
            worker: None,
            grid: q.region.clone(),
            from: Some(day.date.clone()),
            to: Some(day.date.clone()),
            status: None,
            limit: Some(200),
        },
    )
    .await
    .or_page(&who)?;
    let views: Vec<_> = patrols.iter().map(|p| patrol_view(&state, p)).collect();
    let quotas = match who.user.actor.region.as_deref() {
        Some(r) if r.len() >= 6 => Some(
            fw::quotas_of(&state, crate::registry::district_of(r))
                .await
                .or_page(&who)?,
        ),
        _ => None,
    };
    let ctx = context! {
        day => Value::from_serialize(&day),
        patrols => Value::from_serialize(&views),
        quotas => Value::from_serialize(&quotas),
        region => q.region.unwrap_or_default(),
    };
    Ok(render(
        "field/centre.html",
        page_context(&state, &who, "/console/field", ctx),
    ))
}

async fn patrol_detail_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let p = fw::find_patrol(&state, &who.user.actor, &id)
        .await
        .or_page(&who)?;
    let detail = fw::patrol_detail(&state, &p).await.or_page(&who)?;
    let data = serde_json::json!({
        "track": detail.track,
        "grid_code": p.grid_code,
    });
    let ctx = context! {
        patrol => Value::from_serialize(&detail.patrol),
        field_data => Value::from_serialize(&data),
        back => if CENTRE_ROLES.contains(&who.role()) { "/console/field" } else { "/m/patrol" },
    };
    Ok(render(
        "field/patrol_show.html",
        page_context(&state, &who, "/console/field", ctx),
    ))
}
