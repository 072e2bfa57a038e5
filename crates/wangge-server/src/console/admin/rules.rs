//! Dispatch rules: which unit a case goes to by category, region and component owner. The
//! checks are the API's (`add_dispatch_rule`), with a mistyped region or category caught first.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wangge_store::Store;

use super::{
    DoneQuery, Problem, Shown, admin, checked, form_page, posted, refusal, see_other, unit_choices,
};
use crate::console::{ConsoleUser, OrPage};
use crate::error::ApiError;
use crate::rules_api::{DispatchRuleView, add_dispatch_rule, remove_dispatch_rule};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RuleForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    category: String,
    region: String,
    component_unit: String,
    unit: String,
    auto_dispatch: Option<String>,
}

#[derive(Debug, Serialize)]
struct RuleView {
    id: String,
    category: Option<String>,
    category_name: Option<String>,
    region: Option<String>,
    region_name: Option<String>,
    component_unit: Option<String>,
    unit: String,
    unit_name: Option<String>,
    auto_dispatch: bool,
}

pub(super) async fn rules_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    show_rules(&state, &who, Shown::fresh(who.lang, q.done.as_deref())).await
}

fn category_name(state: &AppState, code: &str) -> Option<String> {
    let reference = state.reference();
    if code.len() == 2 {
        reference
            .categories()
            .find(|c| c.kind == "matter" && c.class_code == code)
            .map(|c| c.class_name.clone())
    } else {
        reference.category("matter", code).map(|c| c.name.clone())
    }
}

async fn show_rules(
    state: &AppState,
    who: &ConsoleUser,
    shown: Shown<RuleForm>,
) -> Result<Response, Response> {
    let atlas = state.atlas();
    let reference = state.reference();
    let rules: Vec<RuleView> = state
        .store
        .dispatch_rules()
        .await
        .or_page(who)?
        .into_iter()
        .map(|r| RuleView {
            id: r.id.to_string(),
            category_name: r
                .category_code
                .as_deref()
                .and_then(|c| category_name(state, c)),
            region_name: r
                .region_code
                .as_deref()
                .and_then(|c| atlas.region(c))
                .map(|x| x.name.clone()),
            unit_name: reference.unit(&r.unit_code).map(|u| u.name.clone()),
            category: r.category_code,
            region: r.region_code,
            component_unit: r.component_unit,
            unit: r.unit_code,
            auto_dispatch: r.auto_dispatch,
        })
        .collect();
    let ctx = context! {
        rules => Value::from_serialize(&rules),
        units => Value::from_serialize(unit_choices(state)),
    };
    Ok(form_page(
        state,
        who,
        "/console/admin/rules",
        "admin/rules.html",
        &shown,
        ctx,
    ))
}

fn optional(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

pub(super) async fn create_rule(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<RuleForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let lang = who.lang;
    let category = optional(&form.category);
    let region = optional(&form.region);
    let problem = if let Some(code) = &region
        && state.atlas().region(code).is_none()
    {
        // The API takes any digits as a region; here a mistyped code is caught before it is
        // stored.
        Some(Problem::new(
            lang,
            "region",
            "admin.rules.problem.region",
            &[("code", code)],
        ))
    } else if let Some(code) = &category
        && code.len() == 5
        && category_name(&state, code).is_none()
    {
        Some(Problem::new(
            lang,
            "category",
            "admin.rules.problem.category",
            &[("code", code)],
        ))
    } else if form.unit.trim().is_empty() {
        Some(Problem::new(lang, "unit", "admin.rules.problem.unit", &[]))
    } else {
        None
    };
    if let Some(p) = problem {
        return show_rules(&state, &who, Shown::again(form, p)).await;
    }
    let rule = DispatchRuleView {
        id: None,
        category,
        region,
        component_unit: optional(&form.component_unit),
        unit: form.unit.trim().to_owned(),
        auto_dispatch: checked(&form.auto_dispatch),
    };
    match add_dispatch_rule(&state, rule).await {
        Ok(row) => {
            tracing::info!(admin = %who.user.username, rule = %row.id, unit = %row.unit_code, "dispatch rule added");
            Ok(see_other("/console/admin/rules", "rule_created"))
        }
        Err(e) => {
            let p = refusal(&who, &e)?;
            show_rules(&state, &who, Shown::again(form, p)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub(super) async fn delete_rule(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, Response> {
    posted(&who, form, |f| f.csrf.as_str())?;
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("rule_not_found", format!("no dispatch rule has id {id}")))
        .or_page(&who)?;
    remove_dispatch_rule(&state, id).await.or_page(&who)?;
    tracing::info!(admin = %who.user.username, rule = %id, "dispatch rule removed");
    Ok(see_other("/console/admin/rules", "rule_deleted"))
}
