//! Storage of notices (migration 0013): announcements to roles in a region and who has read
//! them, personal notifications (one per recipient and dedupe key, however often they are made)
//! and each attempt to deliver one — the [`Notices`] contract and its two implementations,
//! generated once for SQLite and PostgreSQL. Also the read the deadline sweep needs: the cases
//! whose yellow or red instant fell in a window.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::backend::{PgStore, SqliteStore};
use crate::{AnyStore, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementRow {
    /// The district the audience region lies in.
    pub district_code: String,
    pub id: Uuid,
    pub title: String,
    pub body: String,
    /// Role names; empty = every role.
    pub audience_roles: Vec<String>,
    /// Users whose region code starts with this see the announcement.
    pub region_code: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub district_code: String,
    pub id: Uuid,
    /// A username.
    pub recipient: String,
    /// assigned | urged | returned | rework | confirm_task | check_task | due_soon | overdue
    pub kind: String,
    pub case_id: Option<Uuid>,
    pub text: String,
    /// Unique per recipient within a district: the same notice is never made twice.
    pub dedupe_key: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub district_code: String,
    pub notification_id: Uuid,
    pub id: Uuid,
    /// log | sms | webhook
    pub channel: String,
    /// sent | failed
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A case whose deadline instant the sweep found passed: what is needed to tell its holder.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCase {
    pub district_code: String,
    pub id: Uuid,
    pub grid_code: String,
    pub community_code: String,
    pub street_code: String,
    pub unit_code: Option<String>,
    pub level: String,
    pub state: String,
    pub description: String,
    pub node: Option<String>,
    pub node_started_at: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
}

/// The storage contract of notices. Every method is one transaction.
#[allow(async_fn_in_trait)]
pub trait Notices {
    async fn insert_announcement(&self, a: &AnnouncementRow) -> Result<()>;
    /// An announcement by its id alone (ids are UUIDv7, unique everywhere).
    async fn announcement(&self, id: Uuid) -> Result<Option<AnnouncementRow>>;
    /// Announcements of a district (every district when None) not expired at `now`, newest
    /// first, at most `limit`.
    async fn current_announcements(
        &self,
        district: Option<&str>,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<AnnouncementRow>>;
    /// Records that a user read an announcement (again: nothing changes).
    async fn mark_announcement_read(
        &self,
        district: &str,
        id: Uuid,
        username: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The announcements of these a user has read.
    async fn announcements_read(&self, username: &str, ids: &[Uuid]) -> Result<Vec<Uuid>>;

    /// Stores the notifications whose (district, recipient, dedupe key) is new and answers
    /// those; the others were made before (by this server or another) and are left alone.
    async fn insert_notifications(&self, rows: &[NotificationRow]) -> Result<Vec<NotificationRow>>;
    /// A recipient's notifications, newest first.
    async fn notifications(
        &self,
        recipient: &str,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<NotificationRow>>;
    /// Marks one of a recipient's notifications read (if it was not) and answers it; None when
    /// the recipient has no notification with this id.
    async fn mark_notification_read(
        &self,
        recipient: &str,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<NotificationRow>>;
    /// Marks every unread notification of a recipient read; answers how many.
    async fn mark_all_notifications_read(&self, recipient: &str, at: DateTime<Utc>) -> Result<u64>;
    async fn unread_notifications(&self, recipient: &str) -> Result<i64>;

    async fn insert_delivery(&self, d: &DeliveryRow) -> Result<()>;
    /// The deliveries of a notification, oldest first.
    async fn deliveries(&self, district: &str, notification: Uuid) -> Result<Vec<DeliveryRow>>;

    /// Cases whose yellow (`warn_at`) or red (`due_at`) instant lies in (from, to], at most
    /// `limit`, earliest first.
    async fn due_crossings(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DueCase>>;
}

const ANNOUNCEMENT_COLS: &str =
    "district_code, id, title, body, audience_roles, region_code, author, created_at, expires_at";
const NOTIFICATION_COLS: &str =
    "district_code, id, recipient, kind, case_id, text, dedupe_key, created_at, read_at";
const DELIVERY_COLS: &str =
    "district_code, notification_id, id, channel, status, attempts, error, at";
const DUE_COLS: &str = "district_code, id, grid_code, community_code, street_code, unit_code, level, state, description, node, node_started_at, warn_at, due_at";

fn split_roles(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

macro_rules! notices_impl {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            fn announcement_row(r: &$row) -> Result<AnnouncementRow> {
                let roles: String = r.try_get("audience_roles")?;
                Ok(AnnouncementRow {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    title: r.try_get("title")?,
                    body: r.try_get("body")?,
                    audience_roles: split_roles(&roles),
                    region_code: r.try_get("region_code")?,
                    author: r.try_get("author")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            }

            fn notification_row(r: &$row) -> Result<NotificationRow> {
                Ok(NotificationRow {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    recipient: r.try_get("recipient")?,
                    kind: r.try_get("kind")?,
                    case_id: r.try_get("case_id")?,
                    text: r.try_get("text")?,
                    dedupe_key: r.try_get("dedupe_key")?,
                    created_at: r.try_get("created_at")?,
                    read_at: r.try_get("read_at")?,
                })
            }

            fn delivery_row(r: &$row) -> Result<DeliveryRow> {
                Ok(DeliveryRow {
                    district_code: r.try_get("district_code")?,
                    notification_id: r.try_get("notification_id")?,
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    error: r.try_get("error")?,
                    at: r.try_get("at")?,
                })
            }

            fn due_row(r: &$row) -> Result<DueCase> {
                Ok(DueCase {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    grid_code: r.try_get("grid_code")?,
                    community_code: r.try_get("community_code")?,
                    street_code: r.try_get("street_code")?,
                    unit_code: r.try_get("unit_code")?,
                    level: r.try_get("level")?,
                    state: r.try_get("state")?,
                    description: r.try_get("description")?,
                    node: r.try_get("node")?,
                    node_started_at: r.try_get("node_started_at")?,
                    warn_at: r.try_get("warn_at")?,
                    due_at: r.try_get("due_at")?,
                })
            }
        }

        impl Notices for $store {
            async fn insert_announcement(&self, a: &AnnouncementRow) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO announcements ({ANNOUNCEMENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")))
                    .bind(a.district_code.clone())
                    .bind(a.id)
                    .bind(a.title.clone())
                    .bind(a.body.clone())
                    .bind(a.audience_roles.join(","))
                    .bind(a.region_code.clone())
                    .bind(a.author.clone())
                    .bind(a.created_at)
                    .bind(a.expires_at)
                    .execute(&self.write)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: "announcement", key: a.id.to_string() },
                        _ => StoreError::Database(e),
                    })?;
                Ok(())
            }

            async fn announcement(&self, id: Uuid) -> Result<Option<AnnouncementRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ANNOUNCEMENT_COLS} FROM announcements WHERE id = $1")))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::announcement_row)
                    .transpose()
            }

            async fn current_announcements(&self, district: Option<&str>, now: DateTime<Utc>, limit: i64) -> Result<Vec<AnnouncementRow>> {
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {ANNOUNCEMENT_COLS} FROM announcements WHERE (expires_at IS NULL OR expires_at > "));
                q.push_bind(now).push(")");
                if let Some(d) = district {
                    q.push(" AND district_code = ").push_bind(d.to_owned());
                }
                q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(limit);
                q.build().fetch_all(&self.read).await?.iter().map(Self::announcement_row).collect()
            }

            async fn mark_announcement_read(&self, district: &str, id: Uuid, username: &str, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("INSERT INTO announcement_reads (district_code, announcement_id, username, read_at) VALUES ($1, $2, $3, $4) ON CONFLICT (district_code, announcement_id, username) DO NOTHING")
                    .bind(district)
                    .bind(id)
                    .bind(username)
                    .bind(at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn announcements_read(&self, username: &str, ids: &[Uuid]) -> Result<Vec<Uuid>> {
                let mut out = Vec::new();
                for chunk in ids.chunks(200) {
                    let mut q = QueryBuilder::<$db>::new("SELECT announcement_id FROM announcement_reads WHERE username = ");
                    q.push_bind(username.to_owned()).push(" AND announcement_id IN (");
                    let mut sep = q.separated(", ");
                    for id in chunk {
                        sep.push_bind(*id);
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&self.read).await? {
                        out.push(r.try_get(0)?);
                    }
                }
                Ok(out)
            }

            async fn insert_notifications(&self, rows: &[NotificationRow]) -> Result<Vec<NotificationRow>> {
                let mut tx = self.write.begin().await?;
                let mut made = Vec::new();
                for n in rows {
                    let done = sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO notifications ({NOTIFICATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (district_code, recipient, dedupe_key) DO NOTHING")))
                        .bind(n.district_code.clone())
                        .bind(n.id)
                        .bind(n.recipient.clone())
                        .bind(n.kind.clone())
                        .bind(n.case_id)
                        .bind(n.text.clone())
                        .bind(n.dedupe_key.clone())
                        .bind(n.created_at)
                        .bind(n.read_at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if done == 1 {
                        made.push(n.clone());
                    }
                }
                tx.commit().await?;
                Ok(made)
            }

            async fn notifications(&self, recipient: &str, unread_only: bool, limit: i64) -> Result<Vec<NotificationRow>> {
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {NOTIFICATION_COLS} FROM notifications WHERE recipient = "));
                q.push_bind(recipient.to_owned());
                if unread_only {
                    q.push(" AND read_at IS NULL");
                }
                q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(limit);
                q.build().fetch_all(&self.read).await?.iter().map(Self::notification_row).collect()
            }

            async fn mark_notification_read(&self, recipient: &str, id: Uuid, at: DateTime<Utc>) -> Result<Option<NotificationRow>> {
                let mut tx = self.write.begin().await?;
                sqlx::query("UPDATE notifications SET read_at = $1 WHERE recipient = $2 AND id = $3 AND read_at IS NULL")
                    .bind(at)
                    .bind(recipient)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {NOTIFICATION_COLS} FROM notifications WHERE recipient = $1 AND id = $2")))
                    .bind(recipient)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .as_ref()
                    .map(Self::notification_row)
                    .transpose()?;
                tx.commit().await?;
                Ok(row)
            }

            async fn mark_all_notifications_read(&self, recipient: &str, at: DateTime<Utc>) -> Result<u64> {
                Ok(sqlx::query("UPDATE notifications SET read_at = $1 WHERE recipient = $2 AND read_at IS NULL")
                    .bind(at)
                    .bind(recipient)
                    .execute(&self.write)
                    .await?
                    .rows_affected())
            }

            async fn unread_notifications(&self, recipient: &str) -> Result<i64> {
                Ok(sqlx::query("SELECT COUNT(*) FROM notifications WHERE recipient = $1 AND read_at IS NULL")
                    .bind(recipient)
                    .fetch_one(&self.read)
                    .await?
                    .try_get(0)?)
            }

            async fn insert_delivery(&self, d: &DeliveryRow) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO notice_deliveries ({DELIVERY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")))
                    .bind(d.district_code.clone())
                    .bind(d.notification_id)
                    .bind(d.id)
                    .bind(d.channel.clone())
                    .bind(d.status.clone())
                    .bind(d.attempts)
                    .bind(d.error.clone())
                    .bind(d.at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn deliveries(&self, district: &str, notification: Uuid) -> Result<Vec<DeliveryRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DELIVERY_COLS} FROM notice_deliveries WHERE district_code = $1 AND notification_id = $2 ORDER BY at, id")))
                    .bind(district)
                    .bind(notification)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(Self::delivery_row)
                    .collect()
            }

            async fn due_crossings(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Result<Vec<DueCase>> {
                // Two index range reads rather than one OR, which neither database plans well.
                let mut out: Vec<DueCase> = Vec::new();
                for col in ["warn_at", "due_at"] {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DUE_COLS} FROM cases WHERE {col} > $1 AND {col} <= $2 ORDER BY {col} LIMIT $3")))
                        .bind(from)
                        .bind(to)
                        .bind(limit)
                        .fetch_all(&self.read)
                        .await?;
                    for r in &rows {
                        let c = Self::due_row(r)?;
                        if !out.iter().any(|o| o.id == c.id && o.district_code == c.district_code) {
                            out.push(c);
                        }
                    }
                }
                Ok(out)
            }
        }
    };
}

notices_impl!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
notices_impl!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);

macro_rules! delegate_notices {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl Notices for AnyStore {
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                    AnyStore::Postgres(s) => s.$name($($arg),*).await,
                }
            } )*
        }
    };
}

delegate_notices! {
    async fn insert_announcement(&self, a: &AnnouncementRow) -> Result<()>;
    async fn announcement(&self, id: Uuid) -> Result<Option<AnnouncementRow>>;
    async fn current_announcements(&self, district: Option<&str>, now: DateTime<Utc>, limit: i64) -> Result<Vec<AnnouncementRow>>;
    async fn mark_announcement_read(&self, district: &str, id: Uuid, username: &str, at: DateTime<Utc>) -> Result<()>;
    async fn announcements_read(&self, username: &str, ids: &[Uuid]) -> Result<Vec<Uuid>>;
    async fn insert_notifications(&self, rows: &[NotificationRow]) -> Result<Vec<NotificationRow>>;
    async fn notifications(&self, recipient: &str, unread_only: bool, limit: i64) -> Result<Vec<NotificationRow>>;
    async fn mark_notification_read(&self, recipient: &str, id: Uuid, at: DateTime<Utc>) -> Result<Option<NotificationRow>>;
    async fn mark_all_notifications_read(&self, recipient: &str, at: DateTime<Utc>) -> Result<u64>;
    async fn unread_notifications(&self, recipient: &str) -> Result<i64>;
    async fn insert_delivery(&self, d: &DeliveryRow) -> Result<()>;
    async fn deliveries(&self, district: &str, notification: Uuid) -> Result<Vec<DeliveryRow>>;
    async fn due_crossings(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Result<Vec<DueCase>>;
}
