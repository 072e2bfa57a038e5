//! The statistics benchmark (`wangge bench stats`): a year of a big district's cases written
//! into a scratch database, then every indicator of the year asked of a real server, cold (a
//! fresh server that must read the evaluation ledger back) and warm (asked again).
//!
//! The year is generated, not played through HTTP (12 million transitions would take hours):
//! each case's timeline is built step by step with the loop's own `decide` and `apply`, so every
//! step is one the loop allows, and stored with its row and its ledger record as intake and the
//! ledger's catch-up would have stored them.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use wangge_domain::case::{CaseState, Source};
use wangge_domain::case_clock::NodeClock;
use wangge_domain::case_loop::{Action, Actor, CaseFacts, CaseStatus, decide};
use wangge_domain::evaluation::code_len;
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_server::AppState;
use wangge_server::cases::{Cached, event_payload, refresh_row};
use wangge_store::{AnyStore, CaseEventRow, CaseRow, LedgerRow, Store};

/// What the benchmark measured.
#[derive(Debug)]
pub struct StatsReport {
    pub cases: i64,
    pub events: u64,
    pub grids: usize,
    pub streets: usize,
    pub generate_seconds: Option<f64>,
    /// The first start of a server on the database: every record read row by row.
    pub first_start_seconds: f64,
    pub cold_seconds: f64,
    pub warm_seconds: f64,
    /// The warm question asked again (answered from the kept summary).
    pub repeat_seconds: f64,
    /// Today's figures after a day's worth of new transitions: only those cases are remade.
    pub today_seconds: f64,
    pub rows: usize,
}

impl StatsReport {
    pub fn summary(&self) -> String {
        format!(
            "stats: {} cases, {} events, {} grids, {} streets: first start {:.2} s, cold {:.2} s, warm {:.2} s, repeated {:.2} s, today {:.3} s ({} rows)",
            self.cases,
            self.events,
            self.grids,
            self.streets,
            self.first_start_seconds,
            self.cold_seconds,
            self.warm_seconds,
            self.repeat_seconds,
            self.today_seconds,
            self.rows
        )
    }
}

/// Generates the year if the database is empty (or reuses the one there), then measures.
pub async fn run(
    store: &AnyStore,
    cases: usize,
    grids: usize,
    seed: u64,
    progress: bool,
) -> Result<StatsReport> {
    let now = Utc::now();
    let mut events = 0;
    let generate_seconds = if store.is_empty().await? {
        let started = Instant::now();
        if !crate::demo::seed(store, grids, seed, 0).await? {
            bail!("the database already holds regions");
        }
        events = generate_year(store, cases, seed, now, progress).await?;
        Some(started.elapsed().as_secs_f64())
    } else {
        eprintln!("bench stats: reusing the cases already in the database");
        None
    };
    let grid_count = store.current_regions(Some("grid"), None).await?.len();
    let street_count = store.current_regions(Some("street"), None).await?.len();
    let case_count = store.count_cases().await?;

    let http = reqwest::Client::new();
    let from = (now - Duration::days(365)).to_rfc3339();
    let to = now.to_rfc3339();
    // A first start ever: the ledger is read row by row; the server then writes its image.
    let (base, state) = start_server(store).await?;
    let token = login(&http, &base).await?;
    let started = Instant::now();
    every_indicator(&http, &base, &token, &from, &to).await?;
    let first_start_seconds = started.elapsed().as_secs_f64();
    state
        .ledger
        .write_image(&state)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;

    // Cold: a restarted server, which reads the image back.
    let (base, state) = start_server(store).await?;
    let token = login(&http, &base).await?;
    let started = Instant::now();
    let rows = every_indicator(&http, &base, &token, &from, &to).await?;
    let cold_seconds = started.elapsed().as_secs_f64();
    // Warm: the ledger in memory, but a question not asked before (the period one second
    // longer), so every figure is counted again rather than taken from the last answer.
    let to_later = (now + Duration::seconds(1)).to_rfc3339();
    let started = Instant::now();
    every_indicator(&http, &base, &token, &from, &to_later).await?;
    let warm_seconds = started.elapsed().as_secs_f64();
    // The same question again, as a wall refreshing its screen asks it.
    let started = Instant::now();
    every_indicator(&http, &base, &token, &from, &to_later).await?;
    let repeat_seconds = started.elapsed().as_secs_f64();

    // Today: a few hundred transitions later, today's dashboard only remakes those cases.
    let moved = advance_some(&state, 300).await?;
    let today = (now - Duration::hours(12)).to_rfc3339();
    let started = Instant::now();
    every_indicator(&http, &base, &token, &today, &Utc::now().to_rfc3339()).await?;
    let today_seconds = started.elapsed().as_secs_f64();
    if progress {
        eprintln!("bench stats: {moved} cases moved before today's figures");
    }
    Ok(StatsReport {
        cases: case_count,
        events,
        grids: grid_count,
        streets: street_count,
        generate_seconds,
        first_start_seconds,
        cold_seconds,
        warm_seconds,
        repeat_seconds,
        today_seconds,
        rows,
    })
}

async fn start_server(store: &AnyStore) -> Result<(String, AppState)> {
    let state = AppState::load(store.clone(), Default::default()).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let served = state.clone();
    tokio::spawn(async move {
        let any: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let _ = wangge_server::serve(served, any, move |addr| {
            let _ = tx.send(addr);
        })
        .await;
    });
    let addr = rx.await.context("the benchmark's server did not start")?;
    Ok((format!("http://{addr}"), state))
}

async fn login(http: &reqwest::Client, base: &str) -> Result<String> {
    let answer: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "demo-admin", "password": "demo"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .context("login answered no token")
}

/// Every unit, every area at every level, every subcategory and every person, for the period;
/// answers the number of rows.
async fn every_indicator(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    from: &str,
    to: &str,
) -> Result<usize> {
    let mut rows = 0;
    let verbose = std::env::var_os("WANGGE_BENCH_VERBOSE").is_some();
    let from = urlencoding(from);
    let to = urlencoding(to);
    for what in [
        "units",
        "areas?level=district",
        "areas?level=street",
        "areas?level=community",
        "areas?level=grid",
        "categories",
        "workers",
    ] {
        let sep = if what.contains('?') { '&' } else { '?' };
        let started = Instant::now();
        // Only the rows are counted: the client's own parsing is not what is measured.
        #[derive(serde::Deserialize)]
        struct Answer {
            rows: Vec<serde::de::IgnoredAny>,
        }
        let answer: Answer = http
            .get(format!(
                "{base}/api/v1/stats/{what}{sep}from={from}&to={to}"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("stats/{what}"))?
            .json()
            .await?;
        rows += answer.rows.len();
        if verbose {
            eprintln!("  {what}: {:.3} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(rows)
}

fn urlencoding(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// The people of the generated year: a grid worker per grid, and the centre's staff.
fn worker_of(grid: &str) -> String {
    format!("w-{grid}")
}

const RECEIVERS: usize = 24;
const DISPATCHERS: usize = 12;
const LEADERS: usize = 6;

/// Writes `cases` cases reported over the year before `now`; answers the number of events.
async fn generate_year(
    store: &AnyStore,
    cases: usize,
    seed: u64,
    now: DateTime<Utc>,
    progress: bool,
) -> Result<u64> {
    let state = AppState::load(store.clone(), Default::default()).await?;
    let grids: Vec<(String, f64, f64)> = store
        .current_regions(Some("grid"), None)
        .await?
        .into_iter()
        .filter_map(|g| {
            use geo::Centroid;
            let c = wangge_server::atlas::parse_geometry(&g.geometry)
                .ok()?
                .centroid()?;
            Some((g.code.clone(), c.x(), c.y()))
        })
        .collect();
    if grids.is_empty() {
        bail!("the generated city has no grids");
    }
    let reference = state.reference();
    let categories: Vec<String> = reference
        .categories()
        .filter(|c| c.kind == "matter" && c.active)
        .map(|c| c.code.clone())
        .collect();
    let units = reference.units().to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7374_6174);
    let start = now - Duration::days(365);
    let started = Instant::now();
    let mut events = 0u64;
    const CHUNK: usize = 20_000;
    let mut done = 0;
    while done < cases {
        let n = CHUNK.min(cases - done);
        let mut batch = Vec::with_capacity(n);
        for i in 0..n {
            // Spread evenly over the year, in office-heavy hours.
            let at = start
                + Duration::seconds(((done + i) as f64 / cases as f64 * 365.0 * 86_400.0) as i64)
                + Duration::minutes(rng.random_range(0..60));
            let (grid, lon, lat) = &grids[rng.random_range(0..grids.len())];
            let category = &categories[rng.random_range(0..categories.len())];
            let district = &grid[..6];
            let district_units: Vec<&str> = units
                .iter()
                .filter(|u| u.district_code.as_deref() == Some(district))
                .map(|u| u.code.as_str())
                .collect();
            // Around the grid's centre, so hotspots have places to form.
            let lon = lon + rng.random_range(-0.0003..0.0003);
            let lat = lat + rng.random_range(-0.0003..0.0003);
            batch.push(one_case(
                &state,
                &mut rng,
                CaseSeed {
                    grid,
                    lon,
                    lat,
                    category,
                    units: &district_units,
                    reported_at: at,
                    now,
                },
            )?);
        }
        events += batch.iter().map(|(_, e)| e.len() as u64).sum::<u64>();
        let mut ledger = Vec::with_capacity(batch.len());
        for (row, timeline) in &batch {
            let record = wangge_server::ledger::case_record(&state, row, timeline, now)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            ledger.push(LedgerRow {
                district_code: row.district_code.clone(),
                case_id: row.id,
                version: row.version,
                updated_at: row.updated_at,
                record: wangge_domain::ledger::encode(&record),
            });
        }
        store.import_cases(&batch).await?;
        store.put_ledger(&ledger).await?;
        done += n;
        if progress {
            let s = started.elapsed().as_secs_f64();
            eprintln!(
                "bench stats: {done}/{cases} cases, {events} events written ({:.0} cases/s)",
                done as f64 / s.max(1e-9)
            );
        }
    }
    Ok(events)
}

struct CaseSeed<'a> {
    grid: &'a str,
    lon: f64,
    lat: f64,
    category: &'a str,
    units: &'a [&'a str],
    reported_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// One case's row and timeline: a report, then the loop as far as the clock has got, each step
/// checked by `decide`. Most cases run to closing; some are voided, returned, reworked; recent
/// ones are still open.
fn one_case(
    state: &AppState,
    rng: &mut ChaCha8Rng,
    seed: CaseSeed<'_>,
) -> Result<(CaseRow, Vec<CaseEventRow>)> {
    let source = match rng.random_range(0..100) {
        0..65 => Source::Patrol,
        65..90 => Source::Hotline12345,
        _ => Source::App,
    };
    let id = wangge_domain::new_id();
    let district = seed.grid[..6].to_owned();
    let worker = worker_of(seed.grid);
    let staff = |rng: &mut ChaCha8Rng, prefix: &str, n: usize| {
        format!("{prefix}{:02}", rng.random_range(0..n))
    };
    let mut status = CaseStatus::reported(source.needs_confirmation());
    let mut clock = NodeClock::next(None, &status, seed.reported_at);
    let reporter = if source == Source::Patrol {
        worker.clone()
    } else {
        staff(rng, "receiver-", RECEIVERS)
    };
    let mut events = vec![CaseEventRow {
        district_code: district.clone(),
        case_id: id,
        seq: 1,
        action: "report".into(),
        actor: reporter.clone(),
        role: Some(
            if source == Source::Patrol {
                Role::GridWorker
            } else {
                Role::Receiver
            }
            .as_str()
            .into(),
        ),
        at: seed.reported_at,
        from_state: None,
        to_state: CaseState::Reported.as_str().into(),
        payload: json!({"category": seed.category, "source": source.as_str()}).to_string(),
    }];
    let facts = CaseFacts {
        id,
        grid_code: seed.grid,
        max_extension: 3,
    };
    let mut at = seed.reported_at;
    // What happens, in order; each step's actor and the minutes before it.
    let mut plan: Vec<(Action, Role, Option<String>, String, i64)> = Vec::new();
    let unit = |rng: &mut ChaCha8Rng| -> String {
        seed.units
            .get(rng.random_range(0..seed.units.len().max(1)))
            .map_or_else(String::new, |u| (*u).to_owned())
    };
    if source.needs_confirmation() {
        plan.push((
            Action::Confirm { note: None },
            Role::GridWorker,
            None,
            worker.clone(),
            rng.random_range(10..180),
        ));
    }
    if rng.random_range(0..100) < 4 {
        plan.push((
            Action::Reject {
                reason: "不属于受理范围".into(),
            },
            Role::Receiver,
            None,
            staff(rng, "receiver-", RECEIVERS),
            rng.random_range(5..60),
        ));
    } else {
        plan.push((
            Action::Register { note: None },
            Role::Receiver,
            None,
            staff(rng, "receiver-", RECEIVERS),
            rng.random_range(5..60),
        ));
        let mut handler = unit(rng);
        plan.push((
            Action::Dispatch {
                unit: handler.clone(),
            },
            Role::Dispatcher,
            None,
            staff(rng, "dispatcher-", DISPATCHERS),
            rng.random_range(5..120),
        ));
        if rng.random_range(0..100) < 5 {
            plan.push((
                Action::Return {
                    reason: "非本部门职责".into(),
                },
                Role::UnitUser,
                Some(handler.clone()),
                format!("u-{handler}"),
                rng.random_range(30..600),
            ));
            handler = unit(rng);
            plan.push((
                Action::Dispatch {
                    unit: handler.clone(),
                },
                Role::Dispatcher,
                None,
                staff(rng, "dispatcher-", DISPATCHERS),
                rng.random_range(5..120),
            ));
        }
        let by_unit = |action: Action, minutes: i64| {
            (
                action,
                Role::UnitUser,
                Some(handler.clone()),
                format!("u-{handler}"),
                minutes,
            )
        };
        plan.push(by_unit(Action::Accept, rng.random_range(10..240)));
        // Most work is done within the day or two a unit has; some runs late.
        let handling = if rng.random_range(0..100) < 12 {
            rng.random_range(2_880..10_080)
        } else {
            rng.random_range(60..2_400)
        };
        plan.push(by_unit(Action::Handle { note: None }, handling));
        if rng.random_range(0..100) < 8 {
            plan.push((
                Action::CheckFail {
                    reason: "仍未整改到位".into(),
                },
                Role::GridWorker,
                None,
                worker.clone(),
                rng.random_range(30..1_440),
            ));
            plan.push(by_unit(
                Action::Handle { note: None },
                rng.random_range(60..2_880),
            ));
        }
        plan.push((
            Action::CheckPass { note: None },
            Role::GridWorker,
            None,
            worker.clone(),
            rng.random_range(30..1_440),
        ));
        plan.push((
            Action::Close { note: None },
            Role::ShiftLeader,
            None,
            staff(rng, "leader-", LEADERS),
            rng.random_range(10..180),
        ));
    }
    for (action, role, unit, actor_id, minutes) in plan {
        let next = at + Duration::minutes(minutes);
        if next > seed.now {
            break;
        }
        at = next;
        let actor = Actor {
            id: actor_id,
            role,
            region: None,
            unit: unit.clone(),
        };
        let to = decide(&status, &facts, &actor, &action)
            .map_err(|e| anyhow::anyhow!("generated step {:?} refused: {e}", action.name()))?;
        let from = status.state;
        status.apply(&action, role, unit.as_deref(), to);
        clock = NodeClock::next(clock.as_ref(), &status, at);
        let extra: Vec<(&str, Value)> = unit
            .iter()
            .map(|u| ("actor_unit", Value::String(u.clone())))
            .collect();
        events.push(CaseEventRow {
            district_code: district.clone(),
            case_id: id,
            seq: events.len() as i64 + 1,
            action: action.name().as_str().into(),
            actor: actor.id,
            role: Some(role.as_str().into()),
            at,
            from_state: Some(from.as_str().into()),
            to_state: to.as_str().into(),
            payload: event_payload(&action, &extra),
        });
    }
    let urgent = false;
    let mut row = CaseRow {
        district_code: district,
        id,
        category_kind: "matter".into(),
        category_code: seed.category.to_owned(),
        description: "生成的案件".into(),
        address: None,
        lon: seed.lon,
        lat: seed.lat,
        grid_code: seed.grid.to_owned(),
        community_code: seed.grid[..code_len(Level::Community)].to_owned(),
        street_code: seed.grid[..code_len(Level::Street)].to_owned(),
        source: source.as_str().into(),
        external_id: None,
        state: String::new(),
        version: events.len() as i64,
        reported_at: seed.reported_at,
        updated_at: at,
        unit_code: None,
        level: String::new(),
        suspended: false,
        urgent,
        status: String::new(),
        node: None,
        node_started_at: None,
        warn_at: None,
        due_at: None,
        component_code: None,
        component_unit: None,
    };
    let category = state.reference().category("matter", seed.category).cloned();
    let cached = Cached { status, clock };
    refresh_row(state, &mut row, &cached, category.as_ref(), at)?;
    Ok((row, events))
}

/// Moves `n` open cases one step on through the real loop (`act`), as a day's work would.
async fn advance_some(state: &AppState, n: usize) -> Result<usize> {
    let filter = wangge_store::CaseFilter {
        states: vec!["reported".into(), "registered".into()],
        limit: n as i64,
        order: wangge_store::CaseOrder::NewestFirst,
        ..Default::default()
    };
    let (rows, _) = state.store.list_cases(&filter).await?;
    let mut moved = 0;
    for row in rows {
        let (action, role) = match row.state.as_str() {
            "registered" => (
                Action::Reject {
                    reason: "重复".into(),
                },
                Role::ShiftLeader,
            ),
            _ => (
                Action::Reject {
                    reason: "不属于受理范围".into(),
                },
                Role::Receiver,
            ),
        };
        let actor = Actor {
            id: "demo-leader".into(),
            role,
            region: None,
            unit: None,
        };
        if wangge_server::cases::act(state, &actor, row.id, row.version, action)
            .await
            .is_ok()
        {
            moved += 1;
        }
    }
    Ok(moved)
}
