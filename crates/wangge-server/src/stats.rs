//! `/api/v1/stats`: the indicators of `docs/indicators.md` for a period, one row per handling
//! unit, area, person or subcategory, counted from the timelines of the cases the caller may see.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wangge_domain::case_loop::Actor;
use wangge_domain::evaluation::{self, Period};
use wangge_domain::ledger::{Ledger, Scope, Summary};
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_store::field_work::{FieldWork, PatrolTotal};
use wangge_store::{Store, UserRow};

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::local_day;
use crate::state::AppState;
use wangge_domain::calendar::WorkingCalendar;

#[derive(Debug, Deserialize, IntoParams)]
pub struct StatsQuery {
    /// Start of the period: a date (Beijing time) like 2026-11-01, or an RFC 3339 instant.
    /// Default: the first of the current month.
    from: Option<String>,
    /// End of the period, exclusive; a date means the end of that day. Default: now.
    to: Option<String>,
    /// For areas: district, street (default), community or grid.
    level: Option<String>,
    /// Only the cases of this region (a code; within the caller's jurisdiction).
    region: Option<String>,
    /// json (default), csv or xlsx.
    format: Option<String>,
    /// Hotspots: the side of a cell in metres (default 100).
    cell_m: Option<f64>,
    /// Hotspots: the fewest cases of one subcategory in a cell that make it one (default 3).
    min: Option<usize>,
}

/// A bound of the period: an RFC 3339 instant, or a day of the calendar (a `to` day included).
fn instant(
    cal: &WorkingCalendar,
    field: &str,
    text: &str,
    end_of_day: bool,
) -> ApiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = local_day::parse_day(field, text).map_err(|_| {
        ApiError::invalid_field(
            field,
            format!("{field} must be a date like 2026-11-01 or an RFC 3339 time"),
        )
    })?;
    Ok(if end_of_day {
        local_day::day_end(cal, day)
    } else {
        local_day::day_start(cal, day)
    })
}

fn period(q: &StatsQuery, cal: &WorkingCalendar, now: DateTime<Utc>) -> ApiResult<Period> {
    let from = match q.from.as_deref() {
        Some(f) => instant(cal, "from", f, false)?,
        None => {
            let today = local_day::day_of(cal, now);
            local_day::day_start(cal, today.with_day0(0).unwrap_or(today))
        }
    };
    let to = match q.to.as_deref() {
        Some(t) => instant(cal, "to", t, true)?,
        None => now,
    };
    if from >= to {
        return Err(ApiError::invalid_field("to", "to must be after from"));
    }
    Ok(Period { from, to })
}

/// Whose cases the caller's figures count: their jurisdiction, narrowed to `region` if asked
/// (as every case list is narrowed).
#[derive(Debug, Clone)]
enum Jurisdiction {
    All,
    Region(String),
    Unit(String),
}

impl Jurisdiction {
    fn of(actor: &Actor, asked: Option<&str>) -> ApiResult<Jurisdiction> {
        if let Some(r) = asked
            && (r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ApiError::invalid_field(
                "region",
                "region must be a region code (digits only)",
            ));
        }
        if actor.role == Role::UnitUser {
            // A unit counts the cases it worked, wherever they are; no unit, nothing.
            return Ok(Jurisdiction::Unit(actor.unit.clone().unwrap_or_default()));
        }
        Ok(match (actor.region.as_deref(), asked) {
            (Some(mine), Some(asked)) if asked.starts_with(mine) => {
                Jurisdiction::Region(asked.to_owned())
            }
            (Some(mine), Some(asked)) if mine.starts_with(asked) => {
                Jurisdiction::Region(mine.to_owned())
            }
            // Outside the caller's region: a prefix no grid code has.
            (Some(_), Some(_)) => Jurisdiction::Region("-".to_owned()),
            (Some(mine), None) => Jurisdiction::Region(mine.to_owned()),
            (None, Some(asked)) => Jurisdiction::Region(asked.to_owned()),
            (None, None) => Jurisdiction::All,
        })
    }

    fn scope(&self) -> Scope<'_> {
        match self {
            Jurisdiction::All => Scope::All,
            Jurisdiction::Region(r) => Scope::Region(r),
            Jurisdiction::Unit(u) => Scope::Unit(u),
        }
    }
}

/// The period of the same length just before, and the same period a year earlier, which rows
/// are compared against.
fn earlier(p: Period) -> (Period, Option<Period>) {
    let previous = Period {
        from: p.from - (p.to - p.from),
        to: p.from,
    };
    let year = chrono::Months::new(12);
    let last_year = p
        .from
        .checked_sub_months(year)
        .zip(p.to.checked_sub_months(year))
        .map(|(from, to)| Period { from, to });
    (previous, last_year)
}

/// `now − then`, two decimals; None unless both are there.
fn change(now: Option<f64>, then: Option<f64>) -> Option<f64> {
    Some(((now? - then?) * 100.0).round() / 100.0)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitRow {
    unit: String,
    unit_name: Option<String>,
    due: u64,
    handled: u64,
    handled_on_time: u64,
    overdue: u64,
    returned: u64,
    rework_count: u64,
    on_time_handling_rate: Option<f64>,
    handling_rate: Option<f64>,
    rework_rate: Option<f64>,
    average_handling_hours: Option<f64>,
    p90_handling_hours: Option<f64>,
    /// Composite score 0–100 (weights in the configuration); null when nothing was due.
    score: Option<f64>,
    /// A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, E below.
    grade: Option<char>,
    /// By score, ties sharing a rank ("1, 2, 2, 4").
    rank: Option<usize>,
    /// The score over the period of the same length just before.
    previous_score: Option<f64>,
    /// `score − previous_score` (环比).
    score_change: Option<f64>,
    /// The score over the same period a year earlier.
    last_year_score: Option<f64>,
    /// `score − last_year_score` (同比).
    score_change_year_on_year: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AreaRow {
    /// The area's code, or the subcategory's.
    code: String,
    name: Option<String>,
    /// The area's level; none for categories.
    level: Option<String>,
    reported: u64,
    registered: u64,
    registered_by_patrol: u64,
    /// Registered cases that came from a citizens' hotline (12345, 96181).
    registered_by_hotline: u64,
    closed: u64,
    cohort_closed: u64,
    cohort_closed_on_time: u64,
    closure_rate: Option<f64>,
    on_time_closure_rate: Option<f64>,
    patrol_share: Option<f64>,
    /// Public reports registered that no patrol had found first (areas only).
    missed: Option<u64>,
    /// 未诉先办: `registered_by_patrol ÷ (registered_by_patrol + missed)` (areas only).
    discovery_rate: Option<f64>,
    /// Hotline reports registered that no patrol had found first (areas only).
    hotline_missed: Option<u64>,
    /// 未诉先办 against the hotline: `registered_by_patrol ÷ (registered_by_patrol +
    /// hotline_missed)` (areas only).
    hotline_discovery_rate: Option<f64>,
    /// `reported ÷` the area's km² (areas only).
    cases_per_km2: Option<f64>,
    solved_share_grid: Option<f64>,
    solved_share_community: Option<f64>,
    solved_share_street: Option<f64>,
    solved_share_district: Option<f64>,
    /// Composite score 0–100; null when nothing was registered.
    score: Option<f64>,
    grade: Option<char>,
    rank: Option<usize>,
    previous_score: Option<f64>,
    score_change: Option<f64>,
    last_year_score: Option<f64>,
    score_change_year_on_year: Option<f64>,
}

fn area_row(
    code: String,
    name: Option<String>,
    level: Option<Level>,
    t: &evaluation::AreaTally,
    earlier: [Option<f64>; 2],
    weights: &evaluation::AreaWeights,
) -> AreaRow {
    let score = t.score(weights);
    AreaRow {
        score,
        grade: None,
        rank: None,
        previous_score: earlier[0],
        score_change: change(score, earlier[0]),
        last_year_score: earlier[1],
        score_change_year_on_year: change(score, earlier[1]),
        name,
        level: level.map(|l| l.as_str().to_owned()),
        closure_rate: t.closure_rate(),
        on_time_closure_rate: t.on_time_closure_rate(),
        patrol_share: t.patrol_share(),
        missed: None,
        discovery_rate: None,
        hotline_missed: None,
        hotline_discovery_rate: None,
        cases_per_km2: None,
        solved_share_grid: t.solved_share(Level::Grid),
        solved_share_community: t.solved_share(Level::Community),
        solved_share_street: t.solved_share(Level::Street),
        solved_share_district: t.solved_share(Level::District),
        code,
        reported: t.reported,
        registered: t.registered,
        registered_by_patrol: t.registered_by_patrol,
        registered_by_hotline: t.registered_by_hotline,
        closed: t.closed,
        cohort_closed: t.cohort_closed,
        cohort_closed_on_time: t.cohort_closed_on_time,
    }
}

/// A person's figures: a grid worker's reports and checks, a receiver's registrations, a
/// dispatcher's dispatches (each counts what that person did).
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonRow {
    username: String,
    display_name: Option<String>,
    role: Option<String>,
    region_code: Option<String>,
    reported: u64,
    valid_reports: u64,
    report_accuracy: Option<f64>,
    confirmed: u64,
    confirmed_on_time: u64,
    on_time_confirm_rate: Option<f64>,
    checked: u64,
    checked_on_time: u64,
    on_time_check_rate: Option<f64>,
    registered: u64,
    registered_on_time: u64,
    on_time_registration_rate: Option<f64>,
    dispatched: u64,
    dispatched_on_time: u64,
    dispatch_returned: u64,
    on_time_dispatch_rate: Option<f64>,
    dispatch_accuracy: Option<f64>,
    registered_voided: u64,
    registration_accuracy: Option<f64>,
    closed: u64,
    closed_on_time: u64,
    on_time_close_rate: Option<f64>,
    /// A grid worker's: confirm and check tasks in their grid undone at the period's end.
    verification_overdue: u64,
    /// A grid worker's: public reports registered in their grid that no patrol found first.
    missed: u64,
    /// Cases registered in the grid worker's grid.
    grid_registered: u64,
    missed_rate: Option<f64>,
    /// A grid worker's: patrols ended in the period (docs/field-work.md).
    patrols: u64,
    /// A grid worker's: the length of those patrols, km.
    patrol_km: Option<f64>,
    /// A grid worker's: the mean share of their grid the patrols covered, %.
    patrol_coverage: Option<f64>,
    /// The composite score of the person's role; null for roles without one.
    score: Option<f64>,
    grade: Option<char>,
    /// Among people of the same role.
    rank: Option<usize>,
}

/// The JSON answer: the period and one row per unit, area, person or category.
#[derive(Debug, Serialize)]
struct StatsAnswer {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: Table,
}

/// Rows of one kind, as the API answers them and the reports write them.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Table {
    Units(Vec<UnitRow>),
    Areas(Vec<AreaRow>),
    People(Vec<PersonRow>),
    Hotspots(Vec<HotspotRow>),
    Days(Vec<DayRow>),
}

/// One day of the trend.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayRow {
    /// The day, YYYY-MM-DD (Beijing time).
    day: String,
    reported: u64,
    registered: u64,
    closed: u64,
    handled: u64,
    handled_on_time: u64,
    /// `handled_on_time ÷ handled` of the day.
    on_time_handling_rate: Option<f64>,
}

/// A place where one subcategory keeps coming back.
#[derive(Debug, Serialize, ToSchema)]
pub struct HotspotRow {
    category_code: String,
    category_name: Option<String>,
    lon: f64,
    lat: f64,
    count: usize,
}

impl Table {
    /// Grades and ranks the rows by their scores.
    fn ranked(mut self) -> Table {
        fn apply<T>(
            rows: &mut [T],
            score: impl Fn(&T) -> Option<f64>,
            set: impl Fn(&mut T, Option<char>, Option<usize>),
        ) {
            let scores: Vec<Option<f64>> = rows.iter().map(&score).collect();
            for ((row, rank), s) in rows.iter_mut().zip(evaluation::rank(&scores)).zip(scores) {
                set(row, s.map(evaluation::grade), rank);
            }
        }
        match &mut self {
            Table::Units(rows) => apply(
                rows,
                |r| r.score,
                |r, g, k| {
                    r.grade = g;
                    r.rank = k;
                },
            ),
            Table::Areas(rows) => apply(
                rows,
                |r| r.score,
                |r, g, k| {
                    r.grade = g;
                    r.rank = k;
                },
            ),
            Table::People(_) | Table::Hotspots(_) | Table::Days(_) => {}
        }
        self
    }

    /// The rows as CSV, headed by the indicator names, fields in declaration order.
    fn csv(&self) -> Result<Vec<u8>, ApiError> {
        fn write<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, ApiError> {
            let mut w = csv::Writer::from_writer(Vec::new());
            for row in rows {
                w.serialize(row).map_err(ApiError::internal)?;
            }
            w.into_inner().map_err(ApiError::internal)
        }
        match self {
            Table::Units(rows) => write(rows),
            Table::Areas(rows) => write(rows),
            Table::People(rows) => write(rows),
            Table::Hotspots(rows) => write(rows),
            Table::Days(rows) => write(rows),
        }
    }
}

/// What a table is counted from: the ledger, the caller's scope, the period.
struct Counting<'a> {
    state: &'a AppState,
    ledger: &'a Ledger,
    scope: Scope<'a>,
    period: Period,
}

impl Counting<'_> {
    fn summary(&self, p: Period) -> std::sync::Arc<Summary> {
        self.state.ledger.summary(
            self.ledger,
            p,
            self.scope,
            self.state.config.evaluation.missed,
        )
    }

    /// The scores of the same rows over the previous period and a year earlier.
    fn earlier_scores<T>(
        &self,
        tally: impl Fn(&Summary) -> std::collections::BTreeMap<String, T>,
        score: impl Fn(&T) -> Option<f64>,
    ) -> std::collections::HashMap<String, [Option<f64>; 2]> {
        let (previous, last_year) = earlier(self.period);
        let mut out: std::collections::HashMap<String, [Option<f64>; 2]> =
            std::collections::HashMap::new();
        for (i, p) in [Some(previous), last_year].into_iter().enumerate() {
            let Some(p) = p else { continue };
            for (k, t) in tally(&self.summary(p)) {
                out.entry(k).or_default()[i] = score(&t);
            }
        }
        out
    }

    fn units(&self) -> Table {
        let reference = self.state.reference();
        let weights = &self.state.config.evaluation.units;
        let earlier = self.earlier_scores(|s| s.units.clone(), |t| t.score(weights));
        Table::Units(
            self.summary(self.period)
                .units
                .clone()
                .into_iter()
                .map(|(unit, t)| {
                    let score = t.score(weights);
                    let [previous, last_year] = earlier.get(&unit).copied().unwrap_or_default();
                    UnitRow {
                        unit_name: reference.unit(&unit).map(|u| u.name.clone()),
                        on_time_handling_rate: t.on_time_handling_rate(),
                        handling_rate: t.handling_rate(),
                        rework_rate: t.rework_rate(),
                        average_handling_hours: t.average_handling_hours(),
                        p90_handling_hours: t.p90_handling_hours(),
                        score,
                        grade: None,
                        rank: None,
                        previous_score: previous,
                        score_change: change(score, previous),
                        last_year_score: last_year,
                        score_change_year_on_year: change(score, last_year),
                        unit,
                        due: t.due,
                        handled: t.handled,
                        handled_on_time: t.handled_on_time,
                        overdue: t.overdue,
                        returned: t.returned,
                        rework_count: t.rework_count,
                    }
                })
                .collect::<Vec<_>>(),
        )
        .ranked()
    }

    fn areas(&self, level: Level) -> Table {
        let atlas = self.state.atlas();
        let weights = &self.state.config.evaluation.areas;
        let earlier = self.earlier_scores(|s| s.areas(level), |t| t.score(weights));
        let summary = self.summary(self.period);
        let len = evaluation::code_len(level);
        let mut missed: std::collections::HashMap<String, evaluation::GridDuty> =
            std::collections::HashMap::new();
        for (grid, d) in &summary.duties {
            if let Some(code) = grid.get(..len) {
                let m = missed.entry(code.to_owned()).or_default();
                m.missed += d.missed;
                m.hotline_missed += d.hotline_missed;
            }
        }
        Table::Areas(
            summary
                .areas(level)
                .into_iter()
                .map(|(code, t)| {
                    let region = atlas.region(&code);
                    let name = region.map(|r| r.name.clone());
                    let km2 = region.map(|r| r.area_m2 / 1e6).filter(|a| *a > 0.0);
                    let e = earlier.get(&code).copied().unwrap_or_default();
                    let m = missed.remove(&code).unwrap_or_default();
                    let mut row = area_row(code, name, Some(level), &t, e, weights);
                    row.missed = Some(m.missed);
                    row.discovery_rate =
                        evaluation::discovery_rate(t.registered_by_patrol, m.missed);
                    row.hotline_missed = Some(m.hotline_missed);
                    row.hotline_discovery_rate = evaluation::hotline_discovery_rate(
                        t.registered_by_patrol,
                        m.hotline_missed,
                    );
                    row.cases_per_km2 =
                        km2.map(|a| (t.reported as f64 / a * 100.0).round() / 100.0);
                    row
                })
                .collect(),
        )
        .ranked()
    }

    fn categories(&self) -> Table {
        let reference = self.state.reference();
        let weights = &self.state.config.evaluation.areas;
        let earlier = self.earlier_scores(|s| s.categories.clone(), |t| t.score(weights));
        Table::Areas(
            self.summary(self.period)
                .categories
                .clone()
                .into_iter()
                .map(|(code, t)| {
                    let name = reference.category("matter", &code).map(|c| c.name.clone());
                    let e = earlier.get(&code).copied().unwrap_or_default();
                    area_row(code, name, None, &t, e, weights)
                })
                .collect(),
        )
        .ranked()
    }

    fn people(&self, users: &[UserRow], patrols: &[PatrolTotal]) -> Table {
        let by_name: std::collections::HashMap<&str, &UserRow> =
            users.iter().map(|u| (u.username.as_str(), u)).collect();
        let summary = self.summary(self.period);
        let mut tallies = summary.people.clone();
        // A worker's patrols over every grid they patrolled: count, metres, and coverage
        // weighted by the number of patrols.
        let mut walked: std::collections::HashMap<&str, (u64, f64, f64)> =
            std::collections::HashMap::new();
        for p in patrols {
            let n = u64::try_from(p.patrols).unwrap_or(0);
            let w = walked.entry(p.worker.as_str()).or_default();
            w.0 += n;
            w.1 += p.length_m;
            w.2 += p.mean_coverage * n as f64;
            tallies.entry(p.worker.clone()).or_default();
        }
        // What a grid owed goes to its grid worker(s), who get a row even if they did nothing.
        let duties = &summary.duties;
        for u in users.iter().filter(|u| u.role == Role::GridWorker.as_str()) {
            let Some(d) = u.region_code.as_ref().and_then(|g| duties.get(g)) else {
                continue;
            };
            let t = tallies.entry(u.username.clone()).or_default();
            t.verification_overdue = d.verification_overdue;
            t.missed = d.missed;
            t.grid_registered = d.registered;
        }
        let days = (self.period.to - self.period.from).num_seconds() as f64 / 86_400.0;
        let weights = &self.state.config.evaluation.people;
        let mut rows: Vec<PersonRow> = tallies
            .into_iter()
            .map(|(username, t)| {
                let user = by_name.get(username.as_str());
                let role = user.and_then(|u| u.role.parse::<Role>().ok());
                let walk = walked.get(username.as_str()).copied();
                let grid_worker = role == Some(Role::GridWorker);
                let round2 = |x: f64| (x * 100.0).round() / 100.0;
                PersonRow {
                    patrols: walk.map_or(0, |w| w.0),
                    patrol_km: grid_worker.then(|| round2(walk.map_or(0.0, |w| w.1) / 1000.0)),
                    patrol_coverage: walk
                        .filter(|w| w.0 > 0)
                        .map(|w| round2(100.0 * w.2 / w.0 as f64)),
                    display_name: user.map(|u| u.display_name.clone()),
                    role: user.map(|u| u.role.clone()),
                    region_code: user.and_then(|u| u.region_code.clone()),
                    report_accuracy: t.report_accuracy(),
                    on_time_confirm_rate: t.on_time_confirm_rate(),
                    on_time_check_rate: t.on_time_check_rate(),
                    on_time_registration_rate: t.on_time_registration_rate(),
                    on_time_dispatch_rate: t.on_time_dispatch_rate(),
                    dispatch_accuracy: t.dispatch_accuracy(),
                    registration_accuracy: t.registration_accuracy(),
                    on_time_close_rate: t.on_time_close_rate(),
                    missed_rate: t.missed_rate(),
                    score: role.and_then(|r| t.score(r, weights, days)),
                    grade: None,
                    rank: None,
                    username,
                    reported: t.reported,
                    valid_reports: t.valid_reports,
                    confirmed: t.confirmed,
                    confirmed_on_time: t.confirmed_on_time,
                    checked: t.checked,
                    checked_on_time: t.checked_on_time,
                    registered: t.registered,
                    registered_on_time: t.registered_on_time,
                    dispatched: t.dispatched,
                    dispatched_on_time: t.dispatched_on_time,
                    dispatch_returned: t.dispatch_returned,
                    registered_voided: t.registered_voided,
                    closed: t.closed,
                    closed_on_time: t.closed_on_time,
                    verification_overdue: t.verification_overdue,
                    missed: t.missed,
                    grid_registered: t.grid_registered,
                }
            })
            .collect();
        // Ranked within each role: a dispatcher is not measured against a grid worker.
        let mut roles: Vec<Option<String>> = rows.iter().map(|r| r.role.clone()).collect();
        roles.sort();
        roles.dedup();
        for role in roles {
            let members: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].role == role).collect();
            let scores: Vec<Option<f64>> = members.iter().map(|&i| rows[i].score).collect();
            for (&i, rank) in members.iter().zip(evaluation::rank(&scores)) {
                rows[i].grade = rows[i].score.map(evaluation::grade);
                rows[i].rank = rank;
            }
        }
        Table::People(rows)
    }

    /// Cases reported in the period, clustered by subcategory and cell.
    fn hotspots(&self, cell_m: f64, min: usize) -> Table {
        let reference = self.state.reference();
        Table::Hotspots(
            self.ledger
                .hotspots(self.period, self.scope, cell_m, min)
                .into_iter()
                .map(|h| HotspotRow {
                    category_name: reference
                        .category("matter", &h.category_code)
                        .map(|c| c.name.clone()),
                    category_code: h.category_code,
                    lon: (h.lon * 1e6).round() / 1e6,
                    lat: (h.lat * 1e6).round() / 1e6,
                    count: h.count,
                })
                .collect(),
        )
    }

    /// Counts per day of the period (Beijing days, or the calendar's).
    fn trend(&self) -> Table {
        let offset = self.state.calendar().offset().local_minus_utc();
        Table::Days(
            self.ledger
                .trend(self.period, self.scope, offset)
                .into_iter()
                .map(|(day, c)| DayRow {
                    day: day.to_string(),
                    on_time_handling_rate: evaluation::rate(c.handled_on_time, c.handled),
                    reported: c.reported,
                    registered: c.registered,
                    closed: c.closed,
                    handled: c.handled,
                    handled_on_time: c.handled_on_time,
                })
                .collect(),
        )
    }
}

fn level_of(text: Option<&str>) -> ApiResult<Level> {
    match text.unwrap_or("street") {
        "district" => Ok(Level::District),
        "street" => Ok(Level::Street),
        "community" => Ok(Level::Community),
        "grid" => Ok(Level::Grid),
        other => Err(ApiError::invalid_field(
            "level",
            format!("unknown level '{other}': expected district, street, community or grid"),
        )),
    }
}

/// Indicators for a period (docs/indicators.md): per handling unit, area, person or
/// subcategory, as JSON, CSV (`format=csv`, UTF-8 with a BOM for Excel) or an Excel workbook
/// (`format=xlsx`; areas get a sheet per level).
#[utoipa::path(get, path = "/api/v1/stats/{what}", params(("what" = String, Path, description = "units, areas, workers, categories or hotspots"), StatsQuery),
    responses((status = 200, description = "one row per unit, area, person or category", body = Object),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn stats(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(what): Path<String>,
    headers: axum::http::HeaderMap,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<axum::response::Response> {
    let Query(q) = query?;
    let p = period(&q, &state.calendar(), state.config.clock.now())?;
    let format = q.format.as_deref().unwrap_or("json");
    if !["json", "csv", "xlsx"].contains(&format) {
        return Err(ApiError::invalid_field(
            "format",
            format!("unknown format '{format}': expected json, csv or xlsx"),
        ));
    }
    let level = level_of(q.level.as_deref())?;
    let cell_m = q.cell_m.unwrap_or(100.0);
    if !(cell_m.is_finite() && (10.0..=10_000.0).contains(&cell_m)) {
        return Err(ApiError::invalid_field(
            "cell_m",
            "cell_m must be between 10 and 10000 metres",
        ));
    }
    let min = q.min.unwrap_or(3).max(1);
    const KINDS: &[&str] = &[
        "units",
        "areas",
        "workers",
        "people",
        "categories",
        "hotspots",
        "trend",
    ];
    if !KINDS.contains(&what.as_str()) {
        return Err(ApiError::not_found(
            "not_found",
            format!(
                "no statistics '{what}': expected units, areas, workers, categories, hotspots or trend"
            ),
        ));
    }
    let jurisdiction = Jurisdiction::of(&user.actor, q.region.as_deref())?;
    let (users, patrols) = if ["workers", "people"].contains(&what.as_str()) {
        let patrols = match &jurisdiction {
            // A handling unit has no grid workers.
            Jurisdiction::Unit(_) => Vec::new(),
            Jurisdiction::Region(r) => state.store.patrol_totals(p.from, p.to, Some(r)).await?,
            Jurisdiction::All => state.store.patrol_totals(p.from, p.to, None).await?,
        };
        (state.store.users().await?, patrols)
    } else {
        (Vec::new(), Vec::new())
    };
    let ledger = state.ledger.read(&state).await?;
    let kind = what.clone();
    let st = state.clone();
    let xlsx = format == "xlsx";
    // Counting a year is CPU work: off the async workers.
    let tables = tokio::task::spawn_blocking(move || {
        let c = Counting {
            state: &st,
            ledger: &ledger,
            scope: jurisdiction.scope(),
            period: p,
        };
        let tables: Vec<(&'static str, Table)> = match kind.as_str() {
            "units" => vec![("units", c.units())],
            "categories" => vec![("categories", c.categories())],
            "hotspots" => vec![("hotspots", c.hotspots(cell_m, min))],
            "trend" => vec![("trend", c.trend())],
            "areas" if xlsx => [
                Level::District,
                Level::Street,
                Level::Community,
                Level::Grid,
            ]
            .into_iter()
            .map(|l| (l.as_str(), c.areas(l)))
            .collect(),
            "areas" => vec![(level.as_str(), c.areas(level))],
            _ => vec![("workers", c.people(&users, &patrols))],
        };
        tables
    })
    .await
    .map_err(ApiError::internal)?;
    answer(format, &what, p, tables, &headers)
}

/// The tables as JSON (the last table's rows), CSV (the first table) or an .xlsx workbook (every
/// table a sheet).
fn answer(
    format: &str,
    what: &str,
    p: Period,
    mut tables: Vec<(&str, Table)>,
    headers: &axum::http::HeaderMap,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let file = format!(
        "wangge-{what}-{}-{}",
        (p.from + chrono::Duration::hours(8)).format("%Y%m%d"),
        (p.to + chrono::Duration::hours(8)).format("%Y%m%d")
    );
    match format {
        "csv" => {
            let mut body = b"\xEF\xBB\xBF".to_vec();
            if let Some((_, table)) = tables.first() {
                body.extend(table.csv()?);
            }
            Ok((
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        "text/csv; charset=utf-8".to_owned(),
                    ),
                    (
                        axum::http::header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.csv\""),
                    ),
                ],
                body,
            )
                .into_response())
        }
        "xlsx" => {
            let lang = crate::console::Lang::from_headers(headers);
            let bytes = crate::console::report::workbook(
                lang,
                &tables
                    .iter()
                    .map(|(sheet, table)| Ok((*sheet, table.csv()?)))
                    .collect::<ApiResult<Vec<_>>>()?,
            )
            .map_err(ApiError::internal)?;
            Ok(crate::console::desks::xlsx_response(
                bytes,
                &format!("{file}.xlsx"),
            ))
        }
        _ => {
            let rows = tables
                .pop()
                .map(|(_, t)| t)
                .unwrap_or(Table::Units(Vec::new()));
            Ok(Json(StatsAnswer {
                from: p.from,
                to: p.to,
                rows,
            })
            .into_response())
        }
    }
}
