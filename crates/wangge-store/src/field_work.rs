//! Storage of the grid worker's field day (migration 0012): patrols and their tracks, visit logs
//! and the districts' daily quotas — the [`FieldWork`] contract and its two implementations,
//! generated once for SQLite and PostgreSQL.
//!
//! Positions arrive in batches from phones, many patrols at once: a batch is a few multi-row
//! INSERTs in one transaction, and a repeated fix (same patrol, same instant) is ignored, so a
//! phone may resend a batch whose answer it lost.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::backend::{PgStore, SqliteStore};
use crate::{AnyStore, Result, StoreError};

/// Positions per INSERT: 6 parameters each, under SQLite's 32,766 bound parameters.
pub const POSITION_BATCH: usize = 5_000;

/// Default daily quotas: two patrols and one report a day (the usual rule for grid workers).
pub const DEFAULT_PATROLS_PER_DAY: i64 = 2;
pub const DEFAULT_REPORTS_PER_DAY: i64 = 1;
pub const DEFAULT_VISITS_PER_DAY: i64 = 0;

#[derive(Debug, Clone, PartialEq)]
pub struct PatrolRow {
    pub district_code: String,
    pub id: Uuid,
    pub worker_id: Uuid,
    pub worker: String,
    pub grid_code: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub length_m: Option<f64>,
    pub coverage: Option<f64>,
    pub points: i64,
    /// running | ended
    pub status: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionRow {
    /// Milliseconds since 1970-01-01 UTC.
    pub at_ms: i64,
    pub lon: f64,
    pub lat: f64,
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatrolFilter {
    pub district: Option<String>,
    /// Grid codes starting with this.
    pub grid_prefix: Option<String>,
    pub worker: Option<String>,
    /// Patrols started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Patrols started before.
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
    pub limit: i64,
}

/// A worker's ended patrols in a period, for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatrolTotal {
    pub worker: String,
    pub grid_code: String,
    pub patrols: i64,
    pub length_m: f64,
    /// Mean coverage of the patrols, 0..=1.
    pub mean_coverage: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    pub district_code: String,
    pub id: Uuid,
    pub worker: String,
    pub grid_code: String,
    pub at: DateTime<Utc>,
    /// person | house | organisation | other
    pub kind: String,
    pub target: Option<String>,
    pub label: String,
    pub notes: Option<String>,
    pub follow_up: Option<String>,
    /// YYYY-MM-DD
    pub follow_up_due: Option<String>,
    pub follow_up_done_at: Option<DateTime<Utc>>,
    pub follow_up_done_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitFilter {
    pub district: Option<String>,
    pub grid_prefix: Option<String>,
    pub worker: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only visits with a follow-up not done yet.
    pub open_follow_up: bool,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    pub district_code: String,
    pub patrols_per_day: i64,
    pub reports_per_day: i64,
    pub visits_per_day: i64,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// The storage contract of field work. Every method is one transaction.
#[allow(async_fn_in_trait)]
pub trait FieldWork {
    /// Starts a patrol; a conflict when the worker has a running one already.
    async fn create_patrol(&self, patrol: &PatrolRow) -> Result<()>;
    async fn patrol(&self, district: &str, id: Uuid) -> Result<Option<PatrolRow>>;
    /// The worker's running patrol, if any.
    async fn running_patrol(&self, worker: &str) -> Result<Option<PatrolRow>>;
    /// Adds fixes to a running patrol (a fix at an instant the patrol has already is ignored);
    /// answers how many were new. A conflict when the patrol is not running.
    async fn add_positions(
        &self,
        district: &str,
        patrol: Uuid,
        positions: &[PositionRow],
    ) -> Result<u64>;
    /// The track, oldest first.
    async fn positions(&self, district: &str, patrol: Uuid) -> Result<Vec<PositionRow>>;
    /// Ends a running patrol with its figures; false when it was not running.
    async fn end_patrol(
        &self,
        district: &str,
        id: Uuid,
        ended_at: DateTime<Utc>,
        length_m: f64,
        coverage: f64,
    ) -> Result<bool>;
    /// Patrols, newest first.
    async fn patrols(&self, f: &PatrolFilter) -> Result<Vec<PatrolRow>>;
    /// Patrols ended in `[from, to)` per worker and grid, within a grid-code prefix.
    async fn patrol_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        region_prefix: Option<&str>,
    ) -> Result<Vec<PatrolTotal>>;

    async fn insert_visit(&self, visit: &VisitRow) -> Result<()>;
    async fn visit(&self, district: &str, id: Uuid) -> Result<Option<VisitRow>>;
    /// Visits, newest first.
    async fn visits(&self, f: &VisitFilter) -> Result<Vec<VisitRow>>;
    /// Marks a visit's follow-up done; false when there is none open.
    async fn follow_up_done(
        &self,
        district: &str,
        id: Uuid,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<bool>;

    async fn quotas(&self, district: &str) -> Result<Option<QuotaRow>>;
    async fn put_quotas(&self, quotas: &QuotaRow) -> Result<()>;

    /// Cases reported in `[from, to)` in a district by each of `reporters` (the actor of the
    /// case's first event): (username, count).
    async fn reports_by(
        &self,
        district: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        reporters: &[String],
    ) -> Result<Vec<(String, i64)>>;
}

const PATROL_COLS: &str = "district_code, id, worker_id, worker, grid_code, started_at, ended_at, length_m, coverage, points, status";
const VISIT_COLS: &str = "district_code, id, worker, grid_code, at, kind, target, label, notes, follow_up, follow_up_due, follow_up_done_at, follow_up_done_by, created_at";

macro_rules! field_work_impl {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            fn patrol_row(r: &$row) -> Result<PatrolRow> {
                Ok(PatrolRow {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    worker_id: r.try_get("worker_id")?,
                    worker: r.try_get("worker")?,
                    grid_code: r.try_get("grid_code")?,
                    started_at: r.try_get("started_at")?,
                    ended_at: r.try_get("ended_at")?,
                    length_m: r.try_get("length_m")?,
                    coverage: r.try_get("coverage")?,
                    points: r.try_get("points")?,
                    status: r.try_get("status")?,
                })
            }

            fn visit_row(r: &$row) -> Result<VisitRow> {
                Ok(VisitRow {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    worker: r.try_get("worker")?,
                    grid_code: r.try_get("grid_code")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    target: r.try_get("target")?,
                    label: r.try_get("label")?,
                    notes: r.try_get("notes")?,
                    follow_up: r.try_get("follow_up")?,
                    follow_up_due: r.try_get("follow_up_due")?,
                    follow_up_done_at: r.try_get("follow_up_done_at")?,
                    follow_up_done_by: r.try_get("follow_up_done_by")?,
                    created_at: r.try_get("created_at")?,
                })
            }
        }

        impl FieldWork for $store {
            async fn create_patrol(&self, p: &PatrolRow) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO patrols ({PATROL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")))
                    .bind(p.district_code.clone())
                    .bind(p.id)
                    .bind(p.worker_id)
                    .bind(p.worker.clone())
                    .bind(p.grid_code.clone())
                    .bind(p.started_at)
                    .bind(p.ended_at)
                    .bind(p.length_m)
                    .bind(p.coverage)
                    .bind(p.points)
                    .bind(p.status.clone())
                    .execute(&self.write)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                            what: "running patrol",
                            key: p.worker.clone(),
                        },
                        _ => StoreError::Database(e),
                    })?;
                Ok(())
            }

            async fn patrol(&self, district: &str, id: Uuid) -> Result<Option<PatrolRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PATROL_COLS} FROM patrols WHERE district_code = $1 AND id = $2")))
                    .bind(district)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::patrol_row)
                    .transpose()
            }

            async fn running_patrol(&self, worker: &str) -> Result<Option<PatrolRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {PATROL_COLS} FROM patrols WHERE worker = $1 AND status = 'running' ORDER BY started_at DESC LIMIT 1")))
                    .bind(worker)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::patrol_row)
                    .transpose()
            }

            async fn add_positions(&self, district: &str, patrol: Uuid, positions: &[PositionRow]) -> Result<u64> {
                let mut tx = self.write.begin().await?;
                let mut added = 0u64;
                for chunk in positions.chunks(POSITION_BATCH) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO patrol_positions (district_code, patrol_id, at_ms, lon, lat, accuracy) ");
                    q.push_values(chunk, |mut b, p| {
                        b.push_bind(district)
                            .push_bind(patrol)
                            .push_bind(p.at_ms)
                            .push_bind(p.lon)
                            .push_bind(p.lat)
                            .push_bind(p.accuracy);
                    });
                    q.push(" ON CONFLICT (district_code, patrol_id, at_ms) DO NOTHING");
                    added += q.build().execute(&mut *tx).await?.rows_affected();
                }
                // The guard and the count in one statement: positions of an ended patrol are
                // rolled back with it.
                let running = sqlx::query("UPDATE patrols SET points = points + $1 WHERE district_code = $2 AND id = $3 AND status = 'running'")
                    .bind(i64::try_from(added).unwrap_or(i64::MAX))
                    .bind(district)
                    .bind(patrol)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if running != 1 {
                    return Err(StoreError::Conflict {
                        what: "ended patrol",
                        key: patrol.to_string(),
                    });
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn positions(&self, district: &str, patrol: Uuid) -> Result<Vec<PositionRow>> {
                sqlx::query("SELECT at_ms, lon, lat, accuracy FROM patrol_positions WHERE district_code = $1 AND patrol_id = $2 ORDER BY at_ms")
                    .bind(district)
                    .bind(patrol)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(PositionRow {
                            at_ms: r.try_get(0)?,
                            lon: r.try_get(1)?,
                            lat: r.try_get(2)?,
                            accuracy: r.try_get(3)?,
                        })
                    })
                    .collect()
            }

            async fn end_patrol(&self, district: &str, id: Uuid, ended_at: DateTime<Utc>, length_m: f64, coverage: f64) -> Result<bool> {
                Ok(sqlx::query("UPDATE patrols SET status = 'ended', ended_at = $1, length_m = $2, coverage = $3 WHERE district_code = $4 AND id = $5 AND status = 'running'")
                    .bind(ended_at)
                    .bind(length_m)
                    .bind(coverage)
                    .bind(district)
                    .bind(id)
                    .execute(&self.write)
                    .await?
                    .rows_affected()
                    == 1)
            }

            async fn patrols(&self, f: &PatrolFilter) -> Result<Vec<PatrolRow>> {
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {PATROL_COLS} FROM patrols WHERE 1 = 1"));
                if let Some(d) = &f.district {
                    q.push(" AND district_code = ").push_bind(d.clone());
                }
                if let Some(p) = &f.grid_prefix {
                    q.push(" AND grid_code >= ")
                        .push_bind(p.clone())
                        .push(" AND grid_code < ")
                        .push_bind(format!("{p}:"));
                }
                if let Some(w) = &f.worker {
                    q.push(" AND worker = ").push_bind(w.clone());
                }
                if let Some(t) = f.from {
                    q.push(" AND started_at >= ").push_bind(t);
                }
                if let Some(t) = f.to {
                    q.push(" AND started_at < ").push_bind(t);
                }
                if let Some(s) = &f.status {
                    q.push(" AND status = ").push_bind(s.clone());
                }
                q.push(" ORDER BY started_at DESC, id DESC LIMIT ").push_bind(f.limit.max(1));
                q.build().fetch_all(&self.read).await?.iter().map(Self::patrol_row).collect()
            }

            async fn patrol_totals(&self, from: DateTime<Utc>, to: DateTime<Utc>, region_prefix: Option<&str>) -> Result<Vec<PatrolTotal>> {
                let mut q = QueryBuilder::<$db>::new("SELECT worker, grid_code, COUNT(*) AS n, SUM(COALESCE(length_m, 0.0)) AS len, AVG(COALESCE(coverage, 0.0)) AS cov FROM patrols WHERE status = 'ended' AND ended_at >= ");
                q.push_bind(from).push(" AND ended_at < ").push_bind(to);
                if let Some(p) = region_prefix.filter(|p| !p.is_empty()) {
                    if let Some(d) = p.get(..6) {
                        q.push(" AND district_code = ").push_bind(d.to_owned());
                    }
                    q.push(" AND grid_code >= ")
                        .push_bind(p.to_owned())
                        .push(" AND grid_code < ")
                        .push_bind(format!("{p}:"));
                }
                q.push(" GROUP BY worker, grid_code ORDER BY worker, grid_code");
                q.build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(PatrolTotal {
                            worker: r.try_get(0)?,
                            grid_code: r.try_get(1)?,
                            patrols: r.try_get(2)?,
                            length_m: r.try_get::<Option<f64>, _>(3)?.unwrap_or(0.0),
                            mean_coverage: r.try_get::<Option<f64>, _>(4)?.unwrap_or(0.0),
                        })
                    })
                    .collect()
            }

            async fn insert_visit(&self, v: &VisitRow) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO visit_logs ({VISIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")))
                    .bind(v.district_code.clone())
                    .bind(v.id)
                    .bind(v.worker.clone())
                    .bind(v.grid_code.clone())
                    .bind(v.at)
                    .bind(v.kind.clone())
                    .bind(v.target.clone())
                    .bind(v.label.clone())
                    .bind(v.notes.clone())
                    .bind(v.follow_up.clone())
                    .bind(v.follow_up_due.clone())
                    .bind(v.follow_up_done_at)
                    .bind(v.follow_up_done_by.clone())
                    .bind(v.created_at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn visit(&self, district: &str, id: Uuid) -> Result<Option<VisitRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VISIT_COLS} FROM visit_logs WHERE district_code = $1 AND id = $2")))
                    .bind(district)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::visit_row)
                    .transpose()
            }

            async fn visits(&self, f: &VisitFilter) -> Result<Vec<VisitRow>> {
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {VISIT_COLS} FROM visit_logs WHERE 1 = 1"));
                if let Some(d) = &f.district {
                    q.push(" AND district_code = ").push_bind(d.clone());
                }
                if let Some(p) = &f.grid_prefix {
                    q.push(" AND grid_code >= ")
                        .push_bind(p.clone())
                        .push(" AND grid_code < ")
                        .push_bind(format!("{p}:"));
                }
                if let Some(w) = &f.worker {
                    q.push(" AND worker = ").push_bind(w.clone());
                }
                if let Some(t) = f.from {
                    q.push(" AND at >= ").push_bind(t);
                }
                if let Some(t) = f.to {
                    q.push(" AND at < ").push_bind(t);
                }
                if f.open_follow_up {
                    q.push(" AND follow_up IS NOT NULL AND follow_up_done_at IS NULL");
                }
                q.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(f.limit.max(1));
                q.build().fetch_all(&self.read).await?.iter().map(Self::visit_row).collect()
            }

            async fn follow_up_done(&self, district: &str, id: Uuid, at: DateTime<Utc>, by: &str) -> Result<bool> {
                Ok(sqlx::query("UPDATE visit_logs SET follow_up_done_at = $1, follow_up_done_by = $2 WHERE district_code = $3 AND id = $4 AND follow_up IS NOT NULL AND follow_up_done_at IS NULL")
                    .bind(at)
                    .bind(by)
                    .bind(district)
                    .bind(id)
                    .execute(&self.write)
                    .await?
                    .rows_affected()
                    == 1)
            }

            async fn quotas(&self, district: &str) -> Result<Option<QuotaRow>> {
                sqlx::query("SELECT district_code, patrols_per_day, reports_per_day, visits_per_day, updated_by, updated_at FROM field_quotas WHERE district_code = $1")
                    .bind(district)
                    .fetch_optional(&self.read)
                    .await?
                    .map(|r| {
                        Ok(QuotaRow {
                            district_code: r.try_get(0)?,
                            patrols_per_day: r.try_get(1)?,
                            reports_per_day: r.try_get(2)?,
                            visits_per_day: r.try_get(3)?,
                            updated_by: r.try_get(4)?,
                            updated_at: r.try_get(5)?,
                        })
                    })
                    .transpose()
            }

            async fn put_quotas(&self, q: &QuotaRow) -> Result<()> {
                sqlx::query("INSERT INTO field_quotas (district_code, patrols_per_day, reports_per_day, visits_per_day, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (district_code) DO UPDATE SET patrols_per_day = excluded.patrols_per_day, reports_per_day = excluded.reports_per_day, visits_per_day = excluded.visits_per_day, updated_by = excluded.updated_by, updated_at = excluded.updated_at")
                    .bind(q.district_code.clone())
                    .bind(q.patrols_per_day)
                    .bind(q.reports_per_day)
                    .bind(q.visits_per_day)
                    .bind(q.updated_by.clone())
                    .bind(q.updated_at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn reports_by(&self, district: &str, from: DateTime<Utc>, to: DateTime<Utc>, reporters: &[String]) -> Result<Vec<(String, i64)>> {
                let mut out = Vec::new();
                for chunk in reporters.chunks(500) {
                    let mut q = QueryBuilder::<$db>::new("SELECT e.actor, COUNT(*) FROM cases c JOIN case_events e ON e.district_code = c.district_code AND e.case_id = c.id AND e.seq = 1 WHERE c.district_code = ");
                    q.push_bind(district.to_owned())
                        .push(" AND c.reported_at >= ")
                        .push_bind(from)
                        .push(" AND c.reported_at < ")
                        .push_bind(to)
                        .push(" AND e.actor IN (");
                    let mut sep = q.separated(", ");
                    for who in chunk {
                        sep.push_bind(who.clone());
                    }
                    q.push(") GROUP BY e.actor");
                    for r in q.build().fetch_all(&self.read).await? {
                        out.push((r.try_get(0)?, r.try_get(1)?));
                    }
                }
                Ok(out)
            }
        }
    };
}

field_work_impl!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
field_work_impl!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);

macro_rules! delegate_field_work {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl FieldWork for AnyStore {
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                    AnyStore::Postgres(s) => s.$name($($arg),*).await,
                }
            } )*
        }
    };
}

delegate_field_work! {
    async fn create_patrol(&self, patrol: &PatrolRow) -> Result<()>;
    async fn patrol(&self, district: &str, id: Uuid) -> Result<Option<PatrolRow>>;
    async fn running_patrol(&self, worker: &str) -> Result<Option<PatrolRow>>;
    async fn add_positions(&self, district: &str, patrol: Uuid, positions: &[PositionRow]) -> Result<u64>;
    async fn positions(&self, district: &str, patrol: Uuid) -> Result<Vec<PositionRow>>;
    async fn end_patrol(&self, district: &str, id: Uuid, ended_at: DateTime<Utc>, length_m: f64, coverage: f64) -> Result<bool>;
    async fn patrols(&self, f: &PatrolFilter) -> Result<Vec<PatrolRow>>;
    async fn patrol_totals(&self, from: DateTime<Utc>, to: DateTime<Utc>, region_prefix: Option<&str>) -> Result<Vec<PatrolTotal>>;
    async fn insert_visit(&self, visit: &VisitRow) -> Result<()>;
    async fn visit(&self, district: &str, id: Uuid) -> Result<Option<VisitRow>>;
    async fn visits(&self, f: &VisitFilter) -> Result<Vec<VisitRow>>;
    async fn follow_up_done(&self, district: &str, id: Uuid, at: DateTime<Utc>, by: &str) -> Result<bool>;
    async fn quotas(&self, district: &str) -> Result<Option<QuotaRow>>;
    async fn put_quotas(&self, quotas: &QuotaRow) -> Result<()>;
    async fn reports_by(&self, district: &str, from: DateTime<Utc>, to: DateTime<Utc>, reporters: &[String]) -> Result<Vec<(String, i64)>>;
}
