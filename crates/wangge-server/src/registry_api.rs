//! `/api/v1/houses`, `/people`, `/organisations`, `/components`, `/changes`, `/access-log`:
//! the registered base data over HTTP. The rules live in `registry.rs`; this file is the wire.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wangge_domain::identity::{IdentityNumber, MobileNumber};
use wangge_domain::registry::{ChangeOp, Fields, RecordKind, Version, as_of};
use wangge_domain::role::Role;
use wangge_store::registry::{
    AccessFilter, ChangeFilter, ComponentRow, HouseRow, OrganisationRow, PeopleFilter, PersonRow,
    RecordFilter, Registry, RegistryWrite, ResidenceRow,
};

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::registry::{
    self as reg, Outcome, Place, Reader, blind_identity, blind_phone, candidate_districts,
    fields_of, load_person, not_found, require_registry_reader, vault,
};
use crate::state::AppState;

const MAX_PAGE: i64 = 500;
/// An export is a list of at most this many rows (a street's people fit; a city's do not).
const MAX_EXPORT: i64 = 100_000;

/// The client's address as the access log records it: the connection's peer and, when a
/// proxy in front says whom it forwards for (X-Forwarded-For, which a client can also write, so
/// it is recorded beside the peer, never instead of it), that too.
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().chars().take(64).collect::<String>())
            .filter(|v| !v.is_empty());
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientAddr(match (peer, forwarded) {
            (Some(p), Some(f)) => Some(format!("{f} via {p}")),
            (p, f) => p.or(f),
        }))
    }
}

/// A record's fields as a JSON object: strings, numbers and booleans as text, a list (tags) as
/// comma-separated text, null to clear a field.
fn fields_from_json(v: Value) -> ApiResult<Fields> {
    let Value::Object(map) = v else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "the body must be a JSON object of fields",
        ));
    };
    let mut f = Fields::new();
    for (k, v) in map {
        if k == "attributes" && v.is_object() {
            f.set(k, v.to_string());
            continue;
        }
        let text = match v {
            Value::Null => String::new(),
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Value::Object(o) => {
                return Err(ApiError::invalid_field(
                    &k,
                    format!(
                        "{k} must be text or a number, not an object ({} keys)",
                        o.len()
                    ),
                ));
            }
        };
        f.set(k, text);
    }
    Ok(f)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Narrow to a region (within your jurisdiction).
    pub region: Option<String>,
    /// Houses: address contains; organisations, components: name contains.
    pub q: Option<String>,
    /// Houses: use; organisations: org_kind; components: status.
    pub class: Option<String>,
    /// Components: subcategory code.
    pub category: Option<String>,
    /// Components: responsible unit.
    pub unit: Option<String>,
    pub house_code: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    /// Also count every match.
    pub count: Option<bool>,
    /// json (default), csv or xlsx (masked; the export is logged).
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Offset of the next page, if there may be one.
    pub next_offset: Option<i64>,
    pub total: Option<i64>,
}

fn page_of<T>(items: Vec<T>, offset: i64, limit: i64, total: Option<i64>) -> ListPage<T> {
    let next_offset = (items.len() as i64 == limit).then_some(offset + limit);
    ListPage {
        items,
        next_offset,
        total,
    }
}

fn paging(offset: Option<i64>, limit: Option<i64>, format: Option<&str>) -> ApiResult<(i64, i64)> {
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid_field(
            "offset",
            "offset must be 0 or more",
        ));
    }
    let exporting = matches!(format, Some("csv" | "xlsx"));
    let max = if exporting { MAX_EXPORT } else { MAX_PAGE };
    let limit = limit.unwrap_or(if exporting { MAX_EXPORT } else { 50 });
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be 1 to {max}"),
        ));
    }
    Ok((offset, limit))
}

fn check_format(format: Option<&str>) -> ApiResult<()> {
    match format {
        None | Some("json" | "csv" | "xlsx") => Ok(()),
        Some(f) => Err(ApiError::invalid_field(
            "format",
            format!("format must be json, csv or xlsx, not '{f}'"),
        )),
    }
}

fn record_filter(place: &Place, q: &ListQuery, offset: i64, limit: i64) -> RecordFilter {
    RecordFilter {
        district: place.district.clone(),
        region_prefix: place.prefix.clone(),
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        class: q.class.clone().filter(|s| !s.is_empty()),
        category: q.category.clone().filter(|s| !s.is_empty()),
        unit: q.unit.clone().filter(|s| !s.is_empty()),
        house_code: q.house_code.clone().map(|h| h.trim().to_ascii_uppercase()),
        offset,
        limit,
        count: q.count.unwrap_or(false),
    }
}

/// A list answered as an export: CSV with a BOM or a workbook, always masked, and logged.
async fn export<T: Serialize>(
    state: &AppState,
    reader: &Reader,
    headers: &HeaderMap,
    kind: RecordKind,
    place: &Place,
    format: &str,
    rows: &[T],
) -> ApiResult<Response> {
    let what = kind.plural();
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(ApiError::internal)?;
    }
    let csv_bytes = w.into_inner().map_err(ApiError::internal)?;
    let district = place.district.clone().unwrap_or_default();
    state
        .store
        .registry_write(&RegistryWrite {
            access: vec![reader.log(
                &district,
                "export",
                kind,
                Some(format!("{what}: {} rows", rows.len())),
                None,
            )],
            ..Default::default()
        })
        .await?;
    let file = format!("wangge-{what}-{}", Utc::now().format("%Y%m%d"));
    crate::console::report::download(
        format,
        &file,
        what,
        csv_bytes,
        crate::console::Lang::from_headers(headers),
    )
}

fn answer<T: Serialize>(items: Vec<T>, offset: i64, limit: i64, total: Option<i64>) -> Response {
    Json(page_of(items, offset, limit, total)).into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    /// applied | proposed
    pub status: &'static str,
    pub key: Option<String>,
    pub version: Option<i64>,
    /// The proposal waiting for review, when your role proposes rather than writes.
    pub change: Option<Uuid>,
}

fn written(outcome: Outcome, created: bool) -> Response {
    match outcome {
        Outcome::Applied { key, version } => (
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            Json(Written {
                status: "applied",
                key: Some(key),
                version: Some(version),
                change: None,
            }),
        )
            .into_response(),
        Outcome::Proposed { change } => (
            StatusCode::ACCEPTED,
            Json(Written {
                status: "proposed",
                key: None,
                version: None,
                change: Some(change),
            }),
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Houses

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseView {
    pub house_code: String,
    pub grid_code: String,
    pub address: String,
    #[serde(rename = "use")]
    pub use_kind: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    #[schema(value_type = Object)]
    pub fields: Value,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn house_view(r: HouseRow) -> HouseView {
    HouseView {
        fields: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        house_code: r.house_code,
        grid_code: r.grid_code,
        address: r.address,
        use_kind: r.use_kind,
        lon: r.lon,
        lat: r.lat,
        version: r.version,
        updated_at: r.updated_at,
    }
}

#[derive(Debug, Serialize)]
struct HouseCsv {
    house_code: String,
    grid_code: String,
    address: String,
    #[serde(rename = "use")]
    use_kind: String,
    lon: Option<f64>,
    lat: Option<f64>,
}

/// Houses (实有房屋) in your jurisdiction.
#[utoipa::path(get, path = "/api/v1/houses", params(ListQuery), responses((status = 200, body = ListPage<HouseView>)), security(("bearer" = [])))]
pub async fn list_houses(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    require_registry_reader(&user.actor, RecordKind::House)?;
    check_format(q.format.as_deref())?;
    let place = Place::of(&user.actor, q.region.as_deref())?;
    let (offset, limit) = paging(q.offset, q.limit, q.format.as_deref())?;
    let (rows, total) = state
        .store
        .houses(&record_filter(&place, &q, offset, limit))
        .await?;
    match q.format.as_deref() {
        Some(f @ ("csv" | "xlsx")) => {
            let rows: Vec<HouseCsv> = rows
                .into_iter()
                .map(|r| HouseCsv {
                    house_code: r.house_code,
                    grid_code: r.grid_code,
                    address: r.address,
                    use_kind: r.use_kind,
                    lon: r.lon,
                    lat: r.lat,
                })
                .collect();
            let reader = Reader::of(&user, client);
            export(
                &state,
                &reader,
                &headers,
                RecordKind::House,
                &place,
                f,
                &rows,
            )
            .await
        }
        _ => Ok(answer(
            rows.into_iter().map(house_view).collect(),
            offset,
            limit,
            total,
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// A past day (YYYY-MM-DD): the record and its residents as they were at the end of it.
    pub as_of: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HouseDetail {
    #[serde(flatten)]
    pub house: HouseView,
    /// Who lived there on the day asked (today by default), masked.
    pub residents: Vec<PersonView>,
    pub organisations: Vec<OrganisationView>,
}

/// One house with the people living in it, today or on a past day.
#[utoipa::path(get, path = "/api/v1/houses/{code}", params(AsOfQuery), responses((status = 200, body = HouseDetail), (status = 404)), security(("bearer" = [])))]
pub async fn get_house(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Query(q): Query<AsOfQuery>,
) -> ApiResult<Json<HouseDetail>> {
    require_registry_reader(&user.actor, RecordKind::House)?;
    let place = Place::of(&user.actor, None)?;
    let code = code.trim().to_ascii_uppercase();
    let day = match q.as_of.as_deref() {
        Some(t) => crate::local_day::parse_day("as_of", t)?,
        None => crate::local_day::day_of(&state.calendar(), Utc::now()),
    };
    let mut found = None;
    for d in candidate_districts(&state, &place, Some(&code)) {
        if let Some(h) = state.store.house(&d, &code).await? {
            found = Some(h);
            break;
        }
    }
    let house = match found {
        Some(h) if place.contains(&h.grid_code) => h,
        _ => return Err(not_found(RecordKind::House, &code)),
    };
    let mut view = house_view(house.clone());
    if q.as_of.is_some() {
        let end = crate::local_day::day_end(&state.calendar(), day);
        let versions = versions_of(&state, RecordKind::House, &house.district_code, &code).await?;
        // Before its first version the house stood all the same (it was registered later):
        // its residents that day are still answered, with the fields it was registered with.
        if let Some(v) = as_of(&versions, end) {
            view.fields = serde_json::to_value(&v.fields).unwrap_or(Value::Null);
            view.version = v.version;
        }
    }
    let stays = state
        .store
        .residences_of_house(&house.district_code, &code)
        .await?;
    let mut residents = Vec::new();
    for s in stays
        .iter()
        .filter(|s| s.kind == "actual" && s.moved_in <= day && s.moved_out.is_none_or(|o| day < o))
    {
        if let Some(p) = state
            .store
            .person(&house.district_code, s.person_id)
            .await?
        {
            let mut v = person_view(&p, None);
            v.relation = s.relation.clone();
            residents.push(v);
        }
    }
    let (orgs, _) = state
        .store
        .organisations(&RecordFilter {
            district: Some(house.district_code.clone()),
            house_code: Some(code.clone()),
            limit: 100,
            ..Default::default()
        })
        .await?;
    Ok(Json(HouseDetail {
        house: view,
        residents,
        organisations: orgs
            .into_iter()
            .map(|o| organisation_view(o, None))
            .collect(),
    }))
}

/// Registers a house (a grid worker's registration is a proposal, answered 202).
#[utoipa::path(post, path = "/api/v1/houses", request_body = Object, responses((status = 201, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn create_house(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create(state, user, client, RecordKind::House, body).await
}

/// Changes a house's fields (only those given).
#[utoipa::path(patch, path = "/api/v1/houses/{code}", request_body = Object, responses((status = 200, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn update_house(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    update(
        state,
        user,
        client,
        RecordKind::House,
        &code.to_ascii_uppercase(),
        body,
    )
    .await
}

async fn create(
    state: AppState,
    user: CurrentUser,
    client: Option<String>,
    kind: RecordKind,
    body: Value,
) -> ApiResult<Response> {
    let fields = fields_from_json(body)?;
    let reader = Reader::of(&user, client);
    let outcome = reg::submit(&state, &reader, kind, ChangeOp::Create, None, fields).await?;
    Ok(written(outcome, true))
}

async fn update(
    state: AppState,
    user: CurrentUser,
    client: Option<String>,
    kind: RecordKind,
    key: &str,
    body: Value,
) -> ApiResult<Response> {
    let fields = fields_from_json(body)?;
    let reader = Reader::of(&user, client);
    let outcome = reg::submit(&state, &reader, kind, ChangeOp::Update, Some(key), fields).await?;
    Ok(written(outcome, false))
}

// ---------------------------------------------------------------------------------------------
// Versions

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub op: String,
    pub change: Option<Uuid>,
    /// The fields after this version; null once anonymised.
    #[schema(value_type = Object)]
    pub fields: Option<Fields>,
    /// Field name → [before, after] for the fields this version changed.
    #[schema(value_type = Object)]
    pub changed: Value,
}

pub(crate) async fn versions_of(
    state: &AppState,
    kind: RecordKind,
    district: &str,
    key: &str,
) -> ApiResult<Vec<Version>> {
    state
        .store
        .versions(district, kind.as_str(), key)
        .await?
        .into_iter()
        .map(|v| {
            let fields = match &v.body {
                Some(b) => Some(fields_of(state, kind, key, b)?),
                None => None,
            };
            Ok(Version {
                version: v.version,
                at: v.at,
                actor: v.actor,
                op: v.op,
                fields,
            })
        })
        .collect()
}

pub(crate) fn version_views(
    versions: Vec<Version>,
    changes: &[(i64, Option<Uuid>)],
    at: Option<DateTime<Utc>>,
) -> Vec<VersionView> {
    let mut out = Vec::new();
    let mut before: Option<Fields> = None;
    for v in versions {
        let mut changed = serde_json::Map::new();
        if let Some(after) = &v.fields {
            let empty = Fields::new();
            let b = before.as_ref().unwrap_or(&empty);
            let mut names: Vec<&str> = after.names().chain(b.names()).collect();
            names.sort_unstable();
            names.dedup();
            for n in names {
                if b.get(n) != after.get(n) {
                    changed.insert(n.to_owned(), serde_json::json!([b.get(n), after.get(n)]));
                }
            }
        }
        before = v.fields.clone();
        if at.is_some_and(|t| v.at > t) {
            continue;
        }
        out.push(VersionView {
            change: changes
                .iter()
                .find(|(n, _)| *n == v.version)
                .and_then(|(_, c)| *c),
            version: v.version,
            at: v.at,
            actor: v.actor,
            op: v.op,
            fields: v.fields,
            changed: Value::Object(changed),
        });
    }
    out
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    /// Only the versions made up to the end of this day.
    pub as_of: Option<String>,
    /// Why you read a person's or organisation's history (required for them; logged).
    pub purpose: Option<String>,
}

/// Every version of a record: who changed what, when; `as_of` gives the record on a past day.
#[utoipa::path(get, path = "/api/v1/{kind}/{key}/versions", params(("kind" = String, Path, description = "houses, people, organisations or components"), VersionsQuery), responses((status = 200, body = Vec<VersionView>)), security(("bearer" = [])))]
pub async fn record_versions(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path((kind, key)): Path<(String, String)>,
    Query(q): Query<VersionsQuery>,
) -> ApiResult<Json<Vec<VersionView>>> {
    let Some(kind) = RecordKind::from_plural(&kind) else {
        return Err(ApiError::not_found(
            "not_found",
            format!("no records called '{kind}'"),
        ));
    };
    require_registry_reader(&user.actor, kind)?;
    let place = Place::of(&user.actor, None)?;
    let reader = Reader::of(&user, client);
    let key = if kind == RecordKind::Person {
        key
    } else {
        key.trim().to_ascii_uppercase()
    };
    let district = locate_record(&state, &place, kind, &key).await?;
    let at = match q.as_of.as_deref() {
        Some(t) => Some(crate::local_day::day_end(
            &state.calendar(),
            crate::local_day::parse_day("as_of", t)?,
        )),
        None => None,
    };
    if kind.personal() {
        // A history holds the full numbers: it is a full read.
        let purpose = full_read_purpose(&state, &user, q.purpose.as_deref())?;
        state
            .store
            .registry_write(&RegistryWrite {
                access: vec![reader.log(
                    &district,
                    "read_history",
                    kind,
                    Some(key.clone()),
                    Some(purpose),
                )],
                ..Default::default()
            })
            .await?;
    }
    let versions = versions_of(&state, kind, &district, &key).await?;
    let rows = state.store.versions(&district, kind.as_str(), &key).await?;
    let changes: Vec<(i64, Option<Uuid>)> = rows.iter().map(|r| (r.version, r.change_id)).collect();
    Ok(Json(version_views(versions, &changes, at)))
}

/// The district holding a record the reader may see, or 404.
async fn locate_record(
    state: &AppState,
    place: &Place,
    kind: RecordKind,
    key: &str,
) -> ApiResult<String> {
    for d in candidate_districts(state, place, Some(key)) {
        let grid = match kind {
            RecordKind::House => state.store.house(&d, key).await?.map(|r| r.grid_code),
            RecordKind::Organisation => state
                .store
                .organisation(&d, key)
                .await?
                .map(|r| r.grid_code),
            RecordKind::Component => state.store.component(&d, key).await?.map(|r| r.grid_code),
            RecordKind::Person => match Uuid::parse_str(key) {
                Ok(id) => state.store.person(&d, id).await?.map(|r| r.grid_code),
                Err(_) => None,
            },
        };
        if let Some(g) = grid {
            if place.contains(&g) {
                return Ok(d);
            }
            break;
        }
    }
    Err(not_found(kind, key))
}

/// The purpose of a full read, when the reader's role is granted full reads.
pub(crate) fn full_read_purpose<'a>(
    state: &AppState,
    user: &CurrentUser,
    purpose: Option<&'a str>,
) -> ApiResult<&'a str> {
    if !state.config.base_data.may_read_full(user.actor.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "full_read_not_granted",
            format!(
                "a {} reads personal data masked; full identity numbers and phones are granted to {}",
                user.actor.role.as_str(),
                state.config.base_data.full_read_roles.join(", ")
            ),
        ));
    }
    match purpose.map(str::trim) {
        Some(p) if p.chars().count() >= 2 && p.chars().count() <= 200 => Ok(p),
        _ => Err(ApiError::invalid_field(
            "purpose",
            "state why you need the full record (2–200 characters); it is written to the access log",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// People

#[derive(Debug, Serialize, ToSchema, Clone)]
pub struct PersonView {
    pub id: Uuid,
    pub name: String,
    /// Masked (1101**********002X) unless read in full.
    pub identity_number: String,
    pub gender: Option<String>,
    pub age: Option<u32>,
    /// Only in a full read.
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    pub tags: Vec<String>,
    pub household: Option<String>,
    pub registered_address: Option<String>,
    pub relation: Option<String>,
    pub grid_code: String,
    pub house_code: Option<String>,
    /// 流动人口: the household register is elsewhere.
    pub floating: bool,
    /// active | moved_out | anonymised
    pub status: String,
    pub left_on: Option<NaiveDate>,
    pub version: i64,
    /// Whether identity number and phone are shown in full.
    pub full: bool,
}

pub(crate) fn person_view(p: &PersonRow, full: Option<&Fields>) -> PersonView {
    let today = Utc::now().date_naive();
    let age = p.birth_date.map(|b| {
        use chrono::Datelike;
        let mut a = today.year() - b.year();
        if (today.month(), today.day()) < (b.month(), b.day()) {
            a -= 1;
        }
        a.max(0) as u32
    });
    let tags = p
        .tags
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    PersonView {
        id: p.id,
        name: p.name.clone(),
        identity_number: full
            .and_then(|f| f.get("identity_number"))
            .map_or_else(|| p.id_masked.clone(), str::to_owned),
        gender: p.gender.clone(),
        age,
        birth_date: full.and(p.birth_date),
        phone: match full {
            Some(f) => f.get("phone").map(str::to_owned),
            None => p.phone_masked.clone(),
        },
        tags,
        household: full.and_then(|f| f.get("household")).map(str::to_owned),
        registered_address: full
            .and_then(|f| f.get("registered_address"))
            .map(str::to_owned),
        relation: None,
        grid_code: p.grid_code.clone(),
        house_code: p.house_code.clone(),
        floating: p.floating,
        status: p.status.clone(),
        left_on: p.left_on,
        version: p.version,
        full: full.is_some(),
    }
}

#[derive(Debug, Serialize)]
struct PersonCsv {
    name: String,
    identity_number: String,
    gender: Option<String>,
    age: Option<u32>,
    phone: Option<String>,
    tags: String,
    grid_code: String,
    house_code: Option<String>,
    floating: bool,
    status: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    pub region: Option<String>,
    /// Name contains.
    pub name: Option<String>,
    /// A full identity number (exact, by blind index), the masked form (1101**********002X),
    /// its first digits (up to four) or its last four characters.
    pub identity_number: Option<String>,
    /// A full mobile number, or its last four digits.
    pub phone: Option<String>,
    pub tag: Option<String>,
    pub house_code: Option<String>,
    /// The address of their home contains.
    pub address: Option<String>,
    /// active | moved_out | anonymised
    pub status: Option<String>,
    pub floating: Option<bool>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    pub count: Option<bool>,
    pub format: Option<String>,
}

/// The identity-number part of a people search.
fn identity_filter(state: &AppState, f: &mut PeopleFilter, text: &str) -> ApiResult<()> {
    let t = text.trim().to_ascii_uppercase();
    let today = Utc::now().date_naive();
    if t.len() == 18 && !t.contains('*') {
        match IdentityNumber::parse(&t, today) {
            Ok(n) => f.id_index = Some(blind_identity(vault(state)?, n.as_str())),
            Err(e) => {
                return Err(ApiError::invalid_field(
                    "identity_number",
                    format!("identity_number: {e}"),
                ));
            }
        }
    } else if t.chars().count() == 18 && t.contains('*') {
        f.id_masked = Some(t);
    } else if (1..=4).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit() || b == b'X') {
        // Four characters are the end (尾号) when they end in X or are asked as such; a person
        // types the start of a number less often than its last four, so four digits mean the tail.
        if t.len() == 4 {
            f.id_tail = Some(t);
        } else {
            f.id_head = Some(t);
        }
    } else {
        return Err(ApiError::invalid_field(
            "identity_number",
            "give the full 18-character number, its masked form (1101**********002X), its first 1–3 digits or its last four",
        ));
    }
    Ok(())
}

/// People (实有人口) in your jurisdiction, masked, with search.
#[utoipa::path(get, path = "/api/v1/people", params(PeopleQuery), responses((status = 200, body = ListPage<PersonView>)), security(("bearer" = [])))]
pub async fn list_people(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<PeopleQuery>,
) -> ApiResult<Response> {
    require_registry_reader(&user.actor, RecordKind::Person)?;
    check_format(q.format.as_deref())?;
    let place = Place::of(&user.actor, q.region.as_deref())?;
    let (offset, limit) = paging(q.offset, q.limit, q.format.as_deref())?;
    let mut f = PeopleFilter {
        district: place.district.clone(),
        region_prefix: place.prefix.clone(),
        name: q
            .name
            .clone()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned()),
        tag: q.tag.clone().filter(|s| !s.is_empty()),
        house_code: q.house_code.clone().map(|h| h.trim().to_ascii_uppercase()),
        address: q.address.clone().filter(|s| !s.trim().is_empty()),
        status: q.status.clone().filter(|s| !s.is_empty()),
        floating: q.floating,
        offset,
        limit,
        count: q.count.unwrap_or(false),
        ..Default::default()
    };
    if let Some(t) = q
        .identity_number
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        identity_filter(&state, &mut f, t)?;
    }
    if let Some(p) = q.phone.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if p.len() == 4 && p.bytes().all(|b| b.is_ascii_digit()) {
            f.phone_tail = Some(p.to_owned());
        } else {
            let n = MobileNumber::parse(p).map_err(|e| {
                ApiError::invalid_field(
                    "phone",
                    format!("phone: {e}, or give its last four digits"),
                )
            })?;
            f.phone_index = Some(blind_phone(vault(&state)?, &n));
        }
    }
    let (rows, total) = state.store.people(&f).await?;
    match q.format.as_deref() {
        Some(fmt @ ("csv" | "xlsx")) => {
            let rows: Vec<PersonCsv> = rows
                .iter()
                .map(|p| {
                    let v = person_view(p, None);
                    PersonCsv {
                        name: v.name,
                        identity_number: v.identity_number,
                        gender: v.gender,
                        age: v.age,
                        phone: v.phone,
                        tags: v.tags.join(","),
                        grid_code: v.grid_code,
                        house_code: v.house_code,
                        floating: v.floating,
                        status: v.status,
                    }
                })
                .collect();
            let reader = Reader::of(&user, client);
            export(
                &state,
                &reader,
                &headers,
                RecordKind::Person,
                &place,
                fmt,
                &rows,
            )
            .await
        }
        _ => Ok(answer(
            rows.iter().map(|p| person_view(p, None)).collect(),
            offset,
            limit,
            total,
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// true: identity number, phone, household and registered address in full (needs a role
    /// granted full reads and a purpose; logged).
    pub full: Option<bool>,
    pub purpose: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: PersonView,
    pub residences: Vec<ResidenceView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResidenceView {
    pub id: Uuid,
    pub house_code: String,
    pub address: Option<String>,
    /// actual | registered
    pub kind: String,
    pub moved_in: NaiveDate,
    pub moved_out: Option<NaiveDate>,
    pub relation: Option<String>,
}

pub(crate) async fn residence_views(
    state: &AppState,
    rows: Vec<ResidenceRow>,
) -> ApiResult<Vec<ResidenceView>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let address = state
            .store
            .house(&r.district_code, &r.house_code)
            .await?
            .map(|h| h.address);
        out.push(ResidenceView {
            id: r.id,
            house_code: r.house_code,
            address,
            kind: r.kind,
            moved_in: r.moved_in,
            moved_out: r.moved_out,
            relation: r.relation,
        });
    }
    Ok(out)
}

pub(crate) async fn find_person(state: &AppState, place: &Place, id: &str) -> ApiResult<PersonRow> {
    let uuid = Uuid::parse_str(id).map_err(|_| not_found(RecordKind::Person, id))?;
    for d in candidate_districts(state, place, None) {
        if let Some(p) = state.store.person(&d, uuid).await? {
            if place.contains(&p.grid_code) {
                return Ok(p);
            }
            break;
        }
    }
    Err(not_found(RecordKind::Person, id))
}

/// One person, masked; `full=true` with a purpose reads the numbers in full (logged).
#[utoipa::path(get, path = "/api/v1/people/{id}", params(PersonQuery), responses((status = 200, body = PersonDetail), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn get_person(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    Query(q): Query<PersonQuery>,
) -> ApiResult<Json<PersonDetail>> {
    require_registry_reader(&user.actor, RecordKind::Person)?;
    let place = Place::of(&user.actor, None)?;
    let p = find_person(&state, &place, &id).await?;
    let view = if q.full.unwrap_or(false) {
        let purpose = full_read_purpose(&state, &user, q.purpose.as_deref())?;
        let Some(loaded) = load_person(&state, &p.district_code, p.id).await? else {
            return Err(not_found(RecordKind::Person, &id));
        };
        let reader = Reader::of(&user, client);
        // Logged before the answer leaves: a full read that cannot be logged is not made.
        state
            .store
            .registry_write(&RegistryWrite {
                access: vec![reader.log(
                    &p.district_code,
                    "read_full",
                    RecordKind::Person,
                    Some(p.id.to_string()),
                    Some(purpose),
                )],
                ..Default::default()
            })
            .await?;
        person_view(&loaded.row, Some(&loaded.fields))
    } else {
        person_view(&p, None)
    };
    let residences = state
        .store
        .residences_of_person(&p.district_code, p.id)
        .await?;
    Ok(Json(PersonDetail {
        person: view,
        residences: residence_views(&state, residences).await?,
    }))
}

/// Registers a person with their home (house_code, moved_in, residence_kind, relation).
#[utoipa::path(post, path = "/api/v1/people", request_body = Object, responses((status = 201, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn create_person(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create(state, user, client, RecordKind::Person, body).await
}

/// Changes a person's fields.
#[utoipa::path(patch, path = "/api/v1/people/{id}", request_body = Object, responses((status = 200, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn update_person(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    update(state, user, client, RecordKind::Person, &id, body).await
}

/// A person's residence history (来有登记，走有注销).
#[utoipa::path(get, path = "/api/v1/people/{id}/residences", responses((status = 200, body = Vec<ResidenceView>)), security(("bearer" = [])))]
pub async fn list_residences(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ResidenceView>>> {
    require_registry_reader(&user.actor, RecordKind::Person)?;
    let place = Place::of(&user.actor, None)?;
    let p = find_person(&state, &place, &id).await?;
    let rows = state
        .store
        .residences_of_person(&p.district_code, p.id)
        .await?;
    Ok(Json(residence_views(&state, rows).await?))
}

/// Moves a person into a home (house_code, moved_in, residence_kind, relation); the current
/// home of that kind is closed on the move-in day.
#[utoipa::path(post, path = "/api/v1/people/{id}/residences", request_body = Object, responses((status = 200, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn move_in(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let fields = fields_from_json(body)?;
    if fields.get("house_code").is_none() {
        return Err(ApiError::invalid_field(
            "house_code",
            "house_code is required",
        ));
    }
    if fields.get("moved_in").is_none() {
        return Err(ApiError::invalid_field("moved_in", "moved_in is required"));
    }
    let reader = Reader::of(&user, client);
    let outcome = reg::submit(
        &state,
        &reader,
        RecordKind::Person,
        ChangeOp::Update,
        Some(&id),
        fields,
    )
    .await?;
    Ok(written(outcome, false))
}

/// Records that a person moved out of their home (`moved_out`, today by default).
#[utoipa::path(post, path = "/api/v1/people/{id}/move-out", request_body = Object, responses((status = 200, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn move_out(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let fields = fields_from_json(body)?;
    let reader = Reader::of(&user, client);
    let outcome = reg::submit(
        &state,
        &reader,
        RecordKind::Person,
        ChangeOp::MoveOut,
        Some(&id),
        fields,
    )
    .await?;
    Ok(written(outcome, false))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AnonymiseRequest {
    /// Count only (default true): nothing changes.
    #[serde(default = "yes")]
    pub dry_run: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnonymiseAnswer {
    pub dry_run: bool,
    pub retention_days: u32,
    /// People moved out before this day.
    pub left_before: NaiveDate,
    pub people: usize,
    pub anonymised: u64,
}

/// The retention rule: people who moved away longer ago than the retention period lose their
/// personal data (name, numbers, tags, sealed fields and history). District and admin only.
#[utoipa::path(post, path = "/api/v1/people/anonymise", request_body = AnonymiseRequest, responses((status = 200, body = AnonymiseAnswer)), security(("bearer" = [])))]
pub async fn anonymise(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<AnonymiseRequest>,
) -> ApiResult<Json<AnonymiseAnswer>> {
    anonymise_people(&state, &user, client, req.dry_run)
        .await
        .map(Json)
}

/// The retention rule as the API and the console's retention page apply it: who may, which
/// people, and every anonymisation in the access log.
pub(crate) async fn anonymise_people(
    state: &AppState,
    user: &CurrentUser,
    client: Option<String>,
    dry_run: bool,
) -> ApiResult<AnonymiseAnswer> {
    if !matches!(user.actor.role, Role::District | Role::Admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "anonymising is for the district command centre and administrators",
        ));
    }
    let place = Place::of(&user.actor, None)?;
    let days = state.config.base_data.retention_days;
    let today = crate::local_day::day_of(&state.calendar(), Utc::now());
    let left_before = today - chrono::Duration::days(i64::from(days));
    let keys = state
        .store
        .people_left_before(place.prefix.as_deref(), left_before)
        .await?;
    let mut anonymised = 0;
    if !dry_run && !keys.is_empty() {
        let reader = Reader::of(user, client);
        let log: Vec<_> = keys
            .iter()
            .map(|(d, id)| {
                reader.log(
                    d,
                    "anonymise",
                    RecordKind::Person,
                    Some(id.to_string()),
                    Some("retention"),
                )
            })
            .collect();
        anonymised = state.store.anonymise_people(&keys, &log).await?;
    }
    Ok(AnonymiseAnswer {
        dry_run,
        retention_days: days,
        left_before,
        people: keys.len(),
        anonymised,
    })
}

// ---------------------------------------------------------------------------------------------
// Organisations

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationView {
    pub credit_code: String,
    pub name: String,
    pub org_kind: String,
    pub house_code: Option<String>,
    pub grid_code: String,
    pub responsible_person: Option<String>,
    /// Masked unless read in full.
    pub contact_phone: Option<String>,
    pub version: i64,
}

pub(crate) fn organisation_view(o: OrganisationRow, full: Option<&Fields>) -> OrganisationView {
    OrganisationView {
        contact_phone: match full {
            Some(f) => f.get("contact_phone").map(str::to_owned),
            None => o.contact_masked,
        },
        credit_code: o.credit_code,
        name: o.name,
        org_kind: o.org_kind,
        house_code: o.house_code,
        grid_code: o.grid_code,
        responsible_person: o.responsible_person,
        version: o.version,
    }
}

/// Organisations (实有法人) in your jurisdiction.
#[utoipa::path(get, path = "/api/v1/organisations", params(ListQuery), responses((status = 200, body = ListPage<OrganisationView>)), security(("bearer" = [])))]
pub async fn list_organisations(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    require_registry_reader(&user.actor, RecordKind::Organisation)?;
    check_format(q.format.as_deref())?;
    let place = Place::of(&user.actor, q.region.as_deref())?;
    let (offset, limit) = paging(q.offset, q.limit, q.format.as_deref())?;
    let (rows, total) = state
        .store
        .organisations(&record_filter(&place, &q, offset, limit))
        .await?;
    let views: Vec<OrganisationView> = rows
        .into_iter()
        .map(|o| organisation_view(o, None))
        .collect();
    match q.format.as_deref() {
        Some(f @ ("csv" | "xlsx")) => {
            let reader = Reader::of(&user, client);
            export(
                &state,
                &reader,
                &headers,
                RecordKind::Organisation,
                &place,
                f,
                &views,
            )
            .await
        }
        _ => Ok(answer(views, offset, limit, total)),
    }
}

/// One organisation; `full=true` with a purpose shows the contact phone (logged).
#[utoipa::path(get, path = "/api/v1/organisations/{code}", params(PersonQuery), responses((status = 200, body = OrganisationView), (status = 404)), security(("bearer" = [])))]
pub async fn get_organisation(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
    Query(q): Query<PersonQuery>,
) -> ApiResult<Json<OrganisationView>> {
    require_registry_reader(&user.actor, RecordKind::Organisation)?;
    let place = Place::of(&user.actor, None)?;
    let code = code.trim().to_ascii_uppercase();
    let district = locate_record(&state, &place, RecordKind::Organisation, &code).await?;
    let Some(o) = state.store.organisation(&district, &code).await? else {
        return Err(not_found(RecordKind::Organisation, &code));
    };
    if q.full.unwrap_or(false) {
        let purpose = full_read_purpose(&state, &user, q.purpose.as_deref())?;
        let fields = fields_of(&state, RecordKind::Organisation, &code, &o.body)?;
        let reader = Reader::of(&user, client);
        state
            .store
            .registry_write(&RegistryWrite {
                access: vec![reader.log(
                    &district,
                    "read_full",
                    RecordKind::Organisation,
                    Some(code.clone()),
                    Some(purpose),
                )],
                ..Default::default()
            })
            .await?;
        return Ok(Json(organisation_view(o, Some(&fields))));
    }
    Ok(Json(organisation_view(o, None)))
}

/// Registers an organisation.
#[utoipa::path(post, path = "/api/v1/organisations", request_body = Object, responses((status = 201, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn create_organisation(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create(state, user, client, RecordKind::Organisation, body).await
}

/// Changes an organisation's fields.
#[utoipa::path(patch, path = "/api/v1/organisations/{code}", request_body = Object, responses((status = 200, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn update_organisation(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    update(
        state,
        user,
        client,
        RecordKind::Organisation,
        &code.to_ascii_uppercase(),
        body,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Components

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentView {
    pub component_code: String,
    pub category_code: String,
    pub category_name: Option<String>,
    pub name: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub grid_code: String,
    pub owner_unit: Option<String>,
    pub maintenance_unit: Option<String>,
    pub responsible_unit: Option<String>,
    pub status: String,
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
    pub version: i64,
}

pub(crate) fn component_view(state: &AppState, c: ComponentRow) -> ComponentView {
    let fields: Option<Fields> = serde_json::from_slice(&c.body).ok();
    let attributes = fields
        .as_ref()
        .and_then(|f| f.get("attributes"))
        .and_then(|a| serde_json::from_str(a).ok());
    ComponentView {
        category_name: state
            .reference()
            .category("component", &c.category_code)
            .map(|r| r.name.clone()),
        component_code: c.component_code,
        category_code: c.category_code,
        name: c.name,
        lon: c.lon,
        lat: c.lat,
        grid_code: c.grid_code,
        owner_unit: c.owner_unit,
        maintenance_unit: c.maintenance_unit,
        responsible_unit: c.responsible_unit,
        status: c.status,
        attributes,
        version: c.version,
    }
}

#[derive(Debug, Serialize)]
struct ComponentCsv {
    component_code: String,
    category_code: String,
    name: Option<String>,
    lon: f64,
    lat: f64,
    grid_code: String,
    owner_unit: Option<String>,
    maintenance_unit: Option<String>,
    responsible_unit: Option<String>,
    status: String,
}

/// The place and unit filter of a component list: unit users see the components they answer for.
fn component_place(user: &CurrentUser, region: Option<&str>) -> ApiResult<(Place, Option<String>)> {
    if user.actor.role == Role::UnitUser {
        let unit = user.actor.unit.clone().unwrap_or_else(|| "-".to_owned());
        let place = Place::of(
            &wangge_domain::case_loop::Actor {
                region: None,
                ..user.actor.clone()
            },
            region,
        )?;
        return Ok((place, Some(unit)));
    }
    Ok((Place::of(&user.actor, region)?, None))
}

/// City components (城市部件) in your jurisdiction (a unit: those it answers for).
#[utoipa::path(get, path = "/api/v1/components", params(ListQuery), responses((status = 200, body = ListPage<ComponentView>)), security(("bearer" = [])))]
pub async fn list_components(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    check_format(q.format.as_deref())?;
    let (place, unit) = component_place(&user, q.region.as_deref())?;
    let (offset, limit) = paging(q.offset, q.limit, q.format.as_deref())?;
    let mut f = record_filter(&place, &q, offset, limit);
    if unit.is_some() {
        f.unit = unit;
    }
    let (rows, total) = state.store.components(&f).await?;
    match q.format.as_deref() {
        Some(fmt @ ("csv" | "xlsx")) => {
            let rows: Vec<ComponentCsv> = rows
                .into_iter()
                .map(|c| ComponentCsv {
                    component_code: c.component_code,
                    category_code: c.category_code,
                    name: c.name,
                    lon: c.lon,
                    lat: c.lat,
                    grid_code: c.grid_code,
                    owner_unit: c.owner_unit,
                    maintenance_unit: c.maintenance_unit,
                    responsible_unit: c.responsible_unit,
                    status: c.status,
                })
                .collect();
            let reader = Reader::of(&user, client);
            export(
                &state,
                &reader,
                &headers,
                RecordKind::Component,
                &place,
                fmt,
                &rows,
            )
            .await
        }
        _ => Ok(answer(
            rows.into_iter()
                .map(|c| component_view(&state, c))
                .collect(),
            offset,
            limit,
            total,
        )),
    }
}

/// One component.
#[utoipa::path(get, path = "/api/v1/components/{code}", responses((status = 200, body = ComponentView), (status = 404)), security(("bearer" = [])))]
pub async fn get_component(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<Json<ComponentView>> {
    let (place, unit) = component_place(&user, None)?;
    let code = wangge_domain::registry::ComponentCode::parse(&code)
        .map(|c| c.as_str().to_owned())
        .map_err(|_| not_found(RecordKind::Component, &code))?;
    for d in candidate_districts(&state, &place, Some(&code)) {
        if let Some(c) = state.store.component(&d, &code).await? {
            let visible = place.contains(&c.grid_code)
                && unit
                    .as_ref()
                    .is_none_or(|u| c.responsible_unit.as_ref() == Some(u));
            if visible {
                return Ok(Json(component_view(&state, c)));
            }
            break;
        }
    }
    Err(not_found(RecordKind::Component, &code))
}

/// Registers a component.
#[utoipa::path(post, path = "/api/v1/components", request_body = Object, responses((status = 201, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn create_component(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    create(state, user, client, RecordKind::Component, body).await
}

/// Changes a component's fields (status, units, attributes …).
#[utoipa::path(patch, path = "/api/v1/components/{code}", request_body = Object, responses((status = 200, body = Written), (status = 202, body = Written), (status = 422)), security(("bearer" = [])))]
pub async fn update_component(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let code = wangge_domain::registry::ComponentCode::parse(&code)
        .map(|c| c.as_str().to_owned())
        .unwrap_or(code);
    update(state, user, client, RecordKind::Component, &code, body).await
}

// ---------------------------------------------------------------------------------------------
// Changes

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    pub id: Uuid,
    pub kind: String,
    pub op: String,
    pub record_key: Option<String>,
    pub grid_code: String,
    pub state: String,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// The fields proposed; identity numbers and phones masked.
    #[schema(value_type = Object)]
    pub fields: Option<Fields>,
}

/// Identity numbers and phones in a change's fields, masked.
pub(crate) fn masked_fields(f: &Fields) -> Fields {
    f.iter()
        .map(|(k, v)| {
            let v = match k {
                "identity_number" => wangge_domain::identity::mask(v.trim(), 4, 4),
                "phone" | "contact_phone" => wangge_domain::identity::mask(v.trim(), 3, 4),
                _ => v.to_owned(),
            };
            (k.to_owned(), v)
        })
        .collect()
}

pub(crate) fn change_view(state: &AppState, c: wangge_store::registry::ChangeRow) -> ChangeView {
    let fields = match (RecordKind::parse(&c.kind), &c.body) {
        (Some(kind), Some(b)) => fields_of(state, kind, &c.id.to_string(), b)
            .ok()
            .map(|f| masked_fields(&f)),
        _ => None,
    };
    ChangeView {
        id: c.id,
        kind: c.kind,
        op: c.op,
        record_key: c.record_key,
        grid_code: c.grid_code,
        state: c.state,
        proposed_by: c.proposed_by,
        proposed_at: c.proposed_at,
        reviewed_by: c.reviewed_by,
        reviewed_at: c.reviewed_at,
        reason: c.reason,
        fields,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    pub region: Option<String>,
    /// pending | accepted | rejected
    pub state: Option<String>,
    /// house | person | organisation | component
    pub kind: Option<String>,
    pub record_key: Option<String>,
    /// Only the changes you proposed.
    pub mine: Option<bool>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// Proposed changes of the base data in your jurisdiction (the reviewer's queue).
#[utoipa::path(get, path = "/api/v1/changes", params(ChangesQuery), responses((status = 200, body = ListPage<ChangeView>)), security(("bearer" = [])))]
pub async fn list_changes(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Json<ListPage<ChangeView>>> {
    require_registry_reader(&user.actor, RecordKind::House)?;
    let place = Place::of(&user.actor, q.region.as_deref())?;
    let (offset, limit) = paging(q.offset, q.limit, None)?;
    let (rows, _) = state
        .store
        .changes(&ChangeFilter {
            district: place.district.clone(),
            region_prefix: place.prefix.clone(),
            state: q.state.clone().filter(|s| !s.is_empty()),
            kind: q.kind.clone().filter(|s| !s.is_empty()),
            record_key: q.record_key.clone(),
            proposed_by: q.mine.unwrap_or(false).then(|| user.actor.id.clone()),
            offset,
            limit,
        })
        .await?;
    Ok(Json(page_of(
        rows.into_iter().map(|c| change_view(&state, c)).collect(),
        offset,
        limit,
        None,
    )))
}

async fn find_change(
    state: &AppState,
    place: &Place,
    id: &str,
) -> ApiResult<wangge_store::registry::ChangeRow> {
    let missing = || {
        ApiError::not_found(
            "change_not_found",
            format!("no change '{id}' in your jurisdiction"),
        )
    };
    let uuid = Uuid::parse_str(id).map_err(|_| missing())?;
    for d in candidate_districts(state, place, None) {
        if let Some(c) = state.store.change(&d, uuid).await? {
            if place.contains(&c.grid_code) {
                return Ok(c);
            }
            break;
        }
    }
    Err(missing())
}

/// One proposed change.
#[utoipa::path(get, path = "/api/v1/changes/{id}", responses((status = 200, body = ChangeView), (status = 404)), security(("bearer" = [])))]
pub async fn get_change(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ChangeView>> {
    require_registry_reader(&user.actor, RecordKind::House)?;
    let place = Place::of(&user.actor, None)?;
    Ok(Json(change_view(
        &state,
        find_change(&state, &place, &id).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReviewRequest {
    pub accept: bool,
    /// Required when rejecting.
    pub reason: Option<String>,
}

/// Accepts (applies) or rejects a proposed change. Street, district and admin reviewers.
#[utoipa::path(post, path = "/api/v1/changes/{id}/review", request_body = ReviewRequest, responses((status = 200, body = ChangeView), (status = 403), (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn review_change(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> ApiResult<Json<ChangeView>> {
    require_registry_reader(&user.actor, RecordKind::House)?;
    let place = Place::of(&user.actor, None)?;
    let c = find_change(&state, &place, &id).await?;
    let reader = Reader::of(&user, client);
    let decided = reg::review(
        &state,
        &reader,
        &c.district_code,
        c.id,
        req.accept,
        req.reason.as_deref(),
    )
    .await?;
    Ok(Json(change_view(&state, decided)))
}

// ---------------------------------------------------------------------------------------------
// Access log

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub username: String,
    pub role: String,
    pub action: String,
    pub kind: String,
    pub record_key: Option<String>,
    pub purpose: Option<String>,
    pub client: Option<String>,
    pub district_code: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// From this day (YYYY-MM-DD).
    pub from: Option<String>,
    /// Up to and including this day.
    pub to: Option<String>,
    pub username: Option<String>,
    pub kind: Option<String>,
    pub record_key: Option<String>,
    /// read_full | read_history | export | anonymise
    pub action: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// Who read whose full personal record, and every export (append-only). Admins and the
/// district command centre.
#[utoipa::path(get, path = "/api/v1/access-log", params(AccessQuery), responses((status = 200, body = ListPage<AccessView>), (status = 403)), security(("bearer" = [])))]
pub async fn access_log(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<AccessQuery>,
) -> ApiResult<Json<ListPage<AccessView>>> {
    if !matches!(user.actor.role, Role::Admin | Role::District) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the access log is read by administrators and the district command centre",
        ));
    }
    let place = Place::of(&user.actor, None)?;
    let (offset, limit) = paging(q.offset, q.limit, None)?;
    let cal = state.calendar();
    let from = match q.from.as_deref() {
        Some(t) => Some(crate::local_day::day_start(
            &cal,
            crate::local_day::parse_day("from", t)?,
        )),
        None => None,
    };
    let to = match q.to.as_deref() {
        Some(t) => Some(crate::local_day::day_end(
            &cal,
            crate::local_day::parse_day("to", t)?,
        )),
        None => None,
    };
    let (rows, _) = state
        .store
        .access_log(&AccessFilter {
            district: place.district.clone(),
            from,
            to,
            username: q.username.clone().filter(|s| !s.is_empty()),
            kind: q.kind.clone().filter(|s| !s.is_empty()),
            record_key: q.record_key.clone().filter(|s| !s.is_empty()),
            action: q.action.clone().filter(|s| !s.is_empty()),
            offset,
            limit,
        })
        .await?;
    Ok(Json(page_of(
        rows.into_iter()
            .map(|a| AccessView {
                id: a.id,
                at: a.at,
                username: a.username,
                role: a.role,
                action: a.action,
                kind: a.kind,
                record_key: a.record_key,
                purpose: a.purpose,
                client: a.client,
                district_code: a.district_code,
            })
            .collect(),
        offset,
        limit,
        None,
    )))
}

pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/houses", get(list_houses).post(create_house))
        .route("/houses/{code}", get(get_house).patch(update_house))
        .route("/people", get(list_people).post(create_person))
        .route("/people/anonymise", post(anonymise))
        .route("/people/{id}", get(get_person).patch(update_person))
        .route(
            "/people/{id}/residences",
            get(list_residences).post(move_in),
        )
        .route("/people/{id}/move-out", post(move_out))
        .route(
            "/organisations",
            get(list_organisations).post(create_organisation),
        )
        .route(
            "/organisations/{code}",
            get(get_organisation).patch(update_organisation),
        )
        .route("/components", get(list_components).post(create_component))
        .route(
            "/components/{code}",
            get(get_component).patch(update_component),
        )
        .route("/{kind}/{key}/versions", get(record_versions))
        .route("/changes", get(list_changes))
        .route("/changes/{id}", get(get_change))
        .route("/changes/{id}/review", post(review_change))
        .route("/access-log", get(access_log))
        .route(
            "/imports/{kind}",
            post(import).layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route(
            "/import-jobs/{kind}",
            post(start_import_job).layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/import-jobs/{kind}/{id}", get(import_job))
}

// ---------------------------------------------------------------------------------------------
// Import

/// Largest file an import takes: a district's million people as CSV are about 150 MB.
pub const MAX_IMPORT_BYTES: usize = 512 * 1024 * 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check every row and report, storing nothing (default true: say dry_run=false to store).
    pub dry_run: Option<bool>,
    /// The worksheet of a workbook (default: the first visible one).
    pub sheet: Option<String>,
    /// The district imported into, when your jurisdiction is wider than one.
    pub district: Option<String>,
    /// Column choices `field:Header;field:Header` (the rest match by name or known Chinese
    /// headers such as 身份证号, 姓名, 房屋编码).
    pub map: Option<String>,
    /// The file's name, a hint to its format.
    pub file_name: Option<String>,
}

fn import_kind(kind: &str) -> ApiResult<RecordKind> {
    RecordKind::from_plural(kind).ok_or_else(|| {
        ApiError::not_found(
            "not_found",
            format!(
                "nothing called '{kind}' is imported: houses, people, organisations or components"
            ),
        )
    })
}

fn import_request(q: &ImportQuery) -> ApiResult<crate::registry_import::ImportRequest> {
    Ok(crate::registry_import::ImportRequest {
        dry_run: q.dry_run.unwrap_or(true),
        sheet: q.sheet.clone().filter(|s| !s.is_empty()),
        mapping: parse_map(q.map.as_deref())?,
        district: q.district.clone().filter(|s| !s.is_empty()),
    })
}

fn parse_map(text: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((f, h)) => Ok((f.trim().to_owned(), h.trim().to_owned())),
            None => Err(ApiError::invalid_field(
                "map",
                format!("'{pair}' must be field:Header"),
            )),
        })
        .collect()
}

/// Imports houses, people (with their homes), organisations or components from a CSV or .xlsx
/// body: every bad row reported with its row, column and what was expected; all rows stored or
/// none. Street, district and admin users.
#[utoipa::path(post, path = "/api/v1/imports/{kind}", params(("kind" = String, Path, description = "houses, people, organisations or components"), ImportQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = crate::registry_import::ImportReport), (status = 422, body = crate::registry_import::ImportReport)), security(("bearer" = [])))]
pub async fn import(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(kind): Path<String>,
    Query(q): Query<ImportQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let kind = import_kind(&kind)?;
    let req = import_request(&q)?;
    let reader = Reader::of(&user, client);
    let report = crate::registry_import::import(
        &state,
        &reader,
        kind,
        body.to_vec(),
        q.file_name.clone(),
        &req,
        std::sync::Arc::new(|_| {}),
    )
    .await?;
    let status = if report.bad_rows > 0 && !req.dry_run {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(report)).into_response())
}

/// Starts the same import in the background (202 with the job); poll
/// `GET /api/v1/import-jobs/{kind}/{id}` for its progress and report. What the console's import
/// page uses for its progress bar.
#[utoipa::path(post, path = "/api/v1/import-jobs/{kind}", params(("kind" = String, Path, description = "houses, people, organisations or components"), ImportQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 202, body = crate::registry_import::ImportJob)), security(("bearer" = [])))]
pub async fn start_import_job(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(client): ClientAddr,
    Path(kind): Path<String>,
    Query(q): Query<ImportQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let kind = import_kind(&kind)?;
    if !wangge_domain::registry::Change::may_review(user.actor.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "imports are for street, district and admin users",
        ));
    }
    let req = import_request(&q)?;
    let reader = Reader::of(&user, client);
    let job = crate::registry_import::ImportJobs::start(
        &state,
        reader,
        kind,
        body.to_vec(),
        q.file_name.clone(),
        req,
    );
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// A background import: running with its progress, or done with its report.
#[utoipa::path(get, path = "/api/v1/import-jobs/{kind}/{id}", responses((status = 200, body = crate::registry_import::ImportJob), (status = 404)), security(("bearer" = [])))]
pub async fn import_job(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((_kind, id)): Path<(String, String)>,
) -> ApiResult<Json<crate::registry_import::ImportJob>> {
    let missing = || ApiError::not_found("job_not_found", format!("no import {id} of yours"));
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    state
        .imports
        .get(id, &user.username)
        .map(Json)
        .ok_or_else(missing)
}
