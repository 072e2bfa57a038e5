//! Handling units: the list with a form for a new unit, and switching a unit on or off.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_domain::region::Level;
use wangge_store::{Store, StoreError, UnitRow};

use super::{Choice, DoneQuery, Problem, Shown, admin, form_page, plain_code, posted, see_other};
use crate::console::{ConsoleUser, OrPage, error_page};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct UnitForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    code: String,
    name: String,
    kind: String,
    district: String,
}

#[derive(Debug, Serialize)]
struct UnitView {
    code: String,
    name: String,
    kind: String,
    kind_name: Option<String>,
    district_code: Option<String>,
    district_name: Option<String>,
    active: bool,
}

fn kind_name(kind: &str) -> Option<String> {
    wangge_domain::unit::DEFAULT_UNIT_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, n)| (*n).to_owned())
}

/// Loads the changed units into memory, so forms and dispatch see the change at once.
async fn reload_reference(state: &AppState, who: &ConsoleUser) -> Result<(), Response> {
    state
        .reload_reference()
        .await
        .map_err(ApiError::internal)
        .or_page(who)
}

pub(super) async fn units_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    show_units(&state, &who, Shown::fresh(who.lang, q.done.as_deref())).await
}

async fn show_units(
    state: &AppState,
    who: &ConsoleUser,
    shown: Shown<UnitForm>,
) -> Result<Response, Response> {
    let atlas = state.atlas();
    let units: Vec<UnitView> = state
        .store
        .units()
        .await
        .or_page(who)?
        .into_iter()
        .map(|u| UnitView {
            kind_name: kind_name(&u.kind),
            district_name: u
                .district_code
                .as_deref()
                .and_then(|c| atlas.region(c))
                .map(|r| r.name.clone()),
            code: u.code,
            name: u.name,
            kind: u.kind,
            district_code: u.district_code,
            active: u.active,
        })
        .collect();
    let kinds: Vec<Choice> = wangge_domain::unit::DEFAULT_UNIT_KINDS
        .iter()
        .map(|(k, n)| Choice {
            value: (*k).to_owned(),
            label: (*n).to_owned(),
        })
        .collect();
    let ctx = context! {
        units => Value::from_serialize(&units),
        kinds => Value::from_serialize(&kinds),
    };
    Ok(form_page(
        state,
        who,
        "/console/admin/units",
        "admin/units.html",
        &shown,
        ctx,
    ))
}

pub(super) async fn create_unit(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<UnitForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let lang = who.lang;
    let checked_form = (|| {
        let code = form.code.trim().to_owned();
        if !plain_code(&code, 64) {
            return Err(Problem::new(lang, "code", "admin.units.problem.code", &[]));
        }
        let name = form.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Problem::new(lang, "name", "admin.units.problem.name", &[]));
        }
        let kind = form.kind.trim().to_owned();
        if !plain_code(&kind, 32) {
            return Err(Problem::new(lang, "kind", "admin.units.problem.kind", &[]));
        }
        let district = form.district.trim();
        let district = if district.is_empty() {
            None
        } else {
            let atlas = state.atlas();
            match atlas.region(district) {
                Some(r) if r.level == Level::District => Some(r.code.clone()),
                Some(_) | None => {
                    return Err(Problem::new(
                        lang,
                        "district",
                        "admin.units.problem.district",
                        &[("code", district)],
                    ));
                }
            }
        };
        Ok((code, name, kind, district))
    })();
    let (code, name, kind, district) = match checked_form {
        Ok(v) => v,
        Err(p) => return show_units(&state, &who, Shown::again(form, p)).await,
    };
    let row = UnitRow {
        id: wangge_domain::new_id(),
        code: code.clone(),
        name,
        kind,
        district_code: district,
        active: true,
    };
    match state.store.insert_units(std::slice::from_ref(&row)).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            let p = Problem::new(
                lang,
                "code",
                "admin.units.problem.code_taken",
                &[("code", &code)],
            );
            return show_units(&state, &who, Shown::again(form, p)).await;
        }
        Err(e) => return Err(error_page(lang, Some(&who), &e.into())),
    }
    reload_reference(&state, &who).await?;
    tracing::info!(admin = %who.user.username, unit = %code, "unit created");
    Ok(see_other("/console/admin/units", "unit_created"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ActiveForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    active: String,
}

pub(super) async fn set_unit_active(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(code): Path<String>,
    form: Result<Form<ActiveForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let active = match form.active.as_str() {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => {
            return Err(error_page(
                who.lang,
                Some(&who),
                &ApiError::invalid_field("active", "active must be true or false"),
            ));
        }
    };
    if !state
        .store
        .set_unit_active(&code, active)
        .await
        .or_page(&who)?
    {
        return Err(error_page(
            who.lang,
            Some(&who),
            &ApiError::not_found(
                "unknown_unit",
                format!("no handling unit has code '{code}'"),
            ),
        ));
    }
    reload_reference(&state, &who).await?;
    tracing::info!(admin = %who.user.username, unit = %code, active, "unit switched");
    Ok(see_other(
        "/console/admin/units",
        if active {
            "unit_activated"
        } else {
            "unit_deactivated"
        },
    ))
}
