//! The category catalogue: matters and components by class, and one category's deadline,
//! standards and switches. The checks are the API's (`apply_category_change`).

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_domain::category::DeadlineType;
use wangge_store::{CategoryRow, Store};

use super::{
    Choice, Problem, Shown, admin, checked, done_text, form_page, page, posted, refusal, see_other,
    tr,
};
use crate::config_api::{CategoryChange, apply_category_change};
use crate::console::{ConsoleUser, Lang, OrPage, i18n, urlencode};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, Default)]
pub(super) struct CategoryQuery {
    kind: Option<String>,
    class: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Serialize)]
struct CategoryView {
    kind: String,
    code: String,
    class_code: String,
    class_name: String,
    name: String,
    registration_standard: String,
    closing_standard: String,
    deadline_amount: i64,
    deadline_type: String,
    deadline_label: String,
    active: bool,
    auto_close: bool,
}

fn deadline_label(lang: Lang, t: &str) -> String {
    let key = format!("admin.deadline_type.{t}");
    if i18n::catalogues().has(lang, &key) {
        tr(lang, &key, &[])
    } else {
        t.to_owned()
    }
}

fn category_view(lang: Lang, c: &CategoryRow) -> CategoryView {
    CategoryView {
        kind: c.kind.clone(),
        code: c.code.clone(),
        class_code: c.class_code.clone(),
        class_name: c.class_name.clone(),
        name: c.name.clone(),
        registration_standard: c.registration_standard.clone(),
        closing_standard: c.closing_standard.clone(),
        deadline_amount: c.deadline_amount,
        deadline_label: deadline_label(lang, &c.deadline_type),
        deadline_type: c.deadline_type.clone(),
        active: c.active,
        auto_close: c.auto_close,
    }
}

fn kind_choices(lang: Lang) -> Vec<Choice> {
    ["matter", "component"]
        .iter()
        .map(|k| Choice {
            value: (*k).to_owned(),
            label: tr(lang, &format!("admin.categories.kind_{k}"), &[]),
        })
        .collect()
}

pub(super) async fn categories_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<CategoryQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let lang = who.lang;
    let kind = q
        .kind
        .filter(|k| k == "matter" || k == "component")
        .unwrap_or_else(|| "matter".to_owned());
    let class = q.class.filter(|c| !c.is_empty());
    let all = state.store.categories().await.or_page(&who)?;
    let mut classes: BTreeMap<String, String> = BTreeMap::new();
    for c in all.iter().filter(|c| c.kind == kind) {
        classes
            .entry(c.class_code.clone())
            .or_insert_with(|| c.class_name.clone());
    }
    let rows: Vec<CategoryView> = all
        .iter()
        .filter(|c| c.kind == kind && class.as_ref().is_none_or(|k| &c.class_code == k))
        .map(|c| category_view(lang, c))
        .collect();
    let classes: Vec<Choice> = classes
        .into_iter()
        .map(|(value, name)| Choice {
            label: format!("{value} {name}"),
            value,
        })
        .collect();
    let ctx = context! {
        categories => Value::from_serialize(&rows),
        classes => Value::from_serialize(&classes),
        kinds => Value::from_serialize(kind_choices(lang)),
        kind => kind,
        class => class,
        done => done_text(lang, q.done.as_deref(), &[]),
    };
    Ok(page(
        &state,
        &who,
        StatusCode::OK,
        "/console/admin/categories",
        "admin/categories.html",
        ctx,
    ))
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct CategoryForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    deadline_amount: String,
    deadline_type: String,
    registration_standard: String,
    closing_standard: String,
    active: Option<String>,
    auto_close: Option<String>,
}

pub(super) async fn category_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path((kind, code)): Path<(String, String)>,
) -> Result<Response, Response> {
    admin(&who)?;
    let row = find_category(&state, &who, &kind, &code).await?;
    let form = CategoryForm {
        deadline_amount: row.deadline_amount.to_string(),
        deadline_type: row.deadline_type.clone(),
        registration_standard: row.registration_standard.clone(),
        closing_standard: row.closing_standard.clone(),
        active: row.active.then(|| "1".to_owned()),
        auto_close: row.auto_close.then(|| "1".to_owned()),
        ..CategoryForm::default()
    };
    Ok(show_category(&state, &who, &row, Shown::with(form, None)))
}

async fn find_category(
    state: &AppState,
    who: &ConsoleUser,
    kind: &str,
    code: &str,
) -> Result<CategoryRow, Response> {
    state
        .store
        .category(kind, code)
        .await
        .or_page(who)?
        .ok_or_else(|| {
            ApiError::not_found("category_not_found", format!("no {kind} category {code}"))
        })
        .or_page(who)
}

fn show_category(
    state: &AppState,
    who: &ConsoleUser,
    row: &CategoryRow,
    shown: Shown<CategoryForm>,
) -> Response {
    let types: Vec<Choice> = DeadlineType::ALL
        .iter()
        .map(|t| Choice {
            value: t.as_str().to_owned(),
            label: deadline_label(who.lang, t.as_str()),
        })
        .collect();
    let ctx = context! {
        category => Value::from_serialize(category_view(who.lang, row)),
        node_limits => row.node_limits.clone(),
        types => Value::from_serialize(&types),
    };
    form_page(
        state,
        who,
        "/console/admin/categories",
        "admin/category.html",
        &shown,
        ctx,
    )
}

pub(super) async fn change_category(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path((kind, code)): Path<(String, String)>,
    form: Result<Form<CategoryForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let row = find_category(&state, &who, &kind, &code).await?;
    let Ok(amount) = form.deadline_amount.trim().parse::<i64>() else {
        let p = Problem::new(
            who.lang,
            "deadline_amount",
            "admin.categories.problem.amount",
            &[],
        );
        return Ok(show_category(&state, &who, &row, Shown::again(form, p)));
    };
    let change = CategoryChange {
        deadline_amount: Some(amount),
        deadline_type: Some(form.deadline_type.trim().to_owned()),
        registration_standard: Some(form.registration_standard.clone()),
        closing_standard: Some(form.closing_standard.clone()),
        active: Some(checked(&form.active)),
        auto_close: Some(checked(&form.auto_close)),
        node_limits: None,
    };
    match apply_category_change(&state, &kind, &code, change).await {
        Ok(saved) => {
            tracing::info!(admin = %who.user.username, kind = %kind, code = %code, "category changed");
            let back = format!(
                "/console/admin/categories?kind={}&class={}",
                urlencode(&saved.kind),
                urlencode(&saved.class_code)
            );
            Ok(see_other(&back, "category_saved"))
        }
        Err(e) => {
            let p = refusal(&who, &e)?;
            Ok(show_category(&state, &who, &row, Shown::again(form, p)))
        }
    }
}
