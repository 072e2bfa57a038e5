//! Storage of Open311 (migration 0010): the API keys an administrator issues to outside clients
//! — the [`ApiKeys`] contract and its two implementations, generated once for SQLite and
//! PostgreSQL — and what an Open311 request adds to the case it became (its token, the key, the
//! photo link, the attributes, the requester's sealed contact details).
//!
//! The store holds what it is given: hashing keys and sealing personal data are the caller's.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::backend::{PgStore, SqliteStore};
use crate::{AnyStore, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it by in lists.
    pub prefix: String,
    /// SHA-256 of the key, hex; the key itself is never stored.
    pub key_hash: String,
    /// The jurisdiction: requests sent with the key must fall inside this region.
    pub region_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What an Open311 request adds to its case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open311RequestRow {
    pub district_code: String,
    pub case_id: Uuid,
    pub token: String,
    pub api_key_id: Uuid,
    /// The house code the request was located by, if it was.
    pub address_id: Option<String>,
    pub media_url: Option<String>,
    /// JSON object: attribute code → value or list of values.
    pub attributes: String,
    /// The requester's contact details, sealed; None when they were not kept.
    pub requester: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
}

/// The storage contract of API keys and Open311 requests. Every method is one transaction.
#[allow(async_fn_in_trait)]
pub trait ApiKeys {
    /// Stores a new key; a second key with the same hash is a conflict.
    async fn create_api_key(&self, key: &ApiKeyRow) -> Result<()>;
    /// Every key, newest first.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>>;
    async fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRow>>;
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>>;
    /// Marks a key revoked (once: a revoked key keeps its first revocation time); answers
    /// whether the key exists.
    async fn revoke_api_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool>;
    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;

    async fn insert_open311_request(&self, row: &Open311RequestRow) -> Result<()>;
    async fn open311_by_token(
        &self,
        district: &str,
        token: &str,
    ) -> Result<Option<Open311RequestRow>>;
    /// The Open311 rows of these cases (those that have one).
    async fn open311_requests(&self, case_ids: &[Uuid]) -> Result<Vec<Open311RequestRow>>;
}

const KEY_COLS: &str =
    "id, name, prefix, key_hash, region_code, created_by, created_at, revoked_at, last_used_at";
const REQUEST_COLS: &str = "district_code, case_id, token, api_key_id, address_id, media_url, attributes, requester, created_at";
/// Case ids per `IN (…)` list, under both databases' parameter limits.
const BATCH: usize = 500;

macro_rules! api_keys_impl {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            fn api_key_row(r: &$row) -> Result<ApiKeyRow> {
                Ok(ApiKeyRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    prefix: r.try_get("prefix")?,
                    key_hash: r.try_get("key_hash")?,
                    region_code: r.try_get("region_code")?,
                    created_by: r.try_get("created_by")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            }

            fn open311_row(r: &$row) -> Result<Open311RequestRow> {
                Ok(Open311RequestRow {
                    district_code: r.try_get("district_code")?,
                    case_id: r.try_get("case_id")?,
                    token: r.try_get("token")?,
                    api_key_id: r.try_get("api_key_id")?,
                    address_id: r.try_get("address_id")?,
                    media_url: r.try_get("media_url")?,
                    attributes: r.try_get("attributes")?,
                    requester: r.try_get("requester")?,
                    created_at: r.try_get("created_at")?,
                })
            }
        }

        impl ApiKeys for $store {
            async fn create_api_key(&self, k: &ApiKeyRow) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO api_keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                )))
                .bind(k.id)
                .bind(k.name.clone())
                .bind(k.prefix.clone())
                .bind(k.key_hash.clone())
                .bind(k.region_code.clone())
                .bind(k.created_by.clone())
                .bind(k.created_at)
                .bind(k.revoked_at)
                .bind(k.last_used_at)
                .execute(&self.write)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                        what: "api key",
                        key: k.prefix.clone(),
                    },
                    _ => StoreError::Database(e),
                })?;
                Ok(())
            }

            async fn api_keys(&self) -> Result<Vec<ApiKeyRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {KEY_COLS} FROM api_keys ORDER BY created_at DESC, id DESC"
                )))
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(Self::api_key_row)
                .collect()
            }

            async fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .as_ref()
                .map(Self::api_key_row)
                .transpose()
            }

            async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE key_hash = $1"
                )))
                .bind(key_hash)
                .fetch_optional(&self.read)
                .await?
                .as_ref()
                .map(Self::api_key_row)
                .transpose()
            }

            async fn revoke_api_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                )
                .bind(id)
                .bind(at)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn insert_open311_request(&self, o: &Open311RequestRow) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO open311_requests ({REQUEST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                )))
                .bind(o.district_code.clone())
                .bind(o.case_id)
                .bind(o.token.clone())
                .bind(o.api_key_id)
                .bind(o.address_id.clone())
                .bind(o.media_url.clone())
                .bind(o.attributes.clone())
                .bind(o.requester.clone())
                .bind(o.created_at)
                .execute(&self.write)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                        what: "open311 request",
                        key: o.token.clone(),
                    },
                    _ => StoreError::Database(e),
                })?;
                Ok(())
            }

            async fn open311_by_token(
                &self,
                district: &str,
                token: &str,
            ) -> Result<Option<Open311RequestRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {REQUEST_COLS} FROM open311_requests WHERE district_code = $1 AND token = $2"
                )))
                .bind(district)
                .bind(token)
                .fetch_optional(&self.read)
                .await?
                .as_ref()
                .map(Self::open311_row)
                .transpose()
            }

            async fn open311_requests(&self, case_ids: &[Uuid]) -> Result<Vec<Open311RequestRow>> {
                let mut out = Vec::new();
                for chunk in case_ids.chunks(BATCH) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "SELECT {REQUEST_COLS} FROM open311_requests WHERE case_id IN ("
                    ));
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&self.read).await? {
                        out.push(Self::open311_row(&r)?);
                    }
                }
                Ok(out)
            }
        }
    };
}

api_keys_impl!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
api_keys_impl!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);

macro_rules! delegate_api_keys {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl ApiKeys for AnyStore {
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                    AnyStore::Postgres(s) => s.$name($($arg),*).await,
                }
            } )*
        }
    };
}

delegate_api_keys! {
    async fn create_api_key(&self, key: &ApiKeyRow) -> Result<()>;
    async fn api_keys(&self) -> Result<Vec<ApiKeyRow>>;
    async fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRow>>;
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>>;
    async fn revoke_api_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool>;
    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    async fn insert_open311_request(&self, row: &Open311RequestRow) -> Result<()>;
    async fn open311_by_token(&self, district: &str, token: &str) -> Result<Option<Open311RequestRow>>;
    async fn open311_requests(&self, case_ids: &[Uuid]) -> Result<Vec<Open311RequestRow>>;
}
