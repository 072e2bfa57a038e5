//! Campaigns (普查 / 核查 / 排查) as an application service, and the address bases the matcher
//! runs on.
//!
//! - An [`AddressBase`] is built per district (or per part of one: a reader sees only the
//!   houses of their jurisdiction) from the registry's houses, the parts a house leaves out
//!   (district, street, community) filled from the atlas. It is cached and rebuilt on the next
//!   use after any house of the district is added or changed (the district's house count and
//!   latest change, read through an index, tell).
//! - A campaign is made from a table (CSV / .xlsx: the user names the address column and the
//!   optional identity, name and phone columns) or from a query over the registry (people with a
//!   tag, houses of a use). Rows from a table are matched, de-duplicated by
//!   [`wangge_address::dedup`] (the merge rule is [`dedup::MERGE_RULE`]), and grouped by grid into
//!   one task per grid for the grid's worker. Unmatched records wait in a street's queue (the
//!   street of the nearest candidate, else the campaign's street) until someone there assigns a
//!   house by hand.
//! - A record's original fields are sealed with the vault (kind `campaign_record`, key
//!   `<campaign>/<seq>`); every list shows identity numbers and phones masked, and a full read
//!   states a purpose and writes an access-log line first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use wangge_address::dedup::{self, DedupRecord};
use wangge_address::{AddressBase, HouseEntry, Match};
use wangge_domain::case_loop::Actor;
use wangge_domain::identity::{IdentityNumber, MobileNumber, mask};
use wangge_domain::region::Level;
use wangge_domain::registry::Fields;
use wangge_domain::role::Role;
use wangge_store::campaign::{
    CampaignRecordRow, CampaignRow, CampaignTaskRow, Campaigns, HouseAddressRow,
};
use wangge_store::registry::{AccessRow, PeopleFilter, RecordFilter, Registry};
use wangge_store::{Store, UserRow};

use crate::atlas::Atlas;
use crate::error::{ApiError, ApiResult};
use crate::registry::Place;
use crate::state::AppState;

/// Most records one campaign may hold.
pub const MAX_RECORDS: usize = 200_000;
/// Outcomes offered when a campaign names none.
pub const DEFAULT_OUTCOMES: [&str; 4] = ["已核实", "不在住", "信息有误", "无法联系"];
/// The access-log kind of a campaign record.
pub const RECORD_KIND: &str = "campaign_record";

type Fingerprint = (i64, Option<DateTime<Utc>>);

/// Built address bases by scope (a district code, or a narrower grid-code prefix).
#[derive(Default)]
pub struct AddressBases {
    entries: tokio::sync::Mutex<HashMap<String, (Fingerprint, Arc<AddressBase>)>>,
}

impl std::fmt::Debug for AddressBases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressBases").finish_non_exhaustive()
    }
}

/// Bases kept at most; past that the cache starts again empty (a rebuild costs only time).
const BASES_KEPT: usize = 64;

/// The part of the city a reader matches against: one district, all of it or a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub district: String,
    /// A grid-code prefix narrower than the district, when the reader's jurisdiction is.
    pub prefix: Option<String>,
}

impl Scope {
    pub fn key(&self) -> &str {
        self.prefix.as_deref().unwrap_or(&self.district)
    }
}

/// The scopes of a place: the districts it touches, each with the prefix that narrows it.
pub fn scopes(state: &AppState, place: &Place) -> Vec<Scope> {
    crate::registry::candidate_districts(state, place, None)
        .into_iter()
        .filter_map(|d| match place.prefix.as_deref() {
            None => Some(Scope {
                district: d,
                prefix: None,
            }),
            Some(p) if p.starts_with(&d) => Some(Scope {
                prefix: (p != d).then(|| p.to_owned()),
                district: d,
            }),
            Some(p) if d.starts_with(p) => Some(Scope {
                district: d,
                prefix: None,
            }),
            Some(_) => None,
        })
        .collect()
}

/// The address base of a scope, built (or rebuilt after a change to the district's houses) on
/// first use.
pub async fn address_base(state: &AppState, scope: &Scope) -> ApiResult<Arc<AddressBase>> {
    let fingerprint = state.store.houses_fingerprint(&scope.district).await?;
    let mut entries = state.addresses.entries.lock().await;
    if let Some((f, base)) = entries.get(scope.key())
        && *f == fingerprint
    {
        return Ok(base.clone());
    }
    let rows = state
        .store
        .house_addresses(&scope.district, scope.prefix.as_deref())
        .await?;
    let atlas = state.atlas();
    let base = tokio::task::spawn_blocking(move || {
        let entries: Vec<HouseEntry> = rows.into_iter().map(|r| house_entry(&atlas, r)).collect();
        AddressBase::build(entries)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            "address_base",
            format!(
                "the houses of {} cannot be matched against: {e}",
                scope.key()
            ),
        )
    })?;
    let base = Arc::new(base);
    if entries.len() >= BASES_KEPT {
        entries.clear();
    }
    entries.insert(scope.key().to_owned(), (fingerprint, base.clone()));
    Ok(base)
}

/// A stored house as the matcher reads it; the parts it leaves out that the grid implies
/// (city, district, street, community) come from the atlas.
/// A stored house as the matcher reads it. Parts a house leaves out that its grid implies
/// (city … community) come from the region tree. `wangge match --db` uses it too.
pub fn house_entry(atlas: &Atlas, row: HouseAddressRow) -> HouseEntry {
    let fields: Fields = serde_json::from_slice(&row.body).unwrap_or_default();
    let part = |name: &str| fields.get(name).unwrap_or("").to_owned();
    let chain = atlas.ancestry(&row.grid_code);
    let region = |level: Level, given: String| -> String {
        if !given.is_empty() {
            return given;
        }
        chain
            .iter()
            .find(|r| r.level == level)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    };
    HouseEntry {
        province: part("province"),
        city: region(Level::City, part("city")),
        district: region(Level::District, part("district")),
        street: region(Level::Street, part("street")),
        community: region(Level::Community, part("community")),
        road: part("road"),
        number: part("number"),
        building: part("building"),
        unit: part("unit"),
        room: part("room"),
        house_code: row.house_code,
        grid_code: row.grid_code,
    }
}

/// Matches each text against every scope's base and keeps the best answer (a match before an
/// unmatched answer, then the higher confidence); candidates are the nearest of all scopes.
pub async fn match_texts(
    state: &AppState,
    scopes: &[Scope],
    texts: Vec<String>,
    threshold: f64,
) -> ApiResult<Vec<Match>> {
    let mut bases = Vec::with_capacity(scopes.len());
    for s in scopes {
        bases.push(address_base(state, s).await?);
    }
    tokio::task::spawn_blocking(move || {
        texts
            .par_iter()
            .map(|t| best_of(&bases, t, threshold))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(ApiError::internal)
}

fn best_of(bases: &[Arc<AddressBase>], text: &str, threshold: f64) -> Match {
    let mut answers = bases.iter().map(|b| b.match_with(text, threshold));
    let Some(mut best) = answers.next() else {
        return Match {
            house_code: None,
            grid_code: None,
            confidence: 0.0,
            reason: "no houses are registered where you may look".into(),
            candidates: Vec::new(),
        };
    };
    for m in answers {
        let mut candidates = std::mem::take(&mut best.candidates);
        candidates.extend(m.candidates.iter().cloned());
        let better =
            (m.house_code.is_some(), m.confidence) > (best.house_code.is_some(), best.confidence);
        if better {
            best = m;
        }
        candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        candidates.truncate(3);
        best.candidates = candidates;
    }
    best
}

// ---------------------------------------------------------------------------------------------
// Campaigns

/// Who may create and close campaigns.
pub fn require_creator(actor: &Actor) -> ApiResult<()> {
    if matches!(actor.role, Role::District | Role::Street | Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "campaigns are created and closed by district, street and admin users",
        ))
    }
}

/// Campaigns are for the region roles; handling units take no part.
pub fn require_reader(actor: &Actor) -> ApiResult<()> {
    if actor.role == Role::UnitUser {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "handling units take no part in campaigns",
        ));
    }
    Ok(())
}

/// Whether a reader sees a campaign: its region and the reader's overlap.
pub fn sees(actor: &Actor, c: &CampaignRow) -> bool {
    match actor.region.as_deref() {
        None => true,
        Some(mine) => mine.starts_with(&c.region_code) || c.region_code.starts_with(mine),
    }
}

/// The grid prefix a reader's view of a campaign is narrowed to: theirs when it is narrower
/// than the campaign's region, none otherwise (they see the whole campaign).
pub fn view_prefix(actor: &Actor, c: &CampaignRow) -> Option<String> {
    actor
        .region
        .as_deref()
        .filter(|mine| mine.len() > c.region_code.len() && mine.starts_with(&c.region_code))
        .map(str::to_owned)
}

/// A campaign by id, when the reader may see it (else "not found": its existence does not leak).
pub async fn find_campaign(state: &AppState, actor: &Actor, id: &str) -> ApiResult<CampaignRow> {
    let missing = || ApiError::not_found("not_found", format!("no campaign {id}"));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let place = Place::of(actor, None)?;
    for d in crate::registry::candidate_districts(state, &place, None) {
        if let Some(c) = state.store.campaign(&d, id).await?
            && sees(actor, &c)
        {
            return Ok(c);
        }
    }
    Err(missing())
}

/// The outcomes a campaign's form offers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Form {
    pub outcomes: Vec<String>,
}

impl Form {
    pub fn of(c: &CampaignRow) -> Form {
        serde_json::from_str(&c.form).unwrap_or_else(|_| Form::new(None))
    }

    fn new(outcomes: Option<Vec<String>>) -> Form {
        Form {
            outcomes: outcomes.unwrap_or_else(|| DEFAULT_OUTCOMES.map(String::from).to_vec()),
        }
    }

    pub fn parse(outcomes: Option<Vec<String>>) -> ApiResult<Form> {
        let Some(list) = outcomes else {
            return Ok(Form::new(None));
        };
        let list: Vec<String> = list
            .into_iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        if list.is_empty() || list.len() > 20 {
            return Err(ApiError::invalid_field(
                "outcomes",
                format!("a form offers 1 to 20 outcomes, not {}", list.len()),
            ));
        }
        if let Some(o) = list.iter().find(|o| o.chars().count() > 20) {
            return Err(ApiError::invalid_field(
                "outcomes",
                format!("an outcome is at most 20 characters: '{o}'"),
            ));
        }
        Ok(Form { outcomes: list })
    }
}

/// What every new campaign states.
#[derive(Debug, Clone)]
pub struct Header {
    pub name: String,
    pub kind: String,
    pub form: Form,
    pub threshold: f64,
    /// Where the campaign is: asked for by a reader of more than one district.
    pub district: Option<String>,
}

impl Header {
    pub fn parse(
        name: Option<&str>,
        kind: Option<&str>,
        outcomes: Option<Vec<String>>,
        threshold: Option<f64>,
        district: Option<&str>,
    ) -> ApiResult<Header> {
        let name = name.map(str::trim).unwrap_or("");
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::invalid_field(
                "name",
                "a campaign needs a name of 1 to 100 characters",
            ));
        }
        let kind = kind
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .unwrap_or("核查");
        if kind.chars().count() > 40 {
            return Err(ApiError::invalid_field(
                "kind",
                "the kind (e.g. 疫情核查, 安全隐患排查, 普查) is at most 40 characters",
            ));
        }
        let threshold = threshold.unwrap_or(wangge_address::DEFAULT_THRESHOLD);
        if !(threshold.is_finite() && (0.0..=1.0).contains(&threshold)) {
            return Err(ApiError::invalid_field(
                "threshold",
                format!("threshold must be between 0 and 1, not {threshold}"),
            ));
        }
        Ok(Header {
            name: name.to_owned(),
            kind: kind.to_owned(),
            form: Form::parse(outcomes)?,
            threshold,
            district: district.map(str::to_owned).filter(|d| !d.is_empty()),
        })
    }
}

/// The district and region a new campaign of this creator lies in.
fn campaign_place(state: &AppState, actor: &Actor, header: &Header) -> ApiResult<(String, String)> {
    let asked = header.district.as_deref();
    let place = Place::of(actor, asked)?;
    let districts = scopes(state, &place);
    let district = match (districts.as_slice(), asked) {
        ([one], _) => one.district.clone(),
        (many, Some(d)) if many.iter().any(|s| s.district == d) => d.to_owned(),
        ([], _) => {
            return Err(ApiError::invalid_field(
                "district",
                "the campaign's district is outside your jurisdiction (or the city has none)",
            ));
        }
        (_, _) => {
            return Err(ApiError::invalid_field(
                "district",
                "you see more than one district: name the campaign's district",
            ));
        }
    };
    let region = place
        .prefix
        .filter(|p| p.starts_with(&district))
        .unwrap_or_else(|| district.clone());
    Ok((district, region))
}

/// The grid workers of each grid: the first active one bound to the grid (or to a region
/// containing it, nearest first).
async fn workers(state: &AppState) -> ApiResult<Vec<UserRow>> {
    let mut users: Vec<UserRow> = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.active && u.role == Role::GridWorker.as_str() && u.region_code.is_some())
        .collect();
    users.sort_by(|a, b| {
        b.region_code
            .as_ref()
            .map(String::len)
            .cmp(&a.region_code.as_ref().map(String::len))
            .then_with(|| a.username.cmp(&b.username))
    });
    Ok(users)
}

fn worker_of(workers: &[UserRow], grid: &str) -> Option<String> {
    workers
        .iter()
        .find(|u| {
            u.region_code
                .as_deref()
                .is_some_and(|r| grid.starts_with(r))
        })
        .map(|u| u.username.clone())
}

/// The task of a grid in a campaign, with the grid's worker.
pub async fn task_for(
    state: &AppState,
    district: &str,
    campaign: Uuid,
    grid: &str,
    now: DateTime<Utc>,
) -> ApiResult<CampaignTaskRow> {
    let mut tasks = tasks_for(state, district, campaign, [grid.to_owned()], now).await?;
    tasks
        .pop()
        .ok_or_else(|| ApiError::internal("no task made"))
}

/// One task per grid, each for the grid's worker.
async fn tasks_for(
    state: &AppState,
    district: &str,
    campaign: Uuid,
    grids: impl IntoIterator<Item = String>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<CampaignTaskRow>> {
    let workers = workers(state).await?;
    Ok(grids
        .into_iter()
        .map(|g| CampaignTaskRow {
            district_code: district.to_owned(),
            campaign_id: campaign,
            worker: worker_of(&workers, &g),
            grid_code: g,
            created_at: now,
        })
        .collect())
}

/// How a table's columns become a campaign's records.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub address: String,
    pub identity: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// A row of the table, read.
struct Draft {
    source_row: i64,
    address: String,
    fields: BTreeMap<String, String>,
    identity: Option<String>,
    name: Option<String>,
    phone: Option<String>,
}

/// The created campaign and its figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Created {
    pub id: Uuid,
    pub district: String,
    pub records: usize,
    pub matched: usize,
    pub unmatched: usize,
    pub duplicates: usize,
    pub tasks: usize,
}

fn column_index(headers: &[String], field: &str, name: &str) -> ApiResult<usize> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        ApiError::invalid_field(
            field,
            format!(
                "the table has no column named “{name}”; its columns are: {}",
                headers.join(", ")
            ),
        )
    })
}

fn too_many(n: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_records",
        format!("a campaign holds at most {MAX_RECORDS} records, the table has {n}: split it"),
    )
    .with_details(serde_json::json!({"limit": MAX_RECORDS, "records": n}))
}

/// Reads a table into drafts; every bad row is named in one 422.
fn drafts_of(
    table: &crate::tabular::Table,
    cols: &Columns,
    today: chrono::NaiveDate,
) -> ApiResult<Vec<Draft>> {
    if table.rows.len() > MAX_RECORDS {
        return Err(too_many(table.rows.len()));
    }
    let address = column_index(&table.headers, "address_column", &cols.address)?;
    let pick = |field: &str, c: &Option<String>| -> ApiResult<Option<usize>> {
        c.as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| column_index(&table.headers, field, c))
            .transpose()
    };
    let identity = pick("identity_column", &cols.identity)?;
    let name = pick("name_column", &cols.name)?;
    let phone = pick("phone_column", &cols.phone)?;
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        for e in &row.errors {
            problems
                .push(serde_json::json!({"row": e.row, "column": e.column, "message": e.message}));
        }
        let cell = |i: Option<usize>| {
            i.and_then(|i| row.cells.get(i))
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
        };
        let text = cell(Some(address));
        if text.is_none() {
            problems.push(
                serde_json::json!({"row": row.number, "column": cols.address,
                "message": "the address is empty"}),
            );
        }
        let id = cell(identity).map(|t| t.to_ascii_uppercase());
        if let Some(t) = &id
            && let Err(e) = IdentityNumber::parse(t, today)
        {
            problems.push(serde_json::json!({"row": row.number,
                "column": cols.identity.clone().unwrap_or_default(),
                "message": format!("not an identity number: {e}")}));
        }
        let fields = table
            .headers
            .iter()
            .zip(&row.cells)
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(h, v)| (h.clone(), v.trim().to_owned()))
            .collect();
        out.push(Draft {
            source_row: row.number as i64,
            address: text.unwrap_or_default(),
            fields,
            identity: id,
            name: cell(name),
            phone: cell(phone).map(|p| p.replace([' ', '-'], "")),
        });
    }
    if !problems.is_empty() {
        let first = problems.first().cloned().unwrap_or_default();
        let n = problems.len();
        problems.truncate(100);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rows",
            format!(
                "{n} problems in the table, the first: row {}, column “{}”: {}",
                first["row"],
                first["column"].as_str().unwrap_or(""),
                first["message"].as_str().unwrap_or("")
            ),
        )
        .with_details(serde_json::json!({"field": "file", "problems": problems, "count": n})));
    }
    if out.is_empty() {
        return Err(ApiError::invalid_field("file", "the table has no rows"));
    }
    Ok(out)
}

fn mask_phone(p: &str) -> String {
    MobileNumber::parse(p)
        .map(|m| m.masked())
        .unwrap_or_else(|_| mask(p, 3, 2))
}

fn mask_identity(i: &str) -> String {
    mask(i, 4, 4)
}

/// The street queue an unmatched record waits in.
fn queue_of(m: &Match, region: &str) -> Option<String> {
    m.candidates
        .first()
        .and_then(|c| c.grid_code.get(..9))
        .map(str::to_owned)
        .or_else(|| region.get(..9).map(str::to_owned))
}

fn candidates_json(m: &Match) -> String {
    serde_json::to_string(
        &m.candidates
            .iter()
            .map(|c| {
                serde_json::json!({"house_code": c.house_code, "grid_code": c.grid_code,
                    "address": c.address, "confidence": c.confidence})
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| "[]".into())
}

/// Creates a campaign from a table: match, de-duplicate, seal, group into tasks.
pub async fn create_from_table(
    state: &AppState,
    actor: &Actor,
    username: &str,
    header: Header,
    cols: Columns,
    table: crate::tabular::Table,
) -> ApiResult<Created> {
    require_creator(actor)?;
    let vault = crate::registry::vault(state)?.clone();
    let (district, region) = campaign_place(state, actor, &header)?;
    let now = state.config.clock.now();
    let today = crate::local_day::day_of(&state.calendar(), now);
    let mut drafts = drafts_of(&table, &cols, today)?;
    drop(table);
    let scope = Scope {
        prefix: (region != district).then(|| region.clone()),
        district: district.clone(),
    };
    let texts: Vec<String> = drafts.iter().map(|d| d.address.clone()).collect();
    let matches = match_texts(state, std::slice::from_ref(&scope), texts, header.threshold).await?;

    // De-duplicate on the matched house: the earliest record is kept, later ones fill its gaps.
    let dups = {
        let keys: Vec<DedupRecord<'_>> = drafts
            .iter()
            .zip(&matches)
            .map(|(d, m)| DedupRecord {
                identity_number: d.identity.as_deref(),
                name: d.name.as_deref(),
                phone: d.phone.as_deref(),
                house_code: m.house_code.as_deref(),
            })
            .collect();
        dedup::find_duplicates(&keys)
    };
    let root = |mut i: usize| {
        let mut hops = 0;
        while let Some(Some((j, _))) = dups.get(i) {
            if *j >= i || hops > dups.len() {
                break;
            }
            i = *j;
            hops += 1;
        }
        i
    };
    let mut kept_of = vec![None; drafts.len()];
    for (i, d) in dups.iter().enumerate() {
        if d.is_some() {
            let r = root(i);
            kept_of[i] = Some(r);
            let (fields, identity, name, phone) = {
                let dup = &drafts[i];
                (
                    dup.fields.clone(),
                    dup.identity.clone(),
                    dup.name.clone(),
                    dup.phone.clone(),
                )
            };
            let kept = &mut drafts[r];
            for (k, v) in fields {
                kept.fields.entry(k).or_insert(v);
            }
            if kept.identity.is_none() {
                kept.identity = identity;
            }
            if kept.name.is_none() {
                kept.name = name;
            }
            if kept.phone.is_none() {
                kept.phone = phone;
            }
        }
    }

    let id = wangge_domain::new_id();
    let mut records = Vec::with_capacity(drafts.len());
    let mut grids: BTreeMap<String, ()> = BTreeMap::new();
    let (mut matched, mut unmatched, mut duplicates) = (0, 0, 0);
    for (i, (d, m)) in drafts.iter().zip(&matches).enumerate() {
        let seq = i as i64 + 1;
        let status = if kept_of[i].is_some() {
            duplicates += 1;
            "duplicate"
        } else if m.house_code.is_some() {
            matched += 1;
            if let Some(g) = &m.grid_code {
                grids.insert(g.clone(), ());
            }
            "matched"
        } else {
            unmatched += 1;
            "unmatched"
        };
        let json = serde_json::to_string(&d.fields).map_err(ApiError::internal)?;
        let body = vault.seal(RECORD_KIND, &format!("{id}/{seq}"), &json);
        records.push(CampaignRecordRow {
            district_code: district.clone(),
            campaign_id: id,
            seq,
            source_row: d.source_row,
            address: d.address.clone(),
            name: d.name.clone(),
            id_masked: d.identity.as_deref().map(mask_identity),
            phone_masked: d.phone.as_deref().map(mask_phone),
            body: Some(body),
            house_code: m.house_code.clone(),
            grid_code: m.grid_code.clone(),
            queue_region: (status == "unmatched")
                .then(|| queue_of(m, &region))
                .flatten(),
            confidence: m.confidence,
            reason: m.reason.clone(),
            candidates: candidates_json(m),
            status: status.into(),
            duplicate_of: kept_of[i].map(|r| r as i64 + 1),
            dup_rule: dups[i].map(|(_, rule)| rule.as_str().to_owned()),
            matched_by: None,
            matched_at: None,
            outcome: None,
            notes: None,
            photo: None,
            done_by: None,
            done_at: None,
            version: 1,
        });
    }
    let tasks = tasks_for(state, &district, id, grids.into_keys(), now).await?;
    let campaign = CampaignRow {
        district_code: district.clone(),
        id,
        name: header.name,
        kind: header.kind,
        source: "file".into(),
        source_note: Some(format!(
            "{} rows; address column “{}”",
            records.len(),
            cols.address
        )),
        region_code: region,
        created_by: username.to_owned(),
        created_at: now,
        status: "open".into(),
        form: serde_json::to_string(&header.form).map_err(ApiError::internal)?,
        threshold: header.threshold,
    };
    state
        .store
        .create_campaign(&campaign, &records, &tasks)
        .await?;
    Ok(Created {
        id,
        district,
        records: records.len(),
        matched,
        unmatched,
        duplicates,
        tasks: tasks.len(),
    })
}

/// What a campaign over the registry takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Query {
    /// people | houses
    pub source: String,
    /// people: with this tag.
    pub tag: Option<String>,
    /// houses: of this use (e.g. rental).
    #[serde(rename = "use")]
    pub use_kind: Option<String>,
    /// Narrow to a region within your jurisdiction (e.g. a street).
    pub region: Option<String>,
}

/// Creates a campaign from a query over the registry: each person or house found is a record,
/// matched already (its house and grid are known).
pub async fn create_from_query(
    state: &AppState,
    actor: &Actor,
    username: &str,
    header: Header,
    query: Query,
) -> ApiResult<Created> {
    require_creator(actor)?;
    let (district, mut region) = campaign_place(state, actor, &header)?;
    if let Some(r) = query.region.as_deref().filter(|r| !r.is_empty()) {
        let narrowed = Place::of(actor, Some(r))?;
        match narrowed.prefix {
            Some(p) if p.starts_with(&region) => region = p,
            _ => {
                return Err(ApiError::invalid_field(
                    "region",
                    format!(
                        "region {r} is not within the campaign's district {district} and your jurisdiction"
                    ),
                ));
            }
        }
    }
    let prefix = (region != district).then(|| region.clone());
    let now = state.config.clock.now();
    let id = wangge_domain::new_id();
    let mut records: Vec<CampaignRecordRow> = Vec::new();
    let record =
        |seq: i64, address: String, house: Option<String>, grid: String| CampaignRecordRow {
            district_code: district.clone(),
            campaign_id: id,
            seq,
            source_row: seq,
            address,
            name: None,
            id_masked: None,
            phone_masked: None,
            body: None,
            house_code: house,
            grid_code: Some(grid),
            queue_region: None,
            confidence: 1.0,
            reason: "from the registry".into(),
            candidates: "[]".into(),
            status: "matched".into(),
            duplicate_of: None,
            dup_rule: None,
            matched_by: None,
            matched_at: None,
            outcome: None,
            notes: None,
            photo: None,
            done_by: None,
            done_at: None,
            version: 1,
        };
    const PAGE: i64 = 500;
    let note;
    match query.source.as_str() {
        "people" => {
            let tag = query.tag.clone().filter(|t| !t.is_empty());
            if let Some(t) = &tag
                && !state.config.base_data.tags.iter().any(|k| k == t)
            {
                return Err(ApiError::invalid_field(
                    "tag",
                    format!(
                        "'{t}' is not a tag: expected one of {}",
                        state.config.base_data.tags.join(", ")
                    ),
                ));
            }
            let base = address_base(
                state,
                &Scope {
                    district: district.clone(),
                    prefix: prefix.clone(),
                },
            )
            .await?;
            let mut offset = 0;
            loop {
                let (rows, _) = state
                    .store
                    .people(&PeopleFilter {
                        district: Some(district.clone()),
                        region_prefix: prefix.clone(),
                        tag: tag.clone(),
                        status: Some("active".into()),
                        offset,
                        limit: PAGE,
                        ..Default::default()
                    })
                    .await?;
                let n = rows.len() as i64;
                for p in rows {
                    if records.len() >= MAX_RECORDS {
                        return Err(too_many(records.len() + 1));
                    }
                    let seq = records.len() as i64 + 1;
                    let address = p
                        .house_code
                        .as_deref()
                        .and_then(|h| base.house(h).map(|v| v.address))
                        .unwrap_or_default();
                    let mut r = record(seq, address, p.house_code.clone(), p.grid_code.clone());
                    r.name = Some(p.name.clone());
                    r.id_masked = Some(p.id_masked.clone());
                    r.phone_masked = p.phone_masked.clone();
                    r.reason = format!("registry person {}", p.id);
                    records.push(r);
                }
                if n < PAGE {
                    break;
                }
                offset += PAGE;
            }
            note = format!(
                "people{}",
                tag.map(|t| format!(" tagged {t}")).unwrap_or_default()
            );
        }
        "houses" => {
            let class = query.use_kind.clone().filter(|u| !u.is_empty());
            let class = match class {
                None => None,
                Some(u) => Some(
                    wangge_domain::registry::HouseUse::parse(&u)
                        .ok_or_else(|| {
                            ApiError::invalid_field("use", format!("'{u}' is not a house use"))
                        })?
                        .as_str()
                        .to_owned(),
                ),
            };
            let mut offset = 0;
            loop {
                let (rows, _) = state
                    .store
                    .houses(&RecordFilter {
                        district: Some(district.clone()),
                        region_prefix: prefix.clone(),
                        class: class.clone(),
                        offset,
                        limit: PAGE,
                        ..Default::default()
                    })
                    .await?;
                let n = rows.len() as i64;
                for h in rows {
                    if records.len() >= MAX_RECORDS {
                        return Err(too_many(records.len() + 1));
                    }
                    let seq = records.len() as i64 + 1;
                    records.push(record(seq, h.address, Some(h.house_code), h.grid_code));
                }
                if n < PAGE {
                    break;
                }
                offset += PAGE;
            }
            note = format!(
                "houses{}",
                class.map(|c| format!(" of use {c}")).unwrap_or_default()
            );
        }
        other => {
            return Err(ApiError::invalid_field(
                "source",
                format!("source must be people or houses, not '{other}'"),
            ));
        }
    }
    if records.is_empty() {
        return Err(ApiError::invalid_field(
            "source",
            format!("the query found no {note} in {region}"),
        ));
    }
    let mut grids: Vec<String> = records.iter().filter_map(|r| r.grid_code.clone()).collect();
    grids.sort();
    grids.dedup();
    let tasks = tasks_for(state, &district, id, grids, now).await?;
    let campaign = CampaignRow {
        district_code: district.clone(),
        id,
        name: header.name,
        kind: header.kind,
        source: query.source.clone(),
        source_note: Some(format!("{note} in {region}")),
        region_code: region,
        created_by: username.to_owned(),
        created_at: now,
        status: "open".into(),
        form: serde_json::to_string(&header.form).map_err(ApiError::internal)?,
        threshold: header.threshold,
    };
    state
        .store
        .create_campaign(&campaign, &records, &tasks)
        .await?;
    Ok(Created {
        id,
        district,
        matched: records.len(),
        records: records.len(),
        unmatched: 0,
        duplicates: 0,
        tasks: tasks.len(),
    })
}

/// The access-log line of a full read or an export of campaign records.
pub fn access_line(
    district: &str,
    user: &crate::auth::CurrentUser,
    action: &str,
    key: String,
    purpose: Option<&str>,
    client: Option<String>,
) -> AccessRow {
    AccessRow {
        district_code: district.to_owned(),
        id: wangge_domain::new_id(),
        at: Utc::now(),
        user_id: Some(user.user_id),
        username: user.username.clone(),
        role: user.actor.role.as_str().to_owned(),
        action: action.to_owned(),
        kind: RECORD_KIND.to_owned(),
        record_key: Some(key),
        purpose: purpose.map(str::to_owned),
        client,
    }
}

/// Progress figures of a region: records to verify, done, by outcome.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Progress {
    pub region_code: String,
    pub region_name: String,
    pub total: i64,
    pub done: i64,
    pub by_outcome: BTreeMap<String, i64>,
}

/// The whole campaign's figures.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Totals {
    pub records: i64,
    pub matched: i64,
    pub manual: i64,
    pub unmatched: i64,
    pub duplicates: i64,
    /// Records to verify (matched or matched by hand) and those with a result.
    pub to_verify: i64,
    pub done: i64,
    pub by_outcome: BTreeMap<String, i64>,
}

/// A campaign's figures by grid, community or street, within the reader's view.
pub async fn progress(
    state: &AppState,
    c: &CampaignRow,
    prefix: Option<&str>,
    level: Level,
) -> ApiResult<(Totals, Vec<Progress>)> {
    let rows = state
        .store
        .campaign_progress(&c.district_code, c.id, prefix)
        .await?;
    let atlas = state.atlas();
    let width = match level {
        Level::Street => 9,
        Level::Community => 12,
        _ => 15,
    };
    let mut totals = Totals::default();
    let mut by: BTreeMap<String, Progress> = BTreeMap::new();
    for r in rows {
        totals.records += r.count;
        match r.status.as_str() {
            "matched" => totals.matched += r.count,
            "manual" => totals.manual += r.count,
            "unmatched" => totals.unmatched += r.count,
            _ => totals.duplicates += r.count,
        }
        if !matches!(r.status.as_str(), "matched" | "manual") {
            continue;
        }
        totals.to_verify += r.count;
        let Some(grid) = r.grid_code else { continue };
        let code = grid.get(..width).unwrap_or(&grid).to_owned();
        let p = by.entry(code.clone()).or_insert_with(|| Progress {
            region_name: atlas
                .region(&code)
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            region_code: code,
            ..Default::default()
        });
        p.total += r.count;
        if let Some(o) = r.outcome {
            p.done += r.count;
            totals.done += r.count;
            *p.by_outcome.entry(o.clone()).or_default() += r.count;
            *totals.by_outcome.entry(o).or_default() += r.count;
        }
    }
    Ok((totals, by.into_values().collect()))
}
