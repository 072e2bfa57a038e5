//! Deadline nodes: every stage of the loop (confirm, register, dispatch, handle, check, close) has
//! its own limit, and the clock of the stage a case is in runs from the moment it entered it.
//! Time suspended (挂账) does not count.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::WorkingCalendar;
use crate::case::CaseState;
use crate::case_loop::CaseStatus;
use crate::category::{Deadline, DeadlineType};
use crate::deadline::{self, Pause};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    Confirm,
    Register,
    Dispatch,
    Handle,
    Check,
    Close,
}

impl Node {
    pub fn as_str(self) -> &'static str {
        match self {
            Node::Confirm => "confirm",
            Node::Register => "register",
            Node::Dispatch => "dispatch",
            Node::Handle => "handle",
            Node::Check => "check",
            Node::Close => "close",
        }
    }
}

/// The node a case is in, or None once it is finished.
pub fn node_of(s: &CaseStatus) -> Option<Node> {
    use CaseState::*;
    match s.state {
        Reported if s.needs_confirmation && !s.confirmed => Some(Node::Confirm),
        Reported => Some(Node::Register),
        Registered | Returned => Some(Node::Dispatch),
        Dispatched | InProgress => Some(Node::Handle),
        Handled => Some(Node::Check),
        Verified => Some(Node::Close),
        Invalid | Closed | Merged => None,
    }
}

/// Limits of the nodes other than handling, which comes from the case's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    pub confirm: Deadline,
    pub register: Deadline,
    pub dispatch: Deadline,
    pub check: Deadline,
    pub close: Deadline,
}

impl Default for NodeLimits {
    /// Local practice, not a standard: confirming on the spot and checking a fix take a grid
    /// worker's trip (2 working hours); desk work at the centre takes one.
    fn default() -> Self {
        let hours = |amount| Deadline {
            amount,
            kind: DeadlineType::WorkingHours,
        };
        NodeLimits {
            confirm: hours(2),
            register: hours(1),
            dispatch: hours(1),
            check: hours(2),
            close: hours(1),
        }
    }
}

/// The handling limit of an urgent case (紧急) when its category names none.
pub const DEFAULT_URGENT_HANDLE: Deadline = Deadline {
    amount: 4,
    kind: DeadlineType::UrgentHours,
};

impl NodeLimits {
    /// The limit of `node`; handling gets the category's deadline plus granted extensions.
    pub fn limit(&self, node: Node, handle: Deadline, extension: u32) -> Deadline {
        match node {
            Node::Confirm => self.confirm,
            Node::Register => self.register,
            Node::Dispatch => self.dispatch,
            Node::Handle => Deadline {
                amount: handle.amount.saturating_add(extension),
                kind: handle.kind,
            },
            Node::Check => self.check,
            Node::Close => self.close,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// The running clock of the node a case is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeClock {
    pub node: Node,
    pub started_at: DateTime<Utc>,
    pub suspensions: Vec<Suspension>,
}

impl NodeClock {
    pub fn is_stopped(&self) -> bool {
        self.suspensions.last().is_some_and(|s| s.end.is_none())
    }

    /// The clock after a transition at `at` that left the case in `after`.
    pub fn next(
        prev: Option<&NodeClock>,
        after: &CaseStatus,
        at: DateTime<Utc>,
    ) -> Option<NodeClock> {
        let node = node_of(after)?;
        let mut clock = match prev {
            Some(c) if c.node == node => c.clone(),
            _ => NodeClock {
                node,
                started_at: at,
                suspensions: Vec::new(),
            },
        };
        let stopped = clock.is_stopped();
        if after.suspended && !stopped {
            clock.suspensions.push(Suspension {
                start: at,
                end: None,
            });
        } else if !after.suspended
            && stopped
            && let Some(last) = clock.suspensions.last_mut()
        {
            last.end = Some(at);
        }
        Some(clock)
    }

    pub fn pauses(&self) -> Vec<Pause> {
        self.suspensions
            .iter()
            .map(|s| Pause {
                start: s.start,
                end: s.end,
            })
            .collect()
    }

    /// When the node turns yellow and falls due, as of `now`; None while the clock is stopped.
    pub fn marks(
        &self,
        cal: &WorkingCalendar,
        limit: Deadline,
        now: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.is_stopped() {
            return None;
        }
        let pauses = self.pauses();
        Some((
            deadline::warn_at(cal, limit, self.started_at, &pauses, now),
            deadline::due_at(cal, limit, self.started_at, &pauses, now),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        // 2026-03-02 is a Monday; 01:00 UTC is 09:00 in Beijing.
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).single().unwrap()
    }

    #[test]
    fn the_clock_restarts_per_node_and_stops_while_suspended() {
        let cal = WorkingCalendar::china_default();
        let mut s = CaseStatus::reported(true);
        let c = NodeClock::next(None, &s, at(1, 0)).unwrap();
        assert_eq!(c.node, Node::Confirm);
        s.confirmed = true;
        let c = NodeClock::next(Some(&c), &s, at(1, 30)).unwrap();
        assert_eq!((c.node, c.started_at), (Node::Register, at(1, 30)));
        s.state = CaseState::Registered;
        s.suspended = true;
        let c = NodeClock::next(Some(&c), &s, at(2, 0)).unwrap();
        assert_eq!(c.node, Node::Dispatch);
        assert!(c.is_stopped());
        assert!(
            c.marks(&cal, NodeLimits::default().dispatch, at(3, 0))
                .is_none()
        );
        s.suspended = false;
        let c = NodeClock::next(Some(&c), &s, at(2, 0) + chrono::TimeDelta::hours(48)).unwrap();
        let (warn, due) = c
            .marks(&cal, NodeLimits::default().dispatch, at(3, 0))
            .unwrap();
        assert!(warn < due);
        // The 48 h of suspension pushed the one-hour dispatch limit two days on.
        assert!(due > at(2, 0) + chrono::TimeDelta::hours(48));
        s.state = CaseState::Closed;
        assert!(NodeClock::next(Some(&c), &s, at(4, 0)).is_none());
    }
}
