//! The statistics dashboards (`/console/stats`) and their big-screen mode (`/console/stats/wall`):
//! KPI cards, the daily trend, rankings of areas and handling units, the subcategory breakdown,
//! a heat layer of hotspots on the district and street outlines, and the Excel reports.
//!
//! The pages are frames: `web/static/js/stats.js` draws them with the vendored ECharts from the
//! same `/api/v1/stats/*` answers an API client gets (the session cookie authenticates them, and
//! the caller's jurisdiction narrows them), so a figure on screen is the figure in the report.
//! The outlines come from the map's `/console/map/regions`.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::SecondsFormat;
use minijinja::context;
use serde::{Deserialize, Serialize};
use wangge_domain::region::Level;
use wangge_domain::role::Role;

use super::{ConsoleUser, page_context, render};
use crate::local_day;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/stats", get(dashboard_page))
        .route("/console/stats/wall", get(wall_page))
}

/// Who sees the dashboards: everyone who oversees work, handling units (their own unit's
/// figures) included; not grid workers or receivers, whose work is single cases.
pub const STATS_ROLES: &[Role] = &[
    Role::ShiftLeader,
    Role::Dispatcher,
    Role::UnitUser,
    Role::Community,
    Role::Street,
    Role::District,
    Role::Supervisor,
    Role::Admin,
];

/// The levels the areas can be tallied at, coarsest first.
const LEVELS: [&str; 4] = ["district", "street", "community", "grid"];
/// The period presets of the period bar; `month` is the default.
const PRESETS: [&str; 5] = ["today", "week", "month", "last_month", "year"];

/// What the address may preset; anything malformed is dropped (the page then uses its default).
#[derive(Debug, Default, Deserialize)]
struct DashboardQuery {
    from: Option<String>,
    to: Option<String>,
    level: Option<String>,
    preset: Option<String>,
}

/// The page's settings for the script, sent as a JSON script tag.
#[derive(Debug, Serialize)]
struct DashboardConfig {
    /// `page` or `wall`.
    mode: &'static str,
    /// The server's clock (RFC 3339): presets count days from it, the wall's clock runs from it.
    now: String,
    /// Today on the working calendar (YYYY-MM-DD).
    today: String,
    /// Minutes the calendar's clock is ahead of UTC (Beijing: 480).
    offset_minutes: i32,
    /// The period asked for in the address, when it was a valid pair of days.
    from: Option<String>,
    to: Option<String>,
    preset: Option<&'static str>,
    /// The user's region (a code prefix): the outlines are drawn for it.
    region: Option<String>,
    /// The area level to rank: asked for, else the level below the user's region.
    level: &'static str,
    /// Whether the region outlines may be drawn (the map's roles; not handling units).
    outlines: bool,
    /// Whether hotspots may link to the command map.
    map_links: bool,
    /// Seconds between refreshes of the wall.
    refresh_seconds: u32,
}

/// The level whose areas divide the user's region: a district's streets, a street's
/// communities; the city's districts for users with no region.
fn default_level(state: &AppState, who: &ConsoleUser) -> &'static str {
    let level = who
        .user
        .actor
        .region
        .as_deref()
        .and_then(|code| state.atlas().region(code).map(|r| r.level));
    match level {
        None | Some(Level::City) => "district",
        Some(Level::District) => "street",
        Some(Level::Street) => "community",
        Some(Level::Community) | Some(Level::Grid) => "grid",
    }
}

fn config(
    state: &AppState,
    who: &ConsoleUser,
    q: &DashboardQuery,
    mode: &'static str,
) -> DashboardConfig {
    let calendar = state.calendar();
    let now = state.config.clock.now();
    let day = |text: &Option<String>, field: &str| {
        text.as_deref()
            .filter(|t| !t.trim().is_empty())
            .and_then(|t| local_day::parse_day(field, t).ok())
    };
    let (from, to) = match (day(&q.from, "from"), day(&q.to, "to")) {
        (Some(f), Some(t)) if f <= t => (
            Some(f.format("%Y-%m-%d").to_string()),
            Some(t.format("%Y-%m-%d").to_string()),
        ),
        _ => (None, None),
    };
    let preset = q
        .preset
        .as_deref()
        .and_then(|p| PRESETS.iter().find(|known| **known == p).copied());
    let level = q
        .level
        .as_deref()
        .and_then(|l| LEVELS.iter().find(|known| **known == l).copied())
        .unwrap_or_else(|| default_level(state, who));
    let map_user = who.role() != Role::UnitUser;
    DashboardConfig {
        mode,
        now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        today: local_day::day_of(&calendar, now)
            .format("%Y-%m-%d")
            .to_string(),
        offset_minutes: calendar.offset().local_minus_utc() / 60,
        from,
        to,
        preset,
        region: who.user.actor.region.clone(),
        level,
        outlines: map_user,
        // The big screen is looked at, not clicked through.
        map_links: map_user && mode == "page",
        refresh_seconds: 60,
    }
}

/// `GET /console/stats`: the dashboard in the console's frame.
async fn dashboard_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    query: Result<Query<DashboardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    page(&state, &who, query, "page")
}

/// `GET /console/stats/wall`: the same panels on one dark 16:9 screen, without the frame's
/// menu, with a clock and a refresh every minute, for the command centre's video wall.
async fn wall_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    query: Result<Query<DashboardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Response> {
    page(&state, &who, query, "wall")
}

fn page(
    state: &AppState,
    who: &ConsoleUser,
    query: Result<Query<DashboardQuery>, axum::extract::rejection::QueryRejection>,
    mode: &'static str,
) -> Result<Response, Response> {
    who.require(STATS_ROLES)?;
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let cfg = config(state, who, &q, mode);
    let (template, path) = match mode {
        "wall" => ("stats_wall.html", "/console/stats/wall"),
        _ => ("stats.html", "/console/stats"),
    };
    let ctx = context! {
        levels => LEVELS,
        presets => PRESETS,
        level => cfg.level,
        outlines => cfg.outlines,
        map_links => cfg.map_links,
        dashboard_config => minijinja::Value::from_serialize(&cfg),
    };
    Ok(render(template, page_context(state, who, path, ctx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_that_oversees_work_sees_the_dashboard_in_its_menu() {
        for role in Role::ALL {
            let listed = super::super::nav_for(role)
                .iter()
                .any(|(href, _)| *href == "/console/stats");
            assert_eq!(listed, STATS_ROLES.contains(&role), "{role:?}");
        }
    }
}
