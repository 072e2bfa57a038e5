//! The administrators' pages: users and roles, handling units, the category catalogue with its
//! deadlines and standards, dispatch rules, the working calendar, and region import with its
//! validation report.
//!
//! Only `Role::Admin` opens them. Every form carries the session's CSRF token; a good post
//! redirects (303) to the page with a `done` flash from the catalogue, bad input shows the form
//! again with what was typed and a sentence naming the field, and stores nothing. The checks
//! the API does too (categories, dispatch rules, calendar tables) are the API's own functions.

// Helpers answer a page either way, like the handlers they serve (`?` on `Result<_, Response>`);
// boxing the error page would only add a step.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashSet};

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{Datelike, NaiveDate, Utc, Weekday};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wangge_domain::calendar::SpecialDayKind;
use wangge_domain::category::DeadlineType;
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_geo::crs::Crs;
use wangge_geo::io::RawFeature;
use wangge_store::{Store, StoreError, UnitRow, UserRow};

use super::{ConsoleUser, Lang, OrPage, i18n, page_context, render_status, urlencode};
use crate::config_api::{CategoryChange, apply_category_change, store_calendar_table};
use crate::error::ApiError;
use crate::region_import::{ImportOptions, ImportReport, import_regions, parse_features};
use crate::rules_api::{DispatchRuleView, add_dispatch_rule, remove_dispatch_rule};
use crate::state::AppState;

/// Largest region file (or set of Shapefile parts) one upload may carry.
const REGION_UPLOAD_LIMIT_BYTES: usize = 256 * 1024 * 1024;
/// Shortest password an administrator may set.
const MIN_PASSWORD_CHARS: usize = 8;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console/admin",
            get(|| async { Redirect::to("/console/admin/users") }),
        )
        .route("/console/admin/users", get(users_page).post(create_user))
        .route(
            "/console/admin/users/{username}",
            get(user_page).post(update_user),
        )
        .route(
            "/console/admin/users/{username}/password",
            post(reset_password),
        )
        .route("/console/admin/units", get(units_page).post(create_unit))
        .route("/console/admin/units/{code}/active", post(set_unit_active))
        .route("/console/admin/categories", get(categories_page))
        .route(
            "/console/admin/categories/{kind}/{code}",
            get(category_page).post(change_category),
        )
        .route("/console/admin/rules", get(rules_page).post(create_rule))
        .route("/console/admin/rules/{id}/delete", post(delete_rule))
        .route("/console/admin/calendar", get(calendar_page))
        .route("/console/admin/calendar/days", post(add_calendar_day))
        .route("/console/admin/calendar/remove", post(remove_calendar_day))
        .route("/console/admin/calendar/table", post(paste_calendar_table))
        .route(
            "/console/admin/regions",
            get(regions_page)
                .post(import_regions_form)
                .layer(DefaultBodyLimit::max(REGION_UPLOAD_LIMIT_BYTES)),
        )
}

// ---------------------------------------------------------------- shared pieces

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

/// The admin guard every handler starts with.
fn admin(who: &ConsoleUser) -> Result<(), Response> {
    who.require(&[Role::Admin])
}

/// A form body, or a page saying it could not be read.
fn form_of<T>(who: &ConsoleUser, form: Result<Form<T>, FormRejection>) -> Result<T, Response> {
    form.map(|Form(f)| f)
        .map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))
        .or_page(who)
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

/// 200 for a page, 422 when it shows a form again with a problem.
fn status_of(problem: &Option<Problem>) -> StatusCode {
    if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
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

fn deadline_label(lang: Lang, t: &str) -> String {
    let key = format!("admin.deadline_type.{t}");
    if i18n::catalogues().has(lang, &key) {
        tr(lang, &key, &[])
    } else {
        t.to_owned()
    }
}

#[derive(Debug, Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

// ---------------------------------------------------------------- users

#[derive(Debug, Serialize)]
struct UserView {
    username: String,
    name: String,
    role: String,
    region_code: Option<String>,
    region_name: Option<String>,
    unit_code: Option<String>,
    unit_name: Option<String>,
    active: bool,
}

fn user_view(state: &AppState, u: &UserRow) -> UserView {
    let atlas = state.atlas();
    let reference = state.reference();
    let unit = u.unit_id.and_then(|id| reference.unit_by_id(id));
    UserView {
        username: u.username.clone(),
        name: u.display_name.clone(),
        role: u.role.clone(),
        region_name: u
            .region_code
            .as_deref()
            .and_then(|c| atlas.region(c))
            .map(|r| r.name.clone()),
        region_code: u.region_code.clone(),
        unit_code: unit.map(|x| x.code.clone()),
        unit_name: unit.map(|x| x.name.clone()),
        active: u.active,
    }
}

#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    label: String,
}

fn role_choices() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

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

/// The level of region a role works in; None for roles bound to a unit or to no region.
fn level_for(role: Role) -> Option<Level> {
    match role {
        Role::GridWorker => Some(Level::Grid),
        Role::Community => Some(Level::Community),
        Role::Street => Some(Level::Street),
        Role::Receiver
        | Role::ShiftLeader
        | Role::Dispatcher
        | Role::District
        | Role::Supervisor => Some(Level::District),
        Role::UnitUser | Role::Admin => None,
    }
}

/// Checks a role with its region and unit; answers the region code and unit id to store.
fn jurisdiction(
    state: &AppState,
    lang: Lang,
    role: &str,
    region: &str,
    unit: &str,
) -> Result<(Role, Option<String>, Option<Uuid>), Problem> {
    let role: Role = role
        .parse()
        .map_err(|_| Problem::new(lang, "role", "admin.users.problem.role", &[("role", role)]))?;
    let region = region.trim();
    let unit = unit.trim();
    if role == Role::UnitUser {
        if unit.is_empty() {
            return Err(Problem::new(
                lang,
                "unit",
                "admin.users.problem.unit_required",
                &[],
            ));
        }
        let reference = state.reference();
        let found = reference.unit(unit).ok_or_else(|| {
            Problem::new(
                lang,
                "unit",
                "admin.users.problem.unit_unknown",
                &[("code", unit)],
            )
        })?;
        if !found.active {
            return Err(Problem::new(
                lang,
                "unit",
                "admin.users.problem.unit_inactive",
                &[("code", unit)],
            ));
        }
        return Ok((role, None, Some(found.id)));
    }
    let wanted = level_for(role);
    if region.is_empty() {
        return match wanted {
            Some(level) => Err(Problem::new(
                lang,
                "region",
                "admin.users.problem.region_required",
                &[(
                    "level",
                    &tr(lang, &format!("level.{}", level.as_str()), &[]),
                )],
            )),
            None => Ok((role, None, None)),
        };
    }
    let atlas = state.atlas();
    let found = atlas.region(region).ok_or_else(|| {
        Problem::new(
            lang,
            "region",
            "admin.users.problem.region_unknown",
            &[("code", region)],
        )
    })?;
    if let Some(level) = wanted
        && found.level != level
    {
        return Err(Problem::new(
            lang,
            "region",
            "admin.users.problem.region_level",
            &[
                ("code", region),
                ("name", &found.name),
                (
                    "found",
                    &tr(lang, &format!("level.{}", found.level.as_str()), &[]),
                ),
                (
                    "level",
                    &tr(lang, &format!("level.{}", level.as_str()), &[]),
                ),
            ],
        ));
    }
    Ok((role, Some(found.code.clone()), None))
}

fn check_password(lang: Lang, password: &str) -> Result<(), Problem> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=200).contains(&n) {
        return Err(Problem::new(
            lang,
            "password",
            "admin.users.problem.password",
            &[("min", &MIN_PASSWORD_CHARS.to_string())],
        ));
    }
    Ok(())
}

fn check_display_name(lang: Lang, name: &str) -> Result<String, Problem> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 {
        return Err(Problem::new(
            lang,
            "display_name",
            "admin.users.problem.display_name",
            &[],
        ));
    }
    Ok(name.to_owned())
}

async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Drops a user's tokens from this server's cache, so a change of role, region or unit applies
/// at once; with `end_sessions` the tokens are deleted as well (a deactivated user, a reset
/// password). Other servers notice within their cache's 30 s.
async fn refresh_sessions(
    state: &AppState,
    user_id: Uuid,
    end_sessions: bool,
) -> Result<(), ApiError> {
    let hashes = if end_sessions {
        state.store.delete_user_tokens(user_id).await?
    } else {
        state.store.user_token_hashes(user_id).await?
    };
    for h in &hashes {
        state.tokens.forget(h);
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct UserForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    username: String,
    display_name: String,
    role: String,
    region: String,
    unit: String,
    #[serde(skip_serializing)]
    password: String,
    active: Option<String>,
}

async fn users_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let done = done_text(who.lang, q.done.as_deref(), &[]);
    show_users(&state, &who, UserForm::default(), None, done).await
}

async fn show_users(
    state: &AppState,
    who: &ConsoleUser,
    form: UserForm,
    problem: Option<Problem>,
    done: Option<String>,
) -> Result<Response, Response> {
    let users: Vec<UserView> = state
        .store
        .users()
        .await
        .or_page(who)?
        .iter()
        .map(|u| user_view(state, u))
        .collect();
    let ctx = context! {
        users => Value::from_serialize(&users),
        roles => role_choices(),
        units => Value::from_serialize(unit_choices(state)),
        form => Value::from_serialize(&form),
        problem => Value::from_serialize(&problem),
        done => done,
        min_password => MIN_PASSWORD_CHARS,
    };
    Ok(page(
        state,
        who,
        status_of(&problem),
        "/console/admin/users",
        "admin/users.html",
        ctx,
    ))
}

async fn create_user(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<UserForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let lang = who.lang;
    let checked_form = (|| {
        let username = form.username.trim().to_owned();
        if !plain_code(&username, 64) {
            return Err(Problem::new(
                lang,
                "username",
                "admin.users.problem.username",
                &[],
            ));
        }
        let name = check_display_name(lang, &form.display_name)?;
        let (role, region, unit) =
            jurisdiction(&state, lang, &form.role, &form.region, &form.unit)?;
        check_password(lang, &form.password)?;
        Ok((username, name, role, region, unit))
    })();
    let (username, name, role, region, unit) = match checked_form {
        Ok(v) => v,
        Err(p) => return show_users(&state, &who, form, Some(p), None).await,
    };
    if state
        .store
        .user_by_username(&username)
        .await
        .or_page(&who)?
        .is_some()
    {
        let p = Problem::new(
            lang,
            "username",
            "admin.users.problem.username_taken",
            &[("username", &username)],
        );
        return show_users(&state, &who, form, Some(p), None).await;
    }
    let password_hash = hash(form.password.clone()).await.or_page(&who)?;
    let row = UserRow {
        id: wangge_domain::new_id(),
        username: username.clone(),
        display_name: name,
        role: role.as_str().to_owned(),
        region_code: region,
        unit_id: unit,
        password_hash,
        active: true,
        created_at: Utc::now(),
    };
    match state.store.insert_users(std::slice::from_ref(&row)).await {
        Ok(()) => {}
        // Someone took the name between the check and the insert.
        Err(StoreError::Conflict { .. }) => {
            let p = Problem::new(
                lang,
                "username",
                "admin.users.problem.username_taken",
                &[("username", &username)],
            );
            return show_users(&state, &who, form, Some(p), None).await;
        }
        Err(e) => return Err(super::error_page(lang, Some(&who), &e.into())),
    }
    tracing::info!(admin = %who.user.username, user = %username, role = %row.role, "user created");
    Ok(see_other("/console/admin/users", "user_created"))
}

async fn user_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(username): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let row = find_user(&state, &who, &username).await?;
    let form = UserForm {
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        role: row.role.clone(),
        region: row.region_code.clone().unwrap_or_default(),
        unit: row
            .unit_id
            .and_then(|id| state.reference().unit_by_id(id).map(|u| u.code.clone()))
            .unwrap_or_default(),
        active: row.active.then(|| "1".to_owned()),
        ..UserForm::default()
    };
    let done = done_text(who.lang, q.done.as_deref(), &[]);
    show_user(&state, &who, &row, form, None, done)
}

async fn find_user(
    state: &AppState,
    who: &ConsoleUser,
    username: &str,
) -> Result<UserRow, Response> {
    state
        .store
        .user_by_username(username)
        .await
        .or_page(who)?
        .ok_or_else(|| {
            ApiError::not_found("user_not_found", format!("no user is called '{username}'"))
        })
        .or_page(who)
}

fn show_user(
    state: &AppState,
    who: &ConsoleUser,
    row: &UserRow,
    form: UserForm,
    problem: Option<Problem>,
    done: Option<String>,
) -> Result<Response, Response> {
    let ctx = context! {
        target => Value::from_serialize(user_view(state, row)),
        is_self => row.id == who.user.user_id,
        roles => role_choices(),
        units => Value::from_serialize(unit_choices(state)),
        form => Value::from_serialize(&form),
        problem => Value::from_serialize(&problem),
        done => done,
        min_password => MIN_PASSWORD_CHARS,
    };
    Ok(page(
        state,
        who,
        status_of(&problem),
        "/console/admin/users",
        "admin/user.html",
        ctx,
    ))
}

async fn update_user(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(username): Path<String>,
    form: Result<Form<UserForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let lang = who.lang;
    let mut row = find_user(&state, &who, &username).await?;
    let active = checked(&form.active);
    let is_self = row.id == who.user.user_id;
    let checked_form = (|| {
        let name = check_display_name(lang, &form.display_name)?;
        let (role, region, unit) =
            jurisdiction(&state, lang, &form.role, &form.region, &form.unit)?;
        // An administrator who demotes or deactivates themself may leave nobody to undo it.
        if is_self && (role != Role::Admin || !active) {
            return Err(Problem::new(lang, "role", "admin.users.problem.self", &[]));
        }
        Ok((name, role, region, unit))
    })();
    let (name, role, region, unit) = match checked_form {
        Ok(v) => v,
        Err(p) => {
            let form = UserForm {
                username: row.username.clone(),
                ..form
            };
            return show_user(&state, &who, &row, form, Some(p), None);
        }
    };
    row.display_name = name;
    row.role = role.as_str().to_owned();
    row.region_code = region;
    row.unit_id = unit;
    row.active = active;
    if !state.store.update_user(&row).await.or_page(&who)? {
        return Err(super::error_page(
            lang,
            Some(&who),
            &ApiError::not_found("user_not_found", format!("no user is called '{username}'")),
        ));
    }
    refresh_sessions(&state, row.id, !active)
        .await
        .or_page(&who)?;
    tracing::info!(admin = %who.user.username, user = %row.username, role = %row.role, active, "user changed");
    Ok(see_other(
        &format!("/console/admin/users/{}", urlencode(&row.username)),
        "user_saved",
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(username): Path<String>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let mut row = find_user(&state, &who, &username).await?;
    if let Err(p) = check_password(who.lang, &form.password) {
        let view = UserForm {
            username: row.username.clone(),
            display_name: row.display_name.clone(),
            role: row.role.clone(),
            region: row.region_code.clone().unwrap_or_default(),
            unit: row
                .unit_id
                .and_then(|id| state.reference().unit_by_id(id).map(|u| u.code.clone()))
                .unwrap_or_default(),
            active: row.active.then(|| "1".to_owned()),
            ..UserForm::default()
        };
        return show_user(&state, &who, &row, view, Some(p), None);
    }
    row.password_hash = hash(form.password).await.or_page(&who)?;
    state.store.update_user(&row).await.or_page(&who)?;
    // A new password ends the user's other sessions; an administrator keeps their own.
    if row.id != who.user.user_id {
        refresh_sessions(&state, row.id, true).await.or_page(&who)?;
    }
    tracing::info!(admin = %who.user.username, user = %row.username, "password reset");
    Ok(see_other(
        &format!("/console/admin/users/{}", urlencode(&row.username)),
        "password_reset",
    ))
}

// ---------------------------------------------------------------- units

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct UnitForm {
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

async fn units_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let done = done_text(who.lang, q.done.as_deref(), &[]);
    show_units(&state, &who, UnitForm::default(), None, done).await
}

async fn show_units(
    state: &AppState,
    who: &ConsoleUser,
    form: UnitForm,
    problem: Option<Problem>,
    done: Option<String>,
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
        form => Value::from_serialize(&form),
        problem => Value::from_serialize(&problem),
        done => done,
    };
    Ok(page(
        state,
        who,
        status_of(&problem),
        "/console/admin/units",
        "admin/units.html",
        ctx,
    ))
}

async fn create_unit(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<UnitForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
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
        Err(p) => return show_units(&state, &who, form, Some(p), None).await,
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
            return show_units(&state, &who, form, Some(p), None).await;
        }
        Err(e) => return Err(super::error_page(lang, Some(&who), &e.into())),
    }
    state
        .reload_reference()
        .await
        .map_err(ApiError::internal)
        .or_page(&who)?;
    tracing::info!(admin = %who.user.username, unit = %code, "unit created");
    Ok(see_other("/console/admin/units", "unit_created"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActiveForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    active: String,
}

async fn set_unit_active(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(code): Path<String>,
    form: Result<Form<ActiveForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let active = match form.active.as_str() {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => {
            return Err(super::error_page(
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
        return Err(super::error_page(
            who.lang,
            Some(&who),
            &ApiError::not_found(
                "unknown_unit",
                format!("no handling unit has code '{code}'"),
            ),
        ));
    }
    state
        .reload_reference()
        .await
        .map_err(ApiError::internal)
        .or_page(&who)?;
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

// ---------------------------------------------------------------- categories

#[derive(Debug, Deserialize, Default)]
struct CategoryQuery {
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

fn category_view(lang: Lang, c: &wangge_store::CategoryRow) -> CategoryView {
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

async fn categories_page(
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
struct CategoryForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    deadline_amount: String,
    deadline_type: String,
    registration_standard: String,
    closing_standard: String,
    active: Option<String>,
    auto_close: Option<String>,
}

async fn category_page(
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
    Ok(show_category(&state, &who, &row, &form, None))
}

async fn find_category(
    state: &AppState,
    who: &ConsoleUser,
    kind: &str,
    code: &str,
) -> Result<wangge_store::CategoryRow, Response> {
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
    row: &wangge_store::CategoryRow,
    form: &CategoryForm,
    problem: Option<Problem>,
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
        form => Value::from_serialize(form),
        problem => Value::from_serialize(&problem),
    };
    page(
        state,
        who,
        status_of(&problem),
        "/console/admin/categories",
        "admin/category.html",
        ctx,
    )
}

async fn change_category(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path((kind, code)): Path<(String, String)>,
    form: Result<Form<CategoryForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let row = find_category(&state, &who, &kind, &code).await?;
    let amount = match form.deadline_amount.trim().parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            let p = Problem::new(
                who.lang,
                "deadline_amount",
                "admin.categories.problem.amount",
                &[],
            );
            return Ok(show_category(&state, &who, &row, &form, Some(p)));
        }
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
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let p = Problem::from_api(who.lang, &e);
            Ok(show_category(&state, &who, &row, &form, Some(p)))
        }
        Err(e) => Err(super::error_page(who.lang, Some(&who), &e)),
    }
}

// ---------------------------------------------------------------- dispatch rules

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct RuleForm {
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

async fn rules_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let done = done_text(who.lang, q.done.as_deref(), &[]);
    show_rules(&state, &who, RuleForm::default(), None, done).await
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
    form: RuleForm,
    problem: Option<Problem>,
    done: Option<String>,
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
        form => Value::from_serialize(&form),
        problem => Value::from_serialize(&problem),
        done => done,
    };
    Ok(page(
        state,
        who,
        status_of(&problem),
        "/console/admin/rules",
        "admin/rules.html",
        ctx,
    ))
}

fn optional(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

async fn create_rule(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<RuleForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let lang = who.lang;
    let category = optional(&form.category);
    let region = optional(&form.region);
    // The API takes any digits as a region; here a mistyped code is caught before it is stored.
    if let Some(code) = &region
        && state.atlas().region(code).is_none()
    {
        let p = Problem::new(
            lang,
            "region",
            "admin.rules.problem.region",
            &[("code", code)],
        );
        return show_rules(&state, &who, form, Some(p), None).await;
    }
    if let Some(code) = &category
        && code.len() == 5
        && category_name(&state, code).is_none()
    {
        let p = Problem::new(
            lang,
            "category",
            "admin.rules.problem.category",
            &[("code", code)],
        );
        return show_rules(&state, &who, form, Some(p), None).await;
    }
    if form.unit.trim().is_empty() {
        let p = Problem::new(lang, "unit", "admin.rules.problem.unit", &[]);
        return show_rules(&state, &who, form, Some(p), None).await;
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
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let p = Problem::from_api(lang, &e);
            show_rules(&state, &who, form, Some(p), None).await
        }
        Err(e) => Err(super::error_page(lang, Some(&who), &e)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn delete_rule(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::not_found("rule_not_found", format!("no dispatch rule has id {id}")))
        .or_page(&who)?;
    remove_dispatch_rule(&state, id).await.or_page(&who)?;
    tracing::info!(admin = %who.user.username, rule = %id, "dispatch rule removed");
    Ok(see_other("/console/admin/rules", "rule_deleted"))
}

// ---------------------------------------------------------------- calendar

#[derive(Debug, Deserialize, Default)]
struct CalendarQuery {
    year: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Serialize)]
struct DayRow {
    date: String,
    weekday: String,
    kind: &'static str,
    working: bool,
    /// Set by an administrator (stored), rather than part of the configured calendar.
    stored: bool,
    /// Removing it changes something: a stored day, or a configured one that differs from
    /// the ordinary week.
    removable: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct CalendarForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    date: String,
    kind: String,
    table: String,
    year: String,
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The kind that gives a date the ordinary week's meaning: a weekend is a day off, a weekday
/// a working day.
fn ordinary_kind(d: NaiveDate) -> SpecialDayKind {
    if is_weekend(d) {
        SpecialDayKind::Holiday
    } else {
        SpecialDayKind::Workday
    }
}

fn this_year() -> i32 {
    (Utc::now() + chrono::Duration::hours(8)).year()
}

fn year_of(text: Option<&str>) -> i32 {
    text.and_then(|y| y.trim().parse::<i32>().ok())
        .filter(|y| (1900..=2999).contains(y))
        .unwrap_or_else(this_year)
}

async fn calendar_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<CalendarQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let year = year_of(q.year.as_deref());
    let done = done_text(who.lang, q.done.as_deref(), &[]);
    show_calendar(&state, &who, year, CalendarForm::default(), None, done).await
}

async fn show_calendar(
    state: &AppState,
    who: &ConsoleUser,
    year: i32,
    form: CalendarForm,
    problem: Option<Problem>,
    done: Option<String>,
) -> Result<Response, Response> {
    let lang = who.lang;
    let stored: HashSet<String> = state
        .store
        .calendar_days()
        .await
        .or_page(who)?
        .into_iter()
        .map(|(day, _)| day)
        .collect();
    let cal = state.calendar();
    let weekday_names: Vec<String> = (0..7)
        .map(|i| tr(lang, &format!("admin.calendar.weekday_{i}"), &[]))
        .collect();
    let days: Vec<DayRow> = cal
        .special_days()
        .into_iter()
        .filter(|d| d.date.year() == year)
        // A weekday marked as a working day is no different from the ordinary week.
        .filter(|d| d.kind != SpecialDayKind::Workday || is_weekend(d.date))
        .map(|d| {
            let date = d.date.format("%Y-%m-%d").to_string();
            let is_stored = stored.contains(&date);
            DayRow {
                weekday: weekday_names
                    .get(d.date.weekday().num_days_from_monday() as usize)
                    .cloned()
                    .unwrap_or_default(),
                kind: d.kind.as_str(),
                working: cal.is_working_day(d.date),
                removable: is_stored || d.kind != ordinary_kind(d.date),
                stored: is_stored,
                date,
            }
        })
        .collect();
    let working_days = NaiveDate::from_ymd_opt(year, 1, 1)
        .map(|first| {
            first
                .iter_days()
                .take_while(|d| d.year() == year)
                .filter(|d| cal.is_working_day(*d))
                .count()
        })
        .unwrap_or(0);
    let ctx = context! {
        year => year,
        prev_year => year - 1,
        next_year => year + 1,
        days => Value::from_serialize(&days),
        working_days => working_days,
        form => Value::from_serialize(&form),
        problem => Value::from_serialize(&problem),
        done => done,
    };
    Ok(page(
        state,
        who,
        status_of(&problem),
        "/console/admin/calendar",
        "admin/calendar.html",
        ctx,
    ))
}

fn calendar_back(year: i32) -> String {
    format!("/console/admin/calendar?year={year}")
}

async fn add_calendar_day(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<CalendarForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let lang = who.lang;
    let year = year_of(Some(&form.year));
    let Ok(date) = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d") else {
        let p = Problem::new(
            lang,
            "date",
            "admin.calendar.problem.date",
            &[("value", form.date.trim())],
        );
        return show_calendar(&state, &who, year, form, Some(p), None).await;
    };
    let kind = match form.kind.as_str() {
        "holiday" | "workday" => form.kind.clone(),
        _ => {
            let p = Problem::new(lang, "kind", "admin.calendar.problem.kind", &[]);
            return show_calendar(&state, &who, year, form, Some(p), None).await;
        }
    };
    let line = format!("{} {kind}", date.format("%Y-%m-%d"));
    store_calendar_table(&state, &line).await.or_page(&who)?;
    tracing::info!(admin = %who.user.username, day = %line, "calendar day set");
    Ok(see_other(&calendar_back(date.year()), "day_added"))
}

async fn remove_calendar_day(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<CalendarForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let Ok(date) = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d") else {
        return Err(super::error_page(
            who.lang,
            Some(&who),
            &ApiError::invalid_field("date", "the date must be YYYY-MM-DD"),
        ));
    };
    let day = date.format("%Y-%m-%d").to_string();
    state
        .store
        .delete_calendar_days(std::slice::from_ref(&day))
        .await
        .or_page(&who)?;
    state
        .reload_calendar()
        .await
        .map_err(ApiError::internal)
        .or_page(&who)?;
    // A day of the configured calendar stays special once its stored row is gone; the stored
    // table can only say holiday or workday, so the ordinary week's kind is stored over it.
    let ordinary = ordinary_kind(date);
    let still = state
        .calendar()
        .special_days()
        .into_iter()
        .find(|d| d.date == date)
        .map(|d| d.kind);
    if still.is_some_and(|k| k != ordinary) {
        state
            .store
            .set_calendar_days(&[(day.clone(), ordinary.as_str().to_owned())])
            .await
            .or_page(&who)?;
        state
            .reload_calendar()
            .await
            .map_err(ApiError::internal)
            .or_page(&who)?;
    }
    tracing::info!(admin = %who.user.username, day = %day, "calendar day removed");
    Ok(see_other(&calendar_back(date.year()), "day_removed"))
}

async fn paste_calendar_table(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<CalendarForm>, FormRejection>,
) -> Result<Response, Response> {
    admin(&who)?;
    let form = form_of(&who, form)?;
    who.check_csrf(&form.csrf)?;
    let lang = who.lang;
    let year = year_of(Some(&form.year));
    if form.table.trim().is_empty() {
        let p = Problem::new(lang, "table", "admin.calendar.problem.empty", &[]);
        return show_calendar(&state, &who, year, form, Some(p), None).await;
    }
    match store_calendar_table(&state, &form.table).await {
        Ok(first_year) => {
            let n = form
                .table
                .lines()
                .filter(|l| !l.split('#').next().unwrap_or("").trim().is_empty())
                .count();
            tracing::info!(admin = %who.user.username, days = n, "calendar table applied");
            Ok(see_other(
                &calendar_back(first_year.unwrap_or(year)),
                "table_applied",
            ))
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let line = e
                .details
                .as_ref()
                .and_then(|d| d.get("line"))
                .and_then(|l| l.as_u64());
            let p = match line {
                Some(line) => Problem::new(
                    lang,
                    "table",
                    "admin.calendar.problem.line",
                    &[("line", &line.to_string()), ("detail", &e.message)],
                ),
                None => Problem::from_api(lang, &e),
            };
            show_calendar(&state, &who, year, form, Some(p), None).await
        }
        Err(e) => Err(super::error_page(lang, Some(&who), &e)),
    }
}

// ---------------------------------------------------------------- regions

#[derive(Debug, Deserialize, Default)]
struct RegionsQuery {
    done: Option<String>,
    features: Option<usize>,
    inserted: Option<usize>,
    changed: Option<usize>,
    unchanged: Option<usize>,
    retired: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
struct ImportForm {
    #[serde(skip_serializing)]
    csrf: String,
    crs: String,
    tolerance_m2: String,
    dry_run: bool,
    #[serde(skip_serializing)]
    files: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Serialize)]
struct ProblemRow {
    index: Option<usize>,
    code: Option<String>,
    kind: String,
    kind_label: String,
    message: String,
    lon: Option<String>,
    lat: Option<String>,
}

async fn regions_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<RegionsQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let n = |v: Option<usize>| v.unwrap_or(0).to_string();
    let done = done_text(
        who.lang,
        q.done.as_deref(),
        &[
            ("features", &n(q.features)),
            ("inserted", &n(q.inserted)),
            ("changed", &n(q.changed)),
            ("unchanged", &n(q.unchanged)),
            ("retired", &n(q.retired)),
        ],
    );
    let form = ImportForm {
        crs: "wgs84".into(),
        tolerance_m2: "1".into(),
        dry_run: true,
        ..ImportForm::default()
    };
    Ok(show_regions(&state, &who, &form, None, None, done))
}

fn show_regions(
    state: &AppState,
    who: &ConsoleUser,
    form: &ImportForm,
    problem: Option<Problem>,
    report: Option<&ImportReport>,
    done: Option<String>,
) -> Response {
    let lang = who.lang;
    let catalogues = i18n::catalogues();
    let problems: Vec<ProblemRow> = report
        .map(|r| {
            r.problems
                .iter()
                .map(|p| {
                    let key = format!("admin.regions.kind.{}", p.kind);
                    ProblemRow {
                        index: p.index,
                        code: p.code.clone(),
                        kind_label: if catalogues.has(lang, &key) {
                            catalogues.text(lang, &key).to_owned()
                        } else {
                            p.kind.clone()
                        },
                        kind: p.kind.clone(),
                        message: p.message.clone(),
                        lon: p.location.map(|[x, _]| format!("{x:.6}")),
                        lat: p.location.map(|[_, y]| format!("{y:.6}")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let has_report_problems = !problems.is_empty();
    let summary = report.map(|r| {
        tr(
            lang,
            if r.ok() {
                "admin.regions.dry_run_ok"
            } else {
                "admin.regions.report_failed"
            },
            &[
                ("features", &r.features.to_string()),
                ("inserted", &r.inserted.to_string()),
                ("changed", &r.changed.to_string()),
                ("unchanged", &r.unchanged.to_string()),
                ("retired", &r.retired.to_string()),
                ("problems", &r.problems.len().to_string()),
            ],
        )
    });
    let status = if problem.is_some() || has_report_problems {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let ctx = context! {
        region_count => state.atlas().region_count(),
        grid_count => state.atlas().grid_count(),
        form => Value::from_serialize(form),
        problem => Value::from_serialize(&problem),
        report_ok => report.map(ImportReport::ok),
        summary => summary,
        problems => Value::from_serialize(&problems),
        done => done,
        limit_mb => REGION_UPLOAD_LIMIT_BYTES / (1024 * 1024),
    };
    page(
        state,
        who,
        status,
        "/console/admin/regions",
        "admin/regions.html",
        ctx,
    )
}

async fn read_import_form(mut multipart: Multipart) -> Result<ImportForm, ApiError> {
    let mut form = ImportForm::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(crate::evidence_api::multipart_error)?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field
                .bytes()
                .await
                .map_err(crate::evidence_api::multipart_error)?;
            // An empty file input still sends a part with no bytes.
            if !bytes.is_empty() {
                form.files.push((file_name, bytes.to_vec()));
            }
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(crate::evidence_api::multipart_error)?;
        match name.as_str() {
            "_csrf" => form.csrf = text.trim().to_owned(),
            "crs" => form.crs = text.trim().to_owned(),
            "tolerance_m2" => form.tolerance_m2 = text.trim().to_owned(),
            "dry_run" => form.dry_run = checked(&Some(text)),
            _ => {}
        }
    }
    Ok(form)
}

/// Why a region upload could not be read as a whole.
#[derive(Debug)]
enum UploadError {
    /// A sentence key with arguments.
    Form(&'static str, Vec<(&'static str, String)>),
    /// The reader's own account of the file.
    Read(String),
}

/// The last part of an uploaded file's name, with nothing that could climb out of a folder.
fn base_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?.trim();
    (!base.is_empty() && base != "." && base != ".." && !base.contains('\0'))
        .then(|| base.to_owned())
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Most a zipped upload may unpack to: a city's grids are megabytes, so more is a zip bomb.
const UNZIPPED_LIMIT: u64 = 512 * 1024 * 1024;

/// The region-file parts inside a .zip (folders and other files, such as `__MACOSX/` copies, are
/// skipped), unpacked in memory up to [`UNZIPPED_LIMIT`].
fn unzip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, UploadError> {
    use std::io::Read;
    let unreadable =
        |e: &dyn std::fmt::Display| UploadError::Read(format!("the .zip file cannot be read: {e}"));
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let mut parts = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| unreadable(&e))?;
        let name = entry.name().map_err(|e| unreadable(&e))?.into_owned();
        let wanted = ["shp", "shx", "dbf", "prj", "cpg", "geojson", "json"]
            .contains(&extension(&name).as_str());
        if entry.is_dir() || name.contains("__MACOSX") || !wanted {
            continue;
        }
        let mut data = Vec::new();
        (&mut entry)
            .take(UNZIPPED_LIMIT - total + 1)
            .read_to_end(&mut data)
            .map_err(|e| unreadable(&e))?;
        total += data.len() as u64;
        if total > UNZIPPED_LIMIT {
            return Err(UploadError::Read(format!(
                "the .zip file unpacks to more than {} MiB",
                UNZIPPED_LIMIT / 1024 / 1024
            )));
        }
        parts.push((name, data));
    }
    Ok(parts)
}

/// Reads the uploaded files: one GeoJSON file, or the parts of a Shapefile (.shp with its
/// .shx, .dbf and optionally .prj/.cpg), written to a private temporary folder for the reader.
fn read_upload(files: Vec<(String, Vec<u8>)>) -> Result<Vec<RawFeature>, UploadError> {
    // Shapefiles travel zipped: unpack one .zip into its parts and read those.
    let files = match files.as_slice() {
        [(name, bytes)] if extension(name) == "zip" => unzip(bytes)?,
        _ => files,
    };
    if files.is_empty() {
        return Err(UploadError::Form("admin.regions.problem.no_file", vec![]));
    }
    let shp = files.iter().filter(|(n, _)| extension(n) == "shp").count();
    if shp == 0 {
        if files.len() > 1 {
            return Err(UploadError::Form(
                "admin.regions.problem.one_geojson",
                vec![],
            ));
        }
        let Some((_, bytes)) = files.into_iter().next() else {
            return Err(UploadError::Form("admin.regions.problem.no_file", vec![]));
        };
        return wangge_geo::io::read_geojson(&bytes).map_err(|e| UploadError::Read(e.to_string()));
    }
    if shp > 1 {
        return Err(UploadError::Form(
            "admin.regions.problem.one_shapefile",
            vec![],
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| UploadError::Read(e.to_string()))?;
    let mut shp_path = None;
    let mut stem = None;
    for (name, _) in &files {
        if extension(name) == "shp" {
            stem = base_name(name).and_then(|b| b.rsplit_once('.').map(|(s, _)| s.to_owned()));
        }
    }
    let stem = stem.ok_or(UploadError::Form("admin.regions.problem.no_file", vec![]))?;
    for (name, bytes) in &files {
        let ext = extension(name);
        if !["shp", "shx", "dbf", "prj", "cpg"].contains(&ext.as_str()) {
            return Err(UploadError::Form(
                "admin.regions.problem.part",
                vec![("name", base_name(name).unwrap_or_default())],
            ));
        }
        // Every part under the .shp's name, so the reader finds its siblings whatever the
        // browser sent.
        let path = dir.path().join(format!("{stem}.{ext}"));
        std::fs::write(&path, bytes).map_err(|e| UploadError::Read(e.to_string()))?;
        if ext == "shp" {
            shp_path = Some(path);
        }
    }
    let shp_path = shp_path.ok_or(UploadError::Form("admin.regions.problem.no_file", vec![]))?;
    let prefix = format!("{}{}", dir.path().display(), std::path::MAIN_SEPARATOR);
    wangge_geo::io::read_shapefile(&shp_path)
        // The temporary folder means nothing to the person uploading.
        .map_err(|e| UploadError::Read(e.to_string().replace(&prefix, "")))
}

async fn import_regions_form(
    State(state): State<AppState>,
    who: ConsoleUser,
    multipart: Multipart,
) -> Result<Response, Response> {
    admin(&who)?;
    let mut form = read_import_form(multipart).await.or_page(&who)?;
    who.check_csrf(&form.csrf)?;
    let lang = who.lang;
    let crs: Crs = match form.crs.parse() {
        Ok(c) => c,
        Err(_) => {
            let p = Problem::new(
                lang,
                "crs",
                "admin.regions.problem.crs",
                &[("value", &form.crs)],
            );
            return Ok(show_regions(&state, &who, &form, Some(p), None, None));
        }
    };
    let tolerance_m2: f64 = match form.tolerance_m2.parse::<f64>() {
        Ok(t) if t.is_finite() && (0.0..=1_000_000.0).contains(&t) => t,
        _ => {
            let p = Problem::new(lang, "tolerance_m2", "admin.regions.problem.tolerance", &[]);
            return Ok(show_regions(&state, &who, &form, Some(p), None, None));
        }
    };
    let files = std::mem::take(&mut form.files);
    let read = tokio::task::spawn_blocking(move || read_upload(files))
        .await
        .map_err(ApiError::internal)
        .or_page(&who)?;
    let raw = match read {
        Ok(raw) => raw,
        Err(UploadError::Form(key, args)) => {
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let p = Problem::new(lang, "file", key, &args);
            return Ok(show_regions(&state, &who, &form, Some(p), None, None));
        }
        Err(UploadError::Read(detail)) => {
            let p = Problem::new(
                lang,
                "file",
                "admin.regions.problem.unreadable",
                &[("detail", &detail)],
            );
            return Ok(show_regions(&state, &who, &form, Some(p), None, None));
        }
    };
    let (features, problems) = parse_features(raw, crs);
    let options = ImportOptions {
        crs,
        tolerance_m2,
        dry_run: form.dry_run,
        ..ImportOptions::default()
    };
    let report = import_regions(&state.store, features, problems, &options)
        .await
        .map_err(ApiError::from)
        .or_page(&who)?;
    if !report.ok() || form.dry_run {
        return Ok(show_regions(&state, &who, &form, None, Some(&report), None));
    }
    state
        .reload_atlas()
        .await
        .map_err(ApiError::internal)
        .or_page(&who)?;
    tracing::info!(
        admin = %who.user.username,
        features = report.features,
        inserted = report.inserted,
        changed = report.changed,
        retired = report.retired,
        "regions imported"
    );
    Ok(Redirect::to(&format!(
        "/console/admin/regions?done=imported&features={}&inserted={}&changed={}&unchanged={}&retired={}",
        report.features, report.inserted, report.changed, report.unchanged, report.retired
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zipped(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(*name, options)
                .unwrap_or_else(|e| panic!("{e}"));
            zip.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        }
        zip.finish().unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    #[test]
    fn a_zipped_upload_is_read_as_its_parts() {
        let geojson = br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"990100","name":"x","level":"city"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;
        let zip = zipped(&[
            ("city/regions.geojson", geojson),
            ("__MACOSX/._regions.geojson", b"junk"),
            ("readme.txt", b"hi"),
        ]);
        let features = match read_upload(vec![("regions.zip".into(), zip)]) {
            Ok(f) => f,
            Err(_) => panic!("the zipped GeoJSON is read"),
        };
        assert_eq!(features.len(), 1);
        assert!(matches!(
            read_upload(vec![("broken.zip".into(), b"PK not really".to_vec())]),
            Err(UploadError::Read(m)) if m.contains(".zip")
        ));
    }
}
