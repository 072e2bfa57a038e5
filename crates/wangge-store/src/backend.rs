//! The two implementations of [`Store`]. Their method bodies are generated once by `store_impl!`
//! so that SQLite and PostgreSQL run the same statements.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::{
    AttachmentRow, CaseEventRow, CaseFilter, CaseOrder, CasePoint, CaseRow, CaseUpdate,
    CaseVersion, CategoryRow, DispatchRuleRow, LedgerRow, Light, RegionChange, RegionRow, Result,
    Store, StoreError, TokenRow, UnitRow, UserRow,
};

/// Rows per multi-row INSERT: keeps every statement under SQLite's 32,766 and PostgreSQL's
/// 65,535 bound-parameter limits.
const BATCH: usize = 500;

/// SQLite: one writer connection (SQLite serialises writers anyway; one connection avoids
/// SQLITE_BUSY storms) and a small pool of readers, in WAL mode so readers never block the writer.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) write: SqlitePool,
    pub(crate) read: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies pending migrations.
    pub async fn open(path_or_url: &str) -> Result<Self> {
        let options = if path_or_url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(path_or_url)?
        } else {
            SqliteConnectOptions::new().filename(path_or_url)
        }
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL in WAL mode: a committed transaction survives a crash of the process (kill -9);
        // only a power cut may lose the last few.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        // Readers keep a larger page cache and map the file, so pages the writer just changed
        // are not read back through the kernel one by one.
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                options
                    .read_only(true)
                    .pragma("cache_size", "-32768")
                    .pragma("mmap_size", "268435456"),
            )
            .await?;
        Ok(SqliteStore { write, read })
    }
}

#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) write: PgPool,
    pub(crate) read: PgPool,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            write: pool.clone(),
            read: pool,
        })
    }
}

fn conflict(what: &'static str, key: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what, key },
        _ => StoreError::Database(e),
    }
}

/// The columns a transition changes, then the key and the version guard: parameters $1–$14 of
/// every statement that updates a case.
macro_rules! bind_case_update {
    ($query:expr, $u:expr) => {{
        let c = &$u.case;
        $query
            .bind(&c.state)
            .bind(c.version)
            .bind(c.updated_at)
            .bind(&c.unit_code)
            .bind(&c.level)
            .bind(c.suspended)
            .bind(&c.status)
            .bind(&c.node)
            .bind(c.node_started_at)
            .bind(c.warn_at)
            .bind(c.due_at)
            .bind(&c.district_code)
            .bind(c.id)
            .bind($u.expected_version)
    }};
}

/// The case update ($1–$14), then the event ($15–$24): the parameter order of both
/// single-round-trip statements below.
macro_rules! bind_transition {
    ($query:expr, $u:expr) => {{
        let e = &$u.event;
        bind_case_update!($query, $u)
            .bind(&e.district_code)
            .bind(e.case_id)
            .bind(e.seq)
            .bind(&e.action)
            .bind(&e.actor)
            .bind(&e.role)
            .bind(e.at)
            .bind(&e.from_state)
            .bind(&e.to_state)
            .bind(&e.payload)
    }};
}

macro_rules! store_impl {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            /// The WHERE clause of a case listing; shared by the page and the count.
            fn push_case_filter(qb: &mut QueryBuilder<$db>, f: &CaseFilter) {
                qb.push(" WHERE 1 = 1");
                if !f.states.is_empty() {
                    qb.push(" AND state IN (");
                    let mut sep = qb.separated(", ");
                    for s in &f.states {
                        sep.push_bind(s.clone());
                    }
                    qb.push(")");
                }
                if let Some(c) = &f.category {
                    qb.push(" AND category_code = ").push_bind(c.clone());
                }
                if let Some(r) = &f.region_prefix {
                    qb.push(" AND grid_code LIKE ").push_bind(format!("{r}%"));
                }
                if let Some(u) = &f.unit {
                    qb.push(" AND (unit_code = ").push_bind(u.clone());
                    qb.push(" OR EXISTS (SELECT 1 FROM case_parts p WHERE p.district_code = cases.district_code AND p.case_id = cases.id AND p.unit_code = ")
                        .push_bind(u.clone())
                        .push("))");
                }
                if let Some(s) = &f.source {
                    qb.push(" AND source = ").push_bind(s.clone());
                }
                if let Some(n) = &f.node {
                    qb.push(" AND node = ").push_bind(n.clone());
                }
                if let Some(t) = f.reported_from {
                    qb.push(" AND reported_at >= ").push_bind(t);
                }
                if let Some(t) = f.reported_to {
                    qb.push(" AND reported_at < ").push_bind(t);
                }
                if f.pending_extension {
                    // The status cache is JSON text on both databases; serde writes the field
                    // as `null` when no request waits.
                    qb.push(" AND status LIKE '%\"pending_extension\":%' AND status NOT LIKE '%\"pending_extension\":null%'");
                }
                if let Some(who) = &f.reported_by {
                    qb.push(" AND EXISTS (SELECT 1 FROM case_events e WHERE e.district_code = cases.district_code AND e.case_id = cases.id AND e.seq = 1 AND e.actor = ")
                        .push_bind(who.clone())
                        .push(")");
                }
                if let Some(light) = f.light {
                    let now = f.now.unwrap_or_else(chrono::Utc::now);
                    match light {
                        Light::Red => qb.push(" AND due_at <= ").push_bind(now),
                        Light::Yellow => qb
                            .push(" AND warn_at <= ")
                            .push_bind(now)
                            .push(" AND due_at > ")
                            .push_bind(now),
                        Light::Green => qb.push(" AND warn_at > ").push_bind(now),
                    };
                }
            }

            fn region(row: &$row) -> Result<RegionRow> {
                Ok(RegionRow {
                    id: row.try_get("id")?,
                    code: row.try_get("code")?,
                    name: row.try_get("name")?,
                    level: row.try_get("level")?,
                    parent_code: row.try_get("parent_code")?,
                    area_class: row.try_get("area_class")?,
                    geometry: row.try_get("geometry")?,
                    area_m2: row.try_get("area_m2")?,
                    source_crs: row.try_get("source_crs")?,
                    valid_from: row.try_get("valid_from")?,
                    valid_to: row.try_get("valid_to")?,
                })
            }

            fn category_row(row: &$row) -> Result<CategoryRow> {
                Ok(CategoryRow {
                    kind: row.try_get("kind")?,
                    code: row.try_get("code")?,
                    class_code: row.try_get("class_code")?,
                    class_name: row.try_get("class_name")?,
                    name: row.try_get("name")?,
                    registration_standard: row.try_get("registration_standard")?,
                    closing_standard: row.try_get("closing_standard")?,
                    deadline_amount: row.try_get("deadline_amount")?,
                    deadline_type: row.try_get("deadline_type")?,
                    active: row.try_get("active")?,
                    auto_close: row.try_get("auto_close")?,
                    node_limits: row.try_get("node_limits")?,
                })
            }

            fn unit_row(row: &$row) -> Result<UnitRow> {
                Ok(UnitRow {
                    id: row.try_get("id")?,
                    code: row.try_get("code")?,
                    name: row.try_get("name")?,
                    kind: row.try_get("kind")?,
                    district_code: row.try_get("district_code")?,
                    active: row.try_get("active")?,
                })
            }

            fn user_row(row: &$row) -> Result<UserRow> {
                Ok(UserRow {
                    id: row.try_get("id")?,
                    username: row.try_get("username")?,
                    display_name: row.try_get("display_name")?,
                    role: row.try_get("role")?,
                    region_code: row.try_get("region_code")?,
                    unit_id: row.try_get("unit_id")?,
                    password_hash: row.try_get("password_hash")?,
                    active: row.try_get("active")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn case_row(row: &$row) -> Result<CaseRow> {
                Ok(CaseRow {
                    district_code: row.try_get("district_code")?,
                    id: row.try_get("id")?,
                    category_kind: row.try_get("category_kind")?,
                    category_code: row.try_get("category_code")?,
                    description: row.try_get("description")?,
                    address: row.try_get("address")?,
                    lon: row.try_get("lon")?,
                    lat: row.try_get("lat")?,
                    grid_code: row.try_get("grid_code")?,
                    community_code: row.try_get("community_code")?,
                    street_code: row.try_get("street_code")?,
                    source: row.try_get("source")?,
                    external_id: row.try_get("external_id")?,
                    component_code: row.try_get("component_code")?,
                    component_unit: row.try_get("component_unit")?,
                    state: row.try_get("state")?,
                    version: row.try_get("version")?,
                    reported_at: row.try_get("reported_at")?,
                    updated_at: row.try_get("updated_at")?,
                    unit_code: row.try_get("unit_code")?,
                    level: row.try_get("level")?,
                    suspended: row.try_get("suspended")?,
                    urgent: row.try_get("urgent")?,
                    status: row.try_get("status")?,
                    node: row.try_get("node")?,
                    node_started_at: row.try_get("node_started_at")?,
                    warn_at: row.try_get("warn_at")?,
                    due_at: row.try_get("due_at")?,
                })
            }

            async fn insert_event(
                tx: &mut sqlx::Transaction<'_, $db>,
                e: &CaseEventRow,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO case_events (district_code, case_id, seq, action, actor, role, at, from_state, to_state, payload) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&e.district_code)
                .bind(e.case_id)
                .bind(e.seq)
                .bind(&e.action)
                .bind(&e.actor)
                .bind(&e.role)
                .bind(e.at)
                .bind(&e.from_state)
                .bind(&e.to_state)
                .bind(&e.payload)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            fn event_row(row: &$row) -> Result<CaseEventRow> {
                Ok(CaseEventRow {
                    district_code: row.try_get("district_code")?,
                    case_id: row.try_get("case_id")?,
                    seq: row.try_get("seq")?,
                    action: row.try_get("action")?,
                    actor: row.try_get("actor")?,
                    role: row.try_get("role")?,
                    at: row.try_get("at")?,
                    from_state: row.try_get("from_state")?,
                    to_state: row.try_get("to_state")?,
                    payload: row.try_get("payload")?,
                })
            }
        }

        impl Store for $store {
            async fn is_empty(&self) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM regions")
                    .fetch_one(&self.read)
                    .await?;
                Ok(n == 0)
            }

            async fn regions_revision(&self) -> Result<String> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, COUNT(valid_to) AS closed, MAX(valid_from) AS last_from, MAX(valid_to) AS last_to FROM regions",
                )
                .fetch_one(&self.read)
                .await?;
                let n: i64 = row.try_get("n")?;
                let closed: i64 = row.try_get("closed")?;
                let last_from: Option<chrono::DateTime<chrono::Utc>> = row.try_get("last_from")?;
                let last_to: Option<chrono::DateTime<chrono::Utc>> = row.try_get("last_to")?;
                Ok(format!("{n}/{closed}/{last_from:?}/{last_to:?}"))
            }

            async fn apply_region_change(&self, change: &RegionChange) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for code in &change.retire {
                    sqlx::query("UPDATE regions SET valid_to = $1 WHERE code = $2 AND valid_to IS NULL")
                        .bind(change.at)
                        .bind(code)
                        .execute(&mut *tx)
                        .await?;
                }
                for chunk in change.insert.chunks(BATCH) {
                    let mut qb = QueryBuilder::new(
                        "INSERT INTO regions (id, code, name, level, parent_code, area_class, geometry, area_m2, source_crs, valid_from, valid_to) ",
                    );
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id)
                            .push_bind(&r.code)
                            .push_bind(&r.name)
                            .push_bind(&r.level)
                            .push_bind(&r.parent_code)
                            .push_bind(&r.area_class)
                            .push_bind(&r.geometry)
                            .push_bind(r.area_m2)
                            .push_bind(&r.source_crs)
                            .push_bind(r.valid_from)
                            .push_bind(r.valid_to);
                    });
                    let key = chunk.first().map(|r| r.code.clone()).unwrap_or_default();
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict("current region", key))?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn current_regions(
                &self,
                level: Option<&str>,
                parent: Option<&str>,
            ) -> Result<Vec<RegionRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM regions WHERE valid_to IS NULL \
                     AND ($1 IS NULL OR level = $1) AND ($2 IS NULL OR parent_code = $2) ORDER BY code",
                )
                .bind(level)
                .bind(parent)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::region).collect()
            }

            async fn current_region(&self, code: &str) -> Result<Option<RegionRow>> {
                let row = sqlx::query("SELECT * FROM regions WHERE code = $1 AND valid_to IS NULL")
                    .bind(code)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::region).transpose()
            }

            async fn region_history(&self, code: &str) -> Result<Vec<RegionRow>> {
                let rows = sqlx::query("SELECT * FROM regions WHERE code = $1 ORDER BY valid_from")
                    .bind(code)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::region).collect()
            }

            async fn upsert_categories(&self, rows: &[CategoryRow]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for chunk in rows.chunks(BATCH) {
                    let mut qb = QueryBuilder::new(
                        "INSERT INTO categories (kind, code, class_code, class_name, name, registration_standard, closing_standard, deadline_amount, deadline_type, active, auto_close, node_limits) ",
                    );
                    qb.push_values(chunk, |mut b, c| {
                        b.push_bind(&c.kind)
                            .push_bind(&c.code)
                            .push_bind(&c.class_code)
                            .push_bind(&c.class_name)
                            .push_bind(&c.name)
                            .push_bind(&c.registration_standard)
                            .push_bind(&c.closing_standard)
                            .push_bind(c.deadline_amount)
                            .push_bind(&c.deadline_type)
                            .push_bind(c.active)
                            .push_bind(c.auto_close)
                            .push_bind(&c.node_limits);
                    });
                    qb.push(
                        " ON CONFLICT (kind, code) DO UPDATE SET class_code = excluded.class_code, \
                         class_name = excluded.class_name, name = excluded.name, \
                         registration_standard = excluded.registration_standard, \
                         closing_standard = excluded.closing_standard, \
                         deadline_amount = excluded.deadline_amount, \
                         deadline_type = excluded.deadline_type, active = excluded.active, \
                         auto_close = excluded.auto_close, node_limits = excluded.node_limits",
                    );
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn categories(&self) -> Result<Vec<CategoryRow>> {
                let rows = sqlx::query("SELECT * FROM categories ORDER BY kind, code")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::category_row).collect()
            }

            async fn category(&self, kind: &str, code: &str) -> Result<Option<CategoryRow>> {
                let row = sqlx::query("SELECT * FROM categories WHERE kind = $1 AND code = $2")
                    .bind(kind)
                    .bind(code)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::category_row).transpose()
            }

            async fn insert_units(&self, rows: &[UnitRow]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for u in rows {
                    sqlx::query(
                        "INSERT INTO units (id, code, name, kind, district_code, active) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(u.id)
                    .bind(&u.code)
                    .bind(&u.name)
                    .bind(&u.kind)
                    .bind(&u.district_code)
                    .bind(u.active)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict("unit", u.code.clone()))?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn units(&self) -> Result<Vec<UnitRow>> {
                let rows = sqlx::query("SELECT * FROM units ORDER BY code")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::unit_row).collect()
            }

            async fn insert_users(&self, rows: &[UserRow]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for u in rows {
                    sqlx::query(
                        "INSERT INTO users (id, username, display_name, role, region_code, unit_id, password_hash, active, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(u.id)
                    .bind(&u.username)
                    .bind(&u.display_name)
                    .bind(&u.role)
                    .bind(&u.region_code)
                    .bind(u.unit_id)
                    .bind(&u.password_hash)
                    .bind(u.active)
                    .bind(u.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict("user", u.username.clone()))?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>> {
                let row = sqlx::query("SELECT * FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::user_row).transpose()
            }

            async fn users(&self) -> Result<Vec<UserRow>> {
                let rows = sqlx::query("SELECT * FROM users ORDER BY username")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::user_row).collect()
            }

            async fn create_case(&self, c: &CaseRow, first: &CaseEventRow) -> Result<()> {
                let mut tx = self.write.begin().await?;
                sqlx::query(
                    "INSERT INTO cases (district_code, id, category_kind, category_code, description, address, lon, lat, \
                     grid_code, community_code, street_code, source, external_id, state, version, reported_at, updated_at, \
                     unit_code, level, suspended, urgent, status, node, node_started_at, warn_at, due_at, \
                     component_code, component_unit) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)",
                )
                .bind(&c.district_code)
                .bind(c.id)
                .bind(&c.category_kind)
                .bind(&c.category_code)
                .bind(&c.description)
                .bind(&c.address)
                .bind(c.lon)
                .bind(c.lat)
                .bind(&c.grid_code)
                .bind(&c.community_code)
                .bind(&c.street_code)
                .bind(&c.source)
                .bind(&c.external_id)
                .bind(&c.state)
                .bind(c.version)
                .bind(c.reported_at)
                .bind(c.updated_at)
                .bind(&c.unit_code)
                .bind(&c.level)
                .bind(c.suspended)
                .bind(c.urgent)
                .bind(&c.status)
                .bind(&c.node)
                .bind(c.node_started_at)
                .bind(c.warn_at)
                .bind(c.due_at)
                .bind(&c.component_code)
                .bind(&c.component_unit)
                .execute(&mut *tx)
                .await
                .map_err(conflict(
                    "case from this source with external id",
                    c.external_id.clone().unwrap_or_default(),
                ))?;
                Self::insert_event(&mut tx, first).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn apply_case_updates(&self, updates: &[CaseUpdate]) -> Result<()> {
                // The common transition — one case, one event, nothing else — in one round trip.
                if let [u] = updates
                    && u.new_parts.is_empty()
                    && u.new_attachments.is_empty()
                {
                    return if self.update_and_append(u).await? {
                        Ok(())
                    } else {
                        Err(StoreError::VersionConflict {
                            id: u.case.id,
                            expected: u.expected_version,
                        })
                    };
                }
                let mut tx = self.write.begin().await?;
                for u in updates {
                    let c = &u.case;
                    let done = bind_case_update!(
                        sqlx::query(
                            "UPDATE cases SET state = $1, version = $2, updated_at = $3, unit_code = $4, level = $5, \
                             suspended = $6, status = $7, node = $8, node_started_at = $9, warn_at = $10, due_at = $11 \
                             WHERE district_code = $12 AND id = $13 AND version = $14",
                        ),
                        u
                    )
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::VersionConflict {
                            id: c.id,
                            expected: u.expected_version,
                        });
                    }
                    Self::insert_event(&mut tx, &u.event).await?;
                    for a in &u.new_attachments {
                        sqlx::query(
                            "INSERT INTO attachments (district_code, id, case_id, sha256, media_type, size, width, height, stage, file_name, uploaded_by, uploaded_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        )
                        .bind(&a.district_code)
                        .bind(a.id)
                        .bind(a.case_id)
                        .bind(&a.sha256)
                        .bind(&a.media_type)
                        .bind(a.size)
                        .bind(a.width)
                        .bind(a.height)
                        .bind(&a.stage)
                        .bind(&a.file_name)
                        .bind(&a.uploaded_by)
                        .bind(a.uploaded_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    for unit in &u.new_parts {
                        sqlx::query(
                            "INSERT INTO case_parts (district_code, case_id, unit_code) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        )
                        .bind(&c.district_code)
                        .bind(c.id)
                        .bind(unit)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_cases(&self, f: &CaseFilter) -> Result<(Vec<CaseRow>, i64)> {
                let mut count = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM cases");
                Self::push_case_filter(&mut count, f);
                let total: i64 = count.build_query_scalar().fetch_one(&self.read).await?;
                let mut page = QueryBuilder::<$db>::new("SELECT * FROM cases");
                Self::push_case_filter(&mut page, f);
                page.push(match f.order {
                    CaseOrder::NewestFirst => " ORDER BY reported_at DESC, id DESC",
                    CaseOrder::OldestFirst => " ORDER BY reported_at ASC, id ASC",
                    CaseOrder::DueFirst => " ORDER BY due_at IS NULL, due_at ASC, id ASC",
                });
                page.push(" LIMIT ").push_bind(f.limit.clamp(0, 10_000));
                page.push(" OFFSET ").push_bind(f.offset.max(0));
                let rows = page.build().fetch_all(&self.read).await?;
                Ok((rows.iter().map(Self::case_row).collect::<Result<_>>()?, total))
            }

            async fn case_points(&self, f: &CaseFilter) -> Result<Vec<CasePoint>> {
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT id, lon, lat, state, category_code, grid_code, substr(description, 1, 60) AS description, node, warn_at, due_at FROM cases",
                );
                Self::push_case_filter(&mut q, f);
                let rows = q.build().fetch_all(&self.read).await?;
                rows.iter()
                    .map(|row| {
                        Ok(CasePoint {
                            id: row.try_get("id")?,
                            lon: row.try_get("lon")?,
                            lat: row.try_get("lat")?,
                            state: row.try_get("state")?,
                            category_code: row.try_get("category_code")?,
                            grid_code: row.try_get("grid_code")?,
                            description: row.try_get("description")?,
                            node: row.try_get("node")?,
                            warn_at: row.try_get("warn_at")?,
                            due_at: row.try_get("due_at")?,
                        })
                    })
                    .collect()
            }

            async fn timelines(&self, f: &CaseFilter) -> Result<Vec<(CaseRow, Vec<CaseEventRow>)>> {
                let mut q = QueryBuilder::<$db>::new("SELECT * FROM cases");
                Self::push_case_filter(&mut q, f);
                q.push(" ORDER BY district_code, id");
                let cases = q.build().fetch_all(&self.read).await?;
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT ev.* FROM case_events ev WHERE EXISTS (SELECT 1 FROM cases",
                );
                Self::push_case_filter(&mut q, f);
                q.push(" AND cases.district_code = ev.district_code AND cases.id = ev.case_id) ORDER BY ev.district_code, ev.case_id, ev.seq");
                let events = q
                    .build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(Self::event_row)
                    .collect::<Result<Vec<_>>>()?;
                // Grouped by case: a case reported between the two reads has events but no row,
                // and is left for the next read.
                let mut by_case: std::collections::HashMap<(String, Uuid), Vec<CaseEventRow>> =
                    std::collections::HashMap::new();
                for e in events {
                    by_case.entry((e.district_code.clone(), e.case_id)).or_default().push(e);
                }
                let mut out = Vec::with_capacity(cases.len());
                for row in &cases {
                    let case = Self::case_row(row)?;
                    let timeline = by_case
                        .remove(&(case.district_code.clone(), case.id))
                        .unwrap_or_default();
                    out.push((case, timeline));
                }
                Ok(out)
            }

            async fn attachments(&self, district_code: &str, case_id: Uuid) -> Result<Vec<AttachmentRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM attachments WHERE district_code = $1 AND case_id = $2 ORDER BY uploaded_at, id",
                )
                .bind(district_code)
                .bind(case_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(AttachmentRow {
                            district_code: row.try_get("district_code")?,
                            id: row.try_get("id")?,
                            case_id: row.try_get("case_id")?,
                            sha256: row.try_get("sha256")?,
                            media_type: row.try_get("media_type")?,
                            size: row.try_get("size")?,
                            width: row.try_get("width")?,
                            height: row.try_get("height")?,
                            stage: row.try_get("stage")?,
                            file_name: row.try_get("file_name")?,
                            uploaded_by: row.try_get("uploaded_by")?,
                            uploaded_at: row.try_get("uploaded_at")?,
                        })
                    })
                    .collect()
            }

            async fn user(&self, id: Uuid) -> Result<Option<UserRow>> {
                let row = sqlx::query("SELECT * FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::user_row).transpose()
            }

            async fn insert_token(&self, t: &TokenRow) -> Result<()> {
                sqlx::query(
                    "INSERT INTO api_tokens (token_hash, user_id, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.token_hash)
                .bind(t.user_id)
                .bind(&t.label)
                .bind(t.created_at)
                .bind(t.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn token(&self, token_hash: &str) -> Result<Option<TokenRow>> {
                let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.read)
                    .await?;
                row.map(|row| {
                    Ok(TokenRow {
                        token_hash: row.try_get("token_hash")?,
                        user_id: row.try_get("user_id")?,
                        label: row.try_get("label")?,
                        created_at: row.try_get("created_at")?,
                        expires_at: row.try_get("expires_at")?,
                    })
                })
                .transpose()
            }

            async fn delete_token(&self, token_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn unit(&self, code: &str) -> Result<Option<UnitRow>> {
                let row = sqlx::query("SELECT * FROM units WHERE code = $1")
                    .bind(code)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::unit_row).transpose()
            }

            async fn open_cases_in_window(
                &self,
                district_code: &str,
                category_code: &str,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<CaseRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM cases WHERE district_code = $1 AND category_code = $2 \
                     AND reported_at >= $3 AND reported_at <= $4 \
                     AND state NOT IN ('invalid', 'closed', 'merged') \
                     ORDER BY reported_at DESC LIMIT $5",
                )
                .bind(district_code)
                .bind(category_code)
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::case_row).collect()
            }

            async fn calendar_days(&self) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT day, kind FROM calendar_days ORDER BY day")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("day")?, r.try_get("kind")?)))
                    .collect()
            }

            async fn set_calendar_days(&self, days: &[(String, String)]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for (day, kind) in days {
                    sqlx::query(
                        "INSERT INTO calendar_days (day, kind) VALUES ($1, $2) ON CONFLICT (day) DO UPDATE SET kind = excluded.kind",
                    )
                    .bind(day)
                    .bind(kind)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_dispatch_rule(&self, r: &DispatchRuleRow) -> Result<()> {
                sqlx::query(
                    "INSERT INTO dispatch_rules (id, category_code, region_code, component_unit, unit_code, auto_dispatch, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(r.id)
                .bind(&r.category_code)
                .bind(&r.region_code)
                .bind(&r.component_unit)
                .bind(&r.unit_code)
                .bind(r.auto_dispatch)
                .bind(r.created_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn dispatch_rules(&self) -> Result<Vec<DispatchRuleRow>> {
                let rows = sqlx::query("SELECT * FROM dispatch_rules ORDER BY created_at, id")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(DispatchRuleRow {
                            id: row.try_get("id")?,
                            category_code: row.try_get("category_code")?,
                            region_code: row.try_get("region_code")?,
                            component_unit: row.try_get("component_unit")?,
                            unit_code: row.try_get("unit_code")?,
                            auto_dispatch: row.try_get("auto_dispatch")?,
                            created_at: row.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn delete_dispatch_rule(&self, id: Uuid) -> Result<bool> {
                let done = sqlx::query("DELETE FROM dispatch_rules WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn update_user(&self, u: &UserRow) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE users SET display_name = $1, role = $2, region_code = $3, unit_id = $4, \
                     password_hash = $5, active = $6 WHERE id = $7",
                )
                .bind(&u.display_name)
                .bind(&u.role)
                .bind(&u.region_code)
                .bind(u.unit_id)
                .bind(&u.password_hash)
                .bind(u.active)
                .bind(u.id)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn user_token_hashes(&self, user_id: Uuid) -> Result<Vec<String>> {
                let rows = sqlx::query("SELECT token_hash FROM api_tokens WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("token_hash")?)).collect()
            }

            async fn delete_user_tokens(&self, user_id: Uuid) -> Result<Vec<String>> {
                let rows = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 RETURNING token_hash")
                    .bind(user_id)
                    .fetch_all(&self.write)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("token_hash")?)).collect()
            }

            async fn set_unit_active(&self, code: &str, active: bool) -> Result<bool> {
                let done = sqlx::query("UPDATE units SET active = $1 WHERE code = $2")
                    .bind(active)
                    .bind(code)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_calendar_days(&self, days: &[String]) -> Result<u64> {
                let mut tx = self.write.begin().await?;
                let mut removed = 0;
                for day in days {
                    removed += sqlx::query("DELETE FROM calendar_days WHERE day = $1")
                        .bind(day)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(removed)
            }

            async fn ledger_page(&self, after: Option<(String, Uuid)>, limit: i64) -> Result<Vec<LedgerRow>> {
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT district_code, case_id, version, updated_at, record FROM case_ledger",
                );
                if let Some((district, id)) = after {
                    q.push(" WHERE (district_code, case_id) > (")
                        .push_bind(district)
                        .push(", ")
                        .push_bind(id)
                        .push(")");
                }
                q.push(" ORDER BY district_code, case_id LIMIT ").push_bind(limit);
                q.build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(LedgerRow {
                            district_code: row.try_get("district_code")?,
                            case_id: row.try_get("case_id")?,
                            version: row.try_get("version")?,
                            updated_at: row.try_get("updated_at")?,
                            record: row.try_get("record")?,
                        })
                    })
                    .collect()
            }

            async fn put_ledger(&self, rows: &[LedgerRow]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for chunk in rows.chunks(BATCH) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO case_ledger (district_code, case_id, version, updated_at, record) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.district_code.clone())
                            .push_bind(r.case_id)
                            .push_bind(r.version)
                            .push_bind(r.updated_at)
                            .push_bind(r.record.clone());
                    });
                    q.push(
                        " ON CONFLICT (district_code, case_id) DO UPDATE SET version = excluded.version, \
                         updated_at = excluded.updated_at, record = excluded.record",
                    );
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn ledger_watermark(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
                Ok(sqlx::query_scalar("SELECT MAX(updated_at) FROM case_ledger")
                    .fetch_one(&self.read)
                    .await?)
            }

            async fn cases_changed_since(&self, since: Option<chrono::DateTime<chrono::Utc>>) -> Result<Vec<CaseVersion>> {
                let mut q = QueryBuilder::<$db>::new(
                    "SELECT district_code, id, version, updated_at FROM cases",
                );
                if let Some(t) = since {
                    q.push(" WHERE updated_at >= ").push_bind(t);
                }
                q.build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(CaseVersion {
                            district_code: row.try_get("district_code")?,
                            id: row.try_get("id")?,
                            version: row.try_get("version")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn timelines_of(&self, keys: &[(String, Uuid)]) -> Result<Vec<(CaseRow, Vec<CaseEventRow>)>> {
                let mut out = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(BATCH) {
                    let list = |q: &mut QueryBuilder<$db>| {
                        let mut sep = q.separated(", ");
                        for (district, id) in chunk {
                            sep.push("(")
                                .push_bind_unseparated(district.clone())
                                .push_unseparated(", ")
                                .push_bind_unseparated(*id)
                                .push_unseparated(")");
                        }
                    };
                    let mut q = QueryBuilder::<$db>::new("SELECT * FROM cases WHERE (district_code, id) IN (VALUES ");
                    list(&mut q);
                    q.push(")");
                    let cases = q.build().fetch_all(&self.read).await?;
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT * FROM case_events WHERE (district_code, case_id) IN (VALUES ",
                    );
                    list(&mut q);
                    q.push(") ORDER BY district_code, case_id, seq");
                    let mut by_case: std::collections::HashMap<(String, Uuid), Vec<CaseEventRow>> =
                        std::collections::HashMap::new();
                    for row in q.build().fetch_all(&self.read).await?.iter() {
                        let e = Self::event_row(row)?;
                        by_case.entry((e.district_code.clone(), e.case_id)).or_default().push(e);
                    }
                    for row in &cases {
                        let case = Self::case_row(row)?;
                        let timeline = by_case
                            .remove(&(case.district_code.clone(), case.id))
                            .unwrap_or_default();
                        out.push((case, timeline));
                    }
                }
                Ok(out)
            }

            async fn clear_ledger(&self) -> Result<u64> {
                let mut tx = self.write.begin().await?;
                sqlx::query("DELETE FROM ledger_image").execute(&mut *tx).await?;
                let gone = sqlx::query("DELETE FROM case_ledger").execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(gone.rows_affected())
            }

            async fn put_ledger_image(&self, through: chrono::DateTime<chrono::Utc>, chunks: &[Vec<u8>]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                // Two servers writing images at once must not interleave their chunks.
                if let Some(lock) = Self::LOCK_LEDGER_IMAGE {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                sqlx::query("DELETE FROM ledger_image").execute(&mut *tx).await?;
                for (n, bytes) in chunks.iter().enumerate() {
                    sqlx::query("INSERT INTO ledger_image (n, through, bytes) VALUES ($1, $2, $3)")
                        .bind(n as i32)
                        .bind(through)
                        .bind(bytes)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn ledger_image(&self) -> Result<Option<(chrono::DateTime<chrono::Utc>, Vec<Vec<u8>>)>> {
                // One transaction, so the chunks are all of one image.
                let mut tx = self.read.begin().await?;
                let rows = sqlx::query("SELECT through, bytes FROM ledger_image ORDER BY n")
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let Some(first) = rows.first() else {
                    return Ok(None);
                };
                let through = first.try_get("through")?;
                let chunks = rows
                    .iter()
                    .map(|r| r.try_get::<Vec<u8>, _>("bytes"))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Some((through, chunks)))
            }

            async fn import_cases(&self, cases: &[(CaseRow, Vec<CaseEventRow>)]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                // 28 columns a case: 500 rows stay under every parameter limit.
                for chunk in cases.chunks(BATCH) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO cases (district_code, id, category_kind, category_code, description, address, lon, lat, \
                         grid_code, community_code, street_code, source, external_id, state, version, reported_at, updated_at, \
                         unit_code, level, suspended, urgent, status, node, node_started_at, warn_at, due_at, \
                         component_code, component_unit) ",
                    );
                    q.push_values(chunk, |mut b, (c, _)| {
                        b.push_bind(c.district_code.clone())
                            .push_bind(c.id)
                            .push_bind(c.category_kind.clone())
                            .push_bind(c.category_code.clone())
                            .push_bind(c.description.clone())
                            .push_bind(c.address.clone())
                            .push_bind(c.lon)
                            .push_bind(c.lat)
                            .push_bind(c.grid_code.clone())
                            .push_bind(c.community_code.clone())
                            .push_bind(c.street_code.clone())
                            .push_bind(c.source.clone())
                            .push_bind(c.external_id.clone())
                            .push_bind(c.state.clone())
                            .push_bind(c.version)
                            .push_bind(c.reported_at)
                            .push_bind(c.updated_at)
                            .push_bind(c.unit_code.clone())
                            .push_bind(c.level.clone())
                            .push_bind(c.suspended)
                            .push_bind(c.urgent)
                            .push_bind(c.status.clone())
                            .push_bind(c.node.clone())
                            .push_bind(c.node_started_at)
                            .push_bind(c.warn_at)
                            .push_bind(c.due_at)
                            .push_bind(c.component_code.clone())
                            .push_bind(c.component_unit.clone());
                    });
                    q.build().execute(&mut *tx).await?;
                }
                let events: Vec<&CaseEventRow> = cases.iter().flat_map(|(_, e)| e).collect();
                for chunk in events.chunks(BATCH * 2) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO case_events (district_code, case_id, seq, action, actor, role, at, from_state, to_state, payload) ",
                    );
                    q.push_values(chunk, |mut b, e| {
                        b.push_bind(e.district_code.clone())
                            .push_bind(e.case_id)
                            .push_bind(e.seq)
                            .push_bind(e.action.clone())
                            .push_bind(e.actor.clone())
                            .push_bind(e.role.clone())
                            .push_bind(e.at)
                            .push_bind(e.from_state.clone())
                            .push_bind(e.to_state.clone())
                            .push_bind(e.payload.clone());
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                // A bulk load leaves the planner's statistics behind: refresh them, so the
                // next queries use the indexes.
                for &statement in Self::ANALYZE_AFTER_IMPORT {
                    sqlx::query(statement).execute(&self.write).await?;
                }
                Ok(())
            }

            async fn case(&self, id: Uuid) -> Result<Option<CaseRow>> {
                let row = sqlx::query("SELECT * FROM cases WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::case_row).transpose()
            }

            async fn case_events(&self, district_code: &str, id: Uuid) -> Result<Vec<CaseEventRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM case_events WHERE district_code = $1 AND case_id = $2 ORDER BY seq",
                )
                .bind(district_code)
                .bind(id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::event_row).collect()
            }

            async fn count_cases(&self) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM cases")
                    .fetch_one(&self.read)
                    .await?)
            }
        }
    };
}

impl SqliteStore {
    /// SQLite has one writer at a time already.
    const LOCK_LEDGER_IMAGE: Option<&'static str> = None;
    /// SQLite's planner picks the indexes without statistics.
    const ANALYZE_AFTER_IMPORT: &'static [&'static str] = &[];

    /// UPDATE guarded by the version and the event INSERT in one hand-off to SQLite's thread:
    /// the INSERT only happens if the UPDATE changed a row (`changes()`), both in one
    /// transaction. Answers whether the case still had the expected version.
    async fn update_and_append(&self, u: &CaseUpdate) -> Result<bool> {
        let mut conn = self.write.acquire().await?;
        let query = bind_transition!(
            sqlx::query(
                "BEGIN IMMEDIATE; \
                 UPDATE cases SET state = $1, version = $2, updated_at = $3, unit_code = $4, level = $5, \
                 suspended = $6, status = $7, node = $8, node_started_at = $9, warn_at = $10, due_at = $11 \
                 WHERE district_code = $12 AND id = $13 AND version = $14; \
                 INSERT INTO case_events (district_code, case_id, seq, action, actor, role, at, from_state, to_state, payload) \
                 SELECT $15, $16, $17, $18, $19, $20, $21, $22, $23, $24 WHERE changes() = 1 RETURNING seq; \
                 COMMIT;",
            ),
            u
        );
        // The row count of BEGIN/COMMIT repeats the last change count, so the event's RETURNING
        // row is what tells whether the version matched.
        match query.fetch_all(&mut *conn).await {
            Ok(rows) => Ok(rows.len() == 1),
            Err(e) => {
                // A failure part-way leaves the transaction open on the one writer connection.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(e.into())
            }
        }
    }
}

impl PgStore {
    /// Blocks other writers of the image (readers go on) until the transaction ends.
    const LOCK_LEDGER_IMAGE: Option<&'static str> =
        Some("LOCK TABLE ledger_image IN SHARE ROW EXCLUSIVE MODE");
    const ANALYZE_AFTER_IMPORT: &'static [&'static str] = &["ANALYZE cases", "ANALYZE case_events"];

    /// UPDATE guarded by the version and the event INSERT as one statement (atomic by itself):
    /// the INSERT reads from the UPDATE, so it happens only if the version matched.
    async fn update_and_append(&self, u: &CaseUpdate) -> Result<bool> {
        let query = bind_transition!(
            sqlx::query(
                "WITH updated AS ( \
                 UPDATE cases SET state = $1, version = $2, updated_at = $3, unit_code = $4, level = $5, \
                 suspended = $6, status = $7, node = $8, node_started_at = $9, warn_at = $10, due_at = $11 \
                 WHERE district_code = $12 AND id = $13 AND version = $14 RETURNING 1) \
                 INSERT INTO case_events (district_code, case_id, seq, action, actor, role, at, from_state, to_state, payload) \
                 SELECT $15, $16, $17, $18, $19, $20, $21, $22, $23, $24 FROM updated",
            ),
            u
        );
        Ok(query.execute(&self.write).await?.rows_affected() == 1)
    }
}

store_impl!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
store_impl!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);

/// The store chosen at run time from a path or URL.
#[derive(Clone, Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// `postgres://…` or `postgresql://…` opens PostgreSQL; `sqlite:…` or a plain file path opens SQLite.
    pub async fn open(target: &str) -> Result<Self> {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            Ok(AnyStore::Postgres(PgStore::open(target).await?))
        } else if target.contains("://") && !target.starts_with("sqlite:") {
            Err(StoreError::BadUrl(target.to_owned()))
        } else {
            Ok(AnyStore::Sqlite(SqliteStore::open(target).await?))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

macro_rules! delegate {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl Store for AnyStore {
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                    AnyStore::Postgres(s) => s.$name($($arg),*).await,
                }
            } )*
        }
    };
}

delegate! {
    async fn is_empty(&self) -> Result<bool>;
    async fn regions_revision(&self) -> Result<String>;
    async fn apply_region_change(&self, change: &RegionChange) -> Result<()>;
    async fn current_regions(&self, level: Option<&str>, parent: Option<&str>) -> Result<Vec<RegionRow>>;
    async fn current_region(&self, code: &str) -> Result<Option<RegionRow>>;
    async fn region_history(&self, code: &str) -> Result<Vec<RegionRow>>;
    async fn upsert_categories(&self, rows: &[CategoryRow]) -> Result<()>;
    async fn categories(&self) -> Result<Vec<CategoryRow>>;
    async fn category(&self, kind: &str, code: &str) -> Result<Option<CategoryRow>>;
    async fn insert_units(&self, rows: &[UnitRow]) -> Result<()>;
    async fn units(&self) -> Result<Vec<UnitRow>>;
    async fn insert_users(&self, rows: &[UserRow]) -> Result<()>;
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>>;
    async fn users(&self) -> Result<Vec<UserRow>>;
    async fn create_case(&self, case: &CaseRow, first: &CaseEventRow) -> Result<()>;
    async fn case(&self, id: Uuid) -> Result<Option<CaseRow>>;
    async fn case_events(&self, district_code: &str, id: Uuid) -> Result<Vec<CaseEventRow>>;
    async fn count_cases(&self) -> Result<i64>;
    async fn apply_case_updates(&self, updates: &[CaseUpdate]) -> Result<()>;
    async fn list_cases(&self, filter: &CaseFilter) -> Result<(Vec<CaseRow>, i64)>;
    async fn case_points(&self, filter: &CaseFilter) -> Result<Vec<CasePoint>>;
    async fn timelines(&self, filter: &CaseFilter) -> Result<Vec<(CaseRow, Vec<CaseEventRow>)>>;
    async fn open_cases_in_window(&self, district_code: &str, category_code: &str, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>, limit: i64) -> Result<Vec<CaseRow>>;
    async fn attachments(&self, district_code: &str, case_id: Uuid) -> Result<Vec<AttachmentRow>>;
    async fn user(&self, id: Uuid) -> Result<Option<UserRow>>;
    async fn insert_token(&self, token: &TokenRow) -> Result<()>;
    async fn token(&self, token_hash: &str) -> Result<Option<TokenRow>>;
    async fn delete_token(&self, token_hash: &str) -> Result<()>;
    async fn unit(&self, code: &str) -> Result<Option<UnitRow>>;
    async fn calendar_days(&self) -> Result<Vec<(String, String)>>;
    async fn set_calendar_days(&self, days: &[(String, String)]) -> Result<()>;
    async fn insert_dispatch_rule(&self, rule: &DispatchRuleRow) -> Result<()>;
    async fn dispatch_rules(&self) -> Result<Vec<DispatchRuleRow>>;
    async fn delete_dispatch_rule(&self, id: Uuid) -> Result<bool>;
    async fn update_user(&self, user: &UserRow) -> Result<bool>;
    async fn user_token_hashes(&self, user_id: Uuid) -> Result<Vec<String>>;
    async fn delete_user_tokens(&self, user_id: Uuid) -> Result<Vec<String>>;
    async fn set_unit_active(&self, code: &str, active: bool) -> Result<bool>;
    async fn delete_calendar_days(&self, days: &[String]) -> Result<u64>;
    async fn ledger_page(&self, after: Option<(String, Uuid)>, limit: i64) -> Result<Vec<LedgerRow>>;
    async fn put_ledger(&self, rows: &[LedgerRow]) -> Result<()>;
    async fn ledger_watermark(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>>;
    async fn cases_changed_since(&self, since: Option<chrono::DateTime<chrono::Utc>>) -> Result<Vec<CaseVersion>>;
    async fn timelines_of(&self, keys: &[(String, Uuid)]) -> Result<Vec<(CaseRow, Vec<CaseEventRow>)>>;
    async fn import_cases(&self, cases: &[(CaseRow, Vec<CaseEventRow>)]) -> Result<()>;
    async fn clear_ledger(&self) -> Result<u64>;
    async fn put_ledger_image(&self, through: chrono::DateTime<chrono::Utc>, chunks: &[Vec<u8>]) -> Result<()>;
    async fn ledger_image(&self) -> Result<Option<(chrono::DateTime<chrono::Utc>, Vec<Vec<u8>>)>>;
}
