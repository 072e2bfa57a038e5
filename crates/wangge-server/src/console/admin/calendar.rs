//! The working calendar: a year's special days, setting or removing one day, and pasting a
//! table of days. The table is checked and stored by the API's `store_calendar_table`.

use std::collections::HashSet;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, NaiveDate, Utc, Weekday};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_domain::calendar::SpecialDayKind;
use wangge_store::Store;

use super::{Problem, Shown, admin, form_page, posted, refusal, see_other, tr};
use crate::config_api::store_calendar_table;
use crate::console::{ConsoleUser, OrPage, error_page};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, Default)]
pub(super) struct CalendarQuery {
    year: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Serialize)]
struct DayRow {
    date: String,
    weekday: String,
    kind: &'static str,
    working: bool,
    /// Set by an administrator (stored), rather than part of the configured calendar.
    stored: bool,
    /// Removing it changes something: a stored day, or a configured one that differs from
    /// the ordinary week.
    removable: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct CalendarForm {
    #[serde(rename = "_csrf", skip_serializing)]
    csrf: String,
    date: String,
    kind: String,
    table: String,
    year: String,
}

const DAY_FORMAT: &str = "%Y-%m-%d";

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The kind that gives a date the ordinary week's meaning: a weekend is a day off, a weekday
/// a working day.
fn ordinary_kind(d: NaiveDate) -> SpecialDayKind {
    if is_weekend(d) {
        SpecialDayKind::Holiday
    } else {
        SpecialDayKind::Workday
    }
}

fn this_year() -> i32 {
    (Utc::now() + chrono::Duration::hours(8)).year()
}

fn year_of(text: Option<&str>) -> i32 {
    text.and_then(|y| y.trim().parse::<i32>().ok())
        .filter(|y| (1900..=2999).contains(y))
        .unwrap_or_else(this_year)
}

pub(super) async fn calendar_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<CalendarQuery>,
) -> Result<Response, Response> {
    admin(&who)?;
    let year = year_of(q.year.as_deref());
    show_calendar(
        &state,
        &who,
        year,
        Shown::fresh(who.lang, q.done.as_deref()),
    )
    .await
}

async fn show_calendar(
    state: &AppState,
    who: &ConsoleUser,
    year: i32,
    shown: Shown<CalendarForm>,
) -> Result<Response, Response> {
    let lang = who.lang;
    let stored: HashSet<String> = state
        .store
        .calendar_days()
        .await
        .or_page(who)?
        .into_iter()
        .map(|(day, _)| day)
        .collect();
    let cal = state.calendar();
    let weekday_names: Vec<String> = (0..7)
        .map(|i| tr(lang, &format!("admin.calendar.weekday_{i}"), &[]))
        .collect();
    let days: Vec<DayRow> = cal
        .special_days()
        .into_iter()
        .filter(|d| d.date.year() == year)
        // A weekday marked as a working day is no different from the ordinary week.
        .filter(|d| d.kind != SpecialDayKind::Workday || is_weekend(d.date))
        .map(|d| {
            let date = d.date.format(DAY_FORMAT).to_string();
            let is_stored = stored.contains(&date);
            DayRow {
                weekday: weekday_names
                    .get(d.date.weekday().num_days_from_monday() as usize)
                    .cloned()
                    .unwrap_or_default(),
                kind: d.kind.as_str(),
                working: cal.is_working_day(d.date),
                removable: is_stored || d.kind != ordinary_kind(d.date),
                stored: is_stored,
                date,
            }
        })
        .collect();
    let working_days = NaiveDate::from_ymd_opt(year, 1, 1)
        .map(|first| {
            first
                .iter_days()
                .take_while(|d| d.year() == year)
                .filter(|d| cal.is_working_day(*d))
                .count()
        })
        .unwrap_or(0);
    let ctx = context! {
        year => year,
        prev_year => year - 1,
        next_year => year + 1,
        days => Value::from_serialize(&days),
        working_days => working_days,
    };
    Ok(form_page(
        state,
        who,
        "/console/admin/calendar",
        "admin/calendar.html",
        &shown,
        ctx,
    ))
}

fn calendar_back(year: i32) -> String {
    format!("/console/admin/calendar?year={year}")
}

fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), DAY_FORMAT).ok()
}

pub(super) async fn add_calendar_day(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<CalendarForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let lang = who.lang;
    let year = year_of(Some(&form.year));
    let Some(date) = parse_day(&form.date) else {
        let p = Problem::new(
            lang,
            "date",
            "admin.calendar.problem.date",
            &[("value", form.date.trim())],
        );
        return show_calendar(&state, &who, year, Shown::again(form, p)).await;
    };
    if !matches!(form.kind.as_str(), "holiday" | "workday") {
        let p = Problem::new(lang, "kind", "admin.calendar.problem.kind", &[]);
        return show_calendar(&state, &who, year, Shown::again(form, p)).await;
    }
    let line = format!("{} {}", date.format(DAY_FORMAT), form.kind);
    store_calendar_table(&state, &line).await.or_page(&who)?;
    tracing::info!(admin = %who.user.username, day = %line, "calendar day set");
    Ok(see_other(&calendar_back(date.year()), "day_added"))
}

/// Loads the changed days into memory, so deadlines count with them at once.
async fn reload_calendar(state: &AppState, who: &ConsoleUser) -> Result<(), Response> {
    state
        .reload_calendar()
        .await
        .map_err(ApiError::internal)
        .or_page(who)
}

pub(super) async fn remove_calendar_day(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<CalendarForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let Some(date) = parse_day(&form.date) else {
        return Err(error_page(
            who.lang,
            Some(&who),
            &ApiError::invalid_field("date", "the date must be YYYY-MM-DD"),
        ));
    };
    let day = date.format(DAY_FORMAT).to_string();
    state
        .store
        .delete_calendar_days(std::slice::from_ref(&day))
        .await
        .or_page(&who)?;
    reload_calendar(&state, &who).await?;
    // A day of the configured calendar stays special once its stored row is gone; the stored
    // table can only say holiday or workday, so the ordinary week's kind is stored over it.
    let ordinary = ordinary_kind(date);
    let still = state
        .calendar()
        .special_days()
        .into_iter()
        .find(|d| d.date == date)
        .map(|d| d.kind);
    if still.is_some_and(|k| k != ordinary) {
        state
            .store
            .set_calendar_days(&[(day.clone(), ordinary.as_str().to_owned())])
            .await
            .or_page(&who)?;
        reload_calendar(&state, &who).await?;
    }
    tracing::info!(admin = %who.user.username, day = %day, "calendar day removed");
    Ok(see_other(&calendar_back(date.year()), "day_removed"))
}

pub(super) async fn paste_calendar_table(
    State(state): State<AppState>,
    who: ConsoleUser,
    form: Result<Form<CalendarForm>, FormRejection>,
) -> Result<Response, Response> {
    let form = posted(&who, form, |f| f.csrf.as_str())?;
    let lang = who.lang;
    let year = year_of(Some(&form.year));
    if form.table.trim().is_empty() {
        let p = Problem::new(lang, "table", "admin.calendar.problem.empty", &[]);
        return show_calendar(&state, &who, year, Shown::again(form, p)).await;
    }
    match store_calendar_table(&state, &form.table).await {
        Ok(first_year) => {
            let n = form
                .table
                .lines()
                .filter(|l| !l.split('#').next().unwrap_or("").trim().is_empty())
                .count();
            tracing::info!(admin = %who.user.username, days = n, "calendar table applied");
            Ok(see_other(
                &calendar_back(first_year.unwrap_or(year)),
                "table_applied",
            ))
        }
        Err(e) => {
            let line = e
                .details
                .as_ref()
                .and_then(|d| d.get("line"))
                .and_then(|l| l.as_u64());
            // A refusal that names the table's line says which line, in the catalogue's words.
            let p = match line {
                Some(line) if e.status == StatusCode::UNPROCESSABLE_ENTITY => Problem::new(
                    lang,
                    "table",
                    "admin.calendar.problem.line",
                    &[("line", &line.to_string()), ("detail", &e.message)],
                ),
                _ => refusal(&who, &e)?,
            };
            show_calendar(&state, &who, year, Shown::again(form, p)).await
        }
    }
}
