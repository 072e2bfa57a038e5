//! Seeding a database with the generated demo city: regions, the national catalogue, handling
//! units, one user per role and a few hundred sample cases.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wangge_domain::case::{ReportInput, Source};
use wangge_domain::case_loop::{Action, Actor};
use wangge_domain::category::{CategoryKind, national_catalogue};
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_domain::unit::DEFAULT_UNIT_KINDS;
use wangge_server::AppState;
use wangge_server::cases::{act, report_case};
use wangge_server::region_import::{ImportOptions, RegionFeature, import_regions};
use wangge_store::{AnyStore, CategoryRow, DispatchRuleRow, Store, UnitRow, UserRow};

use crate::generate::{GeneratedCity, generate_city};

pub const DEMO_PASSWORD: &str = "demo";

pub fn demo_usernames() -> Vec<(String, Role)> {
    let name = |r: Role| match r {
        Role::GridWorker => "demo-worker",
        Role::Receiver => "demo-receiver",
        Role::ShiftLeader => "demo-leader",
        Role::Dispatcher => "demo-dispatcher",
        Role::UnitUser => "demo-unit",
        Role::Community => "demo-community",
        Role::Street => "demo-street",
        Role::District => "demo-district",
        Role::Supervisor => "demo-supervisor",
        Role::Admin => "demo-admin",
    };
    Role::ALL
        .iter()
        .map(|r| (name(*r).to_owned(), *r))
        .collect()
}

pub fn catalogue_rows() -> Vec<CategoryRow> {
    national_catalogue()
        .into_iter()
        .map(|c| CategoryRow {
            kind: c.kind.as_str().into(),
            code: c.code,
            class_code: c.class_code,
            class_name: c.class_name,
            name: c.name,
            registration_standard: c.registration_standard,
            closing_standard: c.closing_standard,
            deadline_amount: i64::from(c.deadline.amount),
            deadline_type: c.deadline.kind.as_str().into(),
            active: true,
            auto_close: false,
            node_limits: "{}".into(),
        })
        .collect()
}

pub fn region_features(city: &GeneratedCity) -> Vec<RegionFeature> {
    city.regions
        .iter()
        .enumerate()
        .map(|(index, r)| RegionFeature {
            index,
            code: r.code.clone(),
            name: r.name.clone(),
            level: r.level,
            parent_code: r.parent_code.clone(),
            area_class: r.area_class,
            geometry: r.geometry(),
        })
        .collect()
}

/// Fills an empty database with the demo city. Returns false (and changes nothing) when the
/// database already holds regions.
pub async fn seed(store: &AnyStore, grids: usize, seed: u64, cases: usize) -> Result<bool> {
    if !store.is_empty().await? {
        return Ok(false);
    }
    let city = generate_city(grids, seed);
    store.upsert_categories(&catalogue_rows()).await?;
    let report = import_regions(
        store,
        region_features(&city),
        Vec::new(),
        &ImportOptions::default(),
    )
    .await?;
    if !report.ok() {
        bail!(
            "the generated city failed validation ({} problems, first: {:?})",
            report.problems.len(),
            report.problems.first()
        );
    }

    let districts: Vec<_> = city.of_level(Level::District).collect();
    let mut units = Vec::new();
    for d in &districts {
        for (kind, name) in DEFAULT_UNIT_KINDS {
            units.push(UnitRow {
                id: wangge_domain::new_id(),
                code: format!("{}-{kind}", d.code),
                name: format!("{}{name}", d.name),
                kind: (*kind).into(),
                district_code: Some(d.code.clone()),
                active: true,
            });
        }
    }
    for s in city.of_level(Level::Street) {
        units.push(UnitRow {
            id: wangge_domain::new_id(),
            code: format!("{}-jiedao", s.code),
            name: format!("{}城市管理科", s.name),
            kind: "jiedao".into(),
            district_code: s.parent_code.clone(),
            active: true,
        });
    }
    store.insert_units(&units).await?;
    for rule in demo_dispatch_rules(&districts, &units) {
        store.insert_dispatch_rule(&rule).await?;
    }

    // The demo's people work at the city centre, so the README's example point is theirs.
    let home_grid = {
        use geo::Contains;
        let centre = geo::Point::new(crate::generate::CENTER.0, crate::generate::CENTER.1);
        city.of_level(Level::Grid)
            .find(|g| g.polygon.contains(&centre))
            .or_else(|| city.of_level(Level::Grid).next())
            .map(|g| g.code.clone())
            .unwrap_or_default()
    };
    let home_district = home_grid.get(..6).unwrap_or_default().to_owned();
    // demo-unit works for the home district's 城管, where the demo rules send street-order cases.
    let home_unit = units
        .iter()
        .find(|u| u.code == format!("{home_district}-chengguan"))
        .or(units.first())
        .map(|u| u.id)
        .unwrap_or_default();
    let first = |level: Level| {
        Some(match level {
            Level::Grid => home_grid.clone(),
            Level::Community => home_grid.get(..12).unwrap_or_default().to_owned(),
            Level::Street => home_grid.get(..9).unwrap_or_default().to_owned(),
            _ => home_grid.get(..6).unwrap_or_default().to_owned(),
        })
    };
    let hash = tokio::task::spawn_blocking(|| wangge_server::auth::hash_password(DEMO_PASSWORD))
        .await?
        .map_err(|e| anyhow::anyhow!(e))?;
    let now = Utc::now();
    let users: Vec<UserRow> = demo_usernames()
        .into_iter()
        .map(|(username, role)| {
            let region_code = match role {
                Role::GridWorker => first(Level::Grid),
                Role::Community => first(Level::Community),
                Role::Street => first(Level::Street),
                Role::UnitUser | Role::Admin => None,
                _ => first(Level::District),
            };
            UserRow {
                id: wangge_domain::new_id(),
                display_name: format!("演示{}", role.zh()),
                username,
                role: role.as_str().into(),
                region_code,
                unit_id: (role == Role::UnitUser).then_some(home_unit),
                password_hash: hash.clone(),
                active: true,
                created_at: now,
            }
        })
        .collect();
    store.insert_users(&users).await?;

    // Sample cases are reported over the past days, so the desks show work due soon and
    // overdue, as a real centre's do.
    let real_now = Utc::now();
    let clock = wangge_server::Clock::manual(real_now);
    let config = wangge_server::Config {
        clock: clock.clone(),
        ..Default::default()
    };
    let state = AppState::load(store.clone(), config).await?;
    let matters: Vec<_> = catalogue_rows()
        .into_iter()
        .filter(|c| c.kind == CategoryKind::Matter.as_str())
        .collect();
    let grid_list: Vec<_> = city.of_level(Level::Grid).collect();
    let home_grids: Vec<_> = grid_list
        .iter()
        .filter(|g| g.code.starts_with(&home_district))
        .copied()
        .collect();
    let home = grid_list.iter().find(|g| g.code == home_grid).copied();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for n in 0..cases {
        // Most cases fall in the demo people's district, some in the demo worker's own grid.
        let grid = match (rng.random_range(0..10), home) {
            (0..2, Some(h)) => h,
            (2..8, _) if !home_grids.is_empty() => {
                home_grids[rng.random_range(0..home_grids.len())]
            }
            _ => grid_list[rng.random_range(0..grid_list.len())],
        };
        let p = &grid.polygon.exterior().0;
        let k = (p.len().max(2) - 1) as f64;
        let (cx, cy) = p
            .iter()
            .take(p.len().saturating_sub(1))
            .fold((0.0, 0.0), |(x, y), c| (x + c.x, y + c.y));
        let (lon, lat) = (cx / k, cy / k);
        let category = &matters[rng.random_range(0..matters.len())];
        let source = Source::ALL[rng.random_range(0..Source::ALL.len())];
        let input = ReportInput {
            category: category.code.clone(),
            description: format!("{}：{}附近发现问题，请核实处理", category.name, grid.name),
            lon: Some(lon),
            lat: Some(lat),
            source: source.as_str().into(),
            external_id: (source != Source::Patrol).then(|| format!("DEMO-{n:05}")),
            address: Some(grid.name.clone()),
            component_code: None,
        };
        let reporter = actor("demo-receiver", Role::Receiver, None);
        let stage = rng.random_range(0..10);
        // How long ago, by how far round the loop the case got: fresh reports wait at intake,
        // some cases in handling are past their deadline, closed ones are days old.
        let age_minutes = match stage {
            0..2 => rng.random_range(2..40),
            2..4 => rng.random_range(30..720),
            4..6 => rng.random_range(60..4320),
            6 => rng.random_range(60..1440),
            _ => rng.random_range(1440..4320),
        };
        clock.set(real_now - chrono::Duration::minutes(age_minutes));
        let case = report_case(&state, input, None, false, &reporter)
            .await
            .with_context(|| format!("sample case {n}"))?;
        advance(
            &state,
            case,
            stage,
            &units[rng.random_range(0..units.len())].code,
        )
        .await?;
    }
    clock.set(real_now);
    wangge_server::open311::seed_demo(&state).await?;
    // Hotline tickets are about the sample cases and make cases of their own: a city asked for
    // without sample cases (benchmarks, tests that count cases) gets none.
    if cases > 0 {
        wangge_server::hotline::seed_demo(&state).await?;
    }
    wangge_server::field_work::seed_demo(&state).await?;
    wangge_server::notices::seed_demo(&state).await?;
    Ok(true)
}

/// Who handles what in the demo: each district's units by category class; street-cleaning
/// matters go out without a dispatcher.
fn demo_dispatch_rules(
    districts: &[&crate::generate::GenRegion],
    units: &[UnitRow],
) -> Vec<DispatchRuleRow> {
    const BY_CLASS: &[(&str, &str, bool)] = &[
        ("01", "shizheng", false),
        ("02", "jiaotong", false),
        ("03", "huanwei", true),
        ("04", "yuanlin", false),
        ("05", "zhujian", false),
        ("06", "huanwei", true),
        ("07", "chengguan", false),
        ("08", "zhujian", false),
        ("09", "chengguan", false),
        ("10", "chengguan", false),
    ];
    let mut rules = Vec::new();
    for d in districts {
        for (class, kind, auto_dispatch) in BY_CLASS {
            let code = format!("{}-{kind}", d.code);
            if units.iter().any(|u| u.code == code) {
                rules.push(DispatchRuleRow {
                    id: wangge_domain::new_id(),
                    category_code: Some((*class).into()),
                    region_code: Some(d.code.clone()),
                    component_unit: None,
                    unit_code: code,
                    auto_dispatch: *auto_dispatch,
                    created_at: Utc::now(),
                });
            }
        }
    }
    rules
}

fn actor(id: &str, role: Role, unit: Option<&str>) -> Actor {
    Actor {
        id: id.into(),
        role,
        region: None,
        unit: unit.map(Into::into),
    }
}

/// Takes a sample case some way round the loop, so every desk of the demo has work: stage 0–1
/// stays reported, 2 registered, 3 dispatched, 4–5 in progress, 6 handled, 7–9 closed.
async fn advance(
    state: &AppState,
    case: wangge_store::CaseRow,
    stage: u32,
    fallback_unit: &str,
) -> Result<()> {
    let mut row = case;
    async fn step(
        state: &AppState,
        row: &wangge_store::CaseRow,
        role: Role,
        unit: Option<String>,
        action: Action,
    ) -> Result<wangge_store::CaseRow> {
        let who = actor(&format!("demo-{}", role.as_str()), role, unit.as_deref());
        // Each step some time after the last, never in the future.
        let clock = &state.config.clock;
        clock.set((clock.now() + chrono::Duration::minutes(35)).min(Utc::now()));
        Ok(act(state, &who, row.id, row.version, action).await?)
    }
    if stage < 2 {
        return Ok(());
    }
    if Source::ALL
        .iter()
        .any(|s| s.as_str() == row.source && s.needs_confirmation())
    {
        row = step(
            state,
            &row,
            Role::GridWorker,
            None,
            Action::Confirm {
                note: Some("现场核实属实".into()),
            },
        )
        .await?;
    }
    row = step(
        state,
        &row,
        Role::Receiver,
        None,
        Action::Register { note: None },
    )
    .await?;
    if stage < 3 {
        return Ok(());
    }
    if row.state == "registered" {
        let unit = wangge_server::cases::suggestion(state, &row)
            .unit()
            .unwrap_or(fallback_unit)
            .to_owned();
        row = step(
            state,
            &row,
            Role::Dispatcher,
            None,
            Action::Dispatch { unit },
        )
        .await?;
    }
    let unit = row.unit_code.clone();
    if stage < 4 {
        return Ok(());
    }
    row = step(state, &row, Role::UnitUser, unit.clone(), Action::Accept).await?;
    if stage < 6 {
        return Ok(());
    }
    row = step(
        state,
        &row,
        Role::UnitUser,
        unit,
        Action::Handle {
            note: Some("已处置完毕".into()),
        },
    )
    .await?;
    if stage < 7 {
        return Ok(());
    }
    row = step(
        state,
        &row,
        Role::GridWorker,
        None,
        Action::CheckPass {
            note: Some("核查通过".into()),
        },
    )
    .await?;
    step(
        state,
        &row,
        Role::ShiftLeader,
        None,
        Action::Close { note: None },
    )
    .await?;
    Ok(())
}
