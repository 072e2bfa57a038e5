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
use wangge_domain::evaluation::{CaseRecord, ClockRules, MissedRule, Period, node_spans};
use wangge_domain::ledger::{self, Ledger, Scope, Summary};
use wangge_store::{CaseEventRow, CaseRow, LedgerRow, Store};

use crate::cases::{Cached, clock_limits, timed_steps};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How far back of the last catch-up to look again for changes: covers other servers' clock
/// skew and transactions that committed after a later one. Every catch-up reads the keys of the
/// cases changed in this window again, so it stays short.
const MARGIN_SECONDS: i64 = 60;
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
    /// Recent summaries, by ledger generation, period and scope: the panels of one dashboard
    /// ask for the same period several times, and a wall refreshes it every minute.
    memo: Mutex<Vec<(MemoKey, Arc<Summary>)>>,
    /// One image written at a time by this server.
    image: Arc<tokio::sync::Mutex<()>>,
}

type MemoKey = (u64, DateTime<Utc>, DateTime<Utc>, String);
/// Summaries kept: a few dashboards' periods, with their comparison periods.
const MEMO: usize = 12;

#[derive(Debug, Default)]
struct Progress {
    loaded: bool,
    watermark: Option<DateTime<Utc>>,
    /// Records remade since the stored image was made (all of them when there is none).
    since_image: usize,
}

/// Bytes per image chunk.
const IMAGE_CHUNK: usize = 8 << 20;

/// What a catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Records read from the store (the first time only).
    pub loaded: usize,
    /// Cases whose records were remade from their timelines.
    pub remade: usize,
    /// Whether the records were read from the stored image (else row by row).
    pub from_image: bool,
}

impl LedgerCache {
    /// Marks a case this server just changed.
    pub fn touch(&self, district_code: &str, id: Uuid) {
        if let Ok(mut t) = self.touched.lock() {
            t.insert((district_code.to_owned(), id));
        }
    }

    /// The summary of a period (`Ledger::summary`), computed once per ledger generation.
    pub fn summary(
        &self,
        ledger: &Ledger,
        period: Period,
        scope: Scope<'_>,
        rule: MissedRule,
    ) -> Arc<Summary> {
        let key: MemoKey = (
            ledger.generation(),
            period.from,
            period.to,
            format!("{scope:?}"),
        );
        if let Ok(memo) = self.memo.lock()
            && let Some((_, hit)) = memo.iter().find(|(k, _)| *k == key)
        {
            return hit.clone();
        }
        let started = std::time::Instant::now();
        let summary = Arc::new(ledger.summary(period, scope, rule));
        tracing::debug!(
            cases = ledger.len(),
            seconds = started.elapsed().as_secs_f64(),
            "evaluation ledger: summary counted"
        );
        if let Ok(mut memo) = self.memo.lock() {
            memo.retain(|(k, _)| k.0 == key.0);
            if memo.len() >= MEMO {
                memo.remove(0);
            }
            memo.push((key, summary.clone()));
        }
        summary
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
            let fresh = match load_image(state).await? {
                Some((through, ledger)) => {
                    progress.watermark = Some(through);
                    done.from_image = true;
                    ledger
                }
                None => {
                    // Read before the pages, so a change made while they load is caught up
                    // below.
                    progress.watermark = state.store.ledger_watermark().await?;
                    let (ledger, unreadable) = load(state).await?;
                    stale.extend(unreadable);
                    progress.since_image = ledger.len();
                    ledger
                }
            };
            let mut fresh = fresh;
            fresh.sort_by_grid();
            done.loaded = fresh.len();
            *self.ledger.write().await = fresh;
            progress.loaded = true;
        }
        let since = progress
            .watermark
            .map(|w| w - Duration::seconds(MARGIN_SECONDS));
        let changed = state.store.cases_changed_since(since).await?;
        // Copied, not taken: if remaking fails they are still marked for the next catch-up.
        let touched: Vec<(String, Uuid)> = match self.touched.lock() {
            Ok(t) => t.iter().cloned().collect(),
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
        stale.extend(touched.iter().cloned());
        stale.sort();
        stale.dedup();
        for chunk in stale.chunks(CHUNK) {
            done.remade += self.remake(state, chunk).await?;
        }
        if let Ok(mut t) = self.touched.lock() {
            for key in &touched {
                t.remove(key);
            }
        }
        if let Some(latest) = changed.iter().map(|c| c.updated_at).max() {
            progress.watermark = Some(progress.watermark.map_or(latest, |w| w.max(latest)));
        }
        progress.since_image += done.remade;
        // Enough has changed that a restart would remake more than it reads: a new image.
        let len = self.ledger.read().await.len();
        if progress.since_image >= (len / 10).max(10_000)
            && let Some(through) = progress.watermark
        {
            progress.since_image = 0;
            let (state, ledger, lock) = (state.clone(), self.ledger.clone(), self.image.clone());
            tokio::spawn(async move {
                let _one = lock.lock().await;
                if let Err(e) = write_image(&state, &ledger, through).await {
                    tracing::warn!(error = %e.message, "evaluation ledger: image not written");
                }
            });
        }
        Ok(done)
    }

    /// Writes the ledger's image now (it is also written by itself as the ledger changes).
    pub async fn write_image(&self, state: &AppState) -> ApiResult<()> {
        let mut progress = self.progress.lock().await;
        let Some(through) = progress.watermark else {
            return Ok(());
        };
        let _one = self.image.lock().await;
        write_image(state, &self.ledger, through).await?;
        progress.since_image = 0;
        Ok(())
    }

    async fn remake(&self, state: &AppState, keys: &[(String, Uuid)]) -> ApiResult<usize> {
        let now = state.config.clock.now();
        let timelines = state.store.timelines_of(keys).await?;
        let mut rows = Vec::with_capacity(timelines.len());
        for (row, events) in &timelines {
            // One unreadable timeline must not stop every figure: it is left out, loudly.
            let record = match case_record(state, row, events, now) {
                Ok(record) => record,
                Err(e) => {
                    tracing::error!(case = %row.id, error = %e.message, "evaluation ledger: case left out");
                    continue;
                }
            };
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

async fn write_image(
    state: &AppState,
    ledger: &RwLock<Ledger>,
    through: DateTime<Utc>,
) -> ApiResult<()> {
    let started = std::time::Instant::now();
    let chunks = ledger.read().await.image(IMAGE_CHUNK);
    state.store.put_ledger_image(through, &chunks).await?;
    tracing::info!(
        chunks = chunks.len(),
        seconds = started.elapsed().as_secs_f64(),
        "evaluation ledger: image written"
    );
    Ok(())
}

/// The stored image, if there is one and every record of it reads; None sends the caller to the
/// row-by-row load (which remakes what it cannot read).
async fn load_image(state: &AppState) -> ApiResult<Option<(DateTime<Utc>, Ledger)>> {
    let started = std::time::Instant::now();
    let Some((through, chunks)) = state.store.ledger_image().await? else {
        return Ok(None);
    };
    let mut ledger = Ledger::new();
    for chunk in &chunks {
        if let Err(e) = ledger.put_image_chunk(chunk) {
            tracing::warn!(error = %e, "evaluation ledger: the image is damaged; reading row by row");
            return Ok(None);
        }
    }
    tracing::debug!(
        records = ledger.len(),
        seconds = started.elapsed().as_secs_f64(),
        "evaluation ledger: image loaded"
    );
    Ok(Some((through, ledger)))
}

/// Every stored record, in pages; answers the ledger and the cases whose records could not be
/// read (to be remade). The next page is read while this one is decoded.
async fn load(state: &AppState) -> ApiResult<(Ledger, Vec<(String, Uuid)>)> {
    let fetch = |after: Option<(String, Uuid)>| {
        let store = state.store.clone();
        tokio::spawn(async move { store.ledger_page(after, PAGE).await })
    };
    let mut ledger = Ledger::new();
    let mut unreadable = Vec::new();
    let started = std::time::Instant::now();
    let mut next = Some(fetch(None));
    while let Some(reading) = next.take() {
        let page = reading.await.map_err(ApiError::internal)??;
        if page.len() as i64 == PAGE
            && let Some(last) = page.last()
        {
            next = Some(fetch(Some((last.district_code.clone(), last.case_id))));
        }
        for r in page {
            if let Err(e) = ledger.put_encoded(r.case_id, r.version, &r.record) {
                tracing::warn!(case = %r.case_id, error = %e, "ledger: remaking an unreadable record");
                unreadable.push((r.district_code, r.case_id));
            }
        }
    }
    tracing::debug!(
        records = ledger.len(),
        seconds = started.elapsed().as_secs_f64(),
        "evaluation ledger: stored records loaded"
    );
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
