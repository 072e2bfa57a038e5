//! Users and roles: the list with a form for a new user, one user's page with their role,
//! region or unit, and a password reset.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_store::{Store, StoreError, UserRow};

use super::{
    DoneQuery, Problem, Shown, admin, checked, done_text, form_page, plain_code, posted, see_other,
    tr, unit_choices,
};
use crate::console::{ConsoleUser, Lang, OrPage, error_page, urlencode};
use crate::error::ApiError;
use crate::state::AppState;

/// Shortest password an administrator may set.
const MIN_PASSWORD_CHARS: usize = 8;

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

/// What both user forms offer: the roles, the active units, the shortest password.
fn form_choices(state: &AppState) -> Value {
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    context! {
        roles => roles,
        units => Value::from_serialize(unit_choices(state)),
        min_password => MIN_PASSWORD_CHARS,
    }
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

fn level_name(lang: Lang, level: Level) -> String {
    tr(lang, &format!("level.{}", level.as_str()), &[])
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
                &[("level", &level_name(lang, level))],
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
                ("found", &level_name(lang, found.level)),
                ("level", &level_name(lang, level)),
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

fn username_taken(lang: Lang, username: &str) -> Problem {
    Problem::new(
        lang,
        "username",
        "admin.users.problem.username_taken",
        &[("username", username)],
    )
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
pub(super) struct UserForm {
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

impl UserForm {
    /// The form filled with a user's stored values.
    fn of(state: &AppState, row: &UserRow) -> UserForm {
        UserForm {
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
        }
    }
}

pub(super) async fn users_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    show_users(&state, &who, Shown::fresh(who.lang, q.done.as_deref())).await
}

async fn show_users(
    state: &AppState,
    who: &ConsoleUser,
    shown: Shown<UserForm>,
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
        ..form_choices(state)
    };
    Ok(form_page(
        state,
        who,
        "/console/admin/users",
        "admin/users.html",
        &shown,
        ctx,
    ))
}

pub(super) async fn create_user(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<UserForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
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
        Err(p) => return show_users(&state, &who, Shown::again(form, p)).await,
    };
    if state
        .store
        .user_by_username(&username)
        .await
        .or_page(&who)?
        .is_some()
    {
        let p = username_taken(lang, &username);
        return show_users(&state, &who, Shown::again(form, p)).await;
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
            let p = username_taken(lang, &username);
            return show_users(&state, &who, Shown::again(form, p)).await;
        }
        Err(e) => return Err(error_page(lang, Some(&who), &e.into())),
    }
    tracing::info!(admin = %who.user.username, user = %username, role = %row.role, "user created");
    Ok(see_other("/console/admin/users", "user_created"))
}

pub(super) async fn user_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(username): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let row = find_user(&state, &who, &username).await?;
    let done = done_text(who.lang, q.done.as_deref(), &[]);
    let shown = Shown::with(UserForm::of(&state, &row), done);
    Ok(show_user(&state, &who, &row, shown))
}

fn user_not_found(username: &str) -> ApiError {
    ApiError::not_found("user_not_found", format!("no user is called '{username}'"))
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
        .ok_or_else(|| user_not_found(username))
        .or_page(who)
}

fn show_user(
    state: &AppState,
    who: &ConsoleUser,
    row: &UserRow,
    shown: Shown<UserForm>,
) -> Response {
    let ctx = context! {
        target => Value::from_serialize(user_view(state, row)),
        is_self => row.id == who.user.user_id,
        ..form_choices(state)
    };
    form_page(
        state,
        who,
        "/console/admin/users",
        "admin/user.html",
        &shown,
        ctx,
    )
}

pub(super) async fn update_user(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(username): Path<String>,
    form: Result<Form<UserForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
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
            return Ok(show_user(&state, &who, &row, Shown::again(form, p)));
        }
    };
    row.display_name = name;
    row.role = role.as_str().to_owned();
    row.region_code = region;
    row.unit_id = unit;
    row.active = active;
    if !state.store.update_user(&row).await.or_page(&who)? {
        return Err(error_page(lang, Some(&who), &user_not_found(&username)));
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
pub(super) struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    password: String,
}

pub(super) async fn reset_password(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(username): Path<String>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let mut row = find_user(&state, &who, &username).await?;
    if let Err(p) = check_password(who.lang, &form.password) {
        let shown = Shown::again(UserForm::of(&state, &row), p);
        return Ok(show_user(&state, &who, &row, shown));
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
