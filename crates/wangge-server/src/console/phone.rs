//! The grid worker's phone page (`/m`): the worker's grid on a map, a report form with camera
//! photos and the phone's position, the verification tasks in the grid and the worker's own
//! reports. It is an installable PWA: `/sw.js` (the service worker, scope `/`) keeps the app
//! shell for offline use, and `phone.js` queues a report made offline in IndexedDB and sends it
//! when the network returns.
//!
//! A queued report may be sent twice: the first answer can be lost after the server stored the
//! case. Every report from the page's script therefore carries a `client_ref` (a random id made
//! on the phone) and the server remembers, for 24 hours, which case each `client_ref` became; a
//! repeat gets that case back instead of a second one. The memory is this process's own: a
//! repeat that reaches another server of a cluster, or this one after a restart, still makes a
//! duplicate (which the duplicate check on nearby reports of the same category then flags).
//! `external_id` would survive restarts through its unique index, but it means "the source
//! system's ticket number" (a 12345 work order), is shown as such to the desks, and has no
//! lookup by value in the store, so a conflict could not be turned back into the existing case.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use geo::InteriorPoint;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wangge_domain::case::ReportInput;
use wangge_domain::case_loop::Actor;
use wangge_domain::role::Role;
use wangge_store::{CaseFilter, CaseOrder, CaseRow, Store};

use super::{ConsoleUser, Lang, OrPage, error_page, i18n, page_context, render, serve_embedded};
use crate::api::light_of;
use crate::cases::{ActError, attach_evidence, readable_case, report_case};
use crate::error::ApiError;
use crate::evidence::StoredEvidence;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m", get(phone_page))
        .route("/m/report", post(report))
        .route("/sw.js", get(service_worker))
        .route("/manifest.webmanifest", get(manifest))
}

/// Who works from the phone page: grid workers, and community and street staff who patrol
/// their (larger) area the same way.
const PHONE_ROLES: &[Role] = &[Role::GridWorker, Role::Community, Role::Street];

/// Photos one report may carry; a phone's camera roll should not become one case.
const MAX_PHOTOS: usize = 9;

/// Rows in each list of the page; the desks have the full, paged lists.
const LIST_LIMIT: i64 = 50;

/// The stage of a photo taken when reporting ("before" handling), as the attachment API names it.
const REPORT_STAGE: &str = "report";

// ---------------------------------------------------------------- service worker and manifest

/// The service worker is served from the root so its scope can be the whole site (`/m` and
/// `/static/`); `no-cache` makes browsers check for a new version on every visit.
async fn service_worker() -> Response {
    let mut response = serve_embedded("static/sw.js", "no-cache");
    if response.status().is_success() {
        response
            .headers_mut()
            .insert("service-worker-allowed", HeaderValue::from_static("/"));
    }
    response
}

async fn manifest() -> Response {
    serve_embedded("static/manifest.webmanifest", "public, max-age=3600")
}

// ---------------------------------------------------------------- the page

#[derive(Debug, Deserialize)]
struct PageQuery {
    reported: Option<String>,
}

#[derive(Debug, Serialize)]
struct CategoryItem {
    code: String,
    name: String,
}

#[derive(Debug, Serialize)]
struct CategoryGroup {
    code: String,
    name: String,
    items: Vec<CategoryItem>,
}

/// One case as the phone lists it.
#[derive(Debug, Serialize)]
struct CaseItem {
    id: String,
    grid: String,
    state: String,
    node: Option<String>,
    light: Option<&'static str>,
    category: String,
    description: String,
    address: Option<String>,
    reported_at: String,
    due_at: Option<String>,
}

fn case_item(state: &AppState, c: &CaseRow, now: chrono::DateTime<chrono::Utc>) -> CaseItem {
    let reference = state.reference();
    let category = reference
        .category(&c.category_kind, &c.category_code)
        .map(|k| k.name.clone())
        .unwrap_or_else(|| c.category_code.clone());
    CaseItem {
        id: c.id.to_string(),
        grid: c.grid_code.clone(),
        state: c.state.clone(),
        node: c.node.clone(),
        light: light_of(c, now),
        category,
        description: c.description.clone(),
        address: c.address.clone(),
        reported_at: c.reported_at.to_rfc3339(),
        due_at: c.due_at.map(|d| d.to_rfc3339()),
    }
}

/// The matter categories a report may name, grouped by class (大类) for the select's optgroups.
fn category_groups(state: &AppState) -> Vec<CategoryGroup> {
    let reference = state.reference();
    let mut groups: BTreeMap<String, CategoryGroup> = BTreeMap::new();
    for c in reference
        .categories()
        .filter(|c| c.kind == "matter" && c.active)
    {
        groups
            .entry(c.class_code.clone())
            .or_insert_with(|| CategoryGroup {
                code: c.class_code.clone(),
                name: c.class_name.clone(),
                items: Vec::new(),
            })
            .items
            .push(CategoryItem {
                code: c.code.clone(),
                name: c.name.clone(),
            });
    }
    let mut out: Vec<CategoryGroup> = groups.into_values().collect();
    for g in &mut out {
        g.items.sort_by(|a, b| a.code.cmp(&b.code));
    }
    out
}

async fn phone_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<PageQuery>,
) -> Result<Response, Response> {
    who.require(PHONE_ROLES)?;
    let region_code = who.user.actor.region.clone();
    let region = match &region_code {
        Some(code) => state.store.current_region(code).await.or_page(&who)?,
        None => None,
    };
    // The area as GeoJSON for the map, and a point inside it as the report's first position
    // (the script moves it to the phone's own position when the browser gives one).
    let geometry: Option<serde_json::Value> = region
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.geometry).ok());
    let inside = region
        .as_ref()
        .and_then(|r| crate::atlas::parse_geometry(&r.geometry).ok())
        .and_then(|g| g.interior_point())
        .map(|p| (round6(p.x()), round6(p.y())));

    let now = chrono::Utc::now();
    // Without a region there is no "my grid": list nothing rather than the whole city.
    let mut tasks = Vec::new();
    let mut mine = Vec::new();
    if let Some(code) = &region_code {
        for node in ["confirm", "check"] {
            let filter = CaseFilter {
                region_prefix: Some(code.clone()),
                node: Some(node.into()),
                order: CaseOrder::DueFirst,
                limit: LIST_LIMIT,
                ..CaseFilter::default()
            };
            let (rows, _) = state.store.list_cases(&filter).await.or_page(&who)?;
            tasks.extend(rows);
        }
        tasks.sort_by_key(|c| (c.due_at.is_none(), c.due_at));
        // "My reports": the cases this user reported, in their own area, newest first.
        let filter = CaseFilter {
            region_prefix: Some(code.clone()),
            reported_by: Some(who.user.actor.id.clone()),
            order: CaseOrder::NewestFirst,
            limit: LIST_LIMIT,
            ..CaseFilter::default()
        };
        let (rows, _) = state.store.list_cases(&filter).await.or_page(&who)?;
        mine = rows;
    }
    let reported = match q.reported.as_deref().map(Uuid::parse_str) {
        Some(Ok(id)) => readable_case(&state, &who.user.actor, id)
            .await
            .ok()
            .map(|(row, _)| case_item(&state, &row, now)),
        _ => None,
    };
    let ctx = page_context(
        &state,
        &who,
        "/m",
        context! {
            region_code => region_code,
            region_name => region.as_ref().map(|r| r.name.clone()),
            region_level => region.as_ref().map(|r| r.level.clone()),
            geometry => Value::from_serialize(&geometry),
            start_lon => inside.map(|p| p.0),
            start_lat => inside.map(|p| p.1),
            categories => Value::from_serialize(category_groups(&state)),
            tasks => Value::from_serialize(tasks.iter().map(|c| case_item(&state, c, now)).collect::<Vec<_>>()),
            mine => Value::from_serialize(mine.iter().map(|c| case_item(&state, c, now)).collect::<Vec<_>>()),
            reported => Value::from_serialize(&reported),
            max_photos => MAX_PHOTOS,
            state_labels => Value::from_serialize(state_labels(who.lang)),
        },
    );
    Ok(render("phone.html", ctx))
}

/// The states' names, for the script that shows the state of a report it sent.
fn state_labels(lang: Lang) -> BTreeMap<&'static str, String> {
    let catalogues = i18n::catalogues();
    [
        "reported",
        "registered",
        "dispatched",
        "in_progress",
        "handled",
        "verified",
        "closed",
        "invalid",
        "returned",
        "merged",
        "suspended",
    ]
    .into_iter()
    .map(|s| (s, catalogues.text(lang, &format!("state.{s}")).to_owned()))
    .collect()
}

/// Six decimals of a degree are about 0.1 m: finer than any phone's fix.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

// ---------------------------------------------------------------- reporting

/// What a report answers to the page's script.
#[derive(Debug, Serialize)]
struct Reported {
    id: Uuid,
    state: String,
    grid: String,
    url: String,
    /// Photos attached to the case.
    attachments: usize,
    /// True when this `client_ref` had already been reported and the earlier case is answered.
    duplicate: bool,
}

/// The form as posted.
#[derive(Debug, Default)]
struct ReportForm {
    csrf: Option<String>,
    category: String,
    description: String,
    lon: String,
    lat: String,
    address: String,
    client_ref: Option<String>,
    photos: Vec<(Vec<u8>, Option<String>)>,
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `POST /m/report` (multipart): a patrol report with its photos. A form post is answered with a
/// redirect to the page showing the new case; the page's script (`Accept: application/json`)
/// gets `{id, state, …}` or the error as JSON.
async fn report(
    State(state): State<AppState>,
    who: ConsoleUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let json = wants_json(&headers);
    match report_inner(&state, &who, multipart).await {
        Ok(done) if json => {
            let status = if done.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, [(header::CACHE_CONTROL, "no-store")], Json(done)).into_response()
        }
        Ok(done) => Redirect::to(&format!("/m?reported={}", done.id)).into_response(),
        Err(e) if json => json_error(who.lang, e),
        Err(e) => error_page(who.lang, Some(&who), &e),
    }
}

/// The error in the one error shape, with the catalogue's sentence for the user's language
/// added as `details.text` so the script can show it as it is.
fn json_error(lang: Lang, mut e: ApiError) -> Response {
    let catalogues = i18n::catalogues();
    let text = [
        format!("error.{}", e.code),
        format!("phone.error.{}", e.code),
    ]
    .into_iter()
    .find(|k| catalogues.has(lang, k))
    .map(|k| catalogues.text(lang, &k).to_owned());
    if let Some(text) = text {
        let mut details = match e.details.take() {
            Some(serde_json::Value::Object(map)) => map,
            Some(other) => {
                let mut map = serde_json::Map::new();
                map.insert("value".into(), other);
                map
            }
            None => serde_json::Map::new(),
        };
        details.insert("text".into(), serde_json::Value::String(text));
        e.details = Some(serde_json::Value::Object(details));
    }
    e.into_response()
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        crate::error::payload_too_large()
    } else {
        ApiError::bad_request(
            "bad_multipart",
            format!("the form could not be read: {}", e.body_text()),
        )
    }
}

async fn read_form(
    who: &ConsoleUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<ReportForm, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_multipart",
            format!("send the report as multipart/form-data: {}", e.body_text()),
        )
    })?;
    let mut form = ReportForm::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photo" {
            let file_name = field
                .file_name()
                .map(|n| n.chars().take(200).collect::<String>());
            let bytes = field.bytes().await.map_err(multipart_error)?;
            // A file input left empty still sends a part, with no name and no bytes.
            if bytes.is_empty() && file_name.as_deref().is_none_or(str::is_empty) {
                continue;
            }
            if form.photos.len() >= MAX_PHOTOS {
                return Err(ApiError::invalid_field(
                    "photo",
                    format!("at most {MAX_PHOTOS} photos per report"),
                ));
            }
            form.photos
                .push((bytes.to_vec(), file_name.filter(|n| !n.is_empty())));
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        match name.as_str() {
            "_csrf" => {
                // Checked as soon as it arrives (the page sends it first), so a forged post is
                // refused before its photos are read.
                if who.check_csrf(text.trim()).is_err() {
                    return Err(csrf_rejected());
                }
                form.csrf = Some(text);
            }
            "category" => form.category = text,
            "description" => form.description = text,
            "lon" => form.lon = text,
            "lat" => form.lat = text,
            "address" => form.address = text,
            "client_ref" => {
                form.client_ref = Some(text.trim().to_owned()).filter(|s| !s.is_empty())
            }
            _ => {}
        }
    }
    if form.csrf.is_none() {
        return Err(csrf_rejected());
    }
    Ok(form)
}

fn csrf_rejected() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_rejected",
        "the form is out of date: reload the page",
    )
}

/// A coordinate as typed or filled in; empty means missing (the report check names it).
fn coordinate(field: &str, text: &str) -> Result<Option<f64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>().map(Some).map_err(|_| {
        ApiError::invalid_field(
            field,
            format!("{field} must be a number of degrees, not '{text}'"),
        )
    })
}

/// A client reference: the phone makes a UUID; anything short and plain is accepted.
fn valid_client_ref(r: &str) -> bool {
    (8..=64).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn report_inner(
    state: &AppState,
    who: &ConsoleUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Reported, ApiError> {
    if !PHONE_ROLES.contains(&who.role()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "page_forbidden",
            "this page is not for your role",
        ));
    }
    let form = read_form(who, multipart).await?;
    let lon = coordinate("lon", &form.lon)?;
    let lat = coordinate("lat", &form.lat)?;
    if let Some(r) = &form.client_ref
        && !valid_client_ref(r)
    {
        return Err(ApiError::invalid_field(
            "client_ref",
            "client_ref must be 8 to 64 letters, digits, '-' or '_'",
        ));
    }
    let actor = who.user.actor.clone();
    // Keyed by the user's row id, which a re-seeded or another database does not share.
    let key = form
        .client_ref
        .clone()
        .map(|r| (who.user.user_id.to_string(), r));
    if let Some(key) = &key {
        match recent().begin(key) {
            Begin::New => {}
            Begin::Pending => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "report_in_progress",
                    "this report is still being stored; try again in a moment",
                ));
            }
            Begin::Done(id) => match readable_case(state, &actor, id).await {
                Ok((row, _)) => {
                    return Ok(Reported {
                        id,
                        state: row.state.clone(),
                        grid: row.grid_code.clone(),
                        url: format!("/console/cases/{id}"),
                        attachments: state.store.attachments(&row.district_code, id).await?.len(),
                        duplicate: true,
                    });
                }
                // The case is gone (a database restored from before it): report it anew.
                Err(ActError::NotFound(_)) => recent().restart(key),
                Err(e) => return Err(e.into()),
            },
        }
    }
    let input = ReportInput {
        category: form.category.trim().to_owned(),
        description: form.description,
        lon,
        lat,
        source: "patrol".into(),
        external_id: None,
        address: Some(form.address.trim().to_owned()).filter(|a| !a.is_empty()),
        component_code: None,
    };
    // The work runs in its own task so that a phone dropping the connection halfway (the very
    // case the client_ref is for) cannot leave a case stored but not remembered.
    let task_state = state.clone();
    let task_key = key.clone();
    let handle = tokio::spawn(async move {
        let result = store_report(&task_state, &actor, input, form.photos, task_key.as_ref()).await;
        if let (Err(_), Some(key)) = (&result, &task_key) {
            recent().forget(key);
        }
        result
    });
    match handle.await {
        Ok(result) => result,
        Err(e) => {
            if let Some(key) = &key {
                recent().forget(key);
            }
            Err(ApiError::internal(format!("report task failed: {e}")))
        }
    }
}

/// Checks and stores the photos, reports the case, attaches the photos as "before" evidence.
///
/// The photos are stored first, so that a file that is not an image refuses the whole report
/// before any case exists. If the report itself is then refused (a position outside the area),
/// the stored files stay unreferenced; the store is content-addressed, so that costs only disk,
/// as an upload to a case that is closed meanwhile does in the attachment API.
async fn store_report(
    state: &AppState,
    actor: &Actor,
    input: ReportInput,
    photos: Vec<(Vec<u8>, Option<String>)>,
    key: Option<&(String, String)>,
) -> Result<Reported, ApiError> {
    let mut stored: Vec<(StoredEvidence, Option<String>)> = Vec::with_capacity(photos.len());
    for (bytes, name) in photos {
        let store = state.evidence.clone();
        let evidence = tokio::task::spawn_blocking(move || store.put(&bytes))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| {
                let e = ApiError::from(e);
                if e.details.is_some() {
                    e.with_details(serde_json::json!({ "field": "photo" }))
                } else {
                    e
                }
            })?;
        stored.push((evidence, name));
    }
    let case = report_case(state, input, None, false, actor).await?;
    if let Some(key) = key {
        recent().done(key, case.id);
    }
    let mut attached = 0;
    let mut latest = case.clone();
    for (evidence, name) in &stored {
        match attach_evidence(state, actor, case.id, evidence, REPORT_STAGE, name.clone()).await {
            Ok((row, _)) => {
                attached += 1;
                latest = row;
            }
            // The case exists and is remembered for the client_ref; a retry would not attach
            // the photo either, so the answer says how many made it and the log says why.
            Err(e) => {
                tracing::error!(case = %case.id, error = %e, "could not attach a reported photo")
            }
        }
    }
    Ok(Reported {
        id: case.id,
        state: latest.state.clone(),
        grid: case.grid_code.clone(),
        url: format!("/console/cases/{}", case.id),
        attachments: attached,
        duplicate: false,
    })
}

// ---------------------------------------------------------------- recent client references

/// How long a client reference is remembered: a phone offline for a day still sends its queue.
const REMEMBER: Duration = Duration::from_secs(24 * 3600);

/// At most this many remembered references; past it, the oldest finished ones are dropped.
const REMEMBER_LIMIT: usize = 100_000;

#[derive(Debug, Clone, Copy)]
enum Entry {
    Pending(Instant),
    Done(Uuid, Instant),
}

enum Begin {
    New,
    Pending,
    Done(Uuid),
}

/// (user id, client_ref) → the case it became, for this process, for [`REMEMBER`].
#[derive(Debug, Default)]
struct Recent {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

fn recent() -> &'static Recent {
    static RECENT: OnceLock<Recent> = OnceLock::new();
    RECENT.get_or_init(Recent::default)
}

impl Recent {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the reference as being reported, unless it is already known.
    fn begin(&self, key: &(String, String)) -> Begin {
        let now = Instant::now();
        let mut map = self.lock();
        match map.get(key) {
            Some(Entry::Done(id, at)) if now.duration_since(*at) < REMEMBER => {
                return Begin::Done(*id);
            }
            Some(Entry::Pending(at)) if now.duration_since(*at) < REMEMBER => {
                return Begin::Pending;
            }
            _ => {}
        }
        if map.len() >= REMEMBER_LIMIT {
            map.retain(|_, e| match e {
                Entry::Pending(at) | Entry::Done(_, at) => now.duration_since(*at) < REMEMBER,
            });
        }
        if map.len() >= REMEMBER_LIMIT {
            // Still full of fresh entries: forget the older half of the finished ones.
            let mut done: Vec<Instant> = map
                .values()
                .filter_map(|e| match e {
                    Entry::Done(_, at) => Some(*at),
                    Entry::Pending(_) => None,
                })
                .collect();
            done.sort();
            if let Some(cut) = done.get(done.len() / 2).copied() {
                map.retain(|_, e| !matches!(e, Entry::Done(_, at) if *at <= cut));
            }
        }
        map.insert(key.clone(), Entry::Pending(now));
        Begin::New
    }

    /// Reports a remembered reference again, as pending.
    fn restart(&self, key: &(String, String)) {
        self.lock()
            .insert(key.clone(), Entry::Pending(Instant::now()));
    }

    fn done(&self, key: &(String, String), id: Uuid) {
        self.lock()
            .insert(key.clone(), Entry::Done(id, Instant::now()));
    }

    fn forget(&self, key: &(String, String)) {
        let mut map = self.lock();
        if matches!(map.get(key), Some(Entry::Pending(_))) {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_ref_becomes_one_case() {
        let r = Recent::default();
        let key = ("user".to_owned(), "ref-0001".to_owned());
        assert!(matches!(r.begin(&key), Begin::New));
        assert!(matches!(r.begin(&key), Begin::Pending));
        let id = Uuid::nil();
        r.done(&key, id);
        assert!(matches!(r.begin(&key), Begin::Done(x) if x == id));
        // A failed report is forgotten, so it can be tried again.
        let other = ("user".to_owned(), "ref-0002".to_owned());
        assert!(matches!(r.begin(&other), Begin::New));
        r.forget(&other);
        assert!(matches!(r.begin(&other), Begin::New));
        // Forgetting never drops a finished report.
        r.forget(&key);
        assert!(matches!(r.begin(&key), Begin::Done(_)));
        // A finished report whose case is gone is reported again, once.
        r.restart(&key);
        assert!(matches!(r.begin(&key), Begin::Pending));
    }

    #[test]
    fn client_refs_are_plain() {
        assert!(valid_client_ref("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert!(!valid_client_ref("short"));
        assert!(!valid_client_ref("has space in it"));
        assert!(!valid_client_ref(&"x".repeat(65)));
    }
}
