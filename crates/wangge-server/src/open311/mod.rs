//! Open311 GeoReport v2 under `/open311/v2` (issue 8): outside clients read the catalogue of
//! matters as services, report problems that become cases (source `open311`, confirmed on the
//! spot like any public report) and follow them. XML (the spec's mandatory format) and JSON,
//! chosen by the extension of the path. The integrator's guide is `docs/open311.md`.
//!
//! - `wire.rs` — the value tree, its XML and JSON forms, the spec's errors;
//! - `keys.rs` — API keys (issued by administrators, one jurisdiction each) and `/api/v1/api-keys`;
//! - here — the GeoReport endpoints: discovery, services, service definitions, requests, tokens.
//!
//! Reads need no key (the spec's rule): they show only what is public about a case — never who
//! reported it. Contact details a client sends are sealed with the data key or not kept at all.

mod keys;
pub mod wire;

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{delete, get};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, SecondsFormat, Utc};
use uuid::Uuid;
use wangge_domain::case::{CaseError, CaseState, ReportInput, Source};
use wangge_domain::case_loop::Actor;
use wangge_domain::role::Role;
use wangge_store::api_keys::{ApiKeyRow, ApiKeys, Open311RequestRow};
use wangge_store::{CaseFilter, CaseOrder, CaseRow, CategoryRow, Store};

pub use keys::{
    ApiKeyView, IssueProblem, IssueRequest, IssuedKey, check_issue, issue_key, key_view, revoke,
    visible,
};
use wire::{Format, Open311Error, V, render, split_format};

use crate::cases::{IntakeError, report_case};
use crate::state::AppState;

/// When this endpoint's interface last changed (discovery's `changeset`).
pub const CHANGESET: &str = "2026-11-24T00:00:00+08:00";
/// The key of the demo database.
pub const DEMO_KEY: &str = "demo-open311-key";
/// Most requests one `GET requests` answers (the spec's limit).
pub const MAX_RESULTS: usize = 1000;
/// The default window of `GET requests` and the widest one allowed, in days (the spec's).
pub const WINDOW_DAYS: i64 = 90;
const MAX_ATTRIBUTE_CHARS: usize = 200;
const MAX_MEDIA_URL_CHARS: usize = 1000;
const MAX_CONTACT_CHARS: usize = 200;
/// Times are answered in Beijing time, the city's own.
const BEIJING_SECS: i32 = 8 * 3600;

/// Routes nested under `/open311/v2`. Each path ends in `.xml` or `.json`; the stem names the
/// resource (`discovery`, `services`, `requests`), so one route per directory takes them all.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{file}", get(get_top).post(post_top))
        .route("/services/{file}", get(get_service_definition))
        .route("/requests/{file}", get(get_one_request))
        .route("/tokens/{file}", get(get_token))
}

/// Routes under `/api/v1` (API keys, issued by an administrator).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api-keys", get(keys::list_keys).post(keys::create_key))
        .route("/api-keys/{id}", delete(keys::revoke_key))
}

/// This module's part of `/api/openapi.json` (merged into `api::ApiDoc`). The GeoReport
/// endpoints follow their own specification (docs/open311.md), not this document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(keys::create_key, keys::list_keys, keys::revoke_key),
    components(schemas(ApiKeyView, IssuedKey, IssueRequest))
)]
pub struct ApiDoc;

/// What a demo database holds for Open311 clients: the key `demo-open311-key` for the whole
/// city, named 演示Open311客户端.
pub async fn seed_demo(state: &AppState) -> Result<(), wangge_store::StoreError> {
    use crate::auth::token_hash;
    if state
        .store
        .api_key_by_hash(&token_hash(DEMO_KEY))
        .await?
        .is_some()
    {
        return Ok(());
    }
    let atlas = state.atlas();
    let Some(city) = atlas
        .districts()
        .first()
        .and_then(|d| atlas.region(d))
        .map(|d| d.parent_code.clone().unwrap_or_else(|| d.code.clone()))
    else {
        return Ok(());
    };
    issue_key(
        state,
        "demo-admin",
        "演示Open311客户端",
        &city,
        Some(DEMO_KEY),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading the query and the form

/// `a=1&b=2` as pairs, in order (repeated keys kept: `attribute[x][]` repeats).
fn pairs(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `attribute[code]` → (code, false); `attribute[code][]` → (code, true).
fn attribute_key(key: &str) -> Option<(&str, bool)> {
    let rest = key.strip_prefix("attribute[")?;
    if let Some(code) = rest.strip_suffix("][]") {
        return (!code.is_empty() && !code.contains(['[', ']'])).then_some((code, true));
    }
    let code = rest.strip_suffix(']')?;
    (!code.is_empty() && !code.contains(['[', ']'])).then_some((code, false))
}

fn w3c(t: DateTime<Utc>) -> String {
    let beijing = FixedOffset::east_opt(BEIJING_SECS).unwrap_or_else(|| Utc.fix());
    t.with_timezone(&beijing)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

use chrono::Offset;
use chrono::TimeZone;

/// A w3c datetime (`2026-11-20T08:00:00+08:00`, `…Z`) or a date alone (midnight, Beijing time).
fn parse_w3c(field: &str, text: &str) -> Result<DateTime<Utc>, Open311Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let beijing = FixedOffset::east_opt(BEIJING_SECS).unwrap_or_else(|| Utc.fix());
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| beijing.from_local_datetime(&t).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            Open311Error::bad_request(format!(
                "{field}: '{text}' is not a w3c datetime such as 2026-11-20T08:00:00+08:00"
            ))
        })
}

// ---------------------------------------------------------------------------------------------
// Services and their definitions

/// The services: every active matter of the catalogue, by code.
fn services(state: &AppState) -> Vec<CategoryRow> {
    let mut out: Vec<CategoryRow> = state
        .reference()
        .categories()
        .filter(|c| c.kind == "matter" && c.active)
        .cloned()
        .collect();
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

fn service(state: &AppState, code: &str) -> Option<CategoryRow> {
    state
        .reference()
        .category("matter", code)
        .filter(|c| c.active)
        .cloned()
}

/// A city component of the same subcategory exists, so a report may name one.
fn has_components(state: &AppState, code: &str) -> bool {
    state.reference().category("component", code).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Datatype {
    String,
    SingleValueList,
    MultiValueList,
}

impl Datatype {
    fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::SingleValueList => "singlevaluelist",
            Datatype::MultiValueList => "multivaluelist",
        }
    }
}

struct Attribute {
    code: &'static str,
    datatype: Datatype,
    required: bool,
    datatype_description: &'static str,
    description: &'static str,
    values: &'static [(&'static str, &'static str)],
}

const URGENT: Attribute = Attribute {
    code: "urgent",
    datatype: Datatype::SingleValueList,
    required: true,
    datatype_description: "yes 或 no / yes or no",
    description: "是否紧急（危及人身或财产安全）/ Is it urgent (a danger to people or property)?",
    values: &[("yes", "是 / Yes"), ("no", "否 / No")],
};

const LANDMARK: Attribute = Attribute {
    code: "landmark",
    datatype: Datatype::String,
    required: false,
    datatype_description: "不超过200字 / at most 200 characters",
    description: "附近的标志物（便于现场找到）/ A landmark nearby, to find the spot",
    values: &[],
};

const HAZARDS: Attribute = Attribute {
    code: "hazards",
    datatype: Datatype::MultiValueList,
    required: false,
    datatype_description: "可多选 / any of the values",
    description: "造成的影响 / What it affects",
    values: &[
        ("traffic", "影响通行 / Blocks traffic"),
        ("injury", "可能伤人 / May injure someone"),
        ("pollution", "污染环境 / Pollutes"),
        ("noise", "噪声扰民 / Noise"),
        ("night", "夜间存在 / Also at night"),
    ],
};

const COMPONENT: Attribute = Attribute {
    code: "component_code",
    datatype: Datatype::String,
    required: false,
    datatype_description: "部件标识码（17位或16位，见部件上的标牌）/ the component's 17- or 16-digit code from its plate",
    description: "问题部件的标识码（如有）/ The code of the city component concerned, if known",
    values: &[],
};

/// The attributes of a service, in order: whether it is urgent, a landmark, what it affects,
/// and the component's code where the subcategory is a city component.
fn attributes(state: &AppState, code: &str) -> Vec<&'static Attribute> {
    let mut out: Vec<&'static Attribute> = vec![&URGENT, &LANDMARK, &HAZARDS];
    if has_components(state, code) {
        out.push(&COMPONENT);
    }
    out
}

fn service_value(c: &CategoryRow) -> V {
    V::Obj(vec![
        ("service_code", V::str(c.code.clone())),
        ("service_name", V::str(c.name.clone())),
        ("description", V::str(c.registration_standard.clone())),
        // Every service asks at least whether it is urgent.
        ("metadata", V::Bool(true)),
        ("type", V::str("realtime")),
        ("keywords", V::str(format!("{},{}", c.class_name, c.name))),
        ("group", V::str(c.class_name.clone())),
    ])
}

fn definition_value(code: &str, attrs: &[&Attribute]) -> V {
    let attrs = attrs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut fields = vec![
                ("variable", V::Bool(true)),
                ("code", V::str(a.code)),
                ("datatype", V::str(a.datatype.as_str())),
                ("required", V::Bool(a.required)),
                ("datatype_description", V::str(a.datatype_description)),
                ("order", V::Int(i as i64 + 1)),
                ("description", V::str(a.description)),
            ];
            if !a.values.is_empty() {
                fields.push((
                    "values",
                    V::List {
                        item: "value",
                        items: a
                            .values
                            .iter()
                            .map(|(k, n)| V::Obj(vec![("key", V::str(*k)), ("name", V::str(*n))]))
                            .collect(),
                    },
                ));
            }
            V::Obj(fields)
        })
        .collect();
    V::Obj(vec![
        ("service_code", V::str(code)),
        (
            "attributes",
            V::List {
                item: "attribute",
                items: attrs,
            },
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// `discovery`, `services` and `requests` (GET).
async fn get_top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (stem, format) = match split_format(&file) {
        Ok(x) => x,
        Err(e) => return Open311Error::bad_request(e).render(Format::Xml),
    };
    let query = pairs(query.unwrap_or_default().as_bytes());
    match stem {
        "discovery" => render(
            format,
            "discovery",
            &discovery(&state, &headers),
            StatusCode::OK,
        ),
        "services" => {
            let items = services(&state).iter().map(service_value).collect();
            render(
                format,
                "services",
                &V::List {
                    item: "service",
                    items,
                },
                StatusCode::OK,
            )
        }
        "requests" => match list_requests(&state, &query).await {
            Ok(v) => render(format, "service_requests", &v, StatusCode::OK),
            Err(e) => e.render(format),
        },
        other => Open311Error::not_found(format!(
            "no resource '{other}': see discovery.xml for this endpoint's resources"
        ))
        .render(format),
    }
}

/// `requests` (POST).
async fn post_top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (stem, format) = match split_format(&file) {
        Ok(x) => x,
        Err(e) => return Open311Error::bad_request(e).render(Format::Xml),
    };
    if stem != "requests" {
        return Open311Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("'{stem}' is read with GET; only requests are posted"),
        )
        .render(format);
    }
    match create_request(&state, &headers, query.as_deref(), &body).await {
        Ok(v) => render(format, "service_requests", &v, StatusCode::OK),
        Err(e) => e.render(format),
    }
}

async fn get_service_definition(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Response {
    let (code, format) = match split_format(&file) {
        Ok(x) => x,
        Err(e) => return Open311Error::bad_request(e).render(Format::Xml),
    };
    match service(&state, code) {
        None => Open311Error::not_found(format!(
            "service_code '{code}' is not a service of this endpoint: see services.{}",
            ext(format)
        ))
        .render(format),
        Some(c) => render(
            format,
            "service_definition",
            &definition_value(&c.code, &attributes(&state, &c.code)),
            StatusCode::OK,
        ),
    }
}

async fn get_one_request(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let (id, format) = match split_format(&file) {
        Ok(x) => x,
        Err(e) => return Open311Error::bad_request(e).render(Format::Xml),
    };
    let missing =
        || Open311Error::not_found(format!("no service request has id '{id}'")).render(format);
    let Ok(id) = id.parse::<Uuid>() else {
        return missing();
    };
    let row = match state.store.case(id).await {
        Ok(Some(row)) if is_public(&row) => row,
        Ok(_) => return missing(),
        Err(e) => return Open311Error::from(e).render(format),
    };
    match request_values(&state, vec![row]).await {
        Ok(v) => render(format, "service_requests", &v, StatusCode::OK),
        Err(e) => e.render(format),
    }
}

async fn get_token(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let (token, format) = match split_format(&file) {
        Ok(x) => x,
        Err(e) => return Open311Error::bad_request(e).render(Format::Xml),
    };
    let missing = || Open311Error::not_found(format!("no request has token '{token}'"));
    // A token starts with the district of its case, which keys the lookup.
    let found = match token.split_once('-') {
        Some((district, _)) if district.bytes().all(|b| b.is_ascii_digit()) => {
            state.store.open311_by_token(district, token).await
        }
        _ => Ok(None),
    };
    match found {
        Ok(Some(row)) => render(
            format,
            "service_requests",
            &V::List {
                item: "request",
                items: vec![V::Obj(vec![
                    ("service_request_id", V::str(row.case_id.to_string())),
                    ("token", V::str(row.token)),
                ])],
            },
            StatusCode::OK,
        ),
        Ok(None) => missing().render(format),
        Err(e) => Open311Error::from(e).render(format),
    }
}

fn ext(format: Format) -> &'static str {
    match format {
        Format::Xml => "xml",
        Format::Json => "json",
    }
}

fn discovery(state: &AppState, headers: &HeaderMap) -> V {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        Some("http") => "http",
        _ if state.config.secure_cookies => "https",
        _ => "http",
    };
    V::Obj(vec![
        ("changeset", V::str(CHANGESET)),
        (
            "contact",
            V::str("城市运行管理服务指挥中心（数字城管）/ the city management command centre"),
        ),
        (
            "key_service",
            V::str(
                "API密钥由本系统管理员签发（控制台：系统管理 → Open311 API密钥）/ API keys are issued by this server's administrator",
            ),
        ),
        (
            "endpoints",
            V::List {
                item: "endpoint",
                items: vec![V::Obj(vec![
                    (
                        "specification",
                        V::str("http://wiki.open311.org/GeoReport_v2"),
                    ),
                    ("url", V::str(format!("{scheme}://{host}/open311/v2"))),
                    ("changeset", V::str(CHANGESET)),
                    ("type", V::str("production")),
                    (
                        "formats",
                        V::List {
                            item: "format",
                            items: vec![V::str("text/xml"), V::str("application/json")],
                        },
                    ),
                ])],
            },
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// Posting a request

/// The fields of a posted request, read from the form.
#[derive(Debug, Default)]
struct Posted {
    api_key: Option<String>,
    service_code: Option<String>,
    lat: Option<String>,
    long: Option<String>,
    address_string: Option<String>,
    address_id: Option<String>,
    description: Option<String>,
    media_url: Option<String>,
    account_id: Option<String>,
    /// email, device_id, first_name, last_name, phone: kept only sealed.
    contact: BTreeMap<&'static str, String>,
    /// code → (values, sent as a list)
    attributes: BTreeMap<String, (Vec<String>, bool)>,
}

const CONTACT_FIELDS: [&str; 5] = ["email", "device_id", "first_name", "last_name", "phone"];

fn read_posted(form: &[(String, String)], query: &[(String, String)]) -> Posted {
    let get = |name: &str| first(form, name).map(str::to_owned);
    let mut p = Posted {
        // Some clients send the key in the query string; the form wins.
        api_key: get("api_key").or_else(|| first(query, "api_key").map(str::to_owned)),
        service_code: get("service_code"),
        lat: get("lat"),
        long: get("long"),
        address_string: get("address_string"),
        address_id: get("address_id"),
        description: get("description"),
        media_url: get("media_url"),
        account_id: get("account_id"),
        ..Posted::default()
    };
    for name in CONTACT_FIELDS {
        if let Some(v) = get(name) {
            p.contact.insert(name, v);
        }
    }
    for (k, v) in form {
        if let Some((code, list)) = attribute_key(k) {
            let entry = p
                .attributes
                .entry(code.to_owned())
                .or_insert_with(|| (Vec::new(), list));
            entry.1 |= list;
            let v = v.trim();
            if !v.is_empty() {
                entry.0.push(v.to_owned());
            }
        }
    }
    p
}

/// The key of a request: present, known and not revoked.
async fn authorise(state: &AppState, key: Option<&str>) -> Result<ApiKeyRow, Open311Error> {
    let key = key.ok_or_else(|| {
        Open311Error::forbidden(
            "api_key is required to post a request: ask the administrator of this server for a key",
        )
    })?;
    let row = state
        .store
        .api_key_by_hash(&crate::auth::token_hash(key))
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or_else(|| Open311Error::forbidden("api_key is not valid (unknown or revoked)"))?;
    Ok(row)
}

/// What the answered attributes change: the urgent flag, the component, words for the description.
#[derive(Debug, Default, PartialEq)]
struct Answers {
    urgent: bool,
    component_code: Option<String>,
    extra: Vec<String>,
    json: serde_json::Map<String, serde_json::Value>,
}

fn check_attributes(
    service_code: &str,
    attrs: &[&'static Attribute],
    given: &BTreeMap<String, (Vec<String>, bool)>,
) -> Result<Answers, Open311Error> {
    if let Some(code) = given
        .keys()
        .find(|code| !attrs.iter().any(|a| a.code == code.as_str()))
    {
        return Err(Open311Error::bad_request(format!(
            "attribute[{code}] is not an attribute of service {service_code}: see services/{service_code}.xml"
        )));
    }
    let mut out = Answers::default();
    for a in attrs {
        let values = given.get(a.code).map(|(v, _)| v.as_slice()).unwrap_or(&[]);
        if values.is_empty() {
            if a.required {
                return Err(Open311Error::bad_request(format!(
                    "attribute[{}] is required: {}",
                    a.code, a.description
                )));
            }
            continue;
        }
        let key_of = |v: &str| -> Result<(), Open311Error> {
            if a.values.iter().any(|(k, _)| *k == v) {
                Ok(())
            } else {
                let keys: Vec<&str> = a.values.iter().map(|(k, _)| *k).collect();
                Err(Open311Error::bad_request(format!(
                    "attribute[{}]: '{v}' is not one of {}",
                    a.code,
                    keys.join(", ")
                )))
            }
        };
        match a.datatype {
            Datatype::SingleValueList | Datatype::String if values.len() > 1 => {
                return Err(Open311Error::bad_request(format!(
                    "attribute[{}] takes one value, not {}",
                    a.code,
                    values.len()
                )));
            }
            Datatype::String => {
                if values[0].chars().count() > MAX_ATTRIBUTE_CHARS {
                    return Err(Open311Error::bad_request(format!(
                        "attribute[{}] is at most {MAX_ATTRIBUTE_CHARS} characters",
                        a.code
                    )));
                }
                out.json
                    .insert(a.code.into(), serde_json::Value::from(values[0].clone()));
            }
            Datatype::SingleValueList => {
                key_of(&values[0])?;
                out.json
                    .insert(a.code.into(), serde_json::Value::from(values[0].clone()));
            }
            Datatype::MultiValueList => {
                for v in values {
                    key_of(v)?;
                }
                out.json
                    .insert(a.code.into(), serde_json::Value::from(values.to_vec()));
            }
        }
        match a.code {
            "urgent" => out.urgent = values[0] == "yes",
            "component_code" => out.component_code = Some(values[0].clone()),
            "landmark" => out.extra.push(format!("附近：{}", values[0])),
            "hazards" => {
                let names: Vec<&str> = values
                    .iter()
                    .filter_map(|v| a.values.iter().find(|(k, _)| k == v))
                    .map(|(_, n)| n.split(" / ").next().unwrap_or(n))
                    .collect();
                out.extra.push(format!("影响：{}", names.join("、")));
            }
            _ => {}
        }
    }
    Ok(out)
}

fn parse_coordinate(field: &str, text: &str) -> Result<f64, Open311Error> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            Open311Error::bad_request(format!(
                "{field}: '{text}' is not a number (WGS-84 decimal degrees)"
            ))
        })
}

/// Where the request is: lat/long, else the house of address_id, else the house
/// address_string matches. Answers (lon, lat, address, house code).
async fn locate(
    state: &AppState,
    key: &ApiKeyRow,
    p: &Posted,
) -> Result<(f64, f64, Option<String>, Option<String>), Open311Error> {
    match (&p.lat, &p.long) {
        (Some(lat), Some(long)) => {
            let lat = parse_coordinate("lat", lat)?;
            let lon = parse_coordinate("long", long)?;
            return Ok((lon, lat, p.address_string.clone(), None));
        }
        (Some(_), None) => {
            return Err(Open311Error::bad_request(
                "long is missing: lat and long come together",
            ));
        }
        (None, Some(_)) => {
            return Err(Open311Error::bad_request(
                "lat is missing: lat and long come together",
            ));
        }
        (None, None) => {}
    }
    let actor = actor_of(state, key);
    let place = crate::registry::Place::of(&actor, None)
        .map_err(|e| Open311Error::bad_request(e.message))?;
    if let Some(id) = &p.address_id {
        for district in crate::registry::candidate_districts(state, &place, None) {
            use wangge_store::Registry;
            if let Some(h) = state.store.house(&district, id).await? {
                if !actor
                    .region
                    .as_deref()
                    .is_some_and(|r| h.grid_code.starts_with(r))
                {
                    continue;
                }
                return match (h.lon, h.lat) {
                    (Some(lon), Some(lat)) => Ok((
                        lon,
                        lat,
                        p.address_string.clone().or(Some(h.address)),
                        Some(h.house_code),
                    )),
                    _ => Err(Open311Error::bad_request(format!(
                        "address_id {id}: the house has no recorded position; send lat and long"
                    ))),
                };
            }
        }
        return Err(Open311Error::bad_request(format!(
            "address_id '{id}' is not a house code of this jurisdiction"
        )));
    }
    let Some(text) = &p.address_string else {
        return Err(Open311Error::bad_request(
            "a location is required: send lat and long, address_string or address_id",
        ));
    };
    if text.chars().count() > 500 {
        return Err(Open311Error::bad_request(
            "address_string is at most 500 characters",
        ));
    }
    let scopes = crate::campaign::scopes(state, &place);
    let matches = crate::campaign::match_texts(
        state,
        &scopes,
        vec![text.clone()],
        wangge_address::DEFAULT_THRESHOLD,
    )
    .await
    .map_err(|e| Open311Error::internal(e.message))?;
    let unlocated = || {
        Open311Error::bad_request(format!(
            "address_string '{text}' could not be located: no single registered house matches it; send lat and long"
        ))
    };
    let house = matches
        .into_iter()
        .next()
        .and_then(|m| m.house_code.zip(m.grid_code))
        .ok_or_else(unlocated)?;
    use wangge_store::Registry;
    let district = house.1.get(..6).unwrap_or_default();
    let h = state
        .store
        .house(district, &house.0)
        .await?
        .ok_or_else(unlocated)?;
    match (h.lon, h.lat) {
        (Some(lon), Some(lat)) => Ok((lon, lat, Some(text.clone()), Some(h.house_code))),
        _ => Err(Open311Error::bad_request(format!(
            "address_string '{text}' matched house {} but it has no recorded position; send lat and long",
            h.house_code
        ))),
    }
}

/// The actor an Open311 client reports as: an intake role bound to the key's jurisdiction.
fn actor_of(state: &AppState, key: &ApiKeyRow) -> Actor {
    Actor {
        id: format!("open311:{}", key.name),
        role: Role::Receiver,
        region: Some(jurisdiction_prefix(state, &key.region_code)),
        unit: None,
    }
}

/// The grid-code prefix of a region: its code, but for a city the part its districts share
/// (440300 → 4403), as a district's code starts with its city's significant digits only.
fn jurisdiction_prefix(state: &AppState, region: &str) -> String {
    let is_city = state
        .atlas()
        .region(region)
        .is_some_and(|r| r.level == wangge_domain::region::Level::City);
    let mut end = region.len();
    while is_city && end > 2 && region[..end].ends_with("00") {
        end -= 2;
    }
    region[..end].to_owned()
}

fn new_token(district: &str) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{district}-{hex}")
}

async fn create_request(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<V, Open311Error> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(Open311Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the request must be form-encoded (application/x-www-form-urlencoded), not {content_type}"
            ),
        ));
    }
    let form = pairs(body);
    let query = pairs(query.unwrap_or_default().as_bytes());
    let p = read_posted(&form, &query);
    let key = authorise(state, p.api_key.as_deref()).await?;
    let code = p
        .service_code
        .clone()
        .ok_or_else(|| Open311Error::bad_request("service_code is required"))?;
    let category = service(state, &code).ok_or_else(|| {
        Open311Error::bad_request(format!(
            "service_code '{code}' is not a service of this endpoint: see services.xml"
        ))
    })?;
    let answers = check_attributes(&code, &attributes(state, &code), &p.attributes)?;
    if let Some(url) = &p.media_url
        && (url.chars().count() > MAX_MEDIA_URL_CHARS
            || !(url.starts_with("http://") || url.starts_with("https://")))
    {
        return Err(Open311Error::bad_request(
            "media_url must be an http(s) URL of at most 1000 characters",
        ));
    }
    if let Some((name, _)) = p
        .contact
        .iter()
        .find(|(_, v)| v.chars().count() > MAX_CONTACT_CHARS)
    {
        return Err(Open311Error::bad_request(format!(
            "{name} is at most {MAX_CONTACT_CHARS} characters"
        )));
    }
    let (lon, lat, address, address_id) = locate(state, &key, &p).await?;
    // The spec makes the description optional; a case needs one, so the service names it.
    let mut description = p
        .description
        .clone()
        .unwrap_or_else(|| category.name.clone());
    for extra in &answers.extra {
        description.push_str(&format!("（{extra}）"));
    }
    let district_guess = state
        .atlas()
        .locate(lon, lat)
        .and_then(|l| {
            l.at(wangge_domain::region::Level::District)
                .map(|r| r.code.clone())
        })
        .unwrap_or_else(|| key.region_code.get(..6).unwrap_or_default().to_owned());
    let token = new_token(&district_guess);
    let input = ReportInput {
        category: code.clone(),
        description,
        lon: Some(lon),
        lat: Some(lat),
        source: Source::Open311.as_str().into(),
        external_id: Some(token.clone()),
        address,
        component_code: answers.component_code.clone(),
    };
    let actor = actor_of(state, &key);
    let case = report_case(state, input, None, answers.urgent, &actor)
        .await
        .map_err(intake_error)?;
    let requester = match (&state.config.vault, p.contact.is_empty()) {
        (Some(vault), false) => {
            let json = serde_json::to_string(&p.contact).unwrap_or_default();
            Some(vault.seal("open311_requester", &case.id.to_string(), &json))
        }
        // Without a data key contact details are not kept at all.
        _ => None,
    };
    let row = Open311RequestRow {
        district_code: case.district_code.clone(),
        case_id: case.id,
        token: token.clone(),
        api_key_id: key.id,
        address_id,
        media_url: p.media_url.clone(),
        attributes: serde_json::Value::Object(answers.json).to_string(),
        requester,
        created_at: case.reported_at,
    };
    // The case exists already: a client told "failed" would post it again, so a failure to
    // keep the extras is logged rather than answered.
    if let Err(e) = state.store.insert_open311_request(&row).await {
        tracing::error!(error = %e, case = %case.id, "open311: keeping the request's extras failed");
    }
    if let Err(e) = state
        .store
        .touch_api_key(key.id, state.config.clock.now())
        .await
    {
        tracing::warn!(error = %e, "open311: noting the key's last use failed");
    }
    Ok(V::List {
        item: "request",
        items: vec![V::Obj(vec![
            ("service_request_id", V::str(case.id.to_string())),
            ("token", V::str(token)),
            ("service_notice", V::str(SERVICE_NOTICE)),
            ("account_id", V::opt(p.account_id)),
        ])],
    })
}

const SERVICE_NOTICE: &str =
    "已受理，网格员将到现场核实 / Received: a grid worker will confirm it on the spot";

fn intake_error(e: IntakeError) -> Open311Error {
    match e {
        IntakeError::Invalid(CaseError::Invalid { field, message }) => {
            let field = match field {
                "lon" => "long",
                f => f,
            };
            Open311Error::bad_request(format!("{field}: {message}"))
        }
        IntakeError::OutsideYourArea { lon, lat, region } => Open311Error::bad_request(format!(
            "the point (lat {lat}, long {lon}) is outside this api_key's jurisdiction ({region})"
        )),
        IntakeError::OutsideJurisdiction { lon, lat } => Open311Error::bad_request(format!(
            "the point (lat {lat}, long {lon}) lies outside every grid of this city"
        )),
        IntakeError::Store(e) => Open311Error::internal(e),
        IntakeError::MayNotReport(_) => Open311Error::internal(e),
        other => Open311Error::bad_request(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading requests

const CLOSED_STATES: [CaseState; 3] = [CaseState::Closed, CaseState::Invalid, CaseState::Merged];

fn is_closed(state: &str) -> bool {
    CLOSED_STATES.iter().any(|s| s.as_str() == state)
}

async fn list_requests(state: &AppState, q: &[(String, String)]) -> Result<V, Open311Error> {
    let limit = match first(q, "limit") {
        None => MAX_RESULTS,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_RESULTS).contains(n))
            .ok_or_else(|| {
                Open311Error::bad_request(format!(
                    "limit: '{t}' must be a whole number from 1 to {MAX_RESULTS}"
                ))
            })?,
    };
    // A list of ids overrides every other parameter (the spec's rule).
    if let Some(ids) = first(q, "service_request_id") {
        let ids: Vec<&str> = ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if ids.len() > MAX_RESULTS {
            return Err(Open311Error::bad_request(format!(
                "service_request_id: at most {MAX_RESULTS} ids at once"
            )));
        }
        let mut rows = Vec::new();
        for id in ids {
            // An id that is not ours is simply not in the answer.
            if let Ok(id) = id.parse::<Uuid>()
                && let Some(row) = state.store.case(id).await?
                && is_public(&row)
            {
                rows.push(row);
            }
        }
        return request_values(state, rows).await;
    }
    let codes: Vec<String> = first(q, "service_code")
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let now = state.config.clock.now();
    let end = first(q, "end_date")
        .map(|t| parse_w3c("end_date", t))
        .transpose()?;
    let start = first(q, "start_date")
        .map(|t| parse_w3c("start_date", t))
        .transpose()?;
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, (s + Duration::days(WINDOW_DAYS)).min(now)),
        (None, Some(e)) => (e - Duration::days(WINDOW_DAYS), e),
        (None, None) => (now - Duration::days(WINDOW_DAYS), now),
    };
    if end < start {
        return Err(Open311Error::bad_request("end_date is before start_date"));
    }
    if end - start > Duration::days(WINDOW_DAYS) {
        return Err(Open311Error::bad_request(format!(
            "start_date to end_date spans more than {WINDOW_DAYS} days: ask for a shorter window"
        )));
    }
    let mut states: Vec<String> = Vec::new();
    if let Some(status) = first(q, "status") {
        let (mut open, mut closed) = (false, false);
        for s in status.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match s.to_ascii_lowercase().as_str() {
                "open" => open = true,
                "closed" => closed = true,
                other => {
                    return Err(Open311Error::bad_request(format!(
                        "status: '{other}' must be open or closed"
                    )));
                }
            }
        }
        if open != closed {
            states = CaseState::ALL
                .iter()
                .filter(|s| CLOSED_STATES.contains(s) == closed)
                .map(|s| s.as_str().to_owned())
                .collect();
        }
    }
    let filter = |category: Option<String>| CaseFilter {
        source: Some(Source::Open311.as_str().to_owned()),
        states: states.clone(),
        category,
        reported_from: Some(start),
        reported_to: Some(end),
        order: CaseOrder::NewestFirst,
        limit: limit as i64,
        offset: 0,
        ..CaseFilter::default()
    };
    let mut rows: Vec<CaseRow> = Vec::new();
    if codes.is_empty() {
        rows = state.store.list_cases(&filter(None)).await?.0;
    } else {
        for code in codes {
            rows.extend(state.store.list_cases(&filter(Some(code))).await?.0);
        }
        rows.sort_by(|a, b| b.reported_at.cmp(&a.reported_at).then(b.id.cmp(&a.id)));
        rows.truncate(limit);
    }
    request_values(state, rows).await
}

/// Whether a case may be read without a key: only those reported through Open311 are public.
/// A hotline ticket's or a patrol's description was never published by its author and may
/// name people, so those cases stay inside the console and the authenticated API.
fn is_public(row: &CaseRow) -> bool {
    row.source == Source::Open311.as_str()
}

/// Cases as GeoReport requests: public fields only.
async fn request_values(state: &AppState, rows: Vec<CaseRow>) -> Result<V, Open311Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let extras: HashMap<Uuid, Open311RequestRow> = state
        .store
        .open311_requests(&ids)
        .await?
        .into_iter()
        .map(|r| (r.case_id, r))
        .collect();
    let reference = state.reference();
    let atlas = state.atlas();
    let items = rows
        .iter()
        .map(|c| {
            let extra = extras.get(&c.id);
            let unit = c
                .unit_code
                .as_deref()
                .map(|u| reference.unit(u).map_or(u.to_owned(), |u| u.name.clone()));
            let agency = unit.clone().unwrap_or_else(|| {
                let district = atlas
                    .region(&c.district_code)
                    .map_or(c.district_code.clone(), |r| r.name.clone());
                format!("{district}城市管理指挥中心")
            });
            let closed = is_closed(&c.state);
            let service_name = reference
                .category(&c.category_kind, &c.category_code)
                .map(|k| k.name.clone());
            V::Obj(vec![
                ("service_request_id", V::str(c.id.to_string())),
                ("status", V::str(if closed { "closed" } else { "open" })),
                ("status_notes", V::str(status_notes(c, unit.as_deref()))),
                ("service_name", V::opt(service_name)),
                ("service_code", V::str(c.category_code.clone())),
                ("description", V::str(c.description.clone())),
                ("agency_responsible", V::str(agency)),
                ("service_notice", V::Null),
                ("requested_datetime", V::str(w3c(c.reported_at))),
                ("updated_datetime", V::str(w3c(c.updated_at))),
                (
                    "expected_datetime",
                    if closed {
                        V::Null
                    } else {
                        V::opt(c.due_at.map(w3c))
                    },
                ),
                ("address", V::opt(c.address.clone())),
                (
                    "address_id",
                    V::opt(extra.and_then(|e| e.address_id.clone())),
                ),
                ("zipcode", V::Null),
                ("lat", V::Num(c.lat)),
                ("long", V::Num(c.lon)),
                ("media_url", V::opt(extra.and_then(|e| e.media_url.clone()))),
            ])
        })
        .collect();
    Ok(V::List {
        item: "request",
        items,
    })
}

/// The case's state in words, Chinese first, with the loop's own name of the state.
fn status_notes(c: &CaseRow, unit: Option<&str>) -> String {
    let unit = unit.unwrap_or("处置单位");
    let words = match c.state.parse::<CaseState>() {
        Ok(CaseState::Reported) => "已受理，待现场核实".to_owned(),
        Ok(CaseState::Registered) => "已立案，待派遣".to_owned(),
        Ok(CaseState::Invalid) => "不予立案".to_owned(),
        Ok(CaseState::Dispatched) => format!("已派遣至{unit}"),
        Ok(CaseState::Returned) => "处置单位退回，重新派遣中".to_owned(),
        Ok(CaseState::InProgress) => format!("{unit}处置中"),
        Ok(CaseState::Handled) => "已处置，待核查".to_owned(),
        Ok(CaseState::Verified) => "已核查，待结案".to_owned(),
        Ok(CaseState::Closed) => "已结案".to_owned(),
        Ok(CaseState::Merged) => "与其他案件合并处理".to_owned(),
        Err(_) => "处理中".to_owned(),
    };
    format!("{words} ({})", c.state)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn attribute_keys() {
        assert_eq!(attribute_key("attribute[urgent]"), Some(("urgent", false)));
        assert_eq!(
            attribute_key("attribute[hazards][]"),
            Some(("hazards", true))
        );
        assert_eq!(attribute_key("attribute[]"), None);
        assert_eq!(attribute_key("attribute[a][b]"), None);
        assert_eq!(attribute_key("attributes[a]"), None);
        assert_eq!(attribute_key("attribute[a"), None);
    }

    #[test]
    fn repeated_list_attributes_are_collected() {
        let form = pairs(b"attribute%5Bhazards%5D%5B%5D=traffic&attribute[hazards][]=night&attribute[urgent]=yes&api_key=k");
        let p = read_posted(&form, &[]);
        assert_eq!(p.api_key.as_deref(), Some("k"));
        assert_eq!(
            p.attributes.get("hazards"),
            Some(&(vec!["traffic".to_owned(), "night".to_owned()], true))
        );
        let a = check_attributes("0101", &[&URGENT, &LANDMARK, &HAZARDS], &p.attributes).unwrap();
        assert!(a.urgent);
        assert_eq!(a.extra, vec!["影响：影响通行、夜间存在".to_owned()]);
    }

    #[test]
    fn attribute_checks_name_the_attribute() {
        let given = |pairs: &[(&str, &[&str])]| {
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        (v.iter().map(|s| (*s).to_owned()).collect(), false),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        let attrs = [&URGENT, &LANDMARK, &HAZARDS];
        let e = check_attributes("0101", &attrs, &given(&[])).unwrap_err();
        assert!(
            e.description.contains("attribute[urgent] is required"),
            "{}",
            e.description
        );
        let e = check_attributes("0101", &attrs, &given(&[("urgent", &["maybe"])])).unwrap_err();
        assert!(e.description.contains("'maybe' is not one of yes, no"));
        let e = check_attributes(
            "0101",
            &attrs,
            &given(&[("urgent", &["no"]), ("x", &["1"])]),
        )
        .unwrap_err();
        assert!(e.description.contains("attribute[x]"));
        let e =
            check_attributes("0101", &attrs, &given(&[("urgent", &["no", "yes"])])).unwrap_err();
        assert!(e.description.contains("one value"));
    }

    #[test]
    fn dates_are_w3c_or_plain_days() {
        let t = parse_w3c("start_date", "2026-11-20T08:00:00+08:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-20T00:00:00+00:00");
        let d = parse_w3c("start_date", "2026-11-20").unwrap();
        assert_eq!(d, t - Duration::hours(8));
        assert!(
            parse_w3c("end_date", "yesterday")
                .unwrap_err()
                .description
                .starts_with("end_date")
        );
        assert_eq!(w3c(t), "2026-11-20T08:00:00+08:00");
    }

    proptest::proptest! {
        #[test]
        fn reading_any_form_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let form = pairs(&body);
            let p = read_posted(&form, &[]);
            let _ = check_attributes("0101", &[&URGENT, &LANDMARK, &HAZARDS, &COMPONENT], &p.attributes);
        }

        #[test]
        fn any_attribute_key_parses_or_not(key in ".{0,40}") {
            if let Some((code, _)) = attribute_key(&key) {
                proptest::prop_assert!(!code.is_empty() && !code.contains('['));
            }
        }
    }
}
