//! The case desks: one list per kind of work — intake, dispatch, the unit's desk, checks,
//! closing, supervision, the area's cases, everything — each narrowed to what the user may see,
//! with the loop's legal actions in every row, paging, sorting, filters and an Excel export of
//! the list as filtered.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_domain::case_loop::{self, ActionName};
use wangge_domain::role::Role;
use wangge_store::{CaseRow, Store};

use super::{ConsoleUser, OPEN_STATES as OPEN, OrPage, page_context, render};
use crate::api::light_of;
use crate::case_api::{CaseQuery, case_filter};
use crate::cases::Cached;
use crate::error::ApiError;
use crate::local_day;
use crate::state::AppState;
use wangge_domain::calendar::WorkingCalendar;

pub fn routes() -> Router<AppState> {
    Router::new().route("/console/desk/{desk}", get(desk_page))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desk {
    Intake,
    Dispatch,
    Unit,
    Verify,
    Close,
    Supervise,
    Area,
    All,
}

impl Desk {
    pub const ALL: [Desk; 8] = [
        Desk::Intake,
        Desk::Dispatch,
        Desk::Unit,
        Desk::Verify,
        Desk::Close,
        Desk::Supervise,
        Desk::Area,
        Desk::All,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Desk::Intake => "intake",
            Desk::Dispatch => "dispatch",
            Desk::Unit => "unit",
            Desk::Verify => "verify",
            Desk::Close => "close",
            Desk::Supervise => "supervise",
            Desk::Area => "area",
            Desk::All => "all",
        }
    }

    fn parse(name: &str) -> Option<Desk> {
        Desk::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Who works at this desk; the full list is open to everyone (scoped by jurisdiction).
    fn roles(self) -> &'static [Role] {
        match self {
            Desk::Intake => &[Role::Receiver, Role::ShiftLeader, Role::District],
            Desk::Dispatch => &[Role::Dispatcher, Role::ShiftLeader, Role::District],
            Desk::Unit => &[Role::UnitUser],
            Desk::Verify => &[Role::GridWorker, Role::Receiver],
            Desk::Close => &[Role::ShiftLeader],
            Desk::Supervise => &[
                Role::Supervisor,
                Role::Dispatcher,
                Role::ShiftLeader,
                Role::District,
            ],
            Desk::Area => &[Role::Community, Role::Street, Role::District],
            Desk::All => &Role::ALL,
        }
    }

    /// The states listed when the user has not picked one.
    fn default_states(self) -> &'static [&'static str] {
        match self {
            Desk::Intake => &["reported"],
            Desk::Dispatch => &["registered", "returned"],
            Desk::Unit => &["dispatched", "in_progress"],
            Desk::Verify | Desk::Supervise | Desk::Area => OPEN,
            Desk::Close => &["verified"],
            Desk::All => &[],
        }
    }

    /// Tabs narrowing the desk further: (parameter, value, label key); the first is the default.
    fn tabs(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Desk::Verify => &[
                ("node", "check", "desk.tab.check"),
                ("node", "confirm", "desk.tab.confirm"),
            ],
            Desk::Supervise => &[
                ("light", "red", "desk.tab.overdue"),
                ("light", "yellow", "desk.tab.due_soon"),
                ("pending", "extension", "desk.tab.extensions"),
            ],
            Desk::Dispatch => &[
                ("state", "registered,returned", "desk.tab.to_dispatch"),
                ("state", "returned", "desk.tab.returned"),
            ],
            _ => &[],
        }
    }

    /// The actions offered in each row, when the loop allows them to this user for that case.
    fn row_actions(self) -> &'static [ActionName] {
        use ActionName::*;
        match self {
            Desk::Intake => &[Register, Reject],
            Desk::Dispatch => &[Dispatch],
            Desk::Unit => &[Accept, Handle, Return, Join, ReportPart],
            Desk::Verify => &[Confirm, CheckPass, CheckFail],
            Desk::Close => &[Close],
            Desk::Supervise => &[Urge, ApproveExtension, DenyExtension],
            Desk::Area => &[SelfHandle, Escalate, Urge],
            Desk::All => &[],
        }
    }
}

/// The query string of a desk: the case list's filters, with dates as the date inputs send them.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct DeskQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    light: Option<String>,
    #[serde(default)]
    node: Option<String>,
    /// `extension`: cases whose extension request waits for a decision.
    #[serde(default)]
    pending: Option<String>,
    /// YYYY-MM-DD, Beijing time, inclusive.
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    per_page: Option<String>,
    /// `xlsx` exports the list.
    #[serde(default, skip_serializing)]
    format: Option<String>,
    #[serde(default, skip_serializing)]
    done: Option<String>,
}

fn blank_to_none(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

impl DeskQuery {
    fn case_query(&self, desk: Desk, cal: &WorkingCalendar) -> Result<CaseQuery, ApiError> {
        let mut q = CaseQuery {
            state: blank_to_none(&self.state),
            category: blank_to_none(&self.category),
            source: blank_to_none(&self.source),
            light: blank_to_none(&self.light),
            node: blank_to_none(&self.node),
            order: blank_to_none(&self.order),
            ..CaseQuery::default()
        };
        if q.state.is_none() && !desk.default_states().is_empty() {
            q.state = Some(desk.default_states().join(","));
        }
        // The first tab is the default, unless another tab is chosen.
        let chosen = desk
            .tabs()
            .iter()
            .any(|(param, _, _)| blank_to_none(&self.param(param)).is_some());
        if let (false, Some((param, value, _))) = (chosen, desk.tabs().first()) {
            match *param {
                "node" => q.node = Some((*value).to_owned()),
                "light" => q.light = Some((*value).to_owned()),
                _ => {}
            }
        }
        // Supervision works through what is most late first.
        if desk == Desk::Supervise && q.order.is_none() {
            q.order = Some("due".into());
        }
        if blank_to_none(&self.pending).as_deref() == Some("extension") {
            q.pending_extension = Some(true);
        }
        if let Some(from) = blank_to_none(&self.from) {
            q.from = Some(local_day::day_start(
                cal,
                local_day::parse_day("from", &from)?,
            ));
        }
        if let Some(to) = blank_to_none(&self.to) {
            q.to = Some(local_day::day_end(cal, local_day::parse_day("to", &to)?));
        }
        q.page = match blank_to_none(&self.page) {
            Some(p) => Some(
                p.parse()
                    .map_err(|_| ApiError::invalid_field("page", "page must be a number"))?,
            ),
            None => None,
        };
        q.per_page =
            match blank_to_none(&self.per_page) {
                Some(p) => Some(p.parse().map_err(|_| {
                    ApiError::invalid_field("per_page", "per_page must be a number")
                })?),
                None => Some(25),
            };
        Ok(q)
    }

    /// The value of a tab's parameter.
    fn param(&self, name: &str) -> Option<String> {
        match name {
            "node" => self.node.clone(),
            "light" => self.light.clone(),
            "state" => self.state.clone(),
            "pending" => self.pending.clone(),
            _ => None,
        }
    }

    /// This query as a query string, with `set` replacing or adding parameters.
    fn with(&self, set: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let fields = [
            ("state", &self.state),
            ("category", &self.category),
            ("source", &self.source),
            ("light", &self.light),
            ("node", &self.node),
            ("pending", &self.pending),
            ("from", &self.from),
            ("to", &self.to),
            ("order", &self.order),
            ("page", &self.page),
            ("per_page", &self.per_page),
        ];
        for (name, value) in fields {
            if let Some(v) = blank_to_none(value) {
                pairs.push((name.to_owned(), v));
            }
        }
        for (name, value) in set {
            pairs.retain(|(n, _)| n != name);
            if !value.is_empty() {
                pairs.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        pairs
            .iter()
            .map(|(n, v)| format!("{n}={}", super::urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// One case as a desk row shows it.
#[derive(Debug, Serialize)]
pub struct DeskRow {
    pub(super) id: String,
    pub(super) version: i64,
    pub(super) category_code: String,
    pub(super) category_name: String,
    pub(super) registration_standard: String,
    pub(super) description: String,
    pub(super) address: Option<String>,
    pub(super) grid_code: String,
    pub(super) grid_name: String,
    pub(super) source: String,
    pub(super) external_id: Option<String>,
    pub(super) state: String,
    pub(super) suspended: bool,
    pub(super) urgent: bool,
    pub(super) level: String,
    pub(super) unit_code: Option<String>,
    pub(super) unit_name: Option<String>,
    pub(super) node: Option<String>,
    pub(super) due_at: Option<DateTime<Utc>>,
    pub(super) light: Option<&'static str>,
    pub(super) reported_at: DateTime<Utc>,
    pub(super) returns: u32,
    pub(super) reworks: u32,
    pub(super) consultation: bool,
    pub(super) pending_extension: Option<u32>,
    pub(super) urges: u32,
    pub(super) suggested_unit: Option<String>,
    /// The row's actions the loop allows this user now.
    pub(super) actions: Vec<&'static str>,
}

pub fn desk_row(
    state: &AppState,
    who: &ConsoleUser,
    desk: Desk,
    c: CaseRow,
    now: DateTime<Utc>,
) -> DeskRow {
    let reference = state.reference();
    let atlas = state.atlas();
    let category = reference.category(&c.category_kind, &c.category_code);
    let status = Cached::of(&c).ok().map(|cached| cached.status);
    let actions: Vec<&'static str> = match &status {
        Some(st) => {
            let allowed = case_loop::allowed_actions(st, &who.user.actor);
            desk.row_actions()
                .iter()
                .filter(|a| allowed.contains(a))
                .map(|a| a.as_str())
                .collect()
        }
        None => Vec::new(),
    };
    let suggested_unit = if actions.contains(&"dispatch") {
        match crate::cases::suggestion(state, &c) {
            wangge_domain::dispatch::Suggestion::One { unit, .. } => Some(unit),
            _ => None,
        }
    } else {
        None
    };
    DeskRow {
        id: c.id.to_string(),
        version: c.version,
        category_name: category.map(|k| k.name.clone()).unwrap_or_default(),
        registration_standard: category
            .map(|k| k.registration_standard.clone())
            .unwrap_or_default(),
        grid_name: atlas
            .region(&c.grid_code)
            .map(|r| r.name.clone())
            .unwrap_or_default(),
        unit_name: c
            .unit_code
            .as_deref()
            .and_then(|u| reference.unit(u))
            .map(|u| u.name.clone()),
        light: light_of(&c, now),
        returns: status.as_ref().map_or(0, |s| s.returns),
        reworks: status.as_ref().map_or(0, |s| s.reworks),
        consultation: status.as_ref().is_some_and(|s| s.consultation.is_some()),
        pending_extension: status.as_ref().and_then(|s| s.pending_extension),
        urges: status.as_ref().map_or(0, |s| s.urges),
        suggested_unit,
        actions,
        category_code: c.category_code,
        description: c.description,
        address: c.address,
        grid_code: c.grid_code,
        source: c.source,
        external_id: c.external_id,
        state: c.state,
        suspended: c.suspended,
        urgent: c.urgent,
        level: c.level,
        unit_code: c.unit_code,
        node: c.node,
        due_at: c.due_at,
        reported_at: c.reported_at,
    }
}

/// Most rows one Excel export carries.
const EXPORT_LIMIT: i64 = 10_000;

async fn desk_page(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(name): Path<String>,
    Query(q): Query<DeskQuery>,
) -> Result<Response, Response> {
    let desk = Desk::parse(&name).ok_or_else(|| {
        super::error_page(
            who.lang,
            Some(&who),
            &ApiError::not_found("not_found", format!("no desk '{name}'")),
        )
    })?;
    who.require(desk.roles())?;
    let now = Utc::now();
    let export = q.format.as_deref() == Some("xlsx");
    let (mut filter, page, per_page) = case_filter(
        &who.user.actor,
        q.case_query(desk, &state.calendar()).or_page(&who)?,
        now,
    )
    .or_page(&who)?;
    if export {
        filter.limit = EXPORT_LIMIT;
        filter.offset = 0;
    }
    let (cases, total) = state.store.list_cases(&filter).await.or_page(&who)?;
    let rows: Vec<DeskRow> = cases
        .into_iter()
        .map(|c| desk_row(&state, &who, desk, c, now))
        .collect();
    if export {
        return super::export::desk_xlsx(&who, desk, &rows).or_page(&who);
    }
    let reference = state.reference();
    let categories = category_groups(&reference);
    let units: Vec<Value> = reference
        .units()
        .iter()
        .filter(|u| u.active)
        .filter(|u| match (&u.district_code, &who.user.actor.region) {
            (Some(d), Some(r)) => r.starts_with(d.as_str()) || d.starts_with(r.as_str()),
            _ => true,
        })
        .map(|u| context! { code => u.code.clone(), name => u.name.clone() })
        .collect();
    let pages = ((total + per_page - 1) / per_page).max(1);
    let chosen = desk
        .tabs()
        .iter()
        .any(|(param, _, _)| blank_to_none(&q.param(param)).is_some());
    let tabs: Vec<Value> = desk
        .tabs()
        .iter()
        .enumerate()
        .map(|(i, (param, value, key))| {
            let current = blank_to_none(&q.param(param));
            // A tab replaces the other tabs' choices.
            let mut set: Vec<(&str, &str)> = desk.tabs().iter().map(|(p, _, _)| (*p, "")).collect();
            set.push((param, value));
            set.push(("page", ""));
            context! {
                href => format!("?{}", q.with(&set)),
                key => *key,
                active => current.as_deref() == Some(*value) || (!chosen && i == 0),
            }
        })
        .collect();
    let path = format!("/console/desk/{}", desk.name());
    let back = format!("{path}?{}", q.with(&[]));
    let sort = |order: &str| format!("?{}", q.with(&[("order", order), ("page", "")]));
    let ctx = context! {
        desk => desk.name(),
        title_key => format!("desk.title.{}", desk.name()),
        rows => Value::from_serialize(&rows),
        total => total,
        page => page,
        pages => pages,
        per_page => per_page,
        prev_href => (page > 1).then(|| format!("?{}", q.with(&[("page", &(page - 1).to_string())]))),
        next_href => (page < pages).then(|| format!("?{}", q.with(&[("page", &(page + 1).to_string())]))),
        export_href => format!("?{}", q.with(&[("format", "xlsx"), ("page", "")])),
        sort_newest => sort("newest"),
        sort_oldest => sort("oldest"),
        sort_due => sort("due"),
        order => q.order.clone().unwrap_or_else(|| {
            if desk == Desk::Supervise { "due" } else { "newest" }.into()
        }),
        filters => Value::from_serialize(&q),
        tabs => tabs,
        show_state_filter => desk.tabs().iter().all(|(p, _, _)| *p != "state")
            && (desk == Desk::All || desk.default_states().len() > 1),
        states => if desk == Desk::All { OPEN.iter().chain(super::FINISHED_STATES.iter()).copied().collect::<Vec<_>>() } else { desk.default_states().to_vec() },
        sources => wangge_domain::case::Source::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        categories => categories,
        units => units,
        back => back,
        done => q.done.clone().filter(|d| ActionName::ALL.iter().any(|a| a.as_str() == d)),
        show_standard => desk == Desk::Intake,
    };
    Ok(render("desk.html", page_context(&state, &who, &path, ctx)))
}

pub(crate) fn xlsx_response(bytes: Vec<u8>, file_name: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

/// The case categories (matters) grouped by class, for filter and report forms.
pub fn category_groups(reference: &crate::state::Reference) -> Vec<Value> {
    let mut matters: Vec<_> = reference
        .categories()
        .filter(|c| c.active && c.kind == "matter")
        .collect();
    matters.sort_by(|a, b| a.code.cmp(&b.code));
    let mut groups: Vec<(String, String, Vec<Value>)> = Vec::new();
    for c in matters {
        let item = context! { code => c.code.clone(), name => c.name.clone() };
        match groups.last_mut() {
            Some((class, _, items)) if *class == c.class_code => items.push(item),
            _ => groups.push((c.class_code.clone(), c.class_name.clone(), vec![item])),
        }
    }
    groups
        .into_iter()
        .map(|(code, name, items)| context! { code => code, name => name, items => items })
        .collect()
}
