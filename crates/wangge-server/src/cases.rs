//! Case work: intake of a report, and every command of the loop applied with optimistic
//! concurrency. The rules themselves live in the domain (`case_loop`); this is the adapter that
//! loads a case, asks the loop, and stores the event with the refreshed cache in one transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use wangge_domain::case::{CaseError, CaseState, Report, ReportInput, Source};
use wangge_domain::case_clock::{DEFAULT_URGENT_HANDLE, Node, NodeClock};
use wangge_domain::case_loop::{self, Action, Actor, CaseFacts, CaseStatus, LoopError};
use wangge_domain::category::{Deadline, DeadlineType};
use wangge_domain::dispatch::{self, Suggestion};
use wangge_domain::region::Level;
use wangge_domain::role::Role;
use wangge_geo::crs::{self, Crs};
use wangge_store::{
    AttachmentRow, CaseEventRow, CaseRow, CaseUpdate, CategoryRow, Store, StoreError,
};

use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Invalid(#[from] CaseError),
    #[error("unknown category '{0}': not in the catalogue of matters")]
    UnknownCategory(String),
    #[error("the point ({lon}, {lat}) lies outside every unit grid of this jurisdiction")]
    OutsideJurisdiction { lon: f64, lat: f64 },
    #[error("the point ({lon}, {lat}) lies outside your own area ({region})")]
    OutsideYourArea { lon: f64, lat: f64, region: String },
    #[error("a {0} does not report cases")]
    MayNotReport(Role),
    #[error("unknown coordinate system '{0}': expected wgs84, gcj02 or bd09")]
    UnknownCrs(String),
    #[error("component_code: {0} is not a registered component of this district")]
    UnknownComponent(String),
    #[error(
        "component_code: component {component} is a {component_category}, the case is about {category}"
    )]
    ComponentCategory {
        component: String,
        component_category: String,
        category: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("no case has id {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Loop(#[from] LoopError),
    #[error("the case is at version {current}, not {given}: reload it and try again")]
    Stale { given: i64, current: i64 },
    #[error("unknown handling unit '{0}'")]
    UnknownUnit(String),
    #[error("the handling unit '{0}' is not active")]
    InactiveUnit(String),
    #[error("cannot merge: {0}")]
    BadMerge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cached case was stale (another process wrote); the command is tried again from the
    /// database. Never leaves this module.
    #[error("the case changed underneath; try again")]
    Retry,
}

/// The case, from the cache when this server is its only writer.
async fn load_case(state: &AppState, id: Uuid) -> Result<(CaseRow, bool), ActError> {
    if let Some(row) = state.cases.row(id) {
        return Ok((row, true));
    }
    let row = state.store.case(id).await?.ok_or(ActError::NotFound(id))?;
    state.cases.put(row.clone(), None);
    Ok((row, false))
}

/// The loop's derived status and the running node clock, cached on the case row as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cached {
    #[serde(rename = "loop")]
    pub status: CaseStatus,
    pub clock: Option<NodeClock>,
}

impl Cached {
    pub fn of(row: &CaseRow) -> Result<Cached, StoreError> {
        serde_json::from_str(&row.status).map_err(|e| {
            StoreError::Corrupt(format!("case {}: cached status unreadable: {e}", row.id))
        })
    }
}

pub fn handle_deadline(category: Option<&CategoryRow>) -> Deadline {
    category
        .and_then(|c| {
            Some(Deadline {
                amount: u32::try_from(c.deadline_amount).ok()?,
                kind: c.deadline_type.parse().ok()?,
            })
        })
        .unwrap_or(Deadline {
            amount: 5,
            kind: DeadlineType::WorkingDays,
        })
}

/// A category's own node limits (JSON), by node name or "urgent".
pub fn category_node_limits(
    category: Option<&CategoryRow>,
) -> std::collections::HashMap<String, Deadline> {
    let Some(c) = category else {
        return Default::default();
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&c.node_limits) else {
        return Default::default();
    };
    map.into_iter()
        .filter_map(|(k, v)| {
            let amount = u32::try_from(v.get("amount")?.as_u64()?).ok()?;
            let kind = v.get("type")?.as_str()?.parse().ok()?;
            Some((k, Deadline { amount, kind }))
        })
        .collect()
}

/// The limit of a node for this case: the category's own limit for the node if it sets one,
/// else the default; handling an urgent case gets the category's urgent limit.
pub fn node_limit(
    state: &AppState,
    category: Option<&CategoryRow>,
    node: Node,
    urgent: bool,
    extension: u32,
) -> Deadline {
    let own = category_node_limits(category);
    if node == Node::Handle && urgent {
        let base = own.get("urgent").copied().unwrap_or(DEFAULT_URGENT_HANDLE);
        return Deadline {
            amount: base.amount.saturating_add(extension),
            kind: base.kind,
        };
    }
    match own.get(node.as_str()) {
        Some(d) if node != Node::Handle => *d,
        _ => state
            .config
            .node_limits
            .limit(node, handle_deadline(category), extension),
    }
}

/// Every node's limit for a case of this category and urgency, as `node_limit` gives them one
/// by one: the node limits, and the handling limit before extensions.
pub fn clock_limits(
    state: &AppState,
    category: Option<&CategoryRow>,
    urgent: bool,
) -> (wangge_domain::case_clock::NodeLimits, Deadline) {
    let limit = |node| node_limit(state, category, node, urgent, 0);
    let limits = wangge_domain::case_clock::NodeLimits {
        confirm: limit(Node::Confirm),
        register: limit(Node::Register),
        dispatch: limit(Node::Dispatch),
        check: limit(Node::Check),
        close: limit(Node::Close),
    };
    (limits, limit(Node::Handle))
}

/// Writes the status, the clock and its yellow/red instants into the row.
pub fn refresh_row(
    state: &AppState,
    row: &mut CaseRow,
    cached: &Cached,
    category: Option<&CategoryRow>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let status = &cached.status;
    row.state = status.state.as_str().into();
    row.unit_code = status.unit.clone();
    row.level = status.level.as_str().into();
    row.suspended = status.suspended;
    row.status = serde_json::to_string(cached)
        .map_err(|e| StoreError::Corrupt(format!("status not serialisable: {e}")))?;
    row.node = cached.clock.as_ref().map(|c| c.node.as_str().into());
    row.node_started_at = cached.clock.as_ref().map(|c| c.started_at);
    let marks = cached.clock.as_ref().and_then(|c| {
        let limit = node_limit(
            state,
            category,
            c.node,
            row.urgent,
            status.extension_granted,
        );
        c.marks(&state.calendar(), limit, now)
    });
    row.warn_at = marks.map(|m| m.0);
    row.due_at = marks.map(|m| m.1);
    row.updated_at = now;
    Ok(())
}

/// Roles that report cases: everyone in the command chain, not handling units or administrators.
fn may_report(role: Role) -> bool {
    !matches!(role, Role::UnitUser | Role::Admin)
}

pub async fn report_case(
    state: &AppState,
    input: ReportInput,
    crs_name: Option<&str>,
    urgent: bool,
    actor: &Actor,
) -> Result<CaseRow, IntakeError> {
    if !may_report(actor.role) {
        return Err(IntakeError::MayNotReport(actor.role));
    }
    let crs: Crs = match crs_name {
        None => Crs::Wgs84,
        Some(name) => name
            .parse()
            .map_err(|_| IntakeError::UnknownCrs(name.to_owned()))?,
    };
    // Convert before validating, so a GCJ-02 point is checked where it really lies.
    let mut input = input;
    if let (Some(lon), Some(lat)) = (input.lon, input.lat)
        && lon.is_finite()
        && lat.is_finite()
    {
        let (x, y) = crs::to_wgs84(crs, lon, lat);
        input.lon = Some(x);
        input.lat = Some(y);
    }
    let report = Report::parse(input)?;
    let category = state
        .reference()
        .category("matter", &report.category)
        .cloned()
        .filter(|c| c.active)
        .ok_or_else(|| IntakeError::UnknownCategory(report.category.clone()))?;
    let (lon, lat) = (report.position.lon(), report.position.lat());
    let atlas = state.atlas();
    let located = atlas
        .locate(lon, lat)
        .ok_or(IntakeError::OutsideJurisdiction { lon, lat })?;
    let code_at = |level| {
        located
            .at(level)
            .map(|r| r.code.clone())
            .unwrap_or_default()
    };
    let grid_code = code_at(Level::Grid);
    if let Some(region) = &actor.region
        && !grid_code.starts_with(region.as_str())
    {
        return Err(IntakeError::OutsideYourArea {
            lon,
            lat,
            region: region.clone(),
        });
    }
    let district_code = match code_at(Level::District) {
        d if d.is_empty() => grid_code.get(..6).unwrap_or_default().to_owned(),
        d => d,
    };
    let component = match &report.component {
        None => None,
        Some(code) => {
            use wangge_store::Registry;
            let c = state
                .store
                .component(&district_code, code.as_str())
                .await?
                .ok_or_else(|| IntakeError::UnknownComponent(code.as_str().to_owned()))?;
            // A component's problems are the matters of the same subcategory code.
            if c.category_code != report.category {
                return Err(IntakeError::ComponentCategory {
                    component: code.as_str().to_owned(),
                    component_category: c.category_code,
                    category: report.category.clone(),
                });
            }
            Some(c)
        }
    };
    let now = state.config.clock.now();
    let id = wangge_domain::new_id();
    let status = CaseStatus::reported(report.source.needs_confirmation());
    let cached = Cached {
        clock: NodeClock::next(None, &status, now),
        status,
    };
    let mut case = CaseRow {
        district_code,
        id,
        category_kind: "matter".into(),
        category_code: report.category.clone(),
        description: report.description.clone(),
        address: report.address.clone(),
        lon,
        lat,
        community_code: code_at(Level::Community),
        street_code: code_at(Level::Street),
        grid_code,
        source: report.source.as_str().into(),
        external_id: report.external_id.clone(),
        state: String::new(),
        version: 1,
        reported_at: now,
        updated_at: now,
        unit_code: None,
        level: String::new(),
        suspended: false,
        urgent,
        status: String::new(),
        node: None,
        node_started_at: None,
        warn_at: None,
        due_at: None,
        component_code: component.as_ref().map(|c| c.component_code.clone()),
        component_unit: component.and_then(|c| c.responsible_unit),
    };
    refresh_row(state, &mut case, &cached, Some(&category), now)?;
    let payload = serde_json::json!({
        "category": report.category,
        "source": report.source.as_str(),
        "external_id": report.external_id,
        "input_crs": crs.to_string(),
        "needs_confirmation": report.source.needs_confirmation(),
        "urgent": urgent,
    });
    let event = CaseEventRow {
        district_code: case.district_code.clone(),
        case_id: id,
        seq: 1,
        action: "report".into(),
        actor: actor.id.clone(),
        role: Some(actor.role.as_str().into()),
        at: now,
        from_state: None,
        to_state: CaseState::Reported.as_str().into(),
        payload: payload.to_string(),
    };
    state.store.create_case(&case, &event).await?;
    crate::notices::on_case_change(state, &case, &event);
    state.ledger.touch(&case.district_code, case.id);
    state.cases.put(case.clone(), Some(vec![event]));
    Ok(case)
}

fn facts<'a>(row: &'a CaseRow, category: Option<&CategoryRow>) -> CaseFacts<'a> {
    CaseFacts {
        id: row.id,
        grid_code: &row.grid_code,
        // A case may be extended by at most its own handling limit in all.
        max_extension: handle_deadline(category).amount,
    }
}

/// The case if the actor may see it; others get the same answer as for a case that does not exist.
pub async fn readable_case(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
) -> Result<(CaseRow, Cached), ActError> {
    let (row, _) = load_case(state, id).await?;
    let cached = Cached::of(&row)?;
    let category = state
        .reference()
        .category(&row.category_kind, &row.category_code)
        .cloned();
    if !case_loop::can_read(actor, &facts(&row, category.as_ref()), &cached.status) {
        return Err(ActError::NotFound(id));
    }
    Ok((row, cached))
}

pub fn event_payload(action: &Action, extra: &[(&str, Value)]) -> String {
    let mut value = serde_json::to_value(action).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("action");
        for (k, v) in extra {
            map.insert((*k).to_owned(), v.clone());
        }
    }
    value.to_string()
}

/// The unit the dispatch rules name for this case.
pub fn suggestion(state: &AppState, row: &CaseRow) -> Suggestion {
    dispatch::suggest(
        state.reference().dispatch_rules(),
        &row.category_code,
        &row.grid_code,
        row.component_unit.as_deref(),
    )
}

/// A second stale cache in a row would mean the cache is not working; say so plainly.
fn no_retry(e: ActError) -> ActError {
    match e {
        ActError::Retry => ActError::Store(StoreError::Corrupt(
            "the cached case was stale twice in a row".into(),
        )),
        other => other,
    }
}

/// A unit a case may be sent to: known and active.
fn active_unit(state: &AppState, code: &str) -> Result<wangge_store::UnitRow, ActError> {
    let unit = state
        .reference()
        .unit(code.trim())
        .cloned()
        .ok_or_else(|| ActError::UnknownUnit(code.to_owned()))?;
    if unit.active {
        Ok(unit)
    } else {
        Err(ActError::InactiveUnit(code.to_owned()))
    }
}

/// The system's own actor for automatic steps (auto-dispatch, auto-close).
fn system(role: Role) -> Actor {
    Actor {
        id: "system".into(),
        role,
        region: None,
        unit: None,
    }
}

/// Takes `action` on case `id` if its version is still `expected_version`; answers the case as
/// stored. Automatic follow-ups (auto-dispatch after registration, auto-close after a passed
/// check) run as the system right after.
pub async fn act(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    expected_version: i64,
    action: Action,
) -> Result<CaseRow, ActError> {
    let row = match act_once(state, actor, id, expected_version, &action, Vec::new()).await {
        Err(ActError::Retry) => {
            act_once(state, actor, id, expected_version, &action, Vec::new()).await
        }
        other => other,
    }
    .map_err(no_retry)?;
    let follow_up = match action {
        Action::Register { .. } => match suggestion(state, &row) {
            Suggestion::One {
                unit,
                auto_dispatch: true,
            } => Some((Role::Dispatcher, Action::Dispatch { unit })),
            _ => None,
        },
        Action::CheckPass { .. } => {
            let category = state
                .reference()
                .category(&row.category_kind, &row.category_code)
                .cloned();
            category.is_some_and(|c| c.auto_close).then(|| {
                (
                    Role::ShiftLeader,
                    Action::Close {
                        note: Some("自动结案".into()),
                    },
                )
            })
        }
        _ => None,
    };
    match follow_up {
        Some((role, next)) => {
            match act_once(state, &system(role), id, row.version, &next, Vec::new())
                .await
                .map_err(no_retry)
            {
                Ok(after) => Ok(after),
                // The automatic step is a convenience: if it cannot run, a person does it.
                Err(e) => {
                    tracing::warn!(case = %id, error = %e, "automatic follow-up skipped");
                    Ok(row)
                }
            }
        }
        None => Ok(row),
    }
}

async fn act_once(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    expected_version: i64,
    action: &Action,
    new_attachments: Vec<AttachmentRow>,
) -> Result<CaseRow, ActError> {
    let (mut row, from_cache) = load_case(state, id).await?;
    if from_cache && row.version != expected_version {
        // Judge a version mismatch on what is stored, not on a possibly stale copy.
        state.cases.forget(id);
        row = load_case(state, id).await?.0;
    }
    let mut cached = Cached::of(&row)?;
    let category = state
        .reference()
        .category(&row.category_kind, &row.category_code)
        .cloned();
    let case_facts = facts(&row, category.as_ref());
    if !case_loop::can_read(actor, &case_facts, &cached.status) {
        return Err(ActError::NotFound(id));
    }
    let to = case_loop::decide(&cached.status, &case_facts, actor, action)?;
    if expected_version != row.version {
        return Err(ActError::Stale {
            given: expected_version,
            current: row.version,
        });
    }
    let mut extra: Vec<(&str, Value)> = Vec::new();
    // Unit rules depend on which unit acted; the timeline keeps it so it can be replayed.
    if let Some(unit) = &actor.unit {
        extra.push(("actor_unit", Value::String(unit.clone())));
    }
    let mut new_parts = Vec::new();
    let mut merge_target: Option<CaseRow> = None;
    match action {
        Action::Dispatch { unit } => {
            let u = active_unit(state, unit)?;
            extra.push(("unit_name", Value::String(u.name)));
        }
        Action::Whistle { units, .. } => {
            for unit in units {
                new_parts.push(active_unit(state, unit)?.code);
            }
        }
        Action::Urge { .. } => extra.push((
            "target_unit",
            cached
                .status
                .unit
                .clone()
                .map_or(Value::Null, Value::String),
        )),
        Action::Join | Action::ReportPart { .. } => {
            extra.push((
                "unit",
                actor.unit.clone().map_or(Value::Null, Value::String),
            ));
        }
        Action::Merge { into } => {
            let target = state
                .store
                .case(*into)
                .await?
                .ok_or_else(|| ActError::BadMerge(format!("no case has id {into}")))?;
            let target_status = Cached::of(&target)?.status;
            if target.district_code != row.district_code {
                return Err(ActError::BadMerge(
                    "the cases are in different districts".into(),
                ));
            }
            if !target_status.state.is_open() {
                return Err(ActError::BadMerge(format!(
                    "case {into} is {}",
                    target_status.state
                )));
            }
            merge_target = Some(target);
        }
        _ => {}
    }
    let now = state.config.clock.now();
    let from = cached.status.state;
    cached
        .status
        .apply(action, actor.role, actor.unit.as_deref(), to);
    cached.clock = NodeClock::next(cached.clock.as_ref(), &cached.status, now);
    let mut updated = row.clone();
    updated.version = row.version + 1;
    refresh_row(state, &mut updated, &cached, category.as_ref(), now)?;
    let event = CaseEventRow {
        district_code: row.district_code.clone(),
        case_id: id,
        seq: updated.version,
        action: action.name().as_str().into(),
        actor: actor.id.clone(),
        role: Some(actor.role.as_str().into()),
        at: now,
        from_state: Some(from.as_str().into()),
        to_state: to.as_str().into(),
        payload: event_payload(action, &extra),
    };
    let mut updates = vec![CaseUpdate {
        case: updated.clone(),
        expected_version,
        event,
        new_parts,
        new_attachments,
    }];
    if let Some(target) = merge_target {
        // The surviving case records what was folded into it; its state does not change.
        let mut survivor = target.clone();
        survivor.version = target.version + 1;
        survivor.updated_at = now;
        updates.push(CaseUpdate {
            event: CaseEventRow {
                district_code: target.district_code.clone(),
                case_id: target.id,
                seq: survivor.version,
                action: "absorb".into(),
                actor: actor.id.clone(),
                role: Some(actor.role.as_str().into()),
                at: now,
                from_state: Some(target.state.clone()),
                to_state: target.state.clone(),
                payload: serde_json::json!({ "case": id, "source": row.source, "external_id": row.external_id }).to_string(),
            },
            case: survivor,
            expected_version: target.version,
            new_parts: Vec::new(),
            new_attachments: Vec::new(),
        });
    }
    match state.store.apply_case_updates(&updates).await {
        Ok(()) => {
            for u in &updates {
                state.ledger.touch(&u.case.district_code, u.case.id);
                crate::hotline::on_case_change(state, &u.case, &u.event);
                crate::notices::on_case_change(state, &u.case, &u.event);
            }
            if let [single] = updates.as_slice() {
                state.cases.advance(&single.case, &single.event);
            } else {
                for u in &updates {
                    state.cases.forget(u.case.id);
                }
            }
            Ok(updated)
        }
        Err(StoreError::VersionConflict { id: conflicted, .. })
            if conflicted == id && from_cache =>
        {
            state.cases.forget(id);
            Err(ActError::Retry)
        }
        Err(StoreError::VersionConflict { id: conflicted, .. }) if conflicted == id => {
            let current = state
                .store
                .case(id)
                .await?
                .map_or(row.version, |r| r.version);
            Err(ActError::Stale {
                given: expected_version,
                current,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Records stored evidence on a case: an `attach` event and the attachment row in one
/// transaction. Attaching needs no version from the caller: it does not depend on the case's
/// state beyond being allowed at all, so a concurrent change is simply retried.
pub async fn attach_evidence(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    stored: &crate::evidence::StoredEvidence,
    stage: &str,
    file_name: Option<String>,
) -> Result<(CaseRow, AttachmentRow), ActError> {
    let mut attempts = 0;
    loop {
        let (row, _) = load_case(state, id).await?;
        let attachment = AttachmentRow {
            district_code: row.district_code.clone(),
            id: wangge_domain::new_id(),
            case_id: id,
            sha256: stored.sha256.clone(),
            media_type: stored.media_type.as_str().into(),
            size: i64::try_from(stored.size).unwrap_or(i64::MAX),
            width: stored.width.map(i64::from),
            height: stored.height.map(i64::from),
            stage: stage.to_owned(),
            file_name: file_name.clone(),
            uploaded_by: actor.id.clone(),
            uploaded_at: state.config.clock.now(),
        };
        let action = Action::Attach {
            attachment: attachment.id.to_string(),
        };
        match act_once(
            state,
            actor,
            id,
            row.version,
            &action,
            vec![attachment.clone()],
        )
        .await
        {
            Ok(updated) => return Ok((updated, attachment)),
            Err(ActError::Stale { .. } | ActError::Retry) if attempts < 3 => attempts += 1,
            Err(ActError::Retry) => return Err(no_retry(ActError::Retry)),
            Err(e) => return Err(e),
        }
    }
}

/// Open cases of the same subcategory reported near this one, shortly before it: possible
/// duplicates for the receiver to merge. Nearest first.
pub async fn duplicate_candidates(
    state: &AppState,
    row: &CaseRow,
) -> Result<Vec<(CaseRow, f64)>, StoreError> {
    use wangge_domain::position::Position;
    let window = chrono::Duration::hours(state.config.duplicate_window_hours);
    let rows = state
        .store
        .open_cases_in_window(
            &row.district_code,
            &row.category_code,
            row.reported_at - window,
            row.reported_at + chrono::Duration::seconds(1),
            500,
        )
        .await?;
    let Ok(here) = Position::new(row.lon, row.lat) else {
        return Ok(Vec::new());
    };
    let mut near: Vec<(CaseRow, f64)> = rows
        .into_iter()
        .filter(|c| c.id != row.id)
        .filter_map(|c| {
            let d = Position::new(c.lon, c.lat).ok()?.distance_m(here);
            (d <= state.config.duplicate_radius_m).then_some((c, d))
        })
        .collect();
    near.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(near)
}

/// A stored timeline as the loop's steps with who took them and when (the report, and the
/// survivor's note of a merge, are not steps). Errors name the event.
pub fn timed_steps(
    events: &[wangge_store::CaseEventRow],
) -> Result<Vec<wangge_domain::evaluation::TimedStep>, String> {
    let mut steps = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.seq != i as i64 + 1 {
            return Err(format!("event {} has seq {}", i + 1, e.seq));
        }
        if e.action == "report" || e.action == "absorb" {
            continue;
        }
        let mut payload: Value = serde_json::from_str(&e.payload).map_err(|x| x.to_string())?;
        let unit = payload
            .get("actor_unit")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Value::Object(map) = &mut payload {
            map.insert("action".into(), Value::String(e.action.clone()));
            // Facts recorded beside the command, not part of it.
            for key in ["actor_unit", "target_unit", "unit_name"] {
                map.remove(key);
            }
        }
        let action: Action =
            serde_json::from_value(payload).map_err(|x| format!("event {}: {x}", e.seq))?;
        let role: Role = e
            .role
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|x: wangge_domain::role::UnknownRole| x.to_string())?;
        let to: CaseState = e.to_state.parse().map_err(|x: CaseError| x.to_string())?;
        steps.push(wangge_domain::evaluation::TimedStep {
            step: case_loop::Step {
                action,
                role,
                unit,
                to,
            },
            actor: e.actor.clone(),
            at: e.at,
        });
    }
    Ok(steps)
}

/// Checks that a case's stored timeline is a legal path of the loop and that the cached status
/// is what the timeline gives. Used by the crash test and `wangge check`.
pub async fn verify_timeline(state: &AppState, row: &CaseRow) -> Result<(), String> {
    let events = state
        .store
        .case_events(&row.district_code, row.id)
        .await
        .map_err(|e| e.to_string())?;
    let category = state
        .reference()
        .category(&row.category_kind, &row.category_code)
        .cloned();
    let needs_confirmation = row
        .source
        .parse::<Source>()
        .map(Source::needs_confirmation)
        .map_err(|e| e.to_string())?;
    let steps: Vec<case_loop::Step> = timed_steps(&events)?.into_iter().map(|t| t.step).collect();
    let status = case_loop::replay(needs_confirmation, &facts(row, category.as_ref()), &steps)
        .map_err(|(i, e)| format!("step {}: {e}", i + 1))?;
    let cached = Cached::of(row).map_err(|e| e.to_string())?;
    if cached.status != status {
        return Err("the cached status differs from the timeline".into());
    }
    if row.version != events.len() as i64 {
        return Err(format!(
            "version {} but {} events",
            row.version,
            events.len()
        ));
    }
    Ok(())
}
