//! Hotline pages: `/console/hotline` for the command centre (tickets with filters, each linked
//! to its case, a verification task sent from a row, a file of tickets uploaded, the outcome
//! export) and the grid worker's phone page `/m/hotline` (my verification tasks, each with the
//! result form). Everything goes through `crate::hotline`, the API's own code.

use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{Value, context};
use serde::Deserialize;
use wangge_domain::hotline::VerificationResult;
use wangge_domain::role::Role;
use wangge_store::hotline::Hotline;

use crate::console::{ConsoleUser, OrPage, page_context, render, urlencode};
use crate::error::ApiError;
use crate::hotline::{
    self as wire, TicketQuery, TicketView, VerificationView, find_ticket, find_verification,
    is_centre, ticket_filter, verifications_of,
};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/hotline", get(list))
        .route("/console/hotline/import", post(upload))
        .route("/console/hotline/verify", post(verify))
        .route("/m/hotline", get(my_tasks))
        .route("/m/hotline/{id}", post(record))
        .layer(axum::extract::DefaultBodyLimit::max(wire::MAX_IMPORT_BYTES))
}

/// Navigation entries (path, message key) for a role.
pub fn nav_entries(role: Role) -> Vec<(&'static str, &'static str)> {
    match role {
        Role::GridWorker => vec![("/m/hotline", "nav.hotline_tasks")],
        Role::UnitUser | Role::Admin => Vec::new(),
        _ => vec![("/console/hotline", "nav.hotline")],
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    how: Option<String>,
    channel: Option<String>,
    from: Option<String>,
    to: Option<String>,
    done: Option<String>,
    problem: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    if who.role() == Role::UnitUser {
        return Err(crate::console::error_page(
            who.lang,
            Some(&who),
            &ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "handling units see their cases, not hotline tickets",
            ),
        ));
    }
    let query = TicketQuery {
        how: q.how.clone().filter(|v| !v.is_empty()),
        channel: q.channel.clone().filter(|v| !v.is_empty()),
        from: q.from.clone().filter(|v| !v.is_empty()),
        to: q.to.clone().filter(|v| !v.is_empty()),
        limit: Some(200),
        ..Default::default()
    };
    let f = ticket_filter(&state, &who.user.actor, &query).or_page(&who)?;
    let rows = state.store.hotline_tickets(&f).await.or_page(&who)?;
    let total = state.store.count_hotline_tickets(&f).await.or_page(&who)?;
    let tickets: Vec<TicketView> = rows.into_iter().map(TicketView::from).collect();
    let export = format!(
        "/api/v1/hotline/outcomes?from={}&to={}",
        urlencode(q.from.as_deref().unwrap_or("")),
        urlencode(q.to.as_deref().unwrap_or(""))
    );
    let ctx = context! {
        tickets => Value::from_serialize(&tickets),
        total => total,
        how => q.how,
        channel => q.channel,
        from => q.from,
        to => q.to,
        may_send => is_centre(who.role()),
        export_csv => format!("{export}&format=csv"),
        export_xlsx => format!("{export}&format=xlsx"),
        done => q.done,
        problem => q.problem,
    };
    Ok(render(
        "hotline/list.html",
        page_context(&state, &who, "/console/hotline", ctx),
    ))
}

/// `POST /console/hotline/import`: multipart with the file.
async fn upload(
    State(state): State<AppState>,
    who: ConsoleUser,
    mut form: Multipart,
) -> Result<Response, Response> {
    let mut csrf = String::new();
    let mut file: Option<(Vec<u8>, Option<String>)> = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(crate::evidence_api::multipart_error)
        .or_page(&who)?
    {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field
                .bytes()
                .await
                .map_err(crate::evidence_api::multipart_error)
                .or_page(&who)?;
            file = Some((bytes.to_vec(), file_name));
        } else if name == "_csrf" {
            csrf = field
                .text()
                .await
                .map_err(crate::evidence_api::multipart_error)
                .or_page(&who)?;
        }
    }
    who.check_csrf(csrf.trim())?;
    let done = async {
        let (bytes, name) = file
            .filter(|(b, _)| !b.is_empty())
            .ok_or_else(|| ApiError::invalid_field("file", "choose the file to upload"))?;
        wire::import_bytes(&state, &who.user.actor, bytes, name, None).await
    }
    .await;
    let target = match done {
        Ok(a) => format!(
            "/console/hotline?done={}",
            urlencode(&format!(
                "{} / {} / {} / {}",
                a.created, a.matched, a.duplicate, a.repeated
            ))
        ),
        Err(e) => format!("/console/hotline?problem={}", urlencode(&e.message)),
    };
    Ok(Redirect::to(&target).into_response())
}

#[derive(Debug, Deserialize)]
struct VerifyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    ticket: String,
}

async fn verify(
    State(state): State<AppState>,
    who: ConsoleUser,
    Form(f): Form<VerifyForm>,
) -> Result<Response, Response> {
    who.check_csrf(&f.csrf)?;
    let done = async {
        let t = find_ticket(&state, &who.user.actor, &f.ticket).await?;
        wire::assign_verification(&state, &who.user.actor, &t, None).await
    }
    .await;
    let target = match done {
        Ok(v) => format!("/console/hotline?done={}", urlencode(&v.worker)),
        Err(e) => format!("/console/hotline?problem={}", urlencode(&e.message)),
    };
    Ok(Redirect::to(&target).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct TaskQuery {
    done: Option<String>,
    problem: Option<String>,
}

async fn my_tasks(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<TaskQuery>,
) -> Result<Response, Response> {
    let rows = verifications_of(&state, &who.user, true, false, None)
        .await
        .or_page(&who)?;
    let mut tasks = Vec::with_capacity(rows.len());
    for v in rows {
        let ticket = state
            .store
            .hotline_ticket(&v.district_code, v.ticket_id)
            .await
            .or_page(&who)?
            .map(TicketView::from);
        tasks.push(context! {
            task => Value::from_serialize(VerificationView::from(v)),
            ticket => Value::from_serialize(&ticket),
        });
    }
    let results: Vec<_> = VerificationResult::ALL
        .iter()
        .map(|r| context! { value => r.as_str(), zh => r.zh() })
        .collect();
    let ctx = context! {
        tasks => tasks,
        results => results,
        done => q.done,
        problem => q.problem,
    };
    Ok(render(
        "hotline/tasks.html",
        page_context(&state, &who, "/m/hotline", ctx),
    ))
}

#[derive(Debug, Deserialize)]
struct ResultForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    result: String,
    notes: Option<String>,
}

async fn record(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    Form(f): Form<ResultForm>,
) -> Result<Response, Response> {
    who.check_csrf(&f.csrf)?;
    let done = async {
        let task = find_verification(&state, &who.user.actor, &who.user.username, &id).await?;
        wire::record_result(&state, &who.user.username, &task, &f.result, f.notes).await
    }
    .await;
    let target = match done {
        Ok(v) => format!("/m/hotline?done={}", urlencode(&v.id.to_string())),
        Err(e) => format!("/m/hotline?problem={}", urlencode(&e.message)),
    };
    Ok(Redirect::to(&target).into_response())
}
