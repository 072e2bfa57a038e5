//! Deadlines of case nodes: how much time a deadline allows, how much has been used, when it falls
//! due, and the traffic light (红黄绿灯) shown for it. Suspensions (挂账) stop the clock.
//!
//! Two kinds of time: urgent hours and natural days run on the wall clock; working hours and
//! working days run only during the working time of a [`WorkingCalendar`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

use crate::calendar::WorkingCalendar;
use crate::category::{Deadline, DeadlineType};

/// An interval during which the clock stops (挂账 suspension); `end: None` = still suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pause {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// Ordered by severity, so the worst light of several nodes is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrafficLight {
    /// Under 80 % of the limit used.
    Green,
    /// From 80 % up to, not including, 100 %.
    Yellow,
    /// 100 % or more: due or overdue.
    Red,
}

impl TrafficLight {
    pub const ALL: [TrafficLight; 3] =
        [TrafficLight::Green, TrafficLight::Yellow, TrafficLight::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            TrafficLight::Green => "green",
            TrafficLight::Yellow => "yellow",
            TrafficLight::Red => "red",
        }
    }

    /// The light for `used` of `limit` seconds. A zero limit is red at once: nothing is left.
    pub fn for_usage(used: i64, limit: i64) -> TrafficLight {
        // Integer arithmetic so that exactly 80 % and exactly 100 % land on the documented side.
        let (used, limit) = (i128::from(used), i128::from(limit));
        if used >= limit {
            TrafficLight::Red
        } else if used * 5 >= limit * 4 {
            TrafficLight::Yellow
        } else {
            TrafficLight::Green
        }
    }
}

impl fmt::Display for TrafficLight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrafficLight {
    type Err = DeadlineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TrafficLight::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| DeadlineError::UnknownLight(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeadlineError {
    #[error("cannot extend a {base} deadline by {extra}: the kinds must match")]
    KindMismatch {
        base: DeadlineType,
        extra: DeadlineType,
    },
    #[error("extended deadline amount overflows")]
    Overflow,
    #[error("unknown traffic light '{0}': expected green, yellow or red")]
    UnknownLight(String),
}

/// The state of one deadline at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// See [`limit_seconds`].
    pub limit_seconds: i64,
    /// See [`used_seconds`].
    pub used_seconds: i64,
    /// See [`due_at`].
    pub due_at: DateTime<Utc>,
    pub light: TrafficLight,
}

fn counts_working_time(kind: DeadlineType) -> bool {
    matches!(kind, DeadlineType::WorkingHours | DeadlineType::WorkingDays)
}

/// Length of a deadline in its own kind of time, in seconds. Urgent hours and natural days count
/// wall-clock time (3 natural days from Monday 10:00 end Thursday 10:00, holidays or not);
/// working hours count working time; working days count `amount × working_seconds_per_day` of
/// working time rather than "until the end of the n-th working day". So one working day from
/// Friday 17:00 ends on Monday at 17:00 with the default 7.5 h day (1 h on Friday, 6.5 h on
/// Monday across the lunch break): the case gets a full day's work whatever the hour it arrived,
/// and working hours and working days share one arithmetic.
pub fn limit_seconds(cal: &WorkingCalendar, d: Deadline) -> i64 {
    let amount = i64::from(d.amount);
    match d.kind {
        DeadlineType::UrgentHours | DeadlineType::WorkingHours => amount * 3600,
        DeadlineType::WorkingDays => amount * cal.working_seconds_per_day(),
        DeadlineType::NaturalDays => amount * 86_400,
    }
}

/// Time used between `start` and `now` in the deadline's kind of time, excluding pauses, in whole
/// seconds (rounded down). An open pause runs until `now`. Pauses may overlap each other or
/// begin before `start`; a pause whose end is not after its start is ignored. 0 if now <= start.
pub fn used_seconds(
    cal: &WorkingCalendar,
    d: Deadline,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    pauses: &[Pause],
) -> i64 {
    used_duration(cal, d.kind, start, now, pauses).num_seconds()
}

/// When the deadline falls due: the earliest instant at which the time used (as in
/// [`used_seconds`]) reaches the limit. An open pause is treated as ending at `now` — the clock
/// is assumed to restart now — so while a case stays suspended its due time moves later as `now`
/// advances. Closed pauses count as given, even one that ends after `now` (a planned resumption).
/// A zero limit is due at `start`.
pub fn due_at(
    cal: &WorkingCalendar,
    d: Deadline,
    start: DateTime<Utc>,
    pauses: &[Pause],
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    reached_at(cal, d, start, pauses, now, limit_seconds(cal, d))
}

/// When the case turns yellow: the earliest instant at which 80 % of the limit is used (the
/// same threshold as [`TrafficLight::for_usage`]), with pauses handled as in [`due_at`].
pub fn warn_at(
    cal: &WorkingCalendar,
    d: Deadline,
    start: DateTime<Utc>,
    pauses: &[Pause],
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let limit = limit_seconds(cal, d);
    // ceil(limit × 4 / 5) without overflow for any i64 limit.
    let warn = limit / 5 * 4 + ((limit % 5) * 4 + 4) / 5;
    reached_at(cal, d, start, pauses, now, warn)
}

/// The instant at which `amount` seconds of the deadline's kind of time are used.
fn reached_at(
    cal: &WorkingCalendar,
    d: Deadline,
    start: DateTime<Utc>,
    pauses: &[Pause],
    now: DateTime<Utc>,
    amount: i64,
) -> DateTime<Utc> {
    let limit = TimeDelta::try_seconds(amount).unwrap_or(TimeDelta::MAX);
    let mut cursor = start;
    let mut remaining = limit;
    for (pause_start, pause_end) in merged_pauses(pauses, start, now) {
        let candidate = advance(cal, d.kind, cursor, remaining);
        if candidate <= pause_start {
            return candidate;
        }
        // The deadline was not reached before this pause, so what is consumed is strictly less
        // than what remains and `remaining` stays positive.
        remaining -= measure(cal, d.kind, cursor, pause_start);
        cursor = pause_end;
    }
    advance(cal, d.kind, cursor, remaining)
}

/// Limit, use, due time and light of a deadline at `now`.
pub fn clock(
    cal: &WorkingCalendar,
    d: Deadline,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    pauses: &[Pause],
) -> Clock {
    let limit_seconds = limit_seconds(cal, d);
    let used_seconds = used_seconds(cal, d, start, now, pauses);
    Clock {
        limit_seconds,
        used_seconds,
        due_at: due_at(cal, d, start, pauses, now),
        light: TrafficLight::for_usage(used_seconds, limit_seconds),
    }
}

/// A deadline lengthened by an approved extension (延期). Only the same kind of time can be
/// added, since e.g. working days and natural days have no fixed exchange rate.
pub fn extended(d: Deadline, extra: Deadline) -> Result<Deadline, DeadlineError> {
    if d.kind != extra.kind {
        return Err(DeadlineError::KindMismatch {
            base: d.kind,
            extra: extra.kind,
        });
    }
    let amount = d
        .amount
        .checked_add(extra.amount)
        .ok_or(DeadlineError::Overflow)?;
    Ok(Deadline {
        amount,
        kind: d.kind,
    })
}

fn used_duration(
    cal: &WorkingCalendar,
    kind: DeadlineType,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    pauses: &[Pause],
) -> TimeDelta {
    if now <= start {
        return TimeDelta::zero();
    }
    let mut total = TimeDelta::zero();
    let mut cursor = start;
    for (pause_start, pause_end) in merged_pauses(pauses, start, now) {
        if pause_start >= now {
            break;
        }
        total += measure(cal, kind, cursor, pause_start);
        cursor = pause_end;
        if cursor >= now {
            return total;
        }
    }
    total + measure(cal, kind, cursor, now)
}

/// Pauses clipped to begin no earlier than `start`, open ones closed at `now`, empty ones
/// dropped, sorted and merged where they overlap or touch.
fn merged_pauses(
    pauses: &[Pause],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut spans: Vec<_> = pauses
        .iter()
        .map(|p| (p.start.max(start), p.end.unwrap_or(now)))
        .filter(|(s, e)| e > s)
        .collect();
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

fn measure(
    cal: &WorkingCalendar,
    kind: DeadlineType,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> TimeDelta {
    if to <= from {
        TimeDelta::zero()
    } else if counts_working_time(kind) {
        cal.working_duration_between(from, to)
    } else {
        to - from
    }
}

fn advance(
    cal: &WorkingCalendar,
    kind: DeadlineType,
    from: DateTime<Utc>,
    amount: TimeDelta,
) -> DateTime<Utc> {
    if counts_working_time(kind) {
        cal.add_working_duration(from, amount)
    } else {
        from.checked_add_signed(amount)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::calendar::tests::{arb_calendar, arb_instant, cst, ref_is_working_minute};
    use DeadlineType::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn dl(amount: u32, kind: DeadlineType) -> Deadline {
        Deadline { amount, kind }
    }

    fn closed(start: DateTime<Utc>, end: DateTime<Utc>) -> Pause {
        Pause {
            start,
            end: Some(end),
        }
    }

    #[test]
    fn limits_per_kind() {
        let cal = WorkingCalendar::china_default();
        assert_eq!(limit_seconds(&cal, dl(2, UrgentHours)), 7200);
        assert_eq!(limit_seconds(&cal, dl(2, WorkingHours)), 7200);
        assert_eq!(limit_seconds(&cal, dl(2, WorkingDays)), 54_000);
        assert_eq!(limit_seconds(&cal, dl(2, NaturalDays)), 172_800);
        assert_eq!(
            limit_seconds(&cal, dl(u32::MAX, NaturalDays)),
            i64::from(u32::MAX) * 86_400
        );
    }

    #[test]
    fn one_working_day_from_friday_1700_ends_monday_1700() {
        let cal = WorkingCalendar::china_default();
        let due = due_at(
            &cal,
            dl(1, WorkingDays),
            cst(2026, 3, 6, 17, 0),
            &[],
            cst(2026, 3, 6, 17, 0),
        );
        assert_eq!(due, cst(2026, 3, 9, 17, 0));
    }

    #[test]
    fn working_hours_cross_weekend_and_spring_festival() {
        let cal = WorkingCalendar::china_default();
        let fri = cst(2026, 3, 6, 17, 0);
        assert_eq!(
            due_at(&cal, dl(4, WorkingHours), fri, &[], fri),
            cst(2026, 3, 9, 12, 0)
        );
        let before_festival = cst(2026, 2, 13, 17, 0);
        assert_eq!(
            due_at(
                &cal,
                dl(8, WorkingHours),
                before_festival,
                &[],
                before_festival
            ),
            cst(2026, 2, 14, 17, 30)
        );
        // Saturday 14 Feb counts, 15–23 Feb do not.
        assert_eq!(
            used_seconds(
                &cal,
                dl(8, WorkingHours),
                before_festival,
                cst(2026, 2, 24, 0, 0),
                &[]
            ),
            3600 + 27_000
        );
    }

    #[test]
    fn start_outside_working_time() {
        let cal = WorkingCalendar::china_default();
        let night = cst(2026, 3, 10, 22, 0);
        assert_eq!(
            due_at(&cal, dl(1, WorkingHours), night, &[], night),
            cst(2026, 3, 11, 10, 0)
        );
        let lunch = cst(2026, 3, 10, 12, 15);
        assert_eq!(
            due_at(&cal, dl(1, WorkingHours), lunch, &[], lunch),
            cst(2026, 3, 10, 14, 30)
        );
        let holiday = cst(2026, 5, 2, 10, 0);
        assert_eq!(
            due_at(&cal, dl(1, WorkingDays), holiday, &[], holiday),
            cst(2026, 5, 6, 18, 0)
        );
        assert_eq!(
            used_seconds(
                &cal,
                dl(1, WorkingDays),
                holiday,
                cst(2026, 5, 6, 9, 0),
                &[]
            ),
            0
        );
    }

    #[test]
    fn natural_days_and_urgent_hours_ignore_the_calendar() {
        let cal = WorkingCalendar::china_default();
        let start = cst(2026, 2, 13, 17, 0);
        assert_eq!(
            due_at(&cal, dl(2, NaturalDays), start, &[], start),
            cst(2026, 2, 15, 17, 0)
        );
        let saturday_night = cst(2026, 10, 3, 23, 0);
        assert_eq!(
            due_at(
                &cal,
                dl(24, UrgentHours),
                saturday_night,
                &[],
                saturday_night
            ),
            cst(2026, 10, 4, 23, 0)
        );
        assert_eq!(
            used_seconds(
                &cal,
                dl(24, UrgentHours),
                saturday_night,
                cst(2026, 10, 4, 5, 0),
                &[]
            ),
            6 * 3600
        );
    }

    #[test]
    fn suspension_for_two_working_days_delays_by_two_working_days() {
        let cal = WorkingCalendar::china_default();
        let d = dl(3, WorkingDays);
        let start = cst(2026, 3, 2, 9, 0); // Monday
        assert_eq!(due_at(&cal, d, start, &[], start), cst(2026, 3, 4, 18, 0));
        // Suspended Tuesday and Wednesday; overlapping and duplicate records are merged.
        let pauses = [
            closed(cst(2026, 3, 3, 9, 0), cst(2026, 3, 4, 12, 0)),
            closed(cst(2026, 3, 4, 10, 0), cst(2026, 3, 5, 9, 0)),
            closed(cst(2026, 3, 3, 9, 0), cst(2026, 3, 5, 9, 0)),
        ];
        let now = cst(2026, 3, 6, 12, 0);
        assert_eq!(due_at(&cal, d, start, &pauses, now), cst(2026, 3, 6, 18, 0));
        let c = clock(&cal, d, start, now, &pauses);
        assert_eq!(c.used_seconds, 27_000 + 27_000 + 3 * 3600);
        assert_eq!(c.light, TrafficLight::Yellow);
    }

    #[test]
    fn open_suspension_ends_at_now() {
        let cal = WorkingCalendar::china_default();
        let d = dl(3, WorkingDays);
        let start = cst(2026, 3, 2, 9, 0);
        let pauses = [Pause {
            start: cst(2026, 3, 3, 9, 0),
            end: None,
        }];
        let now = cst(2026, 3, 4, 12, 0);
        let c = clock(&cal, d, start, now, &pauses);
        assert_eq!(c.used_seconds, 27_000);
        assert_eq!(c.light, TrafficLight::Green);
        // 15 h left from Wednesday 12:00: 4.5 + 7.5 + 3.
        assert_eq!(c.due_at, cst(2026, 3, 6, 12, 0));
        let later = clock(&cal, d, start, cst(2026, 3, 5, 12, 0), &pauses);
        assert_eq!(later.used_seconds, 27_000);
        assert!(later.due_at > c.due_at);
    }

    #[test]
    fn pause_before_start_and_reversed_pause_are_harmless() {
        let cal = WorkingCalendar::china_default();
        let d = dl(10, UrgentHours);
        let start = cst(2026, 3, 2, 9, 0);
        let pauses = [
            closed(start - Duration::hours(5), start + Duration::hours(1)),
            closed(start + Duration::hours(3), start + Duration::hours(2)),
        ];
        assert_eq!(
            due_at(&cal, d, start, &pauses, start),
            start + Duration::hours(11)
        );
        assert_eq!(
            used_seconds(&cal, d, start, start + Duration::hours(2), &pauses),
            3600
        );
        assert_eq!(
            used_seconds(&cal, d, start, start - Duration::hours(2), &pauses),
            0
        );
    }

    #[test]
    fn traffic_light_thresholds() {
        let cal = WorkingCalendar::china_default();
        let d = dl(10, UrgentHours);
        let start = cst(2026, 3, 2, 9, 0);
        let light = |after: Duration| clock(&cal, d, start, start + after, &[]).light;
        assert_eq!(light(Duration::zero()), TrafficLight::Green);
        assert_eq!(
            light(Duration::hours(8) - Duration::seconds(1)),
            TrafficLight::Green
        );
        assert_eq!(light(Duration::hours(8)), TrafficLight::Yellow);
        assert_eq!(
            light(Duration::hours(10) - Duration::seconds(1)),
            TrafficLight::Yellow
        );
        assert_eq!(light(Duration::hours(10)), TrafficLight::Red);
        assert_eq!(light(Duration::hours(30)), TrafficLight::Red);
        let c = clock(&cal, d, start, start + Duration::hours(10), &[]);
        assert_eq!((c.limit_seconds, c.used_seconds), (36_000, 36_000));
        assert_eq!(c.due_at, start + Duration::hours(10));
        assert_eq!(TrafficLight::for_usage(0, 0), TrafficLight::Red);
        assert_eq!(TrafficLight::for_usage(4, 5), TrafficLight::Yellow);
        assert_eq!(TrafficLight::for_usage(3, 5), TrafficLight::Green);
        assert_eq!(
            TrafficLight::for_usage(i64::MAX - 1, i64::MAX),
            TrafficLight::Yellow
        );
    }

    #[test]
    fn traffic_light_strings_and_order() {
        for l in TrafficLight::ALL {
            assert_eq!(l.as_str().parse::<TrafficLight>(), Ok(l));
        }
        assert!("amber".parse::<TrafficLight>().is_err());
        assert_eq!(
            TrafficLight::Green.max(TrafficLight::Red),
            TrafficLight::Red
        );
    }

    #[test]
    fn extensions_need_the_same_kind() {
        assert_eq!(
            extended(dl(3, WorkingDays), dl(2, WorkingDays)),
            Ok(dl(5, WorkingDays))
        );
        assert_eq!(
            extended(dl(3, WorkingDays), dl(2, NaturalDays)),
            Err(DeadlineError::KindMismatch {
                base: WorkingDays,
                extra: NaturalDays
            })
        );
        assert_eq!(
            extended(dl(u32::MAX, UrgentHours), dl(1, UrgentHours)),
            Err(DeadlineError::Overflow)
        );
    }

    // ---- reference: minute by minute ----

    fn ref_used(
        cal: &WorkingCalendar,
        kind: DeadlineType,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
        pauses: &[Pause],
    ) -> i64 {
        let mut t = start;
        let mut total = 0;
        while t < now {
            let paused = pauses
                .iter()
                .any(|p| p.start <= t && t < p.end.unwrap_or(now));
            if !paused && (!counts_working_time(kind) || ref_is_working_minute(cal, t)) {
                total += 60;
            }
            t += Duration::minutes(1);
        }
        total
    }

    fn arb_kind() -> impl Strategy<Value = DeadlineType> {
        prop_oneof![
            Just(UrgentHours),
            Just(WorkingHours),
            Just(WorkingDays),
            Just(NaturalDays)
        ]
    }

    /// Minute-aligned pauses around `base`, possibly overlapping, possibly before it, possibly open.
    fn arb_pauses(base: DateTime<Utc>) -> impl Strategy<Value = Vec<Pause>> {
        proptest::collection::vec((-1440i64..8 * 1440, 0i64..3 * 1440, 0u8..8), 0..5).prop_map(
            move |v| {
                v.into_iter()
                    .map(|(from, len, open)| {
                        let start = base + Duration::minutes(from);
                        Pause {
                            start,
                            end: (open != 0).then(|| start + Duration::minutes(len)),
                        }
                    })
                    .collect()
            },
        )
    }

    fn arb_case() -> impl Strategy<Value = (WorkingCalendar, DateTime<Utc>, Vec<Pause>)> {
        (arb_calendar(), arb_instant())
            .prop_flat_map(|(cal, start)| (Just(cal), Just(start), arb_pauses(start)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn used_matches_reference(
            (cal, start, pauses) in arb_case(), kind in arb_kind(), len in 0i64..10 * 1440,
        ) {
            let now = start + Duration::minutes(len);
            prop_assert_eq!(
                used_seconds(&cal, dl(1, kind), start, now, &pauses),
                ref_used(&cal, kind, start, now, &pauses)
            );
        }

        #[test]
        fn used_is_monotonic_in_now(
            (cal, start, pauses) in arb_case(), kind in arb_kind(),
            a in -1440i64..10 * 1440, b in -1440i64..10 * 1440, nanos in 0i64..60_000_000_000,
        ) {
            let (a, b) = (a.min(b), a.max(b));
            let earlier = start + Duration::minutes(a) + Duration::nanoseconds(nanos);
            let later = start + Duration::minutes(b) + Duration::nanoseconds(nanos);
            let d = dl(1, kind);
            prop_assert!(
                used_seconds(&cal, d, start, earlier, &pauses)
                    <= used_seconds(&cal, d, start, later, &pauses)
            );
        }

        #[test]
        fn due_at_is_where_use_reaches_the_limit(
            (cal, start, pauses) in arb_case(), kind in arb_kind(), amount in 0u32..40,
            now_after in 0i64..10 * 1440,
        ) {
            let d = dl(amount, kind);
            let now = start + Duration::minutes(now_after);
            // Close open pauses at `now`, as due_at documents.
            let closed: Vec<Pause> = pauses
                .iter()
                .map(|p| Pause { start: p.start, end: Some(p.end.unwrap_or(now)) })
                .collect();
            let due = due_at(&cal, d, start, &pauses, now);
            prop_assert_eq!(due, due_at(&cal, d, start, &closed, now));
            let limit = limit_seconds(&cal, d);
            prop_assert_eq!(used_seconds(&cal, d, start, due, &closed), limit);
            if limit > 0 {
                prop_assert!(used_seconds(&cal, d, start, due - Duration::seconds(1), &closed) < limit);
            }
            let c = clock(&cal, d, start, now, &closed);
            prop_assert_eq!(c.light == TrafficLight::Red, due <= now);
        }
    }

    #[test]
    fn warn_at_is_where_the_light_turns_yellow() {
        let cal = WorkingCalendar::china_default();
        let start = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, 1, 0, 0)
            .single()
            .unwrap_or_default();
        let d = Deadline {
            amount: 5,
            kind: DeadlineType::WorkingHours,
        };
        let w = warn_at(&cal, d, start, &[], start);
        assert_eq!(clock(&cal, d, start, w, &[]).light, TrafficLight::Yellow);
        let before = w - TimeDelta::seconds(1);
        assert_eq!(
            clock(&cal, d, start, before, &[]).light,
            TrafficLight::Green
        );
        assert!(w < due_at(&cal, d, start, &[], start));
    }
}
