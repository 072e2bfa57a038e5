//! Seeding for the command-map benchmark (`benches/map/run.sh`): the demo city of N grids with
//! M open cases spread over the whole city, at random points inside random grids (the demo's own
//! cases sit at grid centres, mostly in one district, which is not what a city's map looks like).
//!
//! Cases go through intake (`report_case`) like any report, then a share of them is registered
//! and dispatched by `act`, so the map shows a mix of states; none is closed.

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wangge_domain::case::{ReportInput, Source};
use wangge_domain::case_loop::{Action, Actor};
use wangge_domain::category::CategoryKind;
use wangge_domain::role::Role;
use wangge_server::AppState;
use wangge_server::cases::{act, report_case};
use wangge_store::{AnyStore, Store};

/// Creates the demo city with `grids` grids (no demo cases) and `cases` open cases. Fails if
/// the database already holds regions.
pub async fn seed_map_city(
    store: &AnyStore,
    grids: usize,
    cases: usize,
    seed: u64,
    progress: bool,
) -> Result<()> {
    if !crate::demo::seed(store, grids, seed, 0).await? {
        bail!("the database already holds regions; give an empty one");
    }
    let state = AppState::load(store.clone(), Default::default()).await?;
    let grid_rows = store.current_regions(Some("grid"), None).await?;
    let boxes: Vec<(String, [f64; 4])> = grid_rows
        .iter()
        .filter_map(|row| {
            use geo::BoundingRect;
            let g = wangge_server::atlas::parse_geometry(&row.geometry).ok()?;
            let r = g.bounding_rect()?;
            Some((
                row.code.clone(),
                [r.min().x, r.min().y, r.max().x, r.max().y],
            ))
        })
        .collect();
    if boxes.is_empty() {
        bail!("the generated city has no grids");
    }
    let matters: Vec<_> = crate::demo::catalogue_rows()
        .into_iter()
        .filter(|c| c.kind == CategoryKind::Matter.as_str())
        .collect();
    let atlas = state.atlas();
    let receiver = Actor {
        id: "demo-receiver".into(),
        role: Role::Receiver,
        region: None,
        unit: None,
    };
    let dispatcher = Actor {
        id: "demo-dispatcher".into(),
        role: Role::Dispatcher,
        region: None,
        unit: None,
    };
    let worker = Actor {
        id: "demo-worker".into(),
        role: Role::GridWorker,
        region: None,
        unit: None,
    };
    let units = state.reference().units().to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d61_7073);
    let started = std::time::Instant::now();
    for n in 0..cases {
        let (code, b) = &boxes[rng.random_range(0..boxes.len())];
        // A random point of the grid's box that lies in the grid itself.
        let mut point = None;
        for _ in 0..20 {
            let lon = rng.random_range(b[0]..=b[2]);
            let lat = rng.random_range(b[1]..=b[3]);
            if atlas.locate_code(lon, lat) == Some(code.as_str()) {
                point = Some((lon, lat));
                break;
            }
        }
        let Some((lon, lat)) = point else { continue };
        let category = &matters[rng.random_range(0..matters.len())];
        let source = Source::ALL[rng.random_range(0..Source::ALL.len())];
        let input = ReportInput {
            category: category.code.clone(),
            description: format!("{}：地图基准案件 {n}", category.name),
            lon: Some(lon),
            lat: Some(lat),
            source: source.as_str().into(),
            external_id: (source != Source::Patrol).then(|| format!("MAP-{n:06}")),
            address: None,
            component_code: None,
        };
        let mut row = report_case(&state, input, None, false, &receiver)
            .await
            .with_context(|| format!("map case {n}"))?;
        // Half stay reported; a quarter are registered; a quarter are dispatched.
        let stage = rng.random_range(0..4);
        if stage >= 2 {
            if source.needs_confirmation() {
                row = act(
                    &state,
                    &worker,
                    row.id,
                    row.version,
                    Action::Confirm { note: None },
                )
                .await?;
            }
            row = act(
                &state,
                &receiver,
                row.id,
                row.version,
                Action::Register { note: None },
            )
            .await?;
            if stage == 3 && row.state == "registered" {
                let unit = wangge_server::cases::suggestion(&state, &row)
                    .unit()
                    .map(str::to_owned)
                    .or_else(|| units.first().map(|u| u.code.clone()));
                if let Some(unit) = unit {
                    act(
                        &state,
                        &dispatcher,
                        row.id,
                        row.version,
                        Action::Dispatch { unit },
                    )
                    .await?;
                }
            }
        }
        if progress && (n + 1) % 5000 == 0 {
            eprintln!(
                "  {} cases ({:.0}/s)",
                n + 1,
                (n + 1) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
