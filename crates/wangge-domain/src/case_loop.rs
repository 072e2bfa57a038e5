//! The closed loop (闭环): who may do what to a case in which state, and what follows.
//!
//! Everything a case can go through is decided here, in one place, so the loop can be read,
//! reviewed and property-tested on its own:
//!
//! ```text
//! reported ─confirm (public reports)─▶ reported ─register─▶ registered ─dispatch─▶ dispatched ─accept─▶ in_progress ─handle─▶ handled
//!    │ reject                                │ self_handle ───────────────────────────────────────────────────────────▶ handled
//!    ▼                                       │ escalate (grid → community → street → district)     return │ (3rd: 会商)
//! invalid                                    │                                   returned ◀────────────────┘
//!                                                                                handled ─check_pass─▶ verified ─close─▶ closed
//!                                                                                handled ─check_fail (rework)─▶ in_progress
//! any open state: urge, request/approve/deny extension, suspend/resume (挂账), merge, whistle/join/report_part (吹哨报到), comment, attach
//! ```
//!
//! [`decide`] answers whether an actor may take an action now and which state follows;
//! [`CaseStatus::apply`] folds an accepted action into the status. The status is a cache of the
//! timeline: [`replay`] rebuilds it from the events and checks that they form a legal path.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::case::CaseState;
use crate::region::Level;
use crate::role::Role;

pub const MAX_TEXT_CHARS: usize = 2000;
/// The third return of one case opens a consultation (会商) one level up.
pub const RETURNS_BEFORE_CONSULTATION: u32 = 3;
pub const MAX_WHISTLE_UNITS: usize = 20;
pub const DEFAULT_JOIN_HOURS: u32 = 24;

fn default_join_hours() -> u32 {
    DEFAULT_JOIN_HOURS
}

/// A command on a case, as it arrives (`{"action": "dispatch", "unit": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// 核实: the grid worker confirms on the spot that a public report is real.
    Confirm {
        #[serde(default)]
        note: Option<String>,
    },
    /// 立案
    Register {
        #[serde(default)]
        note: Option<String>,
    },
    /// Not a case (不予立案), or voiding a registered case (作废, shift leader only).
    Reject {
        reason: String,
    },
    /// 派遣 to a handling unit, by its code.
    Dispatch {
        unit: String,
    },
    Accept,
    /// 退回: the unit says the dispatch was wrong.
    Return {
        reason: String,
    },
    /// The unit reports the work done (处置完成).
    Handle {
        #[serde(default)]
        note: Option<String>,
    },
    /// 核查 passed.
    CheckPass {
        #[serde(default)]
        note: Option<String>,
    },
    /// 核查 failed: back to the unit for rework (返工).
    CheckFail {
        reason: String,
    },
    /// 结案
    Close {
        #[serde(default)]
        note: Option<String>,
    },
    /// 上报 one level up.
    Escalate {
        reason: String,
    },
    /// Solved at once by the grid / community / street holding it (微循环 / 小循环).
    SelfHandle {
        #[serde(default)]
        note: Option<String>,
    },
    /// 督办
    Urge {
        #[serde(default)]
        note: Option<String>,
    },
    /// 延期申请, in units of the category's handling deadline.
    RequestExtension {
        amount: u32,
        reason: String,
    },
    ApproveExtension,
    DenyExtension {
        reason: String,
    },
    /// 挂账: the clock stops.
    Suspend {
        reason: String,
    },
    Resume,
    /// A duplicate folded into another case.
    Merge {
        into: Uuid,
    },
    /// 吹哨: named units must report (报到) within `join_hours`.
    Whistle {
        units: Vec<String>,
        #[serde(default = "default_join_hours")]
        join_hours: u32,
    },
    /// 报到: a whistled unit joins.
    Join,
    /// A whistled unit reports its own part done.
    ReportPart {
        #[serde(default)]
        note: Option<String>,
    },
    Comment {
        text: String,
    },
    Attach {
        attachment: String,
    },
}

/// The names of the actions, for listings and permission tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionName {
    Confirm,
    Register,
    Reject,
    Dispatch,
    Accept,
    Return,
    Handle,
    CheckPass,
    CheckFail,
    Close,
    Escalate,
    SelfHandle,
    Urge,
    RequestExtension,
    ApproveExtension,
    DenyExtension,
    Suspend,
    Resume,
    Merge,
    Whistle,
    Join,
    ReportPart,
    Comment,
    Attach,
}

impl ActionName {
    pub const ALL: [ActionName; 24] = [
        ActionName::Confirm,
        ActionName::Register,
        ActionName::Reject,
        ActionName::Dispatch,
        ActionName::Accept,
        ActionName::Return,
        ActionName::Handle,
        ActionName::CheckPass,
        ActionName::CheckFail,
        ActionName::Close,
        ActionName::Escalate,
        ActionName::SelfHandle,
        ActionName::Urge,
        ActionName::RequestExtension,
        ActionName::ApproveExtension,
        ActionName::DenyExtension,
        ActionName::Suspend,
        ActionName::Resume,
        ActionName::Merge,
        ActionName::Whistle,
        ActionName::Join,
        ActionName::ReportPart,
        ActionName::Comment,
        ActionName::Attach,
    ];

    pub fn as_str(self) -> &'static str {
        use ActionName::*;
        match self {
            Confirm => "confirm",
            Register => "register",
            Reject => "reject",
            Dispatch => "dispatch",
            Accept => "accept",
            Return => "return",
            Handle => "handle",
            CheckPass => "check_pass",
            CheckFail => "check_fail",
            Close => "close",
            Escalate => "escalate",
            SelfHandle => "self_handle",
            Urge => "urge",
            RequestExtension => "request_extension",
            ApproveExtension => "approve_extension",
            DenyExtension => "deny_extension",
            Suspend => "suspend",
            Resume => "resume",
            Merge => "merge",
            Whistle => "whistle",
            Join => "join",
            ReportPart => "report_part",
            Comment => "comment",
            Attach => "attach",
        }
    }
}

impl fmt::Display for ActionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub fn name(&self) -> ActionName {
        match self {
            Action::Confirm { .. } => ActionName::Confirm,
            Action::Register { .. } => ActionName::Register,
            Action::Reject { .. } => ActionName::Reject,
            Action::Dispatch { .. } => ActionName::Dispatch,
            Action::Accept => ActionName::Accept,
            Action::Return { .. } => ActionName::Return,
            Action::Handle { .. } => ActionName::Handle,
            Action::CheckPass { .. } => ActionName::CheckPass,
            Action::CheckFail { .. } => ActionName::CheckFail,
            Action::Close { .. } => ActionName::Close,
            Action::Escalate { .. } => ActionName::Escalate,
            Action::SelfHandle { .. } => ActionName::SelfHandle,
            Action::Urge { .. } => ActionName::Urge,
            Action::RequestExtension { .. } => ActionName::RequestExtension,
            Action::ApproveExtension => ActionName::ApproveExtension,
            Action::DenyExtension { .. } => ActionName::DenyExtension,
            Action::Suspend { .. } => ActionName::Suspend,
            Action::Resume => ActionName::Resume,
            Action::Merge { .. } => ActionName::Merge,
            Action::Whistle { .. } => ActionName::Whistle,
            Action::Join => ActionName::Join,
            Action::ReportPart { .. } => ActionName::ReportPart,
            Action::Comment { .. } => ActionName::Comment,
            Action::Attach { .. } => ActionName::Attach,
        }
    }
}

/// Who acts: a user's role and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub role: Role,
    /// The region subtree the user works in (a code prefix); `None` = the whole jurisdiction.
    pub region: Option<String>,
    /// The handling unit a unit user belongs to.
    pub unit: Option<String>,
}

/// One unit's share of a whistled case (吹哨报到).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub unit: String,
    pub joined: bool,
    pub done: bool,
}

/// Everything the loop needs to know about a case, derived from its timeline. Serialisable so
/// storage can cache it beside the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseStatus {
    pub state: CaseState,
    /// Public reports are confirmed on the spot before registration.
    pub needs_confirmation: bool,
    pub confirmed: bool,
    /// The level holding the case: grid at first, raised by escalation, set by dispatch.
    pub level: Level,
    pub unit: Option<String>,
    pub returns: u32,
    pub reworks: u32,
    /// An open consultation (会商) at this level, after repeated returns.
    pub consultation: Option<Level>,
    pub suspended: bool,
    pub parts: Vec<Part>,
    pub pending_extension: Option<u32>,
    pub extension_granted: u32,
    /// The level that solved the case, once handled.
    pub solved_level: Option<Level>,
    pub merged_into: Option<Uuid>,
    pub urges: u32,
}

impl CaseStatus {
    /// A newly reported case.
    pub fn reported(needs_confirmation: bool) -> Self {
        CaseStatus {
            state: CaseState::Reported,
            needs_confirmation,
            confirmed: false,
            level: Level::Grid,
            unit: None,
            returns: 0,
            reworks: 0,
            consultation: None,
            suspended: false,
            parts: Vec::new(),
            pending_extension: None,
            extension_granted: 0,
            solved_level: None,
            merged_into: None,
            urges: 0,
        }
    }

    /// Folds an action that [`decide`] accepted into the status.
    pub fn apply(
        &mut self,
        action: &Action,
        actor_role: Role,
        actor_unit: Option<&str>,
        to: CaseState,
    ) {
        match action {
            Action::Confirm { .. } => self.confirmed = true,
            Action::Dispatch { unit } => {
                self.unit = Some(unit.clone());
                // A consultation is settled by the level that held it naming the unit.
                self.level = self
                    .consultation
                    .take()
                    .or(role_level(actor_role))
                    .unwrap_or(Level::District);
            }
            Action::Return { .. } => {
                self.returns += 1;
                self.unit = None;
                if self.returns.is_multiple_of(RETURNS_BEFORE_CONSULTATION) {
                    self.consultation = Some(consultation_level(self.level));
                }
            }
            Action::Handle { .. } | Action::SelfHandle { .. } => {
                self.solved_level = Some(self.level)
            }
            Action::CheckFail { .. } => {
                self.reworks += 1;
                self.solved_level = None;
            }
            Action::Escalate { .. } => {
                if let Some(up) = self.level.parent() {
                    self.level = up;
                }
            }
            Action::Urge { .. } => self.urges += 1,
            Action::RequestExtension { amount, .. } => self.pending_extension = Some(*amount),
            Action::ApproveExtension => {
                self.extension_granted += self.pending_extension.take().unwrap_or(0);
            }
            Action::DenyExtension { .. } => self.pending_extension = None,
            Action::Suspend { .. } => self.suspended = true,
            Action::Resume => self.suspended = false,
            Action::Merge { into } => self.merged_into = Some(*into),
            Action::Whistle { units, .. } => {
                self.parts = units
                    .iter()
                    .map(|u| Part {
                        unit: u.clone(),
                        joined: false,
                        done: false,
                    })
                    .collect();
            }
            Action::Join => {
                if let Some(p) = self.part_mut(actor_unit) {
                    p.joined = true;
                }
            }
            Action::ReportPart { .. } => {
                if let Some(p) = self.part_mut(actor_unit) {
                    p.done = true;
                }
            }
            Action::Register { .. }
            | Action::Reject { .. }
            | Action::Accept
            | Action::CheckPass { .. }
            | Action::Close { .. }
            | Action::Comment { .. }
            | Action::Attach { .. } => {}
        }
        self.state = to;
    }

    fn part_mut(&mut self, unit: Option<&str>) -> Option<&mut Part> {
        let unit = unit?;
        self.parts.iter_mut().find(|p| p.unit == unit)
    }

    fn part(&self, unit: Option<&str>) -> Option<&Part> {
        let unit = unit?;
        self.parts.iter().find(|p| p.unit == unit)
    }

    /// Parts of a whistled case not yet reported done.
    pub fn outstanding_parts(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter(|p| !p.done)
            .map(|p| p.unit.as_str())
            .collect()
    }
}

/// The level a region-bound role works at.
pub fn role_level(role: Role) -> Option<Level> {
    match role {
        Role::GridWorker => Some(Level::Grid),
        Role::Community => Some(Level::Community),
        Role::Street => Some(Level::Street),
        Role::District | Role::Dispatcher => Some(Level::District),
        _ => None,
    }
}

/// Where a consultation on a repeatedly returned case is held: one level above the one that
/// dispatched it — the street above a grid or community, the district centre (not its dispatcher)
/// above a street or the district's own dispatch desk.
pub fn consultation_level(level: Level) -> Level {
    match level {
        Level::Grid | Level::Community => Level::Street,
        _ => Level::District,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoopError {
    #[error("'{action}' is not possible while the case is {state}{}", if *.suspended { " and suspended" } else { "" })]
    NotAllowedInState {
        action: ActionName,
        state: CaseState,
        suspended: bool,
        /// What this actor may do now instead.
        allowed: Vec<ActionName>,
    },
    #[error("a {role} may not '{action}' this case")]
    Forbidden {
        action: ActionName,
        role: Role,
        allowed: Vec<ActionName>,
    },
    #[error("the case is outside your jurisdiction")]
    OutOfScope,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the case cannot pass its check while parts are outstanding: {}", .units.join(", "))]
    PartsOutstanding { units: Vec<String> },
}

/// Facts about the case beyond its status that a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct CaseFacts<'a> {
    pub id: Uuid,
    /// The grid the case was reported in.
    pub grid_code: &'a str,
    /// Most extension a case may get in total, in units of its handling deadline.
    pub max_extension: u32,
}

/// Whether the actor may see the case at all.
pub fn can_read(actor: &Actor, facts: &CaseFacts<'_>, status: &CaseStatus) -> bool {
    match actor.role {
        Role::UnitUser => {
            let unit = actor.unit.as_deref();
            unit.is_some() && (status.unit.as_deref() == unit || status.part(unit).is_some())
        }
        _ => actor
            .region
            .as_deref()
            .is_none_or(|r| facts.grid_code.starts_with(r)),
    }
}

fn state_allows(name: ActionName, s: &CaseStatus) -> bool {
    use ActionName::*;
    use CaseState as S;
    if !s.state.is_open() {
        return matches!(name, Comment | Attach) && s.state != S::Merged;
    }
    if s.suspended {
        return matches!(name, Resume | Comment | Attach | Urge);
    }
    match name {
        Confirm => s.state == S::Reported && s.needs_confirmation && !s.confirmed,
        Register => s.state == S::Reported && (!s.needs_confirmation || s.confirmed),
        Reject => matches!(s.state, S::Reported | S::Registered),
        Dispatch => matches!(s.state, S::Registered | S::Returned),
        Accept | Return => s.state == S::Dispatched,
        Handle => s.state == S::InProgress,
        CheckPass | CheckFail => s.state == S::Handled,
        Close => s.state == S::Verified,
        Escalate => {
            matches!(s.state, S::Registered | S::Returned)
                && matches!(s.level, Level::Grid | Level::Community | Level::Street)
        }
        SelfHandle => matches!(s.state, S::Registered | S::Returned),
        Urge => !matches!(s.state, S::Reported),
        RequestExtension => {
            matches!(s.state, S::Dispatched | S::InProgress) && s.pending_extension.is_none()
        }
        ApproveExtension | DenyExtension => s.pending_extension.is_some(),
        Suspend => matches!(
            s.state,
            S::Registered | S::Dispatched | S::Returned | S::InProgress
        ),
        Resume => false,
        Merge => matches!(s.state, S::Reported | S::Registered),
        Whistle => {
            matches!(
                s.state,
                S::Registered | S::Dispatched | S::Returned | S::InProgress
            ) && s.parts.is_empty()
        }
        Join => s.parts.iter().any(|p| !p.joined),
        ReportPart => s.parts.iter().any(|p| p.joined && !p.done),
        Comment | Attach => true,
    }
}

fn role_allows(name: ActionName, s: &CaseStatus, actor: &Actor) -> bool {
    use ActionName::*;
    use Role as R;
    let r = actor.role;
    let unit = actor.unit.as_deref();
    let assigned = r == R::UnitUser && unit.is_some() && s.unit.as_deref() == unit;
    match name {
        Confirm | CheckPass | CheckFail => r == R::GridWorker,
        Register => matches!(r, R::Receiver | R::ShiftLeader),
        // Turning a report away is the receiver's; voiding a registered case the shift leader's.
        Reject => match s.state {
            CaseState::Reported => matches!(r, R::Receiver | R::ShiftLeader),
            _ => r == R::ShiftLeader,
        },
        Dispatch => match s.consultation {
            Some(level) => r != R::Dispatcher && role_level(r) == Some(level),
            None => r == R::Dispatcher,
        },
        Accept | Return | Handle | RequestExtension => assigned,
        Close => r == R::ShiftLeader,
        Escalate | SelfHandle => r != R::Dispatcher && role_level(r) == Some(s.level),
        Urge => matches!(r, R::Supervisor | R::District | R::Street | R::ShiftLeader),
        ApproveExtension | DenyExtension | Suspend | Resume => r == R::Dispatcher,
        Merge => matches!(r, R::Receiver | R::ShiftLeader | R::Dispatcher),
        Whistle => matches!(r, R::Street | R::District),
        Join => r == R::UnitUser && s.part(unit).is_some_and(|p| !p.joined),
        ReportPart => r == R::UnitUser && s.part(unit).is_some_and(|p| p.joined && !p.done),
        Comment | Attach => true,
    }
}

/// What this actor may do to the case now.
pub fn allowed_actions(status: &CaseStatus, actor: &Actor) -> Vec<ActionName> {
    ActionName::ALL
        .into_iter()
        .filter(|n| state_allows(*n, status) && role_allows(*n, status, actor))
        .collect()
}

fn text(field: &'static str, value: &str, required: bool) -> Result<(), LoopError> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(LoopError::Invalid {
            field,
            message: "is required and must not be empty".into(),
        });
    }
    if trimmed.chars().count() > MAX_TEXT_CHARS {
        return Err(LoopError::Invalid {
            field,
            message: format!("must be at most {MAX_TEXT_CHARS} characters"),
        });
    }
    Ok(())
}

fn optional(field: &'static str, value: &Option<String>) -> Result<(), LoopError> {
    value.as_deref().map_or(Ok(()), |v| text(field, v, false))
}

fn validate(action: &Action, s: &CaseStatus, facts: &CaseFacts<'_>) -> Result<(), LoopError> {
    match action {
        Action::Reject { reason }
        | Action::Return { reason }
        | Action::CheckFail { reason }
        | Action::Escalate { reason }
        | Action::DenyExtension { reason }
        | Action::Suspend { reason } => text("reason", reason, true),
        Action::Comment { text: t } => text("text", t, true),
        Action::Attach { attachment } => text("attachment", attachment, true),
        Action::Dispatch { unit } => text("unit", unit, true),
        Action::Confirm { note }
        | Action::Register { note }
        | Action::Handle { note }
        | Action::Close { note }
        | Action::SelfHandle { note }
        | Action::Urge { note }
        | Action::ReportPart { note } => optional("note", note),
        Action::CheckPass { note } => {
            optional("note", note)?;
            let outstanding = s.outstanding_parts();
            if outstanding.is_empty() {
                Ok(())
            } else {
                Err(LoopError::PartsOutstanding {
                    units: outstanding.into_iter().map(str::to_owned).collect(),
                })
            }
        }
        Action::RequestExtension { amount, reason } => {
            text("reason", reason, true)?;
            let left = facts.max_extension.saturating_sub(s.extension_granted);
            if *amount == 0 || *amount > left {
                return Err(LoopError::Invalid {
                    field: "amount",
                    message: format!(
                        "must be between 1 and {left} (at most {} in all; {} granted already)",
                        facts.max_extension, s.extension_granted
                    ),
                });
            }
            Ok(())
        }
        Action::Merge { into } => {
            if *into == facts.id {
                Err(LoopError::Invalid {
                    field: "into",
                    message: "a case cannot be merged into itself".into(),
                })
            } else {
                Ok(())
            }
        }
        Action::Whistle { units, join_hours } => {
            if units.is_empty() || units.len() > MAX_WHISTLE_UNITS {
                return Err(LoopError::Invalid {
                    field: "units",
                    message: format!("name 1 to {MAX_WHISTLE_UNITS} units"),
                });
            }
            let mut seen = std::collections::HashSet::new();
            for u in units {
                text("units", u, true)?;
                if !seen.insert(u.trim()) {
                    return Err(LoopError::Invalid {
                        field: "units",
                        message: format!("unit {u} is named twice"),
                    });
                }
            }
            if !(1..=720).contains(join_hours) {
                return Err(LoopError::Invalid {
                    field: "join_hours",
                    message: "must be between 1 and 720".into(),
                });
            }
            Ok(())
        }
        Action::Accept | Action::ApproveExtension | Action::Resume | Action::Join => Ok(()),
    }
}

/// The state an accepted action leads to.
fn next_state(action: &Action, s: &CaseStatus) -> CaseState {
    use CaseState as S;
    match action {
        Action::Register { .. } => S::Registered,
        Action::Reject { .. } => S::Invalid,
        Action::Dispatch { .. } => S::Dispatched,
        Action::Accept | Action::CheckFail { .. } => S::InProgress,
        Action::Return { .. } => S::Returned,
        Action::Handle { .. } | Action::SelfHandle { .. } => S::Handled,
        Action::CheckPass { .. } => S::Verified,
        Action::Close { .. } => S::Closed,
        Action::Merge { .. } => S::Merged,
        Action::Escalate { .. } => S::Registered,
        _ => s.state,
    }
}

/// Whether `actor` may take `action` on the case now, and the state that follows. Checks, in
/// order: jurisdiction, the state, the role, then the action's own fields.
pub fn decide(
    status: &CaseStatus,
    facts: &CaseFacts<'_>,
    actor: &Actor,
    action: &Action,
) -> Result<CaseState, LoopError> {
    if !can_read(actor, facts, status) {
        return Err(LoopError::OutOfScope);
    }
    decide_in_scope(status, facts, actor, action)
}

fn decide_in_scope(
    status: &CaseStatus,
    facts: &CaseFacts<'_>,
    actor: &Actor,
    action: &Action,
) -> Result<CaseState, LoopError> {
    let name = action.name();
    if !state_allows(name, status) {
        return Err(LoopError::NotAllowedInState {
            action: name,
            state: status.state,
            suspended: status.suspended,
            allowed: allowed_actions(status, actor),
        });
    }
    if !role_allows(name, status, actor) {
        return Err(LoopError::Forbidden {
            action: name,
            role: actor.role,
            allowed: allowed_actions(status, actor),
        });
    }
    validate(action, status, facts)?;
    Ok(next_state(action, status))
}

/// One recorded step of a timeline, as replay needs it.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub role: Role,
    pub unit: Option<String>,
    pub to: CaseState,
}

/// Rebuilds a case's status from its timeline and checks that every step was legal when it was
/// taken (jurisdiction aside: that depended on users' bindings at the time). Returns the index of
/// the first illegal step.
pub fn replay(
    needs_confirmation: bool,
    facts: &CaseFacts<'_>,
    steps: &[Step],
) -> Result<CaseStatus, (usize, LoopError)> {
    let mut status = CaseStatus::reported(needs_confirmation);
    for (i, step) in steps.iter().enumerate() {
        let actor = Actor {
            id: String::new(),
            role: step.role,
            region: None,
            unit: step.unit.clone(),
        };
        let to = decide_in_scope(&status, facts, &actor, &step.action).map_err(|e| (i, e))?;
        if to != step.to {
            return Err((
                i,
                LoopError::Invalid {
                    field: "to",
                    message: format!("recorded state {} but the loop gives {to}", step.to),
                },
            ));
        }
        status.apply(&step.action, step.role, step.unit.as_deref(), to);
    }
    Ok(status)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GRID: &str = "110105001001001";
    const CASE: Uuid = Uuid::from_u128(1);

    fn facts() -> CaseFacts<'static> {
        CaseFacts {
            id: CASE,
            grid_code: GRID,
            max_extension: 3,
        }
    }

    fn actor(role: Role) -> Actor {
        let (region, unit) = match role {
            Role::GridWorker => (Some(GRID), None),
            Role::Community => (Some("110105001001"), None),
            Role::Street => (Some("110105001"), None),
            Role::UnitUser => (None, Some("U1")),
            _ => (Some("110105"), None),
        };
        Actor {
            id: role.as_str().into(),
            role,
            region: region.map(Into::into),
            unit: unit.map(Into::into),
        }
    }

    fn unit_actor(unit: &str) -> Actor {
        Actor {
            unit: Some(unit.into()),
            ..actor(Role::UnitUser)
        }
    }

    fn run(status: &mut CaseStatus, actor: &Actor, action: Action) -> Result<CaseState, LoopError> {
        let to = decide(status, &facts(), actor, &action)?;
        status.apply(&action, actor.role, actor.unit.as_deref(), to);
        Ok(to)
    }

    fn ok(status: &mut CaseStatus, role: Role, action: Action) {
        let a = actor(role);
        run(status, &a, action.clone()).unwrap_or_else(|e| panic!("{action:?} by {role}: {e}"));
    }

    #[test]
    fn a_hotline_case_runs_the_whole_loop() {
        let mut s = CaseStatus::reported(true);
        // Not registrable before it was confirmed on the spot.
        assert!(matches!(
            run(
                &mut s,
                &actor(Role::Receiver),
                Action::Register { note: None }
            ),
            Err(LoopError::NotAllowedInState { .. })
        ));
        ok(&mut s, Role::GridWorker, Action::Confirm { note: None });
        ok(&mut s, Role::Receiver, Action::Register { note: None });
        ok(
            &mut s,
            Role::Dispatcher,
            Action::Dispatch { unit: "U1".into() },
        );
        ok(&mut s, Role::UnitUser, Action::Accept);
        ok(&mut s, Role::UnitUser, Action::Handle { note: None });
        ok(
            &mut s,
            Role::GridWorker,
            Action::CheckFail {
                reason: "还有垃圾".into(),
            },
        );
        assert_eq!((s.state, s.reworks), (CaseState::InProgress, 1));
        ok(&mut s, Role::UnitUser, Action::Handle { note: None });
        ok(&mut s, Role::GridWorker, Action::CheckPass { note: None });
        ok(&mut s, Role::ShiftLeader, Action::Close { note: None });
        assert_eq!(s.state, CaseState::Closed);
        assert_eq!(s.solved_level, Some(Level::District));
    }

    #[test]
    fn grassroots_self_handling_records_the_level() {
        let mut s = CaseStatus::reported(false);
        ok(&mut s, Role::Receiver, Action::Register { note: None });
        ok(
            &mut s,
            Role::GridWorker,
            Action::Escalate {
                reason: "需社区协调".into(),
            },
        );
        assert_eq!(s.level, Level::Community);
        // The grid worker no longer holds it.
        assert!(matches!(
            run(
                &mut s,
                &actor(Role::GridWorker),
                Action::SelfHandle { note: None }
            ),
            Err(LoopError::Forbidden { .. })
        ));
        ok(&mut s, Role::Community, Action::SelfHandle { note: None });
        assert_eq!(s.solved_level, Some(Level::Community));
    }

    #[test]
    fn the_third_return_opens_a_consultation_that_names_the_unit() {
        let mut s = CaseStatus::reported(false);
        ok(&mut s, Role::Receiver, Action::Register { note: None });
        for _ in 0..3 {
            ok(
                &mut s,
                Role::Dispatcher,
                Action::Dispatch { unit: "U1".into() },
            );
            ok(
                &mut s,
                Role::UnitUser,
                Action::Return {
                    reason: "非我单位职责".into(),
                },
            );
        }
        // The dispatcher works for the district centre; the consultation is the centre's to lead.
        assert_eq!(s.consultation, Some(Level::District));
        assert!(matches!(
            run(
                &mut s,
                &actor(Role::Dispatcher),
                Action::Dispatch { unit: "U1".into() }
            ),
            Err(LoopError::Forbidden { .. })
        ));
        ok(
            &mut s,
            Role::District,
            Action::Dispatch { unit: "U2".into() },
        );
        assert_eq!((s.consultation, s.unit.as_deref()), (None, Some("U2")));
    }

    #[test]
    fn a_whistled_case_passes_its_check_only_when_every_part_is_done() {
        let mut s = CaseStatus::reported(false);
        ok(&mut s, Role::Receiver, Action::Register { note: None });
        ok(
            &mut s,
            Role::Dispatcher,
            Action::Dispatch { unit: "U1".into() },
        );
        ok(
            &mut s,
            Role::Street,
            Action::Whistle {
                units: vec!["U2".into(), "U3".into()],
                join_hours: 4,
            },
        );
        ok(&mut s, Role::UnitUser, Action::Accept);
        ok(&mut s, Role::UnitUser, Action::Handle { note: None });
        for u in ["U2", "U3"] {
            run(&mut s, &unit_actor(u), Action::Join).unwrap();
        }
        run(&mut s, &unit_actor("U2"), Action::ReportPart { note: None }).unwrap();
        assert_eq!(
            run(
                &mut s,
                &actor(Role::GridWorker),
                Action::CheckPass { note: None }
            ),
            Err(LoopError::PartsOutstanding {
                units: vec!["U3".into()]
            })
        );
        run(&mut s, &unit_actor("U3"), Action::ReportPart { note: None }).unwrap();
        ok(&mut s, Role::GridWorker, Action::CheckPass { note: None });
    }

    #[test]
    fn reasons_scope_roles_and_suspension_are_enforced() {
        let mut s = CaseStatus::reported(false);
        assert!(matches!(
            run(
                &mut s,
                &actor(Role::Receiver),
                Action::Reject {
                    reason: "  ".into()
                }
            ),
            Err(LoopError::Invalid {
                field: "reason",
                ..
            })
        ));
        let outsider = Actor {
            region: Some("110106".into()),
            ..actor(Role::Receiver)
        };
        assert_eq!(
            run(&mut s, &outsider, Action::Register { note: None }),
            Err(LoopError::OutOfScope)
        );
        assert!(matches!(
            run(
                &mut s,
                &actor(Role::GridWorker),
                Action::Register { note: None }
            ),
            Err(LoopError::Forbidden { .. })
        ));
        ok(&mut s, Role::Receiver, Action::Register { note: None });
        ok(
            &mut s,
            Role::Dispatcher,
            Action::Suspend {
                reason: "待拆迁".into(),
            },
        );
        let err = run(
            &mut s,
            &actor(Role::Dispatcher),
            Action::Dispatch { unit: "U1".into() },
        )
        .unwrap_err();
        match err {
            LoopError::NotAllowedInState {
                allowed, suspended, ..
            } => {
                assert!(suspended);
                assert!(allowed.contains(&ActionName::Resume));
            }
            other => panic!("{other}"),
        }
        ok(&mut s, Role::Dispatcher, Action::Resume);
        ok(
            &mut s,
            Role::Dispatcher,
            Action::Dispatch { unit: "U1".into() },
        );
        // Another unit cannot touch it.
        assert_eq!(
            run(&mut s, &unit_actor("U9"), Action::Accept),
            Err(LoopError::OutOfScope)
        );
    }

    #[test]
    fn extensions_are_limited() {
        let mut s = CaseStatus::reported(false);
        ok(&mut s, Role::Receiver, Action::Register { note: None });
        ok(
            &mut s,
            Role::Dispatcher,
            Action::Dispatch { unit: "U1".into() },
        );
        ok(&mut s, Role::UnitUser, Action::Accept);
        assert!(matches!(
            run(
                &mut s,
                &actor(Role::UnitUser),
                Action::RequestExtension {
                    amount: 4,
                    reason: "材料".into()
                }
            ),
            Err(LoopError::Invalid {
                field: "amount",
                ..
            })
        ));
        ok(
            &mut s,
            Role::UnitUser,
            Action::RequestExtension {
                amount: 2,
                reason: "材料".into(),
            },
        );
        ok(&mut s, Role::Dispatcher, Action::ApproveExtension);
        assert_eq!(s.extension_granted, 2);
        assert!(matches!(
            run(
                &mut s,
                &actor(Role::UnitUser),
                Action::RequestExtension {
                    amount: 2,
                    reason: "再延".into()
                }
            ),
            Err(LoopError::Invalid {
                field: "amount",
                ..
            })
        ));
    }

    #[test]
    fn actions_parse_from_json_commands() {
        let a: Action = serde_json::from_str(r#"{"action":"dispatch","unit":"U1"}"#).unwrap();
        assert_eq!(a, Action::Dispatch { unit: "U1".into() });
        let a: Action = serde_json::from_str(r#"{"action":"accept"}"#).unwrap();
        assert_eq!(a.name().as_str(), "accept");
        assert!(
            serde_json::from_str::<Action>(r#"{"action":"return"}"#).is_err(),
            "reason is required"
        );
        assert!(serde_json::from_str::<Action>(r#"{"action":"fly"}"#).is_err());
        for name in ActionName::ALL {
            assert_eq!(name.as_str(), name.to_string());
        }
    }

    // ------------------------------------------------------------ properties

    /// The transitions of DESIGN.md §4, written out independently of the code above.
    fn legal_edge(from: CaseState, to: CaseState) -> bool {
        use CaseState::*;
        from == to
            || matches!(
                (from, to),
                (Reported, Registered | Invalid | Merged)
                    | (Registered, Dispatched | Handled | Invalid | Merged)
                    | (Returned, Dispatched | Handled | Registered)
                    | (Dispatched, InProgress | Returned)
                    | (InProgress, Handled)
                    | (Handled, Verified | InProgress)
                    | (Verified, Closed)
            )
    }

    fn any_role() -> impl Strategy<Value = Role> {
        prop::sample::select(Role::ALL.to_vec())
    }

    fn any_action() -> impl Strategy<Value = Action> {
        let unit = prop::sample::select(vec!["U1", "U2", "U3"]).prop_map(String::from);
        let reason = prop::sample::select(vec!["", "原因"]).prop_map(String::from);
        prop_oneof![
            Just(Action::Confirm { note: None }),
            Just(Action::Register { note: None }),
            reason.clone().prop_map(|reason| Action::Reject { reason }),
            unit.clone().prop_map(|unit| Action::Dispatch { unit }),
            Just(Action::Accept),
            reason.clone().prop_map(|reason| Action::Return { reason }),
            Just(Action::Handle { note: None }),
            Just(Action::CheckPass { note: None }),
            reason
                .clone()
                .prop_map(|reason| Action::CheckFail { reason }),
            Just(Action::Close { note: None }),
            reason
                .clone()
                .prop_map(|reason| Action::Escalate { reason }),
            Just(Action::SelfHandle { note: None }),
            Just(Action::Urge { note: None }),
            (0u32..5).prop_map(|amount| Action::RequestExtension {
                amount,
                reason: "r".into()
            }),
            Just(Action::ApproveExtension),
            reason
                .clone()
                .prop_map(|reason| Action::DenyExtension { reason }),
            reason.clone().prop_map(|reason| Action::Suspend { reason }),
            Just(Action::Resume),
            Just(Action::Merge {
                into: Uuid::from_u128(2)
            }),
            Just(Action::Whistle {
                units: vec!["U2".into(), "U3".into()],
                join_hours: 8
            }),
            Just(Action::Join),
            Just(Action::ReportPart { note: None }),
            Just(Action::Comment {
                text: "看一下".into()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_accepted_sequence_is_a_legal_path_and_replays(
            public in any::<bool>(),
            attempts in prop::collection::vec((any_role(), prop::sample::select(vec!["U1", "U2", "U3"]), any_action()), 1..80),
        ) {
            let mut status = CaseStatus::reported(public);
            let mut steps = Vec::new();
            let mut check_fails = 0;
            for (role, unit, action) in attempts {
                let a = Actor { unit: Some(unit.to_owned()), ..actor(role) };
                let before = status.clone();
                match decide(&status, &facts(), &a, &action) {
                    Ok(to) => {
                        prop_assert!(legal_edge(status.state, to), "{:?} -> {:?} by {:?}", status.state, to, action);
                        if status.suspended { prop_assert_eq!(to, status.state); }
                        if matches!(action, Action::CheckPass { .. }) { prop_assert!(status.outstanding_parts().is_empty()); }
                        if matches!(action, Action::CheckFail { .. }) { check_fails += 1; }
                        status.apply(&action, role, a.unit.as_deref(), to);
                        steps.push(Step { action, role, unit: a.unit.clone(), to });
                    }
                    Err(e) => {
                        // A refused action changes nothing and says what would be allowed.
                        prop_assert_eq!(&status, &before);
                        if let LoopError::NotAllowedInState { allowed, .. } | LoopError::Forbidden { allowed, .. } = &e {
                            prop_assert_eq!(allowed, &allowed_actions(&status, &a));
                        }
                    }
                }
                prop_assert_eq!(status.reworks, check_fails);
            }
            let replayed = replay(public, &facts(), &steps).map_err(|(i, e)| TestCaseError::fail(format!("step {i}: {e}")))?;
            prop_assert_eq!(replayed, status);
        }

        #[test]
        fn allowed_actions_are_accepted_with_good_fields(
            attempts in prop::collection::vec((any_role(), any_action()), 0..40),
            probe in any_role(),
        ) {
            let mut status = CaseStatus::reported(false);
            for (role, action) in attempts {
                let a = actor(role);
                if let Ok(to) = decide(&status, &facts(), &a, &action) {
                    status.apply(&action, role, a.unit.as_deref(), to);
                }
            }
            let a = actor(probe);
            for name in allowed_actions(&status, &a) {
                let state_and_role_ok = state_allows(name, &status) && role_allows(name, &status, &a);
                prop_assert!(state_and_role_ok);
            }
        }
    }

    #[test]
    fn a_forged_timeline_is_caught_by_replay() {
        let steps = vec![
            Step {
                action: Action::Register { note: None },
                role: Role::Receiver,
                unit: None,
                to: CaseState::Registered,
            },
            Step {
                action: Action::Close { note: None },
                role: Role::ShiftLeader,
                unit: None,
                to: CaseState::Closed,
            },
        ];
        let (i, e) = replay(false, &facts(), &steps).unwrap_err();
        assert_eq!(i, 1);
        assert!(matches!(e, LoopError::NotAllowedInState { .. }));
    }
}
