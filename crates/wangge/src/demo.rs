//! Seeding a database with the generated demo city: regions, the national catalogue, handling
//! units, one user per role and a few hundred sample cases.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wangge_domain::case::{ReportInput, Source};
use wangge_domain::category::{CategoryKind, national_catalogue};
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_domain::unit::DEFAULT_UNIT_KINDS;
use wangge_server::AppState;
use wangge_server::cases::{Actor, report_case};
use wangge_server::region_import::{ImportOptions, RegionFeature, import_regions};
use wangge_store::{AnyStore, CategoryRow, Store, UnitRow, UserRow};

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

fn hash_password(password: &str) -> Result<String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the demo password failed: {e}"))
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

    let first = |level| city.of_level(level).next().map(|r| r.code.clone());
    let hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD)).await??;
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
                unit_id: (role == Role::UnitUser).then(|| units[0].id),
                password_hash: hash.clone(),
                active: true,
                created_at: now,
            }
        })
        .collect();
    store.insert_users(&users).await?;

    let state = AppState::load(store.clone(), Default::default()).await?;
    let matters: Vec<_> = catalogue_rows()
        .into_iter()
        .filter(|c| c.kind == CategoryKind::Matter.as_str())
        .collect();
    let grid_list: Vec<_> = city.of_level(Level::Grid).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let worker = Actor {
        id: "demo-worker".into(),
        role: Some(Role::GridWorker.as_str().into()),
    };
    for n in 0..cases {
        let grid = grid_list[rng.random_range(0..grid_list.len())];
        let p = grid.polygon.exterior().0.clone();
        // A point inside the grid: a blend of its ring towards its first corner's centre.
        let (cx, cy) = p.iter().fold((0.0, 0.0), |(x, y), c| (x + c.x, y + c.y));
        let k = p.len() as f64;
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
        };
        report_case(&state, input, None, &worker)
            .await
            .with_context(|| format!("sample case {n}"))?;
    }
    Ok(true)
}
