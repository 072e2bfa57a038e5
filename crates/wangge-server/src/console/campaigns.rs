//! Campaign pages: `/console/campaigns` (the list, and a new campaign from an uploaded table for
//! district, street and admin users), `/console/campaigns/{id}` (the progress dashboard by grid,
//! community or street, exports), `/console/campaigns/queue` (the street's unmatched records,
//! matched by hand) and the grid worker's phone pages `/m/campaigns` (my tasks) and
//! `/m/campaigns/{id}/{grid}` (a task's records, each with the result form and a photo).
//! Everything goes through `campaign.rs` and `campaign_api.rs`, the API's own code.

use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use minijinja::{Value, context};
use serde::Deserialize;
use wangge_domain::role::Role;

use crate::campaign::{self as camp, Columns, Header, find_campaign, view_prefix};
use crate::campaign_api::{
    self as wire, assign_house, campaign_view, find_record, grid_records, parse_level,
    queue_records, record_view, save_result, split_outcomes, tasks_of, visible_campaigns,
};
use crate::console::{ConsoleUser, OrPage, page_context, render};
use crate::error::ApiError;
use crate::state::AppState;

const CREATORS: &[Role] = &[Role::District, Role::Street, Role::Admin];
const QUEUE_WORKERS: &[Role] = &[Role::Street, Role::District, Role::Admin];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/campaigns", get(list).post(create))
        .route("/console/campaigns/queue", get(queue).post(assign))
        .route("/console/campaigns/{id}", get(show))
        .route("/m/campaigns", get(my_tasks))
        .route("/m/campaigns/{id}/{grid}", get(task).post(record))
        .layer(axum::extract::DefaultBodyLimit::max(
            wire::MAX_CAMPAIGN_BYTES,
        ))
}

/// The navigation entry of a role, if campaigns are part of its work.
pub fn nav_entry(role: Role) -> Option<(&'static str, &'static str)> {
    match role {
        Role::UnitUser => None,
        Role::GridWorker => Some(("/m/campaigns", "nav.campaign_tasks")),
        _ => Some(("/console/campaigns", "nav.campaigns")),
    }
}

#[derive(Debug, Deserialize)]
struct Flash {
    created: Option<String>,
    done: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(flash): Query<Flash>,
) -> Result<Response, Response> {
    let campaigns = visible_campaigns(&state, &who.user.actor)
        .await
        .or_page(&who)?;
    let views: Vec<_> = campaigns.iter().map(campaign_view).collect();
    let ctx = context! {
        campaigns => Value::from_serialize(&views),
        may_create => CREATORS.contains(&who.role()),
        may_queue => QUEUE_WORKERS.contains(&who.role()),
        created => flash.created,
        problem => Option::<String>::None,
    };
    Ok(render(
        "campaigns/list.html",
        page_context(&state, &who, "/console/campaigns", ctx),
    ))
}

/// `POST /console/campaigns`: multipart with the table and the columns.
async fn create(
    State(state): State<AppState>,
    who: ConsoleUser,
    mut form: Multipart,
) -> Result<Response, Response> {
    let mut fields = std::collections::HashMap::new();
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
        } else {
            let text = field
                .text()
                .await
                .map_err(crate::evidence_api::multipart_error)
                .or_page(&who)?;
            fields.insert(name, text.trim().to_owned());
        }
    }
    who.check_csrf(fields.get("_csrf").map(String::as_str).unwrap_or(""))?;
    who.require(CREATORS)?;
    let get = |k: &str| fields.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let created = async {
        let header = Header::parse(
            get("name"),
            get("kind"),
            split_outcomes(get("outcomes")),
            None,
            get("district"),
        )?;
        let (bytes, file_name) = file
            .filter(|(b, _)| !b.is_empty())
            .ok_or_else(|| ApiError::invalid_field("file", "choose the table to upload"))?;
        let address = get("address_column").ok_or_else(|| {
            ApiError::invalid_field("address_column", "name the column that holds the address")
        })?;
        let cols = Columns {
            address: address.to_owned(),
            identity: get("identity_column").map(str::to_owned),
            name: get("name_column").map(str::to_owned),
            phone: get("phone_column").map(str::to_owned),
        };
        let table = wire::read_upload(bytes, file_name, None).await?;
        camp::create_from_table(
            &state,
            &who.user.actor,
            &who.user.username,
            header,
            cols,
            table,
        )
        .await
    }
    .await;
    match created {
        Ok(c) => Ok(Redirect::to(&format!("/console/campaigns/{}", c.id)).into_response()),
        Err(e) => {
            let campaigns = visible_campaigns(&state, &who.user.actor)
                .await
                .or_page(&who)?;
            let views: Vec<_> = campaigns.iter().map(campaign_view).collect();
            let ctx = context! {
                campaigns => Value::from_serialize(&views),
                may_create => true,
                may_queue => true,
                problem => Some(e.message.clone()),
                problem_detail => e.details.map(|d| d.to_string()),
            };
            Ok(render(
                "campaigns/list.html",
                page_context(&state, &who, "/console/campaigns", ctx),
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
struct ShowQuery {
    level: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, Response> {
    camp::require_reader(&who.user.actor).or_page(&who)?;
    let c = find_campaign(&state, &who.user.actor, &id)
        .await
        .or_page(&who)?;
    let level = parse_level(q.level.as_deref()).or_page(&who)?;
    let prefix = view_prefix(&who.user.actor, &c);
    let (totals, rows) = camp::progress(&state, &c, prefix.as_deref(), level)
        .await
        .or_page(&who)?;
    let ctx = context! {
        campaign => Value::from_serialize(campaign_view(&c)),
        totals => Value::from_serialize(&totals),
        rows => Value::from_serialize(&rows),
        level => level.as_str(),
        merge_rule => wangge_address::dedup::MERGE_RULE,
    };
    Ok(render(
        "campaigns/show.html",
        page_context(&state, &who, "/console/campaigns", ctx),
    ))
}

#[derive(Debug, Deserialize)]
struct QueueQuery {
    q: Option<String>,
    done: Option<String>,
    problem: Option<String>,
}

async fn queue(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<QueueQuery>,
) -> Result<Response, Response> {
    who.require(QUEUE_WORKERS)?;
    let rows = queue_records(&state, &who.user.actor, None, q.q.as_deref(), 0, 200)
        .await
        .or_page(&who)?;
    let views: Vec<_> = rows.iter().map(record_view).collect();
    let ctx = context! {
        records => Value::from_serialize(&views),
        q => q.q,
        done => q.done,
        problem => q.problem,
    };
    Ok(render(
        "campaigns/queue.html",
        page_context(&state, &who, "/console/campaigns", ctx),
    ))
}

#[derive(Debug, Deserialize)]
struct AssignForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    campaign: String,
    seq: String,
    house_code: String,
    version: Option<i64>,
}

async fn assign(
    State(state): State<AppState>,
    who: ConsoleUser,
    Form(f): Form<AssignForm>,
) -> Result<Response, Response> {
    who.check_csrf(&f.csrf)?;
    who.require(QUEUE_WORKERS)?;
    let done = async {
        let c = find_campaign(&state, &who.user.actor, &f.campaign).await?;
        let r = find_record(&state, &who.user.actor, &c, &f.seq).await?;
        assign_house(&state, &who.user, &c, r, &f.house_code, f.version).await
    }
    .await;
    let target = match done {
        Ok(r) => format!(
            "/console/campaigns/queue?done={}",
            crate::console::urlencode(&r.house_code.unwrap_or_default())
        ),
        Err(e) => format!(
            "/console/campaigns/queue?problem={}",
            crate::console::urlencode(&e.message)
        ),
    };
    Ok(Redirect::to(&target).into_response())
}

async fn my_tasks(State(state): State<AppState>, who: ConsoleUser) -> Result<Response, Response> {
    let tasks = tasks_of(&state, &who.user.actor, None, true)
        .await
        .or_page(&who)?;
    let ctx = context! { tasks => Value::from_serialize(&tasks) };
    Ok(render(
        "campaigns/tasks.html",
        page_context(&state, &who, "/m/campaigns", ctx),
    ))
}

async fn task(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path((id, grid)): Path<(String, String)>,
    Query(flash): Query<Flash>,
) -> Result<Response, Response> {
    camp::require_reader(&who.user.actor).or_page(&who)?;
    let c = find_campaign(&state, &who.user.actor, &id)
        .await
        .or_page(&who)?;
    let rows = grid_records(&state, &who.user.actor, &c, &grid)
        .await
        .or_page(&who)?;
    let views: Vec<_> = rows.iter().map(record_view).collect();
    let ctx = context! {
        campaign => Value::from_serialize(campaign_view(&c)),
        grid => grid,
        records => Value::from_serialize(&views),
        may_record => who.role() == Role::GridWorker && c.status == "open",
        done => flash.done,
    };
    Ok(render(
        "campaigns/task.html",
        page_context(&state, &who, "/m/campaigns", ctx),
    ))
}

/// `POST /m/campaigns/{id}/{grid}`: one record's result (multipart, with an optional photo).
async fn record(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path((id, grid)): Path<(String, String)>,
    mut form: Multipart,
) -> Result<Response, Response> {
    // The CSRF token and the record come first in the form; the rest is the API's result form.
    let mut csrf = String::new();
    let mut seq = String::new();
    let mut submitted = crate::campaign_api::Submitted {
        outcome: String::new(),
        notes: None,
        version: None,
        photo: None,
    };
    while let Some(field) = form
        .next_field()
        .await
        .map_err(crate::evidence_api::multipart_error)
        .or_page(&who)?
    {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("seq") => seq = field.text().await.unwrap_or_default(),
            Some("outcome") => submitted.outcome = field.text().await.unwrap_or_default(),
            Some("notes") => {
                submitted.notes = field.text().await.ok().filter(|t| !t.trim().is_empty())
            }
            Some("version") => {
                submitted.version = field.text().await.ok().and_then(|t| t.trim().parse().ok())
            }
            Some("photo") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(crate::evidence_api::multipart_error)
                    .or_page(&who)?;
                if !bytes.is_empty() {
                    submitted.photo = Some(bytes.to_vec());
                }
            }
            _ => {}
        }
    }
    who.check_csrf(&csrf)?;
    let c = find_campaign(&state, &who.user.actor, &id)
        .await
        .or_page(&who)?;
    let r = find_record(&state, &who.user.actor, &c, seq.trim())
        .await
        .or_page(&who)?;
    let saved = save_result(&state, &who.user, &c, r, submitted)
        .await
        .or_page(&who)?;
    Ok(Redirect::to(&format!(
        "/m/campaigns/{id}/{grid}?done={}#r{}",
        saved.seq, saved.seq
    ))
    .into_response())
}
