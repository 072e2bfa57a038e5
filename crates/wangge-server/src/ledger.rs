//! Keeps the evaluation ledger (`wangge_domain::ledger`) up to date, in memory and in the
//! `case_ledger` table, so statistics never replay a year of timelines.
//!
//! A case's ledger record is remade from its timeline whenever the case's version moved past
//! the record's. Changes are found two ways: this server's own writes mark their cases
//! (`touch`), and a read asks the store for cases changed since the last catch-up (less a
//! margin for other servers' clocks and commit order), so several servers on one PostgreSQL
//! see each other's work. Catching up is incremental: today's dashboard remakes only the cases
//! that moved since the last read.
//!
//! The first read after a start loads the stored records (cold); a database that has none yet
//! (a new migration, an import) has them made then, and written back.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{OwnedRwLockReadGuard, RwLock};
use uuid::Uuid;
use wangge_domain::case::Source;
use wangge_domain::evaluation::{CaseRecord, ClockRules, node_spans};
use wangge_domain::ledger::{self, Ledger};
use wangge_store::{CaseEventRow, CaseRow, LedgerRow, Store};

use crate::cases::{Cached, clock_limits, timed_steps};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How far back of the last catch-up to look again for changes: covers other servers' clock
/// skew and transactions that committed after a later one.
const MARGIN_MINUTES: i64 = 5;
/// Cases remade per round trip.
const CHUNK: usize = 1_000;
/// Records read per page when loading.
const PAGE: i64 = 20_000;

#[derive(Debug, Default)]
pub struct LedgerCache {
    ledger: Arc<RwLock<Ledger>>,
    /// Cases this server changed since the last catch-up.
    touched: Mutex<HashSet<(String, Uuid)>>,
    /// One catch-up at a time; holds whether the stored records were loaded, and the latest
    /// case change seen.
    progress: tokio::sync::Mutex<Progress>,
}

#[derive(Debug, Default)]
struct Progress {
    loaded: bool,
    watermark: Option<DateTime<Utc>>,
}

/// What a catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Records read from the store (the first time only).
    pub loaded: usize,
    /// Cases whose records were remade from their timelines.
    pub remade: usize,
}

impl LedgerCache {
    /// Marks a case this server just changed.
    pub fn touch(&self, district_code: &str, id: Uuid) {
        if let Ok(mut t) = self.touched.lock() {
            t.insert((district_code.to_owned(), id));
        }
    }

    /// The ledger, caught up with every case change committed before the call.
    pub async fn read(&self, state: &AppState) -> ApiResult<OwnedRwLockReadGuard<Ledger>> {
        self.catch_up(state).await?;
        Ok(self.ledger.clone().read_owned().await)
    }

    /// Loads the stored records if not done yet, then remakes the records of the cases that
    /// changed since.
    pub async fn catch_up(&self, state: &AppState) -> ApiResult<CatchUp> {
        let mut progress = self.progress.lock().await;
        let mut done = CatchUp::default();
        let mut stale: Vec<(String, Uuid)> = Vec::new();
        if !progress.loaded {
            // Read before the pages, so a change made while they load is caught up below.
            progress.watermark = state.store.ledger_watermark().await?;
            let (fresh, unreadable) = load(state).await?;
            done.loaded = fresh.len();
            stale.extend(unreadable);
            *self.ledger.write().await = fresh;
            progress.loaded = true;
        }
        let since = progress
            .watermark
            .map(|w| w - Duration::minutes(MARGIN_MINUTES));
        let changed = state.store.cases_changed_since(since).await?;
        let touched: Vec<(String, Uuid)> = match self.touched.lock() {
            Ok(mut t) => t.drain().collect(),
            Err(_) => Vec::new(),
        };
        {
            let ledger = self.ledger.read().await;
            for c in &changed {
                if ledger.version(c.id) != Some(c.version) {
                    stale.push((c.district_code.clone(), c.id));
                }
            }
        }
        stale.extend(touched);
        stale.sort();
        stale.dedup();
        for chunk in stale.chunks(CHUNK) {
            done.remade += self.remake(state, chunk).await?;
        }
        if let Some(latest) = changed.iter().map(|c| c.updated_at).max() {
            progress.watermark = Some(progress.watermark.map_or(latest, |w| w.max(latest)));
        }
        Ok(done)
    }

    async fn remake(&self, state: &AppState, keys: &[(String, Uuid)]) -> ApiResult<usize> {
        let now = state.config.clock.now();
        let timelines = state.store.timelines_of(keys).await?;
        let mut rows = Vec::with_capacity(timelines.len());
        for (row, events) in &timelines {
            let record = case_record(state, row, events, now)?;
            rows.push(LedgerRow {
                district_code: row.district_code.clone(),
                case_id: row.id,
                version: row.version,
                updated_at: row.updated_at,
                record: ledger::encode(&record),
            });
        }
        state.store.put_ledger(&rows).await?;
        let mut ledger = self.ledger.write().await;
        for r in &rows {
            ledger
                .put_encoded(r.case_id, r.version, &r.record)
                .map_err(ApiError::internal)?;
        }
        Ok(rows.len())
    }
}

/// Every stored record, in pages; answers the ledger and the cases whose records could not be
/// read (to be remade).
async fn load(state: &AppState) -> ApiResult<(Ledger, Vec<(String, Uuid)>)> {
    let mut ledger = Ledger::new();
    let mut unreadable = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.ledger_page(after.take(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.district_code.clone(), last.case_id));
        let full = page.len() as i64 == PAGE;
        for r in page {
            if let Err(e) = ledger.put_encoded(r.case_id, r.version, &r.record) {
                tracing::warn!(case = %r.case_id, error = %e, "ledger: remaking an unreadable record");
                unreadable.push((r.district_code, r.case_id));
            }
        }
        if !full {
            break;
        }
    }
    Ok((ledger, unreadable))
}

/// A case as evaluation reads it: its timeline replayed into node spans on the clock the loop
/// runs on (the category's limits and the working calendar in force now).
pub fn case_record(
    state: &AppState,
    row: &CaseRow,
    events: &[CaseEventRow],
    now: DateTime<Utc>,
) -> ApiResult<CaseRecord> {
    let calendar = state.calendar();
    let reference = state.reference();
    let category = reference.category(&row.category_kind, &row.category_code);
    let (limits, handle) = clock_limits(state, category, row.urgent);
    let steps =
        timed_steps(events).map_err(|e| ApiError::internal(format!("case {}: {e}", row.id)))?;
    let source: Source = row
        .source
        .parse()
        .map_err(|e: wangge_domain::case::CaseError| ApiError::internal(e))?;
    let status = Cached::of(row)?.status;
    let spans = node_spans(
        source.needs_confirmation(),
        row.reported_at,
        &steps,
        ClockRules {
            limits: &limits,
            handle,
            calendar: &calendar,
        },
        now,
    );
    Ok(CaseRecord {
        reporter: events.first().map(|e| e.actor.clone()).unwrap_or_default(),
        merged: status.merged_into.is_some(),
        solved_level: status.solved_level,
        parts: status.parts.iter().map(|p| p.unit.clone()).collect(),
        grid_code: row.grid_code.clone(),
        category_code: row.category_code.clone(),
        source,
        reported_at: row.reported_at,
        lon: row.lon,
        lat: row.lat,
        spans,
    })
}

/// Loads (or first makes) the ledger in the background, so the first dashboard after a start
/// does not wait for it. Meant to be called once after the state is loaded.
pub fn warm_up(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match state.ledger.catch_up(&state).await {
            Ok(done) => tracing::info!(
                loaded = done.loaded,
                remade = done.remade,
                seconds = started.elapsed().as_secs_f64(),
                "evaluation ledger ready"
            ),
            Err(e) => tracing::warn!(error = %e.message, "evaluation ledger: could not catch up"),
        }
    });
}
