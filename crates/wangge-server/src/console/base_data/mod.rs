//! 基础数据 in the console (`/console/base/…`): houses, people with their residence history,
//! organisations and city components — lists with search and Excel export, record pages with
//! their version history, registration forms, the reviewers' queue and the access log; imports
//! of departments' tables (through the API's background import) and the retention rule.
//!
//! Every page calls the same service as the API (`crate::registry`) with the signed-in user's
//! actor, and shows records through the API's own views (`crate::registry_api`), so scoping,
//! masking and the access log are the API's: a list shows masked numbers; a full read needs a
//! role granted it and a purpose, and is logged before the page is rendered; an export is the
//! API's export (the session cookie authenticates it), masked and logged.
//!
//! Values the templates show as words (uses, states, tags, field names) come to them as one
//! `labels` map made from the catalogues here, so the keys can be checked by a test in this file.

// Handlers answer a page either way (`?` on `Result<_, Response>`), like the rest of the console.
#![allow(clippy::result_large_err)]

mod houses;
mod imports;
mod people;
mod records;
mod register;
mod retention;
mod review;

use std::collections::BTreeMap;

use axum::Form;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Serialize;
use wangge_domain::registry::{
    Change, Component, Fields, House, HouseUse, Organisation, Person, RecordKind, Residence,
};
use wangge_domain::role::Role;

use super::{ConsoleUser, Lang, OrPage, i18n, page_context, render_status, urlencode};
use crate::error::ApiError;
use crate::registry::Place;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/base", get(base_home))
        .route("/console/base/houses", get(houses::list))
        .route("/console/base/houses/{code}", get(houses::detail))
        .route("/console/base/people", get(people::list))
        .route("/console/base/people/{id}", get(people::detail))
        .route("/console/base/people/{id}/full", post(people::full))
        .route("/console/base/people/{id}/move-out", post(people::move_out))
        .route("/console/base/people/{id}/move-in", post(people::move_in))
        .route("/console/base/people/{id}/edit", post(people::edit))
        .route("/console/base/organisations", get(records::organisations))
        .route(
            "/console/base/organisations/{code}",
            get(records::organisation),
        )
        .route(
            "/console/base/organisations/{code}/full",
            post(records::organisation_full),
        )
        .route("/console/base/components", get(records::components))
        .route("/console/base/components/{code}", get(records::component))
        .route(
            "/console/base/new/{kind}",
            get(register::form).post(register::submit),
        )
        .route("/console/base/changes", get(review::changes))
        .route("/console/base/changes/{id}/review", post(review::decide))
        .route("/console/base/access-log", get(review::access_log))
        .route("/console/base/import", get(imports::form))
        .route(
            "/console/base/import/template/{kind}",
            get(imports::template),
        )
        .route(
            "/console/base/retention",
            get(retention::show).post(retention::submit),
        )
}

/// Who reads the base data of people and houses: every region role; handling units see only
/// the components they answer for.
pub(super) const READERS: &[Role] = &[
    Role::GridWorker,
    Role::Receiver,
    Role::ShiftLeader,
    Role::Dispatcher,
    Role::Community,
    Role::Street,
    Role::District,
    Role::Supervisor,
    Role::Admin,
];

/// Who reads the access log of personal data.
const LOG_READERS: &[Role] = &[Role::Admin, Role::District];

/// Roles that change the base data (directly or by proposal): `registry::submit` refuses the
/// others, and the pages do not offer them its forms.
fn may_submit(role: Role) -> bool {
    !matches!(role, Role::UnitUser | Role::Supervisor)
}

/// The menu entry of the base data: its first page for each role.
pub fn nav_entry(role: Role) -> (&'static str, &'static str) {
    if role == Role::UnitUser {
        ("/console/base/components", "nav.base_components")
    } else {
        ("/console/base", "nav.base")
    }
}

async fn base_home(who: ConsoleUser) -> Response {
    let to = if who.role() == Role::UnitUser {
        "/console/base/components"
    } else {
        "/console/base/houses"
    };
    Redirect::to(to).into_response()
}

/// Rows per page of every list.
const PER_PAGE: i64 = 25;

// ---------------------------------------------------------------- words

/// A catalogue sentence with its `{name}` placeholders filled.
fn tr(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let catalogues = i18n::catalogues();
    let mut text = catalogues.text(lang, key).to_owned();
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

const ORG_KINDS: [&str; 6] = [
    "enterprise",
    "individual_business",
    "social_organisation",
    "government",
    "public_institution",
    "other",
];
const COMPONENT_STATUSES: [&str; 4] = ["in_use", "damaged", "missing", "removed"];
const PERSON_STATUSES: [&str; 3] = ["active", "moved_out", "anonymised"];
const RESIDENCE_KINDS: [&str; 2] = ["actual", "registered"];
const CHANGE_STATES: [&str; 3] = ["pending", "accepted", "rejected"];
const OPS: [&str; 3] = ["create", "update", "move_out"];
const ACTIONS: [&str; 4] = ["read_full", "read_history", "export", "anonymise"];
const GENDERS: [&str; 2] = ["male", "female"];
/// Field names the pages label besides the records' own.
const EXTRA_FIELDS: [&str; 5] = ["purpose", "reason", "id", "record_key", "confirm"];

/// Every field name of every kind of record, each once.
fn field_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = House::FIELDS
        .iter()
        .chain(Person::FIELDS.iter())
        .chain(Residence::FIELDS.iter())
        .chain(Organisation::FIELDS.iter())
        .chain(Component::FIELDS.iter())
        .chain(EXTRA_FIELDS.iter())
        .copied()
        .collect();
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(*n));
    names
}

/// The groups of words a page shows for stored values: (group, catalogue prefix, values).
fn label_groups() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        (
            "use",
            "base.use.",
            HouseUse::ALL.iter().map(|u| u.as_str()).collect(),
        ),
        ("org_kind", "base.org_kind.", ORG_KINDS.to_vec()),
        ("status", "base.status.", COMPONENT_STATUSES.to_vec()),
        (
            "person_status",
            "base.person_status.",
            PERSON_STATUSES.to_vec(),
        ),
        (
            "residence_kind",
            "base.residence_kind.",
            RESIDENCE_KINDS.to_vec(),
        ),
        ("change_state", "base.change_state.", CHANGE_STATES.to_vec()),
        ("op", "base.op.", OPS.to_vec()),
        (
            "kind",
            "base.kind.",
            RecordKind::ALL.iter().map(|k| k.as_str()).collect(),
        ),
        ("action", "base.action.", ACTIONS.to_vec()),
        ("gender", "base.gender.", GENDERS.to_vec()),
        ("field", "base.field.", field_names()),
    ]
}

/// `labels.<group>[value]` for the templates; a district's own tags show as themselves unless
/// the catalogue has a word for them.
fn labels(state: &AppState, lang: Lang) -> Value {
    let catalogues = i18n::catalogues();
    let mut out: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (group, prefix, values) in label_groups() {
        let words = values
            .into_iter()
            .map(|v| {
                let key = format!("{prefix}{v}");
                (v.to_owned(), catalogues.text(lang, &key).to_owned())
            })
            .collect();
        out.insert(group, words);
    }
    let tags = state
        .config
        .base_data
        .tags
        .iter()
        .map(|t| {
            let key = format!("base.tag.{t}");
            let word = if catalogues.has(lang, &key) {
                catalogues.text(lang, &key).to_owned()
            } else {
                t.clone()
            };
            (t.clone(), word)
        })
        .collect();
    out.insert("tag", tags);
    Value::from_serialize(&out)
}

/// What every base-data page has besides its own values: the words, and which of the section's
/// pages and forms this user gets.
fn section(state: &AppState, who: &ConsoleUser) -> Value {
    let role = who.role();
    context! {
        labels => labels(state, who.lang),
        unit_only => role == Role::UnitUser,
        may_submit => may_submit(role),
        may_review => Change::may_review(role),
        may_log => LOG_READERS.contains(&role),
        may_import => imports::IMPORTERS.contains(&role),
        may_retain => retention::RETAINERS.contains(&role),
        may_read_full => state.config.base_data.may_read_full(role),
        tags => state.config.base_data.tags.clone(),
    }
}

/// Renders a page of the section in the console's frame.
fn page(
    state: &AppState,
    who: &ConsoleUser,
    status: StatusCode,
    path: &str,
    template: &str,
    ctx: Value,
) -> Response {
    let ctx = context! { ..section(state, who), ..ctx };
    render_status(status, template, page_context(state, who, path, ctx))
}

// ---------------------------------------------------------------- queries and paging

fn blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A query string of the non-empty pairs.
fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The page asked for, from 1; anything else is the first.
fn page_no(p: &Option<String>) -> i64 {
    blank(p)
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1)
}

/// The pager under a list: the page, the number of pages when the total is known, and the links
/// to the pages around it (the list's own filters kept).
fn pager(
    path: &str,
    filters: &[(&str, Option<String>)],
    page: i64,
    shown: usize,
    total: Option<i64>,
) -> Value {
    let pages = total.map(|t| ((t + PER_PAGE - 1) / PER_PAGE).max(1));
    let more = match pages {
        Some(p) => page < p,
        None => shown as i64 == PER_PAGE,
    };
    let link = |n: i64| {
        let mut pairs = filters.to_vec();
        pairs.push(("page", Some(n.to_string())));
        format!("{path}?{}", query_string(&pairs))
    };
    context! {
        page => page,
        pages => pages,
        total => total,
        prev_href => (page > 1).then(|| link(page - 1)),
        next_href => more.then(|| link(page + 1)),
    }
}

/// The place a reader's list covers, or what is wrong with the region asked for.
fn place_or_problem(who: &ConsoleUser, region: Option<&str>) -> Result<Place, Problems> {
    Place::of(&who.user.actor, region).map_err(|e| Problems::of(who.lang, &e))
}

/// The grid's name, for a list's grid column.
fn grid_name(state: &AppState, code: &str) -> Option<String> {
    state.atlas().region(code).map(|r| r.name.clone())
}

/// A row of a list with the name of its grid beside its own values.
#[derive(Debug, Serialize)]
struct WithGrid<T> {
    #[serde(flatten)]
    row: T,
    grid_name: Option<String>,
}

// ---------------------------------------------------------------- forms

/// What is wrong with a form: a sentence for the whole, and one for each bad field by name.
#[derive(Debug, Default, Serialize)]
struct Problems {
    message: Option<String>,
    fields: BTreeMap<String, String>,
}

impl Problems {
    /// An error of the service: its fields' messages (all of them, when the error lists them)
    /// beside a sentence from the catalogue.
    fn of(lang: Lang, err: &ApiError) -> Problems {
        let mut fields = BTreeMap::new();
        let details = err.details.as_ref();
        if let Some(list) = details
            .and_then(|d| d.get("errors"))
            .and_then(|e| e.as_array())
        {
            for e in list {
                let (Some(field), Some(message)) = (
                    e.get("field").and_then(|f| f.as_str()),
                    e.get("message").and_then(|m| m.as_str()),
                ) else {
                    continue;
                };
                fields
                    .entry(field.to_owned())
                    .and_modify(|m: &mut String| {
                        m.push_str("; ");
                        m.push_str(message);
                    })
                    .or_insert_with(|| message.to_owned());
            }
        } else if let Some(field) = details
            .and_then(|d| d.get("field"))
            .and_then(|f| f.as_str())
        {
            fields.insert(field.to_owned(), err.message.clone());
        }
        let catalogues = i18n::catalogues();
        let key = format!("error.{}", err.code);
        let sentence = if catalogues.has(lang, &key) {
            catalogues.text(lang, &key).to_owned()
        } else {
            catalogues.text(lang, "error.generic").to_owned()
        };
        let message = if fields.is_empty() && err.status != StatusCode::INTERNAL_SERVER_ERROR {
            format!("{sentence} {}", err.message)
        } else {
            sentence
        };
        Problems {
            message: Some(message),
            fields,
        }
    }

    fn field(lang: Lang, field: &str, key: &str) -> Problems {
        let message = tr(lang, key, &[]);
        Problems {
            message: Some(tr(lang, "error.invalid_field", &[])),
            fields: BTreeMap::from([(field.to_owned(), message)]),
        }
    }

    fn status(&self) -> StatusCode {
        if self.message.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

/// A refusal of the input (422) is shown with the form; anything else is an error page.
fn refusal(who: &ConsoleUser, err: ApiError) -> Result<Problems, Response> {
    if err.status == StatusCode::UNPROCESSABLE_ENTITY {
        Ok(Problems::of(who.lang, &err))
    } else {
        Err(super::error_page(who.lang, Some(who), &err))
    }
}

/// A posted form as its pairs, in order (check boxes repeat a name).
struct Posted {
    pairs: Vec<(String, String)>,
}

/// How every post starts: the body (or a page saying it could not be read) and the session's
/// CSRF token checked.
fn posted(
    who: &ConsoleUser,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Posted, Response> {
    let pairs = form
        .map(|Form(f)| f)
        .map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))
        .or_page(who)?;
    let posted = Posted { pairs };
    who.check_csrf(posted.get("_csrf").unwrap_or(""))?;
    Ok(posted)
}

impl Posted {
    /// The trimmed value of a field, `None` when absent or blank.
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every value of a repeated field (check boxes), blank ones left out.
    fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The named fields that were filled in; `tags` joined from its check boxes, and sent even
    /// when none is ticked (that clears them) if `with_tags`.
    fn fields(&self, names: &[&str], with_tags: bool) -> Fields {
        let mut f = Fields::new();
        for name in names {
            if *name == "tags" {
                if with_tags {
                    f.set("tags", self.all("tags").join(","));
                }
            } else if let Some(v) = self.get(name) {
                f.set(*name, v);
            }
        }
        f
    }

    /// The form as typed, to show it again: name → value (check boxes joined).
    fn typed(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.pairs {
            if k == "_csrf" {
                continue;
            }
            out.entry(k.clone())
                .and_modify(|old| {
                    old.push(',');
                    old.push_str(v);
                })
                .or_insert_with(|| v.clone());
        }
        out
    }
}

/// The flash of a `done` code the last post redirected with, if the catalogue knows it.
fn done_text(lang: Lang, done: &Option<String>) -> Option<String> {
    let done = blank(done)?;
    if !done.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return None;
    }
    let key = format!("base.done.{done}");
    i18n::catalogues()
        .has(lang, &key)
        .then(|| tr(lang, &key, &[]))
}

/// The page of a record.
fn record_path(kind: RecordKind, key: &str) -> String {
    format!("/console/base/{}/{}", kind.plural(), urlencode(key))
}

fn see_other(path: &str, done: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}done={done}")).into_response()
}

// ---------------------------------------------------------------- history

/// One version of a record as the history table shows it.
#[derive(Debug, Serialize)]
struct VersionLine {
    version: i64,
    at: chrono::DateTime<chrono::Utc>,
    actor: String,
    op: String,
    /// (field, before, after); values left out where the reader may not see them.
    changes: Vec<(String, Option<String>, Option<String>)>,
}

/// A record's versions, newest first. `values` false shows which fields changed but not to what
/// (a person's history holds full numbers; reading them is a logged full read).
async fn history(
    state: &AppState,
    kind: RecordKind,
    district: &str,
    key: &str,
    values: bool,
) -> Result<Vec<VersionLine>, ApiError> {
    use crate::registry_api::{masked_fields, version_views, versions_of};
    let mut versions = versions_of(state, kind, district, key).await?;
    for v in &mut versions {
        v.fields = v.fields.as_ref().map(masked_fields);
    }
    let views = version_views(versions, &[], None);
    let mut out: Vec<VersionLine> = views
        .into_iter()
        .map(|v| {
            let changes = match v.changed {
                serde_json::Value::Object(map) => map
                    .into_iter()
                    .map(|(name, pair)| {
                        let side = |i: usize| {
                            values
                                .then(|| pair.get(i).and_then(|x| x.as_str()).map(str::to_owned))
                                .flatten()
                        };
                        (name, side(0), side(1))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            VersionLine {
                version: v.version,
                at: v.at,
                actor: v.actor,
                op: v.op,
                changes,
            }
        })
        .collect();
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `done` codes the pages redirect with.
    const DONE: [&str; 7] = [
        "created",
        "proposed",
        "applied",
        "accepted",
        "rejected",
        "moved_out",
        "moved_in",
    ];

    /// Keys the code (not a template) names.
    const CODE_KEYS: [&str; 9] = [
        "base.problem.required",
        "base.problem.as_of",
        "base.retention.confirm_required",
        "base.tab.houses",
        "base.tab.people",
        "base.tab.organisations",
        "base.tab.components",
        "nav.base",
        "nav.base_components",
    ];

    /// The words the pages compute keys for are in both catalogues (the template test sees only
    /// literal keys).
    #[test]
    fn every_label_is_in_every_catalogue() {
        let catalogues = i18n::Catalogues::load();
        let mut missing = Vec::new();
        let tags = crate::registry::BaseDataSettings::default().tags;
        for lang in Lang::ALL {
            for (_, prefix, values) in label_groups() {
                for v in values {
                    let key = format!("{prefix}{v}");
                    if !catalogues.has(lang, &key) {
                        missing.push(format!("{} {key}", lang.code()));
                    }
                }
            }
            for t in &tags {
                let key = format!("base.tag.{t}");
                if !catalogues.has(lang, &key) {
                    missing.push(format!("{} {key}", lang.code()));
                }
            }
            for kind in register::KINDS {
                for key in register::keys_of(kind) {
                    if !catalogues.has(lang, &key) {
                        missing.push(format!("{} {key}", lang.code()));
                    }
                }
            }
            for done in DONE {
                let key = format!("base.done.{done}");
                if !catalogues.has(lang, &key) {
                    missing.push(format!("{} {key}", lang.code()));
                }
            }
            for key in CODE_KEYS {
                if !catalogues.has(lang, key) {
                    missing.push(format!("{} {key}", lang.code()));
                }
            }
        }
        assert!(missing.is_empty(), "missing: {missing:?}");
    }

    #[test]
    fn every_role_but_handling_units_reads_the_base_data() {
        for role in Role::ALL {
            assert_eq!(READERS.contains(&role), role != Role::UnitUser, "{role:?}");
            let listed = crate::console::nav_for(role)
                .iter()
                .any(|(href, _)| href.starts_with("/console/base"));
            assert!(listed, "{role:?} has the base data in the menu");
        }
    }

    /// The pages offer imports to the roles the API imports for.
    #[test]
    fn imports_are_offered_to_the_roles_that_may_import() {
        for role in Role::ALL {
            assert_eq!(
                imports::IMPORTERS.contains(&role),
                Change::may_review(role),
                "{role:?}"
            );
        }
    }

    #[test]
    fn query_strings_keep_only_what_was_given() {
        let q = query_string(&[
            ("q", Some("和平 路".into())),
            ("class", None),
            ("region", Some(String::new())),
        ]);
        assert_eq!(q, "q=%E5%92%8C%E5%B9%B3%20%E8%B7%AF");
        assert_eq!(page_no(&Some("3".into())), 3);
        assert_eq!(page_no(&Some("-1".into())), 1);
        assert_eq!(page_no(&Some("x".into())), 1);
    }
}
