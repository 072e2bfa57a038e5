//! `/console/base/retention`: the retention rule (数据保留) for the district and administrators —
//! the period, a dry run counting who would lose their personal data, and the anonymisation
//! itself behind a ticked confirmation. Both go through `registry_api::anonymise_people`, the
//! API's own code, so the rule, the scope and the access log are the API's.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::response::Response;
use chrono::Utc;
use minijinja::{Value, context};
use wangge_domain::role::Role;

use super::{Problems, page, posted};
use crate::console::{ConsoleUser, OrPage};
use crate::registry_api::{AnonymiseAnswer, ClientAddr, anonymise_people};
use crate::state::AppState;

/// Anonymising is the district's and the administrators' (as the API has it).
pub(super) const RETAINERS: &[Role] = &[Role::District, Role::Admin];

const PATH: &str = "/console/base/retention";

pub(super) async fn show(
    State(state): State<AppState>,
    who: ConsoleUser,
) -> Result<Response, Response> {
    who.require(RETAINERS)?;
    Ok(render(&state, &who, None, Problems::default()))
}

/// `POST /console/base/retention`: `mode=dry_run` counts; `mode=run` with `confirm` ticked
/// anonymises. Without the tick the count is shown again with the box marked.
pub(super) async fn submit(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    who.require(RETAINERS)?;
    let run = posted.get("mode") == Some("run");
    let (dry_run, problems) = if run && posted.get("confirm").is_none() {
        (
            true,
            Problems::field(who.lang, "confirm", "base.retention.confirm_required"),
        )
    } else {
        (!run, Problems::default())
    };
    let answer = anonymise_people(&state, &who.user, client, dry_run)
        .await
        .or_page(&who)?;
    Ok(render(&state, &who, Some(answer), problems))
}

fn render(
    state: &AppState,
    who: &ConsoleUser,
    answer: Option<AnonymiseAnswer>,
    problems: Problems,
) -> Response {
    let days = state.config.base_data.retention_days;
    // The same day `anonymise_people` counts from, shown before anything is counted.
    let today = crate::local_day::day_of(&state.calendar(), Utc::now());
    let left_before = answer
        .as_ref()
        .map(|a| a.left_before)
        .unwrap_or_else(|| today - chrono::Duration::days(i64::from(days)));
    let result = answer.map(|a| {
        context! {
            dry_run => a.dry_run,
            people => a.people,
            anonymised => a.anonymised,
            left_before => a.left_before.to_string(),
        }
    });
    let ctx = context! {
        retention_days => days,
        left_before => left_before.to_string(),
        result => result,
        problems => Value::from_serialize(&problems),
    };
    page(
        state,
        who,
        problems.status(),
        PATH,
        "base/retention.html",
        ctx,
    )
}
