//! The web console: server-rendered pages for every role, the grid worker's phone page, the
//! command-centre map and the admin pages.
//!
//! Templates (`web/templates`, minijinja, HTML-escaped by default), message catalogues
//! (`web/i18n/<lang>/*.json`) and static files (`web/static`, vendored libraries included) are
//! embedded in the binary; a debug build reads them from disk so edits show on reload.
//! Forms post to `/console/…` with the session cookie; every such post carries a CSRF token
//! derived from the session, on top of the same-origin check the cookie extractor does.

// Page handlers answer a page either way (`Result<Response, Response>`, so `?` turns a failure into
// an error page); boxing the error side would buy nothing.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod base_data;
pub mod campaigns;
pub mod case_page;
pub mod dashboard;
pub mod desks;
mod export;
pub mod field;
pub mod hotline;
pub mod i18n;
pub mod map;
pub mod notices;
pub mod phone;
pub mod report;

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::value::Kwargs;
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wangge_domain::role::Role;

pub use i18n::Lang;

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;

/// Templates, catalogues and static files, embedded at build time.
#[derive(rust_embed::RustEmbed)]
#[folder = "web/"]
pub struct Web;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/lang/{code}", get(switch_lang))
        .route("/static/{*path}", get(static_file))
        .route("/console", get(home))
        .merge(desks::routes())
        .merge(case_page::routes())
        .merge(map::routes())
        .merge(phone::routes())
        .merge(admin::routes())
        .merge(dashboard::routes())
        .merge(base_data::routes())
        .merge(campaigns::routes())
        .merge(hotline::routes())
        .merge(field::routes())
        .merge(notices::routes())
}

/// The states still being worked on, which lists and the map show unless a state is picked.
pub const OPEN_STATES: &[&str] = &[
    "reported",
    "registered",
    "dispatched",
    "returned",
    "in_progress",
    "handled",
    "verified",
];
/// The states a case ends in.
pub const FINISHED_STATES: &[&str] = &["closed", "invalid", "merged"];

// ---------------------------------------------------------------- rendering

fn build_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(|name| {
        Ok(Web::get(&format!("templates/{name}"))
            .map(|f| String::from_utf8_lossy(&f.data).into_owned()))
    });
    // Everything is HTML-escaped, whatever the template's name.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let catalogues = i18n::catalogues();
    let for_t = catalogues.clone();
    env.add_function(
        "t",
        move |state: &minijinja::State,
              key: &str,
              kwargs: Kwargs|
              -> Result<String, minijinja::Error> {
            let lang = Lang::of_state(state);
            let mut text = for_t.text(lang, key).to_owned();
            for name in kwargs.args() {
                let value: Value = kwargs.get(name)?;
                text = text.replace(&format!("{{{name}}}"), &value.to_string());
            }
            Ok(text)
        },
    );
    let for_js = catalogues;
    env.add_function("js_messages", move |state: &minijinja::State| {
        Value::from_serialize(for_js.with_prefix(Lang::of_state(state), "js."))
    });
    env.add_filter("dt", format_time);
    env.add_filter("short_id", |id: &str| {
        id.chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
    });
    env
}

/// The environment, built once in a release build and on every page in a debug build so
/// template edits show on reload.
fn environment() -> Arc<Environment<'static>> {
    static ENV: OnceLock<Arc<Environment<'static>>> = OnceLock::new();
    if cfg!(debug_assertions) {
        return Arc::new(build_environment());
    }
    ENV.get_or_init(|| Arc::new(build_environment())).clone()
}

/// `2026-11-24T01:02:03Z` → `2026-11-24 09:02`, in China Standard Time (UTC+8, no summer
/// time), which every command centre works in; anything else unchanged.
fn format_time(value: Value) -> String {
    if value.is_none() || value.is_undefined() {
        return String::new();
    }
    let text = value.to_string();
    match chrono::DateTime::parse_from_rfc3339(&text) {
        Ok(t) => (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(8))
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => text,
    }
}

/// Renders a page; a template fault becomes a plain error page, never a stack trace.
pub fn render(template: &str, ctx: Value) -> Response {
    render_status(StatusCode::OK, template, ctx)
}

pub fn render_status(status: StatusCode, template: &str, ctx: Value) -> Response {
    let env = environment();
    match env.get_template(template).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, no_store(), Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template, error = %format!("{e:#}"), "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><meta charset=utf-8><title>wangge</title><p>页面出错，已记录。请返回重试。 / The page failed and has been logged; go back and try again.</p>".to_owned()),
            )
                .into_response()
        }
    }
}

/// Pages show personal and live data: browsers must not keep them.
fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

// ---------------------------------------------------------------- who is asking

/// The signed-in console user. A page asked for without a session redirects to the login page.
pub struct ConsoleUser {
    pub user: CurrentUser,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::from_headers(&parts.headers);
        // The console signs in by cookie only; a bearer header is an API client.
        parts.headers.remove(header::AUTHORIZATION);
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(user) => Ok(ConsoleUser { user, lang }),
            Err(e) if e.code == "csrf_rejected" => Err(error_page(lang, None, &e)),
            Err(_) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/console".into());
                let target = format!("/login?next={}", urlencode(&next));
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

impl ConsoleUser {
    pub fn role(&self) -> Role {
        self.user.actor.role
    }

    /// Refuses a page to roles it is not for, with a page that says so.
    pub fn require(&self, roles: &[Role]) -> Result<(), Response> {
        if roles.contains(&self.role()) {
            Ok(())
        } else {
            Err(error_page(
                self.lang,
                Some(self),
                &ApiError::new(
                    StatusCode::FORBIDDEN,
                    "page_forbidden",
                    "this page is not for your role",
                ),
            ))
        }
    }

    /// The CSRF token of this session: forms carry it and posts must return it.
    pub fn csrf(&self) -> String {
        csrf_token(&self.user.token_hash)
    }

    pub fn check_csrf(&self, sent: &str) -> Result<(), Response> {
        if constant_time_eq(sent.as_bytes(), self.csrf().as_bytes()) {
            Ok(())
        } else {
            Err(error_page(
                self.lang,
                Some(self),
                &ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_rejected",
                    "the form is out of date",
                ),
            ))
        }
    }
}

fn csrf_token(token_hash: &str) -> String {
    let digest = Sha256::digest(format!("wangge-csrf:{token_hash}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A local path to go back to after a form; anything pointing elsewhere is ignored.
pub fn safe_back(back: Option<&str>, fallback: &str) -> String {
    match back {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') => b.to_owned(),
        _ => fallback.to_owned(),
    }
}

// ---------------------------------------------------------------- the frame of every page

#[derive(Debug, Serialize)]
struct UserInfo {
    username: String,
    name: String,
    role: &'static str,
    region_code: Option<String>,
    region_name: Option<String>,
    unit_code: Option<String>,
    unit_name: Option<String>,
}

#[derive(Debug, Serialize)]
struct NavItem {
    href: &'static str,
    key: &'static str,
    active: bool,
}

/// The pages each role works in, first the one they land on.
pub fn nav_for(role: Role) -> Vec<(&'static str, &'static str)> {
    let mut items = Vec::new();
    match role {
        Role::GridWorker => {
            items.push(("/m", "nav.phone"));
            items.push(("/console/desk/verify", "nav.verify"));
        }
        Role::Receiver => {
            items.push(("/console/desk/intake", "nav.intake"));
            items.push(("/console/desk/verify", "nav.verify"));
        }
        Role::ShiftLeader => {
            items.push(("/console/desk/intake", "nav.intake"));
            items.push(("/console/desk/close", "nav.close"));
        }
        Role::Dispatcher => {
            items.push(("/console/desk/dispatch", "nav.dispatch"));
            items.push(("/console/desk/supervise", "nav.supervise"));
        }
        Role::UnitUser => items.push(("/console/desk/unit", "nav.unit")),
        Role::Community | Role::Street | Role::District => {
            items.push(("/console/desk/area", "nav.area"));
        }
        Role::Supervisor => items.push(("/console/desk/supervise", "nav.supervise")),
        Role::Admin => {
            items.push(("/console/admin/users", "nav.admin_users"));
            items.push(("/console/admin/units", "nav.admin_units"));
            items.push(("/console/admin/categories", "nav.admin_categories"));
            items.push(("/console/admin/rules", "nav.admin_rules"));
            items.push(("/console/admin/calendar", "nav.admin_calendar"));
            items.push(("/console/admin/regions", "nav.admin_regions"));
            items.push(("/console/admin/api-keys", "open311.nav"));
        }
    }
    items.push(base_data::nav_entry(role));
    items.extend(campaigns::nav_entry(role));
    items.extend(hotline::nav_entries(role));
    items.extend(field::nav_entries(role));
    items.extend(notices::nav_entries(role));
    if dashboard::STATS_ROLES.contains(&role) {
        items.push(("/console/stats", "nav.stats"));
    }
    if role != Role::UnitUser {
        items.push(("/console/map", "nav.map"));
    }
    items.push(("/console/desk/all", "nav.all"));
    items
}

/// What every page shows: who is signed in, where, in which language, and the way around.
/// Without the state (an error met before it was at hand) region and unit show by code.
pub fn frame(state: Option<&AppState>, who: Option<&ConsoleUser>, lang: Lang, path: &str) -> Value {
    let atlas = state.map(AppState::atlas);
    let reference = state.map(AppState::reference);
    let user = who.map(|w| {
        let a = &w.user.actor;
        UserInfo {
            username: w.user.username.clone(),
            name: w.user.display_name.clone(),
            role: a.role.as_str(),
            region_code: a.region.clone(),
            region_name: a
                .region
                .as_deref()
                .zip(atlas.as_deref())
                .and_then(|(c, atlas)| atlas.region(c))
                .map(|r| r.name.clone()),
            unit_code: a.unit.clone(),
            unit_name: a
                .unit
                .as_deref()
                .zip(reference.as_deref())
                .and_then(|(c, reference)| reference.unit(c))
                .map(|u| u.name.clone()),
        }
    });
    let nav: Vec<NavItem> = who
        .map(|w| nav_for(w.role()))
        .unwrap_or_default()
        .into_iter()
        .map(|(href, key)| NavItem {
            href,
            key,
            active: path == href || path.starts_with(&format!("{href}/")),
        })
        .collect();
    context! {
        lang => lang.code(),
        other_lang => lang.other().code(),
        path => path,
        user => Value::from_serialize(&user),
        csrf => who.map(ConsoleUser::csrf),
        nav => Value::from_serialize(&nav),
        tile_url => state.and_then(|s| s.config.map_tile_url.clone()),
    }
}

/// A page's context: the frame plus the page's own values.
pub fn page_context(state: &AppState, who: &ConsoleUser, path: &str, page: Value) -> Value {
    context! { ..frame(Some(state), Some(who), who.lang, path), ..page }
}

/// An error in words a person understands: the catalogue's sentence for the error code, the
/// server's message as detail.
pub fn error_page(lang: Lang, who: Option<&ConsoleUser>, err: &ApiError) -> Response {
    let catalogues = i18n::catalogues();
    let key = format!("error.{}", err.code);
    let message = if catalogues.has(lang, &key) {
        catalogues.text(lang, &key).to_owned()
    } else {
        catalogues.text(lang, "error.generic").to_owned()
    };
    let ctx = context! {
        ..frame(None, who, lang, ""),
        ..context! {
            error_code => err.code,
            error_message => message,
            error_detail => (err.status != StatusCode::INTERNAL_SERVER_ERROR).then(|| err.message.clone()),
        }
    };
    render_status(err.status, "error.html", ctx)
}

/// Turns an API error met while serving a page into that page.
pub trait OrPage<T> {
    fn or_page(self, who: &ConsoleUser) -> Result<T, Response>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn or_page(self, who: &ConsoleUser) -> Result<T, Response> {
        self.map_err(|e| error_page(who.lang, Some(who), &e.into()))
    }
}

// ---------------------------------------------------------------- sign in, out, language

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let ctx = context! {
        ..frame(Some(&state), None, lang, "/login"),
        ..context! {
            next => safe_back(q.next.as_deref(), "/console"),
            error => q.error.filter(|e| ["invalid_credentials", "throttled"].contains(&e.as_str())),
        }
    };
    render("login.html", ctx)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    // A login form posted from another site would sign the victim into the attacker's account.
    if let Err(e) = crate::auth::check_same_origin(&axum::http::Method::POST, &headers) {
        return error_page(lang, None, &e);
    }
    let next = safe_back(form.next.as_deref(), "/console");
    match crate::auth::sign_in(&state, &form.username, form.password).await {
        Ok(signed) => {
            let landing = if next == "/console" {
                landing_page(signed.role).to_owned()
            } else {
                next
            };
            (
                [(header::SET_COOKIE, signed.cookie)],
                Redirect::to(&landing),
            )
                .into_response()
        }
        Err(e) if e.code == "invalid_credentials" => Redirect::to(&format!(
            "/login?error=invalid_credentials&next={}",
            urlencode(&next)
        ))
        .into_response(),
        Err(e) => error_page(lang, None, &e),
    }
}

/// Where a role starts its day.
pub fn landing_page(role: Role) -> &'static str {
    nav_for(role)
        .first()
        .map(|(href, _)| *href)
        .unwrap_or("/console")
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    who: ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = who.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(e) = crate::auth::end_session(&state, &who.user).await {
        return error_page(who.lang, Some(&who), &e);
    }
    (
        [(
            header::SET_COOKIE,
            crate::auth::session_cookie_header(&state, "", 0),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct BackQuery {
    back: Option<String>,
}

async fn switch_lang(Path(code): Path<String>, Query(q): Query<BackQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    (
        [(
            header::SET_COOKIE,
            format!(
                "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                i18n::LANG_COOKIE,
                lang.code()
            ),
        )],
        Redirect::to(&safe_back(q.back.as_deref(), "/console")),
    )
        .into_response()
}

async fn home(who: ConsoleUser) -> Response {
    Redirect::to(landing_page(who.role())).into_response()
}

// ---------------------------------------------------------------- static files

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn static_file(Path(path): Path<String>) -> Response {
    serve_embedded(&format!("static/{path}"), "public, max-age=3600")
}

/// An embedded file with its type; 404 when there is none.
pub fn serve_embedded(path: &str, cache: &'static str) -> Response {
    if path.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match Web::get(path) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CACHE_CONTROL, cache),
            ],
            file.data.into_owned(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use wangge_domain::case::CaseState;

    #[test]
    fn open_and_finished_states_are_the_loops() {
        for state in CaseState::ALL {
            let open = super::OPEN_STATES.contains(&state.as_str());
            let finished = super::FINISHED_STATES.contains(&state.as_str());
            assert_eq!(open, state.is_open(), "{state:?}");
            assert_eq!(finished, !state.is_open(), "{state:?}");
        }
    }
}
