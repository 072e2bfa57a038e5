//! `wangge bench positions` (issue 8): patrol positions ingested as grid workers' phones send
//! them — batches of 500 through the checks and the store write the API handler uses (no HTTP),
//! 20 patrols at once, one fix a second each. Prints `positions/s=…`.
//!
//! With the default database (`wangge.db`) the run uses a fresh temporary SQLite file seeded
//! with a small demo city, so a real database is never filled with benchmark tracks.

use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Duration;
use wangge_server::field_work::{PositionIn, check_positions, ingest};
use wangge_server::{AppState, Config};
use wangge_store::field_work::{FieldWork, PatrolRow};
use wangge_store::{AnyStore, Store};

const BATCH: usize = 500;
const PATROLS: usize = 20;

/// Runs the benchmark; prints one figure.
pub async fn run(db: &str, count: usize) -> Result<()> {
    let temp = (db == "wangge.db").then(|| {
        std::env::temp_dir().join(format!(
            "wangge-bench-positions-{}.db",
            wangge_domain::new_id()
        ))
    });
    let path = temp
        .as_ref()
        .map_or_else(|| db.to_owned(), |p| p.to_string_lossy().into_owned());
    let result = measure(&path, count).await;
    if let Some(p) = temp {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.to_string_lossy()));
        }
    }
    result
}

async fn measure(path: &str, count: usize) -> Result<()> {
    let store = AnyStore::open(path)
        .await
        .with_context(|| format!("opening {path}"))?;
    crate::demo::seed(&store, 120, 7, 0).await?;
    let state = AppState::load(store.clone(), Config::default()).await?;
    let grids: Vec<String> = store
        .current_regions(Some("grid"), None)
        .await?
        .into_iter()
        .map(|r| r.code)
        .collect();
    anyhow::ensure!(!grids.is_empty(), "the demo city has no grids");
    let now = state.config.clock.now();
    let per_patrol = count.div_ceil(PATROLS).max(1);
    let started = now - Duration::seconds(per_patrol as i64 + 60);
    let mut patrols = Vec::new();
    for i in 0..PATROLS {
        let grid = grids[i % grids.len()].clone();
        let p = PatrolRow {
            district_code: grid.get(..6).unwrap_or(&grid).to_owned(),
            id: wangge_domain::new_id(),
            worker_id: wangge_domain::new_id(),
            worker: format!("bench-worker-{i}"),
            grid_code: grid,
            started_at: started,
            ended_at: None,
            length_m: None,
            coverage: None,
            points: 0,
            status: "running".into(),
        };
        store.create_patrol(&p).await?;
        patrols.push(p);
    }
    // Batches made before the clock starts: the phone made them, not the server.
    let mut batches = Vec::new();
    let mut left = count;
    let mut next = [0usize; PATROLS];
    let mut k = 0usize;
    while left > 0 {
        let n = left.min(BATCH);
        let i = k % PATROLS;
        let batch: Vec<PositionIn> = (0..n)
            .map(|j| {
                let s = next[i] + j;
                PositionIn {
                    at: started + Duration::seconds(s as i64),
                    lon: 114.05 + (s % 600) as f64 * 1e-5,
                    lat: 22.54 + (i as f64) * 1e-3 + (s / 600) as f64 * 1e-5,
                    accuracy: Some(8.0),
                }
            })
            .collect();
        next[i] += n;
        batches.push((i, batch));
        left -= n;
        k += 1;
    }
    let t = Instant::now();
    let mut added = 0u64;
    for (i, batch) in &batches {
        let p = &patrols[*i];
        let rows = check_positions(None, batch, p.started_at, now)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        added += ingest(&state, p, &rows)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "positions/s={:.0} positions={added} batches={} batch={BATCH} patrols={PATROLS} seconds={secs:.2} backend={}",
        added as f64 / secs.max(1e-9),
        batches.len(),
        store.backend_name()
    );
    Ok(())
}
