//! Storage of campaigns (普查 / 核查, migration 0009): a campaign, its records (matched to house
//! codes, de-duplicated), its tasks (one per grid) and the results recorded on its records — the
//! [`Campaigns`] contract and its two implementations, generated once for SQLite and PostgreSQL.
//! Also the reads the address matcher is built from: every house of a district with its fields,
//! and a fingerprint that changes when any of them does.
//!
//! As with the registry, the store holds what it is given: sealing a record's personal fields
//! and masking are the caller's.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::backend::{PgStore, SqliteStore};
use crate::{AnyStore, Result, StoreError};

/// Rows per multi-row statement (bound parameters stay under both databases' limits).
const BATCH: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    pub district_code: String,
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    /// file | people | houses
    pub source: String,
    pub source_note: Option<String>,
    /// The creator's jurisdiction.
    pub region_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// open | closed
    pub status: String,
    /// JSON: `{"outcomes": [...]}`
    pub form: String,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRecordRow {
    pub district_code: String,
    pub campaign_id: Uuid,
    /// 1, 2, … in the order of the source.
    pub seq: i64,
    /// The spreadsheet row number (or the position in a registry query).
    pub source_row: i64,
    pub address: String,
    pub name: Option<String>,
    pub id_masked: Option<String>,
    pub phone_masked: Option<String>,
    /// The original fields, sealed.
    pub body: Option<Vec<u8>>,
    pub house_code: Option<String>,
    pub grid_code: Option<String>,
    pub queue_region: Option<String>,
    pub confidence: f64,
    pub reason: String,
    /// JSON list of the nearest candidates.
    pub candidates: String,
    /// matched | unmatched | duplicate | manual
    pub status: String,
    pub duplicate_of: Option<i64>,
    pub dup_rule: Option<String>,
    pub matched_by: Option<String>,
    pub matched_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub notes: Option<String>,
    pub photo: Option<String>,
    pub done_by: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignTaskRow {
    pub district_code: String,
    pub campaign_id: Uuid,
    pub grid_code: String,
    /// The username of the grid's worker when the task was made, if the grid had one.
    pub worker: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A task with its campaign and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummary {
    pub task: CampaignTaskRow,
    pub campaign_name: String,
    pub campaign_kind: String,
    pub campaign_status: String,
    /// Records to verify (matched or manually matched).
    pub total: i64,
    /// Of them, with a result.
    pub done: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignResultRow {
    pub district_code: String,
    pub campaign_id: Uuid,
    pub seq: i64,
    pub id: Uuid,
    pub outcome: String,
    pub notes: Option<String>,
    pub photo: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// The filter of a campaign's records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignRecordFilter {
    pub district: String,
    /// One campaign, or every campaign of the district (the street queue).
    pub campaign: Option<Uuid>,
    /// Grid codes starting with this.
    pub grid_prefix: Option<String>,
    /// Queue regions starting with this (unmatched records waiting in a street's queue).
    pub queue_prefix: Option<String>,
    pub status: Option<String>,
    /// Only records of open campaigns.
    pub open_only: bool,
    /// Address or name containing this.
    pub q: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// The filter of task lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub district: Option<String>,
    pub campaign: Option<Uuid>,
    pub grid_prefix: Option<String>,
    pub open_only: bool,
}

/// One line of a campaign's progress: records of a grid in a status with an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRow {
    pub grid_code: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub count: i64,
}

/// A house as the address matcher reads it: its code, grid and fields (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseAddressRow {
    pub district_code: String,
    pub house_code: String,
    pub grid_code: String,
    pub body: Vec<u8>,
}

/// A change to one record: the result of its verification, or a house assigned by hand.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordUpdate {
    Result(CampaignResultRow),
    ManualMatch {
        house_code: String,
        grid_code: String,
        by: String,
        at: DateTime<Utc>,
        /// The grid's task, made when the grid had none yet.
        task: CampaignTaskRow,
    },
}

/// The storage contract of campaigns. Every method is one transaction.
#[allow(async_fn_in_trait)]
pub trait Campaigns {
    /// Every house of a district (within a grid prefix) with its fields, for the matcher.
    async fn house_addresses(
        &self,
        district: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<HouseAddressRow>>;
    /// Changes whenever a house of the district is added or changed: (count, latest change).
    async fn houses_fingerprint(&self, district: &str) -> Result<(i64, Option<DateTime<Utc>>)>;

    /// Stores a new campaign with its records and tasks, whole or not at all.
    async fn create_campaign(
        &self,
        campaign: &CampaignRow,
        records: &[CampaignRecordRow],
        tasks: &[CampaignTaskRow],
    ) -> Result<()>;
    async fn campaign(&self, district: &str, id: Uuid) -> Result<Option<CampaignRow>>;
    /// Campaigns of a district (or every district), newest first.
    async fn campaigns(&self, district: Option<&str>) -> Result<Vec<CampaignRow>>;
    /// open | closed; answers whether the campaign exists.
    async fn set_campaign_status(&self, district: &str, id: Uuid, status: &str) -> Result<bool>;

    async fn campaign_record(
        &self,
        district: &str,
        campaign: Uuid,
        seq: i64,
    ) -> Result<Option<CampaignRecordRow>>;
    /// A page of records in campaign and source order.
    async fn campaign_records(&self, f: &CampaignRecordFilter) -> Result<Vec<CampaignRecordRow>>;
    /// Applies a change to a record if it still has the version `expected` (a conflict
    /// otherwise); the record's version goes up by one.
    async fn update_campaign_record(
        &self,
        district: &str,
        campaign: Uuid,
        seq: i64,
        expected: i64,
        update: &RecordUpdate,
    ) -> Result<()>;
    /// Every result recorded on a record, oldest first.
    async fn campaign_results(
        &self,
        district: &str,
        campaign: Uuid,
        seq: i64,
    ) -> Result<Vec<CampaignResultRow>>;

    /// Tasks with their counts, by campaign (newest first) and grid.
    async fn campaign_tasks(&self, f: &TaskFilter) -> Result<Vec<TaskSummary>>;
    /// Record counts of a campaign by grid, status and outcome, within a grid prefix (records
    /// without a grid — unmatched, duplicates of them — count only without a prefix).
    async fn campaign_progress(
        &self,
        district: &str,
        campaign: Uuid,
        grid_prefix: Option<&str>,
    ) -> Result<Vec<ProgressRow>>;
}

const CAMPAIGN_COLS: &str = "district_code, id, name, kind, source, source_note, region_code, created_by, created_at, status, form, threshold";
const RECORD_COLS: &str = "district_code, campaign_id, seq, source_row, address, name, id_masked, phone_masked, body, house_code, grid_code, queue_region, confidence, reason, candidates, status, duplicate_of, dup_rule, matched_by, matched_at, outcome, notes, photo, done_by, done_at, version";
const TASK_COLS: &str = "district_code, campaign_id, grid_code, worker, created_at";
const RESULT_COLS: &str =
    "district_code, campaign_id, seq, id, outcome, notes, photo, recorded_by, recorded_at";

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

macro_rules! campaign_impl {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            fn campaign_row(r: &$row) -> Result<CampaignRow> {
                Ok(CampaignRow {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    source: r.try_get("source")?,
                    source_note: r.try_get("source_note")?,
                    region_code: r.try_get("region_code")?,
                    created_by: r.try_get("created_by")?,
                    created_at: r.try_get("created_at")?,
                    status: r.try_get("status")?,
                    form: r.try_get("form")?,
                    threshold: r.try_get("threshold")?,
                })
            }

            fn record_row(r: &$row) -> Result<CampaignRecordRow> {
                Ok(CampaignRecordRow {
                    district_code: r.try_get("district_code")?,
                    campaign_id: r.try_get("campaign_id")?,
                    seq: r.try_get("seq")?,
                    source_row: r.try_get("source_row")?,
                    address: r.try_get("address")?,
                    name: r.try_get("name")?,
                    id_masked: r.try_get("id_masked")?,
                    phone_masked: r.try_get("phone_masked")?,
                    body: r.try_get("body")?,
                    house_code: r.try_get("house_code")?,
                    grid_code: r.try_get("grid_code")?,
                    queue_region: r.try_get("queue_region")?,
                    confidence: r.try_get("confidence")?,
                    reason: r.try_get("reason")?,
                    candidates: r.try_get("candidates")?,
                    status: r.try_get("status")?,
                    duplicate_of: r.try_get("duplicate_of")?,
                    dup_rule: r.try_get("dup_rule")?,
                    matched_by: r.try_get("matched_by")?,
                    matched_at: r.try_get("matched_at")?,
                    outcome: r.try_get("outcome")?,
                    notes: r.try_get("notes")?,
                    photo: r.try_get("photo")?,
                    done_by: r.try_get("done_by")?,
                    done_at: r.try_get("done_at")?,
                    version: r.try_get("version")?,
                })
            }

            fn task_row(r: &$row) -> Result<CampaignTaskRow> {
                Ok(CampaignTaskRow {
                    district_code: r.try_get("district_code")?,
                    campaign_id: r.try_get("campaign_id")?,
                    grid_code: r.try_get("grid_code")?,
                    worker: r.try_get("worker")?,
                    created_at: r.try_get("created_at")?,
                })
            }

            fn result_row(r: &$row) -> Result<CampaignResultRow> {
                Ok(CampaignResultRow {
                    district_code: r.try_get("district_code")?,
                    campaign_id: r.try_get("campaign_id")?,
                    seq: r.try_get("seq")?,
                    id: r.try_get("id")?,
                    outcome: r.try_get("outcome")?,
                    notes: r.try_get("notes")?,
                    photo: r.try_get("photo")?,
                    recorded_by: r.try_get("recorded_by")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            }

            async fn insert_tasks(
                tx: &mut sqlx::Transaction<'_, $db>,
                tasks: &[CampaignTaskRow],
            ) -> Result<()> {
                for chunk in tasks.chunks(BATCH) {
                    let mut q = QueryBuilder::<$db>::new(format!("INSERT INTO campaign_tasks ({TASK_COLS}) "));
                    q.push_values(chunk, |mut b, t| {
                        b.push_bind(t.district_code.clone())
                            .push_bind(t.campaign_id)
                            .push_bind(t.grid_code.clone())
                            .push_bind(t.worker.clone())
                            .push_bind(t.created_at);
                    });
                    q.push(" ON CONFLICT (district_code, campaign_id, grid_code) DO NOTHING");
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }
        }

        impl Campaigns for $store {
            async fn house_addresses(&self, district: &str, prefix: Option<&str>) -> Result<Vec<HouseAddressRow>> {
                let mut q = QueryBuilder::<$db>::new("SELECT district_code, house_code, grid_code, body FROM houses WHERE district_code = ");
                q.push_bind(district.to_owned());
                if let Some(p) = prefix.filter(|p| *p != district) {
                    q.push(" AND grid_code >= ")
                        .push_bind(p.to_owned())
                        .push(" AND grid_code < ")
                        .push_bind(format!("{p}:"));
                }
                q.build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(HouseAddressRow {
                            district_code: r.try_get(0)?,
                            house_code: r.try_get(1)?,
                            grid_code: r.try_get(2)?,
                            body: r.try_get(3)?,
                        })
                    })
                    .collect()
            }

            async fn houses_fingerprint(&self, district: &str) -> Result<(i64, Option<DateTime<Utc>>)> {
                let r = sqlx::query("SELECT COUNT(*), MAX(updated_at) FROM houses WHERE district_code = $1")
                    .bind(district)
                    .fetch_one(&self.read)
                    .await?;
                let count: i64 = r.try_get(0)?;
                // SQLite answers MAX() of a text column without its declared type.
                let latest: Option<DateTime<Utc>> = if count == 0 {
                    None
                } else {
                    match r.try_get::<Option<DateTime<Utc>>, _>(1) {
                        Ok(t) => t,
                        Err(_) => r
                            .try_get::<Option<String>, _>(1)?
                            .map(|t| {
                                DateTime::parse_from_rfc3339(&t)
                                    .or_else(|_| DateTime::parse_from_str(&format!("{t}+00:00"), "%Y-%m-%d %H:%M:%S%.f%:z"))
                                    .map(|t| t.with_timezone(&Utc))
                                    .map_err(|e| StoreError::Corrupt(format!("houses.updated_at '{t}': {e}")))
                            })
                            .transpose()?,
                    }
                };
                Ok((count, latest))
            }

            async fn create_campaign(&self, c: &CampaignRow, records: &[CampaignRecordRow], tasks: &[CampaignTaskRow]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO campaigns ({CAMPAIGN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")))
                    .bind(c.district_code.clone())
                    .bind(c.id)
                    .bind(c.name.clone())
                    .bind(c.kind.clone())
                    .bind(c.source.clone())
                    .bind(c.source_note.clone())
                    .bind(c.region_code.clone())
                    .bind(c.created_by.clone())
                    .bind(c.created_at)
                    .bind(c.status.clone())
                    .bind(c.form.clone())
                    .bind(c.threshold)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: "campaign", key: c.id.to_string() },
                        _ => StoreError::Database(e),
                    })?;
                for chunk in records.chunks(BATCH) {
                    let mut q = QueryBuilder::<$db>::new(format!("INSERT INTO campaign_records ({RECORD_COLS}) "));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.district_code.clone())
                            .push_bind(r.campaign_id)
                            .push_bind(r.seq)
                            .push_bind(r.source_row)
                            .push_bind(r.address.clone())
                            .push_bind(r.name.clone())
                            .push_bind(r.id_masked.clone())
                            .push_bind(r.phone_masked.clone())
                            .push_bind(r.body.clone())
                            .push_bind(r.house_code.clone())
                            .push_bind(r.grid_code.clone())
                            .push_bind(r.queue_region.clone())
                            .push_bind(r.confidence)
                            .push_bind(r.reason.clone())
                            .push_bind(r.candidates.clone())
                            .push_bind(r.status.clone())
                            .push_bind(r.duplicate_of)
                            .push_bind(r.dup_rule.clone())
                            .push_bind(r.matched_by.clone())
                            .push_bind(r.matched_at)
                            .push_bind(r.outcome.clone())
                            .push_bind(r.notes.clone())
                            .push_bind(r.photo.clone())
                            .push_bind(r.done_by.clone())
                            .push_bind(r.done_at)
                            .push_bind(r.version);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                Self::insert_tasks(&mut tx, tasks).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn campaign(&self, district: &str, id: Uuid) -> Result<Option<CampaignRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CAMPAIGN_COLS} FROM campaigns WHERE district_code = $1 AND id = $2")))
                    .bind(district)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::campaign_row)
                    .transpose()
            }

            async fn campaigns(&self, district: Option<&str>) -> Result<Vec<CampaignRow>> {
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {CAMPAIGN_COLS} FROM campaigns"));
                if let Some(d) = district {
                    q.push(" WHERE district_code = ").push_bind(d.to_owned());
                }
                q.push(" ORDER BY created_at DESC, id DESC");
                q.build().fetch_all(&self.read).await?.iter().map(Self::campaign_row).collect()
            }

            async fn set_campaign_status(&self, district: &str, id: Uuid, status: &str) -> Result<bool> {
                Ok(sqlx::query("UPDATE campaigns SET status = $1 WHERE district_code = $2 AND id = $3")
                    .bind(status)
                    .bind(district)
                    .bind(id)
                    .execute(&self.write)
                    .await?
                    .rows_affected()
                    == 1)
            }

            async fn campaign_record(&self, district: &str, campaign: Uuid, seq: i64) -> Result<Option<CampaignRecordRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {RECORD_COLS} FROM campaign_records WHERE district_code = $1 AND campaign_id = $2 AND seq = $3")))
                    .bind(district)
                    .bind(campaign)
                    .bind(seq)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::record_row)
                    .transpose()
            }

            async fn campaign_records(&self, f: &CampaignRecordFilter) -> Result<Vec<CampaignRecordRow>> {
                let cols = RECORD_COLS
                    .split(", ")
                    .map(|c| format!("r.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {cols} FROM campaign_records r"));
                if f.open_only {
                    q.push(" JOIN campaigns c ON c.district_code = r.district_code AND c.id = r.campaign_id AND c.status = 'open'");
                }
                q.push(" WHERE r.district_code = ").push_bind(f.district.clone());
                if let Some(c) = f.campaign {
                    q.push(" AND r.campaign_id = ").push_bind(c);
                }
                if let Some(p) = f.grid_prefix.as_deref().filter(|p| *p != f.district) {
                    q.push(" AND r.grid_code >= ")
                        .push_bind(p.to_owned())
                        .push(" AND r.grid_code < ")
                        .push_bind(format!("{p}:"));
                }
                if let Some(p) = &f.queue_prefix {
                    q.push(" AND r.queue_region >= ")
                        .push_bind(p.clone())
                        .push(" AND r.queue_region < ")
                        .push_bind(format!("{p}:"));
                }
                if let Some(s) = &f.status {
                    q.push(" AND r.status = ").push_bind(s.clone());
                }
                if let Some(t) = &f.q {
                    q.push(" AND (r.address LIKE ")
                        .push_bind(escape_like(t))
                        .push(" ESCAPE '\\' OR r.name LIKE ")
                        .push_bind(escape_like(t))
                        .push(" ESCAPE '\\')");
                }
                q.push(" ORDER BY r.campaign_id DESC, r.seq LIMIT ")
                    .push_bind(f.limit)
                    .push(" OFFSET ")
                    .push_bind(f.offset);
                q.build().fetch_all(&self.read).await?.iter().map(Self::record_row).collect()
            }

            async fn update_campaign_record(&self, district: &str, campaign: Uuid, seq: i64, expected: i64, update: &RecordUpdate) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let done = match update {
                    RecordUpdate::Result(r) => {
                        let done = sqlx::query("UPDATE campaign_records SET outcome = $1, notes = $2, photo = $3, done_by = $4, done_at = $5, version = version + 1 WHERE district_code = $6 AND campaign_id = $7 AND seq = $8 AND version = $9")
                            .bind(r.outcome.clone())
                            .bind(r.notes.clone())
                            .bind(r.photo.clone())
                            .bind(r.recorded_by.clone())
                            .bind(r.recorded_at)
                            .bind(district)
                            .bind(campaign)
                            .bind(seq)
                            .bind(expected)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if done == 1 {
                            sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO campaign_results ({RESULT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")))
                                .bind(r.district_code.clone())
                                .bind(r.campaign_id)
                                .bind(r.seq)
                                .bind(r.id)
                                .bind(r.outcome.clone())
                                .bind(r.notes.clone())
                                .bind(r.photo.clone())
                                .bind(r.recorded_by.clone())
                                .bind(r.recorded_at)
                                .execute(&mut *tx)
                                .await?;
                        }
                        done
                    }
                    RecordUpdate::ManualMatch { house_code, grid_code, by, at, task } => {
                        let done = sqlx::query("UPDATE campaign_records SET house_code = $1, grid_code = $2, status = 'manual', confidence = 1.0, reason = $3, matched_by = $4, matched_at = $5, version = version + 1 WHERE district_code = $6 AND campaign_id = $7 AND seq = $8 AND version = $9")
                            .bind(house_code.clone())
                            .bind(grid_code.clone())
                            .bind(format!("matched by hand by {by}"))
                            .bind(by.clone())
                            .bind(*at)
                            .bind(district)
                            .bind(campaign)
                            .bind(seq)
                            .bind(expected)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if done == 1 {
                            Self::insert_tasks(&mut tx, std::slice::from_ref(task)).await?;
                        }
                        done
                    }
                };
                if done != 1 {
                    return Err(StoreError::Conflict {
                        what: "campaign record",
                        key: format!("record {seq} has changed since version {expected}: reload it and try again"),
                    });
                }
                tx.commit().await?;
                Ok(())
            }

            async fn campaign_results(&self, district: &str, campaign: Uuid, seq: i64) -> Result<Vec<CampaignResultRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {RESULT_COLS} FROM campaign_results WHERE district_code = $1 AND campaign_id = $2 AND seq = $3 ORDER BY recorded_at, id")))
                    .bind(district)
                    .bind(campaign)
                    .bind(seq)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(Self::result_row)
                    .collect()
            }

            async fn campaign_tasks(&self, f: &TaskFilter) -> Result<Vec<TaskSummary>> {
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT t.district_code, t.campaign_id, t.grid_code, t.worker, t.created_at, c.name, c.kind, c.status, \
                     (SELECT COUNT(*) FROM campaign_records r WHERE r.district_code = t.district_code AND r.campaign_id = t.campaign_id AND r.grid_code = t.grid_code AND r.status IN ('matched', 'manual')) AS total, \
                     (SELECT COUNT(*) FROM campaign_records r WHERE r.district_code = t.district_code AND r.campaign_id = t.campaign_id AND r.grid_code = t.grid_code AND r.status IN ('matched', 'manual') AND r.outcome IS NOT NULL) AS done \
                     FROM campaign_tasks t JOIN campaigns c ON c.district_code = t.district_code AND c.id = t.campaign_id WHERE 1 = 1",
                );
                if let Some(d) = &f.district {
                    q.push(" AND t.district_code = ").push_bind(d.clone());
                }
                if let Some(c) = f.campaign {
                    q.push(" AND t.campaign_id = ").push_bind(c);
                }
                if let Some(p) = f.grid_prefix.as_deref().filter(|p| Some(*p) != f.district.as_deref()) {
                    q.push(" AND t.grid_code >= ")
                        .push_bind(p.to_owned())
                        .push(" AND t.grid_code < ")
                        .push_bind(format!("{p}:"));
                }
                if f.open_only {
                    q.push(" AND c.status = 'open'");
                }
                q.push(" ORDER BY c.created_at DESC, t.campaign_id, t.grid_code");
                q.build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(TaskSummary {
                            task: Self::task_row(r)?,
                            campaign_name: r.try_get("name")?,
                            campaign_kind: r.try_get("kind")?,
                            campaign_status: r.try_get("status")?,
                            total: r.try_get("total")?,
                            done: r.try_get("done")?,
                        })
                    })
                    .collect()
            }

            async fn campaign_progress(&self, district: &str, campaign: Uuid, grid_prefix: Option<&str>) -> Result<Vec<ProgressRow>> {
                let mut q = QueryBuilder::<$db>::new("SELECT grid_code, status, outcome, COUNT(*) AS n FROM campaign_records WHERE district_code = ");
                q.push_bind(district.to_owned())
                    .push(" AND campaign_id = ")
                    .push_bind(campaign);
                if let Some(p) = grid_prefix.filter(|p| *p != district) {
                    q.push(" AND grid_code >= ")
                        .push_bind(p.to_owned())
                        .push(" AND grid_code < ")
                        .push_bind(format!("{p}:"));
                }
                q.push(" GROUP BY grid_code, status, outcome ORDER BY grid_code, status, outcome");
                q.build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(ProgressRow {
                            grid_code: r.try_get(0)?,
                            status: r.try_get(1)?,
                            outcome: r.try_get(2)?,
                            count: r.try_get(3)?,
                        })
                    })
                    .collect()
            }
        }
    };
}

campaign_impl!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
campaign_impl!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);

macro_rules! delegate_campaigns {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl Campaigns for AnyStore {
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                    AnyStore::Postgres(s) => s.$name($($arg),*).await,
                }
            } )*
        }
    };
}

delegate_campaigns! {
    async fn house_addresses(&self, district: &str, prefix: Option<&str>) -> Result<Vec<HouseAddressRow>>;
    async fn houses_fingerprint(&self, district: &str) -> Result<(i64, Option<DateTime<Utc>>)>;
    async fn create_campaign(&self, campaign: &CampaignRow, records: &[CampaignRecordRow], tasks: &[CampaignTaskRow]) -> Result<()>;
    async fn campaign(&self, district: &str, id: Uuid) -> Result<Option<CampaignRow>>;
    async fn campaigns(&self, district: Option<&str>) -> Result<Vec<CampaignRow>>;
    async fn set_campaign_status(&self, district: &str, id: Uuid, status: &str) -> Result<bool>;
    async fn campaign_record(&self, district: &str, campaign: Uuid, seq: i64) -> Result<Option<CampaignRecordRow>>;
    async fn campaign_records(&self, f: &CampaignRecordFilter) -> Result<Vec<CampaignRecordRow>>;
    async fn update_campaign_record(&self, district: &str, campaign: Uuid, seq: i64, expected: i64, update: &RecordUpdate) -> Result<()>;
    async fn campaign_results(&self, district: &str, campaign: Uuid, seq: i64) -> Result<Vec<CampaignResultRow>>;
    async fn campaign_tasks(&self, f: &TaskFilter) -> Result<Vec<TaskSummary>>;
    async fn campaign_progress(&self, district: &str, campaign: Uuid, grid_prefix: Option<&str>) -> Result<Vec<ProgressRow>>;
}
