//! `/console/base/new/{kind}`: registering a house, a person with their home, an organisation or
//! a component. The form posts to `registry::submit`, as the API's create does: a reviewer's
//! registration is stored at once, anyone else's waits for review; refused fields come back
//! with the form, each message beside its field.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Serialize;
use wangge_domain::registry::{ChangeOp, HouseUse, RecordKind};

use super::{
    COMPONENT_STATUSES, ORG_KINDS, Problems, READERS, RESIDENCE_KINDS, may_submit, page, posted,
    record_path, refusal, see_other, tr,
};
use crate::console::{ConsoleUser, error_page};
use crate::error::ApiError;
use crate::registry::{self as reg, Outcome, Reader};
use crate::registry_api::ClientAddr;
use crate::state::AppState;

/// The kinds of record a form registers, in the order the section's tabs list them.
pub(super) const KINDS: [RecordKind; 4] = RecordKind::ALL;

/// One field of a registration form.
#[derive(Debug, Serialize)]
struct Input {
    name: &'static str,
    /// text, number, date, select, tags or textarea.
    input: &'static str,
    required: bool,
    /// A select's values, labelled from `labels[group]`.
    options: Vec<&'static str>,
    group: &'static str,
}

fn text(name: &'static str, required: bool) -> Input {
    Input {
        name,
        input: "text",
        required,
        options: Vec::new(),
        group: "",
    }
}

fn typed(name: &'static str, input: &'static str, required: bool) -> Input {
    Input {
        input,
        ..text(name, required)
    }
}

fn select(name: &'static str, group: &'static str, options: &[&'static str]) -> Input {
    Input {
        input: "select",
        options: options.to_vec(),
        group,
        ..text(name, false)
    }
}

/// A titled part of a form; `map` puts the position picker beside it.
#[derive(Debug, Serialize)]
struct Section {
    title: String,
    map: bool,
    inputs: Vec<Input>,
}

/// The sections of a kind's form: (title key, has the map, fields).
fn sections(kind: RecordKind) -> Vec<(&'static str, bool, Vec<Input>)> {
    let uses: Vec<&'static str> = HouseUse::ALL.iter().map(|u| u.as_str()).collect();
    match kind {
        RecordKind::House => vec![
            (
                "base.new.section.record",
                false,
                vec![
                    text("house_code", true),
                    select("use", "use", &uses),
                    typed("area_m2", "number", false),
                ],
            ),
            (
                "base.new.section.address",
                false,
                [
                    "province",
                    "city",
                    "district",
                    "street",
                    "community",
                    "road",
                    "number",
                ]
                .into_iter()
                .map(|n| text(n, false))
                .chain([
                    text("building", false),
                    text("unit", false),
                    typed("floor", "number", false),
                    text("room", false),
                ])
                .collect(),
            ),
            (
                "base.new.section.position",
                true,
                vec![
                    text("grid_code", false),
                    typed("lon", "number", false),
                    typed("lat", "number", false),
                ],
            ),
        ],
        RecordKind::Person => vec![
            (
                "base.new.section.person",
                false,
                vec![
                    text("identity_number", true),
                    text("name", true),
                    text("phone", false),
                    typed("tags", "tags", false),
                    text("household", false),
                    text("registered_address", false),
                ],
            ),
            (
                "base.new.section.home",
                false,
                vec![
                    text("house_code", true),
                    typed("moved_in", "date", true),
                    select("residence_kind", "residence_kind", &RESIDENCE_KINDS),
                    text("relation", false),
                ],
            ),
        ],
        RecordKind::Organisation => vec![(
            "base.new.section.record",
            false,
            vec![
                text("credit_code", true),
                text("name", true),
                select("org_kind", "org_kind", &ORG_KINDS),
                text("house_code", false),
                text("grid_code", false),
                text("responsible_person", false),
                text("contact_phone", false),
            ],
        )],
        RecordKind::Component => vec![
            (
                "base.new.section.record",
                false,
                vec![
                    text("component_code", true),
                    text("name", false),
                    select("status", "status", &COMPONENT_STATUSES),
                    text("owner_unit", false),
                    text("maintenance_unit", false),
                    text("responsible_unit", false),
                    typed("attributes", "textarea", false),
                ],
            ),
            (
                "base.new.section.position",
                true,
                vec![
                    typed("lon", "number", true),
                    typed("lat", "number", true),
                    text("grid_code", false),
                ],
            ),
        ],
    }
}

fn input_names(kind: RecordKind) -> Vec<&'static str> {
    sections(kind)
        .into_iter()
        .flat_map(|(_, _, inputs)| inputs.into_iter().map(|i| i.name))
        .collect()
}

fn title_key(kind: RecordKind) -> String {
    format!("base.new.title.{}", kind.as_str())
}

/// The catalogue keys a kind's form names in code (for the catalogue test).
#[cfg(test)]
pub(super) fn keys_of(kind: RecordKind) -> Vec<String> {
    let mut keys = vec![title_key(kind)];
    keys.extend(sections(kind).into_iter().map(|(k, _, _)| k.to_owned()));
    keys
}

fn parse_kind(who: &ConsoleUser, kind: &str) -> Result<RecordKind, Response> {
    RecordKind::parse(kind).ok_or_else(|| {
        error_page(
            who.lang,
            Some(who),
            &ApiError::not_found("not_found", format!("no form for '{kind}'")),
        )
    })
}

/// Registering is for the roles that change the base data.
fn require_submitter(who: &ConsoleUser) -> Result<(), Response> {
    who.require(READERS)?;
    if may_submit(who.role()) {
        Ok(())
    } else {
        Err(error_page(
            who.lang,
            Some(who),
            &ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "page_forbidden",
                "your role reads the base data but does not change it",
            ),
        ))
    }
}

pub(super) async fn form(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(kind): Path<String>,
    Query(preset): Query<BTreeMap<String, String>>,
) -> Result<Response, Response> {
    require_submitter(&who)?;
    let kind = parse_kind(&who, &kind)?;
    // A link may fill fields in (the house page's "add a resident" gives the house code).
    let names = input_names(kind);
    let mut typed: BTreeMap<String, String> = preset
        .into_iter()
        .filter(|(k, v)| names.contains(&k.as_str()) && v.chars().count() <= 200)
        .collect();
    // A grid worker registers in their own grid.
    if let Some(region) = &who.user.actor.region
        && region.len() == 15
        && kind != RecordKind::Person
        && !typed.contains_key("grid_code")
    {
        typed.insert("grid_code".to_owned(), region.clone());
    }
    Ok(show(&state, &who, kind, typed, Problems::default()))
}

fn show(
    state: &AppState,
    who: &ConsoleUser,
    kind: RecordKind,
    typed: BTreeMap<String, String>,
    problems: Problems,
) -> Response {
    let sections: Vec<Section> = sections(kind)
        .into_iter()
        .map(|(key, map, inputs)| Section {
            title: tr(who.lang, key, &[]),
            map,
            inputs,
        })
        .collect();
    let ticked: Vec<String> = typed
        .get("tags")
        .map(|t| t.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let units: Vec<Value> = state
        .reference()
        .units()
        .iter()
        .filter(|u| u.active)
        .map(|u| context! { code => u.code.clone(), name => u.name.clone() })
        .collect();
    let path = format!("/console/base/new/{}", kind.as_str());
    let ctx = context! {
        kind => kind.as_str(),
        kinds => KINDS.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        title => tr(who.lang, &title_key(kind), &[]),
        sections => Value::from_serialize(&sections),
        form => Value::from_serialize(&typed),
        ticked => ticked,
        units => units,
        region => who.user.actor.region.clone(),
        problems => Value::from_serialize(&problems),
    };
    page(state, who, problems.status(), &path, "base/new.html", ctx)
}

pub(super) async fn submit(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    Path(kind): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    require_submitter(&who)?;
    let kind = parse_kind(&who, &kind)?;
    let names = input_names(kind);
    let fields = posted.fields(&names, kind == RecordKind::Person);
    let reader = Reader::of(&who.user, client);
    match reg::submit(&state, &reader, kind, ChangeOp::Create, None, fields).await {
        Ok(Outcome::Applied { key, .. }) => Ok(see_other(&record_path(kind, &key), "created")),
        Ok(Outcome::Proposed { .. }) => Ok(see_other("/console/base/changes?tab=mine", "proposed")),
        Err(e) => {
            let problems = refusal(&who, e)?;
            Ok(show(&state, &who, kind, posted.typed(), problems))
        }
    }
}
