//! Announcements (通知公告) and personal notifications (消息提醒), issue 8.
//!
//! - Who gets what: after every stored case change the loop calls [`on_case_change`], which
//!   decides from the action alone whether anyone is to be told and, if so, does the rest in a
//!   spawned task, so a case change is never slowed or failed by a notice. Dispatch → the
//!   handling unit's users (`assigned`); urge → the unit's users and the case's holder
//!   (`urged`); return → whoever dispatches again (`returned`); a failed check → the unit
//!   (`rework`); a case entering the confirm or check node → the grid's worker (`confirm_task`,
//!   `check_task`).
//! - Deadlines: the background worker ([`spawn_worker`]) sweeps every minute for cases whose
//!   yellow (`warn_at`) or red (`due_at`) instant has passed and tells the holder of the node
//!   once per node (`due_soon`, `overdue`).
//! - Every notification is unique per recipient by its dedupe key, so several servers sweeping
//!   the same database, or one sweeping twice, never make it twice; only the one that stored it
//!   delivers it (`sender.rs`).
//! - Announcements and the API are in `api.rs`.

pub mod api;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use wangge_domain::role::Role;
use wangge_store::notices::{AnnouncementRow, DueCase, Notices, NotificationRow};
use wangge_store::{CaseEventRow, CaseRow, Store, StoreError, UserRow};

use crate::state::AppState;

pub use api::{ApiDoc, api_routes};
pub use sender::{
    LogSender, LogSmsGateway, NoticeSender, Recipient, SendError, SmsGateway, SmsSender,
    WebhookSender,
};

/// How far back the first sweep after a start looks for deadlines that passed while no server
/// was sweeping.
pub const SWEEP_LOOKBACK_HOURS: i64 = 24;
/// Each later sweep starts this far before the previous one ended: a case changed in a
/// transaction that committed late is still seen (the dedupe key absorbs the overlap).
const SWEEP_OVERLAP_SECONDS: i64 = 120;
/// Most cases one sweep reads per window.
const SWEEP_LIMIT: i64 = 5000;
/// The sweep interval unless `WANGGE_NOTICE_SWEEP_SECONDS` says otherwise.
pub const DEFAULT_SWEEP_SECONDS: u64 = 60;
pub const SWEEP_SECONDS_VAR: &str = "WANGGE_NOTICE_SWEEP_SECONDS";

/// The kinds of personal notifications.
pub const KINDS: &[&str] = &[
    "assigned",
    "urged",
    "returned",
    "rework",
    "confirm_task",
    "check_task",
    "due_soon",
    "overdue",
];

/// Where a case is, as much as choosing its holder needs.
#[derive(Debug, Clone)]
struct CaseAt<'a> {
    grid: &'a str,
    community: &'a str,
    street: &'a str,
    unit: Option<&'a str>,
    level: &'a str,
    node: Option<&'a str>,
}

impl<'a> CaseAt<'a> {
    fn of_case(c: &'a CaseRow) -> Self {
        CaseAt {
            grid: &c.grid_code,
            community: &c.community_code,
            street: &c.street_code,
            unit: c.unit_code.as_deref(),
            level: &c.level,
            node: c.node.as_deref(),
        }
    }

    fn of_due(c: &'a DueCase) -> Self {
        CaseAt {
            grid: &c.grid_code,
            community: &c.community_code,
            street: &c.street_code,
            unit: c.unit_code.as_deref(),
            level: &c.level,
            node: c.node.as_deref(),
        }
    }
}

/// How long a read of the users serves before it is made again: a burst of case changes (an
/// import, a benchmark, the demo's seeding) reads them once, and a new or changed user is
/// notified within this time.
const USERS_TTL: Duration = Duration::from_secs(10);

/// The users last read and when (`AppState::notice_users`).
#[derive(Debug, Default)]
pub struct UserCache(std::sync::Mutex<Option<(std::time::Instant, Arc<Vec<UserRow>>)>>);

/// The users, read at most every [`USERS_TTL`].
async fn users(state: &AppState) -> Result<Arc<Vec<UserRow>>, StoreError> {
    let cache = &state.notice_users.0;
    let now = std::time::Instant::now();
    if let Some((at, list)) = cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
        && now.duration_since(*at) < USERS_TTL
    {
        return Ok(list.clone());
    }
    let list = Arc::new(state.store.users().await?);
    *cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, list.clone()));
    Ok(list)
}

fn role_of(u: &UserRow) -> Option<Role> {
    u.role.parse().ok()
}

/// Active users of a role bound to exactly this region.
fn at_region<'u>(users: &'u [UserRow], role: Role, code: &str) -> Vec<&'u UserRow> {
    users
        .iter()
        .filter(|u| u.active && role_of(u) == Some(role) && u.region_code.as_deref() == Some(code))
        .collect()
}

/// Active users of a role whose jurisdiction holds this grid (a district's desks).
fn covering<'u>(users: &'u [UserRow], role: Role, grid: &str) -> Vec<&'u UserRow> {
    users
        .iter()
        .filter(|u| {
            u.active
                && role_of(u) == Some(role)
                && u.region_code
                    .as_deref()
                    .is_some_and(|r| grid.starts_with(r))
        })
        .collect()
}

fn unit_users<'u>(state: &AppState, users: &'u [UserRow], unit: Option<&str>) -> Vec<&'u UserRow> {
    let Some(id) = unit.and_then(|c| state.reference().unit(c).map(|u| u.id)) else {
        return Vec::new();
    };
    users
        .iter()
        .filter(|u| u.active && u.unit_id == Some(id))
        .collect()
}

/// The users of the level that holds a case registered or returned there.
fn level_holders<'u>(users: &'u [UserRow], c: &CaseAt<'_>) -> Vec<&'u UserRow> {
    match c.level {
        "grid" => at_region(users, Role::GridWorker, c.grid),
        "community" => at_region(users, Role::Community, c.community),
        "street" => at_region(users, Role::Street, c.street),
        _ => covering(users, Role::Dispatcher, c.grid),
    }
}

/// Who holds a case in its current deadline node: the one whose work it waits for.
fn holders<'u>(state: &AppState, users: &'u [UserRow], c: &CaseAt<'_>) -> Vec<&'u UserRow> {
    match c.node {
        Some("confirm" | "check") => at_region(users, Role::GridWorker, c.grid),
        Some("register") => covering(users, Role::Receiver, c.grid),
        Some("dispatch") => level_holders(users, c),
        Some("handle") => {
            let unit = unit_users(state, users, c.unit);
            if unit.is_empty() {
                level_holders(users, c)
            } else {
                unit
            }
        }
        Some("close") => covering(users, Role::ShiftLeader, c.grid),
        _ => Vec::new(),
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

fn node_zh(node: Option<&str>) -> &'static str {
    match node {
        Some("confirm") => "核实",
        Some("register") => "立案",
        Some("dispatch") => "派遣",
        Some("handle") => "处置",
        Some("check") => "核查",
        Some("close") => "结案",
        _ => "办理",
    }
}

/// The reason an action's payload carries, if any.
fn reason_of(event: &CaseEventRow) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&event.payload).ok()?;
    ["reason", "note"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|r| r.as_str()).map(excerpt))
}

/// The notifications an event calls for: (kind, text, recipients by role). Cheap to ask: most
/// actions call for none, and then nothing is spawned.
fn kinds_for(case: &CaseRow, event: &CaseEventRow) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    match event.action.as_str() {
        "dispatch" => kinds.push("assigned"),
        "urge" => kinds.push("urged"),
        "return" => kinds.push("returned"),
        "check_fail" => kinds.push("rework"),
        _ => {}
    }
    // Entering a node a grid worker must act in, whatever action led there.
    let entered =
        event.from_state.as_deref() != Some(event.to_state.as_str()) || event.action == "report";
    if entered {
        match case.node.as_deref() {
            Some("confirm") => kinds.push("confirm_task"),
            Some("check") => kinds.push("check_task"),
            _ => {}
        }
    }
    kinds
}

/// Called after every stored change to a case (and after a report is stored). Never fails and
/// never waits: the work is spawned.
pub fn on_case_change(state: &AppState, case: &CaseRow, event: &CaseEventRow) {
    let kinds = kinds_for(case, event);
    if kinds.is_empty() {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let (state, case, event) = (state.clone(), case.clone(), event.clone());
    rt.spawn(async move {
        if let Err(e) = notify_case_change(&state, &case, &event, &kinds).await {
            tracing::warn!(case = %case.id, action = %event.action, error = %e, "notices for a case change failed");
        }
    });
}

/// Makes and delivers the notifications of one case change; answers how many were new.
pub async fn notify_case_change(
    state: &AppState,
    case: &CaseRow,
    event: &CaseEventRow,
    kinds: &[&str],
) -> Result<usize, StoreError> {
    let users = users(state).await?;
    let at = CaseAt::of_case(case);
    let desc = excerpt(&case.description);
    // The reason or note given with the action, in brackets, if any.
    let note = reason_of(event)
        .map(|n| format!("（{n}）"))
        .unwrap_or_default();
    let mut rows = Vec::new();
    for kind in kinds {
        let (recipients, text): (Vec<&UserRow>, String) = match *kind {
            "assigned" => (
                unit_users(state, &users, case.unit_code.as_deref()),
                format!("新派遣案件：{desc}"),
            ),
            "urged" => {
                let mut r = unit_users(state, &users, case.unit_code.as_deref());
                for h in holders(state, &users, &at) {
                    if !r.iter().any(|u| u.id == h.id) {
                        r.push(h);
                    }
                }
                (r, format!("案件被督办{note}：{desc}"))
            }
            "returned" => (
                holders(state, &users, &at),
                format!("案件被退回，请重新派遣{note}：{desc}"),
            ),
            "rework" => (
                unit_users(state, &users, case.unit_code.as_deref()),
                format!("核查未通过，请返工{note}：{desc}"),
            ),
            "confirm_task" => (
                at_region(&users, Role::GridWorker, &case.grid_code),
                format!("待核实：{desc}"),
            ),
            "check_task" => (
                at_region(&users, Role::GridWorker, &case.grid_code),
                format!("待核查：{desc}"),
            ),
            _ => continue,
        };
        for u in recipients {
            // Nobody is told of what they did themselves.
            if u.username == event.actor {
                continue;
            }
            rows.push(NotificationRow {
                district_code: case.district_code.clone(),
                id: wangge_domain::new_id(),
                recipient: u.username.clone(),
                kind: (*kind).to_owned(),
                case_id: Some(case.id),
                text: text.clone(),
                dedupe_key: format!("{kind}:{}:{}", case.id, event.seq),
                created_at: event.at,
                read_at: None,
            });
        }
    }
    store_and_deliver(state, &users, rows).await
}

/// Stores notifications (those made before are skipped) and delivers the new ones.
async fn store_and_deliver(
    state: &AppState,
    users: &[UserRow],
    rows: Vec<NotificationRow>,
) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let made = state.store.insert_notifications(&rows).await?;
    let count = made.len();
    if made.is_empty() {
        return Ok(0);
    }
    let to: Vec<Recipient> = made
        .iter()
        .map(|n| Recipient {
            username: n.recipient.clone(),
            display_name: users
                .iter()
                .find(|u| u.username == n.recipient)
                .map(|u| u.display_name.clone()),
            // Users have no phone number on record yet; an SMS gateway then reports the miss.
            phone: None,
        })
        .collect();
    // A slow or failing channel (retries pause) must not hold up the sweep or the next change.
    let state = state.clone();
    tokio::spawn(async move {
        let sender = sender::sender_for(&state);
        for (n, recipient) in made.iter().zip(&to) {
            sender::deliver(&state, sender.as_ref(), n, recipient).await;
        }
    });
    Ok(count)
}

/// One sweep over the deadline instants of the last [`SWEEP_LOOKBACK_HOURS`]; answers how many
/// notifications were new. For tests and for the first sweep after a start.
pub async fn sweep_once(state: &AppState) -> Result<usize, StoreError> {
    let now = state.config.clock.now();
    sweep_window(
        state,
        now - chrono::Duration::hours(SWEEP_LOOKBACK_HOURS),
        now,
    )
    .await
}

/// Tells the holders of cases whose yellow or red instant lies in (from, to].
pub async fn sweep_window(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if from >= to {
        return Ok(0);
    }
    let crossings = state.store.due_crossings(from, to, SWEEP_LIMIT).await?;
    if crossings.len() as i64 >= SWEEP_LIMIT {
        tracing::warn!(
            limit = SWEEP_LIMIT,
            "the deadline sweep met its limit; the rest waits for the next sweep"
        );
    }
    if crossings.is_empty() {
        return Ok(0);
    }
    let users = users(state).await?;
    let mut rows = Vec::new();
    for c in &crossings {
        let (kind, text) = match (c.warn_at, c.due_at) {
            (_, Some(due)) if due <= to => (
                "overdue",
                format!(
                    "已超时（{}）：{}",
                    node_zh(c.node.as_deref()),
                    excerpt(&c.description)
                ),
            ),
            (Some(warn), _) if warn <= to => (
                "due_soon",
                format!(
                    "即将超时（{}）：{}",
                    node_zh(c.node.as_deref()),
                    excerpt(&c.description)
                ),
            ),
            _ => continue,
        };
        // Once per node: a node entered again (after a rework, say) starts a new clock.
        let key = format!(
            "{kind}:{}:{}:{}",
            c.id,
            c.node.as_deref().unwrap_or("-"),
            c.node_started_at.map(|t| t.timestamp_millis()).unwrap_or(0)
        );
        for u in holders(state, &users, &CaseAt::of_due(c)) {
            rows.push(NotificationRow {
                district_code: c.district_code.clone(),
                id: wangge_domain::new_id(),
                recipient: u.username.clone(),
                kind: kind.to_owned(),
                case_id: Some(c.id),
                text: text.clone(),
                dedupe_key: key.clone(),
                created_at: to,
                read_at: None,
            });
        }
    }
    store_and_deliver(state, &users, rows).await
}

fn sweep_interval() -> Duration {
    let secs = std::env::var(SWEEP_SECONDS_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=3600).contains(s))
        .unwrap_or(DEFAULT_SWEEP_SECONDS);
    Duration::from_secs(secs)
}

/// The deadline sweep, started with the server: every minute (`WANGGE_NOTICE_SWEEP_SECONDS`).
pub fn spawn_worker(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let state = state.clone();
    let every = sweep_interval();
    Some(tokio::spawn(async move {
        let mut last: Option<DateTime<Utc>> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = state.config.clock.now();
            let from = match last {
                Some(t) => t - chrono::Duration::seconds(SWEEP_OVERLAP_SECONDS),
                None => now - chrono::Duration::hours(SWEEP_LOOKBACK_HOURS),
            };
            match sweep_window(&state, from, now).await {
                Ok(n) => {
                    last = Some(now);
                    if n > 0 {
                        tracing::info!(notifications = n, "deadline sweep");
                    }
                }
                // The same window is tried again next time.
                Err(e) => tracing::warn!(error = %e, "deadline sweep failed"),
            }
        }
    }))
}

/// Sample data for the demo database: an announcement from the district to everyone, and the
/// deadline notices of the sample cases.
pub async fn seed_demo(state: &AppState) -> Result<(), StoreError> {
    let users = state.store.users().await?;
    let Some(district_user) = users
        .iter()
        .find(|u| role_of(u) == Some(Role::District) && u.region_code.is_some())
    else {
        return Ok(());
    };
    let Some(region) = district_user.region_code.clone() else {
        return Ok(());
    };
    let now = state.config.clock.now();
    let district = region.get(..6).unwrap_or(&region).to_owned();
    state
        .store
        .insert_announcement(&AnnouncementRow {
            district_code: district,
            id: wangge_domain::new_id(),
            title: "关于做好近期城市环境整治工作的通知".into(),
            body: "各街道、社区及网格员：本周起开展城市环境集中整治，请加强巡查，发现占道经营、暴露垃圾等问题及时上报。\nAll streets, communities and grid workers: a city clean-up starts this week; patrol more and report street vending and exposed rubbish at once.".into(),
            audience_roles: Vec::new(),
            region_code: region,
            author: district_user.username.clone(),
            created_at: now,
            expires_at: Some(now + chrono::Duration::days(30)),
        })
        .await?;
    sweep_once(state).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_long_text() {
        assert_eq!(excerpt("短"), "短");
        let long: String = "字".repeat(50);
        assert_eq!(excerpt(&long).chars().count(), 41);
    }
}
