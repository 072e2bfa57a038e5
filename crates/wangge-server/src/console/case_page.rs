//! The case page — every field, the map, photos before and after, the whole timeline and the
//! deadline clock, with a form for each action the loop allows the user now — and the one
//! handler all action forms post to.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use wangge_domain::case_loop::{Action, ActionName};
use wangge_store::Store;

use super::{ConsoleUser, OrPage, page_context, render, safe_back};
use crate::api::{case_view, parse_case_id};
use crate::cases::{act, attach_evidence, readable_case};
use crate::error::ApiError;
use crate::evidence::StoredEvidence;
use crate::state::AppState;

/// Photos sent with one form, in all.
const FORM_LIMIT_BYTES: usize = 64 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/cases/{id}", get(case_page))
        .route(
            "/console/cases/{id}/act",
            post(act_form).layer(DefaultBodyLimit::max(FORM_LIMIT_BYTES)),
        )
}

/// The fields each action's form asks for.
fn fields_of(action: ActionName) -> &'static [&'static str] {
    use ActionName::*;
    match action {
        Reject | Return | CheckFail | Escalate | DenyExtension | Suspend => &["reason"],
        Confirm | Register | Handle | CheckPass | Close | SelfHandle | Urge | ReportPart => {
            &["note"]
        }
        Dispatch => &["unit"],
        RequestExtension => &["amount", "reason"],
        Merge => &["into"],
        Whistle => &["units", "join_hours"],
        Comment => &["text"],
        Accept | ApproveExtension | Resume | Join | Attach => &[],
    }
}

/// Which stage photos sent with an action record.
fn photo_stage(action: Option<ActionName>) -> &'static str {
    match action {
        Some(ActionName::Confirm) => "report",
        Some(ActionName::Handle | ActionName::ReportPart) => "handling",
        Some(ActionName::CheckPass | ActionName::CheckFail) => "verification",
        _ => "other",
    }
}

/// Actions that take photos in their form.
fn takes_photos(action: ActionName) -> bool {
    matches!(
        action,
        ActionName::Confirm
            | ActionName::Handle
            | ActionName::ReportPart
            | ActionName::CheckPass
            | ActionName::CheckFail
    )
}

#[derive(Debug, Deserialize)]
struct CaseQueryString {
    done: Option<String>,
}

async fn case_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    Query(q): Query<CaseQueryString>,
) -> Result<Response, Response> {
    let id = parse_case_id(&id).or_page(&who)?;
    let (row, _) = readable_case(&state, &who.user.actor, id)
        .await
        .or_page(&who)?;
    let grid_geometry = state
        .store
        .current_region(&row.grid_code)
        .await
        .or_page(&who)?
        .map(|r| r.geometry);
    let unit_name = row
        .unit_code
        .as_deref()
        .and_then(|u| state.reference().unit(u).map(|u| u.name.clone()));
    let view = case_view(&state, &who.user, row).await.or_page(&who)?;
    let allowed: Vec<ActionName> = ActionName::ALL
        .into_iter()
        .filter(|a| {
            view_allows(&view, a.as_str()) && *a != ActionName::Attach && *a != ActionName::Comment
        })
        .collect();
    let forms: Vec<Value> = allowed
        .iter()
        .map(|a| {
            context! {
                action => a.as_str(),
                fields => fields_of(*a),
                photos => takes_photos(*a),
            }
        })
        .collect();
    let reference = state.reference();
    // A case goes to its own district's units or to city-wide ones.
    let units: Vec<Value> = reference
        .units()
        .iter()
        .filter(|u| u.active)
        .filter(|u| {
            u.district_code
                .as_deref()
                .is_none_or(|d| d == view.district_code())
        })
        .map(|u| context! { code => u.code.clone(), name => u.name.clone() })
        .collect();
    let unit_names: std::collections::HashMap<String, String> = reference
        .units()
        .iter()
        .map(|u| (u.code.clone(), u.name.clone()))
        .collect();
    let path = format!("/console/cases/{id}");
    let ctx = context! {
        case => Value::from_serialize(&view),
        unit_name => unit_name,
        unit_names => unit_names,
        forms => forms,
        can_attach => view_allows(&view, "attach"),
        can_comment => view_allows(&view, "comment"),
        units => units,
        grid_geometry => grid_geometry,
        done => q.done.filter(|d| ActionName::ALL.iter().any(|a| a.as_str() == d)),
        back => path.clone(),
    };
    Ok(render("case.html", page_context(&state, &who, &path, ctx)))
}

fn view_allows(view: &crate::api::CaseView, action: &str) -> bool {
    view.allowed_actions().iter().any(|a| a == action)
}

/// What an action form sent.
#[derive(Default)]
struct ActionForm {
    csrf: String,
    action: String,
    version: Option<String>,
    back: Option<String>,
    fields: Map<String, Json>,
    units: Vec<String>,
    photos: Vec<(Vec<u8>, Option<String>)>,
}

async fn read_form(mut multipart: Multipart) -> Result<ActionForm, ApiError> {
    let mut form = ActionForm::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(crate::evidence_api::multipart_error)?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photos" {
            let file_name = field.file_name().map(|n| n.chars().take(200).collect());
            let bytes = field
                .bytes()
                .await
                .map_err(crate::evidence_api::multipart_error)?;
            // A file input left empty still sends a part with no bytes.
            if !bytes.is_empty() {
                form.photos.push((bytes.to_vec(), file_name));
            }
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(crate::evidence_api::multipart_error)?;
        let text = text.trim().to_owned();
        match name.as_str() {
            "_csrf" => form.csrf = text,
            "action" => form.action = text,
            "version" => form.version = Some(text),
            "back" => form.back = Some(text),
            "units" if !text.is_empty() => form.units.push(text),
            "amount" | "join_hours" if !text.is_empty() => {
                let n: u32 = text.parse().map_err(|_| {
                    ApiError::invalid_field(&name, format!("{name} must be a whole number"))
                })?;
                form.fields.insert(name, Json::from(n));
            }
            // An empty optional note is no note; an empty reason stays, for the loop to refuse by
            // name.
            "reason" | "note" | "unit" | "into" | "text"
                if !(text.is_empty() && name == "note") =>
            {
                form.fields.insert(name, Json::String(text));
            }
            _ => {}
        }
    }
    Ok(form)
}

/// The action as the loop takes it, built from the fields this action's form has.
fn action_of(form: &ActionForm) -> Result<(ActionName, Action), ApiError> {
    let name = ActionName::ALL
        .into_iter()
        .find(|a| a.as_str() == form.action)
        .ok_or_else(|| {
            ApiError::invalid_field("action", format!("unknown action '{}'", form.action))
        })?;
    let mut object = Map::new();
    object.insert("action".into(), Json::String(form.action.clone()));
    for field in fields_of(name) {
        if *field == "units" {
            object.insert("units".into(), Json::from(form.units.clone()));
        } else if let Some(v) = form.fields.get(*field) {
            object.insert((*field).to_owned(), v.clone());
        }
    }
    let action: Action = serde_json::from_value(Json::Object(object)).map_err(|e| {
        ApiError::invalid_field(
            fields_of(name).first().copied().unwrap_or("action"),
            e.to_string(),
        )
    })?;
    Ok((name, action))
}

async fn act_form(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, Response> {
    let id = parse_case_id(&id).or_page(&who)?;
    let form = read_form(multipart).await.or_page(&who)?;
    who.check_csrf(&form.csrf)?;
    let fallback = format!("/console/cases/{id}");
    let back = safe_back(form.back.as_deref(), &fallback);
    // Photos are checked and stored first, so a bad file stops the action before it happens.
    let mut stored: Vec<(StoredEvidence, Option<String>)> = Vec::new();
    for (bytes, file_name) in form.photos.iter().cloned() {
        let store = state.evidence.clone();
        let evidence = tokio::task::spawn_blocking(move || store.put(&bytes))
            .await
            .map_err(ApiError::internal)
            .or_page(&who)?
            .map_err(ApiError::from)
            .or_page(&who)?;
        stored.push((evidence, file_name));
    }
    let name = if form.action == "attach" {
        if stored.is_empty() {
            return Err(super::error_page(
                who.lang,
                Some(&who),
                &ApiError::invalid_field("photos", "choose at least one photo"),
            ));
        }
        None
    } else {
        let version: i64 = form
            .version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::invalid_field("version", "the form has no case version"))
            .or_page(&who)?;
        let (name, action) = action_of(&form).or_page(&who)?;
        act(&state, &who.user.actor, id, version, action)
            .await
            .or_page(&who)?;
        Some(name)
    };
    for (evidence, file_name) in &stored {
        attach_evidence(
            &state,
            &who.user.actor,
            id,
            evidence,
            photo_stage(name),
            file_name.clone(),
        )
        .await
        .or_page(&who)?;
    }
    let done = name.map_or("attach", |n| n.as_str());
    Ok(Redirect::to(&with_done(&back, done)).into_response())
}

/// `back` with `done=<action>` in place of any earlier one, so the next page can say what happened.
fn with_done(back: &str, done: &str) -> String {
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("done="))
        .collect();
    let done = format!("done={done}");
    params.push(&done);
    format!("{path}?{}", params.join("&"))
}
