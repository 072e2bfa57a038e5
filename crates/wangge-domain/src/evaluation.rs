//! Evaluation (考核评价) reads timelines. This module turns one case's timeline into the spans
//! of the deadline nodes it went through — when each started and ended, when it fell due, who
//! ended it — which every indicator of `docs/indicators.md` counts from, and holds the rates,
//! grades and rankings those counts become.
//!
//! The spans follow the same clock the loop runs on (`case_clock`): a node's limit is counted on
//! the working calendar from the moment the case entered it, time suspended (挂账) does not count,
//! and granted extensions lengthen the handling limit.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::calendar::WorkingCalendar;
use crate::case::Source;
use crate::case_clock::{Node, NodeClock, NodeLimits};
use crate::case_loop::{ActionName, CaseStatus, Step};
use crate::category::{Deadline, DeadlineType};
use crate::deadline;
use crate::region::Level;
use crate::role::Role;

/// One step of a timeline with who took it and when.
#[derive(Debug, Clone)]
pub struct TimedStep {
    pub step: Step,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// Who ended a node, and with which action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedBy {
    pub actor: String,
    pub role: Role,
    pub unit: Option<String>,
    pub action: ActionName,
}

/// A deadline node a case went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpan {
    pub node: Node,
    /// The unit the case was with while in this node (the handling unit, for handling).
    pub unit: Option<String>,
    pub started_at: DateTime<Utc>,
    /// None while the case is still in this node.
    pub ended_at: Option<DateTime<Utc>>,
    /// When the node fell (or falls) due: its limit on the calendar from `started_at`, pushed on
    /// by suspensions. None if it ended while suspended, which the loop does not allow.
    pub due_at: Option<DateTime<Utc>>,
    pub ended_by: Option<EndedBy>,
    /// Working seconds spent in the node (suspensions excluded), up to its end or `now`.
    pub working_seconds: i64,
}

impl NodeSpan {
    /// Ended no later than it was due; None while open.
    pub fn on_time(&self) -> Option<bool> {
        Some(self.ended_at? <= self.due_at?)
    }

    /// Due by `now` and not ended by then, or ended after it was due.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        match (self.ended_at, self.due_at) {
            (Some(end), Some(due)) => end > due,
            (None, Some(due)) => due <= now,
            _ => false,
        }
    }
}

/// What the clock needs to know about a case.
#[derive(Debug, Clone, Copy)]
pub struct ClockRules<'a> {
    pub limits: &'a NodeLimits,
    /// The handling limit of the case's category (or its urgent limit).
    pub handle: Deadline,
    pub calendar: &'a WorkingCalendar,
}

/// The node spans of one case, oldest first, replaying its timeline from the report at
/// `reported_at`. The status is advanced as the loop does (`CaseStatus::apply`), without
/// judging legality again: the timeline was checked when each step was taken.
pub fn node_spans(
    needs_confirmation: bool,
    reported_at: DateTime<Utc>,
    steps: &[TimedStep],
    rules: ClockRules<'_>,
    now: DateTime<Utc>,
) -> Vec<NodeSpan> {
    let mut status = CaseStatus::reported(needs_confirmation);
    let mut clock = NodeClock::next(None, &status, reported_at);
    let mut spans = Vec::new();
    let mut unit = status.unit.clone();
    for timed in steps {
        let step = &timed.step;
        let extension_before = status.extension_granted;
        status.apply(&step.action, step.role, step.unit.as_deref(), step.to);
        let next = NodeClock::next(clock.as_ref(), &status, timed.at);
        if let Some(current) = &clock {
            let ended = match &next {
                Some(n) => n.node != current.node || n.started_at != current.started_at,
                None => true,
            };
            if ended {
                spans.push(span(
                    current,
                    unit.clone(),
                    Some(timed.at),
                    Some(EndedBy {
                        actor: timed.actor.clone(),
                        role: step.role,
                        unit: step.unit.clone(),
                        action: step.action.name(),
                    }),
                    rules,
                    extension_before,
                ));
            }
            if ended {
                unit = status.unit.clone();
            }
        } else {
            unit = status.unit.clone();
        }
        clock = next;
    }
    if let Some(current) = &clock {
        spans.push(span(
            current,
            unit,
            None,
            None,
            rules,
            status.extension_granted,
        ));
        if let Some(last) = spans.last_mut() {
            last.working_seconds = working_seconds(rules.calendar, current, now);
        }
    }
    spans
}

fn span(
    clock: &NodeClock,
    unit: Option<String>,
    ended_at: Option<DateTime<Utc>>,
    ended_by: Option<EndedBy>,
    rules: ClockRules<'_>,
    extension: u32,
) -> NodeSpan {
    let limit = rules.limits.limit(clock.node, rules.handle, extension);
    let pauses = clock.pauses();
    // Far enough ahead that any limit is reached; `due_at` ignores `now` for a running clock.
    let horizon = ended_at.unwrap_or(clock.started_at);
    let due_at = (!pauses.iter().any(|p| p.end.is_none()))
        .then(|| deadline::due_at(rules.calendar, limit, clock.started_at, &pauses, horizon));
    NodeSpan {
        node: clock.node,
        unit,
        started_at: clock.started_at,
        ended_at,
        due_at,
        ended_by,
        working_seconds: ended_at.map_or(0, |end| working_seconds(rules.calendar, clock, end)),
    }
}

fn working_seconds(cal: &WorkingCalendar, clock: &NodeClock, until: DateTime<Utc>) -> i64 {
    let hours = Deadline {
        amount: 0,
        kind: DeadlineType::WorkingHours,
    };
    deadline::used_seconds(cal, hours, clock.started_at, until, &clock.pauses())
}

/// A half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// What evaluation needs of one case: where, what, from where, and its node spans.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub grid_code: String,
    pub category_code: String,
    pub source: Source,
    /// The actor of the report (a grid worker for patrol reports).
    pub reporter: String,
    pub reported_at: DateTime<Utc>,
    pub merged: bool,
    pub solved_level: Option<Level>,
    /// Where it was reported (WGS-84).
    pub lon: f64,
    pub lat: f64,
    /// Units named in it besides the handling unit (吹哨报到).
    pub parts: Vec<String>,
    pub spans: Vec<NodeSpan>,
}

impl CaseRecord {
    /// When the node ended with `action`, the first time it did.
    fn ended_with(&self, node: Node, action: ActionName) -> Option<DateTime<Utc>> {
        self.spans
            .iter()
            .find(|s| s.node == node && s.ended_by.as_ref().is_some_and(|e| e.action == action))
            .and_then(|s| s.ended_at)
    }

    pub fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.ended_with(Node::Register, ActionName::Register)
    }

    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.ended_with(Node::Close, ActionName::Close)
    }
}

/// A handling unit's counts for a period (docs/indicators.md, "Handling unit").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitTally {
    pub due: u64,
    pub handled: u64,
    pub handled_on_time: u64,
    pub overdue: u64,
    pub returned: u64,
    pub rework_count: u64,
    /// Working seconds of each handling counted in `handled`.
    pub handling_seconds: Vec<i64>,
}

impl UnitTally {
    pub(crate) fn add(&mut self, o: UnitTally) {
        self.due += o.due;
        self.handled += o.handled;
        self.handled_on_time += o.handled_on_time;
        self.overdue += o.overdue;
        self.returned += o.returned;
        self.rework_count += o.rework_count;
        self.handling_seconds.extend(o.handling_seconds);
    }

    pub fn on_time_handling_rate(&self) -> Option<f64> {
        rate(self.handled_on_time, self.due)
    }

    pub fn handling_rate(&self) -> Option<f64> {
        rate(self.handled, self.due)
    }

    pub fn rework_rate(&self) -> Option<f64> {
        rate(self.rework_count, self.handled)
    }

    /// Mean working hours per handling, two decimals.
    pub fn average_handling_hours(&self) -> Option<f64> {
        let n = self.handling_seconds.len();
        (n > 0).then(|| {
            let total: i64 = self.handling_seconds.iter().sum();
            (total as f64 / n as f64 / 36.0).round() / 100.0
        })
    }

    /// The 90th percentile (nearest rank) of working hours per handling.
    pub fn p90_handling_hours(&self) -> Option<f64> {
        let mut sorted = self.handling_seconds.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        (n > 0).then(|| {
            let rank = (n * 9).div_ceil(10).max(1);
            (sorted[rank - 1] as f64 / 36.0).round() / 100.0
        })
    }
}

/// An area's counts for a period (docs/indicators.md, "Area"). The counts add up across levels:
/// a district's are the sum of its streets'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaTally {
    pub reported: u64,
    pub registered: u64,
    /// Registered cases found by grid patrol (the supervision share's numerator).
    pub registered_by_patrol: u64,
    /// Registered cases that came from a citizens' hotline (12345, 96181).
    pub registered_by_hotline: u64,
    pub closed: u64,
    /// Of the cases registered in the period: closed by its end …
    pub cohort_closed: u64,
    /// … with every handling on time.
    pub cohort_closed_on_time: u64,
    /// Of the cohort's closed cases, solved at grid, community, street, district level.
    pub solved_at: [u64; 4],
}

impl AreaTally {
    pub fn closure_rate(&self) -> Option<f64> {
        rate(self.cohort_closed, self.registered)
    }

    pub fn on_time_closure_rate(&self) -> Option<f64> {
        rate(self.cohort_closed_on_time, self.registered)
    }

    pub fn patrol_share(&self) -> Option<f64> {
        rate(self.registered_by_patrol, self.registered)
    }

    /// The share solved at `level` among the cohort's closed cases.
    pub fn solved_share(&self, level: Level) -> Option<f64> {
        let i = level_index(level)?;
        rate(self.solved_at[i], self.cohort_closed)
    }

    pub(crate) fn add(&mut self, other: &AreaTally) {
        self.reported += other.reported;
        self.registered += other.registered;
        self.registered_by_patrol += other.registered_by_patrol;
        self.registered_by_hotline += other.registered_by_hotline;
        self.closed += other.closed;
        self.cohort_closed += other.cohort_closed;
        self.cohort_closed_on_time += other.cohort_closed_on_time;
        for (a, b) in self.solved_at.iter_mut().zip(other.solved_at) {
            *a += b;
        }
    }
}

pub(crate) fn level_index(level: Level) -> Option<usize> {
    match level {
        Level::Grid => Some(0),
        Level::Community => Some(1),
        Level::Street => Some(2),
        Level::District => Some(3),
        Level::City => None,
    }
}

/// The length of the code prefix that names a region of `level` within a grid code.
pub fn code_len(level: Level) -> usize {
    match level {
        Level::City | Level::District => 6,
        Level::Street => 9,
        Level::Community => 12,
        Level::Grid => 15,
    }
}

/// One person's counts for a period, by the steps they took (docs/indicators.md, "People"):
/// a grid worker's reports, confirmations and checks; a receiver's or shift leader's
/// registrations; a dispatcher's dispatches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonTally {
    pub reported: u64,
    /// Of `reported`, registered by the period's end.
    pub valid_reports: u64,
    pub confirmed: u64,
    pub confirmed_on_time: u64,
    /// Checks after handling (核查), passed or failed.
    pub checked: u64,
    pub checked_on_time: u64,
    pub registered: u64,
    pub registered_on_time: u64,
    pub dispatched: u64,
    pub dispatched_on_time: u64,
    /// Of `dispatched`, sent back by the unit (a wrong dispatch).
    pub dispatch_returned: u64,
    /// Of `registered`, voided afterwards (作废).
    pub registered_voided: u64,
    pub closed: u64,
    pub closed_on_time: u64,
    /// A grid worker's: confirm and check tasks in their grid still undone at the period's end
    /// although due in it (`GridDuty`).
    pub verification_overdue: u64,
    /// A grid worker's: public reports registered in their grid that no patrol had found first.
    pub missed: u64,
    /// A grid worker's: cases registered in their grid (the missed rate's denominator).
    pub grid_registered: u64,
}

impl PersonTally {
    pub(crate) fn add(&mut self, o: &PersonTally) {
        let PersonTally {
            reported,
            valid_reports,
            confirmed,
            confirmed_on_time,
            checked,
            checked_on_time,
            registered,
            registered_on_time,
            dispatched,
            dispatched_on_time,
            dispatch_returned,
            registered_voided,
            closed,
            closed_on_time,
            verification_overdue,
            missed,
            grid_registered,
        } = o;
        self.reported += reported;
        self.valid_reports += valid_reports;
        self.confirmed += confirmed;
        self.confirmed_on_time += confirmed_on_time;
        self.checked += checked;
        self.checked_on_time += checked_on_time;
        self.registered += registered;
        self.registered_on_time += registered_on_time;
        self.dispatched += dispatched;
        self.dispatched_on_time += dispatched_on_time;
        self.dispatch_returned += dispatch_returned;
        self.registered_voided += registered_voided;
        self.closed += closed;
        self.closed_on_time += closed_on_time;
        self.verification_overdue += verification_overdue;
        self.missed += missed;
        self.grid_registered += grid_registered;
    }

    pub fn report_accuracy(&self) -> Option<f64> {
        rate(self.valid_reports, self.reported)
    }

    pub fn on_time_confirm_rate(&self) -> Option<f64> {
        rate(self.confirmed_on_time, self.confirmed)
    }

    pub fn on_time_check_rate(&self) -> Option<f64> {
        rate(self.checked_on_time, self.checked)
    }

    pub fn on_time_registration_rate(&self) -> Option<f64> {
        rate(self.registered_on_time, self.registered)
    }

    pub fn on_time_dispatch_rate(&self) -> Option<f64> {
        rate(self.dispatched_on_time, self.dispatched)
    }

    /// `1 − dispatch_returned ÷ dispatched`, as a percentage.
    pub fn dispatch_accuracy(&self) -> Option<f64> {
        rate(
            self.dispatched.saturating_sub(self.dispatch_returned),
            self.dispatched,
        )
    }

    /// `(registered − registered_voided) ÷ registered`.
    pub fn registration_accuracy(&self) -> Option<f64> {
        rate(
            self.registered.saturating_sub(self.registered_voided),
            self.registered,
        )
    }

    pub fn on_time_close_rate(&self) -> Option<f64> {
        rate(self.closed_on_time, self.closed)
    }

    /// `missed ÷ grid_registered`.
    pub fn missed_rate(&self) -> Option<f64> {
        rate(self.missed, self.grid_registered)
    }

    /// The person's composite score for their role (DESIGN.md §5), over a period of `days`
    /// days; None for roles without one, or when the person had nothing to be scored on.
    pub fn score(&self, role: Role, w: &PeopleWeights, days: f64) -> Option<f64> {
        let volume = |n: u64| Some(w.volume_steps.score(n as f64 / days.max(1.0)));
        match role {
            Role::GridWorker => {
                if self.reported + self.confirmed + self.checked + self.grid_registered == 0 {
                    return None;
                }
                let g = &w.grid_worker;
                weighted(&[
                    (g.report_accuracy, self.report_accuracy()),
                    (g.not_missed, self.missed_rate().map(|r| 100.0 - r)),
                    (g.on_time_confirm, self.on_time_confirm_rate()),
                    (g.on_time_check, self.on_time_check_rate()),
                ])
            }
            Role::Receiver if self.registered > 0 => {
                let r = &w.receiver;
                weighted(&[
                    (r.volume, volume(self.registered)),
                    (r.on_time_registration, self.on_time_registration_rate()),
                    (r.registration_accuracy, self.registration_accuracy()),
                ])
            }
            Role::ShiftLeader if self.registered + self.closed > 0 => {
                let l = &w.shift_leader;
                weighted(&[
                    (l.on_time_registration, self.on_time_registration_rate()),
                    (l.registration_accuracy, self.registration_accuracy()),
                    (l.on_time_close, self.on_time_close_rate()),
                ])
            }
            Role::Dispatcher if self.dispatched > 0 => {
                let d = &w.dispatcher;
                weighted(&[
                    (d.volume, volume(self.dispatched)),
                    (d.on_time_dispatch, self.on_time_dispatch_rate()),
                    (d.dispatch_accuracy, self.dispatch_accuracy()),
                ])
            }
            _ => None,
        }
    }
}

/// A volume score (工作量得分) by steps: the score of the highest step whose per-day count the
/// person reached, 0 below the lowest.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct VolumeSteps(pub Vec<(f64, f64)>);

impl VolumeSteps {
    pub fn score(&self, per_day: f64) -> f64 {
        self.0
            .iter()
            .filter(|(at_least, _)| per_day >= *at_least)
            .map(|(_, score)| *score)
            .fold(0.0, f64::max)
    }
}

impl Default for VolumeSteps {
    fn default() -> Self {
        VolumeSteps(vec![(1.0, 40.0), (10.0, 60.0), (20.0, 80.0), (40.0, 100.0)])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GridWorkerWeights {
    pub report_accuracy: f64,
    /// Applied to `100 − missed_rate`.
    pub not_missed: f64,
    pub on_time_confirm: f64,
    pub on_time_check: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverWeights {
    pub volume: f64,
    pub on_time_registration: f64,
    pub registration_accuracy: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShiftLeaderWeights {
    pub on_time_registration: f64,
    pub registration_accuracy: f64,
    pub on_time_close: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatcherWeights {
    pub volume: f64,
    pub on_time_dispatch: f64,
    pub dispatch_accuracy: f64,
}

/// The people's composite scores, one weighting per role (DESIGN.md §5).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeopleWeights {
    pub grid_worker: GridWorkerWeights,
    pub receiver: ReceiverWeights,
    pub shift_leader: ShiftLeaderWeights,
    pub dispatcher: DispatcherWeights,
    pub volume_steps: VolumeSteps,
}

impl Default for GridWorkerWeights {
    fn default() -> Self {
        GridWorkerWeights {
            report_accuracy: 40.0,
            not_missed: 20.0,
            on_time_confirm: 20.0,
            on_time_check: 20.0,
        }
    }
}

impl Default for ReceiverWeights {
    fn default() -> Self {
        ReceiverWeights {
            volume: 25.0,
            on_time_registration: 40.0,
            registration_accuracy: 35.0,
        }
    }
}

impl Default for ShiftLeaderWeights {
    fn default() -> Self {
        ShiftLeaderWeights {
            on_time_registration: 25.0,
            registration_accuracy: 40.0,
            on_time_close: 35.0,
        }
    }
}

impl Default for DispatcherWeights {
    fn default() -> Self {
        DispatcherWeights {
            volume: 20.0,
            on_time_dispatch: 40.0,
            dispatch_accuracy: 40.0,
        }
    }
}

/// What a grid owes in a period, for its grid worker(s) (`Ledger::grid_duties`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GridDuty {
    /// Cases registered in the grid in the period.
    pub registered: u64,
    /// Public reports (hotline, app, …) registered in the period with no patrol report of the
    /// same subcategory near them shortly before (漏报).
    pub missed: u64,
    /// Of `missed`, those that came from a citizens' hotline (12345, 96181).
    pub hotline_missed: u64,
    /// Confirm and check tasks still undone at the period's end, due in it.
    pub verification_overdue: u64,
}

impl GridDuty {
    pub(crate) fn add(&mut self, o: &GridDuty) {
        self.registered += o.registered;
        self.missed += o.missed;
        self.hotline_missed += o.hotline_missed;
        self.verification_overdue += o.verification_overdue;
    }
}

/// When a public report counts as missed by the grid's patrols: no patrol report of the same
/// subcategory within `radius_m` metres in the `window_hours` before it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MissedRule {
    pub radius_m: f64,
    pub window_hours: u32,
}

impl Default for MissedRule {
    fn default() -> Self {
        MissedRule {
            radius_m: 100.0,
            window_hours: 72,
        }
    }
}

/// 未诉先办: of the problems registered, the share the grid's patrols found before any
/// citizen reported them: `registered_by_patrol ÷ (registered_by_patrol + missed)`.
pub fn discovery_rate(registered_by_patrol: u64, missed: u64) -> Option<f64> {
    rate(registered_by_patrol, registered_by_patrol + missed)
}

/// 未诉先办 against the hotline alone (热线+网格): of the problems found by patrol or first heard
/// of on the hotline, the share the patrols found, `registered_by_patrol ÷
/// (registered_by_patrol + hotline_missed)`. A hotline ticket about a problem a patrol had
/// already reported is linked to that case (issue 8) and never becomes a case of its own, so it
/// counts on the patrol's side.
pub fn hotline_discovery_rate(registered_by_patrol: u64, hotline_missed: u64) -> Option<f64> {
    discovery_rate(registered_by_patrol, hotline_missed)
}

/// Weights of a composite score: each indicator (a percentage) times its weight, over the sum of
/// the weights of the indicators that have a value. Defaults follow DESIGN.md §5 (volume scores,
/// which need step tables, are left out).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnitWeights {
    pub on_time_handling: f64,
    pub handling: f64,
    /// Applied to `100 − rework_rate`.
    pub no_rework: f64,
}

impl Default for UnitWeights {
    fn default() -> Self {
        UnitWeights {
            on_time_handling: 40.0,
            handling: 30.0,
            no_rework: 30.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AreaWeights {
    pub closure: f64,
    pub on_time_closure: f64,
    pub patrol_share: f64,
}

impl Default for AreaWeights {
    fn default() -> Self {
        AreaWeights {
            closure: 40.0,
            on_time_closure: 40.0,
            patrol_share: 20.0,
        }
    }
}

/// Σ weight × value ÷ Σ weight over the parts that have a value, two decimals; None when none has.
fn weighted(parts: &[(f64, Option<f64>)]) -> Option<f64> {
    let (sum, weights) = parts
        .iter()
        .filter_map(|(w, v)| v.map(|v| (w * v, *w)))
        .fold((0.0, 0.0), |(s, ws), (x, w)| (s + x, ws + w));
    (weights > 0.0).then(|| (sum / weights * 100.0).round() / 100.0)
}

impl UnitTally {
    /// The unit's composite score (0–100); None when nothing was due.
    pub fn score(&self, w: &UnitWeights) -> Option<f64> {
        if self.due == 0 {
            return None;
        }
        weighted(&[
            (w.on_time_handling, self.on_time_handling_rate()),
            (w.handling, self.handling_rate()),
            (w.no_rework, self.rework_rate().map(|r| 100.0 - r)),
        ])
    }
}

impl AreaTally {
    /// The area's composite score (0–100); None when nothing was registered.
    pub fn score(&self, w: &AreaWeights) -> Option<f64> {
        if self.registered == 0 {
            return None;
        }
        weighted(&[
            (w.closure, self.closure_rate()),
            (w.on_time_closure, self.on_time_closure_rate()),
            (w.patrol_share, self.patrol_share()),
        ])
    }
}

/// A place where one subcategory keeps coming back: the cases of that subcategory in one square
/// cell of the ground.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    pub category_code: String,
    /// The mean position of the cell's cases.
    pub lon: f64,
    pub lat: f64,
    pub count: usize,
}

/// Hotspots by cell counts: cases grouped by subcategory and by square cells of `cell_m` metres
/// (an equirectangular grid anchored at 0°, 0°, fine at city scale), cells holding at least
/// `min_count` cases, most cases first (then by subcategory, for a stable order).
pub fn hotspots(
    cases: impl IntoIterator<Item = (String, f64, f64)>,
    cell_m: f64,
    min_count: usize,
) -> Vec<Hotspot> {
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let cell_m = cell_m.max(1.0);
    let mut cells: BTreeMap<(String, i64, i64), (f64, f64, usize)> = BTreeMap::new();
    for (category, lon, lat) in cases {
        if !(lon.is_finite() && lat.is_finite()) {
            continue;
        }
        let x = (lon * METRES_PER_DEGREE * lat.to_radians().cos() / cell_m).floor() as i64;
        let y = (lat * METRES_PER_DEGREE / cell_m).floor() as i64;
        let cell = cells.entry((category, x, y)).or_insert((0.0, 0.0, 0));
        cell.0 += lon;
        cell.1 += lat;
        cell.2 += 1;
    }
    let mut out: Vec<Hotspot> = cells
        .into_iter()
        .filter(|(_, (_, _, n))| *n >= min_count.max(1))
        .map(|((category_code, _, _), (lon, lat, n))| Hotspot {
            category_code,
            lon: lon / n as f64,
            lat: lat / n as f64,
            count: n,
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.category_code.cmp(&b.category_code))
    });
    out
}

/// `numerator ÷ denominator` as a percentage with two decimals; None when nothing was due, so
/// an empty period shows as "—" rather than 0 % or 100 %.
pub fn rate(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| (numerator as f64 * 10_000.0 / denominator as f64).round() / 100.0)
}

/// The grade of a composite score: A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, E below.
pub fn grade(score: f64) -> char {
    match score {
        s if s >= 90.0 => 'A',
        s if s >= 75.0 => 'B',
        s if s >= 60.0 => 'C',
        s if s >= 40.0 => 'D',
        _ => 'E',
    }
}

/// Ranks by score, highest first, with ties sharing a rank and the next rank skipping
/// ("1, 2, 2, 4"); entries without a score are unranked. Answers a rank per input, in input order.
pub fn rank(scores: &[Option<f64>]) -> Vec<Option<usize>> {
    // Sorted once, so ranking eighteen thousand grids stays cheap.
    let mut order: Vec<(usize, f64)> = scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out = vec![None; scores.len()];
    let mut rank = 0;
    for (pos, &(i, s)) in order.iter().enumerate() {
        if pos == 0 || order[pos - 1].1 != s {
            rank = pos + 1;
        }
        out[i] = Some(rank);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::case::CaseState;
    use crate::case_loop::Action;
    use crate::ledger::{Ledger, Scope};
    use chrono::TimeZone;

    /// 2026-03-02 is a Monday; 01:00 UTC is 09:00 in Beijing.
    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, h, m, 0)
            .single()
            .unwrap()
    }

    fn step(
        action: Action,
        role: Role,
        unit: Option<&str>,
        to: CaseState,
        actor: &str,
        when: DateTime<Utc>,
    ) -> TimedStep {
        TimedStep {
            step: Step {
                action,
                role,
                unit: unit.map(str::to_owned),
                to,
            },
            actor: actor.into(),
            at: when,
        }
    }

    fn rules<'a>(limits: &'a NodeLimits, cal: &'a WorkingCalendar) -> ClockRules<'a> {
        ClockRules {
            limits,
            // Two working days to handle.
            handle: Deadline {
                amount: 2,
                kind: DeadlineType::WorkingDays,
            },
            calendar: cal,
        }
    }

    /// Beijing time: report Mon 09:00, register 09:30, dispatch 11:00 (late: one working hour
    /// from 09:30), accept 11:10, handle Wed 10:00 (on time), check fails Wed 13:00, handle again
    /// Thu 17:00 (the rework's clock restarted Wed 13:00: on time), check passes Fri 09:30, close
    /// 10:00.
    #[test]
    fn spans_follow_the_loops_clock_and_rework_restarts_handling() {
        let spans = worked_case("110105001001001").spans;
        let nodes: Vec<Node> = spans.iter().map(|s| s.node).collect();
        assert_eq!(
            nodes,
            [
                Node::Register,
                Node::Dispatch,
                Node::Handle,
                Node::Check,
                Node::Handle,
                Node::Check,
                Node::Close
            ]
        );
        // Registered within its hour; dispatched 90 minutes after registration: late.
        assert_eq!(spans[0].on_time(), Some(true));
        assert_eq!(spans[1].on_time(), Some(false));
        // The first handling (Mon 11:00 → Wed 10:00) is inside two working days.
        assert_eq!(spans[2].on_time(), Some(true));
        assert_eq!(
            spans[2].ended_by.as_ref().unwrap().unit.as_deref(),
            Some("U1")
        );
        // The check failed within two working hours, sending the case back: a new handling span
        // from Wed 13:00, ended Thu 17:00 — within two working days.
        assert_eq!(spans[4].started_at, at(4, 5, 0));
        assert_eq!(spans[4].on_time(), Some(true));
        assert_eq!(spans[6].on_time(), Some(true));
        // Register took 30 working minutes.
        assert_eq!(spans[0].working_seconds, 30 * 60);
        assert!(spans.iter().all(|s| s.ended_at.is_some()));
    }

    #[test]
    fn an_open_node_is_overdue_once_its_due_time_passes() {
        let cal = WorkingCalendar::china_default();
        let limits = NodeLimits::default();
        let spans = node_spans(false, at(2, 1, 0), &[], rules(&limits, &cal), at(2, 1, 30));
        assert_eq!(spans.len(), 1);
        let open = &spans[0];
        assert_eq!(
            (open.node, open.ended_at, open.on_time()),
            (Node::Register, None, None)
        );
        assert!(!open.overdue(at(2, 1, 30)));
        assert!(open.overdue(at(2, 5, 0)));
        assert_eq!(open.working_seconds, 30 * 60);
    }

    /// The timeline of the first test as a case in grid `grid`, reported by a patrol.
    fn worked_case(grid: &str) -> CaseRecord {
        let cal = WorkingCalendar::china_default();
        let limits = NodeLimits::default();
        let u = Some("U1");
        let steps = vec![
            step(
                Action::Register { note: None },
                Role::Receiver,
                None,
                CaseState::Registered,
                "r",
                at(2, 1, 30),
            ),
            step(
                Action::Dispatch { unit: "U1".into() },
                Role::Dispatcher,
                None,
                CaseState::Dispatched,
                "d",
                at(2, 3, 0),
            ),
            step(
                Action::Accept,
                Role::UnitUser,
                u,
                CaseState::InProgress,
                "u",
                at(2, 3, 10),
            ),
            step(
                Action::Handle { note: None },
                Role::UnitUser,
                u,
                CaseState::Handled,
                "u",
                at(4, 2, 0),
            ),
            step(
                Action::CheckFail { reason: "x".into() },
                Role::GridWorker,
                None,
                CaseState::InProgress,
                "w",
                at(4, 5, 0),
            ),
            step(
                Action::Handle { note: None },
                Role::UnitUser,
                u,
                CaseState::Handled,
                "u",
                at(5, 9, 0),
            ),
            step(
                Action::CheckPass { note: None },
                Role::GridWorker,
                None,
                CaseState::Verified,
                "w",
                at(6, 1, 30),
            ),
            step(
                Action::Close { note: None },
                Role::ShiftLeader,
                None,
                CaseState::Closed,
                "l",
                at(6, 2, 0),
            ),
        ];
        CaseRecord {
            grid_code: grid.into(),
            category_code: "09009".into(),
            source: Source::Patrol,
            reporter: "w".into(),
            reported_at: at(2, 1, 0),
            merged: false,
            solved_level: Some(Level::District),
            lon: 116.45,
            lat: 39.92,
            parts: vec![],
            spans: node_spans(
                false,
                at(2, 1, 0),
                &steps,
                rules(&limits, &cal),
                at(9, 0, 0),
            ),
        }
    }

    /// A hotline report dispatched to U2 on Monday and never handled: due Wednesday.
    fn stuck_case(grid: &str) -> CaseRecord {
        let cal = WorkingCalendar::china_default();
        let limits = NodeLimits::default();
        let steps = vec![
            step(
                Action::Confirm { note: None },
                Role::GridWorker,
                None,
                CaseState::Reported,
                "w",
                at(2, 1, 20),
            ),
            step(
                Action::Register { note: None },
                Role::Receiver,
                None,
                CaseState::Registered,
                "r",
                at(2, 1, 30),
            ),
            step(
                Action::Dispatch { unit: "U2".into() },
                Role::Dispatcher,
                None,
                CaseState::Dispatched,
                "d",
                at(2, 2, 0),
            ),
        ];
        CaseRecord {
            grid_code: grid.into(),
            category_code: "06001".into(),
            source: Source::Hotline12345,
            reporter: "r".into(),
            reported_at: at(2, 1, 0),
            merged: false,
            solved_level: None,
            lon: 116.45,
            lat: 39.92,
            parts: vec![],
            spans: node_spans(true, at(2, 1, 0), &steps, rules(&limits, &cal), at(9, 0, 0)),
        }
    }

    #[test]
    fn unit_counts_have_known_answers() {
        let week = Period {
            from: at(1, 16, 0),
            to: at(8, 16, 0),
        };
        let cases = vec![
            worked_case("110105001001001"),
            stuck_case("110105001001002"),
        ];
        let units = Ledger::of(&cases).units(week, Scope::All);
        let u1 = &units["U1"];
        // Two handlings, both on time; one failed check against U1.
        assert_eq!(
            (u1.due, u1.handled, u1.handled_on_time, u1.overdue),
            (2, 2, 2, 0)
        );
        assert_eq!(u1.rework_count, 1);
        assert_eq!(u1.on_time_handling_rate(), Some(100.0));
        assert_eq!(u1.rework_rate(), Some(50.0));
        assert!(u1.average_handling_hours().is_some_and(|h| h > 0.0));
        // U2 never handled its case: due in the week, overdue, nothing on time.
        let u2 = &units["U2"];
        assert_eq!((u2.due, u2.handled, u2.overdue), (1, 0, 1));
        assert_eq!(u2.on_time_handling_rate(), Some(0.0));
        assert_eq!(u2.rework_rate(), None);
        // Nothing of it falls in the week before.
        let before = Period {
            from: at(1, 0, 0) - chrono::TimeDelta::days(7),
            to: at(1, 16, 0),
        };
        assert!(
            Ledger::of(&cases)
                .units(before, Scope::All)
                .values()
                .all(|t| t.due == 0 && t.handled == 0)
        );
    }

    #[test]
    fn area_counts_have_known_answers() {
        let week = Period {
            from: at(1, 16, 0),
            to: at(8, 16, 0),
        };
        let cases = vec![
            worked_case("110105001001001"),
            stuck_case("110105001002002"),
        ];
        let streets = Ledger::of(&cases).areas(week, Level::Street, Scope::All);
        let street = &streets["110105001"];
        assert_eq!(
            (street.reported, street.registered, street.closed),
            (2, 2, 1)
        );
        assert_eq!(street.closure_rate(), Some(50.0));
        assert_eq!(street.on_time_closure_rate(), Some(50.0));
        assert_eq!(street.patrol_share(), Some(50.0));
        assert_eq!(street.solved_share(Level::District), Some(100.0));
        let communities = Ledger::of(&cases).areas(week, Level::Community, Scope::All);
        assert_eq!(communities.len(), 2);
        assert_eq!(communities["110105001001"].closed, 1);
        assert_eq!(communities["110105001002"].closed, 0);
    }

    proptest::proptest! {
        /// Counts add up across levels: the streets of a district sum to the district.
        #[test]
        fn area_counts_add_up_across_levels(picks in proptest::collection::vec((0usize..3, 0usize..3, proptest::bool::ANY), 0..30)) {
            let cases: Vec<CaseRecord> = picks
                .iter()
                .map(|(street, community, worked)| {
                    let grid = format!("110105{:03}{:03}001", street + 1, community + 1);
                    if *worked { worked_case(&grid) } else { stuck_case(&grid) }
                })
                .collect();
            let week = Period { from: at(1, 16, 0), to: at(8, 16, 0) };
            let district = Ledger::of(&cases).areas(week, Level::District, Scope::All);
            let mut summed = AreaTally::default();
            for t in Ledger::of(&cases).areas(week, Level::Street, Scope::All).values() {
                summed.add(t);
            }
            let mut from_communities = AreaTally::default();
            for t in Ledger::of(&cases).areas(week, Level::Community, Scope::All).values() {
                from_communities.add(t);
            }
            let whole = district.get("110105").cloned().unwrap_or_default();
            proptest::prop_assert_eq!(&summed, &whole);
            proptest::prop_assert_eq!(&from_communities, &whole);
        }
    }

    #[test]
    fn people_counts_have_known_answers() {
        let week = Period {
            from: at(1, 16, 0),
            to: at(8, 16, 0),
        };
        let cases = vec![
            worked_case("110105001001001"),
            stuck_case("110105001001002"),
        ];
        let people = Ledger::of(&cases).people(week, Scope::All);
        // w reported the worked case, confirmed the stuck one, checked the worked one twice: the
        // failed check (Wed 10:00 → 13:00) took more than two working hours, the passed one
        // (Thu 17:00 → Fri 09:30) less.
        let w = &people["w"];
        assert_eq!(
            (w.reported, w.valid_reports, w.report_accuracy()),
            (1, 1, Some(100.0))
        );
        assert_eq!((w.confirmed, w.confirmed_on_time), (1, 1));
        assert_eq!(
            (w.checked, w.checked_on_time, w.on_time_check_rate()),
            (2, 1, Some(50.0))
        );
        // r registered both on time (the hotline report after its confirmation) and reported the
        // hotline case.
        let r = &people["r"];
        assert_eq!((r.registered, r.registered_on_time), (2, 2));
        assert_eq!(r.reported, 1);
        // d dispatched twice: the worked case 90 minutes after registration (late), the stuck one
        // after 30 minutes; neither came back.
        let d = &people["d"];
        assert_eq!(
            (d.dispatched, d.dispatched_on_time, d.dispatch_returned),
            (2, 1, 0)
        );
        assert_eq!(d.dispatch_accuracy(), Some(100.0));
        assert_eq!(d.on_time_dispatch_rate(), Some(50.0));
        assert!(
            !people.contains_key("u"),
            "units are counted by unit, not by person"
        );
    }

    #[test]
    fn people_scores_follow_their_roles_weights() {
        let week = Period {
            from: at(1, 16, 0),
            to: at(8, 16, 0),
        };
        let cases = vec![
            worked_case("110105001001001"),
            stuck_case("110105001001002"),
        ];
        let mut people = Ledger::of(&cases).people(week, Scope::All);
        // l closed the worked case; r's registrations were not voided.
        assert_eq!(people["l"].closed, 1);
        assert_eq!(people["r"].registered_voided, 0);
        assert_eq!(people["r"].registration_accuracy(), Some(100.0));
        let w = people.get_mut("w").unwrap();
        // Half of what was registered in the worker's grid was missed by patrol.
        w.grid_registered = 2;
        w.missed = 1;
        let weights = PeopleWeights::default();
        // 40 × 100 (accuracy) + 20 × (100 − 50) (missed) + 20 × 100 (confirm) + 20 × 50 (check).
        assert_eq!(
            people["w"].score(Role::GridWorker, &weights, 7.0),
            Some(80.0)
        );
        // Two dispatches in seven days is below the first volume step: 20 × 0 + 40 × 50 + 40 × 100.
        assert_eq!(
            people["d"].score(Role::Dispatcher, &weights, 7.0),
            Some(60.0)
        );
        // Over one day, two dispatches reach the first step (40): 20 × 40 + 40 × 50 + 40 × 100.
        assert_eq!(
            people["d"].score(Role::Dispatcher, &weights, 1.0),
            Some(68.0)
        );
        assert_eq!(people["d"].score(Role::UnitUser, &weights, 7.0), None);
        let steps = VolumeSteps::default();
        assert_eq!(
            [0.5, 1.0, 25.0, 100.0].map(|n| steps.score(n)),
            [0.0, 40.0, 80.0, 100.0]
        );
    }

    #[test]
    fn grid_duties_count_missed_public_reports_and_undone_checks() {
        let week = Period {
            from: at(1, 16, 0),
            to: at(8, 16, 0),
        };
        // A hotline report in grid 2 that no patrol found: missed.
        let missed = stuck_case("110105001001002");
        // The same kind of hotline report where a patrol had reported the same subcategory at
        // the same place: found first.
        let mut found = stuck_case("110105001001001");
        found.category_code = "09009".into();
        // A patrol case left waiting for its check after handling, due within the week.
        let mut unchecked = worked_case("110105001001003");
        let check = unchecked
            .spans
            .iter()
            .position(|s| s.node == Node::Check)
            .unwrap();
        unchecked.spans.truncate(check + 1);
        unchecked.spans[check].ended_at = None;
        unchecked.spans[check].ended_by = None;
        let cases = vec![worked_case("110105001001001"), found, missed, unchecked];
        let duties = Ledger::of(&cases).grid_duties(week, Scope::All, MissedRule::default());
        let g1 = &duties["110105001001001"];
        assert_eq!((g1.registered, g1.missed), (2, 0), "{g1:?}");
        let g2 = &duties["110105001001002"];
        assert_eq!((g2.registered, g2.missed), (1, 1));
        assert_eq!(duties["110105001001003"].verification_overdue, 1);
        // Discovery: of the three problems in grids 1 and 2 (two patrol-found, one missed).
        assert_eq!(discovery_rate(2, 1), Some(66.67));
    }

    #[test]
    fn hotline_discovery_counts_only_hotline_reports_against_patrols() {
        let week = Period {
            from: at(1, 16, 0),
            to: at(8, 16, 0),
        };
        // Grid 2 has a missed 12345 report and a missed app report; grid 1 a patrol case and a
        // 12345 report that patrol had found first.
        let hotline = stuck_case("110105001001002");
        let mut app = stuck_case("110105001001002");
        app.source = Source::App;
        let mut found = stuck_case("110105001001001");
        found.category_code = "09009".into();
        let cases = vec![worked_case("110105001001001"), found, hotline, app];
        let ledger = Ledger::of(&cases);
        let duties = ledger.grid_duties(week, Scope::All, MissedRule::default());
        let g2 = &duties["110105001001002"];
        assert_eq!((g2.missed, g2.hotline_missed), (2, 1), "{g2:?}");
        assert_eq!(duties["110105001001001"].hotline_missed, 0);
        let streets = ledger.areas(week, Level::Street, Scope::All);
        let street = &streets["110105001"];
        assert_eq!(street.registered_by_hotline, 2, "{street:?}");
        // One patrol-found problem against one the hotline heard of first: 50 %, while the
        // discovery rate against every public channel is 1 ÷ 3.
        assert_eq!(
            hotline_discovery_rate(street.registered_by_patrol, 1),
            Some(50.0)
        );
        assert_eq!(discovery_rate(street.registered_by_patrol, 2), Some(33.33));
    }

    #[test]
    fn categories_are_counted_as_areas_are() {
        let week = Period {
            from: at(1, 16, 0),
            to: at(8, 16, 0),
        };
        let cases = vec![
            worked_case("110105001001001"),
            stuck_case("110105001001002"),
        ];
        let categories = Ledger::of(&cases).categories(week, Scope::All);
        assert_eq!(categories["09009"].closed, 1);
        assert_eq!(categories["06001"].registered, 1);
        assert_eq!(categories["06001"].closure_rate(), Some(0.0));
    }

    #[test]
    fn composite_scores_weigh_what_has_a_value() {
        let unit = UnitTally {
            due: 4,
            handled: 3,
            handled_on_time: 2,
            rework_count: 1,
            ..UnitTally::default()
        };
        // 40 × 50 + 30 × 75 + 30 × (100 − 33.33) = 6250.1 → ÷ 100
        assert_eq!(unit.score(&UnitWeights::default()), Some(62.5));
        assert_eq!(UnitTally::default().score(&UnitWeights::default()), None);
        // Nothing handled: no rework rate, so the score weighs the other two only.
        let idle = UnitTally {
            due: 2,
            overdue: 2,
            ..UnitTally::default()
        };
        assert_eq!(idle.score(&UnitWeights::default()), Some(0.0));
        let area = AreaTally {
            registered: 4,
            cohort_closed: 4,
            cohort_closed_on_time: 2,
            registered_by_patrol: 1,
            ..AreaTally::default()
        };
        // 40 × 100 + 40 × 50 + 20 × 25 = 6500 → 65
        assert_eq!(area.score(&AreaWeights::default()), Some(65.0));
    }

    #[test]
    fn hotspots_are_cells_where_one_subcategory_recurs() {
        let near = |i: u32| 114.30 + f64::from(i) * 0.00005; // about 5 m apart
        let mut cases: Vec<(String, f64, f64)> = (0..4)
            .map(|i| ("06010".to_owned(), near(i), 30.58001))
            .collect();
        // The same place, another subcategory twice; a lone case far away.
        cases.push(("09009".into(), 114.30001, 30.58001));
        cases.push(("09009".into(), 114.30002, 30.58002));
        cases.push(("06010".into(), 114.40, 30.60));
        let spots = hotspots(cases.clone(), 100.0, 2);
        assert_eq!(spots.len(), 2);
        assert_eq!(
            (spots[0].category_code.as_str(), spots[0].count),
            ("06010", 4)
        );
        assert!((spots[0].lon - 114.300075).abs() < 1e-9);
        assert_eq!(
            (spots[1].category_code.as_str(), spots[1].count),
            ("09009", 2)
        );
        assert_eq!(hotspots(cases, 100.0, 5), Vec::new());
        assert!(hotspots(vec![("x".into(), f64::NAN, 0.0)], 100.0, 1).is_empty());
    }

    #[test]
    fn rates_grades_and_ranks() {
        assert_eq!(rate(1, 3), Some(33.33));
        assert_eq!(rate(0, 0), None);
        assert_eq!(rate(5, 5), Some(100.0));
        assert_eq!(grade(90.0), 'A');
        assert_eq!(grade(89.99), 'B');
        assert_eq!(grade(39.9), 'E');
        assert_eq!(
            rank(&[Some(80.0), Some(95.0), Some(80.0), None, Some(60.0)]),
            vec![Some(2), Some(1), Some(2), None, Some(4)]
        );
    }
}
