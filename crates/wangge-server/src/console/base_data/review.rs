//! 采集 → 审核 → 入库: the reviewers' queue of proposed changes in their jurisdiction (fields
//! masked, accept or reject with a reason), each proposer's own submissions with their state,
//! and the access log of personal data for the district and administrators.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wangge_domain::registry::{Change, RecordKind};
use wangge_domain::role::Role;
use wangge_store::registry::{AccessFilter, ChangeFilter, ChangeRow, Registry};

use super::{
    CHANGE_STATES, LOG_READERS, PER_PAGE, Problems, READERS, blank, done_text, grid_name, page,
    page_no, pager, posted, record_path, refusal, see_other,
};
use crate::console::{ConsoleUser, OrPage, error_page};
use crate::error::ApiError;
use crate::local_day;
use crate::registry::{self as reg, Place, Reader, candidate_districts};
use crate::registry_api::{ChangeView, ClientAddr, change_view};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct ChangesQuery {
    tab: Option<String>,
    state: Option<String>,
    kind: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

/// Who sees the queue of everyone's proposals: the reviewers, and the leaders who oversee them.
fn sees_queue(role: Role) -> bool {
    Change::may_review(role) || role == Role::Supervisor
}

#[derive(Debug, Serialize)]
struct ChangeLine {
    #[serde(flatten)]
    view: ChangeView,
    grid_name: Option<String>,
    record_href: Option<String>,
    /// Whether this reader may accept or reject it now.
    can_review: bool,
}

pub(super) async fn changes(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<ChangesQuery>,
) -> Result<Response, Response> {
    who.require(READERS)?;
    show_changes(&state, &who, &q, Problems::default(), None).await
}

async fn show_changes(
    state: &AppState,
    who: &ConsoleUser,
    q: &ChangesQuery,
    problems: Problems,
    failed: Option<Uuid>,
) -> Result<Response, Response> {
    let role = who.role();
    let tab = match blank(&q.tab).as_deref() {
        Some("mine") => "mine",
        _ if sees_queue(role) => "queue",
        _ => "mine",
    };
    let place = Place::of(&who.user.actor, None).or_page(who)?;
    let state_filter = match blank(&q.state) {
        Some(s) if s == "all" => None,
        Some(s) if CHANGE_STATES.contains(&s.as_str()) => Some(s),
        _ if tab == "queue" => Some("pending".to_owned()),
        _ => None,
    };
    let kind = blank(&q.kind).filter(|k| RecordKind::parse(k).is_some());
    let page_no = page_no(&q.page);
    let (rows, _) = state
        .store
        .changes(&ChangeFilter {
            district: place.district.clone(),
            region_prefix: place.prefix.clone(),
            state: state_filter.clone(),
            kind: kind.clone(),
            proposed_by: (tab == "mine").then(|| who.user.actor.id.clone()),
            offset: (page_no - 1) * PER_PAGE,
            limit: PER_PAGE,
            record_key: None,
        })
        .await
        .or_page(who)?;
    let shown = rows.len();
    let me = &who.user.actor.id;
    let lines: Vec<ChangeLine> = rows
        .into_iter()
        .map(|c| {
            let can_review =
                Change::may_review(role) && c.state == "pending" && &c.proposed_by != me;
            let view = change_view(state, c);
            let record_href = match (RecordKind::parse(&view.kind), &view.record_key) {
                (Some(k), Some(key)) => Some(record_path(k, key)),
                _ => None,
            };
            ChangeLine {
                grid_name: grid_name(state, &view.grid_code),
                record_href,
                can_review,
                view,
            }
        })
        .collect();
    let path = "/console/base/changes";
    let filters = [
        ("tab", Some(tab.to_owned())),
        ("state", blank(&q.state)),
        ("kind", kind.clone()),
    ];
    let ctx = context! {
        tab => tab,
        sees_queue => sees_queue(role),
        changes => Value::from_serialize(&lines),
        state_filter => blank(&q.state).unwrap_or_else(|| if tab == "queue" { "pending".into() } else { "all".into() }),
        kind_filter => kind,
        states => CHANGE_STATES,
        kinds => RecordKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        pager => pager(path, &filters, page_no, shown, None),
        problems => Value::from_serialize(&problems),
        failed => failed.map(|f| f.to_string()),
        done => done_text(who.lang, &q.done),
    };
    Ok(page(
        state,
        who,
        problems.status(),
        path,
        "base/changes.html",
        ctx,
    ))
}

/// The change in the reader's jurisdiction, or the page saying there is none.
async fn find_change(state: &AppState, who: &ConsoleUser, id: &str) -> Result<ChangeRow, Response> {
    let missing = || {
        error_page(
            who.lang,
            Some(who),
            &ApiError::not_found(
                "change_not_found",
                format!("no change '{id}' in your jurisdiction"),
            ),
        )
    };
    let place = Place::of(&who.user.actor, None).or_page(who)?;
    let uuid = Uuid::parse_str(id).map_err(|_| missing())?;
    for d in candidate_districts(state, &place, None) {
        if let Some(c) = state.store.change(&d, uuid).await.or_page(who)? {
            if place.contains(&c.grid_code) {
                return Ok(c);
            }
            break;
        }
    }
    Err(missing())
}

/// `POST /console/base/changes/{id}/review`: 通过 applies the proposal to the record as it is
/// now; 驳回 needs a reason the proposer reads.
pub(super) async fn decide(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    who.require(READERS)?;
    let c = find_change(&state, &who, &id).await?;
    let accept = match posted.get("decision") {
        Some("accept") => true,
        Some("reject") => false,
        _ => {
            let problems = Problems::field(who.lang, "decision", "base.problem.required");
            return show_changes(&state, &who, &ChangesQuery::default(), problems, Some(c.id))
                .await;
        }
    };
    let reader = Reader::of(&who.user, client);
    match reg::review(
        &state,
        &reader,
        &c.district_code,
        c.id,
        accept,
        posted.get("reason"),
    )
    .await
    {
        Ok(_) => Ok(see_other(
            "/console/base/changes",
            if accept { "accepted" } else { "rejected" },
        )),
        // Reviewed meanwhile by someone else: the queue again, saying so.
        Err(e) if e.status == StatusCode::CONFLICT => {
            let problems = Problems::of(who.lang, &e);
            show_changes(&state, &who, &ChangesQuery::default(), problems, Some(c.id)).await
        }
        Err(e) => {
            let problems = refusal(&who, e)?;
            show_changes(&state, &who, &ChangesQuery::default(), problems, Some(c.id)).await
        }
    }
}

// ---------------------------------------------------------------- the access log

#[derive(Debug, Default, Deserialize)]
pub(super) struct AccessQuery {
    from: Option<String>,
    to: Option<String>,
    username: Option<String>,
    action: Option<String>,
    page: Option<String>,
}

#[derive(Debug, Serialize)]
struct AccessLine {
    at: chrono::DateTime<chrono::Utc>,
    username: String,
    role: String,
    action: String,
    kind: String,
    record_key: Option<String>,
    record_href: Option<String>,
    purpose: Option<String>,
    client: Option<String>,
}

pub(super) async fn access_log(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<AccessQuery>,
) -> Result<Response, Response> {
    who.require(LOG_READERS)?;
    let place = Place::of(&who.user.actor, None).or_page(&who)?;
    let cal = state.calendar();
    let day = |field: &str, text: &Option<String>| -> Result<Option<chrono::NaiveDate>, ApiError> {
        blank(text)
            .map(|t| local_day::parse_day(field, &t))
            .transpose()
    };
    let page_no = page_no(&q.page);
    let mut problems = Problems::default();
    let (from, to) = match (day("from", &q.from), day("to", &q.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            problems = Problems::of(who.lang, &e);
            (None, None)
        }
    };
    let (rows, _) = if problems.message.is_none() {
        state
            .store
            .access_log(&AccessFilter {
                district: place.district.clone(),
                from: from.map(|d| local_day::day_start(&cal, d)),
                to: to.map(|d| local_day::day_end(&cal, d)),
                username: blank(&q.username),
                action: blank(&q.action),
                offset: (page_no - 1) * PER_PAGE,
                limit: PER_PAGE,
                ..Default::default()
            })
            .await
            .or_page(&who)?
    } else {
        (Vec::new(), None)
    };
    let shown = rows.len();
    let lines: Vec<AccessLine> = rows
        .into_iter()
        .map(|a| {
            // An export's key describes the list; a read names the record.
            let record_href = match (RecordKind::parse(&a.kind), &a.record_key) {
                (Some(k), Some(key)) if a.action != "export" => Some(record_path(k, key)),
                _ => None,
            };
            AccessLine {
                at: a.at,
                username: a.username,
                role: a.role,
                action: a.action,
                kind: a.kind,
                record_key: a.record_key,
                record_href,
                purpose: a.purpose,
                client: a.client,
            }
        })
        .collect();
    let path = "/console/base/access-log";
    let filters = [
        ("from", blank(&q.from)),
        ("to", blank(&q.to)),
        ("username", blank(&q.username)),
        ("action", blank(&q.action)),
    ];
    let typed: std::collections::BTreeMap<&str, Option<String>> = filters.iter().cloned().collect();
    let ctx = context! {
        entries => Value::from_serialize(&lines),
        filters => Value::from_serialize(&typed),
        actions => super::ACTIONS,
        pager => pager(path, &filters, page_no, shown, None),
        problems => Value::from_serialize(&problems),
    };
    Ok(page(
        &state,
        &who,
        problems.status(),
        path,
        "base/access_log.html",
        ctx,
    ))
}
