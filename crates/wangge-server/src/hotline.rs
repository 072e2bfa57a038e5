//! Hotline (12345 / 96181) tickets into the case loop (热线+网格, 未诉先办).
//!
//! A ticket pushed by the hotline platform (JSON) or imported from its export (CSV / .xlsx) is
//! located (its position, or its address matched to a house), compared with the district's
//! cases (`wangge_domain::hotline::match_ticket`) and either tied to the case it is about or made
//! a new case with the hotline as its source and the ticket number as its external id. A repeat
//! of a ticket answers what the first import did. When a case with tickets ends, its outcome is
//! written on them and, when a callback URL is configured, posted back to the platform by the
//! background worker (with retries). Grid workers check how hotline cases were handled
//! (回访核查) with verification tasks.
//!
//! Who may do what:
//! - import and push tickets, send verification tasks: the command centre's receivers, shift
//!   leaders, dispatchers and district users, within their jurisdiction;
//! - read tickets and export outcomes: every region role in its jurisdiction (not handling
//!   units);
//! - record a verification result: the grid worker the task was sent to.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wangge_domain::case::{CaseState, ReportInput, Source};
use wangge_domain::case_loop::Actor;
use wangge_domain::hotline::{
    Candidate, Channel, How, Match, MatchRule, Probe, Ticket, TicketError, TicketInput,
    VerificationResult, match_ticket,
};
use wangge_domain::identity::{MobileNumber, mask};
use wangge_domain::position::Position;
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_store::hotline::{
    CallbackState, CandidateRow, Hotline, Outcome, TicketFilter, TicketRow, VerificationFilter,
    VerificationRow,
};
use wangge_store::registry::Registry;
use wangge_store::{CaseEventRow, CaseRow, Store, StoreError};

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::registry::Place;
use crate::state::AppState;

/// Most tickets one push may carry.
pub const MAX_BATCH: usize = 1_000;
/// Largest file one import may send.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// Most rows one import file may hold.
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// Most tickets one list or export answers.
const MAX_LIST: i64 = 100_000;
/// A verification task's default time allowed.
const DEFAULT_DUE_HOURS: i64 = 48;
/// Attempts before a callback is given up as failed.
const MAX_CALLBACK_ATTEMPTS: i64 = 6;
/// The vault's field name for a ticket's caller and phone.
const SEALED_FIELD: &str = "hotline_caller";

/// Imports run one at a time in a server: two imports of the same ticket must not both make a
/// case for it.
static IMPORTS: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));
/// Callbacks are posted by one task at a time, so a ticket is never posted twice at once.
static DELIVERY: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));
/// Wakes the worker when an outcome is waiting to be posted.
static WAKE: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

// ---------------------------------------------------------------------------------------------
// Who may

/// The command centre's desks take hotline tickets in and send verification tasks.
pub fn is_centre(role: Role) -> bool {
    matches!(
        role,
        Role::Receiver | Role::ShiftLeader | Role::Dispatcher | Role::District
    )
}

fn require_centre(actor: &Actor) -> ApiResult<()> {
    if is_centre(actor.role) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "hotline tickets are taken in by receivers, shift leaders, dispatchers and district users",
        ))
    }
}

fn require_reader(actor: &Actor) -> ApiResult<()> {
    if actor.role == Role::UnitUser {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "handling units see their cases, not hotline tickets",
        ))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Import

/// One ticket as pushed by the hotline platform.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketIn {
    /// The platform's ticket number (工单编号), unique per channel.
    pub ticket_no: String,
    /// 12345 or 96181.
    pub channel: String,
    /// The complaint (诉求内容).
    pub text: String,
    pub address: Option<String>,
    /// WGS-84 (or `crs`).
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// The subcategory code (小类) of the catalogue, e.g. 06001.
    pub category: String,
    /// RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` in Beijing time.
    pub received_at: String,
    /// The caller's name: stored masked (and sealed when a vault is configured).
    pub caller: Option<String>,
    pub phone: Option<String>,
}

impl From<TicketIn> for TicketInput {
    fn from(t: TicketIn) -> Self {
        TicketInput {
            ticket_no: t.ticket_no,
            channel: t.channel,
            text: t.text,
            address: t.address,
            lon: t.lon.map(|v| v.to_string()),
            lat: t.lat.map(|v| v.to_string()),
            category: t.category,
            received_at: t.received_at,
            caller: t.caller,
            phone: t.phone,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// At most 1,000 tickets.
    pub tickets: Vec<TicketIn>,
}

/// What became of one ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketResult {
    /// The position in the request (0-based) or the spreadsheet row.
    pub row: usize,
    pub ticket_id: Uuid,
    pub channel: String,
    pub ticket_no: String,
    pub case_id: Uuid,
    /// created | matched | duplicate
    pub how: String,
    pub reason: String,
    /// The case was found on patrol before the citizen called (未诉先办).
    pub patrol_first: bool,
    /// The ticket was stored already by an earlier import: this is that answer.
    pub repeat: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportAnswer {
    pub created: usize,
    pub matched: usize,
    pub duplicate: usize,
    /// Tickets stored before (answered as then, nothing new made).
    pub repeated: usize,
    pub patrol_first: usize,
    pub results: Vec<TicketResult>,
}

/// A problem with one ticket: its row, the column (or field) and what is wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowProblem {
    pub row: usize,
    pub column: String,
    pub message: String,
}

/// A ticket with where it came from in the request.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub row: usize,
    pub input: TicketInput,
}

/// A file's own header of each field it has.
pub type Headers = BTreeMap<&'static str, String>;

/// How the columns of a ticket file are named: the field, then its Chinese headers.
pub const COLUMNS: &[(&str, &[&str])] = &[
    ("ticket_no", &["工单编号", "工单号", "编号"]),
    ("channel", &["渠道", "来源渠道", "热线"]),
    ("text", &["诉求内容", "内容", "反映内容", "问题描述"]),
    ("address", &["地址", "事发地址", "诉求地址"]),
    ("lon", &["经度"]),
    ("lat", &["纬度"]),
    ("category", &["小类", "小类编码", "类别", "分类"]),
    ("received_at", &["来电时间", "受理时间", "时间"]),
    ("caller", &["来电人", "诉求人", "姓名"]),
    ("phone", &["电话", "联系电话", "来电号码", "手机"]),
];

fn normalise_header(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '*' | '＊' | '\u{feff}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The tickets of a table; every bad row is named with its column, all at once.
pub fn tickets_of_table(
    table: &crate::tabular::Table,
) -> Result<(Vec<Incoming>, Headers), Vec<RowProblem>> {
    let mut columns: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut names = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, h) in table.headers.iter().enumerate() {
        let n = normalise_header(h);
        let field = COLUMNS.iter().find(|(f, aliases)| {
            normalise_header(f) == n || aliases.iter().any(|a| normalise_header(a) == n)
        });
        if let Some((f, _)) = field {
            if columns.insert(f, i).is_some() {
                problems.push(RowProblem {
                    row: 1,
                    column: h.clone(),
                    message: format!("a second column for {f}; keep one"),
                });
            }
            names.insert(*f, h.clone());
        }
    }
    for required in ["ticket_no", "channel", "text", "category", "received_at"] {
        if !columns.contains_key(required) {
            let zh = COLUMNS
                .iter()
                .find(|(f, _)| *f == required)
                .and_then(|(_, a)| a.first())
                .copied()
                .unwrap_or("");
            problems.push(RowProblem {
                row: 1,
                column: required.into(),
                message: format!("no column {zh}/{required} in the header row"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if table.rows.len() > MAX_IMPORT_ROWS {
        return Err(vec![RowProblem {
            row: 0,
            column: "file".into(),
            message: format!("at most {MAX_IMPORT_ROWS} tickets per file"),
        }]);
    }
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        for e in &row.errors {
            problems.push(RowProblem {
                row: e.row,
                column: e.column.clone(),
                message: e.message.clone(),
            });
        }
        let cell = |f: &str| {
            columns
                .get(f)
                .and_then(|c| row.cells.get(*c))
                .cloned()
                .unwrap_or_default()
        };
        let opt = |f: &str| Some(cell(f)).filter(|v| !v.is_empty());
        out.push(Incoming {
            row: row.number,
            input: TicketInput {
                ticket_no: cell("ticket_no"),
                channel: cell("channel"),
                text: cell("text"),
                address: opt("address"),
                lon: opt("lon"),
                lat: opt("lat"),
                category: cell("category"),
                received_at: cell("received_at"),
                caller: opt("caller"),
                phone: opt("phone"),
            },
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok((out, names))
}

fn problems_error(mut problems: Vec<RowProblem>, unit: &str) -> ApiError {
    let n = problems.len();
    let first = problems.first().cloned().unwrap_or(RowProblem {
        row: 0,
        column: String::new(),
        message: String::new(),
    });
    problems.truncate(200);
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_rows",
        format!(
            "{n} problems, nothing was stored; the first: {unit} {}, column “{}”: {}",
            first.row, first.column, first.message
        ),
    )
    .with_details(json!({"field": "tickets", "problems": problems, "count": n}))
}

/// A ticket with its place found.
struct Located {
    row: usize,
    ticket: Ticket,
    position: Position,
    located_by: &'static str,
    house_code: Option<String>,
    grid_code: String,
    district: String,
}

fn mask_phone(p: &str) -> String {
    MobileNumber::parse(p)
        .map(|m| m.masked())
        .unwrap_or_else(|_| mask(p, 3, 2))
}

fn mask_name(n: &str) -> String {
    mask(n, 1, 0)
}

/// Checks, locates and matches tickets, then stores them: every ticket becomes a case or is tied
/// to one. Bad tickets fail the whole batch (nothing stored) with every problem named; `unit`
/// says what a row number counts ("row" of a file, "ticket" of a push).
pub async fn import(
    state: &AppState,
    actor: &Actor,
    incoming: Vec<Incoming>,
    unit: &str,
    headers: &BTreeMap<&'static str, String>,
) -> ApiResult<ImportAnswer> {
    require_centre(actor)?;
    let rule = state.config.evaluation.hotline_match;
    let mut problems = Vec::new();
    let mut parsed = Vec::with_capacity(incoming.len());
    // A file's problems name its own headers; a push's name the fields.
    let column = |field: &str| {
        headers
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_owned())
    };
    for inc in incoming {
        match Ticket::parse(inc.input) {
            Ok(t) => parsed.push((inc.row, t)),
            Err(errors) => {
                problems.extend(errors.into_iter().map(|TicketError { field, message }| {
                    RowProblem {
                        row: inc.row,
                        column: column(field),
                        message,
                    }
                }))
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems_error(problems, unit));
    }
    let _one_at_a_time = IMPORTS.lock().await;

    // Repeats: stored before, or twice in this batch.
    let mut by_channel: BTreeMap<Channel, Vec<String>> = BTreeMap::new();
    for (_, t) in &parsed {
        by_channel
            .entry(t.channel)
            .or_default()
            .push(t.ticket_no.clone());
    }
    let mut stored: HashMap<(String, String), TicketRow> = HashMap::new();
    for (channel, numbers) in by_channel {
        for row in state
            .store
            .hotline_tickets_by_number(channel.as_str(), &numbers)
            .await?
        {
            stored.insert((row.channel.clone(), row.ticket_no.clone()), row);
        }
    }

    // Locate the new ones; an address is matched to a house in the importer's jurisdiction.
    let reference = state.reference();
    let atlas = state.atlas();
    let place = Place::of(actor, None)?;
    let mut seen: HashMap<(Channel, String), usize> = HashMap::new();
    let mut fresh: Vec<(usize, Ticket)> = Vec::new();
    let mut answers: Vec<(usize, Option<usize>, Option<TicketRow>)> = Vec::new();
    for (row, t) in parsed {
        let key = (t.channel.as_str().to_owned(), t.ticket_no.clone());
        if let Some(s) = stored.get(&key) {
            answers.push((row, None, Some(s.clone())));
            continue;
        }
        if let Some(first) = seen.get(&(t.channel, t.ticket_no.clone())) {
            answers.push((row, Some(*first), None));
            continue;
        }
        seen.insert((t.channel, t.ticket_no.clone()), fresh.len());
        answers.push((row, Some(fresh.len()), None));
        fresh.push((row, t));
    }
    let by_address: Vec<(usize, String)> = fresh
        .iter()
        .enumerate()
        .filter(|(_, (_, t))| t.position.is_none())
        .filter_map(|(i, (_, t))| t.address.clone().map(|a| (i, a)))
        .collect();
    let mut houses: HashMap<usize, (String, String)> = HashMap::new();
    if !by_address.is_empty() {
        let scopes = crate::campaign::scopes(state, &place);
        let texts = by_address.iter().map(|(_, a)| a.clone()).collect();
        let matches =
            crate::campaign::match_texts(state, &scopes, texts, wangge_address::DEFAULT_THRESHOLD)
                .await?;
        for ((i, _), m) in by_address.iter().zip(matches) {
            if let (Some(h), Some(g)) = (m.house_code, m.grid_code) {
                houses.insert(*i, (h, g));
            } else {
                problems.push(RowProblem {
                    row: fresh[*i].0,
                    column: column("address"),
                    message: format!(
                        "no registered house matches this address ({}); give the position (lon, lat)",
                        m.reason
                    ),
                });
            }
        }
    }
    let mut located = Vec::with_capacity(fresh.len());
    for (i, (row, t)) in fresh.into_iter().enumerate() {
        if reference
            .category("matter", &t.category)
            .is_none_or(|c| !c.active)
        {
            problems.push(RowProblem {
                row,
                column: column("category"),
                message: format!(
                    "{} is not an active subcategory of the catalogue",
                    t.category
                ),
            });
            continue;
        }
        let (position, located_by, house_code) = match (t.position, houses.remove(&i)) {
            (Some(p), _) => (Some(p), "position", None),
            (None, Some((house, grid))) => {
                let district = crate::registry::district_of(&grid).to_owned();
                let h = state.store.house(&district, &house).await?;
                match h.and_then(|h| Position::new(h.lon?, h.lat?).ok()) {
                    Some(p) => (Some(p), "address", Some(house)),
                    None => (grid_point(state, &grid).await?, "grid", Some(house)),
                }
            }
            (None, None) => (None, "", None),
        };
        let Some(position) = position else {
            continue;
        };
        let Some(found) = atlas.locate(position.lon(), position.lat()) else {
            problems.push(RowProblem {
                row,
                column: column(if located_by == "position" {
                    "lon"
                } else {
                    "address"
                }),
                message: format!(
                    "({}, {}) lies outside every grid of the city",
                    position.lon(),
                    position.lat()
                ),
            });
            continue;
        };
        let grid_code = found
            .at(Level::Grid)
            .map(|r| r.code.clone())
            .unwrap_or_default();
        if !place.contains(&grid_code) {
            problems.push(RowProblem {
                row,
                column: column(if located_by == "position" {
                    "lon"
                } else {
                    "address"
                }),
                message: format!("the place lies in grid {grid_code}, outside your jurisdiction"),
            });
            continue;
        }
        let district = found
            .at(Level::District)
            .map(|r| r.code.clone())
            .unwrap_or_else(|| crate::registry::district_of(&grid_code).to_owned());
        located.push(Located {
            row,
            ticket: t,
            position,
            located_by,
            house_code,
            grid_code,
            district,
        });
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.row);
        return Err(problems_error(problems, unit));
    }
    drop(atlas);

    // Match each against its district's cases, in order: a later ticket of the batch may be
    // about a case an earlier one made.
    let mut by_district: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in located.iter().enumerate() {
        by_district.entry(l.district.clone()).or_default().push(i);
    }
    let now = state.config.clock.now();
    let mut rows: Vec<Option<TicketRow>> = vec![None; located.len()];
    let mut finished_cases = Vec::new();
    for (district, members) in by_district {
        let mut categories: Vec<String> = members
            .iter()
            .map(|&i| located[i].ticket.category.clone())
            .collect();
        categories.sort();
        categories.dedup();
        let earliest = members
            .iter()
            .map(|&i| located[i].ticket.received_at)
            .min()
            .unwrap_or(now);
        let latest = members
            .iter()
            .map(|&i| located[i].ticket.received_at)
            .max()
            .unwrap_or(now);
        let (from, _) = rule.window(earliest);
        let (_, to) = rule.window(latest);
        let mut by_category: HashMap<String, Vec<Candidate>> = HashMap::new();
        for c in state
            .store
            .hotline_candidates(&district, &categories, from, to)
            .await?
        {
            if let Some(c) = candidate(c) {
                by_category.entry(c.category.clone()).or_default().push(c);
            }
        }
        for i in members {
            let l = &located[i];
            let t = &l.ticket;
            let list = by_category.entry(t.category.clone()).or_default();
            let m = match_ticket(
                Probe {
                    category: &t.category,
                    position: l.position,
                    received_at: t.received_at,
                },
                list,
                &rule,
            );
            let (case_id, how, reason, link) = match m.link() {
                Some(link) => {
                    let source = list
                        .iter()
                        .find(|c| c.id == link.case_id)
                        .map(|c| c.source)
                        .unwrap_or(Source::Patrol);
                    let how = if source.is_hotline() {
                        How::Duplicate
                    } else {
                        How::Matched
                    };
                    let state_of = list.iter().find(|c| c.id == link.case_id).map(|c| c.state);
                    if state_of.is_some_and(|s| !s.is_open()) {
                        finished_cases.push((district.clone(), link.case_id));
                    }
                    (link.case_id, how, m.reason(&rule), Some(*link))
                }
                None => {
                    let case = create_case(state, actor, l).await?;
                    list.push(Candidate {
                        id: case.id,
                        category: t.category.clone(),
                        position: l.position,
                        reported_at: t.received_at,
                        source: t.channel.source(),
                        state: CaseState::Reported,
                    });
                    (case.id, How::Created, new_case_reason(&m, &rule), None)
                }
            };
            let id = wangge_domain::new_id();
            let sealed = sealed_caller(state, id, t);
            rows[i] = Some(TicketRow {
                district_code: district.clone(),
                id,
                channel: t.channel.as_str().into(),
                ticket_no: t.ticket_no.clone(),
                text: t.text.clone(),
                address: t.address.clone(),
                lon: l.position.lon(),
                lat: l.position.lat(),
                located_by: l.located_by.into(),
                house_code: l.house_code.clone(),
                grid_code: l.grid_code.clone(),
                category_code: t.category.clone(),
                received_at: t.received_at,
                caller_masked: t.caller.as_deref().map(mask_name),
                phone_masked: t.phone.as_deref().map(mask_phone),
                sealed,
                case_id,
                how: how.as_str().into(),
                match_reason: reason,
                distance_m: link.map(|l| (l.distance_m * 10.0).round() / 10.0),
                hours: link.map(|l| (l.hours * 100.0).round() / 100.0),
                patrol_first: link.is_some_and(|l| l.patrol_first),
                imported_by: actor.id.clone(),
                imported_at: now,
                outcome: None,
                outcome_note: None,
                closed_at: None,
                callback_status: None,
                callback_attempts: 0,
                callback_error: None,
                callback_next_at: None,
            });
        }
    }
    let new_rows: Vec<TicketRow> = rows.iter().flatten().cloned().collect();
    state.store.insert_hotline_tickets(&new_rows).await?;
    // A ticket about a case that has ended already gets its outcome now.
    finished_cases.sort();
    finished_cases.dedup();
    for (district, case) in finished_cases {
        if let Err(e) = record_outcome(state, &district, case).await {
            tracing::warn!(error = %e.message, %case, "hotline outcome not recorded");
        }
    }

    // The rows of `located` follow `fresh` order, except rows dropped with a problem (none here).
    let result_of = |row: usize, t: &TicketRow, repeat: bool| TicketResult {
        row,
        ticket_id: t.id,
        channel: t.channel.clone(),
        ticket_no: t.ticket_no.clone(),
        case_id: t.case_id,
        how: t.how.clone(),
        reason: t.match_reason.clone(),
        patrol_first: t.patrol_first,
        repeat,
    };
    let mut results = Vec::with_capacity(answers.len());
    for (row, fresh_index, stored) in answers {
        match (fresh_index, stored) {
            (_, Some(s)) => results.push(result_of(row, &s, true)),
            (Some(k), None) => {
                if let Some(Some(t)) = rows.get(k) {
                    let repeat = located.get(k).is_some_and(|l| l.row != row);
                    results.push(result_of(row, t, repeat));
                }
            }
            (None, None) => {}
        }
    }
    let count = |how: &str| results.iter().filter(|r| !r.repeat && r.how == how).count();
    Ok(ImportAnswer {
        created: count("created"),
        matched: count("matched"),
        duplicate: count("duplicate"),
        repeated: results.iter().filter(|r| r.repeat).count(),
        patrol_first: results
            .iter()
            .filter(|r| !r.repeat && r.patrol_first)
            .count(),
        results,
    })
}

fn new_case_reason(m: &Match, rule: &MatchRule) -> String {
    format!("new case: {}", m.reason(rule))
}

fn candidate(c: CandidateRow) -> Option<Candidate> {
    Some(Candidate {
        id: c.id,
        position: Position::new(c.lon, c.lat).ok()?,
        reported_at: c.reported_at,
        source: c.source.parse().ok()?,
        state: c.state.parse().ok()?,
        category: c.category_code,
    })
}

/// A point inside a grid, for a house registered without a position.
async fn grid_point(state: &AppState, grid: &str) -> Result<Option<Position>, StoreError> {
    use geo::InteriorPoint;
    Ok(state
        .store
        .current_region(grid)
        .await?
        .and_then(|r| crate::atlas::parse_geometry(&r.geometry).ok())
        .and_then(|g| g.interior_point())
        .and_then(|p| Position::new(p.x(), p.y()).ok()))
}

fn sealed_caller(state: &AppState, id: Uuid, t: &Ticket) -> Option<Vec<u8>> {
    let vault = state.config.vault.as_ref()?;
    if t.caller.is_none() && t.phone.is_none() {
        return None;
    }
    let plain = json!({"caller": t.caller, "phone": t.phone}).to_string();
    Some(vault.seal(SEALED_FIELD, &id.to_string(), &plain))
}

async fn create_case(state: &AppState, actor: &Actor, l: &Located) -> ApiResult<CaseRow> {
    let t = &l.ticket;
    let source = t.channel.source();
    let input = ReportInput {
        category: t.category.clone(),
        description: t.text.clone(),
        lon: Some(l.position.lon()),
        lat: Some(l.position.lat()),
        source: source.as_str().into(),
        external_id: Some(t.ticket_no.clone()),
        address: t.address.clone(),
        component_code: None,
    };
    // The importer reports, but only inside their own area; the ticket was checked to be.
    match crate::cases::report_case(state, input, None, false, actor).await {
        Ok(case) => Ok(case),
        // The case of this ticket exists: a earlier import stopped after making it.
        Err(crate::cases::IntakeError::Store(StoreError::Conflict { .. })) => {
            let filter = wangge_store::CaseFilter {
                source: Some(source.as_str().into()),
                region_prefix: Some(l.grid_code.clone()),
                category: Some(t.category.clone()),
                limit: 1000,
                ..Default::default()
            };
            let (cases, _) = state.store.list_cases(&filter).await?;
            cases
                .into_iter()
                .find(|c| c.external_id.as_deref() == Some(t.ticket_no.as_str()))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::CONFLICT,
                        "ticket_case_exists",
                        format!(
                            "a case for ticket {} exists but cannot be found in its grid",
                            t.ticket_no
                        ),
                    )
                })
        }
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ticket",
            format!("ticket {}: {e}", t.ticket_no),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes

/// The outcome of a finished case written on its tickets, with the handling note of its
/// timeline; answers how many tickets it reached.
pub async fn record_outcome(state: &AppState, district: &str, case_id: Uuid) -> ApiResult<u64> {
    // Most cases have no ticket: one indexed read, and no timeline read for them.
    if state
        .store
        .hotline_tickets_of_case(district, case_id)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let Some(case) = state.store.case(case_id).await? else {
        return Ok(0);
    };
    let Ok(st) = case.state.parse::<CaseState>() else {
        return Ok(0);
    };
    if st.is_open() {
        return Ok(0);
    }
    let events = state.store.case_events(district, case_id).await?;
    let note = handling_note(&events);
    let closed_at = events
        .iter()
        .rev()
        .find(|e| e.to_state == case.state && e.from_state.as_deref() != Some(&case.state))
        .map_or(case.updated_at, |e| e.at);
    let pending = state.config.hotline_callback_url.is_some();
    let n = state
        .store
        .record_hotline_outcome(&Outcome {
            district_code: district.to_owned(),
            case_id,
            outcome: case.state.clone(),
            note,
            closed_at,
            callback_status: if pending { "pending" } else { "none" }.into(),
        })
        .await?;
    if n > 0 && pending {
        WAKE.notify_one();
    }
    Ok(n)
}

/// What the handler did and how the case ended, from the timeline's notes.
fn handling_note(events: &[CaseEventRow]) -> Option<String> {
    let note_of = |e: &CaseEventRow| -> Option<String> {
        let v: Value = serde_json::from_str(&e.payload).ok()?;
        ["note", "reason"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let handled = events
        .iter()
        .rev()
        .filter(|e| matches!(e.action.as_str(), "handle" | "self_handle" | "report_part"))
        .find_map(note_of);
    let last = events.last().and_then(note_of);
    match (handled, last) {
        (Some(h), Some(l)) if h != l => Some(format!("{h}；{l}")),
        (Some(h), _) => Some(h),
        (None, l) => l,
    }
}

/// Called after every stored change to a case (never fails the change): a case that has just
/// ended passes its outcome to its tickets, off the request's path.
pub fn on_case_change(state: &AppState, case: &CaseRow, event: &CaseEventRow) {
    let ended = case.state.parse::<CaseState>().is_ok_and(|s| !s.is_open());
    if !ended || event.from_state.as_deref() == Some(case.state.as_str()) {
        return;
    }
    let state = state.clone();
    let (district, id) = (case.district_code.clone(), case.id);
    tokio::spawn(async move {
        match record_outcome(&state, &district, id).await {
            Ok(n) if n > 0 => {
                if let Err(e) = deliver_due(&state).await {
                    tracing::warn!(error = %e, "hotline callbacks not delivered");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e.message, case = %id, "hotline outcome not recorded")
            }
        }
    });
}

/// The JSON posted to the hotline platform when a ticket's case has ended.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallbackBody {
    pub channel: String,
    pub ticket_no: String,
    pub case_id: Uuid,
    /// created | matched | duplicate
    pub how: String,
    /// closed | invalid | merged
    pub outcome: String,
    pub note: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub patrol_first: bool,
}

fn callback_body(t: &TicketRow) -> CallbackBody {
    CallbackBody {
        channel: t.channel.clone(),
        ticket_no: t.ticket_no.clone(),
        case_id: t.case_id,
        how: t.how.clone(),
        outcome: t.outcome.clone().unwrap_or_default(),
        note: t.outcome_note.clone(),
        closed_at: t.closed_at,
        patrol_first: t.patrol_first,
    }
}

/// Posts every callback that is due; answers how many were delivered.
pub async fn deliver_due(state: &AppState) -> Result<usize, StoreError> {
    let Some(url) = state.config.hotline_callback_url.clone() else {
        return Ok(0);
    };
    let _one = DELIVERY.lock().await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| StoreError::Corrupt(format!("http client: {e}")))?;
    let mut delivered = 0;
    let due = state.store.hotline_callbacks_due(Utc::now(), 200).await?;
    for t in due {
        let sent = client.post(&url).json(&callback_body(&t)).send().await;
        let attempts = t.callback_attempts + 1;
        let next = match sent {
            Ok(r) if r.status().is_success() => {
                delivered += 1;
                CallbackState {
                    status: "delivered".into(),
                    attempts,
                    error: None,
                    next_at: None,
                }
            }
            other => {
                let error = match other {
                    Ok(r) => format!("the platform answered {}", r.status()),
                    Err(e) => format!("not delivered: {e}"),
                };
                let failed = attempts >= MAX_CALLBACK_ATTEMPTS;
                // 10 s, 40 s, 160 s, … : a platform down for a while is not hammered.
                let wait = Duration::seconds(10 * 4i64.pow(attempts.clamp(0, 6) as u32 - 1));
                CallbackState {
                    status: if failed { "failed" } else { "pending" }.into(),
                    attempts,
                    error: Some(error),
                    next_at: (!failed).then(|| Utc::now() + wait),
                }
            }
        };
        state
            .store
            .set_hotline_callback(&t.district_code, t.id, &next)
            .await?;
    }
    Ok(delivered)
}

/// Background work started with the server: outcomes of cases whose change was not seen
/// through (the server stopped in between) and callbacks that are due, every few seconds or
/// when woken.
pub fn spawn_worker(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let state = state.clone();
    Some(tokio::spawn(async move {
        // The catch-up of missed outcomes reads a join of every open ticket: once a minute
        // (and at start) is enough for what is only a safety net.
        let mut round: u64 = 0;
        loop {
            let sweep = round.is_multiple_of(12);
            round = round.wrapping_add(1);
            if sweep {
                match state.store.hotline_cases_awaiting_outcome(200).await {
                    Ok(cases) => {
                        for (district, case, _) in cases {
                            if let Err(e) = record_outcome(&state, &district, case).await {
                                tracing::warn!(error = %e.message, %case, "hotline outcome not recorded");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "hotline outcomes not read"),
                }
            }
            if let Err(e) = deliver_due(&state).await {
                tracing::warn!(error = %e, "hotline callbacks not delivered");
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), WAKE.notified()).await;
        }
    }))
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketView {
    pub id: Uuid,
    pub district: String,
    pub channel: String,
    pub ticket_no: String,
    pub text: String,
    pub address: Option<String>,
    pub lon: f64,
    pub lat: f64,
    /// position | address | grid
    pub located_by: String,
    pub house_code: Option<String>,
    pub grid_code: String,
    pub category: String,
    pub received_at: DateTime<Utc>,
    /// Masked (张*).
    pub caller: Option<String>,
    /// Masked (138****8000).
    pub phone: Option<String>,
    pub case_id: Uuid,
    pub how: String,
    pub reason: String,
    pub distance_m: Option<f64>,
    pub hours: Option<f64>,
    pub patrol_first: bool,
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
    pub outcome: Option<String>,
    pub outcome_note: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    /// none | pending | delivered | failed
    pub callback_status: Option<String>,
    pub callback_attempts: i64,
    pub callback_error: Option<String>,
}

impl From<TicketRow> for TicketView {
    fn from(t: TicketRow) -> Self {
        TicketView {
            id: t.id,
            district: t.district_code,
            channel: t.channel,
            ticket_no: t.ticket_no,
            text: t.text,
            address: t.address,
            lon: t.lon,
            lat: t.lat,
            located_by: t.located_by,
            house_code: t.house_code,
            grid_code: t.grid_code,
            category: t.category_code,
            received_at: t.received_at,
            caller: t.caller_masked,
            phone: t.phone_masked,
            case_id: t.case_id,
            how: t.how,
            reason: t.match_reason,
            distance_m: t.distance_m,
            hours: t.hours,
            patrol_first: t.patrol_first,
            imported_by: t.imported_by,
            imported_at: t.imported_at,
            outcome: t.outcome,
            outcome_note: t.outcome_note,
            closed_at: t.closed_at,
            callback_status: t.callback_status,
            callback_attempts: t.callback_attempts,
            callback_error: t.callback_error,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// created | matched | duplicate
    pub how: Option<String>,
    /// 12345 | 96181
    pub channel: Option<String>,
    /// Received on or after this day (YYYY-MM-DD, Beijing).
    pub from: Option<String>,
    /// Received on or before this day.
    pub to: Option<String>,
    /// Only tickets whose case a patrol found first (未诉先办).
    pub patrol_first: Option<bool>,
    /// Narrow to a region within your jurisdiction.
    pub region: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A filter of tickets for a reader: their jurisdiction and the query's narrowing.
pub fn ticket_filter(state: &AppState, actor: &Actor, q: &TicketQuery) -> ApiResult<TicketFilter> {
    let place = Place::of(actor, q.region.as_deref())?;
    let cal = state.calendar();
    let day = |field: &str, text: &Option<String>| -> ApiResult<Option<chrono::NaiveDate>> {
        text.as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| crate::local_day::parse_day(field, t))
            .transpose()
    };
    let how = q.how.clone().filter(|h| !h.is_empty());
    if let Some(h) = &how
        && How::parse(h).is_none()
    {
        return Err(ApiError::invalid_field(
            "how",
            "how must be created, matched or duplicate",
        ));
    }
    let channel = match q.channel.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            Channel::parse(c)
                .ok_or_else(|| {
                    ApiError::invalid_field("channel", "channel must be 12345 or 96181")
                })?
                .as_str()
                .to_owned(),
        ),
    };
    Ok(TicketFilter {
        district: place.district.clone(),
        grid_prefix: place.prefix.clone(),
        how,
        channel,
        received_from: day("from", &q.from)?.map(|d| crate::local_day::day_start(&cal, d)),
        received_to: day("to", &q.to)?.map(|d| crate::local_day::day_end(&cal, d)),
        patrol_first: q.patrol_first,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
        offset: q.offset.unwrap_or(0).max(0),
        ..Default::default()
    })
}

/// A ticket by id, when the reader may see it (others get "not found").
pub async fn find_ticket(state: &AppState, actor: &Actor, id: &str) -> ApiResult<TicketRow> {
    let missing = || ApiError::not_found("not_found", format!("no hotline ticket {id}"));
    let id = Uuid::parse_str(id.trim()).map_err(|_| missing())?;
    let place = Place::of(actor, None)?;
    for d in crate::registry::candidate_districts(state, &place, None) {
        if let Some(t) = state.store.hotline_ticket(&d, id).await?
            && place.contains(&t.grid_code)
        {
            return Ok(t);
        }
    }
    Err(missing())
}

// ---------------------------------------------------------------------------------------------
// Verification tasks (回访核查)

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationView {
    pub id: Uuid,
    pub district: String,
    pub ticket_id: Uuid,
    pub case_id: Uuid,
    pub grid_code: String,
    /// The grid worker's username.
    pub worker: String,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// satisfied | unsatisfied | not_fixed | unreachable
    pub result: Option<String>,
    pub notes: Option<String>,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
}

impl From<VerificationRow> for VerificationView {
    fn from(v: VerificationRow) -> Self {
        VerificationView {
            id: v.id,
            district: v.district_code,
            ticket_id: v.ticket_id,
            case_id: v.case_id,
            grid_code: v.grid_code,
            worker: v.worker,
            assigned_by: v.assigned_by,
            assigned_at: v.assigned_at,
            due_at: v.due_at,
            result: v.result,
            notes: v.notes,
            recorded_by: v.recorded_by,
            recorded_at: v.recorded_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// Hours the worker has (default 48, at most 720).
    pub due_hours: Option<i64>,
}

/// Sends the grid worker of the ticket's grid a verification task.
pub async fn assign_verification(
    state: &AppState,
    actor: &Actor,
    ticket: &TicketRow,
    due_hours: Option<i64>,
) -> ApiResult<VerificationRow> {
    require_centre(actor)?;
    let hours = due_hours.unwrap_or(DEFAULT_DUE_HOURS);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::invalid_field(
            "due_hours",
            "due_hours must be between 1 and 720",
        ));
    }
    let worker = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| {
            u.active
                && u.role == Role::GridWorker.as_str()
                && u.region_code.as_deref() == Some(ticket.grid_code.as_str())
        })
        .min_by(|a, b| a.username.cmp(&b.username))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_grid_worker",
                format!(
                    "grid {} has no active grid worker to send the task to",
                    ticket.grid_code
                ),
            )
        })?;
    let now = state.config.clock.now();
    let row = VerificationRow {
        district_code: ticket.district_code.clone(),
        id: wangge_domain::new_id(),
        ticket_id: ticket.id,
        case_id: ticket.case_id,
        grid_code: ticket.grid_code.clone(),
        worker: worker.username,
        assigned_by: actor.id.clone(),
        assigned_at: now,
        due_at: now + Duration::hours(hours),
        result: None,
        notes: None,
        recorded_by: None,
        recorded_at: None,
    };
    state.store.insert_hotline_verification(&row).await?;
    Ok(row)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultRequest {
    /// satisfied | unsatisfied | not_fixed | unreachable
    pub result: String,
    pub notes: Option<String>,
}

/// A verification task by id, when the user may see it: its worker, or a reader of its grid.
pub async fn find_verification(
    state: &AppState,
    actor: &Actor,
    username: &str,
    id: &str,
) -> ApiResult<VerificationRow> {
    let missing = || ApiError::not_found("not_found", format!("no verification task {id}"));
    let id = Uuid::parse_str(id.trim()).map_err(|_| missing())?;
    let place = Place::of(actor, None)?;
    for d in crate::registry::candidate_districts(state, &place, None) {
        if let Some(v) = state.store.hotline_verification(&d, id).await?
            && (v.worker == username
                || (actor.role != Role::GridWorker && place.contains(&v.grid_code)))
        {
            return Ok(v);
        }
    }
    Err(missing())
}

/// Records what the worker found; only the worker the task was sent to, once.
pub async fn record_result(
    state: &AppState,
    username: &str,
    task: &VerificationRow,
    result: &str,
    notes: Option<String>,
) -> ApiResult<VerificationRow> {
    if task.worker != username {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the grid worker the task was sent to records its result",
        ));
    }
    let result = VerificationResult::parse(result).ok_or_else(|| {
        ApiError::invalid_field(
            "result",
            "result must be satisfied, unsatisfied, not_fixed or unreachable",
        )
    })?;
    let notes = notes.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::invalid_field(
            "notes",
            "notes are at most 2000 characters",
        ));
    }
    let now = state.config.clock.now();
    match state
        .store
        .record_hotline_verification(
            &task.district_code,
            task.id,
            result.as_str(),
            notes.as_deref(),
            username,
            now,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_recorded",
                "this task has a result already",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(VerificationRow {
        result: Some(result.as_str().into()),
        notes,
        recorded_by: Some(username.to_owned()),
        recorded_at: Some(now),
        ..task.clone()
    })
}

// ---------------------------------------------------------------------------------------------
// Export

#[derive(Debug, Serialize)]
struct OutcomeLine {
    #[serde(rename = "工单编号 ticket_no")]
    ticket_no: String,
    #[serde(rename = "渠道 channel")]
    channel: String,
    #[serde(rename = "来电时间 received_at")]
    received_at: String,
    #[serde(rename = "小类 category")]
    category: String,
    #[serde(rename = "地址 address")]
    address: String,
    #[serde(rename = "网格 grid")]
    grid: String,
    #[serde(rename = "来电人 caller")]
    caller: String,
    #[serde(rename = "电话 phone")]
    phone: String,
    #[serde(rename = "案件 case_id")]
    case_id: String,
    #[serde(rename = "关联方式 how")]
    how: String,
    #[serde(rename = "未诉先办 patrol_first")]
    patrol_first: &'static str,
    #[serde(rename = "结果 outcome")]
    outcome: String,
    #[serde(rename = "办理情况 note")]
    note: String,
    #[serde(rename = "办结时间 closed_at")]
    closed_at: String,
    #[serde(rename = "回告 callback")]
    callback: String,
}

/// An instant as the platform writes it: wall-clock time in the working calendar's zone.
fn local(at: DateTime<Utc>, zone: chrono::FixedOffset) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The outcomes of tickets whose cases ended in the period, as CSV (with a BOM) or a workbook;
/// callers masked.
pub fn outcomes_file(
    rows: Vec<TicketRow>,
    format: &str,
    lang: crate::console::Lang,
    zone: chrono::FixedOffset,
) -> ApiResult<Response> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for t in rows {
        w.serialize(OutcomeLine {
            ticket_no: t.ticket_no,
            channel: t.channel,
            received_at: local(t.received_at, zone),
            category: t.category_code,
            address: t.address.unwrap_or_default(),
            grid: t.grid_code,
            caller: t.caller_masked.unwrap_or_default(),
            phone: t.phone_masked.unwrap_or_default(),
            case_id: t.case_id.to_string(),
            how: t.how,
            patrol_first: if t.patrol_first { "是" } else { "否" },
            outcome: t.outcome.unwrap_or_default(),
            note: t.outcome_note.unwrap_or_default(),
            closed_at: t.closed_at.map(|at| local(at, zone)).unwrap_or_default(),
            callback: t.callback_status.unwrap_or_default(),
        })
        .map_err(ApiError::internal)?;
    }
    let csv_bytes = w.into_inner().map_err(ApiError::internal)?;
    let file = format!("wangge-hotline-outcomes-{}", Utc::now().format("%Y%m%d"));
    crate::console::report::download(format, &file, "hotline_outcomes", csv_bytes, lang)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutcomeQuery {
    /// Cases ended on or after this day (YYYY-MM-DD, Beijing).
    pub from: Option<String>,
    /// … and on or before this day.
    pub to: Option<String>,
    /// csv (default) | xlsx
    pub format: Option<String>,
    pub region: Option<String>,
}

pub fn outcome_filter(
    state: &AppState,
    actor: &Actor,
    q: &OutcomeQuery,
) -> ApiResult<TicketFilter> {
    let mut f = ticket_filter(
        state,
        actor,
        &TicketQuery {
            region: q.region.clone(),
            ..Default::default()
        },
    )?;
    let cal = state.calendar();
    let day = |field: &str, text: &Option<String>| -> ApiResult<Option<chrono::NaiveDate>> {
        text.as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| crate::local_day::parse_day(field, t))
            .transpose()
    };
    f.closed_only = true;
    f.closed_from = day("from", &q.from)?.map(|d| crate::local_day::day_start(&cal, d));
    f.closed_to = day("to", &q.to)?.map(|d| crate::local_day::day_end(&cal, d));
    f.limit = MAX_LIST;
    Ok(f)
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Pushes tickets (at most 1,000): each becomes a case or is tied to the case it is about. A
/// ticket stored before answers as it did then. A bad ticket fails the batch with a 422 naming
/// every ticket (by its position) and field; nothing is stored.
#[utoipa::path(post, path = "/api/v1/hotline/tickets", request_body = PushRequest,
    responses((status = 200, body = ImportAnswer), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn push_tickets(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<PushRequest>,
) -> ApiResult<Json<ImportAnswer>> {
    require_centre(&user.actor)?;
    if req.tickets.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_tickets",
            format!(
                "at most {MAX_BATCH} tickets per request, not {}: send them in batches",
                req.tickets.len()
            ),
        )
        .with_details(json!({"field": "tickets", "limit": MAX_BATCH})));
    }
    if req.tickets.is_empty() {
        return Err(ApiError::invalid_field("tickets", "no tickets given"));
    }
    let incoming = req
        .tickets
        .into_iter()
        .enumerate()
        .map(|(row, t)| Incoming {
            row,
            input: t.into(),
        })
        .collect();
    Ok(Json(
        import(&state, &user.actor, incoming, "ticket", &BTreeMap::new()).await?,
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name, a hint to its format.
    pub file_name: Option<String>,
    /// The worksheet of a workbook (default: the first visible one).
    pub sheet: Option<String>,
}

/// Imports the hotline platform's export (CSV or .xlsx as the body). Columns by Chinese or
/// English header: 工单编号/ticket_no, 渠道/channel, 诉求内容/text, 地址/address, 经度/lon, 纬度/lat,
/// 小类/category, 来电时间/received_at, 来电人/caller, 电话/phone. Every bad row is named with its
/// column in one 422; nothing is stored then.
#[utoipa::path(post, path = "/api/v1/hotline/import", params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportAnswer), (status = 403, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn import_file(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ImportQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ImportAnswer>> {
    require_centre(&user.actor)?;
    let answer = import_bytes(&state, &user.actor, body.to_vec(), q.file_name, q.sheet).await?;
    Ok(Json(answer))
}

/// A file's tickets imported (the API and the console's upload).
pub async fn import_bytes(
    state: &AppState,
    actor: &Actor,
    bytes: Vec<u8>,
    file_name: Option<String>,
    sheet: Option<String>,
) -> ApiResult<ImportAnswer> {
    let table = crate::campaign_api::read_upload(bytes, file_name, sheet).await?;
    let (incoming, headers) = tickets_of_table(&table).map_err(|p| problems_error(p, "row"))?;
    if incoming.is_empty() {
        return Err(ApiError::invalid_field("file", "the table has no rows"));
    }
    import(state, actor, incoming, "row", &headers).await
}

/// Tickets in your jurisdiction, newest first.
#[utoipa::path(get, path = "/api/v1/hotline/tickets", params(TicketQuery),
    responses((status = 200, body = Vec<TicketView>)), security(("bearer" = [])))]
pub async fn list_tickets(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<TicketQuery>,
) -> ApiResult<Json<Vec<TicketView>>> {
    require_reader(&user.actor)?;
    let f = ticket_filter(&state, &user.actor, &q)?;
    let rows = state.store.hotline_tickets(&f).await?;
    Ok(Json(rows.into_iter().map(TicketView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/hotline/tickets/{id}",
    responses((status = 200, body = TicketView), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketView>> {
    require_reader(&user.actor)?;
    Ok(Json(find_ticket(&state, &user.actor, &id).await?.into()))
}

/// Outcomes of tickets whose cases ended in the period (CSV with a BOM, or xlsx); callers masked.
#[utoipa::path(get, path = "/api/v1/hotline/outcomes", params(OutcomeQuery),
    responses((status = 200, description = "CSV or xlsx"), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_outcomes(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<OutcomeQuery>,
) -> ApiResult<Response> {
    require_reader(&user.actor)?;
    let format = q.format.clone().unwrap_or_else(|| "csv".into());
    if !matches!(format.as_str(), "csv" | "xlsx") {
        return Err(ApiError::invalid_field(
            "format",
            "format must be csv or xlsx",
        ));
    }
    let f = outcome_filter(&state, &user.actor, &q)?;
    let rows = state.store.hotline_tickets(&f).await?;
    outcomes_file(
        rows,
        &format,
        crate::console::Lang::from_headers(&headers),
        state.calendar().offset(),
    )
}

/// Sends the grid worker of the ticket's grid a verification task (回访核查).
#[utoipa::path(post, path = "/api/v1/hotline/tickets/{id}/verification", request_body = AssignRequest,
    responses((status = 201, body = VerificationView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_verification(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<VerificationView>)> {
    require_centre(&user.actor)?;
    // The body is optional: an empty one takes the defaults.
    let req: AssignRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AssignRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_json",
                e.to_string(),
            )
        })?
    };
    let ticket = find_ticket(&state, &user.actor, &id).await?;
    let due = req.due_hours;
    let row = assign_verification(&state, &user.actor, &ticket, due).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerificationQuery {
    /// Only the tasks sent to you.
    pub mine: Option<bool>,
    /// Only tasks without a result.
    pub open: Option<bool>,
    pub ticket: Option<Uuid>,
}

/// Verification tasks: yours (`mine=true`; a grid worker always sees only theirs), or those of
/// your jurisdiction.
#[utoipa::path(get, path = "/api/v1/hotline/verifications", params(VerificationQuery),
    responses((status = 200, body = Vec<VerificationView>)), security(("bearer" = [])))]
pub async fn list_verifications(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<VerificationQuery>,
) -> ApiResult<Json<Vec<VerificationView>>> {
    require_reader(&user.actor)?;
    let rows = verifications_of(
        &state,
        &user,
        q.mine.unwrap_or(false),
        q.open.unwrap_or(false),
        q.ticket,
    )
    .await?;
    Ok(Json(rows.into_iter().map(VerificationView::from).collect()))
}

/// The tasks a user sees.
pub async fn verifications_of(
    state: &AppState,
    user: &CurrentUser,
    mine: bool,
    open_only: bool,
    ticket: Option<Uuid>,
) -> ApiResult<Vec<VerificationRow>> {
    let place = Place::of(&user.actor, None)?;
    let mine = mine || user.actor.role == Role::GridWorker;
    let f = VerificationFilter {
        district: place.district.clone(),
        grid_prefix: if mine { None } else { place.prefix.clone() },
        worker: mine.then(|| user.username.clone()),
        ticket,
        open_only,
        limit: 500,
    };
    Ok(state.store.hotline_verifications(&f).await?)
}

/// Records what the grid worker found.
#[utoipa::path(post, path = "/api/v1/hotline/verifications/{id}/result", request_body = ResultRequest,
    responses((status = 200, body = VerificationView), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_result(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ResultRequest>,
) -> ApiResult<Json<VerificationView>> {
    let task = find_verification(&state, &user.actor, &user.username, &id).await?;
    let row = record_result(&state, &user.username, &task, &req.result, req.notes).await?;
    Ok(Json(row.into()))
}

/// Routes under `/api/v1`.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/hotline/tickets", get(list_tickets).post(push_tickets))
        .route(
            "/hotline/import",
            post(import_file).layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/hotline/tickets/{id}", get(get_ticket))
        .route(
            "/hotline/tickets/{id}/verification",
            post(post_verification),
        )
        .route("/hotline/outcomes", get(export_outcomes))
        .route("/hotline/verifications", get(list_verifications))
        .route("/hotline/verifications/{id}/result", post(post_result))
}

/// This module's part of `/api/openapi.json` (merged into `api::ApiDoc`).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        push_tickets,
        import_file,
        list_tickets,
        get_ticket,
        export_outcomes,
        post_verification,
        list_verifications,
        post_result
    ),
    components(schemas(
        TicketIn,
        PushRequest,
        TicketResult,
        ImportAnswer,
        RowProblem,
        TicketView,
        VerificationView,
        AssignRequest,
        ResultRequest,
        CallbackBody
    ))
)]
pub struct ApiDoc;

// ---------------------------------------------------------------------------------------------
// Demo

/// Sample data for the demo database: tickets about some of the demo's patrol cases (未诉先办),
/// tickets that become new hotline cases, a repeat caller, a verification task.
pub async fn seed_demo(state: &AppState) -> Result<(), StoreError> {
    if let Err(e) = seed(state).await {
        tracing::warn!(error = %e.message, "hotline demo data not made");
    }
    Ok(())
}

async fn seed(state: &AppState) -> ApiResult<()> {
    let receiver = Actor {
        id: "demo-receiver".into(),
        role: Role::Receiver,
        region: None,
        unit: None,
    };
    let now = state.config.clock.now();
    let (patrols, _) = state
        .store
        .list_cases(&wangge_store::CaseFilter {
            source: Some(Source::Patrol.as_str().into()),
            limit: 12,
            ..Default::default()
        })
        .await?;
    let mut tickets = Vec::new();
    let mut n = 0;
    let mut next_no = || {
        n += 1;
        format!("DEMO12345-{n:04}")
    };
    let fmt = |at: DateTime<Utc>| at.to_rfc3339();
    for (i, c) in patrols.iter().enumerate() {
        // About 30 m north of the patrol's report, a couple of hours after it.
        tickets.push(TicketInput {
            ticket_no: next_no(),
            channel: "12345".into(),
            text: format!("市民来电反映：{}", c.description),
            address: c.address.clone(),
            lon: Some(c.lon.to_string()),
            lat: Some((c.lat + 0.00027).to_string()),
            category: c.category_code.clone(),
            received_at: fmt((c.reported_at + Duration::minutes(90 + 10 * i as i64)).min(now)),
            caller: Some("王先生".into()),
            phone: Some(format!("139{:08}", 10_000_000 + i)),
        });
    }
    // New problems in the demo people's district, some called in twice.
    let atlas = state.atlas();
    // The demo people work in the receiver's district: the new problems are there.
    let home = state
        .store
        .user_by_username("demo-receiver")
        .await?
        .and_then(|u| u.region_code)
        .unwrap_or_default();
    let grids: Vec<String> = state
        .store
        .current_regions(Some("grid"), None)
        .await?
        .into_iter()
        .map(|r| r.code)
        .filter(|c| c.starts_with(&home))
        .take(400)
        .collect();
    let categories: Vec<String> = {
        let mut c: Vec<String> = state
            .reference()
            .categories()
            .filter(|c| c.kind == "matter" && c.active)
            .map(|c| c.code.clone())
            .collect();
        c.sort();
        c
    };
    let mut made: usize = 0;
    let step = (grids.len() / 20).max(1);
    for (i, g) in grids.iter().enumerate().step_by(step) {
        if made >= 18 || categories.is_empty() {
            break;
        }
        let Some(p) = grid_point(state, g).await? else {
            continue;
        };
        if atlas.locate(p.lon(), p.lat()).is_none() {
            continue;
        }
        let category = categories[(i * 7) % categories.len()].clone();
        let received = now - Duration::hours(3 + (i as i64 % 40));
        let input = TicketInput {
            ticket_no: next_no(),
            channel: if i.is_multiple_of(3) {
                "96181"
            } else {
                "12345"
            }
            .into(),
            text: "市民来电：此处问题已持续数日，请尽快处理".into(),
            address: None,
            lon: Some(p.lon().to_string()),
            lat: Some(p.lat().to_string()),
            category: category.clone(),
            received_at: fmt(received),
            caller: Some("李女士".into()),
            phone: Some(format!("138{:08}", 20_000_000 + i)),
        };
        if made.is_multiple_of(4) {
            // The same problem called in again an hour later, 20 m away: a repeat caller (重复件).
            tickets.push(TicketInput {
                ticket_no: next_no(),
                lat: Some((p.lat() + 0.00018).to_string()),
                received_at: fmt(received + Duration::hours(1)),
                ..input.clone()
            });
        }
        tickets.push(input);
        made += 1;
    }
    drop(atlas);
    // Oldest first, as the platform would have sent them.
    tickets.sort_by_key(|t| wangge_domain::hotline::parse_received_at(&t.received_at));
    let incoming = tickets
        .into_iter()
        .enumerate()
        .map(|(row, input)| Incoming { row, input })
        .collect();
    let answer = import(state, &receiver, incoming, "ticket", &BTreeMap::new()).await?;
    // One verification task for the demo worker, when a ticket lies in their grid (or the
    // grid of another worker).
    let leader = Actor {
        id: "demo-leader".into(),
        role: Role::ShiftLeader,
        region: None,
        unit: None,
    };
    let worker_grids: Vec<String> = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| u.role == Role::GridWorker.as_str())
        .filter_map(|u| u.region_code)
        .collect();
    for grid in worker_grids {
        let found = state
            .store
            .hotline_tickets(&TicketFilter {
                district: Some(crate::registry::district_of(&grid).to_owned()),
                grid_prefix: Some(grid.clone()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        if let Some(t) = found.first() {
            assign_verification(state, &leader, t, None).await?;
            break;
        }
    }
    let _ = answer;
    Ok(())
}
