//! Storage for wangge: the [`Store`] contract, its row types, and two implementations with the
//! same behaviour — SQLite (a file, the default) and PostgreSQL (by `postgres://` URL). Each has
//! its own versioned migrations, applied when a store is opened.
//!
//! Both implementations run the same SQL text (positional `$n` parameters, which SQLite accepts
//! too), generated once by the `store_impl!` macro, so they cannot drift apart.

pub mod api_keys;
mod backend;
pub mod campaign;
pub mod field_work;
pub mod hotline;
pub mod notices;
pub mod registry;
mod rows;
pub mod vault;

pub use backend::{AnyStore, PgStore, SqliteStore};
pub use campaign::Campaigns;
pub use registry::Registry;
pub use rows::*;

use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("a {what} with key '{key}' exists already")]
    Conflict { what: &'static str, key: String },
    #[error("case {id} has changed since version {expected}: reload it and try again")]
    VersionConflict { id: Uuid, expected: i64 },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("unsupported database URL '{0}': give a file path, sqlite://… or postgres://…")]
    BadUrl(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A change to the region tree, applied atomically: `retire` closes current versions
/// (valid_to = `at`), then `insert` adds new current versions valid from `at`.
#[derive(Debug, Clone)]
pub struct RegionChange {
    pub at: DateTime<Utc>,
    pub retire: Vec<String>,
    pub insert: Vec<RegionRow>,
}

/// The storage contract. Every method is one transaction: it either happens whole or not at all.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// True when the database holds no regions yet (a fresh database).
    async fn is_empty(&self) -> Result<bool>;
    /// A fingerprint of the region table that changes whenever any region is added or retired,
    /// so a server notices an import made by another process.
    async fn regions_revision(&self) -> Result<String>;

    async fn apply_region_change(&self, change: &RegionChange) -> Result<()>;
    /// Current regions, optionally of one level and/or one parent.
    async fn current_regions(
        &self,
        level: Option<&str>,
        parent: Option<&str>,
    ) -> Result<Vec<RegionRow>>;
    async fn current_region(&self, code: &str) -> Result<Option<RegionRow>>;
    /// Every version of a region, oldest first.
    async fn region_history(&self, code: &str) -> Result<Vec<RegionRow>>;

    async fn upsert_categories(&self, rows: &[CategoryRow]) -> Result<()>;
    async fn categories(&self) -> Result<Vec<CategoryRow>>;
    async fn category(&self, kind: &str, code: &str) -> Result<Option<CategoryRow>>;

    async fn insert_units(&self, rows: &[UnitRow]) -> Result<()>;
    async fn units(&self) -> Result<Vec<UnitRow>>;

    async fn insert_users(&self, rows: &[UserRow]) -> Result<()>;
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>>;
    async fn users(&self) -> Result<Vec<UserRow>>;

    /// Stores a new case with the first event of its timeline.
    async fn create_case(&self, case: &CaseRow, first: &CaseEventRow) -> Result<()>;
    async fn case(&self, id: Uuid) -> Result<Option<CaseRow>>;
    async fn case_events(&self, district_code: &str, id: Uuid) -> Result<Vec<CaseEventRow>>;
    async fn count_cases(&self) -> Result<i64>;
    /// Appends events to cases, each only if its case still has the expected version; all or
    /// nothing (a merge touches two cases).
    async fn apply_case_updates(&self, updates: &[CaseUpdate]) -> Result<()>;
    /// One page of cases and the total matching the filter.
    async fn list_cases(&self, filter: &CaseFilter) -> Result<(Vec<CaseRow>, i64)>;
    /// Every case matching the filter (its paging and order ignored) as a map point: one
    /// unsorted read of a few columns, for drawing tens of thousands of cases.
    async fn case_points(&self, filter: &CaseFilter) -> Result<Vec<CasePoint>>;
    /// The timelines of every case matching the filter (paging and order ignored), events in
    /// order, grouped by case: one read for evaluation.
    async fn timelines(&self, filter: &CaseFilter) -> Result<Vec<(CaseRow, Vec<CaseEventRow>)>>;
    /// Open cases of one subcategory in one district reported in [from, to], newest first.
    async fn open_cases_in_window(
        &self,
        district_code: &str,
        category_code: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CaseRow>>;

    async fn attachments(&self, district_code: &str, case_id: Uuid) -> Result<Vec<AttachmentRow>>;

    async fn user(&self, id: Uuid) -> Result<Option<UserRow>>;
    async fn insert_token(&self, token: &TokenRow) -> Result<()>;
    async fn token(&self, token_hash: &str) -> Result<Option<TokenRow>>;
    async fn delete_token(&self, token_hash: &str) -> Result<()>;

    async fn unit(&self, code: &str) -> Result<Option<UnitRow>>;
    /// Holidays and make-up working days: (YYYY-MM-DD, holiday | workday).
    async fn calendar_days(&self) -> Result<Vec<(String, String)>>;
    /// Sets these days, replacing what those dates had; other dates stay.
    async fn set_calendar_days(&self, days: &[(String, String)]) -> Result<()>;
    async fn insert_dispatch_rule(&self, rule: &DispatchRuleRow) -> Result<()>;
    async fn dispatch_rules(&self) -> Result<Vec<DispatchRuleRow>>;
    async fn delete_dispatch_rule(&self, id: Uuid) -> Result<bool>;

    /// Rewrites a user's name, role, jurisdiction, unit, password hash and active flag (the
    /// username, id and creation time stay). Answers whether the user exists.
    async fn update_user(&self, user: &UserRow) -> Result<bool>;
    /// The hashes of a user's tokens, so a change to the user can drop them from caches.
    async fn user_token_hashes(&self, user_id: Uuid) -> Result<Vec<String>>;
    /// Ends every session of a user; answers the hashes of the tokens removed.
    async fn delete_user_tokens(&self, user_id: Uuid) -> Result<Vec<String>>;
    /// Turns a handling unit on or off. Answers whether the unit exists.
    async fn set_unit_active(&self, code: &str, active: bool) -> Result<bool>;
    /// Removes these dates (YYYY-MM-DD) from the stored holidays and make-up days; answers how
    /// many were stored.
    async fn delete_calendar_days(&self, days: &[String]) -> Result<u64>;

    /// A page of the evaluation ledger in key order, after the key `after` (from the start when
    /// None): reading it in pages keeps a year's ledger from sitting in memory twice.
    async fn ledger_page(
        &self,
        after: Option<(String, Uuid)>,
        limit: i64,
    ) -> Result<Vec<LedgerRow>>;
    /// Adds or replaces ledger records.
    async fn put_ledger(&self, rows: &[LedgerRow]) -> Result<()>;
    /// The latest case change the ledger has a record of, if any.
    async fn ledger_watermark(&self) -> Result<Option<DateTime<Utc>>>;
    /// Keys and versions of the cases changed at or after `since` (every case when None).
    async fn cases_changed_since(&self, since: Option<DateTime<Utc>>) -> Result<Vec<CaseVersion>>;
    /// These cases with their timelines (cases not found are left out).
    async fn timelines_of(
        &self,
        keys: &[(String, Uuid)],
    ) -> Result<Vec<(CaseRow, Vec<CaseEventRow>)>>;
    /// Forgets every ledger record and the image, so they are all made again from the timelines
    /// (after a change to the rules that should apply to past cases too). Answers how many
    /// records there were.
    async fn clear_ledger(&self) -> Result<u64>;
    /// Replaces the ledger's image with these chunks, made from a ledger caught up `through`.
    async fn put_ledger_image(&self, through: DateTime<Utc>, chunks: &[Vec<u8>]) -> Result<()>;
    /// The ledger's image, if one was written: when it was caught up to, and its chunks.
    async fn ledger_image(&self) -> Result<Option<(DateTime<Utc>, Vec<Vec<u8>>)>>;
    /// Stores whole cases with their timelines at once (imports and benchmarks): one
    /// transaction, multi-row statements.
    async fn import_cases(&self, cases: &[(CaseRow, Vec<CaseEventRow>)]) -> Result<()>;
}

pub mod testing {
    //! Fresh databases for tests: a temporary SQLite file always, and a new PostgreSQL database
    //! when `WANGGE_TEST_DATABASE_URL` names a server (CI sets it).

    use std::str::FromStr;

    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgConnection};

    pub const TEST_DATABASE_URL_VAR: &str = "WANGGE_TEST_DATABASE_URL";

    /// Creates an empty PostgreSQL database beside the one `WANGGE_TEST_DATABASE_URL` names and
    /// returns its URL; `None` when the variable is unset.
    pub async fn fresh_postgres_url() -> crate::Result<Option<String>> {
        let Ok(base) = std::env::var(TEST_DATABASE_URL_VAR) else {
            return Ok(None);
        };
        let options = PgConnectOptions::from_str(&base)?;
        let mut conn = PgConnection::connect_with(&options).await?;
        let name = format!("wangge_test_{}", uuid::Uuid::now_v7().simple());
        // The name is made here of a fixed prefix and hex digits only.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let (head, _) = base.split_once('?').unwrap_or((&base, ""));
        let root = head.rsplit_once('/').map(|(r, _)| r).unwrap_or(head);
        Ok(Some(format!("{root}/{name}")))
    }
}
