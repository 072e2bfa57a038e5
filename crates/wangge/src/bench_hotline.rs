//! `wangge bench hotline` (issue 8): hotline tickets imported through the same function the API
//! uses (`wangge_server::hotline::import`), each located, matched to the district's cases and
//! either tied to one or made a new case.
//!
//! The set-up: a demo city (when the database is empty), patrol cases spread over the past 30
//! days, then N tickets in the order a platform sends them (by time received), in batches of
//! 1,000: a known share (30 %) 30 m from a patrol case of the same subcategory an hour or a few
//! after it (each must be matched to it), the rest new problems in other subcategories at random
//! places of the city (they become cases, or repeats of a nearby new one). Only the import is
//! timed; the line printed gives tickets/s and the matched count against the expected one.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{Result, bail};
use chrono::{Duration, Utc};
use geo::{BoundingRect, Contains};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wangge_domain::case::ReportInput;
use wangge_domain::case_loop::Actor;
use wangge_domain::hotline::TicketInput;
use wangge_domain::role::Role;
use wangge_server::hotline::{Incoming, import};
use wangge_server::{AppState, Clock, Config};
use wangge_store::{AnyStore, Store};

const BATCH: usize = 1_000;
/// The share of tickets about a patrol case, in per cent.
const MATCHED_PERCENT: usize = 30;

/// Runs the benchmark; prints one figure.
pub async fn run(db: &str, count: usize) -> Result<()> {
    let scratch = if db == "wangge.db" {
        let path = std::env::temp_dir().join(format!(
            "wangge-bench-hotline-{}.db",
            uuid::Uuid::now_v7().simple()
        ));
        eprintln!(
            "bench hotline: not touching the default wangge.db; using {}",
            path.display()
        );
        Some(path)
    } else {
        None
    };
    let url = scratch
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| db.to_owned());
    let out = run_on(&url, count).await;
    if let Some(p) = scratch {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }
    out
}

async fn run_on(url: &str, count: usize) -> Result<()> {
    let store = AnyStore::open(url).await?;
    if store.is_empty().await? {
        eprintln!("bench hotline: seeding a demo city (1,000 grids)…");
        crate::demo::seed(&store, 1_000, 7, 0).await?;
    }
    let real_now = Utc::now();
    let clock = Clock::manual(real_now);
    let state = AppState::load(
        store.clone(),
        Config {
            clock: clock.clone(),
            ..Config::default()
        },
    )
    .await?;

    // Points inside the city's grids.
    let grids: Vec<_> = store
        .current_regions(Some("grid"), None)
        .await?
        .into_iter()
        .filter_map(|r| wangge_server::atlas::parse_geometry(&r.geometry).ok())
        .filter_map(|g| g.bounding_rect().map(|b| (g, b)))
        .collect();
    if grids.is_empty() {
        bail!("the database holds no grids");
    }
    let atlas = state.atlas();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let point = |rng: &mut ChaCha8Rng| -> (f64, f64) {
        loop {
            let (g, b) = &grids[rng.random_range(0..grids.len())];
            let x = rng.random_range(b.min().x..b.max().x);
            let y = rng.random_range(b.min().y..b.max().y);
            if g.contains(&geo::Point::new(x, y)) && atlas.locate(x, y).is_some() {
                return (x, y);
            }
        }
    };
    let matters: Vec<String> = {
        let mut m: Vec<String> = state
            .reference()
            .categories()
            .filter(|c| c.kind == "matter" && c.active)
            .map(|c| c.code.clone())
            .collect();
        m.sort();
        m
    };
    // Patrols report street-order matters (09); the new problems are of other classes, so a
    // new ticket is never matched to a patrol case by chance.
    let patrol_categories: Vec<&String> = matters.iter().filter(|c| c.starts_with("09")).collect();
    let other_categories: Vec<&String> = matters.iter().filter(|c| !c.starts_with("09")).collect();
    if patrol_categories.is_empty() || other_categories.is_empty() {
        bail!("the catalogue lacks the subcategories the benchmark uses");
    }

    let matched_expected = count * MATCHED_PERCENT / 100;
    eprintln!("bench hotline: reporting {matched_expected} patrol cases…");
    let patroller = Actor {
        id: "bench-patrol".into(),
        role: Role::GridWorker,
        region: None,
        unit: None,
    };
    let mut tickets: Vec<(chrono::DateTime<Utc>, TicketInput)> = Vec::with_capacity(count);
    // The patrol case each of the first tickets is about.
    let mut truth: HashMap<String, uuid::Uuid> = HashMap::with_capacity(matched_expected);
    let started = Instant::now();
    for n in 0..matched_expected {
        let at = point(&mut rng);
        let category = patrol_categories[rng.random_range(0..patrol_categories.len())].clone();
        let reported = real_now - Duration::minutes(rng.random_range(60..30 * 24 * 60));
        clock.set(reported);
        let case = wangge_server::cases::report_case(
            &state,
            ReportInput {
                category: category.clone(),
                description: "巡查发现占道经营".into(),
                lon: Some(at.0),
                lat: Some(at.1),
                source: "patrol".into(),
                external_id: None,
                address: None,
                component_code: None,
            },
            None,
            false,
            &patroller,
        )
        .await
        .map_err(|e| anyhow::anyhow!("patrol case {n}: {e}"))?;
        // 30 m north, when that is still in the case's district (tickets are matched within
        // their own district), else on the spot.
        let near = (case.lon, case.lat + 30.0 / 111_195.0);
        let near = match atlas.locate_code(near.0, near.1) {
            Some(g) if g.starts_with(&case.district_code) => near,
            _ => (case.lon, case.lat),
        };
        let received = (reported + Duration::minutes(rng.random_range(10..360))).min(real_now);
        let no = format!("B-M-{n:07}");
        truth.insert(no.clone(), case.id);
        tickets.push((received, ticket(no, near, category, received, n)));
    }
    eprintln!(
        "bench hotline: {matched_expected} patrol cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for n in matched_expected..count {
        let at = point(&mut rng);
        let category = other_categories[rng.random_range(0..other_categories.len())].clone();
        let received = real_now - Duration::minutes(rng.random_range(1..30 * 24 * 60));
        tickets.push((
            received,
            ticket(format!("B-N-{n:07}"), at, category, received, n),
        ));
    }
    drop(atlas);
    tickets.sort_by_key(|(at, _)| *at);
    clock.set(real_now);

    let receiver = Actor {
        id: "bench-receiver".into(),
        role: Role::Receiver,
        region: None,
        unit: None,
    };
    let (mut created, mut matched, mut duplicate, mut right) = (0, 0, 0, 0);
    let started = Instant::now();
    let mut row = 0;
    let mut rest = tickets.into_iter().map(|(_, t)| t).peekable();
    while rest.peek().is_some() {
        let batch: Vec<Incoming> = rest
            .by_ref()
            .take(BATCH)
            .map(|input| {
                row += 1;
                Incoming { row, input }
            })
            .collect();
        let answer = import(&state, &receiver, batch, "ticket", &BTreeMap::new())
            .await
            .map_err(|e| anyhow::anyhow!("import: {} {:?}", e.message, e.details))?;
        created += answer.created;
        matched += answer.matched;
        duplicate += answer.duplicate;
        right += answer
            .results
            .iter()
            .filter(|r| r.how == "matched" && truth.get(&r.ticket_no) == Some(&r.case_id))
            .count();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "bench hotline: {count} tickets imported in {secs:.1} s = {:.0} tickets/s on {} — matched {matched} (expected {matched_expected}, {right} of them to their own patrol case), created {created}, duplicate {duplicate}",
        count as f64 / secs.max(1e-9),
        store.backend_name(),
    );
    if matched != matched_expected {
        eprintln!("bench hotline: matched count differs from the expected one");
    }
    Ok(())
}

fn ticket(
    no: String,
    at: (f64, f64),
    category: String,
    received: chrono::DateTime<Utc>,
    n: usize,
) -> TicketInput {
    TicketInput {
        ticket_no: no,
        channel: if n.is_multiple_of(5) {
            "96181"
        } else {
            "12345"
        }
        .into(),
        text: "市民来电反映此处问题，请处理".into(),
        address: None,
        lon: Some(at.0.to_string()),
        lat: Some(at.1.to_string()),
        category,
        received_at: received.to_rfc3339(),
        caller: Some("市民".into()),
        phone: Some(format!("139{:08}", n % 100_000_000)),
    }
}
