//! The administrators' pages: users and roles, handling units, the category catalogue with its
//! deadlines and standards, dispatch rules, the working calendar, and region import with its
//! validation report.
//!
//! Only `Role::Admin` opens them. Every form carries the session's CSRF token; a good post
//! redirects (303) to the page with a `done` flash from the catalogue, bad input shows the form
//! again with what was typed and a sentence naming the field, and stores nothing. The checks
//! the API does too (categories, dispatch rules, calendar tables) are the API's own functions.
//!
//! This file holds the routes and what the pages share (the admin guard, `Problem`, the
//! `done` flash, `Shown` for a page with a form); each page is its own module.

// Helpers answer a page either way, like the handlers they serve (`?` on `Result<_, Response>`);
// boxing the error page would only add a step.
#![allow(clippy::result_large_err)]

mod api_keys;
mod calendar;
mod categories;
mod regions;
mod rules;
mod units;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_domain::role::Role;

use super::{ConsoleUser, Lang, OrPage, i18n, page_context, render_status, urlencode};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console/admin",
            get(|| async { Redirect::to("/console/admin/users") }),
        )
        .route(
            "/console/admin/users",
            get(users::users_page).post(users::create_user),
        )
        .route(
            "/console/admin/users/{username}",
            get(users::user_page).post(users::update_user),
        )
        .route(
            "/console/admin/users/{username}/password",
            post(users::reset_password),
        )
        .route(
            "/console/admin/units",
            get(units::units_page).post(units::create_unit),
        )
        .route(
            "/console/admin/units/{code}/active",
            post(units::set_unit_active),
        )
        .route(
            "/console/admin/categories",
            get(categories::categories_page),
        )
        .route(
            "/console/admin/categories/{kind}/{code}",
            get(categories::category_page).post(categories::change_category),
        )
        .route(
            "/console/admin/rules",
            get(rules::rules_page).post(rules::create_rule),
        )
        .route("/console/admin/rules/{id}/delete", post(rules::delete_rule))
        .route("/console/admin/calendar", get(calendar::calendar_page))
        .route(
            "/console/admin/calendar/days",
            post(calendar::add_calendar_day),
        )
        .route(
            "/console/admin/calendar/remove",
            post(calendar::remove_calendar_day),
        )
        .route(
            "/console/admin/calendar/table",
            post(calendar::paste_calendar_table),
        )
        .route(
            "/console/admin/api-keys",
            get(api_keys::keys_page).post(api_keys::issue),
        )
        .route(
            "/console/admin/api-keys/{id}/revoke",
            post(api_keys::revoke_key),
        )
        .route(
            "/console/admin/regions",
            get(regions::regions_page)
                .post(regions::import_regions_form)
                .layer(DefaultBodyLimit::max(regions::REGION_UPLOAD_LIMIT_BYTES)),
        )
}

/// A catalogue sentence with its `{name}` placeholders filled, for text made on the server.
fn tr(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let catalogues = i18n::catalogues();
    let mut text = catalogues.text(lang, key).to_owned();
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// What is wrong with a form: the field (for `data-field` and focus) and a sentence.
#[derive(Debug, Clone, Serialize)]
struct Problem {
    field: String,
    message: String,
}

impl Problem {
    fn new(lang: Lang, field: &str, key: &str, args: &[(&str, &str)]) -> Problem {
        Problem {
            field: field.to_owned(),
            message: tr(lang, key, args),
        }
    }

    /// An error from the shared checks (the API's), in the catalogue's words with the server's
    /// detail, naming the field when the error does.
    fn from_api(lang: Lang, err: &ApiError) -> Problem {
        let field = err
            .details
            .as_ref()
            .and_then(|d| d.get("field"))
            .and_then(|f| f.as_str())
            .unwrap_or("")
            .to_owned();
        let catalogues = i18n::catalogues();
        let key = format!("error.{}", err.code);
        let sentence = if catalogues.has(lang, &key) {
            catalogues.text(lang, &key).to_owned()
        } else {
            catalogues.text(lang, "error.generic").to_owned()
        };
        let label_key = format!("admin.field.{field}");
        let message = if !field.is_empty() && catalogues.has(lang, &label_key) {
            tr(
                lang,
                "admin.problem.field_detail",
                &[
                    ("field", catalogues.text(lang, &label_key)),
                    ("sentence", &sentence),
                    ("detail", &err.message),
                ],
            )
        } else if err.status == StatusCode::INTERNAL_SERVER_ERROR {
            sentence
        } else {
            tr(
                lang,
                "admin.problem.detail",
                &[("sentence", &sentence), ("detail", &err.message)],
            )
        };
        Problem { field, message }
    }
}

/// An error of a shared check: a refusal of the input (422) is a problem to show with the form,
/// anything else an error page.
fn refusal(who: &ConsoleUser, err: &ApiError) -> Result<Problem, Response> {
    if err.status == StatusCode::UNPROCESSABLE_ENTITY {
        Ok(Problem::from_api(who.lang, err))
    } else {
        Err(super::error_page(who.lang, Some(who), err))
    }
}

/// The admin guard every handler starts with.
fn admin(who: &ConsoleUser) -> Result<(), Response> {
    who.require(&[Role::Admin])
}

/// How every post of a form starts: the admin guard, the form body (or a page saying it could
/// not be read), and the session's CSRF token, which `csrf` picks out of the form.
fn posted<T>(
    who: &ConsoleUser,
    form: Result<Form<T>, FormRejection>,
    csrf: impl Fn(&T) -> &str,
) -> Result<T, Response> {
    admin(who)?;
    let form = form
        .map(|Form(f)| f)
        .map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))
        .or_page(who)?;
    who.check_csrf(csrf(&form))?;
    Ok(form)
}

fn see_other(path: &str, done: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}done={}", urlencode(done))).into_response()
}

/// The flash of a `done` code, if the catalogue knows it (anything else is ignored).
fn done_text(lang: Lang, done: Option<&str>, args: &[(&str, &str)]) -> Option<String> {
    let done = done?;
    if !done.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return None;
    }
    let key = format!("admin.done.{done}");
    i18n::catalogues()
        .has(lang, &key)
        .then(|| tr(lang, &key, args))
}

#[derive(Debug, Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

fn page(
    state: &AppState,
    who: &ConsoleUser,
    status: StatusCode,
    path: &str,
    template: &str,
    ctx: Value,
) -> Response {
    render_status(status, template, page_context(state, who, path, ctx))
}

/// What a page with a form shows besides its own values: the form (empty, stored values, or
/// what was typed), what is wrong with it, and the flash of the last post.
struct Shown<F> {
    form: F,
    problem: Option<Problem>,
    done: Option<String>,
}

impl<F: Default> Shown<F> {
    /// An empty form, with the flash of the `done` code the last post redirected with.
    fn fresh(lang: Lang, done: Option<&str>) -> Self {
        Shown::with(F::default(), done_text(lang, done, &[]))
    }
}

impl<F> Shown<F> {
    fn with(form: F, done: Option<String>) -> Self {
        Shown {
            form,
            problem: None,
            done,
        }
    }

    /// The form again, as it was typed, with what is wrong with it.
    fn again(form: F, problem: Problem) -> Self {
        Shown {
            form,
            problem: Some(problem),
            done: None,
        }
    }

    /// 200 for a page, 422 when it shows a form again with a problem.
    fn status(&self) -> StatusCode {
        if self.problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

impl<F: Serialize> Shown<F> {
    /// The page's own values with `form`, `problem` and `done`.
    fn context(&self, page: Value) -> Value {
        context! {
            form => Value::from_serialize(&self.form),
            problem => Value::from_serialize(&self.problem),
            done => self.done.clone(),
            ..page
        }
    }
}

/// A page with a form, answered 200, or 422 when it shows the form again with a problem.
fn form_page<F: Serialize>(
    state: &AppState,
    who: &ConsoleUser,
    path: &str,
    template: &str,
    shown: &Shown<F>,
    ctx: Value,
) -> Response {
    page(
        state,
        who,
        shown.status(),
        path,
        template,
        shown.context(ctx),
    )
}

fn checked(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|s| !s.is_empty() && s != "0" && s != "false")
}

/// A code made of letters, digits, `-`, `_` and `.`, of 1..=max characters.
fn plain_code(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A value and its label, for a `<select>`.
#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    label: String,
}

/// The active handling units, for the user and dispatch rule forms.
fn unit_choices(state: &AppState) -> Vec<Choice> {
    state
        .reference()
        .units()
        .iter()
        .filter(|u| u.active)
        .map(|u| Choice {
            value: u.code.clone(),
            label: format!("{} ({})", u.name, u.code),
        })
        .collect()
}
