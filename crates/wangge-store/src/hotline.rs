//! Storage of hotline tickets (12345 / 96181 工单) and their verification tasks (回访核查),
//! migration 0011: the [`Hotline`] contract and its two implementations, generated once for
//! SQLite and PostgreSQL from the same SQL text.
//!
//! The store holds what it is given: masking and sealing the caller's name and phone are the
//! caller's.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use crate::backend::{PgStore, SqliteStore};
use crate::{AnyStore, Result, StoreError};

/// Rows per multi-row statement (bound parameters stay under both databases' limits).
const BATCH: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    pub district_code: String,
    pub id: Uuid,
    /// 12345 | 96181
    pub channel: String,
    pub ticket_no: String,
    pub text: String,
    pub address: Option<String>,
    pub lon: f64,
    pub lat: f64,
    /// position | address | grid
    pub located_by: String,
    pub house_code: Option<String>,
    pub grid_code: String,
    pub category_code: String,
    pub received_at: DateTime<Utc>,
    pub caller_masked: Option<String>,
    pub phone_masked: Option<String>,
    /// The caller's name and phone, sealed by the vault (None without a vault).
    pub sealed: Option<Vec<u8>>,
    pub case_id: Uuid,
    /// created | matched | duplicate
    pub how: String,
    pub match_reason: String,
    pub distance_m: Option<f64>,
    pub hours: Option<f64>,
    pub patrol_first: bool,
    pub imported_by: String,
    pub imported_at: DateTime<Utc>,
    /// closed | invalid | merged, once the case has ended.
    pub outcome: Option<String>,
    pub outcome_note: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    /// none | pending | delivered | failed, once the case has ended.
    pub callback_status: Option<String>,
    pub callback_attempts: i64,
    pub callback_error: Option<String>,
    pub callback_next_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRow {
    pub district_code: String,
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub case_id: Uuid,
    pub grid_code: String,
    pub worker: String,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// satisfied | unsatisfied | not_fixed | unreachable
    pub result: Option<String>,
    pub notes: Option<String>,
    pub recorded_by: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
}

/// A case as the ticket matcher reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRow {
    pub id: Uuid,
    pub category_code: String,
    pub lon: f64,
    pub lat: f64,
    pub reported_at: DateTime<Utc>,
    pub source: String,
    pub state: String,
}

/// Which tickets to list; every set field narrows the list. Newest received first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    pub district: Option<String>,
    /// Grid codes starting with this.
    pub grid_prefix: Option<String>,
    pub how: Option<String>,
    pub channel: Option<String>,
    pub received_from: Option<DateTime<Utc>>,
    pub received_to: Option<DateTime<Utc>>,
    /// Only tickets whose case has ended, within these instants (inclusive from, exclusive to).
    pub closed_from: Option<DateTime<Utc>>,
    pub closed_to: Option<DateTime<Utc>>,
    pub closed_only: bool,
    pub patrol_first: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

/// Which verification tasks to list; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerificationFilter {
    pub district: Option<String>,
    pub grid_prefix: Option<String>,
    pub worker: Option<String>,
    pub ticket: Option<Uuid>,
    /// Only tasks without a result.
    pub open_only: bool,
    pub limit: i64,
}

/// The end of a case, written on its tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub district_code: String,
    pub case_id: Uuid,
    /// closed | invalid | merged
    pub outcome: String,
    pub note: Option<String>,
    pub closed_at: DateTime<Utc>,
    /// none | pending
    pub callback_status: String,
}

/// The state of a ticket's callback after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackState {
    /// pending | delivered | failed
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub next_at: Option<DateTime<Utc>>,
}

/// The storage contract of hotline tickets. Every method is one transaction.
#[allow(async_fn_in_trait)]
pub trait Hotline {
    /// Cases of a district in these subcategories reported in [from, to], and cases made from
    /// tickets received in [from, to] (at the ticket's time), except void and merged ones: what
    /// tickets are matched against. A case may come twice, at both times.
    async fn hotline_candidates(
        &self,
        district: &str,
        categories: &[String],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CandidateRow>>;
    /// Tickets of a channel with these numbers, in any district.
    async fn hotline_tickets_by_number(
        &self,
        channel: &str,
        numbers: &[String],
    ) -> Result<Vec<TicketRow>>;
    /// Stores new tickets, all or none; a number stored already is a conflict.
    async fn insert_hotline_tickets(&self, rows: &[TicketRow]) -> Result<()>;
    async fn hotline_ticket(&self, district: &str, id: Uuid) -> Result<Option<TicketRow>>;
    async fn hotline_tickets(&self, f: &TicketFilter) -> Result<Vec<TicketRow>>;
    /// How many tickets the filter matches (paging ignored).
    async fn count_hotline_tickets(&self, f: &TicketFilter) -> Result<i64>;
    async fn hotline_tickets_of_case(&self, district: &str, case: Uuid) -> Result<Vec<TicketRow>>;
    /// Writes a case's end on every ticket of the case; answers how many there were.
    async fn record_hotline_outcome(&self, o: &Outcome) -> Result<u64>;
    /// Cases that have ended while some of their tickets show no outcome yet (a change the
    /// server did not see through, e.g. it stopped in between): (district, case, state).
    async fn hotline_cases_awaiting_outcome(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, Uuid, String)>>;
    /// Tickets whose callback is pending and due at `now`.
    async fn hotline_callbacks_due(&self, now: DateTime<Utc>, limit: i64)
    -> Result<Vec<TicketRow>>;
    async fn set_hotline_callback(&self, district: &str, id: Uuid, s: &CallbackState)
    -> Result<()>;

    async fn insert_hotline_verification(&self, row: &VerificationRow) -> Result<()>;
    async fn hotline_verification(
        &self,
        district: &str,
        id: Uuid,
    ) -> Result<Option<VerificationRow>>;
    async fn hotline_verifications(&self, f: &VerificationFilter) -> Result<Vec<VerificationRow>>;
    /// Records a task's result once; a task with a result already is a conflict.
    async fn record_hotline_verification(
        &self,
        district: &str,
        id: Uuid,
        result: &str,
        notes: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

const TICKET_COLS: &str = "district_code, id, channel, ticket_no, text, address, lon, lat, located_by, house_code, grid_code, category_code, received_at, caller_masked, phone_masked, sealed, case_id, how, match_reason, distance_m, hours, patrol_first, imported_by, imported_at, outcome, outcome_note, closed_at, callback_status, callback_attempts, callback_error, callback_next_at";
const VERIFICATION_COLS: &str = "district_code, id, ticket_id, case_id, grid_code, worker, assigned_by, assigned_at, due_at, result, notes, recorded_by, recorded_at";

macro_rules! push_prefix {
    ($q:expr, $col:literal, $p:expr) => {
        $q.push(concat!(" AND ", $col, " >= "))
            .push_bind($p.to_owned())
            .push(concat!(" AND ", $col, " < "))
            .push_bind(format!("{}:", $p));
    };
}

macro_rules! hotline_impl {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            fn ticket_row(r: &$row) -> Result<TicketRow> {
                Ok(TicketRow {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    ticket_no: r.try_get("ticket_no")?,
                    text: r.try_get("text")?,
                    address: r.try_get("address")?,
                    lon: r.try_get("lon")?,
                    lat: r.try_get("lat")?,
                    located_by: r.try_get("located_by")?,
                    house_code: r.try_get("house_code")?,
                    grid_code: r.try_get("grid_code")?,
                    category_code: r.try_get("category_code")?,
                    received_at: r.try_get("received_at")?,
                    caller_masked: r.try_get("caller_masked")?,
                    phone_masked: r.try_get("phone_masked")?,
                    sealed: r.try_get("sealed")?,
                    case_id: r.try_get("case_id")?,
                    how: r.try_get("how")?,
                    match_reason: r.try_get("match_reason")?,
                    distance_m: r.try_get("distance_m")?,
                    hours: r.try_get("hours")?,
                    patrol_first: r.try_get("patrol_first")?,
                    imported_by: r.try_get("imported_by")?,
                    imported_at: r.try_get("imported_at")?,
                    outcome: r.try_get("outcome")?,
                    outcome_note: r.try_get("outcome_note")?,
                    closed_at: r.try_get("closed_at")?,
                    callback_status: r.try_get("callback_status")?,
                    callback_attempts: r.try_get("callback_attempts")?,
                    callback_error: r.try_get("callback_error")?,
                    callback_next_at: r.try_get("callback_next_at")?,
                })
            }

            fn verification_row(r: &$row) -> Result<VerificationRow> {
                Ok(VerificationRow {
                    district_code: r.try_get("district_code")?,
                    id: r.try_get("id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    case_id: r.try_get("case_id")?,
                    grid_code: r.try_get("grid_code")?,
                    worker: r.try_get("worker")?,
                    assigned_by: r.try_get("assigned_by")?,
                    assigned_at: r.try_get("assigned_at")?,
                    due_at: r.try_get("due_at")?,
                    result: r.try_get("result")?,
                    notes: r.try_get("notes")?,
                    recorded_by: r.try_get("recorded_by")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            }

            fn ticket_where(q: &mut QueryBuilder<$db>, f: &TicketFilter) {
                q.push(" WHERE 1 = 1");
                if let Some(d) = &f.district {
                    q.push(" AND district_code = ").push_bind(d.clone());
                }
                if let Some(p) = f.grid_prefix.as_deref().filter(|p| Some(*p) != f.district.as_deref()) {
                    push_prefix!(q, "grid_code", p);
                }
                if let Some(h) = &f.how {
                    q.push(" AND how = ").push_bind(h.clone());
                }
                if let Some(c) = &f.channel {
                    q.push(" AND channel = ").push_bind(c.clone());
                }
                if let Some(t) = f.received_from {
                    q.push(" AND received_at >= ").push_bind(t);
                }
                if let Some(t) = f.received_to {
                    q.push(" AND received_at < ").push_bind(t);
                }
                if f.closed_only {
                    q.push(" AND closed_at IS NOT NULL");
                }
                if let Some(t) = f.closed_from {
                    q.push(" AND closed_at >= ").push_bind(t);
                }
                if let Some(t) = f.closed_to {
                    q.push(" AND closed_at < ").push_bind(t);
                }
                if let Some(p) = f.patrol_first {
                    q.push(" AND patrol_first = ").push_bind(p);
                }
            }
        }

        impl Hotline for $store {
            async fn hotline_candidates(&self, district: &str, categories: &[String], from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<CandidateRow>> {
                if categories.is_empty() {
                    return Ok(Vec::new());
                }
                // A case made from a ticket counts from when the ticket was received (an
                // import of last week's tickets makes its cases today), so its tickets are read
                // beside the cases.
                let mut q = QueryBuilder::<$db>::new("SELECT id, category_code, lon, lat, reported_at, source, state FROM cases WHERE district_code = ");
                q.push_bind(district.to_owned())
                    .push(" AND reported_at >= ")
                    .push_bind(from)
                    .push(" AND reported_at <= ")
                    .push_bind(to)
                    .push(" AND state NOT IN ('invalid', 'merged') AND category_code IN (");
                let mut list = q.separated(", ");
                for c in categories {
                    list.push_bind(c.clone());
                }
                q.push(") UNION ALL SELECT t.case_id, t.category_code, t.lon, t.lat, t.received_at, c.source, c.state FROM hotline_tickets t JOIN cases c ON c.district_code = t.district_code AND c.id = t.case_id WHERE t.district_code = ")
                    .push_bind(district.to_owned())
                    .push(" AND t.how = 'created' AND t.received_at >= ")
                    .push_bind(from)
                    .push(" AND t.received_at <= ")
                    .push_bind(to)
                    .push(" AND c.state NOT IN ('invalid', 'merged') AND t.category_code IN (");
                let mut list = q.separated(", ");
                for c in categories {
                    list.push_bind(c.clone());
                }
                q.push(")");
                q.build()
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(CandidateRow {
                            id: r.try_get(0)?,
                            category_code: r.try_get(1)?,
                            lon: r.try_get(2)?,
                            lat: r.try_get(3)?,
                            reported_at: r.try_get(4)?,
                            source: r.try_get(5)?,
                            state: r.try_get(6)?,
                        })
                    })
                    .collect()
            }

            async fn hotline_tickets_by_number(&self, channel: &str, numbers: &[String]) -> Result<Vec<TicketRow>> {
                let mut out = Vec::new();
                for chunk in numbers.chunks(BATCH * 4) {
                    let mut q = QueryBuilder::<$db>::new(format!("SELECT {TICKET_COLS} FROM hotline_tickets WHERE channel = "));
                    q.push_bind(channel.to_owned()).push(" AND ticket_no IN (");
                    let mut list = q.separated(", ");
                    for n in chunk {
                        list.push_bind(n.clone());
                    }
                    q.push(")");
                    for r in q.build().fetch_all(&self.read).await? {
                        out.push(Self::ticket_row(&r)?);
                    }
                }
                Ok(out)
            }

            async fn insert_hotline_tickets(&self, rows: &[TicketRow]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for chunk in rows.chunks(BATCH) {
                    let mut q = QueryBuilder::<$db>::new(format!("INSERT INTO hotline_tickets ({TICKET_COLS}) "));
                    q.push_values(chunk, |mut b, t| {
                        b.push_bind(t.district_code.clone())
                            .push_bind(t.id)
                            .push_bind(t.channel.clone())
                            .push_bind(t.ticket_no.clone())
                            .push_bind(t.text.clone())
                            .push_bind(t.address.clone())
                            .push_bind(t.lon)
                            .push_bind(t.lat)
                            .push_bind(t.located_by.clone())
                            .push_bind(t.house_code.clone())
                            .push_bind(t.grid_code.clone())
                            .push_bind(t.category_code.clone())
                            .push_bind(t.received_at)
                            .push_bind(t.caller_masked.clone())
                            .push_bind(t.phone_masked.clone())
                            .push_bind(t.sealed.clone())
                            .push_bind(t.case_id)
                            .push_bind(t.how.clone())
                            .push_bind(t.match_reason.clone())
                            .push_bind(t.distance_m)
                            .push_bind(t.hours)
                            .push_bind(t.patrol_first)
                            .push_bind(t.imported_by.clone())
                            .push_bind(t.imported_at)
                            .push_bind(t.outcome.clone())
                            .push_bind(t.outcome_note.clone())
                            .push_bind(t.closed_at)
                            .push_bind(t.callback_status.clone())
                            .push_bind(t.callback_attempts)
                            .push_bind(t.callback_error.clone())
                            .push_bind(t.callback_next_at);
                    });
                    q.build().execute(&mut *tx).await.map_err(|e| match &e {
                        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                            what: "hotline ticket",
                            key: chunk.iter().map(|t| format!("{}/{}", t.channel, t.ticket_no)).next().unwrap_or_default(),
                        },
                        _ => StoreError::Database(e),
                    })?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn hotline_ticket(&self, district: &str, id: Uuid) -> Result<Option<TicketRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLS} FROM hotline_tickets WHERE district_code = $1 AND id = $2")))
                    .bind(district)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::ticket_row)
                    .transpose()
            }

            async fn hotline_tickets(&self, f: &TicketFilter) -> Result<Vec<TicketRow>> {
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {TICKET_COLS} FROM hotline_tickets"));
                Self::ticket_where(&mut q, f);
                q.push(" ORDER BY received_at DESC, id DESC LIMIT ")
                    .push_bind(f.limit)
                    .push(" OFFSET ")
                    .push_bind(f.offset);
                q.build().fetch_all(&self.read).await?.iter().map(Self::ticket_row).collect()
            }

            async fn count_hotline_tickets(&self, f: &TicketFilter) -> Result<i64> {
                let mut q = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM hotline_tickets");
                Self::ticket_where(&mut q, f);
                Ok(q.build().fetch_one(&self.read).await?.try_get(0)?)
            }

            async fn hotline_tickets_of_case(&self, district: &str, case: Uuid) -> Result<Vec<TicketRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLS} FROM hotline_tickets WHERE district_code = $1 AND case_id = $2 ORDER BY received_at, id")))
                    .bind(district)
                    .bind(case)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(Self::ticket_row)
                    .collect()
            }

            async fn record_hotline_outcome(&self, o: &Outcome) -> Result<u64> {
                let next_at = (o.callback_status == "pending").then_some(o.closed_at);
                Ok(sqlx::query("UPDATE hotline_tickets SET outcome = $1, outcome_note = $2, closed_at = $3, callback_status = $4, callback_attempts = 0, callback_error = NULL, callback_next_at = $5 WHERE district_code = $6 AND case_id = $7")
                    .bind(o.outcome.clone())
                    .bind(o.note.clone())
                    .bind(o.closed_at)
                    .bind(o.callback_status.clone())
                    .bind(next_at)
                    .bind(o.district_code.clone())
                    .bind(o.case_id)
                    .execute(&self.write)
                    .await?
                    .rows_affected())
            }

            async fn hotline_cases_awaiting_outcome(&self, limit: i64) -> Result<Vec<(String, Uuid, String)>> {
                sqlx::query("SELECT DISTINCT t.district_code, t.case_id, c.state FROM hotline_tickets t JOIN cases c ON c.district_code = t.district_code AND c.id = t.case_id WHERE t.outcome IS NULL AND c.state IN ('closed', 'invalid', 'merged') LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect()
            }

            async fn hotline_callbacks_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<TicketRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLS} FROM hotline_tickets WHERE callback_status = 'pending' AND callback_next_at <= $1 ORDER BY callback_next_at LIMIT $2")))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
                    .iter()
                    .map(Self::ticket_row)
                    .collect()
            }

            async fn set_hotline_callback(&self, district: &str, id: Uuid, s: &CallbackState) -> Result<()> {
                sqlx::query("UPDATE hotline_tickets SET callback_status = $1, callback_attempts = $2, callback_error = $3, callback_next_at = $4 WHERE district_code = $5 AND id = $6")
                    .bind(s.status.clone())
                    .bind(s.attempts)
                    .bind(s.error.clone())
                    .bind(s.next_at)
                    .bind(district)
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn insert_hotline_verification(&self, v: &VerificationRow) -> Result<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO hotline_verifications ({VERIFICATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")))
                    .bind(v.district_code.clone())
                    .bind(v.id)
                    .bind(v.ticket_id)
                    .bind(v.case_id)
                    .bind(v.grid_code.clone())
                    .bind(v.worker.clone())
                    .bind(v.assigned_by.clone())
                    .bind(v.assigned_at)
                    .bind(v.due_at)
                    .bind(v.result.clone())
                    .bind(v.notes.clone())
                    .bind(v.recorded_by.clone())
                    .bind(v.recorded_at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn hotline_verification(&self, district: &str, id: Uuid) -> Result<Option<VerificationRow>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VERIFICATION_COLS} FROM hotline_verifications WHERE district_code = $1 AND id = $2")))
                    .bind(district)
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .as_ref()
                    .map(Self::verification_row)
                    .transpose()
            }

            async fn hotline_verifications(&self, f: &VerificationFilter) -> Result<Vec<VerificationRow>> {
                let mut q = QueryBuilder::<$db>::new(format!("SELECT {VERIFICATION_COLS} FROM hotline_verifications WHERE 1 = 1"));
                if let Some(d) = &f.district {
                    q.push(" AND district_code = ").push_bind(d.clone());
                }
                if let Some(p) = f.grid_prefix.as_deref().filter(|p| Some(*p) != f.district.as_deref()) {
                    push_prefix!(q, "grid_code", p);
                }
                if let Some(w) = &f.worker {
                    q.push(" AND worker = ").push_bind(w.clone());
                }
                if let Some(t) = f.ticket {
                    q.push(" AND ticket_id = ").push_bind(t);
                }
                if f.open_only {
                    q.push(" AND result IS NULL");
                }
                q.push(" ORDER BY assigned_at DESC, id DESC LIMIT ").push_bind(f.limit);
                q.build().fetch_all(&self.read).await?.iter().map(Self::verification_row).collect()
            }

            async fn record_hotline_verification(&self, district: &str, id: Uuid, result: &str, notes: Option<&str>, by: &str, at: DateTime<Utc>) -> Result<()> {
                let done = sqlx::query("UPDATE hotline_verifications SET result = $1, notes = $2, recorded_by = $3, recorded_at = $4 WHERE district_code = $5 AND id = $6 AND result IS NULL")
                    .bind(result)
                    .bind(notes)
                    .bind(by)
                    .bind(at)
                    .bind(district)
                    .bind(id)
                    .execute(&self.write)
                    .await?
                    .rows_affected();
                if done != 1 {
                    return Err(StoreError::Conflict {
                        what: "verification result",
                        key: id.to_string(),
                    });
                }
                Ok(())
            }
        }
    };
}

hotline_impl!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
hotline_impl!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);

macro_rules! delegate_hotline {
    ($( async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl Hotline for AnyStore {
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                    AnyStore::Postgres(s) => s.$name($($arg),*).await,
                }
            } )*
        }
    };
}

delegate_hotline! {
    async fn hotline_candidates(&self, district: &str, categories: &[String], from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<CandidateRow>>;
    async fn hotline_tickets_by_number(&self, channel: &str, numbers: &[String]) -> Result<Vec<TicketRow>>;
    async fn insert_hotline_tickets(&self, rows: &[TicketRow]) -> Result<()>;
    async fn hotline_ticket(&self, district: &str, id: Uuid) -> Result<Option<TicketRow>>;
    async fn hotline_tickets(&self, f: &TicketFilter) -> Result<Vec<TicketRow>>;
    async fn count_hotline_tickets(&self, f: &TicketFilter) -> Result<i64>;
    async fn hotline_tickets_of_case(&self, district: &str, case: Uuid) -> Result<Vec<TicketRow>>;
    async fn record_hotline_outcome(&self, o: &Outcome) -> Result<u64>;
    async fn hotline_cases_awaiting_outcome(&self, limit: i64) -> Result<Vec<(String, Uuid, String)>>;
    async fn hotline_callbacks_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<TicketRow>>;
    async fn set_hotline_callback(&self, district: &str, id: Uuid, s: &CallbackState) -> Result<()>;
    async fn insert_hotline_verification(&self, row: &VerificationRow) -> Result<()>;
    async fn hotline_verification(&self, district: &str, id: Uuid) -> Result<Option<VerificationRow>>;
    async fn hotline_verifications(&self, f: &VerificationFilter) -> Result<Vec<VerificationRow>>;
    async fn record_hotline_verification(&self, district: &str, id: Uuid, result: &str, notes: Option<&str>, by: &str, at: DateTime<Utc>) -> Result<()>;
}
