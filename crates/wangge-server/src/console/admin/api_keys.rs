//! Open311 API keys: the list (prefix, jurisdiction, last use, revoked or not), a form that
//! issues a key — shown once, on the page that answers the form, never again — and revoking.
//! The checks and the storing are the API's own (`open311::check_issue`, `issue_key`, `revoke`).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wangge_store::api_keys::ApiKeys;

use super::{DoneQuery, Problem, Shown, admin, form_page, posted, see_other, tr};
use crate::console::{ConsoleUser, OrPage, error_page};
use crate::open311::{check_issue, issue_key, revoke, visible};
use crate::state::AppState;

const PATH: &str = "/console/admin/api-keys";

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct KeyForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    name: String,
    region_code: String,
}

#[derive(Debug, Serialize)]
struct KeyView {
    id: String,
    name: String,
    prefix: String,
    region_code: String,
    region_name: Option<String>,
    created_by: String,
    created_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

pub(super) async fn keys_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let done = match q.done.as_deref() {
        Some("revoked") => Some(tr(who.lang, "open311.keys.done_revoked", &[])),
        _ => None,
    };
    show(&state, &who, Shown::with(KeyForm::default(), done), None).await
}

async fn show(
    state: &AppState,
    who: &ConsoleUser,
    shown: Shown<KeyForm>,
    issued: Option<(String, String)>,
) -> Result<Response, Response> {
    let atlas = state.atlas();
    let keys: Vec<KeyView> = state
        .store
        .api_keys()
        .await
        .or_page(who)?
        .into_iter()
        .filter(|k| visible(&who.user.actor, k))
        .map(|k| KeyView {
            id: k.id.to_string(),
            region_name: atlas.region(&k.region_code).map(|r| r.name.clone()),
            name: k.name,
            prefix: k.prefix,
            region_code: k.region_code,
            created_by: k.created_by,
            created_at: k.created_at.to_rfc3339(),
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
        })
        .collect();
    let (issued_name, issued_key) = issued.unzip();
    let ctx = context! {
        keys => Value::from_serialize(&keys),
        issued_name => issued_name,
        issued_key => issued_key,
    };
    Ok(form_page(
        state,
        who,
        PATH,
        "admin/api_keys.html",
        &shown,
        ctx,
    ))
}

pub(super) async fn issue(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<KeyForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    if let Err(p) = check_issue(&state, &who.user.actor, &form.name, &form.region_code) {
        let key = match p.field {
            "name" => "open311.keys.problem_name",
            _ => "open311.keys.problem_region",
        };
        let problem = Problem::new(
            who.lang,
            p.field,
            key,
            &[("code", form.region_code.trim()), ("detail", &p.message)],
        );
        return show(&state, &who, Shown::again(form, problem), None).await;
    }
    let (row, key) = issue_key(
        &state,
        &who.user.username,
        &form.name,
        &form.region_code,
        None,
    )
    .await
    .map_err(|e| error_page(who.lang, Some(&who), &e.into()))?;
    tracing::info!(admin = %who.user.username, key = %row.prefix, region = %row.region_code, "api key issued");
    let done = Some(tr(
        who.lang,
        "open311.keys.done_issued",
        &[("name", &row.name)],
    ));
    // The key is on this answer only: the page is not redirected, so a reload does not show it.
    show(
        &state,
        &who,
        Shown::with(KeyForm::default(), done),
        Some((row.name, key)),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RevokeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub(super) async fn revoke_key(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Result<Response, Response> {
    posted(&who, form, |f| f.csrf.as_str())?;
    let id: Uuid = id
        .parse()
        .map_err(|_| crate::error::ApiError::not_found("no_such_api_key", "no such API key"))
        .or_page(&who)?;
    revoke(&state, &who.user.actor, id).await.or_page(&who)?;
    tracing::info!(admin = %who.user.username, key = %id, "api key revoked");
    Ok(see_other(PATH, "revoked"))
}
